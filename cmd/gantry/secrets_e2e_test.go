package main

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/secrets"
	"github.com/gantry-dev/gantry/store"
	"github.com/gantry-dev/gantry/store/bolt"
)

// fileInfo is what testfn's "files" answers of one file: never its content.
type fileInfo struct {
	SHA256 string `json:"sha256"`
	Size   int    `json:"size"`
	Mode   string `json:"mode"`
	UID    int    `json:"uid"`
	Error  string `json:"error"`
}

func readFiles(t *testing.T, body string) map[string]fileInfo {
	t.Helper()
	var out map[string]fileInfo
	if err := json.Unmarshal([]byte(body), &out); err != nil {
		t.Fatalf("files answer %q: %v", body, err)
	}
	return out
}

func sha(s string) string { h := sha256.Sum256([]byte(s)); return hex.EncodeToString(h[:]) }

// TestSecretsReachFunctionsAsFilesAndLeakNowhere runs a real server and real containers:
// a function secret and an SSH key reach sync and async calls as files, and their values
// appear in no answer, execution record, log, audit line, external-runner task, server
// log or file of the data dir.
func TestSecretsReachFunctionsAsFilesAndLeakNowhere(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := startServer(t, dir)
	value := "s3cr3t-" + rand.Text()
	var answers bytes.Buffer // every answer of the test, grepped at the end
	must := func(method, path, body string, status int) string {
		t.Helper()
		_, b := s.mustCall(t, method, path, body, status)
		answers.WriteString(b)
		return b
	}
	must("POST", "/v1/secrets", `{"secret":{"name":"db-password","data":{"password":"`+value+`"}}}`, 201)
	keyAnswer := must("POST", "/v1/users/admin/ssh-key", ``, 201)
	var key struct {
		PublicKey string `json:"public_key"`
	}
	if err := json.Unmarshal([]byte(keyAnswer), &key); err != nil || !strings.HasPrefix(key.PublicKey, "ssh-ed25519 ") {
		t.Fatalf("ssh key: %s", keyAnswer)
	}
	must("POST", "/v1/apps", `{"app":{"name":"sec"}}`, 201)
	for _, r := range []string{
		`{"route":{"path":"/read","image":"` + imgTestfn + `","secrets":["db-password","ssh:admin"]}}`,
		`{"route":{"path":"/later","image":"` + imgTestfn + `","type":"async","secrets":["db-password"]}}`,
	} {
		must("POST", "/v1/apps/sec/routes", r, 201)
	}
	must("POST", "/v1/apps/sec/routes", `{"route":{"path":"/none","image":"`+imgTestfn+`","secrets":["no-such"]}}`, 400)

	files := `{"files":["/run/secrets/db-password/password","/run/secrets/ssh:admin/private_key"],"stderr":"log line"}`
	res, body := s.call(t, "POST", "/r/sec/read", files)
	answers.WriteString(body)
	if res.StatusCode != 200 {
		t.Fatalf("call: %d %s", res.StatusCode, body)
	}
	got := readFiles(t, body)
	if f := got["/run/secrets/db-password/password"]; f.SHA256 != sha(value) || f.Mode != "0400" || f.UID != 65534 {
		t.Fatalf("the secret file: %+v", f)
	}
	if f := got["/run/secrets/ssh:admin/private_key"]; f.Size < 300 || f.Mode != "0400" || f.Error != "" {
		t.Fatalf("the SSH key file: %+v", f)
	}
	ids := s.submitWith(t, "/r/sec/later", 1, `,"files":["/run/secrets/db-password/password"]`)
	ex := s.waitDone(t, ids, time.Minute)[ids[0]]
	if ex["status"] != "SUCCESS" {
		t.Fatalf("async call: %v", ex)
	}

	// The app changes hands: its functions no longer get the old owner's secrets.
	must("PATCH", "/v1/apps/sec", `{"app":{"owner":"dev"}}`, 200)
	res, body = s.call(t, "POST", "/r/sec/read", files)
	answers.WriteString(body)
	if res.StatusCode != 409 || !strings.Contains(body, `is not \"dev\"'s`) {
		t.Fatalf("a call after the app changed hands: %d %s, want 409 naming the secret", res.StatusCode, body)
	}
	must("PATCH", "/v1/apps/sec", `{"app":{"owner":"admin"}}`, 200)

	// Every record and log the server keeps of those calls.
	list := must("GET", "/v1/executions?per_page=100", "", 200)
	var execs struct{ Executions []struct{ ID string } }
	if err := json.Unmarshal([]byte(list), &execs); err != nil || len(execs.Executions) < 2 {
		t.Fatalf("executions: %s", list)
	}
	for _, e := range execs.Executions {
		must("GET", "/v1/executions/"+e.ID, "", 200)
		must("GET", "/v1/executions/"+e.ID+"/log", "", 200)
	}
	must("GET", "/v1/secrets/db-password", "", 200)
	must("GET", "/v1/users/admin/ssh-key", "", 200)
	must("GET", "/v1/apps/sec/routes/read", "", 200)
	s.stop(t)

	private := sshKeyLine(t, dir)
	leaks := map[string][]byte{"answers": answers.Bytes(), "server log": []byte(s.logText())}
	for _, name := range []string{"audit.log", "gantry.db"} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		leaks[name] = b
	}
	for where, b := range leaks {
		if bytes.Contains(b, []byte(value)) {
			t.Errorf("the secret value is in the %s", where)
		}
		if bytes.Contains(b, []byte(private)) {
			t.Errorf("the SSH private key is in the %s", where)
		}
	}
	if !strings.Contains(string(leaks["audit.log"]), `"path":"/v1/secrets","status":201`) {
		t.Errorf("the audit log does not show the secret's creation at all: %s", leaks["audit.log"])
	}
	left, _ := filepath.Glob(filepath.Join("/dev/shm/gantry-secrets", s.instance, "*"))
	if len(left) != 0 {
		t.Errorf("secret files outlived the server: %v", left)
	}
}

// sshKeyLine is a line of base64 from the middle of admin's private key, read from the
// stopped server's store the way Gantry does (its key file opens the sealed value).
func sshKeyLine(t *testing.T, dir string) string {
	t.Helper()
	db, err := bolt.Open(t.Context(), dir, bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	key, err := secrets.LoadKey(filepath.Join(dir, "secret.key"), false)
	if err != nil {
		t.Fatal(err)
	}
	e, err := secrets.OpenEmbedded(t.Context(), db, key)
	if err != nil {
		t.Fatal(err)
	}
	data, err := e.Get(t.Context(), "ssh-keys/admin", 0)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(data[store.SSHKeyFile]), "\n")
	if len(lines) < 4 || !strings.Contains(lines[0], "OPENSSH PRIVATE KEY") {
		t.Fatalf("admin's private key: %d lines", len(lines))
	}
	return lines[2]
}

// TestExternalRunnersNeverGetCallsThatNeedSecrets: an external runner could only get the
// secrets' names and would run the function without its files; such calls wait for
// Gantry's own workers.
func TestExternalRunnersNeverGetCallsThatNeedSecrets(t *testing.T) {
	t.Parallel()
	s := startServer(t, t.TempDir(), "GANTRY_ASYNC_WORKERS=0")
	value := "runner-" + rand.Text()
	s.mustCall(t, "POST", "/v1/secrets", `{"secret":{"name":"tok","data":{"t":"`+value+`"}}}`, 201)
	s.mustCall(t, "POST", "/v1/apps", `{"app":{"name":"x"}}`, 201)
	s.mustCall(t, "POST", "/v1/apps/x/routes", `{"route":{"path":"/sec","image":"`+imgTestfn+`","type":"async","secrets":["tok"]}}`, 201)
	s.mustCall(t, "POST", "/v1/apps/x/routes", `{"route":{"path":"/plain","image":"`+imgTestfn+`","type":"async"}}`, 201)
	withSecrets := s.submit(t, "/r/x/sec", 1)[0]
	plain := s.submit(t, "/r/x/plain", 1)[0]
	_, body := s.mustCall(t, "GET", "/v1/tasks?runner=r1&lease=60&n=5", "", 200)
	if strings.Contains(body, withSecrets) || strings.Contains(body, value) || !strings.Contains(body, plain) {
		t.Fatalf("an external runner's lease: %s", body)
	}
	if ex := s.execution(t, withSecrets); ex["status"] != "QUEUED" {
		t.Fatalf("the call that needs secrets: %v, want it QUEUED for Gantry's workers", ex)
	}
}
