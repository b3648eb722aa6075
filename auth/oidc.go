package auth

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	jose "github.com/go-jose/go-jose/v4"

	"github.com/gantry-dev/gantry/store"
)

// OIDC verification settings.
const (
	defaultUsernameClaim = "sub"
	defaultGroupsClaim   = "groups"
	// discoveryRetry is the least time between two discovery attempts made by Verify.
	discoveryRetry = 5 * time.Second
	// fetchTimeout bounds each discovery and key set request.
	fetchTimeout = 10 * time.Second
)

// OIDCConfig configures the verifier of an external identity source's tokens.
type OIDCConfig struct {
	Issuer        string // required: the issuer URL; discovery is at Issuer + "/.well-known/openid-configuration"
	Audience      string // required: a token's aud must contain it
	UsernameClaim string // default "sub": a non-empty string, the Identity's Name after UsernamePrefix (see username)
	// UsernamePrefix is put before every OIDC user name (e.g. "oidc:"), so that a name
	// chosen at the identity source cannot be taken for a Gantry token user such as "admin".
	UsernamePrefix string
	GroupsClaim    string // default "groups": a JSON array of strings or a single string; absent = no groups
	AdminGroup     string // optional: its members are admins, everyone else is a developer
	// UserGroup (optional): its members who are not admins are end users (RoleUser), who
	// may only run the workflows shared with them; everyone else is a developer.
	UserGroup  string
	HTTPClient *http.Client // optional: for discovery and key set requests (custom CAs, tests)
	Log        *slog.Logger // optional
}

// OIDC verifies the ID tokens of an OpenID Connect identity source and maps them to an
// Identity. It discovers the source lazily and picks up rotated signing keys on its own,
// fetching the key set again no more often than every refreshCooldown (see keySet).
// It is safe for concurrent use.
type OIDC struct {
	cfg    OIDCConfig
	client *http.Client

	// verifier is set once discovery succeeded; it never changes afterwards.
	verifier atomic.Pointer[oidc.IDTokenVerifier]
	// discovering is a one-slot lock held while discovering, so that waiting honours ctx.
	discovering chan struct{}
	failedAt    time.Time // last failed discovery; guarded by discovering

	// refreshCooldown is the key set's; read at discovery. Tests may change it before.
	refreshCooldown time.Duration
	now             func() time.Time // time.Now; tests change it
}

// NewOIDC checks cfg and returns a verifier. It does not contact the issuer.
func NewOIDC(cfg OIDCConfig) (*OIDC, error) {
	if err := checkIssuer(cfg.Issuer); err != nil {
		return nil, err
	}
	if cfg.Audience == "" {
		return nil, errors.New("OIDC audience is required")
	}
	if cfg.UsernamePrefix != "" && store.ValidateUserName(cfg.UsernamePrefix+"u") != nil {
		return nil, fmt.Errorf("OIDC user name prefix %q: user names must match %s, and the prefix leave room for a name", cfg.UsernamePrefix, store.UserNameRule())
	}
	if cfg.UsernameClaim == "" {
		cfg.UsernameClaim = defaultUsernameClaim
	}
	if cfg.GroupsClaim == "" {
		cfg.GroupsClaim = defaultGroupsClaim
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	return &OIDC{
		cfg:             cfg,
		client:          withTimeout(cfg.HTTPClient),
		discovering:     make(chan struct{}, 1),
		refreshCooldown: defaultRefreshCooldown,
		now:             time.Now,
	}, nil
}

// checkIssuer requires an absolute http(s) URL without query or fragment.
func checkIssuer(issuer string) error {
	u, err := url.Parse(issuer)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
		u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("OIDC issuer %q is not an absolute http(s) URL", issuer)
	}
	return nil
}

// withTimeout returns c, or a copy of it, that gives up on a request after fetchTimeout.
// The key set fetches keys in the background, with this client and no caller's deadline.
func withTimeout(c *http.Client) *http.Client {
	if c == nil {
		return &http.Client{Timeout: fetchTimeout}
	}
	if c.Timeout == 0 {
		cp := *c
		cp.Timeout = fetchTimeout
		return &cp
	}
	return c
}

// Discover fetches the issuer's discovery document now, unless that was already done.
// The error wraps ErrUnavailable and says why, for the server's log.
func (o *OIDC) Discover(ctx context.Context) error {
	_, err := o.verifierFor(ctx, false)
	return err
}

// Verify checks raw — issuer, audience, expiry and signature — and returns its Identity.
// It fails with ErrUnauthenticated when the token is not acceptable, with ErrUnavailable
// when the identity source cannot be reached to check it, or with ctx's error.
func (o *OIDC) Verify(ctx context.Context, raw string) (Identity, error) {
	if err := ctx.Err(); err != nil {
		return Identity{}, err
	}
	if raw == "" {
		return Identity{}, Unauthenticated("OIDC token missing")
	}
	v, err := o.verifierFor(ctx, true)
	if err != nil {
		return Identity{}, err
	}
	var keysErr error // the key set's error, which go-oidc's error only quotes
	tok, err := v.Verify(withKeySetError(ctx, &keysErr), raw)
	if err != nil {
		return Identity{}, o.rejection(ctx, err, keysErr)
	}
	return o.identity(tok)
}

// verifierFor returns the verifier, discovering the issuer first if need be. When lazy
// (called by Verify), it does not try again sooner than discoveryRetry after a failure,
// and it logs the cause of a failure rather than returning it.
func (o *OIDC) verifierFor(ctx context.Context, lazy bool) (*oidc.IDTokenVerifier, error) {
	if v := o.verifier.Load(); v != nil {
		return v, nil
	}
	select {
	case o.discovering <- struct{}{}:
		defer func() { <-o.discovering }()
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if v := o.verifier.Load(); v != nil {
		return v, nil
	}
	if lazy && !o.failedAt.IsZero() && o.now().Sub(o.failedAt) < discoveryRetry {
		return nil, o.unavailable()
	}
	v, err := o.discover(ctx)
	switch {
	case err == nil:
		o.verifier.Store(v)
		return v, nil
	case ctx.Err() != nil: // the caller gave up; the source did not fail
		return nil, ctx.Err()
	}
	o.failedAt = o.now()
	if !lazy {
		return nil, err
	}
	o.cfg.Log.Warn("OIDC discovery failed", "err", err)
	return nil, o.unavailable()
}

// discover fetches the issuer's discovery document and makes a verifier from it, as
// go-oidc's Provider.Verifier would (issuer, audience, expiry, the document's signing
// algorithms) but with a keySet, which fetches the keys at the document's jwks_uri on
// first use and again, at most every refreshCooldown, when a token needs it.
func (o *OIDC) discover(ctx context.Context) (*oidc.IDTokenVerifier, error) {
	p, err := oidc.NewProvider(oidc.ClientContext(ctx, o.client), o.cfg.Issuer)
	if err != nil {
		return nil, fmt.Errorf("%w: discover %s: %w", ErrUnavailable, o.cfg.Issuer, err)
	}
	var doc struct {
		JWKSURI string   `json:"jwks_uri"`
		Algs    []string `json:"id_token_signing_alg_values_supported"`
	}
	if err := p.Claims(&doc); err != nil {
		return nil, fmt.Errorf("%w: discover %s: %w", ErrUnavailable, o.cfg.Issuer, err)
	}
	// Unlike an issuer, a jwks_uri may have a query (Azure AD B2C: ?p=<policy>).
	if u, err := url.Parse(doc.JWKSURI); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("%w: discover %s: jwks_uri %q is not an absolute http(s) URL",
			ErrUnavailable, o.cfg.Issuer, doc.JWKSURI)
	}
	algs := signingAlgs(doc.Algs)
	keys := &keySet{
		url:             doc.JWKSURI,
		client:          o.client,
		refreshCooldown: o.refreshCooldown,
		failRetry:       discoveryRetry,
		now:             o.now,
		log:             o.cfg.Log,
	}
	for _, a := range algs {
		keys.algs = append(keys.algs, jose.SignatureAlgorithm(a))
	}
	return oidc.NewVerifier(o.cfg.Issuer, keys, &oidc.Config{
		ClientID:             o.cfg.Audience,
		SupportedSigningAlgs: algs,
	}), nil
}

// signingAlgs returns the algorithms of advertised that go-oidc supports (its list for
// Provider.Verifier), or RS256, the verifier's default, if there is none.
func signingAlgs(advertised []string) []string {
	supported := []string{oidc.RS256, oidc.RS384, oidc.RS512, oidc.ES256, oidc.ES384,
		oidc.ES512, oidc.PS256, oidc.PS384, oidc.PS512, oidc.EdDSA}
	var algs []string
	for _, a := range advertised {
		if slices.Contains(supported, a) && !slices.Contains(algs, a) {
			algs = append(algs, a)
		}
	}
	if len(algs) == 0 {
		return []string{oidc.RS256}
	}
	return algs
}

// unavailable is the error a caller sees while the identity source cannot be reached.
func (o *OIDC) unavailable() error {
	return errorf(ErrUnavailable, "the identity source %s cannot be reached", o.cfg.Issuer)
}

// rejection maps an error of go-oidc's verifier, and keysErr, the error of its key set if
// that failed, to one for the caller. The key set's errors are ours: a failed fetch (logged
// by the key set) or an ErrUnauthenticated for the caller. go-oidc v3 has a type only for
// expiry; its other cases are told apart by its messages (verify.go).
func (o *OIDC) rejection(ctx context.Context, err, keysErr error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	switch {
	case errors.Is(keysErr, ErrUnavailable):
		return o.unavailable()
	case errors.Is(keysErr, ErrUnauthenticated):
		return keysErr
	}
	var expired *oidc.TokenExpiredError
	msg := err.Error()
	switch {
	case errors.As(err, &expired):
		return Unauthenticated("OIDC token expired")
	case strings.Contains(msg, "issued by a different provider"):
		return Unauthenticated("OIDC token from another issuer")
	case strings.Contains(msg, "expected audience"):
		return Unauthenticated("OIDC token for another audience")
	case strings.Contains(msg, "malformed jwt"):
		return errTokenMalformed
	default:
		return Unauthenticated("OIDC token rejected")
	}
}

// identity maps the claims of a verified token to an Identity.
func (o *OIDC) identity(tok *oidc.IDToken) (Identity, error) {
	var claims map[string]json.RawMessage
	if err := tok.Claims(&claims); err != nil {
		return Identity{}, Unauthenticated("OIDC token claims malformed")
	}
	name, err := o.username(claims[o.cfg.UsernameClaim])
	if err != nil {
		return Identity{}, err
	}
	groups, ok := groupList(claims[o.cfg.GroupsClaim])
	if !ok {
		return Identity{}, Unauthenticated("OIDC token %q claim is not a string or a list of strings", o.cfg.GroupsClaim)
	}
	role := RoleDeveloper
	switch {
	case o.cfg.AdminGroup != "" && slices.Contains(groups, o.cfg.AdminGroup):
		role = RoleAdmin
	case o.cfg.UserGroup != "" && slices.Contains(groups, o.cfg.UserGroup):
		role = RoleUser
	}
	exp := tok.Expiry
	return Identity{Name: name, Role: role, Kind: KindOIDC, Groups: groups, ExpiresAt: &exp}, nil
}

// username is the Gantry user name of a username claim: the configured prefix and the
// claim, a JSON string, which together follow store.ValidateUserName, the one rule of user
// names (token users and owners alike). A claim that breaks it is refused, never mapped:
// such a name could own apps yet never get a token, or carry a path or a newline.
func (o *OIDC) username(raw json.RawMessage) (string, error) {
	var claim string
	if err := json.Unmarshal(raw, &claim); err != nil {
		return "", Unauthenticated("OIDC token has no usable %q claim", o.cfg.UsernameClaim)
	}
	name := o.cfg.UsernamePrefix + claim
	if claim == "" || store.ValidateUserName(name) != nil {
		return "", Unauthenticated("the OIDC token's %q claim is not a valid Gantry user name: with the prefix %q it must match %s",
			o.cfg.UsernameClaim, o.cfg.UsernamePrefix, store.UserNameRule())
	}
	return name, nil
}

// groupList reads a JSON array of strings or a single string; absent or null is no groups.
func groupList(raw json.RawMessage) ([]string, bool) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, true
	}
	var list []string
	if err := json.Unmarshal(raw, &list); err == nil {
		return list, true
	}
	var one string
	if err := json.Unmarshal(raw, &one); err == nil {
		return []string{one}, true
	}
	return nil, false
}

// Issues tells, without verifying it, whether raw is a JWT whose iss claim is this identity
// source: a credential for Gantry that must not be passed on.
func (o *OIDC) Issues(raw string) bool {
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		return false
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return false
	}
	var claims struct {
		Iss string `json:"iss"`
	}
	return json.Unmarshal(payload, &claims) == nil && claims.Iss == o.cfg.Issuer
}
