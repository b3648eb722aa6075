package storetest

import (
	"errors"
	"slices"
	"testing"

	"github.com/gantry-dev/gantry/store"
)

func retentionCases() []testCase {
	return []testCase{
		{
			name:   "PruneExecutions keeps the newest executions of each route and never deletes one that is not final",
			covers: []string{"PruneExecutions", "GetExecutionLog", "ListExecutions"},
			run:    testPruneExecutions,
		},
	}
}

func testPruneExecutions(t *testing.T, s store.Store) {
	ctx := t.Context()
	var x, y []store.Execution // oldest first
	for i := range 30 {
		status := store.StatusSuccess
		if i%10 == 0 {
			status = store.StatusRunning // never pruned, however old
		}
		ex := newExec(s, "app", "/x", status)
		s.RecordExecution(ex, []byte("log"))
		x = append(x, ex)
		if i < 3 {
			ey := newExec(s, "app", "/y", store.StatusFailed)
			s.RecordExecution(ey, []byte("log"))
			y = append(y, ey)
		}
	}
	q := newExec(s, "other", "/x", store.StatusQueued)
	s.RecordExecution(q, nil)
	flush(t, s)

	n, err := s.PruneExecutions(ctx, 5)
	if err != nil {
		t.Fatal(err)
	}
	// /x keeps its newest 5 (25..29) and the unfinished 0, 10, 20; /y and other keep all.
	if n != 22 {
		t.Fatalf("deleted %d, want 22", n)
	}
	var want []string
	for i, ex := range x {
		if i >= 25 || i%10 == 0 {
			want = append(want, ex.ID)
		}
	}
	got, _ := listAll(t, s, store.ExecutionFilter{App: "app", Route: "/x"}, 100)
	if !slices.Equal(got, reversed(want)) {
		t.Fatalf("kept %v, want %v", got, reversed(want))
	}
	var wantY []string
	for _, ey := range y {
		wantY = append(wantY, ey.ID)
	}
	if got, _ := listAll(t, s, store.ExecutionFilter{App: "app", Route: "/y"}, 100); !slices.Equal(got, reversed(wantY)) {
		t.Fatalf("/y kept %v, want all of %v", got, reversed(wantY))
	}
	if got, _ := listAll(t, s, store.ExecutionFilter{}, 100); len(got) != 8+3+1 {
		t.Fatalf("%d executions left, want 12", len(got))
	}
	for _, id := range append(want, wantY...) {
		if log, err := s.GetExecutionLog(ctx, id); err != nil || string(log) != "log" {
			t.Fatalf("log of a kept execution %s: %q %v", id, log, err)
		}
	}
	if _, err := s.GetExecutionLog(ctx, x[1].ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("log of a pruned execution: %v", err)
	}
	if n, err := s.PruneExecutions(ctx, 5); n != 0 || err != nil {
		t.Fatalf("second prune deleted %d, %v", n, err)
	}
	if n, err := s.PruneExecutions(ctx, 0); n != 8 || err != nil {
		t.Fatalf("keep 0 deleted %d (want every finished one: 8), %v", n, err)
	}
	if _, err := s.PruneExecutions(ctx, -1); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("negative keep: %v", err)
	}
}
