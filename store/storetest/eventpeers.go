package storetest

import (
	"testing"
	"time"

	"github.com/gantry-dev/gantry/store"
)

// testPeersClaimTicksOnce: nodes that claim one tick at once fire it once between them,
// and a claim on one node reaches the other's scheduler; an event published on both nodes
// at once is stored once.
func testPeersClaimTicksOnce(t *testing.T, a, b store.Store) {
	ctx := t.Context()
	var heard changeLog
	defer b.Subscribe(heard.add)()
	sc, err := a.CreateSchedule(ctx, newSchedule("every", "ann"))
	if err != nil {
		t.Fatal(err)
	}
	heard.hears(t, store.Change{Kind: store.ChangeSchedule, Name: "every"})
	for i := range 3 {
		tick := time.Date(2030, 1, 1, 0, i, 0, 0, time.UTC)
		winners := claimAtOnce(t, []store.Store{a, b}, 6, sc, tick)
		if len(winners) != 1 {
			t.Fatalf("tick %s: %d claims won across the two nodes, want exactly 1", tick, len(winners))
		}
		heard.hears(t, store.Change{Kind: store.ChangeTask, Name: winners[0]})
	}
	if st, err := b.TaskStats(ctx); err != nil || st.Queued != 3 {
		t.Fatalf("queue %+v (%v), want one call per tick", st, err)
	}
	if got, err := b.GetSchedule(ctx, "every"); err != nil || !got.LastTick.Equal(time.Date(2030, 1, 1, 0, 2, 0, 0, time.UTC)) {
		t.Fatalf("node b reads %+v (%v), want the last tick claimed", got, err)
	}

	wantOneCreated(t, publishAtOnce(t, []store.Store{a, b}, 6, newEvent("/src", "both", "t")))
	if st, err := a.TaskStats(ctx); err != nil || st.Queued != 4 {
		t.Fatalf("queue %+v (%v), want one more call: the event's one delivery", st, err)
	}
}
