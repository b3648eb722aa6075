package invoke

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/runner"
	"github.com/gantry-dev/gantry/store"
)

// TestHeartbeat: a node tells the store at once, then at every beat, that it lives, with
// its ID, its run, version and address, and its figures; it stops when told to.
func TestHeartbeat(t *testing.T) {
	e := newEnv(t)
	e.fr.hot = 2
	e.fr.hotBy = []runner.HotRoute{{App: "a", Path: "/x", Containers: 2}}
	stop := e.svc.StartHeartbeat(e.db, store.NodeInfo{Run: "run-1", Version: "v1.2.3", Addr: "127.0.0.1:8080"}, 20*time.Millisecond)
	nodes, err := e.db.ListNodes(t.Context(), time.Time{})
	if err != nil || len(nodes) != 1 {
		t.Fatalf("nodes after the start: %+v %v, want this one at once", nodes, err)
	}
	first := nodes[0]
	if first.ID != "node-a" || first.Run != "run-1" || first.Version != "v1.2.3" || first.Addr != "127.0.0.1:8080" || first.Hot != 2 || first.Running != 0 ||
		!slices.Equal(first.HotRoutes, []store.RouteHot{{App: "a", Path: "/x", Containers: 2}}) {
		t.Fatalf("node %+v", first)
	}
	e.fr.mu.Lock()
	e.fr.hot = 5
	e.fr.hotBy = []runner.HotRoute{{App: "a", Path: "/x", Containers: 3}, {App: "b", Path: "/y", Containers: 2}}
	e.fr.mu.Unlock()
	var last store.NodeInfo
	eventually(t, 5*time.Second, "a later beat with the new figures", func() bool {
		nodes, err := e.db.ListNodes(t.Context(), time.Time{})
		if err != nil || len(nodes) != 1 {
			t.Fatal(nodes, err)
		}
		last = nodes[0]
		return last.Heartbeat.After(first.Heartbeat) && last.Hot == 5
	})
	if want := []store.RouteHot{{App: "a", Path: "/x", Containers: 3}, {App: "b", Path: "/y", Containers: 2}}; !slices.Equal(last.HotRoutes, want) {
		t.Fatalf("hot routes %+v, want %+v", last.HotRoutes, want)
	}
	if !last.StartedAt.Equal(first.StartedAt) {
		t.Fatalf("started at %s, then %s: one run starts once", first.StartedAt, last.StartedAt)
	}
	stop()
	stopped, _ := e.db.ListNodes(t.Context(), time.Time{})
	time.Sleep(60 * time.Millisecond)
	after, _ := e.db.ListNodes(t.Context(), time.Time{})
	if !after[0].Heartbeat.Equal(stopped[0].Heartbeat) {
		t.Fatalf("beats after stop: %s then %s", stopped[0].Heartbeat, after[0].Heartbeat)
	}
	stop() // a second stop does nothing
}

// failingNodes is a store whose heartbeats fail (its database is down) until it is told.
type failingNodes struct {
	mu    sync.Mutex
	fail  bool
	beats int
}

func (f *failingNodes) RecoverDeadNodes(context.Context, time.Duration) (int, error) { return 0, nil }

func (f *failingNodes) Heartbeat(context.Context, store.NodeInfo) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail {
		return fmt.Errorf("heartbeat: %w", store.ErrUnavailable)
	}
	f.beats++
	return nil
}

// TestHeartbeatOutlivesAStoreOutage: failed beats are logged, and the beats go on.
func TestHeartbeatOutlivesAStoreOutage(t *testing.T) {
	e := newEnv(t)
	var logged syncBuffer
	e.svc.log = slog.New(slog.NewTextHandler(&logged, nil))
	nodes := &failingNodes{fail: true}
	stop := e.svc.StartHeartbeat(nodes, store.NodeInfo{Run: "r"}, 10*time.Millisecond)
	defer stop()
	eventually(t, 5*time.Second, "the failed beat is logged", func() bool {
		return bytes.Contains(logged.Bytes(), []byte("node heartbeat")) && bytes.Contains(logged.Bytes(), []byte("store unavailable"))
	})
	nodes.mu.Lock()
	nodes.fail = false
	nodes.mu.Unlock()
	eventually(t, 5*time.Second, "beats once the store is back", func() bool {
		nodes.mu.Lock()
		defer nodes.mu.Unlock()
		return nodes.beats > 0
	})
}

// syncBuffer is a buffer that a logger and a test share.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) Bytes() []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return bytes.Clone(b.buf.Bytes())
}
