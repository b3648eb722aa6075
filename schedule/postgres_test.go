package schedule

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/pgtest"
	"github.com/gantry-dev/gantry/store/postgres"
)

// Two nodes on one PostgreSQL database: each a store of its own (its change feed through
// LISTEN/NOTIFY), its own invocation service and scheduler. Without GANTRY_TEST_POSTGRES
// these skip, except under CI=true (pgtest).

// openPostgres opens the store at url as node, closed when the test ends.
func openPostgres(t *testing.T, url, node string) *postgres.DB {
	t.Helper()
	db, err := postgres.Open(context.Background(), url, postgres.Options{Node: node, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func TestTwoNodesOnPostgreSQLFireEachTickOnce(t *testing.T) {
	dsn := pgtest.Schema(t)
	a := newFixtureOn(t, openPostgres(t, dsn, "node-a"), true)
	b := newFixtureOn(t, openPostgres(t, dsn, "node-b"), false)
	a.create(everyMinute("minutely", ""), t0.Add(-time.Second))
	now := t0.Add(-time.Second)
	sa, sb := a.scheduler(&now), b.scheduler(&now)
	for i := range 10 {
		a.fire(sa, now) // both read the schedule: its tick i is next
		b.fire(sb, now)
		now = t0.Add(time.Duration(i)*time.Minute + 100*time.Millisecond)
		var wg sync.WaitGroup
		for _, s := range []*Scheduler{sa, sb} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				s.fireDue(t.Context(), now) // at once, on both nodes
			}()
		}
		wg.Wait()
	}
	got := a.queued()
	if len(got) != 10 {
		t.Fatalf("%d ticks fired, want 10: %v", len(got), keys(got))
	}
	for i := range 10 {
		if tick := rfc(t0.Add(time.Duration(i) * time.Minute)); len(got[tick]) != 1 {
			t.Errorf("tick %s fired %d times, want once", tick, len(got[tick]))
		}
	}
}

// TestTwoNodesOnPostgreSQLEverySecond runs both nodes' schedulers on the real clock, each
// following the store's feed: an @every 1s schedule fires each tick once, on time.
func TestTwoNodesOnPostgreSQLEverySecond(t *testing.T) {
	dsn := pgtest.Schema(t)
	a := newFixtureOn(t, openPostgres(t, dsn, "node-a"), true)
	b := newFixtureOn(t, openPostgres(t, dsn, "node-b"), false)
	fast := everyMinute("fast", "")
	fast.Cron = "@every 1s"
	a.create(fast, time.Now())
	sa, sb := a.scheduler(nil), b.scheduler(nil)
	sa.Start(t.Context())
	sb.Start(t.Context())
	time.Sleep(4500 * time.Millisecond)
	sa.Stop()
	sb.Stop()
	a.checkEverySecond("fast", 3)
}
