package handlers

import (
	"context"
	"encoding/json"
	"log/slog"

	"github.com/go-openapi/runtime/middleware"

	waasmodels "github.com/gantry-dev/gantry/gen/waas/models"
	"github.com/gantry-dev/gantry/gen/waas/restapi/operations/workflows"
	"github.com/gantry-dev/gantry/store"
)

// maxWaaSWorkflows caps GET /waas/workflows, which answers every workflow the caller may
// run at once (the client never pages): the first ones by name.
const maxWaaSWorkflows = 1000

// ListWorkflows answers the workflows the caller may run (as GET /v1/workflows lists them),
// all pages read, in name order, at most maxWaaSWorkflows. A workflow's id is its name
// (what TriggerWorkflow takes); application and environment are notions of the upstream
// backend that Gantry does not have: always "".
func (s *WaaS) ListWorkflows(ctx context.Context, _ workflows.ListWorkflowsParams) middleware.Responder {
	out := &waasmodels.WorkflowsList{Workflows: []*waasmodels.Workflow{}}
	cursor := ""
	for len(out.Workflows) < maxWaaSWorkflows {
		list, next, err := s.a.listVisibleWorkflows(ctx, store.Page{Cursor: cursor, Limit: min(store.MaxPageSize, maxWaaSWorkflows-len(out.Workflows))})
		if err != nil {
			return s.fail(err)
		}
		for _, w := range list {
			id, name := w.Name, w.Name
			out.Workflows = append(out.Workflows, &waasmodels.Workflow{ID: &id, Name: &name})
		}
		if next == "" {
			break
		}
		cursor = next
	}
	return workflows.NewListWorkflowsOK().WithPayload(out)
}

// TriggerWorkflow starts a run of a workflow the caller may run, as /v1 does, with input
// values sent as strings converted to the types the workflow's inputs schema declares (the
// client sends every `-i key=value` as a string): 201, Location /waas/executions/{id}, no
// body. An Idempotency-Key the caller used before answers the run it started.
func (s *WaaS) TriggerWorkflow(ctx context.Context, params workflows.TriggerWorkflowParams) middleware.Responder {
	var raw json.RawMessage
	if params.Body != nil && params.Body.Inputs != nil { // {"inputs": null} and no body are no inputs
		var err error
		if raw, err = json.Marshal(params.Body.Inputs); err != nil {
			return s.fail(errInvalidField("inputs", "inputs: "+err.Error()))
		}
	}
	key := ""
	if params.IdempotencyKey != nil {
		key = *params.IdempotencyKey
	}
	run, _, err := s.a.triggerRun(ctx, params.Name, raw, true, key)
	if err != nil {
		return s.fail(err)
	}
	auditNote(ctx, slog.String("run", run.ID))
	return emptyAnswer(workflows.NewTriggerWorkflowCreated().WithLocation(waasBasePath + "/executions/" + run.ID))
}
