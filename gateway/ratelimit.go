package gateway

import (
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/gantry-dev/gantry/store"
)

// maxClients bounds the limiters an API keeps per client (see limiter.client).
const maxClients = 10000

// limiter is an API's token bucket, or its buckets per client. It survives table
// rebuilds while the API's rate limit settings stay the same.
type limiter struct {
	cfg store.RateLimit
	api *rate.Limiter // Per api

	mu        sync.Mutex
	cur, prev map[clientKey]*rate.Limiter // Per client: recently seen clients, two generations
}

// clientKey is the identity a client is limited by: its user, else its address.
type clientKey struct {
	user bool
	id   string
}

func newLimiter(cfg store.RateLimit) *limiter {
	l := &limiter{cfg: cfg}
	if cfg.Per == store.RatePerClient {
		l.cur, l.prev = map[clientKey]*rate.Limiter{}, map[clientKey]*rate.Limiter{}
	} else {
		l.api = l.bucket()
	}
	return l
}

func (l *limiter) bucket() *rate.Limiter {
	return rate.NewLimiter(rate.Limit(l.cfg.RPS), int(l.cfg.Burst))
}

// client returns the bucket of a client. Buckets live in two generations: when the
// current one is full it becomes the previous one and the oldest is dropped, so the
// clients seen least recently are forgotten first (they start again with a full burst).
func (l *limiter) client(k clientKey) *rate.Limiter {
	l.mu.Lock()
	defer l.mu.Unlock()
	if b := l.cur[k]; b != nil {
		return b
	}
	b := l.prev[k]
	if b == nil {
		b = l.bucket()
	}
	if len(l.cur) >= maxClients/2 {
		l.prev, l.cur = l.cur, make(map[clientKey]*rate.Limiter, len(l.cur))
	}
	l.cur[k] = b
	return b
}

// wait takes a token for the request, or returns how long until one is there.
func (l *limiter) wait(c *call) time.Duration {
	b := l.api
	if b == nil {
		k := clientKey{user: c.user != "", id: c.user}
		if !k.user {
			k.id = clientIP(c.r)
		}
		b = l.client(k)
	}
	now := time.Now()
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
		if d := c.api.limit.wait(c); d > 0 {
			g.fail(c, &RateLimitedError{RetryAfter: d})
			return
		}
		next(c)
	}
}
