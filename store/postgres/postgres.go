package postgres

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"sync"
	"time"

	"github.com/gantry-dev/gantry/store"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Defaults of Options.
const (
	DefaultMaxConns       = 16
	defaultConnectTimeout = 10 * time.Second
)

// Options tune Open.
type Options struct {
	// Node is this node's ID: InstanceID returns it, and RecoverExecutions ends only the
	// calls this node left running. Required; it is the node's own, never read from the database.
	Node string
	// Password, when set, is the password to log in with (from --store-password-file);
	// otherwise the URL's, or the standard PG* environment variables and PGPASSFILE.
	Password string
	// KeepExecutionsPerRoute is how many executions of each route the background pruner
	// keeps (the newest). Default store.DefaultKeepExecutionsPerRoute; negative: no pruning.
	KeepExecutionsPerRoute int
	// PruneInterval is how often the pruner runs. Default store.DefaultPruneInterval.
	PruneInterval time.Duration
	// MaxConns is the size of the connection pool. Default DefaultMaxConns.
	MaxConns int32
	// Logger receives what background work (the execution writer, the pruner, the change
	// listener) cannot return to a caller. Default slog.Default().
	Logger *slog.Logger
}

// DB is the PostgreSQL implementation of Gantry's store.
type DB struct {
	pool    *pgxpool.Pool
	node    string
	schema  string // the connection's current schema, where the tables are
	channel string // the NOTIFY channel of this schema's changes
	origin  string // tags this handle's notifications, to skip their echo
	apiLock int64  // the advisory lock that serialises writes of APIs
	log     *slog.Logger
	ids     *store.IDs

	// index is the route index, a cache kept by the change feed: it serves the
	// store.Resolver methods (resolver.go).
	index      *store.Index
	indexStale bool // a reload of the index failed: the next change reloads it

	// commitMu orders the commits of this process's writes that publish changes with the
	// posting of their changes, so subscribers hear them in commit order.
	commitMu sync.Mutex
	feed     *feed
	listen   *listener
	rec      *store.Recorder // pending execution records and their writer (recorder.go)
	acc      *accepter       // writers of accepted tasks, in shared transactions

	stopPruner context.CancelFunc
	prunerDone chan struct{}
	closeOnce  sync.Once
}

var _ store.Store = (*DB)(nil)

// Open connects to the database at url (a postgres:// URL or a keyword/value string),
// migrates the schema of the connection's current schema (search_path) to this build's,
// starts listening for other nodes' changes and loads the route index. Its errors are one
// line that never holds the password.
func Open(ctx context.Context, url string, opts Options) (*DB, error) {
	if opts.Node == "" {
		return nil, errors.New("postgres store: Options.Node is required (this node's ID)")
	}
	if opts.KeepExecutionsPerRoute == 0 {
		opts.KeepExecutionsPerRoute = store.DefaultKeepExecutionsPerRoute
	}
	if opts.PruneInterval <= 0 {
		opts.PruneInterval = store.DefaultPruneInterval
	}
	if opts.MaxConns <= 0 {
		opts.MaxConns = DefaultMaxConns
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("postgres store: malformed URL %s: %s", Redact(url), parseReason(err))
	}
	cc := cfg.ConnConfig
	if opts.Password != "" {
		cc.Password = opts.Password
	}
	if cc.ConnectTimeout == 0 {
		cc.ConnectTimeout = defaultConnectTimeout
	}
	if cc.RuntimeParams["application_name"] == "" {
		cc.RuntimeParams["application_name"] = "gantry " + opts.Node
	}
	cfg.MaxConns = opts.MaxConns
	cfg.AfterConnect = func(_ context.Context, c *pgx.Conn) error { scanTimesInUTC(c); return nil }
	listenCfg := cc.Copy()
	listenCfg.RuntimeParams["application_name"] = "gantry-listen " + opts.Node
	listenCfg.AfterConnect = nil

	where := fmt.Sprintf("%s:%d/%s as user %s", cc.Host, cc.Port, cc.Database, cc.User)
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres store: cannot connect to %s: %s", where, reason(err))
	}
	s := &DB{
		pool:       pool,
		node:       opts.Node,
		origin:     randomHex(8),
		log:        opts.Logger,
		ids:        store.NewIDs(),
		feed:       newFeed(),
		prunerDone: make(chan struct{}),
	}
	fail := func(err error) (*DB, error) {
		s.feed.close()
		pool.Close()
		return nil, err
	}
	var schema *string // NULL when no schema of the search_path exists
	if err := pool.QueryRow(ctx, "SELECT current_schema()").Scan(&schema); err != nil {
		return fail(fmt.Errorf("postgres store: cannot connect to %s: %s", where, reason(err)))
	}
	if schema == nil {
		return fail(fmt.Errorf("postgres store: no schema of the search_path of %s exists: create it first", where))
	}
	s.schema = *schema
	s.channel = channelName(s.schema)
	s.apiLock = lockKey("gantry apis", s.schema)
	if err := s.migrate(ctx, cc); err != nil {
		return fail(err)
	}
	// Listening before the index loads: a change committed after the load is heard.
	if s.listen, err = startListener(ctx, s, listenCfg); err != nil {
		return fail(fmt.Errorf("postgres store: cannot connect to %s: %s", where, reason(err)))
	}
	s.index = store.NewIndex(s)
	if err := s.index.Load(ctx); err != nil {
		s.listen.stop()
		return fail(fmt.Errorf("postgres store: %w", err))
	}
	// Subscribed first, the index is up to date before any other subscriber hears of a change.
	s.Subscribe(s.followIndex)
	s.listen.start()
	s.rec = store.NewRecorder(s, store.RecorderOptions{DropWhenFull: true, Log: s.log})
	s.startAccepter()
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

// Close stops the pruner, stores every execution recorded so far (a record that cannot be
// stored is logged), stops listening and closes the pool. Calling it again does nothing.
func (s *DB) Close() error {
	s.closeOnce.Do(func() {
		s.stopPruner()
		<-s.prunerDone
		s.rec.Close()
		s.acc.stop()
		s.listen.stop()
		s.feed.close()
		s.pool.Close()
	})
	return nil
}

// scanTimesInUTC makes the connection read timestamptz values in UTC (pgx reads them in
// the local zone), as every time the store returns is.
func scanTimesInUTC(c *pgx.Conn) {
	c.TypeMap().RegisterType(&pgtype.Type{Name: "timestamptz", OID: pgtype.TimestamptzOID,
		Codec: &pgtype.TimestamptzCodec{ScanLocation: time.UTC}})
}

// channelName is the NOTIFY channel of a schema's changes; stores in other schemas of the
// same database do not hear them. A channel is an identifier: at most 63 bytes.
func channelName(schema string) string {
	name := "gantry_changes_" + schema
	if len(name) <= 63 {
		return name
	}
	return fmt.Sprintf("%s_%016x", name[:46], uint64(lockKey("channel", schema))) //nolint:gosec // G115: a hash, any bits do
}

// lockKey is the advisory lock key of what, in schema: stores in other schemas do not
// wait for each other.
func lockKey(what, schema string) int64 {
	h := fnv.New64a()
	h.Write([]byte(what + "\x00" + schema))
	return int64(h.Sum64()) //nolint:gosec // G115: a hash, any bits do
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	return hex.EncodeToString(b)
}

// NewID returns a new ID (see store.IDs): every ID of this DB is greater than the ones it
// returned before.
func (s *DB) NewID() string { return s.ids.Next(time.Now()) }

// InstanceID is this node's ID, as Options.Node gave it.
func (s *DB) InstanceID() string { return s.node }
