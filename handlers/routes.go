package handlers

import (
	"context"
	"errors"
	"strings"

	"github.com/go-openapi/runtime/middleware"

	"github.com/gantry-dev/gantry/gen/models"
	"github.com/gantry-dev/gantry/gen/restapi/operations/routes"
	"github.com/gantry-dev/gantry/runner"
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

// bodyRoute returns the route in the body (required by the spec), checking that its path,
// if any, is the URL's, that its image, if any, exists, that its network, if any, is one
// the app's owner may use, and that its secrets, if given, exist and may be used by the
// app's routes (checkRouteSecrets).
func (a *API) bodyRoute(ctx context.Context, app string, body *models.RouteWrapper, urlPath string) (*models.Route, middleware.Responder) {
	in := body.Route
	if in.Path != "" && in.Path != urlPath {
		return nil, a.badRequest("route.path", "route.path %q differs from the route in the URL (%q); a route's path cannot be changed", in.Path, urlPath)
	}
	if err := a.checkNetwork(app, in.Network); err != nil {
		return nil, a.errorResponse(err)
	}
	if err := a.checkRouteSecrets(ctx, app, in.Secrets); err != nil {
		return nil, a.errorResponse(err)
	}
	if err := a.checkImage(ctx, in.Image); err != nil {
		return nil, a.errorResponse(err)
	}
	return in, nil
}

// checkNetwork refuses a route network the app's owner may not use: Gantry's function
// network and none are for everyone, other networks only when an administrator registered
// them for the owner. Calls check again, as the app may change hands.
func (a *API) checkNetwork(app, network string) error {
	if network == "" || a.functions == nil {
		return nil
	}
	owner, err := a.store.AppOwner(app)
	if err != nil {
		return err
	}
	if err := a.functions.NetworkAllowed(owner, network); err != nil {
		return errInvalidField("route.network", err.Error())
	}
	return nil
}

// checkImage reports a route image that is neither on this host nor pullable as a 400
// at create time, rather than on the first call. With Docker down the check is skipped,
// so that the management API keeps working; the first call reports the image then. An
// image Gantry manages ("@NAME") must exist and be the caller's (any, for an admin); its
// digest, once it has one, must be on this node (it is never pulled).
func (a *API) checkImage(ctx context.Context, image string) error {
	if err := a.checkRouteImage(ctx, image); err != nil {
		return err
	}
	if image == "" || a.functions == nil {
		return nil
	}
	err := a.functions.EnsureImage(ctx, image)
	switch {
	case errors.Is(err, runner.ErrImageNotFound):
		return errInvalidField("route.image", err.Error())
	case errors.Is(err, runner.ErrDockerUnavailable):
		a.log.Warn("route image not checked: docker is unavailable", "image", image)
		return nil
	}
	return err
}

// ListRoutes answers one page of an app's routes in path order.
func (a *API) ListRoutes(ctx context.Context, params routes.ListRoutesParams) middleware.Responder {
	if err := a.checkApp(ctx, params.App); err != nil {
		return a.errorResponse(err)
	}
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
	if err := a.checkApp(ctx, params.App); err != nil {
		return a.errorResponse(err)
	}
	in := params.Body.Route
	if in.Path == "" {
		return a.badRequest("route.path", "route.path is required")
	}
	if _, bad := a.bodyRoute(ctx, params.App, params.Body, in.Path); bad != nil {
		return bad
	}
	r, err := a.store.CreateRoute(ctx, routeFromModel(params.App, in.Path, in), appGuard(ctx, params.App))
	if err != nil {
		return a.errorResponse(withFieldPrefix("route", err))
	}
	a.routeChanged(ctx, r.App, r.Path, "created")
	return routes.NewCreateRouteCreated().WithPayload(routeWrapper(r))
}

// GetRoute answers one route.
func (a *API) GetRoute(ctx context.Context, params routes.GetRouteParams) middleware.Responder {
	if err := a.checkApp(ctx, params.App); err != nil {
		return a.errorResponse(err)
	}
	r, err := a.store.GetRoute(ctx, params.App, routeParam(params.Route))
	if err != nil {
		return a.errorResponse(err)
	}
	return routes.NewGetRouteOK().WithPayload(routeWrapper(r))
}

// PutRoute creates the route or replaces every field of it.
func (a *API) PutRoute(ctx context.Context, params routes.PutRouteParams) middleware.Responder {
	if err := a.checkApp(ctx, params.App); err != nil {
		return a.errorResponse(err)
	}
	path := routeParam(params.Route)
	in, bad := a.bodyRoute(ctx, params.App, params.Body, path)
	if bad != nil {
		return bad
	}
	r, created, err := a.store.PutRoute(ctx, routeFromModel(params.App, path, in), appGuard(ctx, params.App))
	if err != nil {
		return a.errorResponse(withFieldPrefix("route", err))
	}
	if created {
		a.routeChanged(ctx, r.App, r.Path, "created")
		return routes.NewPutRouteCreated().WithPayload(routeWrapper(r))
	}
	a.routeChanged(ctx, r.App, r.Path, "updated")
	return routes.NewPutRouteOK().WithPayload(routeWrapper(r))
}

// PatchRoute changes the fields given and merges config and headers.
func (a *API) PatchRoute(ctx context.Context, params routes.PatchRouteParams) middleware.Responder {
	if err := a.checkApp(ctx, params.App); err != nil {
		return a.errorResponse(err)
	}
	path := routeParam(params.Route)
	in, bad := a.bodyRoute(ctx, params.App, params.Body, path)
	if bad != nil {
		return bad
	}
	r, err := a.store.UpdateRoute(ctx, params.App, path, func(r *store.Route) error {
		patchRoute(r, in)
		return nil
	}, appGuard(ctx, params.App))
	if err != nil {
		return a.errorResponse(withFieldPrefix("route", err))
	}
	a.routeChanged(ctx, r.App, r.Path, "updated")
	return routes.NewPatchRouteOK().WithPayload(routeWrapper(r))
}

// DeleteRoute deletes a route.
func (a *API) DeleteRoute(ctx context.Context, params routes.DeleteRouteParams) middleware.Responder {
	if err := a.checkApp(ctx, params.App); err != nil {
		return a.errorResponse(err)
	}
	path := routeParam(params.Route)
	if err := a.store.DeleteRoute(ctx, params.App, path, appGuard(ctx, params.App)); err != nil {
		return a.errorResponse(err)
	}
	a.routeChanged(ctx, params.App, path, "deleted")
	return routes.NewDeleteRouteNoContent()
}

// routeChanged publishes dev.gantry.route.changed for a route written (change: created,
// updated or deleted), owned by the app's owner; nothing without an events service.
func (a *API) routeChanged(ctx context.Context, app, path, change string) {
	if a.events == nil {
		return
	}
	owner, err := a.store.AppOwner(app)
	if err != nil { // the app went meanwhile: nobody's resource to tell about
		a.log.Debug("route changed: its app is gone", "app", app, "path", path, "err", err)
		return
	}
	a.events.RouteChanged(ctx, app, path, owner, change)
}
