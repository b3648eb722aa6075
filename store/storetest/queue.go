package storetest

import (
	"errors"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/store"
)

func queueCases() []testCase {
	return []testCase{
		{
			name: "a task is accepted, leased, completed, retried after its delay and cancelled",
			covers: []string{"EnqueueTask", "LeaseTasks", "CompleteTask", "RetryTask", "CancelTask", "TaskStats",
				"GetExecution", "GetExecutionLog"},
			run: testTaskQueueLifecycle,
		},
		{
			name:   "tasks are leased lowest priority value first, in the order they were accepted within a priority",
			covers: []string{"EnqueueTask", "LeaseTasks"},
			run:    testLeaseOrder,
		},
		{
			name:   "TaskStats counts the waiting, delayed and running tasks and the oldest waiting one",
			covers: []string{"TaskStats", "EnqueueTask", "LeaseTasks", "RetryTask", "CompleteTask"},
			run:    testTaskStats,
		},
		{
			name:   "only the holder of a lease may complete or retry its task, and only with a final status to complete it",
			covers: []string{"CompleteTask", "RetryTask", "LeaseTasks"},
			run:    testOnlyTheHolderEndsATask,
		},
		{
			name:   "a cancel ends a queued task at once and asks the holder of a leased one to stop, whose result still counts",
			covers: []string{"CancelTask", "CompleteTask", "GetExecution", "TaskStats"},
			run:    testCancelTask,
		},
		{
			name:   "GetTask reads a task with its call, attempts and lease, and none once it is done",
			covers: []string{"GetTask", "EnqueueTask", "LeaseTasks", "CompleteTask"},
			run:    testGetTask,
		},
	}
}

func testGetTask(t *testing.T, s store.Store) {
	ctx := t.Context()
	policy := store.RetryPolicy{MaxAttempts: 3, Initial: time.Second, Max: time.Minute}
	id := enqueueWith(t, s, 0, func(task *store.Task) {
		task.Delivery, task.Retry, task.Header = "d-1", &policy, map[string][]string{"Ce-Type": {"com.example.x"}}
	})
	got, err := s.GetTask(ctx, id)
	if err != nil || got.ID != id || got.Delivery != "d-1" || got.Retry == nil || *got.Retry != policy || string(got.Body) != "in" ||
		got.Route.Path != "/fn" || got.Attempts != 0 || got.LeaseOwner != "" || http.Header(got.Header).Get("Ce-Type") != "com.example.x" {
		t.Fatalf("GetTask = %+v, %v; want the task as enqueued", got, err)
	}
	mustLease(t, s, 1, "w")
	if got, err := s.GetTask(ctx, id); err != nil || got.Attempts != 1 || got.LeaseOwner != "w" || got.LeaseUntil.IsZero() {
		t.Fatalf("GetTask of the leased task = %+v, %v; want its attempt and lease", got, err)
	}
	if err := s.CompleteTask(ctx, id, "w", store.Execution{Status: store.StatusSuccess}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetTask(ctx, id); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("GetTask of a done task: %v, want ErrNotFound", err)
	}
}

func testTaskQueueLifecycle(t *testing.T, s store.Store) {
	ctx := t.Context()
	a, b, urgent := enqueue(t, s, 1), enqueue(t, s, 1), enqueue(t, s, 0)
	if ex, _ := s.GetExecution(ctx, a); ex.Status != store.StatusQueued || ex.Type != store.TypeAsync || ex.App != "app" || ex.Route != "/fn" || ex.CreatedAt.IsZero() {
		t.Fatalf("accepted execution: %+v", ex)
	}

	got, err := s.LeaseTasks(ctx, 2, "w1", time.Minute)
	if err != nil || len(got) != 2 || got[0].ID != urgent || got[1].ID != a || string(got[1].Body) != "in" {
		t.Fatalf("lease: %v %v, want %s then %s (priority, then FIFO)", taskIDs(got), err, urgent, a)
	}
	if got[1].LeaseOwner != "w1" || got[1].Attempts != 1 || got[1].Route.Path != "/fn" || got[1].Method != "POST" {
		t.Fatalf("leased task: %+v", got[1])
	}
	if ex, _ := s.GetExecution(ctx, a); ex.Status != store.StatusRunning || ex.StartedAt.IsZero() || ex.Attempts != 1 {
		t.Fatalf("leased execution: %+v", ex)
	}
	// No other consumer gets a leased task.
	if more, _ := s.LeaseTasks(ctx, 10, "w2", time.Minute); len(more) != 1 || more[0].ID != b {
		t.Fatalf("second consumer got %v, want only %s", taskIDs(more), b)
	}
	code := 0
	if err := s.CompleteTask(ctx, a, "w1", store.Execution{Status: store.StatusSuccess, ExitCode: &code, Output: []byte("out")}, []byte("log")); err != nil {
		t.Fatal(err)
	}
	ex, _ := s.GetExecution(ctx, a)
	if log, _ := s.GetExecutionLog(ctx, a); ex.Status != store.StatusSuccess || string(ex.Output) != "out" || string(log) != "log" || ex.App != "app" {
		t.Fatalf("completed execution: %+v log %q", ex, log)
	}
	if ex.Type != store.TypeAsync || ex.Attempts != 1 || ex.CompletedAt.IsZero() || ex.ExitCode == nil || *ex.ExitCode != 0 {
		t.Fatalf("completed execution lost what the queue knew: %+v", ex)
	}
	if err := s.CompleteTask(ctx, a, "w1", store.Execution{Status: store.StatusSuccess}, nil); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("completing twice: %v", err)
	}
	if err := s.CompleteTask(ctx, b, "w1", store.Execution{Status: store.StatusSuccess}, nil); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("completing another owner's task: %v", err)
	}
	if owner, err := s.CancelTask(ctx, b); !errors.Is(err, store.ErrTaskRunning) || owner != "w2" {
		t.Fatalf("cancel a leased task: %q %v", owner, err)
	}
	// Cancelled while leased: a retry ends it CANCELLED instead of queueing it again.
	if err := s.RetryTask(ctx, b, "w2", 0, "docker went away"); err != nil {
		t.Fatal(err)
	}
	if ex, _ := s.GetExecution(ctx, b); ex.Status != store.StatusCancelled {
		t.Fatalf("a cancelled task's retry: %+v", ex)
	}
	// Retry: back in the queue after the delay, execution QUEUED with the reason.
	const delay = time.Second
	retried := time.Now()
	if err := s.RetryTask(ctx, urgent, "w1", delay, "docker is unavailable"); err != nil {
		t.Fatal(err)
	}
	if ex, _ := s.GetExecution(ctx, urgent); ex.Status != store.StatusQueued || ex.Error != "docker is unavailable" {
		t.Fatalf("retried execution: %+v", ex)
	}
	if now, _ := s.LeaseTasks(ctx, 10, "w3", time.Minute); len(now) != 0 {
		t.Fatalf("a task in its retry delay was leased: %v", taskIDs(now))
	}
	st, err := s.TaskStats(ctx)
	if err != nil || st.Queued != 1 || st.Delayed != 1 || st.Running != 0 {
		t.Fatalf("stats %+v %v, want 1 queued (delayed), none running", st, err)
	}
	time.Sleep(time.Until(retried.Add(delay + 50*time.Millisecond)))
	later, _ := s.LeaseTasks(ctx, 10, "w3", time.Minute)
	if len(later) != 1 || later[0].ID != urgent || later[0].Attempts != 2 {
		t.Fatalf("after the delay: %+v", later)
	}
	if later[0].LastError != "docker is unavailable" {
		t.Fatalf("the retried task forgot why: %+v", later[0])
	}
	// Cancel a queued task: it never runs.
	c := enqueue(t, s, 0)
	if _, err := s.CancelTask(ctx, c); err != nil {
		t.Fatal(err)
	}
	if ex, _ := s.GetExecution(ctx, c); ex.Status != store.StatusCancelled || ex.Reason != store.ReasonClientRequest {
		t.Fatalf("cancelled execution: %+v", ex)
	}
	if got, _ := s.LeaseTasks(ctx, 10, "w4", time.Minute); len(got) != 0 {
		t.Fatalf("a cancelled task was leased: %v", taskIDs(got))
	}
}

func testLeaseOrder(t *testing.T, s store.Store) {
	ctx := t.Context()
	byPrio := map[uint8][]string{}
	for _, prio := range []uint8{2, 0, 1, 0, 255, 2, 1, 0, 255} {
		byPrio[prio] = append(byPrio[prio], enqueue(t, s, prio))
	}
	var want []string
	for _, prio := range []uint8{0, 1, 2, 255} {
		want = append(want, byPrio[prio]...)
	}
	var got []string
	for _, n := range []int{1, 3, 1, 10} { // leases of several sizes keep the order
		leased, err := s.LeaseTasks(ctx, n, "w", time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		if len(leased) > n {
			t.Fatalf("asked for %d tasks, got %d", n, len(leased))
		}
		got = append(got, taskIDs(leased)...)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("leased %v, want %v", got, want)
	}
	if leased, err := s.LeaseTasks(ctx, 10, "w", time.Minute); err != nil || len(leased) != 0 {
		t.Fatalf("an empty queue leased %v %v", taskIDs(leased), err)
	}
}

func testTaskStats(t *testing.T, s store.Store) {
	ctx := t.Context()
	if st, err := s.TaskStats(ctx); err != nil || st != (store.TaskStats{}) {
		t.Fatalf("empty queue: %+v %v", st, err)
	}
	beforeA := time.Now()
	a := enqueue(t, s, 0)
	time.Sleep(5 * time.Millisecond)
	beforeB := time.Now()
	enqueue(t, s, 0)
	afterB := time.Now()
	time.Sleep(5 * time.Millisecond)
	enqueue(t, s, 0)
	within := func(at, from, to time.Time) bool {
		return !at.Before(from.Add(-time.Millisecond)) && !at.After(to)
	}
	if got, _ := s.LeaseTasks(ctx, 1, "w", time.Minute); len(got) != 1 || got[0].ID != a {
		t.Fatalf("lease: %v, want %s", taskIDs(got), a)
	}
	st, err := s.TaskStats(ctx)
	if err != nil || st.Queued != 2 || st.Running != 1 || st.Delayed != 0 || !within(st.OldestAt, beforeB, afterB) {
		t.Fatalf("one running, two waiting: %+v %v; want the oldest waiting accepted between %s and %s", st, err, beforeB, afterB)
	}
	if err := s.RetryTask(ctx, a, "w", time.Hour, "later"); err != nil {
		t.Fatal(err)
	}
	st, err = s.TaskStats(ctx)
	if err != nil || st.Queued != 3 || st.Running != 0 || st.Delayed != 1 || !within(st.OldestAt, beforeA, beforeB) {
		t.Fatalf("three waiting, one delayed: %+v %v; want the oldest accepted between %s and %s", st, err, beforeA, beforeB)
	}
	for _, task := range mustLease(t, s, 10, "w") {
		if err := s.CompleteTask(ctx, task.ID, "w", store.Execution{Status: store.StatusSuccess}, nil); err != nil {
			t.Fatal(err)
		}
	}
	if st, err := s.TaskStats(ctx); err != nil || st.Queued != 1 || st.Delayed != 1 || st.Running != 0 {
		t.Fatalf("only the delayed one left: %+v %v", st, err)
	}
}

// mustLease leases up to n tasks to owner for a minute.
func mustLease(t *testing.T, s store.Store, n int, owner string) []store.Task {
	t.Helper()
	got, err := s.LeaseTasks(t.Context(), n, owner, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func testOnlyTheHolderEndsATask(t *testing.T, s store.Store) {
	ctx := t.Context()
	id := enqueue(t, s, 0)
	if got := mustLease(t, s, 1, "holder"); len(got) != 1 {
		t.Fatal("no lease")
	}
	if err := s.RetryTask(ctx, id, "thief", 0, "mine now"); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("retry by another owner: %v, want ErrConflict", err)
	}
	if err := s.CompleteTask(ctx, id, "thief", store.Execution{Status: store.StatusSuccess}, nil); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("complete by another owner: %v, want ErrConflict", err)
	}
	for _, status := range []string{store.StatusRunning, store.StatusQueued, "", "DONE"} {
		if err := s.CompleteTask(ctx, id, "holder", store.Execution{Status: status}, nil); !errors.Is(err, store.ErrInvalid) {
			t.Fatalf("complete with status %q: %v, want ErrInvalid", status, err)
		}
	}
	if ex, _ := s.GetExecution(ctx, id); ex.Status != store.StatusRunning {
		t.Fatalf("refused endings changed the execution: %+v", ex)
	}
	if err := s.CompleteTask(ctx, id, "holder", store.Execution{Status: store.StatusFailed, Reason: store.ReasonBadExit}, nil); err != nil {
		t.Fatalf("the holder's result after refused ones: %v", err)
	}
	if ex, _ := s.GetExecution(ctx, id); ex.Status != store.StatusFailed || ex.Reason != store.ReasonBadExit {
		t.Fatalf("completed: %+v", ex)
	}
	ghost := s.NewID()
	if err := s.CompleteTask(ctx, ghost, "holder", store.Execution{Status: store.StatusSuccess}, nil); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("complete an unknown task: %v, want ErrNotFound", err)
	}
	if err := s.RetryTask(ctx, ghost, "holder", 0, ""); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("retry an unknown task: %v, want ErrNotFound", err)
	}
	queued := enqueue(t, s, 0)
	if err := s.CompleteTask(ctx, queued, "holder", store.Execution{Status: store.StatusSuccess}, nil); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("complete a task nobody leases: %v, want ErrConflict", err)
	}
	if err := s.RetryTask(ctx, queued, "holder", 0, ""); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("retry a task nobody leases: %v, want ErrConflict", err)
	}
}

func testCancelTask(t *testing.T, s store.Store) {
	ctx := t.Context()
	queued := enqueue(t, s, 1)
	leased := enqueue(t, s, 0)
	if got := mustLease(t, s, 1, "w"); len(got) != 1 || got[0].ID != leased {
		t.Fatalf("lease: %v", taskIDs(got))
	}
	if owner, err := s.CancelTask(ctx, queued); err != nil || owner != "" {
		t.Fatalf("cancel a queued task: %q %v", owner, err)
	}
	if ex, _ := s.GetExecution(ctx, queued); ex.Status != store.StatusCancelled || ex.Reason != store.ReasonClientRequest || ex.CompletedAt.IsZero() {
		t.Fatalf("a queued task cancelled: %+v", ex)
	}
	if _, err := s.CancelTask(ctx, queued); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("cancel it again: %v, want ErrNotFound", err)
	}
	if _, err := s.CancelTask(ctx, s.NewID()); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("cancel an unknown task: %v, want ErrNotFound", err)
	}
	owner, err := s.CancelTask(ctx, leased)
	if !errors.Is(err, store.ErrTaskRunning) || owner != "w" {
		t.Fatalf("cancel a leased task: %q %v, want its owner and ErrTaskRunning", owner, err)
	}
	if ex, _ := s.GetExecution(ctx, leased); ex.Status != store.StatusRunning {
		t.Fatalf("a leased task is still running until its holder stops: %+v", ex)
	}
	if st, _ := s.TaskStats(ctx); st.Running != 1 || st.Queued != 0 {
		t.Fatalf("stats after the cancels: %+v", st)
	}
	// The holder reports how the call ended (it may have finished before it could stop).
	if err := s.CompleteTask(ctx, leased, "w", store.Execution{Status: store.StatusSuccess}, []byte("done anyway")); err != nil {
		t.Fatal(err)
	}
	if ex, _ := s.GetExecution(ctx, leased); ex.Status != store.StatusSuccess {
		t.Fatalf("the holder's result of a cancelled task: %+v", ex)
	}
	if st, _ := s.TaskStats(ctx); st != (store.TaskStats{}) {
		t.Fatalf("stats at the end: %+v", st)
	}
}
