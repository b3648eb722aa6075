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
		p := NewPasswordPool(2)
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
		p := NewPasswordPool(1)
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
		p := NewPasswordPool(1)
		release := make(chan struct{})
		go p.Run(t.Context(), "ada", func() { <-release })
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
