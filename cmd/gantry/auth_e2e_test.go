package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/oauth2-proxy/mockoidc"

	"github.com/gantry-dev/gantry/gen/client/apps"
	authops "github.com/gantry-dev/gantry/gen/client/auth"
	"github.com/gantry-dev/gantry/gen/client/routes"
	"github.com/gantry-dev/gantry/gen/models"
)

// TestFirstStartMakesAdminToken: authentication is on by default; the first start writes an
// admin token readable by its owner only and says where; a restart keeps it; the secret
// never reaches the logs.
func TestFirstStartMakesAdminToken(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := startServer(t, dir)
	info, err := os.Stat(filepath.Join(dir, "admin.token"))
	if err != nil {
		t.Fatal(err)
	}
	if info.Mode().Perm() != 0o600 {
		t.Fatalf("admin.token mode %v, want 0600", info.Mode().Perm())
	}
	if !strings.HasPrefix(s.token, "gantry_") {
		t.Fatalf("admin.token holds %q", s.token)
	}
	if !strings.Contains(s.logText(), filepath.Join(dir, "admin.token")) {
		t.Fatalf("the log does not say where the token is:\n%s", s.logText())
	}
	res, _ := s.callWith(t, "GET", "/v1/apps", "", "Authorization", "")
	if res.StatusCode != 401 {
		t.Fatalf("GET /v1/apps without credentials: %d", res.StatusCode)
	}
	who, err := s.client().Auth.WhoamiContext(context.Background(), authops.NewWhoamiParams(), nil)
	if err != nil || *who.Payload.Principal.Role != "admin" || *who.Payload.Principal.Name != "admin" {
		t.Fatalf("whoami with admin.token: %+v %v", who, err)
	}
	logs := s.logText()
	s.stop(t)

	s2 := startServer(t, dir)
	if s2.token != s.token {
		t.Fatal("a restart replaced the admin token")
	}
	if _, err := s2.client().Auth.WhoamiContext(context.Background(), authops.NewWhoamiParams(), nil); err != nil {
		t.Fatalf("admin token after a restart: %v", err)
	}
	list, err := s2.client().Auth.ListTokensContext(context.Background(), authops.NewListTokensParams(), nil)
	if err != nil || len(list.Payload.Tokens) != 1 {
		t.Fatalf("tokens after a restart: %+v %v (want the one first token)", list, err)
	}
	for _, text := range []string{logs, s2.logText()} {
		if strings.Contains(text, s.token) {
			t.Fatal("the admin token's secret is in the server log")
		}
	}
}

func TestAuthNoneIsExplicitAndLoud(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := startServer(t, dir, "GANTRY_AUTH=none")
	if !strings.Contains(s.logText(), "AUTHENTICATION IS OFF") {
		t.Fatalf("no warning:\n%s", s.logText())
	}
	if _, err := os.Stat(filepath.Join(dir, "admin.token")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("admin.token made with --auth=none: %v", err)
	}
	s.mustCall(t, "POST", "/v1/apps", `{"app":{"name":"open"}}`, 201)
}

// createToken makes an API token with the admin client and returns its secret.
func createToken(t *testing.T, s *server, user, role string) string {
	t.Helper()
	res, err := s.client().Auth.CreateTokenContext(context.Background(), authops.NewCreateTokenParams().WithBody(
		&models.TokenWrapper{Token: &models.Token{Name: user + " laptop", User: user, Role: role}}), nil)
	if err != nil {
		t.Fatalf("create token for %s: %v", user, err)
	}
	return res.Payload.Token.Secret
}

// TestEachDeveloperListsTheFunctionsTheyDefined: two developers define apps and routes;
// each lists exactly their own, cannot reach the other's, and an admin sees all of them.
func TestEachDeveloperListsTheFunctionsTheyDefined(t *testing.T) {
	t.Parallel()
	s := startServer(t, t.TempDir())
	ctx := context.Background()
	defined := map[string][]string{"alice": {"alice-shop", "alice-blog"}, "bob": {"bob-api"}}
	clients := map[string]string{}
	for _, user := range []string{"alice", "bob"} {
		clients[user] = createToken(t, s, user, "developer")
		c := s.clientAs(clients[user])
		for _, app := range defined[user] {
			if _, err := c.Apps.CreateAppContext(ctx, apps.NewCreateAppParams().WithBody(&models.AppWrapper{App: &models.App{Name: app}}), nil); err != nil {
				t.Fatalf("%s creates %s: %v", user, app, err)
			}
			for _, path := range []string{"/a", "/b"} {
				if _, err := c.Routes.CreateRouteContext(ctx, routes.NewCreateRouteParams().WithApp(app).WithBody(
					&models.RouteWrapper{Route: &models.Route{Path: path, Image: imgHello}}), nil); err != nil {
					t.Fatalf("%s creates %s%s: %v", user, app, path, err)
				}
			}
		}
	}
	listApps := func(token, owner string) []string {
		t.Helper()
		p := apps.NewListAppsParams()
		if owner != "" {
			p.SetOwner(&owner)
		}
		res, err := s.clientAs(token).Apps.ListAppsContext(ctx, p, nil)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, a := range res.Payload.Apps {
			names = append(names, a.Name+"@"+a.Owner)
		}
		return names
	}
	for _, c := range []struct {
		token, owner string
		want         []string
	}{
		{clients["alice"], "", []string{"alice-blog@alice", "alice-shop@alice"}},
		{clients["alice"], "me", []string{"alice-blog@alice", "alice-shop@alice"}},
		{clients["bob"], "", []string{"bob-api@bob"}},
		{s.token, "", []string{"alice-blog@alice", "alice-shop@alice", "bob-api@bob"}},
		{s.token, "bob", []string{"bob-api@bob"}},
	} {
		if got := listApps(c.token, c.owner); !slices.Equal(got, c.want) {
			t.Errorf("apps listed (owner=%q): %v, want %v", c.owner, got, c.want)
		}
	}
	// Routes of another's app: not found, as is the app itself.
	_, err := s.clientAs(clients["bob"]).Routes.ListRoutesContext(ctx, routes.NewListRoutesParams().WithApp("alice-shop"), nil)
	var nf *routes.ListRoutesNotFound
	if !errors.As(err, &nf) {
		t.Fatalf("bob lists alice's routes: %v, want 404", err)
	}
	rs, err := s.clientAs(clients["alice"]).Routes.ListRoutesContext(ctx, routes.NewListRoutesParams().WithApp("alice-shop"), nil)
	if err != nil || len(rs.Payload.Routes) != 2 {
		t.Fatalf("alice lists her routes: %+v %v", rs, err)
	}
}

// TestRouteWithTokenAuth: /r/ is open unless the route says auth: token; the credential
// Gantry checked, and any Gantry token, never reach the function.
func TestRouteWithTokenAuth(t *testing.T) {
	t.Parallel()
	s := startServer(t, t.TempDir())
	alice := createToken(t, s, "alice", "developer")
	s.mustCall(t, "POST", "/v1/apps", `{"app":{"name":"a"}}`, 201)
	s.mustCall(t, "POST", "/v1/apps/a/routes", `{"route":{"path":"/private","image":"`+imgTestfn+`","format":"http","auth":"token"}}`, 201)
	s.mustCall(t, "POST", "/v1/apps/a/routes", `{"route":{"path":"/open","image":"`+imgTestfn+`","format":"http"}}`, 201)
	in := `{"request":true}`

	res, body := s.callWith(t, "POST", "/r/a/private", in)
	if res.StatusCode != 401 || res.Header.Get("WWW-Authenticate") == "" || !strings.Contains(body, "credentials") {
		t.Fatalf("private route without a token: %d %q", res.StatusCode, body)
	}
	res, _ = s.callWith(t, "POST", "/r/a/private", in, "Authorization", "Bearer gantry_nope")
	if res.StatusCode != 401 {
		t.Fatalf("private route with a bad token: %d", res.StatusCode)
	}
	headersSeen := func(header ...string) map[string][]string {
		t.Helper()
		res, body := s.callWith(t, "POST", "/r/a/"+header[0], in, header[1:]...)
		if res.StatusCode != 200 {
			t.Fatalf("%s: %d %s", header[0], res.StatusCode, body)
		}
		var info struct{ Headers map[string][]string }
		if err := json.Unmarshal([]byte(body), &info); err != nil {
			t.Fatalf("%s: %q", header[0], body)
		}
		return info.Headers
	}
	if h := headersSeen("private", "Authorization", "Bearer "+alice, "X-Other", "1"); h["Authorization"] != nil || h["X-Other"] == nil {
		t.Fatalf("private route: the function saw headers %v", h)
	}
	if h := headersSeen("open", "Authorization", "Bearer "+alice); h["Authorization"] != nil {
		t.Fatalf("open route: the function saw a Gantry token: %v", h)
	}
	if h := headersSeen("open", "Authorization", "Bearer the-function's-own"); !slices.Equal(h["Authorization"], []string{"Bearer the-function's-own"}) {
		t.Fatalf("open route: the function's own credential did not reach it: %v", h)
	}
	// A Gantry token hidden behind another Authorization value is found too.
	req, _ := http.NewRequest("POST", "http://"+s.addr+"/r/a/open", strings.NewReader(in))
	req.Header.Add("Authorization", "Bearer the-function's-own")
	req.Header.Add("Authorization", "Bearer "+alice)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var info struct{ Headers map[string][]string }
	err = json.NewDecoder(res.Body).Decode(&info)
	res.Body.Close()
	if err != nil || info.Headers["Authorization"] != nil {
		t.Fatalf("two Authorization values, one a Gantry token: the function saw %v (%v)", info.Headers["Authorization"], err)
	}
	// Async calls of a private route are checked before they are queued.
	res, _ = s.callWith(t, "POST", "/r/a/private", in, "Gantry-Invoke-Type", "async")
	if res.StatusCode != 401 {
		t.Fatalf("async call of a private route without a token: %d", res.StatusCode)
	}
	if strings.Contains(s.logText(), alice) {
		t.Fatal("a token secret is in the server log")
	}
}

// TestOIDCIdentitySource runs the server against a real OIDC provider on loopback.
func TestOIDCIdentitySource(t *testing.T) {
	t.Parallel()
	idp, err := mockoidc.Run()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { idp.Shutdown() })
	s := startServer(t, t.TempDir(), "GANTRY_OIDC_ISSUER="+idp.Issuer(), "GANTRY_OIDC_AUDIENCE="+idp.ClientID,
		"GANTRY_OIDC_USERNAME_CLAIM=email", "GANTRY_OIDC_ADMIN_GROUP=platform")
	sign := func(claims jwt.MapClaims) string {
		t.Helper()
		now := time.Now()
		base := jwt.MapClaims{"iss": idp.Issuer(), "aud": idp.ClientID, "sub": "u-1", "iat": now.Unix(), "exp": now.Add(time.Hour).Unix()}
		for k, v := range claims {
			base[k] = v
		}
		tok, err := idp.Keypair.SignJWT(base)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	erin := sign(jwt.MapClaims{"email": "erin@example.com", "groups": []string{"dev", "eu"}})
	who, err := s.clientAs(erin).Auth.WhoamiContext(context.Background(), authops.NewWhoamiParams(), nil)
	if err != nil {
		t.Fatal(err)
	}
	p := who.Payload.Principal
	if *p.Name != "oidc:erin@example.com" || *p.Role != "developer" || *p.Kind != "oidc" || !slices.Equal(p.Groups, []string{"dev", "eu"}) {
		t.Fatalf("erin: %+v", p)
	}
	created, err := s.clientAs(erin).Apps.CreateAppContext(context.Background(), apps.NewCreateAppParams().WithBody(&models.AppWrapper{App: &models.App{Name: "erins"}}), nil)
	if err != nil || created.Payload.App.Owner != "oidc:erin@example.com" {
		t.Fatalf("erin creates an app: %+v %v", created, err)
	}
	ops := sign(jwt.MapClaims{"email": "olga@example.com", "groups": []string{"platform"}})
	who, err = s.clientAs(ops).Auth.WhoamiContext(context.Background(), authops.NewWhoamiParams(), nil)
	if err != nil || *who.Payload.Principal.Role != "admin" {
		t.Fatalf("admin group: %+v %v", who, err)
	}
	for name, bad := range map[string]string{
		"other audience": sign(jwt.MapClaims{"email": "x@example.com", "aud": "someone-else"}),
		"other issuer":   sign(jwt.MapClaims{"email": "x@example.com", "iss": "https://elsewhere.example"}),
		"expired":        sign(jwt.MapClaims{"email": "x@example.com", "exp": time.Now().Add(-time.Hour).Unix()}),
		"bad signature":  erin[:len(erin)-4] + "AAAA",
	} {
		res, body := s.callWith(t, "GET", "/v1/auth/whoami", "", "Authorization", "Bearer "+bad)
		if res.StatusCode != 401 {
			t.Errorf("%s: %d %s", name, res.StatusCode, body)
		}
	}
	if strings.Contains(s.logText(), erin) {
		t.Fatal("an OIDC token is in the server log")
	}
}

// ---- TLS ----

// writeCert writes a self-signed certificate for 127.0.0.1 named cn, and its key.
func writeCert(t *testing.T, certFile, keyFile, cn string) *x509.Certificate {
	t.Helper()
	return writeCertFor(t, certFile, keyFile, cn)
}

// writeCertFor writes a self-signed certificate named cn for 127.0.0.1 and the DNS name cn, and its key.
func writeCertFor(t *testing.T, certFile, keyFile, cn string) *x509.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{
		SerialNumber: serial, Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{cn}, KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, BasicConstraintsValid: true, IsCA: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	// New files replace the old ones by rename, as certificate tools do.
	for path, block := range map[string]*pem.Block{certFile: {Type: "CERTIFICATE", Bytes: der}, keyFile: {Type: "EC PRIVATE KEY", Bytes: keyDER}} {
		tmp := path + ".tmp"
		if err := os.WriteFile(tmp, pem.EncodeToMemory(block), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, path); err != nil {
			t.Fatal(err)
		}
	}
	cert, _ := x509.ParseCertificate(der)
	return cert
}

func TestTLSWithCertificateReload(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	first := writeCert(t, certFile, keyFile, "gantry-one")
	s := startServer(t, filepath.Join(dir, "data"), "GANTRY_TLS_CERT="+certFile, "GANTRY_TLS_KEY="+keyFile, "GANTRY_HTTP_ADDR=127.0.0.1:0")
	tlsAddr, plainAddr := s.ready.Addr, s.ready.HTTPAddr
	if !s.ready.TLS || plainAddr == "" {
		t.Fatalf("ready file %+v: want --addr with TLS and the plain --http-addr beside it", s.ready)
	}

	// handshake returns the certificate the server presents to a client that trusts roots.
	handshake := func(roots *x509.CertPool, version uint16) (*x509.Certificate, error) {
		conn, err := tls.Dial("tcp", tlsAddr, &tls.Config{RootCAs: roots, MinVersion: version, MaxVersion: version})
		if err != nil {
			return nil, err
		}
		defer conn.Close()
		return conn.ConnectionState().PeerCertificates[0], nil
	}
	pool := x509.NewCertPool()
	pool.AddCert(first)
	if got, err := handshake(pool, tls.VersionTLS12); err != nil || got.Subject.CommonName != "gantry-one" {
		t.Fatalf("TLS 1.2 handshake: %v %v", got, err)
	}
	if _, err := handshake(pool, tls.VersionTLS11); err == nil || !strings.Contains(err.Error(), "protocol version") {
		t.Fatalf("a TLS 1.1 handshake: %v, want the server's protocol version alert", err)
	}

	// An HTTPS request through the CLI's own client, trusting the certificate file.
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	req, _ := http.NewRequest("GET", "https://"+tlsAddr+"/v1/auth/whoami", nil)
	req.Header.Set("Authorization", "Bearer "+s.token)
	res, err := client.Do(req)
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("HTTPS request: %v %v", res, err)
	}
	res.Body.Close()
	// Plain HTTP to the TLS port is refused; the separate plain listener answers.
	if res, err := http.Get("http://" + tlsAddr + "/v1/version"); err == nil && res.StatusCode < 400 {
		t.Fatalf("plain HTTP on the TLS port: %d", res.StatusCode)
	}
	if res, err := http.Get("http://" + plainAddr + "/v1/version"); err != nil || res.StatusCode != 200 {
		t.Fatalf("plain listener: %v %v", res, err)
	}

	// A new certificate written to the same files is served without a restart.
	second := writeCert(t, certFile, keyFile, "gantry-two")
	pool.AddCert(second)
	deadline := time.Now().Add(10 * time.Second)
	for {
		got, err := handshake(pool, tls.VersionTLS13)
		if err == nil && got.Subject.CommonName == "gantry-two" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("still served %v (%v) 10s after the swap", got.Subject, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestFunctionSeesWhatTheCallerSent: the path as the caller escaped it (never a raw control
// character), and params and call metadata from Gantry alone, whatever Gantry-* headers the
// caller sent.
func TestFunctionSeesWhatTheCallerSent(t *testing.T) {
	t.Parallel()
	s := startServer(t, t.TempDir())
	s.mustCall(t, "POST", "/v1/apps", `{"app":{"name":"a"}}`, 201)
	s.mustCall(t, "POST", "/v1/apps/a/routes", `{"route":{"path":"/p/:id","image":"`+imgTestfn+`","format":"http"}}`, 201)
	res, body := s.callWith(t, "POST", "/r/a/p/a%3Fb%0Ac?q=1", `{"request":true}`,
		"Gantry-Param-Id", "spoofed", "Gantry-Call-Id", "spoofed", "Gantry-Invoke-Type", "sync")
	var info struct {
		URL     string
		CallID  string `json:"call_id"`
		Params  map[string]string
		Headers map[string][]string
	}
	if err := json.Unmarshal([]byte(body), &info); res.StatusCode != 200 || err != nil {
		t.Fatalf("%d %s", res.StatusCode, body)
	}
	// (Params travel as Gantry-Param-* headers in the http format, where a newline becomes a space.)
	if info.URL != "/p/a%3Fb%0Ac?q=1" || info.Params["Id"] != "a?b c" || info.CallID != res.Header.Get("Gantry-Call-Id") {
		t.Fatalf("the function saw url %q params %v call id %q", info.URL, info.Params, info.CallID)
	}
	for k := range info.Headers {
		if strings.HasPrefix(k, "Gantry-") && k != "Gantry-Call-Id" && k != "Gantry-Deadline" && k != "Gantry-Param-Id" {
			t.Errorf("the caller's header %s reached the function", k)
		}
	}
}
