package storetest

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/gantry-dev/gantry/store"
)

func functionCases() []testCase {
	return []testCase{
		{
			name:   "the routes of every app are listed in app then path order, a page at a time, filtered by their app's owner",
			covers: []string{"ListAllRoutes", "CreateApp", "CreateRoute", "UpdateApp", "CreateImage"},
			run:    testListAllRoutes,
		},
	}
}

func testListAllRoutes(t *testing.T, s store.Store) {
	ctx := t.Context()
	if list, next, err := s.ListAllRoutes(ctx, store.RouteFilter{}, store.Page{}); err != nil || len(list) != 0 || next != "" {
		t.Fatalf("routes of an empty store: %+v %q %v", list, next, err)
	}
	// "a" and "a-b" are apps whose names share a prefix: "a"'s routes come first.
	for _, a := range []struct{ name, owner string }{{"b", "ann"}, {"a-b", "bob"}, {"a", "ann"}, {"c", "bob"}, {"empty", "ann"}, {"d", ""}} {
		mustApp(t, s, a.name, a.owner)
	}
	mustImage(t, s, "img", "ann", store.ImageKindFunction, "")
	for _, r := range []string{"b/z", "a-b/x", "a/y", "b/a", "a/b/c", "c/q", "a/b", "d/n", "b/:id"} {
		app, path, _ := strings.Cut(r, "/")
		if _, err := s.CreateRoute(ctx, store.Route{App: app, Path: "/" + path, Image: "@img"}, nil); err != nil {
			t.Fatal(err)
		}
	}
	pages := func(f store.RouteFilter, per int) []string {
		var got []string
		cursor := ""
		for {
			list, next, err := s.ListAllRoutes(ctx, f, store.Page{Cursor: cursor, Limit: per})
			if err != nil {
				t.Fatal(err)
			}
			checkPageAfterCursor(t, cursor, len(list))
			for _, r := range list {
				if r.Image != "@img" || r.MemoryMiB != store.DefaultMemoryMiB {
					t.Fatalf("listed route %+v, want it as stored", r)
				}
				got = append(got, r.App+r.Path)
			}
			if next == "" {
				return got
			}
			if len(list) != per {
				t.Fatalf("a page of %d and a next cursor, want %d", len(list), per)
			}
			cursor = next
		}
	}
	for _, per := range []int{1, 2, 3, 100} {
		for _, c := range []struct {
			owner string
			want  []string
		}{
			{"", []string{"a/b", "a/b/c", "a/y", "a-b/x", "b/:id", "b/a", "b/z", "c/q", "d/n"}},
			{"ann", []string{"a/b", "a/b/c", "a/y", "b/:id", "b/a", "b/z"}},
			{"bob", []string{"a-b/x", "c/q"}},
			{"carol", nil},
		} {
			if got := pages(store.RouteFilter{Owner: c.owner}, per); !slices.Equal(got, c.want) {
				t.Fatalf("%d a page, owner %q: %v, want %v", per, c.owner, got, c.want)
			}
		}
	}
	// The owner is the app's as stored now.
	if _, err := s.UpdateApp(ctx, "c", func(a *store.App) error { a.Owner = "ann"; return nil }); err != nil {
		t.Fatal(err)
	}
	if got := pages(store.RouteFilter{Owner: "bob"}, 10); !slices.Equal(got, []string{"a-b/x"}) {
		t.Fatalf("bob's routes after app c was given to ann: %v", got)
	}
	if _, _, err := s.ListAllRoutes(ctx, store.RouteFilter{}, store.Page{Cursor: "not a cursor!"}); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("a cursor the store never gave: %v, want ErrInvalid", err)
	}
}
