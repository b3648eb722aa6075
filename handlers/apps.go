package handlers

import (
	"context"

	"github.com/go-openapi/runtime/middleware"

	"github.com/gantry-dev/gantry/gen/models"
	"github.com/gantry-dev/gantry/gen/restapi/operations/apps"
	"github.com/gantry-dev/gantry/store"
)

func appWrapper(a store.App) *models.AppWrapper { return &models.AppWrapper{App: appToModel(a)} }

// ListApps answers one page of apps in name order.
func (a *API) ListApps(ctx context.Context, params apps.ListAppsParams) middleware.Responder {
	list, next, err := a.store.ListApps(ctx, page(params.PerPage, params.Cursor))
	if err != nil {
		return a.errorResponse(err)
	}
	out := &models.AppsWrapper{Apps: make([]*models.App, 0, len(list)), NextCursor: next}
	for _, app := range list {
		out.Apps = append(out.Apps, appToModel(app))
	}
	return apps.NewListAppsOK().WithPayload(out)
}

// CreateApp creates an app; 409 if the name is taken.
func (a *API) CreateApp(ctx context.Context, params apps.CreateAppParams) middleware.Responder {
	in := params.Body.App
	if in.Name == "" {
		return a.badRequest("app.name", "app.name is required")
	}
	app, err := a.store.CreateApp(ctx, store.App{Name: in.Name, Config: mergeConfig(nil, in.Config)})
	if err != nil {
		return a.errorResponse(withFieldPrefix("app", err))
	}
	return apps.NewCreateAppCreated().WithPayload(appWrapper(app))
}

// GetApp answers one app.
func (a *API) GetApp(ctx context.Context, params apps.GetAppParams) middleware.Responder {
	app, err := a.store.GetApp(ctx, params.App)
	if err != nil {
		return a.errorResponse(err)
	}
	return apps.NewGetAppOK().WithPayload(appWrapper(app))
}

// PutApp creates the app or replaces its config.
func (a *API) PutApp(ctx context.Context, params apps.PutAppParams) middleware.Responder {
	in, bad := a.bodyApp(params.Body, params.App)
	if bad != nil {
		return bad
	}
	app, created, err := a.store.PutApp(ctx, store.App{Name: params.App, Config: mergeConfig(nil, in.Config)})
	if err != nil {
		return a.errorResponse(withFieldPrefix("app", err))
	}
	a.appChanged(app.Name)
	if created {
		return apps.NewPutAppCreated().WithPayload(appWrapper(app))
	}
	return apps.NewPutAppOK().WithPayload(appWrapper(app))
}

// PatchApp merges the given config into the app's.
func (a *API) PatchApp(ctx context.Context, params apps.PatchAppParams) middleware.Responder {
	in, bad := a.bodyApp(params.Body, params.App)
	if bad != nil {
		return bad
	}
	app, err := a.store.UpdateApp(ctx, params.App, func(app *store.App) error {
		app.Config = mergeConfig(app.Config, in.Config)
		return nil
	})
	if err != nil {
		return a.errorResponse(withFieldPrefix("app", err))
	}
	a.appChanged(app.Name)
	return apps.NewPatchAppOK().WithPayload(appWrapper(app))
}

// DeleteApp deletes an app without routes; 409 while it has some.
func (a *API) DeleteApp(ctx context.Context, params apps.DeleteAppParams) middleware.Responder {
	if err := a.store.DeleteApp(ctx, params.App); err != nil {
		return a.errorResponse(err)
	}
	a.appChanged(params.App)
	return apps.NewDeleteAppNoContent()
}

// appChanged stops the hot containers of an app whose config changed or which went:
// they were started with the old config in their environment.
func (a *API) appChanged(app string) {
	if a.functions != nil {
		a.functions.DrainApp(app)
	}
}

// bodyApp returns the app in the body (required by the spec), checking that its name, if
// any, is the URL's.
func (a *API) bodyApp(body *models.AppWrapper, name string) (*models.App, middleware.Responder) {
	if in := body.App; in.Name != "" && in.Name != name {
		return nil, a.badRequest("app.name", "app.name %q differs from the app in the URL (%q); apps cannot be renamed", in.Name, name)
	}
	return body.App, nil
}

func page(perPage *int64, cursor *string) store.Page {
	p := store.Page{}
	if perPage != nil {
		p.Limit = int(*perPage)
	}
	if cursor != nil {
		p.Cursor = *cursor
	}
	return p
}
