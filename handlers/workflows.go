package handlers

import (
	"context"
	"log/slog"

	"github.com/go-openapi/runtime/middleware"

	"github.com/gantry-dev/gantry/gen/models"
	"github.com/gantry-dev/gantry/gen/restapi/operations/workflows"
	"github.com/gantry-dev/gantry/store"
	"github.com/gantry-dev/gantry/workflow"
)

// ListWorkflows answers one page of the workflows the caller may run, in name order.
func (a *API) ListWorkflows(ctx context.Context, params workflows.ListWorkflowsParams) middleware.Responder {
	list, next, err := a.listVisibleWorkflows(ctx, page(params.PerPage, params.Cursor))
	if err != nil {
		return a.errorResponse(err)
	}
	out := &models.WorkflowsWrapper{Workflows: make([]*models.Workflow, 0, len(list)), NextCursor: next}
	for _, w := range list {
		out.Workflows = append(out.Workflows, a.workflowForCaller(ctx, w))
	}
	return workflows.NewListWorkflowsOK().WithPayload(out)
}

// GetWorkflow describes a workflow the caller may run: its definition and its summary
// (expected inputs, outputs, steps).
func (a *API) GetWorkflow(ctx context.Context, params workflows.GetWorkflowParams) middleware.Responder {
	w, err := a.visibleWorkflow(ctx, params.Name)
	if err != nil {
		return a.errorResponse(err)
	}
	m := a.workflowForCaller(ctx, w)
	if p, err := workflow.Parse(w.Definition); err == nil {
		m.Summary = summaryToModel(p.Describe())
	} else { // stored by a version that took it: the definition is still answered
		a.log.Warn("stored workflow definition does not parse", "workflow", w.Name, "version", w.Version, "err", err)
	}
	return workflows.NewGetWorkflowOK().WithPayload(&models.WorkflowWrapper{Workflow: m})
}

// PutWorkflow creates a workflow (the caller owns it) or replaces the definition of one the
// caller owns (a new version). Every call of its steps must be of a route of an app the
// caller may use.
func (a *API) PutWorkflow(ctx context.Context, params workflows.PutWorkflowParams) middleware.Responder {
	in := params.Body.Workflow
	if in == nil {
		return a.badRequest("workflow", "workflow is required")
	}
	if in.Name != "" && in.Name != params.Name {
		return a.badRequest("workflow.name", "workflow.name %q differs from the name in the path %q", in.Name, params.Name)
	}
	if a.workflows == nil {
		return a.errorResponse(errNoWorkflows())
	}
	// Another's workflow is not found before its definition is looked at (the store's guard
	// checks the owner again inside the write).
	guard := workflowGuard(ctx, params.Name)
	owner := caller(ctx).Name
	if old, err := a.store.GetWorkflow(ctx, params.Name); err == nil {
		if err := guard(old.Owner); err != nil {
			return a.errorResponse(err)
		}
		owner = old.Owner
	}
	w, err := workflowFromModel(params.Name, caller(ctx).Name, in)
	if err != nil {
		return a.errorResponse(err)
	}
	// The secrets its steps name must be its owner's to give (a definition that does not
	// parse is refused by Put, with the reason).
	if p, err := workflow.Parse(w.Definition); err == nil {
		if err := a.checkStepSecrets(ctx, owner, p); err != nil {
			return a.errorResponse(withFieldPrefix("workflow", err))
		}
	}
	mayCall := func(app, path string) error {
		if err := a.checkApp(ctx, app); err != nil {
			return err
		}
		_, _, err := a.store.MatchRoute(app, path)
		return err
	}
	stored, created, err := a.workflows.Put(ctx, w, mayCall, guard)
	if err != nil {
		return a.errorResponse(withFieldPrefix("workflow", err))
	}
	auditNote(ctx, slog.String("workflow", stored.Name), slog.Int("workflow_version", stored.Version))
	out := &models.WorkflowWrapper{Workflow: workflowToModel(stored)}
	if created {
		return workflows.NewPutWorkflowCreated().WithPayload(out)
	}
	return workflows.NewPutWorkflowOK().WithPayload(out)
}

// DeleteWorkflow deletes a workflow the caller owns; 409 while runs of it are unfinished,
// unless force cancels them first.
func (a *API) DeleteWorkflow(ctx context.Context, params workflows.DeleteWorkflowParams) middleware.Responder {
	if a.workflows == nil {
		return a.errorResponse(errNoWorkflows())
	}
	force := params.Force != nil && *params.Force
	if err := a.workflows.Delete(ctx, params.Name, force, workflowGuard(ctx, params.Name)); err != nil {
		return a.errorResponse(err)
	}
	return workflows.NewDeleteWorkflowNoContent()
}

// TriggerWorkflow runs a workflow the caller may run: 201 with the run and its Location
// (the same run again for an Idempotency-Key the caller used before).
func (a *API) TriggerWorkflow(ctx context.Context, params workflows.TriggerWorkflowParams) middleware.Responder {
	var inputs any
	if params.Body != nil {
		inputs = params.Body.Inputs
	}
	raw, err := rawJSON(inputs)
	if err != nil {
		return a.badRequest("inputs", "inputs: %v", err)
	}
	key := ""
	if params.IdempotencyKey != nil {
		key = *params.IdempotencyKey
	}
	run, _, err := a.triggerRun(ctx, params.Name, raw, false, key)
	if err != nil {
		return a.errorResponse(err)
	}
	auditNote(ctx, slog.String("run", run.ID))
	return workflows.NewTriggerWorkflowCreated().WithLocation("/v1/executions/" + run.ID).
		WithPayload(&models.ExecutionWrapper{Execution: runToModel(run)})
}

// workflowForCaller is a workflow as the caller may see it: whole for its owner and admins;
// for those it is shared with, without its steps' definitions (their headers may hold the
// owner's secrets) and its run_access (others' names): the summary tells them what to run.
func (a *API) workflowForCaller(ctx context.Context, w store.Workflow) *models.Workflow {
	m := workflowToModel(w)
	if !mayUse(caller(ctx), w.Owner) {
		m.Steps, m.RunAccess = []any{}, nil
	}
	return m
}
