package handlers

import (
	"context"
	"testing"
)

// TestScopeAllIsAnAdminsOwn: a subscription of scope all receives every event, so it is
// an admin's own: an admin may not give one to another owner, nor set scope all on
// another's subscription.
func TestScopeAllIsAnAdminsOwn(t *testing.T) {
	f := eventsFixture(t)
	expect(t, f.as(t, f.admin, "POST", "/v1/subscriptions",
		`{"subscription":{"name":"audit","scope":"all","filter":{"type":"*"},"target":{"function":{"app":"shop","path":"/orders"}}}}`), 201)
	for _, tt := range []struct {
		name, path, body string
		field            string
	}{
		{"a scope-all subscription given to a developer", "/v1/subscriptions/audit", `{"subscription":{"owner":"alice"}}`, "subscription.owner"},
		{"a scope-all subscription given to a developer with its other fields", "/v1/subscriptions/audit", `{"subscription":{"owner":"alice","enabled":false}}`, "subscription.owner"},
		{"scope all set on a developer's subscription", "/v1/subscriptions/orders", `{"subscription":{"scope":"all"}}`, "subscription.scope"},
	} {
		t.Run(tt.name+" is refused", func(t *testing.T) {
			res := f.as(t, f.admin, "PATCH", tt.path, tt.body)
			expect(t, res, 400)
			if fields, _ := get(res.body, "error", "fields").(string); fields != tt.field {
				t.Errorf("fields %q, want %q: %s", fields, tt.field, res.raw)
			}
		})
	}
	for name, owner := range map[string]string{"audit": "admin", "orders": "alice"} {
		if sub, err := f.s.GetSubscription(context.Background(), name); err != nil || sub.Owner != owner || (name == "orders") != (sub.Scope == "own") {
			t.Errorf("subscription %s after the refused patches: %+v, %v", name, sub, err)
		}
	}
	// Set to scope own first, it may be given away (its target is then the new owner's).
	expect(t, f.as(t, f.admin, "PATCH", "/v1/subscriptions/audit", `{"subscription":{"scope":"own","owner":"alice"}}`), 200)
}
