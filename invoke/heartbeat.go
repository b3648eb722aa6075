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
}

// StartHeartbeat tells the store that this node lives: at once, then every every
// (store.DefaultLeaseRenew in the server), with info (what only the server knows: this
// run's ID, its version, its management address) completed by the service: the node's ID
// and its figures (calls running, hot containers). A heartbeat that fails is logged and
// tried again at the next beat. The returned function stops the beats, waiting for one in
// progress.
//
// The heartbeat lives here rather than in the server's main: the node's ID and figures are
// the service's, as is the other heartbeat of a node, the renewal of its workers' leases.
func (s *Service) StartHeartbeat(nodes Nodes, info store.NodeInfo, every time.Duration) (stop func()) {
	info.ID = s.node
	beat := func() {
		f := s.Figures()
		info.Running, info.Hot = f.Running, f.Hot
		ctx, cancel := context.WithTimeout(context.Background(), every)
		defer cancel()
		if err := nodes.Heartbeat(ctx, info); err != nil {
			s.log.Error("node heartbeat", "err", err)
		}
	}
	beat()
	quit, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-quit:
				return
			case <-t.C:
				beat()
			}
		}
	}()
	return sync.OnceFunc(func() {
		close(quit)
		<-done
	})
}
