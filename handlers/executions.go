package handlers

import (
	"context"
	"errors"

	"github.com/go-openapi/runtime/middleware"

	"github.com/gantry-dev/gantry/auth"
	"github.com/gantry-dev/gantry/gen/models"
	"github.com/gantry-dev/gantry/gen/restapi/operations/executions"
	"github.com/gantry-dev/gantry/store"
)

// GetExecution answers one execution: a call or a workflow run.
func (a *API) GetExecution(ctx context.Context, params executions.GetExecutionParams) middleware.Responder {
	ex, run, err := a.visibleExecutionOrRun(ctx, params.ID)
	if err != nil {
		return a.errorResponse(err)
	}
	if run != nil {
		return executions.NewGetExecutionOK().WithPayload(&models.ExecutionWrapper{Execution: runToModel(*run)})
	}
	return executions.NewGetExecutionOK().WithPayload(&models.ExecutionWrapper{Execution: executionToModel(ex)})
}

// GetExecutionLog answers a call's stderr log, or a run's log (its steps' logs), as
// text/plain; a run's is streamed until it is final with follow.
func (a *API) GetExecutionLog(ctx context.Context, params executions.GetExecutionLogParams) middleware.Responder {
	_, run, err := a.visibleExecutionOrRun(ctx, params.ID)
	if err != nil {
		return a.errorResponse(err)
	}
	var log []byte
	switch {
	case run != nil && params.Follow != nil && *params.Follow:
		return a.followRunLog(params.HTTPRequest.Context(), *run)
	case run != nil:
		log, err = a.runLog(ctx, *run)
	default:
		log, err = a.store.GetExecutionLog(ctx, params.ID)
	}
	if err != nil {
		return a.errorResponse(err)
	}
	return executions.NewGetExecutionLogOK().WithPayload(string(log))
}

// CancelExecution cancels a queued or running call or run; 409 for a finished one.
func (a *API) CancelExecution(ctx context.Context, params executions.CancelExecutionParams) middleware.Responder {
	_, run, err := a.visibleExecutionOrRun(ctx, params.ID)
	if err != nil {
		return a.errorResponse(err)
	}
	if run != nil {
		r, err := a.cancelRun(ctx, params.ID)
		if err != nil {
			return a.errorResponse(err)
		}
		return executions.NewCancelExecutionAccepted().WithPayload(&models.ExecutionWrapper{Execution: runToModel(r)})
	}
	if a.functions == nil {
		return responder(errNoFunctions())
	}
	ex, err := a.functions.Cancel(ctx, params.ID)
	if err != nil {
		return a.errorResponse(err)
	}
	return executions.NewCancelExecutionAccepted().WithPayload(&models.ExecutionWrapper{Execution: executionToModel(ex)})
}

// visibleExecutionOrRun reads the execution id the caller may see: a call, or else (IDs of
// calls and runs never collide) a workflow run, which it answers as run.
func (a *API) visibleExecutionOrRun(ctx context.Context, id string) (ex store.Execution, run *store.Run, err error) {
	ex, err = a.visibleExecution(ctx, id)
	if !errors.Is(err, store.ErrNotFound) {
		return ex, nil, err
	}
	r, err := a.visibleRun(ctx, id)
	if err != nil {
		return store.Execution{}, nil, err
	}
	return store.Execution{}, &r, nil
}

// visibleExecution reads a call's execution the caller may see: any for an admin, those of
// its own apps for a developer, none for a user. Others are not found, as the apps themselves.
func (a *API) visibleExecution(ctx context.Context, id string) (store.Execution, error) {
	ex, err := a.store.GetExecution(ctx, id)
	if err != nil {
		return store.Execution{}, err
	}
	if caller(ctx).IsAdmin() {
		return ex, nil
	}
	notFound := store.NotFound("execution", id)
	if caller(ctx).Role == auth.RoleUser { // end users see runs, never calls
		return store.Execution{}, notFound
	}
	owner, err := a.store.AppOwner(ex.App)
	if appID, _ := a.store.AppID(ex.App); err != nil || appID != ex.AppID { // the app is gone, or is another of its name
		return store.Execution{}, notFound
	}
	if err := ownerGuard(ctx, notFound)(owner); err != nil {
		return store.Execution{}, err
	}
	return ex, nil
}
