package storetest

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/store"
)

func runChangeCases() []testCase {
	return []testCase{
		{
			name:   "the calls of a run update are accepted with it, leased with their parent, their executions naming the run and the step",
			covers: []string{"UpdateRun", "LeaseTasks", "GetExecution", "CompleteTask"},
			run:    testRunCallsAccepted,
		},
		{
			name:   "creating and updating a run delivers ChangeRun, and each call it accepts a ChangeTask, before the write returns",
			covers: []string{"Subscribe", "CreateRun", "UpdateRun"},
			run:    testRunChangesDelivered,
		},
		{
			name: "a call of a run delivers ChangeChild naming the run and the call however it ends, and a call without a parent none",
			covers: []string{"Subscribe", "UpdateRun", "CompleteTask", "CancelTask", "RetryTask", "LeaseTasks",
				"RecordExecution", "FlushExecutions", "EnqueueTask"},
			run: testChildChanges,
		},
	}
}

// stepCall is a call of step of run, with a fresh ID.
func stepCall(s store.IDSource, run, step string) store.StepCall {
	id := s.NewID()
	return store.StepCall{
		Task: store.Task{ID: id, Route: store.Route{App: "app", Path: "/fn", Image: "img"}, Method: "POST", URL: "/fn",
			Body: []byte(`{"step":"` + step + `"}`), Parent: run},
		Execution: store.Execution{App: "app", Route: "/fn", Type: store.TypeAsync, Parent: run, Step: step},
	}
}

// startCall accepts a call of step in an update of run and returns its ID.
func startCall(t *testing.T, s store.Store, run, step string) string {
	t.Helper()
	call := stepCall(s, run, step)
	if _, err := s.UpdateRun(t.Context(), run, func(r *store.Run) (store.RunUpdate, error) {
		r.Status = store.StatusRunning
		return store.RunUpdate{Calls: []store.StepCall{call}}, nil
	}); err != nil {
		t.Fatalf("accept a call of run %s: %v", run, err)
	}
	return call.Task.ID
}

func testRunCallsAccepted(t *testing.T, s store.Store) {
	ctx := t.Context()
	r := mustRun(t, s, store.Run{Workflow: "etl"})
	a, b := stepCall(s, r.ID, "a"), stepCall(s, r.ID, "b")
	got, err := s.UpdateRun(ctx, r.ID, func(r *store.Run) (store.RunUpdate, error) {
		r.Status = store.StatusRunning
		r.Steps = []store.StepRun{{Name: "a", Status: store.StatusQueued, Calls: []string{a.Task.ID}}, {Name: "b", Status: store.StatusQueued, Calls: []string{b.Task.ID}}}
		return store.RunUpdate{Calls: []store.StepCall{a, b}, Events: []store.RunEvent{{Type: store.EventStepStarted, Step: "a"}, {Type: store.EventStepStarted, Step: "b"}}}, nil
	})
	if err != nil || got.Status != store.StatusRunning || len(got.Steps) != 2 || got.Events != 3 {
		t.Fatalf("update: %+v %v", got, err)
	}
	for _, c := range []store.StepCall{a, b} {
		ex, err := s.GetExecution(ctx, c.Task.ID)
		if err != nil || ex.Status != store.StatusQueued || ex.Parent != r.ID || ex.Step != c.Execution.Step || ex.Type != store.TypeAsync || ex.CreatedAt.IsZero() {
			t.Fatalf("execution of the call of step %s: %+v %v", c.Execution.Step, ex, err)
		}
	}
	leased, err := s.LeaseTasks(ctx, 5, "w", time.Minute)
	if err != nil || !slices.Equal(taskIDs(leased), []string{a.Task.ID, b.Task.ID}) {
		t.Fatalf("lease: %v %v, want the two calls in the order given", taskIDs(leased), err)
	}
	for _, task := range leased {
		if task.Parent != r.ID || task.Method != "POST" || string(task.Body) == "" || task.EnqueuedAt.IsZero() {
			t.Fatalf("a leased call lost what it was accepted with: %+v", task)
		}
	}
	// The worker's result does not name the run: the execution still does.
	done := store.Execution{Status: store.StatusSuccess, Output: []byte("out")}
	if err := s.CompleteTask(ctx, a.Task.ID, "w", done, nil); err != nil {
		t.Fatal(err)
	}
	if ex, err := s.GetExecution(ctx, a.Task.ID); err != nil || ex.Status != store.StatusSuccess || ex.Parent != r.ID || ex.Step != "a" {
		t.Fatalf("completed call: %+v %v, want it to keep its Parent and Step", ex, err)
	}
}

func testRunChangesDelivered(t *testing.T, s store.Store) {
	ctx := t.Context()
	var heard changeLog
	defer s.Subscribe(heard.add)()
	r := mustRun(t, s, store.Run{Workflow: "etl"})
	if got := heard.take(); !slices.Contains(got, store.Change{Kind: store.ChangeRun, Name: r.ID}) {
		t.Fatalf("CreateRun delivered %+v, want a ChangeRun of %s", got, r.ID)
	}
	setStatus(t, s, r.ID, store.StatusRunning)
	if got := heard.take(); !slices.Contains(got, store.Change{Kind: store.ChangeRun, Name: r.ID}) {
		t.Fatalf("UpdateRun delivered %+v, want a ChangeRun of %s", got, r.ID)
	}
	a, b := stepCall(s, r.ID, "a"), stepCall(s, r.ID, "b")
	if _, err := s.UpdateRun(ctx, r.ID, func(*store.Run) (store.RunUpdate, error) {
		return store.RunUpdate{Calls: []store.StepCall{a, b}}, nil
	}); err != nil {
		t.Fatal(err)
	}
	got := heard.take()
	for _, want := range []store.Change{{Kind: store.ChangeRun, Name: r.ID}, {Kind: store.ChangeTask, Name: a.Task.ID}, {Kind: store.ChangeTask, Name: b.Task.ID}} {
		if !slices.Contains(got, want) {
			t.Fatalf("an update with two calls delivered %+v, want %+v among them", got, want)
		}
	}
	errStop := errors.New("stop")
	if _, err := s.UpdateRun(ctx, r.ID, func(*store.Run) (store.RunUpdate, error) { return store.RunUpdate{}, errStop }); !errors.Is(err, errStop) {
		t.Fatal(err)
	}
	if _, err := s.UpdateRun(ctx, r.ID, func(r *store.Run) (store.RunUpdate, error) {
		r.Status = store.StatusQueued
		return store.RunUpdate{}, nil
	}); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("RUNNING to QUEUED: got %v, want ErrConflict", err)
	}
	if got := heard.take(); len(got) != 0 {
		t.Fatalf("updates that wrote nothing delivered %+v", got)
	}
}

func testChildChanges(t *testing.T, s store.Store) {
	ctx := t.Context()
	var heard changeLog
	defer s.Subscribe(heard.add)()
	r := mustRun(t, s, store.Run{Workflow: "etl"})
	child := func(id string) store.Change { return store.Change{Kind: store.ChangeChild, Name: r.ID, Path: id} }
	children := func(got []store.Change) []store.Change {
		return slices.DeleteFunc(got, func(c store.Change) bool { return c.Kind != store.ChangeChild })
	}
	expect := func(what string, want ...store.Change) {
		t.Helper()
		if got := children(heard.take()); !slices.Equal(got, want) {
			t.Fatalf("%s: heard ChangeChild %+v, want %+v", what, got, want)
		}
	}
	lease := func(id string, d time.Duration) {
		t.Helper()
		if got, err := s.LeaseTasks(ctx, 1, "w", d); err != nil || !slices.Equal(taskIDs(got), []string{id}) {
			t.Fatalf("lease %s: %v %v", id, taskIDs(got), err)
		}
	}

	done := startCall(t, s, r.ID, "completed")
	lease(done, time.Minute)
	expect("accepting and leasing a call")
	if err := s.RetryTask(ctx, done, "w", 0, "try again"); err != nil {
		t.Fatal(err)
	}
	lease(done, time.Minute)
	expect("a retry, which does not end the call")
	if err := s.CompleteTask(ctx, done, "w", store.Execution{Status: store.StatusFailed, Error: "boom"}, nil); err != nil {
		t.Fatal(err)
	}
	expect("CompleteTask", child(done))

	queued := startCall(t, s, r.ID, "cancelled in the queue")
	if _, err := s.CancelTask(ctx, queued); err != nil {
		t.Fatal(err)
	}
	expect("CancelTask of a queued call", child(queued))

	retried := startCall(t, s, r.ID, "cancelled while running, then retried")
	lease(retried, time.Minute)
	if _, err := s.CancelTask(ctx, retried); !errors.Is(err, store.ErrTaskRunning) {
		t.Fatalf("cancel of a leased call: got %v, want ErrTaskRunning", err)
	}
	expect("CancelTask of a leased call, which goes on until its worker stops")
	if err := s.RetryTask(ctx, retried, "w", 0, "stopped"); err != nil {
		t.Fatal(err)
	}
	expect("RetryTask of a cancelled call, which ends it", child(retried))

	expired := startCall(t, s, r.ID, "cancelled while running, then its lease ended")
	lease(expired, 100*time.Millisecond)
	if _, err := s.CancelTask(ctx, expired); !errors.Is(err, store.ErrTaskRunning) {
		t.Fatalf("cancel of a leased call: got %v, want ErrTaskRunning", err)
	}
	time.Sleep(150 * time.Millisecond)
	if got, err := s.LeaseTasks(ctx, 1, "w2", time.Minute); err != nil || len(got) != 0 {
		t.Fatalf("lease after the cancelled call's lease ended: %v %v, want nothing", taskIDs(got), err)
	}
	expect("the end of a cancelled call's lease", child(expired))

	dropped := startCall(t, s, r.ID, "ended behind the queue's back")
	ended := newExec(s, "app", "/fn", store.StatusCancelled)
	ended.ID, ended.Type, ended.Parent = dropped, store.TypeAsync, r.ID
	s.RecordExecution(ended, nil)
	flush(t, s)
	if got, err := s.LeaseTasks(ctx, 1, "w", time.Minute); err != nil || len(got) != 0 {
		t.Fatalf("lease of a call whose execution is final: %v %v, want nothing", taskIDs(got), err)
	}
	expect("a call dropped from the queue, its execution final", child(dropped))
	if status := statusOf(t, s, done); status != store.StatusFailed {
		t.Fatalf("completed call: %s", status)
	}
	for _, id := range []string{queued, retried, expired} {
		if status := statusOf(t, s, id); status != store.StatusCancelled {
			t.Fatalf("cancelled call %s: %s", id, status)
		}
	}

	orphan := enqueue(t, s, 0)
	lease(orphan, time.Minute)
	if err := s.CompleteTask(ctx, orphan, "w", store.Execution{Status: store.StatusSuccess}, nil); err != nil {
		t.Fatal(err)
	}
	other := enqueue(t, s, 0)
	if _, err := s.CancelTask(ctx, other); err != nil {
		t.Fatal(err)
	}
	expect("calls without a parent")
}
