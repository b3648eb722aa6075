package invoke

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/runner"
	"github.com/gantry-dev/gantry/store"
)

// TestCancel cancels calls in every state they can be in.
func TestCancel(t *testing.T) {
	t.Run("a queued call is CANCELLED at once and never runs", func(t *testing.T) {
		e := newEnv(t)
		e.route("/fn", func(r *store.Route) { r.Type = store.TypeAsync })
		resp, err := e.call("POST", "/fn", http.Header{}, "")
		if err != nil {
			t.Fatal(err)
		}
		ex, err := e.svc.Cancel(t.Context(), resp.CallID)
		if err != nil || ex.Status != store.StatusCancelled || ex.Reason != store.ReasonClientRequest {
			t.Fatalf("Cancel: %+v %v, want CANCELLED client_request", ex, err)
		}
		if tasks, err := e.db.LeaseTasks(t.Context(), 1, "test", time.Minute); err != nil || len(tasks) != 0 {
			t.Fatalf("the cancelled call is still in the queue: %v %v", tasks, err)
		}
	})

	t.Run("a call one of this server's workers leased but did not start never runs", func(t *testing.T) {
		e := newEnv(t)
		e.route("/fn", func(r *store.Route) { r.Type = store.TypeAsync })
		l := e.leasedByAWorker(WorkerOptions{Count: 0, MaxAttempts: 1})
		ex, err := e.svc.Cancel(t.Context(), l.task.ID)
		if err != nil || ex.Status != store.StatusRunning {
			t.Fatalf("Cancel: %+v %v, want the RUNNING execution and no error", ex, err)
		}
		ran := false
		e.fr.run = func(ctx context.Context, _ *runner.Call) (*runner.Result, error) {
			if ctx.Err() == nil {
				ran = true
			}
			return nil, ctx.Err()
		}
		l.w.runTask(l.task, l.owner)
		if ran {
			t.Fatal("the function ran after its call was cancelled")
		}
		if ex := e.execution(l.task.ID); ex.Status != store.StatusCancelled || ex.Reason != store.ReasonClientRequest {
			t.Fatalf("execution %s %s, want CANCELLED client_request", ex.Status, ex.Reason)
		}
	})

	t.Run("a call leased by an external runner is marked and finishes with its runner's result", func(t *testing.T) {
		e := newEnv(t)
		e.route("/fn", func(r *store.Route) { r.Type = store.TypeAsync })
		if _, err := e.svc.StartWorkers(t.Context(), WorkerOptions{}); err != nil {
			t.Fatal(err)
		}
		resp, err := e.call("POST", "/fn", http.Header{}, "")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.db.LeaseTasks(t.Context(), 1, "runner:elsewhere", time.Minute); err != nil {
			t.Fatal(err)
		}
		ex, err := e.svc.Cancel(t.Context(), resp.CallID)
		if err != nil || ex.Status != store.StatusRunning {
			t.Fatalf("Cancel: %+v %v, want the RUNNING execution and no error", ex, err)
		}
		if e.svc.cancelled[resp.CallID] {
			t.Fatal("another runner's call is taken for one of ours")
		}
		if err := e.db.RetryTask(t.Context(), resp.CallID, "runner:elsewhere", 0, "again"); err != nil {
			t.Fatal(err)
		}
		if ex := e.execution(resp.CallID); ex.Status != store.StatusCancelled {
			t.Fatalf("after its runner gave it back: %s, want CANCELLED", ex.Status)
		}
	})

	t.Run("a running sync call is stopped and ends CANCELLED", func(t *testing.T) {
		e := newEnv(t)
		e.route("/fn", nil)
		e.fr.started = make(chan *runner.Call, 1)
		e.fr.blockUntilCancelled()
		type outcome struct {
			resp *Response
			err  error
		}
		done := make(chan outcome, 1)
		go func() {
			resp, err := e.call("POST", "/fn", http.Header{}, "")
			done <- outcome{resp, err}
		}()
		c := e.startedCall()
		ex, err := e.svc.Cancel(t.Context(), c.ID)
		if err != nil || ex.ID != c.ID {
			t.Fatalf("Cancel: %+v %v", ex, err)
		}
		var got outcome
		select {
		case got = <-done:
		case <-time.After(5 * time.Second):
			t.Fatal("the cancelled call still runs after 5s")
		}
		if !errors.Is(got.err, runner.ErrCancelled) || got.resp == nil || got.resp.CallID != c.ID {
			t.Fatalf("the call ended with %v (%+v), want ErrCancelled", got.err, got.resp)
		}
		if ex := e.execution(c.ID); ex.Status != store.StatusCancelled || ex.Reason != store.ReasonClientRequest {
			t.Fatalf("execution %s %s, want CANCELLED client_request", ex.Status, ex.Reason)
		}
		if len(e.svc.running) != 0 {
			t.Fatal("a finished call is still tracked")
		}
	})

	t.Run("a running async call is stopped and ends CANCELLED", func(t *testing.T) {
		e := newEnv(t)
		id := e.runningAsyncCall()
		if _, err := e.svc.Cancel(t.Context(), id); err != nil {
			t.Fatalf("Cancel: %v", err)
		}
		eventually(t, 5*time.Second, "the cancelled async call ends CANCELLED", func() bool {
			return e.execution(id).Status == store.StatusCancelled
		})
	})

	t.Run("a running async call whose cancel another node asked the store for is stopped through the feed", func(t *testing.T) {
		e := newEnv(t)
		stop := e.svc.Follow(e.db)
		defer stop()
		id := e.runningAsyncCall()
		// Another node's Cancel: it reaches only the store, whose feed tells every node.
		if _, err := e.db.CancelTask(t.Context(), id); !errors.Is(err, store.ErrTaskRunning) {
			t.Fatalf("CancelTask: %v, want ErrTaskRunning", err)
		}
		eventually(t, 5*time.Second, "the call cancelled elsewhere ends CANCELLED", func() bool {
			return e.execution(id).Status == store.StatusCancelled
		})
	})

	t.Run("a finished call is a conflict", func(t *testing.T) {
		e := newEnv(t)
		e.route("/fn", nil)
		resp, err := e.call("POST", "/fn", http.Header{}, "")
		if err != nil {
			t.Fatal(err)
		}
		ex, err := e.svc.Cancel(t.Context(), resp.CallID)
		if !errors.Is(err, store.ErrConflict) || ex.Status != store.StatusSuccess {
			t.Fatalf("Cancel: %s %v, want the SUCCESS execution and ErrConflict", ex.Status, err)
		}
	})

	t.Run("a sync call running on another node is stopped by that node, through the store", func(t *testing.T) {
		e := newEnv(t)
		e.route("/fn", nil)
		e.fr.started = make(chan *runner.Call, 1)
		e.fr.blockUntilCancelled()
		defer e.svc.Follow(e.db)() // node a runs the call
		b := e.otherNode("node-b")
		done := make(chan error, 1)
		go func() {
			_, err := e.call("POST", "/fn", http.Header{}, "")
			done <- err
		}()
		c := e.startedCall()
		ex, err := b.svc.Cancel(t.Context(), c.ID) // the cancel reaches node b
		if err != nil || ex.ID != c.ID || ex.Status != store.StatusRunning || ex.Node != "node-a" {
			t.Fatalf("Cancel on node b: %+v %v, want the RUNNING execution of node a", ex, err)
		}
		select {
		case err := <-done:
			if !errors.Is(err, runner.ErrCancelled) {
				t.Fatalf("the call ended with %v, want ErrCancelled", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("the call cancelled on another node still runs after 5s")
		}
		if ex := e.execution(c.ID); ex.Status != store.StatusCancelled || ex.Reason != store.ReasonClientRequest {
			t.Fatalf("execution %s %s, want CANCELLED client_request", ex.Status, ex.Reason)
		}
		if len(b.fr.ran()) != 0 {
			t.Fatal("node b ran a call")
		}
	})

	t.Run("an unknown call is not found", func(t *testing.T) {
		e := newEnv(t)
		if _, err := e.svc.Cancel(t.Context(), "nothing"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("Cancel: %v, want ErrNotFound", err)
		}
	})
}

// runningAsyncCall accepts an async call of a new route /fn whose function runs until it
// is cancelled, starts one worker (stopped when the test ends), and returns the call's ID
// once the worker runs it.
func (e *env) runningAsyncCall() string {
	t := e.t
	t.Helper()
	e.route("/fn", func(r *store.Route) { r.Type = store.TypeAsync })
	e.fr.started = make(chan *runner.Call, 1)
	e.fr.blockUntilCancelled()
	w, err := e.svc.StartWorkers(t.Context(), WorkerOptions{Count: 1, Poll: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		w.StopLeasing()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := w.Wait(ctx); err != nil {
			t.Error(err)
		}
	})
	resp, err := e.call("POST", "/fn", http.Header{}, "")
	if err != nil {
		t.Fatal(err)
	}
	if c := e.startedCall(); c.ID != resp.CallID {
		t.Fatalf("running %s, want the call %s", c.ID, resp.CallID)
	}
	return resp.CallID
}

// TestCancelOfAQueuedDeliveryTellsItAsOne: a queued event delivery cancelled here is told
// (OnFinished) with its delivery and event type, as its end in a worker is, so that the
// events service's guard holds: a delivery of a system event publishes none.
func TestCancelOfAQueuedDeliveryTellsItAsOne(t *testing.T) {
	e := newEnv(t)
	e.route("/fn", nil)
	call, err := e.svc.DeliveryCall(DeliveryRequest{App: "shop", Path: "/fn", Delivery: "d-1",
		Event: store.Event{EventID: "1", Source: "/gantry/apps/shop", Type: "dev.gantry.execution.finished", SpecVersion: "1.0"}, Retry: store.RetryPolicy{MaxAttempts: 1, Initial: time.Second, Max: time.Second}})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.db.EnqueueTask(t.Context(), call.Task, call.Execution); err != nil {
		t.Fatal(err)
	}
	var finished []Finished
	defer e.svc.OnFinished(func(f Finished) { finished = append(finished, f) })()
	if ex, err := e.svc.Cancel(t.Context(), call.Task.ID); err != nil || ex.Status != store.StatusCancelled {
		t.Fatalf("Cancel: %+v %v, want CANCELLED", ex, err)
	}
	if len(finished) != 1 || finished[0].Delivery != "d-1" || finished[0].EventType != "dev.gantry.execution.finished" {
		t.Fatalf("OnFinished told %+v, want the cancelled delivery d-1 of a dev.gantry.execution.finished event", finished)
	}
}
