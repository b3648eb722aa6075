package storetest

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/store"
)

func eventCases() []testCase {
	return []testCase{
		{
			name:   "publishing stores the event and its deliveries with their calls QUEUED and their runs created, in one write, and sets Key, ReceivedAt and Deliveries",
			covers: []string{"PublishEvents", "GetEvent", "GetDelivery", "GetExecution", "GetRun", "ListRunEvents", "LeaseTasks", "Subscribe"},
			run:    testPublishStores,
		},
		{
			name:   "an event published again by its publisher with its source and id, before or earlier in the same slice, stores nothing and returns the first one's deliveries, and another publisher's of the same source and id is another event",
			covers: []string{"PublishEvents", "ListDeliveries", "TaskStats", "ListEvents"},
			run:    testPublishIsIdempotent,
		},
		{
			name:   "an event that ValidateEvent refuses fails its whole slice, and nothing of the slice is stored",
			covers: []string{"PublishEvents", "ListEvents", "TaskStats"},
			run:    testPublishRefusesInvalid,
		},
		{
			name:   "GetEvent and GetDelivery answer ErrNotFound for what was never stored",
			covers: []string{"GetEvent", "GetDelivery"},
			run:    testEventNotFound,
		},
		{
			name:   "events are listed newest first, a page at a time, filtered by type, source, since and visibility",
			covers: []string{"ListEvents", "PublishEvents", "GetEvent"},
			run:    testListEvents,
		},
		{
			name:   "deliveries are listed oldest first, a page at a time, filtered by event, subscription and status",
			covers: []string{"ListDeliveries", "PublishEvents", "LeaseTasks", "CompleteTask"},
			run:    testListDeliveries,
		},
		{
			name:   "a subscription's deliveries of one status are listed oldest first, and a delivery leaves that list when its status moves on",
			covers: []string{"ListDeliveries", "PublishEvents", "LeaseTasks", "CompleteTask", "Redeliver"},
			run:    testListDeliveriesBySubscriptionAndStatus,
		},
		{
			name:   "every store answers the same odd inputs alike: no events, an unknown status, a cursor it never gave out, a run's idempotency key used before",
			covers: []string{"PublishEvents", "ListEvents", "ListDeliveries", "Redeliver"},
			run:    testEventOddInputs,
		},
	}
}

// newEvent is an event of source and id (its "id" attribute), of type typ, owned by ann.
func newEvent(source, id, typ string) store.Event {
	return store.Event{EventID: id, Source: source, Type: typ, SpecVersion: "1.0", Owner: "ann"}
}

// subscriptionID is the ID of the subscription named sub in these tests' deliveries.
func subscriptionID(sub string) string { return "id-of-" + sub }

// callDelivery is a delivery to subscription sub, under dead-letter policy policy, made by
// an async call of app/fn: its ID and its task's Delivery are left for the store to set.
func callDelivery(s store.IDSource, sub, policy string) store.NewDelivery {
	id := s.NewID()
	return store.NewDelivery{
		Delivery: store.Delivery{Subscription: sub, SubscriptionID: subscriptionID(sub), Owner: "ann", DeadLetter: policy},
		Call: &store.StepCall{
			Task:      store.Task{ID: id, Route: store.Route{App: "app", Path: "/fn", Image: "img"}, Method: "POST", URL: "/fn", Body: []byte(`{}`)},
			Execution: store.Execution{App: "app", Route: "/fn", Type: store.TypeAsync},
		},
	}
}

// runDelivery is a delivery to subscription sub made by a run of workflow etl.
func runDelivery(s store.IDSource, sub, policy string) store.NewDelivery {
	return store.NewDelivery{
		Delivery:  store.Delivery{Subscription: sub, SubscriptionID: subscriptionID(sub), Owner: "ann", DeadLetter: policy},
		Run:       &store.Run{ID: s.NewID(), Workflow: "etl", Owner: "ann", TriggeredBy: "ann", Status: store.StatusQueued, Definition: []byte(`{"steps":[]}`)},
		RunEvents: []store.RunEvent{{Type: store.EventQueued}},
	}
}

// mustPublish publishes events and fails the test on an error or a count that is not one per event.
func mustPublish(t *testing.T, s store.Store, events ...store.EventPublish) []store.Published {
	t.Helper()
	out, err := s.PublishEvents(t.Context(), events)
	if err != nil || len(out) != len(events) {
		t.Fatalf("publish %d events: %d published, %v", len(events), len(out), err)
	}
	return out
}

// publishOne publishes a new event with one delivery made by a call, under policy, and
// returns the delivery.
func publishOne(t *testing.T, s store.Store, policy string) store.Delivery {
	t.Helper()
	p := mustPublish(t, s, store.EventPublish{Event: newEvent("/src", s.NewID(), "t"), Deliveries: []store.NewDelivery{callDelivery(s, "sub", policy)}})
	if len(p[0].Deliveries) != 1 {
		t.Fatalf("published %+v, want one delivery", p[0])
	}
	return p[0].Deliveries[0]
}

func deliveryIDs(ds []store.Delivery) []string {
	var out []string
	for _, d := range ds {
		out = append(out, d.ID)
	}
	return out
}

func eventKeys(evs []store.Event) []string {
	var out []string
	for _, e := range evs {
		out = append(out, e.Key)
	}
	return out
}

func testPublishStores(t *testing.T, s store.Store) {
	ctx := t.Context()
	var heard changeLog
	defer s.Subscribe(heard.add)()
	at := time.Date(2030, 5, 6, 7, 8, 9, 0, time.UTC)
	ev := newEvent("/shop", "order-1", "com.shop.created")
	ev.Subject, ev.Time, ev.DataContentType, ev.DataSchema = "orders/1", at, "application/json", "https://schema/x"
	ev.Extensions, ev.Data, ev.Public = map[string]string{"traceparent": "00-abc"}, []byte(`{"n":1}`), true
	call, run := callDelivery(s, "a-call", store.DeadLetterKeep), runDelivery(s, "b-flow", store.DeadLetterDiscard)
	call.Call.Task.Retry = &store.RetryPolicy{MaxAttempts: 4, Initial: time.Second, Max: time.Minute}
	before := time.Now().Add(-2 * time.Second)
	p := mustPublish(t, s, store.EventPublish{Event: ev, Deliveries: []store.NewDelivery{call, run}})[0]
	after := time.Now().Add(2 * time.Second)

	if _, ok := store.ValidID(p.Event.Key); !ok || !p.Created || p.Event.ReceivedAt.Before(before) || p.Event.ReceivedAt.After(after) {
		t.Fatalf("published %+v: want a new event with a Key from NewID and ReceivedAt now", p)
	}
	if len(p.Deliveries) != 2 || !slices.Equal(p.Event.Deliveries, deliveryIDs(p.Deliveries)) {
		t.Fatalf("event's deliveries %v, returned %v: want the two, in order", p.Event.Deliveries, deliveryIDs(p.Deliveries))
	}
	for i, want := range []struct {
		sub, exec, policy string
		workflow          bool
	}{{"a-call", call.Call.Task.ID, store.DeadLetterKeep, false}, {"b-flow", run.Run.ID, store.DeadLetterDiscard, true}} {
		d := p.Deliveries[i]
		if d.ID == "" || d.Event != p.Event.Key || d.Subscription != want.sub || d.SubscriptionID != subscriptionID(want.sub) ||
			d.Owner != "ann" || d.Status != store.DeliveryQueued ||
			d.Execution != want.exec || !slices.Equal(d.Executions, []string{want.exec}) || d.Workflow != want.workflow ||
			d.DeadLetter != want.policy || d.CreatedAt.IsZero() || d.UpdatedAt.IsZero() || d.Done() {
			t.Fatalf("delivery %d: %+v, want QUEUED to %s by %s", i, d, want.sub, want.exec)
		}
		got, err := s.GetDelivery(ctx, d.ID)
		if err != nil || got.ID != d.ID || got.Status != store.DeliveryQueued || got.Execution != want.exec || got.Event != p.Event.Key ||
			!got.CreatedAt.Equal(d.CreatedAt) || got.Workflow != want.workflow || got.SubscriptionID != d.SubscriptionID {
			t.Fatalf("GetDelivery %s: %+v %v, want %+v", d.ID, got, err, d)
		}
	}

	got, err := s.GetEvent(ctx, p.Event.Key)
	if err != nil || got.EventID != "order-1" || got.Source != "/shop" || got.Type != "com.shop.created" || got.SpecVersion != "1.0" ||
		got.Subject != "orders/1" || !got.Time.Equal(at) || got.DataContentType != "application/json" || got.DataSchema != "https://schema/x" ||
		got.Extensions["traceparent"] != "00-abc" || string(got.Data) != `{"n":1}` || got.Owner != "ann" || !got.Public ||
		!got.ReceivedAt.Equal(p.Event.ReceivedAt) || !slices.Equal(got.Deliveries, p.Event.Deliveries) {
		t.Fatalf("GetEvent: %+v %v, want %+v", got, err, p.Event)
	}

	if ex, err := s.GetExecution(ctx, call.Call.Task.ID); err != nil || ex.Status != store.StatusQueued || ex.Type != store.TypeAsync {
		t.Fatalf("the delivery's call: %+v %v, want QUEUED", ex, err)
	}
	tasks, err := s.LeaseTasks(ctx, 5, "w", time.Minute)
	if err != nil || len(tasks) != 1 || tasks[0].ID != call.Call.Task.ID || tasks[0].Delivery != p.Deliveries[0].ID ||
		tasks[0].Retry == nil || tasks[0].Retry.MaxAttempts != 4 {
		t.Fatalf("leased %+v (%v), want the call with Delivery %s and its retry policy", tasks, err, p.Deliveries[0].ID)
	}
	r, err := s.GetRun(ctx, run.Run.ID)
	if err != nil || r.Status != store.StatusQueued || r.Delivery != p.Deliveries[1].ID || r.Workflow != "etl" {
		t.Fatalf("the delivery's run: %+v %v, want QUEUED with Delivery %s", r, err, p.Deliveries[1].ID)
	}
	if seqs := eventSeqs(t, s, r.ID, 0, 0); !slices.Equal(seqs, []int64{1}) {
		t.Fatalf("the run's events %v, want its first", seqs)
	}
	changes := heard.take()
	for _, want := range []store.Change{{Kind: store.ChangeTask, Name: call.Call.Task.ID}, {Kind: store.ChangeRun, Name: run.Run.ID}} {
		if !slices.Contains(changes, want) {
			t.Fatalf("heard %+v before PublishEvents returned, want %+v among them", changes, want)
		}
	}
}

func testPublishIsIdempotent(t *testing.T, s store.Store) {
	ctx := t.Context()
	first := mustPublish(t, s, store.EventPublish{Event: newEvent("/src", "e-1", "t"), Deliveries: []store.NewDelivery{callDelivery(s, "sub", store.DeadLetterKeep)}})[0]
	again := callDelivery(s, "sub", store.DeadLetterKeep)
	ev2 := newEvent("/src", "e-2", "t")
	ev2.Data = []byte("first")
	ev2b := ev2
	ev2b.Data = []byte("second")
	bobs := newEvent("/src", "e-1", "t") // the source and id of ann's first, published by bob
	bobs.Owner, bobs.Data = "bob", []byte("bob's")
	out := mustPublish(t, s,
		store.EventPublish{Event: newEvent("/src", "e-1", "t"), Deliveries: []store.NewDelivery{again}},
		store.EventPublish{Event: ev2, Deliveries: []store.NewDelivery{callDelivery(s, "sub", store.DeadLetterKeep)}},
		store.EventPublish{Event: ev2b, Deliveries: []store.NewDelivery{callDelivery(s, "sub", store.DeadLetterKeep), callDelivery(s, "other", store.DeadLetterKeep)}},
		store.EventPublish{Event: newEvent("/elsewhere", "e-1", "t"), Deliveries: []store.NewDelivery{callDelivery(s, "sub", store.DeadLetterKeep)}},
		store.EventPublish{Event: bobs, Deliveries: []store.NewDelivery{callDelivery(s, "sub", store.DeadLetterKeep)}},
	)
	if out[0].Created || out[0].Event.Key != first.Event.Key || !slices.Equal(deliveryIDs(out[0].Deliveries), deliveryIDs(first.Deliveries)) ||
		out[0].Deliveries[0].Execution != first.Deliveries[0].Execution {
		t.Fatalf("published again: %+v, want the first event %s and its deliveries, not created", out[0], first.Event.Key)
	}
	if !out[1].Created || out[1].Event.Key == first.Event.Key {
		t.Fatalf("a new id: %+v, want a new event", out[1])
	}
	if out[2].Created || out[2].Event.Key != out[1].Event.Key || string(out[2].Event.Data) != "first" ||
		!slices.Equal(deliveryIDs(out[2].Deliveries), deliveryIDs(out[1].Deliveries)) {
		t.Fatalf("twice in one slice: %+v, want the slice's first one (%s), not created", out[2], out[1].Event.Key)
	}
	if !out[3].Created {
		t.Fatalf("the same id from another source: %+v, want a new event", out[3])
	}
	if !out[4].Created || out[4].Event.Key == first.Event.Key || out[4].Event.Owner != "bob" || string(out[4].Event.Data) != "bob's" ||
		len(out[4].Deliveries) != 1 || out[4].Deliveries[0].ID == first.Deliveries[0].ID {
		t.Fatalf("the source and id of ann's event published by bob: %+v, want a new event of bob's with its own delivery", out[4])
	}
	// Each publisher's publish again answers its own event, never the other's.
	bobsAgain := callDelivery(s, "sub", store.DeadLetterKeep)
	anns := newEvent("/src", "e-1", "t")
	twice := mustPublish(t, s, store.EventPublish{Event: bobs, Deliveries: []store.NewDelivery{bobsAgain}},
		store.EventPublish{Event: anns, Deliveries: []store.NewDelivery{callDelivery(s, "sub", store.DeadLetterKeep)}})
	if twice[0].Created || twice[0].Event.Key != out[4].Event.Key || twice[0].Event.Owner != "bob" ||
		!slices.Equal(deliveryIDs(twice[0].Deliveries), deliveryIDs(out[4].Deliveries)) {
		t.Fatalf("bob's published again: %+v, want bob's first (%s)", twice[0], out[4].Event.Key)
	}
	if twice[1].Created || twice[1].Event.Key != first.Event.Key || twice[1].Event.Owner != "ann" {
		t.Fatalf("ann's published again: %+v, want ann's first (%s)", twice[1], first.Event.Key)
	}
	if _, err := s.GetExecution(ctx, bobsAgain.Call.Task.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("the call of bob's repeated event: %v, want ErrNotFound (nothing written)", err)
	}
	if _, err := s.GetExecution(ctx, again.Call.Task.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("the call of the repeated event: %v, want ErrNotFound (nothing written)", err)
	}
	if st, err := s.TaskStats(ctx); err != nil || st.Queued != 4 {
		t.Fatalf("queue %+v (%v), want 4 calls: one per new event", st, err)
	}
	if ds, _, err := s.ListDeliveries(ctx, store.DeliveryFilter{}, store.Page{}); err != nil || len(ds) != 4 {
		t.Fatalf("deliveries %v (%v), want 4", deliveryIDs(ds), err)
	}
	if evs, _, err := s.ListEvents(ctx, store.EventFilter{}, store.Page{}); err != nil || len(evs) != 4 {
		t.Fatalf("events %v (%v), want 4", eventKeys(evs), err)
	}
}

func testPublishRefusesInvalid(t *testing.T, s store.Store) {
	ctx := t.Context()
	good := store.EventPublish{Event: newEvent("/shop", "fine", "com.shop.created"), Deliveries: []store.NewDelivery{callDelivery(s, "orders", store.DeadLetterKeep)}}
	for _, bad := range []store.Event{
		newEvent("", "no-source", "t"),
		newEvent("/shop", "", "t"),
		newEvent("/shop", "nul\x00", "t"),
		{EventID: "v", Source: "/shop", Type: "t", SpecVersion: "0.3"},
	} {
		_, err := s.PublishEvents(ctx, []store.EventPublish{good, {Event: bad}})
		if !errors.Is(err, store.ErrInvalid) {
			t.Fatalf("publish %+v: %v, want ErrInvalid", bad, err)
		}
	}
	if evs, _, err := s.ListEvents(ctx, store.EventFilter{}, store.Page{}); err != nil || len(evs) != 0 {
		t.Fatalf("events stored: %v, %v; want none", evs, err)
	}
	if st, err := s.TaskStats(ctx); err != nil || st.Queued != 0 {
		t.Fatalf("queue %+v, %v: the refused slice's call was accepted", st, err)
	}
}

func testEventNotFound(t *testing.T, s store.Store) {
	ctx := t.Context()
	for _, key := range []string{s.NewID(), "nope"} {
		if _, err := s.GetEvent(ctx, key); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("GetEvent %q: %v, want ErrNotFound", key, err)
		}
		if _, err := s.GetDelivery(ctx, key); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("GetDelivery %q: %v, want ErrNotFound", key, err)
		}
	}
}

// listEventPages follows next cursors, failing on a duplicate or a short page before the last.
func listEventPages(t *testing.T, s store.Store, f store.EventFilter, perPage int) []string {
	t.Helper()
	var keys []string
	cursor := ""
	for pages := 1; ; pages++ {
		list, next, err := s.ListEvents(t.Context(), f, store.Page{Cursor: cursor, Limit: perPage})
		if err != nil {
			t.Fatal(err)
		}
		checkPageAfterCursor(t, cursor, len(list))
		for _, e := range list {
			if slices.Contains(keys, e.Key) {
				t.Fatalf("event %s listed twice", e.Key)
			}
			keys = append(keys, e.Key)
		}
		if next == "" {
			return keys
		}
		if len(list) != perPage {
			t.Fatalf("page %d has %d events and a next cursor, want %d", pages, len(list), perPage)
		}
		cursor = next
	}
}

func testListEvents(t *testing.T, s store.Store) {
	ctx := t.Context()
	type pub struct {
		key, typ, source, owner string
		public                  bool
	}
	var all []pub // oldest first
	var since time.Time
	for i := range 7 {
		if i == 4 {
			time.Sleep(20 * time.Millisecond) // events 4.. are received after since
		}
		typ, source, owner := []string{"t.a", "t.b"}[i%2], []string{"/x", "/y", "/z"}[i%3], []string{"ann", "bob"}[i/4]
		public := i == 2 || i == 5 // one of ann's, one of bob's
		ev := newEvent(source, s.NewID(), typ)
		ev.Owner, ev.Public = owner, public
		p := mustPublish(t, s, store.EventPublish{Event: ev})[0]
		if i == 4 {
			got, err := s.GetEvent(ctx, p.Event.Key)
			if err != nil {
				t.Fatal(err)
			}
			since = got.ReceivedAt
		}
		all = append(all, pub{p.Event.Key, typ, source, owner, public})
	}
	want := func(keep func(pub) bool) []string {
		var keys []string
		for i := len(all) - 1; i >= 0; i-- {
			if keep(all[i]) {
				keys = append(keys, all[i].key)
			}
		}
		return keys
	}
	for _, c := range []struct {
		name string
		f    store.EventFilter
		keep func(pub) bool
	}{
		{"all events", store.EventFilter{}, func(pub) bool { return true }},
		{"of a type", store.EventFilter{Type: "t.a"}, func(p pub) bool { return p.typ == "t.a" }},
		{"of a type that is a prefix of others", store.EventFilter{Type: "t"}, func(pub) bool { return false }},
		{"from a source", store.EventFilter{Source: "/y"}, func(p pub) bool { return p.source == "/y" }},
		{"received since a time", store.EventFilter{Since: since}, func(p pub) bool { return p.owner == "bob" }},
		{"that a developer may see, its own and the public ones,", store.EventFilter{Viewer: "ann"}, func(p pub) bool { return p.owner == "ann" || p.public }},
		{"that another developer may see", store.EventFilter{Viewer: "bob"}, func(p pub) bool { return p.owner == "bob" || p.public }},
		{"that a developer who owns none may see, the public ones,", store.EventFilter{Viewer: "carol"}, func(p pub) bool { return p.public }},
		{"of a type that a developer may see", store.EventFilter{Viewer: "ann", Type: "t.b"}, func(p pub) bool { return p.typ == "t.b" && (p.owner == "ann" || p.public) }},
		{"received since a time that a developer may see", store.EventFilter{Viewer: "ann", Since: since}, func(p pub) bool { return p.owner == "bob" && p.public }},
		{"of a type and a source", store.EventFilter{Type: "t.b", Source: "/x"}, func(p pub) bool { return p.typ == "t.b" && p.source == "/x" }},
	} {
		t.Run(c.name+" are listed newest first", func(t *testing.T) {
			w := want(c.keep)
			for _, per := range []int{1, 2, 100} {
				if got := listEventPages(t, s, c.f, per); !slices.Equal(got, w) {
					t.Fatalf("%d a page: %v, want %v", per, got, w)
				}
			}
		})
	}
}

// listDeliveryPages follows next cursors, failing on a duplicate or a short page before the last.
func listDeliveryPages(t *testing.T, s store.Store, f store.DeliveryFilter, perPage int) []string {
	t.Helper()
	var ids []string
	cursor := ""
	for pages := 1; ; pages++ {
		list, next, err := s.ListDeliveries(t.Context(), f, store.Page{Cursor: cursor, Limit: perPage})
		if err != nil {
			t.Fatal(err)
		}
		checkPageAfterCursor(t, cursor, len(list))
		for _, d := range list {
			if slices.Contains(ids, d.ID) {
				t.Fatalf("delivery %s listed twice", d.ID)
			}
			ids = append(ids, d.ID)
		}
		if next == "" {
			return ids
		}
		if len(list) != perPage {
			t.Fatalf("page %d has %d deliveries and a next cursor, want %d", pages, len(list), perPage)
		}
		cursor = next
	}
}

func testListDeliveries(t *testing.T, s store.Store) {
	ctx := t.Context()
	var all []store.Delivery
	for i := range 3 {
		subs := []store.NewDelivery{callDelivery(s, "s1", store.DeadLetterKeep)}
		if i < 2 {
			subs = append(subs, callDelivery(s, "s2", store.DeadLetterKeep))
		}
		p := mustPublish(t, s, store.EventPublish{Event: newEvent("/src", s.NewID(), "t"), Deliveries: subs})[0]
		all = append(all, p.Deliveries...)
	}
	// A delivery to a later subscription named s1: another subscription ID.
	again := callDelivery(s, "s1", store.DeadLetterKeep)
	again.Delivery.SubscriptionID = "id-of-s1-again"
	all = append(all, mustPublish(t, s, store.EventPublish{Event: newEvent("/src", s.NewID(), "t"), Deliveries: []store.NewDelivery{again}})[0].Deliveries...)
	slices.SortFunc(all, func(a, b store.Delivery) int {
		switch {
		case a.ID < b.ID:
			return -1
		case a.ID > b.ID:
			return 1
		}
		return 0
	})
	// The first call leased ends SUCCESS: its delivery is DELIVERED.
	tasks, err := s.LeaseTasks(ctx, 1, "w", time.Minute)
	if err != nil || len(tasks) != 1 {
		t.Fatalf("lease: %v %v", taskIDs(tasks), err)
	}
	if err := s.CompleteTask(ctx, tasks[0].ID, "w", store.Execution{Status: store.StatusSuccess}, nil); err != nil {
		t.Fatal(err)
	}
	delivered := tasks[0].Delivery
	want := func(keep func(store.Delivery) bool) []string {
		var ids []string
		for _, d := range all {
			if keep(d) {
				ids = append(ids, d.ID)
			}
		}
		return ids
	}
	for _, c := range []struct {
		name string
		f    store.DeliveryFilter
		keep func(store.Delivery) bool
	}{
		{"all deliveries", store.DeliveryFilter{}, func(store.Delivery) bool { return true }},
		{"of an event", store.DeliveryFilter{Event: all[2].Event}, func(d store.Delivery) bool { return d.Event == all[2].Event }},
		{"to a subscription", store.DeliveryFilter{Subscription: "s2"}, func(d store.Delivery) bool { return d.Subscription == "s2" }},
		{"with a status", store.DeliveryFilter{Status: store.DeliveryQueued}, func(d store.Delivery) bool { return d.ID != delivered }},
		{"delivered", store.DeliveryFilter{Status: store.DeliveryDelivered}, func(d store.Delivery) bool { return d.ID == delivered }},
		{"of an event to a subscription", store.DeliveryFilter{Event: all[0].Event, Subscription: "s1"},
			func(d store.Delivery) bool { return d.Event == all[0].Event && d.Subscription == "s1" }},
		{"of no event", store.DeliveryFilter{Event: s.NewID()}, func(store.Delivery) bool { return false }},
		{"of a subscription ID", store.DeliveryFilter{SubscriptionID: subscriptionID("s1")},
			func(d store.Delivery) bool { return d.SubscriptionID == subscriptionID("s1") }},
		{"of a subscription ID with a status", store.DeliveryFilter{SubscriptionID: subscriptionID("s1"), Status: store.DeliveryQueued},
			func(d store.Delivery) bool { return d.SubscriptionID == subscriptionID("s1") && d.ID != delivered }},
		{"of a subscription ID delivered", store.DeliveryFilter{SubscriptionID: subscriptionID("s1"), Status: store.DeliveryDelivered},
			func(d store.Delivery) bool { return d.SubscriptionID == subscriptionID("s1") && d.ID == delivered }},
		{"of a later subscription of a name", store.DeliveryFilter{SubscriptionID: "id-of-s1-again", Status: store.DeliveryQueued},
			func(d store.Delivery) bool { return d.SubscriptionID == "id-of-s1-again" }},
	} {
		t.Run(c.name+" are listed oldest first", func(t *testing.T) {
			w := want(c.keep)
			for _, per := range []int{1, 2, 100} {
				if got := listDeliveryPages(t, s, c.f, per); !slices.Equal(got, w) {
					t.Fatalf("%d a page: %v, want %v", per, got, w)
				}
			}
		})
	}
}
