package postgres

import (
	"encoding/json"
	"slices"
	"sync"

	"github.com/gantry-dev/gantry/store"
)

// feed delivers the changes of the store to its subscribers: those this process's writes
// made (posted right after their commit) and those the listener hears from other nodes
// (and ChangeReset after it lost its connection). One goroutine delivers them all, in the
// order they were posted, so subscribers are called one change at a time; a writer waits
// until its changes are delivered, so it reads its own writes through the caches.
//
// The queue is unbounded: posting never blocks. A writer posts after its commit, when its
// connection is back in the pool, so a subscriber that reads the store (the route index)
// always finds one, however many writers wait for their delivery.
type feed struct {
	// mu guards subs and next and is held during a delivery, so that unsubscribing waits
	// for a delivery in progress. A subscriber's fn must not call Subscribe or unsubscribe.
	mu   sync.Mutex
	subs []subscriber // in subscription order
	next int

	qmu    sync.Mutex
	queue  []posted
	closed bool
	wake   *sync.Cond // on qmu: something was posted, or the feed closed
	done   chan struct{}
}

type subscriber struct {
	id int
	fn func(store.Change)
}

// posted is a change waiting for delivery; delivered, when set, is closed once it is.
type posted struct {
	c         store.Change
	delivered chan struct{}
}

func newFeed() *feed {
	f := &feed{done: make(chan struct{})}
	f.wake = sync.NewCond(&f.qmu)
	go f.run()
	return f
}

// Subscribe calls fn with every change committed after it returns (see store.Changes).
func (s *DB) Subscribe(fn func(store.Change)) (unsubscribe func()) {
	f := s.feed
	f.mu.Lock()
	defer f.mu.Unlock()
	id := f.next
	f.next++
	f.subs = append(f.subs, subscriber{id: id, fn: fn})
	var once sync.Once
	return func() {
		once.Do(func() {
			f.mu.Lock()
			defer f.mu.Unlock()
			f.subs = slices.DeleteFunc(f.subs, func(s subscriber) bool { return s.id == id })
		})
	}
}

// post queues changes for delivery and returns a channel closed once the last of them was
// delivered (nil for none). After close, nothing is delivered: the channel is closed at once.
func (f *feed) post(changes []store.Change) <-chan struct{} {
	if len(changes) == 0 {
		return nil
	}
	delivered := make(chan struct{})
	f.qmu.Lock()
	defer f.qmu.Unlock()
	if f.closed {
		close(delivered)
		return delivered
	}
	for i, c := range changes {
		p := posted{c: c}
		if i == len(changes)-1 {
			p.delivered = delivered
		}
		f.queue = append(f.queue, p)
	}
	f.wake.Signal()
	return delivered
}

// run is the delivery goroutine.
func (f *feed) run() {
	defer close(f.done)
	for {
		f.qmu.Lock()
		for len(f.queue) == 0 && !f.closed {
			f.wake.Wait()
		}
		batch := f.queue
		f.queue = nil
		closed := f.closed
		f.qmu.Unlock()
		for _, p := range batch {
			f.deliver(p.c)
			if p.delivered != nil {
				close(p.delivered)
			}
		}
		if closed {
			return
		}
	}
}

func (f *feed) deliver(c store.Change) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, s := range f.subs {
		s.fn(c)
	}
}

// close delivers what was posted and stops the delivery goroutine.
func (f *feed) close() {
	f.qmu.Lock()
	f.closed = true
	f.wake.Signal()
	f.qmu.Unlock()
	<-f.done
}

// notice is a change as NOTIFY carries it: its origin (the handle that made it) and its
// fields, a few hundred bytes at most (payloads may have 8000).
type notice struct {
	Origin string           `json:"o"`
	Kind   store.ChangeKind `json:"k"`
	App    string           `json:"a,omitempty"`
	Path   string           `json:"p,omitempty"`
	Name   string           `json:"n,omitempty"`
}

func encodeChange(origin string, c store.Change) string {
	b, _ := json.Marshal(notice{Origin: origin, Kind: c.Kind, App: c.App, Path: c.Path, Name: c.Name}) // strings and a number: never fails
	return string(b)
}

func decodeChange(payload string) (origin string, c store.Change, err error) {
	var n notice
	if err := json.Unmarshal([]byte(payload), &n); err != nil {
		return "", c, err
	}
	return n.Origin, store.Change{Kind: n.Kind, App: n.App, Path: n.Path, Name: n.Name}, nil
}
