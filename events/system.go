package events

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/gantry-dev/gantry/invoke"
	"github.com/gantry-dev/gantry/store"
)

// Gantry's own events (system events), published by the node where they happen.
const (
	// TypeExecutionFinished: a call reached a final status on this node. Source
	// /gantry/apps/<app>, subject the route, id the execution's; data ExecutionFinished.
	TypeExecutionFinished = SystemPrefix + "execution.finished"
	// TypeWorkflowFinished: a workflow run reached a final status. Source
	// /gantry/workflows/<workflow>, subject and id the run's ID; data WorkflowFinished.
	TypeWorkflowFinished = SystemPrefix + "workflow.finished"
	// TypeRouteChanged: a route was created, changed or deleted (RouteChanged). Source
	// /gantry/apps/<app>, subject the route's path; data RouteChange.
	TypeRouteChanged = SystemPrefix + "route.changed"
)

// ExecutionFinished is the data of a dev.gantry.execution.finished event.
type ExecutionFinished struct {
	ID     string `json:"id"`
	App    string `json:"app"`
	Route  string `json:"route"`
	Status string `json:"status"`
	Reason string `json:"reason,omitempty"`
	Type   string `json:"type"` // sync or async
	Error  string `json:"error,omitempty"`
}

// WorkflowFinished is the data of a dev.gantry.workflow.finished event.
type WorkflowFinished struct {
	ID       string `json:"id"`
	Workflow string `json:"workflow"`
	Status   string `json:"status"`
	Reason   string `json:"reason,omitempty"`
	Error    string `json:"error,omitempty"`
}

// RouteChange is the data of a dev.gantry.route.changed event.
type RouteChange struct {
	App    string `json:"app"`
	Path   string `json:"path"`
	Change string `json:"change"` // created, updated, deleted
}

// AppSource is the source of the system events about an app and its routes.
func AppSource(app string) string { return "/gantry/apps/" + app }

// WorkflowSource is the source of the system events about a workflow.
func WorkflowSource(name string) string { return "/gantry/workflows/" + name }

// systemEvent is a system event waiting in the queue; parent, when set, is the workflow
// run whose step made the call: the event is dropped if a system event started the run.
type systemEvent struct {
	ev     store.Event
	parent string
}

// Start loads the subscriptions and follows the store's feed: the subscriptions' cache
// (ChangeSubscription, ChangeReset), and the runs that change (ChangeRun), for
// dev.gantry.workflow.finished; it publishes dev.gantry.execution.finished for the calls
// that finish on this node (invoke's OnFinished). System events are published
// asynchronously, through a bounded queue (Options.SystemQueue), until Stop: at most
// once (a node that stops or crashes with events queued loses them; one the queue has
// no room for is dropped, and logged), and only when a subscription receives them (one
// nobody receives is not stored). To keep a subscription from feeding itself, the calls
// and runs that deliver a system event, and the calls of those runs' steps, publish none.
func (s *Service) Start(ctx context.Context) {
	s.unsub = append(s.unsub, s.store.Subscribe(func(c store.Change) {
		switch c.Kind {
		case store.ChangeSubscription:
			s.subs.changed(c.Name)
			s.reload()
		case store.ChangeReset:
			s.subs.changed("")
			s.reload()
		case store.ChangeRun:
			if s.wants(TypeWorkflowFinished) {
				select {
				case s.runs <- c.Name:
				default:
					s.log.Warn("system event dropped: the queue is full", "type", TypeWorkflowFinished, "run", c.Name)
				}
			}
		}
	}))
	if _, err := s.subs.get(ctx, s.store); err != nil {
		s.log.Warn("events: load the subscriptions (the first publish tries again)", "err", err)
	}
	s.unsub = append(s.unsub, s.calls.OnFinished(s.executionFinished))
	life, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s.unsub = append(s.unsub, cancel)
	s.wg.Add(3)
	go s.publishSystem(life)
	go s.watchRuns(life)
	go s.reloadSubscriptions(life)
}

// reload asks reloadSubscriptions for a reload of what changed.
func (s *Service) reload() {
	select {
	case s.reloads <- struct{}{}:
	default: // one is asked for already
	}
}

// reloadSubscriptions reloads the subscriptions that changed soon after they did, for
// the system events (which look at them without reloading, see wants); a publish reloads
// them itself first. A reload that fails is tried again a second later.
func (s *Service) reloadSubscriptions(ctx context.Context) {
	defer s.wg.Done()
	var retry <-chan time.Time
	for {
		select {
		case <-s.stop:
			return
		case <-s.reloads:
		case <-retry:
		}
		retry = nil
		if _, err := s.subs.get(ctx, s.store); err != nil {
			s.log.Warn("events: reload the subscriptions", "err", err)
			retry = time.After(time.Second)
		}
	}
}

// Stop stops following the store and publishing system events; those still queued are
// dropped.
func (s *Service) Stop() {
	s.stopOnce.Do(func() {
		close(s.stop)
		for i := len(s.unsub) - 1; i >= 0; i-- {
			s.unsub[i]()
		}
		s.wg.Wait()
	})
}

// RouteChanged publishes dev.gantry.route.changed for a route of app written (change:
// created, updated or deleted) — the handlers call it after the write. owner is the app's.
func (s *Service) RouteChanged(_ context.Context, app, path, owner, change string) {
	s.enqueue(systemEvent{ev: s.systemEvent(TypeRouteChanged, AppSource(app), path, s.store.NewID(), owner,
		RouteChange{App: app, Path: path, Change: change})})
}

// executionFinished is OnFinished's subscriber: a dev.gantry.execution.finished event
// for the call, queued.
func (s *Service) executionFinished(f invoke.Finished) {
	if strings.HasPrefix(f.EventType, SystemPrefix) || !s.wants(TypeExecutionFinished) {
		return
	}
	ex := f.Execution
	owner, err := s.store.AppOwner(ex.App)
	if err != nil {
		return // the app is gone: nobody's
	}
	s.enqueue(systemEvent{parent: ex.Parent, ev: s.systemEvent(TypeExecutionFinished, AppSource(ex.App), ex.Route, ex.ID, owner,
		ExecutionFinished{ID: ex.ID, App: ex.App, Route: ex.Route, Status: ex.Status, Reason: ex.Reason, Type: ex.Type, Error: ex.Error})})
}

// systemEvent makes a system event.
func (s *Service) systemEvent(typ, source, subject, id, owner string, data any) store.Event {
	b, err := json.Marshal(data)
	if err != nil {
		b = []byte(`{}`)
	}
	return store.Event{EventID: id, Source: source, Type: typ, SpecVersion: store.SpecVersion, Subject: subject,
		Time: time.Now().UTC(), DataContentType: "application/json", Data: b, Owner: owner}
}

// wants reports whether an enabled subscription may receive system events of type typ
// (before their owner is known): none, and they are not even made. While the cache is
// stale (a subscription changed, not reloaded yet) it may: publishSome decides.
func (s *Service) wants(typ string) bool {
	subs, stale := s.subs.current()
	if stale {
		return true
	}
	for _, sub := range subs {
		if sub.Enabled && typeMatches(sub.Filter.Type, typ) {
			return true
		}
	}
	return false
}

// typeMatches reports whether a filter's type matches typ.
func typeMatches(filter, typ string) bool {
	return store.EventMatch{Type: filter}.Matches(store.Event{Type: typ})
}

// enqueue queues a system event, or drops it (logged) when the queue is full.
func (s *Service) enqueue(e systemEvent) {
	select {
	case s.system <- e:
	default:
		s.log.Warn("system event dropped: the queue is full", "type", e.ev.Type, "id", e.ev.EventID)
	}
}

// publishSystem publishes the queued system events, as many at once as are waiting (up
// to maxSystemBatch): one store write for them all.
func (s *Service) publishSystem(ctx context.Context) {
	defer s.wg.Done()
	for {
		var batch []systemEvent
		select {
		case <-s.stop:
			return
		case e := <-s.system:
			batch = append(batch, e)
		}
	more:
		for len(batch) < maxSystemBatch {
			select {
			case e := <-s.system:
				batch = append(batch, e)
			default:
				break more
			}
		}
		evs := make([]store.Event, 0, len(batch))
		for _, e := range batch {
			if e.parent != "" && s.runOfSystemEvent(ctx, e.parent) {
				continue
			}
			evs = append(evs, e.ev)
		}
		s.publishSome(ctx, evs)
	}
}

// maxSystemBatch bounds the system events published in one write.
const maxSystemBatch = 64

// publishSome publishes system events that a subscription receives, retrying a store
// outage for a while.
func (s *Service) publishSome(ctx context.Context, evs []store.Event) {
	subs, err := s.subs.get(ctx, s.store)
	if err != nil {
		s.log.Error("system events dropped: the subscriptions could not be read", "count", len(evs), "err", err)
		return
	}
	keep := evs[:0]
	for _, ev := range evs {
		if anyReceives(subs, ev) {
			keep = append(keep, ev)
		}
	}
	if len(keep) == 0 {
		return
	}
	wait := 100 * time.Millisecond
	for range 5 {
		_, err := s.publish(ctx, keep)
		if err == nil {
			return
		}
		if !errors.Is(err, store.ErrUnavailable) {
			s.log.Error("publish system events", "count", len(keep), "err", err)
			return
		}
		select {
		case <-s.stop:
			return
		case <-time.After(wait):
		}
		wait *= 2
	}
	s.log.Error("system events dropped: the store stayed unavailable", "count", len(keep))
}

// watchRuns publishes dev.gantry.workflow.finished for the runs that changed and are
// final (the event's id is the run's: every node that sees the run's end publishes it,
// the store keeps one).
func (s *Service) watchRuns(ctx context.Context) {
	defer s.wg.Done()
	for {
		var id string
		select {
		case <-s.stop:
			return
		case id = <-s.runs:
		}
		r, err := s.store.GetRun(ctx, id)
		if err != nil || !r.Done() || fromSystemEvent(r) {
			continue
		}
		s.enqueue(systemEvent{ev: s.systemEvent(TypeWorkflowFinished, WorkflowSource(r.Workflow), r.ID, r.ID, r.Owner,
			WorkflowFinished{ID: r.ID, Workflow: r.Workflow, Status: r.Status, Reason: r.Reason, Error: r.Error})})
	}
}

// runOfSystemEvent reports whether run id was started by a delivery of a system event.
func (s *Service) runOfSystemEvent(ctx context.Context, id string) bool {
	r, err := s.store.GetRun(ctx, id)
	return err == nil && fromSystemEvent(r)
}

// fromSystemEvent reports whether a run was started by a delivery of a system event: its
// inputs are the event (see Structured), of a type under dev.gantry. (which only Gantry publishes).
func fromSystemEvent(r store.Run) bool {
	if r.Delivery == "" {
		return false
	}
	var in struct {
		Type string `json:"type"`
	}
	return json.Unmarshal(r.Inputs, &in) == nil && strings.HasPrefix(in.Type, SystemPrefix)
}
