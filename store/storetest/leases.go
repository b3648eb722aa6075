package storetest

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/store"
)

func leaseCases() []testCase {
	return []testCase{
		{
			name:   "a task whose lease expired goes back to the queue and its next lease counts another attempt",
			covers: []string{"LeaseTasks", "CompleteTask", "GetExecution", "InstanceID"},
			run:    testExpiredLeaseGoesBackToTheQueue,
		},
		{
			name:   "concurrent consumers never share a task",
			covers: []string{"LeaseTasks", "CompleteTask"},
			run:    testConcurrentConsumersNeverShareATask,
		},
		{
			name:   "ReleaseLeases frees the leases of a previous run only, for the next lease to take again",
			covers: []string{"ReleaseLeases", "LeaseTasks", "GetExecution"},
			run:    testReleaseLeasesOfAPreviousRun,
		},
		{
			name:   "a task cancelled while leased never runs again once its lease ends",
			covers: []string{"CancelTask", "LeaseTasks", "GetExecution"},
			run:    testCancelledLeaseNeverRunsAgain,
		},
	}
}

func testExpiredLeaseGoesBackToTheQueue(t *testing.T, s store.Store) {
	ctx := t.Context()
	id := enqueue(t, s, 0)
	// The lease is long enough for the second call to come before it ends on a loaded
	// machine (100 ms was not, in CI), short enough to wait out.
	const lease = time.Second
	if got, _ := s.LeaseTasks(ctx, 1, "dead-worker", lease); len(got) != 1 {
		t.Fatal("no lease")
	}
	if got, _ := s.LeaseTasks(ctx, 1, "w2", time.Minute); len(got) != 0 {
		t.Fatalf("a task under a lease in force was leased again: %v", taskIDs(got))
	}
	time.Sleep(lease + 100*time.Millisecond)
	got, err := s.LeaseTasks(ctx, 1, "w2", time.Minute)
	if err != nil || len(got) != 1 || got[0].ID != id || got[0].Attempts != 2 {
		t.Fatalf("after the lease expired: %+v %v", got, err)
	}
	if ex, _ := s.GetExecution(ctx, id); ex.Status != store.StatusRunning || ex.Attempts != 2 || ex.Node != s.InstanceID() {
		t.Fatalf("the execution of the second lease: %+v, want RUNNING, attempt 2, on node %q", ex, s.InstanceID())
	}
	if err := s.CompleteTask(ctx, id, "dead-worker", store.Execution{Status: store.StatusSuccess}, nil); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("the first worker's late result: %v, want ErrConflict", err)
	}
	if err := s.CompleteTask(ctx, id, "w2", store.Execution{Status: store.StatusSuccess}, nil); err != nil {
		t.Fatal(err)
	}
	if ex, _ := s.GetExecution(ctx, id); ex.Status != store.StatusSuccess || ex.Attempts != 2 || ex.Node != s.InstanceID() {
		t.Fatalf("completed after two attempts: %+v, want the node that leased it kept (the result named none)", ex)
	}
}

func testConcurrentConsumersNeverShareATask(t *testing.T, s store.Store) {
	ctx := t.Context()
	const n = 300
	for range n {
		enqueue(t, s, 0)
	}
	var mu sync.Mutex
	seen := map[string]int{}
	var wg sync.WaitGroup
	for w := range 6 {
		wg.Go(func() {
			owner := fmt.Sprintf("w%d", w)
			for {
				got, err := s.LeaseTasks(ctx, 7, owner, time.Minute)
				if err != nil {
					t.Error(err)
					return
				}
				if len(got) == 0 {
					return
				}
				for _, task := range got {
					mu.Lock()
					seen[task.ID]++
					mu.Unlock()
					if err := s.CompleteTask(ctx, task.ID, owner, store.Execution{Status: store.StatusSuccess}, nil); err != nil {
						t.Error(err)
					}
				}
			}
		})
	}
	wg.Wait()
	if len(seen) != n {
		t.Fatalf("%d tasks consumed, want %d", len(seen), n)
	}
	for id, times := range seen {
		if times != 1 {
			t.Fatalf("task %s handed out %d times", id, times)
		}
	}
}

func testReleaseLeasesOfAPreviousRun(t *testing.T, s store.Store) {
	ctx := t.Context()
	mine, theirs, external := enqueue(t, s, 0), enqueue(t, s, 0), enqueue(t, s, 0)
	for _, l := range []struct{ id, owner string }{{mine, "gantry:now:1"}, {theirs, "gantry:before:1"}, {external, "runner-7"}} {
		if got, _ := s.LeaseTasks(ctx, 1, l.owner, time.Hour); len(got) != 1 || got[0].ID != l.id {
			t.Fatalf("lease %s: %v", l.owner, taskIDs(got))
		}
	}
	n, err := s.ReleaseLeases(ctx, "gantry:", "gantry:now:")
	if err != nil || n != 1 {
		t.Fatalf("released %d (%v), want 1", n, err)
	}
	if ex, _ := s.GetExecution(ctx, theirs); ex.Status != store.StatusQueued {
		t.Fatalf("a released task's execution: %+v, want QUEUED", ex)
	}
	for _, id := range []string{mine, external} {
		if ex, _ := s.GetExecution(ctx, id); ex.Status != store.StatusRunning {
			t.Fatalf("a lease that stands: %+v, want RUNNING", ex)
		}
	}
	got, _ := s.LeaseTasks(ctx, 10, "gantry:now:2", time.Hour)
	if len(got) != 1 || got[0].ID != theirs {
		t.Fatalf("after release: %v, want only the previous run's task", taskIDs(got))
	}
	if got[0].Attempts != 2 {
		t.Fatalf("the released task's next lease counts attempt %d, want 2", got[0].Attempts)
	}
	if n, err := s.ReleaseLeases(ctx, "gantry:", "gantry:now:"); err != nil || n != 0 {
		t.Fatalf("a second release freed %d (%v), want 0", n, err)
	}
}

func testCancelledLeaseNeverRunsAgain(t *testing.T, s store.Store) {
	ctx := t.Context()
	id := enqueue(t, s, 0)
	if got, _ := s.LeaseTasks(ctx, 1, "gone", 100*time.Millisecond); len(got) != 1 {
		t.Fatal("no lease")
	}
	if _, err := s.CancelTask(ctx, id); !errors.Is(err, store.ErrTaskRunning) {
		t.Fatalf("cancel: %v", err)
	}
	time.Sleep(150 * time.Millisecond) // the lease ends without a result
	if got, _ := s.LeaseTasks(ctx, 1, "w2", time.Minute); len(got) != 0 {
		t.Fatalf("a cancelled task was leased again: %v", taskIDs(got))
	}
	if ex, _ := s.GetExecution(ctx, id); ex.Status != store.StatusCancelled {
		t.Fatalf("after its lease ended: %+v", ex)
	}
}
