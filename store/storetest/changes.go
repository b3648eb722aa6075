package storetest

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/store"
)

func changeCases() []testCase {
	return []testCase{
		{
			name: "every write of an app, a route or an API delivers its change to every subscriber before it returns",
			covers: []string{"Subscribe", "CreateApp", "PutApp", "UpdateApp", "DeleteApp", "CreateRoute", "PutRoute", "UpdateRoute", "DeleteRoute",
				"CreateAPI", "UpdateAPI", "DeleteAPI"},
			run: testWritesDeliverTheirChange,
		},
		{
			name:   "a cancel of a leased task delivers ChangeCancel before CancelTask returns",
			covers: []string{"Subscribe", "CancelTask"},
			run:    testCancelDeliversChangeCancel,
		},
		{
			name:   "a subscriber hears nothing after it unsubscribed",
			covers: []string{"Subscribe"},
			run:    testUnsubscribeStopsDelivery,
		},
		{
			name:   "unsubscribing waits for a delivery in progress, after which the subscriber is never called",
			covers: []string{"Subscribe"},
			run:    testUnsubscribeWaitsForADelivery,
		},
		{
			name:   "subscribers are called one change at a time under concurrent writes",
			covers: []string{"Subscribe", "EnqueueTask", "RequestCancel"},
			run:    testSubscribersAreCalledOneAtATime,
		},
		{
			name:   "the resolver sees a write as soon as the write returns",
			covers: []string{"MatchRoute", "AppOwner", "AppsOwnedBy", "AppID", "AppConfig", "RouteByPath", "Target"},
			run:    testResolverReadsItsOwnWrites,
		},
	}
}

// changeLog collects the changes a subscriber hears.
type changeLog struct {
	mu      sync.Mutex
	changes []store.Change
}

func (l *changeLog) add(c store.Change) {
	l.mu.Lock()
	l.changes = append(l.changes, c)
	l.mu.Unlock()
}

// take returns what was heard since the last take.
func (l *changeLog) take() []store.Change {
	l.mu.Lock()
	defer l.mu.Unlock()
	got := l.changes
	l.changes = nil
	return got
}

func testWritesDeliverTheirChange(t *testing.T, s store.Store) {
	ctx := t.Context()
	var first, second changeLog
	defer s.Subscribe(first.add)()
	defer s.Subscribe(second.add)()
	app := func(name string) store.Change { return store.Change{Kind: store.ChangeApp, App: name} }
	route := func(a, p string) store.Change { return store.Change{Kind: store.ChangeRoute, App: a, Path: p} }
	api := func(name string) store.Change { return store.Change{Kind: store.ChangeAPI, Name: name} }
	for _, w := range []struct {
		name  string
		write func() error
		want  store.Change
	}{
		{"CreateApp", func() error { _, err := s.CreateApp(ctx, store.App{Name: "shop"}); return err }, app("shop")},
		{"PutApp of a new app", func() error { _, _, err := s.PutApp(ctx, store.App{Name: "blog"}, "ann", nil); return err }, app("blog")},
		{"PutApp of an app", func() error {
			_, _, err := s.PutApp(ctx, store.App{Name: "shop", Config: map[string]string{"K": "v"}}, "", nil)
			return err
		}, app("shop")},
		{"UpdateApp", func() error {
			_, err := s.UpdateApp(ctx, "shop", func(a *store.App) error { a.Owner = "ann"; return nil })
			return err
		}, app("shop")},
		{"CreateRoute", func() error {
			_, err := s.CreateRoute(ctx, store.Route{App: "shop", Path: "/items/:id", Image: "img"}, nil)
			return err
		}, route("shop", "/items/:id")},
		{"PutRoute of a new route", func() error {
			_, _, err := s.PutRoute(ctx, store.Route{App: "shop", Path: "/cart", Image: "img"}, nil)
			return err
		}, route("shop", "/cart")},
		{"PutRoute of a route", func() error {
			_, _, err := s.PutRoute(ctx, store.Route{App: "shop", Path: "/cart", Image: "img:2"}, nil)
			return err
		}, route("shop", "/cart")},
		{"UpdateRoute", func() error {
			_, err := s.UpdateRoute(ctx, "shop", "/items/:id", func(r *store.Route) error { r.Timeout = 5; return nil }, nil)
			return err
		}, route("shop", "/items/:id")},
		{"DeleteRoute", func() error { return s.DeleteRoute(ctx, "shop", "/cart", nil) }, route("shop", "/cart")},
		{"DeleteApp", func() error { return s.DeleteApp(ctx, "blog", nil) }, app("blog")},
		{"CreateAPI", func() error {
			_, err := s.CreateAPI(ctx, store.API{Name: "items", App: "shop", Route: "/items/:id", URIs: []string{"/items"}})
			return err
		}, api("items")},
		{"UpdateAPI", func() error {
			_, err := s.UpdateAPI(ctx, "items", func(a *store.API) error { a.URIs = []string{"/goods"}; return nil })
			return err
		}, api("items")},
		{"DeleteAPI", func() error { return s.DeleteAPI(ctx, "items", nil) }, api("items")},
	} {
		if err := w.write(); err != nil {
			t.Fatalf("%s: %v", w.name, err)
		}
		for i, l := range []*changeLog{&first, &second} {
			if got := l.take(); !slices.Contains(got, w.want) {
				t.Errorf("%s: subscriber %d heard %+v by the time it returned, want %+v among them", w.name, i+1, got, w.want)
			}
		}
	}
}

func testCancelDeliversChangeCancel(t *testing.T, s store.Store) {
	ctx := t.Context()
	var heard changeLog
	defer s.Subscribe(heard.add)()
	queued, leased := enqueue(t, s, 0), enqueue(t, s, 1)
	if got, err := s.LeaseTasks(ctx, 1, "w", time.Minute); err != nil || len(got) != 1 || got[0].ID != queued {
		t.Fatalf("lease: %v %v", taskIDs(got), err)
	}
	heard.take()
	if _, err := s.CancelTask(ctx, queued); err == nil {
		t.Fatal("cancel of a leased task succeeded")
	}
	if got := heard.take(); !slices.Contains(got, store.Change{Kind: store.ChangeCancel, Name: queued}) {
		t.Fatalf("heard %+v by the time CancelTask returned, want a ChangeCancel of %s", got, queued)
	}
	if _, err := s.CancelTask(ctx, leased); err != nil { // still queued: it just ends
		t.Fatal(err)
	}
	for _, c := range heard.take() {
		if c.Kind == store.ChangeCancel {
			t.Fatalf("a cancel of a queued task sent %+v: nothing runs it", c)
		}
	}
}

func testUnsubscribeStopsDelivery(t *testing.T, s store.Store) {
	ctx := t.Context()
	var kept, dropped changeLog
	defer s.Subscribe(kept.add)()
	unsubscribe := s.Subscribe(dropped.add)
	mustApp(t, s, "a", "")
	if len(dropped.take()) == 0 || len(kept.take()) == 0 {
		t.Fatal("a subscriber heard nothing of a write")
	}
	unsubscribe()
	mustApp(t, s, "b", "")
	mustRoute(t, s, "b", "/x")
	if _, err := s.CreateAPI(ctx, store.API{Name: "api", App: "b", Route: "/x", URIs: []string{"/"}}); err != nil {
		t.Fatal(err)
	}
	if got := dropped.take(); len(got) != 0 {
		t.Fatalf("heard %+v after unsubscribing", got)
	}
	if got := kept.take(); len(got) < 3 {
		t.Fatalf("the other subscriber heard %+v, want the 3 writes: unsubscribing one stopped another", got)
	}
}

func testSubscribersAreCalledOneAtATime(t *testing.T, s store.Store) {
	ctx := t.Context()
	var inside, overlaps, heard atomic.Int64
	defer s.Subscribe(func(store.Change) {
		if inside.Add(1) > 1 {
			overlaps.Add(1)
		}
		time.Sleep(100 * time.Microsecond) // widen the window a concurrent call would fall in
		heard.Add(1)
		inside.Add(-1)
	})()
	running := newExec(s, "app", "/fn", store.StatusRunning)
	s.RecordExecution(running, nil)
	var wg sync.WaitGroup
	for w := range 4 { // every kind of writer that delivers changes: apps, accepts, cancels
		wg.Go(func() {
			for i := range 10 {
				if _, err := s.CreateApp(ctx, store.App{Name: fmt.Sprintf("w%d-%d", w, i)}); err != nil {
					t.Error(err)
				}
				enqueue(t, s, 0)
				if err := s.RequestCancel(ctx, running.ID); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	if n := overlaps.Load(); n != 0 {
		t.Fatalf("the subscriber was called %d times while it was running", n)
	}
	if n := heard.Load(); n < 120 {
		t.Fatalf("heard %d changes of 120 writes", n)
	}
}

func testResolverReadsItsOwnWrites(t *testing.T, s store.Store) {
	ctx := t.Context()
	app, err := s.CreateApp(ctx, store.App{Name: "a", Owner: "ann", Config: map[string]string{"K": "1"}})
	if err != nil {
		t.Fatal(err)
	}
	if id, err := s.AppID("a"); err != nil || id != app.ID {
		t.Fatalf("AppID right after CreateApp: %q %v", id, err)
	}
	if owner, err := s.AppOwner("a"); err != nil || owner != "ann" || s.AppsOwnedBy("ann")["a"] != app.ID {
		t.Fatalf("owner right after CreateApp: %q %v", owner, err)
	}
	mustRoute(t, s, "a", "/x/:id")
	if r, _, err := s.MatchRoute("a", "/x/1"); err != nil || r.Path != "/x/:id" {
		t.Fatalf("MatchRoute right after CreateRoute: %+v %v", r, err)
	}
	if _, err := s.UpdateRoute(ctx, "a", "/x/:id", func(r *store.Route) error { r.Image = "img:2"; return nil }, nil); err != nil {
		t.Fatal(err)
	}
	if r, err := s.RouteByPath("a", "/x/:id", "ann"); err != nil || r.Image != "img:2" {
		t.Fatalf("RouteByPath right after UpdateRoute: %+v %v", r, err)
	}
	if _, err := s.UpdateApp(ctx, "a", func(a *store.App) error { a.Config["K"] = "2"; return nil }); err != nil {
		t.Fatal(err)
	}
	if cfg, err := s.AppConfig("a"); err != nil || cfg["K"] != "2" {
		t.Fatalf("AppConfig right after UpdateApp: %v %v", cfg, err)
	}
	if err := s.DeleteRoute(ctx, "a", "/x/:id", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Target("a", "/x/1", "", ""); err == nil {
		t.Fatal("Target right after DeleteRoute still resolves the route")
	}
	if err := s.DeleteApp(ctx, "a", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AppOwner("a"); err == nil || len(s.AppsOwnedBy("ann")) != 0 {
		t.Fatalf("the resolver still knows the app right after DeleteApp: %v", err)
	}
}

func testUnsubscribeWaitsForADelivery(t *testing.T, s store.Store) {
	entered, release := make(chan struct{}), make(chan struct{})
	var calls, after atomic.Int32
	var unsubscribed atomic.Bool
	var once sync.Once
	unsubscribe := s.Subscribe(func(store.Change) {
		if unsubscribed.Load() {
			after.Add(1)
		}
		calls.Add(1)
		once.Do(func() {
			close(entered)
			<-release // a slow subscriber, in the middle of a delivery
		})
	})
	wrote := make(chan error, 1)
	go func() {
		_, err := s.CreateApp(context.Background(), store.App{Name: "a"})
		wrote <- err
	}()
	<-entered
	done := make(chan struct{})
	go func() {
		defer close(done)
		unsubscribe()
		unsubscribed.Store(true)
	}()
	select {
	case <-done:
		t.Fatal("unsubscribe returned while its subscriber was still being called")
	case <-time.After(50 * time.Millisecond):
	}
	close(release)
	<-done
	if err := <-wrote; err != nil {
		t.Fatal(err)
	}
	mustApp(t, s, "b", "")
	if after.Load() != 0 || calls.Load() != 1 {
		t.Fatalf("%d calls, %d after unsubscribe returned; want 1 and 0", calls.Load(), after.Load())
	}
}
