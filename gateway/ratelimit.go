package gateway

import (
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/gantry-dev/gantry/store"
)

// maxClients bounds the buckets an API keeps per client (see clientBuckets).
const maxClients = 10000

// limiter is an API's token bucket, or its buckets per client. It survives table
// rebuilds while the API's rate limit settings stay the same.
type limiter struct {
	cfg     store.RateLimit
	api     *rate.Limiter  // per api
	clients *clientBuckets // per client
}

func newLimiter(cfg store.RateLimit) *limiter {
	l := &limiter{cfg: cfg}
	if cfg.Per == store.RatePerClient {
		l.clients = newClientBuckets(rate.Limit(cfg.RPS), int(cfg.Burst))
	} else {
		l.api = rate.NewLimiter(rate.Limit(cfg.RPS), int(cfg.Burst))
	}
	return l
}

// wait takes a token for the request at now, or returns how long until one is there.
func (l *limiter) wait(c *call, now time.Time) time.Duration {
	b := l.api
	if b == nil {
		k := clientKey{user: c.user != "", id: c.user}
		if !k.user {
			k.id = clientID(c.r)
		}
		b = l.clients.get(k)
	}
	return take(b, now)
}

// take takes a token of b at now, or returns how long until one is there (and takes none).
func take(b *rate.Limiter, now time.Time) time.Duration {
	r := b.ReserveN(now, 1)
	d := r.DelayFrom(now)
	if d > 0 {
		r.CancelAt(now)
	}
	return d
}

// limitRate refuses requests beyond the API's (or the client's) budget.
func (g *Gateway) limitRate(next handler) handler {
	return func(c *call) {
		if d := c.api.limit.wait(c, g.now()); d > 0 {
			g.fail(c, rateLimited(d))
			return
		}
		next(c)
	}
}

// clientKey is the identity a client is limited by: its user, else its clientID.
type clientKey struct {
	user bool
	id   string
}

// clientBuckets are token buckets by client, at most maxClients of them. They live in two
// generations: when the current one is full it becomes the previous one and the oldest is
// dropped, so the clients seen least recently are forgotten first (they start again with
// a full burst).
type clientBuckets struct {
	limit rate.Limit
	burst int

	mu        sync.Mutex
	cur, prev map[clientKey]*rate.Limiter
}

func newClientBuckets(limit rate.Limit, burst int) *clientBuckets {
	return &clientBuckets{limit: limit, burst: burst,
		cur: map[clientKey]*rate.Limiter{}, prev: map[clientKey]*rate.Limiter{}}
}

// get returns the bucket of a client.
func (cb *clientBuckets) get(k clientKey) *rate.Limiter {
	cb.mu.Lock()
	defer cb.mu.Unlock()
	if b := cb.cur[k]; b != nil {
		return b
	}
	b := cb.prev[k]
	if b == nil {
		b = rate.NewLimiter(cb.limit, cb.burst)
	}
	if len(cb.cur) >= maxClients/2 {
		cb.prev, cb.cur = cb.cur, make(map[clientKey]*rate.Limiter, len(cb.cur))
	}
	cb.cur[k] = b
	return b
}
