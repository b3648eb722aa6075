package events

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gantry-dev/gantry/invoke"
	"github.com/gantry-dev/gantry/store"
	"github.com/gantry-dev/gantry/workflow"
)

// build makes the call (or run) that delivers ev to sub as delivery id, with sub's
// policies: a call of sub's function with the event in binary mode, retried by sub's
// policy; or a run of sub's workflow with the event, in its structured JSON form, as its
// inputs. The function's app (or the workflow) must still be sub's owner's, unless sub
// is an admin's with scope all: ErrNotFound otherwise.
func (s *Service) build(ctx context.Context, sub store.Subscription, ev store.Event, id string) (store.NewDelivery, error) {
	nd := store.NewDelivery{Delivery: store.Delivery{ID: id, Subscription: sub.Name, SubscriptionID: sub.ID, Owner: sub.Owner,
		DeadLetter: sub.DeadLetter, Status: store.DeliveryQueued}}
	owner := sub.Owner
	if sub.Scope == store.ScopeAll {
		owner = ""
	}
	if sub.Target.Workflow != "" {
		w, err := s.store.GetWorkflow(ctx, sub.Target.Workflow)
		if err != nil {
			return store.NewDelivery{}, err
		}
		if owner != "" && w.Owner != owner {
			return store.NewDelivery{}, store.Errorf(store.ErrNotFound, "workflow %q is not %s's (it was made again by another since the subscription was made)", w.Name, owner)
		}
		r, runEvents, err := s.flows.Prepare(w, Structured(ev), workflow.TriggerOptions{TriggeredBy: sub.Owner, KeepRefused: true})
		if err != nil {
			return store.NewDelivery{}, err
		}
		r.Delivery = id
		nd.Run, nd.RunEvents = &r, runEvents
		nd.Delivery.Workflow, nd.Delivery.Execution = true, r.ID
	} else {
		call, err := s.calls.DeliveryCall(invoke.DeliveryRequest{App: sub.Target.App, Path: sub.Target.Path, Owner: owner,
			Delivery: id, Event: ev, Retry: sub.Retry})
		if err != nil {
			return store.NewDelivery{}, err
		}
		nd.Call, nd.Delivery.Execution = &call, call.Task.ID
	}
	nd.Delivery.Executions = []string{nd.Delivery.Execution}
	return nd, nil
}

// Structured is an event in the CloudEvents JSON format (structured mode): its
// attributes as members, extensions beside them, and its data as "data" — JSON as it
// is when its type is JSON, text as a string, other bytes in "data_base64".
func Structured(ev store.Event) json.RawMessage {
	m := map[string]any{"specversion": ev.SpecVersion, "id": ev.EventID, "source": ev.Source, "type": ev.Type}
	for k, v := range ev.Extensions {
		m[k] = v
	}
	opt := func(name, v string) {
		if v != "" {
			m[name] = v
		}
	}
	opt("subject", ev.Subject)
	opt("datacontenttype", ev.DataContentType)
	opt("dataschema", ev.DataSchema)
	if !ev.Time.IsZero() {
		m["time"] = ev.Time.UTC().Format(time.RFC3339Nano)
	}
	switch {
	case len(ev.Data) == 0:
	case IsJSON(ev.DataContentType) && json.Valid(ev.Data):
		m["data"] = json.RawMessage(ev.Data)
	case textual(ev.DataContentType) && utf8.Valid(ev.Data):
		m["data"] = string(ev.Data)
	default:
		m["data_base64"] = base64.StdEncoding.EncodeToString(ev.Data)
	}
	b, err := json.Marshal(m)
	if err != nil { // only strings and valid JSON: cannot fail
		return json.RawMessage(`{}`)
	}
	return b
}

// textual reports whether a data content type is text that a JSON string carries.
func textual(contentType string) bool {
	ct := strings.ToLower(contentType)
	return strings.HasPrefix(ct, "text/") || strings.HasPrefix(ct, "application/xml") || strings.HasSuffix(strings.Split(ct, ";")[0], "+xml")
}
