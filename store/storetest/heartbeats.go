package storetest

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/store"
)

func heartbeatCases() []testCase {
	return []testCase{
		{
			name:   "a renewed lease outlives its first term, a lease not renewed ends, and only the prefix's leases are renewed",
			covers: []string{"RenewLeases", "LeaseTasks", "CompleteTask", "CancelTask"},
			run:    testRenewLeases,
		},
		{
			name:   "a task whose lease ends or is released, or that is retried without delay, keeps its place in line",
			covers: []string{"LeaseTasks", "ReleaseLeases", "EnqueueTask", "RetryTask"},
			run:    testLeaseKeepsPlaceInLine,
		},
		{
			name:   "nodes are listed in ID order with their last heartbeat; a restart starts them again; silent ones drop out",
			covers: []string{"Heartbeat", "ListNodes"},
			run:    testHeartbeatsListNodes,
		},
		{
			name:   "RecoverDeadNodes ends the sync calls of nodes gone silent, never a live node's, an unknown node's or an async call",
			covers: []string{"RecoverDeadNodes", "Heartbeat", "RecordExecution", "FlushExecutions", "GetExecution"},
			run:    testRecoverDeadNodes,
		},
		{
			name:   "RequestCancel of a running execution delivers ChangeCancel; a final one is a conflict, an unknown one not found",
			covers: []string{"RequestCancel", "Subscribe", "RecordExecution"},
			run:    testRequestCancel,
		},
		{
			name:   "an accepted task delivers ChangeTask before EnqueueTask returns",
			covers: []string{"EnqueueTask", "Subscribe"},
			run:    testEnqueueDeliversChangeTask,
		},
	}
}

func testRenewLeases(t *testing.T, s store.Store) {
	ctx := t.Context()
	renewed, lapsed, other, cancelled := enqueue(t, s, 0), enqueue(t, s, 0), enqueue(t, s, 0), enqueue(t, s, 0)
	for _, l := range []struct{ id, owner string }{{renewed, "gantry@a:r1:0"}, {lapsed, "gantry@a:r0:0"}, {other, "gantry@b:r1:0"}, {cancelled, "gantry@a:r1:1"}} {
		if got, err := s.LeaseTasks(ctx, 1, l.owner, 400*time.Millisecond); err != nil || len(got) != 1 || got[0].ID != l.id {
			t.Fatalf("lease to %s: %v %v", l.owner, taskIDs(got), err)
		}
	}
	if _, err := s.CancelTask(ctx, cancelled); !errors.Is(err, store.ErrTaskRunning) {
		t.Fatalf("cancel of a leased task: %v", err)
	}
	held := []store.Lease{{ID: renewed, Owner: "gantry@a:r1:0"}, {ID: cancelled, Owner: "gantry@a:r1:1"},
		{ID: other, Owner: "gantry@a:r1:2"}} // other is gantry@b's: not renewed by a claim of another owner
	n, stop, err := s.RenewLeases(ctx, held, time.Hour)
	if err != nil || n != 2 {
		t.Fatalf("renewed %d (%v), want 2: the leases held, not another owner's", n, err)
	}
	if !slices.Equal(stop, []string{cancelled}) {
		t.Fatalf("cancelled %v, want [%s]: a holder that missed the cancel learns it at its next renewal", stop, cancelled)
	}
	time.Sleep(600 * time.Millisecond)
	if n, _, err := s.RenewLeases(ctx, []store.Lease{{ID: lapsed, Owner: "gantry@a:r0:0"}}, time.Hour); err != nil || n != 0 {
		t.Fatalf("renewed %d lapsed leases (%v), want 0: a lease that ended may be another's", n, err)
	}
	got, err := s.LeaseTasks(ctx, 10, "gantry@c:r1:0", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if ids := taskIDs(got); len(ids) != 2 || !slices.Contains(ids, lapsed) || !slices.Contains(ids, other) {
		t.Fatalf("after the first term: leased %v, want the two not renewed (%s, %s), never the renewed %s", ids, lapsed, other, renewed)
	}
	if err := s.CompleteTask(ctx, renewed, "gantry@a:r1:0", store.Execution{Status: store.StatusSuccess}, nil); err != nil {
		t.Fatalf("the holder of a renewed lease completes its task: %v", err)
	}
}

func testLeaseKeepsPlaceInLine(t *testing.T, s store.Store) {
	ctx := t.Context()
	first := enqueue(t, s, 0)
	if got, _ := s.LeaseTasks(ctx, 1, "gantry@n:old:0", 300*time.Millisecond); len(got) != 1 || got[0].ID != first {
		t.Fatalf("first lease: %v", taskIDs(got))
	}
	second := enqueue(t, s, 0)
	if got, _ := s.LeaseTasks(ctx, 1, "gantry@n:old:1", time.Hour); len(got) != 1 || got[0].ID != second {
		t.Fatalf("second lease: %v", taskIDs(got))
	}
	later := []string{enqueue(t, s, 0), enqueue(t, s, 0)}
	time.Sleep(400 * time.Millisecond) // first's lease ends
	got, err := s.LeaseTasks(ctx, 1, "gantry@n:new:0", time.Hour)
	if err != nil || len(got) != 1 || got[0].ID != first {
		t.Fatalf("after its lease ended: leased %v (%v), want %s ahead of %v accepted after it", taskIDs(got), err, first, later)
	}
	if n, err := s.ReleaseLeases(ctx, "gantry@n:", "gantry@n:new:"); err != nil || n != 1 {
		t.Fatalf("released %d (%v), want 1", n, err)
	}
	got, err = s.LeaseTasks(ctx, 1, "gantry@n:new:1", time.Hour)
	if err != nil || len(got) != 1 || got[0].ID != second {
		t.Fatalf("after its lease was released: leased %v (%v), want %s ahead of %v accepted after it", taskIDs(got), err, second, later)
	}
	if err := s.RetryTask(ctx, second, "gantry@n:new:1", 0, "the node shuts down"); err != nil {
		t.Fatal(err)
	}
	got, err = s.LeaseTasks(ctx, 1, "gantry@n:new:1", time.Hour)
	if err != nil || len(got) != 1 || got[0].ID != second {
		t.Fatalf("after a retry without delay: leased %v (%v), want %s ahead of %v accepted after it", taskIDs(got), err, second, later)
	}
	got, _ = s.LeaseTasks(ctx, 5, "gantry@n:new:2", time.Hour)
	if !slices.Equal(taskIDs(got), later) {
		t.Fatalf("then: %v, want %v in the order accepted", taskIDs(got), later)
	}
}

func testHeartbeatsListNodes(t *testing.T, s store.Store) {
	ctx := t.Context()
	before := time.Now().Add(-time.Second)
	for _, n := range []store.NodeInfo{
		{ID: "node-b", Run: "r1", Version: "v1", Addr: "10.0.0.2:8080", Running: 3, Hot: 2},
		{ID: "node-a", Run: "r1", Version: "v1", Addr: "10.0.0.1:8080", Running: 1},
	} {
		if err := s.Heartbeat(ctx, n); err != nil {
			t.Fatal(err)
		}
	}
	nodes, err := s.ListNodes(ctx, before)
	if err != nil {
		t.Fatal(err)
	}
	if len(nodes) != 2 || nodes[0].ID != "node-a" || nodes[1].ID != "node-b" {
		t.Fatalf("nodes %+v, want node-a then node-b", nodes)
	}
	b := nodes[1]
	if b.Running != 3 || b.Hot != 2 || b.Addr != "10.0.0.2:8080" || b.Version != "v1" || b.Heartbeat.Before(before) || b.StartedAt.IsZero() {
		t.Fatalf("node-b as listed: %+v", b)
	}
	time.Sleep(20 * time.Millisecond)
	if err := s.Heartbeat(ctx, store.NodeInfo{ID: "node-b", Run: "r1", Running: 0}); err != nil {
		t.Fatal(err)
	}
	nodes, _ = s.ListNodes(ctx, before)
	if nb := nodes[1]; !nb.StartedAt.Equal(b.StartedAt) || !nb.Heartbeat.After(b.Heartbeat) || nb.Running != 0 {
		t.Fatalf("a second heartbeat of the same run: %+v, want StartedAt %v kept and a later heartbeat than %v", nb, b.StartedAt, b.Heartbeat)
	}
	time.Sleep(20 * time.Millisecond)
	if err := s.Heartbeat(ctx, store.NodeInfo{ID: "node-b", Run: "r2"}); err != nil {
		t.Fatal(err)
	}
	nodes, _ = s.ListNodes(ctx, before)
	if nb := nodes[1]; !nb.StartedAt.After(b.StartedAt) || nb.Run != "r2" {
		t.Fatalf("a heartbeat of a new run: %+v, want it started again after %v", nb, b.StartedAt)
	}
	nodes, err = s.ListNodes(ctx, nodes[0].Heartbeat)
	if err != nil || len(nodes) != 1 || nodes[0].ID != "node-b" {
		t.Fatalf("nodes heard from after node-a's heartbeat: %+v %v, want node-b only", nodes, err)
	}
	if err := s.Heartbeat(ctx, store.NodeInfo{}); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("a heartbeat without an ID: %v, want ErrInvalid", err)
	}
}

func testRequestCancel(t *testing.T, s store.Store) {
	ctx := t.Context()
	var heard changeLog
	defer s.Subscribe(heard.add)()
	running := newExec(s, "app", "/fn", store.StatusRunning)
	s.RecordExecution(running, nil)
	done := newExec(s, "app", "/fn", store.StatusSuccess)
	s.RecordExecution(done, nil)
	if err := s.RequestCancel(ctx, running.ID); err != nil {
		t.Fatal(err)
	}
	if got := heard.take(); !slices.Contains(got, store.Change{Kind: store.ChangeCancel, Name: running.ID}) {
		t.Fatalf("heard %+v by the time RequestCancel returned, want a ChangeCancel of %s", got, running.ID)
	}
	if err := s.RequestCancel(ctx, done.ID); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("cancel of a final execution: %v, want ErrConflict", err)
	}
	if err := s.RequestCancel(ctx, s.NewID()); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("cancel of an unknown execution: %v, want ErrNotFound", err)
	}
	if got := heard.take(); len(got) != 0 {
		t.Fatalf("refused cancels delivered %+v", got)
	}
}

func testEnqueueDeliversChangeTask(t *testing.T, s store.Store) {
	var heard changeLog
	defer s.Subscribe(heard.add)()
	id := enqueue(t, s, 0)
	if got := heard.take(); !slices.Contains(got, store.Change{Kind: store.ChangeTask, Name: id}) {
		t.Fatalf("heard %+v by the time EnqueueTask returned, want a ChangeTask of %s", got, id)
	}
}

func testRecoverDeadNodes(t *testing.T, s store.Store) {
	ctx := t.Context()
	running := func(node string) string {
		ex := newExec(s, "app", "/fn", store.StatusRunning)
		ex.Node, ex.CompletedAt = node, time.Time{}
		s.RecordExecution(ex, nil)
		return ex.ID
	}
	if err := s.Heartbeat(ctx, store.NodeInfo{ID: "dead", Run: "r"}); err != nil {
		t.Fatal(err)
	}
	ofDead, ofLive, ofStranger := running("dead"), running("live"), running("never-heard-of")
	async := enqueue(t, s, 0)
	if got, err := s.LeaseTasks(ctx, 1, "w", time.Minute); err != nil || len(got) != 1 {
		t.Fatalf("lease: %v %v", taskIDs(got), err)
	}
	flush(t, s)
	time.Sleep(300 * time.Millisecond)
	if err := s.Heartbeat(ctx, store.NodeInfo{ID: "live", Run: "r"}); err != nil {
		t.Fatal(err)
	}
	n, err := s.RecoverDeadNodes(ctx, 200*time.Millisecond)
	if err != nil || n != 1 {
		t.Fatalf("recovered %d (%v), want 1: the dead node's sync call", n, err)
	}
	if ex, _ := s.GetExecution(ctx, ofDead); ex.Status != store.StatusFailed || ex.Reason != store.ReasonError || ex.CompletedAt.IsZero() {
		t.Fatalf("the dead node's call: %+v, want FAILED (error)", ex)
	}
	for _, id := range []string{ofLive, ofStranger, async} {
		if ex, _ := s.GetExecution(ctx, id); ex.Status != store.StatusRunning {
			t.Fatalf("execution %+v changed, want it RUNNING", ex)
		}
	}
	if n, err := s.RecoverDeadNodes(ctx, time.Hour); err != nil || n != 0 {
		t.Fatalf("nobody silent for an hour: recovered %d (%v)", n, err)
	}
}
