package workflow

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/expr-lang/expr"
	"github.com/theory/jsonpath"

	"github.com/gantry-dev/gantry/store"
)

// State is what templates, conditions and outputs read:
// {"inputs": ..., "steps": {"<name>": {"output": ..., "status": "..."}}}, plus, inside a
// map step's input template, "item" and "index". A step missing from Steps reads as
// {"status": "PENDING", "output": null}.
type State struct {
	Inputs any // decoded JSON (map[string]any etc.)
	Steps  map[string]StepState
}

// StepState is a step's part of a State.
type StepState struct {
	Status string
	Output any // decoded JSON; nil when none
}

// ErrTooManyItems is the kind of Items' error for an array of more than MaxMapItems items.
var ErrTooManyItems = errors.New("too many items")

// OutputValue is the state's value of a call's output: its JSON when the body is valid
// JSON (numbers as json.Number), else the body as a string; nil for an empty body.
func OutputValue(body []byte) any {
	if len(bytes.TrimSpace(body)) == 0 {
		return nil
	}
	if json.Valid(body) {
		if v, err := decodeJSON(body); err == nil {
			return v
		}
	}
	return string(body)
}

// decodeJSON decodes one JSON value, numbers as json.Number.
func decodeJSON(b []byte) (any, error) {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, err
	}
	if d.More() {
		return nil, errors.New("data after the JSON value")
	}
	return v, nil
}

// encodeJSON is compact JSON without HTML escaping.
func encodeJSON(v any) ([]byte, error) {
	var b bytes.Buffer
	e := json.NewEncoder(&b)
	e.SetEscapeHTML(false)
	if err := e.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

// document is the state as the JSON document that paths and conditions read.
func (p *Program) document(st State) map[string]any {
	steps := make(map[string]any, len(p.Steps))
	for _, sp := range p.Steps {
		ss, ok := st.Steps[sp.Name]
		if !ok || ss.Status == "" {
			ss.Status = store.StatusPending
		}
		steps[sp.Name] = map[string]any{"status": ss.Status, "output": decoded(ss.Output)}
	}
	inputs := decoded(st.Inputs)
	if inputs == nil {
		inputs = map[string]any{}
	}
	return map[string]any{"inputs": inputs, "steps": steps}
}

// decoded forgives a caller that passes undecoded JSON.
func decoded(v any) any {
	if raw, ok := v.(json.RawMessage); ok {
		return OutputValue(raw)
	}
	return v
}

// selectValue is a path's value: its one node, nil for none, the array of several.
func selectValue(path *jsonpath.Path, doc any) any {
	nodes := path.Select(doc)
	switch len(nodes) {
	case 0:
		return nil
	case 1:
		return nodes[0]
	default:
		return []any(nodes)
	}
}

// Condition evaluates step i's when over st (true when the step has none).
func (p *Program) Condition(i int, st State) (bool, error) {
	sp := &p.Steps[i]
	if sp.when == nil {
		return true, nil
	}
	out, err := expr.Run(sp.when, exprValue(p.document(st)))
	if err != nil {
		return false, fmt.Errorf("step %s: condition %q: %s", sp.Name, sp.When, firstLine(err.Error()))
	}
	b, ok := out.(bool)
	if !ok {
		return false, fmt.Errorf("step %s: condition %q gives %T, not a boolean", sp.Name, sp.When, out)
	}
	return b, nil
}

// exprValue copies a document for expr, numbers as int or float64 (expr does arithmetic
// and comparisons on those, not on json.Number).
func exprValue(v any) any {
	switch x := v.(type) {
	case json.Number:
		if n, err := strconv.ParseInt(string(x), 10, 64); err == nil {
			return int(n)
		}
		f, _ := x.Float64()
		return f
	case map[string]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[k] = exprValue(e)
		}
		return m
	case []any:
		a := make([]any, len(x))
		for k, e := range x {
			a[k] = exprValue(e)
		}
		return a
	default:
		return v
	}
}

// Body renders step i's input template over st (nil, nil when the step has none). A map
// step's template also reads item and index ($.item, $.index).
func (p *Program) Body(i int, st State, item any, index int) ([]byte, error) {
	sp := &p.Steps[i]
	if sp.input == nil {
		return nil, nil
	}
	doc := p.document(st)
	if sp.Map != nil {
		doc["item"] = decoded(item)
		doc["index"] = index
	}
	b, err := encodeJSON(sp.input.render(doc))
	if err != nil {
		return nil, fmt.Errorf("step %s: input: %w", sp.Name, err)
	}
	return b, nil
}

// Items evaluates step i's map.items over st: exactly one node that is an array of at most
// MaxMapItems items.
func (p *Program) Items(i int, st State) ([]any, error) {
	sp := &p.Steps[i]
	if sp.items == nil {
		return nil, fmt.Errorf("step %s is not a map step", sp.Name)
	}
	nodes := sp.items.Select(p.document(st))
	if len(nodes) != 1 {
		return nil, fmt.Errorf("step %s: map.items %s selects %d values, not one array", sp.Name, sp.Map.Items, len(nodes))
	}
	arr, ok := nodes[0].([]any)
	if !ok {
		return nil, fmt.Errorf("step %s: map.items %s is %s, not an array", sp.Name, sp.Map.Items, jsonKind(nodes[0]))
	}
	if len(arr) > MaxMapItems {
		return nil, fmt.Errorf("step %s: map.items %s has %d items, more than the %d a map step may have: %w",
			sp.Name, sp.Map.Items, len(arr), MaxMapItems, ErrTooManyItems)
	}
	return arr, nil
}

// Outputs evaluates the outputs over st into a JSON object (name → value).
func (p *Program) Outputs(st State) (json.RawMessage, error) {
	doc := p.document(st)
	out := make(map[string]any, len(p.outputs))
	for _, o := range p.outputs {
		out[o.name] = selectValue(o.path, doc)
	}
	b, err := encodeJSON(out)
	if err != nil {
		return nil, fmt.Errorf("outputs: %w", err)
	}
	return b, nil
}

func jsonKind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "a boolean"
	case string:
		return "a string"
	case map[string]any:
		return "an object"
	case []any:
		return "an array"
	default:
		return "a number"
	}
}

// template is a compiled input template: a literal, a JSONPath, or an object or array of
// templates.
type template struct {
	literal any            // when path, object and array are nil
	path    *jsonpath.Path // a "$…" string
	object  map[string]*template
	array   []*template // non-nil for an array
}

// compileTemplate compiles a step's input: its strings that start with "$" are JSONPaths
// ("$$" starts a literal "$"), everything else is copied.
func compileTemplate(raw json.RawMessage, field string) (*template, error) {
	v, err := decodeJSON(raw)
	if err != nil {
		return nil, store.Invalid(field, "not valid JSON: %v", err)
	}
	return compileValue(v, field)
}

func compileValue(v any, field string) (*template, error) {
	switch x := v.(type) {
	case string:
		switch {
		case strings.HasPrefix(x, "$$"):
			return &template{literal: x[1:]}, nil
		case strings.HasPrefix(x, "$"):
			path, err := compilePath(x, field)
			if err != nil {
				return nil, err
			}
			return &template{path: path}, nil
		}
	case map[string]any:
		t := &template{object: make(map[string]*template, len(x))}
		for _, k := range sortedKeys(x) {
			e, err := compileValue(x[k], field+"."+k)
			if err != nil {
				return nil, err
			}
			t.object[k] = e
		}
		return t, nil
	case []any:
		t := &template{array: make([]*template, len(x))}
		for k, e := range x {
			c, err := compileValue(e, fmt.Sprintf("%s[%d]", field, k))
			if err != nil {
				return nil, err
			}
			t.array[k] = c
		}
		return t, nil
	}
	return &template{literal: v}, nil
}

func (t *template) render(doc any) any {
	switch {
	case t.path != nil:
		return selectValue(t.path, doc)
	case t.object != nil:
		m := make(map[string]any, len(t.object))
		for k, e := range t.object {
			m[k] = e.render(doc)
		}
		return m
	case t.array != nil:
		a := make([]any, len(t.array))
		for k, e := range t.array {
			a[k] = e.render(doc)
		}
		return a
	default:
		return t.literal
	}
}

func sortedKeys[V any](m map[string]V) []string { return slices.Sorted(maps.Keys(m)) }
