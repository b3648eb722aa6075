package main

// This file renders workflows and their runs for a person: the workflows table, a
// workflow's description (inputs, outputs, steps), and a run's fields, steps and outputs.

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gantry-dev/gantry/gen/models"
)

// workflowTable is the header and rows of `gantry workflows list`.
func workflowTable(items []*models.Workflow) table {
	header := []string{"NAME", "VERSION", "STEPS", "OWNER", "DESCRIPTION", "UPDATED"}
	rows := make([][]string, 0, len(items))
	for _, w := range items {
		if w == nil {
			continue
		}
		rows = append(rows, []string{
			w.Name, strconv.FormatInt(w.Version, 10), strconv.Itoa(len(w.Steps)), orDash(w.Owner),
			orDash(firstLine(w.Description, 60)), formatTime(w.UpdatedAt),
		})
	}
	return table{header: header, rows: rows}
}

// firstLine is s's first line, cut to at most n runes.
func firstLine(s string, n int) string {
	s, _, _ = strings.Cut(s, "\n")
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}

// writeWorkflow writes a workflow's description: its fields, then its inputs, outputs and
// steps as tables.
func writeWorkflow(w io.Writer, wf *models.Workflow) error {
	fields := []field{
		{"Name", wf.Name},
		{"Description", orDash(wf.Description)},
		{"Owner", orDash(wf.Owner)},
		{"Version", strconv.FormatInt(wf.Version, 10)},
		{"Run access", orDash(strings.Join(wf.RunAccess, ", "))},
		{"Created", formatTime(wf.CreatedAt)},
		{"Updated", formatTime(wf.UpdatedAt)},
	}
	if err := writeFields(w, fields); err != nil {
		return err
	}
	schema := wf.Inputs
	if wf.Summary != nil && wf.Summary.Inputs != nil {
		schema = wf.Summary.Inputs
	}
	sections := []table{inputsTable(schema), outputsTable(wf), stepsSummaryTable(wf)}
	for _, t := range sections {
		if len(t.rows) == 0 {
			continue
		}
		if _, err := fmt.Fprintln(w); err != nil {
			return fmt.Errorf("write output: %w", err)
		}
		if err := writeTable(w, t); err != nil {
			return err
		}
	}
	return nil
}

// inputsTable lists the properties of an inputs JSON Schema: name, type, whether required,
// default, description.
func inputsTable(schema any) table {
	t := table{header: []string{"INPUT", "TYPE", "REQUIRED", "DEFAULT", "DESCRIPTION"}}
	s, _ := schema.(map[string]any)
	props, _ := s["properties"].(map[string]any)
	var required []string
	if list, ok := s["required"].([]any); ok {
		for _, r := range list {
			if name, ok := r.(string); ok {
				required = append(required, name)
			}
		}
	}
	names := make([]string, 0, len(props))
	for name := range props {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		p, _ := props[name].(map[string]any)
		def := "-"
		if v, has := p["default"]; has {
			def = compactJSON(v)
		}
		req := "no"
		if slices.Contains(required, name) {
			req = "yes"
		}
		desc, _ := p["description"].(string)
		t.rows = append(t.rows, []string{name, schemaType(p), req, def, orDash(firstLine(desc, 60))})
	}
	return t
}

// schemaType is a property schema's type ("string", "integer|null"), or "any".
func schemaType(p map[string]any) string {
	switch t := p["type"].(type) {
	case string:
		if t == "array" {
			if items, ok := p["items"].(map[string]any); ok {
				if it := schemaType(items); it != "any" {
					return "array of " + it
				}
			}
		}
		return t
	case []any:
		parts := make([]string, 0, len(t))
		for _, x := range t {
			parts = append(parts, fmt.Sprint(x))
		}
		return strings.Join(parts, "|")
	}
	if e, ok := p["enum"].([]any); ok {
		parts := make([]string, 0, len(e))
		for _, x := range e {
			parts = append(parts, compactJSON(x))
		}
		return "one of " + strings.Join(parts, ",")
	}
	return "any"
}

// outputsTable lists a workflow's outputs and the JSONPath each is taken from.
func outputsTable(wf *models.Workflow) table {
	t := table{header: []string{"OUTPUT", "FROM"}}
	names := make([]string, 0, len(wf.Outputs))
	for name := range wf.Outputs {
		names = append(names, name)
	}
	if len(names) == 0 && wf.Summary != nil {
		names = append(names, wf.Summary.Outputs...)
	}
	slices.Sort(names)
	for _, name := range names {
		t.rows = append(t.rows, []string{name, orDash(wf.Outputs[name])})
	}
	return t
}

// stepsSummaryTable lists a workflow's steps: kind, function, needs and condition.
func stepsSummaryTable(wf *models.Workflow) table {
	t := table{header: []string{"STEP", "KIND", "FUNCTION", "NEEDS", "WHEN"}}
	when := map[string]string{}
	var fromSteps []*models.WorkflowStepSummary
	for _, raw := range wf.Steps {
		st, _ := raw.(map[string]any)
		name, _ := st["name"].(string)
		cond, _ := st["when"].(string)
		when[name] = cond
		sum := &models.WorkflowStepSummary{Name: name, Kind: "sleep"}
		if call, ok := st["call"].(map[string]any); ok {
			sum.Kind = "call"
			sum.App, _ = call["app"].(string)
			sum.Path, _ = call["path"].(string)
			if _, isMap := st["map"]; isMap {
				sum.Kind = "map"
			}
		}
		if needs, ok := st["needs"].([]any); ok {
			for _, n := range needs {
				if s, ok := n.(string); ok {
					sum.Needs = append(sum.Needs, s)
				}
			}
		}
		fromSteps = append(fromSteps, sum)
	}
	steps := fromSteps
	if wf.Summary != nil && len(wf.Summary.Steps) > 0 {
		steps = wf.Summary.Steps
	}
	for _, s := range steps {
		if s == nil {
			continue
		}
		fn := "-"
		if s.App != "" {
			fn = s.App + s.Path
		}
		t.rows = append(t.rows, []string{s.Name, orDash(s.Kind), fn, orDash(strings.Join(s.Needs, ",")), orDash(when[s.Name])})
	}
	return t
}

// compactJSON is v as one line of JSON.
func compactJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

// runFields are the fields of a workflow run (an execution of kind workflow).
func runFields(e *models.Execution) []field {
	return []field{
		{"ID", e.ID},
		{"Kind", "workflow"},
		{"Workflow", fmt.Sprintf("%s (version %d)", e.Workflow, e.WorkflowVersion)},
		{"Triggered by", orDash(e.TriggeredBy)},
		{"Status", orDash(e.Status)},
		{"Reason", orDash(e.Reason)},
		{"Error", orDash(e.Error)},
		{"Created", formatTime(e.CreatedAt)},
		{"Started", formatTime(e.StartedAt)},
		{"Completed", formatTime(e.CompletedAt)},
		{"Duration", formatDurationMs(e.DurationMs)},
		{"Inputs", compactJSON(outputsOrEmpty(e.Inputs))},
	}
}

// runStepsTable lists a run's steps: status, attempts, the call of the last attempt (or a
// map step's items), times and error.
func runStepsTable(steps []*models.ExecutionStep) table {
	t := table{header: []string{"STEP", "STATUS", "ATTEMPTS", "REASON", "CALL", "STARTED", "DURATION", "ERROR"}}
	for _, s := range steps {
		if s == nil {
			continue
		}
		call := "-"
		if n := len(s.Calls); n > 0 {
			call = s.Calls[n-1]
		}
		if it := s.Items; it != nil {
			call = fmt.Sprintf("%d items: %d ok, %d failed, %d running", it.Total, it.Success, it.Failed, it.Running+it.Queued)
		}
		t.rows = append(t.rows, []string{
			s.Name, orDash(s.Status), strconv.FormatInt(s.Attempts, 10), orDash(s.Reason), call,
			formatTime(s.StartedAt), stepDuration(s), orDash(firstLine(s.Error, 80)),
		})
	}
	return t
}

func stepDuration(s *models.ExecutionStep) string {
	if s.StartedAt == nil || s.CompletedAt == nil {
		return "-"
	}
	ms := time.Time(*s.CompletedAt).Sub(time.Time(*s.StartedAt)).Milliseconds()
	return formatDurationMs(&ms)
}

// writeRun writes a workflow run: its fields, its steps, and its outputs once it has them.
func writeRun(w io.Writer, e *models.Execution) error {
	if err := writeFields(w, runFields(e)); err != nil {
		return err
	}
	if len(e.Steps) > 0 {
		if _, err := fmt.Fprintln(w); err != nil {
			return fmt.Errorf("write output: %w", err)
		}
		if err := writeTable(w, runStepsTable(e.Steps)); err != nil {
			return err
		}
	}
	if e.Outputs == nil {
		return nil
	}
	if _, err := fmt.Fprintln(w, "\nOutputs:"); err != nil {
		return fmt.Errorf("write output: %w", err)
	}
	return writeJSON(w, e.Outputs)
}
