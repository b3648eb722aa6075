package console

import (
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/go-openapi/strfmt"

	"github.com/gantry-dev/gantry/gen/client/events"
	"github.com/gantry-dev/gantry/gen/client/executions"
	"github.com/gantry-dev/gantry/gen/client/schedules"
	"github.com/gantry-dev/gantry/gen/client/subscriptions"
	"github.com/gantry-dev/gantry/gen/models"
)

func (c *Console) eventRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET "+Base+"events", c.listEvents)
	mux.HandleFunc("GET "+Base+"events/{key}", c.showEvent)
	mux.HandleFunc("GET "+Base+"events/deliveries/{id}", c.showDelivery)
	mux.HandleFunc("POST "+Base+"events/deliveries/{id}/redeliver", c.redeliver)
	mux.HandleFunc("GET "+Base+"events/subscriptions", c.listSubscriptions)
	mux.HandleFunc("GET "+Base+"events/subscriptions/{name}", c.showSubscription)
	mux.HandleFunc("GET "+Base+"events/schedules", c.listSchedules)
}

type eventsFilter struct{ Type, Source, Since string }

type eventsData struct {
	Events []*models.Event
	Filter eventsFilter
	Pages  pageLinks
}

// eventsSince reads the since filter: an RFC 3339 time, or a duration back from now (10m).
func eventsSince(v string, now time.Time) (*strfmt.DateTime, error) {
	if v == "" {
		return nil, nil
	}
	if d, err := time.ParseDuration(v); err == nil && d > 0 {
		t := strfmt.DateTime(now.Add(-d).UTC())
		return &t, nil
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return nil, &apiError{Status: http.StatusBadRequest, Fields: "since",
			Message: "since must be a time (RFC 3339, e.g. 2026-01-02T15:04:05Z) or a duration back from now (e.g. 10m, 2h)"}
	}
	dt := strfmt.DateTime(t)
	return &dt, nil
}

func (c *Console) listEvents(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	d := eventsData{Filter: eventsFilter{Type: q.Get("type"), Source: q.Get("source"), Since: q.Get("since")}}
	since, err := eventsSince(d.Filter.Since, c.now())
	var ok *events.ListEventsOK
	if err == nil {
		ok, err = c.api.Events.ListEventsContext(as(r), events.NewListEventsParams().
			WithType(optional(r, "type")).WithSource(optional(r, "source")).WithSince(since).
			WithCursor(optional(r, "cursor")).WithPerPage(perPage(r)), nil)
	}
	if err != nil {
		if e := errorOf(err); e.Status == http.StatusBadRequest { // a bad filter in the URL
			c.page(w, r, e.Status, "events", "Events", "events", d, e)
			return
		}
		c.fail(w, r, err)
		return
	}
	d.Events, d.Pages = ok.Payload.Events, pager(r, ok.Payload.NextCursor)
	c.page(w, r, http.StatusOK, "events", "Events", "events", d, nil)
}

// traceDelivery is a delivery of an event with its current execution, as the API tells it.
type traceDelivery struct {
	*models.Delivery
	Current *models.Execution // nil when the API does not show it
	Runs    []traceExecution
}

// traceExecution is one execution a delivery made (the first is its first attempt).
type traceExecution struct {
	ID       string
	N        int
	Workflow bool
}

// Link is the console page of the execution.
func (e traceExecution) Link() string {
	if e.Workflow {
		return Base + "workflows/runs/" + e.ID
	}
	return Base + "executions/" + e.ID
}

type eventData struct {
	Event      *models.Event
	Deliveries []traceDelivery
}

// maxTraceLookups bounds the executions an event page reads (one per delivery).
const maxTraceLookups = 50

func (c *Console) traceOf(r *http.Request, ds []*models.Delivery) []traceDelivery {
	out := make([]traceDelivery, 0, len(ds))
	for i, d := range ds {
		td := traceDelivery{Delivery: d}
		for j, id := range d.Executions {
			td.Runs = append(td.Runs, traceExecution{ID: id, N: j + 1, Workflow: d.Workflow})
		}
		if d.ExecutionID != "" && i < maxTraceLookups {
			if ok, err := c.api.Executions.GetExecutionContext(as(r), executions.NewGetExecutionParams().WithID(d.ExecutionID), nil); err == nil {
				td.Current = ok.Payload.Execution
			}
		}
		out = append(out, td)
	}
	return out
}

func (c *Console) showEvent(w http.ResponseWriter, r *http.Request) {
	ok, err := c.api.Events.GetEventContext(as(r), events.NewGetEventParams().WithKey(r.PathValue("key")), nil)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	ev := ok.Payload.Event
	c.page(w, r, http.StatusOK, "event", "Event "+ev.ID, "events", eventData{Event: ev, Deliveries: c.traceOf(r, ev.Deliveries)}, nil)
}

func (c *Console) showDelivery(w http.ResponseWriter, r *http.Request) {
	ok, err := c.api.Events.GetDeliveryContext(as(r), events.NewGetDeliveryParams().WithID(r.PathValue("id")), nil)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	d := c.traceOf(r, []*models.Delivery{ok.Payload.Delivery})[0]
	c.page(w, r, http.StatusOK, "event-delivery", "Delivery "+d.ID, "events", d, nil)
}

// redeliver asks the API to deliver a delivery again. From htmx (a .redeliver button of
// the dead letters) the answer is the result, inline; from a plain form, the delivery's
// page.
func (c *Console) redeliver(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	ok, err := c.api.Events.RedeliverContext(as(r), events.NewRedeliverParams().WithID(id), nil)
	htmx := r.Header.Get("HX-Request") == "true"
	if err != nil {
		e := errorOf(err)
		if htmx && e.Status != http.StatusUnauthorized {
			c.fragment(w, r, e.Status, "subscription", "redeliver-result", nil, e)
			return
		}
		c.fail(w, r, err)
		return
	}
	if htmx {
		c.fragment(w, r, http.StatusOK, "subscription", "redeliver-result", ok.Payload.Delivery, nil)
		return
	}
	http.Redirect(w, r, Base+"events/deliveries/"+url.PathEscape(id), http.StatusSeeOther) //nolint:gosec // G710: a console path, its segment escaped
}

type subscriptionsData struct {
	Subscriptions []*models.Subscription
	Owner         string
	Pages         pageLinks
}

func (c *Console) listSubscriptions(w http.ResponseWriter, r *http.Request) {
	d := subscriptionsData{Owner: r.URL.Query().Get("owner")}
	ok, err := c.api.Subscriptions.ListSubscriptionsContext(as(r), subscriptions.NewListSubscriptionsParams().
		WithOwner(optional(r, "owner")).WithCursor(optional(r, "cursor")).WithPerPage(perPage(r)), nil)
	if err != nil {
		if e := errorOf(err); e.Status == http.StatusBadRequest || e.Status == http.StatusForbidden {
			c.page(w, r, e.Status, "subscriptions", "Subscriptions", "events", d, e)
			return
		}
		c.fail(w, r, err)
		return
	}
	d.Subscriptions, d.Pages = ok.Payload.Subscriptions, pager(r, ok.Payload.NextCursor)
	c.page(w, r, http.StatusOK, "subscriptions", "Subscriptions", "events", d, nil)
}

type subscriptionData struct {
	Subscription *models.Subscription
	DeadLetters  []*models.Delivery
	Pages        pageLinks
}

func (c *Console) showSubscription(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	ok, err := c.api.Subscriptions.GetSubscriptionContext(as(r), subscriptions.NewGetSubscriptionParams().WithName(name), nil)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	d := subscriptionData{Subscription: ok.Payload.Subscription}
	dl, err := c.api.Subscriptions.ListDeadLettersContext(as(r), subscriptions.NewListDeadLettersParams().
		WithName(name).WithCursor(optional(r, "cursor")).WithPerPage(perPage(r)), nil)
	if err != nil {
		if e := errorOf(err); e.Status == http.StatusBadRequest {
			c.page(w, r, e.Status, "subscription", "Subscription "+name, "events", d, e)
			return
		}
		c.fail(w, r, err)
		return
	}
	d.DeadLetters, d.Pages = dl.Payload.Deliveries, pager(r, dl.Payload.NextCursor)
	c.page(w, r, http.StatusOK, "subscription", "Subscription "+name, "events", d, nil)
}

type schedulesData struct {
	Schedules []*models.Schedule
	Owner     string
	Pages     pageLinks
}

func (c *Console) listSchedules(w http.ResponseWriter, r *http.Request) {
	d := schedulesData{Owner: r.URL.Query().Get("owner")}
	ok, err := c.api.Schedules.ListSchedulesContext(as(r), schedules.NewListSchedulesParams().
		WithOwner(optional(r, "owner")).WithCursor(optional(r, "cursor")).WithPerPage(perPage(r)), nil)
	if err != nil {
		if e := errorOf(err); e.Status == http.StatusBadRequest || e.Status == http.StatusForbidden {
			c.page(w, r, e.Status, "schedules", "Schedules", "events", d, e)
			return
		}
		c.fail(w, r, err)
		return
	}
	d.Schedules, d.Pages = ok.Payload.Schedules, pager(r, ok.Payload.NextCursor)
	c.page(w, r, http.StatusOK, "schedules", "Schedules", "events", d, nil)
}

// scheduleTarget tells what a schedule fires, in a few words.
func scheduleTarget(t *models.ScheduleTarget) string {
	switch {
	case t == nil:
		return ""
	case t.Call != nil:
		m := t.Call.Method
		if m == "" {
			m = "POST"
		}
		return "call " + m + " " + evStr(t.Call.App) + evStr(t.Call.Path)
	case t.Workflow != nil:
		return "workflow " + evStr(t.Workflow.Name)
	case t.Event != nil:
		return "event " + evStr(t.Event.Type)
	}
	return ""
}

func evStr(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

// subscriptionTarget tells where a subscription delivers, and the console page of it.
func subscriptionTarget(t *models.SubscriptionTarget) (text, link string) {
	switch {
	case t == nil:
		return "", ""
	case t.Function != nil:
		app := evStr(t.Function.App)
		return "function " + app + evStr(t.Function.Path), Base + "apps/" + app
	case t.Workflow != "":
		return "workflow " + t.Workflow, Base + "workflows/" + t.Workflow
	}
	return "", ""
}

// Schedule and subscription rows as the templates show them.
type scheduleRow struct {
	*models.Schedule
	Target string
}

func (d schedulesData) Rows() []scheduleRow {
	out := make([]scheduleRow, len(d.Schedules))
	for i, s := range d.Schedules {
		out[i] = scheduleRow{Schedule: s, Target: scheduleTarget(s.Target)}
	}
	return out
}

type subscriptionRow struct {
	*models.Subscription
	Target, TargetLink string
}

func subscriptionRowOf(s *models.Subscription) subscriptionRow {
	text, link := subscriptionTarget(s.Target)
	return subscriptionRow{Subscription: s, Target: text, TargetLink: link}
}

func (d subscriptionsData) Rows() []subscriptionRow {
	out := make([]subscriptionRow, len(d.Subscriptions))
	for i, s := range d.Subscriptions {
		out[i] = subscriptionRowOf(s)
	}
	return out
}

func (d subscriptionData) Row() subscriptionRow { return subscriptionRowOf(d.Subscription) }

// Filter is a subscription's filter in a few words.
func (s subscriptionRow) Filter() string {
	f := s.Subscription.Filter
	if f == nil {
		return ""
	}
	parts := []string{"type " + evStr(f.Type)}
	if f.Source != "" {
		parts = append(parts, "source "+f.Source)
	}
	if f.Subject != "" {
		parts = append(parts, "subject "+f.Subject+"*")
	}
	return strings.Join(parts, ", ")
}
