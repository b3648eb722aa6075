package store

import (
	"bytes"
	"time"

	"github.com/oklog/ulid/v2"
)

// Execution statuses. An execution is QUEUED (async calls only) or RUNNING until it ends
// in one of the final statuses SUCCESS, FAILED or CANCELLED.
const (
	StatusQueued    = "QUEUED"
	StatusRunning   = "RUNNING"
	StatusSuccess   = "SUCCESS"
	StatusFailed    = "FAILED"
	StatusCancelled = "CANCELLED"
)

// Reasons say why an execution FAILED or was CANCELLED.
const (
	ReasonTimeout       = "timeout"        // the call ran past the route's timeout and its container was killed
	ReasonKilled        = "killed"         // the container was killed, e.g. out of memory
	ReasonBadExit       = "bad_exit"       // the function exited with a non-zero code
	ReasonClientRequest = "client_request" // the caller went away or asked to cancel
	ReasonError         = "error"          // Gantry or Docker failed
	ReasonBusy          = "busy"           // no container was free in time
)

// Container says whether an execution started a container or reused a hot one.
const (
	ContainerCold = "cold"
	ContainerHot  = "hot"
)

// Execution is the record of one function call.
type Execution struct {
	ID     string `json:"id"`
	App    string `json:"app"`
	AppID  string `json:"app_id,omitempty"` // the app's ID when the call was made
	Route  string `json:"route"`
	Type   string `json:"type"`
	Status string `json:"status"`
	Reason string `json:"reason,omitempty"`
	// ExitCode is the function's exit code, nil when it did not exit on its own.
	ExitCode *int   `json:"exit_code,omitempty"`
	Error    string `json:"error,omitempty"`
	// Container is ContainerCold, ContainerHot or "" when no container ran.
	Container string `json:"container,omitempty"`
	// Node is the node (see store.Node) that ran the call, or runs it; "" before one did.
	Node            string    `json:"node,omitempty"`
	CreatedAt       time.Time `json:"created_at"`
	StartedAt       time.Time `json:"started_at,omitzero"`
	CompletedAt     time.Time `json:"completed_at,omitzero"`
	Attempts        int       `json:"attempts,omitempty"` // runs started, for async calls
	OutputTruncated bool      `json:"output_truncated,omitempty"`
	LogTruncated    bool      `json:"log_truncated,omitempty"`
	// Output is the function's response body, kept for async calls whose caller is not waiting.
	Output []byte `json:"output,omitempty"`
	// ImageDigest is, for a route that runs an image by name ("@name"), the image's digest
	// that ran (set when its container was made from it).
	ImageDigest string `json:"image_digest,omitempty"`
	// Parent and Step name the workflow run and the step this call is an attempt of, if any.
	Parent string `json:"parent,omitempty"`
	Step   string `json:"step,omitempty"`
}

// Duration is how long the function ran: CompletedAt - StartedAt, or 0 if either is unset.
func (e Execution) Duration() time.Duration {
	if e.StartedAt.IsZero() || e.CompletedAt.IsZero() {
		return 0
	}
	return e.CompletedAt.Sub(e.StartedAt)
}

// Done reports whether the execution reached a final status.
func (e Execution) Done() bool { return StatusFinal(e.Status) }

func StatusFinal(status string) bool {
	return status == StatusSuccess || status == StatusFailed || status == StatusCancelled
}

// ValidStatus reports whether s is one of the Status constants.
func ValidStatus(s string) bool {
	return s == StatusQueued || s == StatusRunning || StatusFinal(s)
}

func (e Execution) Clone() Execution {
	if e.ExitCode != nil {
		code := *e.ExitCode
		e.ExitCode = &code
	}
	e.Output = bytes.Clone(e.Output)
	return e
}

// ExecutionFilter selects executions; empty fields match everything, set ones are combined with AND.
type ExecutionFilter struct {
	App    string
	Route  string
	Status string
	// Apps, when not nil, keeps only the executions of these apps, name to app ID (those a
	// developer owns): an execution of an earlier app of the same name has another ID.
	Apps map[string]string
	// Since and Until, when not zero, keep the executions created at or after Since and
	// before Until, to the millisecond: the creation time their ID (a ULID) records, so
	// that a backend serves them by seeking in the ID order (see TimeID).
	Since, Until time.Time
}

// TimeID is the smallest ID made in t's millisecond: every ID made at t or later is at
// least TimeID(t), every one made before t's millisecond is below it.
func TimeID(t time.Time) string {
	var u ulid.ULID
	_ = u.SetTime(ulid.Timestamp(t)) // fails only past year 10889
	return u.String()
}

// IDBounds are the bounds of f's time window in the ID order: IDs at least since and below
// until ("" : no bound).
func (f ExecutionFilter) IDBounds() (since, until string) {
	if !f.Since.IsZero() {
		since = TimeID(f.Since)
	}
	if !f.Until.IsZero() {
		until = TimeID(f.Until)
	}
	return since, until
}

func (f ExecutionFilter) Match(app, appID, route, status string) bool {
	if f.Apps != nil {
		if id, ok := f.Apps[app]; !ok || id != appID {
			return false
		}
	}
	return (f.App == "" || f.App == app) && (f.Route == "" || f.Route == route) && (f.Status == "" || f.Status == status)
}

// Defaults of the execution retention options.
const (
	DefaultKeepExecutionsPerRoute = 1000
	DefaultPruneInterval          = time.Minute
)
