package main

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gantry-dev/gantry/gen/models"
)

const testPublicKey = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFakeKeyForTheCLITestsOnly0123456789abcdefgh gantry:alice"

func TestSSHKeyCreateCLIPrintsThePublicKeyOnce(t *testing.T) {
	u, seen := fakeAPI(t, func(r *http.Request) (int, string) {
		if r.URL.Path == "/v1/auth/whoami" {
			return 200, `{"principal":{"name":"alice","role":"developer","kind":"token"}}`
		}
		return 201, `{"public_key":"` + testPublicKey + `","fingerprint":"SHA256:abc"}`
	})
	out, errOut, err := runRootCLI(t, u, "ssh-key", "create")
	if err != nil {
		t.Fatal(err)
	}
	if len(*seen) != 2 || (*seen)[0].rawPath != "/v1/auth/whoami" {
		t.Fatalf("requests %+v, want whoami then the POST", *seen)
	}
	if got := (*seen)[1]; got.method != http.MethodPost || got.rawPath != "/v1/users/alice/ssh-key" || got.body != "" {
		t.Errorf("request %s %s body %q, want a POST without body (the server's defaults)", got.method, got.rawPath, got.body)
	}
	if out != testPublicKey+"\n" {
		t.Errorf("stdout %q, want the public key line alone", out)
	}
	if !strings.Contains(errOut, "will not be shown again") || !strings.Contains(errOut, "SHA256:abc") {
		t.Errorf("stderr %q: want the fingerprint and the warning", errOut)
	}
}

func TestSSHKeyCreateCLIWithFlagsAndJSON(t *testing.T) {
	u, seen := fakeAPI(t, func(*http.Request) (int, string) {
		return 201, `{"public_key":"ssh-rsa AAAAB3 gantry:bob","fingerprint":"SHA256:rsa"}`
	})
	out, errOut, err := runRootCLI(t, u, "-o", "json", "ssh-key", "create", "--user", "bob", "--type", "rsa", "--bits", "4096")
	if err != nil {
		t.Fatal(err)
	}
	got := onlyRequest(t, seen)
	if got.rawPath != "/v1/users/bob/ssh-key" || strings.TrimSpace(got.body) != `{"bits":4096,"type":"rsa"}` {
		t.Errorf("request %s %s", got.rawPath, got.body)
	}
	var k models.SSHKeyCreated
	if err := json.Unmarshal([]byte(out), &k); err != nil || k.PublicKey == nil || *k.PublicKey != "ssh-rsa AAAAB3 gantry:bob" {
		t.Errorf("-o json is not the answer (%v):\n%s", err, out)
	}
	if !strings.Contains(errOut, "will not be shown again") {
		t.Errorf("stderr %q", errOut)
	}
}

func TestSSHKeyCreateCLIShowsTheServersRefusal(t *testing.T) {
	u, _ := fakeAPI(t, func(*http.Request) (int, string) {
		return 400, `{"error":{"message":"an RSA key has 3072 to 8192 bits (2048 given)","fields":"bits"}}`
	})
	out, _, err := runRootCLI(t, u, "ssh-key", "create", "--user", "bob", "--type", "rsa", "--bits", "2048")
	if err == nil || !strings.Contains(err.Error(), "3072 to 8192 bits") || !strings.Contains(err.Error(), "bits") || out != "" {
		t.Errorf("err %v, stdout %q", err, out)
	}
}

func TestSSHKeyGetAndDeleteCLI(t *testing.T) {
	u, seen := fakeAPI(t, func(r *http.Request) (int, string) {
		switch {
		case r.URL.Path == "/v1/auth/whoami":
			return 200, `{"principal":{"name":"erin","role":"user","kind":"oidc"}}`
		case r.Method == http.MethodDelete:
			return 204, ""
		}
		return 200, `{"ssh_key":{"user":"erin","type":"ed25519","fingerprint":"SHA256:x","comment":"gantry:erin","version":2,"versions":[1,2],"created_by":"erin"}}`
	})
	out, _, err := runRootCLI(t, u, "ssh-key", "get")
	if err != nil {
		t.Fatal(err)
	}
	if (*seen)[1].rawPath != "/v1/users/erin/ssh-key" || (*seen)[1].method != http.MethodGet {
		t.Errorf("request %+v", (*seen)[1])
	}
	for _, line := range []string{"User:         erin\n", "Fingerprint:  SHA256:x\n", "Bits:         -\n", "Versions:     1,2\n"} {
		if !strings.Contains(out, line) {
			t.Errorf("output lacks %q:\n%s", line, out)
		}
	}
	*seen = nil
	out, _, err = runRootCLI(t, u, "ssh-key", "delete", "--user", "erin")
	if err != nil {
		t.Fatal(err)
	}
	if got := onlyRequest(t, seen); got.method != http.MethodDelete || got.rawPath != "/v1/users/erin/ssh-key" {
		t.Errorf("request %s %s", got.method, got.rawPath)
	}
	if out != "SSH key of user \"erin\" deleted\n" {
		t.Errorf("output %q", out)
	}
}

const testSecretAnswer = `{"secret":{"name":"db","owner":"alice","keys":["password","user"],"version":1,"versions":[1],"created_by":"alice"}}`

func TestSecretsCreateCLISendsLiteralsAndFiles(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "pw")
	if err := os.WriteFile(path, []byte("p@ss\nword\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	u, seen := fakeAPI(t, func(*http.Request) (int, string) { return 201, testSecretAnswer })
	out, _, err := runRootCLI(t, u, "secrets", "create", "db", "--from-literal", "user=app=1", "--from-file", "password="+path)
	if err != nil {
		t.Fatal(err)
	}
	got := onlyRequest(t, seen)
	if got.method != http.MethodPost || got.rawPath != "/v1/secrets" {
		t.Errorf("request %s %s", got.method, got.rawPath)
	}
	if want := `{"secret":{"data":{"password":"p@ss\nword\n","user":"app=1"},"name":"db"}}`; strings.TrimSpace(got.body) != want {
		t.Errorf("body %s, want %s", got.body, want)
	}
	for _, line := range []string{"Name:        db\n", "Keys:        password,user\n", "Version:     1\n"} {
		if !strings.Contains(out, line) {
			t.Errorf("output lacks %q:\n%s", line, out)
		}
	}
}

func TestSecretsUpdateCLIPutsANewVersion(t *testing.T) {
	u, seen := fakeAPI(t, func(*http.Request) (int, string) {
		return 200, `{"secret":{"name":"db","keys":["k"],"version":2,"versions":[1,2]}}`
	})
	out, _, err := runRootCLI(t, u, "-o", "json", "secrets", "update", "db", "--from-literal", "k=v2")
	if err != nil {
		t.Fatal(err)
	}
	got := onlyRequest(t, seen)
	if got.method != http.MethodPut || got.rawPath != "/v1/secrets/db" || strings.TrimSpace(got.body) != `{"secret":{"data":{"k":"v2"}}}` {
		t.Errorf("request %s %s %s", got.method, got.rawPath, got.body)
	}
	var w models.SecretWrapper
	if err := json.Unmarshal([]byte(out), &w); err != nil || w.Secret == nil || w.Secret.Version != 2 {
		t.Errorf("-o json (%v):\n%s", err, out)
	}
}

func TestSecretsValueFlagsRefuseBadInput(t *testing.T) {
	dir := t.TempDir()
	binary := filepath.Join(dir, "bin")
	if err := os.WriteFile(binary, []byte{0xff, 0xfe, 0x00, 0x80}, 0o600); err != nil {
		t.Fatal(err)
	}
	big := filepath.Join(dir, "big")
	if err := os.WriteFile(big, []byte(strings.Repeat("x", 64<<10+1)), 0o600); err != nil {
		t.Fatal(err)
	}
	text := filepath.Join(dir, "text")
	if err := os.WriteFile(text, []byte("file-hunter2"), 0o600); err != nil {
		t.Fatal(err)
	}
	u, seen := fakeAPI(t, func(*http.Request) (int, string) { return 201, testSecretAnswer })
	for _, c := range []struct {
		name string
		args []string
		want string
	}{
		{"no value", []string{"secrets", "create", "db"}, "no value"},
		{"a binary file", []string{"secrets", "create", "db", "--from-file", "k=" + binary}, "not UTF-8"},
		{"a file over 64 KiB", []string{"secrets", "update", "db", "--from-file", "k=" + big}, "larger than 65536 bytes"},
		{"a missing file", []string{"secrets", "create", "db", "--from-file", "k=" + filepath.Join(dir, "none")}, "no such file"},
		{"a key twice", []string{"secrets", "create", "db", "--from-literal", "k=1", "--from-file", "k=" + big}, `key "k" given more than once`},
		{"no key", []string{"secrets", "create", "db", "--from-literal", "=hunter2"}, "--from-literal number 1: empty key"},
		{"a blank key", []string{"secrets", "create", "db", "--from-literal", "k=1", "--from-literal", " =hunter2"}, "--from-literal number 2: empty key"},
		{"no equals", []string{"secrets", "create", "db", "--from-literal", "k=1", "--from-literal", "hunter2"}, "--from-literal number 2: want KEY=VALUE"},
		{"no equals in a file's", []string{"secrets", "update", "db", "--from-file", "hunter2"}, "--from-file number 1: want KEY=VALUE"},
		{"a file's key twice", []string{"secrets", "create", "db", "--from-file", "k=" + text, "--from-file", "k=" + text}, `--from-file: key "k" given more than once`},
	} {
		t.Run(c.name, func(t *testing.T) {
			out, errOut, err := runRootCLI(t, u, c.args...)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("err %v, want one saying %q", err, c.want)
			}
			// No value is shown: not the literal, nor what the files hold.
			for _, v := range []string{"hunter2", "xxxx", "\xff"} {
				if err != nil && strings.Contains(err.Error(), v) || strings.Contains(out+errOut, v) {
					t.Errorf("a value (%q) is shown: err %v, stdout %q, stderr %q", v, err, out, errOut)
				}
			}
		})
	}
	if len(*seen) != 0 {
		t.Errorf("%d requests sent for refused input", len(*seen))
	}
}

func TestSecretsListGetDeleteCLI(t *testing.T) {
	u, seen := fakeAPI(t, func(r *http.Request) (int, string) {
		switch {
		case r.Method == http.MethodDelete:
			return 204, ""
		case r.URL.Path == "/v1/secrets":
			return 200, `{"secrets":[{"name":"api-key","owner":"alice","keys":["key"],"version":3,"versions":[1,2,3]}],"next_cursor":"n1"}`
		}
		return 200, testSecretAnswer
	})
	out, errOut, err := runRootCLI(t, u, "secrets", "list", "--owner", "alice")
	if err != nil {
		t.Fatal(err)
	}
	if q := (*seen)[0].query; q.Get("owner") != "alice" || q.Get("per_page") != "30" {
		t.Errorf("query %v", q)
	}
	want := "NAME     OWNER  KEYS  VERSION  UPDATED\napi-key  alice  key   3        -\n"
	if out != want || !strings.Contains(errOut, "--cursor n1") {
		t.Errorf("stdout %q stderr %q", out, errOut)
	}
	if _, _, err := runRootCLI(t, u, "secrets", "get", "db"); err != nil || (*seen)[1].rawPath != "/v1/secrets/db" {
		t.Errorf("get: %v %+v", err, (*seen)[1])
	}
	out, _, err = runRootCLI(t, u, "secrets", "delete", "db")
	if err != nil || out != "secret \"db\" deleted\n" || (*seen)[2].method != http.MethodDelete {
		t.Errorf("delete: %v %q", err, out)
	}
}

func TestRoutesSecretFlags(t *testing.T) {
	u, seen := fakeAPI(t, func(r *http.Request) (int, string) {
		if r.Method == http.MethodPost {
			return 201, `{"route":{"path":"/r","image":"img","secrets":["db","ssh:alice"]}}`
		}
		return 200, `{"route":{"path":"/r","image":"img","secrets":["db","ssh:alice"]}}`
	})
	out, _, err := runRootCLI(t, u, "routes", "create", "a", "/r", "--image", "img", "--secret", "db", "--secret", "ssh:alice")
	if err != nil {
		t.Fatal(err)
	}
	if got := (*seen)[0]; strings.TrimSpace(got.body) != `{"route":{"image":"img","path":"/r","secrets":["db","ssh:alice"]}}` {
		t.Errorf("create body %s", got.body)
	}
	if !strings.Contains(out, "Secrets:          db,ssh:alice\n") {
		t.Errorf("output:\n%s", out)
	}
	if _, _, err := runRootCLI(t, u, "routes", "update", "a", "/r", "--no-secrets"); err != nil {
		t.Fatal(err)
	}
	if got := (*seen)[1]; got.method != http.MethodPatch || strings.TrimSpace(got.body) != `{"route":{"secrets":[]}}` {
		t.Errorf("--no-secrets sent %s %s", got.method, got.body)
	}
	if _, _, err := runRootCLI(t, u, "routes", "update", "a", "/r", "--secret", "db"); err != nil {
		t.Fatal(err)
	}
	if got := (*seen)[2]; strings.TrimSpace(got.body) != `{"route":{"secrets":["db"]}}` {
		t.Errorf("--secret on update sent %s", got.body)
	}
	for _, args := range [][]string{
		{"routes", "update", "a", "/r", "--secret", ""},
		{"routes", "update", "a", "/r", "--secret", "db", "--no-secrets"},
		{"routes", "create", "a", "/r", "--image", "img", "--no-secrets"},
	} {
		if _, _, err := runRootCLI(t, u, args...); err == nil {
			t.Errorf("%v accepted", args)
		}
	}
	if len(*seen) != 3 {
		t.Errorf("%d requests, want 3 (the refused commands send none)", len(*seen))
	}
}
