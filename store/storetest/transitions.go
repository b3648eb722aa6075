package storetest

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/store"
)

func transitionCases() []testCase {
	return []testCase{
		{
			name:   "RecordExecution stores every status change store.CanTransition allows and drops every other",
			covers: []string{"RecordExecution", "FlushExecutions", "GetExecution", "GetExecutionLog"},
			run:    testRecordedTransitions,
		},
		{
			name:   "every status change the queue makes is one store.CanTransition allows",
			covers: []string{"EnqueueTask", "LeaseTasks", "CancelTask", "RetryTask", "ReleaseLeases", "CompleteTask", "GetExecution"},
			run:    testQueueTransitions,
		},
	}
}

// statuses are the statuses of an execution; "" is one not stored yet.
var statuses = []string{"", store.StatusQueued, store.StatusRunning, store.StatusSuccess, store.StatusFailed, store.StatusCancelled}

// pathTo returns the shortest list of statuses that brings a new execution to status
// through store.CanTransition (nil for ""), or false if none does.
func pathTo(status string) ([]string, bool) {
	paths := map[string][]string{"": {}}
	frontier := []string{""}
	for len(frontier) > 0 {
		from := frontier[0]
		frontier = frontier[1:]
		for _, to := range statuses[1:] {
			if _, seen := paths[to]; !seen && store.CanTransition(from, to) {
				paths[to] = append(append([]string{}, paths[from]...), to)
				frontier = append(frontier, to)
			}
		}
	}
	p, ok := paths[status]
	return p, ok
}

func statusName(s string) string {
	if s == "" {
		return "a new execution"
	}
	return s
}

// testRecordedTransitions walks every pair of statuses: an execution is brought to the
// first through the recorder, then recorded with the second, over a record still pending
// and over one flushed. After a flush the store holds the second if CanTransition allows
// it, else the first, unchanged with its log.
func testRecordedTransitions(t *testing.T, s store.Store) {
	ctx := t.Context()
	for _, from := range statuses {
		path, ok := pathTo(from)
		if !ok {
			t.Errorf("no path of allowed transitions reaches %s", from)
			continue
		}
		for _, to := range statuses[1:] {
			verdict := "refused"
			if store.CanTransition(from, to) {
				verdict = "allowed"
			}
			for _, flushed := range []bool{false, true} {
				if from == "" && flushed {
					continue // nothing to flush
				}
				stage := "over a pending record"
				if flushed {
					stage = "over a flushed record"
				}
				t.Run(fmt.Sprintf("%s to %s is %s, %s", statusName(from), to, verdict, stage), func(t *testing.T) {
					ex := newExec(s, "app", "/r", "")
					for _, st := range path {
						ex.Status = st
						s.RecordExecution(ex, []byte(st))
					}
					if flushed {
						flush(t, s)
					}
					if got := statusOf(t, s, ex.ID); got != from {
						t.Fatalf("brought to %q through %v, reads %q", from, path, got)
					}
					ex.Status = to
					s.RecordExecution(ex, []byte(to))
					flush(t, s)
					got, err := s.GetExecution(ctx, ex.ID)
					log, _ := s.GetExecutionLog(ctx, ex.ID)
					switch {
					case verdict == "allowed" && (err != nil || got.Status != to || string(log) != to):
						t.Fatalf("stored %q with log %q (%v), want %s with its log", got.Status, log, err, to)
					case verdict == "refused" && from == "" && !errors.Is(err, store.ErrNotFound):
						t.Fatalf("a refused first record was stored: %q %v", got.Status, err)
					case verdict == "refused" && from != "" && (err != nil || got.Status != from || string(log) != from):
						t.Fatalf("stored %q with log %q (%v), want %s and its log unchanged", got.Status, log, err, from)
					}
				})
			}
		}
	}
}

// testQueueTransitions runs each queue operation that changes an execution's status and
// checks the change against store.CanTransition.
func testQueueTransitions(t *testing.T, s store.Store) {
	ctx := t.Context()
	lease := func(t *testing.T, id, owner string, d time.Duration) {
		t.Helper()
		got, err := s.LeaseTasks(ctx, 1, owner, d)
		if err != nil || len(got) != 1 || got[0].ID != id {
			t.Fatalf("lease %s: got %v %v", id, taskIDs(got), err)
		}
	}
	complete := func(status string) func(t *testing.T, id string) error {
		return func(t *testing.T, id string) error {
			return s.CompleteTask(ctx, id, "w", store.Execution{Status: status}, nil)
		}
	}
	for _, tt := range []struct {
		name     string
		from, to string
		prepare  func(t *testing.T, id string) // after EnqueueTask
		act      func(t *testing.T, id string) error
	}{
		{"LeaseTasks runs a queued task", store.StatusQueued, store.StatusRunning,
			func(*testing.T, string) {}, func(t *testing.T, id string) error { lease(t, id, "w", time.Minute); return nil }},
		{"CancelTask ends a queued task", store.StatusQueued, store.StatusCancelled,
			func(*testing.T, string) {}, func(t *testing.T, id string) error { _, err := s.CancelTask(ctx, id); return err }},
		{"LeaseTasks takes again a task whose lease expired", store.StatusRunning, store.StatusRunning,
			func(t *testing.T, id string) {
				lease(t, id, "dead", 50*time.Millisecond)
				time.Sleep(80 * time.Millisecond)
			},
			func(t *testing.T, id string) error { lease(t, id, "w", time.Minute); return nil }},
		{"RetryTask queues a running task again", store.StatusRunning, store.StatusQueued,
			func(t *testing.T, id string) { lease(t, id, "w", time.Minute) },
			func(t *testing.T, id string) error { return s.RetryTask(ctx, id, "w", 0, "again") }},
		{"ReleaseLeases queues again a task of a previous run", store.StatusRunning, store.StatusQueued,
			func(t *testing.T, id string) { lease(t, id, "node:old:1", time.Hour) },
			func(t *testing.T, id string) error { _, err := s.ReleaseLeases(ctx, "node:", "node:new:"); return err }},
		{"CompleteTask ends a running task SUCCESS", store.StatusRunning, store.StatusSuccess,
			func(t *testing.T, id string) { lease(t, id, "w", time.Minute) }, complete(store.StatusSuccess)},
		{"CompleteTask ends a running task FAILED", store.StatusRunning, store.StatusFailed,
			func(t *testing.T, id string) { lease(t, id, "w", time.Minute) }, complete(store.StatusFailed)},
		{"CompleteTask ends a running task CANCELLED", store.StatusRunning, store.StatusCancelled,
			func(t *testing.T, id string) { lease(t, id, "w", time.Minute) }, complete(store.StatusCancelled)},
		{"RetryTask ends a task cancelled while it ran", store.StatusRunning, store.StatusCancelled,
			func(t *testing.T, id string) {
				lease(t, id, "w", time.Minute)
				if _, err := s.CancelTask(ctx, id); !errors.Is(err, store.ErrTaskRunning) {
					t.Fatalf("cancel: %v", err)
				}
			},
			func(t *testing.T, id string) error { return s.RetryTask(ctx, id, "w", 0, "again") }},
		{"LeaseTasks ends a task cancelled while it ran once its lease expired", store.StatusRunning, store.StatusCancelled,
			func(t *testing.T, id string) {
				lease(t, id, "dead", 300*time.Millisecond) // long enough for the cancel to find it leased on a busy machine
				if _, err := s.CancelTask(ctx, id); !errors.Is(err, store.ErrTaskRunning) {
					t.Fatalf("cancel: %v", err)
				}
				time.Sleep(400 * time.Millisecond)
			},
			func(t *testing.T, id string) error {
				if got, err := s.LeaseTasks(ctx, 1, "w", time.Minute); err != nil || len(got) != 0 {
					return fmt.Errorf("leased %v (%v), want nothing", taskIDs(got), err)
				}
				return nil
			}},
	} {
		t.Run(fmt.Sprintf("%s: %s to %s", tt.name, tt.from, tt.to), func(t *testing.T) {
			if !store.CanTransition(tt.from, tt.to) {
				t.Fatalf("store.CanTransition refuses %s to %s, which the queue makes", tt.from, tt.to)
			}
			t.Cleanup(func() { drain(t, s) }) // no task of this row is handed to the next
			id := enqueue(t, s, 0)
			if got := statusOf(t, s, id); !store.CanTransition("", got) || got != store.StatusQueued {
				t.Fatalf("EnqueueTask stored %q, want QUEUED", got)
			}
			tt.prepare(t, id)
			if got := statusOf(t, s, id); got != tt.from {
				t.Fatalf("before: %q, want %s", got, tt.from)
			}
			if err := tt.act(t, id); err != nil {
				t.Fatal(err)
			}
			if got := statusOf(t, s, id); got != tt.to {
				t.Fatalf("after: %q, want %s", got, tt.to)
			}
		})
	}
}

// drain completes every task available now, so that none is leased by a later step.
func drain(t *testing.T, s store.Store) {
	ctx := context.Background() // t's context ends before its cleanups run
	for {
		got, err := s.LeaseTasks(ctx, 10, "drain", time.Minute)
		if err != nil {
			t.Errorf("drain the queue: %v", err)
			return
		}
		if len(got) == 0 {
			return
		}
		for _, task := range got {
			if err := s.CompleteTask(ctx, task.ID, "drain", store.Execution{Status: store.StatusCancelled}, nil); err != nil {
				t.Errorf("drain the queue: %v", err)
			}
		}
	}
}
