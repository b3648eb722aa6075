package schedule

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/invoke"
	"github.com/gantry-dev/gantry/runner"
	"github.com/gantry-dev/gantry/store"
	"github.com/gantry-dev/gantry/store/bolt"
	"github.com/gantry-dev/gantry/workflow"
)

// The scheduler's tests run over a real bbolt store in t.TempDir(), the real invocation
// service (ScheduledCall) and workflow engine, with a clock the test sets: a fire is
// proved by what it leaves in the store (a queued task and its execution, an event, a
// run), so no function runs and no Docker daemon is needed.

// idleRunner is the runner of an invocation service whose calls never run here: no
// worker is started, and the tasks stay in the queue for the test to read.
type idleRunner struct{}

func (idleRunner) Run(context.Context, *runner.Call) (*runner.Result, error) {
	return nil, errors.New("no call runs in the scheduler's tests")
}
func (idleRunner) NetworkAllowed(string, string) error       { return nil }
func (idleRunner) EnsureImage(context.Context, string) error { return nil }
func (idleRunner) DrainRoute(string, string)                 {}
func (idleRunner) DrainApp(string)                           {}
func (idleRunner) HotContainers() int                        { return 0 }
func (idleRunner) HotRoutes() []runner.HotRoute              { return nil }

// storePublisher publishes events straight into the store, with no subscriptions to
// deliver them to: the events service's Publish less its matching.
type storePublisher struct{ db store.Events }

func (p storePublisher) Publish(ctx context.Context, evs []store.Event) ([]store.Published, error) {
	pubs := make([]store.EventPublish, len(evs))
	for i, e := range evs {
		pubs[i] = store.EventPublish{Event: e}
	}
	return p.db.PublishEvents(ctx, pubs)
}

// fixture is a store with app shop (owner ada) and its route /hook, the services over it,
// and the tasks read from its queue so far.
type fixture struct {
	t     *testing.T
	db    store.Store
	calls *invoke.Service
	flows *workflow.Engine

	mu    sync.Mutex
	tasks []store.Task // leased once each by queued, in the order they were read
}

// newFixture is a fixture over a bbolt store in t.TempDir().
func newFixture(t *testing.T) *fixture {
	t.Helper()
	db, err := bolt.Open(t.Context(), t.TempDir(), bolt.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return newFixtureOn(t, db, true)
}

// newFixtureOn is a fixture over db, a node of it: with seed, it makes app shop and its
// route /hook.
func newFixtureOn(t *testing.T, db store.Store, seed bool) *fixture {
	t.Helper()
	if seed {
		if _, err := db.CreateApp(t.Context(), store.App{Name: "shop", Owner: "ada"}); err != nil {
			t.Fatal(err)
		}
		if _, err := db.CreateRoute(t.Context(), store.Route{App: "shop", Path: "/hook", Image: "img"}, nil); err != nil {
			t.Fatal(err)
		}
	}
	calls := invoke.New(db, idleRunner{}, invoke.Options{Node: db.InstanceID()})
	return &fixture{t: t, db: db, calls: calls, flows: workflow.New(db, calls, workflow.Options{})}
}

// scheduler is a scheduler over the fixture's store whose clock reads *now (nil: the
// real clock).
func (f *fixture) scheduler(now *time.Time) *Scheduler {
	opts := Options{}
	if now != nil {
		opts.Now = func() time.Time { return *now }
	}
	return New(f.db, f.calls, storePublisher{f.db}, f.flows, opts)
}

// create checks sc as of now and stores it.
func (f *fixture) create(sc store.Schedule, now time.Time) store.Schedule {
	f.t.Helper()
	if err := Check(&sc, now); err != nil {
		f.t.Fatal(err)
	}
	stored, err := f.db.CreateSchedule(f.t.Context(), sc)
	if err != nil {
		f.t.Fatal(err)
	}
	return stored
}

// get reads a schedule.
func (f *fixture) get(name string) store.Schedule {
	f.t.Helper()
	sc, err := f.db.GetSchedule(f.t.Context(), name)
	if err != nil {
		f.t.Fatal(err)
	}
	return sc
}

// fire has s read the schedules (as a change of the feed makes it) and fire what is due
// at now.
func (f *fixture) fire(s *Scheduler, now time.Time) {
	f.t.Helper()
	s.mu.Lock()
	s.stale = true
	s.mu.Unlock()
	if err := s.reload(f.t.Context()); err != nil {
		f.t.Fatal(err)
	}
	s.fireDue(f.t.Context(), now)
}

// queued are the tasks queued so far (leased once, so that each is read once), by the
// tick their schedule header names.
func (f *fixture) queued() map[string][]store.Task {
	f.t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	for {
		got, err := f.db.LeaseTasks(f.t.Context(), 100, "reader", time.Hour)
		if err != nil {
			f.t.Fatal(err)
		}
		f.tasks = append(f.tasks, got...)
		if len(got) < 100 {
			break
		}
	}
	byTick := map[string][]store.Task{}
	for _, t := range f.tasks {
		tick := t.Header["Ce-Time"]
		if len(tick) != 1 {
			f.t.Fatalf("task %s has tick header %v, want one", t.ID, tick)
		}
		byTick[tick[0]] = append(byTick[tick[0]], t)
	}
	return byTick
}

// rfc is a tick as its header and event id show it.
func rfc(t time.Time) string { return t.UTC().Format(time.RFC3339) }

var t0 = time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)

// everyMinute is an enabled schedule of a call of shop/hook every minute.
func everyMinute(name, missed string) store.Schedule {
	return store.Schedule{Name: name, Owner: "ada", Cron: "@every 1m", Missed: missed, Enabled: true,
		Target: store.ScheduleTarget{Call: &store.ScheduledCall{App: "shop", Path: "/hook", Body: []byte(`{"n":1}`)}}}
}

func TestACallTickQueuesOneExecutionCarryingItsTick(t *testing.T) {
	f := newFixture(t)
	sc := f.create(everyMinute("minutely", ""), t0.Add(-30*time.Second))
	if !sc.NextRun.Equal(t0) {
		t.Fatalf("next_run = %s, want %s", sc.NextRun, t0)
	}
	now := t0.Add(-time.Second)
	s := f.scheduler(&now)
	f.fire(s, now)
	if n := len(f.queued()); n != 0 {
		t.Fatalf("%d ticks fired before the first was due", n)
	}
	now = t0.Add(200 * time.Millisecond)
	f.fire(s, now)
	f.fire(s, now) // and again: the tick is claimed
	got := f.queued()
	if len(got) != 1 || len(got[rfc(t0)]) != 1 {
		t.Fatalf("queued by tick = %v, want one task of tick %s", got, rfc(t0))
	}
	task := got[rfc(t0)][0]
	if task.Header["Ce-Source"][0] != invoke.ScheduleSource("minutely") || task.Method != "POST" || string(task.Body) != `{"n":1}` || task.URL != "/hook" {
		t.Errorf("task = %s %s %q, headers %v: want POST /hook with the schedule's body and name", task.Method, task.URL, task.Body, task.Header)
	}
	ex, err := f.db.GetExecution(t.Context(), task.ID)
	if err != nil || ex.App != "shop" || ex.Route != "/hook" || ex.Type != store.TypeAsync {
		t.Errorf("execution = %+v, %v; want an async execution of shop/hook", ex, err)
	}
	after := f.get("minutely")
	if !after.LastTick.Equal(t0) || !after.NextRun.Equal(t0.Add(time.Minute)) {
		t.Errorf("last_tick %s next_run %s, want %s and a minute later", after.LastTick, after.NextRun, t0)
	}
}

func TestTwoSchedulersOverOneStoreFireEachTickOnce(t *testing.T) {
	f := newFixture(t)
	f.create(everyMinute("minutely", store.MissedSkip), t0.Add(-time.Second))
	var now time.Time
	a, b := f.scheduler(&now), f.scheduler(&now)
	for i := range 10 {
		now = t0.Add(time.Duration(i)*time.Minute + 100*time.Millisecond)
		var wg sync.WaitGroup
		for _, s := range []*Scheduler{a, b, a, b} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				s.fireDue(t.Context(), now) // from memory, stale after the other's claim
			}()
		}
		wg.Wait()
		f.fire(a, now)
		f.fire(b, now)
	}
	got := f.queued()
	if len(got) != 10 {
		t.Fatalf("%d ticks fired, want 10", len(got))
	}
	for i := range 10 {
		if tick := rfc(t0.Add(time.Duration(i) * time.Minute)); len(got[tick]) != 1 {
			t.Errorf("tick %s fired %d times, want once", tick, len(got[tick]))
		}
	}
}

func TestARestartNeverFiresATickTwiceAndAppliesTheMissedPolicy(t *testing.T) {
	cases := []struct {
		name   string
		missed string
		// late are the ticks fired after the restart, 10 minutes and 30 seconds on
		late []time.Time
	}{
		{name: "skip fires none of the missed ticks", missed: store.MissedSkip},
		{name: "run_once fires the latest missed tick once", missed: store.MissedRunOnce, late: []time.Time{t0.Add(10 * time.Minute)}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			f.create(everyMinute("minutely", tc.missed), t0.Add(-time.Second))
			now := t0.Add(time.Second)
			before := f.scheduler(&now)
			f.fire(before, now)
			now = t0.Add(time.Minute + time.Second)
			f.fire(before, now)

			// The node restarts: a new scheduler, at once, fires nothing fired already.
			restarted := f.scheduler(&now)
			f.fire(restarted, now)
			before.fireDue(t.Context(), now) // the old one's memory says the tick is due
			if got := f.queued(); len(got) != 2 || len(got[rfc(t0)]) != 1 || len(got[rfc(t0.Add(time.Minute))]) != 1 {
				t.Fatalf("queued by tick = %v, want ticks %s and a minute later, once each", keys(got), rfc(t0))
			}

			// Down for ten minutes: the ticks passed while no node was up.
			now = t0.Add(10*time.Minute + 30*time.Second)
			again := f.scheduler(&now)
			f.fire(again, now)
			f.fire(again, now)
			got := f.queued()
			if len(got) != 2+len(tc.late) {
				t.Fatalf("queued by tick = %v, want the two first ticks and %v", keys(got), tc.late)
			}
			for _, tick := range tc.late {
				if len(got[rfc(tick)]) != 1 {
					t.Errorf("tick %s fired %d times, want once", rfc(tick), len(got[rfc(tick)]))
				}
			}
			after := f.get("minutely")
			if want := t0.Add(10 * time.Minute); !after.LastTick.Equal(want) || !after.NextRun.Equal(want.Add(time.Minute)) {
				t.Errorf("last_tick %s next_run %s, want %s and a minute later", after.LastTick, after.NextRun, want)
			}

			// The schedule goes on on time.
			now = t0.Add(11*time.Minute + time.Second)
			f.fire(again, now)
			if got := f.queued(); len(got[rfc(t0.Add(11*time.Minute))]) != 1 {
				t.Errorf("the tick after the missed ones fired %d times, want once", len(got[rfc(t0.Add(11*time.Minute))]))
			}
		})
	}
}

func keys(m map[string][]store.Task) []string {
	var out []string
	for k, v := range m {
		for range v {
			out = append(out, k)
		}
	}
	return out
}

func TestRunOnceFiresTheLatestMissedTickAndThenTheOneOnTime(t *testing.T) {
	f := newFixture(t)
	f.create(everyMinute("minutely", store.MissedRunOnce), t0.Add(-time.Second))
	now := t0.Add(5*time.Minute + time.Second) // tick 5 is on time, 0 to 4 were missed
	f.fire(f.scheduler(&now), now)
	got := f.queued()
	if len(got) != 2 || len(got[rfc(t0.Add(4*time.Minute))]) != 1 || len(got[rfc(t0.Add(5*time.Minute))]) != 1 {
		t.Fatalf("queued by tick = %v, want the latest missed tick (+4m) and the one on time (+5m)", keys(got))
	}
}

func TestADisabledScheduleNeverFires(t *testing.T) {
	f := newFixture(t)
	sc := everyMinute("off", "")
	sc.Enabled = false
	stored := f.create(sc, t0.Add(-time.Second))
	if !stored.NextRun.IsZero() {
		t.Fatalf("next_run = %s, want none", stored.NextRun)
	}
	now := t0
	s := f.scheduler(&now)
	for i := range 5 {
		now = t0.Add(time.Duration(i) * time.Minute)
		f.fire(s, now)
	}
	// and one disabled after it was scheduled, whose NextRun is stale in memory
	f.create(everyMinute("soon-off", ""), now)
	f.fire(s, now)
	if _, err := f.db.UpdateSchedule(t.Context(), "soon-off", func(sc *store.Schedule) error {
		sc.Enabled = false
		return Check(sc, now)
	}, nil); err != nil {
		t.Fatal(err)
	}
	f.fire(s, now.Add(time.Minute))
	if got := f.queued(); len(got) != 0 {
		t.Fatalf("disabled schedules fired ticks %v", keys(got))
	}
}

func TestAFailedFireIsTriedAgainAndFiresOnce(t *testing.T) {
	f := newFixture(t)
	sc := everyMinute("later", "")
	sc.Target.Call.Path = "/later"
	f.create(sc, t0.Add(-time.Second))
	now := t0
	s := f.scheduler(&now)
	s.retry = 500 * time.Millisecond
	f.fire(s, now) // no route /later: the fire fails
	if got := f.queued(); len(got) != 0 {
		t.Fatalf("a fire without its route queued %v", keys(got))
	}
	if last := f.get("later").LastTick; !last.IsZero() {
		t.Fatalf("a failed fire claimed tick %s", last)
	}
	if wake := s.fireDue(t.Context(), now.Add(100*time.Millisecond)); !wake.Equal(now.Add(500 * time.Millisecond)) {
		t.Errorf("wake = %s, want the retry, half a second after the failure", wake)
	}
	if _, err := f.db.CreateRoute(t.Context(), store.Route{App: "shop", Path: "/later", Image: "img"}, nil); err != nil {
		t.Fatal(err)
	}
	now = t0.Add(time.Second)
	f.fire(s, now)
	f.fire(s, now.Add(time.Second))
	if got := f.queued(); len(got) != 1 || len(got[rfc(t0)]) != 1 {
		t.Fatalf("queued by tick = %v, want tick %s once", keys(got), rfc(t0))
	}
}

func TestAnEventTickPublishesOneEventPerTick(t *testing.T) {
	f := newFixture(t)
	sc := f.create(store.Schedule{Name: "pulse", Owner: "ada", Cron: "@every 1m", Enabled: true,
		Target: store.ScheduleTarget{Event: &store.ScheduledEvent{Type: "com.example.pulse", Subject: "s", Data: json.RawMessage(`{"beat":true}`)}}},
		t0.Add(-time.Second))
	now := t0.Add(-time.Second)
	a, b := f.scheduler(&now), f.scheduler(&now)
	f.fire(b, now)
	for i := range 3 {
		now = t0.Add(time.Duration(i)*time.Minute + time.Second)
		f.fire(a, now)
		b.fireDue(t.Context(), now) // from memory: the tick is due, but a claimed it
		f.fire(b, now)
	}
	evs, _, err := f.db.ListEvents(t.Context(), store.EventFilter{Source: "/gantry/schedules/pulse"}, store.Page{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 3 {
		t.Fatalf("%d events, want 3", len(evs))
	}
	for i, ev := range evs { // newest first
		tick := t0.Add(time.Duration(2-i) * time.Minute)
		if ev.EventID != sc.ID+":"+rfc(tick) || !ev.Time.Equal(tick) || ev.Type != "com.example.pulse" || ev.Subject != "s" ||
			ev.Owner != "ada" || string(ev.Data) != `{"beat":true}` || ev.DataContentType != "application/json" || ev.SpecVersion != "1.0" {
			t.Errorf("event %d = %+v, want the tick %s's", i, ev, rfc(tick))
		}
	}
	if last := f.get("pulse").LastTick; !last.Equal(t0.Add(2 * time.Minute)) {
		t.Errorf("last_tick = %s, want the third tick", last)
	}
}

func TestAWorkflowTickStartsOneRunPerTick(t *testing.T) {
	f := newFixture(t)
	def := `{"steps": [{"name": "hook", "call": {"app": "shop", "path": "/hook"}}]}`
	if _, _, err := f.flows.Put(t.Context(), store.Workflow{Name: "report", Owner: "ada", Definition: json.RawMessage(def)}, func(app, path string) error {
		_, err := f.db.RouteByPath(app, path, "")
		return err
	}, nil); err != nil {
		t.Fatal(err)
	}
	f.create(store.Schedule{Name: "nightly-report", Owner: "ada", Cron: "@every 1m", Enabled: true,
		Target: store.ScheduleTarget{Workflow: &store.ScheduledWorkflow{Name: "report"}}}, t0.Add(-time.Second))
	now := t0.Add(-time.Second)
	a, b := f.scheduler(&now), f.scheduler(&now)
	f.fire(b, now)
	for i := range 2 {
		now = t0.Add(time.Duration(i)*time.Minute + time.Second)
		f.fire(a, now)
		b.fireDue(t.Context(), now) // from memory: the tick is due, but a claimed it
		f.fire(b, now)
	}
	runs, _, err := f.db.ListRuns(t.Context(), store.RunFilter{Workflow: "report"}, store.Page{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	if len(runs) != 2 {
		t.Fatalf("%d runs, want 2", len(runs))
	}
	seen := map[string]bool{}
	for _, r := range runs {
		if r.TriggeredBy != "ada" || r.Owner != "ada" {
			t.Errorf("run %s triggered by %q, owned by %q; want ada", r.ID, r.TriggeredBy, r.Owner)
		}
		seen[r.IdempotencyKey] = true
	}
	sc := f.get("nightly-report")
	for i := range 2 {
		if key := TickKey(sc, t0.Add(time.Duration(i)*time.Minute)); !seen[key] {
			t.Errorf("no run with key %s among %v", key, seen)
		}
	}
}

// TestEverySecondFiresOnTime runs the scheduler on the real clock: each tick of an
// @every 1s schedule fires once, its execution made within a second of its tick.
func TestEverySecondFiresOnTime(t *testing.T) {
	f := newFixture(t)
	fast := everyMinute("fast", "")
	fast.Cron = "@every 1s"
	f.create(fast, time.Now())
	off := everyMinute("off", "")
	off.Cron, off.Enabled = "@every 1s", false
	f.create(off, time.Now())
	s := f.scheduler(nil)
	s.Start(t.Context())
	time.Sleep(4500 * time.Millisecond)
	s.Stop()
	f.checkEverySecond("fast", 3)
}

// checkEverySecond checks the ticks queued so far: at least n, all of schedule name, each
// once, every second from the first to the last, each execution made within a second of
// its tick.
func (f *fixture) checkEverySecond(name string, n int) {
	t := f.t
	t.Helper()
	got := f.queued()
	if len(got) < n {
		t.Fatalf("%d ticks fired, want at least %d", len(got), n)
	}
	var ticks []time.Time
	for tick, tasks := range got {
		if len(tasks) != 1 {
			t.Errorf("tick %s fired %d times", tick, len(tasks))
		}
		if sc := tasks[0].Header["Ce-Source"][0]; sc != invoke.ScheduleSource(name) {
			t.Errorf("schedule %s fired", sc)
		}
		at, err := time.Parse(time.RFC3339, tick)
		if err != nil {
			t.Fatal(err)
		}
		ticks = append(ticks, at)
		ex, err := f.db.GetExecution(t.Context(), tasks[0].ID)
		if err != nil {
			t.Fatal(err)
		}
		if d := ex.CreatedAt.Sub(at); d < 0 || d > time.Second {
			t.Errorf("tick %s made its execution at %s, %s after it; want within a second", tick, ex.CreatedAt.Format(time.RFC3339Nano), d)
		}
	}
	first, last := ticks[0], ticks[0]
	for _, at := range ticks {
		first, last = minTime(first, at), maxTime(last, at)
	}
	if n := int(last.Sub(first)/time.Second) + 1; n != len(ticks) {
		t.Errorf("%d ticks fired from %s to %s, want every second (%d)", len(ticks), rfc(first), rfc(last), n)
	}
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// putWorkflow stores workflow name of owner, with one step that calls shop/hook.
func (f *fixture) putWorkflow(name, owner string) {
	f.t.Helper()
	def := `{"steps": [{"name": "hook", "call": {"app": "shop", "path": "/hook"}}]}`
	if _, _, err := f.flows.Put(f.t.Context(), store.Workflow{Name: name, Owner: owner, Definition: json.RawMessage(def)}, func(app, path string) error {
		_, err := f.db.RouteByPath(app, path, "")
		return err
	}, nil); err != nil {
		f.t.Fatal(err)
	}
}

// TestATickNeverFiresAnotherOwnersTarget: a tick fires as its schedule's owner. A
// workflow of the name made again by another, or an app given to another, is not the
// owner's any more: the fire fails (and is tried again while the tick is on time) and
// runs nothing of theirs.
func TestATickNeverFiresAnotherOwnersTarget(t *testing.T) {
	tests := []struct {
		name   string
		target store.ScheduleTarget
		// change makes the target another's once the schedule was written
		change func(f *fixture)
	}{
		{name: "a workflow deleted and made again by another is not run",
			target: store.ScheduleTarget{Workflow: &store.ScheduledWorkflow{Name: "report", Inputs: json.RawMessage(`{"secret":"ada's"}`)}},
			change: func(f *fixture) {
				if err := f.db.DeleteWorkflow(f.t.Context(), "report", nil); err != nil {
					f.t.Fatal(err)
				}
				f.putWorkflow("report", "bob")
			}},
		{name: "an app given to another is not called",
			target: store.ScheduleTarget{Call: &store.ScheduledCall{App: "shop", Path: "/hook"}},
			change: func(f *fixture) {
				if _, err := f.db.UpdateApp(f.t.Context(), "shop", func(a *store.App) error { a.Owner = "bob"; return nil }); err != nil {
					f.t.Fatal(err)
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			f.putWorkflow("report", "ada")
			appID, err := f.db.AppID("shop")
			if err != nil {
				t.Fatal(err)
			}
			if tt.target.Call != nil {
				tt.target.Call.AppID = appID
			}
			f.create(store.Schedule{Name: "ada-report", Owner: "ada", Cron: "@every 1m", Enabled: true, Target: tt.target}, t0.Add(-time.Second))
			tt.change(f)
			now := t0.Add(time.Second)
			s := f.scheduler(&now)
			f.fire(s, now)
			if got := f.queued(); len(got) != 0 {
				t.Errorf("the tick queued calls %v of another's app", keys(got))
			}
			runs, _, err := f.db.ListRuns(t.Context(), store.RunFilter{Workflow: "report"}, store.Page{Limit: 10})
			if err != nil || len(runs) != 0 {
				t.Errorf("the tick ran %d runs of bob's workflow (%v)", len(runs), err)
			}
			if last := f.get("ada-report").LastTick; !last.IsZero() {
				t.Errorf("the tick was claimed (%s), as if it fired", last)
			}
		})
	}
}

// TestAFireThatKeepsFailingIsGivenUpAfterTheGrace: a run_once schedule whose call's route
// is gone is not tried every second forever: once its tick is late, and has failed for
// the grace, it is claimed without firing (skipped), and the schedule goes on.
func TestAFireThatKeepsFailingIsGivenUpAfterTheGrace(t *testing.T) {
	f := newFixture(t)
	sc := everyMinute("gone", store.MissedRunOnce)
	sc.Target.Call.Path = "/gone"
	f.create(sc, t0.Add(-time.Second))
	now := t0
	s := f.scheduler(&now)
	for now = t0; now.Before(t0.Add(30 * time.Second)); now = now.Add(time.Second) {
		f.fire(s, now)
		if last := f.get("gone").LastTick; !last.IsZero() {
			break
		}
	}
	after := f.get("gone")
	if !after.LastTick.Equal(t0) || !after.NextRun.Equal(t0.Add(time.Minute)) {
		t.Fatalf("at %s: last_tick %s next_run %s; want the failing tick %s given up within the grace past it", now, after.LastTick, after.NextRun, t0)
	}
	if late := now.Sub(t0); late < 5*time.Second || late > 6*time.Second {
		t.Errorf("given up %s after its tick, want after the grace (5s)", late)
	}
	if got := f.queued(); len(got) != 0 {
		t.Errorf("a given-up tick queued %v", keys(got))
	}
}

// TestAnEventTickCarriesItsDataAsAPublishWould: an event schedule's data of a type that is
// not JSON, a JSON string in the schedule, is the string's text (as a structured event's
// is); an admin's own schedule publishes public events, as the admin's publishes are.
func TestAnEventTickCarriesItsDataAsAPublishWould(t *testing.T) {
	tests := []struct {
		name       string
		event      store.ScheduledEvent
		wantData   string
		wantType   string
		wantPublic bool
	}{
		{name: "text data is the string's text", event: store.ScheduledEvent{Type: "t", DataContentType: "text/plain", Data: json.RawMessage(`"x"`)},
			wantData: "x", wantType: "text/plain"},
		{name: "JSON data stays JSON", event: store.ScheduledEvent{Type: "t", Data: json.RawMessage(`"x"`)},
			wantData: `"x"`, wantType: "application/json"},
		{name: "other JSON of a text type stays as it was written", event: store.ScheduledEvent{Type: "t", DataContentType: "text/plain", Data: json.RawMessage(`{"a":1}`)},
			wantData: `{"a":1}`, wantType: "text/plain"},
		{name: "a public schedule's event is public", event: store.ScheduledEvent{Type: "t", Public: true}, wantPublic: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev := TickEvent(store.Schedule{ID: "id", Name: "n", Owner: "root", Target: store.ScheduleTarget{Event: &tt.event}}, t0)
			if string(ev.Data) != tt.wantData || ev.DataContentType != tt.wantType || ev.Public != tt.wantPublic {
				t.Fatalf("data %q of type %q, public %v; want %q of type %q, public %v", ev.Data, ev.DataContentType, ev.Public, tt.wantData, tt.wantType, tt.wantPublic)
			}
		})
	}
}

// changingPublisher publishes as storePublisher does, and changes the schedule first: a
// PATCH that lands between the scheduler's read and its claim of the tick.
type changingPublisher struct {
	storePublisher
	change func()
}

func (p changingPublisher) Publish(ctx context.Context, evs []store.Event) ([]store.Published, error) {
	p.change()
	return p.storePublisher.Publish(ctx, evs)
}

func TestATickFiredBeforeTheScheduleChangedIsClaimedAndNeverFiresAgain(t *testing.T) {
	f := newFixture(t)
	f.create(store.Schedule{Name: "pulse", Owner: "ada", Cron: "@every 1m", Enabled: true,
		Target: store.ScheduleTarget{Event: &store.ScheduledEvent{Type: "com.example.pulse"}}}, t0.Add(-time.Second))
	now := t0.Add(time.Second)
	once := sync.Once{}
	pub := changingPublisher{storePublisher: storePublisher{f.db}, change: func() {
		once.Do(func() {
			// Given to bob: an event of his of the tick would be another event, not a duplicate.
			if _, err := f.db.UpdateSchedule(t.Context(), "pulse", func(sc *store.Schedule) error {
				sc.Owner = "bob"
				return Check(sc, t0.Add(-time.Second/2)) // its next run: the tick being fired
			}, nil); err != nil {
				t.Error(err)
			}
		})
	}}
	s := New(f.db, f.calls, pub, f.flows, Options{Now: func() time.Time { return now }})
	f.fire(s, now)
	f.fire(s, now) // reads the changed schedule: the tick is claimed, nothing fires again
	evs, _, err := f.db.ListEvents(t.Context(), store.EventFilter{Source: "/gantry/schedules/pulse"}, store.Page{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 1 || evs[0].Owner != "ada" {
		t.Fatalf("events %+v: want the tick's one, ada's, fired before the change", evs)
	}
	if sc := f.get("pulse"); !sc.LastTick.Equal(t0) || !sc.NextRun.Equal(t0.Add(time.Minute)) || sc.Owner != "bob" {
		t.Errorf("last_tick %s next_run %s owner %s: want the tick claimed, the next one after it, bob's", sc.LastTick, sc.NextRun, sc.Owner)
	}
}
