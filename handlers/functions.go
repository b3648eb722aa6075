package handlers

import (
	"context"
	"errors"

	"github.com/go-openapi/runtime/middleware"

	"github.com/gantry-dev/gantry/gen/models"
	"github.com/gantry-dev/gantry/gen/restapi/operations/functions"
	"github.com/gantry-dev/gantry/store"
)

// ListFunctions answers one page of the routes of every app the caller owns (an admin:
// every app, or one owner's), in app then path order.
func (a *API) ListFunctions(ctx context.Context, params functions.ListFunctionsParams) middleware.Responder {
	owner, err := ownerFilter(caller(ctx), params.Owner, "functions")
	if err != nil {
		return a.errorResponse(err)
	}
	list, next, err := a.store.ListAllRoutes(ctx, store.RouteFilter{Owner: owner}, page(params.PerPage, params.Cursor))
	if err != nil {
		return a.errorResponse(err)
	}
	out := &models.FunctionsWrapper{Functions: make([]*models.Function, 0, len(list)), NextCursor: next}
	for _, r := range list {
		appOwner := owner
		if appOwner == "" {
			appOwner, err = a.store.AppOwner(r.App)
			if errors.Is(err, store.ErrNotFound) { // the app went since the page was read
				continue
			} else if err != nil {
				return a.errorResponse(err)
			}
		}
		out.Functions = append(out.Functions, functionToModel(r, appOwner))
	}
	return functions.NewListFunctionsOK().WithPayload(out)
}
