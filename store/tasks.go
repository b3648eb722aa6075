package store

import (
	"time"
)

// Task is an accepted async call: waiting in the queue, or running under a lease. Its ID
// is its execution's. It carries everything the call needs, taken when it was accepted,
// so that later changes to the route do not change calls already accepted.
type Task struct {
	ID         string              `json:"id"`
	Route      Route               `json:"route"`
	AppConfig  map[string]string   `json:"app_config,omitempty"`
	AppID      string              `json:"app_id,omitempty"`
	AppVersion time.Time           `json:"app_version,omitzero"` // when the app last changed
	Params     Params              `json:"params,omitempty"`
	Method     string              `json:"method"`
	URL        string              `json:"url"` // path under the app, with the query
	Header     map[string][]string `json:"header,omitempty"`
	Body       []byte              `json:"body,omitempty"`
	Priority   uint8               `json:"priority"` // 0 runs first
	Attempts   int                 `json:"attempts"` // runs started so far
	EnqueuedAt time.Time           `json:"enqueued_at"`
	// AvailableAt is the task's place in line, and when it may first be leased: when it was
	// accepted, or the end of its retry delay. Leasing does not move it, so a task whose
	// lease ends (its worker died) is back where it was, ahead of those accepted after it.
	AvailableAt time.Time `json:"available_at"`
	LeaseOwner  string    `json:"lease_owner,omitempty"`
	LeaseUntil  time.Time `json:"lease_until,omitzero"`
	LastError   string    `json:"last_error,omitempty"`
	// CancelRequested: cancelled while leased. It is not run again: a retry or the end of
	// its lease finishes it CANCELLED; a result reported by its holder is still recorded.
	CancelRequested bool `json:"cancel_requested,omitempty"`
	// Parent is the workflow run whose step this call is, if any: when the call reaches a
	// final status, however it ends (completed, cancelled, dropped), the store sends a
	// ChangeChild naming it.
	Parent string `json:"parent,omitempty"`
	// Secrets are secrets the call gets besides its route's (a workflow step's), by name
	// with "ssh:@caller" resolved: names only, never values. They are SecretsOwner's (the
	// workflow's owner when the run started), but for the SSH key of SecretsLent, the run's
	// caller, who lent it to the run; the route's are its app's owner's when the call runs.
	Secrets      []string `json:"secrets,omitempty"`
	SecretsOwner string   `json:"secrets_owner,omitempty"`
	SecretsLent  string   `json:"secrets_lent,omitempty"`
	// Delivery is the event delivery this call makes, if any: when the call reaches a final
	// status, however it ends, the store ends the delivery in the same write (see Delivery).
	Delivery string `json:"delivery,omitempty"`
	// Retry, when set, is how the function's failures are retried (a delivery's
	// subscription's policy), instead of its route's max_retries and the workers' backoff.
	Retry *RetryPolicy `json:"retry,omitempty"`
}

// NeedsSecrets reports whether a call of the task gets secrets (its route's or its own):
// only Gantry's own workers, which deliver them, may run it (see
// Queue.LeaseTasksWithoutSecrets).
func (t Task) NeedsSecrets() bool { return len(t.Route.Secrets) > 0 || len(t.Secrets) > 0 }

// StaysHome reports whether only Gantry's own workers may run the task (see
// Queue.LeaseTasksWithoutSecrets): it needs secrets, which they deliver, or its route runs
// an image Gantry manages ("@name"), which lives in their nodes' Docker daemon and which an
// external runner could not resolve.
func (t Task) StaysHome() bool {
	_, byName := ImageName(t.Route.Image)
	return t.NeedsSecrets() || byName
}

// Leased reports whether a lease on the task is in force at now.
func (t Task) Leased(now time.Time) bool { return t.LeaseOwner != "" && now.Before(t.LeaseUntil) }

// TaskStats describes the queue.
type TaskStats struct {
	Queued   int       // waiting, including those in a retry delay
	Running  int       // under a lease in force
	OldestAt time.Time // when the oldest waiting task was accepted (zero if none)
	Delayed  int       // waiting for a retry delay to pass
}

// TaskStats counts the tasks; it reads every task, so it is for status pages, not loops.

// Lease names a leased task and the owner that holds it.
type Lease struct {
	ID    string
	Owner string
}
