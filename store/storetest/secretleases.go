package storetest

import (
	"slices"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/store"
)

func secretLeaseCases() []testCase {
	return []testCase{
		{
			name:   "the lease without secrets passes over the tasks that need them (or an @name image), in line order, and leaves them untouched, in their place, for the lease of everything",
			covers: []string{"EnqueueTask", "LeaseTasksWithoutSecrets", "LeaseTasks", "GetExecution", "TaskStats"},
			run:    testLeaseWithoutSecrets,
		},
		{
			name:   "a workflow step's call that names secrets, accepted with its run, is not leased without secrets",
			covers: []string{"UpdateRun", "LeaseTasksWithoutSecrets", "LeaseTasks"},
			run:    testStepCallWithSecretsNotLeasedWithout,
		},
	}
}

// routeSecrets and stepSecrets name secrets as a route does and as a workflow step's call
// does (Task.Secrets, without any on its route).
func routeSecrets(t *store.Task)     { t.Route.Secrets = []string{"db"} }
func routeImageByName(t *store.Task) { t.Route.Image = "@fn-image" }
func stepSecrets(t *store.Task)      { t.Secrets = []string{"deploy-key"} }

func testLeaseWithoutSecrets(t *testing.T, s store.Store) {
	ctx := t.Context()
	a := enqueue(t, s, 1)
	b := enqueueWith(t, s, 1, routeSecrets)
	c := enqueue(t, s, 1)
	d := enqueueWith(t, s, 1, stepSecrets)
	f := enqueueWith(t, s, 1, routeImageByName)  // an image Gantry manages stays home as secrets do
	urgent := enqueueWith(t, s, 0, routeSecrets) // first in line, before them all
	e := enqueue(t, s, 2)
	const runner = "runner:r1"

	// Skipped tasks do not count against n: two asked, two plain ones leased.
	got, err := s.LeaseTasksWithoutSecrets(ctx, 2, runner, time.Minute)
	if err != nil || !slices.Equal(taskIDs(got), []string{a, c}) {
		t.Fatalf("lease without secrets: %v %v, want %s then %s", taskIDs(got), err, a, c)
	}
	for _, task := range got {
		if task.LeaseOwner != runner || task.Attempts != 1 || task.NeedsSecrets() {
			t.Fatalf("leased without secrets: %+v", task)
		}
	}
	if got, err := s.LeaseTasksWithoutSecrets(ctx, 10, runner, time.Minute); err != nil || !slices.Equal(taskIDs(got), []string{e}) {
		t.Fatalf("the rest without secrets: %v %v, want only %s", taskIDs(got), err, e)
	}
	if got, err := s.LeaseTasksWithoutSecrets(ctx, 10, "runner:r2", time.Minute); err != nil || len(got) != 0 {
		t.Fatalf("another runner got %v %v: every task left needs secrets", taskIDs(got), err)
	}
	secret := []string{urgent, b, d, f} // in line order
	for _, id := range secret {
		if ex, err := s.GetExecution(ctx, id); err != nil || ex.Status != store.StatusQueued || ex.Attempts != 0 || !ex.StartedAt.IsZero() {
			t.Fatalf("a task passed over for needing secrets: %+v %v, want it QUEUED and never started", ex, err)
		}
	}
	if st, err := s.TaskStats(ctx); err != nil || st.Queued != 4 || st.Running != 3 {
		t.Fatalf("stats %+v %v, want 4 waiting (the secret ones, the @name one) and 3 running", st, err)
	}

	// Gantry's own workers lease everything: the secret ones, in their place, first attempt.
	worker := "gantry@n:r:0"
	got, err = s.LeaseTasks(ctx, 10, worker, 100*time.Millisecond)
	if err != nil || !slices.Equal(taskIDs(got), secret) {
		t.Fatalf("the lease of everything: %v %v, want %v", taskIDs(got), err, secret)
	}
	for _, task := range got {
		if task.Attempts != 1 || task.LeaseOwner != worker || !task.StaysHome() {
			t.Fatalf("a task that needs secrets, leased by a worker: %+v, want attempt 1 with its secrets", task)
		}
	}
	if got[1].Route.Secrets[0] != "db" || len(got[2].Route.Secrets) != 0 || got[2].Secrets[0] != "deploy-key" {
		t.Fatalf("leased tasks lost their secrets: %+v / %+v", got[1], got[2])
	}

	// The worker dies: the tasks go back to the queue, still for workers only.
	time.Sleep(150 * time.Millisecond)
	if got, err := s.LeaseTasksWithoutSecrets(ctx, 10, runner, time.Minute); err != nil || len(got) != 0 {
		t.Fatalf("after the worker's lease ended, a runner got %v %v", taskIDs(got), err)
	}
	got, err = s.LeaseTasks(ctx, 10, "gantry@n:r:1", time.Minute)
	if err != nil || !slices.Equal(taskIDs(got), secret) || got[0].Attempts != 2 {
		t.Fatalf("the next worker's lease: %v %v, want %v at attempt 2", taskIDs(got), err, secret)
	}
}

func testStepCallWithSecretsNotLeasedWithout(t *testing.T, s store.Store) {
	ctx := t.Context()
	r := mustRun(t, s, store.Run{Workflow: "deploy"})
	plain, secret := stepCall(s, r.ID, "build"), stepCall(s, r.ID, "push")
	stepSecrets(&secret.Task)
	if _, err := s.UpdateRun(ctx, r.ID, func(r *store.Run) (store.RunUpdate, error) {
		r.Status = store.StatusRunning
		return store.RunUpdate{Calls: []store.StepCall{secret, plain}}, nil
	}); err != nil {
		t.Fatal(err)
	}
	if got, err := s.LeaseTasksWithoutSecrets(ctx, 10, "runner:r1", time.Minute); err != nil || !slices.Equal(taskIDs(got), []string{plain.Task.ID}) {
		t.Fatalf("lease without secrets: %v %v, want only the call without secrets", taskIDs(got), err)
	}
	if got, err := s.LeaseTasks(ctx, 10, "gantry@n:r:0", time.Minute); err != nil || !slices.Equal(taskIDs(got), []string{secret.Task.ID}) || got[0].Attempts != 1 {
		t.Fatalf("the lease of everything: %+v %v, want the call with secrets at attempt 1", got, err)
	}
}
