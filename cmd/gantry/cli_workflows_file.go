package main

// This file reads what `gantry workflows` takes from files and flags: a workflow's
// definition (JSON or YAML) and a run's inputs (--input k=v, --inputs @FILE).

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"

	yaml "go.yaml.in/yaml/v3"

	"github.com/gantry-dev/gantry/gen/models"
)

// workflowFileFields are the fields a workflow file may hold: the definition, its sharing
// and its name.
var workflowFileFields = []string{"name", "description", "inputs", "outputs", "steps", "run_access"}

// workflowReadOnlyFields are the fields the API answers but never takes; a file saved from
// `workflows describe -o json` has them, and they are left out of what is sent.
var workflowReadOnlyFields = []string{"owner", "version", "created_at", "updated_at", "summary"}

// readWorkflowFile reads the workflow in file ("-": stdin), JSON or YAML, and returns it
// with its name: flagName (--name) when given, else the file's `name`; both given must agree.
// A file may also hold the API's wrapper {"workflow": {...}}.
func readWorkflowFile(file, flagName string, stdin io.Reader) (*models.Workflow, error) {
	var (
		b   []byte
		err error
	)
	if file == "-" {
		b, err = io.ReadAll(stdin)
	} else {
		b, err = os.ReadFile(file)
	}
	if err != nil {
		return nil, fmt.Errorf("read the workflow: %w", err)
	}
	doc, err := decodeDocument(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	obj, ok := doc.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%s: the workflow must be an object (a mapping), not %s", file, jsonKind(doc))
	}
	if inner, ok := obj["workflow"].(map[string]any); ok && len(obj) == 1 {
		obj = inner
	}
	for k := range obj {
		if !slices.Contains(workflowFileFields, k) && !slices.Contains(workflowReadOnlyFields, k) {
			return nil, fmt.Errorf("%s: unknown field %q (a workflow has %s)", file, k, strings.Join(workflowFileFields, ", "))
		}
	}
	for _, k := range workflowReadOnlyFields {
		delete(obj, k)
	}
	name, _ := obj["name"].(string)
	if _, has := obj["name"]; has && name == "" {
		return nil, fmt.Errorf("%s: name must be a non-empty string", file)
	}
	switch {
	case flagName != "" && name != "" && flagName != name:
		return nil, fmt.Errorf("--name %q differs from the name %q in %s", flagName, name, file)
	case flagName != "":
		name = flagName
	case name == "":
		return nil, fmt.Errorf("%s has no name: add a name field or give --name", file)
	}
	obj["name"] = name
	if _, has := obj["steps"]; !has {
		return nil, fmt.Errorf("%s: a workflow needs steps", file)
	}
	b, err = json.Marshal(obj)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	var w models.Workflow
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(&w); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	return &w, nil
}

// decodeDocument decodes JSON, or else YAML, into JSON values (objects with string keys,
// numbers as json.Number).
func decodeDocument(b []byte) (any, error) {
	if json.Valid(b) {
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.UseNumber()
		var v any
		err := dec.Decode(&v)
		return v, err
	}
	var v any
	dec := yaml.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&v); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errors.New("empty document")
		}
		return nil, fmt.Errorf("neither JSON nor YAML: %w", err)
	}
	var more any
	if err := dec.Decode(&more); !errors.Is(err, io.EOF) {
		return nil, errors.New("holds more than one YAML document")
	}
	return yamlToJSON(v, "")
}

// yamlToJSON turns a decoded YAML value into one encoding/json writes as the same JSON:
// mapping keys must be strings.
func yamlToJSON(v any, at string) (any, error) {
	switch t := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, e := range t {
			c, err := yamlToJSON(e, at+"."+k)
			if err != nil {
				return nil, err
			}
			out[k] = c
		}
		return out, nil
	case map[any]any:
		out := make(map[string]any, len(t))
		for k, e := range t {
			ks, ok := k.(string)
			if !ok {
				return nil, fmt.Errorf("%s: key %v is not a string (quote it)", orDash(strings.TrimPrefix(at, ".")), k)
			}
			c, err := yamlToJSON(e, at+"."+ks)
			if err != nil {
				return nil, err
			}
			out[ks] = c
		}
		return out, nil
	case []any:
		out := make([]any, len(t))
		for i, e := range t {
			c, err := yamlToJSON(e, fmt.Sprintf("%s[%d]", at, i))
			if err != nil {
				return nil, err
			}
			out[i] = c
		}
		return out, nil
	default: // strings, numbers, booleans, null
		return t, nil
	}
}

// parseRunInputs builds a run's inputs: the object of --inputs (a JSON or YAML object, or
// @FILE of one), then each --input k=v over it; v is taken as JSON when it parses as JSON
// (3, true, null, "x", [1], {"a":1}), else as the string it is.
func parseRunInputs(inputs string, pairs []string, stdin io.Reader) (map[string]any, error) {
	out := map[string]any{}
	if inputs != "" {
		text, err := readData(inputs, stdin)
		if err != nil {
			return nil, fmt.Errorf("--inputs: %w", err)
		}
		doc, err := decodeDocument([]byte(text))
		if err != nil {
			return nil, fmt.Errorf("--inputs %s: %w", inputs, err)
		}
		obj, ok := doc.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("--inputs %s: want an object of inputs, not %s", inputs, jsonKind(doc))
		}
		maps.Copy(out, obj)
	}
	seen := map[string]bool{}
	for _, p := range pairs {
		k, v, err := splitKeyValue("input", p)
		if err != nil {
			return nil, err
		}
		if seen[k] {
			return nil, fmt.Errorf("--input: key %q given more than once", k)
		}
		seen[k] = true
		out[k] = inputValue(v)
	}
	return out, nil
}

// inputValue is v as JSON when it is a JSON value, else the string v.
func inputValue(v string) any {
	if !json.Valid([]byte(v)) {
		return v
	}
	dec := json.NewDecoder(strings.NewReader(v))
	dec.UseNumber()
	var parsed any
	if err := dec.Decode(&parsed); err != nil {
		return v
	}
	return parsed
}

// jsonKind names the kind of a JSON value, for messages.
func jsonKind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case map[string]any:
		return "an object"
	case []any:
		return "an array"
	case string:
		return "a string"
	case bool:
		return "a boolean"
	default:
		return "a number"
	}
}
