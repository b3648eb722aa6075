package handlers

import (
	"context"

	"github.com/go-openapi/runtime/middleware"

	waasmodels "github.com/gantry-dev/gantry/gen/waas/models"
	"github.com/gantry-dev/gantry/gen/waas/restapi/operations/executions"
	"github.com/gantry-dev/gantry/store"
)

// waasStatus is a run's status in the words of the hpcwaas-api: RUNNING until it is final
// (a queued run, and one being cancelled, included: the client keeps following while the
// word ends in "ING", and takes any other word as the end), then SUCCESS, FAILED or
// CANCELLED.
func waasStatus(r store.Run) string {
	if !r.Done() {
		return store.StatusRunning
	}
	return r.Status
}

// GetExecution answers a run the caller may see (a function call's execution, or another's
// run, is not found): its id, its status in the surface's words, and its outputs as stored,
// omitted while there are none.
func (s *WaaS) GetExecution(ctx context.Context, params executions.GetExecutionParams) middleware.Responder {
	run, err := s.a.visibleRun(ctx, params.ID)
	if err != nil {
		return s.fail(err)
	}
	id, status := run.ID, waasStatus(run)
	out := &waasmodels.ExecutionStatus{ID: &id, Status: &status}
	if outputs, ok := decodeJSON(run.Outputs).(map[string]any); ok && len(outputs) > 0 {
		out.Outputs = outputs
	}
	return executions.NewGetExecutionOK().WithPayload(out)
}

// CancelExecution asks a run the caller may see to stop, as DELETE /v1/executions/{id}
// does: 202 with no body; 409 when it has already ended.
func (s *WaaS) CancelExecution(ctx context.Context, params executions.CancelExecutionParams) middleware.Responder {
	if _, err := s.a.cancelRun(ctx, params.ID); err != nil {
		return s.fail(err)
	}
	return emptyAnswer(executions.NewCancelExecutionAccepted())
}
