package workflow

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/big"
	"slices"
	"strconv"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
	"golang.org/x/text/language"
	"golang.org/x/text/message"

	"github.com/gantry-dev/gantry/store"
)

// schemaURL is where the inputs' schema is put in the compiler; references that leave it
// are refused by noLoader.
const schemaURL = "gantry:///workflow/inputs.json"

// noLoader refuses every schema it is asked to load: an inputs' schema is self-contained.
type noLoader struct{}

func (noLoader) Load(url string) (any, error) {
	return nil, fmt.Errorf("cannot load %s: an inputs' schema may only refer to itself (no remote references)", url)
}

// compileSchema compiles the definition's inputs' schema, when it has one.
func (p *Program) compileSchema() error {
	if len(bytes.TrimSpace(p.Def.Inputs)) == 0 || string(bytes.TrimSpace(p.Def.Inputs)) == "null" {
		return nil
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(p.Def.Inputs))
	if err != nil {
		return store.Invalid("inputs", "the inputs' schema is not valid JSON: %v", err)
	}
	c := jsonschema.NewCompiler()
	c.UseLoader(noLoader{})
	if err := c.AddResource(schemaURL, doc); err != nil {
		return store.Invalid("inputs", "the inputs' schema does not compile: %s", oneLine(err.Error()))
	}
	sch, err := c.Compile(schemaURL)
	if err != nil {
		return store.Invalid("inputs", "the inputs' schema does not compile: %s", oneLine(err.Error()))
	}
	if t := typesOf(sch); t != nil && !slices.Equal(t, []string{"object"}) {
		return store.Invalid("inputs", "the inputs' schema must be of type object, not %s", strings.Join(t, " or "))
	}
	p.schema = sch
	return nil
}

// Inputs checks a run's inputs (a JSON object; nil, empty or null: {}) against the
// definition's schema, after applying the defaults of its properties (at the top level,
// and inside nested objects that are present or get an object default) and, with
// coerceStrings, converting string values to the type their property declares (integer,
// number, boolean; object and array from a JSON string) for clients that send every input
// as a string. A failure is a *store.ValidationError whose Field names the input
// ("inputs.n"). It returns the inputs as stored: compact JSON, at most MaxStateBytes.
func (p *Program) Inputs(raw json.RawMessage, coerceStrings bool) (json.RawMessage, error) {
	if len(raw) > MaxStateBytes {
		return nil, store.Invalid("inputs", "the inputs are larger than %d bytes", MaxStateBytes)
	}
	var v any = map[string]any{}
	if t := bytes.TrimSpace(raw); len(t) > 0 && string(t) != "null" {
		var err error
		if v, err = decodeJSON(t); err != nil {
			return nil, store.Invalid("inputs", "the inputs are not valid JSON: %v", err)
		}
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, store.Invalid("inputs", "the inputs must be a JSON object, not %s", jsonKind(v))
	}
	if p.schema != nil {
		if coerceStrings {
			if err := coerceObject(obj, p.schema, "inputs", 0); err != nil {
				return nil, err
			}
		}
		applyDefaults(obj, p.schema, 0)
		if err := p.schema.Validate(any(obj)); err != nil {
			return nil, schemaError(err, obj)
		}
	}
	if err := finiteNumbers(obj, "inputs", 0); err != nil {
		return nil, err
	}
	b, err := encodeJSON(obj)
	if err != nil {
		return nil, store.Invalid("inputs", "%v", err)
	}
	if len(b) > MaxStateBytes {
		return nil, store.Invalid("inputs", "the inputs are larger than %d bytes", MaxStateBytes)
	}
	return b, nil
}

// maxSchemaDepth bounds the walks of a schema's properties (a recursive schema has no end).
const maxSchemaDepth = 32

// properties gathers the properties a schema declares itself, through $ref and in allOf.
func properties(s *jsonschema.Schema, depth int) map[string]*jsonschema.Schema {
	props := map[string]*jsonschema.Schema{}
	if s == nil || depth > maxSchemaDepth {
		return props
	}
	for _, sub := range append([]*jsonschema.Schema{s.Ref}, s.AllOf...) {
		for k, v := range properties(sub, depth+1) {
			props[k] = v
		}
	}
	for k, v := range s.Properties {
		props[k] = v
	}
	return props
}

// typesOf is the types a schema declares (through $ref), nil when it declares none.
func typesOf(s *jsonschema.Schema) []string {
	for d := 0; s != nil && d <= maxSchemaDepth; d++ {
		if s.Types != nil && !s.Types.IsEmpty() {
			return s.Types.ToStrings()
		}
		s = s.Ref
	}
	return nil
}

// defaultOf is a schema's default (through $ref), a copy, or false when it has none.
func defaultOf(s *jsonschema.Schema) (any, bool) {
	for d := 0; s != nil && d <= maxSchemaDepth; d++ {
		if s.Default != nil {
			return deepCopy(*s.Default), true
		}
		s = s.Ref
	}
	return nil, false
}

func deepCopy(v any) any {
	switch x := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[k] = deepCopy(e)
		}
		return m
	case []any:
		a := make([]any, len(x))
		for k, e := range x {
			a[k] = deepCopy(e)
		}
		return a
	default:
		return v
	}
}

// applyDefaults sets the defaults of obj's missing properties, and of those of its nested
// objects (present, or just given by a default).
func applyDefaults(obj map[string]any, s *jsonschema.Schema, depth int) {
	if depth > maxSchemaDepth {
		return
	}
	for name, ps := range properties(s, 0) {
		if _, ok := obj[name]; !ok {
			if d, ok := defaultOf(ps); ok {
				obj[name] = d
			}
		}
		if nested, ok := obj[name].(map[string]any); ok {
			applyDefaults(nested, ps, depth+1)
		}
	}
}

// coerceObject converts obj's string values to the types their properties declare.
func coerceObject(obj map[string]any, s *jsonschema.Schema, field string, depth int) error {
	if depth > maxSchemaDepth {
		return nil
	}
	props := properties(s, 0)
	for _, name := range sortedKeys(obj) {
		ps, ok := props[name]
		if !ok {
			continue
		}
		f := field + "." + name
		if str, ok := obj[name].(string); ok {
			v, err := coerceString(str, typesOf(ps), f)
			if err != nil {
				return err
			}
			obj[name] = v
		}
		if nested, ok := obj[name].(map[string]any); ok {
			if err := coerceObject(nested, ps, f, depth+1); err != nil {
				return err
			}
		}
	}
	return nil
}

// coerceString converts s to the first of types it reads as; a string is left alone when
// the types allow one (or say nothing).
func coerceString(s string, types []string, field string) (any, error) {
	if len(types) == 0 || slices.Contains(types, "string") {
		return s, nil
	}
	t := strings.TrimSpace(s)
	for _, typ := range types {
		switch typ {
		case "integer":
			if n, ok := number(t); ok {
				if r, ok := new(big.Rat).SetString(t); ok && r.IsInt() {
					return n, nil
				}
			}
		case "number":
			if n, ok := number(t); ok {
				return n, nil
			}
		case "boolean":
			if b, err := strconv.ParseBool(t); err == nil && (t == "true" || t == "false") {
				return b, nil
			}
		case "object", "array":
			if v, err := decodeJSON([]byte(t)); err == nil {
				if _, isObj := v.(map[string]any); isObj == (typ == "object") {
					if _, isArr := v.([]any); isArr == (typ == "array") {
						return v, nil
					}
				}
			}
		case "null":
			if t == "null" || t == "" {
				return nil, nil
			}
		}
	}
	names := make([]string, len(types))
	for k, typ := range types {
		names[k] = article(typ)
	}
	return nil, store.Invalid(field, "%q is not %s", s, strings.Join(names, " or "))
}

// number reads s as a JSON number.
func number(s string) (json.Number, bool) {
	v, err := decodeJSON([]byte(s))
	if err != nil {
		return "", false
	}
	n, ok := v.(json.Number)
	return n, ok
}

func article(typ string) string {
	switch typ {
	case "integer", "object", "array":
		return "an " + typ
	case "null":
		return typ
	default:
		return "a " + typ
	}
}

// schemaError turns the schema's verdict into a ValidationError naming the input at fault.
func schemaError(err error, inputs any) error {
	var verr *jsonschema.ValidationError
	if !errors.As(err, &verr) {
		return store.Invalid("inputs", "%v", err)
	}
	leaf := verr
	for len(leaf.Causes) > 0 {
		leaf = leaf.Causes[0]
	}
	loc := leaf.InstanceLocation
	switch k := leaf.ErrorKind.(type) {
	case *kind.Required:
		if len(k.Missing) > 0 {
			loc = append(slices.Clip(loc), k.Missing[0])
		}
	case *kind.DependentRequired:
		if len(k.Missing) > 0 {
			loc = append(slices.Clip(loc), k.Missing[0])
		}
	case *kind.AdditionalProperties:
		if len(k.Properties) > 0 {
			loc = append(slices.Clip(loc), k.Properties[0])
		}
	}
	return store.Invalid(instanceField(loc, inputs), "%s", leaf.ErrorKind.LocalizedString(message.NewPrinter(language.English)))
}

// instanceField names an instance location as a field: "inputs.a[2].b".
func instanceField(loc []string, v any) string {
	var b strings.Builder
	b.WriteString("inputs")
	for _, tok := range loc {
		switch x := v.(type) {
		case []any:
			b.WriteString("[" + tok + "]")
			if i, err := strconv.Atoi(tok); err == nil && i >= 0 && i < len(x) {
				v = x[i]
			} else {
				v = nil
			}
		case map[string]any:
			b.WriteString("." + tok)
			v = x[tok]
		default:
			b.WriteString("." + tok)
			v = nil
		}
	}
	return b.String()
}

// finiteNumbers refuses numbers that no float64 holds (1e400): JSON allows them, but the
// clients that read runs back (Go's, JavaScript's) cannot decode them, and one stored run
// would break every list it is in.
func finiteNumbers(v any, field string, depth int) error {
	if depth > maxSchemaDepth*4 {
		return nil
	}
	switch x := v.(type) {
	case json.Number:
		if f, err := strconv.ParseFloat(string(x), 64); err != nil || math.IsInf(f, 0) {
			return store.Invalid(field, "%s is out of the range of a number (a float64)", x)
		}
	case map[string]any:
		for k, e := range x {
			if err := finiteNumbers(e, field+"."+k, depth+1); err != nil {
				return err
			}
		}
	case []any:
		for i, e := range x {
			if err := finiteNumbers(e, fmt.Sprintf("%s[%d]", field, i), depth+1); err != nil {
				return err
			}
		}
	}
	return nil
}
