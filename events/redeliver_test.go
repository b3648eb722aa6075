package events

import (
	"errors"
	"testing"

	"github.com/gantry-dev/gantry/invoke"
	"github.com/gantry-dev/gantry/store"
	"github.com/gantry-dev/gantry/store/bolt"
)

// TestRedeliverRefusesWhatItsSubscriptionNoLongerIs: a dead letter is redelivered only to
// the subscription it was made for, as long as that one still receives its event: after
// the subscription was deleted (and perhaps made again under its name, by another or by
// its owner), changed hands, was disabled or stopped matching, Redeliver answers
// ErrConflict and makes no call. No Docker: calls are made ready, never run.
func TestRedeliverRefusesWhatItsSubscriptionNoLongerIs(t *testing.T) {
	sub := store.Subscription{Name: "orders", Owner: "ada", Filter: store.EventMatch{Type: "com.example.order"},
		Target: store.DeliveryTarget{App: "shop", Path: "/on"}, Enabled: true}
	recreate := func(owner, app string) func(*testing.T, store.Store) {
		return func(t *testing.T, st store.Store) {
			if err := st.DeleteSubscription(t.Context(), "orders", nil); err != nil {
				t.Fatal(err)
			}
			again := sub
			again.Owner, again.Target.App = owner, app
			if _, err := st.CreateSubscription(t.Context(), again); err != nil {
				t.Fatal(err)
			}
		}
	}
	update := func(fn func(*store.Subscription)) func(*testing.T, store.Store) {
		return func(t *testing.T, st store.Store) {
			if _, err := st.UpdateSubscription(t.Context(), "orders", func(s *store.Subscription) error { fn(s); return nil }, nil); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, c := range []struct {
		name   string
		change func(*testing.T, store.Store)
		wantOK bool
	}{
		{"a subscription as it was redelivers", func(*testing.T, store.Store) {}, true},
		{"a subscription deleted refuses", func(t *testing.T, st store.Store) {
			if err := st.DeleteSubscription(t.Context(), "orders", nil); err != nil {
				t.Fatal(err)
			}
		}, false},
		{"a subscription deleted and made again by another developer refuses", recreate("bob", "bobs"), false},
		{"a subscription deleted and made again by its owner refuses", recreate("ada", "shop"), false},
		{"a subscription given to another owner refuses", update(func(s *store.Subscription) { s.Owner, s.Target.App = "bob", "bobs" }), false},
		{"a subscription disabled refuses", update(func(s *store.Subscription) { s.Enabled = false }), false},
		{"a subscription whose filter no longer matches refuses", update(func(s *store.Subscription) { s.Filter.Type = "com.example.refund" }), false},
		{"a subscription given the discard policy redelivers under it", update(func(s *store.Subscription) { s.DeadLetter = store.DeadLetterDiscard }), true},
	} {
		t.Run(c.name, func(t *testing.T) {
			ctx := t.Context()
			st, err := bolt.Open(ctx, t.TempDir(), bolt.Options{NoSync: true})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { st.Close() })
			for _, a := range []store.App{{Name: "shop", Owner: "ada"}, {Name: "bobs", Owner: "bob"}} {
				if _, err := st.CreateApp(ctx, a); err != nil {
					t.Fatal(err)
				}
				if _, err := st.CreateRoute(ctx, store.Route{App: a.Name, Path: "/on", Image: "img"}, nil); err != nil {
					t.Fatal(err)
				}
			}
			svc := New(st, invoke.New(st, noRunner{}, invoke.Options{Node: st.InstanceID()}), nil, Options{})
			first := sub
			first.DeadLetter = store.DeadLetterKeep
			made, err := st.CreateSubscription(ctx, first)
			if err != nil {
				t.Fatal(err)
			}
			pubs, err := svc.Publish(ctx, []store.Event{{EventID: "o-1", Source: "/orders", Type: "com.example.order", SpecVersion: "1.0", Owner: "ada"}})
			if err != nil || len(pubs) != 1 || len(pubs[0].Deliveries) != 1 {
				t.Fatalf("publish: %+v %v, want one delivery", pubs, err)
			}
			d := pubs[0].Deliveries[0]
			if d.SubscriptionID != made.ID {
				t.Fatalf("delivery made for subscription ID %q, want %q", d.SubscriptionID, made.ID)
			}
			if _, err := st.CancelTask(ctx, d.Execution); err != nil { // its call ends: a dead letter
				t.Fatal(err)
			}
			if dead, err := st.GetDelivery(ctx, d.ID); err != nil || dead.Status != store.DeliveryDeadLettered {
				t.Fatalf("delivery %+v %v, want DEAD_LETTERED", dead, err)
			}
			c.change(t, st)

			got, err := svc.Redeliver(ctx, d.ID)
			stats, serr := st.TaskStats(ctx)
			if serr != nil {
				t.Fatal(serr)
			}
			if !c.wantOK {
				if !errors.Is(err, store.ErrConflict) {
					t.Fatalf("redeliver: %+v %v, want ErrConflict", got, err)
				}
				if stored, _ := st.GetDelivery(ctx, d.ID); stored.Status != store.DeliveryDeadLettered || len(stored.Executions) != 1 || stats.Queued != 0 {
					t.Fatalf("after a refused redelivery: %+v, %d calls queued; want it DEAD_LETTERED, no call made", stored, stats.Queued)
				}
				return
			}
			want, _ := st.GetSubscription(ctx, "orders")
			if err != nil || got.Status != store.DeliveryQueued || len(got.Executions) != 2 || stats.Queued != 1 || got.DeadLetter != want.DeadLetter {
				t.Fatalf("redeliver: %+v %v, %d calls queued; want QUEUED by a second call, policy %s", got, err, stats.Queued, want.DeadLetter)
			}
		})
	}
}

// noRunner is a runner that runs nothing: the calls here are made ready, never run.
type noRunner struct{ invoke.Runner }

func (noRunner) NetworkAllowed(string, string) error { return nil }
