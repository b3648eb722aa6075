package handlers

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/auth"
)

// testPEM makes a self-signed certificate for names and its key, as PEM.
func testPEM(t testing.TB, names ...string) (cert, key string) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: names[0]},
		DNSNames: names, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalECPrivateKey(k)
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})),
		string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}))
}

func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func TestAPIsCRUD(t *testing.T) {
	f := newAuthFixture(t)
	cert, key := testPEM(t, "shop.example.com")
	body := `{"api":{"name":"shop","function":{"app":"a","route":"/users/:id"},"hosts":["Shop.Example.com","*.shop.example.com"],
		"methods":["GET","POST"],"uris":["/v1/users/:id"],"https_only":true,"authentication":"basic",
		"basic_users":[{"username":"alice","password":"correct horse"}],"cors":{"origins":["https://ui.example"]},
		"rate_limit":{"rps":10},"timeout":5,"max_body_bytes":1024,
		"tls":{"certificate":` + jsonString(cert) + `,"key":` + jsonString(key) + `}}}`
	res := f.as(t, f.alice, "POST", "/v1/apis", body)
	expect(t, res, 201)
	for _, secret := range []string{"correct horse", "PRIVATE KEY", `"hash"`, `"key"`} {
		if strings.Contains(res.raw, secret) {
			t.Fatalf("the answer shows %s: %s", secret, res.raw)
		}
	}
	checks := map[string]any{
		"owner": "alice", "https_only": true, "authentication": "basic", "enabled": true, "max_body_bytes": 1024.0, "timeout": 5.0,
	}
	for k, want := range checks {
		if got := get(res.body, "api", k); got != want {
			t.Errorf("%s = %v, want %v", k, got, want)
		}
	}
	if hosts := get(res.body, "api", "hosts").([]any); hosts[0] != "shop.example.com" {
		t.Errorf("hosts are not normalised: %v", hosts)
	}
	if m := get(res.body, "api", "methods").([]any); m[0] != "GET" {
		t.Errorf("methods: %v", m)
	}
	if get(res.body, "api", "rate_limit", "burst") != 10.0 || get(res.body, "api", "rate_limit", "per") != "api" {
		t.Errorf("rate limit defaults: %v", get(res.body, "api", "rate_limit"))
	}
	if get(res.body, "api", "tls", "not_after") == nil || get(res.body, "api", "tls", "dns_names").([]any)[0] != "shop.example.com" {
		t.Errorf("tls: %v", get(res.body, "api", "tls"))
	}
	if p := get(res.body, "api", "protocols").([]any); len(p) != 2 {
		t.Errorf("protocols default: %v", p)
	}

	// The password hash is stored, checkable, and kept when a user is sent without one.
	stored, err := f.s.GetAPI(t.Context(), "shop")
	if err != nil || !auth.CheckPassword(stored.BasicUsers[0].Hash, "correct horse") || stored.TLSKey != "" {
		t.Fatalf("stored: %+v %v", stored.BasicUsers, err)
	}
	if got, err := f.api.tlsKeys.TLSKey(t.Context(), "shop"); err != nil || string(got) != key {
		t.Fatalf("the key in the secret store: %v", err)
	}
	res = f.as(t, f.alice, "PATCH", "/v1/apis/shop", `{"api":{"basic_users":[{"username":"alice"},{"username":"bob","password":"hunter2hunter2"}],"tls":{},"rate_limit":{"rps":0},"hosts":[]}}`)
	expect(t, res, 200)
	stored, _ = f.s.GetAPI(t.Context(), "shop")
	if len(stored.BasicUsers) != 2 || !auth.CheckPassword(stored.BasicUsers[0].Hash, "correct horse") || stored.TLSCert != "" || stored.RateLimit != nil || len(stored.Hosts) != 0 {
		t.Fatalf("patched: %+v", stored)
	}
	if stored.Timeout != 5 || !stored.HTTPSOnly {
		t.Fatalf("fields not given changed: %+v", stored)
	}
	expect(t, f.as(t, f.alice, "PATCH", "/v1/apis/shop", `{"api":{"basic_users":[{"username":"carol"}]}}`), 400)
	expect(t, f.as(t, f.alice, "PATCH", "/v1/apis/shop", `{"api":{"enabled":false}}`), 200)

	// Ownership, as for apps.
	expect(t, f.as(t, f.bob, "GET", "/v1/apis/shop", ""), 404)
	expect(t, f.as(t, f.bob, "PATCH", "/v1/apis/shop", `{"api":{"enabled":true}}`), 404)
	expect(t, f.as(t, f.bob, "DELETE", "/v1/apis/shop", ""), 404)
	expect(t, f.as(t, f.alice, "PATCH", "/v1/apis/shop", `{"api":{"owner":"bob"}}`), 403)
	if n := len(get(f.as(t, f.bob, "GET", "/v1/apis", "").body, "apis").([]any)); n != 0 {
		t.Fatalf("bob lists %d APIs", n)
	}
	if n := len(get(f.as(t, f.admin, "GET", "/v1/apis?owner=alice", "").body, "apis").([]any)); n != 1 {
		t.Fatalf("admin lists %d of alice's APIs", n)
	}
	expect(t, f.as(t, f.alice, "DELETE", "/v1/apis/shop", ""), 204)
	expect(t, f.as(t, f.alice, "GET", "/v1/apis/shop", ""), 404)
}

func TestAPIValidation(t *testing.T) {
	f := newAuthFixture(t)
	cert, _ := testPEM(t, "x.example.com")
	_, otherKey := testPEM(t, "y.example.com")
	base := func(extra string) string {
		return `{"api":{"name":"x","function":{"app":"a","route":"/f"},"uris":["/x"]` + extra + `}}`
	}
	for name, c := range map[string]struct {
		body, field string
	}{
		"no function":          {`{"api":{"name":"x","uris":["/x"]}}`, "api.function"},
		"no uris":              {`{"api":{"name":"x","function":{"app":"a","route":"/f"}}}`, "api.uris"},
		"bad host":             {base(`,"hosts":["a..b"]`), "api.hosts"},
		"wildcard mid-host":    {base(`,"hosts":["a.*.com"]`), "api.hosts"},
		"bad uri segment":      {base(`,"uris":["/a/*rest"]`), "api.uris"},
		"uri trailing slash":   {base(`,"uris":["/a/"]`), "api.uris"},
		"https_only, no https": {base(`,"protocols":["http"],"https_only":true`), "api.https_only"},
		"basic without users":  {base(`,"authentication":"basic"`), "api.basic_users"},
		"short password":       {base(`,"authentication":"basic","basic_users":[{"username":"u","password":"short"}]`), "api.basic_users.0.password"},
		"tls key of another":   {base(`,"tls":{"certificate":` + jsonString(cert) + `,"key":` + jsonString(otherKey) + `}`), "api.tls"},
		"bad method":           {base(`,"methods":["BREW"]`), "api.methods.0"},
		"bad route":            {`{"api":{"name":"x","function":{"app":"a","route":"f"},"uris":["/x"]}}`, "api.function.route"},
	} {
		res := f.as(t, f.alice, "POST", "/v1/apis", c.body)
		if res.status != 400 || !strings.Contains(get(res.body, "error", "fields").(string), c.field) {
			t.Errorf("%s: %d %s, want 400 naming %s", name, res.status, res.raw, c.field)
		}
	}
	for name, c := range map[string]struct {
		body   string
		status int
	}{
		"wildcard too wide":        {base(`,"hosts":["*.com"]`), 400},
		"percent in a uri":         {`{"api":{"name":"x","function":{"app":"a","route":"/f"},"uris":["/my%20docs"]}}`, 400},
		"developer's own issuer":   {base(`,"authentication":"oidc","oidc":{"issuer":"http://169.254.169.254/latest","audience":"x"}`), 403},
		"oidc without any source":  {base(`,"authentication":"oidc"`), 400},
		"issuer that is not a URL": {`{"api":{"name":"x","function":{"app":"a","route":"/f"},"uris":["/x"],"authentication":"oidc","oidc":{"issuer":"not a url","audience":"x"}}}`, 0},
	} {
		token := f.alice
		if c.status == 0 { // an admin, who may name an issuer, but a valid one
			token, c.status = f.admin, 400
		}
		if res := f.as(t, token, "POST", "/v1/apis", c.body); res.status != c.status {
			t.Errorf("%s: %d %s, want %d", name, res.status, res.raw, c.status)
		}
	}
	expect(t, f.as(t, f.alice, "POST", "/v1/apis", base(`,"hosts":["a.example.com"]`)), 201)
	expect(t, f.as(t, f.alice, "POST", "/v1/apis", base(``)), 409) // name taken
	// An API for any host and one for alice's host do not clash: the host's own APIs come
	// first at the gateway. Two for any host with the same uri cannot be told apart: 409.
	expect(t, f.as(t, f.bob, "POST", "/v1/apis", `{"api":{"name":"y0","function":{"app":"b","route":"/f"},"uris":["/x"]}}`), 201)
	expect(t, f.as(t, f.alice, "POST", "/v1/apis", `{"api":{"name":"x1","function":{"app":"a","route":"/f"},"uris":["/x"]}}`), 409)
	expect(t, f.as(t, f.bob, "POST", "/v1/apis", `{"api":{"name":"y","function":{"app":"b","route":"/f"},"uris":["/x"],"hosts":["b.example.com"]}}`), 201)
	// Hostnames belong to one owner: bob cannot serve any path on alice's host, nor cover it
	// with a wildcard; the refusal does not name alice's API.
	for _, hosts := range []string{`["a.example.com"]`, `["*.example.com"]`} {
		res := f.as(t, f.bob, "POST", "/v1/apis", `{"api":{"name":"z","function":{"app":"b","route":"/f"},"uris":["/login"],"hosts":`+hosts+`}}`)
		if res.status != 409 || strings.Contains(res.raw, `\"x\"`) {
			t.Errorf("bob on alice's host %s: %d %s", hosts, res.status, res.raw)
		}
	}
	// Alice may use her host again, for another path.
	expect(t, f.as(t, f.alice, "POST", "/v1/apis", `{"api":{"name":"x2","function":{"app":"a","route":"/f"},"uris":["/other"],"hosts":["a.example.com"]}}`), 201)
	// Another owner cannot delete it either: not found.
	expect(t, f.as(t, f.bob, "DELETE", "/v1/apis/x2", ""), 404)
	expect(t, f.as(t, f.alice, "GET", "/v1/apis/x2", ""), 200)
}

// TestHostlessAPIsOfOneOwner: an API without hosts answers any host nobody claims, so two
// owners' host-less APIs would share every such origin: the second owner gets 409.
func TestHostlessAPIsOfOneOwner(t *testing.T) {
	f := newAuthFixture(t)
	api := func(name, app, uri, extra string) string {
		return `{"api":{"name":"` + name + `","function":{"app":"` + app + `","route":"/f"},"uris":["` + uri + `"]` + extra + `}}`
	}
	expect(t, f.as(t, f.alice, "POST", "/v1/apis", api("root", "a", "/", "")), 201)
	for _, tt := range []struct {
		name, token, method, path, body string
		status                          int
	}{
		{"another owner's host-less API on another path is refused", f.bob, "POST", "/v1/apis", api("bcatch", "b", "/bcatch", ""), 409},
		{"the holder adds another", f.alice, "POST", "/v1/apis", api("more", "a", "/more", ""), 201},
		{"another owner names its hosts", f.bob, "POST", "/v1/apis", api("bob", "b", "/", `,"hosts":["bob.example.com"]`), 201},
		{"another owner may not drop its hosts", f.bob, "PATCH", "/v1/apis/bob", `{"api":{"hosts":[]}}`, 409},
		{"an admin may not give a host-less API to another owner", f.admin, "PATCH", "/v1/apis/more", `{"api":{"owner":"bob"}}`, 409},
	} {
		t.Run(tt.name, func(t *testing.T) {
			res := f.as(t, tt.token, tt.method, tt.path, tt.body)
			expect(t, res, tt.status)
			if tt.status == 409 {
				if msg, _ := get(res.body, "error", "message").(string); !strings.Contains(msg, "hosts") || strings.Contains(msg, "alice") {
					t.Errorf("message %q: want it to say to name hosts, without naming the holder", msg)
				}
			}
		})
	}
}

// TestAPICertificateOnIPHost: an API whose hosts include an IP address cannot carry its
// own certificate (clients send no SNI for an IP address, so it would never be chosen):
// 400 naming api.tls, whichever of the two a write adds.
func TestAPICertificateOnIPHost(t *testing.T) {
	f := newAuthFixture(t)
	cert, key := testPEM(t, "named.example.com")
	tlsField := `"tls":{"certificate":` + jsonString(cert) + `,"key":` + jsonString(key) + `}`
	api := func(name, hosts, extra string) string {
		return `{"api":{"name":"` + name + `","function":{"app":"a","route":"/f"},"uris":["/"],"hosts":` + hosts + extra + `}}`
	}
	expect(t, f.as(t, f.alice, "POST", "/v1/apis", api("named", `["named.example.com"]`, ","+tlsField)), 201)
	for _, tt := range []struct {
		name, method, path, body string
		status                   int
	}{
		{"a create with a certificate on an IP host is refused", "POST", "/v1/apis", api("ip", `["10.0.0.1"]`, ","+tlsField), 400},
		{"a create of an IP host without a certificate is stored", "POST", "/v1/apis", api("plain", `["10.0.0.2"]`, ""), 201},
		{"a patch giving an IP host to an API with a certificate is refused", "PATCH", "/v1/apis/named", `{"api":{"hosts":["named.example.com","10.0.0.3"]}}`, 400},
		{"a patch giving a certificate to an API with an IP host is refused", "PATCH", "/v1/apis/plain", `{"api":{` + tlsField + `}}`, 400},
	} {
		t.Run(tt.name, func(t *testing.T) {
			res := f.as(t, f.alice, tt.method, tt.path, tt.body)
			expect(t, res, tt.status)
			if fields, _ := get(res.body, "error", "fields").(string); tt.status == 400 && fields != "api.tls" {
				t.Errorf("fields %q, want api.tls", fields)
			}
		})
	}
}
