package invoke

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/gantry-dev/gantry/runner"
	"github.com/gantry-dev/gantry/store"
)

// settle ends a leased call that ran: done (SUCCESS or the function's failure), or back to
// the queue after a backoff: when the function failed and its retry policy (Task.Retry, an
// event delivery's: while Attempts < its MaxAttempts) or else its route's max_retries asks
// for another run, or when Gantry or Docker failed, while Attempts < MaxAttempts (a
// shutdown at once, whatever the attempts). Attempts counts every run, whatever ended it
// (the lease counts it): Gantry's and Docker's failures use up a policy's attempts too.
// For a call with a retry policy, an http or json function's answer with a status of 500
// or more is the function's failure too (statusFailure).
func (w *Workers) settle(ctx context.Context, t store.Task, owner string, started time.Time, res *runner.Result, err error) {
	if err == nil && t.Retry != nil {
		err = statusFailure(res)
	}
	switch {
	case !functionFailed(err):
	case t.Retry != nil && t.Attempts < t.Retry.MaxAttempts:
		// The function failed, and the delivery's policy asks for another run.
		w.requeue(ctx, t.ID, owner, t.Retry.Delay(t.Attempts), err.Error())
		return
	case t.Retry != nil:
		err = fmt.Errorf("failed %d attempts: %w", t.Attempts, err)
	case int64(t.Attempts) <= t.Route.MaxRetries:
		// The function failed, and its route asks for another run.
		w.requeue(ctx, t.ID, owner, backoff(w.opts.Backoff, t.Attempts), err.Error())
		return
	}
	if retryable(err) {
		if errors.Is(err, runner.ErrShuttingDown) || t.Attempts < w.opts.MaxAttempts {
			delay := backoff(w.opts.Backoff, t.Attempts)
			if errors.Is(err, runner.ErrShuttingDown) {
				delay = 0
			}
			w.requeue(ctx, t.ID, owner, delay, err.Error())
			return
		}
		err = fmt.Errorf("gave up after %d attempts: %w", t.Attempts, err)
	}
	ex := store.Execution{Type: store.TypeAsync, StartedAt: started, Node: w.s.node}
	finish(&ex, res, err, w.s.now())
	ex.ImageDigest = ranImage(t.Route, res)
	ex.Output = res.Body
	cerr := w.persist(func() error { return w.s.store.CompleteTask(ctx, t.ID, owner, ex, res.Log) })
	switch {
	case cerr == nil:
		ex.ID, ex.App, ex.AppID, ex.Route, ex.Parent, ex.Attempts = t.ID, t.Route.App, t.AppID, t.Route.Path, t.Parent, t.Attempts
		ex.CreatedAt = t.EnqueuedAt
		w.s.tellFinished(ex, &t)
	case errors.Is(cerr, store.ErrConflict), errors.Is(cerr, store.ErrNotFound):
		// The lease ended (another node runs the call again) or the task went: this result is not the call's.
		w.opts.Log.Warn("async call result dropped: its lease was no longer this worker's", "id", t.ID, "err", cerr)
	default:
		// Never keep a lease this node renews but no worker will settle: back to the queue.
		w.opts.Log.Error("complete async call; running it again", "id", t.ID, "err", cerr)
		w.requeue(ctx, t.ID, owner, 0, "its result could not be stored: "+cerr.Error())
	}
}

// requeue returns a leased call to the queue (RetryTask), waiting out a store outage.
func (w *Workers) requeue(ctx context.Context, id, owner string, delay time.Duration, reason string) {
	if err := w.persist(func() error { return w.s.store.RetryTask(ctx, id, owner, delay, reason) }); err != nil {
		w.opts.Log.Error("requeue async call", "id", id, "err", err)
	}
}

// persist runs a write of a settle until the store takes it or refuses it for another reason
// than an outage: a result that was not stored would leave a lease this node keeps renewing
// and no worker settles. An outage longer than the lease gives the call to another node
// (the write then fails with ErrConflict), as a dead node's would be.
func (w *Workers) persist(write func() error) error {
	wait := 100 * time.Millisecond
	for {
		err := write()
		if !errors.Is(err, store.ErrUnavailable) {
			return err
		}
		w.opts.Log.Warn("store unavailable; settling the async call again shortly", "err", err, "in", wait)
		time.Sleep(wait)
		wait = min(2*wait, 5*time.Second)
	}
}

// finish records the outcome of a call in its execution.
func finish(ex *store.Execution, res *runner.Result, err error, now time.Time) {
	ex.CompletedAt = now
	ex.ExitCode = res.ExitCode
	ex.OutputTruncated, ex.LogTruncated = res.OutputTruncated, res.LogTruncated
	switch {
	case res.Ran && res.Hot:
		ex.Container = store.ContainerHot
	case res.Ran:
		ex.Container = store.ContainerCold
	}
	var fe *runner.FunctionError
	switch {
	case err == nil:
		ex.Status = store.StatusSuccess
		return
	case errors.Is(err, runner.ErrTimeout):
		ex.Status, ex.Reason = store.StatusFailed, store.ReasonTimeout
	case errors.As(err, &fe):
		ex.Status, ex.Reason = store.StatusFailed, failureReason(fe.Reason)
	case errors.Is(err, runner.ErrBusy):
		ex.Status, ex.Reason = store.StatusFailed, store.ReasonBusy
	case errors.Is(err, context.Canceled), errors.Is(err, runner.ErrCancelled):
		ex.Status, ex.Reason = store.StatusCancelled, store.ReasonClientRequest // cancelled, or the caller went away
	default:
		ex.Status, ex.Reason = store.StatusFailed, store.ReasonError
	}
	ex.Error = err.Error()
}

// failureReason is the execution's reason for a function's failure.
func failureReason(reason string) string {
	if reason == runner.ReasonKilled {
		return store.ReasonKilled
	}
	return store.ReasonBadExit
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

// statusFailure is the failure of a call whose function answered with a status of 500 or
// more (an http or json function's own status; a default-format call always answers 200):
// nil for any other answer. A call with a retry policy (an event delivery) counts such an
// answer as the function's failure, retried and recorded FAILED (bad_exit); other calls
// keep it as the function's answer, SUCCESS, as their caller reads it.
func statusFailure(res *runner.Result) error {
	if res == nil || res.Status < http.StatusInternalServerError {
		return nil
	}
	return &runner.FunctionError{Reason: runner.ReasonBadExit, Message: fmt.Sprintf("the function answered %d %s", res.Status, http.StatusText(res.Status))}
}

// functionFailed reports a failure of the function itself: one a route's max_retries asks
// to run again.
func functionFailed(err error) bool {
	var fe *runner.FunctionError
	return errors.As(err, &fe) || errors.Is(err, runner.ErrTimeout)
}

// retryable reports failures that are Gantry's or Docker's, not the function's, and that
// another attempt may not meet (a network the owner may not use stays so, as does a
// secret that does not exist, or a server without a secret store; a secret store that
// cannot answer now is retried).
func retryable(err error) bool {
	var (
		fe      *runner.FunctionError
		noStore *noSecretStore
		noImage *ImageUnavailable
	)
	switch {
	case err == nil, errors.As(err, &fe), errors.Is(err, runner.ErrTimeout), errors.Is(err, runner.ErrNetworkNotAllowed):
		return false
	case errors.Is(err, store.ErrConflict), errors.As(err, &noStore):
		return false
	case errors.As(err, &noImage): // tried again only while its first build runs
		return noImage.Building
	case errors.Is(err, context.Canceled):
		return false
	}
	return true
}
