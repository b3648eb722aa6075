package handlers

import (
	"context"
	"log/slog"

	"github.com/go-openapi/runtime/middleware"

	"github.com/gantry-dev/gantry/auth"
	"github.com/gantry-dev/gantry/gen/models"
	"github.com/gantry-dev/gantry/gen/restapi/operations/apps"
	"github.com/gantry-dev/gantry/store"
)

func appWrapper(a store.App) *models.AppWrapper { return &models.AppWrapper{App: appToModel(a)} }

// ListApps answers one page of apps in name order: a developer's own, or for an admin all
// of them or one owner's.
func (a *API) ListApps(ctx context.Context, params apps.ListAppsParams) middleware.Responder {
	owner, err := ownerFilter(caller(ctx), params.Owner, "apps")
	if err != nil {
		return a.errorResponse(err)
	}
	list, next, err := a.store.ListApps(ctx, store.AppFilter{Owner: owner}, page(params.PerPage, params.Cursor))
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
	app, err := a.store.CreateApp(ctx, store.App{Name: in.Name, Config: mergeConfig(nil, in.Config), Owner: caller(ctx).Name})
	if err != nil {
		return a.errorResponse(withFieldPrefix("app", err))
	}
	return apps.NewCreateAppCreated().WithPayload(appWrapper(app))
}

// GetApp answers one app.
func (a *API) GetApp(ctx context.Context, params apps.GetAppParams) middleware.Responder {
	if err := a.checkApp(ctx, params.App); err != nil {
		return a.errorResponse(err)
	}
	app, err := a.store.GetApp(ctx, params.App)
	if err != nil {
		return a.errorResponse(err)
	}
	return apps.NewGetAppOK().WithPayload(appWrapper(app))
}

// PutApp creates the app (owned by the caller) or replaces its config.
func (a *API) PutApp(ctx context.Context, params apps.PutAppParams) middleware.Responder {
	in, bad := a.bodyApp(ctx, params.Body, params.App)
	if bad != nil {
		return bad
	}
	app, created, err := a.store.PutApp(ctx, store.App{Name: params.App, Config: mergeConfig(nil, in.Config), Owner: in.Owner}, caller(ctx).Name, appGuard(ctx, params.App))
	if err != nil {
		return a.errorResponse(withFieldPrefix("app", err))
	}
	if created {
		return apps.NewPutAppCreated().WithPayload(appWrapper(app))
	}
	return apps.NewPutAppOK().WithPayload(appWrapper(app))
}

// PatchApp merges the given config into the app's; an admin may give it a new owner.
func (a *API) PatchApp(ctx context.Context, params apps.PatchAppParams) middleware.Responder {
	in, bad := a.bodyApp(ctx, params.Body, params.App)
	if bad != nil {
		return bad
	}
	guard := appGuard(ctx, params.App)
	app, err := a.store.UpdateApp(ctx, params.App, func(app *store.App) error {
		if err := guard(app.Owner); err != nil { // in the transaction: the owner cannot change meanwhile
			return err
		}
		app.Config = mergeConfig(app.Config, in.Config)
		if in.Owner != "" && in.Owner != app.Owner {
			auditNote(ctx, slog.String("old_owner", app.Owner), slog.String("new_owner", in.Owner))
			app.Owner = in.Owner
		}
		return nil
	})
	if err != nil {
		return a.errorResponse(withFieldPrefix("app", err))
	}
	return apps.NewPatchAppOK().WithPayload(appWrapper(app))
}

// DeleteApp deletes an app without routes; 409 while it has some.
func (a *API) DeleteApp(ctx context.Context, params apps.DeleteAppParams) middleware.Responder {
	if err := a.store.DeleteApp(ctx, params.App, appGuard(ctx, params.App)); err != nil {
		return a.errorResponse(err)
	}
	return apps.NewDeleteAppNoContent()
}

// bodyApp returns the app in the body (required by the spec), checking that its name, if
// any, is the URL's, and that only an admin gives it to someone else.
func (a *API) bodyApp(ctx context.Context, body *models.AppWrapper, name string) (*models.App, middleware.Responder) {
	in := body.App
	if in.Name != "" && in.Name != name {
		return nil, a.badRequest("app.name", "app.name %q differs from the app in the URL (%q); apps cannot be renamed", in.Name, name)
	}
	if who := caller(ctx); in.Owner != "" && in.Owner != who.Name && !who.IsAdmin() {
		return nil, a.errorResponse(auth.Forbidden("only an admin may give an app to another owner"))
	}
	if in.Owner != "" {
		if err := store.ValidateUserName(in.Owner); err != nil { // an owner is a user: one rule for user names
			return nil, a.errorResponse(withField("app.owner", err))
		}
	}
	return in, nil
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
