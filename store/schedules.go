package store

import (
	"context"
	"encoding/json"
	"net/http"
	"time"
)

// Missed policies of a schedule: what it does about the ticks that passed while no node
// was up to fire them.
const (
	MissedSkip    = "skip"     // none fires; the schedule goes on from the next tick
	MissedRunOnce = "run_once" // the last missed tick fires once, late
)

// Schedule fires its target on a clock (a cron expression in a time zone). Names are
// unique. Each tick fires once, across restarts and across nodes: its time is claimed in
// the store (ClaimTick) in the same write as the call it makes.
type Schedule struct {
	// ID is Gantry's ID of the schedule (set by the store when it is created): the ticks of a
	// schedule deleted and made again under its name are not the old one's.
	ID       string         `json:"id"`
	Name     string         `json:"name"`
	Owner    string         `json:"owner"`
	Cron     string         `json:"cron"`
	Timezone string         `json:"timezone"` // IANA name; "" is UTC
	Target   ScheduleTarget `json:"target"`
	Missed   string         `json:"missed"` // MissedSkip or MissedRunOnce
	Enabled  bool           `json:"enabled"`
	// NextRun is the next tick to fire (zero when disabled); LastTick the last one fired or
	// skipped. ClaimTick moves both; writes of the schedule set NextRun.
	NextRun   time.Time `json:"next_run,omitzero"`
	LastTick  time.Time `json:"last_tick,omitzero"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// ScheduleTarget is what a tick does: one of Call, Workflow or Event.
type ScheduleTarget struct {
	Call     *ScheduledCall     `json:"call,omitempty"`
	Workflow *ScheduledWorkflow `json:"workflow,omitempty"`
	Event    *ScheduledEvent    `json:"event,omitempty"`
}

// ScheduledCall is an async call of a function: App and Path (under the app, as /r/ calls
// take it), with a method (default POST), headers and a body.
type ScheduledCall struct {
	App string `json:"app"`
	// AppID is the app's ID when the schedule was written: a tick calls that app only, never
	// a later app of the same name (another developer's, perhaps).
	AppID  string      `json:"app_id,omitempty"`
	Path   string      `json:"path"`
	Method string      `json:"method,omitempty"`
	Header http.Header `json:"header,omitempty"`
	Body   []byte      `json:"body,omitempty"`
}

// ScheduledWorkflow is a run of a workflow with inputs.
type ScheduledWorkflow struct {
	Name   string          `json:"name"`
	Inputs json.RawMessage `json:"inputs,omitempty"`
}

// ScheduledEvent is an event to publish (its id is the tick, its source the schedule's).
type ScheduledEvent struct {
	Type            string          `json:"type"`
	Subject         string          `json:"subject,omitempty"`
	DataContentType string          `json:"datacontenttype,omitempty"`
	Data            json.RawMessage `json:"data,omitempty"`
	// Public makes the events public (store.Event.Public): set by the API when an admin
	// writes the schedule as its own, as an admin's publish is; never by the client.
	Public bool `json:"public,omitempty"`
}

// ScheduleFilter selects schedules; empty fields match everything.
type ScheduleFilter struct {
	// Visible, when set, keeps only the schedules it accepts (those a caller may see).
	Visible func(Schedule) bool
}

// Schedules are the schedules, by name. Writes that take a guard run it inside the write
// against the stored owner (see AppGuard). Every write sends a ChangeSchedule.
type Schedules interface {
	// CreateSchedule stores a new schedule (ID, CreatedAt, UpdatedAt set here); ErrExists
	// if the name is taken.
	CreateSchedule(ctx context.Context, s Schedule) (Schedule, error)
	// UpdateSchedule applies fn to the stored schedule in one write; fn may not rename it
	// nor change its ID or LastTick.
	UpdateSchedule(ctx context.Context, name string, fn func(*Schedule) error, guard AppGuard) (Schedule, error)
	GetSchedule(ctx context.Context, name string) (Schedule, error)
	// ListSchedules returns a page of the schedules that pass f, in name order.
	ListSchedules(ctx context.Context, f ScheduleFilter, page Page) ([]Schedule, string, error)
	// AllSchedules reads every schedule, for the scheduler.
	AllSchedules(ctx context.Context) ([]Schedule, error)
	DeleteSchedule(ctx context.Context, name string, guard AppGuard) error
	// ClaimTick claims tick of the schedule whose ID is id, once: in one write, when the
	// schedule exists with that ID, is Enabled, still has the UpdatedAt seen (the one the
	// caller read, and planned tick and next from) and tick is after its LastTick, it sets
	// LastTick = tick and NextRun = next, and accepts call when not nil (its task and
	// QUEUED execution); claimed is false, and nothing is written, when the tick was claimed
	// already (by another node, or before a restart), the schedule is gone or was made
	// again, or it was written since the caller read it (disabled, its cron changed: the
	// caller reads it again). A claim leaves UpdatedAt as it was.
	ClaimTick(ctx context.Context, id, name string, seen, tick, next time.Time, call *StepCall) (claimed bool, err error)
}
