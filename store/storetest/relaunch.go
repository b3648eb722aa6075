package storetest

import (
	"testing"

	"github.com/gantry-dev/gantry/store"
)

func relaunchCases() []testCase {
	return []testCase{
		{
			name:   "a task leased again runs without the error its last run left: QUEUED shows the cause, RUNNING does not",
			covers: []string{"EnqueueTask", "LeaseTasks", "RetryTask", "GetExecution"},
			run:    testLeasedAgainClearsTheLastError,
		},
	}
}

func testLeasedAgainClearsTheLastError(t *testing.T, s store.Store) {
	ctx := t.Context()
	id := enqueue(t, s, 0)
	mustLease(t, s, 1, "w1")
	if err := s.RetryTask(ctx, id, "w1", 0, "runner: shutting down"); err != nil {
		t.Fatal(err)
	}
	if ex, err := s.GetExecution(ctx, id); err != nil || ex.Status != store.StatusQueued || ex.Error != "runner: shutting down" {
		t.Fatalf("handed back: %+v %v; want QUEUED with the cause", ex, err)
	}
	mustLease(t, s, 1, "w2")
	ex, err := s.GetExecution(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if ex.Status != store.StatusRunning || ex.Attempts != 2 {
		t.Fatalf("leased again: %+v; want RUNNING, attempt 2", ex)
	}
	if ex.Error != "" || ex.Reason != "" || ex.ExitCode != nil || !ex.CompletedAt.IsZero() {
		t.Fatalf("the second run shows the first one's end while it runs: error %q reason %q exit %v completed %v",
			ex.Error, ex.Reason, ex.ExitCode, ex.CompletedAt)
	}
}
