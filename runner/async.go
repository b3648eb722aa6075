package runner

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/gantry-dev/gantry/store"
)

// Queue is what async calls need of the store: the durable task queue.
type Queue interface {
	EnqueueTask(ctx context.Context, t store.Task, ex store.Execution) error
	LeaseTasks(ctx context.Context, n int, owner string, lease time.Duration) ([]store.Task, error)
	CompleteTask(ctx context.Context, id, owner string, ex store.Execution, log []byte) error
	RetryTask(ctx context.Context, id, owner string, delay time.Duration, reason string) error
	ReleaseLeases(ctx context.Context, prefix, keep string) (int, error)
}

// HeaderInvokeType lets a caller choose how a call runs, whatever the route's type:
// "async" (202 at once, run later) or "sync".
const HeaderInvokeType = "Gantry-Invoke-Type"

// HeaderPriority sets an async call's priority, 0 (first, the default) to 9: the queue is
// FIFO within a priority.
const HeaderPriority = "Gantry-Priority"

func priority(h http.Header) (uint8, error) {
	v := h.Get(HeaderPriority)
	if v == "" {
		return 0, nil
	}
	if len(v) != 1 || v[0] < '0' || v[0] > '9' {
		return 0, &store.ValidationError{Field: HeaderPriority, Message: fmt.Sprintf("%s must be a digit from 0 (first) to 9, not %q", HeaderPriority, v)}
	}
	return v[0] - '0', nil
}

// wantsAsync decides how a call runs: the Gantry-Invoke-Type header, else the route's type.
func wantsAsync(rt store.Route, h http.Header) (bool, error) {
	switch v := strings.ToLower(h.Get(HeaderInvokeType)); v {
	case "":
		return rt.Type == store.TypeAsync, nil
	case store.TypeAsync:
		return true, nil
	case store.TypeSync:
		return false, nil
	default:
		return false, &store.ValidationError{Field: HeaderInvokeType, Message: fmt.Sprintf("%s must be %q or %q, not %q", HeaderInvokeType, store.TypeSync, store.TypeAsync, v)}
	}
}

// accept stores an async call and its QUEUED execution durably and answers at once. The
// task keeps the request's headers, less those meant for Gantry or for one connection.
func (iv *Invoker) accept(ctx context.Context, t store.Task) (*Response, error) {
	prio, err := priority(t.Header)
	if err != nil {
		return nil, err
	}
	t.Header, t.Priority = forwardHeader(t.Header), prio
	rt := t.Route
	if err := iv.store.EnqueueTask(ctx, t, store.Execution{App: rt.App, AppID: t.AppID, Route: rt.Path, Type: store.TypeAsync}); err != nil {
		return nil, fmt.Errorf("accept async call: %w", err)
	}
	if iv.wake != nil {
		select {
		case iv.wake <- struct{}{}:
		default:
		}
	}
	return &Response{CallID: t.ID, Route: rt, Accepted: true, Result: &Result{Header: http.Header{}}}, nil
}

// WorkerOptions configure the async workers; zero values take the defaults.
type WorkerOptions struct {
	// Count is how many async calls run at once: it bounds the containers async work
	// holds, so a backlog drains steadily and never starves sync calls. 0 runs none here:
	// async calls are left to external runners (GET /v1/tasks).
	Count int
	// Poll is how often an idle worker looks at the queue (default 250ms); accepts wake one at once.
	Poll time.Duration
	// MaxAttempts bounds the runs of a call that fails for Gantry's or Docker's reasons
	// (default 5); the function's own failures are final at once.
	MaxAttempts int
	// Backoff is the delay before the first retry (default 1s), doubled at each, at most a minute.
	Backoff time.Duration
	Log     *slog.Logger
}

// ownerPrefix names the leases of Gantry's own workers (external runners use others).
const ownerPrefix = "gantry:"

// leaseFor is how long a worker's lease lasts: longer than any call may take. A worker
// that dies with the whole server gives its leases back at the next start (ReleaseLeases).
const leaseFor = time.Duration(store.MaxTimeout)*time.Second + 2*time.Minute

// Workers run accepted async calls through the invocation path.
type Workers struct {
	iv       *Invoker
	opts     WorkerOptions
	run      string // this run's lease owner prefix
	stop     chan struct{}
	stopOnce sync.Once
	wg       sync.WaitGroup
}

// StartWorkers starts the async workers after taking back the leases of a previous run.
func (iv *Invoker) StartWorkers(ctx context.Context, opts WorkerOptions) (*Workers, error) {
	if opts.Poll <= 0 {
		opts.Poll = 250 * time.Millisecond
	}
	if opts.MaxAttempts <= 0 {
		opts.MaxAttempts = 5
	}
	if opts.Backoff <= 0 {
		opts.Backoff = time.Second
	}
	if opts.Log == nil {
		opts.Log = iv.runner.log
	}
	w := &Workers{iv: iv, opts: opts, run: ownerPrefix + iv.store.NewID() + ":", stop: make(chan struct{})}
	iv.mu.Lock()
	iv.workers = w.run
	iv.mu.Unlock()
	if n, err := iv.store.ReleaseLeases(ctx, ownerPrefix, w.run); err != nil {
		return nil, fmt.Errorf("take back the leases of a previous run: %w", err)
	} else if n > 0 {
		opts.Log.Info("async calls of a previous run back in the queue", "count", n)
	}
	for i := range opts.Count {
		w.wg.Add(1)
		go w.loop(fmt.Sprintf("%s%d", w.run, i)) //nolint:gosec // G118: workers outlive the call that starts them
	}
	return w, nil
}

// StopLeasing makes the workers take no more calls; Wait then waits for the running ones.
func (w *Workers) StopLeasing() { w.stopOnce.Do(func() { close(w.stop) }) }

// Wait waits (up to ctx) for the calls running after StopLeasing; those that outlive ctx
// are ended by the runner's Close and go back to the queue.
func (w *Workers) Wait(ctx context.Context) error {
	return waitGroup(ctx, &w.wg, "async calls still running")
}

func (w *Workers) loop(owner string) {
	defer w.wg.Done()
	for {
		select {
		case <-w.stop:
			return
		default:
		}
		tasks, err := w.iv.store.LeaseTasks(context.Background(), 1, owner, leaseFor)
		if err != nil {
			w.opts.Log.Error("lease async calls", "err", err)
		}
		if len(tasks) == 0 {
			select {
			case <-w.stop:
				return
			case <-w.iv.wake:
			case <-time.After(w.opts.Poll):
			}
			continue
		}
		for _, t := range tasks {
			w.runTask(t, owner)
		}
	}
}

// runTask runs one leased call and settles it: done (SUCCESS or the function's failure),
// or, when Gantry or Docker failed, back to the queue after a backoff until MaxAttempts.
// It settles in Done, before a hot container serves anyone else, so the task is final on
// disk before any late log of the call arrives.
func (w *Workers) runTask(t store.Task, owner string) {
	started := w.iv.now()
	_, _ = w.iv.run(context.Background(), t, started, func(res *Result, err error) {
		w.settle(context.Background(), t, owner, started, res, err)
	})
}

func (w *Workers) settle(ctx context.Context, t store.Task, owner string, started time.Time, res *Result, err error) {
	if functionFailed(err) && int64(t.Attempts) <= t.Route.MaxRetries {
		// The function failed, and its route asks for another run.
		if rerr := w.iv.store.RetryTask(ctx, t.ID, owner, backoff(w.opts.Backoff, t.Attempts), err.Error()); rerr != nil {
			w.opts.Log.Error("requeue async call", "id", t.ID, "err", rerr)
		}
		return
	}
	if retryable(err) {
		if errors.Is(err, ErrShuttingDown) || t.Attempts < w.opts.MaxAttempts {
			delay := backoff(w.opts.Backoff, t.Attempts)
			if errors.Is(err, ErrShuttingDown) {
				delay = 0
			}
			if rerr := w.iv.store.RetryTask(ctx, t.ID, owner, delay, err.Error()); rerr != nil {
				w.opts.Log.Error("requeue async call", "id", t.ID, "err", rerr)
			}
			return
		}
		err = fmt.Errorf("gave up after %d attempts: %w", t.Attempts, err)
	}
	ex := store.Execution{Type: store.TypeAsync, StartedAt: started}
	finish(&ex, res, err, w.iv.now())
	ex.Output = res.Body
	if cerr := w.iv.store.CompleteTask(ctx, t.ID, owner, ex, res.Log); cerr != nil {
		w.opts.Log.Error("complete async call", "id", t.ID, "err", cerr)
	}
}

// backoff is the delay before the retry that follows attempt: base, doubled at each
// attempt, at most a minute (doubling stops there, so no shift ever overflows).
func backoff(base time.Duration, attempt int) time.Duration {
	d := base
	for i := 1; i < attempt && d < time.Minute; i++ {
		d *= 2
	}
	return min(d, time.Minute)
}

// functionFailed reports a failure of the function itself: one a route's max_retries asks
// to run again.
func functionFailed(err error) bool {
	var fe *FunctionError
	return errors.As(err, &fe) || errors.Is(err, ErrTimeout)
}

// retryable reports failures that are Gantry's or Docker's, not the function's, and that
// another attempt may not meet (a network the owner may not use stays so).
func retryable(err error) bool {
	var fe *FunctionError
	switch {
	case err == nil, errors.As(err, &fe), errors.Is(err, ErrTimeout), errors.Is(err, ErrNetworkNotAllowed):
		return false
	case errors.Is(err, context.Canceled):
		return false
	}
	return true
}
