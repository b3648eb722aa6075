package bolt

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/store"
)

// PruneExecutions deletes a pruned execution's record, index entry and log (the storetest
// case checks what is kept); the RUNNING and QUEUED ones it keeps have no log to keep.
func TestPruneDeletesRecordsIndexEntriesAndLogs(t *testing.T) {
	s := openTest(t, t.TempDir())
	for i := range 30 {
		status := store.StatusSuccess
		if i%10 == 0 {
			status = store.StatusRunning // never pruned, however old
		}
		s.RecordExecution(exec(s, "app", "/x", status), []byte("log"))
		if i < 3 {
			s.RecordExecution(exec(s, "app", "/y", store.StatusFailed), []byte("log"))
		}
	}
	s.RecordExecution(exec(s, "other", "/x", store.StatusQueued), nil)
	flush(t, s)
	if n, err := s.PruneExecutions(context.Background(), 5); err != nil || n != 22 {
		t.Fatalf("deleted %d (%v), want 22", n, err)
	}
	for _, b := range [][]byte{bucketExecutions, bucketExecByRoute} {
		if n := countKeys(t, s, b); n != 12 {
			t.Fatalf("bucket %s has %d keys, want 12", b, n)
		}
	}
	if n := countKeys(t, s, bucketExecLogs); n != 11 {
		t.Fatalf("%d logs left, want 11", n)
	}
}

// More executions to delete than one transaction takes.
func TestPruneInChunks(t *testing.T) {
	s := openTest(t, t.TempDir())
	const n = pruneChunk*2 + 50
	var newest []string
	for i := range n {
		route := fmt.Sprintf("/r%d", i%2)
		ex := exec(s, "app", route, store.StatusSuccess)
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
	got, _ := listAll(t, s, store.ExecutionFilter{}, 100)
	slices.Reverse(newest)
	if !slices.Equal(got, newest) {
		t.Fatalf("kept %v, want %v", got, newest)
	}
}

func TestBackgroundPruner(t *testing.T) {
	s, err := Open(context.Background(), t.TempDir(), Options{NoSync: true, KeepExecutionsPerRoute: 2, PruneInterval: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for range 5 {
		s.RecordExecution(exec(s, "app", "/p", store.StatusSuccess), nil)
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
		off.RecordExecution(exec(off, "app", "/p", store.StatusSuccess), nil)
	}
	flush(t, off)
	time.Sleep(20 * time.Millisecond)
	if n := countKeys(t, off, bucketExecutions); n != 3 {
		t.Fatalf("disabled pruner deleted: %d left", n)
	}
}
