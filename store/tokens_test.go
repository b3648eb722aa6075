package store

import (
	"context"
	"errors"
	"fmt"
	"testing"
)

func TestTokensStoreListAndDelete(t *testing.T) {
	s := openTest(t, t.TempDir())
	ctx := context.Background()
	var ids []string
	for i := range 7 {
		user := []string{"alice", "bob"}[i%2]
		tk, err := s.CreateToken(ctx, Token{ID: s.NewID(), Name: fmt.Sprint("t", i), User: user, Role: "developer", Hash: []byte{1}})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, tk.ID)
	}
	if _, err := s.CreateToken(ctx, Token{ID: ids[0], Name: "dup", User: "x", Role: "admin", Hash: []byte{1}}); !errors.Is(err, ErrExists) {
		t.Fatalf("duplicate id: %v", err)
	}
	for name, bad := range map[string]Token{
		"no name":  {ID: s.NewID(), User: "u", Role: "admin", Hash: []byte{1}},
		"bad user": {ID: s.NewID(), Name: "n", User: "a b", Role: "admin", Hash: []byte{1}},
		"no role":  {ID: s.NewID(), Name: "n", User: "u", Hash: []byte{1}},
		"no hash":  {ID: s.NewID(), Name: "n", User: "u", Role: "admin"},
	} {
		if _, err := s.CreateToken(ctx, bad); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v", name, err)
		}
	}
	// Newest first, in pages, filtered by user.
	var got []string
	cursor := ""
	for {
		page, next, err := s.ListTokens(ctx, TokenFilter{User: "alice"}, Page{Limit: 3, Cursor: cursor})
		if err != nil {
			t.Fatal(err)
		}
		for _, tk := range page {
			got = append(got, tk.ID)
		}
		if next == "" {
			break
		}
		cursor = next
	}
	want := []string{ids[6], ids[4], ids[2], ids[0]}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("alice's tokens %v, want %v", got, want)
	}
	all, next, err := s.ListTokens(ctx, TokenFilter{}, Page{})
	if err != nil || len(all) != 7 || next != "" || all[0].ID != ids[6] {
		t.Fatalf("all tokens: %d %q %v", len(all), next, err)
	}
	if _, _, err := s.ListTokens(ctx, TokenFilter{}, Page{Cursor: "!!"}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("bad cursor: %v", err)
	}
	if _, err := s.DeleteToken(ctx, ids[0]); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetToken(ctx, ids[0]); !errors.Is(err, ErrNotFound) {
		t.Fatalf("deleted token: %v", err)
	}
	if _, err := s.DeleteToken(ctx, ids[0]); !errors.Is(err, ErrNotFound) {
		t.Fatalf("delete twice: %v", err)
	}
}

func TestBootstrapTokenOnce(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(context.Background(), dir, Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if done, err := s.Bootstrapped(ctx); err != nil || done {
		t.Fatalf("fresh store bootstrapped: %v %v", done, err)
	}
	if err := s.BootstrapToken(ctx, Token{ID: s.NewID(), Name: "first", User: "admin", Role: "admin", Hash: []byte{1}}); err != nil {
		t.Fatal(err)
	}
	if err := s.BootstrapToken(ctx, Token{ID: s.NewID(), Name: "again", User: "admin", Role: "admin", Hash: []byte{1}}); !errors.Is(err, ErrExists) {
		t.Fatalf("second bootstrap: %v", err)
	}
	s.Close()
	s, err = Open(context.Background(), dir, Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if done, err := s.Bootstrapped(ctx); err != nil || !done {
		t.Fatalf("bootstrap forgotten after reopen: %v %v", done, err)
	}
}

func TestAppOwnership(t *testing.T) {
	s := openTest(t, t.TempDir())
	ctx := context.Background()
	for _, a := range []App{{Name: "a1", Owner: "alice"}, {Name: "a2", Owner: "alice"}, {Name: "b1", Owner: "bob"}, {Name: "old"}} {
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
	if _, err := s.AppOwner("nope"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("owner of a missing app: %v", err)
	}
	list, _, err := s.ListApps(ctx, AppFilter{Owner: "alice"}, Page{})
	if err != nil || len(list) != 2 {
		t.Fatalf("list alice's: %v %v", list, err)
	}
	// PUT keeps the owner unless one is given; a new app belongs to its creator.
	if app, _, err := s.PutApp(ctx, App{Name: "a1", Config: map[string]string{"K": "v"}}, "mallory", nil); err != nil || app.Owner != "alice" {
		t.Fatalf("put kept owner: %+v %v", app, err)
	}
	if app, created, err := s.PutApp(ctx, App{Name: "new"}, "carol", nil); err != nil || !created || app.Owner != "carol" {
		t.Fatalf("put created: %+v %v", app, err)
	}
	if _, err := s.UpdateApp(ctx, "a1", func(a *App) error { a.Owner = "bob"; return nil }); err != nil {
		t.Fatal(err)
	}
	if owner, _ := s.AppOwner("a1"); owner != "bob" || s.AppsOwnedBy("bob")["a1"] == "" {
		t.Fatalf("transfer not in the index: %q", owner)
	}
	// Executions filtered by the apps a developer owns.
	ex := func(app string) Execution {
		e := exec(s, app, "/x", StatusSuccess)
		e.AppID, _ = s.AppID(app)
		s.RecordExecution(e, nil)
		return e
	}
	ex("a1")
	ex("a2")
	ex("b1")
	got, _, err := s.ListExecutions(ctx, ExecutionFilter{Apps: s.AppsOwnedBy("bob")}, Page{})
	if err != nil || len(got) != 2 {
		t.Fatalf("bob's executions: %d %v", len(got), err)
	}
	got, _, err = s.ListExecutions(ctx, ExecutionFilter{Apps: map[string]string{}}, Page{})
	if err != nil || len(got) != 0 {
		t.Fatalf("no apps, executions: %d %v", len(got), err)
	}
	// An app deleted and made again under the same name is another app: the executions of
	// the first are not the second's.
	if err := s.DeleteApp(ctx, "b1", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateApp(ctx, App{Name: "b1", Owner: "mallory"}); err != nil {
		t.Fatal(err)
	}
	got, _, err = s.ListExecutions(ctx, ExecutionFilter{Apps: s.AppsOwnedBy("mallory")}, Page{})
	if err != nil || len(got) != 0 {
		t.Fatalf("the new b1's owner sees %d executions of the old b1 (%v)", len(got), err)
	}
}

func TestAppGuardRunsInTheWrite(t *testing.T) {
	s := openTest(t, t.TempDir())
	ctx := context.Background()
	if _, err := s.CreateApp(ctx, App{Name: "a", Owner: "alice"}); err != nil {
		t.Fatal(err)
	}
	errNotYours := errors.New("not yours")
	onlyBob := func(owner string) error {
		if owner != "bob" {
			return errNotYours
		}
		return nil
	}
	if _, err := s.CreateRoute(ctx, Route{App: "a", Path: "/x", Image: "i"}, onlyBob); !errors.Is(err, errNotYours) {
		t.Fatalf("create route: %v", err)
	}
	if _, _, err := s.PutApp(ctx, App{Name: "a", Config: map[string]string{"K": "bob"}}, "bob", onlyBob); !errors.Is(err, errNotYours) {
		t.Fatalf("put app: %v", err)
	}
	if err := s.DeleteApp(ctx, "a", onlyBob); !errors.Is(err, errNotYours) {
		t.Fatalf("delete app: %v", err)
	}
	if _, err := s.CreateRoute(ctx, Route{App: "a", Path: "/x", Image: "i"}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := s.UpdateRoute(ctx, "a", "/x", func(r *Route) error { r.Image = "evil"; return nil }, onlyBob); !errors.Is(err, errNotYours) {
		t.Fatalf("update route: %v", err)
	}
	if err := s.DeleteRoute(ctx, "a", "/x", onlyBob); !errors.Is(err, errNotYours) {
		t.Fatalf("delete route: %v", err)
	}
	app, err := s.GetApp(ctx, "a")
	r, rerr := s.GetRoute(ctx, "a", "/x")
	if err != nil || rerr != nil || len(app.Config) != 0 || r.Image != "i" {
		t.Fatalf("a refused write changed something: %+v %+v %v %v", app, r, err, rerr)
	}
}

func TestDeleteTokenTakesItsDescendants(t *testing.T) {
	s := openTest(t, t.TempDir())
	ctx := context.Background()
	mk := func(parent string) string {
		tk, err := s.CreateToken(ctx, Token{ID: s.NewID(), Name: "t", User: "u", Role: "developer", Hash: []byte{1}, ParentID: parent})
		if err != nil {
			t.Fatal(err)
		}
		return tk.ID
	}
	root := mk("")
	child := mk(root)
	grandchild := mk(child)
	other := mk("")
	otherChild := mk(other)
	if n, err := s.DeleteToken(ctx, child); err != nil || n != 2 {
		t.Fatalf("delete child: %d %v, want 2 (it and its child)", n, err)
	}
	for id, want := range map[string]bool{root: true, child: false, grandchild: false, other: true, otherChild: true} {
		_, err := s.GetToken(ctx, id)
		if (err == nil) != want {
			t.Errorf("token %s present = %v, want %v", id, err == nil, want)
		}
	}
}

func TestRouteByPathOfAnOwner(t *testing.T) {
	s := openTest(t, t.TempDir())
	ctx := context.Background()
	if _, err := s.CreateApp(ctx, App{Name: "a", Owner: "alice"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateRoute(ctx, Route{App: "a", Path: "/users/:id", Image: "i"}, nil); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		path, owner string
		found       bool
	}{
		{"/users/:id", "", true},
		{"/users/:id", "alice", true},
		{"/users/:id", "bob", false}, // another owner's app is not found
		{"/users/:name", "", false},  // the same shape, but not the registered path
		{"/users/42", "", false},     // a request path, not a route's
	} {
		_, err := s.RouteByPath("a", c.path, c.owner)
		if (err == nil) != c.found || err != nil && !errors.Is(err, ErrNotFound) {
			t.Errorf("RouteByPath(a, %s, %q): %v, want found=%v", c.path, c.owner, err, c.found)
		}
	}
}
