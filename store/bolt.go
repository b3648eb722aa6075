package store

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// FileName is the bbolt file Gantry keeps under its data directory.
const FileName = "gantry.db"

var (
	bucketMeta   = []byte("meta")
	bucketApps   = []byte("apps")
	bucketRoutes = []byte("routes")
	keySchema    = []byte("schema_version")
	keyInstance  = []byte("instance_id")

	bucketExecutions  = []byte("executions")    // ID -> Execution JSON
	bucketExecByRoute = []byte("exec_by_route") // app \x00 route \x00 ID -> empty
	bucketExecLogs    = []byte("exec_logs")     // ID -> stderr log
)

// migrations is append-only: migration i brings the schema from version i to i+1.
// Never edit or reorder an entry that has shipped; add a new one.
var migrations = []func(tx *bolt.Tx) error{
	// 1: apps, and routes keyed by app + "\x00" + path.
	func(tx *bolt.Tx) error { return createBuckets(tx, bucketApps, bucketRoutes) },
	// 2: executions keyed by ID (a ULID), their index by app + "\x00" + route + "\x00" + ID, and their logs.
	func(tx *bolt.Tx) error {
		return createBuckets(tx, bucketExecutions, bucketExecByRoute, bucketExecLogs)
	},
	// 3: async tasks keyed by ID, and their queue keyed by priority + available-at + ID.
	func(tx *bolt.Tx) error { return createBuckets(tx, bucketTasks, bucketTaskQueue) },
	// 4: API tokens keyed by ID (a ULID).
	func(tx *bolt.Tx) error { return createBuckets(tx, bucketTokens) },
	// 5: gateway APIs keyed by name.
	func(tx *bolt.Tx) error { return createBuckets(tx, bucketAPIs) },
}

func createBuckets(tx *bolt.Tx, names ...[]byte) error {
	for _, name := range names {
		if _, err := tx.CreateBucketIfNotExists(name); err != nil {
			return fmt.Errorf("create bucket %s: %w", name, err)
		}
	}
	return nil
}

// Options tune Open.
type Options struct {
	// LockTimeout bounds the wait for the file lock that another process may hold. Default 1s.
	LockTimeout time.Duration
	// NoSync skips fsync on commit: for tests and benchmarks only, never for real data.
	NoSync bool
	// KeepExecutionsPerRoute is how many executions of each route the background pruner
	// keeps (the newest). Default DefaultKeepExecutionsPerRoute; a negative value disables pruning.
	KeepExecutionsPerRoute int
	// PruneInterval is how often the pruner runs. Default DefaultPruneInterval.
	PruneInterval time.Duration
	// Logger receives what background work (the execution writer and pruner) cannot
	// return to a caller. Default slog.Default().
	Logger *slog.Logger
}

// DB is the bbolt implementation of Gantry's store.
type DB struct {
	db       *bolt.DB
	now      func() time.Time
	instance string

	// wmu serialises writers across the bbolt transaction and the update of trees,
	// so the in-memory index applies commits in the order bbolt made them.
	wmu      sync.Mutex
	mu       sync.RWMutex          // guards trees
	trees    map[string]*routeTree // app name -> its routes; an entry exists for every app
	apiHooks []func()              // called, under mu, after each committed change of the APIs

	log *slog.Logger
	ids *idGen
	rec *recorder // queue, pending records and writer of executions

	stopPruner context.CancelFunc
	prunerDone chan struct{}
	closeOnce  sync.Once
	closeErr   error
}

// Open opens (creating if needed) the store under dir, migrates it to the current schema
// and loads the route index. It fails within opts.LockTimeout when another process holds the file.
func Open(ctx context.Context, dir string, opts Options) (*DB, error) {
	if opts.LockTimeout <= 0 {
		opts.LockTimeout = time.Second
	}
	if opts.KeepExecutionsPerRoute == 0 {
		opts.KeepExecutionsPerRoute = DefaultKeepExecutionsPerRoute
	}
	if opts.PruneInterval <= 0 {
		opts.PruneInterval = DefaultPruneInterval
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create data dir: %w", err)
	}
	path := filepath.Join(dir, FileName)
	bdb, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: opts.LockTimeout, NoSync: opts.NoSync})
	if errors.Is(err, berrors.ErrTimeout) {
		return nil, fmt.Errorf("data dir %s is in use by another gantry process (lock on %s not released within %s)", dir, path, opts.LockTimeout)
	}
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	s := &DB{
		db:         bdb,
		now:        func() time.Time { return time.Now().UTC().Truncate(time.Millisecond) },
		log:        opts.Logger,
		ids:        newIDGen(),
		rec:        newRecorder(),
		prunerDone: make(chan struct{}),
	}
	if err := s.migrate(ctx); err != nil {
		_ = bdb.Close()
		return nil, err
	}
	if err := s.loadIndex(); err != nil {
		_ = bdb.Close()
		return nil, err
	}
	go s.writeExecutions()
	pruneCtx, stop := context.WithCancel(context.Background())
	s.stopPruner = stop
	if opts.KeepExecutionsPerRoute < 0 {
		close(s.prunerDone)
	} else {
		go func() {
			defer close(s.prunerDone)
			s.prune(pruneCtx, opts.KeepExecutionsPerRoute, opts.PruneInterval)
		}()
	}
	return s, nil
}

// Close stops the pruner, stores every execution recorded so far and releases the file.
// Calling it again does nothing.
func (s *DB) Close() error {
	s.closeOnce.Do(func() {
		s.stopPruner()
		<-s.prunerDone
		s.rec.close()
		s.closeErr = s.db.Close()
	})
	return s.closeErr
}

// SchemaVersion is the schema this build writes.
func SchemaVersion() int { return len(migrations) }

func (s *DB) migrate(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return s.db.Update(func(tx *bolt.Tx) error {
		meta, err := tx.CreateBucketIfNotExists(bucketMeta)
		if err != nil {
			return fmt.Errorf("create meta bucket: %w", err)
		}
		var have uint64
		if v := meta.Get(keySchema); v != nil {
			if len(v) != 8 {
				return fmt.Errorf("schema version record is corrupt (%d bytes)", len(v))
			}
			have = binary.BigEndian.Uint64(v)
		}
		if have > uint64(len(migrations)) {
			return fmt.Errorf("data was written by a newer gantry (schema %d, this build knows %d)", have, len(migrations))
		}
		for i := have; i < uint64(len(migrations)); i++ {
			if err := migrations[i](tx); err != nil {
				return fmt.Errorf("migrate schema to %d: %w", i+1, err)
			}
		}
		if id := meta.Get(keyInstance); id != nil {
			s.instance = string(id)
		} else {
			var b [8]byte
			if _, err := rand.Read(b[:]); err != nil {
				return fmt.Errorf("make instance id: %w", err)
			}
			s.instance = hex.EncodeToString(b[:])
			if err := meta.Put(keyInstance, []byte(s.instance)); err != nil {
				return err
			}
		}
		return meta.Put(keySchema, binary.BigEndian.AppendUint64(nil, uint64(len(migrations))))
	})
}

func (s *DB) loadIndex() error {
	trees := map[string]*routeTree{}
	err := s.db.View(func(tx *bolt.Tx) error {
		if err := tx.Bucket(bucketApps).ForEach(func(k, v []byte) error {
			var a App
			if err := json.Unmarshal(v, &a); err != nil {
				return fmt.Errorf("decode app %s: %w", k, err)
			}
			trees[string(k)] = &routeTree{config: maps.Clone(a.Config), owner: a.Owner, appID: a.ID, appVersion: a.UpdatedAt}
			return nil
		}); err != nil {
			return err
		}
		return tx.Bucket(bucketRoutes).ForEach(func(_, v []byte) error {
			var r Route
			if err := json.Unmarshal(v, &r); err != nil {
				return fmt.Errorf("decode route: %w", err)
			}
			if t := trees[r.App]; t != nil {
				t.insert(r)
			}
			return nil
		})
	})
	if err != nil {
		return fmt.Errorf("load route index: %w", err)
	}
	s.trees = trees
	return nil
}

// update runs fn in a write transaction and, once it committed, applies index to the route index.
func (s *DB) update(ctx context.Context, fn func(tx *bolt.Tx) (index func(), err error)) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	var index func()
	if err := s.db.Update(func(tx *bolt.Tx) error {
		var err error
		index, err = fn(tx)
		return err
	}); err != nil {
		return err
	}
	if index != nil {
		s.mu.Lock()
		index()
		s.mu.Unlock()
	}
	return nil
}

func (s *DB) view(ctx context.Context, fn func(tx *bolt.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return s.db.View(fn)
}

// ---- apps ----

// CreateApp stores a new app; ErrExists if the name is taken.
func (s *DB) CreateApp(ctx context.Context, app App) (App, error) {
	if err := app.Validate(); err != nil {
		return App{}, err
	}
	err := s.update(ctx, func(tx *bolt.Tx) (func(), error) {
		b := tx.Bucket(bucketApps)
		if b.Get([]byte(app.Name)) != nil {
			return nil, errorf(ErrExists, "app %q already exists", app.Name)
		}
		app.ID = s.NewID()
		app.CreatedAt = s.now()
		app.UpdatedAt = app.CreatedAt
		return s.addAppIndex(app), putJSON(b, []byte(app.Name), app)
	})
	return app, err
}

// PutApp creates the app or replaces its config; created tells which. A replaced app keeps
// its owner unless app.Owner names a new one; a created app without one belongs to creator.
func (s *DB) PutApp(ctx context.Context, app App, creator string, guard AppGuard) (stored App, created bool, err error) {
	if err := app.Validate(); err != nil {
		return App{}, false, err
	}
	err = s.update(ctx, func(tx *bolt.Tx) (func(), error) {
		b := tx.Bucket(bucketApps)
		var old App
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
		return s.addAppIndex(app), putJSON(b, []byte(app.Name), app)
	})
	return app, created, err
}

// UpdateApp applies fn to the stored app in one transaction. fn may not rename it.
func (s *DB) UpdateApp(ctx context.Context, name string, fn func(*App) error) (App, error) {
	var app App
	err := s.update(ctx, func(tx *bolt.Tx) (func(), error) {
		b := tx.Bucket(bucketApps)
		found, err := getJSON(b, []byte(name), &app)
		if err != nil {
			return nil, err
		}
		if !found {
			return nil, NotFound("app", name)
		}
		if err := fn(&app); err != nil {
			return nil, err
		}
		if app.Name != name {
			return nil, invalid("name", "an app cannot be renamed (%q to %q)", name, app.Name)
		}
		if err := app.Validate(); err != nil {
			return nil, err
		}
		app.UpdatedAt = s.now()
		return s.addAppIndex(app), putJSON(b, []byte(name), app)
	})
	return app, err
}

// GetApp reads one app.
func (s *DB) GetApp(ctx context.Context, name string) (App, error) {
	var app App
	err := s.view(ctx, func(tx *bolt.Tx) error {
		found, err := getJSON(tx.Bucket(bucketApps), []byte(name), &app)
		if err == nil && !found {
			err = NotFound("app", name)
		}
		return err
	})
	return app, err
}

// ListApps returns one page of the apps that pass f, in name order, and the cursor of the
// next page ("" on the last).
func (s *DB) ListApps(ctx context.Context, f AppFilter, page Page) ([]App, string, error) {
	apps := []App{}
	var next string
	err := s.view(ctx, func(tx *bolt.Tx) error {
		var err error
		next, err = listPage(tx.Bucket(bucketApps), nil, page, func(v []byte) (bool, error) {
			var a App
			if err := json.Unmarshal(v, &a); err != nil {
				return false, fmt.Errorf("decode app: %w", err)
			}
			if f.Owner != "" && a.Owner != f.Owner {
				return false, nil
			}
			apps = append(apps, a)
			return true, nil
		})
		return err
	})
	return apps, next, err
}

// DeleteApp removes an app that has no routes; ErrConflict while it has some.
func (s *DB) DeleteApp(ctx context.Context, name string, guard AppGuard) error {
	return s.update(ctx, func(tx *bolt.Tx) (func(), error) {
		b := tx.Bucket(bucketApps)
		if err := appGuarded(tx, name, guard); err != nil {
			return nil, err
		}
		prefix := routePrefix(name)
		if k, _ := tx.Bucket(bucketRoutes).Cursor().Seek(prefix); k != nil && bytes.HasPrefix(k, prefix) {
			return nil, errorf(ErrConflict, "app %q still has routes; delete them first", name)
		}
		return func() { delete(s.trees, name) }, b.Delete([]byte(name))
	})
}

// addAppIndex creates the app's entry in the index or updates its config and owner there.
func (s *DB) addAppIndex(app App) func() {
	config := maps.Clone(app.Config)
	return func() {
		if t := s.trees[app.Name]; t != nil {
			t.config, t.owner, t.appID, t.appVersion = config, app.Owner, app.ID, app.UpdatedAt
			return
		}
		s.trees[app.Name] = &routeTree{config: config, owner: app.Owner, appID: app.ID, appVersion: app.UpdatedAt}
	}
}

// AppOwner returns an app's owner from memory; ErrNotFound if there is no such app.
func (s *DB) AppOwner(name string) (string, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	t := s.trees[name]
	if t == nil {
		return "", NotFound("app", name)
	}
	return t.owner, nil
}

// AppsOwnedBy returns owner's apps, name to ID, from memory.
func (s *DB) AppsOwnedBy(owner string) map[string]string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	apps := map[string]string{}
	for name, t := range s.trees {
		if t.owner == owner {
			apps[name] = t.appID
		}
	}
	return apps
}

// AppID returns the ID of the app now named name, from memory.
func (s *DB) AppID(name string) (string, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	t := s.trees[name]
	if t == nil {
		return "", NotFound("app", name)
	}
	return t.appID, nil
}

// AppConfig returns an app's config from memory (a call reads it through Target). The map
// is shared with the index: read it, never write.
func (s *DB) AppConfig(name string) (map[string]string, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	t := s.trees[name]
	if t == nil {
		return nil, NotFound("app", name)
	}
	return t.config, nil
}

// ---- routes ----

func routePrefix(app string) []byte { return append([]byte(app), 0) }

func routeKey(app, path string) []byte { return append(routePrefix(app), path...) }

// CreateRoute stores a new route of an existing app, with defaults applied.
func (s *DB) CreateRoute(ctx context.Context, r Route, guard AppGuard) (Route, error) {
	r.ApplyDefaults()
	if err := r.Validate(); err != nil {
		return Route{}, err
	}
	err := s.update(ctx, func(tx *bolt.Tx) (func(), error) {
		if err := appGuarded(tx, r.App, guard); err != nil {
			return nil, err
		}
		b := tx.Bucket(bucketRoutes)
		if b.Get(routeKey(r.App, r.Path)) != nil {
			return nil, errorf(ErrExists, "route %s already exists in app %q", r.Path, r.App)
		}
		if err := s.checkShape(r); err != nil {
			return nil, err
		}
		r.CreatedAt = s.now()
		r.UpdatedAt = r.CreatedAt
		return s.indexRoute(r), putJSON(b, routeKey(r.App, r.Path), r)
	})
	return r, err
}

// PutRoute creates the route or replaces all its fields; created tells which.
func (s *DB) PutRoute(ctx context.Context, r Route, guard AppGuard) (stored Route, created bool, err error) {
	r.ApplyDefaults()
	if err := r.Validate(); err != nil {
		return Route{}, false, err
	}
	err = s.update(ctx, func(tx *bolt.Tx) (func(), error) {
		if err := appGuarded(tx, r.App, guard); err != nil {
			return nil, err
		}
		b := tx.Bucket(bucketRoutes)
		var old Route
		found, err := getJSON(b, routeKey(r.App, r.Path), &old)
		if err != nil {
			return nil, err
		}
		if !found {
			if err := s.checkShape(r); err != nil {
				return nil, err
			}
		}
		r.UpdatedAt = s.now()
		r.CreatedAt = r.UpdatedAt
		if found {
			r.CreatedAt = old.CreatedAt
		}
		created = !found
		return s.indexRoute(r), putJSON(b, routeKey(r.App, r.Path), r)
	})
	return r, created, err
}

// UpdateRoute applies fn to the stored route in one transaction. fn may not change its app or path.
func (s *DB) UpdateRoute(ctx context.Context, app, path string, fn func(*Route) error, guard AppGuard) (Route, error) {
	var r Route
	err := s.update(ctx, func(tx *bolt.Tx) (func(), error) {
		if err := appGuarded(tx, app, guard); err != nil {
			return nil, err
		}
		b := tx.Bucket(bucketRoutes)
		found, err := getJSON(b, routeKey(app, path), &r)
		if err != nil {
			return nil, err
		}
		if !found {
			return nil, errorf(ErrNotFound, "route %s not found in app %q", path, app)
		}
		if err := fn(&r); err != nil {
			return nil, err
		}
		if r.App != app || r.Path != path {
			return nil, invalid("path", "a route cannot be moved (%s to %s)", path, r.Path)
		}
		r.ApplyDefaults()
		if err := r.Validate(); err != nil {
			return nil, err
		}
		r.UpdatedAt = s.now()
		return s.indexRoute(r), putJSON(b, routeKey(app, path), r)
	})
	return r, err
}

// GetRoute reads the route with exactly this path: a single bbolt read.
func (s *DB) GetRoute(ctx context.Context, app, path string) (Route, error) {
	var r Route
	err := s.view(ctx, func(tx *bolt.Tx) error {
		found, err := getJSON(tx.Bucket(bucketRoutes), routeKey(app, path), &r)
		if err != nil || found {
			return err
		}
		if err := appExists(tx, app); err != nil {
			return err
		}
		return errorf(ErrNotFound, "route %s not found in app %q", path, app)
	})
	return r, err
}

// ListRoutes returns one page of an app's routes in path order and the next cursor.
func (s *DB) ListRoutes(ctx context.Context, app string, page Page) ([]Route, string, error) {
	routes := []Route{}
	var next string
	err := s.view(ctx, func(tx *bolt.Tx) error {
		if err := appExists(tx, app); err != nil {
			return err
		}
		var err error
		next, err = listPage(tx.Bucket(bucketRoutes), routePrefix(app), page, func(v []byte) (bool, error) {
			var r Route
			if err := json.Unmarshal(v, &r); err != nil {
				return false, fmt.Errorf("decode route: %w", err)
			}
			routes = append(routes, r)
			return true, nil
		})
		return err
	})
	return routes, next, err
}

// DeleteRoute removes a route.
func (s *DB) DeleteRoute(ctx context.Context, app, path string, guard AppGuard) error {
	return s.update(ctx, func(tx *bolt.Tx) (func(), error) {
		if err := appGuarded(tx, app, guard); err != nil {
			return nil, err
		}
		b := tx.Bucket(bucketRoutes)
		if b.Get(routeKey(app, path)) == nil {
			return nil, errorf(ErrNotFound, "route %s not found in app %q", path, app)
		}
		return func() {
			if t := s.trees[app]; t != nil {
				t.remove(path)
			}
		}, b.Delete(routeKey(app, path))
	})
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
func (s *DB) Target(app, path, route, owner string) (Target, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	t := s.trees[app]
	if t == nil || owner != "" && t.owner != owner {
		return Target{}, NotFound("app", app)
	}
	tg := Target{AppID: t.appID, AppOwner: t.owner, AppConfig: t.config, AppVersion: t.appVersion}
	var r *Route
	if route == "" {
		if r, tg.Params = t.match(path); r == nil {
			return Target{}, errorf(ErrNotFound, "no route of app %q matches %s", app, path)
		}
	} else if r = t.find(route); r == nil || r.Path != route {
		return Target{}, errorf(ErrNotFound, "route %s not found in app %q", route, app)
	}
	tg.Route = *r
	return tg, nil
}

// MatchRoute resolves the route that serves a request path of an app (see Target).
func (s *DB) MatchRoute(app, path string) (Route, Params, error) {
	tg, err := s.Target(app, path, "", "")
	return tg.Route, tg.Params, err
}

// RouteByPath returns the route registered with exactly this path, of an app of owner if
// owner is set (see Target).
func (s *DB) RouteByPath(app, path, owner string) (Route, error) {
	tg, err := s.Target(app, "", path, owner)
	return tg.Route, err
}

// checkShape refuses a new route whose path has the shape of another route of the app
// ("/x/:name" beside "/x/:id"): both would match the same requests. Writers hold wmu, so
// the index it reads is the committed state.
func (s *DB) checkShape(r Route) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if t := s.trees[r.App]; t != nil {
		if other := t.find(r.Path); other != nil && other.Path != r.Path {
			return errorf(ErrExists, "route %s conflicts with route %s of app %q: they match the same requests", r.Path, other.Path, r.App)
		}
	}
	return nil
}

func (s *DB) indexRoute(r Route) func() {
	return func() {
		if t := s.trees[r.App]; t != nil {
			t.insert(r)
		}
	}
}

// ---- helpers ----

// AppGuard vets the owner of the app a write touches, inside the write's transaction, so
// that the owner cannot change between the check and the write. Nil lets every write pass.
type AppGuard func(owner string) error

// appGuarded checks that app exists and that guard lets its owner's app be written.
func appGuarded(tx *bolt.Tx, app string, guard AppGuard) error {
	if guard == nil {
		return appExists(tx, app)
	}
	var a App
	found, err := getJSON(tx.Bucket(bucketApps), []byte(app), &a)
	if err != nil {
		return err
	}
	if !found {
		return NotFound("app", app)
	}
	return guard(a.Owner)
}

func appExists(tx *bolt.Tx, app string) error {
	if tx.Bucket(bucketApps).Get([]byte(app)) == nil {
		return NotFound("app", app)
	}
	return nil
}

func putJSON(b *bolt.Bucket, key []byte, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode %s: %w", key, err)
	}
	return b.Put(key, data)
}

// getJSON decodes the value at key; json.Unmarshal copies, so nothing refers to bbolt's memory afterwards.
func getJSON(b *bolt.Bucket, key []byte, v any) (bool, error) {
	data := b.Get(key)
	if data == nil {
		return false, nil
	}
	if err := json.Unmarshal(data, v); err != nil {
		return true, fmt.Errorf("decode %q: %w", key, err)
	}
	return true, nil
}

// listPage visits the values whose keys start with prefix and sort after the cursor until
// visit has kept page.limit() of them, and returns the cursor of the next page, or "" when
// there is none. A cursor is the base64 of the last key's suffix after prefix, opaque to clients.
func listPage(b *bolt.Bucket, prefix []byte, page Page, visit func(v []byte) (kept bool, err error)) (string, error) {
	start := prefix
	var after []byte
	if page.Cursor != "" {
		suffix, err := base64.RawURLEncoding.DecodeString(page.Cursor)
		if err != nil || len(suffix) == 0 {
			return "", invalid("cursor", "cursor %q is not one this server gave out", page.Cursor)
		}
		after = append(append([]byte{}, prefix...), suffix...)
		start = after
	}
	c := b.Cursor()
	k, v := c.Seek(start)
	if after != nil && bytes.Equal(k, after) {
		k, v = c.Next()
	}
	var last []byte
	for n := 0; k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		if n == page.limit() {
			return base64.RawURLEncoding.EncodeToString(last[len(prefix):]), nil
		}
		kept, err := visit(v)
		if err != nil {
			return "", err
		}
		if kept {
			last = k
			n++
		}
	}
	return "", nil
}

// InstanceID identifies this data directory, made at its first open. Gantry labels its
// containers with it, so a restarted server finds the ones its previous run left behind.
func (s *DB) InstanceID() string { return s.instance }
