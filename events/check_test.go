package events

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/invoke"
	"github.com/gantry-dev/gantry/runner"
	"github.com/gantry-dev/gantry/store"
	"github.com/gantry-dev/gantry/store/bolt"
)

// checkEnv is a service over a real store with ada's app shop (route /on, and /private on
// network private, which no owner may use), bob's app bobs (route /on) and ada's workflow
// flow, and the real invocation path over a runner that runs nothing: enough for
// CheckSubscription and for publishes, whose calls stay queued.
func checkEnv(t *testing.T) *Service {
	svc, _ := checkEnvStore(t)
	return svc
}

// checkRunner runs nothing; no owner may use network private.
type checkRunner struct{}

func (checkRunner) Run(context.Context, *runner.Call) (*runner.Result, error) {
	return nil, errors.New("no call runs in the check tests")
}
func (checkRunner) NetworkAllowed(_, network string) error {
	if network == "private" {
		return fmt.Errorf("%w: network %q is registered for other owners", runner.ErrNetworkNotAllowed, network)
	}
	return nil
}
func (checkRunner) EnsureImage(context.Context, string) error { return nil }
func (checkRunner) DrainRoute(string, string)                 {}
func (checkRunner) DrainApp(string)                           {}
func (checkRunner) HotContainers() int                        { return 0 }
func (checkRunner) HotRoutes() []runner.HotRoute              { return nil }

// checkEnvStore is checkEnv with its store.
func checkEnvStore(t *testing.T) (*Service, *bolt.DB) {
	t.Helper()
	st, err := bolt.Open(t.Context(), t.TempDir(), bolt.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	for _, a := range []store.App{{Name: "shop", Owner: "ada"}, {Name: "bobs", Owner: "bob"}} {
		if _, err := st.CreateApp(t.Context(), a); err != nil {
			t.Fatal(err)
		}
		if _, err := st.CreateRoute(t.Context(), store.Route{App: a.Name, Path: "/on", Image: "img"}, nil); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := st.CreateRoute(t.Context(), store.Route{App: "shop", Path: "/private", Image: "img", Network: "private"}, nil); err != nil {
		t.Fatal(err)
	}
	if _, _, err := st.PutWorkflow(t.Context(), store.Workflow{Name: "flow", Owner: "ada", Definition: json.RawMessage(`{"steps":[]}`)}, nil); err != nil {
		t.Fatal(err)
	}
	return New(st, invoke.New(st, checkRunner{}, invoke.Options{Node: st.InstanceID()}), nil, Options{}), st
}

func TestCheckSubscription(t *testing.T) {
	svc := checkEnv(t)
	fn := func(app, path string) store.DeliveryTarget { return store.DeliveryTarget{App: app, Path: path} }
	tests := []struct {
		name  string
		sub   store.Subscription
		admin bool
		field string // the ValidationError's field; "" when accepted
	}{
		{name: "a developer subscribes its own function", sub: store.Subscription{Owner: "ada", Target: fn("shop", "/on")}},
		{name: "a developer subscribes its own workflow", sub: store.Subscription{Owner: "ada", Target: store.DeliveryTarget{Workflow: "flow"}}},
		{name: "an admin subscribes another's function to every event", sub: store.Subscription{Owner: "root", Target: fn("bobs", "/on"), Scope: store.ScopeAll}, admin: true},
		{name: "a developer may not subscribe to every event", sub: store.Subscription{Owner: "ada", Target: fn("shop", "/on"), Scope: store.ScopeAll}, field: "scope"},
		{name: "another's app reads as not found", sub: store.Subscription{Owner: "ada", Target: fn("bobs", "/on")}, field: "target.app"},
		{name: "another's app without a matching route reads as not found too", sub: store.Subscription{Owner: "ada", Target: fn("bobs", "/none")}, field: "target.app"},
		{name: "an app that does not exist is not found", sub: store.Subscription{Owner: "ada", Target: fn("gone", "/on")}, field: "target.app"},
		{name: "a path no route of the app matches is refused", sub: store.Subscription{Owner: "ada", Target: fn("shop", "/none")}, field: "target.path"},
		{name: "a route on a network its owner may not use is refused", sub: store.Subscription{Owner: "ada", Target: fn("shop", "/private")}, field: "target.path"},
		{name: "another's workflow reads as not found", sub: store.Subscription{Owner: "bob", Target: store.DeliveryTarget{Workflow: "flow"}}, field: "target.workflow"},
		{name: "a workflow that does not exist is not found", sub: store.Subscription{Owner: "ada", Target: store.DeliveryTarget{Workflow: "nope"}}, field: "target.workflow"},
		{name: "an admin's subscription of scope own may not call another's function", sub: store.Subscription{Owner: "root", Target: fn("shop", "/on")}, admin: true, field: "target.app"},
		{name: "an admin's subscription of scope own may not run another's workflow", sub: store.Subscription{Owner: "root", Target: store.DeliveryTarget{Workflow: "flow"}}, admin: true, field: "target.workflow"},
		{name: "retry bounds are checked after the defaults", sub: store.Subscription{Owner: "ada", Target: fn("shop", "/on"), Retry: store.RetryPolicy{MaxAttempts: 500}}, field: "retry.max_attempts"},
		{name: "a bad filter is refused", sub: store.Subscription{Owner: "ada", Target: fn("shop", "/on"), Filter: store.EventMatch{Type: "a*b"}}, field: "filter.type"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sub := tt.sub
			sub.Name = "sub"
			if sub.Filter.Type == "" {
				sub.Filter.Type = "com.example.*"
			}
			err := svc.CheckSubscription(t.Context(), &sub, tt.admin)
			if tt.field == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			var ve *store.ValidationError
			if !errors.As(err, &ve) || ve.Field != tt.field {
				t.Fatalf("err = %v, want a ValidationError of %q", err, tt.field)
			}
		})
	}
}

func TestCheckSubscriptionAppliesTheDefaults(t *testing.T) {
	svc := checkEnv(t)
	sub := store.Subscription{Name: "s", Owner: "ada", Filter: store.EventMatch{Type: "*"}, Target: store.DeliveryTarget{App: "shop", Path: "/on"}}
	if err := svc.CheckSubscription(t.Context(), &sub, false); err != nil {
		t.Fatal(err)
	}
	if sub.Retry != DefaultRetry || sub.DeadLetter != store.DeadLetterKeep || sub.Scope != store.ScopeOwn {
		t.Fatalf("retry %v dead_letter %q scope %q, want %v, keep, own", sub.Retry, sub.DeadLetter, sub.Scope, DefaultRetry)
	}
	long := store.Subscription{Name: "s", Owner: "ada", Filter: store.EventMatch{Type: "*"}, Target: store.DeliveryTarget{App: "shop", Path: "/on"},
		Retry: store.RetryPolicy{Initial: 5 * time.Minute}}
	if err := svc.CheckSubscription(t.Context(), &long, false); err != nil {
		t.Fatal(err)
	}
	if long.Retry.Max != 5*time.Minute || long.Retry.MaxAttempts != 5 {
		t.Fatalf("a first backoff of 5m with the default max gives %v, want max 5m and 5 attempts", long.Retry)
	}
}

func TestReceivesKeepsTheVisibilityRule(t *testing.T) {
	sub := func(owner, scope string) store.Subscription {
		return store.Subscription{Owner: owner, Scope: scope, Enabled: true, Filter: store.EventMatch{Type: "*"}}
	}
	tests := []struct {
		name string
		sub  store.Subscription
		ev   store.Event
		want bool
	}{
		{name: "a subscription receives its owner's events", sub: sub("ada", store.ScopeOwn), ev: store.Event{Type: "t", Owner: "ada"}, want: true},
		{name: "a subscription does not receive another developer's events", sub: sub("ada", store.ScopeOwn), ev: store.Event{Type: "t", Owner: "bob"}},
		{name: "a subscription receives public events", sub: sub("ada", store.ScopeOwn), ev: store.Event{Type: "t", Owner: "root", Public: true}, want: true},
		{name: "a subscription receives system events about its owner's resources", sub: sub("ada", store.ScopeOwn), ev: store.Event{Type: TypeExecutionFinished, Owner: "ada"}, want: true},
		{name: "a subscription does not receive system events about another's resources", sub: sub("ada", store.ScopeOwn), ev: store.Event{Type: TypeExecutionFinished, Owner: "bob"}},
		{name: "a subscription of scope all receives every event", sub: sub("root", store.ScopeAll), ev: store.Event{Type: "t", Owner: "bob"}, want: true},
		{name: "a disabled subscription receives nothing", sub: store.Subscription{Owner: "ada", Scope: store.ScopeOwn, Filter: store.EventMatch{Type: "*"}}, ev: store.Event{Type: "t", Owner: "ada"}},
		{name: "a filter that does not match receives nothing", sub: store.Subscription{Owner: "ada", Scope: store.ScopeOwn, Enabled: true, Filter: store.EventMatch{Type: "u"}}, ev: store.Event{Type: "t", Owner: "ada"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Receives(tt.sub, tt.ev); got != tt.want {
				t.Fatalf("Receives = %v, want %v", got, tt.want)
			}
		})
	}
	if !CanSee("anyone", true, store.Event{Owner: "bob"}) || CanSee("ada", false, store.Event{Owner: "bob"}) {
		t.Error("CanSee: an admin sees every event, a developer not another's")
	}
}

func TestPublishRefusesWhatIsNotAValidEventOfItsOwn(t *testing.T) {
	svc := checkEnv(t)
	tests := []struct {
		name  string
		evs   []store.Event
		field string
	}{
		{name: "an event without id names id", evs: []store.Event{{Source: "/s", Type: "t", SpecVersion: "1.0"}}, field: "id"},
		{name: "a type under dev.gantry. is Gantry's own", evs: []store.Event{{EventID: "1", Source: "/s", Type: TypeExecutionFinished, SpecVersion: "1.0"}}, field: "type"},
		{name: "a batch names the event at fault", evs: []store.Event{{EventID: "1", Source: "/s", Type: "t", SpecVersion: "1.0"}, {EventID: "2", Source: "/s", Type: "t"}}, field: "events[1].specversion"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := svc.Publish(t.Context(), tt.evs)
			var ve *store.ValidationError
			if !errors.As(err, &ve) || ve.Field != tt.field {
				t.Fatalf("err = %v, want a ValidationError of %q", err, tt.field)
			}
		})
	}
}

func TestStructuredIsTheJSONFormat(t *testing.T) {
	tests := []struct {
		name string
		ev   store.Event
		want string
	}{
		{name: "JSON data stays JSON", ev: store.Event{EventID: "1", Source: "/s", Type: "t", SpecVersion: "1.0", DataContentType: "application/json", Data: []byte(`{"a":1}`)},
			want: `{"data":{"a":1},"datacontenttype":"application/json","id":"1","source":"/s","specversion":"1.0","type":"t"}`},
		{name: "text data is a string", ev: store.Event{EventID: "1", Source: "/s", Type: "t", SpecVersion: "1.0", DataContentType: "text/plain", Data: []byte("hi")},
			want: `{"data":"hi","datacontenttype":"text/plain","id":"1","source":"/s","specversion":"1.0","type":"t"}`},
		{name: "other bytes are base64", ev: store.Event{EventID: "1", Source: "/s", Type: "t", SpecVersion: "1.0", Data: []byte{0, 1}},
			want: `{"data_base64":"AAE=","id":"1","source":"/s","specversion":"1.0","type":"t"}`},
		{name: "extensions, subject and time are members", ev: store.Event{EventID: "1", Source: "/s", Type: "t", SpecVersion: "1.0", Subject: "x",
			Time: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), Extensions: map[string]string{"tenant": "acme"}},
			want: `{"id":"1","source":"/s","specversion":"1.0","subject":"x","tenant":"acme","time":"2026-01-02T03:04:05Z","type":"t"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := string(Structured(tt.ev)); got != tt.want {
				t.Fatalf("Structured = %s, want %s", got, tt.want)
			}
		})
	}
}
