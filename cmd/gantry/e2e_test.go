package main

// Black-box tests: the real `gantry server` runs as a separate process on a loopback
// port and is driven through the generated Go client and the CLI, as users do.
// The test binary re-executes itself as the gantry command (see TestMain), so the
// tests need no separate build.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	httptransport "github.com/go-openapi/runtime/client"
	"github.com/go-openapi/strfmt"

	dockerclient "github.com/docker/docker/client"

	"github.com/gantry-dev/gantry/gen/client"
	"github.com/gantry-dev/gantry/gen/client/apps"
	"github.com/gantry-dev/gantry/gen/client/meta"
	"github.com/gantry-dev/gantry/gen/client/routes"
	"github.com/gantry-dev/gantry/gen/models"
	"github.com/gantry-dev/gantry/internal/fnimage"
	"github.com/gantry-dev/gantry/internal/readyfile"
	"github.com/gantry-dev/gantry/runner"
)

// Images the black-box tests register as routes, built from functions/ once per run.
var (
	imgHello  = "gantry/hello:dev" // the README's walkthrough image
	imgTestfn string
	docker    *dockerclient.Client
	// gantryBin is the gantry the black-box tests run, as users do: built once per run
	// without the race detector, under which a server starts and serves several times
	// slower. The race detector watches the same code in the in-process tests (handlers
	// through the real router, invoke, runner, the stores, images, events, workflow).
	gantryBin string
)

func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

// runTests builds the function images. The server needs Docker to check route images
// and run calls: without a daemon the tests skip, except under CI=true, where they fail.
func runTests(m *testing.M) int {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cli, err := runner.NewDockerClient()
	if err == nil {
		_, err = cli.Ping(ctx)
	}
	if err != nil {
		if os.Getenv("CI") == "true" {
			fmt.Fprintln(os.Stderr, "black-box tests need Docker and CI=true:", err)
			return 1
		}
		fmt.Fprintln(os.Stderr, "skipping black-box tests: no Docker daemon:", err)
		return 0
	}
	docker = cli
	binDir, err := os.MkdirTemp("", "gantry-e2e-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, "black-box tests:", err)
		return 1
	}
	defer os.RemoveAll(binDir)
	gantryBin = filepath.Join(binDir, "gantry")
	if out, err := exec.CommandContext(ctx, "go", "build", "-o", gantryBin, ".").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build gantry: %v\n%s", err, out)
		return 1
	}
	if _, err := fnimage.Build(ctx, cli, "hello", imgHello); err != nil {
		fmt.Fprintln(os.Stderr, "build hello:", err)
		return 1
	}
	if imgTestfn, err = fnimage.Build(ctx, cli, "testfn", ""); err != nil {
		fmt.Fprintln(os.Stderr, "build testfn:", err)
		return 1
	}
	return m.Run()
}

// gantryCmd returns the gantry command with args (gantryBin).
func gantryCmd(ctx context.Context, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, gantryBin, args...)
	cmd.Env = os.Environ()
	return cmd
}

// server is a running `gantry server` process.
type server struct {
	cmd       *exec.Cmd
	addr      string
	dataDir   string
	token     string // the admin token the server wrote to its data dir ("" with --auth=none)
	readyFile string // its --ready-file
	ready     readyfile.Info
	instance  string // labels the server's containers
	done      chan error
	mu        sync.Mutex
	log       bytes.Buffer
}

// startServer starts gantry server on a free loopback port with dataDir and waits until it listens.
func startServer(t *testing.T, dataDir string, env ...string) *server {
	t.Helper()
	s, err := launch(dataDir, env...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		s.stop(t)
		if n := s.containers(t); n != 0 {
			t.Errorf("%d containers of the server remain after it stopped", n)
		}
	})
	return s
}

// launch starts gantry server with its --ready-file in dataDir, and waits until the file says
// where it listens.
func launch(dataDir string, env ...string) (*server, error) {
	s := &server{done: make(chan error, 1), dataDir: dataDir, readyFile: filepath.Join(dataDir, "ready.json")}
	// A server killed on this data dir left its file: never take it for this one's.
	if err := readyfile.Remove(s.readyFile); err != nil {
		return nil, err
	}
	s.cmd = gantryCmd(context.Background(), "server", "--addr", "127.0.0.1:0", "--data-dir", dataDir,
		"--gateway-addr", "127.0.0.1:0", "--gateway-tls-addr", "127.0.0.1:0", "--ready-file", s.readyFile)
	s.cmd.Env = append(s.cmd.Env, env...)
	stderr, err := s.cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := s.cmd.Start(); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancelCause(context.Background())
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			s.mu.Lock()
			s.log.WriteString(sc.Text() + "\n")
			s.mu.Unlock()
		}
		err := s.cmd.Wait()
		cancel(fmt.Errorf("server exited before it was ready (%v)", err))
		s.done <- err
	}()
	ctx, cancelTimeout := context.WithTimeoutCause(ctx, time.Minute, errors.New("server not ready within a minute"))
	defer cancelTimeout()
	ready, err := readyfile.Wait(ctx, s.readyFile)
	if err != nil {
		_ = s.cmd.Process.Kill() // one that exited already is no error here
		return s, fmt.Errorf("%w: %s", err, s.logText())
	}
	s.ready, s.addr, s.instance = ready, ready.Addr, ready.Instance
	if b, err := os.ReadFile(filepath.Join(dataDir, "admin.token")); err == nil {
		s.token = strings.TrimSpace(string(b))
	}
	return s, nil
}

func (s *server) logText() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.log.String()
}

// stop sends SIGTERM and waits for a clean exit.
func (s *server) stop(t *testing.T) {
	t.Helper()
	if s.cmd.ProcessState != nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-s.done:
		if err != nil {
			t.Errorf("server exited with %v after SIGTERM: %s", err, s.logText())
		} else if _, err := os.Stat(s.readyFile); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("the ready file %s outlived the server (stat: %v)", s.readyFile, err)
		}
	case <-time.After(15 * time.Second):
		s.cmd.Process.Kill()
		t.Errorf("server did not stop within 15s of SIGTERM")
	}
}

// client is the generated client, with the server's admin token.
func (s *server) client() *client.Gantry { return s.clientAs(s.token) }

// clientAs is the generated client with token ("" for none).
func (s *server) clientAs(token string) *client.Gantry {
	tr := httptransport.New(s.addr, client.DefaultBasePath, []string{"http"})
	if token != "" {
		tr.DefaultAuthentication = httptransport.BearerToken(token)
	}
	return client.New(tr, strfmt.Default)
}

func ptr[T any](v T) *T { return &v }

func TestBlackBoxCRUDThroughGeneratedClient(t *testing.T) {
	t.Parallel()
	c := startServer(t, t.TempDir()).client()
	ctx := context.Background()

	v, err := c.Meta.GetVersionContext(ctx, &meta.GetVersionParams{})
	if err != nil || *v.Payload.Version != version {
		t.Fatalf("version: %v %v", v, err)
	}

	created, err := c.Apps.CreateAppContext(ctx, &apps.CreateAppParams{Body: &models.AppWrapper{App: &models.App{Name: "myapp", Config: models.Config{"A": "1"}}}}, nil)
	if err != nil || created.Payload.App.Name != "myapp" || created.Payload.App.CreatedAt == nil {
		t.Fatalf("create app: %+v %v", created, err)
	}
	_, err = c.Apps.CreateAppContext(ctx, &apps.CreateAppParams{Body: &models.AppWrapper{App: &models.App{Name: "myapp"}}}, nil)
	var conflict *apps.CreateAppConflict
	if !errors.As(err, &conflict) || conflict.Payload.Error.Message == nil {
		t.Fatalf("duplicate app: got %v, want CreateAppConflict", err)
	}
	patched, err := c.Apps.PatchAppContext(ctx, &apps.PatchAppParams{App: "myapp", Body: &models.AppWrapper{App: &models.App{Config: models.Config{"A": "", "B": "2"}}}}, nil)
	if err != nil || fmt.Sprint(patched.Payload.App.Config) != "map[B:2]" {
		t.Fatalf("patch app: %+v %v", patched, err)
	}
	replaced, put, err := c.Apps.PutAppContext(ctx, &apps.PutAppParams{App: "other", Body: &models.AppWrapper{App: &models.App{}}}, nil)
	if err != nil || replaced != nil || put.Payload.App.Name != "other" {
		t.Fatalf("put new app: want 201, got %v %v %v", replaced, put, err)
	}
	list, err := c.Apps.ListAppsContext(ctx, &apps.ListAppsParams{}, nil)
	if err != nil || len(list.Payload.Apps) != 2 {
		t.Fatalf("list apps: %+v %v", list, err)
	}

	// Routes, with a nested path addressed through the client.
	rc, err := c.Routes.CreateRouteContext(ctx, &routes.CreateRouteParams{App: "myapp", Body: &models.RouteWrapper{Route: &models.Route{
		Path: "/hello/world", Image: imgHello, Memory: ptr(int64(64)), Headers: map[string][]string{"X-Hello": {"1"}},
	}}}, nil)
	if err != nil || rc.Payload.Route.Path != "/hello/world" || *rc.Payload.Route.Memory != 64 || *rc.Payload.Route.Timeout != 30 {
		t.Fatalf("create route: %+v %v", rc, err)
	}
	got, err := c.Routes.GetRouteContext(ctx, &routes.GetRouteParams{App: "myapp", Route: "/hello/world"}, nil)
	if err != nil || got.Payload.Route.Image != imgHello {
		t.Fatalf("get nested route: %+v %v", got, err)
	}
	pr, err := c.Routes.PatchRouteContext(ctx, &routes.PatchRouteParams{App: "myapp", Route: "/hello/world", Body: &models.RouteWrapper{Route: &models.Route{Timeout: ptr(int64(5))}}}, nil)
	if err != nil || *pr.Payload.Route.Timeout != 5 || *pr.Payload.Route.Memory != 64 {
		t.Fatalf("patch nested route: %+v %v", pr, err)
	}
	_, putR, err := c.Routes.PutRouteContext(ctx, &routes.PutRouteParams{App: "myapp", Route: "/users/:id", Body: &models.RouteWrapper{Route: &models.Route{Image: imgHello, Format: "http"}}}, nil)
	if err != nil || putR.Payload.Route.Path != "/users/:id" {
		t.Fatalf("put route: %+v %v", putR, err)
	}
	lr, err := c.Routes.ListRoutesContext(ctx, &routes.ListRoutesParams{App: "myapp"}, nil)
	if err != nil || len(lr.Payload.Routes) != 2 {
		t.Fatalf("list routes: %+v %v", lr, err)
	}
	_, err = c.Routes.CreateRouteContext(ctx, &routes.CreateRouteParams{App: "myapp", Body: &models.RouteWrapper{Route: &models.Route{Path: "/x", Image: "i", Memory: ptr(int64(1 << 20))}}}, nil)
	var bad *routes.CreateRouteBadRequest
	if !errors.As(err, &bad) || !strings.Contains(*bad.Payload.Error.Message, "memory") {
		t.Fatalf("invalid route: got %v, want CreateRouteBadRequest about memory", err)
	}

	_, err = c.Apps.DeleteAppContext(ctx, &apps.DeleteAppParams{App: "myapp"}, nil)
	var hasRoutes *apps.DeleteAppConflict
	if !errors.As(err, &hasRoutes) {
		t.Fatalf("delete app with routes: got %v, want DeleteAppConflict", err)
	}
	for _, p := range []string{"/hello/world", "/users/:id"} {
		if _, err := c.Routes.DeleteRouteContext(ctx, &routes.DeleteRouteParams{App: "myapp", Route: p}, nil); err != nil {
			t.Fatalf("delete route %s: %v", p, err)
		}
	}
	_, err = c.Routes.GetRouteContext(ctx, &routes.GetRouteParams{App: "myapp", Route: "/hello/world"}, nil)
	var nf *routes.GetRouteNotFound
	if !errors.As(err, &nf) {
		t.Fatalf("deleted route: got %v, want GetRouteNotFound", err)
	}
	if _, err := c.Apps.DeleteAppContext(ctx, &apps.DeleteAppParams{App: "myapp"}, nil); err != nil {
		t.Fatalf("delete app: %v", err)
	}
	var appNF *apps.GetAppNotFound
	if _, err := c.Apps.GetAppContext(ctx, &apps.GetAppParams{App: "myapp"}, nil); !errors.As(err, &appNF) {
		t.Fatalf("deleted app: got %v, want GetAppNotFound", err)
	}
}

func TestDataSurvivesRestart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ctx := context.Background()
	s := startServer(t, dir)
	c := s.client()
	if _, err := c.Apps.CreateAppContext(ctx, &apps.CreateAppParams{Body: &models.AppWrapper{App: &models.App{Name: "durable", Config: models.Config{"K": "v"}}}}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Routes.CreateRouteContext(ctx, &routes.CreateRouteParams{App: "durable", Body: &models.RouteWrapper{Route: &models.Route{Path: "/a/b", Image: imgHello}}}, nil); err != nil {
		t.Fatal(err)
	}
	s.stop(t)
	if !strings.Contains(s.logText(), "msg=stopped") {
		t.Fatalf("server did not shut down cleanly: %s", s.logText())
	}

	c = startServer(t, dir).client()
	app, err := c.Apps.GetAppContext(ctx, &apps.GetAppParams{App: "durable"}, nil)
	if err != nil || app.Payload.App.Config["K"] != "v" {
		t.Fatalf("app after restart: %+v %v", app, err)
	}
	r, err := c.Routes.GetRouteContext(ctx, &routes.GetRouteParams{App: "durable", Route: "/a/b"}, nil)
	if err != nil || r.Payload.Route.Image != imgHello {
		t.Fatalf("route after restart: %+v %v", r, err)
	}
}

func TestSecondServerOnSameDataDirFailsFast(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	first := startServer(t, dir)

	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// With the same --ready-file too, which the first server's file must survive.
	out, err := gantryCmd(ctx, "server", "--addr", "127.0.0.1:0", "--data-dir", dir, "--gateway-addr", "", "--gateway-tls-addr", "",
		"--ready-file", first.readyFile).CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() == 0 {
		t.Fatalf("second server: got %v, want a non-zero exit; output %s", err, out)
	}
	if elapsed := time.Since(start); elapsed > 10*time.Second {
		t.Fatalf("second server took %s to fail, want a fast failure", elapsed)
	}
	if !strings.Contains(string(out), "in use by another gantry process") {
		t.Fatalf("second server's message does not say why: %s", out)
	}
	present, cancelPresent := context.WithTimeout(ctx, time.Second) // there already, or gone
	defer cancelPresent()
	if info, err := readyfile.Wait(present, first.readyFile); err != nil || info.PID != first.cmd.Process.Pid {
		t.Fatalf("the first server's ready file after the second failed: %+v %v", info, err)
	}
}

// cli runs a gantry CLI command against the server and returns its stdout.
func (s *server) cli(t *testing.T, args ...string) string {
	t.Helper()
	out, err := s.cliErr(args...)
	if err != nil {
		t.Fatalf("gantry %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return out
}

func (s *server) cliErr(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := gantryCmd(ctx, args...)
	cmd.Env = append(cmd.Env, "GANTRY_API_URL=http://"+s.addr, "GANTRY_DATA_DIR="+s.dataDir) // the CLI finds admin.token there
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if err != nil {
		return stdout.String() + stderr.String(), err
	}
	return stdout.String(), nil
}

// TestCLIWalkthrough runs the README's CLI walkthrough against a real server.
func TestCLIWalkthrough(t *testing.T) {
	t.Parallel()
	s := startServer(t, t.TempDir())

	if out := s.cli(t, "version"); !regexp.MustCompile(`Server version:\s+` + version).MatchString(out) {
		t.Fatalf("version: %s", out)
	}
	s.cli(t, "apps", "create", "myapp", "--config", "GREETING=hello")
	if out := s.cli(t, "apps", "list"); !regexp.MustCompile(`(?m)^myapp\s+GREETING=hello`).MatchString(out) {
		t.Fatalf("apps list table:\n%s", out)
	}
	s.cli(t, "routes", "create", "myapp", "/hello/world", "--image", imgHello, "--memory", "64", "--timeout", "10")
	out := s.cli(t, "routes", "list", "myapp")
	if !regexp.MustCompile(`(?m)^/hello/world\s+gantry/hello:dev\s+sync\s+default\s+64MiB\s+10s`).MatchString(out) {
		t.Fatalf("routes list table:\n%s", out)
	}
	s.cli(t, "routes", "update", "myapp", "/hello/world", "--memory", "256", "--config", "NAME=World")

	var wrapped struct{ Route models.Route }
	if err := json.Unmarshal([]byte(s.cli(t, "routes", "get", "myapp", "/hello/world", "-o", "json")), &wrapped); err != nil {
		t.Fatal(err)
	}
	if r := wrapped.Route; *r.Memory != 256 || *r.Timeout != 10 || r.Config["NAME"] != "World" || r.Image != imgHello {
		t.Fatalf("route after update: %+v", r)
	}

	out, err := s.cliErr("apps", "delete", "myapp")
	if err == nil || !strings.Contains(out, "still has routes") {
		t.Fatalf("deleting an app with routes: %v %s", err, out)
	}
	s.cli(t, "routes", "delete", "myapp", "/hello/world")
	s.cli(t, "apps", "delete", "myapp")
	out, err = s.cliErr("apps", "get", "myapp")
	if err == nil || !strings.Contains(out, `app "myapp"`) {
		t.Fatalf("get deleted app: %v %s", err, out)
	}
	out, err = s.cliErr("apps", "create", "bad name")
	if err == nil || !strings.Contains(out, "name") {
		t.Fatalf("invalid name: %v %s", err, out)
	}
}

// TestServerRejectsBadInputWithoutLosingState sends malformed requests over a real
// socket and checks the server stays up and keeps what it had.
func TestServerRejectsBadInputWithoutLosingState(t *testing.T) {
	t.Parallel()
	s := startServer(t, t.TempDir())
	s.cli(t, "apps", "create", "keep")
	base := "http://" + s.addr
	for _, tc := range []struct {
		method, path, body string
		status             int
	}{
		{"POST", "/v1/apps", `{"app":{"name":`, 400},
		{"POST", "/v1/apps", `{"app":{"name":"x"}}` + strings.Repeat(" ", 2<<20), 413},
		{"PUT", "/v1/apps/keep", `{"app":{"config":{"K":1}}}`, 400},
		{"POST", "/v1/apps/keep/routes", `{"route":{"path":"/r","image":"i","type":"sometimes"}}`, 400},
	} {
		req, _ := http.NewRequest(tc.method, base+tc.path, strings.NewReader(tc.body))
		req.Header.Set("Authorization", "Bearer "+s.token)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", tc.method, tc.path, err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		var e models.Error
		if res.StatusCode != tc.status || json.Unmarshal(body, &e) != nil || e.Error == nil || *e.Error.Message == "" {
			t.Fatalf("%s %s: %d %s, want %d with a JSON error", tc.method, tc.path, res.StatusCode, body, tc.status)
		}
	}
	if out := s.cli(t, "apps", "get", "keep"); !strings.Contains(out, "keep") {
		t.Fatalf("app lost after bad input: %s", out)
	}
}

// TestNestedRoutePathsOverTheWire addresses a multi-segment route by its segments, as
// curl users do (the generated client sends it URL-encoded).
func TestNestedRoutePathsOverTheWire(t *testing.T) {
	t.Parallel()
	s := startServer(t, t.TempDir())
	s.cli(t, "apps", "create", "myapp")
	base := "http://" + s.addr + "/v1/apps/myapp/routes"
	call := func(method, url, body string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(method, url, strings.NewReader(body))
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		req.Header.Set("Authorization", "Bearer "+s.token)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	if code, body := call("POST", base, `{"route":{"path":"/hello/world","image":"`+imgHello+`"}}`); code != 201 {
		t.Fatalf("create: %d %s", code, body)
	}
	if code, body := call("GET", base+"/hello/world", ""); code != 200 || !strings.Contains(body, `"path":"/hello/world"`) {
		t.Fatalf("GET by segments: %d %s", code, body)
	}
	if code, body := call("PATCH", base+"/hello/world", `{"route":{"timeout":7}}`); code != 200 || !strings.Contains(body, `"timeout":7`) {
		t.Fatalf("PATCH by segments: %d %s", code, body)
	}
	if code, body := call("DELETE", base+"/hello/world", ""); code != 204 {
		t.Fatalf("DELETE by segments: %d %s", code, body)
	}
	if code, _ := call("GET", base+"/hello/world", ""); code != 404 {
		t.Fatalf("GET after delete: %d", code)
	}
}

// gatewayAddrs returns the gateway's plain and HTTPS listener addresses, from the ready file.
func (s *server) gatewayAddrs(t *testing.T) (plain, secure string) {
	t.Helper()
	plain, okPlain := s.ready.GatewayAddr(false)
	secure, okSecure := s.ready.GatewayAddr(true)
	if !okPlain || !okSecure {
		t.Fatalf("the ready file names gateway listeners %+v, want a plain and an HTTPS one", s.ready.Gateway)
	}
	return plain, secure
}
