package invoke

import (
	"github.com/gantry-dev/gantry/runner"
	"github.com/gantry-dev/gantry/store"
)

// Follow keeps this node's part of the store's change feed: a ChangeCancel stops the call
// it names if it runs in this process (another node, or this one, asked the store to
// cancel it), and a ChangeTask (an async call accepted on any node) wakes an idle worker
// here, rather than at its next poll. A ChangeReset needs nothing: a missed cancel leaves
// its task marked in the queue (its settle ends it CANCELLED), and a missed task is found
// at the next poll. It returns the function that stops following.
func (s *Service) Follow(feed store.Changes) (stop func()) {
	return feed.Subscribe(func(c store.Change) {
		switch c.Kind {
		case store.ChangeCancel:
			s.mu.Lock()
			if cancel := s.running[c.Name]; cancel != nil {
				cancel(runner.ErrCancelled)
			}
			s.mu.Unlock()
		case store.ChangeTask:
			s.wakeWorker()
		}
	})
}

// wakeWorker wakes one idle worker, if one waits; an accept that finds none waiting is
// found by the next worker to look at the queue.
func (s *Service) wakeWorker() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}
