package invoke

import (
	"github.com/gantry-dev/gantry/runner"
	"github.com/gantry-dev/gantry/store"
)

// Follow keeps this node's part of the store's change feed: a ChangeCancel stops the call
// it names if it runs in this process (another node, or this one, asked the store to
// cancel it); a ChangeTask (an async call accepted on any node) wakes an idle worker
// here, rather than at its next poll; a ChangeRoute or ChangeApp drains the hot containers
// of what changed, which carry its old config, and a ChangeSecret those that hold the
// secret's old value; a ChangeImage makes calls read the image again, and rolls the hot
// containers of its routes to its digest now (rollImages). A ChangeReset forgets the images
// read and rolls them all; otherwise it needs nothing: a missed cancel of an async call leaves
// its task marked in the queue, and the next lease renewal (within Lease/3) stops it here;
// a missed task is found at the next poll; a hot pool of an older route, app or secrets
// version is drained by the first call that resolves the new one (runner's pools are
// keyed by version). A missed cancel of a sync call is lost: it runs
// to its end (its cancel asked for nothing durable). It returns the function that stops following.
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
		case store.ChangeRoute: // changed or deleted, here or on another node: its containers
			go s.runner.DrainRoute(c.App, c.Path) // have the old config (destroying them waits on Docker)
		case store.ChangeApp:
			go s.runner.DrainApp(c.App)
		case store.ChangeSecret: // its value changed, or it went: containers that hold it have the old one
			if d, ok := s.runner.(secretDrainer); ok {
				go d.DrainSecret(c.Name)
			}
		case store.ChangeImage: // a build started or ended, or it went: calls read it again,
			s.imageCache.invalidate(c.Name) // and hot containers of an old digest go
			s.rollImages(c.Name)
		case store.ChangeReset: // images may have changed unheard of: read again those calls use
			s.rollImages(s.imageCache.reset()...)
		}
	})
}

// wakeWorker wakes one idle worker, now or as soon as one is idle (up to wakeUps wait);
// an accept past those is found by the next worker to look at the queue.
func (s *Service) wakeWorker() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// stopHere stops a call of this node's workers whose cancel was asked for: at once if it
// runs, else as it starts (see track).
func (s *Service) stopHere(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if cancel := s.running[id]; cancel != nil {
		cancel(runner.ErrCancelled)
		return
	}
	s.cancelled[id] = true
}
