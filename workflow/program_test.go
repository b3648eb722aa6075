package workflow

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/store"
)

// dag is a valid definition: prepare → solve-a ∥ solve-b → combine.
const dag = `{
  "description": "solve in two ways, then combine",
  "inputs": {
    "type": "object",
    "properties": {"n": {"type": "integer", "default": 2}, "xs": {"type": "array"}},
    "required": ["xs"]
  },
  "outputs": {"result": "$.steps.combine.output", "count": "$.steps['solve-a'].output.length"},
  "steps": [
    {"name": "prepare", "call": {"app": "math", "path": "/prepare"}, "input": {"xs": "$.inputs.xs"}},
    {"name": "solve-a", "needs": ["prepare"], "call": {"app": "math", "path": "/solve", "method": "put", "headers": {"X-Mode": "a"}},
     "map": {"items": "$.steps.prepare.output.items"}, "input": {"x": "$.item", "i": "$.index"}, "timeout": "30s"},
    {"name": "solve-b", "needs": ["prepare"], "when": "inputs.n > 1 && steps.prepare.status == 'SUCCESS'", "sleep": "5s"},
    {"name": "combine", "needs": ["solve-a", "solve-b"], "call": {"app": "math", "path": "/combine"},
     "retry": {"max_attempts": 3, "backoff": "2s", "max_backoff": "10s", "on": ["timeout", "error"]}, "on_failure": "continue"}
  ]
}`

func TestParseAcceptsAValidDAG(t *testing.T) {
	p, err := Parse([]byte(dag))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if len(p.Steps) != 4 {
		t.Fatalf("got %d steps, want 4", len(p.Steps))
	}
	tests := []struct {
		name string
		got  any
		want any
	}{
		{"the steps are indexed by name", []int{p.Index("prepare"), p.Index("solve-a"), p.Index("solve-b"), p.Index("combine"), p.Index("nope")}, []int{0, 1, 2, 3, -1}},
		{"needs are resolved to indices", fmt.Sprint(p.Steps[0].Needs, p.Steps[1].Needs, p.Steps[3].Needs), "[] [0] [1 2]"},
		{"the method defaults to POST", p.Steps[0].Call.Method, "POST"},
		{"the method is upper-cased", p.Steps[1].Call.Method, "PUT"},
		{"the definition keeps the method as written", p.Def.Steps[1].Call.Method, "put"},
		{"max_concurrency 0 means the maximum", p.Steps[1].Map.MaxConcurrency, MaxMapConcurrency},
		{"the timeout is parsed", p.Steps[1].Timeout, 30 * time.Second},
		{"no timeout means the route's", p.Steps[0].Timeout, time.Duration(0)},
		{"the sleep is parsed", p.Steps[2].Sleep, 5 * time.Second},
		{"a step without retry has one attempt", p.Steps[0].Retry.MaxAttempts, 1},
		{"retry max_attempts is kept", p.Steps[3].Retry.MaxAttempts, 3},
		{"retry backoff is parsed", p.Steps[3].Retry.Backoff, 2 * time.Second},
		{"retry max_backoff is parsed", p.Steps[3].Retry.MaxBackoff, 10 * time.Second},
		{"retry on is the reasons listed", fmt.Sprint(p.Steps[3].Retry.On), "map[error:true timeout:true]"},
		{"on_failure continue is read", p.Steps[3].Continue, true},
		{"on_failure defaults to fail", p.Steps[0].Continue, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if fmt.Sprint(tt.got) != fmt.Sprint(tt.want) {
				t.Errorf("got %v, want %v", tt.got, tt.want)
			}
		})
	}
}

func TestRetryDefaultsAndDelay(t *testing.T) {
	p, err := Parse([]byte(`{"steps":[{"name":"a","call":{"app":"x","path":"/y"},"retry":{"max_attempts":5}}]}`))
	if err != nil {
		t.Fatal(err)
	}
	r := p.Steps[0].Retry
	t.Run("a retry defaults to every reason, 1s and 1m", func(t *testing.T) {
		if len(r.On) != 4 || !r.On[store.ReasonError] || !r.On[store.ReasonTimeout] || !r.On[store.ReasonBadExit] || !r.On[store.ReasonKilled] {
			t.Errorf("on = %v", r.On)
		}
		if r.Backoff != time.Second || r.MaxBackoff != time.Minute {
			t.Errorf("backoff %s, max %s", r.Backoff, r.MaxBackoff)
		}
	})
	policy := RetryPolicy{MaxAttempts: 10, Backoff: time.Second, MaxBackoff: 5 * time.Second}
	for _, tt := range []struct {
		attempt int
		want    time.Duration
	}{{1, time.Second}, {2, 2 * time.Second}, {3, 4 * time.Second}, {4, 5 * time.Second}, {100, 5 * time.Second}} {
		t.Run(fmt.Sprintf("the delay after attempt %d is %s", tt.attempt, tt.want), func(t *testing.T) {
			if got := policy.Delay(tt.attempt); got != tt.want {
				t.Errorf("Delay(%d) = %s, want %s", tt.attempt, got, tt.want)
			}
		})
	}
}

// one wraps steps (JSON) into a definition.
func one(steps string) string { return `{"steps":[` + steps + `]}` }

const call = `"call":{"app":"x","path":"/y"}`

func TestParseRefusesInvalidDefinitions(t *testing.T) {
	tooMany := make([]string, MaxSteps+1)
	for i := range tooMany {
		tooMany[i] = fmt.Sprintf(`{"name":"s%d",%s}`, i, call)
	}
	tests := []struct {
		name, doc, field, message string
	}{
		{"a document that is not JSON", `{"steps":`, "", "not valid JSON"},
		{"a document that is not an object", `[1]`, "", "object"},
		{"an unknown top-level field", `{"stepz":[]}`, "stepz", "unknown field"},
		{"an unknown step field", one(`{"name":"a","cal":{}}`), "steps[0].cal", "unknown field"},
		{"an unknown call field", one(`{"name":"a","call":{"app":"x","path":"/y","pth":"/z"}}`), "steps[0].call.pth", "unknown field"},
		{"a name that is not a string", one(`{"name":3,` + call + `}`), "steps[0].name", "string"},
		{"max_attempts that is not an integer", one(`{"name":"a",` + call + `,"retry":{"max_attempts":1.5}}`), "steps[0].retry.max_attempts", "integer"},
		{"no steps", `{"steps":[]}`, "steps", "at least one"},
		{"no steps field", `{}`, "steps", "at least one"},
		{"too many steps", one(strings.Join(tooMany, ",")), "steps", "at most"},
		{"a name with a space", one(`{"name":"a b",` + call + `}`), "steps[0].name", "must match"},
		{"an empty name", one(`{"name":"",` + call + `}`), "steps[0].name", "must match"},
		{"a name of 65 characters", one(`{"name":"` + strings.Repeat("a", 65) + `",` + call + `}`), "steps[0].name", "must match"},
		{"two steps of the same name", one(`{"name":"a",` + call + `},{"name":"a",` + call + `}`), "steps[1].name", "steps[0]"},
		{"a step with neither call nor sleep", one(`{"name":"a"}`), "steps[0]", "call or a sleep"},
		{"a step with both call and sleep", one(`{"name":"a",` + call + `,"sleep":"1s"}`), "steps[0].sleep", "not both"},
		{"a map without a call", one(`{"name":"a","sleep":"1s","map":{"items":"$.inputs.xs"}}`), "steps[0].map", "needs a call"},
		{"an input without a call", one(`{"name":"a","sleep":"1s","input":{"x":1}}`), "steps[0].input", "needs a call"},
		{"a call without an app", one(`{"name":"a","call":{"path":"/y"}}`), "steps[0].call.app", "app name"},
		{"a call with a bad app name", one(`{"name":"a","call":{"app":"a/b","path":"/y"}}`), "steps[0].call.app", "app name"},
		{"a call without a path", one(`{"name":"a","call":{"app":"x"}}`), "steps[0].call.path", "start with /"},
		{"a call path without a leading slash", one(`{"name":"a","call":{"app":"x","path":"y"}}`), "steps[0].call.path", "start with /"},
		{"a call with an unknown method", one(`{"name":"a","call":{"app":"x","path":"/y","method":"FETCH"}}`), "steps[0].call.method", "FETCH"},
		{"a call with a bad header name", one(`{"name":"a","call":{"app":"x","path":"/y","headers":{"a b":"c"}}}`), "steps[0].call.headers", "header name"},
		{"needs that name no step", one(`{"name":"a",` + call + `},{"name":"b","needs":["c"],` + call + `}`), "steps[1].needs[0]", `"c"`},
		{"a step that needs itself", one(`{"name":"a","needs":["a"],` + call + `}`), "steps[0].needs[0]", "itself"},
		{"a step that needs another twice", one(`{"name":"a",` + call + `},{"name":"b","needs":["a","a"],` + call + `}`), "steps[1].needs[1]", "twice"},
		{"a cycle of needs", one(`{"name":"a","needs":["c"],` + call + `},{"name":"b","needs":["a"],` + call + `},{"name":"c","needs":["b"],` + call + `},{"name":"d",` + call + `}`), "steps", "a → c → b → a"},
		{"a sleep that is not a duration", one(`{"name":"a","sleep":"soon"}`), "steps[0].sleep", "not a duration"},
		{"a negative sleep", one(`{"name":"a","sleep":"-1s"}`), "steps[0].sleep", "positive"},
		{"a sleep longer than a week", one(`{"name":"a","sleep":"169h"}`), "steps[0].sleep", "longer than"},
		{"a timeout longer than a call may run", one(`{"name":"a",` + call + `,"timeout":"2000000h"}`), "steps[0].timeout", "longer than a call may run"},
		{"a zero timeout", one(`{"name":"a",` + call + `,"timeout":"0s"}`), "steps[0].timeout", "positive"},
		{"a timeout that is not a duration", one(`{"name":"a",` + call + `,"timeout":"30"}`), "steps[0].timeout", "not a duration"},
		{"retry with no attempts", one(`{"name":"a",` + call + `,"retry":{"max_attempts":0}}`), "steps[0].retry.max_attempts", "between 1 and 20"},
		{"retry with too many attempts", one(`{"name":"a",` + call + `,"retry":{"max_attempts":21}}`), "steps[0].retry.max_attempts", "between 1 and 20"},
		{"retry on an unknown reason", one(`{"name":"a",` + call + `,"retry":{"max_attempts":2,"on":["error","oops"]}}`), "steps[0].retry.on[1]", `"oops"`},
		{"retry with a bad backoff", one(`{"name":"a",` + call + `,"retry":{"max_attempts":2,"backoff":"x"}}`), "steps[0].retry.backoff", "not a duration"},
		{"retry with a negative max_backoff", one(`{"name":"a",` + call + `,"retry":{"max_attempts":2,"max_backoff":"-1m"}}`), "steps[0].retry.max_backoff", "positive"},
		{"retry with max_backoff below backoff", one(`{"name":"a",` + call + `,"retry":{"max_attempts":2,"backoff":"1m","max_backoff":"1s"}}`), "steps[0].retry.max_backoff", "shorter"},
		{"map max_concurrency above the maximum", one(`{"name":"a",` + call + `,"map":{"items":"$.inputs.xs","max_concurrency":101}}`), "steps[0].map.max_concurrency", "between 0 and 100"},
		{"a negative map max_concurrency", one(`{"name":"a",` + call + `,"map":{"items":"$.inputs.xs","max_concurrency":-1}}`), "steps[0].map.max_concurrency", "between 0 and 100"},
		{"a map without items", one(`{"name":"a",` + call + `,"map":{}}`), "steps[0].map.items", "JSONPath is needed"},
		{"map items that are not a JSONPath", one(`{"name":"a",` + call + `,"map":{"items":"$.inputs["}}`), "steps[0].map.items", "not a JSONPath"},
		{"an unknown on_failure", one(`{"name":"a",` + call + `,"on_failure":"ignore"}`), "steps[0].on_failure", `"ignore"`},
		{"a condition that does not parse", one(`{"name":"a",` + call + `,"when":"inputs.n >"}`), "steps[0].when", "does not compile"},
		{"a condition that is not a boolean", one(`{"name":"a",` + call + `,"when":"1 + 2"}`), "steps[0].when", "bool"},
		{"a condition with an unknown name", one(`{"name":"a",` + call + `,"when":"input.n > 1"}`), "steps[0].when", "unknown name"},
		{"a JSONPath deep in an input template that does not parse", one(`{"name":"a",` + call + `,"input":{"a":{"b":[1,"$.x["]}}}`), "steps[0].input.a.b[1]", "not a JSONPath"},
		{"an output that is not a JSONPath", `{"outputs":{"result":"$$$"},` + one(`{"name":"a",` + call + `}`)[1:], "outputs.result", "not a JSONPath"},
		{"an inputs schema that does not compile", `{"inputs":{"type":12},` + one(`{"name":"a",` + call + `}`)[1:], "inputs", "does not compile"},
		{"an inputs schema with a remote reference", `{"inputs":{"$ref":"https://example.com/s.json"},` + one(`{"name":"a",` + call + `}`)[1:], "inputs", "no remote references"},
		{"an inputs schema of type string", `{"inputs":{"type":"string"},` + one(`{"name":"a",` + call + `}`)[1:], "inputs", "type object"},
	}
	for _, tt := range tests {
		t.Run(tt.name+" is refused", func(t *testing.T) {
			p, err := Parse([]byte(tt.doc))
			var verr *store.ValidationError
			if !errors.As(err, &verr) {
				t.Fatalf("Parse = %v, %v; want a ValidationError", p, err)
			}
			if verr.Field != tt.field {
				t.Errorf("field %q, want %q (%v)", verr.Field, tt.field, err)
			}
			if !strings.Contains(verr.Message, tt.message) {
				t.Errorf("message %q does not say %q", verr.Message, tt.message)
			}
			if !errors.Is(err, store.ErrInvalid) {
				t.Errorf("errors.Is(%v, ErrInvalid) is false", err)
			}
		})
	}
}

func TestCheckCalls(t *testing.T) {
	p, err := Parse([]byte(dag))
	if err != nil {
		t.Fatal(err)
	}
	broken := errors.New("store down")
	tests := []struct {
		name    string
		missing string // app+path that check does not find
		other   error
		field   string
		is      error
	}{
		{"every call found passes", "", nil, "", nil},
		{"a missing route names the step's call", "math/combine", nil, "steps[3].call", store.ErrInvalid},
		{"another error is returned as it is", "", broken, "", broken},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var checked []string
			err := p.CheckCalls(func(app, path string) error {
				checked = append(checked, app+path)
				if app+path == tt.missing {
					return store.NotFound("route", app+path)
				}
				return tt.other
			})
			if tt.is == nil {
				if err != nil {
					t.Fatalf("CheckCalls = %v", err)
				}
				if want := []string{"math/prepare", "math/solve", "math/combine"}; !slices.Equal(checked, want) {
					t.Errorf("checked %v, want %v", checked, want)
				}
				return
			}
			if !errors.Is(err, tt.is) {
				t.Fatalf("CheckCalls = %v, want %v", err, tt.is)
			}
			var verr *store.ValidationError
			if tt.field != "" && (!errors.As(err, &verr) || verr.Field != tt.field || !strings.Contains(verr.Message, "not found")) {
				t.Errorf("CheckCalls = %#v, want field %s with the not-found message", err, tt.field)
			}
		})
	}
}

func TestDescribe(t *testing.T) {
	p, err := Parse([]byte(dag))
	if err != nil {
		t.Fatal(err)
	}
	d := p.Describe()
	if got := fmt.Sprint(d.Outputs); got != "[count result]" {
		t.Errorf("outputs %s", got)
	}
	if !strings.Contains(string(d.Inputs), `"required"`) {
		t.Errorf("inputs %s", d.Inputs)
	}
	want := []StepDescription{
		{Name: "prepare", Kind: "call", App: "math", Path: "/prepare"},
		{Name: "solve-a", Kind: "map", Needs: []string{"prepare"}, App: "math", Path: "/solve"},
		{Name: "solve-b", Kind: "sleep", Needs: []string{"prepare"}},
		{Name: "combine", Kind: "call", Needs: []string{"solve-a", "solve-b"}, App: "math", Path: "/combine"},
	}
	for i, w := range want {
		t.Run("step "+w.Name+" is described", func(t *testing.T) {
			if fmt.Sprintf("%+v", d.Steps[i]) != fmt.Sprintf("%+v", w) {
				t.Errorf("got %+v, want %+v", d.Steps[i], w)
			}
		})
	}
}
