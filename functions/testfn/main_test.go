package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
)

func newFn(stderr io.Writer, environ ...string) *fn {
	return &fn{
		environ:  environ,
		hostname: "c0ffee",
		stderr:   stderr,
		crash:    func() { panic("crash called") },
	}
}

func TestDefault(t *testing.T) {
	tests := []struct {
		name       string
		environ    []string
		stdin      string
		wantOut    string
		wantStderr string
		wantCode   int
	}{
		{name: "name", stdin: `{"name":"John"}`, wantOut: "Hello John!"},
		{name: "empty", stdin: ``, wantOut: "Hello World!"},
		{name: "invalid JSON", stdin: `{"name":`, wantOut: "Hello World!"},
		{name: "wrong type is {}", stdin: `{"name":"John","sleep_ms":"x"}`, wantOut: "Hello World!"},
		{name: "stderr and exit", stdin: `{"stderr":"oops","exit":3}`, wantOut: "Hello World!", wantStderr: "oops", wantCode: 3},
		{name: "output_bytes", stdin: `{"output_bytes":70000,"name":"x"}`, wantOut: strings.Repeat("x", 70000)},
		{name: "echo", stdin: `{"echo":true, "name":"a"}`, wantOut: `{"echo":true, "name":"a"}`},
		{name: "alloc", stdin: `{"alloc_mb":2,"name":"Mem"}`, wantOut: "Hello Mem!"},
		{
			name:    "env",
			environ: []string{"FN_CALL_ID=01J", "HOME=/", "SECRET=s", "OTHER=o"},
			stdin:   `{"env":true,"env_keys":["OTHER"]}`,
			wantOut: `{"FN_CALL_ID":"01J","OTHER":"o"}`,
		},
		{
			name:    "request",
			environ: []string{"FN_CALL_ID=01J", "FN_METHOD=POST", "FN_REQUEST_URL=/r/app/x?y=1", "FN_DEADLINE=2030-01-01T00:00:00Z", "FN_PARAM_ID=42", "FN_HEADER_CONTENT_TYPE=text/plain"},
			stdin:   `{"request":true}`,
			wantOut: `{"call_id":"01J","method":"POST","url":"/r/app/x?y=1","headers":{"CONTENT_TYPE":["text/plain"]},"params":{"ID":"42"},"deadline":"2030-01-01T00:00:00Z"}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code, err := newFn(&stderr, tt.environ...).serveDefault(strings.NewReader(tt.stdin), &stdout)
			if err != nil {
				t.Fatal(err)
			}
			if got := stdout.String(); got != tt.wantOut {
				t.Errorf("stdout = %.200q, want %.200q", got, tt.wantOut)
			}
			if got := stderr.String(); got != tt.wantStderr {
				t.Errorf("stderr = %q, want %q", got, tt.wantStderr)
			}
			if code != tt.wantCode {
				t.Errorf("exit code = %d, want %d", code, tt.wantCode)
			}
		})
	}
}

func TestHTTP(t *testing.T) {
	var stderr bytes.Buffer
	srv := httptest.NewServer(newFn(&stderr, "FN_FORMAT=http"))
	defer srv.Close()

	tests := []struct {
		name       string
		method     string
		path       string
		header     map[string]string
		body       string
		wantStatus int
		wantBody   string
		wantHeader map[string]string
	}{
		{name: "healthz", method: "GET", path: "/healthz", wantStatus: 200, wantBody: "ok"},
		{name: "greeting", method: "POST", path: "/hello", body: `{"name":"John"}`, wantStatus: 200, wantBody: "Hello John!",
			wantHeader: map[string]string{"Content-Type": "text/plain; charset=utf-8"}},
		{name: "no body", method: "GET", path: "/", wantStatus: 200, wantBody: "Hello World!"},
		{name: "status and header", method: "POST", path: "/", body: `{"status":418,"header":{"X-Test":"yes"}}`, wantStatus: 418, wantBody: "Hello World!",
			wantHeader: map[string]string{"X-Test": "yes"}},
		{name: "invalid status ignored", method: "POST", path: "/", body: `{"status":42}`, wantStatus: 200, wantBody: "Hello World!"},
		{name: "echo keeps content type", method: "PUT", path: "/", header: map[string]string{"Content-Type": "application/x-test"}, body: `{"echo":true}`,
			wantStatus: 200, wantBody: `{"echo":true}`, wantHeader: map[string]string{"Content-Type": "application/x-test"}},
		{name: "output_bytes", method: "POST", path: "/", body: `{"output_bytes":100000}`, wantStatus: 200, wantBody: strings.Repeat("x", 100000),
			wantHeader: map[string]string{"Content-Length": "100000"}},
		{name: "env", method: "POST", path: "/", body: `{"env":true}`, wantStatus: 200, wantBody: `{"FN_FORMAT":"http"}`,
			wantHeader: map[string]string{"Content-Type": "application/json"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequest(tt.method, srv.URL+tt.path, strings.NewReader(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			for k, v := range tt.header {
				req.Header.Set(k, v)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.wantStatus {
				t.Errorf("status = %d, want %d", resp.StatusCode, tt.wantStatus)
			}
			if string(body) != tt.wantBody {
				t.Errorf("body = %.200q, want %.200q", body, tt.wantBody)
			}
			if got := resp.Header.Get("X-Container-Id"); got != "c0ffee" {
				t.Errorf("X-Container-Id = %q, want c0ffee", got)
			}
			for k, v := range tt.wantHeader {
				if got := resp.Header.Get(k); got != v {
					t.Errorf("header %s = %q, want %q", k, got, v)
				}
			}
		})
	}

	t.Run("request", func(t *testing.T) {
		req, _ := http.NewRequest("PATCH", srv.URL+"/items/42?x=1", strings.NewReader(`{"request":true}`))
		req.Header.Set("Gantry-Call-Id", "01J")
		req.Header.Set("Gantry-Deadline", "2030-01-01T00:00:00Z")
		req.Header.Set("Gantry-Param-Id", "42")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var got requestInfo
		if err := json.NewDecoder(resp.Body).Decode(&got); err != nil {
			t.Fatal(err)
		}
		if got.CallID != "01J" || got.Method != "PATCH" || got.URL != "/items/42?x=1" || got.Deadline != "2030-01-01T00:00:00Z" || got.Params["Id"] != "42" {
			t.Errorf("request = %+v", got)
		}
	})
}

func TestJSON(t *testing.T) {
	big := strings.Repeat("y", 9<<20) // lines longer than 8 MiB
	bigBody, _ := json.Marshal(map[string]any{"echo": true, "pad": big})
	// Go's encoding/json accepts invalid UTF-8 inside strings, so this is an
	// echo request whose body (and so whose response) is not valid UTF-8.
	binary := []byte("{\"echo\":true,\"pad\":\"\xff\xfe\"}")
	lines := []any{
		envelope{CallID: "1", Method: "POST", URL: "/hello", Body: `{"name":"John"}`},
		envelope{CallID: "2", Method: "POST", URL: "/hello", Body: `{"status":201,"header":{"X-A":"b"}}`},
		envelope{CallID: "3", Method: "POST", URL: "/e", Body: string(bigBody)},
		envelope{CallID: "4", Method: "POST", URL: "/bin", Body: base64.StdEncoding.EncodeToString(binary), BodyEncoding: "base64"},
		envelope{CallID: "5", Method: "GET", URL: "/items/42?x=1", Params: map[string]string{"id": "42"}, Deadline: "2030-01-01T00:00:00Z", Body: `{"request":true}`},
		"not an envelope",
		envelope{CallID: "7", Method: "POST", URL: "/", Body: `{"output_bytes":5}`},
	}
	var stdin bytes.Buffer
	for _, l := range lines {
		if s, ok := l.(string); ok {
			stdin.WriteString(s + "\n")
			continue
		}
		b, _ := json.Marshal(l)
		stdin.Write(b)
		stdin.WriteString("\n")
	}
	stdin.WriteString("\n") // blank lines are skipped
	var stdout, stderr bytes.Buffer
	if err := newFn(&stderr).serveJSON(&stdin, &stdout); err != nil {
		t.Fatal(err)
	}
	out := strings.Split(strings.TrimSuffix(stdout.String(), "\n"), "\n")
	if len(out) != len(lines) {
		t.Fatalf("got %d response lines, want %d", len(out), len(lines))
	}
	replies := make([]reply, len(out))
	for i, l := range out {
		if err := json.Unmarshal([]byte(l), &replies[i]); err != nil {
			t.Fatalf("line %d: %v", i, err)
		}
		if got := replies[i].Headers["X-Container-Id"]; len(got) != 1 || got[0] != "c0ffee" {
			t.Errorf("line %d: X-Container-Id = %v", i, got)
		}
	}
	check := func(i, status int, body string) {
		t.Helper()
		if replies[i].Status != status || replies[i].Body != body {
			t.Errorf("reply %d = %d %.100q, want %d %.100q", i, replies[i].Status, replies[i].Body, status, body)
		}
	}
	check(0, 200, "Hello John!")
	check(1, 201, "Hello World!")
	if got := replies[1].Headers["X-A"]; len(got) != 1 || got[0] != "b" {
		t.Errorf("reply 1 X-A = %v", got)
	}
	check(2, 200, string(bigBody))
	check(3, 200, base64.StdEncoding.EncodeToString(binary))
	if replies[3].BodyEncoding != "base64" {
		t.Errorf("reply 3 body_encoding = %q, want base64", replies[3].BodyEncoding)
	}
	check(4, 200, `{"call_id":"5","method":"GET","url":"/items/42?x=1","headers":{},"params":{"id":"42"},"deadline":"2030-01-01T00:00:00Z"}`)
	if replies[5].Status != 500 {
		t.Errorf("reply to an invalid envelope: status %d, want 500", replies[5].Status)
	}
	check(6, 200, "xxxxx")
}

func TestFilesAndWrite(t *testing.T) {
	dir := t.TempDir()
	file := dir + "/k"
	if err := os.WriteFile(file, []byte("value"), 0o400); err != nil {
		t.Fatal(err)
	}
	in := fmt.Sprintf(`{"files":[%q,%q,%q]}`, file, dir, dir+"/missing")
	var stdout bytes.Buffer
	if _, err := newFn(io.Discard).serveDefault(strings.NewReader(in), &stdout); err != nil {
		t.Fatal(err)
	}
	var got map[string]fileInfo
	if err := json.Unmarshal(stdout.Bytes(), &got); err != nil {
		t.Fatalf("%v: %s", err, stdout.Bytes())
	}
	sum := sha256.Sum256([]byte("value"))
	if f := got[file]; f.SHA256 != hex.EncodeToString(sum[:]) || f.Size == nil || *f.Size != 5 || f.Mode != "0400" || f.UID == nil || int(*f.UID) != os.Getuid() || f.Dir {
		t.Errorf("file: %+v", f)
	}
	if d := got[dir]; !d.Dir || d.SHA256 != "" || d.Mode == "" {
		t.Errorf("dir: %+v", d)
	}
	if m := got[dir+"/missing"]; m.Error == "" || m.Mode != "" {
		t.Errorf("missing: %+v", m)
	}
	if strings.Contains(stdout.String(), "value") {
		t.Errorf("the content came out: %s", stdout.Bytes())
	}

	stdout.Reset()
	in = fmt.Sprintf(`{"write":[%q,%q]}`, dir+"/new", dir+"/no/such/dir")
	if _, err := newFn(io.Discard).serveDefault(strings.NewReader(in), &stdout); err != nil {
		t.Fatal(err)
	}
	var wrote map[string]string
	if err := json.Unmarshal(stdout.Bytes(), &wrote); err != nil {
		t.Fatal(err)
	}
	if wrote[dir+"/new"] != "written" || !strings.HasPrefix(wrote[dir+"/no/such/dir"], "error: ") {
		t.Errorf("write: %v", wrote)
	}
}
