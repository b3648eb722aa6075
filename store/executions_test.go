package store

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"
	bolt "go.etcd.io/bbolt"
)

// exec builds a finished execution of app/route with a fresh ID.
func exec(s *DB, app, route, status string) Execution {
	now := time.Now().UTC().Truncate(time.Millisecond)
	return Execution{ID: s.NewID(), App: app, Route: route, Type: TypeSync, Status: status,
		CreatedAt: now, StartedAt: now, CompletedAt: now.Add(25 * time.Millisecond)}
}

func flush(t testing.TB, s *DB) {
	t.Helper()
	if err := s.FlushExecutions(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// listAll follows next cursors and fails on a duplicate.
func listAll(t testing.TB, s *DB, f ExecutionFilter, perPage int) ([]string, int) {
	t.Helper()
	var ids []string
	seen := map[string]bool{}
	cursor, pages := "", 0
	for {
		list, next, err := s.ListExecutions(context.Background(), f, Page{Cursor: cursor, Limit: perPage})
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, ex := range list {
			if seen[ex.ID] {
				t.Fatalf("execution %s listed twice", ex.ID)
			}
			seen[ex.ID] = true
			ids = append(ids, ex.ID)
		}
		if next == "" {
			return ids, pages
		}
		if len(list) != perPage {
			t.Fatalf("page %d has %d items and a next cursor, want %d", pages, len(list), perPage)
		}
		cursor = next
	}
}

func reversed(ids []string) []string {
	out := slices.Clone(ids)
	slices.Reverse(out)
	return out
}

func TestNewIDIsMonotonicULID(t *testing.T) {
	s := openTest(t, t.TempDir())
	prev := ""
	for range 10000 {
		id := s.NewID()
		if _, err := ulid.ParseStrict(id); err != nil {
			t.Fatalf("%q is not a ULID: %v", id, err)
		}
		if id <= prev {
			t.Fatalf("ID %s after %s: not increasing", id, prev)
		}
		prev = id
	}
	// A clock that steps back does not make IDs go back.
	g := newIDGen()
	a := g.next(time.Now())
	if b := g.next(time.Now().Add(-time.Hour)); b <= a {
		t.Fatalf("ID %s after %s when the clock stepped back", b, a)
	}
}

func TestExecutionDurationAndDone(t *testing.T) {
	start := time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		ex   Execution
		dur  time.Duration
		done bool
	}{
		{Execution{Status: StatusQueued}, 0, false},
		{Execution{Status: StatusRunning, StartedAt: start}, 0, false},
		{Execution{Status: StatusSuccess, StartedAt: start, CompletedAt: start.Add(1500 * time.Millisecond)}, 1500 * time.Millisecond, true},
		{Execution{Status: StatusFailed, CompletedAt: start}, 0, true},
		{Execution{Status: StatusCancelled}, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.ex.Status, func(t *testing.T) {
			if got := tt.ex.Duration(); got != tt.dur {
				t.Errorf("Duration() = %s, want %s", got, tt.dur)
			}
			if got := tt.ex.Done(); got != tt.done {
				t.Errorf("Done() = %v, want %v", got, tt.done)
			}
		})
	}
}

func TestRecordAndGetExecution(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, t.TempDir())
	code := 3
	ex := exec(s, "app", "/hello", StatusFailed)
	ex.Reason, ex.ExitCode, ex.Error, ex.Container, ex.LogTruncated = ReasonBadExit, &code, "exit 3", ContainerCold, true
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

	if _, err := s.GetExecution(ctx, s.NewID()); !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing execution: got %v, want ErrNotFound", err)
	}
	if _, err := s.GetExecutionLog(ctx, "nope"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("log of missing execution: got %v, want ErrNotFound", err)
	}
	noLog := exec(s, "app", "/hello", StatusSuccess)
	s.RecordExecution(noLog, nil)
	if log, err := s.GetExecutionLog(ctx, noLog.ID); err != nil || len(log) != 0 {
		t.Fatalf("pending execution without log: %q %v", log, err)
	}
	flush(t, s)
	if log, err := s.GetExecutionLog(ctx, noLog.ID); err != nil || log == nil || len(log) != 0 {
		t.Fatalf("committed execution without log: %q (nil=%v) %v", log, log == nil, err)
	}

	// CreatedAt defaults to the ID's time.
	bare := Execution{ID: s.NewID(), App: "app", Route: "/hello", Status: StatusRunning}
	s.RecordExecution(bare, nil)
	got, _ := s.GetExecution(ctx, bare.ID)
	if want := ulid.MustParse(bare.ID).Timestamp(); !got.CreatedAt.Equal(want) {
		t.Fatalf("created_at %s, want the ID's time %s", got.CreatedAt, want)
	}
}

func TestRecordWithInvalidIDIsDroppedAndLogged(t *testing.T) {
	ctx := context.Background()
	var logged bytes.Buffer
	s, err := Open(ctx, t.TempDir(), Options{NoSync: true, Logger: slog.New(slog.NewTextHandler(&logged, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	lower := strings.ToLower(s.NewID())
	for _, id := range []string{"", "not-a-ulid", lower} {
		s.RecordExecution(Execution{ID: id, App: "app", Route: "/hello", Status: StatusRunning}, nil)
		if _, err := s.GetExecution(ctx, id); !errors.Is(err, ErrNotFound) {
			t.Fatalf("execution with ID %q was recorded: %v", id, err)
		}
	}
	flush(t, s)
	if n := countKeys(t, s, bucketExecutions); n != 0 {
		t.Fatalf("%d executions stored", n)
	}
	if got := strings.Count(logged.String(), "execution record dropped"); got != 3 {
		t.Fatalf("logged %d drops, want 3:\n%s", got, logged.String())
	}
}

// While a write transaction holds bbolt's writer lock the writer cannot commit, so every
// read below must be served from the pending records.
func TestPendingVisibleBeforeCommit(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, t.TempDir())
	older := exec(s, "app", "/p", StatusSuccess)
	s.RecordExecution(older, []byte("older"))
	flush(t, s)

	block, err := s.db.Begin(true)
	if err != nil {
		t.Fatal(err)
	}
	a := exec(s, "app", "/p", StatusRunning)
	s.RecordExecution(a, nil)
	b := exec(s, "app", "/q", StatusSuccess)
	s.RecordExecution(b, []byte("b log"))
	older.Status = StatusFailed // a newer state of a committed record
	s.RecordExecution(older, nil)

	if got, err := s.GetExecution(ctx, a.ID); err != nil || got.Status != StatusRunning {
		t.Fatalf("get pending: %+v %v", got, err)
	}
	if log, err := s.GetExecutionLog(ctx, b.ID); err != nil || string(log) != "b log" {
		t.Fatalf("log of pending: %q %v", log, err)
	}
	if log, err := s.GetExecutionLog(ctx, older.ID); err != nil || string(log) != "older" {
		t.Fatalf("committed log of a pending record without one: %q %v", log, err)
	}
	for _, tt := range []struct {
		f    ExecutionFilter
		want []string
	}{
		{ExecutionFilter{}, []string{b.ID, a.ID, older.ID}},
		{ExecutionFilter{App: "app", Route: "/p"}, []string{a.ID, older.ID}},
		{ExecutionFilter{App: "app", Route: "/p", Status: StatusFailed}, []string{older.ID}},
		{ExecutionFilter{Status: StatusSuccess}, []string{b.ID}},
	} {
		for _, perPage := range []int{1, 2, 10} {
			if got, _ := listAll(t, s, tt.f, perPage); !slices.Equal(got, tt.want) {
				t.Errorf("%+v per_page %d: got %v, want %v", tt.f, perPage, got, tt.want)
			}
		}
	}
	if n := countKeys(t, s, bucketExecutions); n != 1 {
		t.Fatalf("%d executions committed while the writer was blocked, want 1", n)
	}
	short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	if err := s.FlushExecutions(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("flush while blocked: %v", err)
	}

	if err := block.Rollback(); err != nil {
		t.Fatal(err)
	}
	flush(t, s)
	if n := countKeys(t, s, bucketExecutions); n != 3 {
		t.Fatalf("%d executions committed after flush, want 3", n)
	}
	s.rec.mu.Lock()
	left := len(s.rec.pending)
	s.rec.mu.Unlock()
	if left != 0 {
		t.Fatalf("%d records still pending after flush", left)
	}
	if got, _ := s.GetExecution(ctx, older.ID); got.Status != StatusFailed {
		t.Fatalf("committed state %s, want the latest FAILED", got.Status)
	}
}

func TestLastWriteWins(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, t.TempDir())
	ex := exec(s, "app", "/p", StatusRunning)
	ex.CompletedAt = time.Time{}
	s.RecordExecution(ex, nil)
	flush(t, s)

	// Progress RUNNING -> SUCCESS, twice in a row before a flush: the log of the first
	// record stays when the second carries none.
	ex.Status, ex.CompletedAt = StatusSuccess, ex.StartedAt.Add(time.Second)
	s.RecordExecution(ex, []byte("first log"))
	ex.Container = ContainerHot
	s.RecordExecution(ex, nil)
	for _, stage := range []string{"pending", "committed"} {
		got, err := s.GetExecution(ctx, ex.ID)
		if err != nil || got.Status != StatusSuccess || got.Container != ContainerHot {
			t.Fatalf("%s: %+v %v", stage, got, err)
		}
		if log, _ := s.GetExecutionLog(ctx, ex.ID); string(log) != "first log" {
			t.Fatalf("%s: log %q", stage, log)
		}
		list, _, err := s.ListExecutions(ctx, ExecutionFilter{Status: StatusRunning}, Page{})
		if err != nil || len(list) != 0 {
			t.Fatalf("%s: the stale RUNNING state is still listed: %+v %v", stage, list, err)
		}
		flush(t, s)
	}
	s.RecordExecution(ex, []byte("second log"))
	flush(t, s)
	if log, _ := s.GetExecutionLog(ctx, ex.ID); string(log) != "second log" {
		t.Fatalf("log not replaced: %q", log)
	}
	if n := countKeys(t, s, bucketExecByRoute); n != 1 {
		t.Fatalf("%d index entries for one execution", n)
	}
}

func countKeys(t testing.TB, s *DB, bucket []byte) int {
	t.Helper()
	n := 0
	err := s.db.View(func(tx *bolt.Tx) error {
		n = tx.Bucket(bucket).Stats().KeyN
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestListExecutions(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, t.TempDir())
	byKey := map[string][]string{} // "app route status" and prefixes -> IDs, oldest first
	var all []string
	statuses := []string{StatusSuccess, StatusFailed, StatusRunning}
	for i := range 90 {
		app := []string{"a", "b"}[i%2]
		route := []string{"/x", "/y/z", "/x/y"}[i%3]
		ex := exec(s, app, route, statuses[(i/6)%3])
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
		f    ExecutionFilter
		want []string
	}{
		{"all", ExecutionFilter{}, all},
		{"app", ExecutionFilter{App: "a"}, byKey["a"]},
		{"app and route (index)", ExecutionFilter{App: "b", Route: "/y/z"}, byKey["b /y/z"]},
		{"route is not a prefix", ExecutionFilter{App: "a", Route: "/x"}, byKey["a /x"]},
		{"app, route and status", ExecutionFilter{App: "a", Route: "/x/y", Status: StatusFailed}, byKey["a /x/y "+StatusFailed]},
		{"status", ExecutionFilter{Status: StatusRunning}, byKey["status "+StatusRunning]},
		{"route only", ExecutionFilter{Route: "/x/y"}, byKey["route /x/y"]},
		{"no match", ExecutionFilter{App: "ghost"}, nil},
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
	first, next, err := s.ListExecutions(ctx, ExecutionFilter{}, Page{Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	newer := exec(s, "a", "/x", StatusSuccess)
	s.RecordExecution(newer, nil)
	second, _, err := s.ListExecutions(ctx, ExecutionFilter{}, Page{Limit: 10, Cursor: next})
	if err != nil || first[9].ID != reversed(all)[9] || second[0].ID != reversed(all)[10] {
		t.Fatalf("pages shifted by a new record: %v", err)
	}
	if top, _, _ := s.ListExecutions(ctx, ExecutionFilter{}, Page{Limit: 1}); top[0].ID != newer.ID {
		t.Fatalf("newest is %s, want the new record %s", top[0].ID, newer.ID)
	}

	for _, bad := range []struct {
		f     ExecutionFilter
		page  Page
		field string
	}{
		{ExecutionFilter{Status: "DONE"}, Page{}, "status"},
		{ExecutionFilter{}, Page{Cursor: "!!"}, "cursor"},
		{ExecutionFilter{}, Page{Cursor: base64.RawURLEncoding.EncodeToString([]byte("app-1"))}, "cursor"},
	} {
		_, _, err := s.ListExecutions(ctx, bad.f, bad.page)
		var verr *ValidationError
		if !errors.As(err, &verr) || verr.Field != bad.field {
			t.Errorf("%+v %+v: got %v, want a ValidationError on %s", bad.f, bad.page, err, bad.field)
		}
	}
}

func TestExecutionsPersistAcrossReopen(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := Open(ctx, dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	flushed := exec(s, "app", "/a", StatusSuccess)
	s.RecordExecution(flushed, []byte("log a"))
	if err := s.FlushExecutions(ctx); err != nil {
		t.Fatal(err)
	}
	// Recorded right before Close: Close stores it.
	closing := exec(s, "app", "/a", StatusFailed)
	s.RecordExecution(closing, []byte("log b"))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second close: %v", err)
	}
	s.RecordExecution(exec(s, "app", "/a", StatusSuccess), nil) // dropped, does not block or panic
	if err := s.FlushExecutions(ctx); err == nil {
		t.Fatal("flush after close succeeded")
	}

	s = openTest(t, dir)
	for id, log := range map[string]string{flushed.ID: "log a", closing.ID: "log b"} {
		if _, err := s.GetExecution(ctx, id); err != nil {
			t.Fatalf("execution lost on reopen: %v", err)
		}
		if got, _ := s.GetExecutionLog(ctx, id); string(got) != log {
			t.Fatalf("log %q, want %q", got, log)
		}
	}
	list, _, err := s.ListExecutions(ctx, ExecutionFilter{App: "app", Route: "/a"}, Page{})
	if err != nil || len(list) != 2 || list[0].ID != closing.ID {
		t.Fatalf("list after reopen: %+v %v", list, err)
	}
	if next := s.NewID(); next <= closing.ID {
		t.Fatalf("new ID %s sorts before an existing one %s", next, closing.ID)
	}
}

func TestPruneExecutions(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, t.TempDir())
	var x, y []Execution // oldest first
	for i := range 30 {
		status := StatusSuccess
		if i%10 == 0 {
			status = StatusRunning // never pruned, however old
		}
		ex := exec(s, "app", "/x", status)
		s.RecordExecution(ex, []byte("log"))
		x = append(x, ex)
		if i < 3 {
			ey := exec(s, "app", "/y", StatusFailed)
			s.RecordExecution(ey, []byte("log"))
			y = append(y, ey)
		}
	}
	q := exec(s, "other", "/x", StatusQueued)
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
	got, _ := listAll(t, s, ExecutionFilter{App: "app", Route: "/x"}, 100)
	if !slices.Equal(got, reversed(want)) {
		t.Fatalf("kept %v, want %v", got, reversed(want))
	}
	var wantY []string
	for _, ey := range y {
		wantY = append(wantY, ey.ID)
	}
	if got, _ := listAll(t, s, ExecutionFilter{App: "app", Route: "/y"}, 100); !slices.Equal(got, reversed(wantY)) {
		t.Fatalf("/y kept %v, want all of %v", got, reversed(wantY))
	}
	if got, _ := listAll(t, s, ExecutionFilter{}, 100); len(got) != 8+3+1 {
		t.Fatalf("%d executions left, want 12", len(got))
	}
	for _, b := range [][]byte{bucketExecutions, bucketExecByRoute} {
		if n := countKeys(t, s, b); n != 12 {
			t.Fatalf("bucket %s has %d keys, want 12", b, n)
		}
	}
	if n := countKeys(t, s, bucketExecLogs); n != 11 {
		t.Fatalf("%d logs left, want 11", n)
	}
	if _, err := s.GetExecutionLog(ctx, x[1].ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("log of a pruned execution: %v", err)
	}
	if n, err := s.PruneExecutions(ctx, 5); n != 0 || err != nil {
		t.Fatalf("second prune deleted %d, %v", n, err)
	}
	if n, err := s.PruneExecutions(ctx, 0); n != 8 || err != nil {
		t.Fatalf("keep 0 deleted %d (want every finished one: 8), %v", n, err)
	}
	if _, err := s.PruneExecutions(ctx, -1); !errors.Is(err, ErrInvalid) {
		t.Fatalf("negative keep: %v", err)
	}
}

// More executions to delete than one transaction takes.
func TestPruneInChunks(t *testing.T) {
	s := openTest(t, t.TempDir())
	const n = pruneChunk*2 + 50
	var newest []string
	for i := range n {
		route := fmt.Sprintf("/r%d", i%2)
		ex := exec(s, "app", route, StatusSuccess)
		s.RecordExecution(ex, nil)
		if i >= n-20 {
			newest = append(newest, ex.ID)
		}
	}
	flush(t, s)
	deleted, err := s.PruneExecutions(context.Background(), 10)
	if err != nil || deleted != n-20 {
		t.Fatalf("deleted %d, want %d: %v", deleted, n-20, err)
	}
	got, _ := listAll(t, s, ExecutionFilter{}, 100)
	if !slices.Equal(got, reversed(newest)) {
		t.Fatalf("kept %v, want %v", got, reversed(newest))
	}
}

func TestBackgroundPruner(t *testing.T) {
	s, err := Open(context.Background(), t.TempDir(), Options{NoSync: true, KeepExecutionsPerRoute: 2, PruneInterval: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for range 5 {
		s.RecordExecution(exec(s, "app", "/p", StatusSuccess), nil)
	}
	flush(t, s)
	deadline := time.Now().Add(5 * time.Second)
	for countKeys(t, s, bucketExecutions) != 2 {
		if time.Now().After(deadline) {
			t.Fatalf("pruner left %d executions, want 2", countKeys(t, s, bucketExecutions))
		}
		time.Sleep(5 * time.Millisecond)
	}

	off, err := Open(context.Background(), t.TempDir(), Options{NoSync: true, KeepExecutionsPerRoute: -1, PruneInterval: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer off.Close()
	for range 3 {
		off.RecordExecution(exec(off, "app", "/p", StatusSuccess), nil)
	}
	flush(t, off)
	time.Sleep(20 * time.Millisecond)
	if n := countKeys(t, off, bucketExecutions); n != 3 {
		t.Fatalf("disabled pruner deleted: %d left", n)
	}
}

// Many goroutines record, read and list at once; run with -race.
func TestConcurrentRecordExecution(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, t.TempDir())
	const workers, perWorker = 16, 200
	var wg sync.WaitGroup
	ids := make([][]string, workers)
	for w := range workers {
		wg.Go(func() {
			route := fmt.Sprintf("/w%d", w%4)
			for i := range perWorker {
				ex := exec(s, "app", route, StatusRunning)
				s.RecordExecution(ex, nil)
				ex.Status = StatusSuccess
				s.RecordExecution(ex, fmt.Appendf(nil, "log %d/%d", w, i))
				ids[w] = append(ids[w], ex.ID)
				if i%50 == 0 {
					if _, _, err := s.ListExecutions(ctx, ExecutionFilter{App: "app", Route: route}, Page{Limit: 5}); err != nil {
						t.Error(err)
					}
					if err := s.FlushExecutions(ctx); err != nil {
						t.Error(err)
					}
				}
				if got, err := s.GetExecution(ctx, ex.ID); err != nil || got.Status != StatusSuccess {
					t.Errorf("read own write: %+v %v", got, err)
				}
			}
		})
	}
	wg.Wait()
	flush(t, s)
	got, _ := listAll(t, s, ExecutionFilter{Status: StatusSuccess}, 100)
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
	if n := countKeys(t, s, bucketExecutions); n != workers*perWorker {
		t.Fatalf("%d stored, want %d", n, workers*perWorker)
	}
}

// A data file written by schema 1 (apps and routes only) gains the execution buckets on open.
func TestMigrationFromSchema1(t *testing.T) {
	dir := t.TempDir()
	old, err := bolt.Open(filepath.Join(dir, FileName), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = old.Update(func(tx *bolt.Tx) error {
		meta, err := tx.CreateBucket(bucketMeta)
		if err != nil {
			return err
		}
		if err := migrations[0](tx); err != nil {
			return err
		}
		return meta.Put(keySchema, binary.BigEndian.AppendUint64(nil, 1))
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := old.Close(); err != nil {
		t.Fatal(err)
	}

	s := openTest(t, dir)
	ex := exec(s, "app", "/p", StatusSuccess)
	s.RecordExecution(ex, []byte("log"))
	flush(t, s)
	if got := countKeys(t, s, bucketExecLogs); got != 1 {
		t.Fatalf("%d logs stored after migration", got)
	}
	err = s.db.View(func(tx *bolt.Tx) error {
		if v := binary.BigEndian.Uint64(tx.Bucket(bucketMeta).Get(keySchema)); v != uint64(SchemaVersion()) {
			return fmt.Errorf("schema %d after migration, want %d", v, SchemaVersion())
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestAppendExecutionLogAfterCommit(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, t.TempDir())
	id := s.NewID()
	s.RecordExecution(Execution{ID: id, App: "a", Route: "/r", Type: TypeSync, Status: StatusSuccess}, []byte("head "))
	s.AppendExecutionLog(id, []byte("pending"), false)
	if err := s.FlushExecutions(ctx); err != nil {
		t.Fatal(err)
	}
	s.AppendExecutionLog(id, []byte(" tail"), true) // after the commit
	if err := s.FlushExecutions(ctx); err != nil {
		t.Fatal(err)
	}
	log, err := s.GetExecutionLog(ctx, id)
	if err != nil || string(log) != "head pending tail" {
		t.Fatalf("log %q (%v), want the late parts appended", log, err)
	}
	if ex, _ := s.GetExecution(ctx, id); !ex.LogTruncated || ex.Status != StatusSuccess {
		t.Fatalf("execution after a late truncated tail: %+v", ex)
	}
	s.AppendExecutionLog(s.NewID(), []byte("x"), false) // unknown: ignored, no panic
}

func TestRecoverExecutions(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := Open(ctx, dir, Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	running, done := s.NewID(), s.NewID()
	s.RecordExecution(Execution{ID: running, App: "a", Route: "/r", Type: TypeSync, Status: StatusRunning}, nil)
	s.RecordExecution(Execution{ID: done, App: "a", Route: "/r", Type: TypeSync, Status: StatusSuccess}, nil)
	s.Close() // as a crash would leave it: the first record RUNNING

	s = openTest(t, dir)
	n, err := s.RecoverExecutions(ctx)
	if err != nil || n != 1 {
		t.Fatalf("recovered %d (%v), want 1", n, err)
	}
	if ex, _ := s.GetExecution(ctx, running); ex.Status != StatusFailed || ex.Reason != ReasonError || ex.CompletedAt.IsZero() {
		t.Fatalf("left RUNNING by the previous run: %+v", ex)
	}
	if ex, _ := s.GetExecution(ctx, done); ex.Status != StatusSuccess {
		t.Fatalf("a finished execution changed: %+v", ex)
	}
}

// A late log never carries a stale copy of the execution over a later state change.
func TestLateLogKeepsTheLatestState(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, t.TempDir())
	id := enqueue(t, s, 0)
	if got, _ := s.LeaseTasks(ctx, 1, "w", time.Minute); len(got) != 1 {
		t.Fatal("no lease")
	}
	if err := s.RetryTask(ctx, id, "w", 0, "first run failed"); err != nil {
		t.Fatal(err)
	}
	s.AppendExecutionLog(id, []byte("tail of run 1"), false) // arrives while the call is QUEUED again
	if got, _ := s.LeaseTasks(ctx, 1, "w", time.Minute); len(got) != 1 {
		t.Fatal("no second lease")
	}
	if err := s.CompleteTask(ctx, id, "w", Execution{Status: StatusSuccess}, []byte("run 2 ")); err != nil {
		t.Fatal(err)
	}
	if err := s.FlushExecutions(ctx); err != nil {
		t.Fatal(err)
	}
	ex, _ := s.GetExecution(ctx, id)
	log, _ := s.GetExecutionLog(ctx, id)
	if ex.Status != StatusSuccess {
		t.Fatalf("status %s after a late log, want SUCCESS", ex.Status)
	}
	if !strings.Contains(string(log), "tail of run 1") {
		t.Fatalf("log %q lost the late tail", log)
	}
}

func TestConcurrentLateLogs(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, t.TempDir())
	id := s.NewID()
	s.RecordExecution(Execution{ID: id, App: "a", Route: "/r", Type: TypeSync, Status: StatusSuccess}, []byte{})
	if err := s.FlushExecutions(ctx); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 50 {
				s.AppendExecutionLog(id, []byte("x"), false)
				time.Sleep(time.Millisecond)
			}
		}()
	}
	wg.Wait()
	if err := s.FlushExecutions(ctx); err != nil {
		t.Fatal(err)
	}
	if log, _ := s.GetExecutionLog(ctx, id); len(log) != 400 {
		t.Fatalf("%d bytes of late log, want 400", len(log))
	}
}
