package store

import (
	"time"

	"github.com/oklog/ulid/v2"
)

// ExecutionCountFilter selects the executions ExecutionCounts counts.
type ExecutionCountFilter struct {
	// Apps, when not nil, keeps only the executions of these apps, name to app ID (those a
	// developer owns), as ExecutionFilter.Apps does.
	Apps map[string]string
	// Since keeps only the executions created at or after it (their IDs tell when).
	Since time.Time
}

// Match reports whether an execution of app (appID) created at its ID's time passes f;
// the time is checked by the caller (see IDFloor).
func (f ExecutionCountFilter) Match(app, appID string) bool {
	if f.Apps == nil {
		return true
	}
	id, ok := f.Apps[app]
	return ok && id == appID
}

// ExecutionCounts are the figures of the executions of a window.
type ExecutionCounts struct {
	Calls    int // every execution
	Failed   int // FAILED ones
	Finished int // those in a final status (SUCCESS, FAILED or CANCELLED)
}

// Add counts one execution of status.
func (c *ExecutionCounts) Add(status string) {
	c.Calls++
	if StatusFinal(status) {
		c.Finished++
	}
	if status == StatusFailed {
		c.Failed++
	}
}

// IDFloor is the smallest ID (see IDs) made at t: every ID made at t or later sorts at
// or above it, every one made before sorts below it.
func IDFloor(t time.Time) string {
	if t.Before(time.UnixMilli(0)) {
		t = time.UnixMilli(0)
	}
	var u ulid.ULID
	_ = u.SetTime(ulid.Timestamp(t)) // fails only past year 10889
	return u.String()
}

// RouteHot is how many hot containers a node keeps for one route.
type RouteHot struct {
	App        string `json:"app"`
	Path       string `json:"path"`
	Containers int    `json:"containers"`
}
