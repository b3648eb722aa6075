package bolt

import "github.com/gantry-dev/gantry/store"

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
