package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/gen/models"
)

// writeTestCert writes a self-signed certificate for dnsNames and its key
// as PEM files in a temporary directory and returns their paths and contents.
func writeTestCert(t *testing.T, dnsNames ...string) (certFile, keyFile, certPEM, keyPEM string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: dnsNames[0]},
		DNSNames:     dnsNames,
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certPEM = string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
	keyPEM = string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}))
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, []byte(certPEM), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, []byte(keyPEM), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile, certPEM, keyPEM
}

// checkJSONBody fails unless body is the same JSON as want, member for
// member: no field more, none less, no null in place of an absent field.
func checkJSONBody(t *testing.T, body string, want any) {
	t.Helper()
	var got any
	if err := json.Unmarshal([]byte(body), &got); err != nil {
		t.Fatalf("body %q is not JSON: %v", body, err)
	}
	wantJSON, err := json.Marshal(want)
	if err != nil {
		t.Fatal(err)
	}
	var wantValue any
	if err := json.Unmarshal(wantJSON, &wantValue); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, wantValue) {
		t.Errorf("body\n%s\nwant\n%s", body, wantJSON)
	}
}

// sampleAPI is the fake API's answer for one API.
const sampleAPI = `{"api":{"name":"users","owner":"alice","function":{"app":"shop","route":"/users/:id"},` +
	`"hosts":["api.example.com"],"uris":["/users/:id"],"methods":["GET"],"protocols":["https"],` +
	`"authentication":"basic","basic_users":[{"username":"alice"}],"rate_limit":{"rps":10,"burst":20,"per":"client"},` +
	`"timeout":5,"max_body_bytes":1048576,"enabled":true,"https_only":true,"created_at":"2024-05-06T07:08:09Z"}}`

func TestAPIsCreateCLI(t *testing.T) {
	certFile, keyFile, certPEM, keyPEM := writeTestCert(t, "api.example.com")
	var contentType string
	u, seen := fakeAPI(t, func(r *http.Request) (int, string) {
		contentType = r.Header.Get("Content-Type")
		return 201, sampleAPI
	})
	out, _, err := runRootCLI(t, u, "apis", "create", "users",
		"--function", "shop/users/:id",
		"--host", "api.example.com", "--host", "*.example.org",
		"--path", "/users/:id", "--path", "/people",
		"--method", "get", "--method", "POST",
		"--protocol", "https", "--https-only",
		"--auth", "basic", "--user", "alice:pa:ss:word1", "--user", "bob:hunter2hunter2",
		"--cors-origin", "https://app.example.com", "--cors-method", "GET", "--cors-header", "X-Trace",
		"--rate", "600/m", "--burst", "20", "--rate-per", "client",
		"--timeout", "5s", "--max-body", "1MiB",
		"--tls-cert", certFile, "--tls-key", keyFile,
		"--disabled")
	if err != nil {
		t.Fatal(err)
	}
	got := onlyRequest(t, seen)
	if got.method != http.MethodPost || got.rawPath != "/v1/apis" {
		t.Errorf("request %s %s, want POST /v1/apis", got.method, got.rawPath)
	}
	if contentType != "application/json" {
		t.Errorf("Content-Type %q, want application/json", contentType)
	}
	checkJSONBody(t, got.body, map[string]any{"api": map[string]any{
		"name":           "users",
		"function":       map[string]any{"app": "shop", "route": "/users/:id"},
		"hosts":          []string{"api.example.com", "*.example.org"},
		"uris":           []string{"/users/:id", "/people"},
		"methods":        []string{"GET", "POST"},
		"protocols":      []string{"https"},
		"https_only":     true,
		"authentication": "basic",
		"basic_users": []map[string]string{
			{"username": "alice", "password": "pa:ss:word1"},
			{"username": "bob", "password": "hunter2hunter2"},
		},
		"cors":           map[string]any{"origins": []string{"https://app.example.com"}, "methods": []string{"GET"}, "headers": []string{"X-Trace"}},
		"rate_limit":     map[string]any{"rps": 10, "burst": 20, "per": "client"},
		"timeout":        5,
		"max_body_bytes": 1 << 20,
		"tls":            map[string]string{"certificate": certPEM, "key": keyPEM},
		"enabled":        false,
	}})
	if !strings.Contains(out, "Function:") || !strings.Contains(out, "shop/users/:id") {
		t.Errorf("output does not show the created API:\n%s", out)
	}
}

func TestAPIsCreateCLIMinimal(t *testing.T) {
	u, seen := fakeAPI(t, func(*http.Request) (int, string) { return 201, sampleAPI })
	if _, _, err := runRootCLI(t, u, "api", "create", "hello", "--function", "demo/hello", "--path", "/hello"); err != nil {
		t.Fatal(err)
	}
	// Only the flags given: no null lists, no defaults filled in by the CLI.
	checkJSONBody(t, onlyRequest(t, seen).body, map[string]any{"api": map[string]any{
		"name":     "hello",
		"function": map[string]any{"app": "demo", "route": "/hello"},
		"uris":     []string{"/hello"},
	}})
}

func TestAPIsUpdateCLISendsOnlyGivenFields(t *testing.T) {
	certFile, keyFile, certPEM, keyPEM := writeTestCert(t, "new.example.com")
	tests := []struct {
		name string
		args []string
		want map[string]any
	}{
		{name: "hosts only", args: []string{"--host", "a.example.com", "--host", "b.example.com"},
			want: map[string]any{"hosts": []string{"a.example.com", "b.example.com"}}},
		{name: "empty host list means any host", args: []string{"--host", ""},
			want: map[string]any{"hosts": []string{}}},
		{name: "no tls", args: []string{"--no-tls"},
			want: map[string]any{"tls": map[string]any{}}},
		{name: "new tls", args: []string{"--tls-cert", certFile, "--tls-key", keyFile},
			want: map[string]any{"tls": map[string]string{"certificate": certPEM, "key": keyPEM}}},
		{name: "no rate limit", args: []string{"--no-rate-limit"},
			want: map[string]any{"rate_limit": map[string]any{"rps": 0}}},
		{name: "rate", args: []string{"--rate", "2/s"},
			want: map[string]any{"rate_limit": map[string]any{"rps": 2}}},
		{name: "users keep or set passwords", args: []string{"--user", "alice", "--user", "carol:longpassword"},
			want: map[string]any{"basic_users": []map[string]string{{"username": "alice"}, {"username": "carol", "password": "longpassword"}}}},
		{name: "disable and give away", args: []string{"--disable", "--owner", "bob"},
			want: map[string]any{"enabled": false, "owner": "bob"}},
		{name: "enable", args: []string{"--enable"},
			want: map[string]any{"enabled": true}},
		{name: "https only off", args: []string{"--https-only=false"},
			want: map[string]any{"https_only": false}},
		{name: "function and timeout", args: []string{"--function", "shop/v2/users", "--timeout", "30"},
			want: map[string]any{"function": map[string]any{"app": "shop", "route": "/v2/users"}, "timeout": 30}},
		{name: "oidc", args: []string{"--oidc-issuer", "https://id.example.com"},
			want: map[string]any{"oidc": map[string]any{"issuer": "https://id.example.com"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, seen := fakeAPI(t, func(*http.Request) (int, string) { return 200, sampleAPI })
			if _, _, err := runRootCLI(t, u, append([]string{"apis", "update", "users"}, tt.args...)...); err != nil {
				t.Fatal(err)
			}
			got := onlyRequest(t, seen)
			if got.method != http.MethodPatch || got.rawPath != "/v1/apis/users" {
				t.Errorf("request %s %s, want PATCH /v1/apis/users", got.method, got.rawPath)
			}
			checkJSONBody(t, got.body, map[string]any{"api": tt.want})
		})
	}
}

func TestAPIsListCLIOwner(t *testing.T) {
	u, seen := fakeAPI(t, func(*http.Request) (int, string) {
		return 200, `{"apis":[` +
			`{"name":"users","owner":"alice","function":{"app":"shop","route":"/users/:id"},"hosts":["api.example.com","*.example.org"],` +
			`"uris":["/users/:id","/people"],"authentication":"basic","enabled":true},` +
			`{"name":"open","owner":"alice","function":{"app":"demo","route":"/hello"},"hosts":[],"uris":["/"],"enabled":false}` +
			`],"next_cursor":"n1"}`
	})
	out, errOut, err := runRootCLI(t, u, "apis", "ls", "--owner", "me")
	if err != nil {
		t.Fatal(err)
	}
	got := onlyRequest(t, seen)
	if got.method != http.MethodGet || got.rawPath != "/v1/apis" || got.query.Get("owner") != "me" || got.query.Get("per_page") != "30" {
		t.Errorf("request %s %s %v", got.method, got.rawPath, got.query)
	}
	want := "" +
		"NAME   FUNCTION        HOSTS                          URIS                AUTH    ENABLED  OWNER\n" +
		"users  shop/users/:id  api.example.com,*.example.org  /users/:id,/people  basic   true     alice\n" +
		"open   demo/hello      (any)                          /                   public  false    alice\n"
	if out != want {
		t.Errorf("got\n%s\nwant\n%s", out, want)
	}
	if !strings.Contains(errOut, "--cursor n1") {
		t.Errorf("stderr %q does not tell how to get the next page", errOut)
	}
}

func TestAPIsListCLIAllPagesJSON(t *testing.T) {
	u, seen := fakeAPI(t, func(r *http.Request) (int, string) {
		if r.URL.Query().Get("cursor") == "" {
			return 200, `{"apis":[{"name":"a","uris":["/a"]}],"next_cursor":"n1"}`
		}
		return 200, `{"apis":[{"name":"b","uris":["/b"]}]}`
	})
	out, _, err := runRootCLI(t, u, "-o", "json", "apis", "list", "--all")
	if err != nil {
		t.Fatal(err)
	}
	if len(*seen) != 2 || (*seen)[0].query.Has("owner") || (*seen)[1].query.Get("cursor") != "n1" {
		t.Errorf("requests %+v", *seen)
	}
	var w models.ApisWrapper
	if err := json.Unmarshal([]byte(out), &w); err != nil || len(w.Apis) != 2 || w.Apis[1].Name != "b" {
		t.Errorf("-o json is not the ApisWrapper of both pages (%v):\n%s", err, out)
	}
}

func TestAPIsGetCLIHidesSecrets(t *testing.T) {
	_, _, certPEM, _ := writeTestCert(t, "api.example.com")
	certJSON, _ := json.Marshal(certPEM)
	// A server that wrongly sends the key and a password: the CLI still never shows them.
	answer := `{"api":{"name":"users","owner":"alice","function":{"app":"shop","route":"/users/:id"},` +
		`"hosts":["api.example.com"],"uris":["/users/:id"],"methods":[],"authentication":"basic",` +
		`"basic_users":[{"username":"alice","password":"SECRET-PASSWORD"},{"username":"bob"}],` +
		`"tls":{"certificate":` + string(certJSON) + `,"key":"SECRET-KEY","dns_names":["api.example.com","www.example.com"],"not_after":"2030-01-02T03:04:05Z"},` +
		`"rate_limit":{"rps":10,"burst":20,"per":"client"},"timeout":5,"max_body_bytes":524288,"enabled":true,"https_only":false}}`
	u, seen := fakeAPI(t, func(*http.Request) (int, string) { return 200, answer })

	out, _, err := runRootCLI(t, u, "apis", "get", "users")
	if err != nil {
		t.Fatal(err)
	}
	if got := onlyRequest(t, seen); got.method != http.MethodGet || got.rawPath != "/v1/apis/users" {
		t.Errorf("request %s %s", got.method, got.rawPath)
	}
	for _, line := range []string{
		"Function:        shop/users/:id\n",
		"Methods:         (any)\n",
		"Basic users:     alice,bob\n",
		"Rate limit:      10/s, burst 20, per client\n",
		"Timeout:         5s\n",
		"Max body:        512KiB\n",
		"TLS names:       api.example.com,www.example.com\n",
		"TLS expires:     2030-01-02T03:04:05Z\n",
	} {
		if !strings.Contains(out, line) {
			t.Errorf("output lacks %q:\n%s", line, out)
		}
	}
	for _, secret := range []string{"SECRET", "BEGIN CERTIFICATE"} {
		if strings.Contains(out, secret) {
			t.Errorf("output shows %q:\n%s", secret, out)
		}
	}

	out, _, err = runRootCLI(t, u, "-o", "json", "apis", "get", "users")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out, "SECRET") {
		t.Errorf("-o json shows a secret:\n%s", out)
	}
	var w models.APIWrapper
	if err := json.Unmarshal([]byte(out), &w); err != nil || w.API == nil || w.API.TLS == nil || len(w.API.TLS.DNSNames) != 2 {
		t.Errorf("-o json is not the APIWrapper (%v):\n%s", err, out)
	}
}

func TestAPIsDeleteCLI(t *testing.T) {
	u, seen := fakeAPI(t, func(*http.Request) (int, string) { return 204, "" })
	out, _, err := runRootCLI(t, u, "apis", "rm", "users")
	if err != nil {
		t.Fatal(err)
	}
	if got := onlyRequest(t, seen); got.method != http.MethodDelete || got.rawPath != "/v1/apis/users" {
		t.Errorf("request %s %s, want DELETE /v1/apis/users", got.method, got.rawPath)
	}
	if want := "API \"users\" deleted\n"; out != want {
		t.Errorf("got %q, want %q", out, want)
	}
}

func TestAPIsCLIServerError(t *testing.T) {
	u, _ := fakeAPI(t, func(*http.Request) (int, string) {
		return 409, `{"error":{"message":"API \"users\" already exists"}}`
	})
	_, _, err := runRootCLI(t, u, "apis", "create", "users", "--function", "shop/users", "--path", "/users")
	if err == nil || err.Error() != `API "users" already exists` {
		t.Errorf("err = %v", err)
	}
}

func TestAPIsCLIRejectsBadFlags(t *testing.T) {
	certFile, keyFile, _, _ := writeTestCert(t, "a.example.com")
	otherCert, _, _, _ := writeTestCert(t, "b.example.com")
	missing := filepath.Join(t.TempDir(), "missing.pem")
	create := []string{"apis", "create", "users", "--function", "shop/users", "--path", "/users"}
	update := []string{"apis", "update", "users"}
	tests := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{name: "rate unit", args: slices.Concat(create, []string{"--rate", "10/d"}), wantErr: `--rate "10/d": want a number of requests per second, minute or hour`},
		{name: "rate number", args: slices.Concat(update, []string{"--rate", "fast/s"}), wantErr: `--rate "fast/s": want a number`},
		{name: "rate without unit", args: slices.Concat(update, []string{"--rate", "10"}), wantErr: `--rate "10": want`},
		{name: "rate zero", args: slices.Concat(update, []string{"--rate", "0/s"}), wantErr: `--rate "0/s": must be positive`},
		{name: "burst without rate", args: slices.Concat(update, []string{"--burst", "5"}), wantErr: "--burst and --rate-per need --rate"},
		{name: "bad burst", args: slices.Concat(update, []string{"--rate", "1/s", "--burst", "0"}), wantErr: "--burst 0: must be between 1 and 1000000"},
		{name: "rate per", args: slices.Concat(update, []string{"--rate", "1/s", "--rate-per", "ip"}), wantErr: `--rate-per "ip": want one of api, client`},
		{name: "function without slash", args: slices.Concat(update, []string{"--function", "shop"}), wantErr: `--function "shop": want APP/ROUTE`},
		{name: "function without app", args: slices.Concat(update, []string{"--function", "/users"}), wantErr: `--function "/users": want APP/ROUTE`},
		{name: "user without colon on create", args: slices.Concat(create, []string{"--auth", "basic", "--user", "alice"}), wantErr: `--user "alice": want USER:PASSWORD`},
		{name: "user without name", args: slices.Concat(update, []string{"--user", ":longpassword"}), wantErr: "--user: empty user name"},
		{name: "short password not shown", args: slices.Concat(update, []string{"--user", "alice:sh0rt"}), wantErr: `the password of "alice" must be 8 to 72 characters long`},
		{name: "user twice", args: slices.Concat(update, []string{"--user", "alice:longpassword", "--user", "alice"}), wantErr: `user "alice" given more than once`},
		{name: "users without basic auth on create", args: slices.Concat(create, []string{"--user", "alice:longpassword"}), wantErr: "--user: users are only checked with --auth basic"},
		{name: "oidc without oidc auth on create", args: slices.Concat(create, []string{"--oidc-issuer", "https://id.example.com"}), wantErr: "are only used with --auth oidc"},
		{name: "auth", args: slices.Concat(update, []string{"--auth", "token"}), wantErr: `--auth "token": want one of public, basic, oidc`},
		{name: "method", args: slices.Concat(update, []string{"--method", "FETCH"}), wantErr: `--method "FETCH": want one of GET, HEAD`},
		{name: "protocol", args: slices.Concat(update, []string{"--protocol", "ftp"}), wantErr: `--protocol "ftp": want one of http, https`},
		{name: "path without slash", args: slices.Concat(update, []string{"--path", "users"}), wantErr: `--path "users": must start with /`},
		{name: "no path left", args: slices.Concat(update, []string{"--path", ""}), wantErr: "--path: an API needs at least one path"},
		{name: "empty host among others", args: slices.Concat(update, []string{"--host", "a.example.com", "--host", ""}), wantErr: "--host: empty value"},
		{name: "cors without origin", args: slices.Concat(update, []string{"--cors-header", "X-A"}), wantErr: "need --cors-origin"},
		{name: "timeout fraction", args: slices.Concat(update, []string{"--timeout", "1500ms"}), wantErr: `--timeout "1500ms": must be whole seconds`},
		{name: "timeout too long", args: slices.Concat(update, []string{"--timeout", "301s"}), wantErr: `--timeout "301s": must be between 1s and 300s`},
		{name: "timeout word", args: slices.Concat(update, []string{"--timeout", "soon"}), wantErr: `--timeout "soon": want a duration`},
		{name: "max body unit", args: slices.Concat(update, []string{"--max-body", "1GB"}), wantErr: `--max-body "1GB": want a number of bytes`},
		{name: "max body too big", args: slices.Concat(update, []string{"--max-body", "101MiB"}), wantErr: `--max-body "101MiB": at most 100MiB`},
		{name: "cert without key", args: slices.Concat(update, []string{"--tls-cert", certFile}), wantErr: "--tls-cert and --tls-key go together"},
		{name: "key without cert", args: slices.Concat(update, []string{"--tls-key", keyFile}), wantErr: "--tls-cert and --tls-key go together"},
		{name: "unreadable cert", args: slices.Concat(update, []string{"--tls-cert", missing, "--tls-key", keyFile}), wantErr: "--tls-cert: read"},
		{name: "cert not PEM", args: slices.Concat(update, []string{"--tls-cert", "/dev/null", "--tls-key", keyFile}), wantErr: "--tls-cert /dev/null: not a PEM file"},
		{name: "key of another cert", args: slices.Concat(update, []string{"--tls-cert", otherCert, "--tls-key", keyFile}), wantErr: "are not a certificate and its key"},
		{name: "no tls and a cert", args: slices.Concat(update, []string{"--no-tls", "--tls-cert", certFile}), wantErr: "none of the others can be"},
		{name: "no rate limit and a rate", args: slices.Concat(update, []string{"--no-rate-limit", "--rate", "1/s"}), wantErr: "none of the others can be"},
		{name: "enable and disable", args: slices.Concat(update, []string{"--enable", "--disable"}), wantErr: "none of the others can be"},
		{name: "empty owner", args: slices.Concat(update, []string{"--owner", ""}), wantErr: "--owner: empty owner"},
		{name: "nothing to update", args: update, wantErr: `update API "users": nothing to change`},
		{name: "create without path", args: []string{"apis", "create", "users", "--function", "shop/users"}, wantErr: `required flag(s) "path" not set`},
		{name: "bad name", args: []string{"apis", "create", "no/slash", "--function", "shop/users", "--path", "/users"}, wantErr: "invalid API: api.name in body should match"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, seen := fakeAPI(t, func(*http.Request) (int, string) { return 200, sampleAPI })
			_, _, err := runRootCLI(t, u, tt.args...)
			checkErr(t, err, tt.wantErr)
			if strings.Contains(err.Error(), "sh0rt") {
				t.Errorf("error %q shows the password", err)
			}
			if len(*seen) != 0 {
				t.Errorf("%d requests sent for invalid flags", len(*seen))
			}
		})
	}
}
