package storetest

import (
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/store"
)

func scheduleCases() []testCase {
	return []testCase{
		{
			name:   "a schedule is created once by name with an ID, updated and deleted under its guard, and every write sends ChangeSchedule",
			covers: []string{"CreateSchedule", "GetSchedule", "UpdateSchedule", "DeleteSchedule", "Subscribe"},
			run:    testScheduleWrites,
		},
		{
			name:   "schedules are listed in name order, a page at a time, filtered by visibility, and read all at once",
			covers: []string{"ListSchedules", "AllSchedules", "CreateSchedule"},
			run:    testListSchedules,
		},
		{
			name:   "a tick is claimed once, after the last, of the schedule with its ID, and only the claim accepts its call",
			covers: []string{"ClaimTick", "GetSchedule", "GetExecution", "TaskStats", "DeleteSchedule", "CreateSchedule", "Subscribe"},
			run:    testClaimTick,
		},
		{
			name:   "a claim planned from a schedule read before it was disabled or changed loses, writing nothing",
			covers: []string{"ClaimTick", "UpdateSchedule", "GetSchedule", "GetExecution", "CreateSchedule"},
			run:    testClaimTickOfStaleSchedule,
		},
		{
			name:   "of many claims of one tick at once exactly one wins",
			covers: []string{"ClaimTick", "TaskStats", "GetExecution"},
			run:    testClaimTickConcurrently,
		},
		{
			name:   "of many publishes of one event at once exactly one stores it, and distinct events published at once are all stored",
			covers: []string{"PublishEvents", "TaskStats", "ListEvents"},
			run:    testPublishConcurrently,
		},
	}
}

func newSchedule(name, owner string) store.Schedule {
	return store.Schedule{Name: name, Owner: owner, Cron: "*/5 * * * *", Timezone: "Europe/Paris",
		Target: store.ScheduleTarget{Call: &store.ScheduledCall{App: "shop", Path: "/tick", Method: "POST", Body: []byte("hi")}},
		Missed: store.MissedSkip, Enabled: true, NextRun: time.Date(2030, 1, 1, 0, 5, 0, 0, time.UTC)}
}

// tickCall is the call a tick of a schedule accepts.
func tickCall(s store.IDSource) *store.StepCall {
	return &store.StepCall{
		Task:      store.Task{ID: s.NewID(), Route: store.Route{App: "shop", Path: "/tick", Image: "img"}, Method: "POST", URL: "/tick"},
		Execution: store.Execution{App: "shop", Route: "/tick", Type: store.TypeAsync},
	}
}

func testScheduleWrites(t *testing.T, s store.Store) {
	ctx := t.Context()
	var heard changeLog
	defer s.Subscribe(heard.add)()
	change := store.Change{Kind: store.ChangeSchedule, Name: "nightly"}
	wantHeard := func(what string) {
		t.Helper()
		if got := heard.take(); !slices.Contains(got, change) {
			t.Fatalf("%s: heard %+v, want %+v", what, got, change)
		}
	}
	in := newSchedule("nightly", "ann")
	in.ID = "mine"
	created, err := s.CreateSchedule(ctx, in)
	if _, ok := store.ValidID(created.ID); err != nil || !ok || created.CreatedAt.IsZero() || created.UpdatedAt.IsZero() {
		t.Fatalf("create: %+v %v, want an ID from NewID and its times set", created, err)
	}
	wantHeard("create")
	got, err := s.GetSchedule(ctx, "nightly")
	if err != nil || got.ID != created.ID || got.Cron != in.Cron || got.Timezone != in.Timezone || got.Target.Call == nil ||
		string(got.Target.Call.Body) != "hi" || got.Missed != store.MissedSkip || !got.Enabled || !got.NextRun.Equal(in.NextRun) ||
		!got.LastTick.IsZero() || !got.CreatedAt.Equal(created.CreatedAt) {
		t.Fatalf("get: %+v %v, want %+v", got, err, created)
	}
	if _, err := s.CreateSchedule(ctx, newSchedule("nightly", "bob")); !errors.Is(err, store.ErrExists) {
		t.Fatalf("create a taken name: %v, want ErrExists", err)
	}

	onlyBob, seen := guardOf("bob")
	fnErr := errors.New("fn refuses")
	for _, c := range []struct {
		name  string
		fn    func(*store.Schedule) error
		guard store.AppGuard
		want  error
	}{
		{"another owner's guard refuses it", func(s *store.Schedule) error { s.Enabled = false; return nil }, onlyBob, errNotYours},
		{"a rename is refused", func(s *store.Schedule) error { s.Name, s.Enabled = "renamed", false; return nil }, nil, store.ErrInvalid},
		{"a change of ID is refused", func(s *store.Schedule) error { s.ID, s.Enabled = "other", false; return nil }, nil, store.ErrInvalid},
		{"a change of LastTick is refused", func(s *store.Schedule) error { s.LastTick, s.Enabled = time.Now(), false; return nil }, nil, store.ErrInvalid},
		{"fn's error is returned", func(s *store.Schedule) error { s.Enabled = false; return fnErr }, nil, fnErr},
	} {
		if _, err := s.UpdateSchedule(ctx, "nightly", c.fn, c.guard); !errors.Is(err, c.want) {
			t.Fatalf("update where %s: %v, want %v", c.name, err, c.want)
		}
		if got, _ := s.GetSchedule(ctx, "nightly"); !got.Enabled {
			t.Fatalf("update where %s wrote %+v", c.name, got)
		}
	}
	if !slices.Equal(*seen, []string{"ann"}) {
		t.Fatalf("the guard saw owners %v, want the stored owner ann", *seen)
	}
	onlyAnn, _ := guardOf("ann")
	heard.take()
	updated, err := s.UpdateSchedule(ctx, "nightly", func(s *store.Schedule) error {
		s.Enabled, s.NextRun, s.Cron = false, time.Time{}, "@hourly"
		return nil
	}, onlyAnn)
	if err != nil || updated.Enabled || updated.Cron != "@hourly" || !updated.NextRun.IsZero() || updated.ID != created.ID ||
		!updated.CreatedAt.Equal(created.CreatedAt) || updated.UpdatedAt.Before(created.UpdatedAt) {
		t.Fatalf("update: %+v %v", updated, err)
	}
	wantHeard("update")
	if got, _ := s.GetSchedule(ctx, "nightly"); got.Enabled || got.Cron != "@hourly" || !got.UpdatedAt.Equal(updated.UpdatedAt) {
		t.Fatalf("read after update: %+v, want %+v", got, updated)
	}

	if _, err := s.UpdateSchedule(ctx, "nope", func(*store.Schedule) error { return nil }, nil); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("update a missing schedule: %v, want ErrNotFound", err)
	}
	if err := s.DeleteSchedule(ctx, "nope", nil); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("delete a missing schedule: %v, want ErrNotFound", err)
	}
	if err := s.DeleteSchedule(ctx, "nightly", onlyBob); !errors.Is(err, errNotYours) {
		t.Fatalf("delete under another owner's guard: %v, want its error", err)
	}
	heard.take()
	if err := s.DeleteSchedule(ctx, "nightly", onlyAnn); err != nil {
		t.Fatal(err)
	}
	wantHeard("delete")
	if _, err := s.GetSchedule(ctx, "nightly"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("get after delete: %v, want ErrNotFound", err)
	}
	again, err := s.CreateSchedule(ctx, newSchedule("nightly", "bob"))
	if err != nil || again.ID == created.ID {
		t.Fatalf("made again under its name: %+v %v, want a new ID", again, err)
	}
}

func testListSchedules(t *testing.T, s store.Store) {
	ctx := t.Context()
	for i, name := range []string{"c", "a", "e", "b", "d"} {
		if _, err := s.CreateSchedule(ctx, newSchedule(name, []string{"ann", "bob"}[i%2])); err != nil {
			t.Fatal(err)
		}
	}
	pages := func(f store.ScheduleFilter, per int) []string {
		var names []string
		cursor := ""
		for {
			list, next, err := s.ListSchedules(ctx, f, store.Page{Cursor: cursor, Limit: per})
			if err != nil {
				t.Fatal(err)
			}
			checkPageAfterCursor(t, cursor, len(list))
			for _, sc := range list {
				names = append(names, sc.Name)
			}
			if next == "" {
				return names
			}
			if len(list) != per {
				t.Fatalf("a page of %d and a next cursor, want %d", len(list), per)
			}
			cursor = next
		}
	}
	for _, per := range []int{1, 2, 100} {
		if got := pages(store.ScheduleFilter{}, per); !slices.Equal(got, []string{"a", "b", "c", "d", "e"}) {
			t.Fatalf("%d a page: %v, want name order", per, got)
		}
		bobs := store.ScheduleFilter{Visible: func(s store.Schedule) bool { return s.Owner == "bob" }}
		if got := pages(bobs, per); !slices.Equal(got, []string{"a", "b"}) {
			t.Fatalf("%d a page of bob's: %v, want a b", per, got)
		}
	}
	all, err := s.AllSchedules(ctx)
	var names []string
	for _, sc := range all {
		names = append(names, sc.Name)
		if sc.ID == "" || sc.Cron != "*/5 * * * *" {
			t.Fatalf("AllSchedules read %+v", sc)
		}
	}
	slices.Sort(names)
	if err != nil || !slices.Equal(names, []string{"a", "b", "c", "d", "e"}) {
		t.Fatalf("AllSchedules: %v %v", names, err)
	}
}

func testClaimTick(t *testing.T, s store.Store) {
	ctx := t.Context()
	var heard changeLog
	defer s.Subscribe(heard.add)()
	sc, err := s.CreateSchedule(ctx, newSchedule("every", "ann"))
	if err != nil {
		t.Fatal(err)
	}
	tick := time.Date(2030, 1, 1, 0, 5, 0, 0, time.UTC)
	next := tick.Add(5 * time.Minute)
	seen := sc.UpdatedAt
	claim := func(id string, tick time.Time, call *store.StepCall) bool {
		t.Helper()
		ok, err := s.ClaimTick(ctx, id, "every", seen, tick, next, call)
		if err != nil {
			t.Fatalf("claim %s: %v", tick, err)
		}
		return ok
	}
	notAccepted := func(what string, call *store.StepCall) {
		t.Helper()
		if _, err := s.GetExecution(ctx, call.Task.ID); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("%s: its call's execution: %v, want ErrNotFound (nothing written)", what, err)
		}
	}
	heard.take()
	first := tickCall(s)
	if !claim(sc.ID, tick, first) {
		t.Fatal("the first claim of a tick lost")
	}
	got, err := s.GetSchedule(ctx, "every")
	if err != nil || !got.LastTick.Equal(tick) || !got.NextRun.Equal(next) {
		t.Fatalf("after the claim: %+v %v, want LastTick %s and NextRun %s", got, err, tick, next)
	}
	if ex, err := s.GetExecution(ctx, first.Task.ID); err != nil || ex.Status != store.StatusQueued {
		t.Fatalf("the claim's call: %+v %v, want QUEUED", ex, err)
	}
	changes := heard.take()
	for _, want := range []store.Change{{Kind: store.ChangeTask, Name: first.Task.ID}, {Kind: store.ChangeSchedule, Name: "every"}} {
		if !slices.Contains(changes, want) {
			t.Fatalf("heard %+v, want %+v among them", changes, want)
		}
	}

	for _, c := range []struct {
		name string
		id   string
		tick time.Time
	}{
		{"the same tick again", sc.ID, tick},
		{"an earlier tick", sc.ID, tick.Add(-5 * time.Minute)},
		{"a later tick of another schedule ID", s.NewID(), tick.Add(5 * time.Minute)},
	} {
		call := tickCall(s)
		if claim(c.id, c.tick, call) {
			t.Fatalf("a claim of %s won", c.name)
		}
		notAccepted(c.name, call)
	}
	if got, _ := s.GetSchedule(ctx, "every"); !got.LastTick.Equal(tick) {
		t.Fatalf("lost claims moved LastTick to %s", got.LastTick)
	}
	later := tick.Add(5 * time.Minute)
	if !claim(sc.ID, later, nil) {
		t.Fatal("a later tick without a call lost")
	}
	if got, _ := s.GetSchedule(ctx, "every"); !got.LastTick.Equal(later) {
		t.Fatalf("LastTick %s, want %s", got.LastTick, later)
	}
	if st, err := s.TaskStats(ctx); err != nil || st.Queued != 1 {
		t.Fatalf("queue %+v (%v), want only the first claim's call", st, err)
	}

	if err := s.DeleteSchedule(ctx, "every", nil); err != nil {
		t.Fatal(err)
	}
	call := tickCall(s)
	if claim(sc.ID, later.Add(time.Hour), call) {
		t.Fatal("a claim of a deleted schedule won")
	}
	notAccepted("a deleted schedule", call)
	again, err := s.CreateSchedule(ctx, newSchedule("every", "ann"))
	if err != nil {
		t.Fatal(err)
	}
	if claim(sc.ID, later.Add(time.Hour), nil) {
		t.Fatal("a claim with the ID of a schedule since made again won")
	}
	seen = again.UpdatedAt
	if !claim(again.ID, tick, nil) {
		t.Fatal("the schedule made again lost the claim of its first tick")
	}
}

func testClaimTickOfStaleSchedule(t *testing.T, s store.Store) {
	ctx := t.Context()
	tick := time.Date(2030, 1, 1, 0, 5, 0, 0, time.UTC)
	for _, c := range []struct {
		name   string
		change func(*store.Schedule)
	}{
		{"disabled after it was read", func(sc *store.Schedule) { sc.Enabled, sc.NextRun = false, time.Time{} }},
		{"given another cron after it was read", func(sc *store.Schedule) {
			sc.Cron, sc.NextRun = "@hourly", time.Date(2030, 1, 1, 1, 0, 0, 0, time.UTC)
		}},
		{"rewritten unchanged after it was read", func(*store.Schedule) {}},
	} {
		t.Run(c.name, func(t *testing.T) {
			name := "stale-" + s.NewID()
			read, err := s.CreateSchedule(ctx, newSchedule(name, "ann"))
			if err != nil {
				t.Fatal(err)
			}
			changed, err := s.UpdateSchedule(ctx, name, func(sc *store.Schedule) error { c.change(sc); return nil }, nil)
			if err != nil {
				t.Fatal(err)
			}
			call := tickCall(s)
			ok, err := s.ClaimTick(ctx, read.ID, name, read.UpdatedAt, tick, tick.Add(5*time.Minute), call)
			if err != nil || ok {
				t.Fatalf("claim planned from the schedule as read: %v %v, want lost", ok, err)
			}
			if _, err := s.GetExecution(ctx, call.Task.ID); !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("the lost claim's call: %v, want ErrNotFound (nothing written)", err)
			}
			got, err := s.GetSchedule(ctx, name)
			if err != nil || !got.LastTick.IsZero() || !got.NextRun.Equal(changed.NextRun) || !got.UpdatedAt.Equal(changed.UpdatedAt) {
				t.Fatalf("after the lost claim: %+v %v, want LastTick zero and NextRun %s kept", got, err, changed.NextRun)
			}
			if !changed.Enabled {
				return
			}
			if ok, err := s.ClaimTick(ctx, read.ID, name, changed.UpdatedAt, tick, tick.Add(time.Hour), nil); err != nil || !ok {
				t.Fatalf("claim planned from the schedule read again: %v %v, want won", ok, err)
			}
		})
	}
	disabled := newSchedule("off", "ann")
	disabled.Enabled, disabled.NextRun = false, time.Time{}
	off, err := s.CreateSchedule(ctx, disabled)
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := s.ClaimTick(ctx, off.ID, "off", off.UpdatedAt, tick, tick.Add(5*time.Minute), nil); err != nil || ok {
		t.Fatalf("claim of a disabled schedule: %v %v, want lost", ok, err)
	}
}

func testClaimTickConcurrently(t *testing.T, s store.Store) {
	ctx := t.Context()
	sc, err := s.CreateSchedule(ctx, newSchedule("every", "ann"))
	if err != nil {
		t.Fatal(err)
	}
	tick := time.Date(2030, 1, 1, 0, 5, 0, 0, time.UTC)
	winners := claimAtOnce(t, []store.Store{s}, 16, sc, tick)
	if len(winners) != 1 {
		t.Fatalf("%d claims won, want exactly 1", len(winners))
	}
	if ex, err := s.GetExecution(ctx, winners[0]); err != nil || ex.Status != store.StatusQueued {
		t.Fatalf("the winner's call: %+v %v", ex, err)
	}
	if st, err := s.TaskStats(ctx); err != nil || st.Queued != 1 {
		t.Fatalf("queue %+v (%v), want the winner's call only", st, err)
	}
}

// claimAtOnce claims tick of sc (as read) from perStore goroutines on each store at once,
// each with its own call, and returns the calls of the claims that won.
func claimAtOnce(t *testing.T, stores []store.Store, perStore int, sc store.Schedule, tick time.Time) []string {
	t.Helper()
	won := make(chan string, len(stores)*perStore)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for _, s := range stores {
		for range perStore {
			call := tickCall(s)
			wg.Go(func() {
				<-start
				ok, err := s.ClaimTick(t.Context(), sc.ID, sc.Name, sc.UpdatedAt, tick, tick.Add(time.Minute), call)
				if err != nil {
					t.Error(err)
				}
				if ok {
					won <- call.Task.ID
				}
			})
		}
	}
	close(start)
	wg.Wait()
	close(won)
	var out []string
	for id := range won {
		out = append(out, id)
	}
	return out
}

// publishAtOnce publishes ev from perStore goroutines on each store at once, each with a
// delivery of its own, and returns what each got.
func publishAtOnce(t *testing.T, stores []store.Store, perStore int, ev store.Event) []store.Published {
	t.Helper()
	got := make(chan store.Published, len(stores)*perStore)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for _, s := range stores {
		for range perStore {
			d := callDelivery(s, "sub", store.DeadLetterKeep)
			wg.Go(func() {
				<-start
				p, err := s.PublishEvents(t.Context(), []store.EventPublish{{Event: ev, Deliveries: []store.NewDelivery{d}}})
				if err != nil || len(p) != 1 {
					t.Errorf("publish: %v %v", p, err)
					return
				}
				got <- p[0]
			})
		}
	}
	close(start)
	wg.Wait()
	close(got)
	var out []store.Published
	for p := range got {
		out = append(out, p)
	}
	return out
}

// wantOneCreated fails unless exactly one of ps created the event and all name the same
// event and deliveries.
func wantOneCreated(t *testing.T, ps []store.Published) {
	t.Helper()
	created := 0
	for _, p := range ps {
		if p.Created {
			created++
		}
		if p.Event.Key != ps[0].Event.Key || !slices.Equal(deliveryIDs(p.Deliveries), deliveryIDs(ps[0].Deliveries)) || len(p.Deliveries) != 1 {
			t.Fatalf("publishes of one event got %+v and %+v, want the same event and deliveries", p, ps[0])
		}
	}
	if created != 1 {
		t.Fatalf("%d of %d publishes created the event, want exactly 1", created, len(ps))
	}
}

func testPublishConcurrently(t *testing.T, s store.Store) {
	ctx := t.Context()
	wantOneCreated(t, publishAtOnce(t, []store.Store{s}, 16, newEvent("/src", "same", "t")))
	var wg sync.WaitGroup
	const distinct = 24
	for i := range distinct {
		d := callDelivery(s, "sub", store.DeadLetterKeep)
		ev := newEvent("/src", s.NewID(), "t")
		wg.Go(func() {
			if p, err := s.PublishEvents(ctx, []store.EventPublish{{Event: ev, Deliveries: []store.NewDelivery{d}}}); err != nil || !p[0].Created {
				t.Errorf("publish %d: %+v %v", i, p, err)
			}
		})
	}
	wg.Wait()
	if st, err := s.TaskStats(ctx); err != nil || st.Queued != distinct+1 {
		t.Fatalf("queue %+v (%v), want %d calls", st, err, distinct+1)
	}
	if evs, _, err := s.ListEvents(ctx, store.EventFilter{}, store.Page{Limit: 100}); err != nil || len(evs) != distinct+1 {
		t.Fatalf("%d events listed (%v), want %d", len(evs), err, distinct+1)
	}
}
