package workflow

import (
	"encoding/json"
	"time"
)

// Definition is a workflow's definition document, as a developer writes it (JSON; the CLI
// also reads YAML). Parse reads and checks one.
type Definition struct {
	Description string `json:"description,omitempty"`
	// Inputs is a JSON Schema (draft 2020-12 unless $schema says otherwise) of the run's
	// inputs object; its properties' defaults are applied to a run's inputs.
	Inputs json.RawMessage `json:"inputs,omitempty"`
	// Outputs name the run's outputs: name → a JSONPath over the run's state
	// {"inputs": ..., "steps": {"<name>": {"output": ..., "status": ...}}}.
	Outputs map[string]string `json:"outputs,omitempty"`
	Steps   []Step            `json:"steps"`
}

// Step is a node of the workflow's graph: exactly one of Call (with Map for every item of
// an array) or Sleep.
type Step struct {
	Name string `json:"name"`
	// Needs are the steps that must be done (SUCCESS, SKIPPED, or FAILED with on_failure
	// continue) before this one starts; steps with no path between them run in parallel.
	Needs []string `json:"needs,omitempty"`
	// When is a condition (expr-lang) over the state (inputs, steps): false skips the step.
	When string `json:"when,omitempty"`
	Call *Call  `json:"call,omitempty"`
	// Input is the call's request body: a JSON template whose strings starting with "$"
	// are JSONPath expressions over the state ("$$" starts a literal "$"). Absent: no body.
	Input json.RawMessage `json:"input,omitempty"`
	Map   *Map            `json:"map,omitempty"`
	// Sleep is a duration ("30s") the step waits.
	Sleep     string `json:"sleep,omitempty"`
	Timeout   string `json:"timeout,omitempty"` // a call's time limit, instead of its route's
	Retry     *Retry `json:"retry,omitempty"`
	OnFailure string `json:"on_failure,omitempty"` // "fail" (default) or "continue"
	// Secrets are secrets the step's calls get as files besides their route's: function
	// secret names, "ssh:<user>", and "ssh:@caller", the SSH key of the user who triggered
	// the run (resolved when each call starts; a caller without one fails the step).
	Secrets []string `json:"secrets,omitempty"`
}

// Call names the function a step calls.
type Call struct {
	App     string            `json:"app"`
	Path    string            `json:"path"`
	Method  string            `json:"method,omitempty"` // default POST
	Headers map[string]string `json:"headers,omitempty"`
}

// Map runs a step's call once for every item of an array; the state of each call's input
// template also has "item" and "index". The step's output is the array of the items' outputs.
type Map struct {
	Items          string `json:"items"`                     // a JSONPath giving an array
	MaxConcurrency int    `json:"max_concurrency,omitempty"` // default and at most MaxMapConcurrency
}

// Retry runs a step's failed call again.
type Retry struct {
	MaxAttempts int      `json:"max_attempts"`          // attempts in all, the first included
	Backoff     string   `json:"backoff,omitempty"`     // before the second attempt, doubled at each; default 1s
	MaxBackoff  string   `json:"max_backoff,omitempty"` // default 1m
	On          []string `json:"on,omitempty"`          // reasons: error, timeout, bad_exit, killed (default all)
}

// Failure policies of a step.
const (
	OnFailureFail     = "fail"
	OnFailureContinue = "continue"
)

// Bounds of a definition and of a run. A run that passes one ends FAILED with reason
// store.ReasonLimit and an error that names it.
const (
	MaxSteps          = 500
	MaxMapItems       = 10_000
	MaxMapConcurrency = 100
	MaxStateBytes     = 4 << 20 // the run's state: inputs and every step's output
	MaxRetryAttempts  = 20
	MaxSleep          = 7 * 24 * time.Hour
)
