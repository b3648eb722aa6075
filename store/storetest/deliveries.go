package storetest

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/store"
)

func deliveryCases() []testCase {
	return []testCase{
		{
			name:   "a delivery ends as its call completes: DELIVERED on success, else DEAD_LETTERED or DISCARDED as its policy says",
			covers: []string{"CompleteTask", "LeaseTasks", "GetDelivery", "PublishEvents"},
			run:    testDeliveryEndsWithItsCall,
		},
		{
			name:   "a delivery whose queued call is cancelled ends at once",
			covers: []string{"CancelTask", "GetDelivery"},
			run:    testDeliveryEndsWithAQueuedCancel,
		},
		{
			name:   "a delivery whose call was cancelled while leased ends when the call's retry or its lease ends, not before",
			covers: []string{"CancelTask", "RetryTask", "LeaseTasks", "GetDelivery"},
			run:    testDeliveryEndsWithALeasedCancel,
		},
		{
			name:   "a delivery whose call is dropped from the queue because its execution was final ends too",
			covers: []string{"RecordExecution", "FlushExecutions", "LeaseTasks", "GetDelivery"},
			run:    testDeliveryEndsWithADroppedCall,
		},
		{
			name:   "a delivery made by a workflow run ends when the run reaches a final status",
			covers: []string{"UpdateRun", "GetDelivery", "PublishEvents"},
			run:    testDeliveryEndsWithItsRun,
		},
		{
			name:   "a redelivered delivery is not touched by the end of a call or run that is not its current one",
			covers: []string{"Redeliver", "EnqueueTask", "CreateRun", "UpdateRun", "CompleteTask", "GetDelivery"},
			run:    testStaleEndsLeaveADeliveryAlone,
		},
		{
			name:   "Redeliver gives a final delivery a new call or run and the policy given, refuses a queued one and answers ErrNotFound without it",
			covers: []string{"Redeliver", "GetDelivery", "LeaseTasks", "GetRun", "TaskStats", "Subscribe", "ListDeliveries"},
			run:    testRedeliver,
		},
	}
}

// deliveryStatus reads a delivery, failing the test when it cannot.
func deliveryStatus(t *testing.T, s store.Store, id string) store.Delivery {
	t.Helper()
	d, err := s.GetDelivery(t.Context(), id)
	if err != nil {
		t.Fatalf("get delivery %s: %v", id, err)
	}
	return d
}

// leaseCall leases tasks until it holds the call id, which must be among those available.
func leaseCall(t *testing.T, s store.Store, id, owner string, lease time.Duration) {
	t.Helper()
	tasks, err := s.LeaseTasks(t.Context(), 100, owner, lease)
	if err != nil || !slices.Contains(taskIDs(tasks), id) {
		t.Fatalf("leased %v (%v), want %s among them", taskIDs(tasks), err, id)
	}
}

// wantEnded fails unless delivery id ended with status, its UpdatedAt moved past its creation.
func wantEnded(t *testing.T, s store.Store, id, status string) {
	t.Helper()
	d := deliveryStatus(t, s, id)
	if d.Status != status || !d.Done() || d.UpdatedAt.Before(d.CreatedAt) {
		t.Fatalf("delivery %+v, want %s", d, status)
	}
}

func testDeliveryEndsWithItsCall(t *testing.T, s store.Store) {
	ctx := t.Context()
	for _, c := range []struct {
		status, policy, want string
	}{
		{store.StatusSuccess, store.DeadLetterKeep, store.DeliveryDelivered},
		{store.StatusSuccess, store.DeadLetterDiscard, store.DeliveryDelivered},
		{store.StatusFailed, store.DeadLetterKeep, store.DeliveryDeadLettered},
		{store.StatusFailed, store.DeadLetterDiscard, store.DeliveryDiscarded},
		{store.StatusCancelled, store.DeadLetterKeep, store.DeliveryDeadLettered},
	} {
		t.Run("a call that ends "+c.status+" under policy "+c.policy+" ends its delivery "+c.want, func(t *testing.T) {
			d := publishOne(t, s, c.policy)
			leaseCall(t, s, d.Execution, "w", time.Minute)
			if got := deliveryStatus(t, s, d.ID); got.Status != store.DeliveryQueued {
				t.Fatalf("a delivery whose call runs: %s, want QUEUED", got.Status)
			}
			if err := s.CompleteTask(ctx, d.Execution, "w", store.Execution{Status: c.status}, nil); err != nil {
				t.Fatal(err)
			}
			wantEnded(t, s, d.ID, c.want)
		})
	}
}

func testDeliveryEndsWithAQueuedCancel(t *testing.T, s store.Store) {
	for _, c := range []struct{ policy, want string }{
		{store.DeadLetterKeep, store.DeliveryDeadLettered},
		{store.DeadLetterDiscard, store.DeliveryDiscarded},
	} {
		t.Run("under policy "+c.policy+" it ends "+c.want, func(t *testing.T) {
			d := publishOne(t, s, c.policy)
			if _, err := s.CancelTask(t.Context(), d.Execution); err != nil {
				t.Fatal(err)
			}
			wantEnded(t, s, d.ID, c.want)
		})
	}
}

func testDeliveryEndsWithALeasedCancel(t *testing.T, s store.Store) {
	ctx := t.Context()
	t.Run("its holder's retry ends it", func(t *testing.T) {
		d := publishOne(t, s, store.DeadLetterKeep)
		leaseCall(t, s, d.Execution, "w", time.Minute)
		if _, err := s.CancelTask(ctx, d.Execution); !errors.Is(err, store.ErrTaskRunning) {
			t.Fatalf("cancel a leased call: %v, want ErrTaskRunning", err)
		}
		if got := deliveryStatus(t, s, d.ID); got.Status != store.DeliveryQueued {
			t.Fatalf("a delivery whose call is still running: %s, want QUEUED", got.Status)
		}
		if err := s.RetryTask(ctx, d.Execution, "w", 0, "failed"); err != nil {
			t.Fatal(err)
		}
		wantEnded(t, s, d.ID, store.DeliveryDeadLettered)
	})
	t.Run("the end of its lease ends it", func(t *testing.T) {
		d := publishOne(t, s, store.DeadLetterDiscard)
		leaseCall(t, s, d.Execution, "w", 100*time.Millisecond)
		if _, err := s.CancelTask(ctx, d.Execution); !errors.Is(err, store.ErrTaskRunning) {
			t.Fatalf("cancel a leased call: %v, want ErrTaskRunning", err)
		}
		time.Sleep(200 * time.Millisecond)
		if tasks, err := s.LeaseTasks(ctx, 10, "w2", time.Minute); err != nil || len(tasks) != 0 {
			t.Fatalf("leased %v (%v), want nothing: the cancelled call never runs again", taskIDs(tasks), err)
		}
		wantEnded(t, s, d.ID, store.DeliveryDiscarded)
	})
}

func testDeliveryEndsWithADroppedCall(t *testing.T, s store.Store) {
	d := publishOne(t, s, store.DeadLetterKeep)
	now := time.Now().UTC()
	s.RecordExecution(store.Execution{ID: d.Execution, App: "app", Route: "/fn", Type: store.TypeAsync, Status: store.StatusCancelled,
		CreatedAt: now, CompletedAt: now}, nil)
	flush(t, s)
	if tasks, err := s.LeaseTasks(t.Context(), 10, "w", time.Minute); err != nil || len(tasks) != 0 {
		t.Fatalf("leased %v (%v), want nothing: the call's execution is final", taskIDs(tasks), err)
	}
	wantEnded(t, s, d.ID, store.DeliveryDeadLettered)
}

// endRun moves run id to RUNNING, then to status.
func endRun(t *testing.T, s store.Store, id, status string) {
	t.Helper()
	setStatus(t, s, id, store.StatusRunning)
	setStatus(t, s, id, status)
}

func testDeliveryEndsWithItsRun(t *testing.T, s store.Store) {
	for _, c := range []struct{ status, policy, want string }{
		{store.StatusSuccess, store.DeadLetterDiscard, store.DeliveryDelivered},
		{store.StatusFailed, store.DeadLetterKeep, store.DeliveryDeadLettered},
		{store.StatusCancelled, store.DeadLetterDiscard, store.DeliveryDiscarded},
	} {
		t.Run("a run that ends "+c.status+" under policy "+c.policy+" ends its delivery "+c.want, func(t *testing.T) {
			p := mustPublish(t, s, store.EventPublish{Event: newEvent("/src", s.NewID(), "t"), Deliveries: []store.NewDelivery{runDelivery(s, "flow", c.policy)}})[0]
			d := p.Deliveries[0]
			setStatus(t, s, d.Execution, store.StatusRunning)
			if got := deliveryStatus(t, s, d.ID); got.Status != store.DeliveryQueued {
				t.Fatalf("a delivery whose run runs: %s, want QUEUED", got.Status)
			}
			setStatus(t, s, d.Execution, c.status)
			wantEnded(t, s, d.ID, c.want)
		})
	}
}

func testStaleEndsLeaveADeliveryAlone(t *testing.T, s store.Store) {
	ctx := t.Context()
	d := publishOne(t, s, store.DeadLetterKeep)
	first := d.Execution
	leaseCall(t, s, first, "w", time.Minute)
	if err := s.CompleteTask(ctx, first, "w", store.Execution{Status: store.StatusFailed}, nil); err != nil {
		t.Fatal(err)
	}
	next := callDelivery(s, "sub", store.DeadLetterKeep)
	if _, err := s.Redeliver(ctx, d.ID, next); err != nil {
		t.Fatal(err)
	}
	// A call and a run that name the delivery but are not its current execution.
	stale := enqueueWith(t, s, 0, func(task *store.Task) { task.Delivery = d.ID })
	leaseCall(t, s, stale, "w", time.Minute)
	if err := s.CompleteTask(ctx, stale, "w", store.Execution{Status: store.StatusSuccess}, nil); err != nil {
		t.Fatal(err)
	}
	if got := deliveryStatus(t, s, d.ID); got.Status != store.DeliveryQueued || got.Execution != next.Call.Task.ID {
		t.Fatalf("after a call that is not its own ended: %+v, want QUEUED by %s", got, next.Call.Task.ID)
	}
	if err := s.CompleteTask(ctx, next.Call.Task.ID, "w", store.Execution{Status: store.StatusSuccess}, nil); err != nil {
		t.Fatal(err)
	}
	wantEnded(t, s, d.ID, store.DeliveryDelivered)
	r := mustRun(t, s, store.Run{Workflow: "etl", Delivery: d.ID})
	endRun(t, s, r.ID, store.StatusFailed)
	if got := deliveryStatus(t, s, d.ID); got.Status != store.DeliveryDelivered || got.Execution != next.Call.Task.ID {
		t.Fatalf("after a run that is not its own ended: %+v, want DELIVERED by %s", got, next.Call.Task.ID)
	}
}

func testRedeliver(t *testing.T, s store.Store) {
	ctx := t.Context()
	var heard changeLog
	defer s.Subscribe(heard.add)()
	if _, err := s.Redeliver(ctx, s.NewID(), callDelivery(s, "sub", store.DeadLetterKeep)); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("redeliver what was never delivered: %v, want ErrNotFound", err)
	}
	d := publishOne(t, s, store.DeadLetterKeep)
	first := d.Execution
	refused := callDelivery(s, "sub", store.DeadLetterKeep)
	if _, err := s.Redeliver(ctx, d.ID, refused); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("redeliver a QUEUED delivery: %v, want ErrConflict", err)
	}
	if _, err := s.GetExecution(ctx, refused.Call.Task.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("the call of a refused redelivery: %v, want ErrNotFound (nothing written)", err)
	}
	leaseCall(t, s, first, "w", time.Minute)
	if err := s.CompleteTask(ctx, first, "w", store.Execution{Status: store.StatusFailed}, nil); err != nil {
		t.Fatal(err)
	}
	ended := deliveryStatus(t, s, d.ID)
	heard.take()
	deadLetters := store.DeliveryFilter{SubscriptionID: d.SubscriptionID, Status: store.DeliveryDeadLettered}
	queued := store.DeliveryFilter{SubscriptionID: d.SubscriptionID, Status: store.DeliveryQueued}
	if got := listDeliveryPages(t, s, deadLetters, 10); !slices.Equal(got, []string{d.ID}) {
		t.Fatalf("dead letters of its subscription ID: %v, want %s", got, d.ID)
	}

	// The redelivery takes the dead-letter policy given (the subscription's as it is now).
	next := callDelivery(s, "sub", store.DeadLetterDiscard)
	got, err := s.Redeliver(ctx, d.ID, next)
	call := next.Call.Task.ID
	if err != nil || got.ID != d.ID || got.Status != store.DeliveryQueued || got.Execution != call ||
		!slices.Equal(got.Executions, []string{first, call}) || got.UpdatedAt.Before(ended.UpdatedAt) || !got.CreatedAt.Equal(d.CreatedAt) ||
		got.Event != d.Event || got.Subscription != d.Subscription || got.SubscriptionID != d.SubscriptionID || got.Workflow ||
		got.DeadLetter != store.DeadLetterDiscard {
		t.Fatalf("redeliver: %+v %v, want QUEUED by %s after %s, policy discard", got, err, call, first)
	}
	if got := listDeliveryPages(t, s, deadLetters, 10); len(got) != 0 {
		t.Fatalf("dead letters of its subscription ID after the redelivery: %v, want none", got)
	}
	if got := listDeliveryPages(t, s, queued, 10); !slices.Equal(got, []string{d.ID}) {
		t.Fatalf("queued deliveries of its subscription ID after the redelivery: %v, want %s", got, d.ID)
	}
	if stored := deliveryStatus(t, s, d.ID); stored.Status != store.DeliveryQueued || !slices.Equal(stored.Executions, got.Executions) {
		t.Fatalf("stored after redeliver: %+v", stored)
	}
	if !slices.Contains(heard.take(), store.Change{Kind: store.ChangeTask, Name: call}) {
		t.Fatalf("no ChangeTask for the redelivery's call %s", call)
	}
	tasks, err := s.LeaseTasks(ctx, 10, "w", time.Minute)
	if err != nil || len(tasks) != 1 || tasks[0].ID != call || tasks[0].Delivery != d.ID {
		t.Fatalf("leased %+v (%v), want the new call with Delivery %s", tasks, err, d.ID)
	}
	if err := s.CompleteTask(ctx, call, "w", store.Execution{Status: store.StatusFailed}, nil); err != nil {
		t.Fatal(err)
	}
	wantEnded(t, s, d.ID, store.DeliveryDiscarded)
	if got := listDeliveryPages(t, s, queued, 10); len(got) != 0 {
		t.Fatalf("queued deliveries of its subscription ID once it ended: %v, want none", got)
	}

	// Without a policy given, the delivery keeps its own.
	run := runDelivery(s, "sub", "")
	got, err = s.Redeliver(ctx, d.ID, run)
	if err != nil || got.Status != store.DeliveryQueued || got.Execution != run.Run.ID || !got.Workflow ||
		!slices.Equal(got.Executions, []string{first, call, run.Run.ID}) || got.DeadLetter != store.DeadLetterDiscard {
		t.Fatalf("redeliver by a run: %+v %v", got, err)
	}
	if r, err := s.GetRun(ctx, run.Run.ID); err != nil || r.Status != store.StatusQueued || r.Delivery != d.ID {
		t.Fatalf("the redelivery's run: %+v %v, want QUEUED with Delivery %s", r, err, d.ID)
	}
	if !slices.Contains(heard.take(), store.Change{Kind: store.ChangeRun, Name: run.Run.ID}) {
		t.Fatalf("no ChangeRun for the redelivery's run %s", run.Run.ID)
	}
	if st, err := s.TaskStats(ctx); err != nil || st.Queued+st.Running != 0 {
		t.Fatalf("queue %+v (%v), want empty", st, err)
	}
	endRun(t, s, run.Run.ID, store.StatusSuccess)
	wantEnded(t, s, d.ID, store.DeliveryDelivered)
}
