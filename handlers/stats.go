package handlers

import (
	"cmp"
	"context"
	"slices"
	"time"

	"github.com/go-openapi/runtime/middleware"
	"github.com/go-openapi/strfmt"

	"github.com/gantry-dev/gantry/gen/models"
	"github.com/gantry-dev/gantry/gen/restapi/operations/stats"
	"github.com/gantry-dev/gantry/store"
)

// defaultStatsWindow is the window of GetStats without ?window= (the spec's default too).
const defaultStatsWindow = 300 * time.Second

// statsFigures are the figures of GetStats, read from the store in the caller's scope.
type statsFigures struct {
	at           time.Time
	window       time.Duration
	apps, routes int
	calls        store.ExecutionCounts
	queue        store.TaskStats
	hot          []store.RouteHot
}

// GetStats answers the figures of the console's overview: everything for an admin, its
// own apps' for a developer (other roles never reach it: the spec opens it to no other).
func (a *API) GetStats(ctx context.Context, params stats.GetStatsParams) middleware.Responder {
	who := caller(ctx)
	f := statsFigures{at: a.now().UTC(), window: defaultStatsWindow}
	if params.Window != nil {
		f.window = time.Duration(*params.Window) * time.Second
	}
	var apps map[string]string // nil: every app
	owner := ""
	if !who.IsAdmin() {
		owner, apps = who.Name, a.store.AppsOwnedBy(who.Name)
		if apps == nil {
			apps = map[string]string{}
		}
	}
	f.apps, f.routes = a.store.CountApps(owner)
	var err error
	if f.calls, err = a.store.CountExecutions(ctx, store.ExecutionCountFilter{Apps: apps, Since: f.at.Add(-f.window)}); err != nil {
		return a.errorResponse(err)
	}
	if f.queue, err = a.store.TaskStatsOf(ctx, apps); err != nil {
		return a.errorResponse(err)
	}
	nodes, err := a.store.ListNodes(ctx, f.at.Add(-NodeLive))
	if err != nil {
		return a.errorResponse(err)
	}
	f.hot = sumHotRoutes(nodes, apps)
	return stats.NewGetStatsOK().WithPayload(statsToModel(f))
}

// sumHotRoutes adds up the hot containers per route of nodes, of apps only (nil: every
// app), in app then path order.
func sumHotRoutes(nodes []store.NodeInfo, apps map[string]string) []store.RouteHot {
	type key struct{ app, path string }
	sum := map[key]int{}
	for _, n := range nodes {
		for _, h := range n.HotRoutes {
			if _, ok := apps[h.App]; apps != nil && !ok {
				continue
			}
			sum[key{h.App, h.Path}] += h.Containers
		}
	}
	out := make([]store.RouteHot, 0, len(sum))
	for k, n := range sum {
		if n > 0 {
			out = append(out, store.RouteHot{App: k.app, Path: k.path, Containers: n})
		}
	}
	slices.SortFunc(out, func(a, b store.RouteHot) int { return cmp.Or(cmp.Compare(a.App, b.App), cmp.Compare(a.Path, b.Path)) })
	return out
}

func statsToModel(f statsFigures) *models.Stats {
	at := strfmt.DateTime(f.at)
	window := int64(f.window / time.Second)
	apps, routes := int64(f.apps), int64(f.routes)
	calls, failed := int64(f.calls.Calls), int64(f.calls.Failed)
	perMinute := float64(f.calls.Calls) / f.window.Minutes()
	rate := 0.0
	if f.calls.Finished > 0 {
		rate = float64(f.calls.Failed) / float64(f.calls.Finished)
	}
	hot := make([]*models.StatsHotRoute, 0, len(f.hot))
	for _, h := range f.hot {
		hot = append(hot, hotRouteToModel(h))
	}
	return &models.Stats{At: &at, WindowSeconds: &window, Apps: &apps, Functions: &routes, Calls: &calls, Errors: &failed,
		CallsPerMinute: &perMinute, ErrorRate: &rate, Queue: statsQueueToModel(f.queue, f.at), Hot: hot}
}

func statsQueueToModel(st store.TaskStats, now time.Time) *models.StatsQueue {
	depth, queued, running := int64(st.Queued+st.Running), int64(st.Queued), int64(st.Running)
	age := 0.0
	if !st.OldestAt.IsZero() {
		age = max(0, now.Sub(st.OldestAt).Seconds())
	}
	return &models.StatsQueue{Depth: &depth, Queued: &queued, Running: &running, OldestAgeSeconds: &age}
}

func hotRouteToModel(h store.RouteHot) *models.StatsHotRoute {
	app, route, n := h.App, h.Path, int64(h.Containers)
	return &models.StatsHotRoute{App: &app, Route: &route, Containers: &n}
}
