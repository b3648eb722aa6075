package workflow

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/gantry-dev/gantry/store"
)

// namePattern is what a workflow's name may be, as an app's.
var namePattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,255}$`)

// Run access entries (store.Workflow.RunAccess).
const (
	AccessAuthenticated = "authenticated"
	AccessUserPrefix    = "user:"
	AccessGroupPrefix   = "group:"
)

// Put checks a workflow's definition and stores it as its new version. mayCall tells
// whether the workflow's author may call a step's function (nil, or a store.ErrNotFound).
func (e *Engine) Put(ctx context.Context, w store.Workflow, mayCall func(app, path string) error, guard store.AppGuard) (store.Workflow, bool, error) {
	if !namePattern.MatchString(w.Name) {
		return store.Workflow{}, false, store.Invalid("name", "a workflow's name is 1 to 255 letters, digits, '_' or '-', not %q", w.Name)
	}
	if err := checkRunAccess(w.RunAccess); err != nil {
		return store.Workflow{}, false, err
	}
	p, err := Parse(w.Definition)
	if err != nil {
		return store.Workflow{}, false, err
	}
	if err := p.CheckCalls(mayCall); err != nil {
		return store.Workflow{}, false, err
	}
	// The apps as they are now: a step never calls a later app of the same name.
	w.Apps = map[string]string{}
	for i, sp := range p.Steps {
		if sp.Call == nil {
			continue
		}
		id, err := e.store.AppID(sp.Call.App)
		if err != nil {
			return store.Workflow{}, false, store.Invalid(fmt.Sprintf("steps[%d].call.app", i), "%s", err)
		}
		w.Apps[sp.Call.App] = id
	}
	w.Description = p.Def.Description
	return e.store.PutWorkflow(ctx, w, guard)
}

func checkRunAccess(entries []string) error {
	for i, a := range entries {
		switch {
		case a == AccessAuthenticated:
		case strings.HasPrefix(a, AccessUserPrefix) && len(a) > len(AccessUserPrefix):
		case strings.HasPrefix(a, AccessGroupPrefix) && len(a) > len(AccessGroupPrefix):
		default:
			return store.Invalid(fmt.Sprintf("run_access[%d]", i), "an entry is %q, %q or %q, not %q", AccessAuthenticated, AccessUserPrefix+"NAME", AccessGroupPrefix+"NAME", a)
		}
	}
	return nil
}

// Trigger checks a run's inputs against the workflow's and stores the run, QUEUED, before
// it returns; the engine then starts it. A second trigger by the same TriggeredBy with the
// same IdempotencyKey answers the first's run, created false.
func (e *Engine) Trigger(ctx context.Context, w store.Workflow, inputs json.RawMessage, opts TriggerOptions) (store.Run, bool, error) {
	r, events, err := e.Prepare(w, inputs, opts)
	if err != nil {
		return store.Run{}, false, err
	}
	in := r.Inputs
	stored, created, err := e.store.CreateRun(ctx, r, events)
	if err != nil {
		return store.Run{}, false, err
	}
	if created {
		e.kick(stored.ID)
		return stored, true, nil
	}
	// The key names one request: used again for another workflow or other inputs, it is a
	// client's mistake, not a retry.
	switch {
	case stored.Workflow != w.Name:
		return store.Run{}, false, store.Errorf(store.ErrConflict, "Idempotency-Key %q was used for a run of another workflow, %q (execution %s)", opts.IdempotencyKey, stored.Workflow, stored.ID)
	case !bytes.Equal(stored.Inputs, in):
		return store.Run{}, false, store.Errorf(store.ErrConflict, "Idempotency-Key %q was used for a run of %q with other inputs (execution %s)", opts.IdempotencyKey, stored.Workflow, stored.ID)
	}
	return stored, false, nil
}

// Prepare makes a run of w with inputs, QUEUED, and its first events, ready to store (it
// stores nothing: Trigger stores it with CreateRun, the events service with the event
// that makes it). The inputs are checked against the workflow's inputs schema: refused,
// they are Prepare's error, unless opts.KeepRefused, when the run is made with the inputs
// as given and set to fail (FAILED, reason error, its error naming the refusal) at its
// first move, without starting a step. Once stored, Kick starts it on this node.
func (e *Engine) Prepare(w store.Workflow, inputs json.RawMessage, opts TriggerOptions) (store.Run, []store.RunEvent, error) {
	p, err := e.program(w.Definition)
	if err != nil {
		return store.Run{}, nil, fmt.Errorf("workflow %q: its definition: %w", w.Name, err)
	}
	in, refused := p.Inputs(inputs, opts.CoerceStrings)
	if refused != nil && (!opts.KeepRefused || !json.Valid(inputs)) {
		return store.Run{}, nil, refused
	}
	r := store.Run{ID: e.store.NewID(), Workflow: w.Name, WorkflowVersion: w.Version, Owner: w.Owner, TriggeredBy: opts.TriggeredBy,
		IdempotencyKey: opts.IdempotencyKey, Status: store.StatusQueued, Inputs: in, Definition: w.Definition, Apps: w.Apps,
		Steps: make([]store.StepRun, len(p.Steps)), CreatedAt: e.now()}
	for i, s := range p.Steps {
		r.Steps[i] = store.StepRun{Name: s.Name, Status: store.StatusPending}
	}
	if refused != nil {
		r.Inputs = bytes.Clone(inputs)
		r.Stopping, r.Reason, r.Error = store.StatusFailed, store.ReasonError, "the inputs were refused: "+refused.Error()
	}
	return r, []store.RunEvent{{Type: store.EventQueued, Status: store.StatusQueued, Time: r.CreatedAt}}, nil
}

// Kick asks the engine to move run id on now (a run stored by another than Trigger: an
// event's delivery): its first move starts it.
func (e *Engine) Kick(id string) { e.kick(id) }

// Cancel asks a run to stop: its steps not started never start, its running calls are
// stopped (through the calls' own cancel, on whichever node runs them), and it ends
// CANCELLED (reason client_request) once none runs. ErrConflict for a finished run.
func (e *Engine) Cancel(ctx context.Context, id string) (store.Run, error) {
	results := map[string]store.Execution{}
	if r, err := e.store.GetRun(ctx, id); err == nil {
		if results, err = e.results(ctx, r); err != nil {
			return store.Run{}, err
		}
	}
	stored, err := e.write(ctx, id, results, func(r *store.Run, m *mover) error {
		if r.Done() {
			return store.Errorf(store.ErrConflict, "execution %q already finished (%s)", r.ID, r.Status)
		}
		if !r.CancelRequested {
			r.CancelRequested = true
			if r.Stopping == "" { // a run stopping FAILED already ends FAILED, for its reason
				r.Stopping, r.Reason, r.Error = store.StatusCancelled, store.ReasonClientRequest, "cancelled"
			}
			m.event(store.RunEvent{Type: store.EventCancelling, Status: r.Status, Reason: store.ReasonClientRequest})
		}
		return nil
	})
	if errors.Is(err, errNoChange) { // cancelled already: the cancel is answered again
		stored, err = e.store.GetRun(ctx, id)
	}
	if err != nil {
		return store.Run{}, err
	}
	e.arm(stored)
	return stored, nil
}

// ForceDeleteWait bounds how long Delete with force waits for the runs it cancels to end.
const ForceDeleteWait = 15 * time.Second

// Delete removes a workflow; ErrConflict while one of its runs is unfinished, unless force:
// then they are cancelled first, and Delete waits for them to end.
func (e *Engine) Delete(ctx context.Context, name string, force bool, guard store.AppGuard) error {
	w, err := e.store.GetWorkflow(ctx, name)
	if err != nil {
		return err
	}
	if guard != nil {
		if err := guard(w.Owner); err != nil {
			return err
		}
	}
	if force {
		if err := e.cancelAll(ctx, name); err != nil {
			return err
		}
	}
	return e.store.DeleteWorkflow(ctx, name, guard)
}

// cancelAll cancels every unfinished run of a workflow and waits until they ended.
func (e *Engine) cancelAll(ctx context.Context, name string) error {
	deadline := time.Now().Add(ForceDeleteWait)
	for {
		ids, err := e.store.ActiveRuns(ctx)
		if err != nil {
			return err
		}
		left := 0
		for _, id := range ids {
			r, err := e.store.GetRun(ctx, id)
			if err != nil || r.Workflow != name || r.Done() {
				continue
			}
			left++
			if !r.CancelRequested {
				if _, err := e.Cancel(ctx, id); err != nil && !errors.Is(err, store.ErrConflict) {
					return err
				}
			}
		}
		if left == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return store.Errorf(store.ErrConflict, "workflow %q: %d runs were cancelled but have not ended yet; try again", name, left)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}
