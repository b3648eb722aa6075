package main

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// gatewayCall sends a request to a gateway listener with a Host header.
func gatewayCall(t *testing.T, addr, method, host, path, body string, header ...string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, "http://"+addr+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Host = host
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s%s: %v", method, host, path, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res, string(b)
}

// eventually retries check until it passes; a check begun a second after the change must
// pass (the time a change may take to reach the gateway), however long the check itself
// takes (a call may wait for a container).
func eventually(t *testing.T, what string, check func() error) {
	t.Helper()
	deadline := time.Now().Add(time.Second)
	for {
		began := time.Now()
		err := check()
		if err == nil {
			return
		}
		if began.After(deadline) {
			t.Fatalf("%s: not within 1s: %v", what, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestGatewayServesFunctions: APIs expose real functions (a hot http function in Docker) on
// hosts and paths, with basic auth, limits and live updates, through the one invocation path.
func TestGatewayServesFunctions(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := startServer(t, dir)
	plain, _ := s.gatewayAddrs(t)
	s.mustCall(t, "POST", "/v1/apps", `{"app":{"name":"shop"}}`, 201)
	s.mustCall(t, "POST", "/v1/apps/shop/routes", `{"route":{"path":"/users/:id","image":"`+imgTestfn+`","format":"http","max_concurrency":2}}`, 201)
	s.mustCall(t, "POST", "/v1/apis", `{"api":{"name":"users","function":{"app":"shop","route":"/users/:id"},
		"hosts":["api.shop.test","*.shop.test"],"uris":["/v1/users/:id"],"methods":["GET","POST","HEAD"],"max_body_bytes":64}}`, 201)
	s.mustCall(t, "POST", "/v1/apis", `{"api":{"name":"slow","function":{"app":"shop","route":"/users/:id"},"hosts":["api.shop.test"],"uris":["/slow"],"timeout":1}}`, 201)
	s.mustCall(t, "POST", "/r/shop/users/0", `{}`, 200) // a warm container: the timings below are the gateway's

	type info struct {
		Method, URL string
		Params      map[string]string
		Headers     map[string][]string
	}
	call := func(method, host, path, body string, header ...string) (*http.Response, info) {
		t.Helper()
		res, raw := gatewayCall(t, plain, method, host, path, body, header...)
		var in info
		if res.StatusCode == 200 && method != "HEAD" {
			if err := json.Unmarshal([]byte(raw), &in); err != nil {
				t.Fatalf("%s %s%s: %q", method, host, path, raw)
			}
		}
		return res, in
	}
	eventually(t, "new API", func() error { // a new API reaches the gateway within a second
		if res, _ := gatewayCall(t, plain, "POST", "api.shop.test", "/v1/users/1", `{}`); res.StatusCode != 200 {
			return fmt.Errorf("%d", res.StatusCode)
		}
		return nil
	})
	res, in := call("POST", "api.shop.test", "/v1/users/42/orders?x=1", `{"request":true}`)
	if res.StatusCode != 200 || in.Params["Id"] != "42" || in.URL != "/orders?x=1" || in.Method != "POST" ||
		res.Header.Get("Gantry-Call-Id") == "" || res.Header.Get("Gantry-Route") != "shop/users/:id" {
		t.Fatalf("gateway call: %d %+v %v", res.StatusCode, in, res.Header)
	}
	if res, _ := call("POST", "eu.shop.test", "/v1/users/7", `{"request":true}`); res.StatusCode != 200 {
		t.Fatalf("wildcard host: %d", res.StatusCode)
	}
	for _, c := range []struct{ method, host, path string }{
		{"POST", "shop.test", "/v1/users/7"},      // the wildcard is for subdomains only
		{"POST", "api.other.test", "/v1/users/7"}, // another host
		{"DELETE", "api.shop.test", "/v1/users/7"},
		{"POST", "api.shop.test", "/v1/usersx/7"},
	} {
		if res, raw := gatewayCall(t, plain, c.method, c.host, c.path, `{}`); res.StatusCode != 404 {
			t.Errorf("%s %s%s: %d %s, want 404", c.method, c.host, c.path, res.StatusCode, raw)
		}
	}
	if res, raw := gatewayCall(t, plain, "HEAD", "api.shop.test", "/v1/users/1", ""); res.StatusCode != 200 || raw != "" || res.ContentLength != int64(len("Hello World!")) {
		t.Fatalf("HEAD: %d %q, Content-Length %d", res.StatusCode, raw, res.ContentLength)
	}

	// Limits: a body over max_body_bytes is refused without running the function; a slow
	// function past the API's timeout gets 504.
	before := countExecutions(t, s, "shop")
	if res, raw := gatewayCall(t, plain, "POST", "api.shop.test", "/v1/users/1", strings.Repeat("x", 65)); res.StatusCode != 413 || !res.Close {
		t.Fatalf("body over the limit: %d %s (connection closed: %v)", res.StatusCode, raw, res.Close)
	}
	if after := countExecutions(t, s, "shop"); after != before {
		t.Fatalf("a refused body ran the function: %d executions, then %d", before, after)
	}
	if res, raw := gatewayCall(t, plain, "POST", "api.shop.test", "/slow", `{"sleep_ms":3000}`); res.StatusCode != 504 || !strings.Contains(raw, "Timed out") {
		t.Fatalf("slow function: %d %s", res.StatusCode, raw)
	}

	// Updates reach the gateway within a second: a new host, then basic auth.
	// (Each check is answered by the gateway itself, so that a slow function cannot blur the second.)
	s.mustCall(t, "PATCH", "/v1/apis/users", `{"api":{"hosts":["new.shop.test"]}}`, 200)
	eventually(t, "old host gone", func() error {
		if res, _ := gatewayCall(t, plain, "POST", "api.shop.test", "/v1/users/1", `{}`); res.StatusCode != 404 {
			return fmt.Errorf("old host: %d", res.StatusCode)
		}
		return nil
	})
	if res, raw := gatewayCall(t, plain, "POST", "new.shop.test", "/v1/users/1", `{}`); res.StatusCode != 200 {
		t.Fatalf("new host: %d %s", res.StatusCode, raw)
	}
	s.mustCall(t, "PATCH", "/v1/apis/users", `{"api":{"authentication":"basic","basic_users":[{"username":"ann","password":"open sesame"}]}}`, 200)
	eventually(t, "basic auth", func() error {
		if res, _ := gatewayCall(t, plain, "POST", "new.shop.test", "/v1/users/1", `{}`); res.StatusCode != 401 || !strings.HasPrefix(res.Header.Get("WWW-Authenticate"), "Basic ") {
			return fmt.Errorf("no credentials: %d %v", res.StatusCode, res.Header)
		}
		return nil
	})
	basic := func(user, pass string) string {
		req, _ := http.NewRequest("GET", "/", nil)
		req.SetBasicAuth(user, pass)
		return req.Header.Get("Authorization")
	}
	if res, _ := call("POST", "new.shop.test", "/v1/users/1", `{"request":true}`, "Authorization", basic("ann", "wrong password")); res.StatusCode != 401 {
		t.Fatalf("wrong password: %d", res.StatusCode)
	}
	res, in = call("POST", "new.shop.test", "/v1/users/1", `{"request":true}`, "Authorization", basic("ann", "open sesame"))
	if res.StatusCode != 200 || in.Headers["Authorization"] != nil {
		t.Fatalf("right password: %d, the function saw %v", res.StatusCode, in.Headers["Authorization"])
	}

	// An API pointed at a function that does not exist (yet): 502 with a clear message.
	s.mustCall(t, "POST", "/v1/apis", `{"api":{"name":"later","function":{"app":"shop","route":"/nope"},"uris":["/later"]}}`, 201)
	eventually(t, "missing function", func() error {
		if res, raw := gatewayCall(t, plain, "GET", "any.test", "/later", ""); res.StatusCode != 502 || !strings.Contains(raw, "function") {
			return fmt.Errorf("%d %s", res.StatusCode, raw)
		}
		return nil
	})

	// Metrics (admin only) count the calls per API (a deleted API's series go with it).
	res, raw := s.callWith(t, "GET", "/metrics", "", "Authorization", "Bearer "+s.token)
	if res.StatusCode != 200 || !strings.Contains(raw, `gantry_gateway_requests_total{api="users",code="200"}`) ||
		!strings.Contains(raw, `gantry_gateway_request_duration_seconds_bucket{api="users"`) {
		t.Fatalf("metrics: %d\n%.2000s", res.StatusCode, raw)
	}
	if res, _ := s.callWith(t, "GET", "/metrics", ""); res.StatusCode != 401 {
		t.Fatalf("metrics without credentials: %d", res.StatusCode)
	}
	// Deleting the API: 404 at the gateway within a second.
	s.mustCall(t, "DELETE", "/v1/apis/users", "", 204)
	eventually(t, "deleted API", func() error {
		if res, _ := gatewayCall(t, plain, "POST", "new.shop.test", "/v1/users/1", `{}`, "Authorization", basic("ann", "open sesame")); res.StatusCode != 404 {
			return fmt.Errorf("%d", res.StatusCode)
		}
		return nil
	})

	// The access log has a line per request.
	access, err := os.ReadFile(filepath.Join(dir, "access.log"))
	if err != nil || !strings.Contains(string(access), `"api":"users"`) || strings.Contains(string(access), "open sesame") {
		t.Fatalf("access log: %v\n%.1000s", err, access)
	}
}

// countExecutions counts an app's executions (the admin sees them all).
func countExecutions(t *testing.T, s *server, app string) int {
	t.Helper()
	_, body := s.mustCall(t, "GET", "/v1/executions?per_page=100&app="+app, "", 200)
	var page struct{ Executions []json.RawMessage }
	if err := json.Unmarshal([]byte(body), &page); err != nil {
		t.Fatal(err)
	}
	return len(page.Executions)
}

// TestGatewayHTTPS: the server's HTTPS gateway listener serves each API's own certificate by
// SNI, and https_only APIs redirect plain GETs there; an API is re-pointed at another function.
func TestGatewayHTTPS(t *testing.T) {
	t.Parallel()
	s := startServer(t, t.TempDir())
	plain, secure := s.gatewayAddrs(t)
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "c.pem"), filepath.Join(dir, "k.pem")
	leaf := writeCertFor(t, certFile, keyFile, "secure.shop.test")
	certPEM, _ := os.ReadFile(certFile)
	keyPEM, _ := os.ReadFile(keyFile)
	s.mustCall(t, "POST", "/v1/apps", `{"app":{"name":"shop"}}`, 201)
	s.mustCall(t, "POST", "/v1/apps/shop/routes", `{"route":{"path":"/hello","image":"`+imgTestfn+`","format":"http"}}`, 201)
	s.mustCall(t, "POST", "/v1/apps/shop/routes", `{"route":{"path":"/other","image":"`+imgTestfn+`","format":"http","config":{"WHICH":"other"}}}`, 201)
	body, _ := json.Marshal(map[string]any{"api": map[string]any{
		"name": "secure", "function": map[string]string{"app": "shop", "route": "/hello"}, "hosts": []string{"secure.shop.test"},
		"uris": []string{"/"}, "https_only": true, "tls": map[string]string{"certificate": string(certPEM), "key": string(keyPEM)},
	}})
	s.mustCall(t, "POST", "/v1/apis", string(body), 201)

	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: "secure.shop.test"}}}
	var peer *x509.Certificate
	eventually(t, "HTTPS API", func() error {
		req, _ := http.NewRequest("GET", "https://"+secure+"/greet", nil)
		req.Host = "secure.shop.test"
		res, err := client.Do(req)
		if err != nil {
			return err
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		if res.StatusCode != 200 || string(b) != "Hello World!" {
			return fmt.Errorf("%d %q", res.StatusCode, b)
		}
		peer = res.TLS.PeerCertificates[0]
		return nil
	})
	if peer.SerialNumber.Cmp(leaf.SerialNumber) != 0 {
		t.Fatalf("peer certificate %v, want the API's", peer.Subject)
	}
	// Plain HTTP: GET is redirected to the HTTPS listener, POST refused.
	_, port, _ := net.SplitHostPort(secure)
	res, _ := gatewayCall(t, plain, "GET", "secure.shop.test", "/greet?x=1", "")
	if res.StatusCode != 308 || res.Header.Get("Location") != "https://secure.shop.test:"+port+"/greet?x=1" {
		t.Fatalf("https_only GET: %d %q", res.StatusCode, res.Header.Get("Location"))
	}
	if res, raw := gatewayCall(t, plain, "POST", "secure.shop.test", "/greet", "{}"); res.StatusCode != 400 {
		t.Fatalf("https_only POST: %d %s", res.StatusCode, raw)
	}

	// Re-pointed at another function, the API calls it.
	s.mustCall(t, "PATCH", "/v1/apis/secure", `{"api":{"function":{"app":"shop","route":"/other"}}}`, 200)
	eventually(t, "re-pointed API", func() error {
		req, _ := http.NewRequest("POST", "https://"+secure+"/", strings.NewReader(`{"env":true,"env_keys":["WHICH"]}`))
		req.Host = "secure.shop.test"
		res, err := client.Do(req)
		if err != nil {
			return err
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		if !strings.Contains(string(b), `"WHICH":"other"`) {
			return fmt.Errorf("%d %s", res.StatusCode, b)
		}
		return nil
	})
}

// TestGatewayHTTPSPortFlag: behind NAT or a load balancer, https_only redirects name the port
// clients reach HTTPS on, not the listener's.
func TestGatewayHTTPSPortFlag(t *testing.T) {
	t.Parallel()
	s := startServer(t, t.TempDir(), "GANTRY_GATEWAY_HTTPS_PORT=9443")
	plain, _ := s.gatewayAddrs(t)
	s.mustCall(t, "POST", "/v1/apis", `{"api":{"name":"r","function":{"app":"a","route":"/f"},"hosts":["r.test"],"uris":["/"],"https_only":true}}`, 201)
	eventually(t, "redirect", func() error {
		res, _ := gatewayCall(t, plain, "GET", "r.test", "/x", "")
		if res.StatusCode != 308 || res.Header.Get("Location") != "https://r.test:9443/x" {
			return fmt.Errorf("%d %q", res.StatusCode, res.Header.Get("Location"))
		}
		return nil
	})
}

// TestGatewayMisdirected: over real TLS connections to the server's gateway, a request whose
// Host is another owner's API than the one whose certificate the SNI chose gets 421 with the
// Error body; a request that agrees with its connection is served (here: 502, as the API's
// function does not exist, which the gateway says only once it serves the API).
func TestGatewayMisdirected(t *testing.T) {
	t.Parallel()
	s := startServer(t, t.TempDir())
	_, secure := s.gatewayAddrs(t)
	dir := t.TempDir()
	pool := x509.NewCertPool()
	for _, api := range []struct{ name, host, owner string }{{"ada", "a.shop.test", "ada"}, {"bob", "b.shop.test", "bob"}} {
		certFile, keyFile := filepath.Join(dir, api.name+".pem"), filepath.Join(dir, api.name+".key")
		pool.AddCert(writeCertFor(t, certFile, keyFile, api.host))
		certPEM, _ := os.ReadFile(certFile)
		keyPEM, _ := os.ReadFile(keyFile)
		body, _ := json.Marshal(map[string]any{"api": map[string]any{
			"name": api.name, "function": map[string]string{"app": "nope", "route": "/f"}, "hosts": []string{api.host},
			"uris": []string{"/"}, "tls": map[string]string{"certificate": string(certPEM), "key": string(keyPEM)},
		}})
		s.mustCall(t, "POST", "/v1/apis", string(body), 201)
		s.mustCall(t, "PATCH", "/v1/apis/"+api.name, `{"api":{"owner":"`+api.owner+`"}}`, 200)
	}
	send := func(sni, host string) (*http.Response, string, error) {
		client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: sni}}}
		defer client.CloseIdleConnections()
		req, _ := http.NewRequest("GET", "https://"+secure+"/x", nil)
		req.Host = host
		res, err := client.Do(req)
		if err != nil {
			return nil, "", err
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res, string(b), nil
	}
	eventually(t, "APIs served", func() error {
		if res, raw, err := send("b.shop.test", "b.shop.test"); err != nil || res.StatusCode != 502 {
			return fmt.Errorf("%v %v %s", err, res, raw)
		}
		return nil
	})
	for _, tt := range []struct {
		sni, host string
		status    int
	}{
		{"a.shop.test", "a.shop.test", 502},
		{"a.shop.test", "b.shop.test", 421},
		{"b.shop.test", "a.shop.test", 421},
	} {
		res, raw, err := send(tt.sni, tt.host)
		if err != nil {
			t.Fatalf("SNI %s, Host %s: %v", tt.sni, tt.host, err)
		}
		var e struct {
			Error struct{ Message string } `json:"error"`
		}
		if res.StatusCode != tt.status || json.Unmarshal([]byte(raw), &e) != nil || e.Error.Message == "" ||
			res.Header.Get("Content-Type") != "application/json" {
			t.Errorf("SNI %s, Host %s: %d %s %q, want %d with the Error body", tt.sni, tt.host, res.StatusCode,
				res.Header.Get("Content-Type"), raw, tt.status)
		}
	}
}
