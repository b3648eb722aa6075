package store

import (
	"context"
	"time"
)

// Event is a CloudEvents 1.0 event that Gantry accepted: published over the API, fired by
// a schedule, or one of Gantry's own (system events). Source and EventID together name it
// (the CloudEvents rule) among the events of its publisher (Owner): publishing them again
// with that Owner stores nothing new; another publisher's event of the same Source and
// EventID is another event, so that nobody reads or blocks another's by its name.
type Event struct {
	// Key is Gantry's ID of the event (sortable, from NewID): what /v1/events/{key} takes.
	Key string `json:"key"`
	// The CloudEvents attributes: EventID is the event's "id" attribute, as published.
	EventID         string            `json:"id"`
	Source          string            `json:"source"`
	Type            string            `json:"type"`
	SpecVersion     string            `json:"specversion"`
	Subject         string            `json:"subject,omitempty"`
	Time            time.Time         `json:"time,omitzero"`
	DataContentType string            `json:"datacontenttype,omitempty"`
	DataSchema      string            `json:"dataschema,omitempty"`
	Extensions      map[string]string `json:"extensions,omitempty"`
	// Data is the event's data, as bytes (JSON text when DataContentType is JSON).
	Data []byte `json:"data,omitempty"`
	// Owner is who may see the event: its publisher, or for a system event the owner of
	// the resource it is about. Public events (published by an admin) are seen by all.
	Owner  string `json:"owner"`
	Public bool   `json:"public,omitempty"`
	// ReceivedAt is when Gantry stored it.
	ReceivedAt time.Time `json:"received_at"`
	// Deliveries are the deliveries the event made when it was published, in subscription
	// name order: their IDs (see Delivery). Read their state with ListDeliveries.
	Deliveries []string `json:"deliveries,omitempty"`
}

// Delivery statuses. A delivery is QUEUED until its call (or run) ends: DELIVERED when it
// succeeded, else DEAD_LETTERED (the subscription keeps dead letters) or DISCARDED.
// Redeliver makes a final delivery QUEUED again, with a new call.
const (
	DeliveryQueued       = "QUEUED"
	DeliveryDelivered    = "DELIVERED"
	DeliveryDeadLettered = "DEAD_LETTERED"
	DeliveryDiscarded    = "DISCARDED"
)

// Dead-letter policies of a subscription.
const (
	DeadLetterKeep    = "keep"
	DeadLetterDiscard = "discard"
)

// Delivery is one event handed to one subscription: an async call of the subscription's
// function (a task whose Delivery is this ID) or a run of its workflow (a run whose
// Delivery is this ID). The store moves its status when that call or run ends, in the same
// write (whichever way it ends: completed, cancelled, dropped).
type Delivery struct {
	ID           string `json:"id"`
	Event        string `json:"event"` // the event's Key
	Subscription string `json:"subscription"`
	// SubscriptionID is the ID of the subscription it was made for: a subscription of the
	// same name deleted and made again since (another's, perhaps) is not that one.
	SubscriptionID string `json:"subscription_id"`
	Owner          string `json:"owner"` // the subscription's owner when the delivery was made
	// Execution is the current call's execution (or the workflow run's ID); Executions are
	// all of them, oldest first (one more per Redeliver).
	Execution  string    `json:"execution"`
	Executions []string  `json:"executions,omitempty"`
	Workflow   bool      `json:"workflow,omitempty"` // Execution is a workflow run
	Status     string    `json:"status"`
	DeadLetter string    `json:"dead_letter"` // the subscription's policy when it was made
	CreatedAt  time.Time `json:"created_at"`
	UpdatedAt  time.Time `json:"updated_at"`
}

// Done reports whether the delivery reached a final status.
func (d Delivery) Done() bool { return d.Status != DeliveryQueued }

// DeliveryDone is the status a delivery ends with when its call or run ends with the
// execution status status (SUCCESS, FAILED or CANCELLED), under dead-letter policy policy.
func DeliveryDone(status, policy string) string {
	switch {
	case status == StatusSuccess:
		return DeliveryDelivered
	case policy == DeadLetterDiscard:
		return DeliveryDiscarded
	}
	return DeliveryDeadLettered
}

// NewDelivery is a delivery to store with its event (or with Redeliver): the delivery, and
// either the call that makes it (Call: its task's Delivery is the delivery's ID) or the
// workflow run (Run, with its first events; its Delivery is the delivery's ID).
type NewDelivery struct {
	Delivery  Delivery
	Call      *StepCall
	Run       *Run
	RunEvents []RunEvent
}

// EventPublish is an event to publish with the deliveries it makes.
type EventPublish struct {
	Event      Event
	Deliveries []NewDelivery
}

// Published is the outcome of one EventPublish: the stored event, its deliveries, and
// whether it was new (false: an event with its Owner, Source and EventID was published
// before; Event and Deliveries are that one's, and nothing was written for it).
type Published struct {
	Event      Event
	Deliveries []Delivery
	Created    bool
}

// EventFilter selects events; empty fields match everything.
type EventFilter struct {
	Type   string
	Source string
	Since  time.Time // received at or after
	// Viewer, when set, keeps only the events a developer of that name may see: those it
	// owns (Owner is Viewer) and the public ones. It is the rule events.CanSee applies to
	// anyone but an admin, for whom it is left empty. The stores apply it in their query.
	Viewer string
}

// DeliveryFilter selects deliveries; empty fields match everything.
type DeliveryFilter struct {
	Event        string
	Subscription string // the subscription's name: of every subscription that had it
	// SubscriptionID keeps the deliveries made for one subscription (its ID); with Status
	// (a subscription's dead letters) an index serves it.
	SubscriptionID string
	Status         string // one of the delivery statuses (DeliveryQueued, ...)
}

// Validate checks what both stores refuse in a filter: a status that is none of the
// delivery statuses (ErrInvalid, naming the field).
func (f DeliveryFilter) Validate() error {
	switch f.Status {
	case "", DeliveryQueued, DeliveryDelivered, DeliveryDeadLettered, DeliveryDiscarded:
		return nil
	}
	return Invalid("status", "status %q must be one of %s, %s, %s, %s", f.Status,
		DeliveryQueued, DeliveryDelivered, DeliveryDeadLettered, DeliveryDiscarded)
}

// Events are the events Gantry accepted and the deliveries they made.
type Events interface {
	// PublishEvents stores each event with its deliveries (their calls accepted, their
	// runs created) in one write, durable before it returns; an event whose Owner, Source
	// and EventID were published before stores nothing (Published.Created false). Key,
	// ReceivedAt, Deliveries of the events and the deliveries' status and times are set here.
	// An event that ValidateEvent refuses fails the whole slice, writing nothing; so does
	// a delivery's run whose IdempotencyKey made a run before (ErrConflict).
	PublishEvents(ctx context.Context, events []EventPublish) ([]Published, error)
	// GetEvent reads an event by its Key.
	GetEvent(ctx context.Context, key string) (Event, error)
	// ListEvents returns a page of the events that match f, newest first (by Key);
	// ErrInvalid for a cursor this store did not give out.
	ListEvents(ctx context.Context, f EventFilter, page Page) ([]Event, string, error)
	GetDelivery(ctx context.Context, id string) (Delivery, error)
	// ListDeliveries returns a page of the deliveries that match f, oldest first (by ID);
	// ErrInvalid for a filter that f.Validate refuses.
	ListDeliveries(ctx context.Context, f DeliveryFilter, page Page) ([]Delivery, string, error)
	// Redeliver makes a final delivery QUEUED again with a new call or run (next: only its
	// Call or Run and RunEvents are read, and its Delivery's DeadLetter, when set: the
	// policy of the subscription as it is now, which the delivery takes), in one write;
	// ErrConflict while it is QUEUED or when next's run has an IdempotencyKey that made a
	// run before, ErrNotFound without it.
	Redeliver(ctx context.Context, id string, next NewDelivery) (Delivery, error)
}

// Subscription scopes: whose events a subscription receives.
const (
	// ScopeOwn: events its owner published, public events (an admin's), and system events
	// about its owner's resources.
	ScopeOwn = "own"
	// ScopeAll: every event (admins only).
	ScopeAll = "all"
)

// Subscription hands the events that match its filter to a function or a workflow, each
// as its own delivery. Names are unique.
type Subscription struct {
	// ID is Gantry's ID of the subscription (set by the store when it is created, kept by
	// updates): the deliveries of a subscription deleted and made again under its name
	// are not the new one's.
	ID         string         `json:"id"`
	Name       string         `json:"name"`
	Owner      string         `json:"owner"`
	Filter     EventMatch     `json:"filter"`
	Target     DeliveryTarget `json:"target"`
	Enabled    bool           `json:"enabled"`
	Retry      RetryPolicy    `json:"retry"`
	DeadLetter string         `json:"dead_letter"` // DeadLetterKeep or DeadLetterDiscard
	Scope      string         `json:"scope"`       // ScopeOwn or ScopeAll
	// CreatedAt and UpdatedAt are set by the store.
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// EventMatch is a subscription's filter. Type is an exact type, or a prefix ending in
// ".*" ("com.example.*" matches "com.example.a" and "com.example.a.b"), or "*" (all);
// Source, when set, is an exact source; Subject, when set, a prefix of the subject.
type EventMatch struct {
	Type    string `json:"type"`
	Source  string `json:"source,omitempty"`
	Subject string `json:"subject,omitempty"`
}

// DeliveryTarget is what a delivery calls: a function (App and Path, a path under the app
// as /r/ calls take it) or a workflow (Workflow, its name).
type DeliveryTarget struct {
	App      string `json:"app,omitempty"`
	Path     string `json:"path,omitempty"`
	Workflow string `json:"workflow,omitempty"`
}

// RetryPolicy is how a delivery's call is retried when the function fails: up to
// MaxAttempts runs in all, waiting Initial before the second, doubled each time, at most Max.
type RetryPolicy struct {
	MaxAttempts int           `json:"max_attempts"`
	Initial     time.Duration `json:"initial"`
	Max         time.Duration `json:"max"`
}

// SubscriptionFilter selects subscriptions; empty fields match everything.
type SubscriptionFilter struct {
	// Visible, when set, keeps only the subscriptions it accepts (those a caller may see).
	Visible func(Subscription) bool
}

// Subscriptions are the subscriptions, by name. Writes that take a guard run it inside the
// write against the stored owner (see AppGuard). Every write sends a ChangeSubscription.
type Subscriptions interface {
	// CreateSubscription stores a new subscription (ID, CreatedAt, UpdatedAt set here);
	// ErrExists if the name is taken.
	CreateSubscription(ctx context.Context, s Subscription) (Subscription, error)
	// UpdateSubscription applies fn to the stored subscription in one write; fn may not
	// rename it nor change its ID. Every update moves UpdatedAt past the stored one, so
	// that a writer that compares it (a PATCH read before) sees any write since.
	UpdateSubscription(ctx context.Context, name string, fn func(*Subscription) error, guard AppGuard) (Subscription, error)
	GetSubscription(ctx context.Context, name string) (Subscription, error)
	// ListSubscriptions returns a page of the subscriptions that pass f, in name order.
	ListSubscriptions(ctx context.Context, f SubscriptionFilter, page Page) ([]Subscription, string, error)
	// AllSubscriptions reads every subscription, for the matcher's cache.
	AllSubscriptions(ctx context.Context) ([]Subscription, error)
	// DeleteSubscription removes a subscription; its deliveries stay.
	DeleteSubscription(ctx context.Context, name string, guard AppGuard) error
}
