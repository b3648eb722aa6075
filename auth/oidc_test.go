package auth

import (
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v3"
	"github.com/golang-jwt/jwt/v5"
	"github.com/oauth2-proxy/mockoidc"
)

// provider is a real OIDC identity source on loopback (mockoidc). Its key set endpoint
// serves the keys set with setKeys, so that a test can rotate them while it runs.
type provider struct {
	*mockoidc.MockOIDC
	discoveries atomic.Int32 // discovery document requests
	jwksFetches atomic.Int32 // key set requests
	held        atomic.Int32 // requests that waited for hold
	jwksStatus  atomic.Int32 // when not 0, the key set endpoint answers this status

	mu   sync.Mutex
	keys []*mockoidc.Keypair
	hold chan struct{} // when set, requests wait until it is closed
}

// startProvider starts a provider on a new loopback port; it is shut down at the end of t.
func startProvider(t *testing.T) *provider {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return startProviderOn(t, ln)
}

// startProviderOn starts a provider serving ln, signing with mockoidc's default key.
func startProviderOn(t *testing.T, ln net.Listener) *provider {
	t.Helper()
	m, err := mockoidc.NewServer(nil)
	if err != nil {
		t.Fatal(err)
	}
	p := &provider{MockOIDC: m}
	p.setKeys(t, m.Keypair) // computes the kid before the server may read it
	if err := m.AddMiddleware(p.middleware); err != nil {
		t.Fatal(err)
	}
	if err := m.Start(ln, nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Shutdown() })
	return p
}

// setKeys replaces the keys the provider publishes.
func (p *provider) setKeys(t *testing.T, keys ...*mockoidc.Keypair) {
	t.Helper()
	for _, k := range keys {
		if _, err := k.KeyID(); err != nil { // sets k.Kid once, here, not in a server goroutine
			t.Fatal(err)
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.keys = keys
}

// setHold makes requests wait until the returned function is called.
func (p *provider) setHold() (release func()) {
	hold := make(chan struct{})
	p.mu.Lock()
	p.hold = hold
	p.mu.Unlock()
	return sync.OnceFunc(func() { close(hold) })
}

// middleware counts requests, holds them if asked, and serves the key set from p.keys.
func (p *provider) middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		hold, keys := p.hold, p.keys
		p.mu.Unlock()
		if hold != nil {
			p.held.Add(1)
			select {
			case <-hold:
			case <-r.Context().Done():
				return
			}
		}
		switch r.URL.Path {
		case mockoidc.DiscoveryEndpoint:
			p.discoveries.Add(1)
			next.ServeHTTP(w, r)
		case mockoidc.JWKSEndpoint:
			p.jwksFetches.Add(1)
			if code := p.jwksStatus.Load(); code != 0 {
				http.Error(w, "key set unavailable", int(code))
				return
			}
			serveJWKS(w, keys)
		default:
			next.ServeHTTP(w, r)
		}
	})
}

func serveJWKS(w http.ResponseWriter, keys []*mockoidc.Keypair) {
	var set jose.JSONWebKeySet
	for _, k := range keys {
		set.Keys = append(set.Keys, jose.JSONWebKey{Key: k.PublicKey, KeyID: k.Kid, Algorithm: "RS256", Use: "sig"})
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(set)
}

// claims returns valid claims for p's verifier, changed by mod if not nil.
func (p *provider) claims(mod func(jwt.MapClaims)) jwt.MapClaims {
	now := time.Now()
	c := jwt.MapClaims{
		"iss":    p.Issuer(),
		"aud":    p.ClientID,
		"sub":    "u-1",
		"email":  "ada@example.com",
		"groups": []string{"dev", "ops"},
		"iat":    now.Unix(),
		"exp":    now.Add(10 * time.Minute).Unix(),
	}
	if mod != nil {
		mod(c)
	}
	return c
}

// token returns valid claims changed by mod, signed with p's default key.
func (p *provider) token(t *testing.T, mod func(jwt.MapClaims)) string {
	t.Helper()
	return sign(t, p.Keypair, p.claims(mod))
}

func sign(t *testing.T, k *mockoidc.Keypair, c jwt.MapClaims) string {
	t.Helper()
	raw, err := k.SignJWT(c)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func randomKeypair(t *testing.T) *mockoidc.Keypair {
	t.Helper()
	k, err := mockoidc.RandomKeypair(2048)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// newTestOIDC returns a verifier of issuer for audience, with cfg changed by mod if not nil.
func newTestOIDC(t *testing.T, issuer, audience string, mod func(*OIDCConfig)) *OIDC {
	t.Helper()
	cfg := OIDCConfig{
		Issuer:        issuer,
		Audience:      audience,
		UsernameClaim: "email",
		AdminGroup:    "admins",
		Log:           slog.New(slog.NewTextHandler(t.Output(), nil)),
	}
	if mod != nil {
		mod(&cfg)
	}
	o, err := NewOIDC(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return o
}

// wantIdentity fails t unless got is want.
func wantIdentity(t *testing.T, got, want Identity) {
	t.Helper()
	if got.Name != want.Name || got.Role != want.Role || got.Kind != want.Kind ||
		got.TokenID != want.TokenID || !slices.Equal(got.Groups, want.Groups) {
		t.Errorf("identity = %+v, want %+v", got, want)
	}
}

// wantError fails t unless err is of kind and its message contains msg but not raw.
func wantError(t *testing.T, err, kind error, msg, raw string) {
	t.Helper()
	if !errors.Is(err, kind) {
		t.Fatalf("err = %v, want %v", err, kind)
	}
	for _, other := range []error{ErrUnauthenticated, ErrUnavailable} {
		if other != kind && errors.Is(err, other) {
			t.Errorf("err = %v is also %v", err, other)
		}
	}
	if !strings.Contains(err.Error(), msg) {
		t.Errorf("err = %q, want it to contain %q", err, msg)
	}
	if len(raw) > 16 && strings.Contains(err.Error(), raw) {
		t.Errorf("err = %q echoes the token", err)
	}
}

func TestOIDCNewOIDCChecksConfig(t *testing.T) {
	p := startProvider(t)
	tests := []struct {
		name    string
		cfg     OIDCConfig
		wantErr bool
	}{
		{"valid", OIDCConfig{Issuer: p.Issuer(), Audience: "gantry"}, false},
		{"https", OIDCConfig{Issuer: "https://id.example.com", Audience: "gantry"}, false},
		{"no issuer", OIDCConfig{Audience: "gantry"}, true},
		{"relative issuer", OIDCConfig{Issuer: "id.example.com", Audience: "gantry"}, true},
		{"no host", OIDCConfig{Issuer: "https:///oidc", Audience: "gantry"}, true},
		{"other scheme", OIDCConfig{Issuer: "ftp://id.example.com", Audience: "gantry"}, true},
		{"query", OIDCConfig{Issuer: "https://id.example.com?a=b", Audience: "gantry"}, true},
		{"no audience", OIDCConfig{Issuer: "https://id.example.com"}, true},
		{"a user name prefix", OIDCConfig{Issuer: "https://id.example.com", Audience: "gantry", UsernamePrefix: "oidc:"}, false},
		{"a user name prefix no user name may start with", OIDCConfig{Issuer: "https://id.example.com", Audience: "gantry", UsernamePrefix: "oidc user/"}, true},
		{"a user name prefix that leaves no room for a name", OIDCConfig{Issuer: "https://id.example.com", Audience: "gantry", UsernamePrefix: strings.Repeat("p", 255)}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, err := NewOIDC(tt.cfg)
			if (err != nil) != tt.wantErr {
				t.Fatalf("NewOIDC() error = %v, want error %v", err, tt.wantErr)
			}
			if err == nil && (o.cfg.UsernameClaim != "sub" || o.cfg.GroupsClaim != "groups") {
				t.Errorf("claims = %q, %q, want defaults sub, groups", o.cfg.UsernameClaim, o.cfg.GroupsClaim)
			}
		})
	}
	if n := p.discoveries.Load(); n != 0 {
		t.Errorf("NewOIDC contacted the issuer %d times, want 0", n)
	}
}

func TestOIDCVerifyAccepts(t *testing.T) {
	p := startProvider(t)
	tests := []struct {
		name   string
		config func(*OIDCConfig)
		claims func(jwt.MapClaims)
		want   Identity
	}{
		{
			name: "developer",
			want: Identity{Name: "ada@example.com", Role: RoleDeveloper, Kind: KindOIDC, Groups: []string{"dev", "ops"}},
		},
		{
			name:   "admin group",
			claims: func(c jwt.MapClaims) { c["groups"] = []string{"dev", "admins"} },
			want:   Identity{Name: "ada@example.com", Role: RoleAdmin, Kind: KindOIDC, Groups: []string{"dev", "admins"}},
		},
		{
			name:   "single group string",
			claims: func(c jwt.MapClaims) { c["groups"] = "admins" },
			want:   Identity{Name: "ada@example.com", Role: RoleAdmin, Kind: KindOIDC, Groups: []string{"admins"}},
		},
		{
			name:   "no groups",
			claims: func(c jwt.MapClaims) { delete(c, "groups") },
			want:   Identity{Name: "ada@example.com", Role: RoleDeveloper, Kind: KindOIDC},
		},
		{
			name:   "user group",
			config: func(c *OIDCConfig) { c.UserGroup = "hpc-users" },
			claims: func(c jwt.MapClaims) { c["groups"] = []string{"hpc-users"} },
			want:   Identity{Name: "ada@example.com", Role: RoleUser, Kind: KindOIDC, Groups: []string{"hpc-users"}},
		},
		{
			name:   "admin group wins over user group",
			config: func(c *OIDCConfig) { c.UserGroup = "hpc-users" },
			claims: func(c jwt.MapClaims) { c["groups"] = []string{"hpc-users", "admins"} },
			want:   Identity{Name: "ada@example.com", Role: RoleAdmin, Kind: KindOIDC, Groups: []string{"hpc-users", "admins"}},
		},
		{
			name:   "outside the user group is a developer",
			config: func(c *OIDCConfig) { c.UserGroup = "hpc-users" },
			want:   Identity{Name: "ada@example.com", Role: RoleDeveloper, Kind: KindOIDC, Groups: []string{"dev", "ops"}},
		},
		{
			name:   "no admin group configured",
			config: func(c *OIDCConfig) { c.AdminGroup = "" },
			claims: func(c jwt.MapClaims) { c["groups"] = []string{""} },
			want:   Identity{Name: "ada@example.com", Role: RoleDeveloper, Kind: KindOIDC, Groups: []string{""}},
		},
		{
			name:   "custom claims",
			config: func(c *OIDCConfig) { c.UsernameClaim = "preferred_username"; c.GroupsClaim = "roles" },
			claims: func(c jwt.MapClaims) { c["preferred_username"] = "ada"; c["roles"] = []string{"admins"} },
			want:   Identity{Name: "ada", Role: RoleAdmin, Kind: KindOIDC, Groups: []string{"admins"}},
		},
		{
			name:   "default username claim",
			config: func(c *OIDCConfig) { c.UsernameClaim = "" },
			want:   Identity{Name: "u-1", Role: RoleDeveloper, Kind: KindOIDC, Groups: []string{"dev", "ops"}},
		},
		{
			name:   "audience among several",
			claims: func(c jwt.MapClaims) { c["aud"] = []string{"other", p.ClientID} },
			want:   Identity{Name: "ada@example.com", Role: RoleDeveloper, Kind: KindOIDC, Groups: []string{"dev", "ops"}},
		},
		{
			name:   "username of 255 bytes",
			claims: func(c jwt.MapClaims) { c["email"] = strings.Repeat("a", 255) },
			want:   Identity{Name: strings.Repeat("a", 255), Role: RoleDeveloper, Kind: KindOIDC, Groups: []string{"dev", "ops"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := newTestOIDC(t, p.Issuer(), p.ClientID, tt.config)
			got, err := o.Verify(t.Context(), p.token(t, tt.claims))
			if err != nil {
				t.Fatalf("Verify() error = %v", err)
			}
			wantIdentity(t, got, tt.want)
		})
	}
}

func TestOIDCVerifyRejects(t *testing.T) {
	p := startProvider(t)
	other := startProvider(t) // another issuer; mockoidc signs with the same default key
	sameKid := randomKeypair(t)
	sameKid.Kid = p.Keypair.Kid
	valid := p.token(t, nil)
	parts := strings.Split(valid, ".")
	tests := []struct {
		name string
		raw  string
		msg  string
	}{
		{"other issuer", other.token(t, nil), "another issuer"},
		{"iss claim changed", p.token(t, func(c jwt.MapClaims) { c["iss"] = other.Issuer() }), "another issuer"},
		{"other audience", p.token(t, func(c jwt.MapClaims) { c["aud"] = "someone-else" }), "another audience"},
		{"no audience", p.token(t, func(c jwt.MapClaims) { delete(c, "aud") }), "another audience"},
		{"expired", p.token(t, func(c jwt.MapClaims) { c["exp"] = time.Now().Add(-time.Minute).Unix() }), "expired"},
		{"no expiry", p.token(t, func(c jwt.MapClaims) { delete(c, "exp") }), "expired"},
		{"not yet valid", p.token(t, func(c jwt.MapClaims) { c["nbf"] = time.Now().Add(time.Hour).Unix() }), "OIDC token rejected"},
		{"other key, same kid", sign(t, sameKid, p.claims(nil)), "signature invalid"},
		{"signature altered", parts[0] + "." + parts[1] + "." + flip(parts[2]), "signature invalid"},
		{"payload altered", parts[0] + "." + b64(`{"iss":"`+p.Issuer()+`","aud":"`+p.ClientID+`","email":"eve"}`) + "." + parts[2], "signature invalid"},
		{"alg none", b64(`{"alg":"none","typ":"JWT"}`) + "." + parts[1] + ".", "unsupported algorithm"},
		{"alg HS256 keyed with the public key", hmacWithPublicKey(t, p), "unsupported algorithm"},
		{"alg RS384, not in the discovery document", signRS384(t, p), "unsupported algorithm"},
		{"garbage", "not-a-jwt", "malformed"},
		{"three dots", "..", "malformed"},
		{"empty", "", "missing"},
		{"no username", p.token(t, func(c jwt.MapClaims) { delete(c, "email") }), `"email" claim`},
		{"username not a string", p.token(t, func(c jwt.MapClaims) { c["email"] = 42 }), `"email" claim`},
		{"username a list", p.token(t, func(c jwt.MapClaims) { c["email"] = []string{"ada"} }), `"email" claim`},
		{"username empty", p.token(t, func(c jwt.MapClaims) { c["email"] = "" }), `"email" claim`},
		{"username null", p.token(t, func(c jwt.MapClaims) { c["email"] = nil }), `"email" claim`},
		{"username too long", p.token(t, func(c jwt.MapClaims) { c["email"] = strings.Repeat("a", 256) }), `"email" claim`},
		{"groups a number", p.token(t, func(c jwt.MapClaims) { c["groups"] = 7 }), `"groups" claim`},
		{"groups mixed list", p.token(t, func(c jwt.MapClaims) { c["groups"] = []any{"admins", 7} }), `"groups" claim`},
	}
	o := newTestOIDC(t, p.Issuer(), p.ClientID, nil)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := o.Verify(t.Context(), tt.raw)
			if err == nil {
				t.Fatalf("Verify() = %+v, want an error", got)
			}
			wantError(t, err, ErrUnauthenticated, tt.msg, tt.raw)
		})
	}
	// The verifier still accepts a good token after all that.
	if _, err := o.Verify(t.Context(), valid); err != nil {
		t.Fatalf("Verify(valid) error = %v", err)
	}
}

// b64 encodes s as a JWT segment.
func b64(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

// flip changes one character in the middle of a JWT segment.
func flip(seg string) string {
	b := []byte(seg)
	i := len(b) / 2
	if b[i] == 'A' {
		b[i] = 'B'
	} else {
		b[i] = 'A'
	}
	return string(b)
}

// hmacWithPublicKey signs valid claims with HS256 keyed by p's public key (the "algorithm
// confusion" attack).
func hmacWithPublicKey(t *testing.T, p *provider) string {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(p.Keypair.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	tok := jwt.NewWithClaims(jwt.SigningMethodHS256, p.claims(nil))
	tok.Header["kid"] = p.Keypair.Kid
	raw, err := tok.SignedString(der)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// signRS384 signs valid claims with p's key, its kid, and RS384, an algorithm go-oidc
// supports but p's discovery document does not list.
func signRS384(t *testing.T, p *provider) string {
	t.Helper()
	tok := jwt.NewWithClaims(jwt.SigningMethodRS384, p.claims(nil))
	tok.Header["kid"] = p.Keypair.Kid
	raw, err := tok.SignedString(p.Keypair.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// testClock is a clock for the verifier that the test moves by hand.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func newTestClock() *testClock { return &testClock{t: time.Now()} }

func (c *testClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// newClockedOIDC returns a verifier of p whose refresh cooldown runs on the returned clock.
func newClockedOIDC(t *testing.T, p *provider, mod func(*OIDCConfig)) (*OIDC, *testClock) {
	t.Helper()
	o := newTestOIDC(t, p.Issuer(), p.ClientID, mod)
	clock := newTestClock()
	o.now = clock.now
	return o, clock
}

// wantFetches fails t unless p's key set was requested n times so far.
func wantFetches(t *testing.T, p *provider, n int32, when string) {
	t.Helper()
	if got := p.jwksFetches.Load(); got != n {
		t.Fatalf("%s: key set fetched %d times, want %d", when, got, n)
	}
}

// TestOIDCKeyRotation shows how the key cache follows a rotation at the provider: it
// fetches the key set again when a token does not verify with the cached keys, but not
// sooner than refreshCooldown after the last fetch. (With go-oidc's own key set, which has
// no cooldown, steps 2 and 6 each cost a fetch, and the test had to sleep between steps
// because go-oidc woke a fetch's waiters before storing the keys; this key set stores them
// first, so the steps run back to back on a test clock.)
func TestOIDCKeyRotation(t *testing.T) {
	p := startProvider(t)
	o, clock := newClockedOIDC(t, p, nil)
	oldKey, newKey := p.Keypair, randomKeypair(t)
	oldToken := p.token(t, nil)
	newToken := sign(t, newKey, p.claims(func(c jwt.MapClaims) { c["email"] = "new@example.com" }))
	cooldown := o.refreshCooldown

	steps := []struct {
		name        string
		advance     time.Duration       // moves the clock before the step
		publish     []*mockoidc.Keypair // keys the provider publishes from this step on; nil = unchanged
		raw         string
		wantName    string // "" = rejected
		wantFetches int32  // key set fetches so far
	}{
		{"old key accepted", 0, nil, oldToken, "ada@example.com", 1},
		{"new key unknown, fetched just now", 0, nil, newToken, "", 1},
		{"new key not yet published", cooldown, nil, newToken, "", 2},
		// The provider retires the old key and publishes the new one.
		{"retired key still cached", 0, []*mockoidc.Keypair{newKey}, oldToken, "ada@example.com", 2},
		{"new kid triggers a fetch", cooldown, nil, newToken, "new@example.com", 3},
		{"retired key gone, fetched just now", 0, nil, oldToken, "", 3},
		{"new key cached", 0, nil, newToken, "new@example.com", 3},
		// Both keys published again (an overlap period).
		{"old key back", cooldown, []*mockoidc.Keypair{oldKey, newKey}, oldToken, "ada@example.com", 4},
		{"both cached", 0, nil, newToken, "new@example.com", 4},
	}
	for _, s := range steps {
		clock.advance(s.advance)
		if s.publish != nil {
			p.setKeys(t, s.publish...)
		}
		got, err := o.Verify(t.Context(), s.raw)
		switch {
		case s.wantName == "":
			if err == nil {
				t.Fatalf("%s: Verify() = %+v, want an error", s.name, got)
			}
			wantError(t, err, ErrUnauthenticated, "signature invalid", s.raw)
		case err != nil:
			t.Fatalf("%s: Verify() error = %v", s.name, err)
		case got.Name != s.wantName:
			t.Fatalf("%s: Name = %q, want %q", s.name, got.Name, s.wantName)
		}
		wantFetches(t, p, s.wantFetches, s.name)
	}
}

// TestOIDCForgedTokens sends forged tokens in a row: within the refresh cooldown they cost
// at most one key set request in all (the first use's), however many they are.
func TestOIDCForgedTokens(t *testing.T) {
	const n = 100
	forgers := []struct {
		name  string
		forge func(t *testing.T, p *provider) string
	}{
		{"unknown kid", func(t *testing.T, p *provider) string {
			return sign(t, randomKeypair(t), p.claims(nil))
		}},
		{"known kid, other key", func(t *testing.T, p *provider) string {
			k := randomKeypair(t)
			k.Kid = p.Keypair.Kid
			return sign(t, k, p.claims(nil))
		}},
		{"known kid, signature altered", func(t *testing.T, p *provider) string {
			parts := strings.Split(p.token(t, nil), ".")
			return parts[0] + "." + parts[1] + "." + flip(parts[2])
		}},
		{"no kid, other key", func(t *testing.T, p *provider) string {
			raw, err := jwt.NewWithClaims(jwt.SigningMethodRS256, p.claims(nil)).SignedString(randomKeypair(t).PrivateKey)
			if err != nil {
				t.Fatal(err)
			}
			return raw
		}},
	}
	for _, f := range forgers {
		t.Run(f.name+", in a row", func(t *testing.T) {
			p := startProvider(t)
			o, clock := newClockedOIDC(t, p, nil)
			forged := f.forge(t, p)
			for i := range n {
				_, err := o.Verify(t.Context(), forged)
				wantError(t, err, ErrUnauthenticated, "OIDC token signature invalid", forged)
				clock.advance(o.refreshCooldown / (2 * n)) // all within one cooldown
				wantFetches(t, p, 1, fmt.Sprintf("forged token %d", i+1))
			}
			if _, err := o.Verify(t.Context(), p.token(t, nil)); err != nil {
				t.Fatalf("Verify(valid) error = %v", err)
			}
			wantFetches(t, p, 1, "valid token after the forged ones")
			// Once the cooldown is over, a forged token may cost one more fetch.
			clock.advance(o.refreshCooldown)
			for range n {
				_, err := o.Verify(t.Context(), forged)
				wantError(t, err, ErrUnauthenticated, "OIDC token signature invalid", forged)
			}
			wantFetches(t, p, 2, "forged tokens after the cooldown")
			if n := p.discoveries.Load(); n != 1 {
				t.Errorf("discoveries = %d, want 1", n)
			}
		})
		t.Run(f.name+", concurrently", func(t *testing.T) {
			p := startProvider(t)
			o, _ := newClockedOIDC(t, p, nil)
			if err := o.Discover(t.Context()); err != nil {
				t.Fatal(err)
			}
			forged := f.forge(t, p)
			var wg sync.WaitGroup
			for range n {
				wg.Go(func() {
					if _, err := o.Verify(t.Context(), forged); !errors.Is(err, ErrUnauthenticated) {
						t.Errorf("Verify(forged) error = %v, want ErrUnauthenticated", err)
					}
				})
			}
			wg.Wait()
			wantFetches(t, p, 1, "concurrent forged tokens")
		})
	}
}

// TestOIDCNewKeyOnFirstSight: a token signed with a key the provider published since the
// last fetch is accepted at once, with one fetch, when that fetch ended a cooldown ago.
func TestOIDCNewKeyOnFirstSight(t *testing.T) {
	p := startProvider(t)
	o, clock := newClockedOIDC(t, p, nil)
	if _, err := o.Verify(t.Context(), p.token(t, nil)); err != nil {
		t.Fatal(err)
	}
	wantFetches(t, p, 1, "old key")

	newKey := randomKeypair(t)
	p.setKeys(t, p.Keypair, newKey)
	clock.advance(o.refreshCooldown)
	got, err := o.Verify(t.Context(), sign(t, newKey, p.claims(nil)))
	if err != nil {
		t.Fatalf("Verify(new kid) error = %v", err)
	}
	wantIdentity(t, got, Identity{Name: "ada@example.com", Role: RoleDeveloper, Kind: KindOIDC, Groups: []string{"dev", "ops"}})
	wantFetches(t, p, 2, "new kid")
}

// TestOIDCNewKeyWithinCooldown: when the last fetch ended less than a cooldown ago, a token
// with a new kid is rejected without a fetch until the cooldown is over, then accepted.
func TestOIDCNewKeyWithinCooldown(t *testing.T) {
	p := startProvider(t)
	o, clock := newClockedOIDC(t, p, nil)
	if _, err := o.Verify(t.Context(), p.token(t, nil)); err != nil {
		t.Fatal(err)
	}
	wantFetches(t, p, 1, "old key")

	newKey := randomKeypair(t)
	p.setKeys(t, p.Keypair, newKey)
	newToken := sign(t, newKey, p.claims(nil))
	for _, d := range []time.Duration{0, o.refreshCooldown / 2, o.refreshCooldown/2 - time.Millisecond} {
		clock.advance(d)
		_, err := o.Verify(t.Context(), newToken)
		wantError(t, err, ErrUnauthenticated, "OIDC token signature invalid", newToken)
		wantFetches(t, p, 1, "new kid within the cooldown")
	}
	clock.advance(time.Millisecond) // the cooldown is over
	if _, err := o.Verify(t.Context(), newToken); err != nil {
		t.Fatalf("Verify(new kid) after the cooldown: error = %v", err)
	}
	wantFetches(t, p, 2, "new kid after the cooldown")
	if _, err := o.Verify(t.Context(), p.token(t, nil)); err != nil {
		t.Fatalf("Verify(old kid) error = %v", err)
	}
	wantFetches(t, p, 2, "both cached")
}

// TestOIDCKeySetFailure: a failed fetch makes Verify fail with ErrUnavailable, keeps the keys
// cached before, and is not retried sooner than discoveryRetry later.
func TestOIDCKeySetFailure(t *testing.T) {
	p := startProvider(t)
	o, clock := newClockedOIDC(t, p, nil)
	oldToken := p.token(t, nil)
	if _, err := o.Verify(t.Context(), oldToken); err != nil {
		t.Fatal(err)
	}
	newKey := randomKeypair(t)
	newToken := sign(t, newKey, p.claims(nil))
	p.setKeys(t, p.Keypair, newKey)
	p.jwksStatus.Store(http.StatusServiceUnavailable)
	clock.advance(o.refreshCooldown)

	for range 10 {
		_, err := o.Verify(t.Context(), newToken)
		wantError(t, err, ErrUnavailable, "cannot be reached", newToken)
		clock.advance(discoveryRetry / 20)
	}
	wantFetches(t, p, 2, "after a failed fetch") // the first use and one failed refresh
	if _, err := o.Verify(t.Context(), oldToken); err != nil {
		t.Fatalf("Verify(cached kid) while the key set fails: error = %v", err)
	}
	wantFetches(t, p, 2, "cached kid")

	p.jwksStatus.Store(0)
	clock.advance(discoveryRetry / 2) // discoveryRetry after the failed fetch
	if _, err := o.Verify(t.Context(), newToken); err != nil {
		t.Fatalf("Verify(new kid) after recovery: error = %v", err)
	}
	wantFetches(t, p, 3, "after recovery")
}

// TestOIDCKeySetSharedFetch: callers needing keys share the fetch under way; one that gives
// up at its deadline does not end it for the others.
func TestOIDCKeySetSharedFetch(t *testing.T) {
	p := startProvider(t)
	o, _ := newClockedOIDC(t, p, nil)
	if err := o.Discover(t.Context()); err != nil {
		t.Fatal(err)
	}
	raw := p.token(t, nil)
	release := p.setHold()
	defer release()

	var first, others sync.WaitGroup
	first.Go(func() { wantDeadline(t, o, raw, 200*time.Millisecond) }) // it starts the fetch
	for p.held.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	for range 16 {
		others.Go(func() {
			if _, err := o.Verify(t.Context(), raw); err != nil {
				t.Errorf("Verify() error = %v", err)
			}
		})
	}
	first.Wait()
	release()
	others.Wait()
	wantFetches(t, p, 1, "shared fetch")
	if n := p.held.Load(); n != 1 {
		t.Errorf("key set requests = %d, want 1", n)
	}
}

func TestOIDCUnavailable(t *testing.T) {
	t.Run("provider closed before discovery", func(t *testing.T) {
		p := startProvider(t)
		o := newTestOIDC(t, p.Issuer(), p.ClientID, nil)
		raw := p.token(t, nil)
		if err := p.Shutdown(); err != nil {
			t.Fatal(err)
		}
		_, err := o.Verify(t.Context(), raw)
		wantError(t, err, ErrUnavailable, "cannot be reached", raw)

		err = o.Discover(t.Context())
		wantError(t, err, ErrUnavailable, "connection refused", raw) // the cause, for the log
	})
	t.Run("key set unreachable after discovery", func(t *testing.T) {
		p := startProvider(t)
		o := newTestOIDC(t, p.Issuer(), p.ClientID, nil)
		if err := o.Discover(t.Context()); err != nil {
			t.Fatalf("Discover() error = %v", err)
		}
		raw := p.token(t, nil)
		if err := p.Shutdown(); err != nil {
			t.Fatal(err)
		}
		_, err := o.Verify(t.Context(), raw)
		wantError(t, err, ErrUnavailable, "cannot be reached", raw)
	})
	t.Run("discovery answers an error", func(t *testing.T) {
		p := startProvider(t)
		o := newTestOIDC(t, p.Issuer(), p.ClientID, nil)
		p.QueueError(&mockoidc.ServerError{Code: http.StatusServiceUnavailable, Error: "down"})
		_, err := o.Verify(t.Context(), p.token(t, nil))
		wantError(t, err, ErrUnavailable, "cannot be reached", "")
	})
}

// TestOIDCRecovery starts with nothing listening at the issuer's address, then starts
// the provider there: Verify retries discovery no more often than every 5 seconds.
func TestOIDCRecovery(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	issuer := "http://" + addr + mockoidc.IssuerBase

	var mu sync.Mutex
	now := time.Now()
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); defer mu.Unlock(); now = now.Add(d) }

	o := newTestOIDC(t, issuer, "gantry", nil)
	o.now = clock

	if _, err := o.Verify(t.Context(), "some.token.value"); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Verify() while down: error = %v, want ErrUnavailable", err)
	}

	ln, err = net.Listen("tcp", addr)
	if err != nil {
		t.Skipf("port %s was taken meanwhile: %v", addr, err)
	}
	p := startProviderOn(t, ln)
	if p.Issuer() != issuer {
		t.Fatalf("issuer = %q, want %q", p.Issuer(), issuer)
	}
	raw := p.token(t, func(c jwt.MapClaims) { c["aud"] = "gantry" })

	advance(4 * time.Second)
	_, err = o.Verify(t.Context(), raw)
	wantError(t, err, ErrUnavailable, "cannot be reached", raw)
	if n := p.discoveries.Load(); n != 0 {
		t.Fatalf("discovery retried %d times within 5s of a failure, want 0", n)
	}

	advance(time.Second)
	got, err := o.Verify(t.Context(), raw)
	if err != nil {
		t.Fatalf("Verify() after recovery: error = %v", err)
	}
	wantIdentity(t, got, Identity{Name: "ada@example.com", Role: RoleDeveloper, Kind: KindOIDC, Groups: []string{"dev", "ops"}})
	if n := p.discoveries.Load(); n != 1 {
		t.Fatalf("discoveries = %d, want 1", n)
	}
}

func TestOIDCHonoursContext(t *testing.T) {
	t.Run("canceled", func(t *testing.T) {
		p := startProvider(t)
		o := newTestOIDC(t, p.Issuer(), p.ClientID, nil)
		raw := p.token(t, nil)
		if _, err := o.Verify(t.Context(), raw); err != nil { // discovered, key cached
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		if _, err := o.Verify(ctx, raw); !errors.Is(err, context.Canceled) {
			t.Fatalf("Verify() error = %v, want context.Canceled", err)
		}
	})
	t.Run("discovery hangs", func(t *testing.T) {
		p := startProvider(t)
		o := newTestOIDC(t, p.Issuer(), p.ClientID, nil)
		raw := p.token(t, nil)
		release := p.setHold()
		defer release()
		// One caller discovers; another, waiting for it, gives up at its own, earlier, deadline.
		var wg sync.WaitGroup
		wg.Go(func() { wantDeadline(t, o, raw, time.Second) })
		for p.held.Load() == 0 {
			time.Sleep(time.Millisecond)
		}
		wantDeadline(t, o, raw, 100*time.Millisecond)
		wg.Wait()
		release()
		if _, err := o.Verify(t.Context(), raw); err != nil { // a deadline is no failure of the source
			t.Fatalf("Verify() after release: error = %v", err)
		}
	})
	t.Run("key set hangs", func(t *testing.T) {
		p := startProvider(t)
		o := newTestOIDC(t, p.Issuer(), p.ClientID, nil)
		if err := o.Discover(t.Context()); err != nil {
			t.Fatal(err)
		}
		raw := p.token(t, nil)
		release := p.setHold()
		defer release()
		wantDeadline(t, o, raw, 200*time.Millisecond)
	})
}

// wantDeadline fails t unless Verify gives up at a deadline of d.
func wantDeadline(t *testing.T, o *OIDC, raw string, d time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), d)
	defer cancel()
	start := time.Now()
	_, err := o.Verify(ctx, raw)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Verify() error = %v, want context.DeadlineExceeded", err)
	}
	if took := time.Since(start); took > d+500*time.Millisecond {
		t.Errorf("Verify() with a deadline of %v returned after %v", d, took)
	}
}

func TestOIDCConcurrentVerify(t *testing.T) {
	p := startProvider(t)
	o := newTestOIDC(t, p.Issuer(), p.ClientID, nil)
	good, bad := p.token(t, nil), p.token(t, func(c jwt.MapClaims) { c["aud"] = "other" })
	var wg sync.WaitGroup
	for i := range 32 {
		wg.Go(func() {
			if i%2 == 0 {
				if _, err := o.Verify(t.Context(), good); err != nil {
					t.Errorf("Verify(good) error = %v", err)
				}
			} else if _, err := o.Verify(t.Context(), bad); !errors.Is(err, ErrUnauthenticated) {
				t.Errorf("Verify(bad) error = %v, want ErrUnauthenticated", err)
			}
		})
	}
	wg.Wait()
	if n := p.discoveries.Load(); n != 1 {
		t.Errorf("discoveries = %d, want 1", n)
	}
}

// countingTransport counts the requests it carries.
type countingTransport struct{ n atomic.Int32 }

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.n.Add(1)
	return http.DefaultTransport.RoundTrip(r)
}

func TestOIDCHTTPClient(t *testing.T) {
	t.Run("used for discovery and keys", func(t *testing.T) {
		p := startProvider(t)
		tr := &countingTransport{}
		o := newTestOIDC(t, p.Issuer(), p.ClientID, func(c *OIDCConfig) { c.HTTPClient = &http.Client{Transport: tr} })
		if _, err := o.Verify(t.Context(), p.token(t, nil)); err != nil {
			t.Fatal(err)
		}
		if n := tr.n.Load(); n != 2 {
			t.Errorf("requests through the configured client = %d, want 2 (discovery, keys)", n)
		}
	})
	t.Run("always has a timeout", func(t *testing.T) {
		if c := withTimeout(nil); c.Timeout != fetchTimeout {
			t.Errorf("default client timeout = %v, want %v", c.Timeout, fetchTimeout)
		}
		given := &http.Client{}
		if c := withTimeout(given); c.Timeout != fetchTimeout || given.Timeout != 0 {
			t.Errorf("timeouts = %v (used), %v (given), want %v, 0", c.Timeout, given.Timeout, fetchTimeout)
		}
		given = &http.Client{Timeout: time.Second}
		if c := withTimeout(given); c != given {
			t.Error("a client with a timeout was not used as is")
		}
	})
}

// TestOIDCDiscoveryJWKSURI: discovery fails unless the document has an absolute http(s)
// jwks_uri, which may have a query.
func TestOIDCDiscoveryJWKSURI(t *testing.T) {
	tests := []struct {
		name    string
		jwksURI string
		wantErr bool
	}{
		{"absolute", "/keys", false},
		{"with a query", "/keys?p=policy", false},
		{"missing", "", true},
		{"relative", "keys", true},
		{"other scheme", "ftp://id.example.com/keys", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var issuer string
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				uri := tt.jwksURI
				if strings.HasPrefix(uri, "/") {
					uri = issuer + uri
				}
				w.Header().Set("Content-Type", "application/json")
				_ = json.NewEncoder(w).Encode(map[string]any{"issuer": issuer, "jwks_uri": uri})
			}))
			t.Cleanup(srv.Close)
			issuer = srv.URL
			o := newTestOIDC(t, issuer, "gantry", nil)
			err := o.Discover(t.Context())
			if !tt.wantErr {
				if err != nil {
					t.Fatalf("Discover() error = %v", err)
				}
				return
			}
			wantError(t, err, ErrUnavailable, "jwks_uri", "")
		})
	}
}
