package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/store"
)

// StatsLoad fills s for BenchStats, the worst case of GET /v1/stats: 10 apps (5 of
// "alice", 5 of "bob") of 10 routes each, 10,000 executions all within the window, 100
// queued tasks and 3 live nodes with hot routes. s keeps every execution (no pruning).
func StatsLoad(b *testing.B, s store.Store) {
	ctx := b.Context()
	var apps []store.App
	for i := range 10 {
		owner := "alice"
		if i%2 == 1 {
			owner = "bob"
		}
		a, err := s.CreateApp(ctx, store.App{Name: fmt.Sprintf("app-%d", i), Owner: owner})
		if err != nil {
			b.Fatal(err)
		}
		apps = append(apps, a)
		for r := range 10 {
			if _, err := s.CreateRoute(ctx, store.Route{App: a.Name, Path: fmt.Sprintf("/fn%d/:id", r), Image: "img"}, nil); err != nil {
				b.Fatal(err)
			}
		}
	}
	statuses := []string{store.StatusSuccess, store.StatusSuccess, store.StatusSuccess, store.StatusFailed, store.StatusCancelled, store.StatusRunning}
	for i := range 10000 {
		a := apps[i%len(apps)]
		now := time.Now().UTC().Truncate(time.Millisecond)
		s.RecordExecution(store.Execution{ID: s.NewID(), App: a.Name, AppID: a.ID, Route: fmt.Sprintf("/fn%d/:id", i%10), Type: store.TypeSync,
			Status: statuses[i%len(statuses)], Container: store.ContainerHot, Node: "node-1", CreatedAt: now, StartedAt: now, CompletedAt: now}, nil)
		if i%500 == 499 { // a backend may drop records past its writer's queue (PostgreSQL's)
			if err := s.FlushExecutions(ctx); err != nil {
				b.Fatal(err)
			}
		}
	}
	if err := s.FlushExecutions(ctx); err != nil {
		b.Fatal(err)
	}
	for i := range 100 {
		a := apps[i%len(apps)]
		t := store.Task{ID: s.NewID(), Route: store.Route{App: a.Name, Path: "/fn0/:id", Image: "img"}, AppID: a.ID, Method: "POST", URL: "/fn0/1"}
		if err := s.EnqueueTask(ctx, t, store.Execution{App: a.Name, AppID: a.ID, Route: "/fn0/:id", Type: store.TypeAsync}); err != nil {
			b.Fatal(err)
		}
	}
	for n := range 3 {
		var hot []store.RouteHot
		for _, a := range apps {
			hot = append(hot, store.RouteHot{App: a.Name, Path: "/fn0/:id", Containers: n + 1})
		}
		if err := s.Heartbeat(ctx, store.NodeInfo{ID: fmt.Sprintf("node-%d", n), Hot: len(hot) * (n + 1), HotRoutes: hot}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchStats times the store reads of one GET /v1/stats (handlers.GetStats): as an admin
// (every app) and as a developer (its own apps), over what StatsLoad stored.
func BenchStats(b *testing.B, s store.Store) {
	StatsLoad(b, s)
	for _, sc := range []struct {
		name, owner string
	}{{"admin", ""}, {"developer", "alice"}} {
		b.Run(sc.name, func(b *testing.B) {
			ctx := b.Context()
			var apps map[string]string
			if sc.owner != "" {
				apps = s.AppsOwnedBy(sc.owner)
			}
			want := 10000 + 100
			if sc.owner != "" {
				want /= 2
			}
			b.ReportAllocs()
			for b.Loop() {
				now := time.Now()
				s.CountApps(sc.owner)
				c, err := s.CountExecutions(ctx, store.ExecutionCountFilter{Apps: apps, Since: now.Add(-time.Hour)})
				if err != nil || c.Calls != want {
					b.Fatalf("counted %+v (%v), want %d calls", c, err, want)
				}
				if _, err := s.TaskStatsOf(ctx, apps); err != nil {
					b.Fatal(err)
				}
				if _, err := s.ListNodes(ctx, now.Add(-15*time.Second)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
