package handlers

import (
	"context"
	"testing"
)

// TestAScheduleTargetsItsOwnersResourcesOnly: a schedule fires as its owner, so its target
// must be its owner's, whoever writes it: an admin may not point a schedule at another's
// app or workflow, nor give a schedule to an owner whose target it is not.
func TestAScheduleTargetsItsOwnersResourcesOnly(t *testing.T) {
	f := eventsFixture(t)
	expect(t, f.as(t, f.alice, "POST", "/v1/schedules", `{"schedule":{"name":"alices","cron":"@hourly","target":{"call":{"app":"shop","path":"/orders"}}}}`), 201)
	for _, tt := range []struct {
		name, token, method, path, body string
		status                          int
		field                           string
	}{
		{"an admin's schedule calling alice's function", f.admin, "POST", "/v1/schedules",
			`{"schedule":{"name":"root","cron":"@hourly","target":{"call":{"app":"shop","path":"/orders"}}}}`, 400, "schedule.target.call.app"},
		{"alice's schedule given to bob, whose app it does not call", f.admin, "PATCH", "/v1/schedules/alices",
			`{"schedule":{"owner":"bob"}}`, 400, "schedule.target.call.app"},
	} {
		t.Run(tt.name+" is refused", func(t *testing.T) {
			res := f.as(t, tt.token, tt.method, tt.path, tt.body)
			expect(t, res, tt.status)
			if fields, _ := get(res.body, "error", "fields").(string); fields != tt.field {
				t.Errorf("fields %q, want %q: %s", fields, tt.field, res.raw)
			}
		})
	}
	if sc, err := f.s.GetSchedule(context.Background(), "alices"); err != nil || sc.Owner != "alice" {
		t.Fatalf("alice's schedule after the refused patch: %+v, %v", sc, err)
	}
	// An event schedule fits any owner: given to bob, it is bob's.
	res := f.as(t, f.admin, "PATCH", "/v1/schedules/alices", `{"schedule":{"owner":"bob","target":{"event":{"type":"com.bob.tick"}}}}`)
	expect(t, res, 200)
	if get(res.body, "schedule", "owner") != "bob" {
		t.Fatalf("patch: %s", res.raw)
	}
}

// TestAnAdminsOwnEventSchedulePublishesPublicEvents: the events of an event schedule
// are public when an admin wrote it as its own (as an admin's publishes are), not when a
// developer did, nor when an admin wrote a developer's.
func TestAnAdminsOwnEventSchedulePublishesPublicEvents(t *testing.T) {
	f := eventsFixture(t)
	expect(t, f.as(t, f.admin, "POST", "/v1/schedules", `{"schedule":{"name":"ops","cron":"@hourly","target":{"event":{"type":"com.ops.tick"}}}}`), 201)
	expect(t, f.as(t, f.alice, "POST", "/v1/schedules", `{"schedule":{"name":"alices","cron":"@hourly","target":{"event":{"type":"com.alice.tick"}}}}`), 201)
	expect(t, f.as(t, f.admin, "POST", "/v1/schedules", `{"schedule":{"name":"given","cron":"@hourly","target":{"event":{"type":"com.ops.tick"}}}}`), 201)
	expect(t, f.as(t, f.admin, "PATCH", "/v1/schedules/given", `{"schedule":{"owner":"alice"}}`), 200)
	for name, want := range map[string]bool{"ops": true, "alices": false, "given": false} {
		sc, err := f.s.GetSchedule(context.Background(), name)
		if err != nil || sc.Target.Event == nil || sc.Target.Event.Public != want {
			t.Errorf("schedule %s: %+v, %v; want public %v", name, sc.Target.Event, err, want)
		}
	}
}
