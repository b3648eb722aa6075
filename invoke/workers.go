package invoke

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/gantry-dev/gantry/runner"
	"github.com/gantry-dev/gantry/store"
)

// WorkerOptions configure the async workers; zero values take the defaults.
type WorkerOptions struct {
	// Count is how many async calls run at once: it bounds the containers async work
	// holds, so a backlog drains steadily and never starves sync calls. 0 runs none here:
	// async calls are left to external runners (GET /v1/tasks).
	Count int
	// Poll is how often an idle worker looks at the queue (default 250ms); accepts wake one at once.
	Poll time.Duration
	// MaxAttempts bounds the runs of a call that fails for Gantry's or Docker's reasons
	// (default 5); the function's own failures are final at once, unless its route's
	// max_retries or its own retry policy (Task.Retry, an event delivery's) asks for more.
	MaxAttempts int
	// Backoff is the delay before the first retry (default 1s), doubled at each, at most a minute.
	Backoff time.Duration
	// Lease is how long a worker's lease on a call lasts unless renewed (default
	// store.DefaultLease). While the workers hold leases, they renew them every Lease/3, so
	// a call may run longer than its lease; a node that dies stops renewing, and its calls
	// go back to the queue (in their place in line) within Lease, for any node to run.
	Lease time.Duration
	Log   *slog.Logger // default: the service's
}

// ownerPrefix names the leases of Gantry's own workers (external runners use others):
// "gantry@<node>:<run>:<worker>".
const ownerPrefix = "gantry@"

// legacyOwnerPrefix named them before ("gantry:<run>:<worker>"), when one server owned a
// data dir (the bbolt store): such a lease is this node's previous run's. A store shared by
// several nodes (PostgreSQL) never held one.
const legacyOwnerPrefix = "gantry:"

// Workers run accepted async calls through the invocation path.
type Workers struct {
	s        *Service
	opts     WorkerOptions
	run      string // this run's lease owner prefix
	stop     chan struct{}
	stopOnce sync.Once
	wg       sync.WaitGroup // the worker loops
	done     chan struct{}  // closed once every worker loop returned: no lease is held
	renewed  chan struct{}  // closed once the lease renewal stopped

	heldMu sync.Mutex
	held   map[string]string // the leases the workers hold now: task ID to owner
}

// StartWorkers starts the async workers after taking back the leases of this node's
// previous run (dead, since this one starts): other nodes' leases stand.
func (s *Service) StartWorkers(ctx context.Context, opts WorkerOptions) (*Workers, error) {
	if opts.Poll <= 0 {
		opts.Poll = 250 * time.Millisecond
	}
	if opts.MaxAttempts <= 0 {
		opts.MaxAttempts = 5
	}
	if opts.Backoff <= 0 {
		opts.Backoff = time.Second
	}
	if opts.Lease <= 0 {
		opts.Lease = store.DefaultLease
	}
	if opts.Log == nil {
		opts.Log = s.log
	}
	w := &Workers{s: s, opts: opts, run: s.leases + s.store.NewID() + ":", stop: make(chan struct{}), done: make(chan struct{}), renewed: make(chan struct{}), held: map[string]string{}}
	s.mu.Lock()
	s.workers = w.run
	s.mu.Unlock()
	for _, prefix := range []string{s.leases, legacyOwnerPrefix} {
		if n, err := s.store.ReleaseLeases(ctx, prefix, w.run); err != nil {
			return nil, fmt.Errorf("take back the leases of a previous run: %w", err)
		} else if n > 0 {
			opts.Log.Info("async calls of a previous run back in the queue", "count", n)
		}
	}
	for i := range opts.Count {
		w.wg.Add(1)
		go w.loop(fmt.Sprintf("%s%d", w.run, i)) //nolint:gosec // G118: workers outlive the call that starts them
	}
	go func() { w.wg.Wait(); close(w.done) }()
	go w.renewLeases() //nolint:gosec // G118: the renewal outlives the call that starts the workers, until their last call ends
	return w, nil
}

// StopLeasing makes the workers take no more calls; Wait then waits for the running ones.
func (w *Workers) StopLeasing() { w.stopOnce.Do(func() { close(w.stop) }) }

// Wait waits (up to ctx) for the calls running after StopLeasing; those that outlive ctx
// are ended by the runner's Close and go back to the queue. Their leases are renewed until
// they end, so that no other node takes them while they drain.
func (w *Workers) Wait(ctx context.Context) error {
	for _, ended := range []chan struct{}{w.done, w.renewed} { // the calls, then the renewal in progress
		select {
		case <-ended:
		case <-ctx.Done():
			return fmt.Errorf("invoke: async calls still running: %w", ctx.Err())
		}
	}
	return nil
}

// renewLeases is the heartbeat of this run's leases: every Lease/3 it extends the leases
// its workers hold (only those: a lease no worker settles, say one whose grant this node
// never heard of, ends within Lease), stops those cancelled meanwhile, until the last worker loop has returned (after StopLeasing, once the
// calls that were running have settled). A renewal that fails is logged, and tried again
// at the next beat: two beats may fail before a lease ends.
func (w *Workers) renewLeases() {
	defer close(w.renewed)
	t := time.NewTicker(w.opts.Lease / 3)
	defer t.Stop()
	for {
		select {
		case <-w.done:
			return
		case <-t.C:
			ctx, cancel := context.WithTimeout(context.Background(), w.opts.Lease/3)
			_, stop, err := w.s.store.RenewLeases(ctx, w.holding(), w.opts.Lease)
			cancel()
			if err != nil {
				w.opts.Log.Error("renew the leases of async calls", "err", err)
			}
			for _, id := range stop { // cancelled, and this node missed the ChangeCancel
				w.s.stopHere(id)
			}
		}
	}
}

func (w *Workers) loop(owner string) {
	defer w.wg.Done()
	for {
		select {
		case <-w.stop:
			return
		default:
		}
		tasks, err := w.s.store.LeaseTasks(context.Background(), 1, owner, w.opts.Lease)
		if err != nil {
			w.opts.Log.Error("lease async calls", "err", err)
		}
		if len(tasks) == 0 {
			select {
			case <-w.stop:
				return
			case <-w.s.wake:
			case <-time.After(w.opts.Poll):
			}
			continue
		}
		for _, t := range tasks {
			w.hold(t.ID, owner)
		}
		for _, t := range tasks {
			w.runTask(t, owner)
			w.release(t.ID)
		}
	}
}

// runTask runs one leased call and settles it (settle), in Done, before a hot container
// serves anyone else, so the task is final on disk before any late log of the call arrives.
func (w *Workers) runTask(t store.Task, owner string) {
	started := w.s.now()
	_, _ = w.s.run(context.Background(), t, started, func(res *runner.Result, err error) {
		w.settle(context.Background(), t, owner, started, res, err)
	})
}

// hold notes a lease a worker holds, for the renewal.
func (w *Workers) hold(id, owner string) {
	w.heldMu.Lock()
	defer w.heldMu.Unlock()
	w.held[id] = owner
}

// release forgets a lease once its call settled.
func (w *Workers) release(id string) {
	w.heldMu.Lock()
	delete(w.held, id)
	w.heldMu.Unlock()
	w.s.mu.Lock()
	delete(w.s.cancelled, id) // a stop that came after the call ended
	w.s.mu.Unlock()
}

// holding lists the leases the workers hold now.
func (w *Workers) holding() []store.Lease {
	w.heldMu.Lock()
	defer w.heldMu.Unlock()
	held := make([]store.Lease, 0, len(w.held))
	for id, owner := range w.held {
		held = append(held, store.Lease{ID: id, Owner: owner})
	}
	return held
}
