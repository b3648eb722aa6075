package invoke

import (
	"fmt"
	"net/http"
	"time"

	"github.com/gantry-dev/gantry/store"
)

// DeliveryRequest is the call that delivers an event to a subscription's function:
// resolved now, and accepted by the events service in the same store write as the event
// (store.PublishEvents) or as the delivery's redelivery (store.Redeliver).
type DeliveryRequest struct {
	App  string
	Path string // the path under the app, as /r/ calls take it
	// Owner, when set, must still own the app: a subscription calls its owner's functions
	// only, never those of an app that changed hands since it was made (ErrNotFound).
	Owner string
	// Delivery is the delivery's ID (store.Task.Delivery).
	Delivery string
	Event    store.Event
	// Retry is the subscription's retry policy (store.Task.Retry).
	Retry store.RetryPolicy
}

// DeliveryCall resolves a delivery's call to its function as an async call would be (the
// route and app as they are now, kept in the task) and returns it ready for the queue: a
// POST of the event in binary CloudEvents HTTP mode — its attributes as ce-* headers
// (ce-id, ce-source, ce-type, ce-specversion, ce-subject, ce-time, ce-dataschema, each
// extension as ce-<name>; values percent-encoded as the binding asks), its data as the
// body, typed by Content-Type (its datacontenttype). The route's max_retries does not
// apply: the subscription's retry policy (Task.Retry) retries the function's failures (see
// Workers), and Gantry's and Docker's own failures are retried as for every async call.
func (s *Service) DeliveryCall(req DeliveryRequest) (store.StepCall, error) {
	if req.Delivery == "" {
		return store.StepCall{}, fmt.Errorf("delivery call of %s%s: no delivery", req.App, req.Path)
	}
	c, _, err := s.prepare(queuedCall{App: req.App, Path: req.Path, Owner: req.Owner, Header: BinaryHeader(req.Event), Body: req.Event.Data})
	if err != nil {
		return store.StepCall{}, err
	}
	retry := req.Retry
	c.Task.Route.MaxRetries = 0
	c.Task.Delivery, c.Task.Retry = req.Delivery, &retry
	return c, nil
}

// BinaryHeader is an event's attributes as the headers of the CloudEvents HTTP binding's
// binary mode: ce-* headers (percent-encoded where HTTP cannot carry a character as it
// is), and Content-Type, the data's type.
func BinaryHeader(ev store.Event) http.Header {
	h := http.Header{}
	set := func(name, v string) {
		if v != "" {
			h[http.CanonicalHeaderKey("ce-"+name)] = []string{percentEncode(v)}
		}
	}
	set("id", ev.EventID)
	set("source", ev.Source)
	set("type", ev.Type)
	set("specversion", ev.SpecVersion)
	set("subject", ev.Subject)
	set("dataschema", ev.DataSchema)
	if !ev.Time.IsZero() {
		set("time", ev.Time.UTC().Format(time.RFC3339Nano))
	}
	for k, v := range ev.Extensions {
		set(k, v)
	}
	if ev.DataContentType != "" {
		h.Set("Content-Type", ev.DataContentType)
	}
	return h
}

// percentEncode encodes what the binding's headers may not carry as it is: characters
// outside printable ASCII, space, '"' and '%' (CloudEvents HTTP binding, 3.1.3.2).
func percentEncode(v string) string {
	const hex = "0123456789ABCDEF"
	plain := true
	for i := 0; i < len(v); i++ {
		if c := v[i]; c <= ' ' || c >= 0x7f || c == '"' || c == '%' {
			plain = false
			break
		}
	}
	if plain {
		return v
	}
	out := make([]byte, 0, len(v)+8)
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c <= ' ' || c >= 0x7f || c == '"' || c == '%' {
			out = append(out, '%', hex[c>>4], hex[c&15])
			continue
		}
		out = append(out, c)
	}
	return string(out)
}
