package vaulttest

// Black-box tests of the whole server against a real Vault: `gantry server`, built once
// from the main module, runs as a process of its own with --vault-addr pointing at an
// in-process test cluster, and is driven over HTTP as users drive it.

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/readyfile"
)

// gantryBin is the gantry command built by TestMain; "" when the server tests cannot run,
// and noGantry says why.
var gantryBin, noGantry string

func TestMain(m *testing.M) {
	flag.Parse()
	code, cleanup := setUpServerTests()
	if code != 0 {
		os.Exit(code)
	}
	code = m.Run()
	cleanup()
	os.Exit(code)
}

// setUpServerTests builds the gantry command into a temporary directory. The server needs
// a Docker daemon at start: without one the server tests skip (the backend tests still
// run), except under CI=true, where that is a failure.
func setUpServerTests() (int, func()) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if out, err := exec.CommandContext(ctx, "docker", "info").CombinedOutput(); err != nil {
		if os.Getenv("CI") == "true" {
			fmt.Fprintf(os.Stderr, "the server tests need a Docker daemon and CI=true: docker info: %v\n%s", err, out)
			return 1, nil
		}
		noGantry = fmt.Sprintf("no Docker daemon (docker info: %v): the server tests need one", err)
		return 0, func() {}
	}
	dir, err := os.MkdirTemp("", "gantry-vault-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1, nil
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1, nil
	}
	// Built in the main module, with its go.mod: the binary users get, not one with the
	// dependency versions that Vault's server pulls into this module.
	bin := filepath.Join(dir, "gantry")
	start := time.Now()
	build := exec.CommandContext(ctx, "go", "build", "-C", root, "-o", bin, "./cmd/gantry")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build gantry: %v\n%s", err, out)
		_ = os.RemoveAll(dir)
		return 1, nil
	}
	if testing.Verbose() {
		fmt.Fprintf(os.Stderr, "built gantry in %s\n", time.Since(start).Round(time.Millisecond))
	}
	gantryBin = bin
	return 0, func() { _ = os.RemoveAll(dir) }
}

// needGantry skips a test that runs the server when TestMain could not build it.
func needGantry(t *testing.T) {
	t.Helper()
	if gantryBin == "" {
		t.Skip(noGantry)
	}
}

// gantry is a running `gantry server` process, with every answer it gave the test.
type gantry struct {
	cmd     *exec.Cmd
	dataDir string
	addr    string
	token   string // the admin token the server wrote to <data-dir>/admin.token

	exited   chan struct{} // closed when the process has exited; exitErr is then set
	exitErr  error
	stopOnce sync.Once

	mu      sync.Mutex
	log     bytes.Buffer // the server's stderr
	answers bytes.Buffer // every answer body, grepped for values that must never leave
}

// vaultCreds are the Vault credentials of a server: a token file, or an AppRole role id
// with a secret id file.
type vaultCreds struct {
	tokenFile            string
	roleID, secretIDFile string
}

// tokenCreds is a token of GantryPolicy (not the root token), in a file.
func tokenCreds(t *testing.T, c *Cluster) vaultCreds {
	p := filepath.Join(t.TempDir(), "vault-token")
	writeFile(t, p, c.Token(t, nil))
	return vaultCreds{tokenFile: p}
}

// appRoleCreds is an AppRole login of role name, its secret id (plain, or response-wrapped
// with wrapped) in a file.
func appRoleCreds(t *testing.T, c *Cluster, role string, params map[string]any, wrapped bool) vaultCreds {
	roleID := c.AppRole(t, role, params)
	secretID := c.SecretID
	if wrapped {
		secretID = c.WrappedSecretID
	}
	p := filepath.Join(t.TempDir(), "vault-secret-id")
	writeFile(t, p, secretID(t, role))
	return vaultCreds{roleID: roleID, secretIDFile: p}
}

// startGantry starts `gantry server` on a loopback port, token auth, a new data dir, no
// gateway, its secrets in Vault c with creds, and waits until it is ready. It is stopped
// when the test ends, and must exit cleanly.
func startGantry(t *testing.T, c *Cluster, creds vaultCreds) *gantry {
	t.Helper()
	needGantry(t)
	dir := t.TempDir()
	ready := filepath.Join(dir, "ready.json")
	args := []string{"server", "--auth", "token", "--data-dir", dir, "--addr", "127.0.0.1:0",
		"--gateway-addr=", "--gateway-tls-addr=", "--ready-file", ready,
		"--vault-addr", c.Addr, "--vault-ca-cert", c.CACertFile}
	if creds.tokenFile != "" {
		args = append(args, "--vault-token-file", creds.tokenFile)
	} else {
		args = append(args, "--vault-role-id", creds.roleID, "--vault-secret-id-file", creds.secretIDFile)
	}
	g := &gantry{dataDir: dir, exited: make(chan struct{})}
	g.cmd = exec.Command(gantryBin, args...) //nolint:gosec // G204: the binary this test built
	// Vault's own variables must not reach the server: it is configured by its flags only.
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "VAULT_") {
			g.cmd.Env = append(g.cmd.Env, kv)
		}
	}
	stderr, err := g.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := g.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancelCause(context.Background())
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64*1024), 1024*1024)
		for sc.Scan() {
			g.mu.Lock()
			g.log.WriteString(sc.Text() + "\n")
			g.mu.Unlock()
		}
		g.exitErr = g.cmd.Wait()
		cancel(fmt.Errorf("gantry server exited before it was ready (%v)", g.exitErr))
		close(g.exited)
	}()
	ctx, cancelTimeout := context.WithTimeoutCause(ctx, 30*time.Second, errors.New("gantry server not ready within 30s"))
	defer cancelTimeout()
	info, err := readyfile.Wait(ctx, ready)
	if err != nil {
		_ = g.cmd.Process.Kill()
		t.Fatalf("%v\n%s", err, g.logText())
	}
	g.addr = info.Addr
	tok, err := os.ReadFile(filepath.Join(dir, "admin.token"))
	if err != nil {
		t.Fatal(err)
	}
	g.token = strings.TrimSpace(string(tok))
	t.Cleanup(func() {
		g.stop(t)
		if t.Failed() {
			t.Logf("gantry server log:\n%s", g.logText())
		}
	})
	t.Logf("gantry server on %s ready in %s", g.addr, time.Since(start).Round(time.Millisecond))
	return g
}

func (g *gantry) logText() string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.log.String()
}

func (g *gantry) answerText() string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.answers.String()
}

// stop sends SIGTERM and waits for a clean exit; stopping twice is stopping once.
func (g *gantry) stop(t *testing.T) {
	t.Helper()
	g.stopOnce.Do(func() {
		select {
		case <-g.exited:
			t.Errorf("gantry server exited before it was stopped: %v", g.exitErr)
			return
		default:
		}
		_ = g.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-g.exited:
			if g.exitErr != nil {
				t.Errorf("gantry server exited with %v after SIGTERM", g.exitErr)
			}
		case <-time.After(20 * time.Second):
			_ = g.cmd.Process.Kill()
			<-g.exited
			t.Errorf("gantry server did not stop within 20s of SIGTERM")
		}
	})
}

// call sends a request with the admin token and answers the response and its body, which
// it keeps with the test's other answers.
func (g *gantry) call(t *testing.T, method, path, body string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, "http://"+g.addr+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Authorization", "Bearer "+g.token)
	client := http.Client{Timeout: 30 * time.Second}
	res, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("%s %s: read the answer: %v", method, path, err)
	}
	g.mu.Lock()
	fmt.Fprintf(&g.answers, "%s %s -> %d %v\n%s\n", method, path, res.StatusCode, res.Header, b)
	g.mu.Unlock()
	return res, string(b)
}

// must is call that fails the test unless the answer has status.
func (g *gantry) must(t *testing.T, method, path, body string, status int) string {
	t.Helper()
	res, b := g.call(t, method, path, body)
	if res.StatusCode != status {
		t.Fatalf("%s %s: %d %s, want %d", method, path, res.StatusCode, b, status)
	}
	return b
}

// unavailable checks an answer of an operation that needed a Vault that cannot serve: 503,
// a Retry-After, a message that names the secret store.
func (g *gantry) unavailable(t *testing.T, method, path, body string) {
	t.Helper()
	start := time.Now()
	res, b := g.call(t, method, path, body)
	if res.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("%s %s: %d %s, want 503", method, path, res.StatusCode, b)
		return
	}
	if ra := res.Header.Get("Retry-After"); ra == "" || ra == "0" {
		t.Errorf("%s %s: 503 with Retry-After %q, want a delay", method, path, ra)
	}
	if !strings.Contains(b, `"message":"the secret store is unavailable`) {
		t.Errorf("%s %s: 503 %s; want a message that names the secret store", method, path, b)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("%s %s: the 503 took %s", method, path, d)
	}
}

// leaks returns where, of the answers, the server's log, its audit log and its bbolt file,
// any of needles is found. Call it once the server has stopped (the bbolt file is then
// complete).
func (g *gantry) leaks(t *testing.T, needles map[string]string) []string {
	t.Helper()
	haystacks := map[string][]byte{"the answers": []byte(g.answerText()), "the server log": []byte(g.logText())}
	for _, name := range []string{"audit.log", "gantry.db"} {
		b, err := os.ReadFile(filepath.Join(g.dataDir, name))
		if err != nil {
			t.Fatal(err)
		}
		haystacks[name] = b
	}
	var found []string
	for what, needle := range needles {
		if needle == "" {
			t.Fatalf("an empty needle for %s", what)
		}
		for where, b := range haystacks {
			if bytes.Contains(b, []byte(needle)) {
				found = append(found, what+" is in "+where)
			}
		}
	}
	return found
}
