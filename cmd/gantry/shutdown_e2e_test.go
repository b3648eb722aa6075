package main

import (
	"encoding/json"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestSecondSignalStopsAtOnce: a server draining a long sync call and a long async call (a
// 2-minute drain time) says what it waits for, and a second SIGTERM stops it within seconds:
// the sync caller gets its answer, the async call is QUEUED again and, run after a restart,
// shows none of the interrupted run's error while RUNNING.
func TestSecondSignalStopsAtOnce(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s, err := launch(dir, "GANTRY_ASYNC_WORKERS=1", "GANTRY_SHUTDOWN_TIMEOUT=2m")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = s.cmd.Process.Kill() }() // whatever happens below
	s.mustCall(t, "POST", "/v1/apps", `{"app":{"name":"a"}}`, 201)
	s.mustCall(t, "POST", "/v1/apps/a/routes", `{"route":{"path":"/sleep","image":"`+imgTestfn+`","timeout":120}}`, 201)
	s.mustCall(t, "POST", "/v1/apps/a/routes", `{"route":{"path":"/later","image":"`+imgTestfn+`","type":"async","timeout":120}}`, 201)
	async := s.submitWith(t, "/r/a/later", 1, `,"sleep_ms":100000`)[0]
	syncDone := make(chan int, 1)
	go func() {
		res, _ := s.callWith(t, "POST", "/r/a/sleep", `{"sleep_ms":100000}`)
		syncDone <- res.StatusCode
	}()
	waitFor(t, time.Minute, "both calls running", func() bool {
		return s.execution(t, async)["status"] == "RUNNING" && s.runningContainers(t) == 2
	})

	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the drain's log line", func() bool { return strings.Contains(s.logText(), "shutting down") })
	if log := s.logText(); !strings.Contains(log, `waiting_for="2 running calls (1 sync, 1 async)"`) {
		t.Fatalf("the shutdown does not say what it waits for:\n%s", log)
	}
	select {
	case err := <-s.done:
		t.Fatalf("the server stopped (%v) before its drain time with calls running", err)
	case <-time.After(time.Second):
	}
	start := time.Now()
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-s.done:
		if err != nil {
			t.Fatalf("exit after the second signal: %v\n%s", err, s.logText())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("still running 30 s after the second signal (drain time 2 min):\n%s", s.logText())
	}
	t.Logf("stopped %s after the second signal", time.Since(start).Round(time.Millisecond))
	if log := s.logText(); !strings.Contains(log, "second signal: stopping now") {
		t.Fatalf("the log does not say why it stopped early:\n%s", log)
	}
	select {
	case code := <-syncDone:
		if code != 503 {
			t.Errorf("the sync call cut short answered %d, want 503", code)
		}
	case <-time.After(10 * time.Second):
		t.Error("the sync caller got no answer")
	}
	if n := s.containers(t); n != 0 {
		t.Fatalf("%d containers left", n)
	}

	// The async call is back in the queue: a node without workers leaves it there.
	s2, err := launch(dir, "GANTRY_ASYNC_WORKERS=0", "GANTRY_SHUTDOWN_TIMEOUT=1s")
	if err != nil {
		t.Fatal(err)
	}
	ex := s2.execution(t, async)
	if ex["status"] != "QUEUED" || ex["attempts"] != 1.0 || ex["error"] == nil {
		t.Fatalf("the async call after the second signal: %v; want QUEUED after 1 attempt, with the cause", ex)
	}
	s2.stop(t)

	// Run again, it shows nothing of the interrupted run while RUNNING.
	s3 := startServer(t, dir, "GANTRY_ASYNC_WORKERS=1", "GANTRY_SHUTDOWN_TIMEOUT=1s")
	waitFor(t, time.Minute, "the async call running again", func() bool { return s3.execution(t, async)["status"] == "RUNNING" })
	ex = s3.execution(t, async)
	if b, _ := json.Marshal(ex); ex["error"] != nil || ex["reason"] != nil || ex["completed_at"] != nil || ex["attempts"] != 2.0 {
		t.Fatalf("the second run shows the first one's end while RUNNING: %s", b)
	}
	s3.mustCall(t, "DELETE", "/v1/executions/"+async, "", 202) // no need to wait 100 s
}
