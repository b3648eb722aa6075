package main

// This file holds the management calls of the benchmarks, made through the generated API
// client (gen/client) as the CLI makes them: apps, routes and APIs created and deleted, the
// async queue's stats, executions counted.

import (
	"context"
	"fmt"
	"time"

	"github.com/gantry-dev/gantry/gen/client/apis"
	"github.com/gantry-dev/gantry/gen/client/apps"
	"github.com/gantry-dev/gantry/gen/client/executions"
	"github.com/gantry-dev/gantry/gen/client/routes"
	"github.com/gantry-dev/gantry/gen/client/tasks"
	"github.com/gantry-dev/gantry/gen/models"
)

// benchApp is the app every benchmark's routes belong to.
const benchApp = "bench"

// setup creates the app and the routes of the cold, hot and memory benchmarks.
func (b *bench) setup(ctx context.Context, rssMax int) error {
	if err := b.srv.createApp(ctx, benchApp); err != nil {
		return err
	}
	rs := []*models.Route{
		{Path: "/cold", Image: b.images["hello"]},
		{Path: "/hot1", Image: b.images["hello-http"], Format: "http", IdleTimeout: new(int64(3600))},
		{Path: "/hot8", Image: b.images["hello-http"], Format: "http", MaxConcurrency: new(int64(8)), IdleTimeout: new(int64(3600))},
	}
	for i := 1; i <= rssMax; i++ {
		rs = append(rs, &models.Route{Path: fmt.Sprintf("/rss%d", i), Image: b.images["hello-http"], Format: "http",
			IdleTimeout: new(int64(3600)), Memory: new(int64(16))})
	}
	for _, r := range rs {
		if err := b.srv.createRoute(ctx, benchApp, r); err != nil {
			return err
		}
	}
	return nil
}

func (s *gantryServer) createApp(ctx context.Context, name string) error {
	params := apps.NewCreateAppParams().WithBody(&models.AppWrapper{App: &models.App{Name: name}})
	if _, err := s.api.Apps.CreateAppContext(ctx, params, nil); err != nil {
		return fmt.Errorf("create app %s: %w", name, err)
	}
	return nil
}

func (s *gantryServer) createRoute(ctx context.Context, app string, r *models.Route) error {
	params := routes.NewCreateRouteParams().WithApp(app).WithBody(&models.RouteWrapper{Route: r})
	if _, err := s.api.Routes.CreateRouteContext(ctx, params, nil); err != nil {
		return fmt.Errorf("create route %s of app %s: %w", r.Path, app, err)
	}
	return nil
}

func (s *gantryServer) deleteRoute(ctx context.Context, app, path string) error {
	if _, err := s.api.Routes.DeleteRouteContext(ctx, routes.NewDeleteRouteParams().WithApp(app).WithRoute(path), nil); err != nil {
		return fmt.Errorf("delete route %s of app %s: %w", path, app, err)
	}
	return nil
}

func (s *gantryServer) createAPI(ctx context.Context, a *models.API) error {
	if _, err := s.api.Apis.CreateAPIContext(ctx, apis.NewCreateAPIParams().WithBody(&models.APIWrapper{API: a}), nil); err != nil {
		return fmt.Errorf("create API %s: %w", a.Name, err)
	}
	return nil
}

// waitQueueEmpty polls the async queue's stats until nothing is queued or running.
func (s *gantryServer) waitQueueEmpty(ctx context.Context, limit time.Duration) error {
	for deadline := time.Now().Add(limit); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		res, err := s.api.Tasks.GetTaskStatsContext(ctx, tasks.NewGetTaskStatsParams(), nil)
		if err != nil {
			return fmt.Errorf("queue stats: %w", err)
		}
		if st := res.GetPayload(); st.Queued != nil && *st.Queued == 0 && st.Running != nil && *st.Running == 0 {
			return nil
		}
	}
	return fmt.Errorf("the async queue did not drain within %s", limit)
}

// countExecutions counts the executions of a route of app with a status, page by page.
func (s *gantryServer) countExecutions(ctx context.Context, app, route, status string) (int, error) {
	params := executions.NewListExecutionsParams().WithApp(&app).WithRoute(&route).WithStatus(&status).WithPerPage(new(int64(100)))
	n := 0
	for {
		res, err := s.api.Executions.ListExecutionsContext(ctx, params, nil)
		if err != nil {
			return 0, fmt.Errorf("list executions of %s%s: %w", app, route, err)
		}
		page := res.GetPayload()
		n += len(page.Executions)
		if page.NextCursor == "" {
			return n, nil
		}
		params.SetCursor(&page.NextCursor)
	}
}
