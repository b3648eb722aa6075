package handlers

import (
	"context"
	"errors"
	"io"
	"net/http"
	"time"

	"github.com/go-openapi/runtime/middleware"

	"github.com/gantry-dev/gantry/auth"
	"github.com/gantry-dev/gantry/events"
	"github.com/gantry-dev/gantry/gen/models"
	eventsops "github.com/gantry-dev/gantry/gen/restapi/operations/events"
	"github.com/gantry-dev/gantry/store"
)

// Events is what the API needs of the events service (*events.Service): publishing,
// redelivering, the check of subscription writes, and the system event of route writes.
type Events interface {
	// PublishFromAPI stores the events (Owner and Public set by the caller) with a delivery
	// per subscription that receives them, durable before it returns; a source under
	// /gantry/ (Gantry's own events) is refused.
	PublishFromAPI(ctx context.Context, evs []store.Event) ([]store.Published, error)
	// Redeliver gives a final delivery a new call or run (ErrConflict while it is QUEUED).
	Redeliver(ctx context.Context, id string) (store.Delivery, error)
	// CheckSubscription applies a subscription's defaults and validates it, its target
	// included (store errors: a ValidationError naming the field → 400).
	CheckSubscription(ctx context.Context, sub *store.Subscription, admin bool) error
	// RouteChanged publishes dev.gantry.route.changed (change: created, updated, deleted).
	RouteChanged(ctx context.Context, app, path, owner, change string)
	// MaxEventBytes bounds the body of a publish request, whatever its mode.
	MaxEventBytes() int64
}

// publishPath is the path of publishEvent, whose body is read by events.ReadHTTP (any
// content type, its own bound) rather than by the router (JSON only, 1 MiB).
const publishPath = "/v1/events"

// eventBodyKey is the context key of a publish request's body, set aside by eventBodies.
type eventBodyKey struct{}

type eventBody struct {
	body   io.ReadCloser
	length int64
}

// eventBodies hands POST /v1/events to publish with its body set aside in the request's
// context, where PublishEvent reads it (events.ReadHTTP takes every CloudEvents mode, binary
// mode's any content type among them, and bounds the body by --max-event-size). The router
// sees a request without a body, so that its check of the operation's consumes, which can
// list no "any type", never runs. Every other request goes to next.
func eventBodies(publish, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != publishPath {
			next.ServeHTTP(w, r)
			return
		}
		r2 := r.WithContext(context.WithValue(r.Context(), eventBodyKey{}, eventBody{body: r.Body, length: r.ContentLength}))
		r2.Body, r2.ContentLength = http.NoBody, 0
		publish.ServeHTTP(w, r2)
	})
}

// publishRequest is the publish request as the client sent it, its body back in place.
func publishRequest(r *http.Request) *http.Request {
	b, ok := r.Context().Value(eventBodyKey{}).(eventBody)
	r2 := r.WithContext(r.Context())
	r2.Body, r2.ContentLength = http.NoBody, 0
	if ok && b.body != nil {
		r2.Body, r2.ContentLength = b.body, b.length
	}
	return r2
}

// PublishEvent publishes the events of the request (structured, binary or batched mode):
// 202 when one at least is new, 200 when each was published before by the caller (same
// source and id: the caller's own event, never another's).
func (a *API) PublishEvent(ctx context.Context, params eventsops.PublishEventParams) middleware.Responder {
	if a.events == nil {
		return responder(errNoEvents())
	}
	limit := a.events.MaxEventBytes()
	evs, batch, err := events.ReadHTTP(publishRequest(params.HTTPRequest), limit)
	if err != nil {
		return a.errorResponse(eventReadError(err, limit))
	}
	if len(evs) == 0 { // [] or null
		return a.badRequest("events", "a batch has at least one event")
	}
	who := caller(ctx)
	for i := range evs {
		evs[i].Owner, evs[i].Public = who.Name, who.IsAdmin()
	}
	published, err := a.events.PublishFromAPI(ctx, evs)
	if err != nil {
		return a.errorResponse(err)
	}
	out, created := &models.PublishedEvents{}, false
	for _, p := range published {
		created = created || p.Created
		m := cloudEventToModel(p.Event)
		m.Deliveries = make([]*models.Delivery, 0, len(p.Deliveries))
		for _, d := range p.Deliveries {
			if mayUse(who, d.Owner) {
				m.Deliveries = append(m.Deliveries, deliveryToModel(d, ""))
			}
		}
		if batch {
			out.Events = append(out.Events, m)
		} else {
			out.Event = m
		}
	}
	if batch && out.Events == nil {
		out.Events = []*models.Event{}
	}
	if created {
		return eventsops.NewPublishEventAccepted().WithPayload(out)
	}
	return eventsops.NewPublishEventOK().WithPayload(out)
}

// ListEvents answers one page of the events the caller may see, newest first.
func (a *API) ListEvents(ctx context.Context, params eventsops.ListEventsParams) middleware.Responder {
	f := store.EventFilter{Viewer: eventViewer(caller(ctx))}
	if params.Type != nil {
		f.Type = *params.Type
	}
	if params.Source != nil {
		f.Source = *params.Source
	}
	if params.Since != nil {
		f.Since = time.Time(*params.Since)
	}
	list, next, err := a.store.ListEvents(ctx, f, page(params.PerPage, params.Cursor))
	if err != nil {
		return a.errorResponse(err)
	}
	out := &models.EventsWrapper{Events: make([]*models.Event, 0, len(list)), NextCursor: next}
	for _, ev := range list {
		out.Events = append(out.Events, cloudEventToModel(ev))
	}
	return eventsops.NewListEventsOK().WithPayload(out)
}

// eventViewer is the EventFilter.Viewer of a caller: the store keeps the events the caller
// may see, as events.CanSee does; none for an admin, who sees them all.
func eventViewer(who auth.Identity) string {
	if who.IsAdmin() {
		return ""
	}
	return who.Name
}

// GetEvent answers an event with its deliveries (those to the caller's subscriptions, for
// a developer) and the status of each delivery's execution: the trace of the event.
func (a *API) GetEvent(ctx context.Context, params eventsops.GetEventParams) middleware.Responder {
	who := caller(ctx)
	ev, err := a.store.GetEvent(ctx, params.Key)
	if err == nil && !events.CanSee(who.Name, who.IsAdmin(), ev) {
		err = store.NotFound("event", params.Key)
	}
	if err != nil {
		return a.errorResponse(err)
	}
	m := cloudEventToModel(ev)
	m.Deliveries = make([]*models.Delivery, 0, len(ev.Deliveries))
	for _, id := range ev.Deliveries {
		d, err := a.store.GetDelivery(ctx, id)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return a.errorResponse(err)
		}
		if !mayUse(who, d.Owner) {
			continue
		}
		status, err := a.executionStatus(ctx, d)
		if err != nil {
			return a.errorResponse(err)
		}
		m.Deliveries = append(m.Deliveries, deliveryToModel(d, status))
	}
	return eventsops.NewGetEventOK().WithPayload(&models.EventWrapper{Event: m})
}

// GetDelivery answers a delivery to one of the caller's subscriptions.
func (a *API) GetDelivery(ctx context.Context, params eventsops.GetDeliveryParams) middleware.Responder {
	d, err := a.delivery(ctx, params.ID)
	if err != nil {
		return a.errorResponse(err)
	}
	status, err := a.executionStatus(ctx, d)
	if err != nil {
		return a.errorResponse(err)
	}
	return eventsops.NewGetDeliveryOK().WithPayload(&models.DeliveryWrapper{Delivery: deliveryToModel(d, status)})
}

// Redeliver gives a final delivery of the caller's a new execution.
func (a *API) Redeliver(ctx context.Context, params eventsops.RedeliverParams) middleware.Responder {
	if a.events == nil {
		return responder(errNoEvents())
	}
	if _, err := a.delivery(ctx, params.ID); err != nil {
		return a.errorResponse(err)
	}
	d, err := a.events.Redeliver(ctx, params.ID)
	if err != nil {
		return a.errorResponse(err)
	}
	return eventsops.NewRedeliverAccepted().WithPayload(&models.DeliveryWrapper{Delivery: deliveryToModel(d, store.StatusQueued)})
}

// delivery reads a delivery the caller may see: one to its own subscriptions (a delivery
// keeps the owner its subscription had), or any for an admin; another's is not found.
func (a *API) delivery(ctx context.Context, id string) (store.Delivery, error) {
	d, err := a.store.GetDelivery(ctx, id)
	if err == nil && !mayUse(caller(ctx), d.Owner) {
		err = store.NotFound("delivery", id)
	}
	return d, err
}

// executionStatus is the status of a delivery's current execution (a call, or a workflow
// run), "" when its record is gone (executions are pruned).
func (a *API) executionStatus(ctx context.Context, d store.Delivery) (string, error) {
	if d.Execution == "" {
		return "", nil
	}
	if d.Workflow {
		run, err := a.store.GetRun(ctx, d.Execution)
		if errors.Is(err, store.ErrNotFound) {
			return "", nil
		}
		return run.Status, err
	}
	ex, err := a.store.GetExecution(ctx, d.Execution)
	if errors.Is(err, store.ErrNotFound) {
		return "", nil
	}
	return ex.Status, err
}
