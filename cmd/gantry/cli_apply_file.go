package main

// This file reads a project file (`gantry apply -f gantry.yaml`): its schema, as Go types
// that name each field the file may hold, and a decoder that walks the YAML node tree
// (JSON is read the same way) so that every error names the file, the line and the field
// (`gantry.yaml:12: apps[0].routes[1].memory: want an integer`). What it yields is, per
// resource, the fields the file declares — and only those — as JSON values.

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"

	yaml "go.yaml.in/yaml/v3"
)

// spec is what the file declares of one resource: its fields as JSON values (objects are
// map[string]any, numbers float64), only those the file names.
type spec = map[string]any

// declared is one resource of the file: its kind, key, declared fields, where it is.
type declared struct {
	kind kind
	key  string // the app's name, "app/path" for a route, else the name
	spec spec
	file string // the file, for messages
	line int    // the line of the entry in the file
	at   string // the entry's field path, e.g. apps[0].routes[1]
}

// fileError is an error in a project file, at a line, about a field.
type fileError struct {
	file  string
	line  int
	field string
	msg   string
}

func (e *fileError) Error() string {
	var b strings.Builder
	b.WriteString(e.file)
	if e.line > 0 {
		b.WriteString(":" + strconv.Itoa(e.line))
	}
	b.WriteString(": ")
	if e.field != "" {
		b.WriteString(e.field + ": ")
	}
	b.WriteString(e.msg)
	return b.String()
}

// readProjectFile reads the project file name ("-": stdin) and returns what it declares,
// in the file's order.
func readProjectFile(name string, stdin io.Reader) ([]declared, error) {
	var (
		b   []byte
		err error
	)
	if name == "-" {
		b, err = io.ReadAll(stdin)
	} else {
		b, err = os.ReadFile(name) //nolint:gosec // the file the user names
	}
	if err != nil {
		return nil, fmt.Errorf("read the project file: %w", err)
	}
	display, dir := name, filepath.Dir(name)
	if name == "-" {
		display, dir = "<stdin>", "."
	}
	if dir, err = filepath.Abs(dir); err != nil {
		return nil, err
	}
	return parseProjectFile(display, dir, b)
}

// parseProjectFile parses a project file's bytes (YAML or JSON); file names it in errors,
// paths in it are relative to dir.
func parseProjectFile(file, dir string, b []byte) ([]declared, error) {
	dec := yaml.NewDecoder(bytes.NewReader(b))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, &fileError{file: file, msg: "empty file"}
		}
		return nil, &fileError{file: file, msg: strings.TrimPrefix(err.Error(), "yaml: ")}
	}
	var more yaml.Node
	if err := dec.Decode(&more); !errors.Is(err, io.EOF) {
		return nil, &fileError{file: file, line: more.Line, msg: "holds more than one YAML document"}
	}
	d := nodeDecoder{file: file, dir: dir}
	root := &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	v, err := d.value(root, reflect.TypeFor[projectFile](), "")
	if err != nil {
		return nil, err
	}
	top, _ := v.(map[string]any)
	return d.resources(root, top)
}

// resources splits the decoded file into its resources, checking that no two share a key.
func (d *nodeDecoder) resources(root *yaml.Node, top map[string]any) ([]declared, error) {
	var out []declared
	seen := map[string]string{} // kind+key → where
	add := func(r declared) error {
		id := string(r.kind) + " " + r.key
		if prev, dup := seen[id]; dup {
			return &fileError{file: d.file, line: r.line, field: r.at, msg: fmt.Sprintf("%s %q is declared twice (first at %s)", r.kind, r.key, prev)}
		}
		seen[id] = r.at
		r.file = d.file
		out = append(out, r)
		return nil
	}
	for _, k := range kinds {
		list, _ := top[k.section].([]any)
		items := childNode(root, k.section)
		for i, item := range list {
			obj := item.(map[string]any)
			line, at := 0, fmt.Sprintf("%s[%d]", k.section, i)
			if items != nil && i < len(items.Content) {
				line = items.Content[i].Line
			}
			if k.name == kindApp {
				routes, _ := obj["routes"].([]any)
				delete(obj, "routes")
				if err := add(declared{kind: kindApp, key: obj["name"].(string), spec: obj, line: line, at: at}); err != nil {
					return nil, err
				}
				var routeNodes *yaml.Node
				if items != nil && i < len(items.Content) {
					routeNodes = childNode(items.Content[i], "routes")
				}
				for j, r := range routes {
					ro := r.(map[string]any)
					rline := line
					if routeNodes != nil && j < len(routeNodes.Content) {
						rline = routeNodes.Content[j].Line
					}
					key := obj["name"].(string) + ro["path"].(string)
					if err := add(declared{kind: kindRoute, key: key, spec: ro, line: rline, at: fmt.Sprintf("%s.routes[%d]", at, j)}); err != nil {
						return nil, err
					}
				}
				continue
			}
			if k.name == kindImage {
				if err := d.imageSource(obj, line, at); err != nil {
					return nil, err
				}
			}
			if err := add(declared{kind: k.name, key: obj["name"].(string), spec: obj, line: line, at: at}); err != nil {
				return nil, err
			}
		}
	}
	if err := checkImageBases(out); err != nil {
		return nil, err
	}
	return out, nil
}

// checkImageBases refuses a file whose images are built on each other in a cycle (an image
// whose base "@NAME" leads, through images the file declares, back to itself): none of
// them could be created first.
func checkImageBases(decls []declared) error {
	byName := map[string]*declared{}
	for i := range decls {
		if decls[i].kind == kindImage {
			byName[decls[i].key] = &decls[i]
		}
	}
	baseOf := func(d *declared) *declared {
		if b, _ := d.spec["base"].(string); strings.HasPrefix(b, "@") {
			return byName[b[1:]]
		}
		return nil
	}
	for i := range decls {
		d := &decls[i]
		if d.kind != kindImage {
			continue
		}
		path := []string{d.key}
		for b, n := baseOf(d), 0; b != nil && n <= len(byName); b, n = baseOf(b), n+1 {
			path = append(path, b.key)
			if b == d {
				return &fileError{file: d.file, line: d.line, field: d.at + ".base", msg: "the images are built on each other in a cycle: " + strings.Join(path, " → ")}
			}
		}
	}
	return nil
}

// childNode is the value of key in mapping n, or nil.
func childNode(n *yaml.Node, key string) *yaml.Node {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

// nodeDecoder turns YAML nodes into JSON values, checked against a schema type.
type nodeDecoder struct {
	file string
	dir  string // what an image's context or load path is relative to
}

// imageSource checks that an image gives at most one of reference, context and load, sets
// its source from the one given (a source given too must agree), and makes a path
// relative to the file's directory.
func (d *nodeDecoder) imageSource(obj map[string]any, line int, at string) error {
	implied := ""
	for _, f := range []struct{ field, source string }{{"reference", "reference"}, {"context", "build"}, {"load", "load"}} {
		if _, ok := obj[f.field]; !ok {
			continue
		}
		if implied != "" {
			return &fileError{file: d.file, line: line, field: at, msg: "give one of reference, context and load"}
		}
		implied = f.source
		if f.field != "reference" {
			if p := obj[f.field].(string); !filepath.IsAbs(p) {
				obj[f.field] = filepath.Join(d.dir, p)
			}
		}
	}
	given, _ := obj["source"].(string)
	switch {
	case given != "" && implied != "" && given != implied:
		return &fileError{file: d.file, line: line, field: at + ".source", msg: fmt.Sprintf("is %s, but the image gives what a %s takes", given, implied)}
	case given == "" && implied == "":
		return &fileError{file: d.file, line: line, field: at, msg: "give reference (pull), context (build) or load (a docker save tarball)"}
	case given == "":
		obj["source"] = implied
	}
	if s := obj["source"].(string); s != "reference" && s != "build" && s != "load" {
		return &fileError{file: d.file, line: line, field: at + ".source", msg: "want reference, build or load"}
	}
	return nil
}

func (d *nodeDecoder) fail(n *yaml.Node, at, format string, args ...any) error {
	return &fileError{file: d.file, line: n.Line, field: at, msg: fmt.Sprintf(format, args...)}
}

// value decodes n as a value of type t found at field path at.
func (d *nodeDecoder) value(n *yaml.Node, t reflect.Type, at string) (any, error) {
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() == reflect.Interface { // free-form JSON (workflow steps, inputs, event data)
		return d.anyValue(n, at)
	}
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return nil, d.fail(n, at, "is null; leave the field out instead")
	}
	switch t.Kind() {
	case reflect.Struct:
		return d.object(n, t, at)
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			return nil, d.fail(n, at, "want a mapping of names to values, not %s", nodeKind(n))
		}
		out := map[string]any{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if k.Kind != yaml.ScalarNode {
				return nil, d.fail(k, at, "a key must be a string")
			}
			if _, dup := out[k.Value]; dup {
				return nil, d.fail(k, at, "key %q appears twice", k.Value)
			}
			c, err := d.value(v, t.Elem(), at+"."+k.Value)
			if err != nil {
				return nil, err
			}
			out[k.Value] = c
		}
		return out, nil
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			if t.Elem().Kind() == reflect.String && n.Kind == yaml.ScalarNode && t != reflect.TypeFor[[]any]() {
				return nil, d.fail(n, at, "want a list (write [%s])", n.Value)
			}
			return nil, d.fail(n, at, "want a list, not %s", nodeKind(n))
		}
		out := make([]any, 0, len(n.Content))
		for i, e := range n.Content {
			c, err := d.value(e, t.Elem(), fmt.Sprintf("%s[%d]", at, i))
			if err != nil {
				return nil, err
			}
			out = append(out, c)
		}
		return out, nil
	case reflect.String:
		if n.Kind != yaml.ScalarNode {
			return nil, d.fail(n, at, "want a string, not %s", nodeKind(n))
		}
		if n.Tag == "!!int" || n.Tag == "!!float" || n.Tag == "!!bool" {
			return nil, d.fail(n, at, "want a string, not %s (quote it: %q)", nodeKind(n), n.Value)
		}
		return n.Value, nil
	case reflect.Int64:
		if n.Kind != yaml.ScalarNode || n.Tag != "!!int" {
			return nil, d.fail(n, at, "want an integer, not %s", nodeKind(n))
		}
		i, err := strconv.ParseInt(n.Value, 0, 64)
		if err != nil {
			return nil, d.fail(n, at, "want an integer: %v", err)
		}
		return float64(i), nil
	case reflect.Float64:
		if n.Kind != yaml.ScalarNode || (n.Tag != "!!int" && n.Tag != "!!float") {
			return nil, d.fail(n, at, "want a number, not %s", nodeKind(n))
		}
		var f float64
		if err := n.Decode(&f); err != nil {
			return nil, d.fail(n, at, "want a number: %v", err)
		}
		return f, nil
	case reflect.Bool:
		if n.Kind != yaml.ScalarNode || n.Tag != "!!bool" {
			return nil, d.fail(n, at, "want true or false, not %s", nodeKind(n))
		}
		var b bool
		if err := n.Decode(&b); err != nil {
			return nil, d.fail(n, at, "want true or false: %v", err)
		}
		return b, nil
	}
	return nil, d.fail(n, at, "unsupported field type %s", t)
}

// object decodes a mapping into the fields of struct type t: unknown keys and missing
// required fields are errors.
func (d *nodeDecoder) object(n *yaml.Node, t reflect.Type, at string) (map[string]any, error) {
	if n.Kind != yaml.MappingNode {
		return nil, d.fail(n, at, "want a mapping (key: value lines), not %s", nodeKind(n))
	}
	fields := schemaFields(t)
	out := map[string]any{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		f, ok := fieldNamed(fields, k.Value)
		if !ok {
			return nil, d.fail(k, joinPath(at, k.Value), "unknown field (%s has %s)", orWhat(at), strings.Join(fieldNames(fields), ", "))
		}
		if _, dup := out[f.name]; dup {
			return nil, d.fail(k, joinPath(at, k.Value), "given twice")
		}
		c, err := d.value(v, f.typ, joinPath(at, f.name))
		if err != nil {
			return nil, err
		}
		out[f.name] = c
	}
	for _, f := range fields {
		if f.required {
			if v, ok := out[f.name]; !ok || v == "" {
				return nil, d.fail(n, joinPath(at, f.name), "required")
			}
		}
	}
	return out, nil
}

// anyValue decodes free-form YAML into JSON values.
func (d *nodeDecoder) anyValue(n *yaml.Node, at string) (any, error) {
	var v any
	if err := n.Decode(&v); err != nil {
		return nil, d.fail(n, at, "%v", err)
	}
	j, err := yamlToJSON(v, at)
	if err != nil {
		return nil, d.fail(n, at, "%v", err)
	}
	return normalizeJSON(j)
}

// normalizeJSON makes v the value encoding/json would decode from v's JSON (numbers
// float64), so that values from the file and from the server compare.
func normalizeJSON(v any) (any, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	var out any
	err = json.Unmarshal(b, &out)
	return out, err
}

// schemaField is one field of a schema struct.
type schemaField struct {
	name      string
	typ       reflect.Type
	required  bool
	writeOnly bool
	fileOnly  bool
}

// schemaFields lists the fields of schema struct t in order.
func schemaFields(t reflect.Type) []schemaField {
	out := make([]schemaField, 0, t.NumField())
	for i := range t.NumField() {
		sf := t.Field(i)
		tag := sf.Tag.Get("apply")
		out = append(out, schemaField{
			name: sf.Tag.Get("yaml"), typ: sf.Type,
			required: tag == "required", writeOnly: tag == "writeonly", fileOnly: tag == "file",
		})
	}
	return out
}

func fieldNamed(fields []schemaField, name string) (schemaField, bool) {
	for _, f := range fields {
		if f.name == name {
			return f, true
		}
	}
	return schemaField{}, false
}

func fieldNames(fields []schemaField) []string {
	out := make([]string, len(fields))
	for i, f := range fields {
		out[i] = f.name
	}
	return out
}

func joinPath(at, name string) string {
	if at == "" {
		return name
	}
	return at + "." + name
}

func orWhat(at string) string {
	if at == "" {
		return "a project file"
	}
	return at
}

// nodeKind names what n holds, for messages.
func nodeKind(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		switch n.Tag {
		case "!!int":
			return "an integer (" + n.Value + ")"
		case "!!float":
			return "a number (" + n.Value + ")"
		case "!!bool":
			return "a boolean (" + n.Value + ")"
		case "!!null":
			return "null"
		}
		return fmt.Sprintf("a string (%q)", n.Value)
	}
	return "an unknown node"
}
