package gateway

import (
	"cmp"
	"errors"
	"fmt"

	"github.com/gantry-dev/gantry/auth"
	"github.com/gantry-dev/gantry/store"
)

// errNoOIDC: an oidc API names no issuer or audience and the server has no default.
var errNoOIDC = errors.New("oidc authentication needs an issuer and an audience (the server has no default)")

// oidcKey names a verifier: one per issuer and audience, kept across table rebuilds while
// an API uses it (it caches the issuer's discovery and keys).
type oidcKey struct{ issuer, audience string }

// verifier returns the verifier of an oidc API, reusing the previous table's. The API's
// empty issuer and audience are the server's (Options.OIDC). With the server's issuer the
// server's claim settings apply; another issuer's tokens are read with the defaults.
func (g *Gateway) verifier(s *store.API, verifiers map[oidcKey]*auth.OIDC) (*auth.OIDC, error) {
	var cfg auth.OIDCConfig
	if def := g.o.OIDC; def != nil {
		if s.OIDCIssuer == "" || s.OIDCIssuer == def.Issuer {
			cfg = *def
		} else {
			cfg = auth.OIDCConfig{HTTPClient: def.HTTPClient}
		}
		cfg.Issuer = cmp.Or(s.OIDCIssuer, def.Issuer)
		cfg.Audience = cmp.Or(s.OIDCAudience, def.Audience)
	} else {
		cfg.Issuer, cfg.Audience = s.OIDCIssuer, s.OIDCAudience
	}
	if cfg.Issuer == "" || cfg.Audience == "" {
		return nil, errNoOIDC
	}
	key := oidcKey{cfg.Issuer, cfg.Audience}
	if v := verifiers[key]; v != nil {
		return v, nil
	}
	if v := g.verifiers[key]; v != nil {
		verifiers[key] = v
		return v, nil
	}
	cfg.AdminGroup, cfg.UserGroup = "", "" // roles mean nothing here
	if cfg.Log == nil {
		cfg.Log = g.log
	}
	v, err := auth.NewOIDC(cfg) // it contacts the issuer on the first token only
	if err != nil {
		return nil, fmt.Errorf("oidc: %w", err)
	}
	verifiers[key] = v
	return v, nil
}

// oidcUser verifies the request's bearer token with the API's verifier. A token that is
// missing or not acceptable gets the API's challenge; an unreachable identity source is
// auth.ErrUnavailable.
func (g *Gateway) oidcUser(c *call) (string, error) {
	raw, ok := bearer(c.r.Header.Get("Authorization"))
	if !ok {
		return "", g.challenge(c, auth.Unauthenticated("a token is required: send Authorization: Bearer <token>"))
	}
	id, err := c.api.oidc.Verify(c.r.Context(), raw)
	if errors.Is(err, auth.ErrUnauthenticated) {
		return "", g.challenge(c, err)
	}
	return id.Name, err
}

// bearer reads "Bearer <token>" (the scheme in any case), with a token.
func bearer(authorization string) (string, bool) {
	token, isBearer := auth.ParseBearer(authorization)
	return token, isBearer && token != ""
}
