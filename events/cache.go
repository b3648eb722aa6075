package events

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"

	"github.com/gantry-dev/gantry/store"
)

// subscriptionCache holds the subscriptions, in name order, for matching. The store's
// feed marks what changed (a ChangeSubscription: that one; a ChangeReset: all), and the
// next reader reloads it: on the node that wrote, the mark is made before the write
// returns, so an event published after a subscription was written reaches it.
type subscriptionCache struct {
	refresh sync.Mutex // one reload at a time

	mu     sync.Mutex
	byName map[string]store.Subscription
	sorted []store.Subscription // byName in name order; replaced, never changed in place
	dirty  map[string]bool      // changed since the last reload
	reset  bool                 // reload all
}

// changed marks a subscription as changed; "" marks all.
func (c *subscriptionCache) changed(name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if name == "" {
		c.reset = true
		return
	}
	c.dirty[name] = true
}

// current returns the subscriptions as last loaded, without reloading, and whether some
// changed since.
func (c *subscriptionCache) current() ([]store.Subscription, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.sorted, c.reset || len(c.dirty) > 0
}

// get returns the subscriptions, reloading what changed first. A reload in progress
// (another reader's, which took the marks) is waited for: its result is what changed.
func (c *subscriptionCache) get(ctx context.Context, s Store) ([]store.Subscription, error) {
	c.refresh.Lock()
	c.refresh.Unlock() //nolint:staticcheck // SA2001: waits for a reload in progress
	c.mu.Lock()
	stale := c.reset || len(c.dirty) > 0
	sorted := c.sorted
	c.mu.Unlock()
	if !stale {
		return sorted, nil
	}
	return c.load(ctx, s)
}

// load reloads what changed: every subscription after a reset, else those marked.
func (c *subscriptionCache) load(ctx context.Context, s Store) ([]store.Subscription, error) {
	c.refresh.Lock()
	defer c.refresh.Unlock()
	c.mu.Lock()
	reset, dirty := c.reset, c.dirty
	c.reset, c.dirty = false, map[string]bool{}
	byName := c.byName
	c.mu.Unlock()
	fail := func(err error) ([]store.Subscription, error) { // marked again, for the next reader
		c.mu.Lock()
		defer c.mu.Unlock()
		c.reset = c.reset || reset
		for name := range dirty {
			c.dirty[name] = true
		}
		return nil, err
	}
	next := map[string]store.Subscription{}
	if reset || byName == nil {
		all, err := s.AllSubscriptions(ctx)
		if err != nil {
			return fail(err)
		}
		for _, sub := range all {
			next[sub.Name] = sub
		}
	} else {
		for name, sub := range byName {
			next[name] = sub
		}
		for name := range dirty {
			sub, err := s.GetSubscription(ctx, name)
			switch {
			case errors.Is(err, store.ErrNotFound):
				delete(next, name)
			case err != nil:
				return fail(err)
			default:
				next[name] = sub
			}
		}
	}
	sorted := make([]store.Subscription, 0, len(next))
	for _, sub := range next {
		sorted = append(sorted, sub)
	}
	slices.SortFunc(sorted, func(a, b store.Subscription) int { return strings.Compare(a.Name, b.Name) })
	c.mu.Lock()
	defer c.mu.Unlock()
	c.byName, c.sorted = next, sorted
	return sorted, nil
}

// anyReceives reports whether one of the subscriptions as last loaded receives ev.
func anyReceives(subs []store.Subscription, ev store.Event) bool {
	for _, sub := range subs {
		if Receives(sub, ev) {
			return true
		}
	}
	return false
}
