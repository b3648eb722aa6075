package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"

	"github.com/gantry-dev/gantry/runner"
)

// submit sends n async calls concurrently and returns their call ids (index i: input name i).
func (s *server) submit(t *testing.T, path string, n int, header ...string) []string {
	return s.submitWith(t, path, n, "", header...)
}

// submitWith is submit with extra input fields (a JSON fragment such as `,"sleep_ms":10`).
func (s *server) submitWith(t *testing.T, path string, n int, extra string, header ...string) []string {
	t.Helper()
	ids := make([]string, n)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 16)
	for i := range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			req := fmt.Sprintf(`{"name":"n%d"%s}`, i, extra)
			res, body := s.callWith(t, "POST", path, req, header...)
			var out struct {
				CallID string `json:"call_id"`
			}
			if res.StatusCode != 202 || json.Unmarshal([]byte(body), &out) != nil || out.CallID == "" || res.Header.Get("Location") != "/v1/executions/"+out.CallID {
				t.Errorf("async call %d: %d %s %v", i, res.StatusCode, body, res.Header)
				return
			}
			ids[i] = out.CallID
		}()
	}
	wg.Wait()
	return ids
}

// waitDone polls until every execution is finished and returns them by id.
func (s *server) waitDone(t *testing.T, ids []string, timeout time.Duration) map[string]map[string]any {
	t.Helper()
	done := map[string]map[string]any{}
	deadline := time.Now().Add(timeout)
	for len(done) < len(ids) {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d async calls finished within %s", len(done), len(ids), timeout)
		}
		for _, id := range ids {
			if done[id] != nil || id == "" {
				continue
			}
			if ex := s.execution(t, id); ex["status"] != "QUEUED" && ex["status"] != "RUNNING" {
				done[id] = ex
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return done
}

func TestAsyncCallsAllComplete(t *testing.T) {
	t.Parallel()
	s := startServer(t, t.TempDir(), "GANTRY_ASYNC_WORKERS=4")
	s.mustCall(t, "POST", "/v1/apps", `{"app":{"name":"a"}}`, 201)
	s.mustCall(t, "POST", "/v1/apps/a/routes", `{"route":{"path":"/work","image":"`+imgTestfn+`","format":"http","type":"async","max_concurrency":4}}`, 201)
	s.mustCall(t, "POST", "/v1/apps/a/routes", `{"route":{"path":"/sync","image":"`+imgTestfn+`","format":"http"}}`, 201)

	ids := s.submit(t, "/r/a/work", 500)
	done := s.waitDone(t, ids, 3*time.Minute)
	for i, id := range ids {
		ex := done[id]
		if ex["status"] != "SUCCESS" || ex["type"] != "async" || ex["output"] != fmt.Sprintf("Hello n%d!", i) || ex["container"] != "hot" {
			t.Fatalf("async call %d: %v", i, ex)
		}
		if ex["attempts"] != 1.0 { // each ran exactly once
			t.Fatalf("async call %d ran %v times", i, ex["attempts"])
		}
	}
	// Any call can be made async with the header.
	ids = s.submit(t, "/r/a/sync", 3, "Gantry-Invoke-Type", "async")
	for _, ex := range s.waitDone(t, ids, time.Minute) {
		if ex["status"] != "SUCCESS" || ex["type"] != "async" {
			t.Fatalf("async by header: %v", ex)
		}
	}
	res, body := s.callWith(t, "POST", "/r/a/sync", "{}", "Gantry-Invoke-Type", "later")
	if res.StatusCode != 400 || !strings.Contains(body, "Gantry-Invoke-Type") {
		t.Fatalf("bad invoke type: %d %s", res.StatusCode, body)
	}
	res, body = s.callWith(t, "POST", "/r/a/work", "{}", "Gantry-Priority", "high")
	if res.StatusCode != 400 || !strings.Contains(body, "Gantry-Priority") {
		t.Fatalf("bad priority: %d %s", res.StatusCode, body)
	}
	ids = s.submit(t, "/r/a/work", 2, "Gantry-Priority", "3")
	for _, ex := range s.waitDone(t, ids, time.Minute) {
		if ex["status"] != "SUCCESS" {
			t.Fatalf("a call of priority 3: %v", ex)
		}
	}
}

// TestAsyncCallsSurviveACrash kills the server with SIGKILL while it drains a backlog and
// starts it again on the same data dir: every call whose 202 was received completes.
// Delivery is at least once: a call running at the crash runs again after the restart.
func TestAsyncCallsSurviveACrash(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s, err := launch(dir, "GANTRY_ASYNC_WORKERS=2")
	if err != nil {
		t.Fatal(err)
	}
	s.mustCall(t, "POST", "/v1/apps", `{"app":{"name":"a"}}`, 201)
	s.mustCall(t, "POST", "/v1/apps/a/routes", `{"route":{"path":"/work","image":"`+imgTestfn+`","format":"http","type":"async","max_concurrency":2}}`, 201)
	ids := s.submitWith(t, "/r/a/work", 1000, `,"sleep_ms":10`) // 10ms each, 2 at a time: a 5s backlog

	// Let some finish, then kill it mid-way.
	waitFor(t, time.Minute, "no async call finished before the crash", func() bool {
		return s.execution(t, ids[0])["status"] == "SUCCESS"
	})
	if err := s.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-s.done //nolint:errcheck // the exit status of a killed process
	s2 := startServer(t, dir, "GANTRY_ASYNC_WORKERS=2")
	if last := s2.execution(t, ids[len(ids)-1]); last["status"] == "SUCCESS" {
		t.Fatal("the backlog drained before the crash: the test proves nothing")
	}
	// The restarted server reaps the dead one's containers and runs what is left.
	if s2.instance != s.instance {
		t.Fatalf("instance changed across the restart: %s, %s", s.instance, s2.instance)
	}
	done := s2.waitDone(t, ids, 4*time.Minute)
	for i, id := range ids {
		if id == "" {
			t.Fatalf("call %d was not accepted", i)
		}
		if ex := done[id]; ex["status"] != "SUCCESS" || ex["output"] != fmt.Sprintf("Hello n%d!", i) {
			t.Fatalf("call %d after the crash: %v", i, ex)
		}
	}
}

func TestCancel(t *testing.T) {
	t.Parallel()
	s := startServer(t, t.TempDir(), "GANTRY_ASYNC_WORKERS=1")
	s.mustCall(t, "POST", "/v1/apps", `{"app":{"name":"a"}}`, 201)
	s.mustCall(t, "POST", "/v1/apps/a/routes", `{"route":{"path":"/slow","image":"`+imgTestfn+`","type":"async","timeout":120}}`, 201)
	s.mustCall(t, "POST", "/v1/apps/a/routes", `{"route":{"path":"/sync","image":"`+imgTestfn+`","timeout":120}}`, 201)

	// The one worker takes the first call (sleeping 60s); the second waits in the queue.
	running := s.submitWith(t, "/r/a/slow", 1, `,"sleep_ms":60000`)[0]
	waitFor(t, 30*time.Second, "the first call never ran", func() bool {
		return s.execution(t, running)["status"] == "RUNNING" && s.runningContainers(t, "gantry.call="+running) == 1
	})
	queued := s.submitWith(t, "/r/a/slow", 1, `,"sleep_ms":60000`)[0]

	_, body := s.mustCall(t, "DELETE", "/v1/executions/"+queued, "", 202)
	if !strings.Contains(body, `"status":"CANCELLED"`) {
		t.Fatalf("cancel a queued call: %s", body)
	}
	start := time.Now()
	s.mustCall(t, "DELETE", "/v1/executions/"+running, "", 202)
	waitFor(t, 2*time.Second, "the cancelled call's container outlived 2s", func() bool {
		return s.containers(t, "gantry.call="+running) == 0
	})
	waitFor(t, 5*time.Second, "the cancelled running call did not end CANCELLED", func() bool {
		ex := s.execution(t, running)
		return ex["status"] == "CANCELLED" && ex["reason"] == "client_request"
	})
	t.Logf("running call stopped in %s", time.Since(start))
	// The worker is free now; the cancelled queued call must still never run.
	time.Sleep(time.Second)
	if ex := s.execution(t, queued); ex["status"] != "CANCELLED" || s.containers(t, "gantry.call="+queued) != 0 {
		t.Fatalf("the cancelled queued call ran: %v", ex)
	}
	_, body = s.mustCall(t, "DELETE", "/v1/executions/"+running, "", 409)
	errorMessage(t, body)
	s.mustCall(t, "DELETE", "/v1/executions/01ARZ3NDEKTSV4RRFFQ69G5FAV", "", 404)

	// A sync call: its caller gets 409.
	answered := make(chan string, 1)
	go func() {
		res, body := s.call(t, "POST", "/r/a/sync", `{"sleep_ms":60000}`)
		answered <- fmt.Sprint(res.StatusCode, " ", body)
	}()
	var id string
	waitFor(t, 30*time.Second, "the sync call never showed as RUNNING", func() bool {
		_, body := s.call(t, "GET", "/v1/executions?route=/sync&status=RUNNING", "")
		var list struct{ Executions []map[string]any }
		_ = json.Unmarshal([]byte(body), &list)
		if len(list.Executions) == 1 && s.runningContainers(t, "gantry.call="+list.Executions[0]["id"].(string)) == 1 {
			id = list.Executions[0]["id"].(string)
		}
		return id != ""
	})
	s.mustCall(t, "DELETE", "/v1/executions/"+id, "", 202)
	select {
	case got := <-answered:
		if !strings.HasPrefix(got, "409 ") || !strings.Contains(got, "cancelled") {
			t.Fatalf("the sync caller got %s, want 409 the call was cancelled", got)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the sync caller was not answered after the cancel")
	}
}

func TestExternalRunner(t *testing.T) {
	t.Parallel()
	s := startServer(t, t.TempDir(), "GANTRY_ASYNC_WORKERS=0") // no internal workers: the queue is the runners'
	s.mustCall(t, "POST", "/v1/apps", `{"app":{"name":"a","config":{"K":"v"}}}`, 201)
	s.mustCall(t, "POST", "/v1/apps/a/routes", `{"route":{"path":"/job/:id","image":"`+imgTestfn+`","type":"async"}}`, 201)
	id := s.submitWith(t, "/r/a/job/7", 1, "")[0]

	var leased struct{ Tasks []map[string]any }
	_, body := s.mustCall(t, "GET", "/v1/tasks?runner=r1&lease=1&n=5", "", 200)
	if err := json.Unmarshal([]byte(body), &leased); err != nil || len(leased.Tasks) != 1 || leased.Tasks[0]["id"] != id ||
		leased.Tasks[0]["body"] != `{"name":"n0"}` || fmt.Sprint(leased.Tasks[0]["params"]) != "map[id:7]" || fmt.Sprint(leased.Tasks[0]["config"]) != "map[K:v]" {
		t.Fatalf("lease: %s", body)
	}
	if ex := s.execution(t, id); ex["status"] != "RUNNING" {
		t.Fatalf("leased execution: %v", ex)
	}
	if _, body := s.mustCall(t, "GET", "/v1/tasks?runner=r2", "", 200); strings.Contains(body, id) {
		t.Fatal("a leased task was handed to a second runner")
	}
	time.Sleep(1500 * time.Millisecond) // r1's lease expires without a result
	_, body = s.mustCall(t, "GET", "/v1/tasks?runner=r2&lease=60", "", 200)
	if !strings.Contains(body, id) || !strings.Contains(body, `"attempts":2`) {
		t.Fatalf("after the lease expired: %s", body)
	}
	s.mustCall(t, "POST", "/v1/tasks/"+id+"/result", `{"runner":"r1","status":"SUCCESS","output":"late"}`, 409)
	for _, bad := range []string{
		`{"runner":"r2","status":"SUCCESS","reason":"timeout"}`,
		`{"runner":"r2","status":"FAILED","reason":"bad_exit","exit_code":0}`,
		`{"runner":"r2","status":"FAILED","exit_code":300}`,
		`{"runner":"r2","status":"DONE"}`,
	} {
		if res, body := s.call(t, "POST", "/v1/tasks/"+id+"/result", bad); res.StatusCode != 400 {
			t.Fatalf("result %s: %d %s, want 400", bad, res.StatusCode, body)
		}
	}
	_, body = s.mustCall(t, "POST", "/v1/tasks/"+id+"/result", `{"runner":"r2","status":"SUCCESS","exit_code":0,"output":"done by r2","log":"r2 log"}`, 200)
	if !strings.Contains(body, `"status":"SUCCESS"`) || !strings.Contains(body, `"output":"done by r2"`) {
		t.Fatalf("result: %s", body)
	}
	if _, log := s.mustCall(t, "GET", "/v1/executions/"+id+"/log", "", 200); log != "r2 log" {
		t.Fatalf("log %q", log)
	}
	_, body = s.mustCall(t, "GET", "/v1/tasks/stats", "", 200)
	if !strings.Contains(body, `"queued":0`) || !strings.Contains(body, `"running":0`) {
		t.Fatalf("stats: %s", body)
	}
	s.mustCall(t, "GET", "/v1/tasks", "", 400) // runner is required
}

// TestAsyncRetriesWhenDockerFails takes Docker away under queued async calls: they are
// retried with backoff, then FAILED with a clear error, never dropped; once Docker is back,
// new calls run again.
func TestAsyncRetriesWhenDockerFails(t *testing.T) {
	t.Parallel()
	if !strings.HasPrefix(docker.DaemonHost(), "unix://") {
		t.Skip("the daemon is not on a unix socket")
	}
	proxy := &dockerProxy{path: filepath.Join(t.TempDir(), "docker.sock")}
	proxy.start(t)
	t.Cleanup(proxy.stop)
	s := startServer(t, t.TempDir(), "DOCKER_HOST=unix://"+proxy.path, "GANTRY_ASYNC_ATTEMPTS=3", "GANTRY_ASYNC_BACKOFF=200ms")
	s.mustCall(t, "POST", "/v1/apps", `{"app":{"name":"a"}}`, 201)
	s.mustCall(t, "POST", "/v1/apps/a/routes", `{"route":{"path":"/job","image":"`+imgTestfn+`","type":"async"}}`, 201)

	proxy.stop()
	ids := s.submit(t, "/r/a/job", 3)
	waitFor(t, 10*time.Second, "a call failing for Docker was not retried", func() bool {
		ex := s.execution(t, ids[0])
		return ex["status"] == "QUEUED" && strings.Contains(fmt.Sprint(ex["error"]), "docker is unavailable")
	})
	for _, ex := range s.waitDone(t, ids, 30*time.Second) {
		if ex["status"] != "FAILED" || ex["reason"] != "error" || !strings.Contains(fmt.Sprint(ex["error"]), "gave up after 3 attempts") {
			t.Fatalf("after the retries: %v", ex)
		}
	}
	proxy.start(t)
	id := s.submit(t, "/r/a/job", 1)[0]
	if ex := s.waitDone(t, []string{id}, time.Minute)[id]; ex["status"] != "SUCCESS" {
		t.Fatalf("once Docker is back: %v", ex)
	}
}

// TestAsyncBacklogDrainsWithBoundedConcurrency queues cold calls behind few workers: they
// drain with never more containers than workers, none lost, none left behind.
func TestAsyncBacklogDrainsWithBoundedConcurrency(t *testing.T) {
	t.Parallel()
	s := startServer(t, t.TempDir(), "GANTRY_ASYNC_WORKERS=3")
	s.mustCall(t, "POST", "/v1/apps", `{"app":{"name":"a"}}`, 201)
	s.mustCall(t, "POST", "/v1/apps/a/routes", `{"route":{"path":"/cold","image":"`+imgTestfn+`","type":"async"}}`, 201)
	ids := s.submit(t, "/r/a/cold", 60)

	stop := make(chan struct{})
	most := make(chan int, 1)
	go func() {
		top := 0
		for {
			select {
			case <-stop:
				most <- top
				return
			case <-time.After(20 * time.Millisecond):
			}
			list, err := docker.ContainerList(context.Background(), container.ListOptions{Filters: filters.NewArgs(filters.Arg("label", runner.LabelInstance+"="+s.instance), filters.Arg("status", "running"))})
			if err == nil && len(list) > top {
				top = len(list)
			}
		}
	}()
	done := s.waitDone(t, ids, 4*time.Minute)
	close(stop)
	for i, id := range ids {
		if ex := done[id]; ex["status"] != "SUCCESS" || ex["output"] != fmt.Sprintf("Hello n%d!", i) {
			t.Fatalf("call %d: %v", i, ex)
		}
	}
	if top := <-most; top > 3 || top == 0 {
		t.Fatalf("%d containers ran at once, want at most the 3 workers", top)
	}
}

func TestCLICallWaitCancel(t *testing.T) {
	t.Parallel()
	s := startServer(t, t.TempDir(), "GANTRY_ASYNC_WORKERS=1")
	s.cli(t, "apps", "create", "a")
	s.cli(t, "routes", "create", "a", "/hello", "--image", imgTestfn)
	s.cli(t, "routes", "create", "a", "/job", "--image", imgTestfn, "--type", "async", "--timeout", "120")

	if out := s.cli(t, "call", "a", "/hello", "--data", `{"name":"CLI"}`); out != "Hello CLI!" {
		t.Fatalf("sync call printed %q", out)
	}
	input := filepath.Join(t.TempDir(), "in.json")
	if err := os.WriteFile(input, []byte(`{"name":"file"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	id := strings.TrimSpace(s.cli(t, "call", "a", "/job", "--data", "@"+input))
	if len(id) != 26 {
		t.Fatalf("async call printed %q, want a call id", id)
	}
	if out := s.cli(t, "executions", "wait", id, "--interval", "100ms"); !regexp.MustCompile(`Status:\s+SUCCESS`).MatchString(out) {
		t.Fatalf("wait printed %q", out)
	}
	if ex := s.execution(t, id); ex["output"] != "Hello file!" {
		t.Fatalf("the async call's output: %v", ex)
	}
	out, err := s.cliErr("call", "a", "/hello", "--data", `{"exit":3}`)
	if err == nil || !strings.Contains(out, "exited with code 3") {
		t.Fatalf("failed call: %v %q", err, out)
	}
	slow := strings.TrimSpace(s.cli(t, "call", "a", "/job", "--data", `{"sleep_ms":60000}`))
	if out := s.cli(t, "executions", "cancel", slow); !strings.Contains(out, "cancelled") {
		t.Fatalf("cancel printed %q", out)
	}
	if out, err := s.cliErr("executions", "wait", slow, "--interval", "100ms"); err == nil || !strings.Contains(out, "CANCELLED") {
		t.Fatalf("wait on a cancelled call: %v %q", err, out)
	}
}

func TestAsyncMaxRetries(t *testing.T) {
	t.Parallel()
	s := startServer(t, t.TempDir(), "GANTRY_ASYNC_BACKOFF=300ms")
	s.mustCall(t, "POST", "/v1/apps", `{"app":{"name":"a"}}`, 201)
	s.mustCall(t, "POST", "/v1/apps/a/routes", `{"route":{"path":"/flaky","image":"`+imgTestfn+`","type":"async","format":"http","max_retries":2}}`, 201)
	s.mustCall(t, "POST", "/v1/apps/a/routes", `{"route":{"path":"/once","image":"`+imgTestfn+`","type":"async","format":"http"}}`, 201)
	retried := s.submitWith(t, "/r/a/flaky", 1, `,"status":500,"crash":true`)[0]
	once := s.submitWith(t, "/r/a/once", 1, `,"crash":true`)[0]
	waitFor(t, 20*time.Second, "a failing call of a route with max_retries was not retried", func() bool {
		ex := s.execution(t, retried)
		return ex["status"] == "QUEUED" && ex["error"] != nil
	})
	done := s.waitDone(t, []string{retried, once}, time.Minute)
	if ex := done[retried]; ex["status"] != "FAILED" || ex["reason"] != "bad_exit" || ex["attempts"] != 3.0 {
		t.Fatalf("after its retries (max_retries 2: 3 runs): %v", ex)
	}
	if ex := done[once]; ex["status"] != "FAILED" || ex["attempts"] != 1.0 {
		t.Fatalf("without max_retries (1 run): %v", ex)
	}
}

// TestAsyncCallsOutliveAGracefulShutdown stops the server with SIGTERM while async calls
// run: those that outlive the drain timeout go back to the queue and run after the restart.
func TestAsyncCallsOutliveAGracefulShutdown(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s, err := launch(dir, "GANTRY_ASYNC_WORKERS=2", "GANTRY_SHUTDOWN_TIMEOUT=500ms")
	if err != nil {
		t.Fatal(err)
	}
	s.mustCall(t, "POST", "/v1/apps", `{"app":{"name":"a"}}`, 201)
	s.mustCall(t, "POST", "/v1/apps/a/routes", `{"route":{"path":"/slow","image":"`+imgTestfn+`","type":"async","format":"http","max_concurrency":2}}`, 201)
	ids := s.submitWith(t, "/r/a/slow", 6, `,"sleep_ms":3000`)
	waitFor(t, 30*time.Second, "no call was running before the shutdown", func() bool {
		return s.execution(t, ids[0])["status"] == "RUNNING"
	})
	s.stop(t) // SIGTERM; a clean exit within its drain time
	if n := s.containers(t); n != 0 {
		t.Fatalf("%d containers left after the graceful shutdown", n)
	}
	s2 := startServer(t, dir, "GANTRY_ASYNC_WORKERS=2")
	done := s2.waitDone(t, ids, 2*time.Minute)
	interrupted := 0
	for i, id := range ids {
		ex := done[id]
		if ex["status"] != "SUCCESS" || ex["output"] != fmt.Sprintf("Hello n%d!", i) {
			t.Fatalf("call %d after the restart: %v", i, ex)
		}
		if ex["attempts"].(float64) > 1 {
			interrupted++
		}
	}
	if interrupted == 0 {
		t.Fatal("no call was interrupted by the shutdown: the test proves nothing")
	}
}
