package workflow

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/vm"
	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/theory/jsonpath"
	"golang.org/x/net/http/httpguts"

	"github.com/gantry-dev/gantry/store"
)

// Program is a checked definition, ready to run: its JSONPaths, conditions and schema compiled.
type Program struct {
	Def   Definition
	Steps []StepProgram // in Def.Steps order

	schema  *jsonschema.Schema // nil: any inputs object
	outputs []outputPath       // sorted by name
	index   map[string]int
}

type outputPath struct {
	name string
	path *jsonpath.Path
}

// StepProgram is a step of a Program: the step as written, with its needs resolved, its
// durations parsed and its condition, input template and items compiled. Its Call (a copy
// of the written one) has Method in upper case, POST when the definition says none.
type StepProgram struct {
	Step                   // the step as written (embedded)
	Needs    []int         // indices of its needs
	Sleep    time.Duration //
	Timeout  time.Duration // 0: the route's
	Retry    RetryPolicy
	Continue bool // on_failure: continue

	when  *vm.Program    // nil: always
	input *template      // nil: no body
	items *jsonpath.Path // a map step's items
}

var (
	stepNameRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)
	appNameRE  = regexp.MustCompile(`^[A-Za-z0-9_-]{1,255}$`)
	// retryReasons are the reasons a retry may name, in the order the default lists them.
	retryReasons = []string{store.ReasonError, store.ReasonTimeout, store.ReasonBadExit, store.ReasonKilled}
	httpMethods  = []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}
)

// Parse reads and checks a definition document (JSON). Every problem is a
// *store.ValidationError whose Field is the JSON path of the culprit ("steps[2].needs[0]",
// "steps[1].when", "outputs.result", "inputs"; "steps" for a cycle, "" for a document that
// is not a JSON object).
func Parse(doc []byte) (*Program, error) {
	var def Definition
	if err := decodeStrict(doc, &def); err != nil {
		return nil, err
	}
	p := &Program{Def: def, index: make(map[string]int, len(def.Steps))}
	if err := p.checkSteps(); err != nil {
		return nil, err
	}
	if err := p.checkNeeds(); err != nil {
		return nil, err
	}
	for i := range p.Steps {
		if err := p.compileStep(i); err != nil {
			return nil, err
		}
	}
	if err := p.compileOutputs(); err != nil {
		return nil, err
	}
	if err := p.compileSchema(); err != nil {
		return nil, err
	}
	return p, nil
}

// decodeStrict decodes doc into def, refusing unknown fields and values of the wrong type
// with the path of the culprit.
func decodeStrict(doc []byte, def *Definition) error {
	d := json.NewDecoder(bytes.NewReader(doc))
	d.UseNumber()
	var generic any
	if err := d.Decode(&generic); err != nil {
		return store.Invalid("", "the definition is not valid JSON: %v", err)
	}
	if d.More() {
		return store.Invalid("", "the definition has data after its JSON object")
	}
	if err := checkShape(generic, typeOfDefinition, ""); err != nil {
		return err
	}
	d = json.NewDecoder(bytes.NewReader(doc))
	d.DisallowUnknownFields()
	if err := d.Decode(def); err != nil {
		return store.Invalid("", "the definition is not valid: %v", err)
	}
	return nil
}

// checkSteps checks each step on its own and indexes the names.
func (p *Program) checkSteps() error {
	steps := p.Def.Steps
	switch {
	case len(steps) == 0:
		return store.Invalid("steps", "a workflow needs at least one step")
	case len(steps) > MaxSteps:
		return store.Invalid("steps", "a workflow has at most %d steps, not %d", MaxSteps, len(steps))
	}
	p.Steps = make([]StepProgram, len(steps))
	for i, s := range steps {
		f := fmt.Sprintf("steps[%d]", i)
		if !stepNameRE.MatchString(s.Name) {
			return store.Invalid(f+".name", "step name %q must match %s", s.Name, stepNameRE)
		}
		if j, ok := p.index[s.Name]; ok {
			return store.Invalid(f+".name", "step name %q is also the name of steps[%d]", s.Name, j)
		}
		p.index[s.Name] = i
		sp := StepProgram{Step: s, Retry: RetryPolicy{MaxAttempts: 1}}
		if err := checkKind(&sp, f); err != nil {
			return err
		}
		if err := checkSecrets(s, f); err != nil {
			return err
		}
		if err := checkDurations(&sp, f); err != nil {
			return err
		}
		if s.Retry != nil {
			r, err := retryPolicy(*s.Retry, f+".retry")
			if err != nil {
				return err
			}
			sp.Retry = r
		}
		switch s.OnFailure {
		case "", OnFailureFail:
		case OnFailureContinue:
			sp.Continue = true
		default:
			return store.Invalid(f+".on_failure", "on_failure %q must be %q or %q", s.OnFailure, OnFailureFail, OnFailureContinue)
		}
		p.Steps[i] = sp
	}
	return nil
}

// checkKind checks that a step is exactly one of a call (maybe a map) or a sleep, and its call.
func checkKind(sp *StepProgram, f string) error {
	s := sp.Step
	switch {
	case s.Call == nil && s.Sleep == "":
		return store.Invalid(f, "a step needs a call or a sleep")
	case s.Call != nil && s.Sleep != "":
		return store.Invalid(f+".sleep", "a step has a call or a sleep, not both")
	case s.Map != nil && s.Call == nil:
		return store.Invalid(f+".map", "map needs a call")
	case len(s.Input) > 0 && s.Call == nil:
		return store.Invalid(f+".input", "input needs a call")
	}
	if s.Call == nil {
		return nil
	}
	c := *s.Call
	switch {
	case !appNameRE.MatchString(c.App):
		return store.Invalid(f+".call.app", "app name %q must match %s", c.App, appNameRE)
	case !strings.HasPrefix(c.Path, "/"):
		return store.Invalid(f+".call.path", "path %q must start with /", c.Path)
	}
	c.Method = strings.ToUpper(c.Method)
	if c.Method == "" {
		c.Method = "POST"
	}
	if !slices.Contains(httpMethods, c.Method) {
		return store.Invalid(f+".call.method", "method %q must be one of %s", s.Call.Method, strings.Join(httpMethods, ", "))
	}
	for name, value := range c.Headers {
		if !httpguts.ValidHeaderFieldName(name) {
			return store.Invalid(f+".call.headers", "%q is not a header name", name)
		}
		if !httpguts.ValidHeaderFieldValue(value) {
			return store.Invalid(f+".call.headers."+name, "not a valid header value")
		}
	}
	sp.Call = &c
	return nil
}

// checkDurations parses a step's sleep and timeout.
func checkDurations(sp *StepProgram, f string) error {
	var err error
	if sp.Step.Sleep != "" {
		if sp.Sleep, err = positiveDuration(sp.Step.Sleep, f+".sleep"); err != nil {
			return err
		}
		if sp.Sleep > MaxSleep {
			return store.Invalid(f+".sleep", "sleep %s is longer than %s", sp.Sleep, MaxSleep)
		}
	}
	if sp.Step.Timeout != "" {
		if sp.Timeout, err = positiveDuration(sp.Step.Timeout, f+".timeout"); err != nil {
			return err
		}
		if max := time.Duration(store.MaxTimeout) * time.Second; sp.Timeout > max { // a route's own bound
			return store.Invalid(f+".timeout", "timeout %s is longer than a call may run (%s)", sp.Timeout, max)
		}
	}
	return nil
}

func positiveDuration(s, field string) (time.Duration, error) {
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, store.Invalid(field, "%q is not a duration (such as \"30s\" or \"5m\")", s)
	}
	if d <= 0 {
		return 0, store.Invalid(field, "duration %q must be positive", s)
	}
	return d, nil
}

// checkNeeds resolves the steps' needs and refuses a cycle.
func (p *Program) checkNeeds() error {
	for i := range p.Steps {
		sp := &p.Steps[i]
		seen := map[string]bool{}
		for j, name := range sp.Step.Needs {
			f := fmt.Sprintf("steps[%d].needs[%d]", i, j)
			k, ok := p.index[name]
			switch {
			case !ok:
				return store.Invalid(f, "no step is named %q", name)
			case k == i:
				return store.Invalid(f, "step %q cannot need itself", name)
			case seen[name]:
				return store.Invalid(f, "step %q is needed twice", name)
			}
			seen[name] = true
			sp.Needs = append(sp.Needs, k)
		}
	}
	if cycle := p.cycle(); cycle != nil {
		names := make([]string, len(cycle))
		for k, i := range cycle {
			names[k] = p.Steps[i].Name
		}
		return store.Invalid("steps", "the needs of steps %s form a cycle", strings.Join(names, " → "))
	}
	return nil
}

// cycle returns the indices of the steps of a cycle of needs (the first step again at the
// end), or nil when there is none.
func (p *Program) cycle() []int {
	const (
		unseen = iota
		open
		done
	)
	color := make([]int, len(p.Steps))
	var path []int
	var visit func(i int) []int
	visit = func(i int) []int {
		color[i] = open
		path = append(path, i)
		for _, k := range p.Steps[i].Needs {
			switch color[k] {
			case open:
				for at, j := range path {
					if j == k {
						// path[at:] needs ... in reverse: k is needed by path[at+1], and so on.
						c := append([]int(nil), path[at:]...)
						return append(c, k)
					}
				}
			case unseen:
				if c := visit(k); c != nil {
					return c
				}
			}
		}
		path = path[:len(path)-1]
		color[i] = done
		return nil
	}
	for i := range p.Steps {
		if color[i] == unseen {
			if c := visit(i); c != nil {
				return c
			}
		}
	}
	return nil
}

// conditionEnv is the shape of a condition's environment, for type checking at compile
// time; step outputs and inputs are of any shape.
func conditionEnv() map[string]any {
	return map[string]any{"inputs": map[string]any{}, "steps": map[string]any{}}
}

// compileStep compiles step i's condition, input template and items.
func (p *Program) compileStep(i int) error {
	sp := &p.Steps[i]
	f := fmt.Sprintf("steps[%d]", i)
	if sp.When != "" {
		prog, err := expr.Compile(sp.When, expr.Env(conditionEnv()), expr.AsBool())
		if err != nil {
			return store.Invalid(f+".when", "the condition does not compile: %s", firstLine(err.Error()))
		}
		sp.when = prog
	}
	if len(sp.Input) > 0 && string(bytes.TrimSpace(sp.Input)) != "null" {
		t, err := compileTemplate(sp.Input, f+".input")
		if err != nil {
			return err
		}
		sp.input = t
	}
	if sp.Map != nil {
		path, err := compilePath(sp.Map.Items, f+".map.items")
		if err != nil {
			return err
		}
		sp.items = path
		switch mc := sp.Map.MaxConcurrency; {
		case mc < 0 || mc > MaxMapConcurrency:
			return store.Invalid(f+".map.max_concurrency", "max_concurrency must be between 0 and %d (0: %d)", MaxMapConcurrency, MaxMapConcurrency)
		case mc == 0:
			m := *sp.Map
			m.MaxConcurrency = MaxMapConcurrency
			sp.Map = &m
		}
	}
	return nil
}

func (p *Program) compileOutputs() error {
	for _, name := range sortedKeys(p.Def.Outputs) {
		path, err := compilePath(p.Def.Outputs[name], "outputs."+name)
		if err != nil {
			return err
		}
		p.outputs = append(p.outputs, outputPath{name: name, path: path})
	}
	return nil
}

func compilePath(s, field string) (*jsonpath.Path, error) {
	if s == "" {
		return nil, store.Invalid(field, "a JSONPath is needed (such as \"$.inputs.items\")")
	}
	path, err := jsonpath.Parse(s)
	if err != nil {
		return nil, store.Invalid(field, "%q is not a JSONPath: %s", s, oneLine(strings.TrimPrefix(err.Error(), jsonpath.ErrPathParse.Error()+": ")))
	}
	return path, nil
}

// CheckCalls calls check(app, path) for every step's call and returns the first error:
// one of kind store.ErrNotFound as a *store.ValidationError of field "steps[i].call" with
// check's message, any other as it is.
func (p *Program) CheckCalls(check func(app, path string) error) error {
	for i, sp := range p.Steps {
		if sp.Call == nil {
			continue
		}
		if err := check(sp.Call.App, sp.Call.Path); err != nil {
			if errors.Is(err, store.ErrNotFound) {
				return store.Invalid(fmt.Sprintf("steps[%d].call", i), "%s", err.Error())
			}
			return err
		}
	}
	return nil
}

// Index returns the index of the step named name, or -1.
func (p *Program) Index(name string) int {
	if i, ok := p.index[name]; ok {
		return i
	}
	return -1
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// firstLine drops what follows an error's first line (expr points at the culprit below it).
func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return strings.TrimSpace(line)
}
