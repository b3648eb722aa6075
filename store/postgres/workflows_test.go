package postgres

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/pgtest"
	"github.com/gantry-dev/gantry/store"
)

// Workflows and runs on PostgreSQL: what two handles on one schema (two nodes) must keep,
// and the paths of the queue that end a workflow step's call.

var errRefused = errors.New("refused by the test")

func mustPutWorkflow(t *testing.T, s store.Store, name, owner string) store.Workflow {
	t.Helper()
	w, _, err := s.PutWorkflow(t.Context(), store.Workflow{Name: name, Owner: owner, Definition: []byte(`{"steps":[]}`)}, nil)
	if err != nil {
		t.Fatalf("put workflow %s: %v", name, err)
	}
	return w
}

func mustCreateRun(t *testing.T, s store.Store, r store.Run) store.Run {
	t.Helper()
	r.Status = store.StatusQueued
	stored, created, err := s.CreateRun(t.Context(), r, []store.RunEvent{{Type: store.EventQueued}})
	if err != nil || !created {
		t.Fatalf("create run: %v (created %v)", err, created)
	}
	return stored
}

func TestWorkflowsAreVersionedGuardedAndKeptWhileTheyRun(t *testing.T) {
	s := openTest(t, pgtest.Schema(t), "node-a")
	ctx := t.Context()
	v1 := mustPutWorkflow(t, s, "wf", "alice")
	if v1.Version != 1 || v1.Owner != "alice" || v1.CreatedAt.IsZero() {
		t.Fatalf("created %+v, want version 1 owned by alice", v1)
	}
	mine := func(owner string) error {
		if owner != "alice" {
			return errRefused
		}
		return nil
	}
	notMine := func(string) error { return errRefused }
	if _, _, err := s.PutWorkflow(ctx, store.Workflow{Name: "wf", Owner: "bob", Definition: []byte(`{}`)}, notMine); !errors.Is(err, errRefused) {
		t.Fatalf("a replace the guard refuses: %v, want the guard's error", err)
	}
	v2, created, err := s.PutWorkflow(ctx, store.Workflow{Name: "wf", Owner: "bob", Description: "two", Definition: []byte(`{"v":2}`),
		RunAccess: []string{"authenticated"}}, mine)
	if err != nil || created || v2.Version != 2 || v2.Owner != "alice" || !v2.CreatedAt.Equal(v1.CreatedAt) || v2.UpdatedAt.Before(v1.UpdatedAt) {
		t.Fatalf("replaced: %+v created %v (%v), want version 2, owner and created_at kept", v2, created, err)
	}
	got, err := s.GetWorkflow(ctx, "wf")
	if err != nil || got.Version != 2 || string(got.Definition) != `{"v":2}` || !slices.Equal(got.RunAccess, []string{"authenticated"}) {
		t.Fatalf("get: %+v %v", got, err)
	}

	r := mustCreateRun(t, s, store.Run{Workflow: "wf", WorkflowVersion: 2, Owner: "alice", TriggeredBy: "bob"})
	if err := s.DeleteWorkflow(ctx, "wf", nil); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("delete with a run not final: %v, want ErrConflict", err)
	}
	if _, err := s.UpdateRun(ctx, r.ID, func(r *store.Run) (store.RunUpdate, error) {
		r.Status = store.StatusSuccess
		return store.RunUpdate{Events: []store.RunEvent{{Type: store.EventFinished, Status: store.StatusSuccess}}}, nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteWorkflow(ctx, "wf", notMine); !errors.Is(err, errRefused) {
		t.Fatalf("a delete the guard refuses: %v", err)
	}
	if err := s.DeleteWorkflow(ctx, "wf", mine); err != nil {
		t.Fatalf("delete once its runs are final: %v", err)
	}
	if _, err := s.GetRun(ctx, r.ID); err != nil {
		t.Fatalf("a finished run outlives its workflow: %v", err)
	}
	if err := s.DeleteWorkflow(ctx, "wf", nil); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("delete twice: %v, want ErrNotFound", err)
	}
}

func TestListWorkflowsKeepsPagesFullOfVisibleOnes(t *testing.T) {
	s := openTest(t, pgtest.Schema(t), "node-a")
	var want []string
	for i := range 250 {
		owner := "bob"
		if i%7 == 0 {
			owner = "alice"
			want = append(want, fmt.Sprintf("wf-%03d", i))
		}
		mustPutWorkflow(t, s, fmt.Sprintf("wf-%03d", i), owner)
	}
	visible := store.WorkflowFilter{Visible: func(w store.Workflow) bool { return w.Owner == "alice" }}
	var got []string
	page := store.Page{Limit: 10}
	for {
		ws, next, err := s.ListWorkflows(t.Context(), visible, page)
		if err != nil {
			t.Fatal(err)
		}
		if next != "" && len(ws) != 10 {
			t.Fatalf("a page that is not the last holds %d workflows, want 10", len(ws))
		}
		for _, w := range ws {
			got = append(got, w.Name)
		}
		if next == "" {
			break
		}
		page.Cursor = next
	}
	if !slices.Equal(got, want) {
		t.Fatalf("listed %v, want %v", got, want)
	}
}

func TestConcurrentUpdatesOfARunFromTwoNodesLoseNoEvent(t *testing.T) {
	dsn := pgtest.Schema(t)
	a, b := openTest(t, dsn, "node-a"), openTest(t, dsn, "node-b")
	mustPutWorkflow(t, a, "wf", "alice")
	r := mustCreateRun(t, a, store.Run{Workflow: "wf", Owner: "alice", TriggeredBy: "alice"})
	const perNode, goroutines = 15, 4
	var wg sync.WaitGroup
	errs := make(chan error, 2*perNode*goroutines)
	for _, s := range []*DB{a, b} {
		for g := range goroutines {
			wg.Go(func() {
				for i := range perNode {
					name := fmt.Sprintf("%s-%d-%d", s.InstanceID(), g, i)
					_, err := s.UpdateRun(t.Context(), r.ID, func(r *store.Run) (store.RunUpdate, error) {
						r.Status = store.StatusRunning
						r.Steps = append(r.Steps, store.StepRun{Name: name, Status: store.StatusSuccess})
						return store.RunUpdate{Events: []store.RunEvent{{Type: store.EventStepFinished, Step: name}}}, nil
					})
					errs <- err
				}
			})
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("update: %v", err)
		}
	}
	const total = 2 * perNode * goroutines
	got, err := b.GetRun(t.Context(), r.ID)
	if err != nil || got.Events != total+1 || len(got.Steps) != total {
		t.Fatalf("run after %d updates: %d events, %d steps (%v), want %d and %d", total, got.Events, len(got.Steps), err, total+1, total)
	}
	events, err := a.ListRunEvents(t.Context(), r.ID, 0, 0)
	if err != nil || len(events) != total+1 {
		t.Fatalf("%d events (%v), want %d", len(events), err, total+1)
	}
	for i, e := range events {
		if e.Seq != int64(i+1) || e.Time.IsZero() {
			t.Fatalf("event %d: %+v, want seq %d with a time", i, e, i+1)
		}
	}
	page, err := a.ListRunEvents(t.Context(), r.ID, 10, 5)
	if err != nil || len(page) != 5 || page[0].Seq != 11 || page[4].Seq != 15 {
		t.Fatalf("events after 10, 5 of them: %+v %v", page, err)
	}
	if _, err := a.ListRunEvents(t.Context(), "nope", 0, 0); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("events of no run: %v, want ErrNotFound", err)
	}
}

func TestUpdateRunWritesNothingWhenItFails(t *testing.T) {
	s := openTest(t, pgtest.Schema(t), "node-a")
	ctx := t.Context()
	mustPutWorkflow(t, s, "wf", "alice")
	r := mustCreateRun(t, s, store.Run{Workflow: "wf"})
	calls := 0
	call := store.StepCall{Task: store.Task{ID: s.NewID(), Route: store.Route{App: "app", Path: "/fn", Image: "img"}, Method: "POST", URL: "/fn"},
		Execution: store.Execution{App: "app", Route: "/fn", Type: store.TypeAsync, Step: "one"}}
	_, err := s.UpdateRun(ctx, r.ID, func(r *store.Run) (store.RunUpdate, error) {
		calls++
		r.Status = store.StatusRunning
		return store.RunUpdate{Events: []store.RunEvent{{Type: store.EventStarted}}, Calls: []store.StepCall{call}}, errRefused
	})
	if err != errRefused || calls != 1 { //nolint:errorlint // returned unchanged, not wrapped
		t.Fatalf("fn failing: %v after %d calls, want its error, unchanged, after one", err, calls)
	}
	if _, err := s.UpdateRun(ctx, r.ID, func(r *store.Run) (store.RunUpdate, error) {
		r.Status = store.StatusFailed
		return store.RunUpdate{Calls: []store.StepCall{call}}, nil
	}); err != nil {
		t.Fatal(err)
	}
	_, err = s.UpdateRun(ctx, r.ID, func(r *store.Run) (store.RunUpdate, error) {
		r.Status = store.StatusRunning
		return store.RunUpdate{Events: []store.RunEvent{{Type: store.EventStarted}}}, nil
	})
	if !errors.Is(err, store.ErrConflict) {
		t.Fatalf("a final run moved: %v, want ErrConflict", err)
	}
	got, err := s.GetRun(ctx, r.ID)
	if err != nil || got.Status != store.StatusFailed || got.Events != 1 {
		t.Fatalf("run %+v %v, want FAILED with its first event only", got, err)
	}
	st, err := s.TaskStats(ctx)
	if err != nil || st.Queued != 1 {
		t.Fatalf("queue %+v %v, want the one call of the update that was written", st, err)
	}
}

func TestIdempotentCreatesFromTwoNodesMakeOneRun(t *testing.T) {
	dsn := pgtest.Schema(t)
	a, b := openTest(t, dsn, "node-a"), openTest(t, dsn, "node-b")
	mustPutWorkflow(t, a, "wf", "alice")
	const n = 20
	ids := make([]string, n)
	created := make([]bool, n)
	var wg sync.WaitGroup
	for i := range n {
		s := a
		if i%2 == 1 {
			s = b
		}
		wg.Go(func() {
			r, c, err := s.CreateRun(t.Context(), store.Run{Workflow: "wf", Status: store.StatusQueued, TriggeredBy: "bob", IdempotencyKey: "k"}, nil)
			if err != nil {
				t.Errorf("create %d: %v", i, err)
			}
			ids[i], created[i] = r.ID, c
		})
	}
	wg.Wait()
	if n := len(slices.DeleteFunc(slices.Clone(created), func(c bool) bool { return !c })); n != 1 {
		t.Fatalf("%d creates made a run, want 1", n)
	}
	for _, id := range ids {
		if id != ids[0] || id == "" {
			t.Fatalf("creates returned runs %v, want one run", ids)
		}
	}
	other, c, err := a.CreateRun(t.Context(), store.Run{Workflow: "wf", Status: store.StatusQueued, TriggeredBy: "carol", IdempotencyKey: "k"}, nil)
	if err != nil || !c || other.ID == ids[0] {
		t.Fatalf("the same key of another trigger: %+v %v %v, want a run of its own", other, c, err)
	}
	runs, _, err := b.ListRuns(t.Context(), store.RunFilter{Viewer: "bob"}, store.Page{})
	if err != nil || len(runs) != 1 || runs[0].ID != ids[0] {
		t.Fatalf("bob's runs: %+v %v", runs, err)
	}
}

// aStepCall makes an UpdateRun of run id that accepts one step call and returns its ID.
func aStepCall(t *testing.T, s store.Store, run string) string {
	t.Helper()
	id := s.NewID()
	_, err := s.UpdateRun(t.Context(), run, func(r *store.Run) (store.RunUpdate, error) {
		r.Status = store.StatusRunning
		return store.RunUpdate{Calls: []store.StepCall{{
			Task:      store.Task{ID: id, Route: store.Route{App: "app", Path: "/fn", Image: "img"}, Method: "POST", URL: "/fn", Parent: run},
			Execution: store.Execution{App: "app", Route: "/fn", Type: store.TypeAsync, Parent: run, Step: "one"},
		}}}, nil
	})
	if err != nil {
		t.Fatalf("update run with a step call: %v", err)
	}
	return id
}

func TestEveryEndOfAStepCallReachesBothNodes(t *testing.T) {
	dsn := pgtest.Schema(t)
	a, b := openTest(t, dsn, "node-a"), openTest(t, dsn, "node-b")
	ctx := t.Context()
	var ha, hb heard
	defer a.Subscribe(ha.add)()
	defer b.Subscribe(hb.add)()
	mustPutWorkflow(t, a, "wf", "alice")
	run := mustCreateRun(t, a, store.Run{Workflow: "wf"}).ID
	heardChild := func(call string) {
		t.Helper()
		c := store.Change{Kind: store.ChangeChild, Name: run, Path: call}
		if n := ha.count(c); n != 1 {
			t.Fatalf("the writing node heard %+v %d times before the write returned, want once", c, n)
		}
		waitFor(t, 2*time.Second, "the other node hears "+call+" end", func() bool { return hb.count(c) == 1 })
	}
	lease := func(want string) store.Task {
		t.Helper()
		tasks, err := b.LeaseTasks(ctx, 1, "w", time.Minute)
		if err != nil || len(tasks) != 1 || tasks[0].ID != want {
			t.Fatalf("leased %+v %v, want %s", tasks, err, want)
		}
		return tasks[0]
	}

	t.Run("completed", func(t *testing.T) {
		call := aStepCall(t, a, run)
		waitFor(t, 2*time.Second, "the other node hears the run change and the call", func() bool {
			return hb.count(store.Change{Kind: store.ChangeRun, Name: run}) >= 1 && hb.count(store.Change{Kind: store.ChangeTask, Name: call}) == 1
		})
		if task := lease(call); task.Parent != run {
			t.Fatalf("leased task's parent %q, want %q", task.Parent, run)
		}
		if err := a.CompleteTask(ctx, call, "w", store.Execution{Status: store.StatusSuccess}, nil); err != nil {
			t.Fatal(err)
		}
		heardChild(call)
		ex, err := b.GetExecution(ctx, call)
		if err != nil || ex.Parent != run || ex.Step != "one" || ex.Status != store.StatusSuccess {
			t.Fatalf("execution %+v %v, want SUCCESS, parent %s, step one", ex, err, run)
		}
	})
	t.Run("cancelled in the queue", func(t *testing.T) {
		call := aStepCall(t, a, run)
		if _, err := a.CancelTask(ctx, call); err != nil {
			t.Fatal(err)
		}
		heardChild(call)
	})
	t.Run("cancelled while leased, then retried", func(t *testing.T) {
		call := aStepCall(t, a, run)
		lease(call)
		if _, err := a.CancelTask(ctx, call); !errors.Is(err, store.ErrTaskRunning) {
			t.Fatalf("cancel a leased task: %v", err)
		}
		if hb.count(store.Change{Kind: store.ChangeChild, Name: run, Path: call}) != 0 {
			t.Fatal("a ChangeChild while the call still runs")
		}
		if err := b.RetryTask(ctx, call, "w", 0, "boom"); err != nil {
			t.Fatal(err)
		}
		c := store.Change{Kind: store.ChangeChild, Name: run, Path: call}
		if hb.count(c) != 1 {
			t.Fatal("the retrying node did not hear the call end before RetryTask returned")
		}
		waitFor(t, 2*time.Second, "the other node hears it", func() bool { return ha.count(c) == 1 })
	})
	t.Run("cancelled while leased, then its lease ran out", func(t *testing.T) {
		call := aStepCall(t, a, run)
		if tasks, err := b.LeaseTasks(ctx, 1, "w", 50*time.Millisecond); err != nil || len(tasks) != 1 {
			t.Fatalf("lease: %+v %v", tasks, err)
		}
		if _, err := a.CancelTask(ctx, call); !errors.Is(err, store.ErrTaskRunning) {
			t.Fatalf("cancel a leased task: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
		if tasks, err := a.LeaseTasks(ctx, 1, "w2", time.Minute); err != nil || len(tasks) != 0 {
			t.Fatalf("leased %+v %v, want nothing: the cancelled task ends", tasks, err)
		}
		heardChild(call)
		if ex, err := a.GetExecution(ctx, call); err != nil || ex.Status != store.StatusCancelled {
			t.Fatalf("execution %+v %v, want CANCELLED", ex, err)
		}
	})
	t.Run("dropped because its execution is final", func(t *testing.T) {
		call := aStepCall(t, a, run)
		if _, err := a.pool.Exec(ctx, "UPDATE executions SET status = $2 WHERE id = $1", call, store.StatusFailed); err != nil {
			t.Fatal(err)
		}
		if tasks, err := a.LeaseTasks(ctx, 1, "w", time.Minute); err != nil || len(tasks) != 0 {
			t.Fatalf("leased %+v %v, want nothing", tasks, err)
		}
		heardChild(call)
	})
	t.Run("not for calls without a parent", func(t *testing.T) {
		id := a.NewID()
		if err := a.EnqueueTask(ctx, store.Task{ID: id, Route: store.Route{App: "app", Path: "/fn", Image: "img"}, Method: "POST", URL: "/fn"},
			store.Execution{App: "app", Route: "/fn", Type: store.TypeAsync}); err != nil {
			t.Fatal(err)
		}
		if _, err := a.CancelTask(ctx, id); err != nil {
			t.Fatal(err)
		}
		ha.mu.Lock()
		defer ha.mu.Unlock()
		for _, c := range ha.changes {
			if c.Kind == store.ChangeChild && c.Path == id {
				t.Fatalf("heard %+v for a call of no run", c)
			}
		}
	})
}

func TestChangesOfRunsSurviveTheNotifyPayload(t *testing.T) {
	for _, c := range []store.Change{{Kind: store.ChangeRun, Name: "run"}, {Kind: store.ChangeChild, Name: "run", Path: "call"}} {
		origin, got, err := decodeChange(encodeChange("o", c))
		if err != nil || origin != "o" || got != c {
			t.Fatalf("%+v came back as %+v from %q (%v)", c, got, origin, err)
		}
	}
}
