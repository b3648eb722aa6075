package handlers

import (
	"context"
	"encoding/json"
	"time"

	"github.com/gantry-dev/gantry/store"
	"github.com/gantry-dev/gantry/store/bolt"
	"github.com/gantry-dev/gantry/workflow"
)

// testEngine is a small real implementation of Workflows for the handlers' tests: it checks
// definitions and inputs with package workflow and stores workflows and runs in the real
// store, as the engine does, but never runs a step (tests move runs on through the store).
type testEngine struct{ s *bolt.DB }

func (e testEngine) Put(ctx context.Context, w store.Workflow, mayCall func(app, path string) error, guard store.AppGuard) (store.Workflow, bool, error) {
	p, err := workflow.Parse(w.Definition)
	if err != nil {
		return store.Workflow{}, false, err
	}
	if err := p.CheckCalls(mayCall); err != nil {
		return store.Workflow{}, false, err
	}
	return e.s.PutWorkflow(ctx, w, guard)
}

func (e testEngine) Trigger(ctx context.Context, w store.Workflow, inputs json.RawMessage, opts workflow.TriggerOptions) (store.Run, bool, error) {
	p, err := workflow.Parse(w.Definition)
	if err != nil {
		return store.Run{}, false, err
	}
	in, err := p.Inputs(inputs, opts.CoerceStrings)
	if err != nil {
		return store.Run{}, false, err
	}
	now := time.Now().UTC()
	r := store.Run{ID: e.s.NewID(), Workflow: w.Name, WorkflowVersion: w.Version, Owner: w.Owner, TriggeredBy: opts.TriggeredBy,
		IdempotencyKey: opts.IdempotencyKey, Status: store.StatusQueued, Inputs: in, Definition: w.Definition, CreatedAt: now}
	for _, s := range p.Def.Steps {
		r.Steps = append(r.Steps, store.StepRun{Name: s.Name, Status: store.StatusPending})
	}
	return e.s.CreateRun(ctx, r, []store.RunEvent{{Type: store.EventQueued, Time: now}})
}

func (e testEngine) Cancel(ctx context.Context, id string) (store.Run, error) {
	return e.s.UpdateRun(ctx, id, func(r *store.Run) (store.RunUpdate, error) {
		if r.Done() {
			return store.RunUpdate{}, store.Errorf(store.ErrConflict, "run %s is %s", id, r.Status)
		}
		now := time.Now().UTC()
		r.Status, r.Reason, r.CompletedAt = store.StatusCancelled, store.ReasonClientRequest, now
		return store.RunUpdate{Events: []store.RunEvent{
			{Type: store.EventCancelling, Time: now},
			{Type: store.EventFinished, Time: now, Status: store.StatusCancelled, Reason: store.ReasonClientRequest},
		}}, nil
	})
}

func (e testEngine) Delete(ctx context.Context, name string, force bool, guard store.AppGuard) error {
	if force {
		active, err := e.s.ActiveRuns(ctx)
		if err != nil {
			return err
		}
		for _, id := range active {
			if r, err := e.s.GetRun(ctx, id); err == nil && r.Workflow == name {
				if _, err := e.Cancel(ctx, id); err != nil {
					return err
				}
			}
		}
	}
	return e.s.DeleteWorkflow(ctx, name, guard)
}
