package events

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/invoke"
	"github.com/gantry-dev/gantry/runner"
	"github.com/gantry-dev/gantry/store"
)

// TestAnEventWithinItsBoundsFitsADefaultFormatDelivery: store.ValidateEvent bounds an
// event's attributes so that the call that delivers any valid event to a default-format
// function fits its environment (runner.CheckCallEnv): a delivery is never refused for the
// event's size after the publish was answered.
func TestAnEventWithinItsBoundsFitsADefaultFormatDelivery(t *testing.T) {
	long := func(unit string) string { // the longest value of unit that an attribute takes
		return strings.Repeat(unit, store.MaxEventAttr/len(unit))
	}
	tests := []struct {
		name  string
		value string // of each attribute, as many as the total takes
	}{
		{name: "ASCII values", value: long("x")},
		{name: "values the header percent-encodes", value: long("é")},
		{name: "values of spaces and percent signs", value: long(" %")},
		{name: "short values, as many extensions as an event takes", value: "v"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev := store.Event{EventID: tt.value, Source: tt.value, Type: tt.value, SpecVersion: "1.0", Subject: tt.value, DataSchema: tt.value,
				Time: time.Date(2026, 1, 2, 3, 4, 5, 999999999, time.UTC), DataContentType: "text/plain; charset=utf-8", Extensions: map[string]string{}}
			if err := store.ValidateEvent(ev); err != nil {
				ev.Subject, ev.DataSchema = "", ""
			}
			for i := 0; len(ev.Extensions) < store.MaxEventExtensions; i++ { // extensions of 20-byte names, while the event is valid
				name := fmt.Sprintf("x%019d", i)
				ev.Extensions[name] = tt.value
				if store.ValidateEvent(ev) != nil {
					delete(ev.Extensions, name)
					break
				}
			}
			if err := store.ValidateEvent(ev); err != nil {
				t.Fatal(err)
			}
			if n := store.EventAttributeBytes(ev); n < store.MaxEventAttributeBytes*3/4 && len(ev.Extensions) < store.MaxEventExtensions {
				t.Fatalf("the event takes %d bytes, far from the bound %d: not a test of it", n, store.MaxEventAttributeBytes)
			}
			header := invoke.BinaryHeader(ev)
			if err := runner.CheckCallEnv("/fn", nil, header); err != nil {
				t.Fatalf("a valid event of %d attribute bytes does not fit a default-format call: %v", store.EventAttributeBytes(ev), err)
			}
		})
	}
}

// TestAPublishLeavesOutOnlyTheSubscriptionsWhoseTargetIsGone: a subscription whose target
// can no longer be called (its route deleted, or on a network its owner may no longer
// use) is left out of a publish; the others get their deliveries.
func TestAPublishLeavesOutOnlyTheSubscriptionsWhoseTargetIsGone(t *testing.T) {
	svc, st := checkEnvStore(t)
	for _, s := range []store.Subscription{
		{Name: "a-live", Owner: "ada", Enabled: true, Filter: store.EventMatch{Type: "t"}, Target: store.DeliveryTarget{App: "shop", Path: "/on"}},
		{Name: "b-gone", Owner: "ada", Enabled: true, Filter: store.EventMatch{Type: "t"}, Target: store.DeliveryTarget{App: "shop", Path: "/gone"}},
		{Name: "c-private", Owner: "ada", Enabled: true, Filter: store.EventMatch{Type: "t"}, Target: store.DeliveryTarget{App: "shop", Path: "/private"}},
	} {
		s.Retry, s.DeadLetter, s.Scope = DefaultRetry, store.DeadLetterKeep, store.ScopeOwn
		if _, err := st.CreateSubscription(t.Context(), s); err != nil { // stored as they were before their target changed
			t.Fatal(err)
		}
	}
	pubs, err := svc.Publish(t.Context(), []store.Event{{EventID: "1", Source: "/s", Type: "t", SpecVersion: "1.0", Owner: "ada"}})
	if err != nil {
		t.Fatal(err)
	}
	if ds := pubs[0].Deliveries; len(ds) != 1 || ds[0].Subscription != "a-live" {
		t.Fatalf("deliveries %+v, want one, to a-live", ds)
	}
}

// TestAPublishThatCannotMakeADeliveryFails: a delivery that cannot be made for another
// reason than a gone target fails the publish, which stores nothing, rather than answer
// it without that delivery.
func TestAPublishThatCannotMakeADeliveryFails(t *testing.T) {
	svc, st := checkEnvStore(t)
	s := store.Subscription{Name: "big", Owner: "ada", Enabled: true, Filter: store.EventMatch{Type: "t"}, Target: store.DeliveryTarget{App: "shop", Path: "/on"},
		Retry: DefaultRetry, DeadLetter: store.DeadLetterKeep, Scope: store.ScopeOwn}
	if _, err := st.CreateSubscription(t.Context(), s); err != nil {
		t.Fatal(err)
	}
	ev := store.Event{EventID: "1", Source: "/s", Type: "t", SpecVersion: "1.0", Owner: "ada"}
	// An event whose delivery breaks the default format's bound (only a bug in the bound
	// could let one through store.ValidateEvent): built past the service's check.
	ev.Extensions = map[string]string{}
	for i := range 30 { // 30,000 bytes, three times in the environment: over runner.MaxHeaderEnvBytes
		ev.Extensions[fmt.Sprintf("e%d", i)] = strings.Repeat("x", 1000)
	}
	_, err := svc.publish(t.Context(), []store.Event{ev})
	if !errors.Is(err, runner.ErrHeadersTooLarge) || !strings.Contains(err.Error(), `subscription "big"`) {
		t.Fatalf("err = %v, want the delivery's ErrHeadersTooLarge naming the subscription", err)
	}
	if evs, _, err := st.ListEvents(t.Context(), store.EventFilter{}, store.Page{Limit: 10}); err != nil || len(evs) != 0 {
		t.Fatalf("events stored: %v, %v", evs, err)
	}
}
