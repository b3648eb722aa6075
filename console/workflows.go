package console

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"

	"github.com/gantry-dev/gantry/gen/client/executions"
	"github.com/gantry-dev/gantry/gen/client/workflows"
	"github.com/gantry-dev/gantry/gen/models"
)

func (c *Console) workflowRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET "+Base+"workflows", c.listWorkflows)
	mux.HandleFunc("GET "+Base+"workflows/{name}", c.showWorkflow)
	mux.HandleFunc("POST "+Base+"workflows/{name}/run", c.runWorkflow)
	mux.HandleFunc("GET "+Base+"workflows/runs/{id}", c.showRun)
	mux.HandleFunc("GET "+Base+"workflows/runs/{id}/stream", c.streamRun)
	mux.HandleFunc("POST "+Base+"workflows/runs/{id}/cancel", c.cancelRun)
}

type workflowsData struct {
	Workflows []*models.Workflow
	Pages     pageLinks
}

func (c *Console) listWorkflows(w http.ResponseWriter, r *http.Request) {
	ok, err := c.api.Workflows.ListWorkflowsContext(as(r), workflows.NewListWorkflowsParams().
		WithCursor(optional(r, "cursor")).WithPerPage(perPage(r)), nil)
	if err != nil {
		if e := errorOf(err); e.Status == http.StatusBadRequest { // a bad cursor or per_page in the URL
			c.page(w, r, e.Status, "workflows", "Workflows", "workflows", workflowsData{}, e)
			return
		}
		c.fail(w, r, err)
		return
	}
	c.page(w, r, http.StatusOK, "workflows", "Workflows", "workflows", workflowsData{
		Workflows: ok.Payload.Workflows, Pages: pager(r, ok.Payload.NextCursor),
	}, nil)
}

// inputField is one input of a workflow's inputs schema, as the run form shows it.
type inputField struct {
	Name        string
	Type        string // the schema's type, as written
	Control     string // text, number, integer, checkbox, select, json
	Required    bool
	Description string
	Default     string // the default, as text ("" for none)
	HasDefault  bool
	Options     []string // an enum's values, as text
	enum        []any
	Value       string // what the form shows (typed, or the default)
	Checked     bool
}

// ID is the input's element id.
func (f inputField) ID() string { return "input-" + f.Name }

// FormName is the input's form field.
func (f inputField) FormName() string { return "in." + f.Name }

// APIField is how the API names the input in its errors.
func (f inputField) APIField() string { return "inputs." + f.Name }

// inputFields reads a JSON schema of the inputs (an object's properties), in name order,
// required ones first.
func inputFields(schema any) []inputField {
	m, _ := schema.(map[string]any)
	props, _ := m["properties"].(map[string]any)
	required := map[string]bool{}
	if list, ok := m["required"].([]any); ok {
		for _, v := range list {
			if s, ok := v.(string); ok {
				required[s] = true
			}
		}
	}
	out := make([]inputField, 0, len(props))
	for name, p := range props {
		pm, _ := p.(map[string]any)
		f := inputField{Name: name, Required: required[name]}
		switch t := pm["type"].(type) {
		case string:
			f.Type = t
		case []any: // ["string","null"]: the first that is not null
			for _, v := range t {
				if s, _ := v.(string); s != "" && s != "null" {
					f.Type = s
					break
				}
			}
		}
		f.Description, _ = pm["description"].(string)
		if f.Description == "" {
			f.Description, _ = pm["title"].(string)
		}
		if d, ok := pm["default"]; ok {
			f.HasDefault, f.Default = true, inputText(d)
		}
		if enum, ok := pm["enum"].([]any); ok && len(enum) > 0 {
			f.Control, f.enum = "select", enum
			for _, v := range enum {
				f.Options = append(f.Options, inputText(v))
			}
		} else {
			switch f.Type {
			case "number":
				f.Control = "number"
			case "integer":
				f.Control = "integer"
			case "boolean":
				f.Control = "checkbox"
			case "object", "array":
				f.Control = "json"
			case "string":
				f.Control = "text"
			default: // no type, or several: any JSON value
				f.Control = "json"
			}
		}
		if f.Type == "" {
			f.Type = "any"
		}
		f.Value, f.Checked = f.Default, f.Default == "true"
		out = append(out, f)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Required != out[j].Required {
			return out[i].Required
		}
		return out[i].Name < out[j].Name
	})
	return out
}

// inputText is a JSON value as a form shows it: a string as it is, anything else as JSON.
func inputText(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

// runInputs reads the run form into the run's inputs. A value that is not of the input's
// type goes as the text typed: the API refuses it, naming the input.
func runInputs(fields []inputField, r *http.Request) ([]inputField, map[string]any) {
	inputs := map[string]any{}
	typed := make([]inputField, len(fields))
	for i, f := range fields {
		v := r.PostFormValue(f.FormName())
		f.Value, f.Checked = v, v != ""
		typed[i] = f
		if f.Control == "checkbox" {
			inputs[f.Name] = f.Checked
			continue
		}
		raw := strings.TrimSpace(v)
		if raw == "" {
			continue // the default applies, or the API names a missing input
		}
		switch f.Control {
		case "number":
			if n, err := strconv.ParseFloat(raw, 64); err == nil {
				inputs[f.Name] = n
				continue
			}
		case "integer":
			if n, err := strconv.ParseInt(raw, 10, 64); err == nil {
				inputs[f.Name] = n
				continue
			}
			if n, err := strconv.ParseFloat(raw, 64); err == nil {
				inputs[f.Name] = n
				continue
			}
		case "select":
			for j, o := range f.Options {
				if o == v {
					inputs[f.Name] = f.enum[j]
					break
				}
			}
			if _, ok := inputs[f.Name]; ok {
				continue
			}
		case "json":
			if json.Valid([]byte(raw)) {
				inputs[f.Name] = json.RawMessage(raw)
				continue
			}
		case "text":
			inputs[f.Name] = v
			continue
		}
		inputs[f.Name] = v
	}
	return typed, inputs
}

type workflowData struct {
	Workflow *models.Workflow
	Inputs   []inputField
	Outputs  []workflowOutput
	Steps    []*models.WorkflowStepSummary
	Runs     []*models.Execution
}

type workflowOutput struct{ Name, From string }

func newWorkflowData(wf *models.Workflow) workflowData {
	d := workflowData{Workflow: wf}
	schema := wf.Inputs
	if wf.Summary != nil {
		if wf.Summary.Inputs != nil {
			schema = wf.Summary.Inputs // with defaults applied
		}
		d.Steps = wf.Summary.Steps
		for _, o := range wf.Summary.Outputs {
			d.Outputs = append(d.Outputs, workflowOutput{Name: o, From: wf.Outputs[o]})
		}
	}
	if d.Outputs == nil {
		for name, from := range wf.Outputs {
			d.Outputs = append(d.Outputs, workflowOutput{Name: name, From: from})
		}
		sort.Slice(d.Outputs, func(i, j int) bool { return d.Outputs[i].Name < d.Outputs[j].Name })
	}
	d.Inputs = inputFields(schema)
	return d
}

func (c *Console) getWorkflow(r *http.Request, name string) (*models.Workflow, error) {
	ok, err := c.api.Workflows.GetWorkflowContext(as(r), workflows.NewGetWorkflowParams().WithName(name), nil)
	if err != nil {
		return nil, err
	}
	return ok.Payload.Workflow, nil
}

func (c *Console) showWorkflow(w http.ResponseWriter, r *http.Request) {
	wf, err := c.getWorkflow(r, r.PathValue("name"))
	if err != nil {
		c.fail(w, r, err)
		return
	}
	d := newWorkflowData(wf)
	d.Runs = c.recentRuns(r, wf.Name)
	c.page(w, r, http.StatusOK, "workflow", "Workflow "+wf.Name, "workflows", d, nil)
}

// recentRuns are the latest runs of a workflow the visitor may see (none on an error: the
// page is the workflow's).
func (c *Console) recentRuns(r *http.Request, name string) []*models.Execution {
	n := int64(10)
	ok, err := c.api.Executions.ListExecutionsContext(as(r), executions.NewListExecutionsParams().
		WithWorkflow(&name).WithPerPage(&n), nil)
	if err != nil {
		return nil
	}
	return ok.Payload.Executions
}

func (c *Console) runWorkflow(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	wf, err := c.getWorkflow(r, name)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	d := newWorkflowData(wf)
	var inputs map[string]any
	d.Inputs, inputs = runInputs(d.Inputs, r)
	created, err := c.api.Workflows.TriggerWorkflowContext(as(r), workflows.NewTriggerWorkflowParams().
		WithName(name).WithBody(&models.WorkflowTrigger{Inputs: inputs}), nil)
	if err != nil {
		if e := errorOf(err); e.Status < 500 && e.Status != http.StatusUnauthorized && e.Status != http.StatusNotFound {
			d.Runs = c.recentRuns(r, name)
			c.page(w, r, e.Status, "workflow", "Workflow "+name, "workflows", d, e)
			return
		}
		c.fail(w, r, err)
		return
	}
	http.Redirect(w, r, Base+"workflows/runs/"+url.PathEscape(created.Payload.Execution.ID), http.StatusSeeOther) //nolint:gosec // G710: a console path, its segment escaped
}

// runView is a run as its page shows it: status, step graph, logs and events.
type runView struct {
	Run    *models.Execution
	Layers []runLayer
	Logs   []stepLog
	Events []*models.ExecutionEvent
	Final  bool
	// Note tells why the graph has no dependencies (the workflow is gone or hidden).
	Note string
}

// runLayer is one depth of the step graph (Stage counts from 1).
type runLayer struct {
	Stage int
	Steps []stepNode
}

// stepNode is a step of the graph: its definition's summary and its state in the run.
type stepNode struct {
	Name        string
	Kind        string
	Target      string // app/path of a call
	Needs       []string
	Status      string
	Attempts    int64
	Calls       []stepCall
	Error       string
	Reason      string
	StartedAt   any
	CompletedAt any
	Items       *models.ExecutionStepItems
	HasLog      bool
}

// State is the step's status in lower case (the class of its box).
func (s stepNode) State() string { return strings.ToLower(s.Status) }

// stepCall is a call of a step's attempt (N counts from 1).
type stepCall struct {
	ID string
	N  int
}

type stepLog struct {
	Step string
	Text string
}

// stepLayers lays the steps out by dependency depth: a step is one layer below the deepest
// of its needs. Steps the summary does not know (or all, without a summary) go by the run.
func stepLayers(summary []*models.WorkflowStepSummary, steps []*models.ExecutionStep) []runLayer {
	state := map[string]*models.ExecutionStep{}
	for _, s := range steps {
		state[s.Name] = s
	}
	nodes := []stepNode{}
	known := map[string]int{} // name → index in nodes
	for _, s := range summary {
		n := stepNode{Name: s.Name, Kind: s.Kind, Needs: s.Needs, Status: "PENDING"}
		if s.App != "" {
			n.Target = s.App + s.Path
		}
		known[s.Name] = len(nodes)
		nodes = append(nodes, n)
	}
	for _, s := range steps {
		if _, ok := known[s.Name]; !ok {
			known[s.Name] = len(nodes)
			nodes = append(nodes, stepNode{Name: s.Name, Status: "PENDING"})
		}
	}
	for i := range nodes {
		if s := state[nodes[i].Name]; s != nil {
			n := &nodes[i]
			if s.Status != "" {
				n.Status = s.Status
			}
			n.Attempts, n.Error, n.Reason, n.Items = s.Attempts, s.Error, s.Reason, s.Items
			for j, id := range s.Calls {
				n.Calls = append(n.Calls, stepCall{ID: id, N: j + 1})
			}
			if s.StartedAt != nil {
				n.StartedAt = s.StartedAt
			}
			if s.CompletedAt != nil {
				n.CompletedAt = s.CompletedAt
			}
		}
	}
	depth := map[string]int{}
	var depthOf func(name string, seen map[string]bool) int
	depthOf = func(name string, seen map[string]bool) int {
		if d, ok := depth[name]; ok {
			return d
		}
		i, ok := known[name]
		if !ok || seen[name] { // a need of no step, or a cycle (the API refuses both)
			return -1
		}
		seen[name] = true
		d := 0
		for _, need := range nodes[i].Needs {
			if nd := depthOf(need, seen); nd+1 > d {
				d = nd + 1
			}
		}
		depth[name] = d
		return d
	}
	var out []runLayer
	for _, n := range nodes {
		d := max(depthOf(n.Name, map[string]bool{}), 0)
		for len(out) <= d {
			out = append(out, runLayer{Stage: len(out) + 1})
		}
		out[d].Steps = append(out[d].Steps, n)
	}
	return out
}

// splitRunLog cuts a run's log into its steps' parts, at the header lines
// `== step NAME ...`; what comes before any header goes to "".
func splitRunLog(text string) []stepLog {
	var out []stepLog
	index := map[string]int{}
	cur := ""
	for line := range strings.SplitSeq(text, "\n") {
		if rest, ok := strings.CutPrefix(line, "== step "); ok {
			if name, _, ok := strings.Cut(rest, " "); ok {
				cur = name
			}
		}
		i, ok := index[cur]
		if !ok {
			i = len(out)
			index[cur] = i
			out = append(out, stepLog{Step: cur})
		}
		out[i].Text += line + "\n"
	}
	for i := range out {
		out[i].Text = strings.TrimRight(out[i].Text, "\n")
	}
	kept := out[:0]
	for _, l := range out {
		if strings.TrimSpace(l.Text) != "" {
			kept = append(kept, l)
		}
	}
	return kept
}

// runReader reads a run through the API for the visitor: the run, its events after the
// last it read, the log, and (once) the workflow's steps for the graph.
type runReader struct {
	c       *Console
	ctx     context.Context // the visitor's (as(r)), ended with the request
	id      string
	events  []*models.ExecutionEvent
	after   int64
	summary []*models.WorkflowStepSummary
	note    string
	loaded  bool
	// logs as read when the events were up to logAfter
	logs     []stepLog
	logRead  bool
	logAfter int64
}

const maxRunEvents = 200 // the run page shows the latest this many events

func (rr *runReader) read() (runView, error) {
	ctx := rr.ctx
	ok, err := rr.c.api.Executions.GetExecutionContext(ctx, executions.NewGetExecutionParams().WithID(rr.id), nil)
	if err != nil {
		return runView{}, err
	}
	run := ok.Payload.Execution
	v := runView{Run: run, Final: runFinal(run.Status)}
	if run.Kind != "workflow" {
		return v, nil
	}
	if !rr.loaded {
		rr.loaded = true
		if wf, err := rr.c.api.Workflows.GetWorkflowContext(ctx, workflows.NewGetWorkflowParams().WithName(run.Workflow), nil); err == nil &&
			wf.Payload.Workflow.Summary != nil && wf.Payload.Workflow.Version == run.WorkflowVersion {
			rr.summary = wf.Payload.Workflow.Summary.Steps
		} else if err == nil && wf.Payload.Workflow.Summary != nil {
			rr.summary = wf.Payload.Workflow.Summary.Steps
			rr.note = fmt.Sprintf("The steps' dependencies are those of version %d of the workflow; this run follows version %d.",
				wf.Payload.Workflow.Version, run.WorkflowVersion)
		} else {
			rr.note = "The workflow's definition is not available; the steps are shown without their dependencies."
		}
	}
	limit := int64(1000)
	for range 20 { // the new events, a page at a time
		after := rr.after
		evs, err := rr.c.api.Executions.GetExecutionEventsContext(ctx, executions.NewGetExecutionEventsParams().
			WithID(rr.id).WithAfter(&after).WithLimit(&limit), nil)
		if err != nil {
			return runView{}, err
		}
		for _, e := range evs.Payload.Events {
			if e.Seq != nil && *e.Seq > rr.after {
				rr.after = *e.Seq
			}
		}
		rr.events = append(rr.events, evs.Payload.Events...)
		if int64(len(evs.Payload.Events)) < limit {
			break
		}
	}
	if len(rr.events) > maxRunEvents {
		rr.events = append([]*models.ExecutionEvent(nil), rr.events[len(rr.events)-maxRunEvents:]...)
	}
	v.Events = make([]*models.ExecutionEvent, len(rr.events)) // newest first
	for i, e := range rr.events {
		v.Events[len(rr.events)-1-i] = e
	}
	// The log changes when a step's attempt ends, which is an event: read again then only.
	if !rr.logRead || rr.after != rr.logAfter || v.Final {
		if lg, err := rr.c.api.Executions.GetExecutionLogContext(ctx, executions.NewGetExecutionLogParams().WithID(rr.id), nil); err == nil {
			rr.logs, rr.logRead, rr.logAfter = splitRunLog(lg.Payload), true, rr.after
		}
	}
	v.Logs = rr.logs
	v.Layers = stepLayers(rr.summary, run.Steps)
	withLog := map[string]bool{}
	for _, l := range v.Logs {
		withLog[l.Step] = true
	}
	for _, layer := range v.Layers {
		for i := range layer.Steps {
			layer.Steps[i].HasLog = withLog[layer.Steps[i].Name]
		}
	}
	v.Note = rr.note
	return v, nil
}

func runFinal(s string) bool {
	switch s {
	case "SUCCESS", "FAILED", "CANCELLED":
		return true
	}
	return false
}

func (c *Console) showRun(w http.ResponseWriter, r *http.Request) {
	rr := &runReader{c: c, ctx: as(r), id: r.PathValue("id")}
	v, err := rr.read()
	if err != nil {
		c.fail(w, r, err)
		return
	}
	if v.Run.Kind != "workflow" { // a call: its own page
		http.Redirect(w, r, Base+"executions/"+v.Run.ID, http.StatusSeeOther)
		return
	}
	c.page(w, r, http.StatusOK, "run", "Run of "+v.Run.Workflow, "workflows", v, nil)
}

func (c *Console) streamRun(w http.ResponseWriter, r *http.Request) {
	rr := &runReader{c: c, ctx: as(r), id: r.PathValue("id")}
	csrf := c.csrfToken(w, r)
	s, _ := r.Context().Value(sessionKey{}).(*session)
	c.stream(w, r, liveInterval, func(context.Context) (string, bool, error) {
		v, err := rr.read()
		if err != nil {
			return "", true, err
		}
		html, err := c.renderString("run", "run-live", view{Who: s, CSRF: csrf, AuthOff: c.auth == nil, Data: v})
		return html, v.Final, err
	})
}

func (c *Console) cancelRun(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	_, err := c.api.Executions.CancelExecutionContext(as(r), executions.NewCancelExecutionParams().WithID(id), nil)
	if err != nil {
		if e := errorOf(err); e.Status == http.StatusConflict { // finished meanwhile: the page tells
			rr := &runReader{c: c, ctx: as(r), id: id}
			if v, err := rr.read(); err == nil {
				c.page(w, r, e.Status, "run", "Run of "+v.Run.Workflow, "workflows", v, e)
				return
			}
		}
		c.fail(w, r, err)
		return
	}
	http.Redirect(w, r, Base+"workflows/runs/"+url.PathEscape(id), http.StatusSeeOther) //nolint:gosec // G710: a console path, its segment escaped
}
