package events

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/invoke"
	"github.com/gantry-dev/gantry/store"
)

// TestAPublishedEventRunsEverySubscriptionThatReceivesIt: two subscriptions on one type
// (exact and prefix) each run their http function with the event's data as the body and
// its attributes as ce-* headers; a subscription of another type, a disabled one and
// another developer's do not; publishing the same source and id again makes nothing new.
func TestAPublishedEventRunsEverySubscriptionThatReceivesIt(t *testing.T) {
	e := newEnv(t)
	e.subscribe(store.Subscription{Name: "a-exact", Filter: store.EventMatch{Type: "com.example.order"}, Target: store.DeliveryTarget{App: "shop", Path: "/hot"}}, false)
	e.subscribe(store.Subscription{Name: "b-prefix", Filter: store.EventMatch{Type: "com.example.*", Source: "/orders"}, Target: store.DeliveryTarget{App: "shop", Path: "/hot2"}}, false)
	e.subscribe(store.Subscription{Name: "c-other-type", Filter: store.EventMatch{Type: "com.example.invoice"}, Target: store.DeliveryTarget{App: "shop", Path: "/hot"}}, false)
	e.subscribe(store.Subscription{Name: "d-other-source", Filter: store.EventMatch{Type: "*", Source: "/invoices"}, Target: store.DeliveryTarget{App: "shop", Path: "/hot"}}, false)
	e.subscribe(store.Subscription{Name: "e-bobs", Owner: "bob", Filter: store.EventMatch{Type: "*"}, Target: store.DeliveryTarget{App: "bobs", Path: "/hot"}}, false)
	disabled := e.subscribe(store.Subscription{Name: "f-disabled", Filter: store.EventMatch{Type: "*"}, Target: store.DeliveryTarget{App: "shop", Path: "/hot"}}, false)
	if _, err := e.st.UpdateSubscription(t.Context(), disabled.Name, func(s *store.Subscription) error { s.Enabled = false; return nil }, nil); err != nil {
		t.Fatal(err)
	}

	ev := store.Event{EventID: "order-1", Source: "/orders", Type: "com.example.order", Subject: "orders/1",
		Time: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC), DataContentType: "application/json", Data: []byte(`{"request":true}`),
		Extensions: map[string]string{"tenant": "acme"}}
	pub := e.publish(ev)
	if !pub.Created {
		t.Fatal("the event was not new")
	}
	var subs []string
	for _, d := range pub.Deliveries {
		subs = append(subs, d.Subscription)
	}
	if !slices.Equal(subs, []string{"a-exact", "b-prefix"}) {
		t.Fatalf("deliveries to %v, want a-exact and b-prefix, in that order", subs)
	}
	for _, d := range pub.Deliveries {
		d = e.settled(d.ID, time.Minute)
		ex := e.execution(d.Execution)
		if d.Status != store.DeliveryDelivered || ex.Status != store.StatusSuccess || d.Event != pub.Event.Key {
			t.Fatalf("delivery %s %s of event %s, execution %s (%s); want DELIVERED of %s", d.Subscription, d.Status, d.Event, ex.Status, ex.Error, pub.Event.Key)
		}
		out := output(t, ex)
		headers, _ := out["headers"].(map[string]any)
		header := func(k string) string {
			vs, _ := headers[k].([]any)
			if len(vs) != 1 {
				return ""
			}
			s, _ := vs[0].(string)
			return s
		}
		want := map[string]string{"Ce-Id": "order-1", "Ce-Source": "/orders", "Ce-Type": "com.example.order", "Ce-Specversion": "1.0",
			"Ce-Subject": "orders/1", "Ce-Time": "2026-03-01T12:00:00Z", "Ce-Tenant": "acme", "Content-Type": "application/json"}
		for k, v := range want {
			if got := header(k); got != v {
				t.Errorf("%s: header %s = %q, want %q (headers %v)", d.Subscription, k, got, v, headers)
			}
		}
		if out["method"] != http.MethodPost {
			t.Errorf("%s: method %v, want POST", d.Subscription, out["method"])
		}
	}
	stored, err := e.st.GetEvent(t.Context(), pub.Event.Key)
	if err != nil || len(stored.Deliveries) != 2 {
		t.Fatalf("stored event %+v (%v), want its two deliveries", stored, err)
	}

	again := e.publish(ev)
	if again.Created || again.Event.Key != pub.Event.Key || len(again.Deliveries) != 2 || again.Deliveries[0].ID != pub.Deliveries[0].ID {
		t.Fatalf("publishing again: created %v, key %s, deliveries %+v; want the first event's", again.Created, again.Event.Key, again.Deliveries)
	}
	all, _, err := e.st.ListDeliveries(t.Context(), store.DeliveryFilter{}, store.Page{Limit: store.MaxPageSize})
	if err != nil || len(all) != 2 {
		t.Fatalf("%d deliveries stored (%v), want 2", len(all), err)
	}
}

// TestADefaultFormatFunctionGetsTheAttributesAsCEVariables: the data on stdin, the
// attributes as CE_* environment variables.
func TestADefaultFormatFunctionGetsTheAttributesAsCEVariables(t *testing.T) {
	e := newEnv(t)
	e.subscribe(store.Subscription{Name: "cold", Filter: store.EventMatch{Type: "com.example.order"}, Target: store.DeliveryTarget{App: "shop", Path: "/cold"}}, false)
	pub := e.publish(store.Event{EventID: "e-7", Source: "/orders", Type: "com.example.order", Subject: "orders/7 é",
		DataContentType: "application/json", Extensions: map[string]string{"tenant": "acme"},
		Data: []byte(`{"env":true,"env_keys":["CE_ID","CE_SOURCE","CE_TYPE","CE_SPECVERSION","CE_SUBJECT","CE_TENANT","CE_TIME"]}`)})
	d := e.settled(pub.Deliveries[0].ID, time.Minute)
	ex := e.execution(d.Execution)
	if d.Status != store.DeliveryDelivered {
		t.Fatalf("delivery %s, execution %s %q", d.Status, ex.Status, ex.Error)
	}
	out := output(t, ex)
	want := map[string]string{"CE_ID": "e-7", "CE_SOURCE": "/orders", "CE_TYPE": "com.example.order", "CE_SPECVERSION": "1.0", "CE_SUBJECT": "orders/7 é", "CE_TENANT": "acme"}
	for k, v := range want {
		if out[k] != v {
			t.Errorf("%s = %v, want %q (environment %v)", k, out[k], v, out)
		}
	}
	if _, ok := out["CE_TIME"]; ok {
		t.Errorf("CE_TIME = %v for an event without time", out["CE_TIME"])
	}
}

// TestAFailingDeliveryIsRetriedThenDeadLetteredAndRedelivered: an http function that
// answers 503 is run max_attempts times with backoff, its execution FAILED, its delivery
// DEAD_LETTERED; once the function is fixed, Redeliver runs it again and it is DELIVERED.
func TestAFailingDeliveryIsRetriedThenDeadLetteredAndRedelivered(t *testing.T) {
	e := newEnv(t)
	e.subscribe(store.Subscription{Name: "flaky", Filter: store.EventMatch{Type: "com.example.order"}, Target: store.DeliveryTarget{App: "shop", Path: "/hot"},
		Retry: store.RetryPolicy{MaxAttempts: 3, Initial: 300 * time.Millisecond, Max: 400 * time.Millisecond}}, false)
	started := time.Now()
	pub := e.publish(store.Event{EventID: "e-1", Source: "/orders", Type: "com.example.order", DataContentType: "application/json", Data: []byte(`{"status":503}`)})
	d := e.settled(pub.Deliveries[0].ID, time.Minute)
	elapsed := time.Since(started)
	ex := e.execution(d.Execution)
	if d.Status != store.DeliveryDeadLettered || ex.Status != store.StatusFailed || ex.Attempts != 3 || ex.Reason != store.ReasonBadExit {
		t.Fatalf("delivery %s, execution %s %s after %d attempts (%q); want DEAD_LETTERED after 3 FAILED attempts", d.Status, ex.Status, ex.Reason, ex.Attempts, ex.Error)
	}
	if elapsed < 700*time.Millisecond {
		t.Errorf("3 attempts took %s, less than their backoffs (300ms, then 400ms)", elapsed)
	}
	if _, err := e.svc.Redeliver(t.Context(), "no-such-delivery"); err == nil {
		t.Error("a delivery that does not exist was redelivered")
	}

	// The fix: the route's function no longer answers with the status it is asked for.
	if _, err := e.st.UpdateRoute(t.Context(), "shop", "/hot", func(r *store.Route) error { r.Format = store.FormatDefault; return nil }, nil); err != nil {
		t.Fatal(err)
	}
	again, err := e.svc.Redeliver(t.Context(), d.ID)
	if err != nil {
		t.Fatal(err)
	}
	if again.Status != store.DeliveryQueued || len(again.Executions) != 2 || again.Execution == d.Execution {
		t.Fatalf("redelivered %+v, want QUEUED with a second execution", again)
	}
	if _, err := e.svc.Redeliver(t.Context(), d.ID); err == nil {
		t.Error("a queued delivery was redelivered")
	}
	final := e.settled(d.ID, time.Minute)
	if final.Status != store.DeliveryDelivered || e.execution(final.Execution).Status != store.StatusSuccess {
		t.Fatalf("after the fix the delivery is %s (execution %s)", final.Status, e.execution(final.Execution).Status)
	}
}

// TestAFailedCallTriggersAnExecutionFinishedSubscription: a subscription on
// dev.gantry.execution.finished runs when a call of its owner's app fails, with the
// call's status and reason in the event's data; its own delivery publishes no event.
func TestAFailedCallTriggersAnExecutionFinishedSubscription(t *testing.T) {
	e := newEnv(t)
	e.subscribe(store.Subscription{Name: "on-finished", Filter: store.EventMatch{Type: TypeExecutionFinished, Source: AppSource("shop")},
		Target: store.DeliveryTarget{App: "shop", Path: "/json"}}, false)
	e.subscribe(store.Subscription{Name: "bobs-all", Owner: "bob", Filter: store.EventMatch{Type: "*"}, Target: store.DeliveryTarget{App: "bobs", Path: "/hot"}}, false)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	c, err := e.calls.Resolve(ctx, invoke.Request{App: "shop", Path: "/cold", Method: http.MethodPost, Header: http.Header{}, Body: []byte(`{"exit":3}`)})
	if err != nil {
		t.Fatal(err)
	}
	c.Admit(nil)
	res, err := e.calls.Run(ctx, c)
	if err == nil {
		t.Fatal("the call that exits 3 succeeded")
	}
	var ev store.Event
	deadline := time.Now().Add(30 * time.Second)
	for {
		if evs := e.listEvents(TypeExecutionFinished); len(evs) > 0 {
			ev = evs[0]
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no execution.finished event within 30s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	var data ExecutionFinished
	if err := json.Unmarshal(ev.Data, &data); err != nil {
		t.Fatal(err)
	}
	if ev.EventID != res.CallID || ev.Source != "/gantry/apps/shop" || ev.Subject != "/cold" || ev.Owner != "ada" ||
		data.ID != res.CallID || data.Status != store.StatusFailed || data.Reason != store.ReasonBadExit || data.App != "shop" || data.Route != "/cold" || data.Type != store.TypeSync {
		t.Fatalf("event %+v with data %+v, want the FAILED call's", ev, data)
	}
	if len(ev.Deliveries) != 1 {
		t.Fatalf("the event made %d deliveries, want 1 (bob's subscription does not see ada's app)", len(ev.Deliveries))
	}
	d := e.settled(ev.Deliveries[0], time.Minute)
	if d.Status != store.DeliveryDelivered || d.Subscription != "on-finished" {
		t.Fatalf("delivery %s to %s, want DELIVERED to on-finished", d.Status, d.Subscription)
	}
	time.Sleep(500 * time.Millisecond) // the delivery's own end, had it published an event
	if evs := e.listEvents(TypeExecutionFinished); len(evs) != 1 {
		t.Fatalf("%d execution.finished events, want 1: the delivery of a system event publishes none", len(evs))
	}
}

// TestAWorkflowSubscriptionRunsTheWorkflowWithTheEvent: a delivery to a workflow is a
// run whose inputs are the event in JSON; its end ends the delivery and publishes
// dev.gantry.workflow.finished, whose id is the run's.
func TestAWorkflowSubscriptionRunsTheWorkflowWithTheEvent(t *testing.T) {
	e := newEnv(t)
	w, _, err := e.engine.Put(t.Context(), store.Workflow{Name: "on-order", Owner: "ada", Definition: json.RawMessage(`{
	  "inputs": {"type": "object", "required": ["data"], "properties": {"data": {"type": "object", "required": ["n"]}}},
	  "outputs": {"n": "$.steps.echo.output.n", "id": "$.steps.echo.output.id"},
	  "steps": [{"name": "echo", "call": {"app": "shop", "path": "/hot"}, "input": {"echo": true, "n": "$.inputs.data.n", "id": "$.inputs.id"}}]
	}`)}, func(string, string) error { return nil }, nil)
	if err != nil {
		t.Fatal(err)
	}
	e.subscribe(store.Subscription{Name: "wf", Filter: store.EventMatch{Type: "com.example.order"}, Target: store.DeliveryTarget{Workflow: w.Name}}, false)
	e.subscribe(store.Subscription{Name: "wf-finished", Filter: store.EventMatch{Type: TypeWorkflowFinished}, Target: store.DeliveryTarget{App: "shop", Path: "/hot2"}}, false)

	pub := e.publish(store.Event{EventID: "o-9", Source: "/orders", Type: "com.example.order", Data: []byte(`{"n":9}`), DataContentType: "application/json"})
	d := e.settled(pub.Deliveries[0].ID, time.Minute)
	if !d.Workflow || d.Status != store.DeliveryDelivered {
		t.Fatalf("delivery %+v, want a DELIVERED workflow run", d)
	}
	r, err := e.st.GetRun(t.Context(), d.Execution)
	if err != nil {
		t.Fatal(err)
	}
	if r.Status != store.StatusSuccess || string(r.Outputs) != `{"id":"o-9","n":9}` || r.Delivery != d.ID || r.TriggeredBy != "ada" {
		t.Fatalf("run %s outputs %s delivery %q by %q", r.Status, r.Outputs, r.Delivery, r.TriggeredBy)
	}

	// An event the workflow's inputs refuse: the run fails at once, the delivery is a dead letter.
	bad := e.publish(store.Event{EventID: "o-10", Source: "/orders", Type: "com.example.order", Data: []byte(`{"m":1}`), DataContentType: "application/json"})
	if bd := e.settled(bad.Deliveries[0].ID, time.Minute); bd.Status != store.DeliveryDeadLettered {
		t.Fatalf("delivery of an event the workflow refuses: %s, want DEAD_LETTERED", bd.Status)
	}

	deadline := time.Now().Add(30 * time.Second)
	for {
		evs := e.listEvents(TypeWorkflowFinished)
		if i := slices.IndexFunc(evs, func(ev store.Event) bool { return ev.EventID == r.ID }); i >= 0 {
			if evs[i].Source != WorkflowSource("on-order") || evs[i].Owner != "ada" || len(evs[i].Deliveries) != 1 {
				t.Fatalf("workflow.finished %+v", evs[i])
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no workflow.finished event for the run within 30s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestRouteChangedPublishesAnEventToTheAppOwnersSubscriptions: a route written through
// the API (the handlers call RouteChanged) publishes dev.gantry.route.changed, owned by
// the app's owner.
func TestRouteChangedPublishesAnEventToTheAppOwnersSubscriptions(t *testing.T) {
	e := newEnv(t)
	e.subscribe(store.Subscription{Name: "routes", Filter: store.EventMatch{Type: TypeRouteChanged, Subject: "/new"}, Target: store.DeliveryTarget{App: "shop", Path: "/hot"}}, false)
	e.subscribe(store.Subscription{Name: "bobs-routes", Owner: "bob", Filter: store.EventMatch{Type: TypeRouteChanged}, Target: store.DeliveryTarget{App: "bobs", Path: "/hot"}}, false)
	e.svc.RouteChanged(t.Context(), "shop", "/other", "ada", "created") // no subscription's subject: not stored
	e.svc.RouteChanged(t.Context(), "shop", "/new", "ada", "created")
	deadline := time.Now().Add(30 * time.Second)
	var evs []store.Event
	for len(evs) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no route.changed event within 30s")
		}
		time.Sleep(20 * time.Millisecond)
		evs = e.listEvents(TypeRouteChanged)
	}
	var data RouteChange
	if err := json.Unmarshal(evs[0].Data, &data); err != nil {
		t.Fatal(err)
	}
	if len(evs) != 1 || evs[0].Source != AppSource("shop") || evs[0].Subject != "/new" || evs[0].Owner != "ada" || data != (RouteChange{App: "shop", Path: "/new", Change: "created"}) {
		t.Fatalf("events %+v (data %+v), want the one about /new", evs, data)
	}
	if len(evs[0].Deliveries) != 1 {
		t.Fatalf("%d deliveries, want ada's subscription's only", len(evs[0].Deliveries))
	}
	if d := e.settled(evs[0].Deliveries[0], time.Minute); d.Subscription != "routes" || d.Status != store.DeliveryDelivered {
		t.Fatalf("delivery to %s %s, want DELIVERED to routes", d.Subscription, d.Status)
	}
}
