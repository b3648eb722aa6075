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
	base := time.Date(2025, 3, 4, 10, 0, 0, 0, time.UTC)
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
		for i := 0; i < len(kv); i += 2 {
			v.Set(kv[i], kv[i+1])
		}
		return "?" + v.Encode()
	}
	rfc := func(t time.Time) string { return t.Format(time.RFC3339) }
	tests := []struct {
		name, query string
		want        []string
	}{
		{"since", q("since", rfc(at(6))), newest(func(i int) bool { return i >= 6 })},
		{"until", q("until", rfc(at(3))), newest(func(i int) bool { return i < 3 })},
		{"window", q("since", rfc(at(2)), "until", rfc(at(7))), newest(func(i int) bool { return i >= 2 && i < 7 })},
		{"window in another zone", q("since", at(2).In(time.FixedZone("X", 5*3600)).Format(time.RFC3339)), newest(func(i int) bool { return i >= 2 })},
		{"window and app", q("app", "a", "since", rfc(at(3)), "until", rfc(at(9))), newest(func(i int) bool { return i%2 == 0 && i >= 3 && i < 9 })},
		{"window and kind call", q("kind", "call", "since", rfc(at(8))), newest(func(i int) bool { return i >= 8 })},
		{"window of workflow runs", q("kind", "workflow", "since", rfc(at(1))), []string{}},
		{"no execution in the window", q("since", rfc(at(20))), []string{}},
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
