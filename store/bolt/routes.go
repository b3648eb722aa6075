package bolt

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"

	"github.com/gantry-dev/gantry/store"
	bolt "go.etcd.io/bbolt"
)

func routePrefix(app string) []byte { return append([]byte(app), 0) }

func routeKey(app, path string) []byte { return append(routePrefix(app), path...) }

// CreateRoute stores a new route of an existing app, with defaults applied.
func (s *DB) CreateRoute(ctx context.Context, r store.Route, guard store.AppGuard) (store.Route, error) {
	r.ApplyDefaults()
	if err := r.Validate(); err != nil {
		return store.Route{}, err
	}
	err := s.update(ctx, func(tx *bolt.Tx) ([]store.Change, error) {
		if err := appGuarded(tx, r.App, guard); err != nil {
			return nil, err
		}
		b := tx.Bucket(bucketRoutes)
		if b.Get(routeKey(r.App, r.Path)) != nil {
			return nil, store.Errorf(store.ErrExists, "route %s already exists in app %q", r.Path, r.App)
		}
		if err := checkShape(tx, r); err != nil {
			return nil, err
		}
		if err := checkRouteImage(tx, r); err != nil {
			return nil, err
		}
		r.CreatedAt = s.now()
		r.UpdatedAt = r.CreatedAt
		if err := indexRouteImage(tx, nil, &r); err != nil {
			return nil, err
		}
		return routeChanged(r.App, r.Path), putJSON(b, routeKey(r.App, r.Path), r)
	})
	return r, err
}

// PutRoute creates the route or replaces all its fields; created tells which.
func (s *DB) PutRoute(ctx context.Context, r store.Route, guard store.AppGuard) (stored store.Route, created bool, err error) {
	r.ApplyDefaults()
	if err := r.Validate(); err != nil {
		return store.Route{}, false, err
	}
	err = s.update(ctx, func(tx *bolt.Tx) ([]store.Change, error) {
		if err := appGuarded(tx, r.App, guard); err != nil {
			return nil, err
		}
		b := tx.Bucket(bucketRoutes)
		var old store.Route
		found, err := getJSON(b, routeKey(r.App, r.Path), &old)
		if err != nil {
			return nil, err
		}
		if !found {
			if err := checkShape(tx, r); err != nil {
				return nil, err
			}
		}
		if err := checkRouteImage(tx, r); err != nil {
			return nil, err
		}
		r.UpdatedAt = s.now()
		r.CreatedAt = r.UpdatedAt
		if found {
			r.CreatedAt = old.CreatedAt
		}
		created = !found
		var was *store.Route
		if found {
			was = &old
		}
		if err := indexRouteImage(tx, was, &r); err != nil {
			return nil, err
		}
		return routeChanged(r.App, r.Path), putJSON(b, routeKey(r.App, r.Path), r)
	})
	return r, created, err
}

// UpdateRoute applies fn to the stored route in one transaction. fn may not change its app or path.
func (s *DB) UpdateRoute(ctx context.Context, app, path string, fn func(*store.Route) error, guard store.AppGuard) (store.Route, error) {
	var r store.Route
	err := s.update(ctx, func(tx *bolt.Tx) ([]store.Change, error) {
		if err := appGuarded(tx, app, guard); err != nil {
			return nil, err
		}
		b := tx.Bucket(bucketRoutes)
		found, err := getJSON(b, routeKey(app, path), &r)
		if err != nil {
			return nil, err
		}
		if !found {
			return nil, store.Errorf(store.ErrNotFound, "route %s not found in app %q", path, app)
		}
		old := r
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
		if err := checkRouteImage(tx, r); err != nil {
			return nil, err
		}
		r.UpdatedAt = s.now()
		if err := indexRouteImage(tx, &old, &r); err != nil {
			return nil, err
		}
		return routeChanged(app, path), putJSON(b, routeKey(app, path), r)
	})
	return r, err
}

// GetRoute reads the route with exactly this path: a single bbolt read.
func (s *DB) GetRoute(ctx context.Context, app, path string) (store.Route, error) {
	var r store.Route
	err := s.view(ctx, func(tx *bolt.Tx) error {
		found, err := getJSON(tx.Bucket(bucketRoutes), routeKey(app, path), &r)
		if err != nil || found {
			return err
		}
		if err := appExists(tx, app); err != nil {
			return err
		}
		return store.Errorf(store.ErrNotFound, "route %s not found in app %q", path, app)
	})
	return r, err
}

// ListRoutes returns one page of an app's routes in path order and the next cursor.
func (s *DB) ListRoutes(ctx context.Context, app string, page store.Page) ([]store.Route, string, error) {
	routes := []store.Route{}
	var next string
	err := s.view(ctx, func(tx *bolt.Tx) error {
		if err := appExists(tx, app); err != nil {
			return err
		}
		var err error
		routes, next, err = listPage(tx.Bucket(bucketRoutes), routePrefix(app), page, func(v []byte) (r store.Route, kept bool, err error) {
			if err := json.Unmarshal(v, &r); err != nil {
				return r, false, fmt.Errorf("decode route: %w", err)
			}
			return r, true, nil
		})
		return err
	})
	return routes, next, err
}

// DeleteRoute removes a route.
func (s *DB) DeleteRoute(ctx context.Context, app, path string, guard store.AppGuard) error {
	return s.update(ctx, func(tx *bolt.Tx) ([]store.Change, error) {
		if err := appGuarded(tx, app, guard); err != nil {
			return nil, err
		}
		b := tx.Bucket(bucketRoutes)
		var old store.Route
		found, err := getJSON(b, routeKey(app, path), &old)
		if err != nil {
			return nil, err
		}
		if !found {
			return nil, store.Errorf(store.ErrNotFound, "route %s not found in app %q", path, app)
		}
		if err := indexRouteImage(tx, &old, nil); err != nil {
			return nil, err
		}
		return routeChanged(app, path), b.Delete(routeKey(app, path))
	})
}

// checkShape refuses, in tx, a new route whose path has the shape of another route of the
// app ("/x/:name" beside "/x/:id"): both would match the same requests. Paths of the same
// shape agree up to their first placeholder's sigil, so only the keys that share that
// much are read; a path without placeholders has no other path of its shape.
func checkShape(tx *bolt.Tx, r store.Route) error {
	lit, ok := shapePrefix(r.Path)
	if !ok {
		return nil
	}
	want := store.RouteShape(r.Path)
	prefix := append(routePrefix(r.App), lit...)
	c := tx.Bucket(bucketRoutes).Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		other := string(k[len(prefix)-len(lit):])
		if other != r.Path && store.RouteShape(other) == want {
			return store.Errorf(store.ErrExists, "route %s conflicts with route %s of app %q: they match the same requests", r.Path, other, r.App)
		}
	}
	return nil
}

// shapePrefix is path up to its first placeholder's sigil ("/x/:" of "/x/:id/y"), and
// whether it has a placeholder at all.
func shapePrefix(path string) (string, bool) {
	for i := 1; i < len(path); i++ {
		if (path[i] == ':' || path[i] == '*') && path[i-1] == '/' {
			return path[:i+1], true
		}
	}
	return "", false
}

func routeChanged(app, path string) []store.Change {
	return []store.Change{{Kind: store.ChangeRoute, App: app, Path: path}}
}
