package console

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/gantry-dev/gantry/store"
)

func fnValues(kv ...string) url.Values {
	v := url.Values{"format": {"default"}, "type": {"sync"}, "auth": {"none"}}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Set(kv[i], kv[i+1])
	}
	return v
}

func TestFunctionCreateAndEdit(t *testing.T) {
	tc := newTestConsole(t, testOptions{})
	ctx := context.Background()
	if _, err := tc.store.CreateApp(ctx, store.App{Name: "shop", Owner: "alice"}); err != nil {
		t.Fatal(err)
	}
	alice := tc.signedIn("alice")
	form := alice.get("/ui/apps/shop/new-function")
	mustContain(t, "new function form", form, `id="path"`, `id="image"`, `id="format"`, `id="memory"`, `id="timeout"`,
		`id="type"`, `id="auth"`, `id="fn-config"`, `id="save-function"`, `<label for="memory">`)
	csrf := alice.csrfFrom("/ui/apps/shop/new-function")

	cases := []struct {
		name       string
		form       url.Values
		wantStatus int
		field      string // the input whose error is shown
		kept       string // a typed value the form shows again
	}{
		{"memory not a number", fnValues("path", "/hello", "image", "busybox", "memory", "lots"), http.StatusBadRequest, "route.memory", `value="lots"`},
		{"memory too small", fnValues("path", "/hello", "image", "busybox", "memory", "1"), http.StatusBadRequest, "route.memory", `value="busybox"`},
		{"image not ours", fnValues("path", "/hello", "image", "@nosuchimage", "memory", "64"), http.StatusBadRequest, "route.image", `value="64"`},
		{"no image", fnValues("path", "/hello", "image", ""), http.StatusBadRequest, "route.image", `value="/hello"`},
		{"bad path", fnValues("path", "hello", "image", "busybox"), http.StatusBadRequest, "route.path", `value="hello"`},
		{"bad format", fnValues("path", "/hello", "image", "busybox", "format", "xml"), http.StatusBadRequest, "route.format", `value="busybox"`},
		{"bad config", fnValues("path", "/hello", "image", "busybox", "config", "NOPE"), http.StatusBadRequest, "route.config", ">NOPE</textarea>"},
		{"created", fnValues("path", "/hello/world", "image", "busybox", "memory", "64", "timeout", "12", "type", "async",
			"auth", "token", "config", "GREETING=hi", "headers", "X-A: 1", "idle_timeout", "40", "cpus", "0.5"), http.StatusSeeOther, "", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := alice.postForm("/ui/apps/shop/new-function", c.form, csrf)
			if p.status != c.wantStatus {
				t.Fatalf("%d, want %d\n%s", p.status, c.wantStatus, p.body)
			}
			if c.wantStatus == http.StatusSeeOther {
				if loc := p.header.Get("Location"); loc != "/ui/apps/shop/functions/hello/world" {
					t.Fatalf("Location %q", loc)
				}
				return
			}
			mustContain(t, c.name, p, "(field: "+c.field, `<span class="field-error" role="alert">`, c.kept)
		})
	}
	rt, err := tc.store.GetRoute(ctx, "shop", "/hello/world")
	if err != nil {
		t.Fatal(err)
	}
	if rt.MemoryMiB != 64 || rt.Timeout != 12 || rt.Type != "async" || rt.Auth != "token" || rt.Config["GREETING"] != "hi" || rt.IdleTimeout != 40 {
		t.Errorf("stored route: %+v", rt)
	}

	page := alice.get("/ui/apps/shop/functions/hello/world")
	if page.status != http.StatusOK {
		t.Fatalf("function page: %d\n%s", page.status, page.body)
	}
	mustContain(t, "function page", page, "/r/shop/hello/world", "GREETING=hi", "64 MiB", `id="call-form"`, `id="call-method"`,
		`id="call-body"`, `id="call-headers"`, `id="call-submit"`, `hx-target="#call-result"`, `id="call-result"`,
		`id="recent-executions"`, `id="p50"`, `id="p99"`, `id="delete-function"`, "over the 0 most recent finished executions")

	edit := alice.get("/ui/apps/shop/edit-function/hello/world")
	mustContain(t, "edit form", edit, `value="64"`, "GREETING=hi", `<option value="async" selected>`, `<option value="token" selected>`, "X-A: 1")

	// Edit: the config replaced, a bad value refused with the values kept.
	bad := alice.postForm("/ui/apps/shop/edit-function/hello/world", fnValues("image", "busybox", "timeout", "9999", "config", "GREETING=hello"), csrf)
	if bad.status != http.StatusBadRequest {
		t.Fatalf("bad timeout: %d\n%s", bad.status, bad.body)
	}
	mustContain(t, "bad timeout", bad, "(field: route.timeout", `value="9999"`, "GREETING=hello")
	ok := alice.postForm("/ui/apps/shop/edit-function/hello/world", fnValues("image", "busybox:1", "memory", "256", "config", "OTHER=1"), csrf)
	if ok.status != http.StatusSeeOther {
		t.Fatalf("edit: %d\n%s", ok.status, ok.body)
	}
	rt, _ = tc.store.GetRoute(ctx, "shop", "/hello/world")
	if rt.Image != "busybox:1" || rt.MemoryMiB != 256 || rt.Config["OTHER"] != "1" || rt.Config["GREETING"] != "" || rt.Type != "sync" {
		t.Errorf("route after edit: %+v", rt)
	}
	mustContain(t, "page after edit", alice.get(ok.header.Get("Location")), "OTHER=1", "256 MiB", "busybox:1")

	// The functions list, and filtered by app.
	other := "other"
	if _, err := tc.store.CreateApp(ctx, store.App{Name: other, Owner: "alice"}); err != nil {
		t.Fatal(err)
	}
	if _, err := tc.store.CreateRoute(ctx, store.Route{App: other, Path: "/x", Image: "busybox", Timeout: 30}, nil); err != nil {
		t.Fatal(err)
	}
	all := alice.get("/ui/functions")
	mustContain(t, "functions", all, `href="/ui/apps/shop/functions/hello/world"`, `href="/ui/apps/other/functions/x"`)
	one := alice.get("/ui/functions?app=shop")
	mustContain(t, "functions of shop", one, `href="/ui/apps/shop/functions/hello/world"`)
	if strings.Contains(one.body, "/ui/apps/other/functions/x") {
		t.Errorf("?app=shop lists other's function")
	}
	paged := alice.get("/ui/functions?per_page=1")
	mustContain(t, "functions page 1", paged, `rel="next"`)
	for _, bad := range []string{"/ui/functions?per_page=lots", "/ui/functions?app=shop&per_page=0", "/ui/apps?per_page=x"} {
		if p := alice.get(bad); p.status != http.StatusBadRequest || !strings.Contains(p.body, "per_page") {
			t.Errorf("GET %s: %d, want 400 naming per_page\n%s", bad, p.status, p.body)
		}
	}
	if p := alice.get("/ui/apps/shop?per_page=x"); p.status != http.StatusBadRequest {
		t.Errorf("app page with a bad per_page: %d, want 400", p.status)
	}

	// The root path of an app.
	if p := alice.postForm("/ui/apps/other/new-function", fnValues("path", "/", "image", "busybox"), csrf); p.status != http.StatusSeeOther || p.header.Get("Location") != "/ui/apps/other/functions/" {
		t.Fatalf("create /: %d %s\n%s", p.status, p.header.Get("Location"), p.body)
	}
	mustContain(t, "function /", alice.get("/ui/apps/other/functions/"), "/r/other/<", `action="/ui/apps/other/call/"`)
	if none := alice.get("/ui/functions?app=nosuch"); none.status != http.StatusNotFound || !strings.Contains(none.body, `id="fn-app"`) {
		t.Errorf("?app=nosuch: %d", none.status)
	}
}

func TestFunctionURLs(t *testing.T) {
	for _, c := range []struct{ action, app, path, want string }{
		{"functions", "shop", "/hello", "/ui/apps/shop/functions/hello"},
		{"call", "shop", "/users/:id/*rest", "/ui/apps/shop/call/users/:id/%2Arest"},
		{"functions", "shop", "/", "/ui/apps/shop/functions/"},
		{"edit-function", "a", "/sp ace/x?y", "/ui/apps/a/edit-function/sp%20ace/x%3Fy"},
	} {
		if got := functionURL(c.action, c.app, c.path); got != c.want {
			t.Errorf("functionURL(%q, %q, %q) = %q, want %q", c.action, c.app, c.path, got, c.want)
		}
	}
	if got := percentile([]int64{5, 1, 4, 2, 3}, 50); got != 3 {
		t.Errorf("p50 = %d", got)
	}
	if got := percentile([]int64{5, 1, 4, 2, 3}, 99); got != 5 {
		t.Errorf("p99 = %d", got)
	}
}
