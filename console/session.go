package console

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gantry-dev/gantry/auth"
	"github.com/gantry-dev/gantry/store"
)

const (
	sessionCookie = "gantry_session"
	// csrfCookie holds the anti-forgery secret of a visitor without a session: the sign-in
	// form, and every form when authentication is off (double-submit).
	csrfCookie = "gantry_csrf"
	csrfField  = "csrf"
	csrfHeader = "X-CSRF-Token"
	// MaxSession bounds a session whose credential never expires.
	MaxSession = 7 * 24 * time.Hour
)

// session is the visitor of a request: a signed-in session, or the anonymous admin when
// authentication is off.
type session struct {
	store.Session
	anonymous bool // authentication off: no sign-in, no sign-out
}

func (s *session) identity() auth.Identity {
	if s.anonymous {
		return auth.Anonymous
	}
	// The credential's expiry, as a Bearer request with it would carry: the session's own
	// maximum (MaxSession) is no limit of the identity's.
	return auth.Identity{Name: s.Name, Role: s.Role, Kind: s.Kind, Groups: s.Groups, TokenID: s.TokenID, ExpiresAt: s.CredentialExpiresAt}
}

type sessionKey struct{}

// visitor returns the request's session, set by requireSession.
func visitor(r *http.Request) *session {
	s, _ := r.Context().Value(sessionKey{}).(*session)
	if s == nil {
		return &session{Session: store.Session{Name: "nobody", Role: auth.RoleUser}} // no rights
	}
	return s
}

// newSecret returns 32 random bytes, URL-safe base64.
func newSecret() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	return base64.RawURLEncoding.EncodeToString(b)
}

// sessionID is what the store keeps of a cookie's secret.
func sessionID(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// loadSession reads the request's session cookie; nil when there is none, or it is
// forged, expired or ended (the token revoked).
func (c *Console) loadSession(r *http.Request) (*session, error) {
	if c.auth == nil {
		return &session{anonymous: true, Session: store.Session{Name: auth.Anonymous.Name, Role: auth.Anonymous.Role, Kind: auth.Anonymous.Kind}}, nil
	}
	ck, err := r.Cookie(sessionCookie)
	if err != nil || len(ck.Value) < 32 || len(ck.Value) > 64 {
		return nil, nil
	}
	s, err := c.sessions.GetSession(r.Context(), sessionID(ck.Value), c.now())
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &session{Session: s}, nil
}

// requireSession serves next with the request's session, or sends the visitor to sign in.
func (c *Console) requireSession(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, err := c.loadSession(r)
		if err != nil {
			c.serverError(w, r, err)
			return
		}
		if s == nil {
			c.toSignIn(w, r)
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), sessionKey{}, s)))
	})
}

// toSignIn sends a visitor without a (valid) session to the sign-in page, back here after.
func (c *Console) toSignIn(w http.ResponseWriter, r *http.Request) {
	if ck, err := r.Cookie(sessionCookie); err == nil && ck.Value != "" {
		c.clearCookie(w, r, sessionCookie) // forged, expired or ended: forget it
	}
	target := Base + "login"
	if r.Method == http.MethodGet && r.Header.Get("HX-Request") == "" {
		target += "?next=" + url.QueryEscape(r.URL.RequestURI())
	}
	if r.Header.Get("HX-Request") != "" { // htmx follows this with a full page load
		w.Header().Set("HX-Redirect", target)
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	http.Redirect(w, r, target, http.StatusSeeOther)
}

// safeNext is where a sign-in goes on to: a console page, never another site.
func safeNext(next string) string {
	if !strings.HasPrefix(next, Base) || strings.HasPrefix(next, "//") || strings.ContainsAny(next, "\\\r\n") {
		return Base
	}
	return next
}

// csrfToken is the anti-forgery secret the visitor's forms send back: the session's, or,
// without a session, the csrf cookie's (set here when missing).
func (c *Console) csrfToken(w http.ResponseWriter, r *http.Request) string {
	if s, ok := r.Context().Value(sessionKey{}).(*session); ok && !s.anonymous {
		return s.CSRF
	}
	if ck, err := r.Cookie(csrfCookie); err == nil && len(ck.Value) >= 32 {
		return ck.Value
	}
	v := newSecret()
	c.setCookie(w, r, csrfCookie, v, time.Time{})
	// later reads in this request see it
	r.AddCookie(&http.Cookie{Name: csrfCookie, Value: v}) //nolint:gosec // G124: a cookie of this request, for what reads it later, never sent
	return v
}

// checkCSRF refuses (403) a state-changing request that does not send back the visitor's
// anti-forgery secret, or that comes from another origin.
func (c *Console) checkCSRF(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.Method {
		case http.MethodGet, http.MethodHead, http.MethodOptions:
			next.ServeHTTP(w, r)
			return
		}
		if origin := r.Header.Get("Origin"); origin != "" && !sameOrigin(origin, r) {
			c.forbidden(w, r, "the request comes from another site ("+origin+")")
			return
		}
		sent := r.Header.Get(csrfHeader)
		if sent == "" {
			r.Body = http.MaxBytesReader(w, r.Body, maxForm)
			sent = r.PostFormValue(csrfField)
		}
		want := ""
		if s, ok := r.Context().Value(sessionKey{}).(*session); ok && !s.anonymous {
			want = s.CSRF
		} else if ck, err := r.Cookie(csrfCookie); err == nil {
			want = ck.Value
		}
		if want == "" || subtle.ConstantTimeCompare([]byte(sent), []byte(want)) != 1 {
			c.forbidden(w, r, "the request lacks the console's anti-forgery token: reload the page and try again")
			return
		}
		next.ServeHTTP(w, r)
	})
}

// maxForm bounds a form's body (a function call's body, typed in the Call panel, included).
const maxForm = 2 << 20

func sameOrigin(origin string, r *http.Request) bool {
	u, err := url.Parse(origin)
	if err != nil {
		return false
	}
	scheme := "http"
	if overTLS(r) {
		scheme = "https"
	}
	return u.Scheme == scheme && u.Host == r.Host
}

// overTLS tells whether the browser reached the console over HTTPS: this server's TLS, or
// a proxy's that terminates it and says so (X-Forwarded-Proto: https; deploy/nginx sends
// it). A client that sends the header itself only makes its own cookies Secure and its own
// forms come from https.
func overTLS(r *http.Request) bool {
	return r.TLS != nil || strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https")
}

func (c *Console) setCookie(w http.ResponseWriter, r *http.Request, name, value string, expires time.Time) {
	// Secure over TLS: a server on plain HTTP (loopback, behind a TLS proxy) still signs in.
	ck := &http.Cookie{Name: name, Value: value, Path: Base, HttpOnly: true, Secure: overTLS(r), SameSite: http.SameSiteStrictMode} //nolint:gosec // G124: Secure when the request came over TLS
	if !expires.IsZero() {
		ck.Expires = expires.UTC()
		ck.MaxAge = int(time.Until(expires).Seconds())
		if ck.MaxAge <= 0 {
			ck.MaxAge = -1
		}
	}
	http.SetCookie(w, ck)
}

func (c *Console) clearCookie(w http.ResponseWriter, r *http.Request, name string) {
	http.SetCookie(w, &http.Cookie{Name: name, Value: "", Path: Base, HttpOnly: true, Secure: overTLS(r), SameSite: http.SameSiteStrictMode, MaxAge: -1}) //nolint:gosec // G124: Secure when the request came over TLS
}

// openSession stores a session for id and gives the browser its cookie.
func (c *Console) openSession(w http.ResponseWriter, r *http.Request, id auth.Identity) (store.Session, error) {
	now := c.now()
	expires := now.Add(MaxSession)
	if id.ExpiresAt != nil && id.ExpiresAt.Before(expires) {
		expires = *id.ExpiresAt
	}
	secret := newSecret()
	s := store.Session{
		ID: sessionID(secret), Name: id.Name, Role: id.Role, Kind: id.Kind, Groups: id.Groups, TokenID: id.TokenID,
		CSRF: newSecret(), CreatedAt: now, ExpiresAt: expires, CredentialExpiresAt: id.ExpiresAt,
	}
	if err := c.sessions.CreateSession(r.Context(), s); err != nil {
		return store.Session{}, err
	}
	c.setCookie(w, r, sessionCookie, secret, expires)
	return s, nil
}
