package storetest

import (
	"strings"
	"testing"

	"github.com/gantry-dev/gantry/store"
)

func relaunchCases() []testCase {
	return []testCase{
		{
			name: "a task leased again runs without the end its last run left (error, reason, exit code, completion, output, " +
				"truncation flags, image digest): QUEUED shows the cause, RUNNING does not",
			covers: []string{"EnqueueTask", "LeaseTasks", "RetryTask", "GetExecution"},
			run:    testLeasedAgainClearsTheLastError,
		},
	}
}

func testLeasedAgainClearsTheLastError(t *testing.T, s store.Store) {
	ctx := t.Context()
	// The execution starts out holding what a run's end leaves (the store keeps what it is
	// given): output, its truncation flags, the image digest that ran.
	id := s.NewID()
	task := store.Task{ID: id, Route: store.Route{App: "app", Path: "/fn", Image: "img"}, Method: "POST", URL: "/fn", Body: []byte("in")}
	left := store.Execution{App: "app", Route: "/fn", Type: store.TypeAsync,
		Output: []byte("the last run's answer"), OutputTruncated: true, LogTruncated: true, ImageDigest: "sha256:" + strings.Repeat("ab", 32)}
	if err := s.EnqueueTask(ctx, task, left); err != nil {
		t.Fatal(err)
	}
	if ex, err := s.GetExecution(ctx, id); err != nil || string(ex.Output) != string(left.Output) || !ex.OutputTruncated || !ex.LogTruncated ||
		ex.ImageDigest != left.ImageDigest {
		t.Fatalf("queued: %+v %v; want the output, flags and digest it was given", ex, err)
	}
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
	if ex.Output != nil || ex.OutputTruncated || ex.LogTruncated || ex.ImageDigest != "" {
		t.Fatalf("the second run shows the first one's result while it runs: output %q truncated %v log truncated %v digest %q",
			ex.Output, ex.OutputTruncated, ex.LogTruncated, ex.ImageDigest)
	}
}
