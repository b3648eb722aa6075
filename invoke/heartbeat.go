package invoke

import (
	"context"
	"sync"
	"time"

	"github.com/gantry-dev/gantry/store"
)

// Nodes is where a node tells that it lives (store.Nodes).
type Nodes interface {
	Heartbeat(ctx context.Context, n store.NodeInfo) error
	RecoverDeadNodes(ctx context.Context, silentFor time.Duration) (int, error)
}

// StartHeartbeat tells the store that this node lives: at once, then every every
// (store.DefaultLeaseRenew in the server), with info (what only the server knows: this
// run's ID, its version, its management address) completed by the service: the node's ID
// and its figures (calls running, hot containers in all and by route). A heartbeat that fails is logged and
// tried again at the next beat. Every store.DeadNodeAfter it also ends FAILED the sync
// calls of nodes silent that long (they died during them and did not come back). The
// returned function stops the beats, waiting for one in progress.
//
// The heartbeat lives here rather than in the server's main: the node's ID and figures are
// the service's, as is the other heartbeat of a node, the renewal of its workers' leases.
func (s *Service) StartHeartbeat(nodes Nodes, info store.NodeInfo, every time.Duration) (stop func()) {
	info.ID = s.node
	beat := func() {
		f := s.Figures()
		info.Running, info.Hot, info.HotRoutes = f.Running, f.Hot, f.HotRoutes
		ctx, cancel := context.WithTimeout(context.Background(), every)
		defer cancel()
		if err := nodes.Heartbeat(ctx, info); err != nil {
			s.log.Error("node heartbeat", "err", err)
		}
	}
	recoverDead := func() {
		ctx, cancel := context.WithTimeout(context.Background(), store.DeadNodeAfter)
		defer cancel()
		if n, err := nodes.RecoverDeadNodes(ctx, store.DeadNodeAfter); err != nil {
			s.log.Error("recover the calls of dead nodes", "err", err)
		} else if n > 0 {
			s.log.Warn("sync calls of nodes silent since they began marked FAILED", "count", n, "silent_for", store.DeadNodeAfter)
		}
	}
	beat()
	quit, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(every)
		defer t.Stop()
		sweep := time.NewTicker(store.DeadNodeAfter)
		defer sweep.Stop()
		for {
			select {
			case <-quit:
				return
			case <-t.C:
				beat()
			case <-sweep.C:
				recoverDead()
			}
		}
	}()
	return sync.OnceFunc(func() {
		close(quit)
		<-done
	})
}
