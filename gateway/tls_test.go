package gateway

import (
	"context"
	"crypto/tls"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/gantry-dev/gantry/store"
	"github.com/gantry-dev/gantry/store/bolt"
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

// served dials the env's TLS listener with SNI name and returns the names of the
// certificate it was served, without verifying it.
func (e *env) served(name string) ([]string, error) {
	conn, err := tls.Dial("tcp", e.tlsAddr, &tls.Config{ServerName: name, InsecureSkipVerify: true})
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
	if e.compiled("broken").refusal == nil || e.compiled("a").refusal != nil {
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
		if got := e.do("GET", "http://broken.test/", nil); got.status != http.StatusServiceUnavailable {
			t.Errorf("GET the broken API = %d, want 503", got.status)
		}
	})
}

// TestSNIWithoutDefault: an unknown name fails the handshake with unrecognized_name, and
// is logged at debug level only.
func TestSNIWithoutDefault(t *testing.T) {
	logs := &syncBuffer{}
	e := newEnv(t, func(e *env, o *Options) {
		o.Log = slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	e.create(newAPI("a", withCert(e, "a.test")))
	if _, err := e.handshake("a.test"); err != nil {
		t.Fatalf("known name: %v", err)
	}
	for _, name := range []string{"unknown.test", "test", ""} {
		if _, err := e.handshake(name); err == nil || !strings.Contains(err.Error(), "unrecognized name") {
			t.Errorf("handshake for %q: %v, want the unrecognized_name alert", name, err)
		}
	}
	refused := 0
	for _, l := range logs.lines(t) {
		if l["level"] != "DEBUG" && l["level"] != "INFO" {
			t.Errorf("logged above info: %v", l)
		}
		if strings.Contains(l["msg"].(string), "handshake refused") {
			refused++
		}
	}
	if refused != 3 {
		t.Errorf("%d refused handshakes logged, want 3", refused)
	}
}

// TestSNICertificateValidity: an API's certificate is served only for names it is valid
// for; the next candidate, the default certificate or a failed handshake come instead.
func TestSNICertificateValidity(t *testing.T) {
	apis := func(e *env) []store.API {
		cert := func(hosts []string, names ...string) func(*store.API) {
			c, k := e.ca.issue(names...)
			return func(a *store.API) { a.Hosts, a.TLSCert, a.TLSKey = hosts, c, k }
		}
		return []store.API{
			// bob's certificate for bob.test, on an API of host shop.test.
			newAPI("bobshop", func(a *store.API) {
				cert([]string{"shop.test"}, "bob.test")(a)
				a.Owner, a.App = "bob", "other"
			}),
			// Two candidates for one host: the first is not valid for it.
			newAPI("m1", func(a *store.API) { cert([]string{"multi.test"}, "nope.test")(a); a.URIs = []string{"/a"} }),
			newAPI("m2", func(a *store.API) { cert([]string{"multi.test"}, "multi.test")(a); a.URIs = []string{"/b"} }),
			// A wildcard certificate first, then one naming the host: the exact name wins.
			newAPI("c1", func(a *store.API) { cert([]string{"a.both.test"}, "*.both.test")(a); a.URIs = []string{"/a"} }),
			newAPI("c2", func(a *store.API) { cert([]string{"a.both.test"}, "a.both.test")(a); a.URIs = []string{"/b"} }),
			// "*.wild.test" covers one label only.
			newAPI("w", cert([]string{"*.wild.test"}, "*.wild.test")),
		}
	}
	e := newEnv(t, withDefaultCert("fallback.test"))
	e.create(apis(e)...)
	for _, tt := range []struct{ sni, want string }{
		{"shop.test", "fallback.test"},
		{"multi.test", "multi.test"},
		{"a.both.test", "a.both.test"},
		{"x.wild.test", "*.wild.test"},
		{"x.y.wild.test", "fallback.test"},
	} {
		names, err := e.served(tt.sni)
		if err != nil {
			t.Fatalf("%s: %v", tt.sni, err)
		}
		if !slices.Equal(names, []string{tt.want}) {
			t.Errorf("peer certificate for %s = %v, want %s", tt.sni, names, tt.want)
		}
	}

	bare := newEnv(t, nil)
	bare.create(apis(bare)...)
	for _, name := range []string{"shop.test", "x.y.wild.test"} {
		if names, err := bare.served(name); err == nil {
			t.Errorf("without a default, %s was served %v", name, names)
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

// TestMisdirectedRequests: over real TLS connections, a request whose Host the connection's
// certificate was not chosen for gets 421 without running a function: a Host whose API has
// its own certificate that the SNI did not select, or a Host of another owner than the API
// whose certificate the SNI selected. Requests that agree with their connection are served.
func TestMisdirectedRequests(t *testing.T) {
	e := newEnv(t, withDefaultCert("fallback.test"))
	bob := func(a *store.API) { a.Owner, a.App = "bob", "other" }
	e.create(
		newAPI("a", withCert(e, "a.test")),
		newAPI("a2", func(a *store.API) { a.Hosts = []string{"a2.test"} }), // ada's, no certificate
		newAPI("b", func(a *store.API) { withCert(e, "b.test")(a); bob(a) }),
		newAPI("bplain", func(a *store.API) { a.Hosts = []string{"bplain.test"}; bob(a) }),
		newAPI("bany", func(a *store.API) { a.URIs = []string{"/any"}; bob(a) }), // any host nobody claims
	)
	for _, tt := range []struct {
		name, sni, host string
		status          int
	}{
		{"a host with its own certificate is served on it", "a.test", "a.test", http.StatusOK},
		{"a host without a certificate is served on the default one", "fallback.test", "bplain.test", http.StatusOK},
		{"the same owner's host without a certificate is served on the owner's", "a.test", "a2.test", http.StatusOK},
		{"another owner's host with its own certificate is misdirected", "a.test", "b.test", http.StatusMisdirectedRequest},
		{"a host whose own certificate the default stood in for is misdirected", "fallback.test", "a.test", http.StatusMisdirectedRequest},
		{"another owner's host without a certificate is misdirected", "a.test", "bplain.test", http.StatusMisdirectedRequest},
		{"a host nobody claims, answered by another owner's API, is misdirected", "a.test", "nobody.test", http.StatusMisdirectedRequest},
		{"a host nobody claims is served on the default certificate", "fallback.test", "nobody.test", http.StatusOK},
	} {
		t.Run(tt.name, func(t *testing.T) {
			path := "/x"
			if tt.host == "nobody.test" {
				path = "/any"
			}
			req, err := http.NewRequestWithContext(t.Context(), "GET", "https://"+tt.sni+path, nil)
			if err != nil {
				t.Fatal(err)
			}
			req.Host = tt.host
			before := e.calls.count()
			res, err := e.secure.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.TLS == nil || res.TLS.ServerName != tt.sni {
				t.Fatalf("not over TLS with SNI %s: %+v", tt.sni, res.TLS)
			}
			if res.StatusCode != tt.status {
				t.Fatalf("SNI %s, Host %s = %d %s, want %d", tt.sni, tt.host, res.StatusCode, body, tt.status)
			}
			if tt.status == http.StatusMisdirectedRequest && (string(body) != ErrMisdirected.Error() || e.calls.count() != before) {
				t.Errorf("body %q (calls %d → %d), want %q without a call", body, before, e.calls.count(), ErrMisdirected)
			}
		})
	}
}

// storedBefore is the store with APIs added that the store's validation refuses today but
// an older version stored.
type storedBefore struct {
	*bolt.DB
	old []store.API
}

func (s storedBefore) AllAPIs(ctx context.Context) ([]store.API, error) {
	apis, err := s.DB.AllAPIs(ctx)
	return append(apis, s.old...), err
}

// TestIPHostNeverMisdirected: clients send no SNI for an IP address, so an IP host is
// served on the default certificate and never answered 421, even where an API stored
// before certificates on IP hosts were refused has one (valid for the IP). A certificate
// that an SNI did select still never fronts another owner's API.
func TestIPHostNeverMisdirected(t *testing.T) {
	e := newEnv(t, func(e *env, o *Options) {
		withDefaultCert("fallback.test")(e, o)
		old := newAPI("ip", withCert(e, "10.0.0.1"))
		old.ApplyDefaults()
		o.Store = storedBefore{DB: e.db, old: []store.API{old}}
	})
	e.create(
		newAPI("plainip", func(a *store.API) { a.Hosts = []string{"10.0.0.2"} }),
		newAPI("b", func(a *store.API) { withCert(e, "b.test")(a); a.Owner, a.App = "bob", "other" }),
	)
	if e.compiled("ip") == nil {
		t.Fatal("the API stored before the rule is not served")
	}
	insecure := &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, e.tlsAddr)
		},
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, // the default certificate names no IP
	}}
	t.Cleanup(insecure.CloseIdleConnections)
	for _, tt := range []struct {
		name, url, host string
		status          int
	}{
		{"an IP host whose API has a certificate is served without SNI", "https://10.0.0.1/x", "", http.StatusOK},
		{"an IP host without a certificate is served without SNI", "https://10.0.0.2/x", "", http.StatusOK},
		{"an IP host reached on another owner's certificate is misdirected", "https://b.test/x", "10.0.0.1", http.StatusMisdirectedRequest},
	} {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequestWithContext(t.Context(), "GET", tt.url, nil)
			if err != nil {
				t.Fatal(err)
			}
			if tt.host != "" {
				req.Host = tt.host
			}
			res, err := insecure.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode != tt.status {
				t.Errorf("GET %s (Host %q, SNI %q) = %d %s, want %d", tt.url, req.Host, res.TLS.ServerName, res.StatusCode, body, tt.status)
			}
		})
	}
}
