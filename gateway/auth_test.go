package gateway

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/oauth2-proxy/mockoidc"

	"github.com/gantry-dev/gantry/auth"
	"github.com/gantry-dev/gantry/store"
)

// wantCall fails t unless got is a 200 from the function without the Authorization header.
func wantCall(t *testing.T, got response) {
	t.Helper()
	if got.status != http.StatusOK {
		t.Fatalf("status = %d %s, want 200", got.status, got.body)
	}
	var echo echo
	if err := json.Unmarshal([]byte(got.body), &echo); err != nil {
		t.Fatal(err)
	}
	if slices.Contains(echo.Headers, "Authorization") {
		t.Errorf("the function saw the gateway's credential: headers %v", echo.Headers)
	}
}

// wantChallenge fails t unless got is a 401 with challenge.
func wantChallenge(t *testing.T, got response, challenge string) {
	t.Helper()
	if got.status != http.StatusUnauthorized || got.header.Get("WWW-Authenticate") != challenge {
		t.Errorf("= %d WWW-Authenticate %q, want 401 %q", got.status, got.header.Get("WWW-Authenticate"), challenge)
	}
}

func TestBasicAuth(t *testing.T) {
	e := newEnv(t, nil)
	e.create(newAPI("members", func(a *store.API) {
		a.Hosts, a.Auth = []string{"members.test"}, store.APIAuthBasic
		a.BasicUsers = []store.BasicUser{basicUser(t, "ada", "secret"), basicUser(t, "bob", "hunter2")}
	}))
	const url, challenge = "http://members.test/", `Basic realm="members"`
	before := e.calls.count()
	wantChallenge(t, e.do("GET", url, nil), challenge)
	wantChallenge(t, e.do("GET", url, basicAuth("ada", "wrong")), challenge)
	wantChallenge(t, e.do("GET", url, basicAuth("nobody", "secret")), challenge)
	wantChallenge(t, e.do("GET", url, http.Header{"Authorization": {"Bearer secret"}}), challenge)
	if e.calls.count() != before {
		t.Fatal("the function ran for a request without valid credentials")
	}

	checks := e.checks.Load()
	for range 5 {
		wantCall(t, e.do("GET", url, basicAuth("ada", "secret")))
	}
	if got := e.checks.Load() - checks; got != 1 {
		t.Errorf("bcrypt ran %d times for 5 requests with the same credentials, want 1", got)
	}
	wantCall(t, e.do("GET", url, basicAuth("bob", "hunter2")))
	wantChallenge(t, e.do("GET", url, basicAuth("ada", "hunter2")), challenge) // bob's password is not ada's
	if got := e.checks.Load() - checks; got != 3 {
		t.Errorf("bcrypt ran %d times, want 3 (ada once, bob once, a wrong password once)", got)
	}

	// A changed password is verified again; the old one no longer opens.
	_, err := e.db.UpdateAPI(t.Context(), "members", func(a *store.API) error {
		a.BasicUsers[0] = basicUser(t, "ada", "new secret")
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.g.Refresh(t.Context()); err != nil {
		t.Fatal(err)
	}
	wantChallenge(t, e.do("GET", url, basicAuth("ada", "secret")), challenge)
	wantCall(t, e.do("GET", url, basicAuth("ada", "new secret")))
}

func TestBasicCache(t *testing.T) {
	now := time.Now()
	c := newBasicCache()
	c.now = func() time.Time { return now }
	k := basicKey("ada", "pw", []byte("hash"))
	if c.has(k) {
		t.Fatal("an empty cache has a key")
	}
	c.add(k)
	if !c.has(k) || c.has(basicKey("ada", "pw", []byte("other hash"))) || c.has(basicKey("ada", "pw2", []byte("hash"))) {
		t.Fatal("the cache does not tell keys apart")
	}
	now = now.Add(basicTTL)
	if c.has(k) {
		t.Error("a key is valid after basicTTL")
	}
	for i := range basicMaxKeys + 10 {
		c.add(basicKey("u", string(rune(i)), nil))
	}
	if len(c.keys) > basicMaxKeys {
		t.Errorf("the cache holds %d keys, more than %d", len(c.keys), basicMaxKeys)
	}
}

// startOIDC starts a real OIDC identity source on loopback (mockoidc).
func startOIDC(t *testing.T) *mockoidc.MockOIDC {
	t.Helper()
	m, err := mockoidc.NewServer(nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Keypair.KeyID(); err != nil { // sets the kid here, not in a server goroutine
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Start(ln, nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Shutdown() })
	return m
}

// idToken is a token of m for audience, of subject sub.
func idToken(t *testing.T, m *mockoidc.MockOIDC, audience, sub string) http.Header {
	t.Helper()
	now := time.Now()
	raw, err := m.Keypair.SignJWT(jwt.MapClaims{
		"iss": m.Issuer(), "aud": audience, "sub": sub, "iat": now.Unix(), "exp": now.Add(time.Hour).Unix(),
	})
	if err != nil {
		t.Fatal(err)
	}
	return http.Header{"Authorization": {"Bearer " + raw}}
}

func TestOIDCAuth(t *testing.T) {
	m := startOIDC(t)
	e := newEnv(t, func(e *env, o *Options) {
		o.OIDC = &auth.OIDCConfig{Issuer: m.Issuer(), Audience: m.ClientID}
	})
	e.create(
		newAPI("sso", func(a *store.API) { a.Hosts, a.Auth = []string{"sso.test"}, store.APIAuthOIDC }),
		newAPI("partner", func(a *store.API) {
			a.Hosts, a.Auth, a.OIDCAudience = []string{"partner.test"}, store.APIAuthOIDC, "partner-app"
		}),
	)
	before := e.calls.count()
	wantChallenge(t, e.do("GET", "http://sso.test/", nil), `Bearer realm="sso"`)
	wantChallenge(t, e.do("GET", "http://sso.test/", basicAuth("u", "p")), `Bearer realm="sso"`)
	wantChallenge(t, e.do("GET", "http://sso.test/", idToken(t, m, "partner-app", "u-1")), `Bearer realm="sso"`)
	wantChallenge(t, e.do("GET", "http://partner.test/", idToken(t, m, m.ClientID, "u-1")), `Bearer realm="partner"`)
	wantChallenge(t, e.do("GET", "http://sso.test/", http.Header{"Authorization": {"Bearer not-a-jwt"}}), `Bearer realm="sso"`)
	if e.calls.count() != before {
		t.Fatal("the function ran for a request without a valid token")
	}
	wantCall(t, e.do("GET", "http://sso.test/", idToken(t, m, m.ClientID, "u-1")))
	wantCall(t, e.do("GET", "http://partner.test/", idToken(t, m, "partner-app", "u-2")))

	// Verifiers are kept across rebuilds (they hold the issuer's discovery and keys).
	v := e.compiled("sso").oidc
	if err := e.g.Refresh(t.Context()); err != nil {
		t.Fatal(err)
	}
	if e.compiled("sso").oidc != v || e.compiled("partner").oidc == v {
		t.Error("verifiers are not kept per issuer and audience across rebuilds")
	}
}

func TestOIDCWithoutServerDefault(t *testing.T) {
	e := newEnv(t, nil)
	e.create(
		newAPI("sso", func(a *store.API) { a.Hosts, a.Auth = []string{"sso.test"}, store.APIAuthOIDC }),
		newAPI("open", func(a *store.API) { a.Hosts = []string{"open.test"} }),
	)
	if !errors.Is(e.compiled("sso").refusal, ErrAPIUnavailable) || e.compiled("open").refusal != nil {
		t.Error("an oidc API without issuer nor server default is served, or breaks the others")
	}
}

func TestCORS(t *testing.T) {
	e := newEnv(t, nil)
	e.create(
		newAPI("app", func(a *store.API) {
			a.Hosts, a.Auth = []string{"app.test"}, store.APIAuthBasic
			a.BasicUsers = []store.BasicUser{basicUser(t, "ada", "pw")}
			a.Methods = []string{"GET", "PUT"}
			a.CORS = store.APICORS{Origins: []string{"https://web.test"}, Headers: []string{"Authorization", "Content-Type"}}
		}),
		newAPI("plain", func(a *store.API) { a.Hosts = []string{"plain.test"} }),
	)
	preflight := func(origin, method string) http.Header {
		return http.Header{"Origin": {origin}, "Access-Control-Request-Method": {method},
			"Access-Control-Request-Headers": {"authorization"}}
	}
	before := e.calls.count()
	got := e.do("OPTIONS", "http://app.test/x", preflight("https://web.test", "PUT"))
	if got.status != http.StatusNoContent || got.header.Get("Access-Control-Allow-Origin") != "https://web.test" ||
		got.header.Get("Access-Control-Allow-Methods") != "PUT" {
		t.Errorf("preflight = %d %v, want 204 allowing https://web.test and PUT", got.status, got.header)
	}
	got = e.do("OPTIONS", "http://app.test/x", preflight("https://evil.test", "PUT"))
	if got.status != http.StatusNoContent || got.header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("preflight from another origin = %d %v, want 204 without CORS headers", got.status, got.header)
	}
	got = e.do("OPTIONS", "http://plain.test/x", preflight("https://web.test", "GET"))
	if got.status != http.StatusNoContent || got.header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("preflight to an API without CORS = %d %v, want 204 without CORS headers", got.status, got.header)
	}
	if e.calls.count() != before {
		t.Fatal("a preflight ran the function")
	}

	h := basicAuth("ada", "pw")
	h.Set("Origin", "https://web.test")
	got = e.do("PUT", "http://app.test/x", h)
	wantCall(t, got)
	if got.header.Get("Access-Control-Allow-Origin") != "https://web.test" {
		t.Errorf("actual request: no Access-Control-Allow-Origin (%v)", got.header)
	}
	// An OPTIONS that is no preflight runs like any other method where allowed.
	got = e.do("OPTIONS", "http://plain.test/x", nil)
	if got.status != http.StatusOK || e.calls.lastCall().method != "OPTIONS" {
		t.Errorf("OPTIONS = %d, want the function's 200", got.status)
	}
}

// TestCORSDefaultHeaders: Authorization and Content-Type are allowed by every CORS policy,
// besides the API's own headers.
func TestCORSDefaultHeaders(t *testing.T) {
	e := newEnv(t, nil)
	e.create(
		newAPI("bare", func(a *store.API) {
			a.Hosts, a.CORS = []string{"bare.test"}, store.APICORS{Origins: []string{"https://web.test"}}
		}),
		newAPI("custom", func(a *store.API) {
			a.Hosts = []string{"custom.test"}
			a.CORS = store.APICORS{Origins: []string{"https://web.test"}, Headers: []string{"X-Custom"}}
		}),
	)
	for url, headers := range map[string]string{
		"http://bare.test/x":   "authorization,content-type",
		"http://custom.test/x": "authorization,content-type,x-custom",
	} {
		got := e.do("OPTIONS", url, http.Header{"Origin": {"https://web.test"},
			"Access-Control-Request-Method": {"GET"}, "Access-Control-Request-Headers": {headers}})
		if got.status != http.StatusNoContent || got.header.Get("Access-Control-Allow-Origin") != "https://web.test" ||
			got.header.Get("Access-Control-Allow-Headers") != headers {
			t.Errorf("preflight to %s asking %s = %d %v, want it allowed", url, headers, got.status, got.header)
		}
	}
}

// TestBasicAuthFailureLimit: wrong passwords from one address cost at most its failure
// budget of bcrypt checks (the limiters' clock stands still here), then get 429 without a
// check; cached credentials, other addresses and other APIs are not limited by it.
func TestBasicAuthFailureLimit(t *testing.T) {
	e := newEnv(t, nil)
	users := func(a *store.API) {
		a.Auth = store.APIAuthBasic
		a.BasicUsers = []store.BasicUser{basicUser(t, "ada", "secret"), basicUser(t, "bob", "hunter2")}
	}
	e.create(
		newAPI("members", func(a *store.API) { users(a); a.Hosts = []string{"members.test"} }),
		newAPI("staff", func(a *store.API) { users(a); a.Hosts = []string{"staff.test"} }),
	)
	const url = "http://members.test/"
	wantCall(t, e.do("GET", url, basicAuth("ada", "secret"))) // cached from now on

	checks := e.checks.Load()
	counts := e.fire(t, e.plain, url, basicAuth("ada", "wrong"), 50)
	if n := e.checks.Load() - checks; n != failureBurst || counts[401] != failureBurst || counts[429] != 50-failureBurst {
		t.Fatalf("50 wrong passwords: %d bcrypt checks, answers %v; want %d checks and 401s, the rest 429",
			n, counts, failureBurst)
	}
	checks = e.checks.Load()
	wantCall(t, e.do("GET", url, basicAuth("ada", "secret")))
	if got := e.do("GET", url, basicAuth("bob", "hunter2")); got.status != http.StatusTooManyRequests {
		t.Errorf("uncached credentials from the limited address = %d, want 429", got.status)
	}
	if e.checks.Load() != checks {
		t.Error("bcrypt ran for a limited address")
	}
	other := e.client(e.plainAddr, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)})
	wantCall(t, e.doWith(other, "GET", url, basicAuth("bob", "hunter2")))
	wantChallenge(t, e.do("GET", "http://staff.test/", basicAuth("ada", "wrong")), `Basic realm="staff"`)

	e.clock.advance(1100 * time.Millisecond) // 5.5 tokens: failureRate more failures
	counts = e.fire(t, e.plain, url, basicAuth("ada", "wrong"), 10)
	if counts[401] != int(failureRate) || counts[429] != 10-int(failureRate) {
		t.Errorf("a second later: answers %v, want %v 401s, the rest 429", counts, failureRate)
	}
}

// TestBasicAuthBruteForce: a parallel brute force from one client gets 429s once its
// failure budget is spent, however slow bcrypt is: each check moves the limiters' clock by
// checkTime (bcrypt at its real cost on a busy machine), and the checks made never exceed
// the budget of the time they took.
func TestBasicAuthBruteForce(t *testing.T) {
	const checkTime = 300 * time.Millisecond
	e := newEnv(t, func(e *env, o *Options) {
		o.checkPassword = func(hash []byte, password string) bool {
			e.checks.Add(1)
			e.clock.advance(checkTime)
			return auth.CheckPassword(hash, password)
		}
	})
	e.create(newAPI("members", func(a *store.API) {
		a.Hosts, a.Auth = []string{"members.test"}, store.APIAuthBasic
		a.BasicUsers = []store.BasicUser{basicUser(t, "ada", "secret")}
	}))
	start := e.clock.now()
	counts := e.fire(t, e.plain, "http://members.test/", basicAuth("ada", "wrong"), 80) // 8 at a time
	checks := e.checks.Load()
	budget := failureBurst + float64(failureRate)*e.clock.now().Sub(start).Seconds()
	if counts[429] == 0 || counts[401]+counts[429] != 80 || counts[401] != int(checks) {
		t.Errorf("80 wrong passwords, 8 at a time: answers %v after %d checks; want some 429 and a 401 per check", counts, checks)
	}
	if float64(checks) > budget+1e-9 {
		t.Errorf("%d bcrypt checks, more than the failure budget of %.1f for the time they took", checks, budget)
	}
}

// TestBasicAuthOneCheckPerClient: a client's checks run one at a time, so a client sending
// many at once holds one of the bcrypt slots and never all of them: another client's check
// runs meanwhile. A client's waiting attempts are charged to its failure budget before they
// wait.
func TestBasicAuthOneCheckPerClient(t *testing.T) {
	entered, release := make(chan string, 16), make(chan struct{}) // passwords whose check began
	e := newEnv(t, func(e *env, o *Options) {
		o.Passwords = auth.NewPasswordPool(auth.PasswordPoolOptions{Slots: 2})
		o.checkPassword = func(hash []byte, password string) bool {
			e.checks.Add(1)
			entered <- password
			<-release
			return auth.CheckPassword(hash, password)
		}
	})
	e.create(newAPI("members", func(a *store.API) {
		a.Hosts, a.Auth = []string{"members.test"}, store.APIAuthBasic
		a.BasicUsers = []store.BasicUser{basicUser(t, "ada", "secret")}
	}))
	const url = "http://members.test/"
	answers := make(chan int, 16)
	send := func(c *http.Client, password string) {
		req, err := http.NewRequestWithContext(t.Context(), "GET", url, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.SetBasicAuth("ada", password)
		go func() {
			res, err := c.Do(req)
			if err != nil {
				answers <- 0
				return
			}
			res.Body.Close()
			answers <- res.StatusCode
		}()
	}
	send(e.plain, "a0")
	if pw := <-entered; pw != "a0" {
		t.Fatalf("check of %q began, want a0", pw)
	}
	for i := 1; i < 8; i++ {
		send(e.plain, fmt.Sprintf("a%d", i))
	}
	send(e.client(e.plainAddr, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}), "b0")
	if pw := <-entered; pw != "b0" {
		t.Errorf("while a check of client A ran, a check of %q began; want client B's (b0): one client took both slots", pw)
	}
	close(release)
	counts := map[int]int{}
	for range 9 {
		counts[<-answers]++
	}
	if counts[401] != 9 || e.checks.Load() != 9 {
		t.Errorf("answers %v after %d checks, want 9 checks and 401s (within the budget)", counts, e.checks.Load())
	}
}
