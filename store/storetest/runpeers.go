package storetest

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/store"
)

// testPeersShareRuns: two nodes update one run at once and neither loses the other's
// change; the end of a step's call, on one node, reaches the engine on the other.
func testPeersShareRuns(t *testing.T, a, b store.Store) {
	ctx := t.Context()
	var heardA, heardB changeLog
	defer a.Subscribe(heardA.add)()
	defer b.Subscribe(heardB.add)()
	r := mustRun(t, a, store.Run{Workflow: "etl"})
	heardB.hears(t, store.Change{Kind: store.ChangeRun, Name: r.ID})

	const perNode = 10
	var wg sync.WaitGroup
	errs := make(chan error, 2*perNode)
	for _, s := range []store.Store{a, b} {
		for i := range perNode {
			wg.Go(func() {
				step := fmt.Sprintf("%s-%d", s.InstanceID(), i)
				_, err := s.UpdateRun(ctx, r.ID, func(r *store.Run) (store.RunUpdate, error) {
					r.Status = store.StatusRunning
					r.Steps = append(r.Steps, store.StepRun{Name: step, Status: store.StatusSuccess})
					return store.RunUpdate{Events: []store.RunEvent{{Type: store.EventStepFinished, Step: step}}}, nil
				})
				errs <- err
			})
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("update from either node: %v", err)
		}
	}
	got, err := b.GetRun(ctx, r.ID)
	if err != nil || got.Events != 2*perNode+1 || len(got.Steps) != 2*perNode {
		t.Fatalf("after %d updates on two nodes: %d events, %d steps (%v), want %d and %d",
			2*perNode, got.Events, len(got.Steps), err, 2*perNode+1, 2*perNode)
	}
	if seqs := eventSeqs(t, a, r.ID, 0, 0); len(seqs) != 2*perNode+1 || seqs[len(seqs)-1] != 2*perNode+1 {
		t.Fatalf("events %v, want 1..%d", seqs, 2*perNode+1)
	}

	call := startCall(t, a, r.ID, "last")
	heardB.hears(t, store.Change{Kind: store.ChangeTask, Name: call})
	tasks, err := b.LeaseTasks(ctx, 1, "worker-b", time.Minute)
	if err != nil || len(tasks) != 1 || tasks[0].ID != call || tasks[0].Parent != r.ID {
		t.Fatalf("node b leased %+v (%v), want the call of run %s", tasks, err, r.ID)
	}
	if err := b.CompleteTask(ctx, call, "worker-b", store.Execution{Status: store.StatusSuccess}, nil); err != nil {
		t.Fatal(err)
	}
	heardA.hears(t, store.Change{Kind: store.ChangeChild, Name: r.ID, Path: call})
}
