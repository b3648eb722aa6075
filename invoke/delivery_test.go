package invoke

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/runner"
	"github.com/gantry-dev/gantry/store"
)

func TestDeliveryCallHandsTheEventOverInBinaryMode(t *testing.T) {
	e := newEnv(t)
	e.route("/on-order", func(r *store.Route) { r.Format, r.MaxRetries = store.FormatHTTP, 4 })
	ev := store.Event{EventID: "e-1", Source: "/shop", Type: "com.example.order", SpecVersion: "1.0", Subject: "orders/1 é",
		Time: time.Date(2026, 3, 1, 12, 0, 0, 5, time.UTC), DataContentType: "application/json", Data: []byte(`{"n":1}`),
		Extensions: map[string]string{"tenant": "acme"}}
	policy := store.RetryPolicy{MaxAttempts: 3, Initial: time.Second, Max: time.Minute}
	call, err := e.svc.DeliveryCall(DeliveryRequest{App: "shop", Path: "/on-order", Owner: "ada", Delivery: "d-1", Event: ev, Retry: policy})
	if err != nil {
		t.Fatal(err)
	}
	tk := call.Task
	want := map[string]string{"Ce-Id": "e-1", "Ce-Source": "/shop", "Ce-Type": "com.example.order", "Ce-Specversion": "1.0",
		"Ce-Subject": "orders/1%20%C3%A9", "Ce-Time": "2026-03-01T12:00:00.000000005Z", "Ce-Tenant": "acme", "Content-Type": "application/json"}
	for k, v := range want {
		if got := http.Header(tk.Header).Get(k); got != v {
			t.Errorf("header %s = %q, want %q", k, got, v)
		}
	}
	if len(tk.Header) != len(want) {
		t.Errorf("headers %v, want exactly %v", tk.Header, want)
	}
	switch {
	case tk.Method != http.MethodPost || tk.URL != "/on-order" || string(tk.Body) != `{"n":1}`:
		t.Errorf("task %s %s %q, want POST /on-order with the data", tk.Method, tk.URL, tk.Body)
	case tk.Delivery != "d-1" || tk.Retry == nil || *tk.Retry != policy:
		t.Errorf("task delivery %q retry %v, want d-1 and %v", tk.Delivery, tk.Retry, policy)
	case tk.Route.MaxRetries != 0:
		t.Errorf("the route's max_retries %d applies; the subscription's policy does", tk.Route.MaxRetries)
	case call.Execution.ID != tk.ID || call.Execution.App != "shop" || call.Execution.Route != "/on-order" || call.Execution.Type != store.TypeAsync:
		t.Errorf("execution %+v does not name the task's call", call.Execution)
	}
}

func TestDeliveryCallRefusesWhatTheSubscriptionMayNotCall(t *testing.T) {
	e := newEnv(t)
	e.route("/fn", nil)
	ev := store.Event{EventID: "1", Source: "/s", Type: "t", SpecVersion: "1.0"}
	tests := []struct {
		name string
		req  DeliveryRequest
		is   error
	}{
		{name: "an app that is no longer the owner's is not found", req: DeliveryRequest{App: "shop", Path: "/fn", Owner: "bob", Delivery: "d", Event: ev}, is: store.ErrNotFound},
		{name: "a path no route matches is not found", req: DeliveryRequest{App: "shop", Path: "/nothing", Owner: "ada", Delivery: "d", Event: ev}, is: store.ErrNotFound},
		{name: "an app that does not exist is not found", req: DeliveryRequest{App: "gone", Path: "/fn", Delivery: "d", Event: ev}, is: store.ErrNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := e.svc.DeliveryCall(tt.req); !errors.Is(err, tt.is) {
				t.Fatalf("err = %v, want %v", err, tt.is)
			}
		})
	}
	if _, err := e.svc.DeliveryCall(DeliveryRequest{App: "shop", Path: "/fn", Delivery: "d", Event: ev}); err != nil {
		t.Errorf("without an owner to check (an admin's subscription of scope all), the call is made: %v", err)
	}
}

// TestSettleWithARetryPolicy: a call with a retry policy (an event delivery's) runs again
// when the function fails — a bad exit, a timeout, an http function's 5xx — until its
// policy's MaxAttempts, whatever its route's max_retries; Gantry's and Docker's failures
// keep the workers' MaxAttempts (3 here).
func TestSettleWithARetryPolicy(t *testing.T) {
	fnErr := &runner.FunctionError{Reason: runner.ReasonBadExit, Message: "function exited with code 1"}
	policy := &store.RetryPolicy{MaxAttempts: 4, Initial: time.Hour, Max: time.Hour}
	tests := []struct {
		name       string
		retry      *store.RetryPolicy
		attempts   int
		status     int
		err        error
		wantQueued bool
		wantStatus string
		wantReason string
		wantError  string
	}{
		{name: "a bad exit runs again within the policy's attempts", retry: policy, attempts: 3, err: fnErr, wantQueued: true},
		{name: "a bad exit at the policy's last attempt is FAILED", retry: policy, attempts: 4, err: fnErr,
			wantStatus: store.StatusFailed, wantReason: store.ReasonBadExit, wantError: "failed 4 attempts: function exited with code 1"},
		{name: "a timeout runs again within the policy's attempts", retry: policy, attempts: 1, err: runner.ErrTimeout, wantQueued: true},
		{name: "a timeout at the last attempt is FAILED timeout", retry: policy, attempts: 4, err: runner.ErrTimeout,
			wantStatus: store.StatusFailed, wantReason: store.ReasonTimeout, wantError: "Timed out"},
		{name: "an answer of 503 runs again", retry: policy, attempts: 1, status: 503, wantQueued: true},
		{name: "an answer of 500 at the last attempt is FAILED bad_exit naming the status", retry: policy, attempts: 4, status: 500,
			wantStatus: store.StatusFailed, wantReason: store.ReasonBadExit, wantError: "the function answered 500 Internal Server Error"},
		{name: "an answer of 404 is a success", retry: policy, attempts: 1, status: 404, wantStatus: store.StatusSuccess},
		{name: "without a policy an answer of 503 is the function's answer, SUCCESS", attempts: 1, status: 503, wantStatus: store.StatusSuccess},
		{name: "Docker unavailable keeps the workers' attempts, beyond the policy's", retry: &store.RetryPolicy{MaxAttempts: 1, Initial: time.Hour, Max: time.Hour},
			attempts: 2, err: runner.ErrDockerUnavailable, wantQueued: true},
		{name: "Docker unavailable at the workers' last attempt gives up", retry: policy, attempts: 3, err: runner.ErrDockerUnavailable,
			wantStatus: store.StatusFailed, wantReason: store.ReasonError, wantError: "gave up after 3 attempts"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			e.route("/fn", func(r *store.Route) { r.Type, r.MaxRetries = store.TypeAsync, 10 })
			l := e.leasedByAWorker(WorkerOptions{MaxAttempts: 3, Backoff: time.Hour})
			task := l.task
			task.Attempts, task.Retry = tt.attempts, tt.retry
			l.w.settle(t.Context(), task, l.owner, time.Now(), &runner.Result{Status: tt.status, Header: http.Header{}, Ran: true, Hot: true}, tt.err)
			ex := e.execution(task.ID)
			stats, err := e.db.TaskStats(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			if tt.wantQueued {
				if ex.Status != store.StatusQueued || stats.Queued != 1 || stats.Delayed != 1 {
					t.Fatalf("execution %s %q, queue %+v; want QUEUED again after a backoff", ex.Status, ex.Error, stats)
				}
				return
			}
			if stats.Queued != 0 || stats.Running != 0 {
				t.Fatalf("queue %+v after a final outcome, want empty", stats)
			}
			if ex.Status != tt.wantStatus || ex.Reason != tt.wantReason || !strings.Contains(ex.Error, tt.wantError) {
				t.Fatalf("execution %s %q %q, want %s %q with %q", ex.Status, ex.Reason, ex.Error, tt.wantStatus, tt.wantReason, tt.wantError)
			}
		})
	}
}

// TestARetriedDeliveryWaitsItsBackoffs: the workers run a call with a retry policy again
// after Initial, then twice that, at most Max, until MaxAttempts runs in all.
func TestARetriedDeliveryWaitsItsBackoffs(t *testing.T) {
	e := newEnv(t)
	e.route("/fn", func(r *store.Route) { r.Type = store.TypeAsync })
	var (
		mu    sync.Mutex
		times []time.Time
	)
	e.fr.run = func(_ context.Context, _ *runner.Call) (*runner.Result, error) {
		mu.Lock()
		times = append(times, time.Now())
		mu.Unlock()
		return &runner.Result{Header: http.Header{}, Ran: true}, &runner.FunctionError{Reason: runner.ReasonBadExit, Message: "exit 1"}
	}
	call, err := e.svc.DeliveryCall(DeliveryRequest{App: "shop", Path: "/fn", Delivery: "d-1",
		Event: store.Event{EventID: "1", Source: "/s", Type: "t", SpecVersion: "1.0"}, Retry: store.RetryPolicy{MaxAttempts: 4, Initial: 100 * time.Millisecond, Max: 250 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	var finished []Finished
	var fmu sync.Mutex
	defer e.svc.OnFinished(func(f Finished) { fmu.Lock(); finished = append(finished, f); fmu.Unlock() })()
	if err := e.db.EnqueueTask(t.Context(), call.Task, call.Execution); err != nil {
		t.Fatal(err)
	}
	w, err := e.svc.StartWorkers(t.Context(), WorkerOptions{Count: 1, Poll: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { w.StopLeasing(); _ = w.Wait(t.Context()) }()
	eventually(t, 5*time.Second, "the call ends", func() bool { return e.execution(call.Task.ID).Done() })
	ex := e.execution(call.Task.ID)
	if ex.Status != store.StatusFailed || ex.Attempts != 4 {
		t.Fatalf("execution %s after %d attempts, want FAILED after 4", ex.Status, ex.Attempts)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(times) != 4 {
		t.Fatalf("%d runs, want 4", len(times))
	}
	for i, want := range []time.Duration{100 * time.Millisecond, 200 * time.Millisecond, 250 * time.Millisecond} {
		if gap := times[i+1].Sub(times[i]); gap < want || gap > want+time.Second {
			t.Errorf("run %d came %s after run %d, want about %s", i+2, gap, i+1, want)
		}
	}
	fmu.Lock()
	defer fmu.Unlock()
	if len(finished) != 1 || finished[0].Execution.ID != call.Task.ID || finished[0].Execution.Status != store.StatusFailed ||
		finished[0].Delivery != "d-1" || finished[0].EventType != "t" || finished[0].Execution.App != "shop" || finished[0].Execution.Route != "/fn" {
		t.Errorf("OnFinished told %+v, want the call's one FAILED end, of delivery d-1 of an event of type t", finished)
	}
}

func TestOnFinishedTellsEverySyncCallAndStopsWhenUnsubscribed(t *testing.T) {
	e := newEnv(t)
	e.route("/fn", nil)
	var got []Finished
	unsubscribe := e.svc.OnFinished(func(f Finished) { got = append(got, f) })
	res, err := e.call("POST", "/fn", http.Header{}, "")
	if err != nil {
		t.Fatal(err)
	}
	unsubscribe()
	if _, err := e.call("POST", "/fn", http.Header{}, ""); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Execution.ID != res.CallID || got[0].Execution.Status != store.StatusSuccess || got[0].Delivery != "" {
		t.Fatalf("OnFinished told %+v, want the first call's SUCCESS only", got)
	}
}
