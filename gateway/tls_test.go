package gateway

import (
	"crypto/tls"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/gantry-dev/gantry/store"
)

// handshake dials the env's TLS listener with SNI name and returns the peer's certificate
// names, verified against the test CA.
func (e *env) handshake(name string) ([]string, error) {
	conn, err := tls.Dial("tcp", e.tlsAddr, &tls.Config{ServerName: name, RootCAs: e.ca.pool})
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0].DNSNames, nil
}

func withCert(e *env, names ...string) func(*store.API) {
	c, k := e.ca.issue(names...)
	return func(a *store.API) { a.Hosts, a.TLSCert, a.TLSKey = names, c, k }
}

func TestSNI(t *testing.T) {
	e := newEnv(t, func(e *env, o *Options) {
		def := e.ca.keyPair("fallback.test")
		o.DefaultCert = func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return def, nil }
	})
	e.create(
		newAPI("a", withCert(e, "a.test")),
		newAPI("b", withCert(e, "b.test")),
		newAPI("w", withCert(e, "*.wild.test")),
		newAPI("broken", func(a *store.API) {
			a.Hosts, a.TLSCert, a.TLSKey = []string{"broken.test"}, "not a certificate", "not a key"
		}),
	)
	if e.compiled("broken") != nil || e.compiled("a") == nil {
		t.Fatal("the API with a broken certificate is served, or the others are not")
	}
	for _, tt := range []struct{ sni, want string }{
		{"a.test", "a.test"},
		{"B.TEST", "b.test"},
		{"x.wild.test", "*.wild.test"},
		{"fallback.test", "fallback.test"}, // no API: the default certificate
	} {
		t.Run(tt.sni, func(t *testing.T) {
			names, err := e.handshake(tt.sni)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(names, []string{tt.want}) {
				t.Errorf("peer certificate for %s = %v, want %s", tt.sni, names, tt.want)
			}
		})
	}
	t.Run("https requests", func(t *testing.T) {
		for host, want := range map[string]string{"a.test": "/a", "b.test": "/b", "y.wild.test": "/w"} {
			got := e.do("GET", "https://"+host+"/", nil)
			if got.status != http.StatusOK || e.calls.lastCall().req.Route != want {
				t.Errorf("GET https://%s/ = %d %s, want route %s", host, got.status, got.body, want)
			}
			if names := got.tls.PeerCertificates[0].DNSNames; !slices.Contains(names, host) && !strings.HasSuffix(host, ".wild.test") {
				t.Errorf("https://%s/ was served certificate %v", host, names)
			}
		}
		if got := e.do("GET", "http://broken.test/", nil); got.status != http.StatusNotFound {
			t.Errorf("GET the broken API = %d, want 404", got.status)
		}
	})
}

func TestSNIWithoutDefault(t *testing.T) {
	e := newEnv(t, nil)
	e.create(newAPI("a", withCert(e, "a.test")))
	if _, err := e.handshake("a.test"); err != nil {
		t.Fatalf("known name: %v", err)
	}
	for _, name := range []string{"unknown.test", "test", ""} {
		if _, err := e.handshake(name); err == nil {
			t.Errorf("handshake for %q succeeded, want a failure", name)
		}
	}
}

func TestTLSConfig(t *testing.T) {
	e := newEnv(t, nil)
	c := e.g.TLSConfig()
	if c.MinVersion != tls.VersionTLS12 || !slices.Equal(c.NextProtos, []string{"h2", "http/1.1"}) || c.GetCertificate == nil {
		t.Errorf("TLS config = min %x, protos %v", c.MinVersion, c.NextProtos)
	}
}
