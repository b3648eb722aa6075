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

const apiColumns = "api, created_at, updated_at"

func scanAPI(row pgx.Row) (store.API, error) {
	var a store.API
	var doc []byte
	var created, updated time.Time
	if err := row.Scan(&doc, &created, &updated); err != nil {
		return a, err
	}
	if err := json.Unmarshal(doc, &a); err != nil {
		return a, fmt.Errorf("decode API: %w", err)
	}
	a.CreatedAt, a.UpdatedAt = created, updated // the columns are the truth
	return a, nil
}

// CreateAPI stores a new API; ErrExists if the name is taken, ErrConflict if
// store.APIConflict refuses it beside another.
func (s *DB) CreateAPI(ctx context.Context, a store.API) (store.API, error) {
	a.ApplyDefaults()
	if err := a.Validate(); err != nil {
		return store.API{}, err
	}
	err := s.write(ctx, "create API", func(tx pgx.Tx) ([]store.Change, error) {
		if err := s.lockAPIs(ctx, tx); err != nil {
			return nil, err
		}
		var taken bool
		if err := tx.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM apis WHERE name = $1)", a.Name).Scan(&taken); err != nil {
			return nil, err
		}
		if taken {
			return nil, store.Errorf(store.ErrExists, "API %q already exists", a.Name)
		}
		if err := checkAPIOverlap(ctx, tx, &a); err != nil {
			return nil, err
		}
		doc, err := jsonValue(a)
		if err != nil {
			return nil, err
		}
		err = tx.QueryRow(ctx, `INSERT INTO apis (name, owner, api, created_at, updated_at) VALUES ($1, $2, $3, now(), now())
			RETURNING created_at, updated_at`, a.Name, a.Owner, doc).Scan(&a.CreatedAt, &a.UpdatedAt)
		return apiChanged(a.Name), err
	})
	return a, err
}

// UpdateAPI applies fn to the stored API in one transaction. fn may not rename it.
func (s *DB) UpdateAPI(ctx context.Context, name string, fn func(*store.API) error) (store.API, error) {
	var a store.API
	err := s.write(ctx, "update API", func(tx pgx.Tx) ([]store.Change, error) {
		if err := s.lockAPIs(ctx, tx); err != nil {
			return nil, err
		}
		var err error
		a, err = scanAPI(tx.QueryRow(ctx, "SELECT "+apiColumns+" FROM apis WHERE name = $1", name))
		if errors.Is(err, pgx.ErrNoRows) {
			return nil, store.NotFound("API", name)
		}
		if err != nil {
			return nil, err
		}
		if err := fn(&a); err != nil {
			return nil, err
		}
		if a.Name != name {
			return nil, store.Invalid("name", "an API cannot be renamed (%q to %q)", name, a.Name)
		}
		a.ApplyDefaults()
		if err := a.Validate(); err != nil {
			return nil, err
		}
		if err := checkAPIOverlap(ctx, tx, &a); err != nil {
			return nil, err
		}
		doc, err := jsonValue(a)
		if err != nil {
			return nil, err
		}
		err = tx.QueryRow(ctx, `UPDATE apis SET owner = $2, api = $3, created_at = $4, updated_at = now() WHERE name = $1
			RETURNING updated_at`, name, a.Owner, doc, a.CreatedAt).Scan(&a.UpdatedAt)
		return apiChanged(name), err
	})
	return a, err
}

// lockAPIs takes, until tx ends, the advisory lock that serialises the writes of APIs of
// this schema: a write checks store.APIConflict against every other API, which no other
// write may change meanwhile.
func (s *DB) lockAPIs(ctx context.Context, tx pgx.Tx) error {
	_, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", s.apiLock)
	return err
}

// checkAPIOverlap refuses, in tx, an API that store.APIConflict refuses beside another
// stored API.
func checkAPIOverlap(ctx context.Context, tx pgx.Tx, a *store.API) error {
	rows, err := tx.Query(ctx, "SELECT "+apiColumns+" FROM apis WHERE name <> $1 ORDER BY name", a.Name)
	if err != nil {
		return err
	}
	others, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (store.API, error) { return scanAPI(row) })
	if err != nil {
		return err
	}
	for i := range others {
		if err := store.APIConflict(a, &others[i]); err != nil {
			return err
		}
	}
	return nil
}

// GetAPI reads one API.
func (s *DB) GetAPI(ctx context.Context, name string) (store.API, error) {
	a, err := scanAPI(s.pool.QueryRow(ctx, "SELECT "+apiColumns+" FROM apis WHERE name = $1", name))
	if errors.Is(err, pgx.ErrNoRows) {
		return store.API{}, store.NotFound("API", name)
	}
	return a, dbError("get API", err)
}

// ListAPIs returns one page of the APIs that pass f, in name order.
func (s *DB) ListAPIs(ctx context.Context, f store.APIFilter, page store.Page) ([]store.API, string, error) {
	after, err := decodeCursor(page.Cursor)
	if err != nil {
		return nil, "", err
	}
	q := "SELECT " + apiColumns + " FROM apis WHERE name > $1 ORDER BY name LIMIT $2"
	args := []any{after, page.Size() + 1}
	if f.Owner != "" {
		q = "SELECT " + apiColumns + " FROM apis WHERE owner = $3 AND name > $1 ORDER BY name LIMIT $2"
		args = append(args, f.Owner)
	}
	rows, err := s.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, "", dbError("list APIs", err)
	}
	apis, next, err := collectPage(rows, page.Size(), scanAPI, func(a store.API) string { return a.Name })
	return apis, next, dbError("list APIs", err)
}

// AllAPIs reads every API, for the gateway to compile its routing table.
func (s *DB) AllAPIs(ctx context.Context) ([]store.API, error) {
	rows, err := s.pool.Query(ctx, "SELECT "+apiColumns+" FROM apis ORDER BY name")
	if err != nil {
		return nil, dbError("read APIs", err)
	}
	apis, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (store.API, error) { return scanAPI(row) })
	return apis, dbError("read APIs", err)
}

// DeleteAPI removes an API; guard, when set, vets its owner inside the transaction.
func (s *DB) DeleteAPI(ctx context.Context, name string, guard store.AppGuard) error {
	return s.write(ctx, "delete API", func(tx pgx.Tx) ([]store.Change, error) {
		var owner string
		err := tx.QueryRow(ctx, "SELECT owner FROM apis WHERE name = $1 FOR UPDATE", name).Scan(&owner)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil, store.NotFound("API", name)
		}
		if err != nil {
			return nil, err
		}
		if guard != nil {
			if err := guard(owner); err != nil {
				return nil, err
			}
		}
		_, err = tx.Exec(ctx, "DELETE FROM apis WHERE name = $1", name)
		return apiChanged(name), err
	})
}

func apiChanged(name string) []store.Change {
	return []store.Change{{Kind: store.ChangeAPI, Name: name}}
}
