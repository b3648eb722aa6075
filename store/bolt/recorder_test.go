package bolt

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/store"
)

// The write-behind recorder: records wait in memory for the writer, which commits them in
// batches; reads merge what is pending.

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
		s.RecordExecution(store.Execution{ID: id, App: "app", Route: "/hello", Status: store.StatusRunning}, nil)
		if _, err := s.GetExecution(ctx, id); !errors.Is(err, store.ErrNotFound) {
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
	older := exec(s, "app", "/p", store.StatusRunning)
	s.RecordExecution(older, []byte("older"))
	flush(t, s)

	block, err := s.db.Begin(true)
	if err != nil {
		t.Fatal(err)
	}
	// Cleanups run last first: on a failure this one frees the writer before Close waits for it.
	t.Cleanup(func() { _ = block.Rollback() })
	a := exec(s, "app", "/p", store.StatusRunning)
	s.RecordExecution(a, nil)
	b := exec(s, "app", "/q", store.StatusSuccess)
	s.RecordExecution(b, []byte("b log"))
	older.Status = store.StatusFailed // a newer state of a committed record
	s.RecordExecution(older, nil)

	if got, err := s.GetExecution(ctx, a.ID); err != nil || got.Status != store.StatusRunning {
		t.Fatalf("get pending: %+v %v", got, err)
	}
	if log, err := s.GetExecutionLog(ctx, b.ID); err != nil || string(log) != "b log" {
		t.Fatalf("log of pending: %q %v", log, err)
	}
	if log, err := s.GetExecutionLog(ctx, older.ID); err != nil || string(log) != "older" {
		t.Fatalf("committed log of a pending record without one: %q %v", log, err)
	}
	for _, tt := range []struct {
		f    store.ExecutionFilter
		want []string
	}{
		{store.ExecutionFilter{}, []string{b.ID, a.ID, older.ID}},
		{store.ExecutionFilter{App: "app", Route: "/p"}, []string{a.ID, older.ID}},
		{store.ExecutionFilter{App: "app", Route: "/p", Status: store.StatusFailed}, []string{older.ID}},
		{store.ExecutionFilter{Status: store.StatusSuccess}, []string{b.ID}},
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
	if left := pendingCount(s); left != 0 {
		t.Fatalf("%d records still pending after flush", left)
	}
	if got, _ := s.GetExecution(ctx, older.ID); got.Status != store.StatusFailed {
		t.Fatalf("committed state %s, want the latest FAILED", got.Status)
	}
}

// listAll follows next cursors and fails on a duplicate or a short page before the last.
func listAll(t testing.TB, s *DB, f store.ExecutionFilter, perPage int) ([]string, int) {
	t.Helper()
	var ids []string
	seen := map[string]bool{}
	cursor, pages := "", 0
	for {
		list, next, err := s.ListExecutions(context.Background(), f, store.Page{Cursor: cursor, Limit: perPage})
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

// Recorded five times (the storetest case checks what reads return), stored once: one
// record, one index entry and one log.
func TestLastWriteWinsKeepsOneIndexEntry(t *testing.T) {
	s := openTest(t, t.TempDir())
	ex := exec(s, "app", "/p", store.StatusRunning)
	ex.CompletedAt = time.Time{}
	s.RecordExecution(ex, nil)
	flush(t, s)
	s.RecordExecution(ex, []byte("first log"))
	ex.Container = store.ContainerHot
	s.RecordExecution(ex, nil)
	flush(t, s)
	s.RecordExecution(ex, []byte("second log"))
	flush(t, s)
	ex.Status, ex.CompletedAt = store.StatusSuccess, ex.StartedAt.Add(time.Second)
	s.RecordExecution(ex, nil)
	flush(t, s)
	for _, b := range [][]byte{bucketExecutions, bucketExecByRoute, bucketExecLogs} {
		if n := countKeys(t, s, b); n != 1 {
			t.Fatalf("%d keys in %s for one execution", n, b)
		}
	}
}

// Many goroutines record at once (the storetest case checks the reads): every record is
// committed, and nothing stays pending.
func TestConcurrentRecordsAreAllCommitted(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, t.TempDir())
	const workers, perWorker = 16, 200
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			route := fmt.Sprintf("/w%d", w%4)
			for i := range perWorker {
				ex := exec(s, "app", route, store.StatusRunning)
				s.RecordExecution(ex, nil)
				ex.Status = store.StatusSuccess
				s.RecordExecution(ex, fmt.Appendf(nil, "log %d/%d", w, i))
				if i%50 == 0 {
					if err := s.FlushExecutions(ctx); err != nil {
						t.Error(err)
					}
				}
			}
		})
	}
	wg.Wait()
	flush(t, s)
	for _, b := range [][]byte{bucketExecutions, bucketExecByRoute, bucketExecLogs} {
		if n := countKeys(t, s, b); n != workers*perWorker {
			t.Fatalf("%d stored in %s, want %d", n, b, workers*perWorker)
		}
	}
	if left := pendingCount(s); left != 0 {
		t.Fatalf("%d records still pending after flush", left)
	}
}

const execQueueSize = store.DefaultRecordQueue

// While the writer cannot commit, RecordExecution takes at most execQueueSize records
// beyond the batch the writer holds, then blocks until the writer catches up: memory
// stays bounded. Nothing is lost.
func TestRecordBlocksWhileTheQueueIsFull(t *testing.T) {
	s := openTest(t, t.TempDir())
	block, err := s.db.Begin(true)
	if err != nil {
		t.Fatal(err)
	}
	// Cleanups run last first: on a failure this one frees the writer before Close waits for it.
	t.Cleanup(func() { _ = block.Rollback() })
	// The writer holds at most one batch it took before it blocked, and the queue takes
	// execQueueSize more: twice that and one are more than both.
	const total = 2*execQueueSize + 1
	var recorded atomic.Int64
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range total {
			s.RecordExecution(exec(s, "app", "/p", store.StatusSuccess), nil)
			recorded.Add(1)
		}
	}()
	// Wait until the queue is full: from then on RecordExecution must block.
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, queued := s.rec.Backlog()
		full := queued >= execQueueSize
		if full && recorded.Load() >= execQueueSize {
			break
		}
		if recorded.Load() == total {
			t.Fatalf("all %d records were taken while the writer was blocked", total)
		}
		if time.Now().After(deadline) {
			t.Fatalf("the queue never filled: %d records taken", recorded.Load())
		}
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond) // a recorder that did not block would take the rest meanwhile
	if last := recorded.Load(); last > total-1 || last < execQueueSize {
		t.Fatalf("blocked after %d records, want between %d and %d", last, execQueueSize, total-1)
	}
	if err := block.Rollback(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatalf("RecordExecution still blocked after the writer was freed (%d of %d taken)", recorded.Load(), total)
	}
	flush(t, s)
	if n := countKeys(t, s, bucketExecutions); n != total {
		t.Fatalf("%d stored, want %d", n, total)
	}
}
