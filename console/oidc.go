package console

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/gantry-dev/gantry/auth"
)

// OIDCConfig is the console's client of the identity source: sign-in with the
// authorization-code flow and PKCE.
type OIDCConfig struct {
	Issuer       string
	ClientID     string // the audience the server's --oidc-audience accepts
	ClientSecret string // "" for a public client (PKCE alone)
	// RedirectURL is the callback the identity source knows (https://HOST/ui/login/oidc/callback);
	// "" builds it from each request's host.
	RedirectURL string
	Scopes      []string // beside openid; default profile, email, groups
	// Verify turns an ID token into an identity, as the API does for a Bearer token
	// (auth.OIDC.Verify: the issuer's keys, the audience, the claims to names and roles).
	Verify     func(ctx context.Context, raw string) (auth.Identity, error)
	HTTPClient *http.Client
}

// oidcFlow runs the sign-in with the identity source. Its endpoints are discovered at the
// first sign-in, so that a server starts while the identity source is down.
type oidcFlow struct {
	cfg      OIDCConfig
	mu       sync.Mutex
	endpoint *oauth2.Endpoint
}

const oidcCookie = "gantry_oidc"

func newOIDCFlow(_ context.Context, cfg OIDCConfig) (*oidcFlow, error) {
	if cfg.Issuer == "" || cfg.ClientID == "" || cfg.Verify == nil {
		return nil, errors.New("console OIDC sign-in needs the issuer, the client ID and a verifier")
	}
	if len(cfg.Scopes) == 0 {
		cfg.Scopes = []string{"profile", "email", "groups"}
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	return &oidcFlow{cfg: cfg}, nil
}

func (f *oidcFlow) config(ctx context.Context, r *http.Request) (*oauth2.Config, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.endpoint == nil {
		p, err := oidc.NewProvider(oidc.ClientContext(ctx, f.cfg.HTTPClient), f.cfg.Issuer)
		if err != nil {
			return nil, fmt.Errorf("%w: discover %s: %v", auth.ErrUnavailable, f.cfg.Issuer, err)
		}
		ep := p.Endpoint()
		f.endpoint = &ep
	}
	redirect := f.cfg.RedirectURL
	if redirect == "" {
		scheme := "http"
		if overTLS(r) {
			scheme = "https"
		}
		redirect = scheme + "://" + r.Host + Base + "login/oidc/callback"
	}
	return &oauth2.Config{
		ClientID: f.cfg.ClientID, ClientSecret: f.cfg.ClientSecret, Endpoint: *f.endpoint,
		RedirectURL: redirect, Scopes: append([]string{oidc.ScopeOpenID}, f.cfg.Scopes...),
	}, nil
}

// pending is what the browser keeps between the start of a sign-in and its callback.
type pending struct {
	State    string `json:"state"`
	Verifier string `json:"verifier"`
	Nonce    string `json:"nonce"`
	Next     string `json:"next"`
}

func (c *Console) oidcStart(w http.ResponseWriter, r *http.Request) {
	if c.oidc == nil {
		c.notFound(w, r, "this server has no identity source to sign in with")
		return
	}
	conf, err := c.oidc.config(r.Context(), r)
	if err != nil {
		c.page(w, r, http.StatusServiceUnavailable, "login", "Sign in", "", signInData{Next: Base, OIDC: true},
			&apiError{Status: http.StatusServiceUnavailable, Message: "the identity source cannot be reached now: " + err.Error()})
		return
	}
	p := pending{State: newSecret(), Verifier: oauth2.GenerateVerifier(), Nonce: newSecret(), Next: safeNext(r.URL.Query().Get("next"))}
	b, _ := json.Marshal(p)
	// SameSite=Lax: the callback is a navigation from the identity source's site.
	http.SetCookie(w, &http.Cookie{ //nolint:gosec // G124: Secure when the request came over TLS; Lax: the callback is a navigation from the identity source
		Name: oidcCookie, Value: base64.RawURLEncoding.EncodeToString(b), Path: Base + "login/oidc",
		MaxAge: 600, HttpOnly: true, Secure: overTLS(r), SameSite: http.SameSiteLaxMode,
	})
	http.Redirect(w, r, conf.AuthCodeURL(p.State, oauth2.S256ChallengeOption(p.Verifier), oidc.Nonce(p.Nonce)), http.StatusSeeOther) //nolint:gosec // G710: to the identity source, as the flow goes
}

func (c *Console) oidcCallback(w http.ResponseWriter, r *http.Request) {
	if c.oidc == nil {
		c.notFound(w, r, "this server has no identity source to sign in with")
		return
	}
	fail := func(status int, msg string) {
		c.page(w, r, status, "login", "Sign in", "", signInData{Next: Base, OIDC: true}, &apiError{Status: status, Message: msg})
	}
	var p pending
	ck, err := r.Cookie(oidcCookie)
	if err == nil {
		var b []byte
		if b, err = base64.RawURLEncoding.DecodeString(ck.Value); err == nil {
			err = json.Unmarshal(b, &p)
		}
	}
	http.SetCookie(w, &http.Cookie{Name: oidcCookie, Path: Base + "login/oidc", MaxAge: -1, HttpOnly: true, Secure: overTLS(r), SameSite: http.SameSiteLaxMode}) //nolint:gosec // G124: Secure when the request came over TLS
	q := r.URL.Query()
	switch {
	case err != nil || p.State == "":
		fail(http.StatusBadRequest, "this sign-in was not started here, or took over 10 minutes: sign in again")
		return
	case q.Get("state") != p.State:
		fail(http.StatusBadRequest, "the identity source answered for another sign-in: sign in again")
		return
	case q.Get("error") != "":
		fail(http.StatusUnauthorized, "the identity source refused the sign-in: "+q.Get("error")+" "+q.Get("error_description"))
		return
	case q.Get("code") == "":
		fail(http.StatusBadRequest, "the identity source sent no authorization code")
		return
	}
	conf, err := c.oidc.config(r.Context(), r)
	if err != nil {
		fail(http.StatusServiceUnavailable, "the identity source cannot be reached now: "+err.Error())
		return
	}
	ctx := oidc.ClientContext(r.Context(), c.oidc.cfg.HTTPClient)
	tok, err := conf.Exchange(ctx, q.Get("code"), oauth2.VerifierOption(p.Verifier))
	if err != nil {
		fail(http.StatusUnauthorized, "the identity source refused the authorization code: "+err.Error())
		return
	}
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		fail(http.StatusUnauthorized, "the identity source sent no ID token")
		return
	}
	id, err := c.oidc.cfg.Verify(r.Context(), raw)
	if err != nil {
		fail(http.StatusUnauthorized, "the ID token is not valid: "+err.Error())
		return
	}
	if nonce, err := tokenNonce(raw); err != nil || nonce != p.Nonce {
		fail(http.StatusUnauthorized, "the ID token was not issued for this sign-in (nonce)")
		return
	}
	s, err := c.openSession(w, r, id)
	if err != nil {
		c.serverError(w, r, err)
		return
	}
	// A page of our own, not a redirect: the callback is a navigation the identity source's
	// site started, on which the browser does not send the new SameSite=Strict cookie, nor
	// on a redirect from it; the page's own navigation (a refresh) is same-site.
	r = r.WithContext(context.WithValue(r.Context(), sessionKey{}, &session{Session: s}))
	c.page(w, r, http.StatusOK, "signed-in", "Signed in", "", signInData{Next: safeNext(p.Next)}, nil)
}

// tokenNonce reads the nonce claim of an ID token whose signature was verified.
func tokenNonce(raw string) (string, error) {
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		return "", errors.New("malformed token")
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return "", err
	}
	var claims struct {
		Nonce string `json:"nonce"`
	}
	if err := json.Unmarshal(b, &claims); err != nil {
		return "", err
	}
	return claims.Nonce, nil
}
