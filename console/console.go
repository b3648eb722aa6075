package console

import (
	"context"
	"embed"
	"io/fs"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/gantry-dev/gantry/auth"
	"github.com/gantry-dev/gantry/gen/client"
	"github.com/gantry-dev/gantry/store"
)

// Base is where the console is served.
const Base = "/ui/"

//go:embed static templates
var files embed.FS

// Authenticator verifies a credential pasted into the sign-in form (*auth.Authenticator).
type Authenticator interface {
	Authenticate(ctx context.Context, authorization string) (auth.Identity, error)
}

// Config is what the console is built on.
type Config struct {
	// API serves the management API and function calls (handlers.API.Handler()): every
	// page reads and writes through it, in process.
	API http.Handler
	// Sessions keeps the signed-in sessions.
	Sessions store.Sessions
	// Auth verifies the tokens pasted at sign-in. Nil: authentication is off, and every
	// visitor is the anonymous admin (no sign-in).
	Auth Authenticator
	// OIDC, when set, offers sign-in with the identity source (authorization code + PKCE).
	OIDC *OIDCConfig
	Log  *slog.Logger
	// GatewayURL is where the gateway's listener is reached, e.g. "http://127.0.0.1:8081",
	// to show the URL to call an API; "" when the gateway is off.
	GatewayURL string
	// Now is the clock of sessions; time.Now by default.
	Now func() time.Time
}

// Console serves the web console.
type Console struct {
	api      *client.Gantry
	call     http.Handler // the API's handler, for the Call panel's /r/ requests
	sessions store.Sessions
	auth     Authenticator
	oidc     *oidcFlow
	log      *slog.Logger
	now      func() time.Time
	gateway  string // Config.GatewayURL
	pages    *pages
	static   http.Handler
	done     chan struct{} // closed by EndStreams
	endOnce  sync.Once
}

// EndStreams ends the live regions' streams (the server shuts down: http.Server.Shutdown
// does not end requests).
func (c *Console) EndStreams() { c.endOnce.Do(func() { close(c.done) }) }

// New builds the console.
func New(ctx context.Context, cfg Config) (*Console, error) {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	p, err := loadPages()
	if err != nil {
		return nil, err
	}
	static, err := fs.Sub(files, "static")
	if err != nil {
		return nil, err
	}
	c := &Console{
		api: newAPIClient(cfg.API), call: cfg.API, sessions: cfg.Sessions, auth: cfg.Auth, log: cfg.Log, now: cfg.Now, pages: p,
		gateway: strings.TrimRight(cfg.GatewayURL, "/"),
		done:    make(chan struct{}),
		static:  http.StripPrefix(Base+"static/", http.FileServer(http.FS(static))),
	}
	if cfg.OIDC != nil && cfg.Auth != nil {
		if c.oidc, err = newOIDCFlow(ctx, *cfg.OIDC); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// Handler serves everything under Base.
func (c *Console) Handler() http.Handler {
	public := http.NewServeMux() // no session needed
	public.HandleFunc("GET "+Base+"static/", c.serveStatic)
	public.HandleFunc("GET "+Base+"login", c.signInPage)
	public.HandleFunc("POST "+Base+"login", c.signIn)
	public.HandleFunc("GET "+Base+"login/oidc", c.oidcStart)
	public.HandleFunc("GET "+Base+"login/oidc/callback", c.oidcCallback)

	pages := http.NewServeMux() // a session needed
	pages.HandleFunc("POST "+Base+"logout", c.signOut)
	c.routes(pages)
	pages.HandleFunc(Base, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != Base {
			c.notFound(w, r, "there is no page "+r.URL.Path)
			return
		}
		c.overview(w, r)
	})
	signedIn := c.requireSession(c.checkCSRF(pages))
	loginForms := c.checkCSRF(public)
	return securityHeaders(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, pattern := public.Handler(r); pattern != "" {
			loginForms.ServeHTTP(w, r)
			return
		}
		signedIn.ServeHTTP(w, r)
	}))
}

// routes registers the pages of the console behind a session (one line per area).
func (c *Console) routes(mux *http.ServeMux) {
	c.overviewRoutes(mux)
	c.appRoutes(mux)
	c.apiRoutes(mux)
	c.tokenRoutes(mux)
	c.functionRoutes(mux)
	c.workflowRoutes(mux)
	c.eventRoutes(mux)
	c.executionRoutes(mux)
}

// contentSecurityPolicy allows the console's own scripts, styles and requests only: no
// inline script or style, no other site, no framing.
const contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", contentSecurityPolicy)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "same-origin")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		next.ServeHTTP(w, r)
	})
}

func (c *Console) serveStatic(w http.ResponseWriter, r *http.Request) {
	// The file names carry the version (htmx-2.0.11.min.js) or change with the binary.
	w.Header().Set("Cache-Control", "public, max-age=3600")
	c.static.ServeHTTP(w, r)
}
