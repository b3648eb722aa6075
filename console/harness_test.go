package console

import (
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/gantry-dev/gantry/auth"
	"github.com/gantry-dev/gantry/handlers"
	"github.com/gantry-dev/gantry/store"
	"github.com/gantry-dev/gantry/store/bolt"
)

// testConsole is a console over a real API and a real bbolt store, served on a loopback
// port, with tokens of an admin and of two developers.
type testConsole struct {
	t       testing.TB
	srv     *httptest.Server
	store   *bolt.DB
	console *Console
	tokens  map[string]string // user → token secret ("admin", "alice", "bob")
}

type testOptions struct {
	authOff bool
	deps    func(*handlers.Deps) // more of the API's dependencies (Functions, ...)
}

func newTestConsole(t testing.TB, opts testOptions) *testConsole {
	t.Helper()
	ctx := context.Background()
	st, err := bolt.Open(ctx, t.TempDir(), bolt.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	tc := &testConsole{t: t, store: st, tokens: map[string]string{}}
	deps := handlers.Deps{Store: st}
	var authn *auth.Authenticator
	if !opts.authOff {
		authn = auth.NewAuthenticator(st, nil)
		deps.Auth = authn
		for user, role := range map[string]string{"admin": auth.RoleAdmin, "alice": auth.RoleDeveloper, "bob": auth.RoleDeveloper} {
			tc.tokens[user] = tc.makeToken(user, role, "")
		}
	}
	if opts.deps != nil {
		opts.deps(&deps)
	}
	api, err := handlers.New(deps).Handler()
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{API: api, Sessions: st}
	if authn != nil {
		cfg.Auth = authn
	}
	c, err := New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	tc.console = c
	tc.srv = httptest.NewServer(c.Handler())
	t.Cleanup(tc.srv.Close)
	t.Cleanup(c.EndStreams)
	return tc
}

// makeToken stores an API token of user and returns its secret.
func (tc *testConsole) makeToken(user, role, parent string) string {
	tc.t.Helper()
	id := tc.store.NewID()
	secret, hash := auth.NewSecret(id)
	if _, err := tc.store.CreateToken(context.Background(), store.Token{ID: id, Name: "test " + user, User: user, Role: role, Hash: hash, ParentID: parent}); err != nil {
		tc.t.Fatal(err)
	}
	return secret
}

// browser is an HTTP client with its own cookies that does not follow redirects.
type browser struct {
	tc  *testConsole
	c   *http.Client
	jar http.CookieJar
}

func (tc *testConsole) browser() *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{tc: tc, jar: jar, c: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}}
}

// signedIn returns a browser signed in as user (a key of tc.tokens).
func (tc *testConsole) signedIn(user string) *browser {
	tc.t.Helper()
	b := tc.browser()
	res := b.postForm("/ui/login", url.Values{"token": {tc.tokens[user]}, "next": {"/ui/"}}, b.csrfFrom("/ui/login"))
	if res.status != http.StatusSeeOther || res.header.Get("Location") != "/ui/" {
		tc.t.Fatalf("sign in as %s: %d %s\n%s", user, res.status, res.header.Get("Location"), res.body)
	}
	return b
}

type page struct {
	status int
	header http.Header
	body   string
}

func (b *browser) do(req *http.Request) page {
	b.tc.t.Helper()
	res, err := b.c.Do(req)
	if err != nil {
		b.tc.t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return page{status: res.StatusCode, header: res.Header, body: string(body)}
}

func (b *browser) get(path string) page {
	req, _ := http.NewRequest(http.MethodGet, b.tc.srv.URL+path, nil)
	return b.do(req)
}

// postForm posts a form with the anti-forgery token csrf ("" for none), as a browser on the
// console's own origin does.
func (b *browser) postForm(path string, form url.Values, csrf string) page {
	if csrf != "" {
		form.Set("csrf", csrf)
	}
	req, _ := http.NewRequest(http.MethodPost, b.tc.srv.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", b.tc.srv.URL)
	return b.do(req)
}

var csrfMeta = regexp.MustCompile(`<meta name="csrf-token" content="([^"]*)">`)

// csrfFrom loads a page and returns the anti-forgery token it carries.
func (b *browser) csrfFrom(path string) string {
	b.tc.t.Helper()
	p := b.get(path)
	m := csrfMeta.FindStringSubmatch(p.body)
	if m == nil {
		b.tc.t.Fatalf("GET %s: %d, no csrf-token meta\n%s", path, p.status, p.body)
	}
	return m[1]
}
