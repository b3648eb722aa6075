package bolt

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"

	"github.com/gantry-dev/gantry/store"
	bolt "go.etcd.io/bbolt"
)

// CreateApp stores a new app; ErrExists if the name is taken.
func (s *DB) CreateApp(ctx context.Context, app store.App) (store.App, error) {
	if err := app.Validate(); err != nil {
		return store.App{}, err
	}
	err := s.update(ctx, func(tx *bolt.Tx) ([]store.Change, error) {
		b := tx.Bucket(bucketApps)
		if b.Get([]byte(app.Name)) != nil {
			return nil, store.Errorf(store.ErrExists, "app %q already exists", app.Name)
		}
		app.ID = s.NewID()
		app.CreatedAt = s.now()
		app.UpdatedAt = app.CreatedAt
		return appChanged(app.Name), putJSON(b, []byte(app.Name), app)
	})
	return app, err
}

// PutApp creates the app or replaces its config; created tells which. A replaced app keeps
// its owner unless app.Owner names a new one; a created app without one belongs to creator.
func (s *DB) PutApp(ctx context.Context, app store.App, creator string, guard store.AppGuard) (stored store.App, created bool, err error) {
	if err := app.Validate(); err != nil {
		return store.App{}, false, err
	}
	err = s.update(ctx, func(tx *bolt.Tx) ([]store.Change, error) {
		b := tx.Bucket(bucketApps)
		var old store.App
		found, err := getJSON(b, []byte(app.Name), &old)
		if err != nil {
			return nil, err
		}
		if found && guard != nil {
			if err := guard(old.Owner); err != nil {
				return nil, err
			}
		}
		app.UpdatedAt = s.now()
		app.CreatedAt, app.ID = app.UpdatedAt, s.NewID()
		if found {
			app.CreatedAt, app.ID = old.CreatedAt, old.ID
		}
		if app.Owner == "" {
			app.Owner = creator
			if found {
				app.Owner = old.Owner
			}
		}
		created = !found
		return appChanged(app.Name), putJSON(b, []byte(app.Name), app)
	})
	return app, created, err
}

// UpdateApp applies fn to the stored app in one transaction. fn may not rename it.
func (s *DB) UpdateApp(ctx context.Context, name string, fn func(*store.App) error) (store.App, error) {
	var app store.App
	err := s.update(ctx, func(tx *bolt.Tx) ([]store.Change, error) {
		b := tx.Bucket(bucketApps)
		found, err := getJSON(b, []byte(name), &app)
		if err != nil {
			return nil, err
		}
		if !found {
			return nil, store.NotFound("app", name)
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
		app.UpdatedAt = s.now()
		return appChanged(name), putJSON(b, []byte(name), app)
	})
	return app, err
}

// GetApp reads one app.
func (s *DB) GetApp(ctx context.Context, name string) (store.App, error) {
	var app store.App
	err := s.view(ctx, func(tx *bolt.Tx) error {
		found, err := getJSON(tx.Bucket(bucketApps), []byte(name), &app)
		if err == nil && !found {
			err = store.NotFound("app", name)
		}
		return err
	})
	return app, err
}

// ListApps returns one page of the apps that pass f, in name order, and the cursor of the
// next page ("" on the last).
func (s *DB) ListApps(ctx context.Context, f store.AppFilter, page store.Page) ([]store.App, string, error) {
	apps := []store.App{}
	var next string
	err := s.view(ctx, func(tx *bolt.Tx) error {
		var err error
		apps, next, err = listPage(tx.Bucket(bucketApps), nil, page, func(v []byte) (a store.App, kept bool, err error) {
			if err := json.Unmarshal(v, &a); err != nil {
				return a, false, fmt.Errorf("decode app: %w", err)
			}
			if f.Owner != "" && a.Owner != f.Owner {
				return a, false, nil
			}
			return a, true, nil
		})
		return err
	})
	return apps, next, err
}

// DeleteApp removes an app that has no routes; ErrConflict while it has some.
func (s *DB) DeleteApp(ctx context.Context, name string, guard store.AppGuard) error {
	return s.update(ctx, func(tx *bolt.Tx) ([]store.Change, error) {
		b := tx.Bucket(bucketApps)
		if err := appGuarded(tx, name, guard); err != nil {
			return nil, err
		}
		prefix := routePrefix(name)
		if k, _ := tx.Bucket(bucketRoutes).Cursor().Seek(prefix); k != nil && bytes.HasPrefix(k, prefix) {
			return nil, store.Errorf(store.ErrConflict, "app %q still has routes; delete them first", name)
		}
		return appChanged(name), b.Delete([]byte(name))
	})
}

func appChanged(name string) []store.Change {
	return []store.Change{{Kind: store.ChangeApp, App: name}}
}
