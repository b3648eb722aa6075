package workflow

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/gantry-dev/gantry/store"
)

const inputsSchema = `{"inputs":{
  "type":"object",
  "properties":{
    "n":{"type":"integer","default":3},
    "name":{"type":"string","minLength":2},
    "ratio":{"type":"number"},
    "dry":{"type":"boolean","default":false},
    "tags":{"type":"array","items":{"type":"string"}},
    "opts":{"$ref":"#/$defs/opts"},
    "limits":{"type":"object","default":{"cpu":1},"properties":{"cpu":{"type":"integer"},"mem":{"type":"integer","default":128}}},
    "extra":{"type":"object","properties":{"deep":{"type":"string","default":"d"}}}
  },
  "required":["name"],
  "$defs":{"opts":{"type":"object","properties":{"verbose":{"type":"boolean","default":true},"level":{"type":"integer"}},"required":["level"]}}
},"steps":[{"name":"a","sleep":"1s"}]}`

func TestInputs(t *testing.T) {
	p := mustParse(t, inputsSchema)
	tests := []struct {
		name    string
		raw     string
		coerce  bool
		want    string // JSON, when valid
		field   string // when invalid
		message string
	}{
		{"defaults are applied, nested ones inside present objects and object defaults", `{"name":"ab","opts":{"level":1}}`, false,
			`{"name":"ab","n":3,"dry":false,"opts":{"level":1,"verbose":true},"limits":{"cpu":1,"mem":128}}`, "", ""},
		{"given values win over defaults", `{"name":"ab","n":9,"dry":true,"limits":{"cpu":4},"extra":{}}`, false,
			`{"name":"ab","n":9,"dry":true,"limits":{"cpu":4,"mem":128},"extra":{"deep":"d"}}`, "", ""},
		{"a missing required input is named", `{}`, false, "", "inputs.name", `missing property 'name'`},
		{"a missing required nested input is named", `{"name":"ab","opts":{}}`, false, "", "inputs.opts.level", `missing property 'level'`},
		{"an input of the wrong type is named", `{"name":"ab","n":"3"}`, false, "", "inputs.n", "got string, want integer"},
		{"an array item of the wrong type is named", `{"name":"ab","tags":["a",2]}`, false, "", "inputs.tags[1]", "want string"},
		{"a constraint is explained", `{"name":"a"}`, false, "", "inputs.name", "minLength: got 1, want 2"},
		{"inputs that are not an object are refused", `[1]`, false, "", "inputs", "JSON object"},
		{"inputs that are not JSON are refused", `{"name":`, false, "", "inputs", "not valid JSON"},
		{"coerced strings become integers, numbers, booleans, arrays and objects", `{"name":"ab","n":"7","ratio":"0.5","dry":"true","tags":"[\"x\"]","opts":"{\"level\":\"2\"}"}`, true,
			`{"name":"ab","n":7,"ratio":0.5,"dry":true,"tags":["x"],"opts":{"level":2,"verbose":true},"limits":{"cpu":1,"mem":128}}`, "", ""},
		{"a string property stays a string when coerced", `{"name":"12"}`, true, `{"name":"12","n":3,"dry":false,"limits":{"cpu":1,"mem":128}}`, "", ""},
		{"a string that is no integer is refused when coerced", `{"name":"ab","n":"x"}`, true, "", "inputs.n", `"x" is not an integer`},
		{"a fraction is no integer", `{"name":"ab","n":"1.5"}`, true, "", "inputs.n", "not an integer"},
		{"a string that is no boolean is refused when coerced", `{"name":"ab","dry":"maybe"}`, true, "", "inputs.dry", "not a boolean"},
		{"without coercion a string integer is refused", `{"name":"ab","n":"7"}`, false, "", "inputs.n", "want integer"},
		{"a number no float64 holds is refused: clients could not read the run back", `{"name":"ab","ratio":1e400}`, false, "", "inputs.ratio", "out of the range"},
		{"a coerced one too", `{"name":"ab","n":"1e999"}`, true, "", "inputs.n", "out of the range"},
		{"an undeclared input out of range too", `{"name":"ab","extra":{"x":[-1e400]}}`, false, "", "inputs.extra.x[0]", "out of the range"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := p.Inputs(json.RawMessage(tt.raw), tt.coerce)
			if tt.field == "" {
				if err != nil {
					t.Fatalf("Inputs: %v", err)
				}
				sameJSON(t, got, tt.want)
				return
			}
			var verr *store.ValidationError
			if !errors.As(err, &verr) {
				t.Fatalf("Inputs = %s, %v; want a ValidationError", got, err)
			}
			if verr.Field != tt.field || !strings.Contains(verr.Message, tt.message) {
				t.Errorf("got %q: %q, want %q saying %q", verr.Field, verr.Message, tt.field, tt.message)
			}
		})
	}
}

func TestInputsWithoutSchema(t *testing.T) {
	p := mustParse(t, `{"steps":[{"name":"a","sleep":"1s"}]}`)
	tests := []struct {
		name, raw, want string
	}{
		{"no inputs are an empty object", ``, `{}`},
		{"null inputs are an empty object", `null`, `{}`},
		{"any object is kept, compacted", `{ "a" : [1, 2],  "b": "<x>" }`, `{"a":[1,2],"b":"<x>"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := p.Inputs(json.RawMessage(tt.raw), true)
			if err != nil || string(got) != tt.want {
				t.Errorf("Inputs = %s, %v; want %s", got, err, tt.want)
			}
		})
	}
	t.Run("inputs larger than the state's bound are refused", func(t *testing.T) {
		big := `{"a":"` + strings.Repeat("x", MaxStateBytes) + `"}`
		if _, err := p.Inputs(json.RawMessage(big), false); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("Inputs = %v", err)
		}
	})
}
