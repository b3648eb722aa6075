package events

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/gantry-dev/gantry/invoke"
	"github.com/gantry-dev/gantry/runner"
	"github.com/gantry-dev/gantry/store"
	"github.com/gantry-dev/gantry/workflow"
)

// Store is what the events service needs of persistence.
type Store interface {
	PublishEvents(ctx context.Context, events []store.EventPublish) ([]store.Published, error)
	GetEvent(ctx context.Context, key string) (store.Event, error)
	GetDelivery(ctx context.Context, id string) (store.Delivery, error)
	Redeliver(ctx context.Context, id string, next store.NewDelivery) (store.Delivery, error)
	GetSubscription(ctx context.Context, name string) (store.Subscription, error)
	AllSubscriptions(ctx context.Context) ([]store.Subscription, error)
	GetWorkflow(ctx context.Context, name string) (store.Workflow, error)
	GetRun(ctx context.Context, id string) (store.Run, error)
	Target(app, path, route, owner string) (store.Target, error)
	AppOwner(name string) (string, error)
	Subscribe(fn func(store.Change)) (unsubscribe func())
	NewID() string
}

// Calls is what the events service needs of the invocation path (*invoke.Service): the
// calls of deliveries made ready for the queue, and the calls that finish on this node.
type Calls interface {
	DeliveryCall(req invoke.DeliveryRequest) (store.StepCall, error)
	// NetworkAllowed reports whether owner's functions may run on network (a check of
	// subscription writes; each delivery's call is checked again).
	NetworkAllowed(owner, network string) error
	OnFinished(fn func(invoke.Finished)) (unsubscribe func())
}

// Workflows is what the events service needs of the workflow engine (*workflow.Engine):
// runs made ready to store, and started once stored.
type Workflows interface {
	Prepare(w store.Workflow, inputs json.RawMessage, opts workflow.TriggerOptions) (store.Run, []store.RunEvent, error)
	Kick(id string)
}

// Options configure a Service; zero values take the defaults.
type Options struct {
	// MaxEventBytes bounds the body of a POST /v1/events request, whatever its mode (the
	// events of a batch share it): what the handlers pass ReadHTTP. Default 256 KiB.
	MaxEventBytes int64
	// SystemQueue bounds the system events waiting to be published (default 1024): one
	// that finds it full is dropped, and logged, so that no call ever waits on them.
	SystemQueue int
	Log         *slog.Logger // default: discard
}

// DefaultMaxEventBytes is MaxEventBytes's default.
const DefaultMaxEventBytes = 256 << 10

// Service publishes events: it matches them against the subscriptions (a cache of the
// store's, kept by its change feed), stores each with a delivery per matching subscription
// in one write, and publishes Gantry's own events (Start).
type Service struct {
	store Store
	calls Calls
	flows Workflows
	opts  Options
	log   *slog.Logger

	subs subscriptionCache

	system   chan systemEvent // system events to publish, bounded
	runs     chan string      // runs that changed, to look at for dev.gantry.workflow.finished
	reloads  chan struct{}    // the subscriptions changed: reload them
	stop     chan struct{}
	stopOnce sync.Once
	wg       sync.WaitGroup
	unsub    []func()
}

// New returns the events service; Start starts its following of the store and its system events.
func New(s Store, calls Calls, flows Workflows, opts Options) *Service {
	if opts.MaxEventBytes <= 0 {
		opts.MaxEventBytes = DefaultMaxEventBytes
	}
	if opts.SystemQueue <= 0 {
		opts.SystemQueue = 1024
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return &Service{store: s, calls: calls, flows: flows, opts: opts, log: opts.Log,
		subs:   subscriptionCache{dirty: map[string]bool{}, reset: true},
		system: make(chan systemEvent, opts.SystemQueue), runs: make(chan string, opts.SystemQueue), reloads: make(chan struct{}, 1), stop: make(chan struct{})}
}

// MaxEventBytes is the bound of a POST /v1/events request's body (Options.MaxEventBytes).
func (s *Service) MaxEventBytes() int64 { return s.opts.MaxEventBytes }

// SystemPrefix starts the types of Gantry's own events; nobody else may publish one.
const SystemPrefix = "dev.gantry."

// SourcePrefix starts the sources of the events Gantry publishes itself: its system events
// (AppSource, WorkflowSource) and the events of schedules (invoke.ScheduleSource). The API
// refuses them (PublishFromAPI).
const SourcePrefix = "/gantry/"

// PublishFromAPI publishes events received over the API, as Publish does, but refuses
// (a ValidationError on "source") an event whose source is under SourcePrefix: those are
// Gantry's own, and a developer's event under one could pass for a schedule's or a
// system event's with the subscriptions that filter on it.
func (s *Service) PublishFromAPI(ctx context.Context, evs []store.Event) ([]store.Published, error) {
	for i, ev := range evs {
		if strings.HasPrefix(ev.Source, SourcePrefix) {
			err := store.Invalid("source", "sources under %q are Gantry's own events, not %q", SourcePrefix, ev.Source)
			if len(evs) > 1 {
				err = store.Invalid(fmt.Sprintf("events[%d].source", i), "sources under %q are Gantry's own events, not %q", SourcePrefix, ev.Source)
			}
			return nil, err
		}
	}
	return s.Publish(ctx, evs)
}

// Publish publishes events: each is checked (store.ValidateEvent; a type under
// dev.gantry. is Gantry's own), matched against the subscriptions (Receives), and stored
// with one delivery per subscription it reaches, in subscription name order, in one write
// for all of them (store.PublishEvents), durable before Publish returns. Owner and Public
// are the caller's to set: the publisher, and whether it is an admin. An event its
// publisher published before (its Owner, Source and EventID) makes no new delivery: its
// Published tells the first one's; another publisher's event of the same Source and
// EventID is another event. A subscription whose delivery cannot be made because its
// target is gone (its function or workflow deleted, no longer its owner's, or on a network
// its owner may no longer use) is left out, and logged; any other failure to make a
// delivery fails the publish, which stores nothing. (An event that store.ValidateEvent
// takes fits the environment of a default-format function: no delivery fails for its size.)
func (s *Service) Publish(ctx context.Context, evs []store.Event) ([]store.Published, error) {
	for i, ev := range evs {
		field := func(err error) error {
			var ve *store.ValidationError
			if len(evs) > 1 && errors.As(err, &ve) {
				return &store.ValidationError{Field: fmt.Sprintf("events[%d].%s", i, ve.Field), Message: ve.Message}
			}
			return err
		}
		if err := store.ValidateEvent(ev); err != nil {
			return nil, field(err)
		}
		if strings.HasPrefix(ev.Type, SystemPrefix) {
			return nil, field(store.Invalid("type", "types under %q are Gantry's own events, not %q", SystemPrefix, ev.Type))
		}
	}
	return s.publish(ctx, evs)
}

// publish matches the events and stores them with their deliveries, then starts the
// workflow runs they made.
func (s *Service) publish(ctx context.Context, evs []store.Event) ([]store.Published, error) {
	subs, err := s.subs.get(ctx, s.store)
	if err != nil {
		return nil, fmt.Errorf("publish events: read the subscriptions: %w", err)
	}
	batch := make([]store.EventPublish, len(evs))
	for i, ev := range evs {
		batch[i].Event = ev
		for _, sub := range subs {
			if !Receives(sub, ev) {
				continue
			}
			nd, err := s.build(ctx, sub, ev, s.store.NewID())
			if targetGone(err) {
				s.log.Warn("event not delivered to a subscription: its target cannot be called", "subscription", sub.Name,
					"owner", sub.Owner, "type", ev.Type, "source", ev.Source, "id", ev.EventID, "err", err)
				continue
			}
			if err != nil {
				return nil, fmt.Errorf("publish event %s from %s: its delivery to subscription %q: %w", ev.EventID, ev.Source, sub.Name, err)
			}
			batch[i].Deliveries = append(batch[i].Deliveries, nd)
		}
	}
	pubs, err := s.store.PublishEvents(ctx, batch)
	if err != nil {
		return nil, err
	}
	for _, p := range pubs {
		if !p.Created {
			continue
		}
		for _, d := range p.Deliveries {
			if d.Workflow {
				s.flows.Kick(d.Execution)
			}
		}
	}
	return pubs, nil
}

// targetGone reports whether a delivery could not be made because its subscription's
// target is gone or may no longer be called: the app, route or workflow deleted, no
// longer the subscription owner's (store.ErrNotFound), or on a network its owner may no
// longer use. Such a subscription is left out of a publish (and logged); any other failure
// fails the publish rather than answer it without a delivery it should have made.
func targetGone(err error) bool {
	return errors.Is(err, store.ErrNotFound) || errors.Is(err, runner.ErrNetworkNotAllowed)
}

// Redeliver gives a final delivery a new call (or run), made as its first was, with its
// subscription as it is now (its target, retry and dead-letter policies), and returns it
// QUEUED again. ErrNotFound without the delivery; ErrConflict while it is QUEUED, when its
// subscription is gone (deleted, or made again under its name since: another ID), has
// another owner than the delivery, no longer receives the event (disabled, its filter or
// scope changed), or cannot call its target any more.
func (s *Service) Redeliver(ctx context.Context, id string) (store.Delivery, error) {
	d, err := s.store.GetDelivery(ctx, id)
	if err != nil {
		return store.Delivery{}, err
	}
	if !d.Done() {
		return store.Delivery{}, store.Errorf(store.ErrConflict, "delivery %s is still queued (execution %s)", d.ID, d.Execution)
	}
	sub, err := s.store.GetSubscription(ctx, d.Subscription)
	if errors.Is(err, store.ErrNotFound) {
		return store.Delivery{}, store.Errorf(store.ErrConflict, "delivery %s: its subscription %q was deleted", d.ID, d.Subscription)
	}
	if err != nil {
		return store.Delivery{}, err
	}
	switch {
	case sub.ID != d.SubscriptionID:
		return store.Delivery{}, store.Errorf(store.ErrConflict, "delivery %s: its subscription %q was deleted: the subscription of that name is another since %s",
			d.ID, d.Subscription, sub.CreatedAt.UTC().Format(time.RFC3339))
	case sub.Owner != d.Owner:
		return store.Delivery{}, store.Errorf(store.ErrConflict, "delivery %s: subscription %q is another owner's since %s",
			d.ID, d.Subscription, sub.UpdatedAt.UTC().Format(time.RFC3339))
	}
	ev, err := s.store.GetEvent(ctx, d.Event)
	if err != nil {
		return store.Delivery{}, fmt.Errorf("delivery %s: its event: %w", d.ID, err)
	}
	if !Receives(sub, ev) {
		return store.Delivery{}, store.Errorf(store.ErrConflict, "delivery %s: subscription %q no longer receives its event (it is disabled, or its filter or scope changed since %s)",
			d.ID, sub.Name, sub.UpdatedAt.UTC().Format(time.RFC3339))
	}
	next, err := s.build(ctx, sub, ev, d.ID)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return store.Delivery{}, store.Errorf(store.ErrConflict, "delivery %s: subscription %q cannot call its target: %v", d.ID, sub.Name, err)
		}
		return store.Delivery{}, err
	}
	stored, err := s.store.Redeliver(ctx, id, next)
	if err != nil {
		return store.Delivery{}, err
	}
	if next.Run != nil {
		s.flows.Kick(next.Run.ID)
	}
	return stored, nil
}

// CanSee reports whether viewer may see an event (the visibility rule): an admin sees
// every event; anyone else the events it published (Owner), the public ones (published by
// an admin), and the system events about its resources (whose Owner is the resource's).
func CanSee(viewer string, admin bool, ev store.Event) bool {
	return admin || ev.Public || ev.Owner == viewer
}

// Receives reports whether a subscription receives an event: it is enabled, its filter
// matches the event, and its owner may see the event — every event for scope all (admins'
// subscriptions only), else by CanSee.
func Receives(sub store.Subscription, ev store.Event) bool {
	return sub.Enabled && CanSee(sub.Owner, sub.Scope == store.ScopeAll, ev) && sub.Filter.Matches(ev)
}
