package storetest

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/store"
)

func subscriptionCases() []testCase {
	return []testCase{
		{
			name:   "a subscription is created once by name with an ID, updated and deleted under its guard, and every write sends ChangeSubscription",
			covers: []string{"CreateSubscription", "GetSubscription", "UpdateSubscription", "DeleteSubscription", "AllSubscriptions", "Subscribe"},
			run:    testSubscriptionWrites,
		},
		{
			name:   "subscriptions are listed in name order, a page at a time, filtered by visibility, and read all at once",
			covers: []string{"ListSubscriptions", "AllSubscriptions", "CreateSubscription"},
			run:    testListSubscriptions,
		},
		{
			name:   "every update of a subscription moves its UpdatedAt past the one before, however quick the writes",
			covers: []string{"UpdateSubscription", "CreateSubscription"},
			run:    testSubscriptionUpdatedAtMoves,
		},
	}
}

func testSubscriptionUpdatedAtMoves(t *testing.T, s store.Store) {
	ctx := t.Context()
	prev, err := s.CreateSubscription(ctx, newSubscription("quick", "ann"))
	if err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		next, err := s.UpdateSubscription(ctx, "quick", func(sub *store.Subscription) error { sub.Enabled = i%2 == 0; return nil }, nil)
		if err != nil {
			t.Fatal(err)
		}
		if !next.UpdatedAt.After(prev.UpdatedAt) {
			t.Fatalf("update %d: updated_at %s, not after %s", i, next.UpdatedAt, prev.UpdatedAt)
		}
		if got, err := s.GetSubscription(ctx, "quick"); err != nil || !got.UpdatedAt.Equal(next.UpdatedAt) {
			t.Fatalf("stored updated_at %s, %v; the update answered %s", got.UpdatedAt, err, next.UpdatedAt)
		}
		prev = next
	}
}

func newSubscription(name, owner string) store.Subscription {
	return store.Subscription{Name: name, Owner: owner, Filter: store.EventMatch{Type: "com.shop.*", Subject: "orders/"},
		Target: store.DeliveryTarget{App: "shop", Path: "/on-order"}, Enabled: true,
		Retry:      store.RetryPolicy{MaxAttempts: 3, Initial: time.Second, Max: time.Minute},
		DeadLetter: store.DeadLetterKeep, Scope: store.ScopeOwn}
}

// guardOf returns a guard that lets only owner write, and the owners it was asked about.
func guardOf(owner string) (store.AppGuard, *[]string) {
	var seen []string
	return func(o string) error {
		seen = append(seen, o)
		if o != owner {
			return errNotYours
		}
		return nil
	}, &seen
}

var errNotYours = errors.New("not yours")

func testSubscriptionWrites(t *testing.T, s store.Store) {
	ctx := t.Context()
	var heard changeLog
	defer s.Subscribe(heard.add)()
	change := store.Change{Kind: store.ChangeSubscription, Name: "on-order"}
	wantHeard := func(what string) {
		t.Helper()
		if got := heard.take(); !slices.Contains(got, change) {
			t.Fatalf("%s: heard %+v, want %+v", what, got, change)
		}
	}

	in := newSubscription("on-order", "ann")
	in.ID = "mine"
	created, err := s.CreateSubscription(ctx, in)
	if _, ok := store.ValidID(created.ID); err != nil || !ok || created.CreatedAt.IsZero() || created.UpdatedAt.IsZero() || created.Owner != "ann" {
		t.Fatalf("create: %+v %v, want an ID from NewID and its times set", created, err)
	}
	wantHeard("create")
	got, err := s.GetSubscription(ctx, "on-order")
	if err != nil || got.ID != created.ID || got.Filter != created.Filter || got.Target != created.Target || got.Retry != created.Retry || !got.Enabled ||
		got.DeadLetter != store.DeadLetterKeep || got.Scope != store.ScopeOwn || !got.CreatedAt.Equal(created.CreatedAt) {
		t.Fatalf("get: %+v %v, want %+v", got, err, created)
	}
	if _, err := s.CreateSubscription(ctx, newSubscription("on-order", "bob")); !errors.Is(err, store.ErrExists) {
		t.Fatalf("create a taken name: %v, want ErrExists", err)
	}

	onlyBob, seen := guardOf("bob")
	fnErr := errors.New("fn refuses")
	for _, c := range []struct {
		name  string
		fn    func(*store.Subscription) error
		guard store.AppGuard
		want  error
	}{
		{"another owner's guard refuses it", func(s *store.Subscription) error { s.Enabled = false; return nil }, onlyBob, errNotYours},
		{"a rename is refused", func(s *store.Subscription) error { s.Name, s.Enabled = "renamed", false; return nil }, nil, store.ErrInvalid},
		{"a change of ID is refused", func(s *store.Subscription) error { s.ID, s.Enabled = "other", false; return nil }, nil, store.ErrInvalid},
		{"fn's error is returned", func(s *store.Subscription) error { s.Enabled = false; return fnErr }, nil, fnErr},
	} {
		if _, err := s.UpdateSubscription(ctx, "on-order", c.fn, c.guard); !errors.Is(err, c.want) {
			t.Fatalf("update where %s: %v, want %v", c.name, err, c.want)
		}
		if got, _ := s.GetSubscription(ctx, "on-order"); !got.Enabled {
			t.Fatalf("update where %s wrote %+v", c.name, got)
		}
	}
	if !slices.Equal(*seen, []string{"ann"}) {
		t.Fatalf("the guard saw owners %v, want the stored owner ann", *seen)
	}
	onlyAnn, _ := guardOf("ann")
	heard.take()
	updated, err := s.UpdateSubscription(ctx, "on-order", func(s *store.Subscription) error {
		s.Enabled, s.Filter.Source = false, "/shop"
		return nil
	}, onlyAnn)
	if err != nil || updated.Enabled || updated.Filter.Source != "/shop" || updated.ID != created.ID || !updated.CreatedAt.Equal(created.CreatedAt) ||
		updated.UpdatedAt.Before(created.UpdatedAt) {
		t.Fatalf("update: %+v %v", updated, err)
	}
	wantHeard("update")
	if got, _ := s.GetSubscription(ctx, "on-order"); got.Enabled || got.Filter.Source != "/shop" || got.ID != created.ID || !got.UpdatedAt.Equal(updated.UpdatedAt) {
		t.Fatalf("read after update: %+v, want %+v", got, updated)
	}

	if _, err := s.UpdateSubscription(ctx, "nope", func(*store.Subscription) error { return nil }, nil); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("update a missing subscription: %v, want ErrNotFound", err)
	}
	if err := s.DeleteSubscription(ctx, "nope", nil); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("delete a missing subscription: %v, want ErrNotFound", err)
	}
	if err := s.DeleteSubscription(ctx, "on-order", onlyBob); !errors.Is(err, errNotYours) {
		t.Fatalf("delete under another owner's guard: %v, want its error", err)
	}
	if _, err := s.GetSubscription(ctx, "on-order"); err != nil {
		t.Fatalf("a refused delete removed it: %v", err)
	}
	heard.take()
	if err := s.DeleteSubscription(ctx, "on-order", onlyAnn); err != nil {
		t.Fatal(err)
	}
	wantHeard("delete")
	if _, err := s.GetSubscription(ctx, "on-order"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("get after delete: %v, want ErrNotFound", err)
	}
	again, err := s.CreateSubscription(ctx, newSubscription("on-order", "bob"))
	if err != nil || again.ID == created.ID {
		t.Fatalf("made again under its name: %+v %v, want a new ID", again, err)
	}
	if all, err := s.AllSubscriptions(ctx); err != nil || len(all) != 1 || all[0].ID != again.ID {
		t.Fatalf("AllSubscriptions: %+v %v, want the one made again, with its ID", all, err)
	}
}

func testListSubscriptions(t *testing.T, s store.Store) {
	ctx := t.Context()
	for i, name := range []string{"c", "a", "e", "b", "d"} {
		if _, err := s.CreateSubscription(ctx, newSubscription(name, []string{"ann", "bob"}[i%2])); err != nil {
			t.Fatal(err)
		}
	}
	pages := func(f store.SubscriptionFilter, per int) []string {
		var names []string
		cursor := ""
		for {
			list, next, err := s.ListSubscriptions(ctx, f, store.Page{Cursor: cursor, Limit: per})
			if err != nil {
				t.Fatal(err)
			}
			checkPageAfterCursor(t, cursor, len(list))
			for _, sub := range list {
				names = append(names, sub.Name)
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
		if got := pages(store.SubscriptionFilter{}, per); !slices.Equal(got, []string{"a", "b", "c", "d", "e"}) {
			t.Fatalf("%d a page: %v, want name order", per, got)
		}
		anns := store.SubscriptionFilter{Visible: func(s store.Subscription) bool { return s.Owner == "ann" }}
		if got := pages(anns, per); !slices.Equal(got, []string{"c", "d", "e"}) {
			t.Fatalf("%d a page of ann's: %v, want c d e", per, got)
		}
		bobs := store.SubscriptionFilter{Visible: func(s store.Subscription) bool { return s.Owner == "bob" }}
		if got := pages(bobs, per); !slices.Equal(got, []string{"a", "b"}) {
			t.Fatalf("%d a page of bob's, before ann's: %v, want a b", per, got)
		}
	}
	all, err := s.AllSubscriptions(ctx)
	var names []string
	for _, sub := range all {
		names = append(names, sub.Name)
		if sub.Target.App != "shop" || sub.Filter.Type != "com.shop.*" {
			t.Fatalf("AllSubscriptions read %+v", sub)
		}
	}
	slices.Sort(names)
	if err != nil || !slices.Equal(names, []string{"a", "b", "c", "d", "e"}) {
		t.Fatalf("AllSubscriptions: %v %v", names, err)
	}
}
