package storetest

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/store"
)

// RunPeers runs the cases of two nodes sharing one store against the backend that open
// makes: a and b are two handles on the same, new, empty store, opened as two nodes (their
// InstanceIDs differ), each with its own change feed and resolver. open registers their
// cleanup with t.Cleanup. Backends that only one process can open (bbolt) do not run it.
func RunPeers(t *testing.T, open func(t *testing.T) (a, b store.Store)) {
	for _, c := range peerCases() {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			a, b := open(t)
			if a.InstanceID() == b.InstanceID() {
				t.Fatalf("both handles are node %q: open two nodes", a.InstanceID())
			}
			sa, sb := newSpy(a), newSpy(b)
			c.run(t, sa, sb)
			for _, m := range c.covers {
				if !sa.called(m) && !sb.called(m) {
					t.Errorf("the case claims to cover %s but never calls it", m)
				}
			}
		})
	}
}

// peerCase is one property of a store shared by two nodes.
type peerCase struct {
	name   string // reads as a sentence
	covers []string
	run    func(t *testing.T, a, b store.Store)
}

// otherNodeDelay bounds how long a change takes to reach another node.
const otherNodeDelay = time.Second

func peerCases() []peerCase {
	return []peerCase{
		{
			name:   "a route written on one node is resolved on the other within a second",
			covers: []string{"CreateApp", "CreateRoute", "UpdateRoute", "DeleteRoute", "UpdateApp", "MatchRoute", "AppConfig", "AppOwner"},
			run:    testPeerResolvesWrites,
		},
		{
			name:   "every write of an app, a route, an API and every accepted task reaches the other node's subscribers",
			covers: []string{"Subscribe", "CreateApp", "CreateRoute", "CreateAPI", "DeleteAPI", "EnqueueTask"},
			run:    testPeerHearsWrites,
		},
		{
			name:   "a cancel asked on one node reaches the subscribers of the node that runs the call",
			covers: []string{"Subscribe", "CancelTask", "LeaseTasks", "RequestCancel", "RecordExecution", "FlushExecutions"},
			run:    testPeerHearsCancels,
		},
		{
			name:   "consumers on two nodes never share a task",
			covers: []string{"EnqueueTask", "LeaseTasks", "CompleteTask"},
			run:    testPeersNeverShareATask,
		},
		{
			name:   "a lease ends at the same moment for both nodes, and only its holder ends its task",
			covers: []string{"LeaseTasks", "RenewLeases", "CompleteTask", "RetryTask", "GetExecution"},
			run:    testPeersShareTheLeaseClock,
		},
		{
			name:   "each node reads the executions the other stored, and recovers only the calls it left running",
			covers: []string{"RecordExecution", "FlushExecutions", "GetExecution", "ListExecutions", "RecoverExecutions", "InstanceID"},
			run:    testPeersShareExecutions,
		},
		{
			name:   "each node lists the other's heartbeats",
			covers: []string{"Heartbeat", "ListNodes"},
			run:    testPeersListEachOther,
		},
		{
			name:   "updates of one run from two nodes are serialized, and the end of its call on one node reaches the other",
			covers: []string{"Subscribe", "CreateRun", "UpdateRun", "GetRun", "ListRunEvents", "LeaseTasks", "CompleteTask"},
			run:    testPeersShareRuns,
		},
		{
			name:   "a write of a secret's record on one node reaches the other's subscribers, and puts of values from both nodes get distinct versions",
			covers: []string{"Subscribe", "CreateSecret", "UpdateSecret", "DeleteSecret", "GetSecret", "PutSecretValue", "GetSecretValue"},
			run:    testPeersShareSecrets,
		},
		{
			name:   "a tick claimed at once on two nodes fires once, and an event published at once on both is stored once",
			covers: []string{"Subscribe", "CreateSchedule", "ClaimTick", "GetSchedule", "TaskStats", "PublishEvents"},
			run:    testPeersClaimTicksOnce,
		},
		{
			name:   "every write of an image on one node reaches the other's subscribers, and a delete on one node sees the routes the other wrote",
			covers: []string{"Subscribe", "CreateImage", "UpdateImage", "DeleteImage", "CreateRoute", "UpdateRoute", "GetImage"},
			run:    testPeersShareImages,
		},
	}
}

// eventually polls cond until it holds, failing the test after otherNodeDelay.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(otherNodeDelay)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, otherNodeDelay)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// hears waits until l has heard want.
func (l *changeLog) hears(t *testing.T, want store.Change) {
	t.Helper()
	eventually(t, fmt.Sprintf("the other node hears %+v", want), func() bool {
		l.mu.Lock()
		defer l.mu.Unlock()
		return slices.Contains(l.changes, want)
	})
}

func testPeerResolvesWrites(t *testing.T, a, b store.Store) {
	ctx := t.Context()
	if _, err := a.CreateApp(ctx, store.App{Name: "shop", Owner: "ann", Config: map[string]string{"K": "1"}}); err != nil {
		t.Fatal(err)
	}
	mustRoute(t, a, "shop", "/items/:id")
	eventually(t, "node b resolves a route created on node a", func() bool {
		r, params, err := b.MatchRoute("shop", "/items/7")
		return err == nil && r.Path == "/items/:id" && params["id"] == "7"
	})
	if _, err := a.UpdateRoute(ctx, "shop", "/items/:id", func(r *store.Route) error { r.Image = "img:2"; return nil }, nil); err != nil {
		t.Fatal(err)
	}
	eventually(t, "node b resolves the route as node a updated it", func() bool {
		r, _, err := b.MatchRoute("shop", "/items/7")
		return err == nil && r.Image == "img:2"
	})
	if _, err := a.UpdateApp(ctx, "shop", func(app *store.App) error { app.Config["K"], app.Owner = "2", "bob"; return nil }); err != nil {
		t.Fatal(err)
	}
	eventually(t, "node b reads the app as node a updated it", func() bool {
		cfg, err := b.AppConfig("shop")
		owner, _ := b.AppOwner("shop")
		return err == nil && cfg["K"] == "2" && owner == "bob"
	})
	if err := a.DeleteRoute(ctx, "shop", "/items/:id", nil); err != nil {
		t.Fatal(err)
	}
	eventually(t, "node b stops resolving a route node a deleted", func() bool {
		_, _, err := b.MatchRoute("shop", "/items/7")
		return errors.Is(err, store.ErrNotFound)
	})
}

func testPeerHearsWrites(t *testing.T, a, b store.Store) {
	ctx := t.Context()
	var heard changeLog
	defer b.Subscribe(heard.add)()
	mustApp(t, a, "shop", "")
	heard.hears(t, store.Change{Kind: store.ChangeApp, App: "shop"})
	mustRoute(t, a, "shop", "/f")
	heard.hears(t, store.Change{Kind: store.ChangeRoute, App: "shop", Path: "/f"})
	if _, err := a.CreateAPI(ctx, store.API{Name: "api", App: "shop", Route: "/f", URIs: []string{"/"}}); err != nil {
		t.Fatal(err)
	}
	heard.hears(t, store.Change{Kind: store.ChangeAPI, Name: "api"})
	heard.take()
	if err := a.DeleteAPI(ctx, "api", nil); err != nil {
		t.Fatal(err)
	}
	heard.hears(t, store.Change{Kind: store.ChangeAPI, Name: "api"})
	id := enqueue(t, a, 0)
	heard.hears(t, store.Change{Kind: store.ChangeTask, Name: id})
}

func testPeerHearsCancels(t *testing.T, a, b store.Store) {
	ctx := t.Context()
	var heard changeLog
	defer b.Subscribe(heard.add)()
	id := enqueue(t, a, 0)
	if got, err := b.LeaseTasks(ctx, 1, "b-worker", time.Minute); err != nil || len(got) != 1 || got[0].ID != id {
		t.Fatalf("node b leases: %v %v", taskIDs(got), err)
	}
	if owner, err := a.CancelTask(ctx, id); !errors.Is(err, store.ErrTaskRunning) || owner != "b-worker" {
		t.Fatalf("node a cancels node b's task: %q %v, want b-worker and ErrTaskRunning", owner, err)
	}
	heard.hears(t, store.Change{Kind: store.ChangeCancel, Name: id})

	call := newExec(b, "app", "/fn", store.StatusRunning)
	call.Node = b.InstanceID()
	b.RecordExecution(call, nil)
	flush(t, b)
	if err := a.RequestCancel(ctx, call.ID); err != nil {
		t.Fatalf("node a asks to cancel a call node b runs: %v", err)
	}
	heard.hears(t, store.Change{Kind: store.ChangeCancel, Name: call.ID})
}

func testPeersNeverShareATask(t *testing.T, a, b store.Store) {
	ctx := t.Context()
	const n = 200
	for i := range n {
		enqueue(t, []store.Store{a, b}[i%2], 0)
	}
	var mu sync.Mutex
	seen := map[string]int{}
	var wg sync.WaitGroup
	for w := range 6 {
		s := []store.Store{a, b}[w%2]
		wg.Go(func() {
			owner := fmt.Sprintf("%s:w%d", s.InstanceID(), w)
			for {
				got, err := s.LeaseTasks(ctx, 5, owner, time.Minute)
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

func testPeersShareTheLeaseClock(t *testing.T, a, b store.Store) {
	ctx := t.Context()
	renewed, lapsed := enqueue(t, a, 0), enqueue(t, a, 0)
	for _, l := range []struct{ id, owner string }{{renewed, "a:r:1"}, {lapsed, "a:r:2"}} {
		if got, err := a.LeaseTasks(ctx, 1, l.owner, 300*time.Millisecond); err != nil || len(got) != 1 || got[0].ID != l.id {
			t.Fatalf("node a leases to %s: %v %v", l.owner, taskIDs(got), err)
		}
	}
	if got, err := b.LeaseTasks(ctx, 10, "b:r:1", time.Minute); err != nil || len(got) != 0 {
		t.Fatalf("node b leased %v (%v) while node a's leases are in force", taskIDs(got), err)
	}
	if n, _, err := a.RenewLeases(ctx, []store.Lease{{ID: renewed, Owner: "a:r:1"}}, time.Hour); err != nil || n != 1 {
		t.Fatalf("renewed %d (%v), want 1", n, err)
	}
	time.Sleep(400 * time.Millisecond)
	got, err := b.LeaseTasks(ctx, 10, "b:r:1", time.Minute)
	if err != nil || len(got) != 1 || got[0].ID != lapsed || got[0].Attempts != 2 {
		t.Fatalf("node b after node a's lease ended: %+v %v, want only %s at its second attempt", got, err, lapsed)
	}
	if err := a.CompleteTask(ctx, lapsed, "a:r:2", store.Execution{Status: store.StatusSuccess}, nil); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("node a's late result of a task node b took: %v, want ErrConflict", err)
	}
	if err := b.RetryTask(ctx, renewed, "b:r:1", 0, "not mine"); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("node b retries node a's task: %v, want ErrConflict", err)
	}
	if err := b.CompleteTask(ctx, lapsed, "b:r:1", store.Execution{Status: store.StatusSuccess}, nil); err != nil {
		t.Fatal(err)
	}
	if ex, err := a.GetExecution(ctx, lapsed); err != nil || ex.Status != store.StatusSuccess || ex.Attempts != 2 {
		t.Fatalf("node a reads the execution node b completed: %+v %v", ex, err)
	}
}

func testPeersShareExecutions(t *testing.T, a, b store.Store) {
	ctx := t.Context()
	running := func(s store.Store) store.Execution {
		ex := newExec(s, "app", "/fn", store.StatusRunning)
		ex.Node = s.InstanceID()
		s.RecordExecution(ex, []byte("log"))
		return ex
	}
	ofA, ofB := running(a), running(b)
	flush(t, a)
	flush(t, b)
	if ex, err := b.GetExecution(ctx, ofA.ID); err != nil || ex.Node != a.InstanceID() || ex.Status != store.StatusRunning {
		t.Fatalf("node b reads node a's execution: %+v %v", ex, err)
	}
	list, _, err := a.ListExecutions(ctx, store.ExecutionFilter{App: "app", Route: "/fn"}, store.Page{})
	if ids := []string{ofA.ID, ofB.ID}; err != nil || len(list) != 2 || !slices.Contains(ids, list[0].ID) || !slices.Contains(ids, list[1].ID) {
		t.Fatalf("node a lists %d executions (%v), want both nodes' (IDs of two nodes made in one millisecond need not sort by time)", len(list), err)
	}
	if n, err := b.RecoverExecutions(ctx); err != nil || n != 1 {
		t.Fatalf("node b recovered %d (%v), want only its own call", n, err)
	}
	if ex, _ := a.GetExecution(ctx, ofA.ID); ex.Status != store.StatusRunning {
		t.Fatalf("node b's recovery ended node a's call: %+v", ex)
	}
	if ex, _ := a.GetExecution(ctx, ofB.ID); ex.Status != store.StatusFailed {
		t.Fatalf("node b's call after its recovery: %+v, want FAILED", ex)
	}
}

func testPeersListEachOther(t *testing.T, a, b store.Store) {
	ctx := t.Context()
	before := time.Now().Add(-time.Second)
	for _, s := range []store.Store{b, a} {
		if err := s.Heartbeat(ctx, store.NodeInfo{ID: s.InstanceID(), Run: "r1"}); err != nil {
			t.Fatal(err)
		}
	}
	for _, s := range []store.Store{a, b} {
		nodes, err := s.ListNodes(ctx, before)
		var ids []string
		for _, n := range nodes {
			ids = append(ids, n.ID)
		}
		want := []string{a.InstanceID(), b.InstanceID()}
		slices.Sort(want)
		if err != nil || !slices.Equal(ids, want) {
			t.Fatalf("node %s lists %v (%v), want %v", s.InstanceID(), ids, err, want)
		}
	}
}
