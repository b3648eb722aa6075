package postgres

import (
	"errors"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/pgtest"
	"github.com/gantry-dev/gantry/store"
)

// TestAnOutageLosesNoSyncRecordAndEndsAsItCame: while the database is unreachable, writes
// and reads fail with ErrUnavailable, sync records stay pending and readable, and once
// the database is back they are stored and the store works again, by itself.
func TestAnOutageLosesNoSyncRecordAndEndsAsItCame(t *testing.T) {
	p := pgtest.NewProxy(t, pgtest.Schema(t))
	s := openTest(t, p.URL(), "node-a")
	ctx := t.Context()
	if _, err := s.CreateApp(ctx, store.App{Name: "before"}); err != nil {
		t.Fatal(err)
	}
	p.Cut()
	if _, err := s.CreateApp(ctx, store.App{Name: "during"}); !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("a write during the outage: %v, want ErrUnavailable", err)
	}
	if _, err := s.GetApp(ctx, "before"); !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("a read during the outage: %v, want ErrUnavailable", err)
	}
	var ids []string
	for range 20 {
		ex := store.Execution{ID: s.NewID(), App: "before", Route: "/fn", Type: store.TypeSync, Status: store.StatusSuccess, Node: "node-a"}
		s.RecordExecution(ex, []byte("log"))
		ids = append(ids, ex.ID)
	}
	time.Sleep(500 * time.Millisecond) // several writes fail meanwhile
	if ex, err := s.GetExecution(ctx, ids[0]); err != nil || ex.Status != store.StatusSuccess {
		t.Fatalf("a record made during the outage, read from the pending ones: %+v %v", ex, err)
	}
	p.Restore()
	deadline := time.Now().Add(20 * time.Second)
	for {
		err := s.FlushExecutions(ctx)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the store did not recover within 20s: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	other := openTest(t, p.URL(), "node-b") // reads the database, not node-a's pending records
	for _, id := range ids {
		if ex, err := other.GetExecution(ctx, id); err != nil || ex.Status != store.StatusSuccess {
			t.Fatalf("record %s after the outage: %+v %v", id, ex, err)
		}
		if log, err := other.GetExecutionLog(ctx, id); err != nil || string(log) != "log" {
			t.Fatalf("log of %s after the outage: %q %v", id, log, err)
		}
	}
	if _, err := s.CreateApp(ctx, store.App{Name: "after"}); err != nil {
		t.Fatalf("a write after the outage: %v", err)
	}
}
