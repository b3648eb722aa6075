package bolt

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/store"
	"github.com/gantry-dev/gantry/store/storetest"
	bolt "go.etcd.io/bbolt"
)

// TestConformance runs the suite every backend passes, each case on a store of its own.
func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return openTest(t, t.TempDir()) })
}

// openTest opens the store under dir without fsync, closed when the test ends.
func openTest(t testing.TB, dir string) *DB {
	t.Helper()
	// What the store logs (records it drops, ...) shows with the test's output.
	s, err := Open(context.Background(), dir, Options{NoSync: true, Logger: slog.New(slog.NewTextHandler(t.Output(), nil))})
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return s
}

func mustApp(t testing.TB, s *DB, name string) {
	t.Helper()
	if _, err := s.CreateApp(context.Background(), store.App{Name: name}); err != nil {
		t.Fatalf("create app %s: %v", name, err)
	}
}

// exec builds a finished execution of app/route with a fresh ID.
func exec(s *DB, app, route, status string) store.Execution {
	now := time.Now().UTC().Truncate(time.Millisecond)
	return store.Execution{ID: s.NewID(), App: app, Route: route, Type: store.TypeSync, Status: status,
		CreatedAt: now, StartedAt: now, CompletedAt: now.Add(25 * time.Millisecond)}
}

func flush(t testing.TB, s *DB) {
	t.Helper()
	if err := s.FlushExecutions(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// countKeys counts the keys of a bucket as committed.
func countKeys(t testing.TB, s *DB, bucket []byte) int {
	t.Helper()
	n := 0
	err := s.db.View(func(tx *bolt.Tx) error {
		n = tx.Bucket(bucket).Stats().KeyN
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// pendingCount is the number of records the writer has not committed.
func pendingCount(s *DB) int {
	n, _ := s.rec.Backlog()
	return n
}

func enqueue(t testing.TB, s *DB, prio uint8) string {
	t.Helper()
	id := s.NewID()
	task := store.Task{ID: id, Route: store.Route{App: "app", Path: "/fn", Image: "img"}, Method: "POST", URL: "/fn", Body: []byte("in"), Priority: prio}
	if err := s.EnqueueTask(context.Background(), task, store.Execution{App: "app", Route: "/fn", Type: store.TypeAsync}); err != nil {
		t.Fatal(err)
	}
	return id
}

func ids(ts []store.Task) []string {
	var out []string
	for _, t := range ts {
		out = append(out, t.ID)
	}
	return out
}
