package main

// This file holds what `gantry apply` and `gantry export` do through the API: read what
// the caller owns (lists with owner=me; workflows filtered on their owner) and carry out
// one change of a plan.

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/gantry-dev/gantry/gen/client/apis"
	"github.com/gantry-dev/gantry/gen/client/apps"
	authops "github.com/gantry-dev/gantry/gen/client/auth"
	"github.com/gantry-dev/gantry/gen/client/images"
	"github.com/gantry-dev/gantry/gen/client/routes"
	"github.com/gantry-dev/gantry/gen/client/schedules"
	"github.com/gantry-dev/gantry/gen/client/subscriptions"
	"github.com/gantry-dev/gantry/gen/client/workflows"
	"github.com/gantry-dev/gantry/gen/models"
)

// ownerMe asks a list for the caller's own resources, admins included.
const ownerMe = "me"

// allPages gets every page of a list.
func allPages[T any](ctx context.Context, fetch fetchPage[T]) ([]T, error) {
	items, _, err := listPages(ctx, pageFlags{all: true}, maxPerPage, fetch)
	return items, err
}

// readState reads every resource the caller owns, in the file's shape.
func (s *session) readState(ctx context.Context) (state, error) {
	who, err := s.api.Auth.WhoamiContext(ctx, authops.NewWhoamiParams(), nil)
	if err != nil {
		return nil, clientError("whoami", err)
	}
	me := ""
	if p := who.GetPayload(); p != nil && p.Principal != nil && p.Principal.Name != nil {
		me = *p.Principal.Name
	}
	st := state{}
	add := func(k kind, key string, model any) error {
		v, err := toJSONValue(model)
		if err != nil {
			return fmt.Errorf("read %s %s: %w", k, key, err)
		}
		p, _ := project(v, kindOf(k).schema).(map[string]any)
		if p == nil {
			p = spec{}
		}
		st.put(k, key, p)
		return nil
	}

	imgList, err := allPages(ctx, func(ctx context.Context, cursor string, n int64) ([]*models.Image, string, error) {
		params := images.NewListImagesParams().WithPerPage(&n).WithOwner(ptrTo(ownerMe))
		if cursor != "" {
			params.SetCursor(&cursor)
		}
		res, err := s.api.Images.ListImagesContext(ctx, params, nil)
		if err != nil {
			return nil, "", clientError("list images", err)
		}
		return res.GetPayload().Images, res.GetPayload().NextCursor, nil
	})
	if err != nil {
		return nil, err
	}
	for _, img := range imgList {
		if err := add(kindImage, img.Name, img); err != nil {
			return nil, err
		}
	}
	appList, err := allPages(ctx, func(ctx context.Context, cursor string, n int64) ([]*models.App, string, error) {
		return s.listAppsPage(ctx, ownerMe, cursor, n)
	})
	if err != nil {
		return nil, err
	}
	for _, a := range appList {
		if err := add(kindApp, a.Name, a); err != nil {
			return nil, err
		}
		rs, err := allPages(ctx, func(ctx context.Context, cursor string, n int64) ([]*models.Route, string, error) {
			return s.listRoutesPage(ctx, a.Name, cursor, n)
		})
		if err != nil {
			return nil, err
		}
		for _, r := range rs {
			if err := add(kindRoute, a.Name+r.Path, r); err != nil {
				return nil, err
			}
		}
	}
	apiList, err := allPages(ctx, func(ctx context.Context, cursor string, n int64) ([]*models.API, string, error) {
		return s.listAPIsPage(ctx, ownerMe, cursor, n)
	})
	if err != nil {
		return nil, err
	}
	for _, a := range apiList {
		if err := add(kindAPI, a.Name, a); err != nil {
			return nil, err
		}
	}
	wfList, err := allPages(ctx, s.listWorkflowsPage)
	if err != nil {
		return nil, err
	}
	for _, w := range wfList {
		if w.Owner != me { // shared with the caller, or an admin's view of everyone's
			continue
		}
		res, err := s.api.Workflows.GetWorkflowContext(ctx, workflows.NewGetWorkflowParams().WithName(w.Name), nil)
		if err != nil {
			return nil, clientError(fmt.Sprintf("get workflow %q", w.Name), err)
		}
		if err := add(kindWorkflow, w.Name, res.GetPayload().Workflow); err != nil {
			return nil, err
		}
	}
	subList, err := allPages(ctx, func(ctx context.Context, cursor string, n int64) ([]*models.Subscription, string, error) {
		return s.listSubscriptionsPage(ctx, ownerMe, cursor, n)
	})
	if err != nil {
		return nil, err
	}
	for _, x := range subList {
		if err := add(kindSubscription, x.Name, x); err != nil {
			return nil, err
		}
	}
	schedList, err := allPages(ctx, func(ctx context.Context, cursor string, n int64) ([]*models.Schedule, string, error) {
		return s.listSchedulesPage(ctx, ownerMe, cursor, n)
	})
	if err != nil {
		return nil, err
	}
	for _, x := range schedList {
		if err := add(kindSchedule, x.Name, x); err != nil {
			return nil, err
		}
	}
	return st, nil
}

// listWorkflowsPage gets one page of the workflows the caller may see.
func (s *session) listWorkflowsPage(ctx context.Context, cursor string, perPage int64) ([]*models.Workflow, string, error) {
	params := workflows.NewListWorkflowsParams().WithPerPage(&perPage)
	if cursor != "" {
		params.SetCursor(&cursor)
	}
	res, err := s.api.Workflows.ListWorkflowsContext(ctx, params, nil)
	if err != nil {
		return nil, "", clientError("list workflows", err)
	}
	return res.GetPayload().Workflows, res.GetPayload().NextCursor, nil
}

// splitRouteKey splits "app/path/more" into the app and the route path.
func splitRouteKey(key string) (app, path string) {
	i := strings.IndexByte(key, '/')
	if i < 0 {
		return key, "/"
	}
	return key[:i], key[i:]
}

// carryOut makes one change through the API.
func (s *session) carryOut(ctx context.Context, c change) error {
	what := fmt.Sprintf("%s %s", c.kind, c.key)
	switch c.op {
	case opCreate:
		what = "create " + what
	case opUpdate:
		what = "update " + what
	default:
		what = "delete " + what
	}
	err := s.call(ctx, c)
	if err == nil {
		return nil
	}
	err = clientError(what, err)
	if !strings.HasPrefix(err.Error(), what) {
		err = fmt.Errorf("%s: %w", what, err)
	}
	if c.decl != nil {
		return fmt.Errorf("%s:%d: %s: %w", c.decl.file, c.decl.line, c.decl.at, err)
	}
	return err
}

func (s *session) call(ctx context.Context, c change) error {
	switch c.kind {
	case kindImage:
		return s.changeImage(ctx, c)
	case kindApp:
		switch c.op {
		case opCreate:
			var m models.App
			if err := fromJSONValue(c.body, &m); err != nil {
				return err
			}
			_, err := s.api.Apps.CreateAppContext(ctx, apps.NewCreateAppParams().WithBody(&models.AppWrapper{App: &m}), nil)
			return err
		case opUpdate:
			var m models.App
			if err := fromJSONValue(c.body, &m); err != nil {
				return err
			}
			_, err := s.api.Apps.PatchAppContext(ctx, apps.NewPatchAppParams().WithApp(c.key).WithBody(&models.AppWrapper{App: &m}), nil)
			return err
		default:
			_, err := s.api.Apps.DeleteAppContext(ctx, apps.NewDeleteAppParams().WithApp(c.key), nil)
			return err
		}
	case kindRoute:
		app, path := splitRouteKey(c.key)
		switch c.op {
		case opCreate:
			var m models.Route
			if err := fromJSONValue(c.body, &m); err != nil {
				return err
			}
			_, err := s.api.Routes.CreateRouteContext(ctx, routes.NewCreateRouteParams().WithApp(app).WithBody(&models.RouteWrapper{Route: &m}), nil)
			return err
		case opUpdate:
			var m models.Route
			if err := fromJSONValue(c.body, &m); err != nil {
				return err
			}
			_, err := s.api.Routes.PatchRouteContext(ctx, routes.NewPatchRouteParams().WithApp(app).WithRoute(path).WithBody(&models.RouteWrapper{Route: &m}), nil)
			return err
		default:
			_, err := s.api.Routes.DeleteRouteContext(ctx, routes.NewDeleteRouteParams().WithApp(app).WithRoute(path), nil)
			return err
		}
	case kindAPI:
		switch c.op {
		case opCreate:
			var m models.API
			if err := fromJSONValue(c.body, &m); err != nil {
				return err
			}
			_, err := s.api.Apis.CreateAPIContext(ctx, apis.NewCreateAPIParams().WithBody(&models.APIWrapper{API: &m}), nil)
			return err
		case opUpdate:
			var m models.API
			if err := fromJSONValue(c.body, &m); err != nil {
				return err
			}
			_, err := s.api.Apis.PatchAPIContext(ctx, apis.NewPatchAPIParams().WithAPI(c.key).WithBody(&models.APIWrapper{API: &m}), nil)
			return err
		default:
			_, err := s.api.Apis.DeleteAPIContext(ctx, apis.NewDeleteAPIParams().WithAPI(c.key), nil)
			return err
		}
	case kindWorkflow:
		if c.op == opDelete {
			_, err := s.api.Workflows.DeleteWorkflowContext(ctx, workflows.NewDeleteWorkflowParams().WithName(c.key), nil)
			return err
		}
		var m models.Workflow
		if err := fromJSONValue(c.body, &m); err != nil {
			return err
		}
		_, _, err := s.api.Workflows.PutWorkflowContext(ctx, workflows.NewPutWorkflowParams().WithName(c.key).WithBody(&models.WorkflowWrapper{Workflow: &m}), nil)
		return err
	case kindSubscription:
		switch c.op {
		case opCreate:
			var m models.Subscription
			if err := fromJSONValue(c.body, &m); err != nil {
				return err
			}
			_, err := s.api.Subscriptions.CreateSubscriptionContext(ctx, subscriptions.NewCreateSubscriptionParams().WithBody(&models.SubscriptionWrapper{Subscription: &m}), nil)
			return err
		case opUpdate:
			var m models.Subscription
			if err := fromJSONValue(c.body, &m); err != nil {
				return err
			}
			_, err := s.api.Subscriptions.PatchSubscriptionContext(ctx, subscriptions.NewPatchSubscriptionParams().WithName(c.key).WithBody(&models.SubscriptionWrapper{Subscription: &m}), nil)
			return err
		default:
			_, err := s.api.Subscriptions.DeleteSubscriptionContext(ctx, subscriptions.NewDeleteSubscriptionParams().WithName(c.key), nil)
			return err
		}
	case kindSchedule:
		switch c.op {
		case opCreate:
			var m models.Schedule
			if err := fromJSONValue(c.body, &m); err != nil {
				return err
			}
			_, err := s.api.Schedules.CreateScheduleContext(ctx, schedules.NewCreateScheduleParams().WithBody(&models.ScheduleWrapper{Schedule: &m}), nil)
			return err
		case opUpdate:
			var m models.Schedule
			if err := fromJSONValue(c.body, &m); err != nil {
				return err
			}
			_, err := s.api.Schedules.PatchScheduleContext(ctx, schedules.NewPatchScheduleParams().WithName(c.key).WithBody(&models.ScheduleWrapper{Schedule: &m}), nil)
			return err
		default:
			_, err := s.api.Schedules.DeleteScheduleContext(ctx, schedules.NewDeleteScheduleParams().WithName(c.key), nil)
			return err
		}
	}
	return fmt.Errorf("unknown kind %s", c.kind)
}

func ptrTo[T any](v T) *T { return &v }

// changeImage creates, changes or deletes an image, and waits until one it creates or
// changes is READY. A build or load image is changed by uploading its context (or
// tarball) again; a reference image by deleting it and pulling it again.
func (s *session) changeImage(ctx context.Context, c change) error {
	if c.op == opDelete {
		_, err := s.api.Images.DeleteImageContext(ctx, images.NewDeleteImageParams().WithName(c.key), nil)
		return err
	}
	src, _ := c.decl.spec["source"].(string)
	if c.op == opUpdate && (src == "reference" || slices.ContainsFunc(c.fields, func(f fieldChange) bool { return f.name == "source" && f.old == "reference" })) {
		if _, err := s.api.Images.DeleteImageContext(ctx, images.NewDeleteImageParams().WithName(c.key), nil); err != nil {
			return err
		}
	}
	str := func(k string) string { v, _ := c.decl.spec[k].(string); return v }
	if src == "reference" {
		m := &models.Image{Name: c.key, Source: src, Reference: str("reference"), Kind: str("kind"), Base: str("base")}
		if _, err := s.api.Images.CreateImageContext(ctx, images.NewCreateImageParams().WithBody(&models.ImageWrapper{Image: m}), nil); err != nil {
			return err
		}
	} else {
		path := imageUpload(c.decl.spec)
		if path == "" {
			return fmt.Errorf("the file gives no context (or tarball, for load) to build the image from")
		}
		uf := uploadFlags{source: src, kind: str("kind"), base: str("base"), network: str("network"), dockerfile: str("dockerfile")}
		if _, err := s.uploadImage(ctx, c.key, path, uf); err != nil {
			return err
		}
	}
	return s.imageReady(ctx, c.key)
}

// imageReady waits until image name is no longer CREATING; ERROR is an error.
func (s *session) imageReady(ctx context.Context, name string) error {
	for {
		w, err := s.getImage(ctx, name)
		if err != nil {
			return err
		}
		switch w.Image.Status {
		case "READY":
			return nil
		case "ERROR":
			return fmt.Errorf("the image ended ERROR: %s", w.Image.Error)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
}
