package storetest

import (
	"encoding/base64"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/store"
)

func testListDeliveriesBySubscriptionAndStatus(t *testing.T, s store.Store) {
	ctx := t.Context()
	var mine []string // s1's deliveries, oldest first
	for range 4 {
		p := mustPublish(t, s, store.EventPublish{Event: newEvent("/src", s.NewID(), "t"),
			Deliveries: []store.NewDelivery{callDelivery(s, "s1", store.DeadLetterKeep), callDelivery(s, "s2", store.DeadLetterKeep)}})[0]
		mine = append(mine, p.Deliveries[0].ID)
	}
	// Every call fails: each delivery is a dead letter of its subscription.
	tasks, err := s.LeaseTasks(ctx, 100, "w", time.Minute)
	if err != nil || len(tasks) != 8 {
		t.Fatalf("leased %v (%v), want the 8 calls", taskIDs(tasks), err)
	}
	for _, task := range tasks {
		if err := s.CompleteTask(ctx, task.ID, "w", store.Execution{Status: store.StatusFailed}, nil); err != nil {
			t.Fatal(err)
		}
	}
	// By the subscription's ID, as its dead letters are listed; by its name below too.
	deadLetters := store.DeliveryFilter{SubscriptionID: subscriptionID("s1"), Status: store.DeliveryDeadLettered}
	queued := store.DeliveryFilter{SubscriptionID: subscriptionID("s1"), Status: store.DeliveryQueued}
	check := func(t *testing.T, f store.DeliveryFilter, want []string) {
		t.Helper()
		for _, per := range []int{1, 3, 100} {
			if got := listDeliveryPages(t, s, f, per); !slices.Equal(got, want) {
				t.Fatalf("%+v, %d a page: %v, want %v", f, per, got, want)
			}
		}
	}
	t.Run("a subscription's dead letters are its deliveries that ended so, oldest first", func(t *testing.T) {
		check(t, deadLetters, mine)
		check(t, queued, nil)
	})
	// The second is redelivered: QUEUED again, it is no dead letter until its new call fails.
	if _, err := s.Redeliver(ctx, mine[1], callDelivery(s, "s1", store.DeadLetterKeep)); err != nil {
		t.Fatal(err)
	}
	t.Run("a redelivered delivery leaves the dead letters for the queued ones", func(t *testing.T) {
		check(t, deadLetters, []string{mine[0], mine[2], mine[3]})
		check(t, queued, []string{mine[1]})
	})
	tasks, err = s.LeaseTasks(ctx, 100, "w", time.Minute)
	if err != nil || len(tasks) != 1 {
		t.Fatalf("leased %v (%v), want the new call", taskIDs(tasks), err)
	}
	if err := s.CompleteTask(ctx, tasks[0].ID, "w", store.Execution{Status: store.StatusSuccess}, nil); err != nil {
		t.Fatal(err)
	}
	t.Run("a redelivery that succeeds is listed as delivered, and neither queued nor a dead letter", func(t *testing.T) {
		check(t, store.DeliveryFilter{Subscription: "s1", Status: store.DeliveryDelivered}, []string{mine[1]})
		check(t, deadLetters, []string{mine[0], mine[2], mine[3]})
		check(t, store.DeliveryFilter{Subscription: "s1", Status: store.DeliveryDeadLettered}, []string{mine[0], mine[2], mine[3]})
		check(t, queued, nil)
		check(t, store.DeliveryFilter{Subscription: "s1"}, mine)
	})
}

func testEventOddInputs(t *testing.T, s store.Store) {
	ctx := t.Context()
	t.Run("publishing no events stores nothing and answers no error", func(t *testing.T) {
		out, err := s.PublishEvents(ctx, nil)
		if err != nil || len(out) != 0 {
			t.Fatalf("PublishEvents(nil): %v %v, want nothing", out, err)
		}
		out, err = s.PublishEvents(ctx, []store.EventPublish{})
		if err != nil || len(out) != 0 {
			t.Fatalf("PublishEvents([]): %v %v, want nothing", out, err)
		}
	})
	t.Run("a delivery status that is none of the statuses is ErrInvalid", func(t *testing.T) {
		for _, f := range []store.DeliveryFilter{{Status: "BOGUS"}, {Subscription: "s", Status: "dead_lettered"}, {Event: s.NewID(), Status: "X"}} {
			if _, _, err := s.ListDeliveries(ctx, f, store.Page{}); !errors.Is(err, store.ErrInvalid) {
				t.Fatalf("ListDeliveries(%+v): %v, want ErrInvalid", f, err)
			}
		}
	})
	p := mustPublish(t, s, store.EventPublish{Event: newEvent("/src", s.NewID(), "t"), Deliveries: []store.NewDelivery{callDelivery(s, "s", store.DeadLetterKeep)}})[0]
	t.Run("a cursor that no list gave out is ErrInvalid", func(t *testing.T) {
		b64 := func(v string) string { return base64.RawURLEncoding.EncodeToString([]byte(v)) }
		for _, cursor := range []string{"!!", b64("not-a-key"), b64(p.Event.Key + "x"), b64("app-1")} {
			if _, _, err := s.ListEvents(ctx, store.EventFilter{}, store.Page{Cursor: cursor}); !errors.Is(err, store.ErrInvalid) {
				t.Fatalf("ListEvents with cursor %q: %v, want ErrInvalid", cursor, err)
			}
			if _, _, err := s.ListDeliveries(ctx, store.DeliveryFilter{}, store.Page{Cursor: cursor}); !errors.Is(err, store.ErrInvalid) {
				t.Fatalf("ListDeliveries with cursor %q: %v, want ErrInvalid", cursor, err)
			}
		}
	})
	t.Run("a delivery's run whose idempotency key made a run before is ErrConflict, and its event is not stored", func(t *testing.T) {
		keyed := func() store.NewDelivery {
			nd := runDelivery(s, "flow", store.DeadLetterKeep)
			nd.Run.IdempotencyKey = "once"
			return nd
		}
		mustPublish(t, s, store.EventPublish{Event: newEvent("/src", "first", "t"), Deliveries: []store.NewDelivery{keyed()}})
		_, err := s.PublishEvents(ctx, []store.EventPublish{{Event: newEvent("/src", "second", "t"), Deliveries: []store.NewDelivery{keyed()}}})
		if !errors.Is(err, store.ErrConflict) {
			t.Fatalf("publish with a used idempotency key: %v, want ErrConflict", err)
		}
		if evs, _, err := s.ListEvents(ctx, store.EventFilter{Source: "/src"}, store.Page{}); err != nil || len(evs) != 2 {
			t.Fatalf("events of /src: %v %v, want the first two only", eventKeys(evs), err)
		}
		// A redelivery by a run of that key too.
		if _, err := s.CancelTask(ctx, p.Deliveries[0].Execution); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Redeliver(ctx, p.Deliveries[0].ID, keyed()); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("redeliver with a used idempotency key: %v, want ErrConflict", err)
		}
	})
}
