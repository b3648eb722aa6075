package schedule

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/store"
)

// callSchedule is a valid enabled schedule calling shop/hook, changed by mod.
func callSchedule(mod func(*store.Schedule)) store.Schedule {
	s := store.Schedule{Name: "nightly", Owner: "ada", Cron: "0 3 * * *", Enabled: true,
		Target: store.ScheduleTarget{Call: &store.ScheduledCall{App: "shop", Path: "/hook"}}}
	if mod != nil {
		mod(&s)
	}
	return s
}

func TestCheckDefaults(t *testing.T) {
	now := time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)
	s := callSchedule(nil)
	if err := Check(&s, now); err != nil {
		t.Fatal(err)
	}
	switch {
	case s.Missed != store.MissedSkip:
		t.Errorf("missed = %q, want skip", s.Missed)
	case s.Timezone != "UTC":
		t.Errorf("timezone = %q, want UTC", s.Timezone)
	case s.Target.Call.Method != "POST":
		t.Errorf("method = %q, want POST", s.Target.Call.Method)
	case !s.NextRun.Equal(time.Date(2026, 5, 2, 3, 0, 0, 0, time.UTC)):
		t.Errorf("next_run = %s, want the first 03:00 after now", s.NextRun)
	}
}

func TestCheckNextRun(t *testing.T) {
	now := time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)
	cases := []struct {
		name string
		mod  func(*store.Schedule)
		want time.Time
	}{
		{name: "a disabled schedule has no next run", mod: func(s *store.Schedule) { s.Enabled = false; s.NextRun = now }},
		{name: "the next run is in the schedule's time zone", mod: func(s *store.Schedule) { s.Timezone = "Asia/Tokyo" },
			want: time.Date(2026, 5, 1, 18, 0, 0, 0, time.UTC)},
		{name: "a next run sent by the caller is replaced", mod: func(s *store.Schedule) { s.NextRun = now.Add(time.Minute) },
			want: time.Date(2026, 5, 2, 3, 0, 0, 0, time.UTC)},
		{name: "@every counts from the round interval", mod: func(s *store.Schedule) { s.Cron = "@every 10s" },
			want: now.Add(10 * time.Second)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := callSchedule(tc.mod)
			if err := Check(&s, now); err != nil {
				t.Fatal(err)
			}
			if !s.NextRun.Equal(tc.want) {
				t.Fatalf("next_run = %s, want %s", s.NextRun, tc.want)
			}
		})
	}
}

func TestCheckRefuses(t *testing.T) {
	now := time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)
	cases := []struct {
		name  string
		mod   func(*store.Schedule)
		field string
	}{
		{name: "a name with capitals", mod: func(s *store.Schedule) { s.Name = "Nightly" }, field: "name"},
		{name: "an empty name", mod: func(s *store.Schedule) { s.Name = "" }, field: "name"},
		{name: "a name of 64 characters", mod: func(s *store.Schedule) { s.Name = strings.Repeat("a", 64) }, field: "name"},
		{name: "an empty cron", mod: func(s *store.Schedule) { s.Cron = " " }, field: "cron"},
		{name: "a cron of four fields", mod: func(s *store.Schedule) { s.Cron = "* * * *" }, field: "cron"},
		{name: "a cron of seven fields", mod: func(s *store.Schedule) { s.Cron = "0 0 0 * * * *" }, field: "cron"},
		{name: "a minute out of range", mod: func(s *store.Schedule) { s.Cron = "61 * * * *" }, field: "cron"},
		{name: "an unknown descriptor", mod: func(s *store.Schedule) { s.Cron = "@fortnightly" }, field: "cron"},
		{name: "a CRON_TZ prefix", mod: func(s *store.Schedule) { s.Cron = "CRON_TZ=Europe/Paris 0 3 * * *" }, field: "cron"},
		{name: "a TZ prefix", mod: func(s *store.Schedule) { s.Cron = "TZ=Europe/Paris 0 3 * * *" }, field: "cron"},
		{name: "@every under a second", mod: func(s *store.Schedule) { s.Cron = "@every 500ms" }, field: "cron"},
		{name: "@every with a fraction of a second", mod: func(s *store.Schedule) { s.Cron = "@every 1500ms" }, field: "cron"},
		{name: "a date that never comes", mod: func(s *store.Schedule) { s.Cron = "0 0 30 2 *" }, field: "cron"},
		{name: "an unknown time zone", mod: func(s *store.Schedule) { s.Timezone = "Mars/Olympus" }, field: "timezone"},
		{name: "the server's local zone", mod: func(s *store.Schedule) { s.Timezone = "Local" }, field: "timezone"},
		{name: "an unknown missed policy", mod: func(s *store.Schedule) { s.Missed = "all" }, field: "missed"},
		{name: "no target", mod: func(s *store.Schedule) { s.Target = store.ScheduleTarget{} }, field: "target"},
		{name: "two targets", mod: func(s *store.Schedule) { s.Target.Event = &store.ScheduledEvent{Type: "t"} }, field: "target"},
		{name: "a call without an app", mod: func(s *store.Schedule) { s.Target.Call.App = "" }, field: "target.call.app"},
		{name: "a call of a path without its slash", mod: func(s *store.Schedule) { s.Target.Call.Path = "hook" }, field: "target.call.path"},
		{name: "a call with a method in lower case", mod: func(s *store.Schedule) { s.Target.Call.Method = "post" }, field: "target.call.method"},
		{name: "a call with a header value holding a newline", mod: func(s *store.Schedule) { s.Target.Call.Header = map[string][]string{"X-A": {"a\nb"}} }, field: "target.call.header"},
		{name: "a call with a bad header name", mod: func(s *store.Schedule) { s.Target.Call.Header = map[string][]string{"X A": {"a"}} }, field: "target.call.header"},
		{name: "a call with a body too big", mod: func(s *store.Schedule) { s.Target.Call.Body = make([]byte, MaxBody+1) }, field: "target.call.body"},
		{name: "a workflow without a name", mod: func(s *store.Schedule) {
			s.Target = store.ScheduleTarget{Workflow: &store.ScheduledWorkflow{}}
		}, field: "target.workflow.name"},
		{name: "a workflow with inputs that are not JSON", mod: func(s *store.Schedule) {
			s.Target = store.ScheduleTarget{Workflow: &store.ScheduledWorkflow{Name: "w", Inputs: json.RawMessage("{")}}
		}, field: "target.workflow.inputs"},
		{name: "an event without a type", mod: func(s *store.Schedule) {
			s.Target = store.ScheduleTarget{Event: &store.ScheduledEvent{}}
		}, field: "target.event.type"},
		{name: "an event with a subject holding a newline", mod: func(s *store.Schedule) {
			s.Target = store.ScheduleTarget{Event: &store.ScheduledEvent{Type: "t", Subject: "a\nb"}}
		}, field: "target.event.subject"},
		{name: "an event with data that is not JSON", mod: func(s *store.Schedule) {
			s.Target = store.ScheduleTarget{Event: &store.ScheduledEvent{Type: "t", Data: json.RawMessage("nope")}}
		}, field: "target.event.data"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := callSchedule(tc.mod)
			err := Check(&s, now)
			var ve *store.ValidationError
			if !errors.As(err, &ve) || !errors.Is(err, store.ErrInvalid) {
				t.Fatalf("Check = %v, want a validation error", err)
			}
			if ve.Field != tc.field {
				t.Fatalf("field = %q, want %q (%v)", ve.Field, tc.field, err)
			}
		})
	}
}

func TestCheckAccepts(t *testing.T) {
	now := time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)
	cases := []struct {
		name string
		mod  func(*store.Schedule)
	}{
		{name: "six fields with seconds first", mod: func(s *store.Schedule) { s.Cron = "30 0 3 * * *" }},
		{name: "@every 30s", mod: func(s *store.Schedule) { s.Cron = "@every 30s" }},
		{name: "@every 1h30m", mod: func(s *store.Schedule) { s.Cron = "@every 1h30m" }},
		{name: "@hourly", mod: func(s *store.Schedule) { s.Cron = "@hourly" }},
		{name: "@daily in a time zone", mod: func(s *store.Schedule) { s.Cron = "@daily"; s.Timezone = "America/New_York" }},
		{name: "named days and months", mod: func(s *store.Schedule) { s.Cron = "0 9 * JAN-MAR MON-FRI" }},
		{name: "missed run_once", mod: func(s *store.Schedule) { s.Missed = store.MissedRunOnce }},
		{name: "a call with a method, headers and a body", mod: func(s *store.Schedule) {
			s.Target.Call.Method, s.Target.Call.Header, s.Target.Call.Body = "PUT", map[string][]string{"X-Kind": {"nightly"}}, []byte("{}")
		}},
		{name: "a workflow with inputs", mod: func(s *store.Schedule) {
			s.Target = store.ScheduleTarget{Workflow: &store.ScheduledWorkflow{Name: "report", Inputs: json.RawMessage(`{"day":1}`)}}
		}},
		{name: "an event with a subject and data", mod: func(s *store.Schedule) {
			s.Target = store.ScheduleTarget{Event: &store.ScheduledEvent{Type: "com.example.tick", Subject: "x", Data: json.RawMessage(`{"a":1}`)}}
		}},
		{name: "a name with dots, dashes and underscores", mod: func(s *store.Schedule) { s.Name = "a.b-c_d" }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := callSchedule(tc.mod)
			if err := Check(&s, now); err != nil {
				t.Fatal(err)
			}
			if !s.NextRun.After(now) {
				t.Fatalf("next_run = %s, want after now", s.NextRun)
			}
		})
	}
}
