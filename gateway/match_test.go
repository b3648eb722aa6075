package gateway

import (
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/store"
)

func TestURIPattern(t *testing.T) {
	tests := []struct {
		uri, path string
		want      int // matched prefix length, -1: no match
		params    store.Params
	}{
		{"/", "/", 0, nil},
		{"/", "/a/b", 0, nil},
		{"/shop", "/shop", 5, nil},
		{"/shop", "/shop/", 5, nil},
		{"/shop", "/shop/cart", 5, nil},
		{"/shop", "/shopping", -1, nil},
		{"/shop", "/sho", -1, nil},
		{"/shop", "/", -1, nil},
		{"/a/b", "/a/b/c", 4, nil},
		{"/a/b", "/a/c", -1, nil},
		{"/users/:id", "/users/42", 9, store.Params{"id": "42"}},
		{"/users/:id", "/users/42/x", 9, store.Params{"id": "42"}},
		{"/users/:id", "/users/", -1, nil},
		{"/users/:id", "/users", -1, nil},
		{"/:a/x/:b", "/1/x/2/3", 6, store.Params{"a": "1", "b": "2"}},
		{"/:a/x/:b", "/1/y/2", -1, nil},
		// Paths are escaped: segments are cut at real '/' and compared decoded.
		{"/users/:id", "/users/a%2Fb/x", 12, store.Params{"id": "a/b"}},
		{"/users/:id", "/users/%E2%82%AC", 16, store.Params{"id": "€"}},
		{"/shop", "/%73hop/x", 7, nil},
		{"/shop", "/sh%2Fop", -1, nil},
	}
	for _, tt := range tests {
		t.Run(tt.uri+" "+tt.path, func(t *testing.T) {
			p := compileURI(tt.uri)
			got := p.match(tt.path)
			if got != tt.want {
				t.Fatalf("match = %d, want %d", got, tt.want)
			}
			if got >= 0 && !maps.Equal(p.bind(tt.path), tt.params) {
				t.Errorf("params = %v, want %v", p.bind(tt.path), tt.params)
			}
		})
	}
}

func TestBelow(t *testing.T) {
	for _, tt := range []struct {
		path string
		n    int
		want string
	}{{"/shop", 5, "/"}, {"/shop/", 5, "/"}, {"/shop/a", 5, "/a"}, {"/a", 0, "/a"}} {
		if got := below(tt.path, tt.n); got != tt.want {
			t.Errorf("below(%q, %d) = %q, want %q", tt.path, tt.n, got, tt.want)
		}
	}
}

func TestPatternPrecedence(t *testing.T) {
	uris := []string{"/", "/:a/b", "/a/:b", "/a", "/a/b/c", "/a/b"}
	ps := make([]uriPattern, len(uris))
	for i, u := range uris {
		ps[i] = compileURI(u)
	}
	slices.SortFunc(ps, func(a, b uriPattern) int { return comparePatterns(&a, &b) })
	var got []string
	for _, p := range ps {
		got = append(got, p.raw)
	}
	want := []string{"/a/b/c", "/a/b", "/a/:b", "/:a/b", "/a", "/"}
	if !slices.Equal(got, want) {
		t.Errorf("order = %v, want %v", got, want)
	}
}

func TestHostname(t *testing.T) {
	for in, want := range map[string]string{
		"Shop.Example.COM":      "shop.example.com",
		"shop.example.com:8080": "shop.example.com",
		"shop.example.com.":     "shop.example.com",
		"[::1]:80":              "::1",
		"[::1]":                 "::1",
		"127.0.0.1:9":           "127.0.0.1",
	} {
		if got := hostname(in); got != want {
			t.Errorf("hostname(%q) = %q, want %q", in, got, want)
		}
	}
	got := slices.Collect(wildcardDomains("a.b.example.com"))
	if want := []string{"b.example.com", "example.com", "com"}; !slices.Equal(got, want) {
		t.Errorf("wildcardDomains = %v, want %v", got, want)
	}
}

// TestMatch runs requests through real listeners and checks which API (its route) got
// each, with what params and path.
func TestMatch(t *testing.T) {
	e := newEnv(t, nil)
	e.create(
		newAPI("exact", func(a *store.API) { a.Hosts, a.URIs = []string{"api.shop.test"}, []string{"/v1"} }),
		newAPI("wild", func(a *store.API) { a.Hosts, a.URIs = []string{"*.shop.test"}, []string{"/v1", "/"} }),
		newAPI("deepwild", func(a *store.API) { a.Hosts, a.URIs = []string{"*.deep.shop.test"}, []string{"/v1"} }),
		newAPI("anyhost", func(a *store.API) { a.URIs = []string{"/any"} }),
		newAPI("shop", func(a *store.API) {
			a.Hosts, a.URIs, a.Methods = []string{"store.test"}, []string{"/shop"}, []string{"GET", "POST"}
			a.Timeout, a.MaxBodyBytes = 7, 1234
		}),
		newAPI("shopdelete", func(a *store.API) {
			a.Hosts, a.URIs, a.Methods = []string{"store.test"}, []string{"/shop"}, []string{"DELETE"}
		}),
		newAPI("shopping", func(a *store.API) { a.Hosts, a.URIs = []string{"store.test"}, []string{"/shopping"} }),
		newAPI("users", func(a *store.API) { a.Hosts, a.URIs = []string{"store.test"}, []string{"/users/:id"} }),
		newAPI("usersme", func(a *store.API) { a.Hosts, a.URIs = []string{"store.test"}, []string{"/users/me"} }),
		newAPI("orders", func(a *store.API) {
			a.Hosts, a.URIs = []string{"store.test"}, []string{"/users/:id/orders/:order"}
		}),
		newAPI("off", func(a *store.API) { a.Hosts, a.URIs, a.Enabled = []string{"store.test"}, []string{"/off"}, false }),
	)
	tests := []struct {
		method, url string
		route       string // "": 404
		path, query string
		params      store.Params
	}{
		{"GET", "http://api.shop.test/v1/x", "/exact", "/x", "", nil},
		{"GET", "http://API.Shop.Test/v1", "/exact", "/", "", nil},
		{"GET", "http://api.shop.test/other", "/wild", "/other", "", nil}, // the exact host has no such URI
		{"GET", "http://a.shop.test/v1", "/wild", "/", "", nil},
		{"GET", "http://a.b.shop.test/v1/y", "/wild", "/y", "", nil},
		{"GET", "http://x.deep.shop.test/v1", "/deepwild", "/", "", nil},
		{"GET", "http://x.deep.shop.test/v2", "/wild", "/v2", "", nil},
		{"GET", "http://shop.test/v1", "", "", "", nil}, // a wildcard does not match its domain
		{"GET", "http://anything.test/any/thing?q=1&r=2", "/anyhost", "/thing", "q=1&r=2", nil},
		{"GET", "http://anything.test/anything", "", "", "", nil},
		{"GET", "http://store.test/shop", "/shop", "/", "", nil},
		{"POST", "http://store.test/shop/cart/1?x=y", "/shop", "/cart/1", "x=y", nil},
		{"HEAD", "http://store.test/shop", "/shop", "/", "", nil},
		{"DELETE", "http://store.test/shop", "/shopdelete", "/", "", nil},
		{"PUT", "http://store.test/shop", "", "", "", nil},
		{"GET", "http://store.test/shopping/list", "/shopping", "/list", "", nil},
		{"GET", "http://store.test/shopx", "", "", "", nil},
		{"GET", "http://store.test/users/42", "/users", "/", "", store.Params{"id": "42"}},
		{"GET", "http://store.test/users/me", "/usersme", "/", "", nil},
		{"GET", "http://store.test/users/42/orders/7/items", "/orders", "/items", "", store.Params{"id": "42", "order": "7"}},
		{"GET", "http://store.test/users/42/orders", "/users", "/orders", "", store.Params{"id": "42"}},
		{"GET", "http://store.test/users/", "", "", "", nil},
		{"GET", "http://store.test/off", "", "", "", nil},
		// No methods: the spec's methods, no other.
		{"PATCH", "http://anything.test/any", "/anyhost", "/", "", nil},
		{"PROPFIND", "http://anything.test/any", "", "", "", nil},
		{"BREW", "http://anything.test/any", "", "", "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.url, func(t *testing.T) {
			before := e.calls.count()
			got := e.do(tt.method, tt.url, nil)
			if tt.route == "" {
				if got.status != http.StatusNotFound || e.calls.count() != before {
					t.Fatalf("status = %d (calls %d → %d), want 404 without a call", got.status, before, e.calls.count())
				}
				return
			}
			if got.status != http.StatusOK || e.calls.count() != before+1 {
				t.Fatalf("status = %d %s, want 200 and a call", got.status, got.body)
			}
			c := e.calls.lastCall()
			if c.req.App != "shop" || c.req.Route != tt.route || c.req.Path != tt.path || c.req.Query != tt.query ||
				!maps.Equal(c.req.Params, tt.params) || c.method != tt.method {
				t.Errorf("call = %+v (method %s), want route %s path %s query %q params %v", c.req, c.method, tt.route, tt.path, tt.query, tt.params)
			}
			if tt.method == "HEAD" && got.body != "" {
				t.Errorf("HEAD answered a body: %q", got.body)
			}
		})
	}
	t.Run("limits", func(t *testing.T) {
		e.do("GET", "http://store.test/shop", nil)
		if c := e.calls.lastCall(); c.maxBody != 1234 || c.timeout != 7*time.Second {
			t.Errorf("maxBody, timeout = %d, %s; want 1234, 7s", c.maxBody, c.timeout)
		}
	})
}

// TestChangesApply: API changes reach the gateway within 1 s, without Refresh.
func TestChangesApply(t *testing.T) {
	e := newEnv(t, nil)
	ctx := t.Context()
	status := func(url string, want int, header http.Header) func() error {
		return func() error {
			if got := e.do("GET", url, header).status; got != want {
				return fmt.Errorf("GET %s = %d, want %d", url, got, want)
			}
			return nil
		}
	}
	if _, err := e.db.CreateAPI(ctx, newAPI("live", func(a *store.API) { a.Hosts = []string{"one.test"} })); err != nil {
		t.Fatal(err)
	}
	eventually(t, time.Second, status("http://one.test/", 200, nil))

	_, err := e.db.UpdateAPI(ctx, "live", func(a *store.API) error { a.Hosts = []string{"two.test"}; return nil })
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, time.Second, status("http://two.test/", 200, nil))
	if err := status("http://one.test/", 404, nil)(); err != nil {
		t.Error(err)
	}

	alice := basicUser(t, "alice", "pw")
	_, err = e.db.UpdateAPI(ctx, "live", func(a *store.API) error {
		a.Auth, a.BasicUsers = store.APIAuthBasic, []store.BasicUser{alice}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, time.Second, status("http://two.test/", 401, nil))
	if err := status("http://two.test/", 200, basicAuth("alice", "pw"))(); err != nil {
		t.Error(err)
	}

	_, err = e.db.UpdateAPI(ctx, "live", func(a *store.API) error { a.Enabled = false; return nil })
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, time.Second, status("http://two.test/", 404, basicAuth("alice", "pw")))

	_, err = e.db.UpdateAPI(ctx, "live", func(a *store.API) error { a.Enabled = true; return nil })
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, time.Second, status("http://two.test/", 200, basicAuth("alice", "pw")))
	if err := e.db.DeleteAPI(ctx, "live", nil); err != nil {
		t.Fatal(err)
	}
	eventually(t, time.Second, status("http://two.test/", 404, basicAuth("alice", "pw")))
}

// TestHostClaim: a host that an API claims is not answered by another owner's host-less
// API; the same owner's host-less APIs still answer it.
func TestHostClaim(t *testing.T) {
	e := newEnv(t, nil)
	e.create(
		newAPI("shop", func(a *store.API) { a.Hosts, a.URIs = []string{"shop.test"}, []string{"/api"} }),
		newAPI("adaany", func(a *store.API) { a.URIs = []string{"/ada"} }),
		newAPI("adaroot", nil), // uri "/"
		newAPI("bobhost", func(a *store.API) {
			a.Owner, a.App, a.Hosts, a.URIs = "bob", "other", []string{"bob.test"}, []string{"/api"}
		}),
	)
	for _, tt := range []struct{ url, app, route string }{
		{"http://shop.test/api/x", "shop", "/shop"},
		{"http://shop.test/ada/x", "shop", "/adaany"},
		{"http://shop.test/login", "shop", "/adaroot"},
		{"http://bob.test/api/x", "other", "/bobhost"},
		{"http://bob.test/login", "", ""}, // ada's "/" must not serve bob's host
		{"http://bob.test/ada", "", ""},
		{"http://other.test/ada", "shop", "/adaany"},
		{"http://other.test/login", "shop", "/adaroot"},
	} {
		t.Run(tt.url, func(t *testing.T) {
			before := e.calls.count()
			got := e.do("GET", tt.url, nil)
			if tt.app == "" {
				if got.status != http.StatusNotFound || e.calls.count() != before {
					t.Fatalf("= %d %s (calls %d → %d), want 404 without a call", got.status, got.body, before, e.calls.count())
				}
				return
			}
			if c := e.calls.lastCall(); got.status != http.StatusOK || c.req.App != tt.app || c.req.Route != tt.route {
				t.Errorf("= %d, call %s%s; want 200 from %s%s", got.status, c.req.App, c.req.Route, tt.app, tt.route)
			}
		})
	}
}

// TestHostClaimTiers: the most specific bucket of a host names its owner for every less
// specific tier, wildcards included; a host that several owners claim falls back to none.
// (The store refuses such claims; the table is built here directly.)
func TestHostClaimTiers(t *testing.T) {
	tb := newTable()
	add := func(name, owner, uri string, hosts ...string) {
		tb.add(&api{name: name, owner: owner}, &store.API{Hosts: hosts, URIs: []string{uri}})
	}
	add("ada-exact", "ada", "/v1", "api.shop.test")
	add("bob-wild", "bob", "/", "*.shop.test")
	add("ada-deep", "ada", "/v1", "*.deep.shop.test")
	add("bob-any", "bob", "/")
	add("ada-mixed", "ada", "/a", "mixed.test")
	add("bob-mixed", "bob", "/b", "mixed.test")
	tb.sort()
	for _, tt := range []struct{ host, path, want string }{
		{"api.shop.test", "/v1/x", "ada-exact"},
		{"api.shop.test", "/other", ""}, // ada's host: bob's wildcard does not answer
		{"x.shop.test", "/other", "bob-wild"},
		{"x.deep.shop.test", "/v1", "ada-deep"},
		{"x.deep.shop.test", "/v2", ""}, // ada's wildcard claims it
		{"nobody.test", "/x", "bob-any"},
		{"mixed.test", "/a", "ada-mixed"},
		{"mixed.test", "/b", "bob-mixed"},
		{"mixed.test", "/c", ""},
	} {
		got := ""
		if e, _ := tb.match(tt.host, "GET", tt.path); e != nil {
			got = e.api.name
		}
		if got != tt.want {
			t.Errorf("%s%s → %q, want %q", tt.host, tt.path, got, tt.want)
		}
	}
}

// TestFailClosed: an API that cannot be served, or is disabled, keeps its paths: they do not
// fall through to a shorter URI.
func TestFailClosed(t *testing.T) {
	e := newEnv(t, nil) // no server OIDC default
	e.create(
		newAPI("public", nil), // "/"
		newAPI("admin", func(a *store.API) { a.URIs, a.Auth = []string{"/admin"}, store.APIAuthOIDC }),
		newAPI("off", func(a *store.API) { a.URIs, a.Enabled = []string{"/off"}, false }),
		newAPI("gone", func(a *store.API) { a.Hosts, a.Enabled = []string{"gone.test"}, false }),
	)
	before := e.calls.count()
	for _, tt := range []struct {
		url    string
		status int
		body   string
	}{
		{"http://x.test/admin/x", http.StatusServiceUnavailable, ErrAPIUnavailable.Error()},
		{"http://x.test/admin", http.StatusServiceUnavailable, ErrAPIUnavailable.Error()},
		{"http://x.test/off/x", http.StatusNotFound, ErrNoAPI.Error()},
		{"http://gone.test/x", http.StatusNotFound, ErrNoAPI.Error()},
	} {
		if got := e.do("GET", tt.url, nil); got.status != tt.status || got.body != tt.body {
			t.Errorf("GET %s = %d %q, want %d %q", tt.url, got.status, got.body, tt.status, tt.body)
		}
	}
	if e.calls.count() != before {
		t.Fatal("the public API answered a path of a refusing API")
	}
	wantCall(t, e.do("GET", "http://x.test/administrator", nil))
	if a := e.compiled("admin"); !errors.Is(a.refusal, ErrAPIUnavailable) || a.limit != nil || a.oidc != nil {
		t.Errorf("the broken API is compiled as %+v", a)
	}
}

func TestCanonical(t *testing.T) {
	for path, want := range map[string]bool{
		"/": true, "/a": true, "/a/": true, "/a/b": true, "/a/b/": true, "/.well-known/x": true, "/a..b": true,
		"": false, "*": false, "a": false, "//": false, "//a": false, "/a//b": false, "/a//": false,
		"/.": false, "/./a": false, "/a/.": false, "/a/./": false, "/..": false, "/x/../a": false, "/a/..": false,
	} {
		if got := canonical(path); got != want {
			t.Errorf("canonical(%q) = %v, want %v", path, got, want)
		}
	}
}

// TestBadPaths: a path that is not canonical, as sent or once decoded, is refused before
// matching: it never reaches the API of another spelling of it.
func TestBadPaths(t *testing.T) {
	e := newEnv(t, nil)
	e.create(
		newAPI("public", nil), // "/"
		newAPI("admin", func(a *store.API) {
			a.URIs, a.Auth = []string{"/admin"}, store.APIAuthBasic
			a.BasicUsers = []store.BasicUser{basicUser(t, "ada", "pw")}
		}),
	)
	before := e.calls.count()
	for _, path := range []string{"//admin", "/./admin", "/x/../admin", "/x/%2E%2E/admin", "/x%2F..%2Fadmin", "/admin//x", "/a/.", "/%2Fadmin"} {
		if got := e.do("GET", "http://x.test"+path, nil); got.status != http.StatusBadRequest || got.body != ErrBadPath.Error() {
			t.Errorf("GET %s = %d %q, want 400 %q", path, got.status, got.body, ErrBadPath)
		}
	}
	if e.calls.count() != before {
		t.Fatal("a path that is not canonical reached a function")
	}
	wantCall(t, e.do("GET", "http://x.test/shop/", nil)) // a trailing slash is canonical
}

// TestEscapedPaths: the function sees the rest of the path as the client escaped it, and
// params decoded from their own segment.
func TestEscapedPaths(t *testing.T) {
	e := newEnv(t, nil)
	e.create(
		newAPI("public", nil), // "/"
		newAPI("users", func(a *store.API) { a.URIs = []string{"/users/:id"} }),
	)
	for _, tt := range []struct {
		url, route, path, rawPath, query string
		params                           store.Params
	}{
		{"http://x.test/a%3Fb?q=1", "/public", "/a?b", "/a%3Fb", "q=1", nil},
		{"http://x.test/users/a%2Fb/c%0Ad%2Fe", "/users", "/c\nd/e", "/c%0Ad%2Fe", "", store.Params{"id": "a/b"}},
		{"http://x.test/%75sers/%E2%82%AC", "/users", "/", "/", "", store.Params{"id": "€"}},
	} {
		t.Run(tt.url, func(t *testing.T) {
			wantCall(t, e.do("GET", tt.url, nil))
			c := e.calls.lastCall().req
			if c.Route != tt.route || c.Path != tt.path || c.RawPath != tt.rawPath || c.Query != tt.query || !maps.Equal(c.Params, tt.params) {
				t.Errorf("call = route %s path %q raw %q query %q params %v; want %s %q %q %q %v",
					c.Route, c.Path, c.RawPath, c.Query, c.Params, tt.route, tt.path, tt.rawPath, tt.query, tt.params)
			}
		})
	}
}

// TestAnyHostHasOneOwner: APIs without hosts answer only for one owner, the one of the
// oldest among them, on every host nobody claims; another owner's host-less API (stored
// before the store refused them) answers nothing, and never falls under the holder's URIs.
func TestAnyHostHasOneOwner(t *testing.T) {
	e := newEnv(t, nil)
	older := time.Now().Add(-time.Hour)
	e.g.buildMu.Lock()
	tb := e.g.build(withDefaults([]store.API{ // as read from the store: in name order
		newAPI("adaroot", func(a *store.API) { a.CreatedAt = older }), // uri "/"
		newAPI("bobcatch", func(a *store.API) {
			a.Owner, a.App, a.URIs, a.CreatedAt = "bob", "other", []string{"/bcatch"}, time.Now()
		}),
		newAPI("bobhost", func(a *store.API) {
			a.Owner, a.App, a.Hosts, a.URIs = "bob", "other", []string{"bob.test"}, []string{"/api"}
		}),
	}...), nil)
	e.g.buildMu.Unlock()
	for _, tt := range []struct{ name, host, path, want string }{
		{"an unclaimed host is the holder's on the other owner's path", "nobody.test", "/bcatch", "adaroot"},
		{"an unclaimed host is the holder's elsewhere", "nobody.test", "/x", "adaroot"},
		{"a claimed host is its owner's only", "bob.test", "/api", "bobhost"},
		{"the claimed host's other paths are nobody's", "bob.test", "/bcatch", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := ""
			if en, _ := tb.match(tt.host, "GET", tt.path); en != nil {
				got = en.api.name
			}
			if got != tt.want {
				t.Errorf("%s%s → %q, want %q", tt.host, tt.path, got, tt.want)
			}
		})
	}
}

// withDefaults applies the store's defaults to APIs given to build directly.
func withDefaults(apis ...store.API) []store.API {
	for i := range apis {
		apis[i].ApplyDefaults()
	}
	return apis
}
