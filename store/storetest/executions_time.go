package storetest

import (
	"slices"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/store"
)

func executionTimeCases() []testCase {
	return []testCase{
		{
			name:   "executions are listed within a time window (Since, Until), filtered and a page at a time",
			covers: []string{"ListExecutions", "RecordExecution", "FlushExecutions"},
			run:    testListExecutionsInTime,
		},
	}
}

// testListExecutionsInTime records executions a minute apart (their IDs made at their
// creation time), the newest still pending, and lists time windows of them.
func testListExecutionsInTime(t *testing.T, s store.Store) {
	ids := store.NewIDs()
	base := time.Now().UTC().Add(-2 * time.Hour).Truncate(time.Millisecond)
	at := func(i int) time.Time { return base.Add(time.Duration(i) * time.Minute) }
	type rec struct {
		id, app, route, status string
		i                      int
	}
	var all []rec
	statuses := []string{store.StatusSuccess, store.StatusFailed}
	for i := range 40 {
		ex := store.Execution{ID: ids.Next(at(i)), App: []string{"a", "b"}[i%2], Route: []string{"/x", "/y"}[(i/2)%2],
			Type: store.TypeSync, Status: statuses[(i/4)%2], CreatedAt: at(i), StartedAt: at(i), CompletedAt: at(i).Add(time.Second)}
		s.RecordExecution(ex, nil)
		all = append(all, rec{ex.ID, ex.App, ex.Route, ex.Status, i})
		if i == 29 {
			flush(t, s) // the newest 10 stay pending (or partly committed): lists merge both
		}
	}
	want := func(keep func(r rec) bool) []string {
		var out []string
		for _, r := range all {
			if keep(r) {
				out = append(out, r.id)
			}
		}
		return reversed(out)
	}
	tests := []struct {
		name string
		f    store.ExecutionFilter
		want []string
	}{
		{"since", store.ExecutionFilter{Since: at(25)}, want(func(r rec) bool { return r.i >= 25 })},
		{"since, between two", store.ExecutionFilter{Since: at(25).Add(-30 * time.Second)}, want(func(r rec) bool { return r.i >= 25 })},
		{"until", store.ExecutionFilter{Until: at(12)}, want(func(r rec) bool { return r.i < 12 })},
		{"since and until", store.ExecutionFilter{Since: at(5), Until: at(35)}, want(func(r rec) bool { return r.i >= 5 && r.i < 35 })},
		{"window and app", store.ExecutionFilter{App: "a", Since: at(10), Until: at(38)},
			want(func(r rec) bool { return r.app == "a" && r.i >= 10 && r.i < 38 })},
		{"window, app and route (index)", store.ExecutionFilter{App: "b", Route: "/y", Since: at(3), Until: at(33)},
			want(func(r rec) bool { return r.app == "b" && r.route == "/y" && r.i >= 3 && r.i < 33 })},
		{"window and status", store.ExecutionFilter{Status: store.StatusFailed, Since: at(6)},
			want(func(r rec) bool { return r.status == store.StatusFailed && r.i >= 6 })},
		{"window of owned apps", store.ExecutionFilter{Apps: map[string]string{"b": ""}, Until: at(20)},
			want(func(r rec) bool { return r.app == "b" && r.i < 20 })},
		{"window in the future", store.ExecutionFilter{Since: time.Now().Add(time.Hour)}, nil},
		{"window before every execution", store.ExecutionFilter{Until: base}, nil},
		{"empty window", store.ExecutionFilter{Since: at(20), Until: at(20)}, nil},
	}
	for _, stage := range []string{"partly pending", "committed"} {
		for _, tt := range tests {
			t.Run(stage+"/"+tt.name, func(t *testing.T) {
				for _, perPage := range []int{1, 7, 100} {
					got, pages := listAll(t, s, tt.f, perPage)
					if !slices.Equal(got, tt.want) {
						t.Fatalf("per_page %d: got %d IDs %v\nwant newest first %d: %v", perPage, len(got), got, len(tt.want), tt.want)
					}
					if wantPages := max(1, (len(tt.want)+perPage-1)/perPage); pages != wantPages {
						t.Fatalf("per_page %d: %d pages, want %d", perPage, pages, wantPages)
					}
				}
			})
		}
		flush(t, s)
	}
}
