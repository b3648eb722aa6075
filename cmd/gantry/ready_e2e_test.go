package main

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestReadyFileNamesTheListenersWhileTheServerRuns: --ready-file exists while the server runs,
// holds the addresses it listens on (each checked by calling it, not by trusting the file), the
// instance its containers carry and its process, and is gone once it has shut down.
func TestReadyFileNamesTheListenersWhileTheServerRuns(t *testing.T) {
	t.Parallel()
	dataDir := t.TempDir()
	s := startServer(t, dataDir)

	// The document, as other programs read it.
	b, err := os.ReadFile(s.readyFile)
	if err != nil {
		t.Fatalf("the ready file while the server runs: %v", err)
	}
	var doc struct {
		Addr    *string `json:"addr"`
		TLS     *bool   `json:"tls"`
		Gateway []struct {
			Addr string `json:"addr"`
			TLS  bool   `json:"tls"`
		} `json:"gateway"`
		Instance string `json:"instance"`
		DataDir  string `json:"data_dir"`
		Version  string `json:"version"`
		PID      int    `json:"pid"`
	}
	if err := json.Unmarshal(b, &doc); err != nil || doc.Addr == nil || doc.TLS == nil {
		t.Fatalf("ready file %s: %v", b, err)
	}
	if *doc.TLS || doc.Instance == "" || doc.DataDir != dataDir || doc.Version != version || doc.PID != s.cmd.Process.Pid || len(doc.Gateway) != 2 {
		t.Fatalf("ready file %s: want tls false, an instance, data_dir %s, version %s, pid %d, two gateway listeners", b, dataDir, version, s.cmd.Process.Pid)
	}
	if strings.HasSuffix(*doc.Addr, ":0") {
		t.Fatalf("addr %s: the bound port, not the one asked for", *doc.Addr)
	}

	// addr is the management API.
	res, body := s.mustCall(t, "GET", "/v1/version", "", 200)
	if res.Request.URL.Host != *doc.Addr || !strings.Contains(body, version) {
		t.Fatalf("GET /v1/version at %s: %s", res.Request.URL.Host, body)
	}
	// The plain gateway listener is the gateway (which knows no /v1), the other one speaks TLS.
	plain, secure := s.gatewayAddrs(t)
	get := func(addr string) (int, string) {
		t.Helper()
		res, err := http.Get("http://" + addr + "/v1/version")
		if err != nil {
			t.Fatalf("GET at %s: %v", addr, err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	if code, body := get(plain); code != http.StatusNotFound {
		t.Errorf("the gateway's plain listener %s answered /v1/version %d %s, want the gateway's 404", plain, code, body)
	}
	if code, body := get(secure); code != http.StatusBadRequest || !strings.Contains(body, "HTTPS") {
		t.Errorf("plain HTTP to the gateway's TLS listener %s: %d %s, want Go's 400 for HTTP to HTTPS", secure, code, body)
	}

	// The instance is the one the server's containers carry.
	s.mustCall(t, "POST", "/v1/apps", `{"app":{"name":"a"}}`, 201)
	s.mustCall(t, "POST", "/v1/apps/a/routes", `{"route":{"path":"/hot","image":"`+imgTestfn+`","format":"http"}}`, 201)
	s.mustCall(t, "POST", "/r/a/hot", `{}`, 200)
	if n := s.containers(t); n != 1 {
		t.Fatalf("%d containers labelled with instance %s, want the hot one", n, doc.Instance)
	}

	s.stop(t)
	if _, err := os.Stat(s.readyFile); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("the ready file after shutdown: %v, want it removed", err)
	}
	if left, _ := filepath.Glob(filepath.Join(dataDir, ".ready.json-*")); len(left) != 0 {
		t.Fatalf("temporary files of the ready file left: %v", left)
	}
}

// TestUnwritableReadyFileStopsTheServer: a server that cannot say it is ready stops (as on
// a signal: it drains and closes the store) and exits non-zero, saying why, rather than
// serve without its ready file.
func TestUnwritableReadyFileStopsTheServer(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	dir := t.TempDir()
	start := time.Now()
	out, err := gantryCmd(ctx, "server", "--addr", "127.0.0.1:0", "--data-dir", dir, "--gateway-addr", "", "--gateway-tls-addr", "",
		"--ready-file", filepath.Join(dir, "no-such-dir", "ready.json")).CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() == 0 {
		t.Fatalf("got %v, want a non-zero exit; output %s", err, out)
	}
	if elapsed := time.Since(start); elapsed > 30*time.Second {
		t.Fatalf("took %s to stop", elapsed)
	}
	for _, want := range []string{"ready", "shutting down", "stopped"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("output does not say %q: %s", want, out)
		}
	}
}
