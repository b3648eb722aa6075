package handlers

import (
	"context"
	"errors"

	"github.com/go-openapi/runtime/middleware"

	ifmodels "github.com/gantry-dev/gantry/gen/ironfunctions/models"
	"github.com/gantry-dev/gantry/gen/ironfunctions/restapi/operations/apps"
	"github.com/gantry-dev/gantry/store"
)

// ListApps answers all of the caller's apps (an admin's: every app) in name order.
func (s *IronFunctions) ListApps(ctx context.Context, _ apps.ListAppsParams) middleware.Responder {
	owner, err := ownerFilter(caller(ctx), nil, "apps")
	if err != nil {
		return s.a.errorResponse(err)
	}
	list, err := listAll(ctx, s.maxList(), "apps", func(p store.Page) ([]store.App, string, error) {
		return s.a.store.ListApps(ctx, store.AppFilter{Owner: owner}, p)
	})
	if err != nil {
		return s.a.errorResponse(err)
	}
	out := &ifmodels.AppsWrapper{Apps: make([]*ifmodels.App, 0, len(list))}
	for _, app := range list {
		out.Apps = append(out.Apps, appToIF(app))
	}
	return apps.NewListAppsOK().WithPayload(out)
}

// CreateApp creates an app owned by the caller (200, as IronFunctions); 409 if the name is taken.
func (s *IronFunctions) CreateApp(ctx context.Context, params apps.CreateAppParams) middleware.Responder {
	in := params.Body.App
	if in == nil || in.Name == "" {
		return s.a.badRequest("app.name", "app.name is required")
	}
	app, err := s.a.store.CreateApp(ctx, store.App{Name: in.Name, Config: mergeConfig(nil, in.Config), Owner: caller(ctx).Name})
	if err != nil {
		return s.a.errorResponse(withFieldPrefix("app", err))
	}
	return apps.NewCreateAppOK().WithPayload(&ifmodels.AppWrapper{App: appToIF(app)})
}

// GetApp answers one app.
func (s *IronFunctions) GetApp(ctx context.Context, params apps.GetAppParams) middleware.Responder {
	if err := s.a.checkApp(ctx, params.App); err != nil {
		return s.a.errorResponse(err)
	}
	app, err := s.a.store.GetApp(ctx, params.App)
	if err != nil {
		return s.a.errorResponse(err)
	}
	return apps.NewGetAppOK().WithPayload(&ifmodels.AppWrapper{App: appToIF(app)})
}

// PutApp creates the app (owned by the caller) or merges the config given into its config.
func (s *IronFunctions) PutApp(ctx context.Context, params apps.PutAppParams) middleware.Responder {
	in, bad := s.bodyApp(params.Body, params.App)
	if bad != nil {
		return bad
	}
	missing, err := s.appMissing(params.App)
	if err != nil {
		return s.a.errorResponse(err)
	}
	if missing {
		app, err := s.a.store.CreateApp(ctx, store.App{Name: params.App, Config: mergeConfig(nil, in.Config), Owner: caller(ctx).Name})
		if err == nil {
			return apps.NewPutAppOK().WithPayload(&ifmodels.AppWrapper{App: appToIF(app)})
		}
		if !errors.Is(err, store.ErrExists) { // made meanwhile: update it
			return s.a.errorResponse(withFieldPrefix("app", err))
		}
	}
	return s.mergeApp(ctx, params.App, in, func(app store.App) middleware.Responder {
		return apps.NewPutAppOK().WithPayload(&ifmodels.AppWrapper{App: appToIF(app)})
	})
}

// PatchApp merges the config given into the app's.
func (s *IronFunctions) PatchApp(ctx context.Context, params apps.PatchAppParams) middleware.Responder {
	in, bad := s.bodyApp(params.Body, params.App)
	if bad != nil {
		return bad
	}
	return s.mergeApp(ctx, params.App, in, func(app store.App) middleware.Responder {
		return apps.NewPatchAppOK().WithPayload(&ifmodels.AppWrapper{App: appToIF(app)})
	})
}

func (s *IronFunctions) mergeApp(ctx context.Context, name string, in *ifmodels.App, ok func(store.App) middleware.Responder) middleware.Responder {
	guard := appGuard(ctx, name)
	app, err := s.a.store.UpdateApp(ctx, name, func(app *store.App) error {
		if err := guard(app.Owner); err != nil { // in the transaction: the owner cannot change meanwhile
			return err
		}
		app.Config = mergeConfig(app.Config, in.Config)
		return nil
	})
	if err != nil {
		return s.a.errorResponse(withFieldPrefix("app", err))
	}
	return ok(app)
}

// DeleteApp deletes an app without routes: 200 {"message":"App deleted"}; 400 while it has
// routes, as IronFunctions answered.
func (s *IronFunctions) DeleteApp(ctx context.Context, params apps.DeleteAppParams) middleware.Responder {
	if err := s.a.checkApp(ctx, params.App); err != nil {
		return s.a.errorResponse(err)
	}
	routes, _, err := s.a.store.ListRoutes(ctx, params.App, store.Page{Limit: 1})
	if err != nil {
		return s.a.errorResponse(err)
	}
	if len(routes) > 0 {
		return s.a.errorResponse(errDeleteAppWithRoutes(params.App))
	}
	if err := s.a.store.DeleteApp(ctx, params.App, appGuard(ctx, params.App)); err != nil {
		if errors.Is(err, store.ErrConflict) || errors.Is(err, store.ErrExists) { // a route came meanwhile
			err = errDeleteAppWithRoutes(params.App)
		}
		return s.a.errorResponse(err)
	}
	return apps.NewDeleteAppOK().WithPayload(message("App deleted"))
}

// bodyApp returns the app in the body (required), checking that its name, if any, is the URL's.
func (s *IronFunctions) bodyApp(body *ifmodels.AppWrapper, name string) (*ifmodels.App, middleware.Responder) {
	in := body.App
	if in == nil {
		in = &ifmodels.App{}
	}
	if in.Name != "" && in.Name != name {
		return nil, s.a.badRequest("app.name", "app.name %q differs from the app in the URL (%q); apps cannot be renamed", in.Name, name)
	}
	return in, nil
}
