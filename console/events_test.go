package console

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/gantry-dev/gantry/store"
)

// seedOrders gives alice the app shop (route /orders) and the subscription orders of the
// events com.alice.*, delivered once (no retry), its dead letters kept.
func seedOrders(t *testing.T, tc *testConsole) {
	t.Helper()
	tc.mustAPI("alice", "POST", "/apps", `{"app":{"name":"shop"}}`, 201)
	if _, err := tc.store.CreateRoute(context.Background(), store.Route{App: "shop", Path: "/orders", Image: "img"}, nil); err != nil {
		t.Fatal(err)
	}
	tc.mustAPI("alice", "POST", "/subscriptions",
		`{"subscription":{"name":"orders","filter":{"type":"com.alice.*"},"target":{"function":{"app":"shop","path":"/orders"}},"retry":{"max_attempts":1}}}`, 201)
}

// publishAs publishes a structured event as user; it returns the event's key and its
// deliveries.
func (tc *testConsole) publishAs(user, event string) (string, []any) {
	tc.t.Helper()
	status, m, raw := tc.apiAs(user, "POST", "/events", "application/cloudevents+json", event)
	if status != 202 {
		tc.t.Fatalf("publish: %d %s", status, raw)
	}
	key, _ := field(m, "event", "key").(string)
	ds, _ := field(m, "event", "deliveries").([]any)
	return key, ds
}

// failCall leases the queued call as an external runner and reports it FAILED.
func (tc *testConsole) failCall(id string) {
	tc.t.Helper()
	_, _, raw := tc.apiAs("admin", "GET", "/tasks?runner=r1&n=10", "", "")
	if !strings.Contains(raw, id) {
		tc.t.Fatalf("call %s is not leased: %s", id, raw)
	}
	tc.mustAPI("admin", "POST", "/tasks/"+id+"/result", `{"runner":"r1","status":"FAILED","error":"boom"}`, 200)
}

func TestEventListAndTrace(t *testing.T) {
	tc := newFlowConsole(t)
	seedOrders(t, tc)
	key, ds := tc.publishAs("alice", `{"specversion":"1.0","id":"o-1","source":"/shop","type":"com.alice.created","subject":"order-7","data":{"n":1}}`)
	if len(ds) != 1 {
		t.Fatalf("deliveries %v", ds)
	}
	delivery, call := field(ds[0], "id").(string), field(ds[0], "execution_id").(string)
	alice, bob := tc.signedIn("alice"), tc.signedIn("bob")

	for _, c := range []struct {
		name, path string
		b          *browser
		status     int
		want       []string
		absent     []string
	}{
		{"alice's recent events", "/ui/events", alice, 200, []string{`id="events"`, `href="/ui/events/` + key + `"`, "com.alice.created", "order-7"}, nil},
		{"filtered by type, in the URL", "/ui/events?type=com.alice.created", alice, 200, []string{`id="events"`, `value="com.alice.created"`, "order-7"}, nil},
		{"a filter that matches none", "/ui/events?type=com.other", alice, 200, []string{`class="empty"`, "match these filters"}, []string{`id="events"`}},
		{"since as a duration", "/ui/events?since=1h", alice, 200, []string{`id="events"`, "order-7"}, nil},
		{"a bad since, named", "/ui/events?since=yesterday", alice, 400, []string{`(field: since)`, `value="yesterday"`}, nil},
		{"bob sees none of alice's events, and what to do", "/ui/events", bob, 200, []string{`class="empty"`, "gantry events publish"}, []string{key}},
		{"bob gets the not-found page for alice's event", "/ui/events/" + key, bob, 404, nil, []string{"order-7"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := c.b.get(c.path)
			if p.status != c.status {
				t.Fatalf("status %d, want %d\n%s", p.status, c.status, p.body)
			}
			for _, w := range c.want {
				if !strings.Contains(p.body, w) {
					t.Errorf("no %q", w)
				}
			}
			for _, a := range c.absent {
				if strings.Contains(p.body, a) {
					t.Errorf("%q is there", a)
				}
			}
		})
	}

	trace := func(t *testing.T) string {
		t.Helper()
		p := alice.get("/ui/events/" + key)
		if p.status != 200 {
			t.Fatalf("event page: %d\n%s", p.status, p.body)
		}
		i := strings.Index(p.body, `<div id="trace">`)
		if i < 0 {
			t.Fatalf("no #trace:\n%s", p.body)
		}
		return p.body[i:]
	}
	t.Run("the trace shows the delivery and the execution it made", func(t *testing.T) {
		tr := trace(t)
		for _, w := range []string{`data-delivery="` + delivery + `" data-status="QUEUED"`, `href="/ui/events/subscriptions/orders"`,
			`href="/ui/executions/` + call + `"`, "attempts: 1", `current: <span class="status s-QUEUED">`} {
			if !strings.Contains(tr, w) {
				t.Errorf("no %q in the trace:\n%s", w, tr)
			}
		}
	})

	tc.failCall(call)
	t.Run("a failed delivery is a dead letter in the trace", func(t *testing.T) {
		tr := trace(t)
		if !strings.Contains(tr, `data-status="DEAD_LETTERED"`) || !strings.Contains(tr, `class="status s-FAILED"`) {
			t.Errorf("trace after the failure:\n%s", tr)
		}
	})

	sub := alice.get("/ui/events/subscriptions/orders")
	t.Run("the subscription page lists its dead letters with a redeliver button", func(t *testing.T) {
		if sub.status != 200 {
			t.Fatalf("status %d\n%s", sub.status, sub.body)
		}
		for _, w := range []string{`id="dead-letters"`, `data-delivery="` + delivery + `"`, `class="redeliver`,
			`hx-post="/ui/events/deliveries/` + delivery + `/redeliver"`, "type com.alice.*", "function shop/orders"} {
			if !strings.Contains(sub.body, w) {
				t.Errorf("no %q on the subscription page", w)
			}
		}
	})
	t.Run("bob gets the not-found page for alice's subscription, and cannot redeliver", func(t *testing.T) {
		if p := bob.get("/ui/events/subscriptions/orders"); p.status != 404 {
			t.Errorf("bob's subscription page: %d", p.status)
		}
		if p := bob.postForm("/ui/events/deliveries/"+delivery+"/redeliver", url.Values{}, bob.csrfFrom("/ui/events")); p.status != 404 {
			t.Errorf("bob's redeliver: %d", p.status)
		}
	})

	csrf := csrfMeta.FindStringSubmatch(sub.body)[1]
	redeliver := func() page {
		form := url.Values{"csrf": {csrf}}
		req, _ := http.NewRequest(http.MethodPost, tc.srv.URL+"/ui/events/deliveries/"+delivery+"/redeliver", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", tc.srv.URL)
		req.Header.Set("HX-Request", "true")
		return alice.do(req)
	}
	var second string
	t.Run("redeliver (htmx) calls the API and shows the result inline", func(t *testing.T) {
		p := redeliver()
		if p.status != 200 || strings.Contains(p.body, "<html") || !strings.Contains(p.body, "Redelivered") || !strings.Contains(p.body, "s-QUEUED") {
			t.Fatalf("redeliver: %d\n%s", p.status, p.body)
		}
		d := tc.mustAPI("alice", "GET", "/deliveries/"+delivery, "", 200)
		execs, _ := field(d, "delivery", "executions").([]any)
		second, _ = field(d, "delivery", "execution_id").(string)
		if field(d, "delivery", "status") != "QUEUED" || len(execs) != 2 || second == call {
			t.Fatalf("the delivery after redeliver: %v", d)
		}
		if !strings.Contains(p.body, `href="/ui/executions/`+second+`"`) {
			t.Errorf("the result does not link the new execution:\n%s", p.body)
		}
	})
	t.Run("redelivering a queued delivery shows the API's 409 inline", func(t *testing.T) {
		p := redeliver()
		if p.status != 409 || !strings.Contains(p.body, `class="field-error" role="alert"`) {
			t.Fatalf("redeliver again: %d\n%s", p.status, p.body)
		}
	})
	t.Run("the trace shows both executions, and the dead letters none", func(t *testing.T) {
		tr := trace(t)
		if !strings.Contains(tr, `href="/ui/executions/`+call+`"`) || !strings.Contains(tr, `href="/ui/executions/`+second+`"`) ||
			!strings.Contains(tr, "attempts: 2") || !strings.Contains(tr, "(redelivery 2)") {
			t.Errorf("trace after redelivery:\n%s", tr)
		}
		if p := alice.get("/ui/events/subscriptions/orders"); strings.Contains(p.body, `id="dead-letters"`) || !strings.Contains(p.body, "No dead letters") {
			t.Errorf("dead letters after redelivery:\n%s", p.body)
		}
	})
	t.Run("redeliver from a plain form goes to the delivery's page", func(t *testing.T) {
		tc.failCall(second)
		p := alice.postForm("/ui/events/deliveries/"+delivery+"/redeliver", url.Values{}, csrf)
		if p.status != http.StatusSeeOther || p.header.Get("Location") != "/ui/events/deliveries/"+delivery {
			t.Fatalf("redeliver: %d %q\n%s", p.status, p.header.Get("Location"), p.body)
		}
		d := alice.get("/ui/events/deliveries/" + delivery)
		if d.status != 200 || !strings.Contains(d.body, `<span id="delivery-status"><span class="status s-QUEUED">`) || len(regexp.MustCompile(`<li><a href="/ui/executions/`).FindAllString(d.body, -1)) != 3 {
			t.Fatalf("delivery page: %d\n%s", d.status, d.body)
		}
	})
}

func TestSubscriptionList(t *testing.T) {
	tc := newFlowConsole(t)
	seedOrders(t, tc)
	for _, c := range []struct {
		name, user, path string
		status           int
		want             []string
	}{
		{"alice's subscriptions", "alice", "/ui/events/subscriptions", 200, []string{`id="subscriptions"`, `href="/ui/events/subscriptions/orders"`, "function shop/orders", `href="/ui/apps/shop"`}},
		{"bob has none, and is told how to make one", "bob", "/ui/events/subscriptions", 200, []string{`class="empty"`, "gantry subscriptions create"}},
		{"a developer asking for another's is refused by the API", "bob", "/ui/events/subscriptions?owner=alice", 403, []string{`role="alert"`}},
		{"an admin filters by owner", "admin", "/ui/events/subscriptions?owner=alice", 200, []string{`id="subscriptions"`, "orders"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := tc.signedIn(c.user).get(c.path)
			if p.status != c.status {
				t.Fatalf("status %d, want %d\n%s", p.status, c.status, p.body)
			}
			for _, w := range c.want {
				if !strings.Contains(p.body, w) {
					t.Errorf("no %q", w)
				}
			}
		})
	}
}

func TestScheduleList(t *testing.T) {
	tc := newFlowConsole(t)
	tc.mustAPI("alice", "POST", "/schedules", `{"schedule":{"name":"heartbeat","cron":"30 2 * * *","timezone":"UTC","target":{"event":{"type":"com.alice.tick"}}}}`, 201)
	s := tc.mustAPI("alice", "GET", "/schedules/heartbeat", "", 200)
	next, _ := field(s, "schedule", "next_run").(string)
	if next == "" {
		t.Fatalf("no next run: %v", s)
	}
	alice, bob := tc.signedIn("alice"), tc.signedIn("bob")
	p := alice.get("/ui/events/schedules")
	if p.status != 200 {
		t.Fatalf("status %d\n%s", p.status, p.body)
	}
	row := regexp.MustCompile(`(?s)<tr data-schedule="heartbeat">.*?</tr>`).FindString(p.body)
	if row == "" || !strings.Contains(p.body, `id="schedules"`) {
		t.Fatalf("no heartbeat row:\n%s", p.body)
	}
	m := regexp.MustCompile(`<td class="next-run"><time datetime="([^"]+)"`).FindStringSubmatch(row)
	if m == nil || !strings.Contains(row, "event com.alice.tick") || !strings.Contains(row, "<code>30 2 * * *</code>") {
		t.Fatalf("row: %s", row)
	}
	if !strings.HasPrefix(m[1], strings.TrimSuffix(strings.TrimSuffix(next, "Z"), ".000")[:16]) || !strings.Contains(m[1], "T02:30:00") {
		t.Errorf("next run shown %s, the API's %s", m[1], next)
	}
	if p := bob.get("/ui/events/schedules"); p.status != 200 || !strings.Contains(p.body, "gantry schedules create") || strings.Contains(p.body, "heartbeat") {
		t.Errorf("bob's schedules: %d\n%s", p.status, p.body)
	}
}

// TestEventTraceOfAWorkflowDelivery: a delivery to a workflow made a run, which the trace
// links to the run's page.
func TestEventTraceOfAWorkflowDelivery(t *testing.T) {
	tc := newFlowConsole(t)
	tc.mustAPI("alice", "PUT", "/workflows/audit", `{"workflow":{"steps":[{"name":"nap","sleep":"1s"}]}}`, 201)
	tc.mustAPI("alice", "POST", "/subscriptions", `{"subscription":{"name":"audit","filter":{"type":"com.alice.*"},"target":{"workflow":"audit"}}}`, 201)
	key, ds := tc.publishAs("alice", `{"specversion":"1.0","id":"w-1","source":"/shop","type":"com.alice.created"}`)
	if len(ds) != 1 || field(ds[0], "workflow") != true {
		t.Fatalf("deliveries: %v", ds)
	}
	run := field(ds[0], "execution_id").(string)
	p := tc.signedIn("alice").get("/ui/events/" + key)
	if p.status != 200 || !strings.Contains(p.body, `href="/ui/workflows/runs/`+run+`"`) || !strings.Contains(p.body, `href="/ui/events/subscriptions/audit"`) {
		t.Fatalf("trace: %d\n%s", p.status, p.body)
	}
	if p := tc.signedIn("alice").get("/ui/events/subscriptions"); !strings.Contains(p.body, `href="/ui/workflows/audit"`) {
		t.Errorf("the subscription does not link its workflow:\n%s", p.body)
	}
}
