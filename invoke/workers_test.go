package invoke

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/runner"
	"github.com/gantry-dev/gantry/store"
)

// TestWorkersRunAcceptedCalls: an accepted call wakes an idle worker (it does not wait
// for the next poll) and ends SUCCESS with its output.
func TestWorkersRunAcceptedCalls(t *testing.T) {
	e := newEnv(t)
	e.route("/fn", func(r *store.Route) { r.Type = store.TypeAsync })
	w, err := e.svc.StartWorkers(t.Context(), WorkerOptions{Count: 1, Poll: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		w.StopLeasing()
		if err := w.Wait(t.Context()); err != nil {
			t.Error(err)
		}
	}()
	time.Sleep(20 * time.Millisecond) // the worker found the queue empty and waits
	resp, err := e.call("POST", "/fn", http.Header{"X-Mine": {"1"}}, "in")
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "the accepted call ran", func() bool { return e.execution(resp.CallID).Status == store.StatusSuccess })
	ex := e.execution(resp.CallID)
	if string(ex.Output) != "ok" || ex.Attempts != 1 || ex.Type != store.TypeAsync || ex.Container != store.ContainerCold {
		t.Fatalf("execution %+v, want the output of one attempt", ex)
	}
	c := e.fr.ran()[0]
	if string(c.Body) != "in" || http.Header(c.Header).Get("X-Mine") != "1" || c.Function.Config()["FN_TYPE"] != store.TypeAsync {
		t.Fatalf("the worker ran %+v", c)
	}
}

// TestWorkerShutdown: calls cut short by a shutdown go back to the queue, available at
// once; workers stop leasing, and a previous run's leases come back when workers start.
func TestWorkerShutdown(t *testing.T) {
	t.Run("a call cut short by a shutdown goes back to the queue at once", func(t *testing.T) {
		e := newEnv(t)
		e.route("/fn", func(r *store.Route) { r.Type = store.TypeAsync })
		e.fr.started = make(chan *runner.Call, 2)
		release := make(chan struct{})
		e.fr.run = func(ctx context.Context, _ *runner.Call) (*runner.Result, error) {
			select {
			case <-release: // the runner's Close ends the call
				return nil, runner.ErrShuttingDown
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		w, err := e.svc.StartWorkers(t.Context(), WorkerOptions{Count: 1, Poll: 10 * time.Millisecond, MaxAttempts: 1, Backoff: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		resp, err := e.call("POST", "/fn", http.Header{}, "")
		if err != nil {
			t.Fatal(err)
		}
		e.startedCall()
		w.StopLeasing()
		if _, err := e.call("POST", "/fn", http.Header{}, ""); err != nil { // accepted after the workers stopped leasing
			t.Fatal(err)
		}
		close(release)
		if err := w.Wait(t.Context()); err != nil {
			t.Fatal(err)
		}
		if n := len(e.fr.ran()); n != 1 {
			t.Fatalf("%d calls ran, want only the one leased before StopLeasing", n)
		}
		if ex := e.execution(resp.CallID); ex.Status != store.StatusQueued || !strings.Contains(ex.Error, "shutting down") {
			t.Fatalf("execution %s %q, want QUEUED again", ex.Status, ex.Error)
		}
		tasks, err := e.db.LeaseTasks(t.Context(), 2, "next-run", time.Minute)
		if err != nil || len(tasks) != 2 {
			t.Fatalf("available after the shutdown: %d tasks %v, want both at once", len(tasks), err)
		}
	})

	t.Run("the leases of this node's previous run come back when workers start, another node's and an external runner's stand", func(t *testing.T) {
		e := newEnv(t)
		e.route("/fn", func(r *store.Route) { r.Type = store.TypeAsync })
		ours, err := e.call("POST", "/fn", http.Header{}, "")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.db.LeaseTasks(t.Context(), 1, ownerPrefix+"node-a:previous:0", store.DefaultLease); err != nil {
			t.Fatal(err)
		}
		if _, err := e.call("POST", "/fn", http.Header{}, ""); err != nil {
			t.Fatal(err)
		}
		if _, err := e.db.LeaseTasks(t.Context(), 1, ownerPrefix+"node-b:running:0", store.DefaultLease); err != nil {
			t.Fatal(err)
		}
		// A lease of a version before nodes named them: one server had the data dir.
		legacy, err := e.call("POST", "/fn", http.Header{}, "")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.db.LeaseTasks(t.Context(), 1, legacyOwnerPrefix+"01JDQ8Z4M3ZK2V5S9X7QY4T6WB:0", store.DefaultLease); err != nil {
			t.Fatal(err)
		}
		if _, err := e.call("POST", "/fn", http.Header{}, ""); err != nil {
			t.Fatal(err)
		}
		if _, err := e.db.LeaseTasks(t.Context(), 1, "runner:elsewhere", store.DefaultLease); err != nil {
			t.Fatal(err)
		}
		if _, err := e.svc.StartWorkers(t.Context(), WorkerOptions{}); err != nil {
			t.Fatal(err)
		}
		tasks, err := e.db.LeaseTasks(t.Context(), 4, "test", time.Minute)
		if err != nil || len(tasks) != 2 || tasks[0].ID != ours.CallID || tasks[1].ID != legacy.CallID {
			t.Fatalf("available after the start: %+v %v, want the previous runs' calls only", tasks, err)
		}
	})

	t.Run("Wait gives up at its context while a call still runs", func(t *testing.T) {
		e := newEnv(t)
		e.route("/fn", func(r *store.Route) { r.Type = store.TypeAsync })
		e.fr.started = make(chan *runner.Call, 1)
		e.fr.blockUntilCancelled()
		w, err := e.svc.StartWorkers(t.Context(), WorkerOptions{Count: 1, Poll: 10 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		resp, err := e.call("POST", "/fn", http.Header{}, "")
		if err != nil {
			t.Fatal(err)
		}
		e.startedCall()
		w.StopLeasing()
		ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
		defer cancel()
		if err := w.Wait(ctx); err == nil || !strings.Contains(err.Error(), "still running") {
			t.Fatalf("Wait: %v, want an error naming the calls still running", err)
		}
		if _, err := e.svc.Cancel(t.Context(), resp.CallID); err != nil {
			t.Fatal(err)
		}
		ctx, cancel = context.WithTimeout(t.Context(), 5*time.Second)
		defer cancel()
		if err := w.Wait(ctx); err != nil {
			t.Fatal(err)
		}
	})
}
