package store

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
)

func enqueue(t testing.TB, s *DB, prio uint8) string {
	t.Helper()
	id := s.NewID()
	task := Task{ID: id, Route: Route{App: "app", Path: "/fn", Image: "img"}, Method: "POST", URL: "/fn", Body: []byte("in"), Priority: prio}
	if err := s.EnqueueTask(context.Background(), task, Execution{App: "app", Route: "/fn", Type: TypeAsync}); err != nil {
		t.Fatal(err)
	}
	return id
}

func TestTaskQueueLifecycle(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := Open(ctx, dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	a, b, urgent := enqueue(t, s, 1), enqueue(t, s, 1), enqueue(t, s, 0)
	if ex, _ := s.GetExecution(ctx, a); ex.Status != StatusQueued || ex.Type != TypeAsync {
		t.Fatalf("accepted execution: %+v", ex)
	}
	s.Close() // accepted work survives a restart
	s = openTest(t, dir)

	got, err := s.LeaseTasks(ctx, 2, "w1", time.Minute)
	if err != nil || len(got) != 2 || got[0].ID != urgent || got[1].ID != a || string(got[1].Body) != "in" {
		t.Fatalf("lease: %v %v, want %s then %s (priority, then FIFO)", ids(got), err, urgent, a)
	}
	if ex, _ := s.GetExecution(ctx, a); ex.Status != StatusRunning || ex.StartedAt.IsZero() {
		t.Fatalf("leased execution: %+v", ex)
	}
	// No other consumer gets a leased task.
	if more, _ := s.LeaseTasks(ctx, 10, "w2", time.Minute); len(more) != 1 || more[0].ID != b {
		t.Fatalf("second consumer got %v, want only %s", ids(more), b)
	}
	code := 0
	if err := s.CompleteTask(ctx, a, "w1", Execution{Status: StatusSuccess, ExitCode: &code, Output: []byte("out")}, []byte("log")); err != nil {
		t.Fatal(err)
	}
	ex, _ := s.GetExecution(ctx, a)
	if log, _ := s.GetExecutionLog(ctx, a); ex.Status != StatusSuccess || string(ex.Output) != "out" || string(log) != "log" || ex.App != "app" {
		t.Fatalf("completed execution: %+v log %q", ex, log)
	}
	if err := s.CompleteTask(ctx, a, "w1", Execution{Status: StatusSuccess}, nil); !errors.Is(err, ErrNotFound) {
		t.Fatalf("completing twice: %v", err)
	}
	if err := s.CompleteTask(ctx, b, "w1", Execution{Status: StatusSuccess}, nil); !errors.Is(err, ErrConflict) {
		t.Fatalf("completing another owner's task: %v", err)
	}
	if owner, err := s.CancelTask(ctx, b); !errors.Is(err, ErrTaskRunning) || owner != "w2" {
		t.Fatalf("cancel a leased task: %q %v", owner, err)
	}
	// Cancelled while leased: a retry ends it CANCELLED instead of queueing it again.
	if err := s.RetryTask(ctx, b, "w2", 0, "docker went away"); err != nil {
		t.Fatal(err)
	}
	if ex, _ := s.GetExecution(ctx, b); ex.Status != StatusCancelled {
		t.Fatalf("a cancelled task's retry: %+v", ex)
	}
	// Retry: back in the queue after the delay, execution QUEUED with the reason.
	if err := s.RetryTask(ctx, urgent, "w1", 200*time.Millisecond, "docker is unavailable"); err != nil {
		t.Fatal(err)
	}
	if ex, _ := s.GetExecution(ctx, urgent); ex.Status != StatusQueued || ex.Error != "docker is unavailable" {
		t.Fatalf("retried execution: %+v", ex)
	}
	if now, _ := s.LeaseTasks(ctx, 10, "w3", time.Minute); len(now) != 0 {
		t.Fatalf("a task in its retry delay was leased: %v", ids(now))
	}
	st, err := s.TaskStats(ctx)
	if err != nil || st.Queued != 1 || st.Delayed != 1 || st.Running != 0 {
		t.Fatalf("stats %+v %v, want 1 queued (delayed), none running", st, err)
	}
	time.Sleep(250 * time.Millisecond)
	if later, _ := s.LeaseTasks(ctx, 10, "w3", time.Minute); len(later) != 1 || later[0].ID != urgent || later[0].Attempts != 2 {
		t.Fatalf("after the delay: %+v", later)
	}
	// Cancel a queued task: it never runs.
	c := enqueue(t, s, 0)
	if _, err := s.CancelTask(ctx, c); err != nil {
		t.Fatal(err)
	}
	if ex, _ := s.GetExecution(ctx, c); ex.Status != StatusCancelled || ex.Reason != ReasonClientRequest {
		t.Fatalf("cancelled execution: %+v", ex)
	}
	if got, _ := s.LeaseTasks(ctx, 10, "w4", time.Minute); len(got) != 0 {
		t.Fatalf("a cancelled task was leased: %v", ids(got))
	}
}

func TestExpiredLeaseGoesBackToTheQueue(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, t.TempDir())
	id := enqueue(t, s, 0)
	if got, _ := s.LeaseTasks(ctx, 1, "dead-worker", 100*time.Millisecond); len(got) != 1 {
		t.Fatal("no lease")
	}
	time.Sleep(150 * time.Millisecond)
	got, err := s.LeaseTasks(ctx, 1, "w2", time.Minute)
	if err != nil || len(got) != 1 || got[0].ID != id || got[0].Attempts != 2 {
		t.Fatalf("after the lease expired: %+v %v", got, err)
	}
	if err := s.CompleteTask(ctx, id, "dead-worker", Execution{Status: StatusSuccess}, nil); !errors.Is(err, ErrConflict) {
		t.Fatalf("the first worker's late result: %v, want ErrConflict", err)
	}
	if err := s.CompleteTask(ctx, id, "w2", Execution{Status: StatusSuccess}, nil); err != nil {
		t.Fatal(err)
	}
}

func TestConcurrentConsumersNeverShareATask(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, t.TempDir())
	const n = 300
	for range n {
		enqueue(t, s, 0)
	}
	var mu sync.Mutex
	seen := map[string]int{}
	var wg sync.WaitGroup
	for w := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
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
					if err := s.CompleteTask(ctx, task.ID, owner, Execution{Status: StatusSuccess}, nil); err != nil {
						t.Error(err)
					}
				}
			}
		}()
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

func ids(ts []Task) []string {
	var out []string
	for _, t := range ts {
		out = append(out, t.ID)
	}
	return out
}

// BenchmarkEnqueueTask measures durable accepts (fsync on) from concurrent callers, as
// async /r/ requests arrive: bbolt's Batch shares commits between them.
func BenchmarkEnqueueTask(b *testing.B) {
	ctx := context.Background()
	s, err := Open(ctx, b.TempDir(), Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	b.SetParallelism(32)
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			id := s.NewID()
			if err := s.EnqueueTask(ctx, Task{ID: id, Route: Route{App: "app", Path: "/fn"}, Body: []byte(`{"name":"x"}`)}, Execution{App: "app", Route: "/fn", Type: TypeAsync}); err != nil {
				b.Error(err)
			}
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "accepts/s")
}

func TestReleaseLeasesOfAPreviousRun(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, t.TempDir())
	mine, theirs, external := enqueue(t, s, 0), enqueue(t, s, 0), enqueue(t, s, 0)
	for _, l := range []struct{ id, owner string }{{mine, "gantry:now:1"}, {theirs, "gantry:before:1"}, {external, "runner-7"}} {
		if got, _ := s.LeaseTasks(ctx, 1, l.owner, time.Hour); len(got) != 1 || got[0].ID != l.id {
			t.Fatalf("lease %s: %v", l.owner, ids(got))
		}
	}
	n, err := s.ReleaseLeases(ctx, "gantry:", "gantry:now:")
	if err != nil || n != 1 {
		t.Fatalf("released %d (%v), want 1", n, err)
	}
	if got, _ := s.LeaseTasks(ctx, 10, "gantry:now:2", time.Hour); len(got) != 1 || got[0].ID != theirs {
		t.Fatalf("after release: %v, want only the previous run's task", ids(got))
	}
}

func TestCancelledLeaseNeverRunsAgain(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, t.TempDir())
	id := enqueue(t, s, 0)
	if got, _ := s.LeaseTasks(ctx, 1, "gone", 100*time.Millisecond); len(got) != 1 {
		t.Fatal("no lease")
	}
	if _, err := s.CancelTask(ctx, id); !errors.Is(err, ErrTaskRunning) {
		t.Fatalf("cancel: %v", err)
	}
	time.Sleep(150 * time.Millisecond) // the lease ends without a result
	if got, _ := s.LeaseTasks(ctx, 1, "w2", time.Minute); len(got) != 0 {
		t.Fatalf("a cancelled task was leased again: %v", ids(got))
	}
	if ex, _ := s.GetExecution(ctx, id); ex.Status != StatusCancelled {
		t.Fatalf("after its lease ended: %+v", ex)
	}
}
