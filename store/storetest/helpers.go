package storetest

import (
	"slices"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/store"
)

// mustApp creates an app of owner ("" for none).
func mustApp(t *testing.T, s store.Store, name, owner string) store.App {
	t.Helper()
	a, err := s.CreateApp(t.Context(), store.App{Name: name, Owner: owner})
	if err != nil {
		t.Fatalf("create app %s: %v", name, err)
	}
	return a
}

// mustRoute creates a route of an existing app.
func mustRoute(t *testing.T, s store.Store, app, path string) store.Route {
	t.Helper()
	r, err := s.CreateRoute(t.Context(), store.Route{App: app, Path: path, Image: "img"}, nil)
	if err != nil {
		t.Fatalf("create route %s%s: %v", app, path, err)
	}
	return r
}

// newExec builds an execution of app/route with a fresh ID, ended now when status is final.
func newExec(s store.IDSource, app, route, status string) store.Execution {
	now := time.Now().UTC().Truncate(time.Millisecond)
	return store.Execution{ID: s.NewID(), App: app, Route: route, Type: store.TypeSync, Status: status,
		CreatedAt: now, StartedAt: now, CompletedAt: now.Add(25 * time.Millisecond)}
}

func flush(t *testing.T, s store.Store) {
	t.Helper()
	if err := s.FlushExecutions(t.Context()); err != nil {
		t.Fatal(err)
	}
}

// listAll follows next cursors and fails on a duplicate or a short page before the last.
func listAll(t *testing.T, s store.Store, f store.ExecutionFilter, perPage int) ([]string, int) {
	t.Helper()
	var ids []string
	seen := map[string]bool{}
	cursor, pages := "", 0
	for {
		list, next, err := s.ListExecutions(t.Context(), f, store.Page{Cursor: cursor, Limit: perPage})
		if err != nil {
			t.Fatal(err)
		}
		checkPageAfterCursor(t, cursor, len(list))
		pages++
		for _, ex := range list {
			if seen[ex.ID] {
				t.Fatalf("execution %s listed twice", ex.ID)
			}
			seen[ex.ID] = true
			ids = append(ids, ex.ID)
		}
		if next == "" {
			return ids, pages
		}
		if len(list) != perPage {
			t.Fatalf("page %d has %d items and a next cursor, want %d", pages, len(list), perPage)
		}
		cursor = next
	}
}

func reversed(ids []string) []string {
	out := slices.Clone(ids)
	slices.Reverse(out)
	return out
}

// enqueue accepts an async call of app/fn at priority prio and returns its ID.
func enqueue(t *testing.T, s store.Store, prio uint8) string {
	t.Helper()
	return enqueueWith(t, s, prio, func(*store.Task) {})
}

// enqueueWith accepts an async call of app/fn at priority prio, as edit leaves it, and
// returns its ID.
func enqueueWith(t *testing.T, s store.Store, prio uint8, edit func(*store.Task)) string {
	t.Helper()
	id := s.NewID()
	task := store.Task{ID: id, Route: store.Route{App: "app", Path: "/fn", Image: "img"}, Method: "POST", URL: "/fn", Body: []byte("in"), Priority: prio}
	edit(&task)
	if err := s.EnqueueTask(t.Context(), task, store.Execution{App: "app", Route: "/fn", Type: store.TypeAsync}); err != nil {
		t.Fatal(err)
	}
	return id
}

func taskIDs(ts []store.Task) []string {
	var out []string
	for _, t := range ts {
		out = append(out, t.ID)
	}
	return out
}

// statusOf reads an execution's status ("" and the error when it cannot be read).
func statusOf(t *testing.T, s store.Store, id string) string {
	t.Helper()
	ex, err := s.GetExecution(t.Context(), id)
	if err != nil {
		return ""
	}
	return ex.Status
}

// checkPageAfterCursor fails a walk over a list's pages when the page read with a next
// cursor (cursor, "" for the first page) has no items (n): a store gives a next cursor
// only when at least one more item follows, never one that leads to an empty page.
func checkPageAfterCursor(t *testing.T, cursor string, n int) {
	t.Helper()
	if cursor != "" && n == 0 {
		t.Fatalf("the next cursor %q led to an empty page: a cursor is given only when more items follow", cursor)
	}
}
