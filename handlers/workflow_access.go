package handlers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/gantry-dev/gantry/auth"
	"github.com/gantry-dev/gantry/httperr"
	"github.com/gantry-dev/gantry/store"
	"github.com/gantry-dev/gantry/workflow"
)

// Workflows is what the API needs of the workflow engine (*workflow.Engine).
type Workflows interface {
	// Put checks a definition (a *store.ValidationError naming the field → 400) and stores it (new version);
	// mayCall(app, path) answers nil when the caller may call that function (a store.ErrNotFound otherwise).
	Put(ctx context.Context, w store.Workflow, mayCall func(app, path string) error, guard store.AppGuard) (store.Workflow, bool, error)
	// Trigger checks the inputs (400 naming the input) and stores a new QUEUED run of w before it returns;
	// with an IdempotencyKey used before by the same TriggeredBy, it returns that run and false.
	Trigger(ctx context.Context, w store.Workflow, inputs json.RawMessage, opts workflow.TriggerOptions) (store.Run, bool, error)
	// Cancel asks a run to stop (ErrConflict when final) and returns it as stored then.
	Cancel(ctx context.Context, id string) (store.Run, error)
	// Delete removes a workflow (ErrConflict while runs are unfinished); force cancels them first.
	Delete(ctx context.Context, name string, force bool, guard store.AppGuard) error
}

// Run access entries of a workflow (store.Workflow.RunAccess).
const (
	accessAuthenticated = "authenticated"
	accessUserPrefix    = "user:"
	accessGroupPrefix   = "group:"
)

// Who may do what with workflows and their runs, shared by /v1 and the /waas surface:
//   - a workflow: its owner and admins may do everything; the identities its run_access
//     names may list, describe and trigger it; anyone else gets 404, as if it did not exist;
//   - a run: admins see all; the workflow's owner (Run.Owner) all runs of its workflows;
//     anyone else only the runs it triggered (Run.TriggeredBy); others get 404.

// sharedWith tells whether a workflow's run_access names id.
func sharedWith(id auth.Identity, w store.Workflow) bool {
	for _, entry := range w.RunAccess {
		switch {
		case entry == accessAuthenticated:
			if id.Name != "" {
				return true
			}
		case strings.HasPrefix(entry, accessUserPrefix):
			if name := entry[len(accessUserPrefix):]; name != "" && name == id.Name {
				return true
			}
		case strings.HasPrefix(entry, accessGroupPrefix):
			if g := entry[len(accessGroupPrefix):]; g != "" && slices.Contains(id.Groups, g) {
				return true
			}
		}
	}
	return false
}

// mayRun tells whether id may list, describe and trigger w.
func mayRun(id auth.Identity, w store.Workflow) bool {
	return mayUse(id, w.Owner) || sharedWith(id, w)
}

// workflowGuard is the ownership check of the writes of a workflow (PUT, DELETE): another's
// workflow is not found, even when it is shared with the caller.
func workflowGuard(ctx context.Context, name string) store.AppGuard {
	return ownerGuard(ctx, store.NotFound("workflow", name))
}

// visibleWorkflow reads a workflow the caller may run (see mayRun); others are not found.
func (a *API) visibleWorkflow(ctx context.Context, name string) (store.Workflow, error) {
	w, err := a.store.GetWorkflow(ctx, name)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return store.Workflow{}, store.NotFound("workflow", name)
		}
		return store.Workflow{}, err
	}
	if !mayRun(caller(ctx), w) {
		return store.Workflow{}, store.NotFound("workflow", name)
	}
	return w, nil
}

// listVisibleWorkflows returns a page of the workflows the caller may run, in name order.
func (a *API) listVisibleWorkflows(ctx context.Context, page store.Page) ([]store.Workflow, string, error) {
	var f store.WorkflowFilter
	if who := caller(ctx); !who.IsAdmin() {
		f.Visible = func(w store.Workflow) bool { return mayRun(who, w) }
	}
	return a.store.ListWorkflows(ctx, f, page)
}

// mayView tells whether id may see a run.
func mayView(id auth.Identity, r store.Run) bool {
	return mayUse(id, r.Owner) || (id.Name != "" && id.Name == r.TriggeredBy)
}

// visibleRun reads a run the caller may see (see mayView); others are not found, as an
// execution that does not exist.
func (a *API) visibleRun(ctx context.Context, id string) (store.Run, error) {
	r, err := a.store.GetRun(ctx, id)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return store.Run{}, store.NotFound("execution", id)
		}
		return store.Run{}, err
	}
	if !mayView(caller(ctx), r) {
		return store.Run{}, store.NotFound("execution", id)
	}
	return r, nil
}

// runFilter narrows f to the runs the caller may see.
func runFilter(who auth.Identity, f store.RunFilter) store.RunFilter {
	if !who.IsAdmin() {
		f.Viewer = who.Name
	}
	return f
}

// triggerRun starts a run of a workflow the caller may run, as the caller; with an
// idempotencyKey it used before, it answers that run and false.
func (a *API) triggerRun(ctx context.Context, name string, inputs json.RawMessage, coerceStrings bool, idempotencyKey string) (store.Run, bool, error) {
	if a.workflows == nil {
		return store.Run{}, false, errNoWorkflows()
	}
	w, err := a.visibleWorkflow(ctx, name)
	if err != nil {
		return store.Run{}, false, err
	}
	return a.workflows.Trigger(ctx, w, inputs, workflow.TriggerOptions{
		TriggeredBy: caller(ctx).Name, IdempotencyKey: idempotencyKey, CoerceStrings: coerceStrings,
	})
}

// cancelRun asks a run the caller may see to stop; ErrConflict when it is final.
func (a *API) cancelRun(ctx context.Context, id string) (store.Run, error) {
	if _, err := a.visibleRun(ctx, id); err != nil {
		return store.Run{}, err
	}
	if a.workflows == nil {
		return store.Run{}, errNoWorkflows()
	}
	return a.workflows.Cancel(ctx, id)
}

// waitRun returns when the run has events after seen, or is final, or ctx ends (with its
// error), or EndStreams is called (errStreamsEnded). It wakes on the store's ChangeRun of the run (and on a ChangeReset), so followers
// on every node sharing the store see a change as soon as the feed delivers it.
func (a *API) waitRun(ctx context.Context, id string, seen int64) error {
	wake := make(chan struct{}, 1)
	unsubscribe := a.store.Subscribe(func(c store.Change) {
		if c.Kind == store.ChangeReset || (c.Kind == store.ChangeRun && c.Name == id) {
			select {
			case wake <- struct{}{}:
			default:
			}
		}
	})
	defer unsubscribe()
	for {
		r, err := a.store.GetRun(ctx, id) // read after subscribing: no change is missed in between
		if err != nil {
			return err
		}
		if r.Events > seen || r.Done() {
			return nil
		}
		select {
		case <-wake:
		case <-ctx.Done():
			return ctx.Err()
		case <-a.streamsEnd:
			return errStreamsEnded
		}
	}
}

// errNoWorkflows answers what needs the workflow engine on a server without one.
func errNoWorkflows() *httperr.Error {
	return &httperr.Error{Status: http.StatusServiceUnavailable, Message: "this server runs no workflows", Header: httperr.RetryAfter(60)}
}

// runLog is the log of a run: the logs of its steps' calls in the order of its steps, each
// attempt under a header line.
func (a *API) runLog(ctx context.Context, run store.Run) ([]byte, error) {
	var st runLogState
	attempts, err := st.attempts(ctx, a.store, run)
	if err != nil {
		return nil, err
	}
	var out []byte
	for _, at := range attempts {
		if len(out) >= a.maxRunLog {
			out = append(out, runLogStops(a.maxRunLog)...)
			break
		}
		if out, err = a.appendAttemptLog(ctx, out, at); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// runLogStops is the last line of a run's log cut past max bytes.
func runLogStops(limit int) string {
	return fmt.Sprintf("== the log of this run stops here: it passed %d bytes; each call's own log is at /v1/executions/{call}/log ==\n", limit)
}

// MaxRunLog bounds the log of a run answered at once (a map of thousands of calls would
// otherwise make one answer of gigabytes); a followed log streams, attempt by attempt.
const MaxRunLog = 16 << 20
