package runner

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakePool is a pool whose containers are bookkeeping only, to test the pool's accounting
// under races that real containers make rare: acquire, release, discard, drain, deadlines.
type fakePool struct {
	*pool
	mu        sync.Mutex
	live      map[*hotContainer]bool // started and not destroyed
	inUse     map[*hotContainer]bool // held by a call
	destroyed map[*hotContainer]int
	most      int
	failNext  atomic.Int32 // starts that fail
}

func newFakePool(size int) *fakePool {
	f := &fakePool{live: map[*hotContainer]bool{}, inUse: map[*hotContainer]bool{}, destroyed: map[*hotContainer]int{}}
	f.pool = &pool{max: size, stop: make(chan struct{})}
	f.start = func(context.Context) (*hotContainer, error) {
		time.Sleep(time.Duration(rand.IntN(300)) * time.Microsecond)
		if f.failNext.Add(-1) >= 0 {
			return nil, errors.New("start failed")
		}
		c := &hotContainer{exited: make(chan struct{}), lastUsed: time.Now()}
		f.mu.Lock()
		defer f.mu.Unlock()
		f.live[c] = true
		f.most = max(f.most, len(f.live))
		return c, nil
	}
	f.destroy = func(c *hotContainer) {
		f.mu.Lock()
		defer f.mu.Unlock()
		delete(f.live, c)
		f.destroyed[c]++
	}
	return f
}

// use takes a container for a call, failing the test if another call holds it.
func (f *fakePool) use(t *testing.T, c *hotContainer) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.inUse[c] {
		t.Error("a container was handed to two calls at once")
	}
	if !f.live[c] {
		t.Error("a call got a destroyed container")
	}
	f.inUse[c] = true
}

func (f *fakePool) done(c *hotContainer) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.inUse, c)
}

func TestPoolAccountingUnderRaces(t *testing.T) {
	for round := range 20 {
		t.Run(fmt.Sprint(round), func(t *testing.T) {
			f := newFakePool(3)
			f.failNext.Store(int32(rand.IntN(4)))
			var wg sync.WaitGroup
			var served, busy atomic.Int64
			for i := range 60 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					deadline := time.Now().Add(time.Duration(1+rand.IntN(20)) * time.Millisecond)
					patient := i == 0 // waits long enough to be served however loaded the machine
					if patient {
						deadline = time.Now().Add(10 * time.Second)
					}
					c, err := f.acquire(context.Background(), deadline)
					for patient && err != nil && !errors.Is(err, ErrBusy) && !errors.Is(err, errPoolDrained) {
						c, err = f.acquire(context.Background(), deadline) // past the starts that fail
					}
					switch {
					case errors.Is(err, ErrBusy), errors.Is(err, errPoolDrained):
						busy.Add(1)
						return
					case err != nil:
						return // a failed start
					}
					f.use(t, c)
					time.Sleep(time.Duration(rand.IntN(2000)) * time.Microsecond)
					f.done(c)
					served.Add(1)
					if rand.IntN(5) == 0 {
						close(c.exited) // it crashed: the call reports it unhealthy
						f.release(c, false)
					} else {
						f.release(c, true)
					}
				}()
			}
			if round%2 == 1 {
				time.Sleep(time.Duration(rand.IntN(5)) * time.Millisecond)
				f.drain()
			}
			wg.Wait()
			f.drain()

			f.mu.Lock()
			defer f.mu.Unlock()
			if f.most > 3 {
				t.Errorf("%d containers at once, max 3", f.most)
			}
			if len(f.live) != 0 {
				t.Errorf("%d containers never destroyed", len(f.live))
			}
			for _, n := range f.destroyed {
				if n != 1 {
					t.Errorf("a container destroyed %d times", n)
				}
			}
			f.pool.mu.Lock()
			defer f.pool.mu.Unlock()
			if f.total != 0 || len(f.waiters) != 0 || len(f.idle) != 0 {
				t.Errorf("after drain: total %d, waiters %d, idle %d; want all 0", f.total, len(f.waiters), len(f.idle))
			}
			if round%2 == 0 && served.Load() == 0 { // odd rounds drain early: serving none is fine there; even ones have a patient caller
				t.Error("no call was served")
			}
		})
	}
}

func TestPoolWaiterGetsReleasedContainerOrBusyAtDeadline(t *testing.T) {
	f := newFakePool(1)
	c, err := f.acquire(context.Background(), time.Now().Add(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if _, err := f.acquire(context.Background(), time.Now().Add(50*time.Millisecond)); !errors.Is(err, ErrBusy) {
		t.Fatalf("got %v, want ErrBusy", err)
	}
	if d := time.Since(start); d < 40*time.Millisecond || d > time.Second {
		t.Fatalf("ErrBusy after %s, want at the 50ms deadline", d)
	}
	got := make(chan *hotContainer, 1)
	go func() {
		w, err := f.acquire(context.Background(), time.Now().Add(5*time.Second))
		if err != nil {
			t.Error(err)
		}
		got <- w
	}()
	time.Sleep(20 * time.Millisecond)
	f.release(c, true)
	if w := <-got; w != c {
		t.Fatal("the waiter did not get the released container")
	}
	// A waiter woken by drain gets errPoolDrained, never a hang.
	waiting := make(chan error, 1)
	go func() {
		_, err := f.acquire(context.Background(), time.Now().Add(5*time.Second))
		waiting <- err
	}()
	time.Sleep(20 * time.Millisecond)
	f.drain()
	if err := <-waiting; !errors.Is(err, errPoolDrained) {
		t.Fatalf("waiter at drain: %v", err)
	}
	f.release(c, true) // released after the drain: destroyed
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.live) != 0 {
		t.Fatalf("%d containers alive after drain and release", len(f.live))
	}
}
