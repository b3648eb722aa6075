package auth

import (
	"context"
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

// PasswordPool runs bcrypt work (hashing the passwords the management API stores, checking
// those the gateway is sent) in a bounded pool, one per server: at most its slots at once,
// and one at a time per key (an owner whose passwords are hashed, a client address whose
// credentials are checked). A key's further work waits for its own to finish, so one key's
// flood holds one slot and never takes the others'; waiters are served in arrival order.
type PasswordPool struct {
	slots chan struct{}
	mu    sync.Mutex
	turns map[string]*turn // keys with work running or waiting
}

// turn is a key's right to run: its channel holds a token while the key's work runs.
type turn struct {
	ch   chan struct{}
	refs int // callers running or waiting
}

// NewPasswordPool returns a pool of n slots; n < 1 means DefaultPasswordSlots.
func NewPasswordPool(n int) *PasswordPool {
	if n < 1 {
		n = DefaultPasswordSlots()
	}
	return &PasswordPool{slots: make(chan struct{}, n), turns: map[string]*turn{}}
}

// Run runs fn once key's earlier work is done and a slot is free. It returns ctx's error,
// without running fn, if ctx ends first.
func (p *PasswordPool) Run(ctx context.Context, key string, fn func()) error {
	t := p.join(key)
	defer p.leave(key, t)
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
	fn()
	return nil
}

// join returns key's turn, counting the caller in.
func (p *PasswordPool) join(key string) *turn {
	p.mu.Lock()
	defer p.mu.Unlock()
	t := p.turns[key]
	if t == nil {
		t = &turn{ch: make(chan struct{}, 1)}
		p.turns[key] = t
	}
	t.refs++
	return t
}

// leave counts the caller out of key's turn, forgotten once nobody holds it.
func (p *PasswordPool) leave(key string, t *turn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if t.refs--; t.refs == 0 {
		delete(p.turns, key)
	}
}
