package store

import (
	"context"
	"encoding/json"
	"time"
)

// Workflow is a developer's definition of a step graph over functions (package workflow
// reads and checks Definition; the store keeps it as written). Every PUT that changes it
// is a new Version; a run keeps the definition of the version it started with.
type Workflow struct {
	Name        string `json:"name"`
	Owner       string `json:"owner"`
	Version     int    `json:"version"`
	Description string `json:"description,omitempty"`
	// Definition is the workflow's definition document (JSON): inputs, outputs, steps.
	Definition json.RawMessage `json:"definition"`
	// RunAccess names who besides its owner and admins may list, describe, run and follow
	// it: "user:NAME", "group:NAME" (an identity source group) or "authenticated".
	RunAccess []string `json:"run_access,omitempty"`
	// Apps are the apps its steps call, name to ID, as they were when it was stored: a
	// step calls that app only, never a later app of the same name (another's, perhaps).
	Apps      map[string]string `json:"apps,omitempty"`
	CreatedAt time.Time         `json:"created_at"`
	UpdatedAt time.Time         `json:"updated_at"`
}

// WorkflowFilter selects workflows; empty fields match everything.
type WorkflowFilter struct {
	// Visible, when set, keeps only the workflows it accepts (those a caller may see).
	Visible func(Workflow) bool
}

// Step and run statuses besides the execution statuses (QUEUED, RUNNING, SUCCESS, FAILED,
// CANCELLED): a step waits PENDING until its needs are done, and is SKIPPED when its
// condition is false.
const (
	StatusPending = "PENDING"
	StatusSkipped = "SKIPPED"
)

// Run is one execution of a workflow (an execution of kind "workflow"). Package workflow's
// engine owns its Steps and moves it on; the store keeps it and its events.
type Run struct {
	ID              string `json:"id"`
	Workflow        string `json:"workflow"`
	WorkflowVersion int    `json:"workflow_version"`
	Owner           string `json:"owner"`        // the workflow's owner when the run started
	TriggeredBy     string `json:"triggered_by"` // who started it
	// IdempotencyKey, when set, is unique per TriggeredBy: a second trigger with it gets
	// this run (CreateRun).
	IdempotencyKey string `json:"idempotency_key,omitempty"`
	Status         string `json:"status"` // QUEUED, RUNNING, SUCCESS, FAILED, CANCELLED
	Reason         string `json:"reason,omitempty"`
	Error          string `json:"error,omitempty"`
	// CancelRequested: a cancel was asked for; the engine stops the running steps and ends the run CANCELLED.
	CancelRequested bool `json:"cancel_requested,omitempty"`
	// Stopping is the final status a run ends in once its running calls have stopped (a
	// step failed: FAILED; a cancel: CANCELLED); pending steps never start meanwhile.
	Stopping string          `json:"stopping,omitempty"`
	Inputs   json.RawMessage `json:"inputs,omitempty"`
	Outputs  json.RawMessage `json:"outputs,omitempty"`
	// Definition is the definition of WorkflowVersion, which the run follows to its end,
	// and Apps the IDs of the apps its steps call (Workflow.Apps).
	Definition json.RawMessage   `json:"definition"`
	Apps       map[string]string `json:"apps,omitempty"`
	Steps      []StepRun         `json:"steps"`
	// Delivery is the event delivery this run makes, if any: when the run ends, the store
	// ends the delivery in the same write (see Delivery).
	Delivery string `json:"delivery,omitempty"`
	// Events is the sequence number of the run's last event (its events are 1..Events).
	Events      int64     `json:"events"`
	CreatedAt   time.Time `json:"created_at"`
	StartedAt   time.Time `json:"started_at,omitzero"`
	CompletedAt time.Time `json:"completed_at,omitzero"`
}

// Done reports whether the run reached a final status.
func (r Run) Done() bool { return StatusFinal(r.Status) }

// Clone returns a copy of r that shares nothing with it.
func (r Run) Clone() Run {
	b, err := json.Marshal(r)
	if err != nil {
		return r
	}
	var c Run
	if json.Unmarshal(b, &c) != nil {
		return r
	}
	return c
}

// StepRun is where a step of a run is: PENDING, QUEUED (its call accepted, or waiting out
// a retry's backoff or a sleep), RUNNING, SUCCESS, FAILED, SKIPPED or CANCELLED.
type StepRun struct {
	Name     string `json:"name"`
	Status   string `json:"status"`
	Attempts int    `json:"attempts,omitempty"`
	// Calls are the call executions of the step's attempts, in order (the items' calls of a map step).
	Calls       []string        `json:"calls,omitempty"`
	Reason      string          `json:"reason,omitempty"`
	Error       string          `json:"error,omitempty"`
	Output      json.RawMessage `json:"output,omitempty"`
	StartedAt   time.Time       `json:"started_at,omitzero"`
	CompletedAt time.Time       `json:"completed_at,omitzero"`
	// WakeAt is when a sleeping step ends, or when a step's next attempt is due.
	WakeAt time.Time `json:"wake_at,omitzero"`
	// Items are the items of a map step, in the order of its array.
	Items []ItemRun `json:"items,omitempty"`
}

// ItemRun is one item of a map step.
type ItemRun struct {
	Status   string          `json:"status"`
	Attempts int             `json:"attempts,omitempty"`
	Call     string          `json:"call,omitempty"`   // the call execution of its last attempt
	WakeAt   time.Time       `json:"wake_at,omitzero"` // when its next attempt is due
	Reason   string          `json:"reason,omitempty"`
	Error    string          `json:"error,omitempty"`
	Output   json.RawMessage `json:"output,omitempty"`
}

// RunFilter selects runs; empty fields match everything, set ones are combined with AND.
type RunFilter struct {
	Workflow string
	Status   string
	// Viewer, when set, keeps the runs it owns (Owner) or triggered (TriggeredBy).
	Viewer string
}

// Match reports whether r passes the filter.
func (f RunFilter) Match(r Run) bool {
	return (f.Workflow == "" || f.Workflow == r.Workflow) && (f.Status == "" || f.Status == r.Status) &&
		(f.Viewer == "" || f.Viewer == r.Owner || f.Viewer == r.TriggeredBy)
}

// RunEvent is one entry of a run's append-only event log, numbered from 1.
type RunEvent struct {
	Seq     int64     `json:"seq"`
	Time    time.Time `json:"time"`
	Type    string    `json:"type"` // see the Event constants
	Step    string    `json:"step,omitempty"`
	Item    *int      `json:"item,omitempty"`    // a map step's item
	Attempt int       `json:"attempt,omitempty"` // the step's (or item's) attempt
	Call    string    `json:"call,omitempty"`    // the call execution of the attempt
	Status  string    `json:"status,omitempty"`
	Reason  string    `json:"reason,omitempty"`
	Message string    `json:"message,omitempty"`
}

// Types of run events.
const (
	EventQueued        = "queued"         // the run was accepted
	EventStarted       = "started"        // the run started
	EventStepStarted   = "step_started"   // a step (or an item) started an attempt: its call was accepted
	EventStepFinished  = "step_finished"  // a step (or an item) ended: Status
	EventStepRetrying  = "step_retrying"  // an attempt failed; another follows
	EventStepSkipped   = "step_skipped"   // a step's condition was false
	EventCancelling    = "cancelling"     // a cancel was asked for
	EventFinished      = "finished"       // the run ended: Status (the last event)
	EventStepSleeping  = "step_sleeping"  // a sleep step started
	EventStepScheduled = "step_scheduled" // a step waits for its next attempt's backoff
)

// StepCall is a step attempt's call: an async call and its QUEUED execution (whose Parent
// is the run), accepted in the same write as the run's change.
type StepCall struct {
	Task      Task
	Execution Execution
}

// RunUpdate is what a change of a run writes besides the run: events to append (the store
// numbers them after the run's last), and step calls to accept.
type RunUpdate struct {
	Events []RunEvent
	Calls  []StepCall
}

// Workflows are the workflow definitions, by name. Writes that take a guard run it inside
// the write against the stored owner (see AppGuard).
type Workflows interface {
	// PutWorkflow creates the workflow (Version 1; w.Owner owns it) or replaces its
	// definition (Version + 1, the owner kept); created tells which.
	PutWorkflow(ctx context.Context, w Workflow, guard AppGuard) (stored Workflow, created bool, err error)
	GetWorkflow(ctx context.Context, name string) (Workflow, error)
	// ListWorkflows returns a page of the workflows that pass f, in name order.
	ListWorkflows(ctx context.Context, f WorkflowFilter, page Page) ([]Workflow, string, error)
	// DeleteWorkflow removes a workflow; ErrConflict while one of its runs is not final.
	// Its finished runs stay.
	DeleteWorkflow(ctx context.Context, name string, guard AppGuard) error
}

// Runs are the executions of workflows and their event logs. A run's status moves as
// CanTransition allows; a final run never changes again.
type Runs interface {
	// CreateRun stores a new run (QUEUED) with its first events. With an IdempotencyKey
	// already used by the same TriggeredBy, it stores nothing and returns that run, created false.
	CreateRun(ctx context.Context, r Run, events []RunEvent) (stored Run, created bool, err error)
	GetRun(ctx context.Context, id string) (Run, error)
	// ListRuns returns a page of the runs that match f, newest first (by ID).
	ListRuns(ctx context.Context, f RunFilter, page Page) ([]Run, string, error)
	// ActiveRuns returns the IDs of the runs not final, oldest first: those an engine resumes.
	ActiveRuns(ctx context.Context) ([]string, error)
	// UpdateRun changes a run in one write: fn changes r and returns what else to write;
	// when fn fails nothing is written and UpdateRun returns its error. Updates of a run
	// are serialized on every node (fn sees the last stored run). The run, its events and
	// its step calls are stored together, then a ChangeRun naming the run (and a ChangeTask
	// per call) goes to the subscribers. ErrConflict when r's status may not move as fn
	// set it (a final run never changes).
	UpdateRun(ctx context.Context, id string, fn func(r *Run) (RunUpdate, error)) (Run, error)
	// ListRunEvents returns up to limit events of a run with Seq > after, in order;
	// ErrNotFound without the run.
	ListRunEvents(ctx context.Context, id string, after int64, limit int) ([]RunEvent, error)
}

// CanRunTransition reports whether a stored run with status from may be written with
// status to (from "" for a new run): a run is created QUEUED, may stay as it is while not
// final, goes from QUEUED to RUNNING, and from either to a final status; a final run never
// changes.
func CanRunTransition(from, to string) bool {
	switch {
	case from == "":
		return to == StatusQueued
	case StatusFinal(from) || !ValidStatus(to):
		return false
	case from == StatusRunning && to == StatusQueued:
		return false
	}
	return true
}

// Limits of runs, each reported as the FAILED reason ReasonLimit of a run that passes it.
const (
	MaxRunEvents = 100_000 // events per run
)

// ReasonLimit: a run passed one of the bounds of a run (its error says which).
const ReasonLimit = "limit"
