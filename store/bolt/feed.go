package bolt

import (
	"slices"
	"sync"

	"github.com/gantry-dev/gantry/store"
)

// subscribers is the change feed of a bbolt store: one process holds the file, so every
// change is made here and delivered in process, synchronously, by the writer that made it
// (DB.update, under wmu: in commit order, before the write returns). No change is ever
// missed, so no ChangeReset is ever sent.
type subscribers struct {
	// mu is held for reading while a change is delivered, so that unsubscribing waits for
	// a delivery in progress: once it returns, fn is never called again. A subscriber's fn
	// must therefore not call Subscribe or any unsubscribe function.
	mu   sync.RWMutex
	next int
	subs []subscriber // in subscription order
}

type subscriber struct {
	id int
	fn func(store.Change)
}

// Subscribe calls fn with every change committed after it returns (see store.Changes).
func (s *DB) Subscribe(fn func(store.Change)) (unsubscribe func()) {
	return s.subs.add(fn)
}

func (b *subscribers) add(fn func(store.Change)) func() {
	b.mu.Lock()
	defer b.mu.Unlock()
	id := b.next
	b.next++
	b.subs = append(b.subs, subscriber{id: id, fn: fn})
	var once sync.Once
	return func() {
		once.Do(func() {
			b.mu.Lock()
			defer b.mu.Unlock()
			b.subs = slices.DeleteFunc(b.subs, func(s subscriber) bool { return s.id == id })
		})
	}
}

func (b *subscribers) publish(c store.Change) {
	b.mu.RLock()
	defer b.mu.RUnlock()
	for _, s := range b.subs {
		s.fn(c)
	}
}
