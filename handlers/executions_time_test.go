package handlers

import (
	"context"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/store"
)

// TestListExecutionsTimeWindow lists the executions created in a window (since, until),
// with the other filters and pages, and refuses a window that is not one.
func TestListExecutionsTimeWindow(t *testing.T) {
	h, s := newExecutionsTestHandler(t)
	ids := store.NewIDs()
	base := time.Now().UTC().Truncate(time.Hour).Add(-20 * time.Hour)
	at := func(i int) time.Time { return base.Add(time.Duration(i) * time.Hour) }
	var seeded []string // oldest first
	for i := range 10 {
		ex := store.Execution{ID: ids.Next(at(i)), App: []string{"a", "b"}[i%2], Route: "/x", Type: store.TypeSync,
			Status: store.StatusSuccess, CreatedAt: at(i), StartedAt: at(i), CompletedAt: at(i).Add(time.Second)}
		s.RecordExecution(ex, nil)
		seeded = append(seeded, ex.ID)
	}
	if err := s.FlushExecutions(context.Background()); err != nil {
		t.Fatal(err)
	}
	// Three workflow runs, made now (the store names them), the times marks[i] before runs[i].
	var runs []string // oldest first
	var marks []time.Time
	for range 3 {
		time.Sleep(3 * time.Millisecond)
		marks = append(marks, time.Now())
		time.Sleep(3 * time.Millisecond)
		run, _, err := s.CreateRun(context.Background(), store.Run{Workflow: "flow", Owner: "admin", TriggeredBy: "admin", Status: store.StatusQueued},
			[]store.RunEvent{{Type: store.EventQueued, Time: time.Now()}})
		if err != nil {
			t.Fatal(err)
		}
		runs = append(runs, run.ID)
	}
	allRuns := []string{runs[2], runs[1], runs[0]}
	nano := func(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }
	newest := func(keep func(i int) bool) []string {
		out := []string{}
		for i := len(seeded) - 1; i >= 0; i-- {
			if keep(i) {
				out = append(out, seeded[i])
			}
		}
		return out
	}
	q := func(kv ...string) string {
		v := url.Values{}
		for i := 0; i+1 < len(kv); i += 2 {
			v.Set(kv[i], kv[i+1])
		}
		return "?" + v.Encode()
	}
	rfc := func(t time.Time) string { return t.Format(time.RFC3339) }
	tests := []struct {
		name, query string
		want        []string
	}{
		{"since", q("since", rfc(at(6))), append(allRuns, newest(func(i int) bool { return i >= 6 })...)},
		{"until", q("until", rfc(at(3))), newest(func(i int) bool { return i < 3 })},
		{"window", q("since", rfc(at(2)), "until", rfc(at(7))), newest(func(i int) bool { return i >= 2 && i < 7 })},
		{"window in another zone", q("since", at(2).In(time.FixedZone("X", 5*3600)).Format(time.RFC3339), "until", rfc(at(12))),
			newest(func(i int) bool { return i >= 2 })},
		{"window and app", q("app", "a", "since", rfc(at(3)), "until", rfc(at(9))), newest(func(i int) bool { return i%2 == 0 && i >= 3 && i < 9 })},
		{"window and kind call", q("kind", "call", "since", rfc(at(8))), newest(func(i int) bool { return i >= 8 })},
		{"runs of a past window", q("kind", "workflow", "since", rfc(at(1)), "until", rfc(at(9))), []string{}},
		{"runs since", q("kind", "workflow", "since", nano(marks[1])), []string{runs[2], runs[1]}},
		{"runs until", q("workflow", "flow", "until", nano(marks[1])), []string{runs[0]}},
		{"runs in a window", q("kind", "workflow", "since", nano(marks[1]), "until", nano(marks[2])), []string{runs[1]}},
		{"calls and runs in a window", q("since", rfc(at(9)), "until", nano(marks[2])), []string{runs[1], runs[0], seeded[9]}},
		{"no execution in the window", q("since", rfc(at(30))), []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := do(t, h, "GET", "/v1/executions"+tt.query, "")
			expect(t, res, 200)
			if got := listedIDs(t, res); strings.Join(got, ",") != strings.Join(tt.want, ",") {
				t.Fatalf("got %v\nwant %v", got, tt.want)
			}
		})
	}

	// Pages of 2 of a window: every execution once, none outside it.
	var got []string
	path := "/v1/executions" + q("since", rfc(at(1)), "until", rfc(at(8)), "per_page", "2")
	for range 10 {
		res := do(t, h, "GET", path, "")
		expect(t, res, 200)
		got = append(got, listedIDs(t, res)...)
		next, _ := get(res.body, "next_cursor").(string)
		if next == "" {
			break
		}
		path = "/v1/executions" + q("since", rfc(at(1)), "until", rfc(at(8)), "per_page", "2", "cursor", next)
	}
	if want := newest(func(i int) bool { return i >= 1 && i < 8 }); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("pages: got %v\nwant %v", got, want)
	}
	// Pages of 2 of calls and runs merged.
	got = nil
	path = "/v1/executions" + q("since", rfc(at(7)), "per_page", "2")
	for range 10 {
		res := do(t, h, "GET", path, "")
		expect(t, res, 200)
		got = append(got, listedIDs(t, res)...)
		next, _ := get(res.body, "next_cursor").(string)
		if next == "" {
			break
		}
		path = "/v1/executions" + q("since", rfc(at(7)), "per_page", "2", "cursor", next)
	}
	if want := append(allRuns, newest(func(i int) bool { return i >= 7 })...); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("pages: got %v\nwant %v", got, want)
	}

	for _, bad := range []struct{ query, field string }{
		{q("since", "yesterday"), "since"},
		{q("until", "2025-13-01T00:00:00Z"), "until"},
		{q("since", rfc(at(5)), "until", rfc(at(5))), "until"},
		{q("since", rfc(at(5)), "until", rfc(at(4))), "until"},
	} {
		res := do(t, h, "GET", "/v1/executions"+bad.query, "")
		expect(t, res, 400)
		if fields, _ := get(res.body, "error", "fields").(string); fields != bad.field {
			t.Errorf("%s: error names %q, want %q: %s", bad.query, fields, bad.field, res.raw)
		}
	}
}
