package handlers

import (
	"context"
	"strings"

	"github.com/go-openapi/runtime/middleware"

	"github.com/gantry-dev/gantry/gen/models"
	"github.com/gantry-dev/gantry/gen/restapi/operations/routes"
	"github.com/gantry-dev/gantry/store"
)

func routeWrapper(r store.Route) *models.RouteWrapper {
	return &models.RouteWrapper{Route: routeToModel(r)}
}

// routeParam turns the {route} path parameter into a route path: it arrives as
// "hello/world" (nested segments, see nestedRoutePaths) or "/hello/world" (URL-encoded).
func routeParam(p string) string {
	if strings.HasPrefix(p, "/") {
		return p
	}
	return "/" + p
}

// bodyRoute returns the route in the body, checking that its path, if any, is the URL's.
func bodyRoute(body *models.RouteWrapper, urlPath string) (*models.Route, middleware.Responder) {
	in := body.Route
	if in == nil {
		in = &models.Route{}
	}
	if in.Path != "" && in.Path != urlPath {
		return nil, badRequest("route.path", "route.path %q differs from the route in the URL (%q); a route's path cannot be changed", in.Path, urlPath)
	}
	return in, nil
}

// ListRoutes answers one page of an app's routes in path order.
func (a *API) ListRoutes(ctx context.Context, params routes.ListRoutesParams) middleware.Responder {
	list, next, err := a.store.ListRoutes(ctx, params.App, page(params.PerPage, params.Cursor))
	if err != nil {
		return a.errorResponse(err)
	}
	out := &models.RoutesWrapper{Routes: make([]*models.Route, 0, len(list)), NextCursor: next}
	for _, r := range list {
		out.Routes = append(out.Routes, routeToModel(r))
	}
	return routes.NewListRoutesOK().WithPayload(out)
}

// CreateRoute creates a route; 409 if the path exists, 404 if the app does not.
func (a *API) CreateRoute(ctx context.Context, params routes.CreateRouteParams) middleware.Responder {
	in := params.Body.Route
	if in == nil || in.Path == "" {
		return badRequest("route.path", "route.path is required")
	}
	r, err := a.store.CreateRoute(ctx, routeFromModel(params.App, in.Path, in))
	if err != nil {
		return a.errorResponse(err)
	}
	return routes.NewCreateRouteCreated().WithPayload(routeWrapper(r))
}

// GetRoute answers one route.
func (a *API) GetRoute(ctx context.Context, params routes.GetRouteParams) middleware.Responder {
	r, err := a.store.GetRoute(ctx, params.App, routeParam(params.Route))
	if err != nil {
		return a.errorResponse(err)
	}
	return routes.NewGetRouteOK().WithPayload(routeWrapper(r))
}

// PutRoute creates the route or replaces every field of it.
func (a *API) PutRoute(ctx context.Context, params routes.PutRouteParams) middleware.Responder {
	path := routeParam(params.Route)
	in, bad := bodyRoute(params.Body, path)
	if bad != nil {
		return bad
	}
	r, created, err := a.store.PutRoute(ctx, routeFromModel(params.App, path, in))
	if err != nil {
		return a.errorResponse(err)
	}
	if created {
		return routes.NewPutRouteCreated().WithPayload(routeWrapper(r))
	}
	return routes.NewPutRouteOK().WithPayload(routeWrapper(r))
}

// PatchRoute changes the fields given and merges config and headers.
func (a *API) PatchRoute(ctx context.Context, params routes.PatchRouteParams) middleware.Responder {
	path := routeParam(params.Route)
	in, bad := bodyRoute(params.Body, path)
	if bad != nil {
		return bad
	}
	r, err := a.store.UpdateRoute(ctx, params.App, path, func(r *store.Route) error {
		patchRoute(r, in)
		return nil
	})
	if err != nil {
		return a.errorResponse(err)
	}
	return routes.NewPatchRouteOK().WithPayload(routeWrapper(r))
}

// DeleteRoute deletes a route.
func (a *API) DeleteRoute(ctx context.Context, params routes.DeleteRouteParams) middleware.Responder {
	if err := a.store.DeleteRoute(ctx, params.App, routeParam(params.Route)); err != nil {
		return a.errorResponse(err)
	}
	return routes.NewDeleteRouteNoContent()
}
