package console

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/gantry-dev/gantry/store"
)

// mustContain fails the test unless the page's body has every one of want.
func mustContain(t *testing.T, what string, p page, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(p.body, w) {
			t.Errorf("%s: %d, no %q in the page:\n%s", what, p.status, w, p.body)
		}
	}
}

func TestAppsCreateAndList(t *testing.T) {
	tc := newTestConsole(t, testOptions{})
	alice := tc.signedIn("alice")
	csrf := alice.csrfFrom("/ui/apps/new")

	cases := []struct {
		name       string
		form       url.Values
		wantStatus int
		want       []string
	}{
		{"created", url.Values{"name": {"shop"}, "config": {"DB=postgres://x\nMODE=test"}}, http.StatusSeeOther, nil},
		{"bad name", url.Values{"name": {"no spaces!"}}, http.StatusBadRequest,
			[]string{`class="field-error"`, "app.name", `value="no spaces!"`}},
		{"bad config", url.Values{"name": {"shop2"}, "config": {"NOEQUALS"}}, http.StatusBadRequest,
			[]string{"config line 1 is not KEY=VALUE", `value="shop2"`, "NOEQUALS"}},
		{"taken", url.Values{"name": {"shop"}}, http.StatusConflict, []string{`class="error"`}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := alice.postForm("/ui/apps", c.form, csrf)
			if p.status != c.wantStatus {
				t.Fatalf("POST /ui/apps: %d, want %d\n%s", p.status, c.wantStatus, p.body)
			}
			if c.wantStatus == http.StatusSeeOther {
				if loc := p.header.Get("Location"); loc != "/ui/apps/"+c.form.Get("name") {
					t.Fatalf("Location %q", loc)
				}
				return
			}
			mustContain(t, c.name, p, c.want...)
			if c.name == "bad name" && !strings.Contains(p.body, `<span class="field-error" role="alert">`) {
				t.Errorf("no field error next to the name input")
			}
		})
	}

	list := alice.get("/ui/apps")
	mustContain(t, "apps list", list, `href="/ui/apps/shop"`, `id="new-app"`)
	if strings.Contains(list.body, "no spaces!") {
		t.Errorf("the refused app is listed")
	}
	mine := alice.get("/ui/apps?owner=alice")
	mustContain(t, "owner filter", mine, `href="/ui/apps/shop"`)
	others := alice.get("/ui/apps?owner=bob")
	if strings.Contains(others.body, `href="/ui/apps/shop"`) {
		t.Errorf("owner=bob lists alice's app:\n%s", others.body)
	}

	app := alice.get("/ui/apps/shop")
	if app.status != http.StatusOK {
		t.Fatalf("app page: %d\n%s", app.status, app.body)
	}
	mustContain(t, "app page", app, "DB=postgres://x", "MODE=test", `id="new-function"`, `id="save-app"`, `id="delete-app"`, "No functions in shop yet")
}

func TestAppsEditConfig(t *testing.T) {
	tc := newTestConsole(t, testOptions{})
	alice := tc.signedIn("alice")
	csrf := alice.csrfFrom("/ui/apps/new")
	if p := alice.postForm("/ui/apps", url.Values{"name": {"shop"}, "config": {"A=1\nB=2"}}, csrf); p.status != http.StatusSeeOther {
		t.Fatalf("create: %d\n%s", p.status, p.body)
	}
	p := alice.postForm("/ui/apps/shop/save", url.Values{"config": {"A=10\nC=3"}}, csrf)
	if p.status != http.StatusSeeOther {
		t.Fatalf("save: %d\n%s", p.status, p.body)
	}
	got, err := tc.store.GetApp(context.Background(), "shop")
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Config) != 2 || got.Config["A"] != "10" || got.Config["C"] != "3" {
		t.Errorf("config after save: %v, want A=10 C=3 (B removed)", got.Config)
	}
	page := alice.get(p.header.Get("Location"))
	mustContain(t, "app page after save", page, "A=10", "C=3", "Saved.")
	if strings.Contains(page.body, "B=2") {
		t.Errorf("B still shown")
	}

	bad := alice.postForm("/ui/apps/shop/save", url.Values{"config": {"oops"}}, csrf)
	if bad.status != http.StatusBadRequest {
		t.Fatalf("bad config: %d", bad.status)
	}
	mustContain(t, "bad config", bad, "config line 1 is not KEY=VALUE", ">oops</textarea>")

	bob := tc.signedIn("bob")
	if p := bob.postForm("/ui/apps/shop/save", url.Values{"config": {"X=1"}}, bob.csrfFrom("/ui/apps")); p.status != http.StatusNotFound {
		t.Errorf("bob saves alice's app: %d", p.status)
	}
	if got, _ := tc.store.GetApp(context.Background(), "shop"); got.Config["X"] != "" {
		t.Errorf("bob changed alice's config")
	}
}

func TestAppsOwnership(t *testing.T) {
	tc := newTestConsole(t, testOptions{})
	ctx := context.Background()
	if _, err := tc.store.CreateApp(ctx, store.App{Name: "alices", Owner: "alice"}); err != nil {
		t.Fatal(err)
	}
	if _, err := tc.store.CreateRoute(ctx, store.Route{App: "alices", Path: "/hello/world", Image: "busybox", Timeout: 30}, nil); err != nil {
		t.Fatal(err)
	}
	bob := tc.signedIn("bob")
	for _, path := range []string{"/ui/apps/alices", "/ui/apps/alices/functions/hello/world", "/ui/apps/alices/edit-function/hello/world", "/ui/apps/alices/new-function"} {
		p := bob.get(path)
		if p.status != http.StatusNotFound || !strings.Contains(p.body, "<title>Not found") {
			t.Errorf("bob GET %s: %d, want the 404 page\n%s", path, p.status, p.body)
		}
	}
	csrf := bob.csrfFrom("/ui/apps")
	for _, path := range []string{"/ui/apps/alices/delete", "/ui/apps/alices/delete-function/hello/world", "/ui/apps/alices/call/hello/world"} {
		if p := bob.postForm(path, url.Values{}, csrf); p.status != http.StatusNotFound {
			t.Errorf("bob POST %s: %d, want 404", path, p.status)
		}
	}
	if _, err := tc.store.GetRoute(ctx, "alices", "/hello/world"); err != nil {
		t.Errorf("bob deleted alice's function: %v", err)
	}
	if fns := bob.get("/ui/functions"); strings.Contains(fns.body, "alices") {
		t.Errorf("bob's functions list shows alice's")
	}
	alice := tc.signedIn("alice")
	p := alice.get("/ui/apps/alices")
	mustContain(t, "alice's app page", p, `href="/ui/apps/alices/functions/hello/world"`)
}

func TestAppsDelete(t *testing.T) {
	tc := newTestConsole(t, testOptions{})
	ctx := context.Background()
	if _, err := tc.store.CreateApp(ctx, store.App{Name: "shop", Owner: "alice"}); err != nil {
		t.Fatal(err)
	}
	if _, err := tc.store.CreateRoute(ctx, store.Route{App: "shop", Path: "/a", Image: "busybox", Timeout: 30}, nil); err != nil {
		t.Fatal(err)
	}
	alice := tc.signedIn("alice")
	csrf := alice.csrfFrom("/ui/apps/shop")

	// With a function left: 409, the API's message on the app page.
	p := alice.postForm("/ui/apps/shop/delete", url.Values{}, csrf)
	if p.status != http.StatusConflict {
		t.Fatalf("delete with routes: %d\n%s", p.status, p.body)
	}
	mustContain(t, "409 page", p, `id="delete-result"`, `class="error"`, `id="delete-app"`)
	// The same through htmx: the message alone.
	req, _ := http.NewRequest(http.MethodPost, tc.srv.URL+"/ui/apps/shop/delete", nil)
	req.Header.Set("HX-Request", "true")
	req.Header.Set("X-CSRF-Token", csrf)
	req.Header.Set("Origin", tc.srv.URL)
	hx := alice.do(req)
	if hx.status != http.StatusConflict || !strings.Contains(hx.body, `class="error"`) || strings.Contains(hx.body, "<html") {
		t.Fatalf("htmx delete with routes: %d\n%s", hx.status, hx.body)
	}

	// Delete the function, then the app.
	if p := alice.postForm("/ui/apps/shop/delete-function/a", url.Values{}, csrf); p.status != http.StatusSeeOther || p.header.Get("Location") != "/ui/apps/shop" {
		t.Fatalf("delete function: %d %s\n%s", p.status, p.header.Get("Location"), p.body)
	}
	if _, err := tc.store.GetRoute(ctx, "shop", "/a"); err == nil {
		t.Fatalf("the function is still there")
	}
	if p := alice.postForm("/ui/apps/shop/delete", url.Values{}, csrf); p.status != http.StatusSeeOther || p.header.Get("Location") != "/ui/apps" {
		t.Fatalf("delete app: %d %s\n%s", p.status, p.header.Get("Location"), p.body)
	}
	if p := alice.get("/ui/apps/shop"); p.status != http.StatusNotFound {
		t.Errorf("deleted app page: %d", p.status)
	}
	// A GET never deletes.
	if p := alice.get("/ui/apps/shop/delete"); p.status == http.StatusSeeOther {
		t.Errorf("GET deletes")
	}
}
