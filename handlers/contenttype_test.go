package handlers

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestEveryOperationRefusesContentTypesOtherThanJSON walks every operation of the spec with a
// body under content types that are not plain JSON: wildcards, odd parameters, malformed or
// empty values. Each answer is a 4xx in the Error model, 415 where the type is not JSON, and
// never a 500. Operations that take no body get one too: any /v1 request with a body is
// checked the same way. publishEvent is an exception: it takes CloudEvents, in any content
// type in binary mode (TestPublishModes); uploadImage another: it takes a tarball,
// application/octet-stream (TestImageUploadsThroughTheHTTPStack).
func TestEveryOperationRefusesContentTypesOtherThanJSON(t *testing.T) {
	f := newAuthFixture(t)
	ops := specOperations(t, map[string]string{"app": "shop", "route": "hello", "id": "01ARZ3NDEKTSV4RRFFQ69G5FAV", "api": "shop-api", "name": "flow", "user_id": "alice", "key": "01ARZ3NDEKTSV4RRFFQ69G5FAV"})
	const json = 0 // want: whatever the operation answers a JSON body (never 415, never 5xx)
	for _, c := range []struct {
		name, contentType string
		want              int
	}{
		{"any type is not JSON", "*/*", http.StatusUnsupportedMediaType},
		{"any type with a quality is not JSON", "*/*;q=0.5", http.StatusUnsupportedMediaType},
		{"any application type is not JSON", "application/*", http.StatusUnsupportedMediaType},
		{"a wildcard type with a JSON subtype is not JSON", "*/json", http.StatusUnsupportedMediaType},
		{"a JSON wildcard in upper case is not JSON", "APPLICATION/*", http.StatusUnsupportedMediaType},
		{"a charset other than UTF-8 is refused", "application/json; charset=latin1", http.StatusUnsupportedMediaType},
		{"a wildcard charset is refused", "application/json; charset=*", http.StatusUnsupportedMediaType},
		{"a malformed type is refused", ";;;", http.StatusUnsupportedMediaType},
		{"a JSON type with malformed parameters is refused", "application/json;;;", http.StatusUnsupportedMediaType},
		{"a type without a subtype is refused", "application", http.StatusUnsupportedMediaType},
		{"plain text is not JSON", "text/plain", http.StatusUnsupportedMediaType},
		{"a JSON suffix type is not JSON", "application/merge-patch+json", http.StatusUnsupportedMediaType},
		{"JSON is taken", "application/json", json},
		{"JSON in UTF-8 is taken", "application/json; charset=UTF-8", json},
		{"no type is read as JSON", "", json},
	} {
		t.Run(c.name, func(t *testing.T) {
			for _, o := range ops {
				if o.id == "publishEvent" || o.id == "uploadImage" { // uploadImage takes a tarball: TestImageUploadsThroughTheHTTPStack
					continue
				}
				b := body(t, o)
				if b == "" {
					b = "{}"
				}
				req := httptest.NewRequest(o.method, o.path, strings.NewReader(b))
				if c.contentType != "" {
					req.Header.Set("Content-Type", c.contentType)
				}
				req.Header.Set("Authorization", "Bearer "+f.admin)
				res := serve(t, f.h, req)
				msg, _ := get(res.body, "error", "message").(string)
				switch {
				case res.status >= 500:
					t.Errorf("%s %s %s with Content-Type %q: %d, want a 4xx; body %s", o.id, o.method, o.path, c.contentType, res.status, res.raw)
				case c.want == json && res.status == http.StatusUnsupportedMediaType:
					t.Errorf("%s with Content-Type %q: 415, want it read as JSON; body %s", o.id, c.contentType, res.raw)
				case c.want != json && res.status != c.want:
					t.Errorf("%s %s %s with Content-Type %q: %d, want %d; body %s", o.id, o.method, o.path, c.contentType, res.status, c.want, res.raw)
				case res.status >= 400 && msg == "":
					t.Errorf("%s with Content-Type %q: %d without an error message: %s", o.id, c.contentType, res.status, res.raw)
				}
			}
		})
	}
	if strings.Contains(f.log.String(), "level=ERROR") {
		t.Fatalf("errors logged:\n%s", f.log.String())
	}
}
