package postgres

import (
	"context"
	"time"

	"github.com/gantry-dev/gantry/store"
)

// indexReadTimeout bounds the reads of one change of the route index, so that a database
// that stopped answering does not stop the feed for good (the next change reloads).
const indexReadTimeout = 30 * time.Second

// followIndex applies a change to the route index, as bbolt's does: when that fails the
// index reloads whole; while reloads fail, every later change is still applied and tries
// the reload again. The feed delivers one change at a time, so indexStale needs no lock.
func (s *DB) followIndex(c store.Change) {
	ctx, cancel := context.WithTimeout(context.Background(), indexReadTimeout)
	defer cancel()
	err := s.index.Apply(ctx, c)
	if err == nil && !s.indexStale {
		return
	}
	if err != nil {
		s.log.Error("route index update failed; reloading it", "err", err)
	}
	if err := s.index.Load(ctx); err != nil {
		s.indexStale = true
		s.log.Error("route index reload failed; the next change tries again", "err", err)
		return
	}
	s.indexStale = false
}

// The store.Resolver methods, answered from memory by the route index.

// Target resolves a call (see store.Index.Target).
func (s *DB) Target(app, path, route, owner string) (store.Target, error) {
	return s.index.Target(app, path, route, owner)
}

// MatchRoute resolves the route that serves a request path of an app.
func (s *DB) MatchRoute(app, path string) (store.Route, store.Params, error) {
	return s.index.MatchRoute(app, path)
}

// RouteByPath returns the route registered with exactly this path.
func (s *DB) RouteByPath(app, path, owner string) (store.Route, error) {
	return s.index.RouteByPath(app, path, owner)
}

// AppOwner returns an app's owner.
func (s *DB) AppOwner(name string) (string, error) { return s.index.AppOwner(name) }

// AppsOwnedBy returns owner's apps, name to ID.
func (s *DB) AppsOwnedBy(owner string) map[string]string { return s.index.AppsOwnedBy(owner) }

// AppID returns the ID of the app now named name.
func (s *DB) AppID(name string) (string, error) { return s.index.AppID(name) }

// AppConfig returns an app's config (shared: read it, never write).
func (s *DB) AppConfig(name string) (map[string]string, error) { return s.index.AppConfig(name) }
