package main

// This file holds `gantry export`: the project file of what the caller owns, such that
// `gantry apply` of it changes nothing.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"reflect"
	"sort"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	yaml "go.yaml.in/yaml/v3"
)

func newExportCmd(cf *clientFlags) *cobra.Command {
	var file, format string
	cmd := &cobra.Command{
		Use:   "export [-f FILE] [--format yaml|json]",
		Short: "Write the project file of what you own (apps, routes, APIs, workflows, subscriptions, schedules)",
		Long: "Write the project file of what you own, for `gantry apply`: applying it changes nothing.\n" +
			"Fields the server sets (owner, timestamps, versions, next runs) and empty values are left out;\n" +
			"every other field is written as the server holds it. API users' passwords are never\n" +
			"returned by the server, so the users are written without them.\n" +
			"The format is --format, else json for a FILE ending in .json, else yaml.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			format, err := projectFormat(format, file)
			if err != nil {
				return err
			}
			s, err := cf.session(cmd)
			if err != nil {
				return err
			}
			st, err := s.readState(cmd.Context())
			if err != nil {
				return err
			}
			return writeProject(cmd, st, "gantry export", format, file)
		},
	}
	cmd.Flags().StringVarP(&file, "file", "f", "", `where to write ("-" or none: stdout)`)
	cmd.Flags().StringVar(&format, "format", "", "yaml or json")
	return cmd
}

// projectFormat is the format of a project file written: --format, else json for a FILE
// ending in .json, else yaml.
func projectFormat(format, file string) (string, error) {
	if format == "" {
		format = "yaml"
		if strings.HasSuffix(file, ".json") {
			format = "json"
		}
	}
	if format != "yaml" && format != "json" {
		return "", fmt.Errorf("--format %q: want yaml or json", format)
	}
	return format, nil
}

// writeProject writes st as a project file, made by the command by, to file ("" or "-":
// stdout).
func writeProject(cmd *cobra.Command, st state, by, format, file string) error {
	b, err := encodeProjectBy(exportDocument(st), format, by)
	if err != nil {
		return err
	}
	if file == "" || file == "-" {
		_, err = cmd.OutOrStdout().Write(b)
		return err
	}
	return os.WriteFile(file, b, 0o600)
}

// orderedObj is a JSON object (YAML mapping) whose keys keep their order.
type orderedObj []orderedField

type orderedField struct {
	key string
	val any
}

func (o orderedObj) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, f := range o {
		if i > 0 {
			b.WriteByte(',')
		}
		k, err := json.Marshal(f.key)
		if err != nil {
			return nil, err
		}
		v, err := json.Marshal(f.val)
		if err != nil {
			return nil, err
		}
		b.Write(k)
		b.WriteByte(':')
		b.Write(v)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// exportDocument is the project file of st: sections in the file's order, each sorted by
// key, routes under their app.
func exportDocument(st state) orderedObj {
	byApp := map[string][]any{}
	for _, key := range sortedKeys(st[kindRoute]) {
		app, _ := splitRouteKey(key)
		byApp[app] = append(byApp[app], map[string]any(st[kindRoute][key]))
	}
	var doc orderedObj
	t := reflect.TypeFor[projectFile]()
	for _, ki := range kinds {
		if ki.section == "" {
			continue
		}
		keys := sortedKeys(st[ki.name])
		if ki.name == kindImage {
			keys = basesFirst(keys, st[kindImage])
		}
		var list []any
		for _, key := range keys {
			v := map[string]any{}
			for k, x := range st[ki.name][key] {
				v[k] = x
			}
			if ki.name == kindApp && len(byApp[key]) > 0 {
				v["routes"] = byApp[key]
			}
			list = append(list, v)
		}
		if len(list) == 0 {
			continue
		}
		f, _ := fieldNamed(schemaFields(t), ki.section)
		doc = append(doc, orderedField{ki.section, ordered(list, f.typ)})
	}
	return doc
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// ordered turns JSON values of schema type t into ones that keep the schema's field order
// (maps sorted by key) and hold integers where the schema has them.
func ordered(v any, t reflect.Type) any {
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch x := v.(type) {
	case map[string]any:
		var out orderedObj
		switch t.Kind() {
		case reflect.Struct:
			for _, f := range schemaFields(t) {
				if fv, ok := x[f.name]; ok {
					out = append(out, orderedField{f.name, ordered(fv, f.typ)})
				}
			}
		case reflect.Map:
			for _, k := range sortedKeys(x) {
				out = append(out, orderedField{k, ordered(x[k], t.Elem())})
			}
		default: // free-form (a workflow's steps): sorted, but a name first
			keys := sortedKeys(x)
			sort.SliceStable(keys, func(i, j int) bool { return keys[i] == "name" && keys[j] != "name" })
			for _, k := range keys {
				out = append(out, orderedField{k, ordered(x[k], t)})
			}
		}
		return out
	case []any:
		elem := t
		if t.Kind() == reflect.Slice {
			elem = t.Elem()
		}
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = ordered(e, elem)
		}
		return out
	case float64:
		if x == math.Trunc(x) && math.Abs(x) < 1<<53 && t.Kind() != reflect.Float64 {
			return int64(x)
		}
		return x
	default:
		return v
	}
}

// encodeProject writes doc as YAML or JSON.
func encodeProject(doc orderedObj, format string) ([]byte, error) {
	return encodeProjectBy(doc, format, "gantry export")
}

// encodeProjectBy is encodeProject of a file the command by wrote (its YAML head comment).
func encodeProjectBy(doc orderedObj, format, by string) ([]byte, error) {
	if format == "json" {
		b, err := json.MarshalIndent(doc, "", "  ")
		if err != nil {
			return nil, err
		}
		return append(b, '\n'), nil
	}
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	node := yamlNode(doc)
	node.HeadComment = "Written by " + by + "; gantry apply -f FILE of it changes nothing."
	if len(doc) == 0 {
		node = &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Style: yaml.FlowStyle, HeadComment: node.HeadComment}
	}
	if err := enc.Encode(node); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// yamlNode turns an ordered value into a YAML node.
func yamlNode(v any) *yaml.Node {
	switch x := v.(type) {
	case orderedObj:
		n := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
		for _, f := range x {
			n.Content = append(n.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: f.key}, yamlNode(f.val))
		}
		return n
	case []any:
		n := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq", Style: yaml.FlowStyle} // [a, b] while all are scalars
		for _, e := range x {
			c := yamlNode(e)
			if c.Kind != yaml.ScalarNode || c.Style == yaml.LiteralStyle {
				n.Style = 0
			}
			n.Content = append(n.Content, c)
		}
		return n
	case string:
		n := &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: x}
		if strings.Contains(x, "\n") {
			n.Style = yaml.LiteralStyle
		}
		return n
	case int64:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!int", Value: strconv.FormatInt(x, 10)}
	case float64:
		s := strconv.FormatFloat(x, 'f', -1, 64)
		if !strings.ContainsAny(s, ".eE") {
			s += ".0"
		}
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!float", Value: s}
	case bool:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!bool", Value: strconv.FormatBool(x)}
	case nil:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null", Value: "null"}
	}
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: fmt.Sprint(v)}
}

// basesFirst orders image names so that an image comes after the image it is built on
// (its base "@NAME"), otherwise keeping the order of names.
func basesFirst(names []string, imgs map[string]spec) []string {
	out := make([]string, 0, len(names))
	done := map[string]bool{}
	var visit func(name string, depth int)
	visit = func(name string, depth int) {
		if done[name] || depth > len(names) { // a cycle cannot be built; stop anyway
			return
		}
		if base, _ := imgs[name]["base"].(string); strings.HasPrefix(base, "@") {
			if _, ours := imgs[base[1:]]; ours {
				visit(base[1:], depth+1)
			}
		}
		if !done[name] {
			done[name] = true
			out = append(out, name)
		}
	}
	for _, n := range names {
		visit(n, 0)
	}
	return out
}
