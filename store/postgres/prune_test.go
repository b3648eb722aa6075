package postgres

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/pgtest"
	"github.com/gantry-dev/gantry/store"
)

func execOf(s *DB, route, status string) store.Execution {
	now := time.Now().UTC().Truncate(time.Millisecond)
	return store.Execution{ID: s.NewID(), App: "app", Route: route, Type: store.TypeSync, Status: status, CreatedAt: now}
}

func countExecutions(t *testing.T, s *DB, route string) int {
	t.Helper()
	var n int
	if err := s.pool.QueryRow(t.Context(), "SELECT count(*) FROM executions WHERE route = $1", route).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestPruneDeletesMoreThanAChunk(t *testing.T) {
	s := openTest(t, pgtest.Schema(t), "n")
	const total, keep = 2*pruneChunk + 500, 10
	for range total {
		s.RecordExecution(execOf(s, "/x", store.StatusSuccess), []byte("log"))
	}
	if err := s.FlushExecutions(t.Context()); err != nil {
		t.Fatal(err)
	}
	n, err := s.PruneExecutions(t.Context(), keep)
	if err != nil || n != total-keep {
		t.Fatalf("deleted %d (%v), want %d in chunks of %d", n, err, total-keep, pruneChunk)
	}
	if got := countExecutions(t, s, "/x"); got != keep {
		t.Fatalf("%d executions left, want %d", got, keep)
	}
}

func TestTheBackgroundPrunerKeepsTheNewest(t *testing.T) {
	s, err := Open(context.Background(), pgtest.Schema(t), Options{Node: "n", KeepExecutionsPerRoute: 2, PruneInterval: 50 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(t.Output(), nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for range 5 {
		s.RecordExecution(execOf(s, "/x", store.StatusFailed), nil)
	}
	if err := s.FlushExecutions(t.Context()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "the pruner keeps 2 executions of /x", func() bool { return countExecutions(t, s, "/x") == 2 })
}
