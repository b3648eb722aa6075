package invoke

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/runner"
	"github.com/gantry-dev/gantry/store"
	"github.com/gantry-dev/gantry/store/bolt"
)

// TestSettle: a leased async call that ran is done (SUCCESS, or the function's failure)
// or goes back to the queue: when its route's max_retries asks for another run of a
// function that failed, or when Gantry or Docker failed, until MaxAttempts (3 here, with
// an hour's backoff); a shutdown puts it back at once, whatever its attempts.
func TestSettle(t *testing.T) {
	fnErr := &runner.FunctionError{Reason: runner.ReasonBadExit, Message: "function exited with code 1"}
	tests := []struct {
		name       string
		maxRetries int64
		attempts   int
		body       string
		err        error
		cancelled  bool   // cancelled (DELETE) while it ran
		wantQueued bool   // back in the queue
		wantDelay  bool   // not before its backoff
		wantStatus string // else: its final execution
		wantReason string
		wantError  string // in the final execution's error
	}{
		{name: "a call that succeeds is SUCCESS with its output", attempts: 1, body: "out",
			wantStatus: store.StatusSuccess},
		{name: "a function error is final when the route asks for no retries", attempts: 1, err: fnErr,
			wantStatus: store.StatusFailed, wantReason: store.ReasonBadExit, wantError: "code 1"},
		{name: "a function error runs again while its attempts are within max_retries", maxRetries: 2, attempts: 2, err: fnErr,
			wantQueued: true, wantDelay: true},
		{name: "a function error past max_retries is final", maxRetries: 2, attempts: 3, err: fnErr,
			wantStatus: store.StatusFailed, wantReason: store.ReasonBadExit},
		{name: "a function error past max_retries is final even within MaxAttempts", maxRetries: 1, attempts: 2, err: fnErr,
			wantStatus: store.StatusFailed, wantReason: store.ReasonBadExit},
		{name: "a timeout runs again within max_retries", maxRetries: 1, attempts: 1, err: runner.ErrTimeout,
			wantQueued: true, wantDelay: true},
		{name: "a timeout past max_retries is FAILED timeout", maxRetries: 1, attempts: 2, err: runner.ErrTimeout,
			wantStatus: store.StatusFailed, wantReason: store.ReasonTimeout, wantError: "Timed out"},
		{name: "Docker unavailable runs again after a backoff", attempts: 1, err: runner.ErrDockerUnavailable,
			wantQueued: true, wantDelay: true},
		{name: "Docker unavailable at the last attempt gives up", attempts: 3, err: runner.ErrDockerUnavailable,
			wantStatus: store.StatusFailed, wantReason: store.ReasonError, wantError: "gave up after 3 attempts: docker is unavailable"},
		{name: "no container free runs again, and gives up as busy", attempts: 3, err: runner.ErrBusy,
			wantStatus: store.StatusFailed, wantReason: store.ReasonBusy, wantError: "gave up after 3 attempts"},
		{name: "a shutdown puts the call back at once, past MaxAttempts too", attempts: 5, err: runner.ErrShuttingDown,
			wantQueued: true},
		{name: "a network the owner may not use is final at once", attempts: 1, err: fmt.Errorf("network: %w", runner.ErrNetworkNotAllowed),
			wantStatus: store.StatusFailed, wantReason: store.ReasonError, wantError: "network not allowed"},
		{name: "a call its context ended is CANCELLED", attempts: 1, err: context.Canceled,
			wantStatus: store.StatusCancelled, wantReason: store.ReasonClientRequest},
		{name: "a call cancelled while it ran is given back, and the queue ends it CANCELLED", attempts: 1, err: runner.ErrCancelled, cancelled: true,
			wantStatus: store.StatusCancelled, wantReason: store.ReasonClientRequest},
		{name: "a call cancelled at its last attempt is CANCELLED", attempts: 3, err: runner.ErrCancelled, cancelled: true,
			wantStatus: store.StatusCancelled, wantReason: store.ReasonClientRequest, wantError: "gave up after 3 attempts"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			e.route("/fn", func(r *store.Route) { r.Type, r.MaxRetries = store.TypeAsync, tt.maxRetries })
			l := e.leasedByAWorker(WorkerOptions{MaxAttempts: 3, Backoff: time.Hour})
			w, owner, task := l.w, l.owner, l.task
			if tt.cancelled {
				if _, err := e.db.CancelTask(t.Context(), task.ID); !errors.Is(err, store.ErrTaskRunning) {
					t.Fatal(err)
				}
			}
			task.Attempts = tt.attempts
			started := time.Now()
			w.settle(t.Context(), task, owner, started, &runner.Result{Header: http.Header{}, Body: []byte(tt.body), Ran: true}, tt.err)

			ex := e.execution(task.ID)
			stats, err := e.db.TaskStats(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			if tt.wantQueued {
				if ex.Status != store.StatusQueued || ex.Error != tt.err.Error() || stats.Queued != 1 || stats.Running != 0 {
					t.Fatalf("execution %s %q, queue %+v; want QUEUED again with the error", ex.Status, ex.Error, stats)
				}
				if delayed := stats.Delayed == 1; delayed != tt.wantDelay {
					t.Fatalf("delayed %v, want %v", delayed, tt.wantDelay)
				}
				if !tt.wantDelay {
					if again, err := e.db.LeaseTasks(t.Context(), 1, owner, store.DefaultLease); err != nil || len(again) != 1 {
						t.Fatalf("the call is not available again at once: %v %v", again, err)
					}
				}
				return
			}
			if stats.Queued != 0 || stats.Running != 0 {
				t.Fatalf("queue %+v after a final outcome, want empty", stats)
			}
			if ex.Status != tt.wantStatus || ex.Reason != tt.wantReason || ex.Type != store.TypeAsync || !strings.Contains(ex.Error, tt.wantError) {
				t.Fatalf("execution %s %q %q, want %s %q with %q", ex.Status, ex.Reason, ex.Error, tt.wantStatus, tt.wantReason, tt.wantError)
			}
			if tt.wantStatus == store.StatusSuccess && (string(ex.Output) != tt.body || ex.Container != store.ContainerCold || ex.CompletedAt.IsZero()) {
				t.Fatalf("execution output %q container %q, want %q from a cold container", ex.Output, ex.Container, tt.body)
			}
		})
	}
}

// TestRetryable: failures that are Gantry's or Docker's may pass with another attempt; the
// function's own, a cancelled context and a network refused to its owner do not.
func TestRetryable(t *testing.T) {
	for _, tt := range []struct {
		err  error
		want bool
	}{
		{nil, false},
		{&runner.FunctionError{Reason: runner.ReasonKilled}, false},
		{fmt.Errorf("wrapped: %w", &runner.FunctionError{}), false},
		{runner.ErrTimeout, false},
		{runner.ErrNetworkNotAllowed, false},
		{context.Canceled, false},
		{runner.ErrCancelled, true},
		{runner.ErrDockerUnavailable, true},
		{runner.ErrShuttingDown, true},
		{runner.ErrBusy, true},
		{runner.ErrStartTimeout, true},
		{runner.ErrImageNotFound, true},
		{runner.ErrNetworkUnavailable, true},
		{errors.New("anything else Gantry met"), true},
	} {
		name := "nil"
		if tt.err != nil {
			name = tt.err.Error()
		}
		t.Run(fmt.Sprintf("%s is retryable: %v", name, tt.want), func(t *testing.T) {
			if got := retryable(tt.err); got != tt.want {
				t.Fatalf("retryable(%v) = %v", tt.err, got)
			}
		})
	}
}

// TestFunctionFailed: max_retries is for the function's failures: its errors and timeouts.
func TestFunctionFailed(t *testing.T) {
	for _, tt := range []struct {
		err  error
		want bool
	}{
		{&runner.FunctionError{}, true},
		{fmt.Errorf("x: %w", &runner.FunctionError{}), true},
		{runner.ErrTimeout, true},
		{runner.ErrDockerUnavailable, false},
		{runner.ErrCancelled, false},
		{nil, false},
	} {
		if got := functionFailed(tt.err); got != tt.want {
			t.Errorf("functionFailed(%v) = %v, want %v", tt.err, got, tt.want)
		}
	}
}

func TestBackoffNeverOverflows(t *testing.T) {
	for _, tt := range []struct {
		base    time.Duration
		attempt int
		want    time.Duration
	}{
		{time.Second, 1, time.Second},
		{time.Second, 3, 4 * time.Second},
		{time.Second, 35, time.Minute},
		{time.Second, 100, time.Minute},
		{time.Hour, 23, time.Minute},
		{200 * time.Millisecond, 2, 400 * time.Millisecond},
	} {
		if got := backoff(tt.base, tt.attempt); got != tt.want {
			t.Errorf("backoff(%s, %d) = %s, want %s", tt.base, tt.attempt, got, tt.want)
		}
	}
}

// outageStore is a store whose settling writes fail as if the database were away, until
// fails of them have failed.
type outageStore struct {
	*bolt.DB
	mu    sync.Mutex
	fails int
}

func (o *outageStore) down() bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.fails == 0 {
		return false
	}
	o.fails--
	return true
}

func (o *outageStore) CompleteTask(ctx context.Context, id, owner string, ex store.Execution, log []byte) error {
	if o.down() {
		return fmt.Errorf("%w: connection refused", store.ErrUnavailable)
	}
	return o.DB.CompleteTask(ctx, id, owner, ex, log)
}

func (o *outageStore) RetryTask(ctx context.Context, id, owner string, delay time.Duration, reason string) error {
	if o.down() {
		return fmt.Errorf("%w: connection refused", store.ErrUnavailable)
	}
	return o.DB.RetryTask(ctx, id, owner, delay, reason)
}

// TestSettleWaitsOutAStoreOutage: a result the store cannot take now is stored once it is
// back, never dropped with its lease left to be renewed forever by a live node.
func TestSettleWaitsOutAStoreOutage(t *testing.T) {
	for _, tc := range []struct {
		name string
		run  func(ctx context.Context, c *runner.Call) (*runner.Result, error)
		want string
	}{
		{"a completion", nil, store.StatusSuccess},
		{"a retry", func(context.Context, *runner.Call) (*runner.Result, error) {
			return &runner.Result{Header: http.Header{}}, errors.New("docker went away")
		}, store.StatusQueued},
	} {
		t.Run(tc.name+" is stored once the store is back", func(t *testing.T) {
			e := newEnv(t)
			e.route("/fn", func(r *store.Route) { r.Type = store.TypeAsync })
			flaky := &outageStore{DB: e.db, fails: 3}
			e.fr.run = tc.run
			svc := New(flaky, e.fr, Options{Node: "node-a", Log: e.svc.log})
			resp, err := e.call("POST", "/fn", http.Header{}, "")
			if err != nil {
				t.Fatal(err)
			}
			w, err := svc.StartWorkers(t.Context(), WorkerOptions{Count: 1, Backoff: time.Hour})
			if err != nil {
				t.Fatal(err)
			}
			eventually(t, 10*time.Second, "the call settles after the outage", func() bool {
				ex := e.execution(resp.CallID)
				return ex.Status == tc.want && (tc.want != store.StatusQueued || ex.Error != "")
			})
			w.StopLeasing()
			if err := w.Wait(t.Context()); err != nil {
				t.Fatal(err)
			}
			if flaky.fails != 0 {
				t.Fatalf("%d failures left: the outage never met the settle", flaky.fails)
			}
		})
	}
}
