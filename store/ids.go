package store

import (
	crand "crypto/rand"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/oklog/ulid/v2"
)

// IDs makes the IDs of apps, executions and tokens: ULIDs, so they sort by creation time,
// that increase strictly within one IDs, even within a millisecond and if the clock steps
// back. IDs never derive from client data.
type IDs struct {
	mu      sync.Mutex
	entropy *ulid.MonotonicEntropy
	lastMS  uint64
}

// NewIDs returns an ID source seeded from crypto/rand.
func NewIDs() *IDs {
	var seed [32]byte
	_, _ = crand.Read(seed[:]) // crypto/rand.Read never fails
	return &IDs{entropy: ulid.Monotonic(rand.NewChaCha8(seed), 0)}
}

// Next returns an ID greater than every one returned before, made at now.
func (g *IDs) Next(now time.Time) string {
	g.mu.Lock()
	defer g.mu.Unlock()
	ms := max(ulid.Timestamp(now), g.lastMS)
	for {
		// ChaCha8 never fails to read, so the only error is that this millisecond's
		// monotonic entropy ran out: move on to the next millisecond.
		id, err := ulid.New(ms, g.entropy)
		if err == nil {
			g.lastMS = ms
			return id.String()
		}
		ms++
	}
}

// ValidID reports whether id is an ID as Next makes them (a canonical ULID), and when it
// was made.
func ValidID(id string) (time.Time, bool) {
	u, err := ulid.ParseStrict(id)
	if err != nil || u.String() != id {
		return time.Time{}, false
	}
	return ulid.Time(u.Time()).UTC(), true
}
