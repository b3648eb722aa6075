package gateway

import (
	"crypto/tls"
	"net/http"
	"strings"
	"testing"

	"github.com/gantry-dev/gantry/store"
)

// withDefaultCert serves every HTTPS name with one certificate for names.
func withDefaultCert(names ...string) func(*env, *Options) {
	return func(e *env, o *Options) {
		def := e.ca.keyPair(names...)
		o.DefaultCert = func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return def, nil }
	}
}

func TestProtocols(t *testing.T) {
	e := newEnv(t, func(e *env, o *Options) {
		withDefaultCert("secure.test", "tlsonly.test", "plainonly.test")(e, o)
		o.HTTPSPort = 8443
	})
	e.create(
		newAPI("secure", func(a *store.API) { a.Hosts, a.HTTPSOnly = []string{"secure.test"}, true }),
		newAPI("tlsonly", func(a *store.API) {
			a.Hosts, a.Protocols = []string{"tlsonly.test"}, []string{store.ProtocolHTTPS}
		}),
		newAPI("plainonly", func(a *store.API) {
			a.Hosts, a.Protocols = []string{"plainonly.test"}, []string{store.ProtocolHTTP}
		}),
	)
	tests := []struct {
		method, url string
		status      int
		location    string
	}{
		{"GET", "http://secure.test/p/q?x=1&y=%20", 308, "https://secure.test:8443/p/q?x=1&y=%20"},
		{"HEAD", "http://secure.test/", 308, "https://secure.test:8443/"},
		{"POST", "http://secure.test/", 400, ""},
		{"GET", "https://secure.test/p", 200, ""},
		{"POST", "https://secure.test/p", 200, ""},
		{"GET", "http://tlsonly.test/", 400, ""},
		{"GET", "https://tlsonly.test/", 200, ""},
		{"GET", "http://plainonly.test/", 200, ""},
		{"GET", "https://plainonly.test/", 404, ""},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.url, func(t *testing.T) {
			before := e.calls.count()
			got := e.do(tt.method, tt.url, nil)
			if got.status != tt.status || got.header.Get("Location") != tt.location {
				t.Fatalf("= %d Location %q, want %d %q", got.status, got.header.Get("Location"), tt.status, tt.location)
			}
			if called := e.calls.count() != before; called != (tt.status == 200) {
				t.Errorf("function called = %v", called)
			}
		})
	}
}

func TestRedirectDefaultPort(t *testing.T) {
	e := newEnv(t, func(e *env, o *Options) { o.HTTPSPort = 443 })
	e.create(newAPI("secure", func(a *store.API) { a.HTTPSOnly = true }))
	got := e.do("GET", "http://Secure.Test:8080/a?b=c", nil)
	if got.status != http.StatusPermanentRedirect || got.header.Get("Location") != "https://secure.test/a?b=c" {
		t.Errorf("= %d Location %q, want 308 https://secure.test/a?b=c", got.status, got.header.Get("Location"))
	}
}

// TestForwardedHeaders: the function gets no Gantry-* header a client sent, and the
// gateway's own X-Forwarded-* instead of the client's.
func TestForwardedHeaders(t *testing.T) {
	e := newEnv(t, withDefaultCert("shop.test"))
	e.create(newAPI("shop", func(a *store.API) { a.Hosts = []string{"shop.test"} }))
	sent := http.Header{
		"Gantry-Invoke-Type": {"async"}, "gantry-priority": {"9"}, "Gantry-Param-Role": {"admin"},
		"Gantry-Call-Id": {"forged"}, "X-Forwarded-For": {"6.6.6.6"}, "X-Forwarded-Host": {"evil.test"},
		"X-Forwarded-Proto": {"ftp"}, "Forwarded": {"for=6.6.6.6"}, "X-Custom": {"kept"},
	}
	for _, proto := range []string{"http", "https"} {
		t.Run(proto, func(t *testing.T) {
			wantCall(t, e.do("GET", proto+"://shop.test/x", sent))
			h := e.calls.lastCall().header
			for k := range h {
				if strings.HasPrefix(strings.ToLower(k), "gantry-") || k == "Forwarded" {
					t.Errorf("the function got %s: %q", k, h[k])
				}
			}
			want := map[string]string{"X-Forwarded-For": "127.0.0.1", "X-Forwarded-Proto": proto,
				"X-Forwarded-Host": "shop.test", "X-Custom": "kept"}
			for k, v := range want {
				if got := h.Values(k); len(got) != 1 || got[0] != v {
					t.Errorf("%s = %q, want %q", k, got, v)
				}
			}
		})
	}
}
