package handlers

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func newTestHandler(t testing.TB) http.Handler {
	t.Helper()
	h, _ := newExecutionsTestHandler(t)
	return h
}

type response struct {
	status int
	header http.Header
	body   map[string]any
	raw    string
}

func do(t testing.TB, h http.Handler, method, path, body string) response {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, path, rd)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	return serve(t, h, req)
}

func serve(t testing.TB, h http.Handler, req *http.Request) response {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	res := response{status: rec.Code, header: rec.Header(), raw: rec.Body.String()}
	if rec.Body.Len() > 0 {
		if err := json.Unmarshal(rec.Body.Bytes(), &res.body); err != nil {
			t.Fatalf("%s %s: response is not JSON: %q", req.Method, req.URL, rec.Body.String())
		}
	}
	return res
}

// get digs into a decoded JSON body: get(body, "app", "config", "K").
func get(v any, keys ...string) any {
	for _, k := range keys {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

func expect(t testing.TB, res response, status int) {
	t.Helper()
	if res.status != status {
		t.Fatalf("status %d, want %d; body %s", res.status, status, res.raw)
	}
}

func TestAppsCRUD(t *testing.T) {
	h := newTestHandler(t)

	res := do(t, h, "POST", "/v1/apps", `{"app":{"name":"shop","config":{"DB":"pg","LOG":"info"}}}`)
	expect(t, res, 201)
	if get(res.body, "app", "name") != "shop" || get(res.body, "app", "config", "DB") != "pg" || get(res.body, "app", "created_at") == nil {
		t.Fatalf("create body: %s", res.raw)
	}
	expect(t, do(t, h, "POST", "/v1/apps", `{"app":{"name":"shop"}}`), 409)

	res = do(t, h, "GET", "/v1/apps/shop", "")
	expect(t, res, 200)
	if get(res.body, "app", "config", "LOG") != "info" {
		t.Fatalf("get body: %s", res.raw)
	}

	res = do(t, h, "PATCH", "/v1/apps/shop", `{"app":{"config":{"LOG":"","NEW":"1"}}}`)
	expect(t, res, 200)
	if cfg := get(res.body, "app", "config"); fmt.Sprint(cfg) != "map[DB:pg NEW:1]" {
		t.Fatalf("patch merged config to %v, want DB and NEW only", cfg)
	}

	res = do(t, h, "PUT", "/v1/apps/shop", `{"app":{"config":{"ONLY":"x"}}}`)
	expect(t, res, 200)
	if cfg := get(res.body, "app", "config"); fmt.Sprint(cfg) != "map[ONLY:x]" {
		t.Fatalf("put replaced config with %v", cfg)
	}
	expect(t, do(t, h, "PUT", "/v1/apps/other", `{"app":{}}`), 201)
	expect(t, do(t, h, "PUT", "/v1/apps/other", `{"app":{"name":"renamed"}}`), 400)

	res = do(t, h, "GET", "/v1/apps", "")
	expect(t, res, 200)
	if apps := get(res.body, "apps").([]any); len(apps) != 2 || get(apps[0], "name") != "other" {
		t.Fatalf("list: %s", res.raw)
	}

	expect(t, do(t, h, "POST", "/v1/apps/shop/routes", `{"route":{"path":"/buy","image":"img"}}`), 201)
	res = do(t, h, "DELETE", "/v1/apps/shop", "")
	expect(t, res, 409)
	expect(t, do(t, h, "DELETE", "/v1/apps/shop/routes/buy", ""), 204)
	expect(t, do(t, h, "DELETE", "/v1/apps/shop", ""), 204)
	res = do(t, h, "GET", "/v1/apps/shop", "")
	expect(t, res, 404)
	if msg, _ := get(res.body, "error", "message").(string); !strings.Contains(msg, `"shop"`) {
		t.Fatalf("404 message does not name the app: %s", res.raw)
	}
}

func TestRoutesCRUD(t *testing.T) {
	h := newTestHandler(t)
	expect(t, do(t, h, "POST", "/v1/apps", `{"app":{"name":"myapp"}}`), 201)

	res := do(t, h, "POST", "/v1/apps/myapp/routes", `{"route":{"path":"/hello/world","image":"hello:1","headers":{"X-A":["1"]},"config":{"K":"v"}}}`)
	expect(t, res, 201)
	for field, want := range map[string]any{"type": "sync", "format": "default", "memory": 128.0, "timeout": 30.0, "idle_timeout": 30.0, "max_concurrency": 1.0} {
		if got := get(res.body, "route", field); got != want {
			t.Errorf("default %s = %v, want %v", field, got, want)
		}
	}
	expect(t, do(t, h, "POST", "/v1/apps/myapp/routes", `{"route":{"path":"/hello/world","image":"x"}}`), 409)
	expect(t, do(t, h, "POST", "/v1/apps/ghost/routes", `{"route":{"path":"/a","image":"x"}}`), 404)

	// A multi-segment route is addressed by its segments or URL-encoded.
	for _, p := range []string{"/v1/apps/myapp/routes/hello/world", "/v1/apps/myapp/routes/%2Fhello%2Fworld", "/v1/apps/myapp/routes/hello%2Fworld"} {
		res = do(t, h, "GET", p, "")
		expect(t, res, 200)
		if get(res.body, "route", "path") != "/hello/world" || get(res.body, "route", "image") != "hello:1" {
			t.Fatalf("GET %s: %s", p, res.raw)
		}
	}
	expect(t, do(t, h, "GET", "/v1/apps/myapp/routes/hello", ""), 404)

	// The root route "/" is addressed URL-encoded (".../routes/" is the list).
	expect(t, do(t, h, "POST", "/v1/apps/myapp/routes", `{"route":{"path":"/","image":"root"}}`), 201)
	if res := do(t, h, "GET", "/v1/apps/myapp/routes/%2F", ""); res.status != 200 || get(res.body, "route", "image") != "root" {
		t.Fatalf("GET root route: %d %s", res.status, res.raw)
	}
	expect(t, do(t, h, "DELETE", "/v1/apps/myapp/routes/%2F", ""), 204)

	res = do(t, h, "PATCH", "/v1/apps/myapp/routes/hello/world", `{"route":{"memory":256,"headers":{"X-A":[],"X-B":["2"]},"config":{"K":"","L":"w"}}}`)
	expect(t, res, 200)
	if get(res.body, "route", "memory") != 256.0 || get(res.body, "route", "image") != "hello:1" ||
		fmt.Sprint(get(res.body, "route", "headers")) != "map[X-B:[2]]" || fmt.Sprint(get(res.body, "route", "config")) != "map[L:w]" {
		t.Fatalf("patch: %s", res.raw)
	}
	expect(t, do(t, h, "PATCH", "/v1/apps/myapp/routes/hello/world", `{"route":{"path":"/other"}}`), 400)
	expect(t, do(t, h, "PATCH", "/v1/apps/myapp/routes/nope", `{"route":{"memory":256}}`), 404)

	res = do(t, h, "PUT", "/v1/apps/myapp/routes/hello/world", `{"route":{"image":"hello:2","format":"http"}}`)
	expect(t, res, 200)
	if get(res.body, "route", "memory") != 128.0 || get(res.body, "route", "format") != "http" || get(res.body, "route", "headers") != nil {
		t.Fatalf("put must replace every field: %s", res.raw)
	}
	expect(t, do(t, h, "PUT", "/v1/apps/myapp/routes/users/:id", `{"route":{"image":"users"}}`), 201)
	expect(t, do(t, h, "PUT", "/v1/apps/myapp/routes/x", `{"route":{"path":"/y","image":"users"}}`), 400)

	res = do(t, h, "GET", "/v1/apps/myapp/routes", "")
	expect(t, res, 200)
	if routes := get(res.body, "routes").([]any); len(routes) != 2 || get(routes[0], "path") != "/hello/world" || get(routes[1], "path") != "/users/:id" {
		t.Fatalf("list: %s", res.raw)
	}
	expect(t, do(t, h, "DELETE", "/v1/apps/myapp/routes/users/:id", ""), 204)
	expect(t, do(t, h, "DELETE", "/v1/apps/myapp/routes/users/:id", ""), 404)
}

func TestBadInput(t *testing.T) {
	h := newTestHandler(t)
	expect(t, do(t, h, "POST", "/v1/apps", `{"app":{"name":"a"}}`), 201)
	expect(t, do(t, h, "POST", "/v1/apps/a/routes", `{"route":{"path":"/r","image":"img"}}`), 201)

	tests := []struct {
		name, method, path, body string
		contentType              string
		status                   int
		inMessage                string // substring of error.message
	}{
		{"malformed JSON", "POST", "/v1/apps", `{"app":`, "", 400, "invalid body"},
		{"trailing data", "POST", "/v1/apps", `{"app":{"name":"b"}} {}`, "", 400, "unexpected data"},
		{"not an object", "POST", "/v1/apps", `[1,2]`, "", 400, "invalid body"},
		{"wrong type", "POST", "/v1/apps", `{"app":{"name":42}}`, "", 400, "invalid body"},
		{"unknown field", "POST", "/v1/apps/a/routes", `{"route":{"path":"/x","image":"i","timout":3}}`, "", 400, "timout"},
		{"missing body", "POST", "/v1/apps", ``, "", 400, "body"},
		{"missing app", "POST", "/v1/apps", `{}`, "", 400, "app"},
		{"missing name", "POST", "/v1/apps", `{"app":{}}`, "", 400, "app.name is required"},
		{"bad name", "POST", "/v1/apps", `{"app":{"name":"bad name!"}}`, "", 400, "name"},
		{"long name", "POST", "/v1/apps", `{"app":{"name":"` + strings.Repeat("a", 256) + `"}}`, "", 400, "name"},
		{"bad name in URL", "GET", "/v1/apps/bad%20name", "", "", 400, "app"},
		{"bad config key", "POST", "/v1/apps", `{"app":{"name":"c","config":{"1BAD":"x"}}}`, "", 400, "config key"},
		{"missing path", "POST", "/v1/apps/a/routes", `{"route":{"image":"i"}}`, "", 400, "route.path is required"},
		{"missing image", "POST", "/v1/apps/a/routes", `{"route":{"path":"/x"}}`, "", 400, "image is required"},
		{"path without slash", "POST", "/v1/apps/a/routes", `{"route":{"path":"x","image":"i"}}`, "", 400, "path"},
		{"bad path", "POST", "/v1/apps/a/routes", `{"route":{"path":"/a//b","image":"i"}}`, "", 400, "empty segment"},
		{"unknown type", "POST", "/v1/apps/a/routes", `{"route":{"path":"/x","image":"i","type":"later"}}`, "", 400, "type"},
		{"unknown format", "POST", "/v1/apps/a/routes", `{"route":{"path":"/x","image":"i","format":"xml"}}`, "", 400, "format"},
		{"memory too high", "POST", "/v1/apps/a/routes", `{"route":{"path":"/x","image":"i","memory":100000}}`, "", 400, "memory"},
		{"memory zero", "POST", "/v1/apps/a/routes", `{"route":{"path":"/x","image":"i","memory":0}}`, "", 400, "memory"},
		{"timeout too high", "POST", "/v1/apps/a/routes", `{"route":{"path":"/x","image":"i","timeout":301}}`, "", 400, "timeout"},
		{"negative timeout", "PATCH", "/v1/apps/a/routes/r", `{"route":{"timeout":-1}}`, "", 400, "timeout"},
		{"memory as string", "PATCH", "/v1/apps/a/routes/r", `{"route":{"memory":"lots"}}`, "", 400, "invalid body"},
		{"bad per_page", "GET", "/v1/apps?per_page=1000", "", "", 400, "per_page"},
		{"per_page not a number", "GET", "/v1/apps?per_page=x", "", "", 400, "per_page"},
		{"bad cursor", "GET", "/v1/apps?cursor=!!", "", "", 400, "cursor"},
		{"wrong content type", "POST", "/v1/apps", `name=a`, "application/x-www-form-urlencoded", 415, "media type"},
		{"unknown path", "GET", "/v1/nothing", "", "", 404, ""},
		{"bare /v1", "GET", "/v1", "", "", 404, "/v1"},
		{"double slash", "GET", "/v1/apps/a/routes//x", "", "", 404, "not found"},
		{"dot dot", "PUT", "/v1/apps/a/../x", `{"app":{}}`, "", 400, ".."},
		{"spec by POST", "POST", "/v1/swagger.json", "", "", 405, "POST"},
		{"charset", "POST", "/v1/apps", `{"app":{"name":"u16"}}`, "application/json; charset=utf-16", 415, "utf-16"},
		{"wrong method", "POST", "/v1/version", "", "", 405, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest(tt.method, tt.path, strings.NewReader(tt.body))
			if tt.contentType != "" {
				req.Header.Set("Content-Type", tt.contentType)
			}
			res := serve(t, h, req)
			if res.status != tt.status {
				t.Fatalf("status %d, want %d; body %s", res.status, tt.status, res.raw)
			}
			msg, _ := get(res.body, "error", "message").(string)
			if msg == "" || !strings.Contains(strings.ToLower(msg), strings.ToLower(tt.inMessage)) {
				t.Fatalf("error.message %q does not mention %q (body %s)", msg, tt.inMessage, res.raw)
			}
		})
	}
}

func TestErrorNamesField(t *testing.T) {
	h := newTestHandler(t)
	expect(t, do(t, h, "POST", "/v1/apps", `{"app":{"name":"a"}}`), 201)
	res := do(t, h, "POST", "/v1/apps/a/routes", `{"route":{"path":"/x","image":"i","memory":100000}}`)
	expect(t, res, 400)
	if f, _ := get(res.body, "error", "fields").(string); !strings.Contains(f, "memory") {
		t.Fatalf("fields %q does not name memory: %s", f, res.raw)
	}
}

func TestBodyTooLarge(t *testing.T) {
	h := newTestHandler(t)
	big := `{"app":{"name":"a","config":{"K":"` + strings.Repeat("x", MaxManagementBody) + `"}}}`

	res := do(t, h, "POST", "/v1/apps", big)
	expect(t, res, 413)

	// Without a Content-Length the limit still holds while the body is read.
	req := httptest.NewRequest("POST", "/v1/apps", io.MultiReader(strings.NewReader(big)))
	req.ContentLength = -1
	req.Header.Set("Content-Type", "application/json")
	res = serve(t, h, req)
	expect(t, res, 413)
	if msg, _ := get(res.body, "error", "message").(string); !strings.Contains(msg, "larger than") {
		t.Fatalf("413 message: %s", res.raw)
	}
	expect(t, do(t, h, "GET", "/v1/apps/a", ""), 404) // nothing was stored
}

func TestNoContentTypeIsJSON(t *testing.T) {
	h := newTestHandler(t)
	req := httptest.NewRequest("POST", "/v1/apps", bytes.NewBufferString(`{"app":{"name":"curl"}}`))
	expect(t, serve(t, h, req), 201)
}

func TestSpecAndVersion(t *testing.T) {
	h := newTestHandler(t)
	res := do(t, h, "GET", "/v1/swagger.json", "")
	expect(t, res, 200)
	if res.body["basePath"] != "/v1" || get(res.body, "paths", "/apps/{app}/routes/{route}") == nil {
		t.Fatalf("served spec is not ours: %.200s", res.raw)
	}
	res = do(t, h, "GET", "/v1/version", "")
	expect(t, res, 200)
	if res.body["version"] != "test" {
		t.Fatalf("version: %s", res.raw)
	}
}

func TestAppsPaginationThroughAPI(t *testing.T) {
	h := newTestHandler(t)
	for i := range 250 {
		expect(t, do(t, h, "POST", "/v1/apps", fmt.Sprintf(`{"app":{"name":"app-%03d"}}`, 249-i)), 201)
	}
	var names []string
	url, pages := "/v1/apps?per_page=100", 0
	for {
		res := do(t, h, "GET", url, "")
		expect(t, res, 200)
		pages++
		for _, a := range res.body["apps"].([]any) {
			names = append(names, get(a, "name").(string))
		}
		next, _ := res.body["next_cursor"].(string)
		if next == "" {
			break
		}
		url = "/v1/apps?per_page=100&cursor=" + next
	}
	if pages != 3 || len(names) != 250 {
		t.Fatalf("%d apps in %d pages, want 250 in 3", len(names), pages)
	}
	for i, n := range names {
		if want := fmt.Sprintf("app-%03d", i); n != want {
			t.Fatalf("item %d = %s, want %s", i, n, want)
		}
	}
}

func TestUnknownPathIsJSON404(t *testing.T) {
	res := do(t, newTestHandler(t), "GET", "/nowhere", "")
	expect(t, res, 404)
	if msg, _ := get(res.body, "error", "message").(string); !strings.Contains(msg, "/nowhere") {
		t.Fatalf("404 body: %s", res.raw)
	}
}

func TestBadInputNamesTheField(t *testing.T) {
	h := newTestHandler(t)
	expect(t, do(t, h, "POST", "/v1/apps", `{"app":{"name":"a"}}`), 201)
	for _, tt := range []struct{ path, body, field string }{
		{"/v1/apps/a/routes", `{"route":{"path":"/x","image":"i","timout":3}}`, "timout"},
		{"/v1/apps/a/routes", `{"route":{"path":"/x","image":"i","memory":100000}}`, "route.memory"},
		{"/v1/apps/a/routes", `{"route":{"path":"/x","image":"i","type":"later"}}`, "route.type"},
		{"/v1/apps/a/routes", `{"route":{"path":"/x"}}`, "route.image"},
		{"/v1/apps/a/routes", `{"route":{"path":"/a//b","image":"i"}}`, "route.path"},
		{"/v1/apps/a/routes", `{"route":{"path":"/x","image":"i","headers":{"X":["a\r\nb"]}}}`, "route.headers"},
		{"/v1/apps", `{"app":{"name":"c","config":{"1BAD":"x"}}}`, "app.config"},
		{"/v1/apps", `{"app":{"name":"bad name"}}`, "app.name"},
	} {
		res := do(t, h, "POST", tt.path, tt.body)
		if f, _ := get(res.body, "error", "fields").(string); res.status != 400 || f != tt.field {
			t.Errorf("POST %s %s: %d fields=%q, want 400 naming %q (%s)", tt.path, tt.body, res.status, f, tt.field, res.raw)
		}
	}
}
