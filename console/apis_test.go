package console

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/gantry-dev/gantry/gen/models"
)

// apiValues is the API form as a browser posts it; kv overrides or adds fields.
func apiValues(kv ...string) url.Values {
	v := url.Values{"name": {"shop"}, "paths": {"/shop"}, "methods": {"GET POST"}, "app": {"shop"}, "route": {"/hello"},
		"auth": {"public"}, "enabled": {"1"}}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Set(kv[i], kv[i+1])
	}
	return v
}

func TestAPIPages(t *testing.T) {
	tc := newTestConsole(t, testOptions{})
	tc.console.gateway = "http://127.0.0.1:8081"
	alice, bob := tc.signedIn("alice"), tc.signedIn("bob")
	post := func(b *browser, path string, v url.Values) page {
		t.Helper()
		return b.postForm(path, v, b.csrfFrom("/ui/apis/new"))
	}

	if p := alice.get("/ui/apis"); p.status != http.StatusOK || !strings.Contains(p.body, `id="new-api"`) || !strings.Contains(p.body, "No APIs") {
		t.Fatalf("empty list: %d\n%s", p.status, p.body)
	}
	if p := alice.get("/ui/apis/new"); p.status != http.StatusOK || !strings.Contains(p.body, `id="save-api"`) || !strings.Contains(p.body, `id="api-route"`) {
		t.Fatalf("form: %d\n%s", p.status, p.body)
	}

	created := []struct {
		name string
		form url.Values
		url  string // #api-url
		more string // also on the page
	}{
		{"no host: the gateway's address", apiValues(), `<code id="api-url">http://127.0.0.1:8081/shop</code>`, "GET POST"},
		{"a host: that host on the gateway's port, and how to try it here", apiValues("name", "hosted", "paths", "/v1/users/:id", "hosts", "api.example.com\n*.example.org"),
			`<code id="api-url">http://api.example.com:8081/v1/users/:id</code>`, "curl -H &#39;Host: api.example.com&#39; http://127.0.0.1:8081/v1/users/:id"},
		{"basic auth and limits", apiValues("name", "locked", "paths", "/locked", "auth", "basic", "basic_users", "ann:password123\nben:password456", "rps", "5", "burst", "10", "per", "client", "timeout", "30"),
			`<code id="api-url">http://127.0.0.1:8081/locked</code>`, "5 per second, burst 10, per client"},
	}
	for _, tt := range created {
		t.Run("create: "+tt.name, func(t *testing.T) {
			p := post(alice, "/ui/apis", tt.form)
			if p.status != http.StatusSeeOther || p.header.Get("Location") != "/ui/apis/"+tt.form.Get("name") {
				t.Fatalf("create: %d %q\n%s", p.status, p.header.Get("Location"), p.body)
			}
			p = alice.get(p.header.Get("Location"))
			if p.status != http.StatusOK || !strings.Contains(p.body, tt.url) || !strings.Contains(p.body, tt.more) || !strings.Contains(p.body, `id="delete-api"`) {
				t.Fatalf("API page: %d\n%s", p.status, p.body)
			}
			if strings.Contains(p.body, "password123") {
				t.Fatal("a password on the page")
			}
		})
	}

	bad := []struct {
		name   string
		form   url.Values
		status int
		want   []string
	}{
		{"no path", apiValues("name", "nopath", "paths", ""), http.StatusBadRequest, []string{"api.uris is required", "field: api.uris", `value="nopath"`}},
		{"no function", apiValues("name", "nofn", "app", "", "route", ""), http.StatusBadRequest, []string{"api.function is required", "field: api.function", `value="nofn"`}},
		{"a timeout not a number", apiValues("name", "slow", "timeout", "soon"), http.StatusBadRequest, []string{"field: api.timeout", `value="soon"`}},
		{"a name taken", apiValues(), http.StatusConflict, []string{"already exists", ">/shop</textarea>"}},
		{"a method that is not one", apiValues("name", "fooer", "methods", "GET FOO"), http.StatusBadRequest, []string{"field: api.methods", `value="GET FOO"`}},
		{"a basic user without a password", apiValues("name", "nopw", "auth", "basic", "basic_users", "carl"), http.StatusBadRequest, []string{"field: api.basic_users"}},
	}
	for _, tt := range bad {
		t.Run("refused: "+tt.name, func(t *testing.T) {
			p := post(alice, "/ui/apis", tt.form)
			if p.status != tt.status {
				t.Fatalf("got %d, want %d\n%s", p.status, tt.status, p.body)
			}
			for _, w := range tt.want {
				if !strings.Contains(p.body, w) {
					t.Errorf("no %q in\n%s", w, p.body)
				}
			}
		})
	}

	t.Run("the list shows the owner's APIs only", func(t *testing.T) {
		if p := alice.get("/ui/apis"); !strings.Contains(p.body, `href="/ui/apis/shop"`) || !strings.Contains(p.body, `href="/ui/apis/hosted"`) {
			t.Fatalf("alice: %d\n%s", p.status, p.body)
		}
		if p := bob.get("/ui/apis"); p.status != http.StatusOK || strings.Contains(p.body, "/ui/apis/shop") {
			t.Fatalf("bob: %d\n%s", p.status, p.body)
		}
		if p := alice.get("/ui/apis?per_page=1"); !strings.Contains(p.body, "per_page=1") || !strings.Contains(p.body, "cursor=") {
			t.Fatalf("paging: %s", p.body)
		}
	})

	t.Run("another developer's API is not found", func(t *testing.T) {
		for _, path := range []string{"/ui/apis/shop", "/ui/apis/shop/edit"} {
			if p := bob.get(path); p.status != http.StatusNotFound || !strings.Contains(p.body, "Not found") {
				t.Errorf("GET %s: %d\n%s", path, p.status, p.body)
			}
		}
		csrf := bob.csrfFrom("/ui/apis")
		for _, path := range []string{"/ui/apis/shop", "/ui/apis/shop/delete"} {
			if p := bob.postForm(path, apiValues("paths", "/mine"), csrf); p.status != http.StatusNotFound {
				t.Errorf("POST %s: %d\n%s", path, p.status, p.body)
			}
		}
		if p := alice.get("/ui/apis/shop"); !strings.Contains(p.body, "127.0.0.1:8081/shop<") {
			t.Fatalf("changed by bob:\n%s", p.body)
		}
	})

	t.Run("edit", func(t *testing.T) {
		p := alice.get("/ui/apis/locked/edit")
		if p.status != http.StatusOK || !strings.Contains(p.body, `id="api-basic-users"`) || !strings.Contains(p.body, "ann\nben") || strings.Contains(p.body, "password123") {
			t.Fatalf("edit form: %d\n%s", p.status, p.body)
		}
		// ann keeps her password; the rate limit goes; the path changes
		p = post(alice, "/ui/apis/locked", apiValues("name", "locked", "paths", "/store", "auth", "basic", "basic_users", "ann", "rps", ""))
		if p.status != http.StatusSeeOther {
			t.Fatalf("save: %d\n%s", p.status, p.body)
		}
		p = alice.get("/ui/apis/locked")
		if !strings.Contains(p.body, "127.0.0.1:8081/store<") || !strings.Contains(p.body, "1 users: ann") || !strings.Contains(p.body, "<dt>Rate limit</dt><dd>none") {
			t.Fatalf("after save:\n%s", p.body)
		}
		p = post(alice, "/ui/apis/locked", apiValues("paths", ""))
		if p.status != http.StatusBadRequest || !strings.Contains(p.body, "field: api.uris") {
			t.Fatalf("save without a path: %d\n%s", p.status, p.body)
		}
	})

	t.Run("the gateway off", func(t *testing.T) {
		tc.console.gateway = ""
		defer func() { tc.console.gateway = "http://127.0.0.1:8081" }()
		if p := alice.get("/ui/apis/shop"); !strings.Contains(p.body, `id="api-url"`) || !strings.Contains(p.body, "gateway is off") {
			t.Fatalf("got\n%s", p.body)
		}
	})

	t.Run("delete", func(t *testing.T) {
		p := alice.postForm("/ui/apis/shop/delete", url.Values{}, alice.csrfFrom("/ui/apis/shop"))
		if p.status != http.StatusSeeOther || p.header.Get("Location") != "/ui/apis" {
			t.Fatalf("delete: %d %q\n%s", p.status, p.header.Get("Location"), p.body)
		}
		if p := alice.get("/ui/apis/shop"); p.status != http.StatusNotFound {
			t.Fatalf("after delete: %d", p.status)
		}
		// htmx (hx-confirm): a full page load of the list
		req, _ := http.NewRequest(http.MethodPost, tc.srv.URL+"/ui/apis/hosted/delete", nil)
		req.Header.Set("HX-Request", "true")
		req.Header.Set("X-CSRF-Token", alice.csrfFrom("/ui/apis/hosted"))
		req.Header.Set("Origin", tc.srv.URL)
		if p := alice.do(req); p.header.Get("HX-Redirect") != "/ui/apis" {
			t.Fatalf("htmx delete: %d %v\n%s", p.status, p.header, p.body)
		}
		if p := alice.get("/ui/apis/hosted"); p.status != http.StatusNotFound {
			t.Fatalf("after htmx delete: %d", p.status)
		}
	})
}

func TestAPICallURL(t *testing.T) {
	for _, tt := range []struct {
		gateway string
		api     string
		hosts   []string
		protos  []string
		url     string
		note    string
	}{
		{"http://127.0.0.1:8081", "/a", nil, nil, "http://127.0.0.1:8081/a", ""},
		{"https://localhost:8443", "/a", []string{"x.example.com"}, nil, "https://x.example.com:8443/a", ""},
		{"http://gw.example.com", "/a", []string{"gw.example.com"}, nil, "http://gw.example.com/a", ""},
		{"http://127.0.0.1:8081", "/a", []string{"*.example.com"}, []string{"https"}, "http://127.0.0.1:8081/a", "any host under example.com; the API answers on https only"},
	} {
		c := callOf(tt.gateway, &models.API{Uris: []string{tt.api}, Hosts: tt.hosts, Protocols: tt.protos})
		if c.URL != tt.url || c.Note != tt.note && !strings.Contains(c.Note, tt.note) {
			t.Errorf("%s %v: got %+v, want %s %q", tt.gateway, tt.hosts, c, tt.url, tt.note)
		}
	}
	if c := callOf("", &models.API{}); !c.GatewayOff {
		t.Error("no gateway")
	}
}
