package workflow

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/gantry-dev/gantry/store"
)

// RetryPolicy says how often and when a step's failed call runs again.
type RetryPolicy struct {
	MaxAttempts         int // >= 1 (1 when no retry)
	Backoff, MaxBackoff time.Duration
	On                  map[string]bool // reasons (store.ReasonError, ReasonTimeout, ReasonBadExit, ReasonKilled)
}

// Delay is the wait before attempt+1 (attempt counts from 1): Backoff before the second
// attempt, doubled at each attempt after it, capped at MaxBackoff.
func (r RetryPolicy) Delay(attempt int) time.Duration {
	if attempt < 1 || r.Backoff <= 0 {
		return 0
	}
	d := r.Backoff
	for i := 1; i < attempt; i++ {
		if d > math.MaxInt64/2 {
			d = math.MaxInt64
			break
		}
		d *= 2
		if r.MaxBackoff > 0 && d >= r.MaxBackoff {
			break
		}
	}
	if r.MaxBackoff > 0 && d > r.MaxBackoff {
		d = r.MaxBackoff
	}
	return d
}

// Defaults of a step's retry.
const (
	defaultBackoff    = time.Second
	defaultMaxBackoff = time.Minute
)

func retryPolicy(r Retry, f string) (RetryPolicy, error) {
	if r.MaxAttempts < 1 || r.MaxAttempts > MaxRetryAttempts {
		return RetryPolicy{}, store.Invalid(f+".max_attempts", "max_attempts must be between 1 and %d", MaxRetryAttempts)
	}
	p := RetryPolicy{MaxAttempts: r.MaxAttempts, Backoff: defaultBackoff, MaxBackoff: defaultMaxBackoff, On: map[string]bool{}}
	var err error
	if r.Backoff != "" {
		if p.Backoff, err = positiveDuration(r.Backoff, f+".backoff"); err != nil {
			return RetryPolicy{}, err
		}
	}
	if r.MaxBackoff != "" {
		if p.MaxBackoff, err = positiveDuration(r.MaxBackoff, f+".max_backoff"); err != nil {
			return RetryPolicy{}, err
		}
	}
	if p.MaxBackoff < p.Backoff {
		return RetryPolicy{}, store.Invalid(f+".max_backoff", "max_backoff %s is shorter than backoff %s", p.MaxBackoff, p.Backoff)
	}
	for j, reason := range r.On {
		if !slices.Contains(retryReasons, reason) {
			return RetryPolicy{}, store.Invalid(fmt.Sprintf("%s.on[%d]", f, j), "reason %q must be one of %s", reason, strings.Join(retryReasons, ", "))
		}
		p.On[reason] = true
	}
	if len(r.On) == 0 {
		for _, reason := range retryReasons {
			p.On[reason] = true
		}
	}
	return p, nil
}
