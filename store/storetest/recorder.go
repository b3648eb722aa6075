package storetest

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/store"
)

func recorderCases() []testCase {
	return []testCase{
		{
			name:   "late log output is appended to an execution, pending or committed",
			covers: []string{"AppendExecutionLog", "GetExecutionLog", "GetExecution", "FlushExecutions"},
			run:    testAppendExecutionLogAfterCommit,
		},
		{
			name:   "late log output appended by many goroutines is all kept",
			covers: []string{"AppendExecutionLog", "GetExecutionLog"},
			run:    testConcurrentLateLogs,
		},
		{
			name:   "a late log never carries a stale copy of the execution over a later change of status",
			covers: []string{"AppendExecutionLog", "RetryTask", "CompleteTask"},
			run:    testLateLogKeepsTheLatestState,
		},
		{
			name:   "RecoverExecutions ends FAILED the sync executions left RUNNING and nothing else",
			covers: []string{"RecoverExecutions", "GetExecution", "InstanceID"},
			run:    testRecoverExecutions,
		},
	}
}

func testAppendExecutionLogAfterCommit(t *testing.T, s store.Store) {
	ctx := t.Context()
	id := s.NewID()
	s.RecordExecution(store.Execution{ID: id, App: "a", Route: "/r", Type: store.TypeSync, Status: store.StatusSuccess}, []byte("head "))
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
	if ex, _ := s.GetExecution(ctx, id); !ex.LogTruncated || ex.Status != store.StatusSuccess {
		t.Fatalf("execution after a late truncated tail: %+v", ex)
	}
	unknown := s.NewID()
	s.AppendExecutionLog(unknown, []byte("x"), false) // unknown: ignored, no panic
	if err := s.FlushExecutions(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetExecution(ctx, unknown); err == nil {
		t.Fatal("a late log of an unknown execution made one")
	}
}

func testConcurrentLateLogs(t *testing.T, s store.Store) {
	ctx := t.Context()
	id := s.NewID()
	s.RecordExecution(store.Execution{ID: id, App: "a", Route: "/r", Type: store.TypeSync, Status: store.StatusSuccess}, []byte{})
	if err := s.FlushExecutions(ctx); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 50 {
				s.AppendExecutionLog(id, []byte("x"), false)
				time.Sleep(time.Millisecond)
			}
		})
	}
	wg.Wait()
	if err := s.FlushExecutions(ctx); err != nil {
		t.Fatal(err)
	}
	if log, _ := s.GetExecutionLog(ctx, id); len(log) != 400 {
		t.Fatalf("%d bytes of late log, want 400", len(log))
	}
}

func testLateLogKeepsTheLatestState(t *testing.T, s store.Store) {
	ctx := t.Context()
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
	if err := s.CompleteTask(ctx, id, "w", store.Execution{Status: store.StatusSuccess}, []byte("run 2 ")); err != nil {
		t.Fatal(err)
	}
	if err := s.FlushExecutions(ctx); err != nil {
		t.Fatal(err)
	}
	ex, _ := s.GetExecution(ctx, id)
	log, _ := s.GetExecutionLog(ctx, id)
	if ex.Status != store.StatusSuccess {
		t.Fatalf("status %s after a late log, want SUCCESS", ex.Status)
	}
	if !strings.Contains(string(log), "tail of run 1") {
		t.Fatalf("log %q lost the late tail", log)
	}
}

func testRecoverExecutions(t *testing.T, s store.Store) {
	ctx := t.Context()
	running, done := s.NewID(), s.NewID()
	node := s.InstanceID() // the records of this node's previous run name it
	s.RecordExecution(store.Execution{ID: running, App: "a", Route: "/r", Type: store.TypeSync, Status: store.StatusRunning, Node: node}, nil)
	s.RecordExecution(store.Execution{ID: done, App: "a", Route: "/r", Type: store.TypeSync, Status: store.StatusSuccess, Node: node}, nil)
	async := enqueue(t, s, 0) // an async call under a lease: its worker's to finish
	if got, err := s.LeaseTasks(ctx, 1, "w", time.Minute); err != nil || len(got) != 1 {
		t.Fatalf("lease: %v %v", taskIDs(got), err)
	}
	queued := enqueue(t, s, 0)
	flush(t, s) // as a previous run would have left them

	n, err := s.RecoverExecutions(ctx)
	if err != nil || n != 1 {
		t.Fatalf("recovered %d (%v), want 1", n, err)
	}
	if ex, _ := s.GetExecution(ctx, running); ex.Status != store.StatusFailed || ex.Reason != store.ReasonError || ex.CompletedAt.IsZero() {
		t.Fatalf("left RUNNING by the previous run: %+v", ex)
	}
	if ex, _ := s.GetExecution(ctx, done); ex.Status != store.StatusSuccess {
		t.Fatalf("a finished execution changed: %+v", ex)
	}
	if ex, _ := s.GetExecution(ctx, async); ex.Status != store.StatusRunning {
		t.Fatalf("an async execution under a lease changed: %+v", ex)
	}
	if ex, _ := s.GetExecution(ctx, queued); ex.Status != store.StatusQueued {
		t.Fatalf("a queued execution changed: %+v", ex)
	}
	if n, err := s.RecoverExecutions(ctx); err != nil || n != 0 {
		t.Fatalf("a second recovery ended %d (%v), want 0", n, err)
	}
}
