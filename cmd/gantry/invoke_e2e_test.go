package main

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"

	"github.com/gantry-dev/gantry/runner"
)

// call sends a request to the server and returns the response with its body read.
func (s *server) call(t *testing.T, method, path, body string) (*http.Response, string) {
	t.Helper()
	return s.callWith(t, method, path, body)
}

// callWith is call with request headers given as name, value pairs.
func (s *server) callWith(t *testing.T, method, path, body string, header ...string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, "http://"+s.addr+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	_, ownAuth := req.Header["Authorization"] // set, even to "": no admin token added
	if body != "" && strings.HasPrefix(path, "/v1/") {
		req.Header.Set("Content-Type", "application/json")
	}
	if s.token != "" && strings.HasPrefix(path, "/v1/") && !ownAuth {
		req.Header.Set("Authorization", "Bearer "+s.token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res, string(b)
}

func (s *server) mustCall(t *testing.T, method, path, body string, status int) (*http.Response, string) {
	t.Helper()
	res, b := s.call(t, method, path, body)
	if res.StatusCode != status {
		t.Fatalf("%s %s: %d %s, want %d", method, path, res.StatusCode, b, status)
	}
	return res, b
}

// containers counts the server's containers in any state, or those with the labels.
func (s *server) containers(t *testing.T, labels ...string) int {
	t.Helper()
	return s.countContainers(t, filters.NewArgs(), labels)
}

// runningContainers counts the server's running containers with the labels (a created
// one has not started its function yet).
func (s *server) runningContainers(t *testing.T, labels ...string) int {
	t.Helper()
	return s.countContainers(t, filters.NewArgs(filters.Arg("status", "running")), labels)
}

func (s *server) countContainers(t *testing.T, args filters.Args, labels []string) int {
	t.Helper()
	args.Add("label", runner.LabelInstance+"="+s.instance)
	for _, l := range labels {
		args.Add("label", l)
	}
	list, err := docker.ContainerList(context.Background(), container.ListOptions{All: true, Filters: args})
	if err != nil {
		t.Fatal(err)
	}
	return len(list)
}

func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %s", timeout, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// execution reads an execution through the API.
func (s *server) execution(t *testing.T, id string) map[string]any {
	t.Helper()
	_, body := s.mustCall(t, "GET", "/v1/executions/"+id, "", 200)
	var w struct{ Execution map[string]any }
	if err := json.Unmarshal([]byte(body), &w); err != nil {
		t.Fatal(err)
	}
	return w.Execution
}

func errorMessage(t *testing.T, body string) string {
	t.Helper()
	var e struct{ Error struct{ Message string } }
	if err := json.Unmarshal([]byte(body), &e); err != nil || e.Error.Message == "" {
		t.Fatalf("not a JSON error: %q", body)
	}
	return e.Error.Message
}

func TestCallsOfTheDefaultFormat(t *testing.T) {
	t.Parallel()
	s := startServer(t, t.TempDir(), "GANTRY_MAX_CALL_BODY=4096")
	s.mustCall(t, "POST", "/v1/apps", `{"app":{"name":"fn","config":{"GREETING":"from the app"}}}`, 201)
	s.mustCall(t, "POST", "/v1/apps/fn/routes", `{"route":{"path":"/hello","image":"`+imgHello+`"}}`, 201)
	s.mustCall(t, "POST", "/v1/apps/fn/routes", `{"route":{"path":"/test/:id","image":"`+imgTestfn+`","timeout":2,"memory":32,"headers":{"X-Route":["yes"]}}}`, 201)

	t.Run("hello", func(t *testing.T) {
		t.Parallel()
		res, body := s.mustCall(t, "GET", "/r/fn/hello", "", 200)
		if body != "from the app World!" || res.Header.Get("Gantry-Route") != "fn/hello" { // hello greets with the app's GREETING
			t.Fatalf("got %q route %q", body, res.Header.Get("Gantry-Route"))
		}
		ex := s.execution(t, res.Header.Get("Gantry-Call-Id"))
		if ex["status"] != "SUCCESS" || ex["container"] != "cold" || ex["app"] != "fn" || ex["route"] != "/hello" {
			t.Fatalf("the call's execution: %v", ex)
		}
		if _, body := s.mustCall(t, "POST", "/r/fn/hello", `{"name":"John"}`, 200); body != "from the app John!" {
			t.Fatalf("got %q, want from the app John!", body)
		}
		if _, body := s.mustCall(t, "GET", `/r/fn/hello?payload={"name":"Query"}`, "", 200); body != "from the app Query!" {
			t.Fatalf("?payload=: got %q", body)
		}
		if res, body := s.mustCall(t, "HEAD", "/r/fn/hello", "", 200); body != "" || res.Header.Get("Gantry-Call-Id") == "" {
			t.Fatalf("HEAD: body %q, call id %q", body, res.Header.Get("Gantry-Call-Id"))
		}
		if res, _ := s.mustCall(t, "OPTIONS", "/r/fn/hello", "", 204); !strings.Contains(res.Header.Get("Allow"), "POST") || res.Header.Get("Gantry-Call-Id") != "" {
			t.Fatalf("OPTIONS ran the function or has no Allow: %v", res.Header)
		}
	})
	t.Run("params, config and route headers", func(t *testing.T) {
		t.Parallel()
		res, body := s.mustCall(t, "POST", "/r/fn/test/42?x=1", `{"env":true,"env_keys":["GREETING"]}`, 200)
		var env map[string]string
		if err := json.Unmarshal([]byte(body), &env); err != nil {
			t.Fatal(err)
		}
		if env["FN_PARAM_ID"] != "42" || env["GREETING"] != "from the app" || env["FN_REQUEST_URL"] != "/test/42?x=1" || env["FN_APP_NAME"] != "fn" {
			t.Fatalf("environment of the call: %v", env)
		}
		if res.Header.Get("X-Route") != "yes" {
			t.Fatalf("route header missing: %v", res.Header)
		}
	})
	t.Run("non-zero exit", func(t *testing.T) {
		t.Parallel()
		res, body := s.mustCall(t, "POST", "/r/fn/test/1", `{"exit":3,"stderr":"boom"}`, 502)
		errorMessage(t, body)
		id := res.Header.Get("Gantry-Call-Id")
		ex := s.execution(t, id)
		if ex["status"] != "FAILED" || ex["reason"] != "bad_exit" || ex["exit_code"] != 3.0 {
			t.Fatalf("execution of a bad exit: %v", ex)
		}
		if _, log := s.mustCall(t, "GET", "/v1/executions/"+id+"/log", "", 200); !strings.Contains(log, "boom") {
			t.Fatalf("log %q lacks the function's stderr", log)
		}
	})
	t.Run("timeout", func(t *testing.T) {
		t.Parallel()
		res, body := s.mustCall(t, "POST", "/r/fn/test/1", `{"sleep_ms":20000}`, 504)
		if msg := errorMessage(t, body); msg != "Timed out" {
			t.Fatalf("message %q, want Timed out", msg)
		}
		id := res.Header.Get("Gantry-Call-Id")
		if ex := s.execution(t, id); ex["status"] != "FAILED" || ex["reason"] != "timeout" {
			t.Fatalf("execution of a timeout: %v", ex)
		}
		waitFor(t, 10*time.Second, "the timed-out container is still there", func() bool {
			return s.containers(t, runner.LabelCall+"="+id) == 0
		})
	})
	t.Run("out of memory", func(t *testing.T) {
		t.Parallel()
		res, _ := s.mustCall(t, "POST", "/r/fn/test/1", `{"alloc_mb":128}`, 502)
		if ex := s.execution(t, res.Header.Get("Gantry-Call-Id")); ex["reason"] != "killed" {
			t.Fatalf("execution of an OOM kill: %v", ex)
		}
	})
	t.Run("bad requests", func(t *testing.T) {
		t.Parallel()
		_, body := s.mustCall(t, "POST", "/r/fn/nothing/here", "", 404)
		errorMessage(t, body)
		s.mustCall(t, "POST", "/r/ghost/hello", "", 404)
		_, body = s.mustCall(t, "POST", "/r/fn/hello", strings.Repeat("x", 5000), 413)
		errorMessage(t, body)
	})
}

func TestHotCallsThroughTheServerAndNothingLeftAfterShutdown(t *testing.T) {
	t.Parallel()
	s, err := launch(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.stop(t) })
	s.mustCall(t, "POST", "/v1/apps", `{"app":{"name":"hot"}}`, 201)
	s.mustCall(t, "POST", "/v1/apps/hot/routes", `{"route":{"path":"/http","image":"`+imgTestfn+`","format":"http","max_concurrency":2}}`, 201)
	s.mustCall(t, "POST", "/v1/apps/hot/routes", `{"route":{"path":"/json","image":"`+imgTestfn+`","format":"json"}}`, 201)

	var wg sync.WaitGroup
	for range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, body := s.call(t, "POST", "/r/hot/http", `{"name":"hot"}`)
			if res.StatusCode != 200 || body != "Hello hot!" || res.Header.Get("X-Container-Id") == "" {
				t.Errorf("hot http call: %d %q", res.StatusCode, body)
			}
		}()
	}
	wg.Wait()
	res, body := s.mustCall(t, "POST", "/r/hot/json", `{"name":"json","status":202}`, 202)
	if body != "Hello json!" {
		t.Fatalf("json call: %q", body)
	}
	if ex := s.execution(t, res.Header.Get("Gantry-Call-Id")); ex["container"] != "hot" {
		t.Fatalf("execution of a hot call: %v", ex)
	}
	if n := s.containers(t); n < 2 || n > 3 {
		t.Fatalf("%d containers for an http route of max_concurrency 2 and a json route", n)
	}
	// A hot call's stderr reaches its execution's log, even when it trails the answer.
	// (300ms between the stderr and the answer: on a loaded machine Docker may deliver a
	// stderr frame after the next call has started, and it is then that call's.)
	res, _ = s.mustCall(t, "POST", "/r/hot/http", `{"stderr":"hot-log-line","sleep_ms":300}`, 200)
	s.mustCall(t, "POST", "/r/hot/http", `{}`, 200) // a next call on the container delivers any tail
	waitFor(t, 10*time.Second, "the hot call's stderr never reached its log", func() bool {
		_, log := s.call(t, "GET", "/v1/executions/"+res.Header.Get("Gantry-Call-Id")+"/log", "")
		return strings.Contains(log, "hot-log-line")
	})
	// Changing a route drains its containers.
	s.mustCall(t, "PATCH", "/v1/apps/hot/routes/json", `{"route":{"config":{"V":"2"}}}`, 200)
	waitFor(t, 10*time.Second, "the changed route's container is still there", func() bool {
		return s.containers(t, runner.LabelRoute+"=/json") == 0
	})

	// Changing the app's config drains its routes' containers: they carry the old config.
	s.mustCall(t, "POST", "/r/hot/http", `{}`, 200)
	s.mustCall(t, "PATCH", "/v1/apps/hot", `{"app":{"config":{"NEW":"1"}}}`, 200)
	waitFor(t, 10*time.Second, "the app's containers outlived its change", func() bool { return s.containers(t) == 0 })

	s.stop(t)
	if n := s.containers(t); n != 0 {
		t.Fatalf("%d containers remain after the server shut down", n)
	}
}

func TestMissingImageIsRejectedAtCreate(t *testing.T) {
	t.Parallel()
	s := startServer(t, t.TempDir())
	s.mustCall(t, "POST", "/v1/apps", `{"app":{"name":"a"}}`, 201)
	_, body := s.mustCall(t, "POST", "/v1/apps/a/routes", `{"route":{"path":"/x","image":"gantry-test/never-built:none"}}`, 400)
	if msg := errorMessage(t, body); !strings.Contains(msg, "gantry-test/never-built:none") || !strings.Contains(body, `"fields":"route.image"`) {
		t.Fatalf("error does not name the image: %s", body)
	}
	s.mustCall(t, "POST", "/v1/apps/a/routes", `{"route":{"path":"/x","image":"`+imgHello+`"}}`, 201)
	s.mustCall(t, "PATCH", "/v1/apps/a/routes/x", `{"route":{"image":"gantry-test/never-built:none"}}`, 400)
}

// dockerProxy stands between the server and the Docker daemon on a unix socket, so a
// test can take Docker away and bring it back without touching the real daemon.
type dockerProxy struct {
	path string
	mu   sync.Mutex
	ln   net.Listener
	open map[net.Conn]bool
}

func (p *dockerProxy) start(t *testing.T) {
	t.Helper()
	os.Remove(p.path)
	ln, err := net.Listen("unix", p.path)
	if err != nil {
		t.Fatal(err)
	}
	p.mu.Lock()
	p.ln, p.open = ln, map[net.Conn]bool{}
	p.mu.Unlock()
	daemon := strings.TrimPrefix(docker.DaemonHost(), "unix://")
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			d, err := net.Dial("unix", daemon)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.open[c], p.open[d] = true, true
			p.mu.Unlock()
			go pipe(d, c)
			go pipe(c, d)
		}
	}()
}

// pipe copies src to dst and passes the end on as a half-close: Gantry closes a call's
// stdin while it still reads the output.
func pipe(dst, src net.Conn) {
	_, _ = io.Copy(dst, src)
	if hc, ok := dst.(interface{ CloseWrite() error }); ok {
		_ = hc.CloseWrite()
		return
	}
	dst.Close()
}

// stop makes Docker unreachable: no listener, every connection cut.
func (p *dockerProxy) stop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.ln.Close()
	for c := range p.open {
		c.Close()
	}
}

func TestDockerUnavailable(t *testing.T) {
	t.Parallel()
	if !strings.HasPrefix(docker.DaemonHost(), "unix://") {
		t.Skip("the daemon is not on a unix socket")
	}
	proxy := &dockerProxy{path: filepath.Join(t.TempDir(), "docker.sock")}
	proxy.start(t)
	t.Cleanup(proxy.stop) // after the server's cleanup (LIFO), which needs Docker to remove its containers
	s := startServer(t, t.TempDir(), "DOCKER_HOST=unix://"+proxy.path)
	s.mustCall(t, "POST", "/v1/apps", `{"app":{"name":"a"}}`, 201)
	s.mustCall(t, "POST", "/v1/apps/a/routes", `{"route":{"path":"/hello","image":"`+imgHello+`"}}`, 201)
	if _, body := s.mustCall(t, "GET", "/r/a/hello", "", 200); body != "Hello World!" {
		t.Fatalf("call through the proxy: %q", body)
	}

	proxy.stop()
	res, body := s.mustCall(t, "GET", "/r/a/hello", "", 503)
	if msg := errorMessage(t, body); !strings.Contains(msg, "Docker") || res.Header.Get("Retry-After") == "" {
		t.Fatalf("503 without a clear message or Retry-After: %v %s", res.Header, body)
	}
	// The management API keeps working, route images unchecked meanwhile.
	s.mustCall(t, "GET", "/v1/apps/a/routes", "", 200)
	s.mustCall(t, "POST", "/v1/apps/a/routes", `{"route":{"path":"/later","image":"`+imgHello+`"}}`, 201)

	proxy.start(t)
	deadline := time.Now().Add(10 * time.Second)
	for {
		res, body := s.call(t, "GET", "/r/a/later", "")
		if res.StatusCode == 200 && body == "Hello World!" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("calls did not recover after Docker came back: %d %s", res.StatusCode, body)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
