package handlers

import (
	"context"
	"errors"

	"github.com/go-openapi/runtime/middleware"

	ifmodels "github.com/gantry-dev/gantry/gen/ironfunctions/models"
	"github.com/gantry-dev/gantry/gen/ironfunctions/restapi/operations/routes"
	"github.com/gantry-dev/gantry/gen/models"
	"github.com/gantry-dev/gantry/store"
)

func routeWrapperIF(r store.Route, msg string) *ifmodels.RouteWrapper {
	return &ifmodels.RouteWrapper{Route: routeToIF(r), Message: msg}
}

// ListRoutes answers all of an app's routes, in path order.
func (s *IronFunctions) ListRoutes(ctx context.Context, params routes.ListRoutesParams) middleware.Responder {
	if err := s.a.checkApp(ctx, params.App); err != nil {
		return s.a.errorResponse(err)
	}
	list, err := listAll(ctx, s.maxList(), "routes", func(p store.Page) ([]store.Route, string, error) {
		return s.a.store.ListRoutes(ctx, params.App, p)
	})
	if err != nil {
		return s.a.errorResponse(err)
	}
	out := &ifmodels.RoutesWrapper{Routes: make([]*ifmodels.Route, 0, len(list))}
	for _, r := range list {
		out.Routes = append(out.Routes, routeToIF(r))
	}
	return routes.NewListRoutesOK().WithPayload(out)
}

// CreateRoute creates a route, and its app (owned by the caller) when missing, as
// IronFunctions did: 200 {"message":"Route successfully created","route":{...}}.
func (s *IronFunctions) CreateRoute(ctx context.Context, params routes.CreateRouteParams) middleware.Responder {
	if params.Body.Route == nil {
		return s.a.badRequest("route", "route is required")
	}
	if bad := s.unsupported(params.Body.Route); bad != nil {
		return bad
	}
	in := routeFromIF(params.Body.Route)
	if in.Path == "" {
		return s.a.badRequest("route.path", "route.path is required")
	}
	if in.Image == "" {
		return s.a.badRequest("route.image", "route.image is required")
	}
	missing, err := s.appMissing(params.App)
	if err != nil {
		return s.a.errorResponse(err)
	}
	if missing {
		// The route first, so that a route refused leaves no app behind.
		candidate := routeFromModel(params.App, in.Path, in)
		candidate.ApplyDefaults()
		if err := candidate.Validate(); err != nil {
			return s.a.errorResponse(withFieldPrefix("route", err))
		}
		if err := s.a.checkImage(ctx, in.Image); err != nil {
			return s.a.errorResponse(err)
		}
		_, err := s.a.store.CreateApp(ctx, store.App{Name: params.App, Owner: caller(ctx).Name})
		if err != nil && !errors.Is(err, store.ErrExists) { // made meanwhile: checked below
			return s.a.errorResponse(withFieldPrefix("app", err))
		}
	}
	if err := s.a.checkApp(ctx, params.App); err != nil {
		return s.a.errorResponse(err)
	}
	if _, bad := s.a.bodyRoute(ctx, params.App, &models.RouteWrapper{Route: in}, in.Path); bad != nil {
		return bad
	}
	r, err := s.a.store.CreateRoute(ctx, routeFromModel(params.App, in.Path, in), appGuard(ctx, params.App))
	if err != nil {
		return s.a.errorResponse(withFieldPrefix("route", err))
	}
	s.a.routeChanged(ctx, r.App, r.Path, "created")
	return routes.NewCreateRouteOK().WithPayload(routeWrapperIF(r, "Route successfully created"))
}

// GetRoute answers one route.
func (s *IronFunctions) GetRoute(ctx context.Context, params routes.GetRouteParams) middleware.Responder {
	if err := s.a.checkApp(ctx, params.App); err != nil {
		return s.a.errorResponse(err)
	}
	r, err := s.a.store.GetRoute(ctx, params.App, routeParam(params.Route))
	if err != nil {
		return s.a.errorResponse(err)
	}
	return routes.NewGetRouteOK().WithPayload(routeWrapperIF(r, ""))
}

// PutRoute creates the route, or merges the fields given into it as IronFunctions did (a
// partial body keeps the other fields).
func (s *IronFunctions) PutRoute(ctx context.Context, params routes.PutRouteParams) middleware.Responder {
	if err := s.a.checkApp(ctx, params.App); err != nil {
		return s.a.errorResponse(err)
	}
	path := routeParam(params.Route)
	in, bad := s.bodyRoute(ctx, params.App, params.Body, path)
	if bad != nil {
		return bad
	}
	if _, err := s.a.store.GetRoute(ctx, params.App, path); errors.Is(err, store.ErrNotFound) {
		r, err := s.a.store.CreateRoute(ctx, routeFromModel(params.App, path, in), appGuard(ctx, params.App))
		if err == nil {
			s.a.routeChanged(ctx, r.App, r.Path, "created")
			return routes.NewPutRouteOK().WithPayload(routeWrapperIF(r, ""))
		}
		if !errors.Is(err, store.ErrExists) { // made meanwhile: merged below
			return s.a.errorResponse(withFieldPrefix("route", err))
		}
	} else if err != nil {
		return s.a.errorResponse(err)
	}
	return s.mergeRoute(ctx, params.App, path, in, func(r store.Route) middleware.Responder {
		return routes.NewPutRouteOK().WithPayload(routeWrapperIF(r, ""))
	})
}

// PatchRoute merges the fields given into the route.
func (s *IronFunctions) PatchRoute(ctx context.Context, params routes.PatchRouteParams) middleware.Responder {
	if err := s.a.checkApp(ctx, params.App); err != nil {
		return s.a.errorResponse(err)
	}
	path := routeParam(params.Route)
	in, bad := s.bodyRoute(ctx, params.App, params.Body, path)
	if bad != nil {
		return bad
	}
	return s.mergeRoute(ctx, params.App, path, in, func(r store.Route) middleware.Responder {
		return routes.NewPatchRouteOK().WithPayload(routeWrapperIF(r, ""))
	})
}

func (s *IronFunctions) mergeRoute(ctx context.Context, app, path string, in *models.Route, ok func(store.Route) middleware.Responder) middleware.Responder {
	r, err := s.a.store.UpdateRoute(ctx, app, path, func(r *store.Route) error {
		patchRoute(r, in)
		return nil
	}, appGuard(ctx, app))
	if err != nil {
		return s.a.errorResponse(withFieldPrefix("route", err))
	}
	s.a.routeChanged(ctx, r.App, r.Path, "updated")
	return ok(r)
}

// DeleteRoute deletes a route: 200 {"message":"Route deleted"}.
func (s *IronFunctions) DeleteRoute(ctx context.Context, params routes.DeleteRouteParams) middleware.Responder {
	if err := s.a.checkApp(ctx, params.App); err != nil {
		return s.a.errorResponse(err)
	}
	path := routeParam(params.Route)
	if err := s.a.store.DeleteRoute(ctx, params.App, path, appGuard(ctx, params.App)); err != nil {
		return s.a.errorResponse(err)
	}
	s.a.routeChanged(ctx, params.App, path, "deleted")
	return routes.NewDeleteRouteOK().WithPayload(message("Route deleted"))
}

// bodyRoute returns the route in the body as /v1's model, checked as /v1 checks it.
func (s *IronFunctions) bodyRoute(ctx context.Context, app string, body *ifmodels.RouteWrapper, path string) (*models.Route, middleware.Responder) {
	if body.Route == nil {
		return nil, s.a.badRequest("route", "route is required")
	}
	if bad := s.unsupported(body.Route); bad != nil {
		return nil, bad
	}
	return s.a.bodyRoute(ctx, app, &models.RouteWrapper{Route: routeFromIF(body.Route)}, path)
}

// unsupported refuses what an IronFunctions route may say but Gantry cannot honour, rather
// than drop it silently: a jwt_key (IronFunctions refused calls without a JWT signed with
// it; ignored, the route would be public) and the hot formats (IronFunctions' http format
// is HTTP over the container's stdin and stdout, its json format its own envelope; Gantry's
// formats of those names are not the same protocols, so such an image would never answer).
// An empty jwt_key, as the 0.1.18 clients send, passes.
func (s *IronFunctions) unsupported(r *ifmodels.Route) middleware.Responder {
	if r.JwtKey != "" {
		return s.a.badRequest("route.jwt_key", "%s", "route.jwt_key is not supported: IronFunctions' JWT route auth has no equivalent here; "+
			"make the route with auth token on Gantry's API (/v1), and call it with a Gantry token")
	}
	if r.Format != "" && r.Format != store.FormatDefault {
		return s.a.badRequest("route.format", "route.format %s is not supported on this surface: IronFunctions' hot formats "+
			"are other protocols than Gantry's of the same names; use format default here, or Gantry's API for http and json functions", r.Format)
	}
	return nil
}
