package invoke

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/gantry-dev/gantry/runner"
	"github.com/gantry-dev/gantry/store"
)

// Store is what the invocation service needs of persistence: routes resolved from memory,
// execution records, and the durable queue of async calls.
type Store interface {
	Target(app, path, route, owner string) (store.Target, error)
	AppOwner(name string) (string, error)
	NewID() string
	RecordExecution(ex store.Execution, log []byte)
	AppendExecutionLog(id string, tail []byte, truncated bool)
	GetExecution(ctx context.Context, id string) (store.Execution, error)
	CancelTask(ctx context.Context, id string) (owner string, err error)
	// GetTask reads a queued call (what Cancel tells of one it cancels).
	GetTask(ctx context.Context, id string) (store.Task, error)
	// RequestCancel asks the node running a call outside the queue (a sync call) to stop it.
	RequestCancel(ctx context.Context, id string) error
	Queue
}

// Queue is what async calls need of the store: the durable task queue.
type Queue interface {
	EnqueueTask(ctx context.Context, t store.Task, ex store.Execution) error
	LeaseTasks(ctx context.Context, n int, owner string, lease time.Duration) ([]store.Task, error)
	CompleteTask(ctx context.Context, id, owner string, ex store.Execution, log []byte) error
	RetryTask(ctx context.Context, id, owner string, delay time.Duration, reason string) error
	ReleaseLeases(ctx context.Context, prefix, keep string) (int, error)
	RenewLeases(ctx context.Context, held []store.Lease, lease time.Duration) (int, []string, error)
}

// Runner is what the invocation service needs of the Docker driver (*runner.Runner).
type Runner interface {
	// Run runs a call and calls its Done with the outcome before it returns.
	Run(ctx context.Context, call *runner.Call) (*runner.Result, error)
	NetworkAllowed(owner, network string) error
	EnsureImage(ctx context.Context, ref string) error
	DrainRoute(app, path string)
	DrainApp(app string)
	// HotContainers is how many hot containers the runner keeps now, idle or busy.
	HotContainers() int
	// HotRoutes breaks HotContainers down by route, in app then path order.
	HotRoutes() []runner.HotRoute
}

// Options configure a Service; zero values take the defaults.
type Options struct {
	// MaxCallBody caps the request body of every call read over HTTP (Prepare; 413 above
	// it), whatever the caller's own bound. Default 1 MiB.
	MaxCallBody int64
	// Node names this node (store.Node's InstanceID, or --node): its workers' leases carry
	// it, so that at start-up it releases its own dead run's leases and never another
	// node's, and so does every execution record the service writes (Execution.Node).
	Node string
	// Secrets tells when the secrets calls name last changed (the secret service). Without
	// it, a call of a route or step that names secrets fails, and never runs.
	Secrets Secrets
	// Images are the images Gantry manages, which routes name as "@name" (default: the
	// Store, when it has them). Without them, a call of such a route fails.
	Images ImageStore
	Log    *slog.Logger // default: discard
}

// Service is the one invocation path of Gantry. It also knows the calls running in this
// process, so that Cancel can stop them.
type Service struct {
	store       Store
	runner      Runner
	secrets     Secrets // nil: calls that name secrets fail
	log         *slog.Logger
	node        string
	maxCallBody int64
	now         func() time.Time
	wake        chan struct{} // an accepted async call wakes an idle worker
	leases      string        // the lease owner prefix of this node's workers, every run

	mu      sync.Mutex
	running map[string]context.CancelCauseFunc // calls running in this process, by execution id
	// cancelled are calls cancelled while one of this run's workers leased them but had not
	// started them yet: track stops them as they start.
	cancelled map[string]bool
	workers   string // the lease owner prefix of this run's workers ("" before StartWorkers)

	images     ImageStore  // nil: calls of routes that name "@name" fail
	imageCache *imageCache // the images routes name, by name
	rollMu     sync.Mutex
	rollDirty  map[string]bool // images changed and not yet rolled (rollImages)
	rolling    bool            // a roll goroutine runs

	finMu    sync.Mutex
	finished map[int]func(Finished) // OnFinished's subscribers
	finSeq   int
}

// wakeUps is how many accepts may wait to wake an idle worker: calls accepted together (an
// event's deliveries) wake as many workers at once, whose leases then share a commit.
const wakeUps = 64

// New returns the invocation service over a store and a runner.
func New(s Store, r Runner, opts Options) *Service {
	if opts.MaxCallBody <= 0 {
		opts.MaxCallBody = 1 << 20
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if opts.Images == nil {
		opts.Images, _ = s.(ImageStore)
	}
	return &Service{store: s, runner: r, secrets: opts.Secrets, log: opts.Log, node: opts.Node, maxCallBody: opts.MaxCallBody, leases: ownerPrefix + opts.Node + ":",
		now: func() time.Time { return time.Now().UTC() }, wake: make(chan struct{}, wakeUps),
		running: map[string]context.CancelCauseFunc{}, cancelled: map[string]bool{},
		images: opts.Images, imageCache: newImageCache(), rollDirty: map[string]bool{}}
}

// EnsureImage checks that a route's image is on this host, pulling it if it can. For an
// image Gantry manages ("@name") it checks its digest now, if it has one: an image without
// one yet (its first build runs) or that does not exist passes here (whether the route's
// writer may name it is the caller's check), and its calls fail until it has one.
func (s *Service) EnsureImage(ctx context.Context, ref string) error {
	name, ok := store.ImageName(ref)
	if !ok {
		return s.runner.EnsureImage(ctx, ref)
	}
	if s.images == nil {
		return nil
	}
	img, err := s.imageCache.get(ctx, s.images, name)
	if err != nil || img.digest == "" {
		return err
	}
	return s.runner.EnsureImage(ctx, img.digest)
}

// NetworkAllowed reports whether an app of owner may run functions on the route network.
func (s *Service) NetworkAllowed(owner, network string) error {
	return s.runner.NetworkAllowed(owner, network)
}

// Figures are what the node tells of its work at each heartbeat.
type Figures struct {
	Running int // calls running in this process now, sync and async
	Hot     int // hot containers the runner keeps, idle or busy
	// HotRoutes breaks Hot down by route (those with at least one), in app then path order.
	HotRoutes []store.RouteHot
}

// Figures are the service's figures now.
func (s *Service) Figures() Figures {
	s.mu.Lock()
	running := len(s.running)
	s.mu.Unlock()
	var hot []store.RouteHot
	for _, h := range s.runner.HotRoutes() {
		hot = append(hot, store.RouteHot{App: h.App, Path: h.Path, Containers: h.Containers})
	}
	return Figures{Running: running, Hot: s.runner.HotContainers(), HotRoutes: hot}
}
