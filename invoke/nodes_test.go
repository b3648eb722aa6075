package invoke

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/runner"
	"github.com/gantry-dev/gantry/store"
	"github.com/gantry-dev/gantry/store/bolt"
)

// Tests of several nodes sharing one store: two services over one bbolt store and its feed.

// runFor makes the runner hold every call for d (or until its context ends), then answer 200.
func (f *fakeRunner) runFor(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.run = func(ctx context.Context, _ *runner.Call) (*runner.Result, error) {
		select {
		case <-time.After(d):
			return &runner.Result{Status: http.StatusOK, Header: http.Header{}, Body: []byte("ok"), Ran: true, ExitCode: new(int)}, nil
		case <-ctx.Done():
			return &runner.Result{Header: http.Header{}, Ran: true}, ctx.Err()
		}
	}
}

// startWorkers starts workers of e's service, stopped and waited for when the test ends.
func (e *env) startWorkers(opts WorkerOptions) *Workers {
	t := e.t
	t.Helper()
	w, err := e.svc.StartWorkers(t.Context(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		w.StopLeasing()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := w.Wait(ctx); err != nil {
			t.Error(err)
		}
	})
	return w
}

// TestLeasesAreRenewedWhileTheirNodeLives: a call that runs longer than its lease is not
// leased again by another node while the node running it lives, even while that node
// drains; once a node dies, its call is back in the queue within the lease.
func TestLeasesAreRenewedWhileTheirNodeLives(t *testing.T) {
	const lease = 500 * time.Millisecond
	for _, tt := range []struct {
		name  string
		drain bool // node a stops leasing once its call started, and drains
	}{
		{"a call running three times its lease on a live node runs once", false},
		{"a call running three times its lease on a node that drains runs once", true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			a := newEnv(t)
			a.route("/fn", func(r *store.Route) { r.Type = store.TypeAsync })
			a.fr.started = make(chan *runner.Call, 1)
			a.fr.runFor(3 * lease)
			wa := a.startWorkers(WorkerOptions{Count: 1, Poll: 10 * time.Millisecond, Lease: lease})
			resp, err := a.call("POST", "/fn", http.Header{}, "")
			if err != nil {
				t.Fatal(err)
			}
			a.startedCall()
			if tt.drain {
				wa.StopLeasing()
			}
			b := a.otherNode("node-b") // polls the queue all along
			b.startWorkers(WorkerOptions{Count: 1, Poll: 10 * time.Millisecond, Lease: lease})
			eventually(t, 5*time.Second, "the call ends", func() bool { return a.execution(resp.CallID).Done() })
			ex := a.execution(resp.CallID)
			if ex.Status != store.StatusSuccess || ex.Attempts != 1 || ex.Node != "node-a" {
				t.Fatalf("execution %s, attempts %d, node %q: want SUCCESS after one attempt on node-a", ex.Status, ex.Attempts, ex.Node)
			}
			if n, m := len(a.fr.ran()), len(b.fr.ran()); n != 1 || m != 0 {
				t.Fatalf("node a ran %d calls, node b %d: want the one call run once", n, m)
			}
			if tt.drain {
				ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
				defer cancel()
				if err := wa.Wait(ctx); err != nil {
					t.Fatal(err)
				}
			}
		})
	}

	t.Run("a call whose node died runs on another node once its lease ends", func(t *testing.T) {
		e := newEnv(t)
		e.route("/fn", func(r *store.Route) { r.Type = store.TypeAsync })
		resp, err := e.call("POST", "/fn", http.Header{}, "")
		if err != nil {
			t.Fatal(err)
		}
		// Node a's worker leased the call, then node a was killed: nobody renews its lease.
		if tasks, err := e.db.LeaseTasks(t.Context(), 1, ownerPrefix+"node-a:killed:0", lease); err != nil || len(tasks) != 1 {
			t.Fatal(tasks, err)
		}
		leased := time.Now()
		b := e.otherNode("node-b")
		b.startWorkers(WorkerOptions{Count: 1, Poll: 10 * time.Millisecond, Lease: lease})
		eventually(t, 5*time.Second, "node b runs the call", func() bool { return e.execution(resp.CallID).Status == store.StatusSuccess })
		if ran := b.fr.ran(); len(ran) != 1 || time.Since(leased) < lease {
			t.Fatalf("node b ran %d calls, %s after the lease: want one, after the lease ended", len(ran), time.Since(leased))
		}
		if ex := e.execution(resp.CallID); ex.Attempts != 2 || ex.Node != "node-b" {
			t.Fatalf("attempts %d on node %q, want the second on node-b", ex.Attempts, ex.Node)
		}
	})
}

// TestAnAcceptedCallWakesAWorkerOnAnyNode: an async call accepted on one node is run at
// once by an idle worker of another (it follows the feed's ChangeTask), not at its next poll.
func TestAnAcceptedCallWakesAWorkerOnAnyNode(t *testing.T) {
	a := newEnv(t) // accepts the call; runs no workers
	a.route("/fn", func(r *store.Route) { r.Type = store.TypeAsync })
	b := a.otherNode("node-b")
	defer b.svc.Follow(a.db)()
	b.startWorkers(WorkerOptions{Count: 1, Poll: time.Hour})
	time.Sleep(20 * time.Millisecond) // b's worker found the queue empty and waits
	resp, err := a.call("POST", "/fn", http.Header{}, "")
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "node b runs the call accepted on node a", func() bool {
		return a.execution(resp.CallID).Status == store.StatusSuccess
	})
	if ex := a.execution(resp.CallID); ex.Node != "node-b" {
		t.Fatalf("run on node %q, want node-b", ex.Node)
	}
}

// TestExecutionsNameTheirNode: every record the service writes names the node it runs
// on: a sync call's, running and finished, and an async call's completion.
func TestExecutionsNameTheirNode(t *testing.T) {
	e := newEnv(t)
	e.route("/sync", nil)
	e.route("/async", func(r *store.Route) { r.Type = store.TypeAsync })
	e.fr.started = make(chan *runner.Call, 2)
	release := make(chan struct{})
	e.fr.run = func(context.Context, *runner.Call) (*runner.Result, error) {
		<-release
		return &runner.Result{Status: http.StatusOK, Header: http.Header{}, Ran: true}, nil
	}
	done := make(chan *Response, 1)
	go func() {
		resp, _ := e.call("POST", "/sync", http.Header{}, "")
		done <- resp
	}()
	c := e.startedCall()
	if ex := e.execution(c.ID); ex.Status != store.StatusRunning || ex.Node != "node-a" {
		t.Fatalf("running sync call: %s on node %q, want RUNNING on node-a", ex.Status, ex.Node)
	}
	close(release)
	<-done
	e.startWorkers(WorkerOptions{Count: 1, Poll: 10 * time.Millisecond})
	resp, err := e.call("POST", "/async", http.Header{}, "")
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "the async call ends", func() bool { return e.execution(resp.CallID).Done() })
	for _, ex := range e.executions() {
		if ex.Status != store.StatusSuccess || ex.Node != "node-a" {
			t.Errorf("%s call: %s on node %q, want SUCCESS on node-a", ex.Type, ex.Status, ex.Node)
		}
	}
}

// TestFigures: the service counts the calls running in it and the runner's hot containers.
func TestFigures(t *testing.T) {
	e := newEnv(t)
	e.route("/fn", nil)
	e.fr.started = make(chan *runner.Call, 2)
	e.fr.blockUntilCancelled()
	e.fr.hot = 3
	e.fr.hotBy = []runner.HotRoute{{App: "app", Path: "/fn", Containers: 3}}
	if got := e.svc.Figures(); got.Running != 0 || got.Hot != 3 ||
		!slices.Equal(got.HotRoutes, []store.RouteHot{{App: "app", Path: "/fn", Containers: 3}}) {
		t.Fatalf("idle: %+v, want no call running and 3 hot containers of app/fn", got)
	}
	ctx, cancel := context.WithCancel(t.Context())
	ended := make(chan struct{}, 2)
	for range 2 {
		go func() {
			defer func() { ended <- struct{}{} }()
			c, err := e.svc.Resolve(ctx, Request{App: "shop", Path: "/fn", Method: "GET", Header: http.Header{}})
			if err != nil {
				t.Error(err)
				return
			}
			c.Admit(nil)
			_, _ = e.svc.Run(ctx, c)
		}()
	}
	e.startedCall()
	e.startedCall()
	if got := e.svc.Figures(); got.Running != 2 {
		t.Fatalf("two calls running: %+v", got)
	}
	cancel()
	<-ended
	<-ended
	if got := e.svc.Figures(); got.Running != 0 {
		t.Fatalf("after the calls: %+v, want none running", got)
	}
}

// TestChangesOnAnyNodeDrainHotContainers: a route or app changed on one node drains the
// hot containers of it on every node following the feed (they carry the old config).
func TestChangesOnAnyNodeDrainHotContainers(t *testing.T) {
	a := newEnv(t)
	a.route("/fn", nil)
	b := a.otherNode("node-b")
	defer b.svc.Follow(a.db)()
	if _, err := a.db.UpdateRoute(t.Context(), "shop", "/fn", func(r *store.Route) error { r.Timeout = 7; return nil }, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := a.db.UpdateApp(t.Context(), "shop", func(app *store.App) error { app.Config = map[string]string{"K": "v"}; return nil }); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "node b drains the route, then the app", func() bool {
		b.fr.mu.Lock()
		defer b.fr.mu.Unlock()
		return slices.Contains(b.fr.drained, "shop/fn") && slices.Contains(b.fr.drained, "shop")
	})
}

// lostGrantStore grants a lease and answers as if the database went away before it said so.
type lostGrantStore struct {
	*bolt.DB
	lost atomic.Bool
}

func (l *lostGrantStore) LeaseTasks(ctx context.Context, n int, owner string, lease time.Duration) ([]store.Task, error) {
	tasks, err := l.DB.LeaseTasks(ctx, n, owner, lease)
	if len(tasks) > 0 && l.lost.CompareAndSwap(false, true) {
		return nil, fmt.Errorf("%w: connection reset as the commit was answered", store.ErrUnavailable)
	}
	return tasks, err
}

// TestOnlyLeasesAWorkerHoldsAreRenewed: a lease granted while the node heard an error (no
// worker runs its call) is not kept alive by the node's heartbeat: it ends within the
// lease and the call runs, once.
func TestOnlyLeasesAWorkerHoldsAreRenewed(t *testing.T) {
	const lease = 500 * time.Millisecond
	e := newEnv(t)
	e.route("/fn", func(r *store.Route) { r.Type = store.TypeAsync })
	lossy := &lostGrantStore{DB: e.db}
	svc := New(lossy, e.fr, Options{Node: "node-a", Log: e.svc.log})
	resp, err := e.call("POST", "/fn", http.Header{}, "")
	if err != nil {
		t.Fatal(err)
	}
	w, err := svc.StartWorkers(t.Context(), WorkerOptions{Count: 1, Poll: 10 * time.Millisecond, Lease: lease})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { w.StopLeasing(); _ = w.Wait(context.Background()) }()
	eventually(t, 10*lease, "the call whose lease grant was lost runs", func() bool { return e.execution(resp.CallID).Status == store.StatusSuccess })
	if ex := e.execution(resp.CallID); ex.Attempts != 2 || len(e.fr.ran()) != 1 {
		t.Fatalf("attempts %d, runs %d: want the lost grant counted, and one run", ex.Attempts, len(e.fr.ran()))
	}
}

// TestARenewalStopsACancelTheNodeMissed: a cancel of an async call whose ChangeCancel the
// running node never heard stops the call at the node's next lease renewal.
func TestARenewalStopsACancelTheNodeMissed(t *testing.T) {
	const lease = 600 * time.Millisecond
	a := newEnv(t) // runs the call, and does not follow the feed: it misses the ChangeCancel
	a.route("/fn", func(r *store.Route) { r.Type = store.TypeAsync })
	a.fr.started = make(chan *runner.Call, 1)
	a.fr.runFor(time.Minute)
	a.startWorkers(WorkerOptions{Count: 1, Poll: 10 * time.Millisecond, Lease: lease})
	resp, err := a.call("POST", "/fn", http.Header{}, "")
	if err != nil {
		t.Fatal(err)
	}
	a.startedCall()
	b := a.otherNode("node-b")
	if _, err := b.svc.Cancel(t.Context(), resp.CallID); err != nil {
		t.Fatal(err)
	}
	cancelled := time.Now()
	eventually(t, 5*time.Second, "the call ends CANCELLED", func() bool { return a.execution(resp.CallID).Status == store.StatusCancelled })
	if d := time.Since(cancelled); d > lease {
		t.Fatalf("stopped %v after the cancel, want within a renewal (%v)", d, lease/3)
	}
}
