package gateway

import (
	"crypto/rand"
	"crypto/sha256"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/gantry-dev/gantry/auth"
)

// Basic authentication cache bounds.
const (
	basicTTL     = 5 * time.Minute
	basicMaxKeys = 10000
)

// Failed basic authentication budget, per client (clientID) and API: the bcrypt checks that
// wrong credentials may cost. A client beyond it is refused (429) without a check. The rate
// is below what one bcrypt slot checks a second, so the limit engages on any machine.
const (
	failureRate  = rate.Limit(1) // a second
	failureBurst = 10
)

// newFailureBuckets are the failure budgets of one API's clients.
func newFailureBuckets() *clientBuckets { return newClientBuckets(failureRate, failureBurst) }

// basicUser checks the request's basic credentials against the API's users. bcrypt runs
// once per user, password and stored hash within basicTTL: later requests hit the cache,
// which no limit applies to. Failures are not cached: each wrong password costs one bcrypt
// check, taken from the client's failure budget before the check (and before it waits for
// one: a success gives it back), and a client whose budget is spent is refused before any
// check. The checks run in the server's password pool, one at a time per client, so a
// client sending many at once holds one slot and waits for its own checks (then finding
// the cache filled by the first, if it was right); a pool with too many waiting refuses
// the check (503). Unknown users cost one too, so that timing does not tell which users
// exist. A client is an IPv4 address or an IPv6 /64 (clientID).
func (g *Gateway) basicUser(c *call) (string, error) {
	user, password, ok := c.r.BasicAuth()
	if !ok {
		return "", g.challenge(c, auth.Unauthenticated("credentials are required: send Authorization: Basic"))
	}
	hash, known := c.api.users[user]
	if !known {
		hash = dummyHash()
	}
	key := basicKey(user, password, hash)
	if known && g.basic.has(key) {
		return user, nil
	}
	now := g.now()
	client := clientID(c.r)
	failure := c.api.failures.get(clientKey{id: client}).ReserveN(now, 1)
	if d := failure.DelayFrom(now); d > 0 {
		failure.CancelAt(now)
		return "", rateLimited(d)
	}
	err := g.passwords.Run(c.r.Context(), "client "+client, func() {
		ok = known && g.basic.has(key) || g.o.checkPassword(hash, password)
	})
	switch {
	case err != nil: // the request ended, or the pool was full (503): not the client's failure
		failure.CancelAt(now)
		return "", err
	case !ok || !known:
		return "", g.challenge(c, auth.Unauthenticated("wrong username or password"))
	}
	failure.CancelAt(now)
	g.basic.add(key)
	return user, nil
}

// challenge is a failed authentication with the API's challenge.
func (g *Gateway) challenge(c *call, err error) error {
	return &ChallengeError{Challenge: c.api.challenge, Err: err}
}

// dummyHash is a bcrypt hash no password matches, checked for unknown users.
var dummyHash = sync.OnceValue(func() []byte {
	h, _ := auth.HashPassword(rand.Text()) // fails only on passwords over 72 bytes; nil matches nothing too
	return h
})

// basicKey identifies a verified user, password and hash; the password is not kept.
func basicKey(user, password string, hash []byte) [32]byte {
	h := sha256.New()
	h.Write([]byte(user))
	h.Write([]byte{0})
	h.Write([]byte(password))
	h.Write([]byte{0})
	h.Write(hash)
	var k [32]byte
	h.Sum(k[:0])
	return k
}

// basicCache remembers verified credentials for basicTTL. Their key includes the stored
// hash, so a changed password or a removed user (no longer in the table) is never served
// from it; it is kept across table rebuilds. It holds at most basicMaxKeys entries.
type basicCache struct {
	mu   sync.RWMutex
	keys map[[32]byte]time.Time // → expiry
	now  func() time.Time
}

func newBasicCache() *basicCache {
	return &basicCache{keys: map[[32]byte]time.Time{}, now: time.Now}
}

func (b *basicCache) has(k [32]byte) bool {
	b.mu.RLock()
	exp, ok := b.keys[k]
	b.mu.RUnlock()
	return ok && b.now().Before(exp)
}

func (b *basicCache) add(k [32]byte) {
	now := b.now()
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.keys) >= basicMaxKeys {
		for key, exp := range b.keys {
			if !now.Before(exp) {
				delete(b.keys, key)
			}
		}
		if len(b.keys) >= basicMaxKeys {
			clear(b.keys) // only verified credentials get here: a rare, bounded cost
		}
	}
	b.keys[k] = now.Add(basicTTL)
}
