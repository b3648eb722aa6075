package storetest

import (
	"encoding/base64"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/store"
	"github.com/oklog/ulid/v2"
)

func executionCases() []testCase {
	return []testCase{
		{
			name:   "a recorded execution and its log are read back whole, before and after they are flushed",
			covers: []string{"RecordExecution", "GetExecution", "GetExecutionLog", "FlushExecutions"},
			run:    testRecordAndGetExecution,
		},
		{
			name:   "a record whose ID is not one NewID makes is dropped",
			covers: []string{"RecordExecution", "GetExecution", "ListExecutions"},
			run:    testRecordWithInvalidIDIsDropped,
		},
		{
			name:   "the last record of an execution wins, and a record without a log keeps the log before it",
			covers: []string{"RecordExecution", "GetExecution", "GetExecutionLog", "ListExecutions", "FlushExecutions"},
			run:    testLastWriteWins,
		},
		{
			name:   "executions are listed newest first, filtered, a page at a time, without gap or duplicate",
			covers: []string{"ListExecutions", "RecordExecution", "FlushExecutions"},
			run:    testListExecutions,
		},
		{
			name:   "records made by many goroutines at once are all read back and listed",
			covers: []string{"RecordExecution", "GetExecution", "GetExecutionLog", "ListExecutions", "FlushExecutions"},
			run:    testConcurrentRecordExecution,
		},
	}
}

func testRecordAndGetExecution(t *testing.T, s store.Store) {
	ctx := t.Context()
	code := 3
	ex := newExec(s, "app", "/hello", store.StatusFailed)
	ex.Reason, ex.ExitCode, ex.Error, ex.Container, ex.LogTruncated = store.ReasonBadExit, &code, "exit 3", store.ContainerCold, true
	ex.Output = []byte("out")
	s.RecordExecution(ex, []byte("line 1\nline 2\n"))
	code = 99 // the store keeps its own copy
	for _, stage := range []string{"pending", "committed"} {
		t.Run(stage, func(t *testing.T) {
			got, err := s.GetExecution(ctx, ex.ID)
			if err != nil {
				t.Fatal(err)
			}
			want := ex
			three := 3
			want.ExitCode = &three
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("got  %+v\nwant %+v", got, want)
			}
			log, err := s.GetExecutionLog(ctx, ex.ID)
			if err != nil || string(log) != "line 1\nline 2\n" {
				t.Fatalf("log %q %v", log, err)
			}
		})
		flush(t, s)
	}

	if _, err := s.GetExecution(ctx, s.NewID()); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("missing execution: got %v, want ErrNotFound", err)
	}
	if _, err := s.GetExecutionLog(ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("log of missing execution: got %v, want ErrNotFound", err)
	}
	noLog := newExec(s, "app", "/hello", store.StatusSuccess)
	s.RecordExecution(noLog, nil)
	if log, err := s.GetExecutionLog(ctx, noLog.ID); err != nil || len(log) != 0 {
		t.Fatalf("pending execution without log: %q %v", log, err)
	}
	flush(t, s)
	if log, err := s.GetExecutionLog(ctx, noLog.ID); err != nil || log == nil || len(log) != 0 {
		t.Fatalf("committed execution without log: %q (nil=%v) %v", log, log == nil, err)
	}

	// CreatedAt defaults to the ID's time.
	bare := store.Execution{ID: s.NewID(), App: "app", Route: "/hello", Status: store.StatusRunning}
	s.RecordExecution(bare, nil)
	got, _ := s.GetExecution(ctx, bare.ID)
	if want := ulid.MustParse(bare.ID).Timestamp(); !got.CreatedAt.Equal(want) {
		t.Fatalf("created_at %s, want the ID's time %s", got.CreatedAt, want)
	}
}

func testRecordWithInvalidIDIsDropped(t *testing.T, s store.Store) {
	ctx := t.Context()
	lower := strings.ToLower(s.NewID())
	for _, id := range []string{"", "not-a-ulid", lower} {
		s.RecordExecution(store.Execution{ID: id, App: "app", Route: "/hello", Status: store.StatusRunning}, nil)
		if _, err := s.GetExecution(ctx, id); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("execution with ID %q was recorded: %v", id, err)
		}
	}
	flush(t, s)
	if list, _, err := s.ListExecutions(ctx, store.ExecutionFilter{}, store.Page{}); err != nil || len(list) != 0 {
		t.Fatalf("%d executions stored (%v), want none", len(list), err)
	}
}

// testLastWriteWins records an execution several times, as far as store.CanTransition lets
// it (a final one is never recorded again): the last record wins, and a record without a
// log keeps the log recorded before it.
func testLastWriteWins(t *testing.T, s store.Store) {
	ctx := t.Context()
	ex := newExec(s, "app", "/p", store.StatusRunning)
	ex.CompletedAt = time.Time{}
	s.RecordExecution(ex, nil)
	flush(t, s)

	// Progress RUNNING -> RUNNING, twice in a row before a flush: the log of the first
	// record stays when the second carries none.
	s.RecordExecution(ex, []byte("first log"))
	ex.Container = store.ContainerHot
	s.RecordExecution(ex, nil)
	for _, stage := range []string{"pending", "committed"} {
		got, err := s.GetExecution(ctx, ex.ID)
		if err != nil || got.Status != store.StatusRunning || got.Container != store.ContainerHot {
			t.Fatalf("%s: %+v %v", stage, got, err)
		}
		if log, _ := s.GetExecutionLog(ctx, ex.ID); string(log) != "first log" {
			t.Fatalf("%s: log %q", stage, log)
		}
		flush(t, s)
	}
	s.RecordExecution(ex, []byte("second log"))
	flush(t, s)
	if log, _ := s.GetExecutionLog(ctx, ex.ID); string(log) != "second log" {
		t.Fatalf("log not replaced: %q", log)
	}

	// Then SUCCESS without a log: the log stays, and the RUNNING state is gone from lists.
	ex.Status, ex.CompletedAt = store.StatusSuccess, ex.StartedAt.Add(time.Second)
	s.RecordExecution(ex, nil)
	for _, stage := range []string{"pending", "committed"} {
		got, err := s.GetExecution(ctx, ex.ID)
		if err != nil || got.Status != store.StatusSuccess || got.Container != store.ContainerHot {
			t.Fatalf("%s: %+v %v", stage, got, err)
		}
		if log, _ := s.GetExecutionLog(ctx, ex.ID); string(log) != "second log" {
			t.Fatalf("%s: log %q", stage, log)
		}
		list, _, err := s.ListExecutions(ctx, store.ExecutionFilter{Status: store.StatusRunning}, store.Page{})
		if err != nil || len(list) != 0 {
			t.Fatalf("%s: the stale RUNNING state is still listed: %+v %v", stage, list, err)
		}
		flush(t, s)
	}
	if list, _, err := s.ListExecutions(ctx, store.ExecutionFilter{App: "app", Route: "/p"}, store.Page{}); err != nil || len(list) != 1 {
		t.Fatalf("one execution recorded 5 times is listed %d times (%v)", len(list), err)
	}
}

func testListExecutions(t *testing.T, s store.Store) {
	ctx := t.Context()
	byKey := map[string][]string{} // "app route status" and prefixes -> IDs, oldest first
	var all []string
	statuses := []string{store.StatusSuccess, store.StatusFailed, store.StatusRunning}
	for i := range 90 {
		app := []string{"a", "b"}[i%2]
		route := []string{"/x", "/y/z", "/x/y"}[i%3]
		ex := newExec(s, app, route, statuses[(i/6)%3])
		s.RecordExecution(ex, nil)
		all = append(all, ex.ID)
		for _, k := range []string{app, app + " " + route, app + " " + route + " " + ex.Status, "status " + ex.Status, "route " + route} {
			byKey[k] = append(byKey[k], ex.ID)
		}
		if i == 59 {
			flush(t, s) // the newest 30 stay pending (or partly committed): lists merge both
		}
	}
	tests := []struct {
		name string
		f    store.ExecutionFilter
		want []string
	}{
		{"all", store.ExecutionFilter{}, all},
		{"app", store.ExecutionFilter{App: "a"}, byKey["a"]},
		{"app and route (index)", store.ExecutionFilter{App: "b", Route: "/y/z"}, byKey["b /y/z"]},
		{"route is not a prefix", store.ExecutionFilter{App: "a", Route: "/x"}, byKey["a /x"]},
		{"app, route and status", store.ExecutionFilter{App: "a", Route: "/x/y", Status: store.StatusFailed}, byKey["a /x/y "+store.StatusFailed]},
		{"status", store.ExecutionFilter{Status: store.StatusRunning}, byKey["status "+store.StatusRunning]},
		{"route only", store.ExecutionFilter{Route: "/x/y"}, byKey["route /x/y"]},
		{"no match", store.ExecutionFilter{App: "ghost"}, nil},
	}
	for _, stage := range []string{"partly pending", "committed"} {
		for _, tt := range tests {
			t.Run(stage+"/"+tt.name, func(t *testing.T) {
				for _, perPage := range []int{1, 7, 100} {
					got, pages := listAll(t, s, tt.f, perPage)
					if !slices.Equal(got, reversed(tt.want)) {
						t.Fatalf("per_page %d: got %d IDs %v\nwant newest first %v", perPage, len(got), got, reversed(tt.want))
					}
					if wantPages := max(1, (len(tt.want)+perPage-1)/perPage); pages != wantPages {
						t.Fatalf("per_page %d: %d pages, want %d", perPage, pages, wantPages)
					}
				}
			})
		}
		flush(t, s)
	}

	// Records made between pages appear on the first page only: no gap, no duplicate.
	first, next, err := s.ListExecutions(ctx, store.ExecutionFilter{}, store.Page{Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	newer := newExec(s, "a", "/x", store.StatusSuccess)
	s.RecordExecution(newer, nil)
	second, _, err := s.ListExecutions(ctx, store.ExecutionFilter{}, store.Page{Limit: 10, Cursor: next})
	if err != nil || first[9].ID != reversed(all)[9] || second[0].ID != reversed(all)[10] {
		t.Fatalf("pages shifted by a new record: %v", err)
	}
	if top, _, _ := s.ListExecutions(ctx, store.ExecutionFilter{}, store.Page{Limit: 1}); top[0].ID != newer.ID {
		t.Fatalf("newest is %s, want the new record %s", top[0].ID, newer.ID)
	}

	for _, bad := range []struct {
		f     store.ExecutionFilter
		page  store.Page
		field string
	}{
		{store.ExecutionFilter{Status: "DONE"}, store.Page{}, "status"},
		{store.ExecutionFilter{}, store.Page{Cursor: "!!"}, "cursor"},
		{store.ExecutionFilter{}, store.Page{Cursor: base64.RawURLEncoding.EncodeToString([]byte("app-1"))}, "cursor"},
	} {
		_, _, err := s.ListExecutions(ctx, bad.f, bad.page)
		var verr *store.ValidationError
		if !errors.As(err, &verr) || verr.Field != bad.field {
			t.Errorf("%+v %+v: got %v, want a ValidationError on %s", bad.f, bad.page, err, bad.field)
		}
	}
}

// testConcurrentRecordExecution has many goroutines record, read and list at once (run
// the suite with -race).
func testConcurrentRecordExecution(t *testing.T, s store.Store) {
	ctx := t.Context()
	const workers, perWorker = 16, 200
	var wg sync.WaitGroup
	ids := make([][]string, workers)
	for w := range workers {
		wg.Go(func() {
			route := fmt.Sprintf("/w%d", w%4)
			for i := range perWorker {
				ex := newExec(s, "app", route, store.StatusRunning)
				s.RecordExecution(ex, nil)
				ex.Status = store.StatusSuccess
				s.RecordExecution(ex, fmt.Appendf(nil, "log %d/%d", w, i))
				ids[w] = append(ids[w], ex.ID)
				if i%50 == 0 {
					if _, _, err := s.ListExecutions(ctx, store.ExecutionFilter{App: "app", Route: route}, store.Page{Limit: 5}); err != nil {
						t.Error(err)
					}
					if err := s.FlushExecutions(ctx); err != nil {
						t.Error(err)
					}
				}
				if got, err := s.GetExecution(ctx, ex.ID); err != nil || got.Status != store.StatusSuccess {
					t.Errorf("read own write: %+v %v", got, err)
				}
			}
		})
	}
	wg.Wait()
	flush(t, s)
	got, _ := listAll(t, s, store.ExecutionFilter{Status: store.StatusSuccess}, 100)
	if len(got) != workers*perWorker {
		t.Fatalf("listed %d, want %d", len(got), workers*perWorker)
	}
	if !slices.IsSortedFunc(got, func(a, b string) int { return strings.Compare(b, a) }) {
		t.Fatal("not newest first")
	}
	for w := range workers {
		for i, id := range ids[w] {
			if log, err := s.GetExecutionLog(ctx, id); err != nil || string(log) != fmt.Sprintf("log %d/%d", w, i) {
				t.Fatalf("log of %s: %q %v", id, log, err)
			}
		}
	}
}
