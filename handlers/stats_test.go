package handlers

import (
	"context"
	"net/http"
	"reflect"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/store"
)

// TestStatsAPI: GET /v1/stats answers the overview's figures, of every app to an admin and
// of its own apps only to a developer; window bounds the call figures and is checked.
func TestStatsAPI(t *testing.T) {
	f := newAuthFixture(t)
	ctx := context.Background()
	s := f.s
	for app, owner := range map[string]string{"a-app": "alice", "b-app": "bob"} {
		if _, err := s.CreateApp(ctx, store.App{Name: app, Owner: owner}); err != nil {
			t.Fatal(err)
		}
	}
	for _, r := range [][2]string{{"a-app", "/x"}, {"a-app", "/y/:id"}, {"b-app", "/z"}} {
		if _, err := s.CreateRoute(ctx, store.Route{App: r[0], Path: r[1], Image: "img"}, nil); err != nil {
			t.Fatal(err)
		}
	}
	appID := func(app string) string {
		id, err := s.AppID(app)
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	old := store.NewIDs()
	call := func(app, route, status string, ago time.Duration) {
		at := time.Now().Add(-ago).UTC().Truncate(time.Millisecond)
		id := s.NewID()
		if ago > 0 {
			id = old.Next(at)
		}
		s.RecordExecution(store.Execution{ID: id, App: app, AppID: appID(app), Route: route, Type: store.TypeSync, Status: status, CreatedAt: at}, nil)
	}
	call("a-app", "/x", store.StatusSuccess, 0)
	call("a-app", "/x", store.StatusFailed, 0)
	call("a-app", "/y/:id", store.StatusRunning, 0)
	call("a-app", "/x", store.StatusFailed, 30*time.Minute) // outside the default window, inside an hour's
	call("b-app", "/z", store.StatusFailed, 0)
	call("b-app", "/z", store.StatusFailed, 0)
	call("b-app", "/z", store.StatusFailed, 2*time.Hour) // outside every window
	enqueue := func(app, route string) {
		task := store.Task{ID: s.NewID(), Route: store.Route{App: app, Path: route, Image: "img"}, AppID: appID(app), Method: "POST", URL: route}
		if err := s.EnqueueTask(ctx, task, store.Execution{App: app, AppID: appID(app), Route: route, Type: store.TypeAsync}); err != nil {
			t.Fatal(err)
		}
	}
	enqueue("a-app", "/x")
	enqueue("b-app", "/z")
	enqueue("b-app", "/z")
	for _, n := range []store.NodeInfo{
		{ID: "node-1", Hot: 3, HotRoutes: []store.RouteHot{{App: "a-app", Path: "/x", Containers: 2}, {App: "b-app", Path: "/z", Containers: 1}}},
		{ID: "node-2", Hot: 1, HotRoutes: []store.RouteHot{{App: "a-app", Path: "/x", Containers: 1}}},
	} {
		if err := s.Heartbeat(ctx, n); err != nil {
			t.Fatal(err)
		}
	}

	type hot struct {
		App, Route string
		Containers float64
	}
	hotOf := func(body any) []hot {
		out := []hot{}
		for _, h := range get(body, "hot").([]any) {
			out = append(out, hot{get(h, "app").(string), get(h, "route").(string), get(h, "containers").(float64)})
		}
		return out
	}
	for _, tt := range []struct {
		name, token, query string
		want               map[string]float64
		queue              map[string]float64
		hot                []hot
	}{
		{
			name: "an admin sees every app's figures", token: f.admin,
			want:  map[string]float64{"window_seconds": 300, "apps": 2, "functions": 3, "calls": 8, "errors": 3, "calls_per_minute": 1.6, "error_rate": 0.75},
			queue: map[string]float64{"depth": 3, "queued": 3, "running": 0},
			hot:   []hot{{"a-app", "/x", 3}, {"b-app", "/z", 1}},
		},
		{
			name: "a developer sees its own apps' figures only", token: f.alice,
			want:  map[string]float64{"window_seconds": 300, "apps": 1, "functions": 2, "calls": 4, "errors": 1, "calls_per_minute": 0.8, "error_rate": 0.5},
			queue: map[string]float64{"depth": 1, "queued": 1, "running": 0},
			hot:   []hot{{"a-app", "/x", 3}},
		},
		{
			name: "another developer sees its own", token: f.bob,
			want:  map[string]float64{"apps": 1, "functions": 1, "calls": 4, "errors": 2, "error_rate": 1},
			queue: map[string]float64{"depth": 2, "queued": 2},
			hot:   []hot{{"b-app", "/z", 1}},
		},
		{
			name: "a window of an hour counts the calls of the hour", token: f.alice, query: "?window=3600",
			want: map[string]float64{"window_seconds": 3600, "calls": 5, "errors": 2, "calls_per_minute": 5.0 / 60, "error_rate": 2.0 / 3},
			hot:  []hot{{"a-app", "/x", 3}},
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			res := f.as(t, tt.token, "GET", "/v1/stats"+tt.query, "")
			expect(t, res, http.StatusOK)
			for field, want := range tt.want {
				if got, _ := get(res.body, field).(float64); got != want {
					t.Errorf("%s = %v, want %v", field, got, want)
				}
			}
			for field, want := range tt.queue {
				if got, _ := get(res.body, "queue", field).(float64); got != want {
					t.Errorf("queue.%s = %v, want %v", field, got, want)
				}
			}
			if age, _ := get(res.body, "queue", "oldest_age_seconds").(float64); age <= 0 || age > 60 {
				t.Errorf("queue.oldest_age_seconds = %v, want the age of a task just queued", age)
			}
			if got := hotOf(res.body); !reflect.DeepEqual(got, tt.hot) {
				t.Errorf("hot %+v, want %+v", got, tt.hot)
			}
			if at, err := time.Parse(time.RFC3339, get(res.body, "at").(string)); err != nil || time.Since(at) > time.Minute {
				t.Errorf("at %v (%v), want now in RFC 3339", get(res.body, "at"), err)
			}
		})
	}
	t.Run("a developer without apps sees zeros, an error rate of 0 and no queue age", func(t *testing.T) {
		carol, _ := makeToken(t, s, "carol", "developer", nil)
		res := f.as(t, carol, "GET", "/v1/stats", "")
		expect(t, res, http.StatusOK)
		for _, field := range []string{"apps", "functions", "calls", "errors", "calls_per_minute", "error_rate"} {
			if got := get(res.body, field); got != 0.0 {
				t.Errorf("%s = %v, want 0", field, got)
			}
		}
		if got := get(res.body, "queue", "oldest_age_seconds"); got != 0.0 {
			t.Errorf("queue.oldest_age_seconds = %v, want 0", got)
		}
		if got := hotOf(res.body); len(got) != 0 {
			t.Errorf("hot %+v, want none", got)
		}
	})
	t.Run("hot containers of nodes no longer live are left out", func(t *testing.T) {
		f.api.now = func() time.Time { return time.Now().Add(NodeLive + time.Second) }
		defer func() { f.api.now = time.Now }()
		res := f.as(t, f.admin, "GET", "/v1/stats", "")
		expect(t, res, http.StatusOK)
		if got := hotOf(res.body); len(got) != 0 {
			t.Errorf("hot %+v, want none", got)
		}
	})
	for _, q := range []string{"?window=59", "?window=3601", "?window=soon"} {
		t.Run("window "+q[len("?window="):]+" is refused", func(t *testing.T) {
			res := f.as(t, f.admin, "GET", "/v1/stats"+q, "")
			expect(t, res, http.StatusBadRequest)
			if msg, _ := get(res.body, "error", "message").(string); msg == "" {
				t.Errorf("no error message: %s", res.raw)
			}
		})
	}
	t.Run("a caller without credentials may not read the figures", func(t *testing.T) {
		expect(t, f.as(t, "", "GET", "/v1/stats", ""), http.StatusUnauthorized)
	})
}
