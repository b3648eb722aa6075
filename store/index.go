package store

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"sync"
	"time"
)

// IndexSource is what an Index reads: the apps and routes as stored.
type IndexSource interface {
	GetApp(ctx context.Context, name string) (App, error)
	GetRoute(ctx context.Context, app, path string) (Route, error)
	ListApps(ctx context.Context, f AppFilter, page Page) ([]App, string, error)
	ListRoutes(ctx context.Context, app string, page Page) ([]Route, string, error)
}

// Index holds every app and route in memory, so that resolving the route of a call never
// reads the database and never scans an app's routes. It is a cache of the store, kept by
// the store's change feed: a change makes it read the app or route again, and a reset
// makes it read everything, so that a missed, late or repeated change leaves it right.
// Backends build one over themselves and serve the Resolver methods from it.
type Index struct {
	src IndexSource
	mu  sync.RWMutex
	// trees: app name -> its routes; an entry exists for every app.
	trees map[string]*routeTree
}

// NewIndex returns an empty index over src; Load fills it.
func NewIndex(src IndexSource) *Index {
	return &Index{src: src, trees: map[string]*routeTree{}}
}

// Load reads every app and route again and replaces what the index held. Load and Apply
// are called by one follower of the feed at a time (the backend's), never concurrently: a
// Load that raced an Apply could put back what the Apply had just replaced.
func (ix *Index) Load(ctx context.Context) error {
	trees := map[string]*routeTree{}
	page := Page{Limit: MaxPageSize}
	for {
		apps, next, err := ix.src.ListApps(ctx, AppFilter{}, page)
		if err != nil {
			return fmt.Errorf("load route index: %w", err)
		}
		for _, a := range apps {
			t, err := ix.readApp(ctx, a)
			if err != nil {
				return fmt.Errorf("load route index: %w", err)
			}
			trees[a.Name] = t
		}
		if next == "" {
			break
		}
		page.Cursor = next
	}
	ix.mu.Lock()
	ix.trees = trees
	ix.mu.Unlock()
	return nil
}

// readApp makes the tree of app a with every route it has.
func (ix *Index) readApp(ctx context.Context, a App) (*routeTree, error) {
	t := &routeTree{config: maps.Clone(a.Config), owner: a.Owner, appID: a.ID, appVersion: a.UpdatedAt}
	page := Page{Limit: MaxPageSize}
	for {
		routes, next, err := ix.src.ListRoutes(ctx, a.Name, page)
		if errors.Is(err, ErrNotFound) { // deleted meanwhile: its change follows
			return t, nil
		}
		if err != nil {
			return nil, err
		}
		for _, r := range routes {
			t.insert(r)
		}
		if next == "" {
			return t, nil
		}
		page.Cursor = next
	}
}

// Apply brings the index up to date with one change of the store's feed. On an error the
// index may be stale: the caller reloads it.
func (ix *Index) Apply(ctx context.Context, c Change) error {
	switch c.Kind {
	case ChangeReset:
		return ix.Load(ctx)
	case ChangeApp:
		return ix.applyApp(ctx, c.App)
	case ChangeRoute:
		return ix.applyRoute(ctx, c.App, c.Path)
	}
	return nil
}

func (ix *Index) applyApp(ctx context.Context, name string) error {
	a, err := ix.src.GetApp(ctx, name)
	if errors.Is(err, ErrNotFound) {
		ix.mu.Lock()
		delete(ix.trees, name)
		ix.mu.Unlock()
		return nil
	}
	if err != nil {
		return err
	}
	ix.mu.Lock()
	if t := ix.trees[name]; t != nil && t.appID == a.ID {
		t.config, t.owner, t.appVersion = maps.Clone(a.Config), a.Owner, a.UpdatedAt
		ix.mu.Unlock()
		return nil
	}
	ix.mu.Unlock()
	// An app the index does not hold (new, a new one of an old name, or one whose changes
	// came late or out of order): read it whole, routes included.
	return ix.reloadApp(ctx, a)
}

// reloadApp reads app a with all its routes, outside the lock, and puts it in the index.
func (ix *Index) reloadApp(ctx context.Context, a App) error {
	t, err := ix.readApp(ctx, a)
	if err != nil {
		return err
	}
	ix.mu.Lock()
	ix.trees[a.Name] = t
	ix.mu.Unlock()
	return nil
}

func (ix *Index) applyRoute(ctx context.Context, app, path string) error {
	r, err := ix.src.GetRoute(ctx, app, path)
	gone := errors.Is(err, ErrNotFound)
	if err != nil && !gone {
		return err
	}
	ix.mu.Lock()
	t := ix.trees[app]
	switch {
	case t == nil && gone:
	case t == nil: // the route's app is not indexed yet: read it whole
		ix.mu.Unlock()
		a, err := ix.src.GetApp(ctx, app)
		if errors.Is(err, ErrNotFound) {
			return nil // deleted since: its change follows
		}
		if err != nil {
			return err
		}
		return ix.reloadApp(ctx, a)
	case gone:
		t.remove(path)
	default:
		t.insert(r)
	}
	ix.mu.Unlock()
	return nil
}

// Target is what a call needs of the store, read from memory under one lock, so that its
// parts agree: the route, the values of its params, and its app as it is now.
type Target struct {
	Route      Route
	Params     Params
	AppID      string
	AppOwner   string
	AppConfig  map[string]string // shared with the index: read, never write
	AppVersion time.Time         // when the app last changed
}

// Target resolves a call of app, from memory: with route "", the most specific route that
// matches the request path (its placeholders' values in Params); else the route registered
// with exactly that path ("/users/:id"), whose params the caller binds. With owner set, the
// app must belong to owner: another owner's app is not found. The route's Config and Headers
// maps are shared with the index: read them, never write.
func (ix *Index) Target(app, path, route, owner string) (Target, error) {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	t := ix.trees[app]
	if t == nil || owner != "" && t.owner != owner {
		return Target{}, NotFound("app", app)
	}
	tg := Target{AppID: t.appID, AppOwner: t.owner, AppConfig: t.config, AppVersion: t.appVersion}
	var r *Route
	if route == "" {
		if r, tg.Params = t.match(path); r == nil {
			return Target{}, Errorf(ErrNotFound, "no route of app %q matches %s", app, path)
		}
	} else if r = t.find(route); r == nil || r.Path != route {
		return Target{}, Errorf(ErrNotFound, "route %s not found in app %q", route, app)
	}
	tg.Route = *r
	return tg, nil
}

// MatchRoute resolves the route that serves a request path of an app (see Target).
func (ix *Index) MatchRoute(app, path string) (Route, Params, error) {
	tg, err := ix.Target(app, path, "", "")
	return tg.Route, tg.Params, err
}

// RouteByPath returns the route registered with exactly this path, of an app of owner if
// owner is set (see Target).
func (ix *Index) RouteByPath(app, path, owner string) (Route, error) {
	tg, err := ix.Target(app, "", path, owner)
	return tg.Route, err
}

// AppOwner returns an app's owner from memory; ErrNotFound if there is no such app.
func (ix *Index) AppOwner(name string) (string, error) {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	t := ix.trees[name]
	if t == nil {
		return "", NotFound("app", name)
	}
	return t.owner, nil
}

// AppsOwnedBy returns owner's apps, name to ID, from memory.
func (ix *Index) AppsOwnedBy(owner string) map[string]string {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	apps := map[string]string{}
	for name, t := range ix.trees {
		if t.owner == owner {
			apps[name] = t.appID
		}
	}
	return apps
}

// AppID returns the ID of the app now named name, from memory.
func (ix *Index) AppID(name string) (string, error) {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	t := ix.trees[name]
	if t == nil {
		return "", NotFound("app", name)
	}
	return t.appID, nil
}

// AppConfig returns an app's config from memory (a call reads it through Target). The map
// is shared with the index: read it, never write.
func (ix *Index) AppConfig(name string) (map[string]string, error) {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	t := ix.trees[name]
	if t == nil {
		return nil, NotFound("app", name)
	}
	return t.config, nil
}

// CountApps counts the apps of owner ("": every app) and their routes, from memory.
func (ix *Index) CountApps(owner string) (apps, routes int) {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	for _, t := range ix.trees {
		if owner == "" || t.owner == owner {
			apps++
			routes += t.root.count()
		}
	}
	return apps, routes
}
