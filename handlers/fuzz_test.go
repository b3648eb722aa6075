package handlers

import (
	"encoding/json"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

// FuzzCreateRouteBody feeds arbitrary bodies to POST /v1/apps/{app}/routes through the
// real router and store. Whatever the body, the answer is never a 5xx, always a JSON
// error with a message when it is a 4xx, and a 201 route reads back as created.
// `go test` runs the seed corpus (f.Add and testdata/fuzz); `go test -fuzz` explores.
func FuzzCreateRouteBody(f *testing.F) {
	for _, seed := range []string{
		`{"route":{"path":"/hello","image":"hello:1"}}`,
		`{"route":{"path":"/a/:id/*rest","image":"i","type":"async","format":"json","memory":256,"cpus":0.5,"timeout":10,"idle_timeout":5,"max_concurrency":4,"headers":{"X-A":["1"]},"config":{"K":"v"}}}`,
		`{"route":{"path":"/x","image":"i","memory":1e400}}`,
		`{"route":{"path":"/x","image":"i","timeout":-9223372036854775808}}`,
		`{"route":{"path":"/x","image":"i","cpus":"1"}}`,
		`{"route":{"path":"/x","image":"i","headers":{"X":null}}}`,
		`{"route":null}`,
		`{"route":{"path":"\u0000","image":"i"}}`,
		`{"route":{"path":"/` + strings.Repeat("a/", 600) + `","image":"i"}}`,
		`{"route":`,
		`null`,
		`"str"`,
		``,
	} {
		f.Add(seed)
	}
	h := newTestHandler(f)
	if res := do(f, h, "POST", "/v1/apps", `{"app":{"name":"fz"}}`); res.status != 201 {
		f.Fatalf("create app: %d %s", res.status, res.raw)
	}
	f.Fuzz(func(t *testing.T, body string) {
		req := httptest.NewRequest("POST", "/v1/apps/fz/routes", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("status %d for body %q: %s", rec.Code, body, rec.Body)
		}
		var out map[string]any
		if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
			t.Fatalf("status %d with a non-JSON body %q", rec.Code, rec.Body)
		}
		switch {
		case rec.Code == 201:
			path, _ := get(out, "route", "path").(string)
			// URL-encoded, as the generated client sends it: this addresses "/" too.
			addr := "/v1/apps/fz/routes/" + url.PathEscape(path)
			got := do(t, h, "GET", addr, "")
			if got.status != 200 || get(got.body, "route", "image") != get(out, "route", "image") {
				t.Fatalf("created route %q does not read back: %d %s", path, got.status, got.raw)
			}
			if res := do(t, h, "DELETE", addr, ""); res.status != 204 {
				t.Fatalf("delete %s: %d %s", addr, res.status, res.raw)
			}
		case rec.Code >= 400: // 409 included: every route created here is deleted again
			if msg, _ := get(out, "error", "message").(string); msg == "" {
				t.Fatalf("status %d without error.message: %s", rec.Code, rec.Body)
			}
		default:
			t.Fatalf("unexpected status %d: %s", rec.Code, rec.Body)
		}
	})
}
