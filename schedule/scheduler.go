package schedule

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/gantry-dev/gantry/invoke"
	"github.com/gantry-dev/gantry/store"
	"github.com/gantry-dev/gantry/workflow"
)

// Store is what the scheduler needs of the store: the schedules, the claim of their ticks,
// the workflows a tick runs, and the change feed that tells of their writes.
type Store interface {
	AllSchedules(ctx context.Context) ([]store.Schedule, error)
	GetSchedule(ctx context.Context, name string) (store.Schedule, error)
	ClaimTick(ctx context.Context, id, name string, seen, tick, next time.Time, call *store.StepCall) (bool, error)
	GetWorkflow(ctx context.Context, name string) (store.Workflow, error)
	Subscribe(fn func(store.Change)) (unsubscribe func())
}

// Calls makes the calls of call targets (*invoke.Service).
type Calls interface {
	ScheduledCall(req invoke.ScheduledRequest) (store.StepCall, error)
}

// EventPublisher publishes the events of event targets (the events service).
type EventPublisher interface {
	Publish(ctx context.Context, evs []store.Event) ([]store.Published, error)
}

// Workflows starts the runs of workflow targets (*workflow.Engine).
type Workflows interface {
	Trigger(ctx context.Context, w store.Workflow, inputs json.RawMessage, opts workflow.TriggerOptions) (store.Run, bool, error)
}

// Options configure a Scheduler; zero values take the defaults.
type Options struct {
	// Grace is how late a tick may fire and still be on time (default 5s; never more than
	// the time to the schedule's next tick). A tick found later than that was missed: the
	// schedule's missed policy decides.
	Grace time.Duration
	// RetryDelay is how long a tick whose fire failed waits before it is tried again
	// (default 1s). A tick whose fire still fails once it is late, for Grace from its
	// first failure, is given up: claimed without firing, and logged as an error.
	RetryDelay time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
	Log *slog.Logger // default: discard
}

// Scheduler fires the ticks of the schedules. It keeps them in memory, a cache of the
// store refreshed from its change feed, and sleeps until the earliest tick is due.
type Scheduler struct {
	store  Store
	calls  Calls
	events EventPublisher
	flows  Workflows
	grace  time.Duration
	retry  time.Duration
	now    func() time.Time
	log    *slog.Logger
	wake   chan struct{}

	mu        sync.Mutex
	stale     bool                      // the schedules must be read again
	schedules map[string]store.Schedule // by name
	failed    map[string]time.Time      // schedule ID -> when its failed tick is tried again
	failing   map[string]failure        // schedule ID -> the tick whose fire fails, since when
	clocks    map[string]clockOrInvalid // by schedule ID, cron and timezone

	cancel context.CancelFunc
	done   chan struct{}
}

// failure is a tick whose fire failed, and when it first did (see givesUp).
type failure struct {
	tick, since time.Time
}

// clockOrInvalid caches a parsed clock, or why a stored schedule has none.
type clockOrInvalid struct {
	clock clock
	err   error
}

// New returns a scheduler over the store and the services that fire the targets. Start
// runs it.
func New(s Store, calls Calls, events EventPublisher, flows Workflows, opts Options) *Scheduler {
	if opts.Grace <= 0 {
		opts.Grace = 5 * time.Second
	}
	if opts.RetryDelay <= 0 {
		opts.RetryDelay = time.Second
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return &Scheduler{store: s, calls: calls, events: events, flows: flows, grace: opts.Grace, retry: opts.RetryDelay,
		now: opts.Now, log: opts.Log, wake: make(chan struct{}, 1), stale: true,
		schedules: map[string]store.Schedule{}, failed: map[string]time.Time{}, failing: map[string]failure{}, clocks: map[string]clockOrInvalid{}}
}

// Start runs the scheduler until ctx ends or Stop is called: it follows the store's feed
// (a ChangeSchedule or ChangeReset has it read the schedules again) and fires each due tick.
func (s *Scheduler) Start(ctx context.Context) {
	ctx, cancel := context.WithCancel(ctx)
	s.cancel, s.done = cancel, make(chan struct{})
	unsubscribe := s.store.Subscribe(func(c store.Change) {
		if c.Kind == store.ChangeSchedule || c.Kind == store.ChangeReset {
			s.mu.Lock()
			s.stale = true
			s.mu.Unlock()
			s.signal()
		}
	})
	go func() {
		defer close(s.done)
		defer unsubscribe()
		s.loop(ctx)
	}()
}

// Stop stops the scheduler and waits for a fire in progress.
func (s *Scheduler) Stop() {
	if s.cancel == nil {
		return
	}
	s.cancel()
	<-s.done
}

// signal wakes the loop.
func (s *Scheduler) signal() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// loop fires what is due, then sleeps until the next tick, a change or the end.
func (s *Scheduler) loop(ctx context.Context) {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		wakeAt := s.runOnce(ctx)
		wait := time.Hour // a wake of last resort, should the clock jump
		if !wakeAt.IsZero() {
			wait = min(wait, max(wakeAt.Sub(s.now()), 0))
		}
		timer.Reset(wait)
		select {
		case <-ctx.Done():
			return
		case <-s.wake:
		case <-timer.C:
		}
	}
}

// runOnce reads the schedules when they changed, fires the ticks due now, and returns
// when it is next needed (zero: no tick is coming, only a change wakes it).
func (s *Scheduler) runOnce(ctx context.Context) time.Time {
	if err := s.reload(ctx); err != nil {
		s.log.Warn("scheduler: read the schedules", "err", err)
		return s.now().Add(s.retry)
	}
	return s.fireDue(ctx, s.now())
}

// reload reads every schedule when the feed said they changed.
func (s *Scheduler) reload(ctx context.Context) error {
	s.mu.Lock()
	stale := s.stale
	s.stale = false
	s.mu.Unlock()
	if !stale {
		return nil
	}
	all, err := s.store.AllSchedules(ctx)
	if err != nil {
		s.mu.Lock()
		s.stale = true
		s.mu.Unlock()
		return err
	}
	held := make(map[string]store.Schedule, len(all))
	ids := make(map[string]bool, len(all))
	for _, sc := range all {
		held[sc.Name] = sc
		ids[sc.ID] = true
	}
	s.mu.Lock()
	s.schedules = held
	for id := range s.failed {
		if !ids[id] {
			delete(s.failed, id)
		}
	}
	for id := range s.failing {
		if !ids[id] {
			delete(s.failing, id)
		}
	}
	s.mu.Unlock()
	return nil
}

// clockOf is the parsed clock of a schedule (cached: the parse is not free).
func (s *Scheduler) clockOf(sc store.Schedule) (clock, error) {
	key := sc.ID + "\x00" + sc.Cron + "\x00" + sc.Timezone
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.clocks[key]
	if !ok {
		if len(s.clocks) > 4*len(s.schedules)+64 { // old keys of schedules changed since
			clear(s.clocks)
		}
		c.clock, c.err = parseClock(sc.Cron, sc.Timezone)
		s.clocks[key] = c
		if c.err != nil {
			s.log.Warn("scheduler: a schedule that cannot fire until it is changed", "schedule", sc.Name, "err", c.err)
		}
	}
	return c.clock, c.err
}
