package store

import (
	"errors"
	"strings"
	"testing"
)

func TestValidation(t *testing.T) {
	ok := Route{App: "a", Path: "/p", Image: "img"}
	tests := []struct {
		name  string
		edit  func(r *Route)
		field string
	}{
		{"bad app", func(r *Route) { r.App = "no spaces" }, "app"},
		{"no slash", func(r *Route) { r.Path = "p" }, "path"},
		{"empty segment", func(r *Route) { r.Path = "/a//b" }, "path"},
		{"trailing slash", func(r *Route) { r.Path = "/a/" }, "path"},
		{"unnamed param", func(r *Route) { r.Path = "/a/:" }, "path"},
		{"rest not last", func(r *Route) { r.Path = "/*all/x" }, "path"},
		{"duplicate param", func(r *Route) { r.Path = "/:id/:id" }, "path"},
		{"odd chars", func(r *Route) { r.Path = "/a b" }, "path"},
		{"dot", func(r *Route) { r.Path = "/." }, "path"},
		{"dot dot", func(r *Route) { r.Path = "/a/.." }, "path"},
		{"header value CRLF", func(r *Route) { r.Headers = map[string][]string{"X": {"a\r\nSet-Cookie: x"}} }, "headers"},
		{"config NUL", func(r *Route) { r.Config = map[string]string{"K": "a\x00b"} }, "config"},
		{"no image", func(r *Route) { r.Image = " " }, "image"},
		{"bad type", func(r *Route) { r.Type = "later" }, "type"},
		{"bad format", func(r *Route) { r.Format = "xml" }, "format"},
		{"memory low", func(r *Route) { r.MemoryMiB = 4 }, "memory"},
		{"memory high", func(r *Route) { r.MemoryMiB = MaxMemoryMiB + 1 }, "memory"},
		{"cpus", func(r *Route) { r.CPUs = -1 }, "cpus"},
		{"timeout", func(r *Route) { r.Timeout = MaxTimeout + 1 }, "timeout"},
		{"idle", func(r *Route) { r.IdleTimeout = -1 }, "idle_timeout"},
		{"concurrency", func(r *Route) { r.MaxConcurrency = MaxMaxConcurrency + 1 }, "max_concurrency"},
		{"header name", func(r *Route) { r.Headers = map[string][]string{"bad header": {"x"}} }, "headers"},
		{"max retries", func(r *Route) { r.MaxRetries = MaxMaxRetries + 1 }, "max_retries"},
		{"host network", func(r *Route) { r.Network = "host" }, "network"},
		{"bad network", func(r *Route) { r.Network = "a b" }, "network"},
		{"http without network", func(r *Route) { r.Network = NetworkNone; r.Format = FormatHTTP }, "network"},
		{"config key", func(r *Route) { r.Config = map[string]string{"1X": "y"} }, "config"},
		{"config over 32 KiB", func(r *Route) {
			r.Config = map[string]string{"A": strings.Repeat("v", MaxConfigBytes/2), "B": strings.Repeat("v", MaxConfigBytes/2)}
		}, "config"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := ok
			tt.edit(&r)
			r.ApplyDefaults()
			err := r.Validate()
			var verr *ValidationError
			if !errors.As(err, &verr) || verr.Field != tt.field {
				t.Fatalf("got %v, want a ValidationError on %q", err, tt.field)
			}
		})
	}
	for _, p := range []string{"/", "/a", "/a/b/c", "/users/:id", "/files/*rest", "/v1.2/a_b-c~d"} {
		if err := ValidatePath(p); err != nil {
			t.Errorf("ValidatePath(%q) = %v, want nil", p, err)
		}
	}
}
