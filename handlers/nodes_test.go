package handlers

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/invoke"
	"github.com/gantry-dev/gantry/store"
	"github.com/gantry-dev/gantry/store/bolt"
)

// TestNodesAPI: GET /v1/nodes lists, to admins, the nodes heard from within NodeLive, in ID
// order, with their figures; developers get 403, callers without credentials 401. GET
// /v1/version names the node that answers, and executions the node that ran them.
func TestNodesAPI(t *testing.T) {
	f := newAuthFixtureWith(t, func(d *Deps) { d.Node = "node-b" })
	for _, n := range []store.NodeInfo{
		{ID: "node-c", Run: "r3", Version: "v2", Addr: "10.0.0.3:8080"},
		{ID: "node-a", Run: "r1", Version: "v1", Addr: "10.0.0.1:8080", Running: 4, Hot: 2},
		{ID: "node-b", Run: "r2", Version: "v1", Addr: "10.0.0.2:8080", Running: 1},
	} {
		if err := f.s.Heartbeat(context.Background(), n); err != nil {
			t.Fatal(err)
		}
	}
	ids := func(res response) []any {
		t.Helper()
		expect(t, res, http.StatusOK)
		var out []any
		for _, n := range get(res.body, "nodes").([]any) {
			out = append(out, get(n, "id"))
		}
		return out
	}

	t.Run("an admin lists the live nodes in ID order with their figures", func(t *testing.T) {
		res := f.as(t, f.admin, "GET", "/v1/nodes", "")
		if got := ids(res); len(got) != 3 || got[0] != "node-a" || got[1] != "node-b" || got[2] != "node-c" {
			t.Fatalf("nodes %v, want node-a, node-b, node-c", got)
		}
		a := get(res.body, "nodes").([]any)[0]
		for field, want := range map[string]any{"version": "v1", "addr": "10.0.0.1:8080", "running": 4.0, "hot": 2.0} {
			if got := get(a, field); got != want {
				t.Errorf("node-a %s = %v, want %v", field, got, want)
			}
		}
		for _, field := range []string{"started_at", "heartbeat"} {
			if ts, _ := get(a, field).(string); ts == "" {
				t.Errorf("node-a has no %s: %s", field, res.raw)
			}
		}
		if get(a, "run") != nil {
			t.Errorf("a node's run is internal: %s", res.raw)
		}
	})
	for _, tt := range []struct {
		name  string
		shift time.Duration
		want  int
	}{
		{"a node heard from just within three heartbeats is live", NodeLive - time.Second, 3},
		{"a node not heard from for three heartbeats is not listed", NodeLive + time.Second, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f.api.now = func() time.Time { return time.Now().Add(tt.shift) }
			defer func() { f.api.now = time.Now }()
			if got := ids(f.as(t, f.admin, "GET", "/v1/nodes", "")); len(got) != tt.want {
				t.Fatalf("%d nodes listed %s after their heartbeats, want %d", len(got), tt.shift, tt.want)
			}
		})
	}
	t.Run("a developer may not list nodes", func(t *testing.T) {
		expect(t, f.as(t, f.alice, "GET", "/v1/nodes", ""), http.StatusForbidden)
	})
	t.Run("a caller without credentials may not list nodes", func(t *testing.T) {
		expect(t, f.as(t, "", "GET", "/v1/nodes", ""), http.StatusUnauthorized)
	})
	t.Run("the version names the node that answers, to anyone", func(t *testing.T) {
		res := f.as(t, "", "GET", "/v1/version", "")
		expect(t, res, http.StatusOK)
		if get(res.body, "node") != "node-b" || get(res.body, "version") != "test" {
			t.Fatalf("version: %s", res.raw)
		}
	})
	t.Run("an execution names the node that ran it", func(t *testing.T) {
		id, now := f.s.NewID(), time.Now()
		f.s.RecordExecution(store.Execution{ID: id, App: "a", Route: "/x", Type: store.TypeSync, Status: store.StatusSuccess, Node: "node-c",
			CreatedAt: now, StartedAt: now, CompletedAt: now}, nil)
		res := f.as(t, f.admin, "GET", "/v1/executions/"+id, "")
		expect(t, res, http.StatusOK)
		if get(res.body, "execution", "node") != "node-c" {
			t.Fatalf("execution: %s", res.raw)
		}
	})
}

// TestCancelOfACallOnAnotherNode: DELETE /v1/executions/{id} of a sync call that runs on
// another node answers 202 with the RUNNING execution, and asks that node, through the
// store's feed, to stop it.
func TestCancelOfACallOnAnotherNode(t *testing.T) {
	f := newAuthFixtureWith(t, func(d *Deps) {
		d.Functions = invoke.New(d.Store.(*bolt.DB), &seenRunner{}, invoke.Options{Node: "node-b"})
	})
	asked := make(chan string, 1)
	defer f.s.Subscribe(func(c store.Change) {
		if c.Kind == store.ChangeCancel {
			asked <- c.Name
		}
	})()
	id, now := f.s.NewID(), time.Now()
	f.s.RecordExecution(store.Execution{ID: id, App: "a", Route: "/x", Type: store.TypeSync, Status: store.StatusRunning, Node: "node-a", CreatedAt: now, StartedAt: now}, nil)
	res := f.as(t, f.admin, "DELETE", "/v1/executions/"+id, "")
	expect(t, res, http.StatusAccepted)
	if get(res.body, "execution", "status") != store.StatusRunning || get(res.body, "execution", "node") != "node-a" {
		t.Fatalf("answer: %s, want the RUNNING execution of node-a", res.raw)
	}
	select {
	case got := <-asked:
		if got != id {
			t.Fatalf("cancel asked for %s, want %s", got, id)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no node was asked to stop the call")
	}
}
