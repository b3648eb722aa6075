package postgres

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/pgtest"
	"github.com/gantry-dev/gantry/store"
	"github.com/jackc/pgx/v5"
)

// What only PostgreSQL can show of events, deliveries and schedules: schema 5 applied to a
// database that has data, and several nodes (handles) on one database racing for the same
// event or tick. The rules every backend keeps are storetest's.

// deliveryCall is the call of a delivery: an async call of app/fn.
func deliveryCall(s store.IDSource, sub string) store.NewDelivery {
	id := s.NewID()
	return store.NewDelivery{
		Delivery: store.Delivery{Subscription: sub, Owner: "dev", DeadLetter: store.DeadLetterKeep},
		Call: &store.StepCall{
			Task:      store.Task{ID: id, Route: store.Route{App: "app", Path: "/fn", Image: "img"}, Method: "POST", URL: "/fn", Body: []byte("event")},
			Execution: store.Execution{App: "app", Route: "/fn", Type: store.TypeAsync},
		},
	}
}

// publishOne is the publish of event id of source with a delivery to each of subs.
func publishOne(s store.IDSource, source, id string, subs ...string) store.EventPublish {
	p := store.EventPublish{Event: store.Event{EventID: id, Source: source, Type: "com.example.thing", SpecVersion: "1.0", Owner: "dev"}}
	for _, sub := range subs {
		p.Deliveries = append(p.Deliveries, deliveryCall(s, sub))
	}
	return p
}

func TestMigrationToSchema5KeepsTheDataOfADatabaseAtSchema4(t *testing.T) {
	dsn := pgtest.Schema(t)
	migrateTo(t, dsn, 4)
	conn, err := pgx.Connect(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	queued := time.Now().Add(-time.Minute)
	if _, err := conn.Exec(t.Context(), `INSERT INTO tasks (id, priority, available_at, enqueued_at, task) VALUES ('01', 0, $1, $1, $2)`,
		queued, `{"id":"01","route":{"app":"a","path":"/fn","image":"img"},"method":"POST","url":"/fn"}`); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(t.Context(), `INSERT INTO executions (id, app, route, type, status, created_at) VALUES ('01', 'a', '/fn', $1, $2, $3)`,
		store.TypeAsync, store.StatusQueued, queued); err != nil {
		t.Fatal(err)
	}

	s := openTest(t, dsn, "n") // migrates to this build's schema
	var version int
	if err := conn.QueryRow(t.Context(), "SELECT max(version) FROM gantry_schema").Scan(&version); err != nil || version != SchemaVersion() || version < 5 {
		t.Fatalf("schema version after Open: %d %v, want %d (at least 5)", version, err, SchemaVersion())
	}
	// A task accepted before the migration runs, and completes, as it would have.
	got, err := s.LeaseTasks(t.Context(), 10, "gantry@n:r:0", time.Minute)
	if err != nil || !slices.Equal(ids(got), []string{"01"}) {
		t.Fatalf("lease after the migration: %v %v, want the task accepted before it", ids(got), err)
	}
	ex := store.Execution{Status: store.StatusSuccess}
	if err := s.CompleteTask(t.Context(), "01", "gantry@n:r:0", ex, nil); err != nil {
		t.Fatalf("complete the task accepted before the migration: %v", err)
	}
	// The new tables take events and their deliveries.
	pub, err := s.PublishEvents(t.Context(), []store.EventPublish{publishOne(s, "/src", "e1", "sub")})
	if err != nil || len(pub) != 1 || !pub[0].Created || len(pub[0].Deliveries) != 1 {
		t.Fatalf("publish after the migration: %+v %v", pub, err)
	}
	if _, err := s.CreateSchedule(t.Context(), store.Schedule{Name: "nightly", Cron: "@daily", Enabled: true}); err != nil {
		t.Fatalf("create a schedule after the migration: %v", err)
	}
}

func TestTwoNodesPublishingTheSameEventAtOnceStoreItOnce(t *testing.T) {
	dsn := pgtest.Schema(t)
	nodes := []*DB{openTest(t, dsn, "node-a"), openTest(t, dsn, "node-b")}
	const publishers = 8
	for round := range 5 {
		id := fmt.Sprintf("e%d", round)
		results := make([]store.Published, publishers)
		errs := make([]error, publishers)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i := range publishers {
			s := nodes[i%2]
			// Each publishes a slice with the contested event among events of its own, in
			// orders that differ, so that transactions wait for each other both ways.
			own := publishOne(s, "/own", fmt.Sprintf("r%d-p%d", round, i), "sub")
			batch := []store.EventPublish{publishOne(s, "/race", id, "sub-a", "sub-b"), own}
			if i%2 == 1 {
				batch[0], batch[1] = batch[1], batch[0]
			}
			wg.Go(func() {
				<-start
				pub, err := s.PublishEvents(t.Context(), batch)
				errs[i] = err
				for _, p := range pub {
					if p.Event.Source == "/race" {
						results[i] = p
					}
				}
			})
		}
		close(start)
		wg.Wait()
		created := 0
		for i, p := range results {
			if errs[i] != nil {
				t.Fatalf("round %d: publisher %d: %v", round, i, errs[i])
			}
			if p.Created {
				created++
			}
			if p.Event.Key != results[0].Event.Key || !slices.Equal(deliveryIDs(p.Deliveries), p.Event.Deliveries) || len(p.Deliveries) != 2 {
				t.Fatalf("round %d: publisher %d got event %s with deliveries %v (event lists %v), publisher 0 event %s",
					round, i, p.Event.Key, deliveryIDs(p.Deliveries), p.Event.Deliveries, results[0].Event.Key)
			}
		}
		if created != 1 {
			t.Fatalf("round %d: %d publishers stored the event, want 1", round, created)
		}
		stored, _, err := nodes[1].ListDeliveries(t.Context(), store.DeliveryFilter{Event: results[0].Event.Key}, store.Page{Limit: 100})
		if err != nil || !slices.Equal(deliveryIDs(stored), results[0].Event.Deliveries) {
			t.Fatalf("round %d: the deliveries stored: %v %v, want %v", round, deliveryIDs(stored), err, results[0].Event.Deliveries)
		}
	}
	// One call per delivery: the 2 of each contested event and one per own event.
	st, err := nodes[0].TaskStats(t.Context())
	if want := 5*2 + 5*publishers; err != nil || st.Queued != want {
		t.Fatalf("tasks queued: %d %v, want %d", st.Queued, err, want)
	}
}

func TestTwoNodesClaimingTheSameTickClaimItOnce(t *testing.T) {
	dsn := pgtest.Schema(t)
	a, b := openTest(t, dsn, "node-a"), openTest(t, dsn, "node-b")
	var heardB heard
	defer b.Subscribe(heardB.add)()
	sc, err := a.CreateSchedule(t.Context(), store.Schedule{Name: "every-second", Cron: "@every 1s", Enabled: true})
	if err != nil {
		t.Fatal(err)
	}
	const claimers = 10
	base := time.Date(2026, 3, 29, 1, 0, 0, 0, time.UTC)
	var calls []string
	for tick := range 5 {
		at := base.Add(time.Duration(tick) * time.Second)
		claimed := make([]bool, claimers)
		ids := make([]string, claimers)
		errs := make([]error, claimers)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i := range claimers {
			s := []*DB{a, b}[i%2]
			call := deliveryCall(s, "").Call
			ids[i] = call.Task.ID
			wg.Go(func() {
				<-start
				claimed[i], errs[i] = s.ClaimTick(t.Context(), sc.ID, sc.Name, sc.UpdatedAt, at, at.Add(time.Second), call)
			})
		}
		close(start)
		wg.Wait()
		won := 0
		for i := range claimers {
			if errs[i] != nil {
				t.Fatalf("tick %d: claimer %d: %v", tick, i, errs[i])
			}
			if claimed[i] {
				won++
				calls = append(calls, ids[i])
			} else if _, err := a.GetExecution(t.Context(), ids[i]); err == nil {
				t.Fatalf("tick %d: claimer %d did not claim the tick, yet its call was accepted", tick, i)
			}
		}
		if won != 1 {
			t.Fatalf("tick %d: claimed %d times, want once", tick, won)
		}
		got, err := b.GetSchedule(t.Context(), sc.Name)
		if err != nil || !got.LastTick.Equal(at) || !got.NextRun.Equal(at.Add(time.Second)) {
			t.Fatalf("tick %d: schedule after the claim: last %s next %s %v, want %s and a second later", tick, got.LastTick, got.NextRun, err, at)
		}
		// A tick at or before the last one claimed is never claimed again, by either node.
		for _, s := range []*DB{a, b} {
			if again, err := s.ClaimTick(t.Context(), sc.ID, sc.Name, sc.UpdatedAt, at, at.Add(time.Second), nil); again || err != nil {
				t.Fatalf("tick %d claimed again: %v %v", tick, again, err)
			}
		}
	}
	st, err := b.TaskStats(t.Context())
	if err != nil || st.Queued != len(calls) || len(calls) != 5 {
		t.Fatalf("tasks queued: %d %v, want one per tick (%d)", st.Queued, err, len(calls))
	}
	// Node b hears the schedule's creation and each claim, of either node (ChangeSchedule:
	// its own at once, node a's over NOTIFY), and each call accepted.
	waitFor(t, 5*time.Second, "node b hears the claims", func() bool {
		if heardB.count(store.Change{Kind: store.ChangeSchedule, Name: sc.Name}) != 1+5 {
			return false
		}
		for _, id := range calls {
			if heardB.count(store.Change{Kind: store.ChangeTask, Name: id}) != 1 {
				return false
			}
		}
		return true
	})
}

func TestSubscriptionAndScheduleWritesReachTheOtherNode(t *testing.T) {
	dsn := pgtest.Schema(t)
	a, b := openTest(t, dsn, "node-a"), openTest(t, dsn, "node-b")
	var h heard
	defer b.Subscribe(h.add)()
	writes := []struct {
		name  string
		write func() error
		want  store.Change
	}{
		{"a subscription created", func() error {
			_, err := a.CreateSubscription(t.Context(), store.Subscription{Name: "s1", Owner: "dev", Filter: store.EventMatch{Type: "x"}, Enabled: true})
			return err
		}, store.Change{Kind: store.ChangeSubscription, Name: "s1"}},
		{"a subscription updated", func() error {
			_, err := a.UpdateSubscription(t.Context(), "s1", func(s *store.Subscription) error { s.Enabled = false; return nil }, nil)
			return err
		}, store.Change{Kind: store.ChangeSubscription, Name: "s1"}},
		{"a subscription deleted", func() error { return a.DeleteSubscription(t.Context(), "s1", nil) },
			store.Change{Kind: store.ChangeSubscription, Name: "s1"}},
		{"a schedule created", func() error {
			_, err := a.CreateSchedule(t.Context(), store.Schedule{Name: "c1", Owner: "dev", Cron: "@hourly", Enabled: true})
			return err
		}, store.Change{Kind: store.ChangeSchedule, Name: "c1"}},
		{"a schedule deleted", func() error { return a.DeleteSchedule(t.Context(), "c1", nil) },
			store.Change{Kind: store.ChangeSchedule, Name: "c1"}},
	}
	for i, w := range writes {
		t.Run(w.name+" is heard by the other node", func(t *testing.T) {
			if err := w.write(); err != nil {
				t.Fatal(err)
			}
			seen := 0
			for _, x := range writes[:i+1] {
				if x.want == w.want {
					seen++
				}
			}
			waitFor(t, 5*time.Second, w.name, func() bool { return h.count(w.want) == seen })
		})
	}
}

func deliveryIDs(ds []store.Delivery) []string {
	out := make([]string, 0, len(ds))
	for _, d := range ds {
		out = append(out, d.ID)
	}
	return out
}

// A call whose execution is gone (deleted behind the store's back: no path of the store
// deletes the execution of a queued call) is dropped at its lease: its delivery ends as a
// failed call's does, under the subscription's policy.
func TestADeliveryWhoseCallLostItsExecutionEndsWhenTheCallIsDropped(t *testing.T) {
	for _, c := range []struct{ policy, want string }{
		{store.DeadLetterKeep, store.DeliveryDeadLettered},
		{store.DeadLetterDiscard, store.DeliveryDiscarded},
	} {
		t.Run("under policy "+c.policy+" it ends "+c.want, func(t *testing.T) {
			dsn := pgtest.Schema(t)
			s := openTest(t, dsn, "n")
			p := publishOne(s, "/src", "e1", "sub")
			p.Deliveries[0].Delivery.DeadLetter = c.policy
			pub, err := s.PublishEvents(t.Context(), []store.EventPublish{p})
			if err != nil {
				t.Fatal(err)
			}
			d := pub[0].Deliveries[0]
			if _, err := s.pool.Exec(t.Context(), "DELETE FROM executions WHERE id = $1", d.Execution); err != nil {
				t.Fatal(err)
			}
			if got, err := s.LeaseTasks(t.Context(), 10, "w", time.Minute); err != nil || len(got) != 0 {
				t.Fatalf("lease: %v %v, want the call dropped", ids(got), err)
			}
			got, err := s.GetDelivery(t.Context(), d.ID)
			if err != nil || got.Status != c.want || !got.UpdatedAt.After(d.UpdatedAt) {
				t.Fatalf("the delivery after its call was dropped: %+v %v, want %s, updated after %s", got, err, c.want, d.UpdatedAt)
			}
			if st, err := s.TaskStats(t.Context()); err != nil || st.Queued != 0 {
				t.Fatalf("tasks left: %+v %v", st, err)
			}
		})
	}
}
