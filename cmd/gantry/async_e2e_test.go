package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
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
	<-s.done
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
