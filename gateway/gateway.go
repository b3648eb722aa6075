package gateway

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gantry-dev/gantry/auth"
	"github.com/gantry-dev/gantry/httperr"
	"github.com/gantry-dev/gantry/invoke"
	"github.com/gantry-dev/gantry/store"
)

// Rebuild timing.
const (
	// settle is how long a change signal waits for more changes before the table is
	// rebuilt: a burst of API writes costs one rebuild, and a change applies well within 1 s.
	settle = 20 * time.Millisecond
	// buildTimeout bounds one rebuild's read of the store.
	buildTimeout = 10 * time.Second
	// retryBuild is the wait before a failed rebuild is tried again.
	retryBuild = time.Second
)

// Calls is the invocation service as the gateway uses it (invoke.Service): a call is read
// and resolved (Prepare), its route's auth decided by the gateway, then run and answered
// (Serve).
type Calls interface {
	Prepare(w http.ResponseWriter, r *http.Request, req invoke.Request, limits invoke.Limits) (*invoke.Call, error)
	Serve(w http.ResponseWriter, r *http.Request, call *invoke.Call)
}

// Store is what the gateway reads of persistence: every API, when they change, and the
// owners of apps (from memory).
type Store interface {
	AllAPIs(ctx context.Context) ([]store.API, error)
	// The gateway rebuilds its table on every change of the APIs and of their TLS keys.
	store.Changes
	AppOwner(app string) (string, error)
}

// Options configure a Gateway.
type Options struct {
	Store Store // required
	Calls Calls // required
	// TLSKeys reads the private keys of the APIs' certificates from the secret store. Nil:
	// only keys still in the API records (written before keys moved to the secret store)
	// are served; an API whose key is in the secret store refuses its requests.
	TLSKeys TLSKeys
	// Auth is the server's authenticator: a call of a route with auth token needs its
	// credentials, as on /r/, and Gantry's credentials never reach a function. Nil:
	// authentication off.
	Auth invoke.Authenticator
	// OIDC is the server's identity source: the issuer and audience of oidc APIs that name
	// none, and the claims read from its tokens. Nil: oidc APIs must name both.
	OIDC *auth.OIDCConfig
	// Passwords runs the bcrypt checks of basic authentication, shared with the management
	// API's hashing; default: a pool of the gateway's own.
	Passwords *auth.PasswordPool
	// DefaultCert, if set, serves TLS handshakes whose SNI names no API host.
	DefaultCert func(*tls.ClientHelloInfo) (*tls.Certificate, error)
	// HTTPSPort is the port named in https_only redirects; 0 or 443 name none.
	HTTPSPort  int
	Log        *slog.Logger          // default: discard
	AccessLog  *slog.Logger          // one line per request; default: none
	Registerer prometheus.Registerer // default: metrics are kept but not registered

	// checkPassword verifies basic credentials; auth.CheckPassword unless a test counts calls.
	checkPassword func(hash []byte, password string) bool
	// now is the clock of the rate and failure limiters; time.Now unless a test sets it.
	now func() time.Time
	// keyRetry is the wait before a build that could not read some key is made again;
	// retryKeys unless a test shortens it.
	keyRetry time.Duration
	// writeError answers the gateway's own refusals; the one error mapping (httperr) unless
	// a test stands in for it.
	writeError func(w http.ResponseWriter, err error)
}

// Gateway serves the stored APIs. Its routing table is compiled from the store and
// replaced atomically when the APIs change; requests never read the store for it.
type Gateway struct {
	o       Options
	admit   *invoke.Admitter // the route's auth of API calls
	now     func() time.Time // the limiters' clock
	log     *slog.Logger
	access  *slog.Logger
	table   atomic.Pointer[table]
	metrics *metrics
	basic   *basicCache
	// passwords bounds the bcrypt checks running at once, one per client (clientID), so that a
	// flood of wrong passwords costs at most the pool's slots, never the whole process.
	passwords *auth.PasswordPool

	// buildMu serialises rebuilds; it guards the state kept across them.
	buildMu   sync.Mutex
	limiters  map[string]*limiter       // by API name
	failures  map[string]*clientBuckets // failed basic authentication, by API name
	verifiers map[oidcKey]*auth.OIDC    // by issuer and audience
	apiStats  map[string]*apiMetrics    // by API name
	problems  *problemLog               // the configuration problems logged so far

	certs certCache // the certificates made with keys from the secret store (under buildMu)
	// keysUnread: the last build could not read some key from the secret store; follow
	// builds again after retryKeys.
	keysUnread atomic.Bool

	changed     chan struct{} // a pending change signal (capacity 1)
	stop        context.CancelFunc
	unsubscribe func() // stops following the store's changes
	done        chan struct{}
}

// New builds the first routing table and starts following API changes until ctx ends or
// Close is called.
func New(ctx context.Context, o Options) (*Gateway, error) {
	if o.Store == nil || o.Calls == nil {
		return nil, errors.New("gateway: a store and the invocation service are required")
	}
	if o.checkPassword == nil {
		o.checkPassword = auth.CheckPassword
	}
	if o.now == nil {
		o.now = time.Now
	}
	if o.keyRetry <= 0 {
		o.keyRetry = retryKeys
	}
	if o.Passwords == nil {
		o.Passwords = auth.NewPasswordPool(auth.PasswordPoolOptions{})
	}
	g := &Gateway{
		o: o, admit: invoke.NewAdmitter(o.Auth), now: o.now, log: orDiscard(o.Log), access: orDiscard(o.AccessLog),
		basic:     newBasicCache(),
		passwords: o.Passwords,
		limiters:  map[string]*limiter{},
		failures:  map[string]*clientBuckets{},
		verifiers: map[oidcKey]*auth.OIDC{},
		apiStats:  map[string]*apiMetrics{},
		certs:     certCache{},
		changed:   make(chan struct{}, 1),
		done:      make(chan struct{}),
	}
	g.problems = newProblemLog(g.log)
	if g.o.writeError == nil {
		g.o.writeError = func(w http.ResponseWriter, err error) { httperr.WriteError(w, g.log, err) }
	}
	m, err := newMetrics(o.Registerer)
	if err != nil {
		return nil, err
	}
	g.metrics = m
	// Follow changes before the first read, so that none falls between the two.
	g.unsubscribe = o.Store.Subscribe(g.onChange)
	if err := g.Refresh(ctx); err != nil {
		g.unsubscribe()
		return nil, err
	}
	ctx, g.stop = context.WithCancel(ctx)
	go g.follow(ctx)
	return g, nil
}

func orDiscard(l *slog.Logger) *slog.Logger {
	if l == nil {
		return slog.New(slog.DiscardHandler)
	}
	return l
}

// Handler is the gateway, for its plain HTTP and HTTPS listeners alike (r.TLS tells them apart).
func (g *Gateway) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { g.serve(w, r, r.TLS != nil) })
}

// onChange follows the store's changes: the table is rebuilt when an API changes, or the
// TLS key of one (a secret named store.TLSKeySecretName(api): a key written after its API's
// record is served as soon as it is there).
func (g *Gateway) onChange(c store.Change) {
	switch c.Kind {
	case store.ChangeAPI, store.ChangeReset:
		g.signal()
	case store.ChangeSecret:
		if _, ok := store.TLSKeyAPI(c.Name); ok {
			g.signal()
		}
	}
}

// Refresh rebuilds the routing table from the store now, with the APIs' keys from the
// secret store. A key the secret store cannot give now leaves its API without its
// certificate (loadCerts), not the table without its APIs.
func (g *Gateway) Refresh(ctx context.Context) error {
	g.buildMu.Lock()
	defer g.buildMu.Unlock()
	apis, err := g.o.Store.AllAPIs(ctx)
	if err != nil {
		return fmt.Errorf("gateway: read the APIs: %w", err)
	}
	g.problems.newBuild()
	certs := g.loadCerts(ctx, apis)
	g.table.Store(g.build(apis, certs))
	return nil
}

// Close stops following API changes. Handlers keep serving the last table.
func (g *Gateway) Close() {
	g.unsubscribe()
	g.stop()
	<-g.done
}

// signal notes that the APIs changed. The store calls it under its lock: it never blocks.
func (g *Gateway) signal() {
	select {
	case g.changed <- struct{}{}:
	default: // a rebuild is already pending; it will read this change too
	}
}

// follow rebuilds the table after each change signal, coalescing bursts, and retries a
// rebuild that failed or could not read some key.
func (g *Gateway) follow(ctx context.Context) {
	defer close(g.done)
	var retry <-chan time.Time
	if g.keysUnread.Load() { // the first build, made by New
		retry = time.After(g.o.keyRetry)
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-g.changed:
		case <-retry:
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(settle):
		}
		select { // the rebuild reads every change signalled so far
		case <-g.changed:
		default:
		}
		bctx, cancel := context.WithTimeout(ctx, buildTimeout)
		err := g.Refresh(bctx)
		cancel()
		retry = nil
		switch {
		case err != nil && ctx.Err() == nil:
			g.log.Error("gateway: rebuild failed; serving the previous APIs", "err", err)
			retry = time.After(retryBuild)
		case err == nil && g.keysUnread.Load():
			retry = time.After(g.o.keyRetry)
		}
	}
}
