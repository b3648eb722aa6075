package workflow

import (
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gantry-dev/gantry/invoke"
	"github.com/gantry-dev/gantry/store"
)

// Store is what the engine needs of persistence.
type Store interface {
	PutWorkflow(ctx context.Context, w store.Workflow, guard store.AppGuard) (store.Workflow, bool, error)
	GetWorkflow(ctx context.Context, name string) (store.Workflow, error)
	DeleteWorkflow(ctx context.Context, name string, guard store.AppGuard) error
	CreateRun(ctx context.Context, r store.Run, events []store.RunEvent) (store.Run, bool, error)
	GetRun(ctx context.Context, id string) (store.Run, error)
	ListRuns(ctx context.Context, f store.RunFilter, page store.Page) ([]store.Run, string, error)
	ActiveRuns(ctx context.Context) ([]string, error)
	UpdateRun(ctx context.Context, id string, fn func(r *store.Run) (store.RunUpdate, error)) (store.Run, error)
	GetExecution(ctx context.Context, id string) (store.Execution, error)
	AppID(name string) (string, error)
	Subscribe(fn func(store.Change)) (unsubscribe func())
	NewID() string
}

// Calls is what the engine needs of the invocation path (*invoke.Service): step calls
// made ready for the queue, and cancels of running ones.
type Calls interface {
	StepCall(req invoke.StepRequest) (store.StepCall, error)
	Cancel(ctx context.Context, id string) (store.Execution, error)
}

// Options configure an Engine; zero values take the defaults.
type Options struct {
	// Movers is how many runs this node moves on at once (default 4).
	Movers int
	// Sweep is how often the engine looks at every unfinished run (default 30s), besides
	// at start and after the store's feed may have missed changes: the runs whose calls
	// ended while no node listened (a crash) are moved on then.
	Sweep time.Duration
	Log   *slog.Logger
}

// Engine runs workflows: it starts runs, moves each on when one of its calls ends (the
// store's ChangeChild, on whichever node), and resumes unfinished runs after a restart.
// Every move of a run is one store write (UpdateRun, serialized on every node), which
// stores the run's new state, its events and the calls it starts together: a crash
// between two moves loses nothing, and no call is started twice.
type Engine struct {
	store Store
	calls Calls
	opts  Options
	log   *slog.Logger
	now   func() time.Time

	mu      sync.Mutex
	cond    *sync.Cond
	queue   []string        // runs to move, in order
	queued  map[string]bool // in queue
	busy    map[string]bool // being moved by a mover
	again   map[string]bool // kicked while busy: move once more
	timers  map[string]*time.Timer
	stopped bool

	moves atomic.Int64 // writes of runs tried by advance: a run whose timer loops would show

	progMu   sync.Mutex
	programs map[[32]byte]*Program // parsed definitions, by the hash of their text

	unsubscribe func()
	cancelLife  context.CancelFunc // ends the engine's own work (Start's context)
	wg          sync.WaitGroup
	done        chan struct{}
}

// New returns an engine; Start starts it.
func New(s Store, calls Calls, opts Options) *Engine {
	if opts.Movers <= 0 {
		opts.Movers = 4
	}
	if opts.Sweep <= 0 {
		opts.Sweep = 30 * time.Second
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	e := &Engine{store: s, calls: calls, opts: opts, log: opts.Log, now: func() time.Time { return time.Now().UTC() },
		queued: map[string]bool{}, busy: map[string]bool{}, again: map[string]bool{}, timers: map[string]*time.Timer{},
		programs: map[[32]byte]*Program{}, done: make(chan struct{})}
	e.cond = sync.NewCond(&e.mu)
	return e
}

// Start follows the store's feed, resumes the unfinished runs, and starts the movers,
// which work until Stop (ctx bounds the first sweep only).
func (e *Engine) Start(ctx context.Context) {
	life, cancel := context.WithCancel(context.WithoutCancel(ctx))
	e.cancelLife = cancel
	e.unsubscribe = e.store.Subscribe(func(c store.Change) {
		switch c.Kind {
		case store.ChangeChild:
			e.kick(c.Name)
		case store.ChangeReset:
			go e.sweep(life)
		}
	})
	for range e.opts.Movers {
		e.wg.Add(1)
		go e.mover(life)
	}
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		t := time.NewTicker(e.opts.Sweep)
		defer t.Stop()
		for {
			select {
			case <-e.done:
				return
			case <-t.C:
				e.sweep(life)
			}
		}
	}()
	e.sweep(ctx)
}

// Stop stops the engine: moves in progress end first. Unfinished runs stay in the store,
// for this node's next start or another node to move on.
func (e *Engine) Stop() {
	if e.unsubscribe != nil {
		e.unsubscribe()
	}
	e.mu.Lock()
	if e.stopped {
		e.mu.Unlock()
		return
	}
	e.stopped = true
	for _, t := range e.timers {
		t.Stop()
	}
	e.cond.Broadcast()
	e.mu.Unlock()
	close(e.done)
	e.wg.Wait()
	if e.cancelLife != nil {
		e.cancelLife() // a sweep started by a ChangeReset stops reading
	}
}

// sweep kicks every unfinished run.
func (e *Engine) sweep(ctx context.Context) {
	ids, err := e.store.ActiveRuns(ctx)
	if err != nil {
		e.log.Warn("workflow engine: list unfinished runs", "err", err)
		return
	}
	for _, id := range ids {
		e.kick(id)
	}
}

// kick asks for a move of run id; a run is moved by one mover at a time on this node
// (and by one node at a time, UpdateRun serializing them).
func (e *Engine) kick(id string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	switch {
	case e.stopped, e.queued[id]:
	case e.busy[id]:
		e.again[id] = true
	default:
		e.queued[id] = true
		e.queue = append(e.queue, id)
		e.cond.Signal()
	}
}

func (e *Engine) mover(ctx context.Context) {
	defer e.wg.Done()
	for {
		e.mu.Lock()
		for len(e.queue) == 0 && !e.stopped {
			e.cond.Wait()
		}
		if e.stopped {
			e.mu.Unlock()
			return
		}
		id := e.queue[0]
		e.queue = e.queue[1:]
		delete(e.queued, id)
		e.busy[id] = true
		e.mu.Unlock()

		e.advance(ctx, id)

		e.mu.Lock()
		delete(e.busy, id)
		if e.again[id] {
			delete(e.again, id)
			if !e.stopped && !e.queued[id] {
				e.queued[id] = true
				e.queue = append(e.queue, id)
				e.cond.Signal()
			}
		}
		e.mu.Unlock()
	}
}

// advance moves run id on: the results of its calls that ended, what is ready to start,
// its end. The calls to stop (a failure or a cancel) are stopped after the write.
func (e *Engine) advance(ctx context.Context, id string) {
	r, err := e.store.GetRun(ctx, id)
	if err != nil {
		if !errors.Is(err, store.ErrNotFound) {
			e.log.Warn("workflow engine: read run", "run", id, "err", err)
			e.retryLater(id)
		}
		return
	}
	if r.Done() {
		return
	}
	results, err := e.results(ctx, r)
	if err != nil {
		e.log.Warn("workflow engine: read the run's calls", "run", id, "err", err)
		e.retryLater(id)
		return
	}
	stored, err := e.write(ctx, id, results, nil)
	switch {
	case errors.Is(err, errNoChange):
		stored = r
	case err != nil:
		e.log.Warn("workflow engine: move run", "run", id, "err", err)
		e.retryLater(id)
		return
	}
	e.arm(stored)
}

// write moves run id on in one store write, with the results of its calls that ended:
// first (when set) prepare changes it — a cancel —, then a move. The calls the move stops
// are stopped once the write is stored. errNoChange when nothing changed.
func (e *Engine) write(ctx context.Context, id string, results map[string]store.Execution, prepare func(r *store.Run, m *mover) error) (store.Run, error) {
	var cancels []string
	e.moves.Add(1)
	stored, err := e.store.UpdateRun(ctx, id, func(r *store.Run) (store.RunUpdate, error) {
		p, err := e.program(r.Definition)
		if err != nil { // a stored definition that no longer parses: the run cannot go on
			r.Stopping, r.Reason, r.Error = store.StatusFailed, store.ReasonError, "definition: "+err.Error()
			p = &Program{}
		}
		m := &mover{r: r, p: p, results: results, now: e.now(), stepOf: e.calls.StepCall}
		if prepare != nil {
			if err := prepare(r, m); err != nil {
				return store.RunUpdate{}, err
			}
		}
		if p.Steps == nil { // no program: end the run without moving its steps
			m.finishBroken()
		} else {
			m.move()
		}
		cancels = m.cancels
		if !m.changed {
			return store.RunUpdate{}, errNoChange
		}
		return m.update, nil
	})
	for _, call := range cancels { // also after errNoChange: a stopping run's calls are stopped again
		if _, err := e.calls.Cancel(ctx, call); err != nil && !errors.Is(err, store.ErrConflict) && !errors.Is(err, store.ErrNotFound) {
			e.log.Warn("workflow engine: stop a step's call", "run", id, "call", call, "err", err)
		}
	}
	return stored, err
}

// results reads the final executions of the calls a run waits for.
func (e *Engine) results(ctx context.Context, r store.Run) (map[string]store.Execution, error) {
	out := map[string]store.Execution{}
	check := func(call string) error {
		if call == "" {
			return nil
		}
		ex, err := e.store.GetExecution(ctx, call)
		switch {
		case errors.Is(err, store.ErrNotFound): // pruned or lost: the attempt failed
			out[call] = store.Execution{ID: call, Status: store.StatusFailed, Reason: store.ReasonError, Error: "the call's execution is gone"}
		case err != nil:
			return err
		case ex.Done():
			out[call] = ex
		}
		return nil
	}
	for _, s := range r.Steps {
		if s.Status != store.StatusRunning {
			continue
		}
		if len(s.Items) > 0 {
			for _, it := range s.Items {
				if it.Status == store.StatusRunning {
					if err := check(it.Call); err != nil {
						return nil, err
					}
				}
			}
			continue
		}
		if err := check(last(s.Calls)); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// arm sets a timer for the next wake-up of a run (a sleep or a retry's backoff ending).
func (e *Engine) arm(r store.Run) {
	// Wake-ups due already are left out: a move just ran, and what it did not start waits
	// for something else (a map item due waits for a free slot: an item's end wakes the run).
	var next time.Time
	now := e.now()
	if !r.Done() {
		for _, s := range r.Steps {
			next = earliest(next, s.WakeAt, now)
			for _, it := range s.Items {
				next = earliest(next, it.WakeAt, now)
			}
		}
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if t := e.timers[r.ID]; t != nil {
		t.Stop()
		delete(e.timers, r.ID)
	}
	if next.IsZero() || e.stopped {
		return
	}
	id := r.ID
	e.timers[id] = time.AfterFunc(max(time.Until(next), 0)+time.Millisecond, func() {
		e.mu.Lock()
		delete(e.timers, id)
		e.mu.Unlock()
		e.kick(id)
	})
}

// retryLater moves a run again after a store error, unless the engine stops.
func (e *Engine) retryLater(id string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.stopped || e.timers[id] != nil {
		return
	}
	e.timers[id] = time.AfterFunc(time.Second, func() {
		e.mu.Lock()
		delete(e.timers, id)
		e.mu.Unlock()
		e.kick(id)
	})
}

// earliest is the earlier of a and b, leaving out b when it is not after now.
func earliest(a, b, now time.Time) time.Time {
	if b.IsZero() || !b.After(now) {
		return a
	}
	if a.IsZero() || b.Before(a) {
		return b
	}
	return a
}

// program parses a definition, once per distinct text.
func (e *Engine) program(def []byte) (*Program, error) {
	key := sha256.Sum256(def)
	e.progMu.Lock()
	p := e.programs[key]
	e.progMu.Unlock()
	if p != nil {
		return p, nil
	}
	p, err := Parse(def)
	if err != nil {
		return nil, err
	}
	e.progMu.Lock()
	if len(e.programs) > 1024 {
		clear(e.programs)
	}
	e.programs[key] = p
	e.progMu.Unlock()
	return p, nil
}
