package auth

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

// TestPasswordPool: work runs in at most the pool's slots, one at a time per key, and a key
// with work waiting does not go ahead of another key that waited first.
func TestPasswordPool(t *testing.T) {
	t.Run("a key runs one at a time and the pool at most its slots", func(t *testing.T) {
		p := NewPasswordPool(PasswordPoolOptions{Slots: 2})
		var (
			mu          sync.Mutex
			running     int
			perKey      = map[string]int{}
			maxRun      int
			maxKey      int
			wg          sync.WaitGroup
			keys        = []string{"ada", "ada", "ada", "bob", "bob", "carl", "dora", "dora"}
			releaseWork = make(chan struct{})
		)
		for _, k := range keys {
			wg.Go(func() {
				err := p.Run(t.Context(), k, func() {
					mu.Lock()
					running++
					perKey[k]++
					maxRun, maxKey = max(maxRun, running), max(maxKey, perKey[k])
					mu.Unlock()
					<-releaseWork
					mu.Lock()
					running--
					perKey[k]--
					mu.Unlock()
				})
				if err != nil {
					t.Error(err)
				}
			})
		}
		for range keys { // let one piece of work finish at a time
			releaseWork <- struct{}{}
		}
		wg.Wait()
		if maxRun > 2 || maxKey > 1 {
			t.Errorf("at most %d ran at once, %d of one key; want 2 and 1", maxRun, maxKey)
		}
	})
	t.Run("another key is served before a key's second piece of work", func(t *testing.T) {
		p := NewPasswordPool(PasswordPoolOptions{Slots: 1})
		started := make(chan string, 3)
		release := make(chan struct{})
		work := func(name string) func() {
			return func() { started <- name; <-release }
		}
		done := make(chan struct{}, 3)
		run := func(key, name string) {
			go func() {
				if err := p.Run(t.Context(), key, work(name)); err != nil {
					t.Error(err)
				}
				done <- struct{}{}
			}()
		}
		run("ada", "ada-1")
		if got := <-started; got != "ada-1" {
			t.Fatalf("%s started first", got)
		}
		run("ada", "ada-2")
		waitFor(t, func() bool { return p.waiting("ada") == 2 })
		run("bob", "bob-1")
		waitFor(t, func() bool { return p.waiting("bob") == 1 })
		release <- struct{}{}
		if got := <-started; got != "bob-1" {
			t.Errorf("%s ran after ada-1, want bob-1: one owner's queue went ahead of another owner", got)
		}
		close(release)
		for range 3 {
			<-done
		}
		if len(p.turns) != 0 {
			t.Errorf("%d keys kept after their work", len(p.turns))
		}
	})
	t.Run("a cancelled wait does not run the work", func(t *testing.T) {
		p := NewPasswordPool(PasswordPoolOptions{Slots: 1})
		release := make(chan struct{})
		go func() { _ = p.Run(t.Context(), "ada", func() { <-release }) }()
		waitFor(t, func() bool { return len(p.slots) == 1 })
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		ran := false
		if err := p.Run(ctx, "bob", func() { ran = true }); !errors.Is(err, context.Canceled) || ran {
			t.Errorf("= %v, ran %v; want context.Canceled without running", err, ran)
		}
		close(release)
	})
}

// TestPasswordPoolWaitingCap: at most MaxWaiting callers wait for a slot, and at most
// MaxWaitingPerKey of one key; a caller beyond either is refused at once with
// ErrPasswordsBusy, without running its work, and the places free as waiters run or give up.
func TestPasswordPoolWaitingCap(t *testing.T) {
	// pool is a pool whose work blocks until release is closed; done gets each Run's error.
	type pool struct {
		*PasswordPool
		release chan struct{}
		done    chan error
	}
	newPool := func(t *testing.T, o PasswordPoolOptions) *pool {
		p := &pool{PasswordPool: NewPasswordPool(o), release: make(chan struct{}), done: make(chan error, 16)}
		t.Cleanup(func() {
			select {
			case <-p.release:
			default:
				close(p.release)
			}
		})
		return p
	}
	// start runs key's work in the background.
	start := func(p *pool, ctx context.Context, key string) {
		go func() { p.done <- p.Run(ctx, key, func() { <-p.release }) }()
	}
	refused := func(t *testing.T, p *pool, key string) {
		t.Helper()
		ran := false
		if err := p.Run(t.Context(), key, func() { ran = true }); !errors.Is(err, ErrPasswordsBusy) || ran {
			t.Errorf("a caller of %s beyond the cap: %v, ran %v; want ErrPasswordsBusy without running", key, err, ran)
		}
	}
	finish := func(t *testing.T, p *pool, n int) {
		t.Helper()
		close(p.release)
		for range n {
			if err := <-p.done; err != nil {
				t.Error(err)
			}
		}
		if p.Waiting() != 0 || len(p.turns) != 0 {
			t.Errorf("%d waiting and %d keys kept after the work", p.Waiting(), len(p.turns))
		}
	}

	t.Run("a caller beyond the pool's waiting cap is refused and the cap frees as work runs", func(t *testing.T) {
		p := newPool(t, PasswordPoolOptions{Slots: 1, MaxWaiting: 2})
		start(p, t.Context(), "ada")
		waitFor(t, func() bool { return len(p.slots) == 1 })
		start(p, t.Context(), "bob")
		start(p, t.Context(), "carl")
		waitFor(t, func() bool { return p.Waiting() == 2 })
		refused(t, p, "dora")
		finish(t, p, 3)
		if err := p.Run(t.Context(), "dora", func() {}); err != nil {
			t.Errorf("once the waiters ran: %v", err)
		}
	})
	t.Run("one key's waiters are capped below the pool's", func(t *testing.T) {
		p := newPool(t, PasswordPoolOptions{Slots: 1, MaxWaiting: 8, MaxWaitingPerKey: 2})
		start(p, t.Context(), "ada")
		waitFor(t, func() bool { return len(p.slots) == 1 })
		start(p, t.Context(), "ada")
		start(p, t.Context(), "ada")
		waitFor(t, func() bool { return p.Waiting() == 2 })
		refused(t, p, "ada")
		start(p, t.Context(), "bob") // another key still gets a place
		waitFor(t, func() bool { return p.Waiting() == 3 })
		finish(t, p, 4)
	})
	t.Run("a waiter that gives up frees its place", func(t *testing.T) {
		p := newPool(t, PasswordPoolOptions{Slots: 1, MaxWaiting: 1})
		start(p, t.Context(), "ada")
		waitFor(t, func() bool { return len(p.slots) == 1 })
		ctx, cancel := context.WithCancel(t.Context())
		start(p, ctx, "bob")
		waitFor(t, func() bool { return p.Waiting() == 1 })
		refused(t, p, "carl")
		cancel()
		if err := <-p.done; !errors.Is(err, context.Canceled) {
			t.Errorf("the waiter that gave up: %v, want context.Canceled", err)
		}
		waitFor(t, func() bool { return p.Waiting() == 0 })
		start(p, t.Context(), "carl")
		waitFor(t, func() bool { return p.Waiting() == 1 })
		finish(t, p, 2)
	})
	t.Run("the defaults scale with the slots", func(t *testing.T) {
		p := NewPasswordPool(PasswordPoolOptions{Slots: 3})
		if p.maxWaiting != 3*DefaultMaxWaitingPerSlot || p.maxWaitingPerKey != DefaultMaxWaitingPerKey {
			t.Errorf("caps %d and %d per key, want %d and %d", p.maxWaiting, p.maxWaitingPerKey, 3*DefaultMaxWaitingPerSlot, DefaultMaxWaitingPerKey)
		}
	})
}

// waiting counts the callers of key running or waiting.
func (p *PasswordPool) waiting(key string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if t := p.turns[key]; t != nil {
		return t.refs
	}
	return 0
}

// waitFor polls cond (a state the test waits for, not an assertion) for up to 10 s.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the state waited for never came")
		}
	}
}
