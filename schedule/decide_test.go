package schedule

import (
	"testing"
	"time"

	"github.com/gantry-dev/gantry/store"
)

// TestDecide plans the claims of a schedule at fake times: on time, late within the
// grace, missed under either policy.
func TestDecide(t *testing.T) {
	base := time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)
	cases := []struct {
		name     string
		cron     string
		missed   string
		nextRun  time.Time
		lastTick time.Time
		now      time.Time
		want     tickPlan
	}{
		{name: "a tick not due yet is waited for", cron: "@every 1m", nextRun: base, now: base.Add(-time.Second),
			want: tickPlan{tick: base}},
		{name: "a tick due now fires", cron: "@every 1m", nextRun: base, now: base,
			want: tickPlan{tick: base, next: base.Add(time.Minute), fire: true}},
		{name: "a tick late within the grace fires", cron: "@every 1m", nextRun: base, now: base.Add(4 * time.Second),
			want: tickPlan{tick: base, next: base.Add(time.Minute), fire: true}},
		{name: "a tick late past the grace is skipped", cron: "@every 1m", nextRun: base, now: base.Add(5 * time.Second),
			want: tickPlan{tick: base, next: base.Add(time.Minute)}},
		{name: "a tick late past the grace fires under run_once", cron: "@every 1m", missed: store.MissedRunOnce, nextRun: base, now: base.Add(5 * time.Second),
			want: tickPlan{tick: base, next: base.Add(time.Minute), fire: true}},
		{name: "a one-second tick late by a second is missed, the grace being longer than its period", cron: "@every 1s", nextRun: base, now: base.Add(time.Second),
			want: tickPlan{tick: base.Add(time.Second), next: base.Add(2 * time.Second), fire: true}},
		{name: "a one-second tick late by a second and a half: the latest is on time", cron: "@every 1s", nextRun: base, now: base.Add(1500 * time.Millisecond),
			want: tickPlan{tick: base.Add(time.Second), next: base.Add(2 * time.Second), fire: true}},
		{name: "many missed ticks are skipped for the latest, claimed without firing", cron: "@every 1m", nextRun: base, now: base.Add(10*time.Minute + 30*time.Second),
			want: tickPlan{tick: base.Add(10 * time.Minute), next: base.Add(11 * time.Minute)}},
		{name: "run_once fires the latest of many missed ticks", cron: "@every 1m", missed: store.MissedRunOnce, nextRun: base, now: base.Add(10*time.Minute + 30*time.Second),
			want: tickPlan{tick: base.Add(10 * time.Minute), next: base.Add(11 * time.Minute), fire: true}},
		{name: "skip fires the latest tick when it is on time, skipping those before it", cron: "@every 1m", nextRun: base, now: base.Add(10*time.Minute + time.Second),
			want: tickPlan{tick: base.Add(10 * time.Minute), next: base.Add(11 * time.Minute), fire: true}},
		{name: "run_once fires the latest missed tick before the one on time", cron: "@every 1m", missed: store.MissedRunOnce, nextRun: base, now: base.Add(10*time.Minute + time.Second),
			want: tickPlan{tick: base.Add(9 * time.Minute), next: base.Add(10 * time.Minute), fire: true}},
		{name: "a year of missed daily ticks finds the latest", cron: "0 3 * * *", nextRun: base.Add(17 * time.Hour), now: base.AddDate(1, 0, 0),
			want: tickPlan{tick: time.Date(2027, 5, 1, 3, 0, 0, 0, time.UTC), next: time.Date(2027, 5, 2, 3, 0, 0, 0, time.UTC)}},
		{name: "a next run at or before the last tick goes on from the last tick", cron: "@every 1m", nextRun: base, lastTick: base.Add(time.Minute), now: base.Add(90 * time.Second),
			want: tickPlan{tick: base.Add(2 * time.Minute)}},
	}
	s := New(nil, nil, nil, nil, Options{})
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := parseClock(tc.cron, "")
			if err != nil {
				t.Fatal(err)
			}
			missed := tc.missed
			if missed == "" {
				missed = store.MissedSkip
			}
			sc := store.Schedule{Name: "s", Cron: tc.cron, Missed: missed, Enabled: true, NextRun: tc.nextRun, LastTick: tc.lastTick}
			got, ok := s.decide(c, sc, tc.now)
			if !ok {
				t.Fatal("decide found no tick to come")
			}
			if !got.tick.Equal(tc.want.tick) || !got.next.Equal(tc.want.next) || got.fire != tc.want.fire {
				t.Fatalf("plan = {tick %s next %s fire %v}, want {tick %s next %s fire %v}", got.tick, got.next, got.fire, tc.want.tick, tc.want.next, tc.want.fire)
			}
		})
	}
}
