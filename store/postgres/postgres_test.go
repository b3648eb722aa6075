package postgres

import (
	"context"
	"log/slog"
	"testing"

	"github.com/gantry-dev/gantry/internal/pgtest"
	"github.com/gantry-dev/gantry/store"
	"github.com/gantry-dev/gantry/store/storetest"
)

// TestConformance runs the suite every backend passes, each case on a schema of its own.
func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return openTest(t, pgtest.Schema(t), "node-a") })
}

// openTest opens the store at url as node, closed when the test ends (a case may have
// closed it already: a second Close returns nil).
func openTest(t testing.TB, url, node string) *DB {
	t.Helper()
	// What the store logs (records it drops, reconnections, ...) shows with the test's output.
	s, err := Open(context.Background(), url, Options{Node: node, Logger: slog.New(slog.NewTextHandler(t.Output(), nil))})
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
