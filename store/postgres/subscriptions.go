package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/gantry-dev/gantry/store"
	"github.com/jackc/pgx/v5"
)

const subscriptionColumns = "name, id, owner, subscription, created_at, updated_at"

// scanSubscription reads subscriptionColumns: the document, then the columns, which are
// the truth of what they hold.
func scanSubscription(row pgx.Row) (store.Subscription, error) {
	var sub store.Subscription
	var name, id, owner string
	var doc []byte
	var created, updated time.Time
	if err := row.Scan(&name, &id, &owner, &doc, &created, &updated); err != nil {
		return sub, err
	}
	if err := json.Unmarshal(doc, &sub); err != nil {
		return sub, fmt.Errorf("decode subscription %s: %w", name, err)
	}
	sub.Name, sub.ID, sub.Owner, sub.CreatedAt, sub.UpdatedAt = name, id, owner, created, updated
	return sub, nil
}

func subscriptionChanged(name string) []store.Change {
	return []store.Change{{Kind: store.ChangeSubscription, Name: name}}
}

// CreateSubscription stores a new subscription with a new ID, created and updated now;
// ErrExists if the name is taken (the primary key decides between two nodes creating it
// at once).
func (s *DB) CreateSubscription(ctx context.Context, sub store.Subscription) (store.Subscription, error) {
	if sub.Name == "" {
		return store.Subscription{}, store.Invalid("name", "a subscription needs a name")
	}
	sub.ID = s.NewID()
	doc, err := jsonValue(sub)
	if err != nil {
		return store.Subscription{}, err
	}
	err = s.write(ctx, "create subscription", func(tx pgx.Tx) ([]store.Change, error) {
		err := tx.QueryRow(ctx, `INSERT INTO subscriptions (`+subscriptionColumns+`) VALUES ($1, $2, $3, $4, now(), now())
			ON CONFLICT (name) DO NOTHING RETURNING created_at, updated_at`, sub.Name, sub.ID, sub.Owner, doc).Scan(&sub.CreatedAt, &sub.UpdatedAt)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil, store.Errorf(store.ErrExists, "subscription %q already exists", sub.Name)
		}
		return subscriptionChanged(sub.Name), err
	})
	if err != nil {
		return store.Subscription{}, err
	}
	return sub, nil
}

// UpdateSubscription applies fn to the stored subscription in one transaction, its row
// locked: guard vets the stored owner first. fn may not rename it nor change its ID;
// UpdatedAt becomes now (or just past the one stored, should the clock not have moved).
func (s *DB) UpdateSubscription(ctx context.Context, name string, fn func(*store.Subscription) error, guard store.AppGuard) (store.Subscription, error) {
	var sub store.Subscription
	err := s.write(ctx, "update subscription", func(tx pgx.Tx) ([]store.Change, error) {
		old, err := scanSubscription(tx.QueryRow(ctx, "SELECT "+subscriptionColumns+" FROM subscriptions WHERE name = $1 FOR UPDATE", name))
		if errors.Is(err, pgx.ErrNoRows) {
			return nil, store.NotFound("subscription", name)
		}
		if err != nil {
			return nil, err
		}
		if guard != nil {
			if err := guard(old.Owner); err != nil {
				return nil, err
			}
		}
		sub = old
		if err := fn(&sub); err != nil {
			return nil, err
		}
		switch {
		case sub.Name != name:
			return nil, store.Invalid("name", "a subscription cannot be renamed (%q to %q)", name, sub.Name)
		case sub.ID != old.ID:
			return nil, store.Invalid("id", "subscription %q cannot change its ID", name)
		}
		sub.CreatedAt = old.CreatedAt
		doc, err := jsonValue(sub)
		if err != nil {
			return nil, err
		}
		err = tx.QueryRow(ctx, "UPDATE subscriptions SET owner = $2, subscription = $3, updated_at = greatest(now(), updated_at + interval '1 microsecond') WHERE name = $1 RETURNING updated_at",
			name, sub.Owner, doc).Scan(&sub.UpdatedAt)
		return subscriptionChanged(name), err
	})
	if err != nil {
		return store.Subscription{}, err
	}
	return sub, nil
}

// GetSubscription reads one subscription.
func (s *DB) GetSubscription(ctx context.Context, name string) (store.Subscription, error) {
	sub, err := scanSubscription(s.pool.QueryRow(ctx, "SELECT "+subscriptionColumns+" FROM subscriptions WHERE name = $1", name))
	if errors.Is(err, pgx.ErrNoRows) {
		return store.Subscription{}, store.NotFound("subscription", name)
	}
	return sub, dbError("get subscription", err)
}

// ListSubscriptions returns one page of the subscriptions that pass f, in name order, and
// the cursor of the next page; f.Visible is applied while the rows are read.
func (s *DB) ListSubscriptions(ctx context.Context, f store.SubscriptionFilter, page store.Page) ([]store.Subscription, string, error) {
	read := func(after string, n int) ([]store.Subscription, error) {
		rows, err := s.pool.Query(ctx, "SELECT "+subscriptionColumns+" FROM subscriptions WHERE name > $1 ORDER BY name LIMIT $2", after, n)
		if err != nil {
			return nil, err
		}
		return pgx.CollectRows(rows, func(row pgx.CollectableRow) (store.Subscription, error) { return scanSubscription(row) })
	}
	subs, next, err := visiblePage(page, f.Visible, func(sub store.Subscription) string { return sub.Name }, read)
	return subs, next, dbError("list subscriptions", err)
}

// AllSubscriptions reads every subscription, in name order, for the matcher's cache.
func (s *DB) AllSubscriptions(ctx context.Context) ([]store.Subscription, error) {
	rows, err := s.pool.Query(ctx, "SELECT "+subscriptionColumns+" FROM subscriptions ORDER BY name")
	if err != nil {
		return nil, dbError("read subscriptions", err)
	}
	subs, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (store.Subscription, error) { return scanSubscription(row) })
	return subs, dbError("read subscriptions", err)
}

// DeleteSubscription removes a subscription; guard vets its owner, its row locked. Its
// deliveries stay.
func (s *DB) DeleteSubscription(ctx context.Context, name string, guard store.AppGuard) error {
	return s.write(ctx, "delete subscription", func(tx pgx.Tx) ([]store.Change, error) {
		return subscriptionChanged(name), deleteOwned(ctx, tx, "subscriptions", "subscription", name, guard)
	})
}

// deleteOwned deletes the row of table (subscriptions or schedules, a what each) named
// name in tx: the row is locked and guard vets its owner first. ErrNotFound without it.
func deleteOwned(ctx context.Context, tx pgx.Tx, table, what, name string, guard store.AppGuard) error {
	var owner string
	err := tx.QueryRow(ctx, "SELECT owner FROM "+table+" WHERE name = $1 FOR UPDATE", name).Scan(&owner)
	if errors.Is(err, pgx.ErrNoRows) {
		return store.NotFound(what, name)
	}
	if err != nil {
		return err
	}
	if guard != nil {
		if err := guard(owner); err != nil {
			return err
		}
	}
	_, err = tx.Exec(ctx, "DELETE FROM "+table+" WHERE name = $1", name)
	return err
}
