package storetest

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/store"
)

func statsCases() []testCase {
	return []testCase{
		{
			name:   "CountApps counts an owner's apps and every route they have, or every app's",
			covers: []string{"CountApps", "CreateApp", "CreateRoute", "DeleteRoute"},
			run:    testCountApps,
		},
		{
			name:   "CountExecutions counts the calls, failed and finished ones of the window, stored or pending, of the apps given",
			covers: []string{"CountExecutions", "RecordExecution", "FlushExecutions"},
			run:    testCountExecutions,
		},
		{
			name:   "TaskStatsOf counts only the tasks of the apps given, by name and ID",
			covers: []string{"TaskStatsOf", "EnqueueTask", "LeaseTasks"},
			run:    testTaskStatsOf,
		},
		{
			name:   "a node's hot containers per route round-trip through its heartbeat",
			covers: []string{"Heartbeat", "ListNodes"},
			run:    testHeartbeatHotRoutes,
		},
	}
}

func (s *spy) CountApps(owner string) (int, int) {
	s.note()
	return s.Store.CountApps(owner)
}

func (s *spy) CountExecutions(ctx context.Context, f store.ExecutionCountFilter) (store.ExecutionCounts, error) {
	s.note()
	return s.Store.CountExecutions(ctx, f)
}

func (s *spy) TaskStatsOf(ctx context.Context, apps map[string]string) (store.TaskStats, error) {
	s.note()
	return s.Store.TaskStatsOf(ctx, apps)
}

func testCountApps(t *testing.T, s store.Store) {
	mustApp(t, s, "a1", "ann")
	mustApp(t, s, "a2", "ann")
	mustApp(t, s, "b1", "bob")
	for _, p := range []string{"/", "/x", "/x/:id", "/x/:id/*rest", "/y/z"} {
		mustRoute(t, s, "a1", p)
	}
	mustRoute(t, s, "a2", "/only")
	mustRoute(t, s, "b1", "/b")
	mustRoute(t, s, "b1", "/c")
	for _, c := range []struct {
		owner        string
		apps, routes int
	}{{"ann", 2, 6}, {"bob", 1, 2}, {"", 3, 8}, {"nobody", 0, 0}} {
		if apps, routes := s.CountApps(c.owner); apps != c.apps || routes != c.routes {
			t.Errorf("CountApps(%q) = %d apps, %d routes; want %d, %d", c.owner, apps, routes, c.apps, c.routes)
		}
	}
	if err := s.DeleteRoute(t.Context(), "a1", "/x/:id", nil); err != nil {
		t.Fatal(err)
	}
	if apps, routes := s.CountApps("ann"); apps != 2 || routes != 5 {
		t.Errorf("after a route went: %d apps, %d routes; want 2, 5", apps, routes)
	}
}

func testCountExecutions(t *testing.T, s store.Store) {
	ctx := t.Context()
	since := time.Now().Add(-time.Minute)
	old := store.NewIDs()
	record := func(app, appID, status string, at time.Time) {
		ex := newExec(s, app, "/fn", status)
		ex.AppID = appID
		if !at.IsZero() {
			ex.ID, ex.CreatedAt = old.Next(at), at.UTC().Truncate(time.Millisecond)
		}
		s.RecordExecution(ex, nil)
	}
	// Before the window: never counted.
	record("mine", "id-1", store.StatusFailed, since.Add(-time.Hour))
	record("mine", "id-1", store.StatusSuccess, since.Add(-time.Second))
	// In the window, stored.
	record("mine", "id-1", store.StatusSuccess, time.Time{})
	record("mine", "id-1", store.StatusFailed, time.Time{})
	record("mine", "id-0", store.StatusFailed, time.Time{}) // an earlier app of the same name
	record("theirs", "id-2", store.StatusCancelled, time.Time{})
	flush(t, s)
	// In the window, maybe pending still.
	record("mine", "id-1", store.StatusRunning, time.Time{})
	record("theirs", "id-2", store.StatusFailed, time.Time{})
	record("theirs", "id-2", store.StatusQueued, time.Time{})

	check := func(when string) {
		t.Helper()
		for _, c := range []struct {
			name string
			apps map[string]string
			want store.ExecutionCounts
		}{
			{"every app", nil, store.ExecutionCounts{Calls: 7, Failed: 3, Finished: 5}},
			{"mine (id-1)", map[string]string{"mine": "id-1"}, store.ExecutionCounts{Calls: 3, Failed: 1, Finished: 2}},
			{"theirs", map[string]string{"theirs": "id-2"}, store.ExecutionCounts{Calls: 3, Failed: 1, Finished: 2}},
			{"no app", map[string]string{}, store.ExecutionCounts{}},
		} {
			got, err := s.CountExecutions(ctx, store.ExecutionCountFilter{Apps: c.apps, Since: since})
			if err != nil || got != c.want {
				t.Errorf("%s, %s: %+v %v; want %+v", when, c.name, got, err, c.want)
			}
		}
		got, err := s.CountExecutions(ctx, store.ExecutionCountFilter{Since: since.Add(-2 * time.Hour)})
		if want := (store.ExecutionCounts{Calls: 9, Failed: 4, Finished: 7}); err != nil || got != want {
			t.Errorf("%s, a window of hours: %+v %v; want %+v", when, got, err, want)
		}
	}
	check("with records pending")
	flush(t, s)
	check("once stored")
}

func testTaskStatsOf(t *testing.T, s store.Store) {
	ctx := t.Context()
	of := func(app, appID string) func(*store.Task) {
		return func(tk *store.Task) { tk.Route.App, tk.AppID = app, appID }
	}
	enqueueWith(t, s, 0, of("mine", "id-1"))
	time.Sleep(5 * time.Millisecond)
	enqueueWith(t, s, 0, of("mine", "id-0")) // an earlier app of the same name
	afterOld := time.Now()
	time.Sleep(5 * time.Millisecond)
	enqueueWith(t, s, 0, of("theirs", "id-2"))
	enqueueWith(t, s, 0, of("mine", "id-1"))
	if got := mustLease(t, s, 1, "w"); len(got) != 1 || got[0].AppID != "id-1" {
		t.Fatalf("leased %+v, want mine's first task", got)
	}
	mine, err := s.TaskStatsOf(ctx, map[string]string{"mine": "id-1"})
	if err != nil || mine.Queued != 1 || mine.Running != 1 || mine.OldestAt.Before(afterOld.Add(-time.Millisecond)) {
		t.Fatalf("mine: %+v %v; want one queued (accepted after %s), one running", mine, err, afterOld)
	}
	all, err := s.TaskStatsOf(ctx, nil)
	if err != nil || all.Queued != 3 || all.Running != 1 {
		t.Fatalf("all: %+v %v; want three queued, one running", all, err)
	}
	if none, err := s.TaskStatsOf(ctx, map[string]string{}); err != nil || none != (store.TaskStats{}) {
		t.Fatalf("no app: %+v %v; want nothing", none, err)
	}
}

func testHeartbeatHotRoutes(t *testing.T, s store.Store) {
	ctx := t.Context()
	before := time.Now().Add(-time.Second)
	hot := []store.RouteHot{{App: "a", Path: "/x", Containers: 2}, {App: "b", Path: "/y/:id", Containers: 1}}
	if err := s.Heartbeat(ctx, store.NodeInfo{ID: "n1", Run: "r", Hot: 3, HotRoutes: hot}); err != nil {
		t.Fatal(err)
	}
	if err := s.Heartbeat(ctx, store.NodeInfo{ID: "n2", Run: "r"}); err != nil {
		t.Fatal(err)
	}
	nodes, err := s.ListNodes(ctx, before)
	if err != nil || len(nodes) != 2 {
		t.Fatalf("nodes %+v %v", nodes, err)
	}
	if !reflect.DeepEqual(nodes[0].HotRoutes, hot) || len(nodes[1].HotRoutes) != 0 {
		t.Fatalf("hot routes n1 %+v, n2 %+v; want %+v and none", nodes[0].HotRoutes, nodes[1].HotRoutes, hot)
	}
	if err := s.Heartbeat(ctx, store.NodeInfo{ID: "n1", Run: "r"}); err != nil {
		t.Fatal(err)
	}
	if nodes, _ = s.ListNodes(ctx, before); len(nodes[0].HotRoutes) != 0 {
		t.Fatalf("after a heartbeat with no hot container: %+v, want none", nodes[0].HotRoutes)
	}
}
