package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"

	"github.com/spf13/pflag"

	"github.com/gantry-dev/gantry/auth"
	"github.com/gantry-dev/gantry/console"
	"github.com/gantry-dev/gantry/handlers"
	"github.com/gantry-dev/gantry/store"
)

// consoleConfig is the web console's part of the server's flags.
type consoleConfig struct {
	on              bool   // --ui
	oidcSecretFile  string // --ui-oidc-client-secret-file
	oidcRedirectURL string // --ui-oidc-redirect-url
}

func (c *consoleConfig) flags(f *pflag.FlagSet) {
	f.BoolVar(&c.on, "ui", true, "serve the web console at /ui/ on --addr (false: off)")
	f.StringVar(&c.oidcSecretFile, "ui-oidc-client-secret-file", "", "file holding the console's OIDC client secret, when the identity source wants one (PKCE is always used); the client ID is --oidc-audience")
	f.StringVar(&c.oidcRedirectURL, "ui-oidc-redirect-url", "", "the console's OIDC callback as the identity source knows it, e.g. https://gantry.example.com/ui/login/oidc/callback (default: built from each request's host)")
	for flag, env := range map[string]string{ //nolint:gosec // G101: names of environment variables, not credentials
		"ui": "GANTRY_UI", "ui-oidc-client-secret-file": "GANTRY_UI_OIDC_CLIENT_SECRET_FILE", "ui-oidc-redirect-url": "GANTRY_UI_OIDC_REDIRECT_URL",
	} {
		serverEnv[flag] = env
	}
}

// withConsole serves the console under /ui/ beside api, unless --ui=false; endStreams ends
// its live regions at shutdown.
func withConsole(ctx context.Context, cfg serverConfig, api http.Handler, sessions store.Sessions, authn handlers.Authenticator, idp *auth.OIDCConfig, gateway []listener, log *slog.Logger) (h http.Handler, endStreams func(), err error) {
	if !cfg.console.on {
		return api, func() {}, nil
	}
	cc := console.Config{API: api, Sessions: sessions, Log: log, GatewayURL: gatewayURL(gateway)}
	if authn != nil {
		cc.Auth = authn
		if idp != nil {
			secret := ""
			if cfg.console.oidcSecretFile != "" {
				b, err := os.ReadFile(cfg.console.oidcSecretFile)
				if err != nil {
					return nil, nil, fmt.Errorf("--ui-oidc-client-secret-file: %w", err)
				}
				secret = strings.TrimRight(string(b), "\r\n")
			}
			cc.OIDC = &console.OIDCConfig{
				Issuer: idp.Issuer, ClientID: idp.Audience, ClientSecret: secret, RedirectURL: cfg.console.oidcRedirectURL,
				Verify: func(ctx context.Context, raw string) (auth.Identity, error) {
					id, err := authn.Authenticate(ctx, "Bearer "+raw)
					if err == nil && id.Kind != auth.KindOIDC {
						err = auth.Unauthenticated("not a token of the identity source")
					}
					return id, err
				},
			}
		}
	}
	ui, err := console.New(ctx, cc)
	if err != nil {
		return nil, nil, fmt.Errorf("web console: %w", err)
	}
	uh := ui.Handler()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch p := r.URL.Path; {
		case p == "/ui" || p == "/":
			if r.Method == http.MethodGet || r.Method == http.MethodHead {
				http.Redirect(w, r, console.Base, http.StatusFound)
				return
			}
			api.ServeHTTP(w, r)
		case strings.HasPrefix(p, console.Base):
			uh.ServeHTTP(w, r)
		default:
			api.ServeHTTP(w, r)
		}
	}), ui.EndStreams, nil
}

// gatewayURL is where the console tells users to call APIs: the gateway's plain HTTP
// listener as bound, else its HTTPS one ("" when both are off). A listener on every address
// (":8081", "0.0.0.0:8081") is shown as localhost.
func gatewayURL(gateway []listener) string {
	var scheme, addr string
	for _, ln := range gateway {
		if !ln.tls {
			scheme, addr = "http", ln.Addr().String()
			break
		}
		if addr == "" {
			scheme, addr = "https", ln.Addr().String()
		}
	}
	if addr == "" {
		return ""
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return scheme + "://" + addr
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "localhost"
	}
	if (scheme == "http" && port == "80") || (scheme == "https" && port == "443") {
		return scheme + "://" + host
	}
	return scheme + "://" + net.JoinHostPort(host, port)
}
