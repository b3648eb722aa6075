package auth

import (
	"context"
	"errors"
	"runtime"
	"sync"

	"golang.org/x/crypto/bcrypt"
)

// PasswordCost is the bcrypt cost of stored passwords (gateway basic auth).
const PasswordCost = bcrypt.DefaultCost

// HashPassword returns the bcrypt hash to store for a password (at most 72 bytes).
func HashPassword(password string) ([]byte, error) {
	return bcrypt.GenerateFromPassword([]byte(password), PasswordCost)
}

// CheckPassword tells whether password is the one hash was made from. It is slow on
// purpose (bcrypt); callers cache what it verified.
func CheckPassword(hash []byte, password string) bool {
	return bcrypt.CompareHashAndPassword(hash, []byte(password)) == nil
}

// DefaultPasswordSlots is the bcrypt work a server runs at once: half its CPUs (at least
// one), so that hashing and checking passwords never take the CPUs every request needs.
func DefaultPasswordSlots() int { return max(1, runtime.GOMAXPROCS(0)/2) }

// Default caps of the callers waiting in a PasswordPool.
const (
	// DefaultMaxWaitingPerSlot is how many callers may wait, in all, per slot of the pool.
	DefaultMaxWaitingPerSlot = 64
	// DefaultMaxWaitingPerKey is how many of them may be one key's (an owner, a client).
	DefaultMaxWaitingPerKey = 16
)

// ErrPasswordsBusy: the password pool has as many callers waiting as it takes (in all, or of
// the caller's key); the work was refused without running. Try again shortly.
var ErrPasswordsBusy = errors.New("too much password work (bcrypt) is waiting: try again shortly")

// PasswordPoolOptions size a PasswordPool; zero fields take the defaults.
type PasswordPoolOptions struct {
	Slots            int // bcrypt work at once; default DefaultPasswordSlots
	MaxWaiting       int // callers waiting for their turn, in all; default DefaultMaxWaitingPerSlot per slot
	MaxWaitingPerKey int // of them for one key; default DefaultMaxWaitingPerKey (at most MaxWaiting)
}

// PasswordPool runs bcrypt work (hashing the passwords the management API stores, checking
// those the gateway is sent) in a bounded pool, one per server: at most its slots at once,
// and one at a time per key (an owner whose passwords are hashed, a client whose
// credentials are checked). A key's further work waits for its own to finish, so one key's
// flood holds one slot and never takes the others'; waiters are served in arrival order.
// The waiters are capped too, in all and per key: a caller beyond a cap is refused at once
// (ErrPasswordsBusy), so that a flood costs neither memory nor a queue others wait behind.
type PasswordPool struct {
	slots            chan struct{}
	maxWaiting       int
	maxWaitingPerKey int

	mu      sync.Mutex
	turns   map[string]*turn // keys with work running or waiting
	waiters int              // callers of every key not running yet
}

// turn is a key's right to run: its channel holds a token while the key's work runs.
type turn struct {
	ch      chan struct{}
	refs    int // callers running or waiting
	waiting int // callers not running yet
}

// NewPasswordPool returns a pool sized by o.
func NewPasswordPool(o PasswordPoolOptions) *PasswordPool {
	if o.Slots < 1 {
		o.Slots = DefaultPasswordSlots()
	}
	if o.MaxWaiting < 1 {
		o.MaxWaiting = DefaultMaxWaitingPerSlot * o.Slots
	}
	if o.MaxWaitingPerKey < 1 {
		o.MaxWaitingPerKey = DefaultMaxWaitingPerKey
	}
	return &PasswordPool{slots: make(chan struct{}, o.Slots), maxWaiting: o.MaxWaiting,
		maxWaitingPerKey: min(o.MaxWaitingPerKey, o.MaxWaiting), turns: map[string]*turn{}}
}

// Run runs fn once key's earlier work is done and a slot is free. It returns
// ErrPasswordsBusy at once, without running fn, if too many callers wait already (in all,
// or of key), and ctx's error, without running fn, if ctx ends first.
func (p *PasswordPool) Run(ctx context.Context, key string, fn func()) error {
	t, err := p.join(key)
	if err != nil {
		return err
	}
	waiting := true
	defer func() { p.leave(key, t, waiting) }()
	select {
	case t.ch <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-t.ch }()
	select {
	case p.slots <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-p.slots }()
	p.started(t)
	waiting = false
	fn()
	return nil
}

// Waiting is the number of callers waiting for their turn now (for metrics and tests).
func (p *PasswordPool) Waiting() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.waiters
}

// join returns key's turn, counting the caller in as waiting, or ErrPasswordsBusy.
func (p *PasswordPool) join(key string) (*turn, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	t := p.turns[key]
	if p.waiters >= p.maxWaiting || t != nil && t.waiting >= p.maxWaitingPerKey {
		return nil, ErrPasswordsBusy
	}
	if t == nil {
		t = &turn{ch: make(chan struct{}, 1)}
		p.turns[key] = t
	}
	t.refs++
	t.waiting++
	p.waiters++
	return t, nil
}

// started counts a caller of t out of the waiters: its work runs.
func (p *PasswordPool) started(t *turn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	t.waiting--
	p.waiters--
}

// leave counts the caller out of key's turn (and out of the waiters if it never ran),
// forgotten once nobody holds it.
func (p *PasswordPool) leave(key string, t *turn, waiting bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if waiting {
		t.waiting--
		p.waiters--
	}
	if t.refs--; t.refs == 0 {
		delete(p.turns, key)
	}
}
