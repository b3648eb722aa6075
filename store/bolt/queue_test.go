package bolt

import (
	"context"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/store"
	bolt "go.etcd.io/bbolt"
)

// setStatus writes an execution's status behind the store's back: the inconsistent data
// (a bug, a crash of an older version, a hand-edited file) the queue must survive.
func setStatus(t *testing.T, s *DB, id, status string) {
	t.Helper()
	if err := s.db.Update(func(tx *bolt.Tx) error {
		ex, err := getExecutionTx(tx, id)
		if err != nil {
			return err
		}
		ex.Status = status
		return putExecution(tx, ex, nil)
	}); err != nil {
		t.Fatal(err)
	}
}

// TestQueueSurvivesTasksWhoseExecutionDisagrees: the transition table refuses to move a
// final execution, so a task whose execution is already final must not stop the queue.
func TestQueueSurvivesTasksWhoseExecutionDisagrees(t *testing.T) {
	ctx := context.Background()

	t.Run("a task whose execution is final is dropped and the tasks behind it are leased", func(t *testing.T) {
		s := openTest(t, t.TempDir())
		mustApp(t, s, "app")
		stale, next := enqueue(t, s, 0), enqueue(t, s, 0)
		setStatus(t, s, stale, store.StatusFailed)
		for range 2 { // the first lease drops it; the next finds nothing more of it
			tasks, err := s.LeaseTasks(ctx, 5, "w", time.Minute)
			if err != nil {
				t.Fatalf("LeaseTasks: %v", err)
			}
			for _, tk := range tasks {
				if tk.ID == stale {
					t.Fatal("the task of a final execution was leased")
				}
			}
		}
		if ex, err := s.GetExecution(ctx, next); err != nil || ex.Status != store.StatusRunning {
			t.Fatalf("the task behind: %+v %v, want RUNNING", ex, err)
		}
		if ex, err := s.GetExecution(ctx, stale); err != nil || ex.Status != store.StatusFailed {
			t.Fatalf("the dropped task's execution: %+v %v, want it left FAILED", ex, err)
		}
	})

	t.Run("releasing leases leaves an execution that is not RUNNING as it is", func(t *testing.T) {
		s := openTest(t, t.TempDir())
		mustApp(t, s, "app")
		id := enqueue(t, s, 0)
		if _, err := s.LeaseTasks(ctx, 1, "gantry:node:old:0", time.Minute); err != nil {
			t.Fatal(err)
		}
		setStatus(t, s, id, store.StatusQueued)
		if n, err := s.ReleaseLeases(ctx, "gantry:node:", "gantry:node:new:"); err != nil || n != 1 {
			t.Fatalf("ReleaseLeases: %d %v, want 1 released", n, err)
		}
		if ex, err := s.GetExecution(ctx, id); err != nil || ex.Status != store.StatusQueued {
			t.Fatalf("execution %+v %v, want QUEUED", ex, err)
		}
	})
}

// TestQueueSurvivesLeftoverTasks: tasks whose execution is gone (pruned) or was cancelled
// while its execution had already ended are dropped; the tasks behind them are leased.
func TestQueueSurvivesLeftoverTasks(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, t.TempDir())
	mustApp(t, s, "app")
	gone, cancelled, next := enqueue(t, s, 0), enqueue(t, s, 0), enqueue(t, s, 0)
	if err := s.db.Update(func(tx *bolt.Tx) error { // pruned behind the queue's back
		return tx.Bucket(bucketExecutions).Delete([]byte(gone))
	}); err != nil {
		t.Fatal(err)
	}
	if tasks, err := s.LeaseTasks(ctx, 1, "w", time.Minute); err != nil || len(tasks) != 0 { // the first due: dropped
		t.Fatalf("LeaseTasks: %v %v, want the pruned task dropped and nothing leased", ids(tasks), err)
	}
	// cancelled: a cancel asked for, and its execution ended elsewhere.
	if err := s.db.Update(func(tx *bolt.Tx) error {
		tk, _, err := getTask(tx, cancelled)
		if err != nil {
			return err
		}
		tk.CancelRequested = true
		return putJSON(tx.Bucket(bucketTasks), []byte(tk.ID), tk)
	}); err != nil {
		t.Fatal(err)
	}
	setStatus(t, s, cancelled, store.StatusSuccess)
	var leased []string
	for range 3 {
		tasks, err := s.LeaseTasks(ctx, 5, "w2", time.Minute)
		if err != nil {
			t.Fatalf("LeaseTasks: %v", err)
		}
		leased = append(leased, ids(tasks)...)
	}
	for _, id := range leased {
		if id == gone {
			t.Fatal("the task of a pruned execution was leased")
		}
	}
	if ex, err := s.GetExecution(ctx, cancelled); err != nil || ex.Status != store.StatusSuccess {
		t.Fatalf("the cancelled task's final execution: %+v %v, want it left SUCCESS", ex, err)
	}
	if ex, err := s.GetExecution(ctx, next); err != nil || ex.Status != store.StatusRunning {
		t.Fatalf("the task behind: %+v %v, want RUNNING", ex, err)
	}
}
