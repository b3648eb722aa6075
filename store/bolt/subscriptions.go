package bolt

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/gantry-dev/gantry/store"
	bolt "go.etcd.io/bbolt"
)

var bucketSubscriptions = []byte("subscriptions") // name -> store.Subscription JSON

func subscriptionChange(name string) []store.Change {
	return []store.Change{{Kind: store.ChangeSubscription, Name: name}}
}

// CreateSubscription stores a new subscription with a new ID, CreatedAt and UpdatedAt now;
// ErrExists if the name is taken.
func (s *DB) CreateSubscription(ctx context.Context, sub store.Subscription) (store.Subscription, error) {
	if sub.Name == "" {
		return store.Subscription{}, store.Invalid("name", "a subscription has a name")
	}
	sub.ID = s.NewID()
	err := s.update(ctx, func(tx *bolt.Tx) ([]store.Change, error) {
		sub.CreatedAt = s.now()
		sub.UpdatedAt = sub.CreatedAt
		return subscriptionChange(sub.Name), putNew(tx.Bucket(bucketSubscriptions), "subscription", sub.Name, sub)
	})
	if err != nil {
		return store.Subscription{}, err
	}
	return sub, nil
}

// UpdateSubscription applies fn to the stored subscription in one write, after guard vetted
// its stored owner; fn may not rename it nor change its ID. UpdatedAt is set, CreatedAt kept.
func (s *DB) UpdateSubscription(ctx context.Context, name string, fn func(*store.Subscription) error, guard store.AppGuard) (store.Subscription, error) {
	var out store.Subscription
	err := s.update(ctx, func(tx *bolt.Tx) ([]store.Change, error) {
		b := tx.Bucket(bucketSubscriptions)
		var sub store.Subscription
		found, err := getJSON(b, []byte(name), &sub)
		switch {
		case err != nil:
			return nil, err
		case !found:
			return nil, store.NotFound("subscription", name)
		}
		if guard != nil {
			if err := guard(sub.Owner); err != nil {
				return nil, err
			}
		}
		created, id, was := sub.CreatedAt, sub.ID, sub.UpdatedAt
		if err := fn(&sub); err != nil {
			return nil, err
		}
		switch {
		case sub.Name != name:
			return nil, store.Invalid("name", "a subscription cannot be renamed (%q to %q)", name, sub.Name)
		case sub.ID != id:
			return nil, store.Invalid("id", "a subscription keeps its ID")
		}
		sub.CreatedAt, sub.UpdatedAt = created, s.now()
		if !sub.UpdatedAt.After(was) { // every write moves it: writers compare it (see UpdateSubscription)
			sub.UpdatedAt = was.Add(time.Millisecond)
		}
		out = sub
		return subscriptionChange(name), putJSON(b, []byte(name), sub)
	})
	if err != nil {
		return store.Subscription{}, err
	}
	return out, nil
}

// GetSubscription reads one subscription.
func (s *DB) GetSubscription(ctx context.Context, name string) (store.Subscription, error) {
	var sub store.Subscription
	err := s.view(ctx, func(tx *bolt.Tx) error {
		found, err := getJSON(tx.Bucket(bucketSubscriptions), []byte(name), &sub)
		if err == nil && !found {
			err = store.NotFound("subscription", name)
		}
		return err
	})
	return sub, err
}

// ListSubscriptions returns one page of the subscriptions that pass f, in name order, and
// the cursor of the next page ("" on the last).
func (s *DB) ListSubscriptions(ctx context.Context, f store.SubscriptionFilter, page store.Page) ([]store.Subscription, string, error) {
	out := []store.Subscription{}
	var next string
	err := s.view(ctx, func(tx *bolt.Tx) error {
		var err error
		out, next, err = listPage(tx.Bucket(bucketSubscriptions), nil, page, func(v []byte) (sub store.Subscription, kept bool, err error) {
			if err := json.Unmarshal(v, &sub); err != nil {
				return sub, false, fmt.Errorf("decode subscription: %w", err)
			}
			if f.Visible != nil && !f.Visible(sub) {
				return sub, false, nil
			}
			return sub, true, nil
		})
		return err
	})
	if err != nil {
		return nil, "", err
	}
	return out, next, nil
}

// AllSubscriptions reads every subscription, in name order.
func (s *DB) AllSubscriptions(ctx context.Context) ([]store.Subscription, error) {
	out := []store.Subscription{}
	err := s.view(ctx, func(tx *bolt.Tx) error {
		return tx.Bucket(bucketSubscriptions).ForEach(func(_, v []byte) error {
			var sub store.Subscription
			if err := json.Unmarshal(v, &sub); err != nil {
				return fmt.Errorf("decode subscription: %w", err)
			}
			out = append(out, sub)
			return nil
		})
	})
	return out, err
}

// DeleteSubscription removes a subscription after guard vetted its owner; its deliveries stay.
func (s *DB) DeleteSubscription(ctx context.Context, name string, guard store.AppGuard) error {
	return s.update(ctx, func(tx *bolt.Tx) ([]store.Change, error) {
		b := tx.Bucket(bucketSubscriptions)
		var sub store.Subscription
		found, err := getJSON(b, []byte(name), &sub)
		switch {
		case err != nil:
			return nil, err
		case !found:
			return nil, store.NotFound("subscription", name)
		}
		if guard != nil {
			if err := guard(sub.Owner); err != nil {
				return nil, err
			}
		}
		return subscriptionChange(name), b.Delete([]byte(name))
	})
}
