package storetest

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"testing"

	"github.com/gantry-dev/gantry/store"
)

func appCases() []testCase {
	return []testCase{
		{
			name:   "an app is created, read, updated, replaced, and deleted once it has no routes",
			covers: []string{"CreateApp", "GetApp", "UpdateApp", "PutApp", "DeleteApp"},
			run:    testAppLifecycle,
		},
		{
			name:   "apps are listed in name order, a page at a time, without gap or duplicate",
			covers: []string{"ListApps"},
			run:    testAppPagination,
		},
		{
			name:   "apps of one owner are listed in pages that skip the others' apps",
			covers: []string{"ListApps"},
			run:    testAppPaginationByOwner,
		},
		{
			name:   "an app keeps its owner, and an app made again under its name does not inherit its executions",
			covers: []string{"CreateApp", "PutApp", "UpdateApp", "DeleteApp", "ListApps", "AppsOwnedBy", "AppOwner", "AppID", "ListExecutions"},
			run:    testAppOwnership,
		},
		{
			name:   "a write its AppGuard refuses changes nothing",
			covers: []string{"CreateRoute", "PutApp", "DeleteApp", "UpdateRoute", "DeleteRoute", "PutRoute", "DeleteAPI"},
			run:    testAppGuardRefuses,
		},
		{
			name:   "an AppGuard is given the owner stored when the write runs",
			covers: []string{"PutApp", "DeleteApp", "CreateRoute", "PutRoute", "UpdateRoute", "DeleteRoute", "DeleteAPI", "UpdateApp"},
			run:    testAppGuardSeesTheStoredOwner,
		},
	}
}

func testAppLifecycle(t *testing.T, s store.Store) {
	ctx := t.Context()
	created, err := s.CreateApp(ctx, store.App{Name: "shop", Config: map[string]string{"DB": "x"}})
	if err != nil {
		t.Fatal(err)
	}
	if created.CreatedAt.IsZero() || !created.CreatedAt.Equal(created.UpdatedAt) {
		t.Fatalf("timestamps not set: %+v", created)
	}
	if _, err := s.CreateApp(ctx, store.App{Name: "shop"}); !errors.Is(err, store.ErrExists) {
		t.Fatalf("second create: got %v, want ErrExists", err)
	}
	if _, err := s.CreateApp(ctx, store.App{Name: "no spaces"}); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("invalid name: got %v, want ErrInvalid", err)
	}
	got, err := s.GetApp(ctx, "shop")
	if err != nil || got.Config["DB"] != "x" || got.ID != created.ID || created.ID == "" {
		t.Fatalf("get: %+v %v", got, err)
	}

	updated, err := s.UpdateApp(ctx, "shop", func(a *store.App) error { a.Config["LOG"] = "debug"; return nil })
	if err != nil || updated.Config["LOG"] != "debug" || !updated.CreatedAt.Equal(created.CreatedAt) {
		t.Fatalf("update: %+v %v", updated, err)
	}
	if _, err := s.UpdateApp(ctx, "shop", func(a *store.App) error { a.Name = "other"; return nil }); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("rename: got %v, want ErrInvalid", err)
	}
	errStop := errors.New("stop")
	if _, err := s.UpdateApp(ctx, "shop", func(a *store.App) error { a.Config["LOG"] = "lost"; return errStop }); !errors.Is(err, errStop) {
		t.Fatalf("update whose fn fails: got %v, want its error", err)
	}
	if got, _ := s.GetApp(ctx, "shop"); got.Config["LOG"] != "debug" {
		t.Fatalf("an update whose fn failed was stored: %+v", got)
	}
	if _, err := s.UpdateApp(ctx, "ghost", func(*store.App) error { return nil }); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("update of a missing app: got %v, want ErrNotFound", err)
	}

	replaced, wasCreated, err := s.PutApp(ctx, store.App{Name: "shop", Config: map[string]string{"ONLY": "1"}}, "", nil)
	if err != nil || wasCreated || !maps.Equal(replaced.Config, map[string]string{"ONLY": "1"}) || !replaced.CreatedAt.Equal(created.CreatedAt) || replaced.ID != created.ID {
		t.Fatalf("put existing: %+v created=%v %v", replaced, wasCreated, err)
	}
	if _, wasCreated, err := s.PutApp(ctx, store.App{Name: "fresh"}, "", nil); err != nil || !wasCreated {
		t.Fatalf("put new: created=%v %v", wasCreated, err)
	}

	if _, err := s.CreateRoute(ctx, store.Route{App: "shop", Path: "/buy", Image: "img"}, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteApp(ctx, "shop", nil); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("delete app with routes: got %v, want ErrConflict", err)
	}
	if err := s.DeleteRoute(ctx, "shop", "/buy", nil); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteApp(ctx, "shop", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetApp(ctx, "shop"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("get deleted: got %v, want ErrNotFound", err)
	}
	if err := s.DeleteApp(ctx, "shop", nil); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("delete twice: got %v, want ErrNotFound", err)
	}
}

func testAppPagination(t *testing.T, s store.Store) {
	ctx := t.Context()
	for i := 249; i >= 0; i-- { // created out of order on purpose
		mustApp(t, s, fmt.Sprintf("app-%03d", i), "")
	}
	var seen []string
	cursor, pages := "", 0
	for {
		apps, next, err := s.ListApps(ctx, store.AppFilter{}, store.Page{Cursor: cursor, Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		checkPageAfterCursor(t, cursor, len(apps))
		pages++
		for _, a := range apps {
			seen = append(seen, a.Name)
		}
		if next == "" {
			break
		}
		cursor = next
	}
	if pages != 3 || len(seen) != 250 {
		t.Fatalf("got %d apps in %d pages, want 250 in 3", len(seen), pages)
	}
	for i, name := range seen {
		if want := fmt.Sprintf("app-%03d", i); name != want {
			t.Fatalf("item %d is %s, want %s (order, gap or duplicate)", i, name, want)
		}
	}
	if _, _, err := s.ListApps(ctx, store.AppFilter{}, store.Page{Cursor: "!!"}); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("bad cursor: got %v, want ErrInvalid", err)
	}
	if apps, next, err := s.ListApps(ctx, store.AppFilter{}, store.Page{}); err != nil || len(apps) != store.DefaultPageSize || next == "" {
		t.Fatalf("default page: %d apps, next %q, %v; want %d and a cursor", len(apps), next, err, store.DefaultPageSize)
	}
	if apps, _, err := s.ListApps(ctx, store.AppFilter{}, store.Page{Limit: 1000}); err != nil || len(apps) != store.MaxPageSize {
		t.Fatalf("oversized page: %d apps, %v; want at most %d", len(apps), err, store.MaxPageSize)
	}
}

func testAppPaginationByOwner(t *testing.T, s store.Store) {
	ctx := t.Context()
	var want []string
	for i := range 11 {
		owner := []string{"alice", "bob", "bob"}[i%3]
		name := fmt.Sprintf("app-%02d", i)
		mustApp(t, s, name, owner)
		if owner == "alice" {
			want = append(want, name)
		}
	}
	var got []string
	cursor := ""
	for {
		apps, next, err := s.ListApps(ctx, store.AppFilter{Owner: "alice"}, store.Page{Cursor: cursor, Limit: 2})
		if err != nil {
			t.Fatal(err)
		}
		checkPageAfterCursor(t, cursor, len(apps))
		for _, a := range apps {
			if a.Owner != "alice" {
				t.Fatalf("alice's list has %s of %q", a.Name, a.Owner)
			}
			got = append(got, a.Name)
		}
		if next == "" {
			break
		}
		if len(apps) != 2 {
			t.Fatalf("a page of %d apps before the last", len(apps))
		}
		cursor = next
	}
	if !slices.Equal(got, want) {
		t.Fatalf("alice's apps %v, want %v", got, want)
	}
	if apps, next, err := s.ListApps(ctx, store.AppFilter{Owner: "nobody"}, store.Page{}); err != nil || len(apps) != 0 || next != "" {
		t.Fatalf("an owner without apps: %v %q %v", apps, next, err)
	}
}

func testAppOwnership(t *testing.T, s store.Store) {
	ctx := t.Context()
	for _, a := range []store.App{{Name: "a1", Owner: "alice"}, {Name: "a2", Owner: "alice"}, {Name: "b1", Owner: "bob"}, {Name: "old"}} {
		if _, err := s.CreateApp(ctx, a); err != nil {
			t.Fatal(err)
		}
	}
	if got := s.AppsOwnedBy("alice"); len(got) != 2 || got["a1"] == "" || got["a2"] == "" || got["a1"] == got["a2"] {
		t.Fatalf("alice's apps: %v", got)
	}
	if owner, err := s.AppOwner("b1"); err != nil || owner != "bob" {
		t.Fatalf("owner of b1: %q %v", owner, err)
	}
	if _, err := s.AppOwner("nope"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("owner of a missing app: %v", err)
	}
	list, _, err := s.ListApps(ctx, store.AppFilter{Owner: "alice"}, store.Page{})
	if err != nil || len(list) != 2 {
		t.Fatalf("list alice's: %v %v", list, err)
	}
	// PUT keeps the owner unless one is given; a new app belongs to its creator.
	if app, _, err := s.PutApp(ctx, store.App{Name: "a1", Config: map[string]string{"K": "v"}}, "mallory", nil); err != nil || app.Owner != "alice" {
		t.Fatalf("put kept owner: %+v %v", app, err)
	}
	if app, created, err := s.PutApp(ctx, store.App{Name: "new"}, "carol", nil); err != nil || !created || app.Owner != "carol" {
		t.Fatalf("put created: %+v %v", app, err)
	}
	if app, created, err := s.PutApp(ctx, store.App{Name: "a2", Owner: "dave"}, "mallory", nil); err != nil || created || app.Owner != "dave" {
		t.Fatalf("put naming a new owner: %+v %v", app, err)
	}
	if _, err := s.UpdateApp(ctx, "a1", func(a *store.App) error { a.Owner = "bob"; return nil }); err != nil {
		t.Fatal(err)
	}
	if owner, _ := s.AppOwner("a1"); owner != "bob" || s.AppsOwnedBy("bob")["a1"] == "" {
		t.Fatalf("transfer not in the index: %q", owner)
	}
	// Executions filtered by the apps a developer owns.
	ex := func(app string) store.Execution {
		e := newExec(s, app, "/x", store.StatusSuccess)
		e.AppID, _ = s.AppID(app)
		s.RecordExecution(e, nil)
		return e
	}
	ex("a1")
	ex("a2")
	ex("b1")
	got, _, err := s.ListExecutions(ctx, store.ExecutionFilter{Apps: s.AppsOwnedBy("bob")}, store.Page{})
	if err != nil || len(got) != 2 {
		t.Fatalf("bob's executions: %d %v", len(got), err)
	}
	got, _, err = s.ListExecutions(ctx, store.ExecutionFilter{Apps: map[string]string{}}, store.Page{})
	if err != nil || len(got) != 0 {
		t.Fatalf("no apps, executions: %d %v", len(got), err)
	}
	// An app deleted and made again under the same name is another app: the executions of
	// the first are not the second's.
	oldID, _ := s.AppID("b1")
	if err := s.DeleteApp(ctx, "b1", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AppID("b1"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("ID of a deleted app: %v", err)
	}
	if _, err := s.CreateApp(ctx, store.App{Name: "b1", Owner: "mallory"}); err != nil {
		t.Fatal(err)
	}
	if newID, err := s.AppID("b1"); err != nil || newID == oldID {
		t.Fatalf("the new b1 has ID %q (%v), the old one had %q", newID, err, oldID)
	}
	got, _, err = s.ListExecutions(ctx, store.ExecutionFilter{Apps: s.AppsOwnedBy("mallory")}, store.Page{})
	if err != nil || len(got) != 0 {
		t.Fatalf("the new b1's owner sees %d executions of the old b1 (%v)", len(got), err)
	}
}

func testAppGuardRefuses(t *testing.T, s store.Store) {
	ctx := t.Context()
	if _, err := s.CreateApp(ctx, store.App{Name: "a", Owner: "alice"}); err != nil {
		t.Fatal(err)
	}
	errNotYours := errors.New("not yours")
	onlyBob := func(owner string) error {
		if owner != "bob" {
			return errNotYours
		}
		return nil
	}
	if _, err := s.CreateRoute(ctx, store.Route{App: "a", Path: "/x", Image: "i"}, onlyBob); !errors.Is(err, errNotYours) {
		t.Fatalf("create route: %v", err)
	}
	if _, _, err := s.PutApp(ctx, store.App{Name: "a", Config: map[string]string{"K": "bob"}}, "bob", onlyBob); !errors.Is(err, errNotYours) {
		t.Fatalf("put app: %v", err)
	}
	if err := s.DeleteApp(ctx, "a", onlyBob); !errors.Is(err, errNotYours) {
		t.Fatalf("delete app: %v", err)
	}
	if _, err := s.CreateRoute(ctx, store.Route{App: "a", Path: "/x", Image: "i"}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := s.UpdateRoute(ctx, "a", "/x", func(r *store.Route) error { r.Image = "evil"; return nil }, onlyBob); !errors.Is(err, errNotYours) {
		t.Fatalf("update route: %v", err)
	}
	if _, _, err := s.PutRoute(ctx, store.Route{App: "a", Path: "/x", Image: "evil"}, onlyBob); !errors.Is(err, errNotYours) {
		t.Fatalf("put route: %v", err)
	}
	if _, _, err := s.PutRoute(ctx, store.Route{App: "a", Path: "/y", Image: "evil"}, onlyBob); !errors.Is(err, errNotYours) {
		t.Fatalf("put a new route: %v", err)
	}
	if err := s.DeleteRoute(ctx, "a", "/x", onlyBob); !errors.Is(err, errNotYours) {
		t.Fatalf("delete route: %v", err)
	}
	app, err := s.GetApp(ctx, "a")
	r, rerr := s.GetRoute(ctx, "a", "/x")
	if err != nil || rerr != nil || len(app.Config) != 0 || r.Image != "i" {
		t.Fatalf("a refused write changed something: %+v %+v %v %v", app, r, err, rerr)
	}
	if _, err := s.GetRoute(ctx, "a", "/y"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a refused put created a route: %v", err)
	}
	if _, err := s.CreateAPI(ctx, store.API{Name: "api", Owner: "alice", App: "a", Route: "/x", URIs: []string{"/"}}); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteAPI(ctx, "api", onlyBob); !errors.Is(err, errNotYours) {
		t.Fatalf("delete API: %v", err)
	}
	if _, err := s.GetAPI(ctx, "api"); err != nil {
		t.Fatalf("a refused delete removed the API: %v", err)
	}
}

func testAppGuardSeesTheStoredOwner(t *testing.T, s store.Store) {
	ctx := t.Context()
	var seen []string
	guard := func(owner string) error { seen = append(seen, owner); return nil }
	never := func(string) error { return errors.New("a guard of a new app was called") }
	check := func(write string, want ...string) {
		t.Helper()
		if !slices.Equal(seen, want) {
			t.Fatalf("%s: the guard saw owners %q, want %q", write, seen, want)
		}
		seen = nil
	}
	if _, created, err := s.PutApp(ctx, store.App{Name: "a"}, "alice", never); err != nil || !created {
		t.Fatalf("put of a new app is not vetted: created=%v %v", created, err)
	}
	if _, _, err := s.PutApp(ctx, store.App{Name: "a", Config: map[string]string{"K": "v"}}, "bob", guard); err != nil {
		t.Fatal(err)
	}
	check("put app", "alice")
	if _, err := s.CreateRoute(ctx, store.Route{App: "a", Path: "/x", Image: "i"}, guard); err != nil {
		t.Fatal(err)
	}
	check("create route", "alice")
	if _, err := s.UpdateApp(ctx, "a", func(a *store.App) error { a.Owner = "carol"; return nil }); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.PutRoute(ctx, store.Route{App: "a", Path: "/x", Image: "j"}, guard); err != nil {
		t.Fatal(err)
	}
	check("put route after a transfer", "carol")
	if _, err := s.UpdateRoute(ctx, "a", "/x", func(r *store.Route) error { r.Image = "k"; return nil }, guard); err != nil {
		t.Fatal(err)
	}
	check("update route", "carol")
	if err := s.DeleteRoute(ctx, "a", "/x", guard); err != nil {
		t.Fatal(err)
	}
	check("delete route", "carol")
	if err := s.DeleteApp(ctx, "a", guard); err != nil {
		t.Fatal(err)
	}
	check("delete app", "carol")
	if _, err := s.CreateAPI(ctx, store.API{Name: "api", Owner: "dave", App: "a", Route: "/x", URIs: []string{"/"}}); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteAPI(ctx, "api", guard); err != nil {
		t.Fatal(err)
	}
	check("delete API", "dave")
}
