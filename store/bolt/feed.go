package bolt

import (
	"sync"

	"github.com/gantry-dev/gantry/store"
)

// subscribers is the change feed of a bbolt store: one process holds the file, so every
// change is made here and delivered in process, synchronously, by the writer that made it
// (DB.update, under wmu: in commit order, before the write returns). No change is ever
// missed, so no ChangeReset is ever sent.
type subscribers struct {
	mu   sync.Mutex
	next int
	fns  map[int]func(store.Change)
	list []func(store.Change) // fns in subscription order, rebuilt on every change of fns
}

// Subscribe calls fn with every change committed after it returns (see store.Changes).
func (s *DB) Subscribe(fn func(store.Change)) (unsubscribe func()) {
	return s.subs.add(fn)
}

func (b *subscribers) add(fn func(store.Change)) func() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.fns == nil {
		b.fns = map[int]func(store.Change){}
	}
	id := b.next
	b.next++
	b.fns[id] = fn
	b.rebuild()
	var once sync.Once
	return func() {
		once.Do(func() {
			b.mu.Lock()
			defer b.mu.Unlock()
			delete(b.fns, id)
			b.rebuild()
		})
	}
}

func (b *subscribers) rebuild() {
	b.list = b.list[:0:0]
	for id := range b.next {
		if fn, ok := b.fns[id]; ok {
			b.list = append(b.list, fn)
		}
	}
}

func (b *subscribers) publish(c store.Change) {
	b.mu.Lock()
	list := b.list
	b.mu.Unlock()
	for _, fn := range list {
		fn(c)
	}
}
