package store

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

func validSubscription() Subscription {
	return Subscription{Name: "on-order", Owner: "ada", Filter: EventMatch{Type: "com.example.order"},
		Target: DeliveryTarget{App: "shop", Path: "/on"}, Enabled: true,
		Retry: RetryPolicy{MaxAttempts: 5, Initial: time.Second, Max: time.Minute}, DeadLetter: DeadLetterKeep, Scope: ScopeOwn}
}

func TestValidateSubscription(t *testing.T) {
	tests := []struct {
		name  string
		mod   func(*Subscription)
		field string // "" when valid
	}{
		{name: "a complete subscription is valid", mod: func(*Subscription) {}},
		{name: "a workflow target is valid", mod: func(s *Subscription) { s.Target = DeliveryTarget{Workflow: "wf"} }},
		{name: "a type prefix is valid", mod: func(s *Subscription) { s.Filter.Type = "com.example.*" }},
		{name: "every type is valid", mod: func(s *Subscription) { s.Filter.Type = "*" }},
		{name: "a name with dots, dashes and underscores is valid", mod: func(s *Subscription) { s.Name = "a.b-c_d9" }},
		{name: "a name with capitals is refused", mod: func(s *Subscription) { s.Name = "OnOrder" }, field: "name"},
		{name: "a name starting with a dash is refused", mod: func(s *Subscription) { s.Name = "-x" }, field: "name"},
		{name: "a name of 64 characters is refused", mod: func(s *Subscription) { s.Name = strings.Repeat("a", 64) }, field: "name"},
		{name: "an empty name is refused", mod: func(s *Subscription) { s.Name = "" }, field: "name"},
		{name: "no owner is refused", mod: func(s *Subscription) { s.Owner = "" }, field: "owner"},
		{name: "no type is refused", mod: func(s *Subscription) { s.Filter.Type = "" }, field: "filter.type"},
		{name: "a star inside a type is refused", mod: func(s *Subscription) { s.Filter.Type = "com.*.order" }, field: "filter.type"},
		{name: "a prefix without a dot before its star is refused", mod: func(s *Subscription) { s.Filter.Type = "com.example*" }, field: "filter.type"},
		{name: "a bare .* is refused", mod: func(s *Subscription) { s.Filter.Type = ".*" }, field: "filter.type"},
		{name: "two stars are refused", mod: func(s *Subscription) { s.Filter.Type = "a.*.*" }, field: "filter.type"},
		{name: "a source past its bound is refused", mod: func(s *Subscription) { s.Filter.Source = strings.Repeat("s", MaxEventAttr+1) }, field: "filter.source"},
		{name: "no target is refused", mod: func(s *Subscription) { s.Target = DeliveryTarget{} }, field: "target"},
		{name: "a function and a workflow together are refused", mod: func(s *Subscription) { s.Target.Workflow = "wf" }, field: "target"},
		{name: "a function without its app is refused", mod: func(s *Subscription) { s.Target.App = "" }, field: "target.app"},
		{name: "a path without a slash is refused", mod: func(s *Subscription) { s.Target.Path = "on" }, field: "target.path"},
		{name: "no attempts are refused", mod: func(s *Subscription) { s.Retry.MaxAttempts = 0 }, field: "retry.max_attempts"},
		{name: "101 attempts are refused", mod: func(s *Subscription) { s.Retry.MaxAttempts = 101 }, field: "retry.max_attempts"},
		{name: "a first backoff under 100ms is refused", mod: func(s *Subscription) { s.Retry.Initial = 99 * time.Millisecond }, field: "retry.initial"},
		{name: "a longest backoff under the first is refused", mod: func(s *Subscription) { s.Retry.Max = 500 * time.Millisecond }, field: "retry.max"},
		{name: "a longest backoff over an hour is refused", mod: func(s *Subscription) { s.Retry.Max = 2 * time.Hour }, field: "retry.max"},
		{name: "an unknown dead-letter policy is refused", mod: func(s *Subscription) { s.DeadLetter = "drop" }, field: "dead_letter"},
		{name: "an unknown scope is refused", mod: func(s *Subscription) { s.Scope = "mine" }, field: "scope"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := validSubscription()
			tt.mod(&s)
			err := ValidateSubscription(s)
			if tt.field == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			var ve *ValidationError
			if !errors.As(err, &ve) || ve.Field != tt.field {
				t.Fatalf("err = %v, want a ValidationError of %q", err, tt.field)
			}
		})
	}
}

func TestEventMatch(t *testing.T) {
	ev := Event{Type: "com.example.order.created", Source: "/shop", Subject: "orders/42"}
	tests := []struct {
		name  string
		match EventMatch
		want  bool
	}{
		{name: "an exact type matches", match: EventMatch{Type: "com.example.order.created"}, want: true},
		{name: "another type does not match", match: EventMatch{Type: "com.example.order"}},
		{name: "a prefix matches a type under it", match: EventMatch{Type: "com.example.*"}, want: true},
		{name: "a prefix matches a type two levels under it", match: EventMatch{Type: "com.*"}, want: true},
		{name: "a prefix does not match a type that only starts with its letters", match: EventMatch{Type: "com.exam.*"}},
		{name: "a prefix does not match itself without a dot", match: EventMatch{Type: "com.example.order.created.*"}},
		{name: "a star matches every type", match: EventMatch{Type: "*"}, want: true},
		{name: "the same source matches", match: EventMatch{Type: "*", Source: "/shop"}, want: true},
		{name: "another source does not match", match: EventMatch{Type: "*", Source: "/shop/eu"}},
		{name: "a subject prefix matches", match: EventMatch{Type: "*", Subject: "orders/"}, want: true},
		{name: "another subject does not match", match: EventMatch{Type: "*", Subject: "invoices/"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.match.Matches(ev); got != tt.want {
				t.Fatalf("%+v matches %v, want %v", tt.match, got, tt.want)
			}
		})
	}
}

func TestValidateEvent(t *testing.T) {
	ok := Event{EventID: "1", Source: "/s", Type: "t", SpecVersion: "1.0"}
	tests := []struct {
		name  string
		mod   func(*Event)
		field string
	}{
		{name: "a complete event is valid", mod: func(*Event) {}},
		{name: "no id is refused", mod: func(e *Event) { e.EventID = "" }, field: "id"},
		{name: "a NUL in the id is refused", mod: func(e *Event) { e.EventID = "a\x00b" }, field: "id"},
		{name: "invalid UTF-8 in the source is refused", mod: func(e *Event) { e.Source = "/a\xffb" }, field: "source"},
		{name: "a C1 control character in the subject is refused", mod: func(e *Event) { e.Subject = "a\u0085b" }, field: "subject"},
		{name: "a newline in an extension's value is refused", mod: func(e *Event) { e.Extensions = map[string]string{"tenant": "a\nb"} }, field: "tenant"},
		{name: "non-ASCII letters are valid", mod: func(e *Event) { e.Subject = "commandes/é/ü" }},
		{name: "no source is refused", mod: func(e *Event) { e.Source = "" }, field: "source"},
		{name: "no type is refused", mod: func(e *Event) { e.Type = "" }, field: "type"},
		{name: "no specversion is refused", mod: func(e *Event) { e.SpecVersion = "" }, field: "specversion"},
		{name: "specversion 0.3 is refused", mod: func(e *Event) { e.SpecVersion = "0.3" }, field: "specversion"},
		{name: "a subject past its bound is refused", mod: func(e *Event) { e.Subject = strings.Repeat("s", MaxEventAttr+1) }, field: "subject"},
		{name: "an extension named as a core attribute is refused", mod: func(e *Event) { e.Extensions = map[string]string{"time": "x"} }, field: "time"},
		{name: "an extension with a dash is refused", mod: func(e *Event) { e.Extensions = map[string]string{"my-ext": "x"} }, field: "my-ext"},
		{name: "20 extensions of 1000 bytes are refused by their total", mod: func(e *Event) { e.Extensions = extensions(20, strings.Repeat("x", 1000)) }, field: "attributes"},
		{name: "extensions within the total are valid", mod: func(e *Event) { e.Extensions = extensions(15, strings.Repeat("x", 1000)) }},
		{name: "a total counted as percent-encoded is refused", mod: func(e *Event) { e.Extensions = extensions(6, strings.Repeat("é", 500)) }, field: "attributes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := ok
			tt.mod(&e)
			err := ValidateEvent(e)
			var ve *ValidationError
			switch {
			case tt.field == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tt.field != "" && (!errors.As(err, &ve) || ve.Field != tt.field):
				t.Fatalf("err = %v, want a ValidationError of %q", err, tt.field)
			}
		})
	}
}

// extensions are n extensions, e0 to e<n-1>, of value v.
func extensions(n int, v string) map[string]string {
	m := map[string]string{}
	for i := range n {
		m[fmt.Sprintf("e%d", i)] = v
	}
	return m
}

func TestRetryPolicyDelayDoublesUpToItsMax(t *testing.T) {
	p := RetryPolicy{MaxAttempts: 100, Initial: time.Second, Max: 5 * time.Second}
	for attempt, want := range map[int]time.Duration{1: time.Second, 2: 2 * time.Second, 3: 4 * time.Second, 4: 5 * time.Second, 100: 5 * time.Second} {
		if got := p.Delay(attempt); got != want {
			t.Errorf("Delay(%d) = %s, want %s", attempt, got, want)
		}
	}
	huge := RetryPolicy{Initial: time.Hour, Max: 1 << 62}
	if got := huge.Delay(100); got <= 0 {
		t.Errorf("an unbounded Max overflows: Delay(100) = %s", got)
	}
}
