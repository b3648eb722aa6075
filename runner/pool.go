package runner

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"time"
)

// errPoolDrained tells a waiting call that its pool was drained (route changed, or shutdown).
var errPoolDrained = errors.New("pool drained")

// poolKey names a pool: its function's name and the set of its secrets (Function.poolKey).
type poolKey = string

// pool holds the hot containers of one version of a function: at most max of them, each
// serving one call at a time. A call takes an idle container, or starts one while there
// are fewer than max, or waits in line (FIFO) for one to be released until its deadline.
type pool struct {
	r   *Runner
	key poolKey
	fn  Function
	max int
	// start and destroy are the runner's startHot and destroyHot; tests of the pool's
	// bookkeeping replace them.
	start   func(ctx context.Context) (*hotContainer, error)
	destroy func(*hotContainer)

	mu      sync.Mutex
	idle    []*hotContainer // most recently used last
	total   int             // starting + idle + busy
	waiters []chan grant
	drained bool
	stop    chan struct{} // closed by drain: ends the janitor
}

// grant answers a waiter: a container, or (c == nil) a slot to start one, or closed.
type grant struct {
	c      *hotContainer
	closed bool
}

// poolFor returns the pool of the call's function, secrets, and route, app, secrets and
// image versions, draining a pool of an older version of any: a container keeps the
// config, the secrets and the image it was started with. A call of an image name resolved
// to an older digest than the one DrainImage last told of runs the newer one (it read the
// image just before it changed), so that no container of the old digest starts after the
// roll.
func (r *Runner) poolFor(call *Call) *pool {
	fn := &call.Function
	key := fn.poolKey()
	r.mu.Lock()
	defer r.mu.Unlock()
	if cur, ok := r.images[fn.ImageName]; ok && fn.ImageName != "" && cur.version.After(fn.ImageVersion) {
		fn.Image, fn.ImageVersion = cur.digest, cur.version
	}
	if p := r.pools[key]; p != nil && !p.isDrained() {
		if !fn.RouteVersion.After(p.fn.RouteVersion) && !fn.AppVersion.After(p.fn.AppVersion) && !fn.SecretsVersion.After(p.fn.SecretsVersion) && !fn.newerImage(&p.fn) {
			return p // the same versions, or a call that read older ones just before a change
		}
		go p.drain()
	}
	p := &pool{r: r, key: key, fn: *fn, max: fn.MaxConcurrency, stop: make(chan struct{}), destroy: r.destroyHot}
	p.start = func(ctx context.Context) (*hotContainer, error) { return r.startHot(ctx, &p.fn) }
	r.pools[key] = p
	r.bg.Add(1)
	go p.janitor()
	return p
}

func (p *pool) isDrained() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.drained
}

// poolKey names the pool of f: its name, and its secrets (sorted, each once), so that
// calls of one route that name different secrets (workflow steps that add their own)
// never share containers.
func (f *Function) poolKey() poolKey {
	if len(f.Secrets) == 0 {
		return f.name()
	}
	return f.name() + "\x00" + strings.Join(sortedRefs(f.Secrets), "\x00")
}

// DrainRoute stops the hot containers of a route's function (after it changed or was
// deleted), whatever secrets their calls named: idle ones at once, busy ones when their
// call ends.
func (r *Runner) DrainRoute(app, path string) {
	r.drainPools(func(fn *Function) bool { return fn.App == app && fn.Path == path })
}

// DrainSecret stops the hot containers that hold a secret (after it changed or was
// deleted): those of every pool whose function names ref.
func (r *Runner) DrainSecret(ref string) {
	r.drainPools(func(fn *Function) bool { return slices.Contains(fn.Secrets, ref) })
}

// imageDigest is the digest an image name runs now, and when it was built.
type imageDigest struct {
	digest  string
	version time.Time
}

// newerImage tells whether f runs a newer digest of its image name than g: a later
// ImageVersion, or another digest of the same version (the name was made again).
func (f *Function) newerImage(g *Function) bool {
	if f.ImageName == "" || f.Image == g.Image {
		return false
	}
	return !f.ImageVersion.Before(g.ImageVersion)
}

// DrainImage rolls the hot containers of functions that run image name ("@name") to
// digest, built at version (its new build): the pools of that name whose containers run
// another digest are drained, idle containers at once, busy ones when their call ends; a
// later call starts containers of digest. A call already resolved to an older digest runs
// digest too (see poolFor). A version older than one told before changes nothing (a late
// word). An empty digest (the image went, or has none) drains every pool of the name.
func (r *Runner) DrainImage(name, digest string, version time.Time) {
	r.mu.Lock()
	if cur, ok := r.images[name]; ok && version.Before(cur.version) && digest != "" {
		r.mu.Unlock()
		return
	}
	if digest == "" {
		delete(r.images, name)
	} else {
		r.images[name] = imageDigest{digest: digest, version: version}
	}
	r.mu.Unlock()
	r.drainPools(func(fn *Function) bool { return fn.ImageName == name && fn.Image != digest })
}

// DrainApp stops the hot containers of every route of an app (its config changed, or it went).
func (r *Runner) DrainApp(app string) {
	r.drainPools(func(fn *Function) bool { return fn.App == app })
}

// drainPools drains, and forgets, the pools whose function matches.
func (r *Runner) drainPools(match func(*Function) bool) {
	r.mu.Lock()
	var drained []*pool
	for key, p := range r.pools {
		if match(&p.fn) {
			drained = append(drained, p)
			delete(r.pools, key)
		}
	}
	r.mu.Unlock()
	for _, p := range drained {
		p.drain()
	}
}

// acquire returns a container that serves only this call until release. Waiting in line
// ends at deadline (ErrBusy) or with ctx; starting a container is bounded by StartTimeout.
// A timer is made only when the call has to wait.
func (p *pool) acquire(ctx context.Context, deadline time.Time) (*hotContainer, error) {
	for {
		p.mu.Lock()
		if p.drained {
			p.mu.Unlock()
			return nil, errPoolDrained
		}
		if n := len(p.idle); n > 0 {
			c := p.idle[n-1]
			p.idle = p.idle[:n-1]
			p.mu.Unlock()
			if c.alive() {
				return c, nil
			}
			p.discard(c) // died while idle (killed from outside, crashed): replace it
			continue
		}
		if p.total < p.max {
			p.total++
			p.mu.Unlock()
			return p.startCounted(ctx)
		}
		ch := make(chan grant, 1)
		p.waiters = append(p.waiters, ch)
		p.mu.Unlock()

		timer := time.NewTimer(time.Until(deadline))
		expired := timer.C
		select {
		case g := <-ch:
			if g.closed {
				return nil, errPoolDrained
			}
			timer.Stop()
			if g.c == nil {
				return p.startCounted(ctx)
			}
			if g.c.alive() {
				return g.c, nil
			}
			p.discard(g.c)
		case <-expired:
			if p.leaveLine(ch) {
				return nil, ErrBusy
			}
			// A grant raced with the deadline: pass it on rather than lose it.
			if g := <-ch; !g.closed {
				if g.c != nil {
					p.release(g.c, true)
				} else {
					p.giveBackSlot()
				}
			}
			return nil, ErrBusy
		case <-ctx.Done():
			timer.Stop()
			if p.leaveLine(ch) {
				return nil, ctx.Err()
			}
			if g := <-ch; !g.closed {
				if g.c != nil {
					p.release(g.c, true)
				} else {
					p.giveBackSlot()
				}
			}
			return nil, ctx.Err()
		}
	}
}

// startCounted starts a container for a slot already counted in total.
func (p *pool) startCounted(ctx context.Context) (*hotContainer, error) {
	c, err := p.start(ctx)
	if err != nil {
		p.giveBackSlot()
		return nil, err
	}
	return c, nil
}

// leaveLine removes a waiter; false if it was already granted something.
func (p *pool) leaveLine(ch chan grant) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i, w := range p.waiters {
		if w == ch {
			p.waiters = append(p.waiters[:i], p.waiters[i+1:]...)
			return true
		}
	}
	return false
}

// release returns a container after a call. An unhealthy one (crashed, timed out, broke
// the protocol) is destroyed and its slot passed to the next waiter.
func (p *pool) release(c *hotContainer, healthy bool) {
	if !healthy {
		p.discard(c)
		return
	}
	p.mu.Lock()
	if p.drained {
		p.total--
		p.mu.Unlock()
		p.destroy(c)
		return
	}
	c.lastUsed = time.Now()
	if len(p.waiters) > 0 {
		w := p.waiters[0]
		p.waiters = p.waiters[1:]
		p.mu.Unlock()
		w <- grant{c: c}
		return
	}
	p.idle = append(p.idle, c)
	p.mu.Unlock()
}

// discard destroys a container and frees its slot.
func (p *pool) discard(c *hotContainer) {
	p.destroy(c)
	p.giveBackSlot()
}

// giveBackSlot frees one slot of total, handing it to the next waiter if there is one.
func (p *pool) giveBackSlot() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.waiters) > 0 && !p.drained {
		w := p.waiters[0]
		p.waiters = p.waiters[1:]
		w <- grant{} // the slot stays counted: the waiter starts a container in it
		return
	}
	p.total--
}

// drain stops taking calls, destroys idle containers and wakes every waiter.
func (p *pool) drain() {
	p.mu.Lock()
	if p.drained {
		p.mu.Unlock()
		return
	}
	p.drained = true
	close(p.stop)
	idle, waiters := p.idle, p.waiters
	p.idle, p.waiters = nil, nil
	p.total -= len(idle)
	p.mu.Unlock()
	for _, w := range waiters {
		w <- grant{closed: true}
	}
	for _, c := range idle {
		p.destroy(c)
	}
}

// janitor stops containers idle for longer than the function's IdleTimeout, and retires the
// pool once it has been empty that long.
func (p *pool) janitor() {
	defer p.r.bg.Done()
	idleTimeout := p.fn.IdleTimeout
	tick := min(idleTimeout/4, time.Second)
	if tick <= 0 { // no idle timeout: containers stop at the first tick
		tick = time.Millisecond
	}
	t := time.NewTicker(tick)
	defer t.Stop()
	emptySince := time.Now()
	for {
		select {
		case <-p.stop:
			return
		case now := <-t.C:
			var expired []*hotContainer
			p.mu.Lock()
			keep := p.idle[:0]
			for _, c := range p.idle {
				if now.Sub(c.lastUsed) >= idleTimeout || !c.alive() {
					expired = append(expired, c)
				} else {
					keep = append(keep, c)
				}
			}
			p.idle = keep
			p.total -= len(expired)
			if p.total > 0 || len(p.waiters) > 0 {
				emptySince = now
			}
			retire := p.total == 0 && len(p.waiters) == 0 && now.Sub(emptySince) >= idleTimeout
			if retire { // decided and marked at once: no call can start a container in it after this
				p.drained = true
				close(p.stop)
			}
			p.mu.Unlock()
			for _, c := range expired {
				p.destroy(c)
			}
			if retire {
				p.r.mu.Lock()
				if p.r.pools[p.key] == p {
					delete(p.r.pools, p.key)
				}
				p.r.mu.Unlock()
				return
			}
		}
	}
}
