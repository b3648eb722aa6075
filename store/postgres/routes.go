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

const routeColumns = "route, created_at, updated_at"

func scanRoute(row pgx.Row) (store.Route, error) {
	var r store.Route
	var doc []byte
	var created, updated time.Time
	if err := row.Scan(&doc, &created, &updated); err != nil {
		return r, err
	}
	if err := json.Unmarshal(doc, &r); err != nil {
		return r, fmt.Errorf("decode route: %w", err)
	}
	r.CreatedAt, r.UpdatedAt = created, updated // the columns are the truth
	return r, nil
}

func routeNotFound(app, path string) error {
	return store.Errorf(store.ErrNotFound, "route %s not found in app %q", path, app)
}

// CreateRoute stores a new route of an existing app, with defaults applied.
func (s *DB) CreateRoute(ctx context.Context, r store.Route, guard store.AppGuard) (store.Route, error) {
	r.ApplyDefaults()
	if err := r.Validate(); err != nil {
		return store.Route{}, err
	}
	err := s.write(ctx, "create route", func(tx pgx.Tx) ([]store.Change, error) {
		if err := appGuarded(ctx, tx, r.App, guard); err != nil {
			return nil, err
		}
		if err := checkShape(ctx, tx, r, true); err != nil {
			return nil, err
		}
		if err := lockRouteImage(ctx, tx, r.Image); err != nil {
			return nil, err
		}
		return routeChanged(r.App, r.Path), insertRoute(ctx, tx, &r)
	})
	return r, err
}

// PutRoute creates the route or replaces all its fields; created tells which.
func (s *DB) PutRoute(ctx context.Context, r store.Route, guard store.AppGuard) (stored store.Route, created bool, err error) {
	r.ApplyDefaults()
	if err := r.Validate(); err != nil {
		return store.Route{}, false, err
	}
	err = s.write(ctx, "put route", func(tx pgx.Tx) ([]store.Change, error) {
		if err := appGuarded(ctx, tx, r.App, guard); err != nil {
			return nil, err
		}
		if err := lockRouteImage(ctx, tx, r.Image); err != nil {
			return nil, err
		}
		doc, err := jsonValue(r)
		if err != nil {
			return nil, err
		}
		err = tx.QueryRow(ctx, `UPDATE routes SET route = $3, updated_at = now() WHERE app = $1 AND path = $2
			RETURNING created_at, updated_at`, r.App, r.Path, doc).Scan(&r.CreatedAt, &r.UpdatedAt)
		created = errors.Is(err, pgx.ErrNoRows)
		if !created {
			return routeChanged(r.App, r.Path), err
		}
		if err := checkShape(ctx, tx, r, false); err != nil {
			return nil, err
		}
		return routeChanged(r.App, r.Path), insertRoute(ctx, tx, &r)
	})
	return r, created, err
}

// UpdateRoute applies fn to the stored route in one transaction. fn may not change its app or path.
func (s *DB) UpdateRoute(ctx context.Context, app, path string, fn func(*store.Route) error, guard store.AppGuard) (store.Route, error) {
	var r store.Route
	err := s.write(ctx, "update route", func(tx pgx.Tx) ([]store.Change, error) {
		if err := appGuarded(ctx, tx, app, guard); err != nil {
			return nil, err
		}
		var err error
		r, err = scanRoute(tx.QueryRow(ctx, "SELECT "+routeColumns+" FROM routes WHERE app = $1 AND path = $2", app, path))
		if errors.Is(err, pgx.ErrNoRows) {
			return nil, routeNotFound(app, path)
		}
		if err != nil {
			return nil, err
		}
		if err := fn(&r); err != nil {
			return nil, err
		}
		if r.App != app || r.Path != path {
			return nil, store.Invalid("path", "a route cannot be moved (%s to %s)", path, r.Path)
		}
		r.ApplyDefaults()
		if err := r.Validate(); err != nil {
			return nil, err
		}
		if err := lockRouteImage(ctx, tx, r.Image); err != nil {
			return nil, err
		}
		doc, err := jsonValue(r)
		if err != nil {
			return nil, err
		}
		err = tx.QueryRow(ctx, `UPDATE routes SET route = $3, created_at = $4, updated_at = now() WHERE app = $1 AND path = $2
			RETURNING updated_at`, app, path, doc, r.CreatedAt).Scan(&r.UpdatedAt)
		return routeChanged(app, path), err
	})
	return r, err
}

// insertRoute stores a new route, its timestamps from the database's clock.
func insertRoute(ctx context.Context, tx pgx.Tx, r *store.Route) error {
	doc, err := jsonValue(r)
	if err != nil {
		return err
	}
	err = tx.QueryRow(ctx, `INSERT INTO routes (app, path, shape, route, created_at, updated_at)
		VALUES ($1, $2, $3, $4, now(), now()) RETURNING created_at, updated_at`,
		r.App, r.Path, store.RouteShape(r.Path), doc).Scan(&r.CreatedAt, &r.UpdatedAt)
	if isUniqueViolation(err) { // checkShape ran under the app's lock: only a writer that skipped it gets here
		return store.Errorf(store.ErrExists, "route %s conflicts with a route of app %q: they match the same requests", r.Path, r.App)
	}
	return err
}

// checkShape refuses, in tx, a new route whose path has the shape of another route of the
// app ("/x/:name" beside "/x/:id"): both would match the same requests. The app is locked
// (appGuarded), so no route of it is written meanwhile; the unique index on (app, shape)
// holds the rule whatever happens. With exact set, the same path is refused too.
func checkShape(ctx context.Context, tx pgx.Tx, r store.Route, exact bool) error {
	var other string
	err := tx.QueryRow(ctx, "SELECT path FROM routes WHERE app = $1 AND shape = $2", r.App, store.RouteShape(r.Path)).Scan(&other)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return nil
	case err != nil:
		return err
	case other == r.Path && exact:
		return store.Errorf(store.ErrExists, "route %s already exists in app %q", r.Path, r.App)
	case other == r.Path:
		return nil
	}
	return store.Errorf(store.ErrExists, "route %s conflicts with route %s of app %q: they match the same requests", r.Path, other, r.App)
}

// GetRoute reads the route with exactly this path.
func (s *DB) GetRoute(ctx context.Context, app, path string) (store.Route, error) {
	r, err := scanRoute(s.pool.QueryRow(ctx, "SELECT "+routeColumns+" FROM routes WHERE app = $1 AND path = $2", app, path))
	if errors.Is(err, pgx.ErrNoRows) {
		if err := s.appExists(ctx, app); err != nil {
			return store.Route{}, err
		}
		return store.Route{}, routeNotFound(app, path)
	}
	return r, dbError("get route", err)
}

// ListRoutes returns one page of an app's routes in path order and the next cursor.
func (s *DB) ListRoutes(ctx context.Context, app string, page store.Page) ([]store.Route, string, error) {
	after, err := decodeCursor(page.Cursor)
	if err != nil {
		return nil, "", err
	}
	if err := s.appExists(ctx, app); err != nil {
		return nil, "", err
	}
	rows, err := s.pool.Query(ctx, "SELECT "+routeColumns+" FROM routes WHERE app = $1 AND path > $2 ORDER BY path LIMIT $3",
		app, after, page.Size()+1)
	if err != nil {
		return nil, "", dbError("list routes", err)
	}
	routes, next, err := collectPage(rows, page.Size(), scanRoute, func(r store.Route) string { return r.Path })
	return routes, next, dbError("list routes", err)
}

// DeleteRoute removes a route.
func (s *DB) DeleteRoute(ctx context.Context, app, path string, guard store.AppGuard) error {
	return s.write(ctx, "delete route", func(tx pgx.Tx) ([]store.Change, error) {
		if err := appGuarded(ctx, tx, app, guard); err != nil {
			return nil, err
		}
		tag, err := tx.Exec(ctx, "DELETE FROM routes WHERE app = $1 AND path = $2", app, path)
		if err == nil && tag.RowsAffected() == 0 {
			return nil, routeNotFound(app, path)
		}
		return routeChanged(app, path), err
	})
}

func (s *DB) appExists(ctx context.Context, app string) error {
	var found bool
	if err := s.pool.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM apps WHERE name = $1)", app).Scan(&found); err != nil {
		return dbError("read app", err)
	}
	if !found {
		return store.NotFound("app", app)
	}
	return nil
}

func routeChanged(app, path string) []store.Change {
	return []store.Change{{Kind: store.ChangeRoute, App: app, Path: path}}
}
