package workflow

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
)

// mustParse parses a definition of steps (JSON) and optional outputs.
func mustParse(t *testing.T, doc string) *Program {
	t.Helper()
	p, err := Parse([]byte(doc))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return p
}

// decodedState is a state whose inputs and outputs are decoded from JSON, as a run's are.
func decodedState(inputs string, outputs map[string]string) State {
	st := State{Inputs: OutputValue([]byte(inputs)), Steps: map[string]StepState{}}
	for name, out := range outputs {
		st.Steps[name] = StepState{Status: "SUCCESS", Output: OutputValue([]byte(out))}
	}
	return st
}

// sameJSON compares JSON documents regardless of spacing and key order.
func sameJSON(t *testing.T, got []byte, want string) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("got %q: %v", got, err)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("want %q: %v", want, err)
	}
	if !reflect.DeepEqual(g, w) {
		t.Errorf("got %s, want %s", got, want)
	}
}

func TestBody(t *testing.T) {
	p := mustParse(t, `{"steps":[
		{"name":"a","call":{"app":"x","path":"/a"}},
		{"name":"b","needs":["a"],"call":{"app":"x","path":"/b"},"input":{
			"x":"$.inputs.x","y":"$.steps.a.output.y","lit":"$$.inputs.x","none":"$.inputs.missing",
			"nested":{"list":[1,"$.inputs.x",{"deep":"$.steps.a.output.y"},"plain",true,null,2.50]},
			"all":"$.inputs.xs[*]","big":12345678901234567890,"status":"$.steps.a.status","pending":"$.steps.c.status"}},
		{"name":"c","needs":["a"],"call":{"app":"x","path":"/c"},"map":{"items":"$.inputs.xs"},"input":{"item":"$.item","index":"$.index","x":"$.inputs.x"}},
		{"name":"d","call":{"app":"x","path":"/d"}},
		{"name":"e","call":{"app":"x","path":"/e"},"input":null}
	]}`)
	st := decodedState(`{"x":"hello","xs":[10,20]}`, map[string]string{"a": `{"y":{"z":[1,2]}}`})
	tests := []struct {
		name  string
		step  int
		item  any
		index int
		want  string // "" for no body
	}{
		{"a template reads inputs, step outputs, literals, nested objects and arrays", 1, nil, 0,
			`{"x":"hello","y":{"z":[1,2]},"lit":"$.inputs.x","none":null,
			  "nested":{"list":[1,"hello",{"deep":{"z":[1,2]}},"plain",true,null,2.5]},
			  "all":[10,20],"big":12345678901234567890,"status":"SUCCESS","pending":"PENDING"}`},
		{"a map step's template reads its item and index", 2, json.Number("20"), 1, `{"item":20,"index":1,"x":"hello"}`},
		{"a step without input has no body", 3, nil, 0, ""},
		{"a step whose input is null has no body", 4, nil, 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body, err := p.Body(tt.step, st, tt.item, tt.index)
			if err != nil {
				t.Fatalf("Body: %v", err)
			}
			if tt.want == "" {
				if body != nil {
					t.Errorf("got %s, want no body", body)
				}
				return
			}
			sameJSON(t, body, tt.want)
		})
	}
	t.Run("a big integer keeps its digits", func(t *testing.T) {
		body, _ := p.Body(1, st, nil, 0)
		if !strings.Contains(string(body), `"big":12345678901234567890`) {
			t.Errorf("body %s", body)
		}
	})
}

func TestCondition(t *testing.T) {
	p := mustParse(t, `{"steps":[
		{"name":"a","call":{"app":"x","path":"/a"}},
		{"name":"b","needs":["a"],"when":"inputs.n > 2","sleep":"1s"},
		{"name":"c","needs":["a"],"when":"steps.a.output.ok && steps.a.status == 'SUCCESS'","sleep":"1s"},
		{"name":"d","needs":["a"],"when":"steps.a.output.count == 3 && inputs.name startsWith 'gan'","sleep":"1s"},
		{"name":"e","needs":["a"],"sleep":"1s"},
		{"name":"f","when":"inputs.flag","sleep":"1s"}
	]}`)
	tests := []struct {
		name    string
		step    int
		st      State
		want    bool
		wantErr bool
	}{
		{"a condition over inputs is true", 1, decodedState(`{"n":3}`, nil), true, false},
		{"a condition over inputs is false", 1, decodedState(`{"n":2}`, nil), false, false},
		{"a condition over a step's output and status is true", 2, decodedState(`{}`, map[string]string{"a": `{"ok":true}`}), true, false},
		{"a condition over a step's output is false", 2, decodedState(`{}`, map[string]string{"a": `{"ok":false}`}), false, false},
		{"integers of outputs compare with integers", 3, decodedState(`{"name":"gantry"}`, map[string]string{"a": `{"count":3}`}), true, false},
		{"a condition over the output of a step not yet run is an error", 2, decodedState(`{}`, nil), false, true},
		{"a step without condition runs", 4, decodedState(`{}`, nil), true, false},
		{"a condition that gives no boolean at run time is an error", 5, decodedState(`{"flag":"yes"}`, nil), false, true},
		{"a condition that gives true from an input", 5, decodedState(`{"flag":true}`, nil), true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := p.Condition(tt.step, tt.st)
			if (err != nil) != tt.wantErr {
				t.Fatalf("Condition = %v, %v; want error %v", got, err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("Condition = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestItems(t *testing.T) {
	p := mustParse(t, `{"steps":[
		{"name":"a","call":{"app":"x","path":"/a"}},
		{"name":"b","needs":["a"],"call":{"app":"x","path":"/b"},"map":{"items":"$.steps.a.output.items"}},
		{"name":"c","call":{"app":"x","path":"/c"},"map":{"items":"$.inputs.xs[*]"}}
	]}`)
	many := make([]string, MaxMapItems+1)
	for i := range many {
		many[i] = "0"
	}
	tests := []struct {
		name    string
		step    int
		st      State
		want    string
		wantErr string
	}{
		{"an array gives its items", 1, decodedState(`{}`, map[string]string{"a": `{"items":[1,"two",{"three":3}]}`}), `[1,"two",{"three":3}]`, ""},
		{"an empty array gives no items", 1, decodedState(`{}`, map[string]string{"a": `{"items":[]}`}), `[]`, ""},
		{"an object is not an array", 1, decodedState(`{}`, map[string]string{"a": `{"items":{"x":1}}`}), "", "not an array"},
		{"no match is an error", 1, decodedState(`{}`, nil), "", "selects 0 values"},
		{"several nodes are an error", 2, decodedState(`{"xs":[[1],[2]]}`, nil), "", "selects 2 values"},
		{"too many items are an error that says so", 1, decodedState(`{}`, map[string]string{"a": `{"items":[` + strings.Join(many, ",") + `]}`}), "", fmt.Sprintf("more than the %d", MaxMapItems)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			items, err := p.Items(tt.step, tt.st)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Items = %v, %v; want an error saying %q", items, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Items: %v", err)
			}
			b, _ := json.Marshal(items)
			sameJSON(t, b, tt.want)
		})
	}
	t.Run("too many items are of kind ErrTooManyItems", func(t *testing.T) {
		_, err := p.Items(1, decodedState(`{}`, map[string]string{"a": `{"items":[` + strings.Join(many, ",") + `]}`}))
		if !errors.Is(err, ErrTooManyItems) {
			t.Errorf("Items = %v", err)
		}
	})
}

func TestOutputs(t *testing.T) {
	p := mustParse(t, `{"outputs":{"sum":"$.steps.b.output.sum","n":"$.inputs.n","none":"$.steps.c.output","all":"$.steps.b.output.parts[*].v","status":"$.steps.b.status"},
	  "steps":[{"name":"b","call":{"app":"x","path":"/b"}},{"name":"c","call":{"app":"x","path":"/c"}}]}`)
	tests := []struct {
		name string
		st   State
		want string
	}{
		{"outputs read inputs and step outputs", decodedState(`{"n":7}`, map[string]string{"b": `{"sum":3,"parts":[{"v":1},{"v":2}]}`}),
			`{"sum":3,"n":7,"none":null,"all":[1,2],"status":"SUCCESS"}`},
		{"outputs of steps that gave nothing are null", decodedState(`{}`, nil), `{"sum":null,"n":null,"none":null,"all":null,"status":"PENDING"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := p.Outputs(tt.st)
			if err != nil {
				t.Fatal(err)
			}
			sameJSON(t, out, tt.want)
		})
	}
	t.Run("a workflow without outputs gives an empty object", func(t *testing.T) {
		out, err := mustParse(t, `{"steps":[{"name":"a","sleep":"1s"}]}`).Outputs(State{})
		if err != nil || string(out) != "{}" {
			t.Errorf("Outputs = %s, %v", out, err)
		}
	})
}

func TestOutputValue(t *testing.T) {
	tests := []struct {
		name string
		body string
		want any
	}{
		{"a JSON object is decoded", `{"a":[1,"b"]}`, map[string]any{"a": []any{json.Number("1"), "b"}}},
		{"a JSON number keeps its digits", `12345678901234567890`, json.Number("12345678901234567890")},
		{"a JSON string is decoded", `"hi"`, "hi"},
		{"text is a string", "hello world\n", "hello world\n"},
		{"two JSON values are text", `{} {}`, `{} {}`},
		{"an empty body is nil", "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := OutputValue([]byte(tt.body)); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("OutputValue(%q) = %#v, want %#v", tt.body, got, tt.want)
			}
		})
	}
}

func TestAProgramServesConcurrentRuns(t *testing.T) {
	p := mustParse(t, dag)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			st := decodedState(fmt.Sprintf(`{"n":%d,"xs":[1,2]}`, i), map[string]string{"prepare": `{"items":[1,2,3]}`, "combine": `42`})
			if ok, err := p.Condition(2, st); err != nil || ok != (i > 1) {
				t.Errorf("Condition = %v, %v", ok, err)
			}
			if items, err := p.Items(1, st); err != nil || len(items) != 3 {
				t.Errorf("Items = %v, %v", items, err)
			}
			if _, err := p.Body(1, st, itemOf(i), i); err != nil {
				t.Errorf("Body: %v", err)
			}
			if out, err := p.Outputs(st); err != nil || !strings.Contains(string(out), `"result":42`) {
				t.Errorf("Outputs = %s, %v", out, err)
			}
		}()
	}
	wg.Wait()
}

func itemOf(i int) any { return map[string]any{"i": i} }
