package handlers

import (
	"bytes"
	"encoding/json"

	"github.com/gantry-dev/gantry/gen/models"
	"github.com/gantry-dev/gantry/store"
	"github.com/gantry-dev/gantry/workflow"
)

// Execution kinds.
const (
	kindCall     = "call"
	kindWorkflow = "workflow"
)

// decodeJSON decodes a stored JSON value for a model, numbers kept as written; nil when
// there is none.
func decodeJSON(raw json.RawMessage) any {
	if len(bytes.TrimSpace(raw)) == 0 {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil
	}
	return v
}

// definitionDoc is a stored definition document, its parts kept as written.
type definitionDoc struct {
	Description string            `json:"description,omitempty"`
	Inputs      json.RawMessage   `json:"inputs,omitempty"`
	Outputs     map[string]string `json:"outputs,omitempty"`
	Steps       []json.RawMessage `json:"steps"`
}

func workflowToModel(w store.Workflow) *models.Workflow {
	m := &models.Workflow{
		Name: w.Name, Owner: w.Owner, Version: int64(w.Version), Description: w.Description, RunAccess: w.RunAccess,
		Steps: []any{}, CreatedAt: dateTime(w.CreatedAt), UpdatedAt: dateTime(w.UpdatedAt),
	}
	var doc definitionDoc
	if json.Unmarshal(w.Definition, &doc) == nil {
		m.Inputs, m.Outputs = decodeJSON(doc.Inputs), doc.Outputs
		for _, s := range doc.Steps {
			m.Steps = append(m.Steps, decodeJSON(s))
		}
		if m.Description == "" {
			m.Description = doc.Description
		}
	}
	return m
}

// workflowFromModel is the workflow a PUT of m as name by owner asks for: its definition
// document is the body's description, inputs, outputs and steps (package workflow checks
// it, unknown fields included).
func workflowFromModel(name, owner string, m *models.Workflow) (store.Workflow, error) {
	doc := map[string]any{"steps": m.Steps}
	if m.Steps == nil {
		doc["steps"] = []any{}
	}
	if m.Description != "" {
		doc["description"] = m.Description
	}
	if m.Inputs != nil {
		doc["inputs"] = m.Inputs
	}
	if len(m.Outputs) > 0 {
		doc["outputs"] = m.Outputs
	}
	def, err := json.Marshal(doc)
	if err != nil {
		return store.Workflow{}, errInvalidField("workflow", err.Error())
	}
	return store.Workflow{Name: name, Owner: owner, Description: m.Description, Definition: def, RunAccess: m.RunAccess}, nil
}

func summaryToModel(d workflow.Description) *models.WorkflowSummary {
	m := &models.WorkflowSummary{Inputs: decodeJSON(d.Inputs), Outputs: d.Outputs, Steps: make([]*models.WorkflowStepSummary, 0, len(d.Steps))}
	if m.Outputs == nil {
		m.Outputs = []string{}
	}
	for _, s := range d.Steps {
		m.Steps = append(m.Steps, &models.WorkflowStepSummary{Name: s.Name, Kind: s.Kind, Needs: s.Needs, App: s.App, Path: s.Path})
	}
	return m
}

// runToModel converts a workflow run: an execution of kind workflow.
func runToModel(r store.Run) *models.Execution {
	m := &models.Execution{
		ID: r.ID, Kind: kindWorkflow, Workflow: r.Workflow, WorkflowVersion: int64(r.WorkflowVersion), TriggeredBy: r.TriggeredBy,
		Status: r.Status, Reason: r.Reason, Error: r.Error, Inputs: decodeJSON(r.Inputs), Outputs: decodeJSON(r.Outputs),
		CreatedAt: dateTime(r.CreatedAt), StartedAt: dateTime(r.StartedAt), CompletedAt: dateTime(r.CompletedAt),
		Steps: make([]*models.ExecutionStep, 0, len(r.Steps)),
	}
	if !r.StartedAt.IsZero() && !r.CompletedAt.IsZero() {
		ms := r.CompletedAt.Sub(r.StartedAt).Milliseconds()
		m.DurationMs = &ms
	}
	for _, s := range r.Steps {
		m.Steps = append(m.Steps, stepToModel(s))
	}
	return m
}

func stepToModel(s store.StepRun) *models.ExecutionStep {
	m := &models.ExecutionStep{
		Name: s.Name, Status: s.Status, Attempts: int64(s.Attempts), Calls: s.Calls, Reason: s.Reason, Error: s.Error,
		StartedAt: dateTime(s.StartedAt), CompletedAt: dateTime(s.CompletedAt),
	}
	if len(s.Items) == 0 {
		return m
	}
	items := &models.ExecutionStepItems{Total: int64(len(s.Items))}
	attempts := 0
	for _, it := range s.Items {
		attempts += it.Attempts
		switch it.Status {
		case store.StatusPending:
			items.Pending++
		case store.StatusQueued:
			items.Queued++
		case store.StatusRunning:
			items.Running++
		case store.StatusSuccess:
			items.Success++
		case store.StatusFailed:
			items.Failed++
		case store.StatusCancelled:
			items.Cancelled++
		case store.StatusSkipped:
			items.Skipped++
		}
	}
	if m.Attempts == 0 {
		m.Attempts = int64(attempts)
	}
	m.Items = items
	return m
}

func eventToModel(e store.RunEvent) *models.ExecutionEvent {
	seq, typ, t := e.Seq, e.Type, dateTime(e.Time)
	m := &models.ExecutionEvent{Seq: &seq, Time: t, Type: &typ, Step: e.Step, Attempt: int64(e.Attempt), Call: e.Call,
		Status: e.Status, Reason: e.Reason, Message: e.Message}
	if e.Item != nil {
		item := int64(*e.Item)
		m.Item = &item
	}
	return m
}

// rawJSON is a model's free-form JSON value (inputs) as raw JSON; nil for none.
func rawJSON(v any) (json.RawMessage, error) {
	if v == nil {
		return nil, nil
	}
	return json.Marshal(v)
}
