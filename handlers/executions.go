package handlers

import (
	"context"

	"github.com/go-openapi/runtime/middleware"

	"github.com/gantry-dev/gantry/gen/models"
	"github.com/gantry-dev/gantry/gen/restapi/operations/executions"
	"github.com/gantry-dev/gantry/store"
)

// ListExecutions answers one page of executions, newest first, filtered by app, route and status.
func (a *API) ListExecutions(ctx context.Context, params executions.ListExecutionsParams) middleware.Responder {
	var f store.ExecutionFilter
	if params.App != nil {
		f.App = *params.App
	}
	if params.Route != nil && *params.Route != "" {
		f.Route = routeParam(*params.Route)
	}
	if params.Status != nil {
		f.Status = *params.Status
	}
	if who := caller(ctx); !who.IsAdmin() {
		if f.App != "" {
			if err := a.checkApp(ctx, f.App); err != nil {
				return a.errorResponse(err)
			}
		}
		f.Apps = a.store.AppsOwnedBy(who.Name)
	}
	list, next, err := a.store.ListExecutions(ctx, f, page(params.PerPage, params.Cursor))
	if err != nil {
		return a.errorResponse(err)
	}
	out := &models.ExecutionsWrapper{Executions: make([]*models.Execution, 0, len(list)), NextCursor: next}
	for _, ex := range list {
		out.Executions = append(out.Executions, executionToModel(ex))
	}
	return executions.NewListExecutionsOK().WithPayload(out)
}

// GetExecution answers one execution.
func (a *API) GetExecution(ctx context.Context, params executions.GetExecutionParams) middleware.Responder {
	ex, err := a.visibleExecution(ctx, params.ID)
	if err != nil {
		return a.errorResponse(err)
	}
	return executions.NewGetExecutionOK().WithPayload(&models.ExecutionWrapper{Execution: executionToModel(ex)})
}

// GetExecutionLog answers an execution's stderr log as text/plain.
func (a *API) GetExecutionLog(ctx context.Context, params executions.GetExecutionLogParams) middleware.Responder {
	if _, err := a.visibleExecution(ctx, params.ID); err != nil {
		return a.errorResponse(err)
	}
	log, err := a.store.GetExecutionLog(ctx, params.ID)
	if err != nil {
		return a.errorResponse(err)
	}
	return executions.NewGetExecutionLogOK().WithPayload(string(log))
}

// CancelExecution cancels a queued or running call; 409 for a finished one.
func (a *API) CancelExecution(ctx context.Context, params executions.CancelExecutionParams) middleware.Responder {
	if _, err := a.visibleExecution(ctx, params.ID); err != nil {
		return a.errorResponse(err)
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

// visibleExecution reads an execution the caller may see: any for an admin, those of its
// own apps for a developer. Others are not found, as the apps themselves.
func (a *API) visibleExecution(ctx context.Context, id string) (store.Execution, error) {
	ex, err := a.store.GetExecution(ctx, id)
	if err != nil {
		return store.Execution{}, err
	}
	if caller(ctx).IsAdmin() {
		return ex, nil
	}
	notFound := store.NotFound("execution", id)
	owner, err := a.store.AppOwner(ex.App)
	if appID, _ := a.store.AppID(ex.App); err != nil || appID != ex.AppID { // the app is gone, or is another of its name
		return store.Execution{}, notFound
	}
	if err := ownerGuard(ctx, notFound)(owner); err != nil {
		return store.Execution{}, err
	}
	return ex, nil
}
