package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/gantry-dev/gantry/store"
	"github.com/jackc/pgx/v5"
)

const appColumns = "name, id, owner, config, created_at, updated_at"

func scanApp(row pgx.Row) (store.App, error) {
	var a store.App
	var config []byte
	if err := row.Scan(&a.Name, &a.ID, &a.Owner, &config, &a.CreatedAt, &a.UpdatedAt); err != nil {
		return a, err
	}
	if config != nil {
		if err := json.Unmarshal(config, &a.Config); err != nil {
			return a, fmt.Errorf("decode config of app %s: %w", a.Name, err)
		}
	}
	return a, nil
}

// appConfig is the config column of a: NULL when it has none, as bbolt omits it.
func appConfig(a store.App) (any, error) {
	if len(a.Config) == 0 {
		return nil, nil
	}
	return jsonValue(a.Config)
}

// CreateApp stores a new app; ErrExists if the name is taken.
func (s *DB) CreateApp(ctx context.Context, app store.App) (store.App, error) {
	if err := app.Validate(); err != nil {
		return store.App{}, err
	}
	config, err := appConfig(app)
	if err != nil {
		return store.App{}, err
	}
	err = s.write(ctx, "create app", func(tx pgx.Tx) ([]store.Change, error) {
		app.ID = s.NewID()
		err := tx.QueryRow(ctx, `INSERT INTO apps (name, id, owner, config, created_at, updated_at)
			VALUES ($1, $2, $3, $4, now(), now()) ON CONFLICT (name) DO NOTHING
			RETURNING created_at, updated_at`, app.Name, app.ID, app.Owner, config).Scan(&app.CreatedAt, &app.UpdatedAt)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil, store.Errorf(store.ErrExists, "app %q already exists", app.Name)
		}
		return appChanged(app.Name), err
	})
	return app, err
}

// PutApp creates the app or replaces its config; created tells which. A replaced app keeps
// its ID and owner unless app.Owner names a new one; a created app without one belongs to
// creator. guard vets the owner of an existing app, locked for the write.
func (s *DB) PutApp(ctx context.Context, app store.App, creator string, guard store.AppGuard) (stored store.App, created bool, err error) {
	if err := app.Validate(); err != nil {
		return store.App{}, false, err
	}
	config, err := appConfig(app)
	if err != nil {
		return store.App{}, false, err
	}
	in := app
	err = s.write(ctx, "put app", func(tx pgx.Tx) ([]store.Change, error) {
		for { // until the app is read locked, or created by this transaction
			app = in
			old, err := scanApp(tx.QueryRow(ctx, "SELECT "+appColumns+" FROM apps WHERE name = $1 FOR UPDATE", app.Name))
			if err == nil {
				if guard != nil {
					if err := guard(old.Owner); err != nil {
						return nil, err
					}
				}
				if app.Owner == "" {
					app.Owner = old.Owner
				}
				app.ID, created = old.ID, false
				err := tx.QueryRow(ctx, `UPDATE apps SET owner = $2, config = $3, updated_at = now()
					WHERE name = $1 RETURNING created_at, updated_at`, app.Name, app.Owner, config).Scan(&app.CreatedAt, &app.UpdatedAt)
				return appChanged(app.Name), err
			}
			if !errors.Is(err, pgx.ErrNoRows) {
				return nil, err
			}
			if app.Owner == "" {
				app.Owner = creator
			}
			app.ID, created = s.NewID(), true
			err = tx.QueryRow(ctx, `INSERT INTO apps (name, id, owner, config, created_at, updated_at)
				VALUES ($1, $2, $3, $4, now(), now()) ON CONFLICT (name) DO NOTHING
				RETURNING created_at, updated_at`, app.Name, app.ID, app.Owner, config).Scan(&app.CreatedAt, &app.UpdatedAt)
			if !errors.Is(err, pgx.ErrNoRows) {
				return appChanged(app.Name), err
			}
			// Another transaction created it meanwhile: read it again, locked, and vet its owner.
		}
	})
	return app, created, err
}

// UpdateApp applies fn to the stored app in one transaction. fn may not rename it.
func (s *DB) UpdateApp(ctx context.Context, name string, fn func(*store.App) error) (store.App, error) {
	var app store.App
	err := s.write(ctx, "update app", func(tx pgx.Tx) ([]store.Change, error) {
		var err error
		app, err = scanApp(tx.QueryRow(ctx, "SELECT "+appColumns+" FROM apps WHERE name = $1 FOR UPDATE", name))
		if errors.Is(err, pgx.ErrNoRows) {
			return nil, store.NotFound("app", name)
		}
		if err != nil {
			return nil, err
		}
		if err := fn(&app); err != nil {
			return nil, err
		}
		if app.Name != name {
			return nil, store.Invalid("name", "an app cannot be renamed (%q to %q)", name, app.Name)
		}
		if err := app.Validate(); err != nil {
			return nil, err
		}
		config, err := appConfig(app)
		if err != nil {
			return nil, err
		}
		err = tx.QueryRow(ctx, `UPDATE apps SET id = $2, owner = $3, config = $4, created_at = $5, updated_at = now()
			WHERE name = $1 RETURNING updated_at`, name, app.ID, app.Owner, config, app.CreatedAt).Scan(&app.UpdatedAt)
		return appChanged(name), err
	})
	return app, err
}

// GetApp reads one app.
func (s *DB) GetApp(ctx context.Context, name string) (store.App, error) {
	app, err := scanApp(s.pool.QueryRow(ctx, "SELECT "+appColumns+" FROM apps WHERE name = $1", name))
	if errors.Is(err, pgx.ErrNoRows) {
		return store.App{}, store.NotFound("app", name)
	}
	return app, dbError("get app", err)
}

// ListApps returns one page of the apps that pass f, in name order, and the cursor of the
// next page ("" on the last).
func (s *DB) ListApps(ctx context.Context, f store.AppFilter, page store.Page) ([]store.App, string, error) {
	after, err := decodeCursor(page.Cursor)
	if err != nil {
		return nil, "", err
	}
	q := "SELECT " + appColumns + " FROM apps WHERE name > $1 ORDER BY name LIMIT $2"
	args := []any{after, page.Size() + 1}
	if f.Owner != "" {
		q = "SELECT " + appColumns + " FROM apps WHERE owner = $3 AND name > $1 ORDER BY name LIMIT $2"
		args = append(args, f.Owner)
	}
	rows, err := s.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, "", dbError("list apps", err)
	}
	apps, next, err := collectPage(rows, page.Size(), scanApp, func(a store.App) string { return a.Name })
	return apps, next, dbError("list apps", err)
}

// DeleteApp removes an app that has no routes; ErrConflict while it has some.
func (s *DB) DeleteApp(ctx context.Context, name string, guard store.AppGuard) error {
	return s.write(ctx, "delete app", func(tx pgx.Tx) ([]store.Change, error) {
		if err := appGuarded(ctx, tx, name, guard); err != nil {
			return nil, err
		}
		var routes bool
		if err := tx.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM routes WHERE app = $1)", name).Scan(&routes); err != nil {
			return nil, err
		}
		if routes {
			return nil, store.Errorf(store.ErrConflict, "app %q still has routes; delete them first", name)
		}
		_, err := tx.Exec(ctx, "DELETE FROM apps WHERE name = $1", name)
		return appChanged(name), err
	})
}

// appGuarded locks app for the rest of tx (its owner cannot change, no route of it can be
// written by another transaction, it cannot be deleted) and lets guard vet its owner.
// ErrNotFound without the app.
func appGuarded(ctx context.Context, tx pgx.Tx, app string, guard store.AppGuard) error {
	var owner string
	err := tx.QueryRow(ctx, "SELECT owner FROM apps WHERE name = $1 FOR UPDATE", app).Scan(&owner)
	if errors.Is(err, pgx.ErrNoRows) {
		return store.NotFound("app", app)
	}
	if err != nil || guard == nil {
		return err
	}
	return guard(owner)
}

func appChanged(name string) []store.Change {
	return []store.Change{{Kind: store.ChangeApp, App: name}}
}
