package bolt

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
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/gantry-dev/gantry/store"
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

	bucketExecutions  = []byte("executions")    // ID -> store.Execution JSON
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
	// 6: nodes keyed by ID, with their last heartbeat.
	func(tx *bolt.Tx) error { return createBuckets(tx, bucketNodes) },
	// 7: workflows keyed by name; runs keyed by ID (a ULID), their index by triggered_by +
	// "\x00" + idempotency key, the IDs of the runs not final, and run events keyed by
	// run ID + "\x00" + seq (big-endian).
	func(tx *bolt.Tx) error {
		return createBuckets(tx, bucketWorkflows, bucketRuns, bucketRunByKey, bucketRunsActive, bucketRunEvents)
	},
	// 8: secrets' records keyed by name; sealed secret values keyed by path + "\x00" +
	// version (big-endian uint32), so that the versions of a path sort numerically.
	func(tx *bolt.Tx) error { return createBuckets(tx, bucketSecrets, bucketSecretValues) },
	// 9: events keyed by Key (a ULID), their index by owner, source and id (see
	// eventSourceKey); deliveries keyed by ID (a ULID), their indexes by event Key + "\x00"
	// + ID, by subscription + "\x00" + ID and by subscription ID + "\x00" + status + "\x00"
	// + ID; subscriptions and schedules keyed by name.
	func(tx *bolt.Tx) error {
		return createBuckets(tx, bucketEvents, bucketEventBySource, bucketDeliveries, bucketDeliveryByEvent, bucketDeliveryBySub,
			bucketDeliveryBySubStatus, bucketSubscriptions, bucketSchedules)
	},
	// 10: images keyed by name, their build logs keyed by name, and the routes that name an
	// image ("@name") keyed by image name + "\x00" + app + "\x00" + path, built here from the
	// routes stored before it.
	func(tx *bolt.Tx) error {
		if err := createBuckets(tx, bucketImages, bucketImageLogs, bucketImageRoutes); err != nil {
			return err
		}
		return indexRouteImages(tx)
	},
	// 11: the web console's sessions keyed by ID (the hash of their secret).
	func(tx *bolt.Tx) error { return createBuckets(tx, bucketSessions) },
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
	// Node names the node that opens the store (InstanceID), when the operator gave it one;
	// default: an ID made at the store's first open and kept in it.
	Node string
	// Logger receives what background work (the execution writer and pruner) cannot
	// return to a caller. Default slog.Default().
	Logger *slog.Logger
}

// DB is the bbolt implementation of Gantry's store.
type DB struct {
	db       *bolt.DB
	now      func() time.Time
	instance string

	// index is the route index, a cache kept by this store's change feed: it serves the
	// store.Resolver methods (resolver.go).
	index      *store.Index
	indexStale bool // a reload of the index failed: the next change reloads it

	// wmu serialises the writers that publish changes across their transaction and the
	// delivery of the changes, so subscribers see commits in the order bbolt made them.
	wmu  sync.Mutex
	subs subscribers

	log *slog.Logger
	ids *store.IDs
	rec *store.Recorder // pending execution records and their writer (recorder.go)

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
		opts.KeepExecutionsPerRoute = store.DefaultKeepExecutionsPerRoute
	}
	if opts.PruneInterval <= 0 {
		opts.PruneInterval = store.DefaultPruneInterval
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
	// Accepts (EnqueueTask, PublishEvents) share commits through Batch, which waits up to
	// MaxBatchDelay for company: bbolt's 10 ms would be most of a lone accept's latency
	// (a publish, then its fan-out). Callers that arrive during a commit's fsync still
	// share the next one, so 1 ms keeps the throughput of concurrent accepts.
	bdb.MaxBatchDelay = time.Millisecond
	s := &DB{
		db:         bdb,
		now:        func() time.Time { return time.Now().UTC().Truncate(time.Millisecond) },
		log:        opts.Logger,
		ids:        store.NewIDs(),
		prunerDone: make(chan struct{}),
	}
	if err := s.migrate(ctx); err != nil {
		_ = bdb.Close()
		return nil, err
	}
	if opts.Node != "" {
		s.instance = opts.Node
	}
	s.index = store.NewIndex(s)
	if err := s.index.Load(ctx); err != nil {
		_ = bdb.Close()
		return nil, err
	}
	// Subscribed first, the index is up to date before any other subscriber hears of a change.
	s.Subscribe(s.followIndex)
	s.rec = store.NewRecorder(s, store.RecorderOptions{Log: s.log})
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
		s.rec.Close()
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

// followIndex applies a change to the route index. When that fails the index reloads
// whole; while reloads fail, every later change is still applied and tries the reload
// again (the writers deliver changes one at a time, under wmu, so indexStale needs no
// lock of its own).
func (s *DB) followIndex(c store.Change) {
	ctx := context.Background()
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

// update runs fn in a write transaction and, once it committed, delivers the changes fn
// returned to the subscribers of the change feed, before it returns.
func (s *DB) update(ctx context.Context, fn func(tx *bolt.Tx) ([]store.Change, error)) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	var changes []store.Change
	if err := s.db.Update(func(tx *bolt.Tx) error {
		var err error
		changes, err = fn(tx)
		return err
	}); err != nil {
		return err
	}
	for _, c := range changes {
		s.subs.publish(c)
	}
	return nil
}

// batch is update for the writes that many callers make at once (accepts, publishes,
// leases): they share commits through bbolt's Batch, outside wmu, and their changes are
// delivered once it committed, under wmu. Batch may run fn more than once (alone, when a
// batch it shared failed): fn must start afresh each time, and its changes are those of
// the run that committed.
func (s *DB) batch(ctx context.Context, fn func(tx *bolt.Tx) ([]store.Change, error)) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	var changes []store.Change
	if err := s.db.Batch(func(tx *bolt.Tx) error {
		var err error
		changes, err = fn(tx)
		return err
	}); err != nil {
		return err
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	for _, c := range changes {
		s.subs.publish(c)
	}
	return nil
}

func (s *DB) view(ctx context.Context, fn func(tx *bolt.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return s.db.View(fn)
}

// ---- helpers ----

// appGuarded checks that app exists and that guard lets its owner's app be written.
func appGuarded(tx *bolt.Tx, app string, guard store.AppGuard) error {
	if guard == nil {
		return appExists(tx, app)
	}
	var a store.App
	found, err := getJSON(tx.Bucket(bucketApps), []byte(app), &a)
	if err != nil {
		return err
	}
	if !found {
		return store.NotFound("app", app)
	}
	return guard(a.Owner)
}

func appExists(tx *bolt.Tx, app string) error {
	if tx.Bucket(bucketApps).Get([]byte(app)) == nil {
		return store.NotFound("app", app)
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

// putNew stores v under name in b, refusing a name that is taken already (ErrExists, "kind
// NAME already exists").
func putNew(b *bolt.Bucket, kind, name string, v any) error {
	if b.Get([]byte(name)) != nil {
		return store.Errorf(store.ErrExists, "%s %q already exists", kind, name)
	}
	return putJSON(b, []byte(name), v)
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

// listPage decodes the values whose keys start with prefix and sort after the cursor, in
// key order, and keeps those that decode says to keep, until it has page.Size() of them.
// It returns them and the cursor of the next page: only when one more value after them is
// kept (it looks one ahead, so that a cursor never leads to an empty page), else "". A
// cursor is the base64 of the last kept key's suffix after prefix, opaque to clients.
func listPage[T any](b *bolt.Bucket, prefix []byte, page store.Page, decode func(v []byte) (item T, kept bool, err error)) ([]T, string, error) {
	start := prefix
	var after []byte
	if page.Cursor != "" {
		suffix, err := base64.RawURLEncoding.DecodeString(page.Cursor)
		if err != nil || len(suffix) == 0 {
			return nil, "", store.Invalid("cursor", "cursor %q is not one this server gave out", page.Cursor)
		}
		after = append(append([]byte{}, prefix...), suffix...)
		start = after
	}
	c := b.Cursor()
	k, v := c.Seek(start)
	if after != nil && bytes.Equal(k, after) {
		k, v = c.Next()
	}
	out := []T{}
	var last []byte
	for ; k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		item, kept, err := decode(v)
		if err != nil {
			return nil, "", err
		}
		if !kept {
			continue
		}
		if len(out) == page.Size() { // one more is kept: there is a next page
			return out, base64.RawURLEncoding.EncodeToString(last[len(prefix):]), nil
		}
		out = append(out, item)
		last = k
	}
	return out, "", nil
}

// NewID returns a new ID (see store.IDs): every ID of this DB is greater than the ones it
// returned before.
func (s *DB) NewID() string { return s.ids.Next(time.Now()) }

// InstanceID names the node: Options.Node, or else an ID of this data directory made at its
// first open. Gantry labels its containers with it, so a restarted server finds the ones
// its previous run left behind.
func (s *DB) InstanceID() string { return s.instance }

var _ store.Store = (*DB)(nil)
