package main

// This file reads func.yaml, the file `gantry deploy` deploys a function from: its
// name (the image's and, by default, the app's), the route it gets, and how it is built.

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	oaierrors "github.com/go-openapi/errors"
	"github.com/go-openapi/strfmt"
	yaml "go.yaml.in/yaml/v3"

	"github.com/gantry-dev/gantry/gen/models"
	"github.com/gantry-dev/gantry/store"
)

// funcFileName is the file `gantry deploy` reads in the function's directory.
const funcFileName = "func.yaml"

// Build runtimes `build: runtime:` takes.
const runtimeGo = "go"

// funcFile is a parsed func.yaml.
type funcFile struct {
	Name           string
	App            string
	Path           string
	Format         string
	Type           string
	Memory         *int64
	CPUs           *float64
	Timeout        *int64 // seconds
	IdleTimeout    *int64 // seconds
	MaxConcurrency *int64
	MaxRetries     *int64
	Config         map[string]string
	Headers        map[string][]string
	Secrets        []string
	Network        string
	Auth           string
	Build          funcBuild
}

// funcBuild is func.yaml's `build:`: exactly one of Runtime and Dockerfile.
type funcBuild struct {
	Runtime    string // "go": the CLI compiles the function and packs it FROM scratch (or FROM the base)
	Dockerfile string // the Dockerfile's path in the function's directory, which is the build context
	Base       string // "@NAME": the base image, the build argument BASE_IMAGE
	Network    string // the network of the build's RUN steps: none (server default) or bridge
}

// funcFileError is an error about one place in a func.yaml.
type funcFileError struct {
	File string
	Line int // 0: the file as a whole
	Msg  string
}

func (e *funcFileError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
	}
	return e.File + ": " + e.Msg
}

// funcFileKeys are the top-level keys of func.yaml, in the order help lists them.
var funcFileKeys = []string{"name", "app", "path", "format", "type", "memory", "cpus", "timeout",
	"idle_timeout", "max_concurrency", "max_retries", "config", "headers", "secrets", "network", "auth", "build"}

// funcBuildKeys are the keys of func.yaml's build mapping.
var funcBuildKeys = []string{"runtime", "dockerfile", "base", "network"}

// readFuncFile reads and checks dir/func.yaml.
func readFuncFile(dir string) (*funcFile, error) {
	file := filepath.Join(dir, funcFileName)
	b, err := os.ReadFile(file) //nolint:gosec // G304: the user names the directory to deploy
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("%s not found: is %s a function directory? (gantry init makes one)", file, dir)
		}
		return nil, fmt.Errorf("read %s: %w", file, err)
	}
	return parseFuncFile(file, b)
}

// parseFuncFile parses func.yaml's content b; file names it in errors, which carry the
// line of the key at fault.
func parseFuncFile(file string, b []byte) (*funcFile, error) {
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, &funcFileError{File: file, Msg: "empty file; it needs at least a name and a build"}
		}
		return nil, yamlSyntaxError(file, err)
	}
	var more yaml.Node
	if err := dec.Decode(&more); !errors.Is(err, io.EOF) {
		return nil, &funcFileError{File: file, Line: more.Line, Msg: "a second YAML document; func.yaml holds one"}
	}
	root := &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	if root.Kind != yaml.MappingNode {
		return nil, &funcFileError{File: file, Line: root.Line, Msg: "func.yaml must be a mapping of keys (name:, build:, ...)"}
	}
	p := funcFileParser{file: file, lines: map[string]int{}}
	f := &funcFile{}
	if err := p.top(root, f); err != nil {
		return nil, err
	}
	if err := p.check(f); err != nil {
		return nil, err
	}
	return f, nil
}

// funcFileParser decodes func.yaml's nodes, remembering the line of each key.
type funcFileParser struct {
	file  string
	lines map[string]int // "memory", "build.runtime": the line of the key
}

func (p *funcFileParser) errAt(line int, format string, args ...any) error {
	return &funcFileError{File: p.file, Line: line, Msg: fmt.Sprintf(format, args...)}
}

// errKey is an error about the key k (its line, or the file's when absent).
func (p *funcFileParser) errKey(k string, format string, args ...any) error {
	return p.errAt(p.lines[k], format, args...)
}

// each calls fn for every key of mapping m, refusing unknown and repeated keys.
func (p *funcFileParser) each(m *yaml.Node, prefix string, known []string, fn func(key string, v *yaml.Node) error) error {
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := m.Content[i], m.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			return p.errAt(k.Line, "a key must be a plain name")
		}
		if !slices.Contains(known, k.Value) {
			return p.errAt(k.Line, "unknown key %q (known: %s)", prefix+k.Value, strings.Join(known, ", "))
		}
		if _, dup := p.lines[prefix+k.Value]; dup {
			return p.errAt(k.Line, "key %q given twice", prefix+k.Value)
		}
		p.lines[prefix+k.Value] = k.Line
		if err := fn(k.Value, v); err != nil {
			return err
		}
	}
	return nil
}

func (p *funcFileParser) top(root *yaml.Node, f *funcFile) error {
	return p.each(root, "", funcFileKeys, func(key string, v *yaml.Node) error {
		switch key {
		case "name":
			return p.str(key, v, &f.Name)
		case "app":
			return p.str(key, v, &f.App)
		case "path":
			return p.str(key, v, &f.Path)
		case "format":
			return p.str(key, v, &f.Format)
		case "type":
			return p.str(key, v, &f.Type)
		case "network":
			return p.str(key, v, &f.Network)
		case "auth":
			return p.str(key, v, &f.Auth)
		case "memory":
			return p.integer(key, v, &f.Memory)
		case "max_concurrency":
			return p.integer(key, v, &f.MaxConcurrency)
		case "max_retries":
			return p.integer(key, v, &f.MaxRetries)
		case "timeout":
			return p.seconds(key, v, &f.Timeout)
		case "idle_timeout":
			return p.seconds(key, v, &f.IdleTimeout)
		case "cpus":
			var c float64
			if v.Kind != yaml.ScalarNode || v.Decode(&c) != nil {
				return p.errAt(v.Line, "%s: want a number of cores, such as 0.5", key)
			}
			f.CPUs = &c
			return nil
		case "config":
			return p.config(key, v, &f.Config)
		case "headers":
			return p.headers(key, v, &f.Headers)
		case "secrets":
			return p.strings(key, v, &f.Secrets)
		case "build":
			if v.Kind != yaml.MappingNode {
				return p.errAt(v.Line, "build: want a mapping, such as build: {runtime: go}")
			}
			return p.build(v, &f.Build)
		}
		return nil
	})
}

func (p *funcFileParser) build(m *yaml.Node, b *funcBuild) error {
	return p.each(m, "build.", funcBuildKeys, func(key string, v *yaml.Node) error {
		k := "build." + key
		switch key {
		case "runtime":
			return p.str(k, v, &b.Runtime)
		case "dockerfile":
			return p.str(k, v, &b.Dockerfile)
		case "base":
			return p.str(k, v, &b.Base)
		case "network":
			return p.str(k, v, &b.Network)
		}
		return nil
	})
}

// str decodes a string scalar.
func (p *funcFileParser) str(key string, v *yaml.Node, dst *string) error {
	if v.Kind != yaml.ScalarNode || v.Tag == "!!null" {
		return p.errAt(v.Line, "%s: want a string", key)
	}
	*dst = v.Value
	return nil
}

// integer decodes a whole number.
func (p *funcFileParser) integer(key string, v *yaml.Node, dst **int64) error {
	n, err := strconv.ParseInt(v.Value, 10, 64)
	if v.Kind != yaml.ScalarNode || err != nil {
		return p.errAt(v.Line, "%s: want a whole number, got %q", key, v.Value)
	}
	*dst = &n
	return nil
}

// seconds decodes a duration: whole seconds (30) or a Go duration of whole seconds (30s, 2m).
func (p *funcFileParser) seconds(key string, v *yaml.Node, dst **int64) error {
	if v.Kind == yaml.ScalarNode {
		if n, err := strconv.ParseInt(v.Value, 10, 64); err == nil {
			*dst = &n
			return nil
		}
		if d, err := time.ParseDuration(v.Value); err == nil && d%time.Second == 0 {
			n := int64(d / time.Second)
			*dst = &n
			return nil
		}
	}
	return p.errAt(v.Line, "%s: want whole seconds, such as 30 or 30s or 2m, got %q", key, v.Value)
}

// config decodes a mapping of names to string values (numbers and booleans are taken as written).
func (p *funcFileParser) config(key string, v *yaml.Node, dst *map[string]string) error {
	if v.Kind != yaml.MappingNode {
		return p.errAt(v.Line, "%s: want a mapping of NAME: value", key)
	}
	out := make(map[string]string, len(v.Content)/2)
	for i := 0; i+1 < len(v.Content); i += 2 {
		k, val := v.Content[i], v.Content[i+1]
		if k.Kind != yaml.ScalarNode || k.Value == "" {
			return p.errAt(k.Line, "%s: a key must be a non-empty name", key)
		}
		if val.Kind != yaml.ScalarNode || val.Tag == "!!null" {
			return p.errAt(val.Line, "%s.%s: want a value (quote it to be sure it is taken as written)", key, k.Value)
		}
		if _, dup := out[k.Value]; dup {
			return p.errAt(k.Line, "%s.%s given twice", key, k.Value)
		}
		out[k.Value] = val.Value
	}
	*dst = out
	return nil
}

// headers decodes a mapping of header names to a value or a list of values.
func (p *funcFileParser) headers(key string, v *yaml.Node, dst *map[string][]string) error {
	if v.Kind != yaml.MappingNode {
		return p.errAt(v.Line, "%s: want a mapping of Name: value (or a list of values)", key)
	}
	out := make(map[string][]string, len(v.Content)/2)
	for i := 0; i+1 < len(v.Content); i += 2 {
		k, val := v.Content[i], v.Content[i+1]
		if k.Kind != yaml.ScalarNode || k.Value == "" {
			return p.errAt(k.Line, "%s: a key must be a non-empty header name", key)
		}
		var vals []string
		if val.Kind == yaml.ScalarNode && val.Tag != "!!null" {
			vals = []string{val.Value}
		} else if err := p.strings(key+"."+k.Value, val, &vals); err != nil {
			return err
		}
		out[k.Value] = vals
	}
	*dst = out
	return nil
}

// strings decodes a list of strings.
func (p *funcFileParser) strings(key string, v *yaml.Node, dst *[]string) error {
	if v.Kind != yaml.SequenceNode {
		return p.errAt(v.Line, "%s: want a list, such as [a, b]", key)
	}
	out := make([]string, 0, len(v.Content))
	for _, e := range v.Content {
		if e.Kind != yaml.ScalarNode || e.Tag == "!!null" || e.Value == "" {
			return p.errAt(e.Line, "%s: want non-empty strings in the list", key)
		}
		out = append(out, e.Value)
	}
	*dst = out
	return nil
}

// check fills in defaults and checks what the server would refuse, so that the error
// names the line; the server checks again.
func (p *funcFileParser) check(f *funcFile) error {
	switch {
	case f.Name == "":
		return p.errKey("name", "name is missing: the function's name (its image's name, and its app's and path's by default)")
	case !store.ValidImageName(f.Name):
		return p.errKey("name", "name %q: want lower-case letters and digits, separated by one '.', one or two '_' or dashes, at most 63", f.Name)
	}
	if f.App == "" {
		f.App = f.Name
	}
	if f.Path == "" {
		f.Path = "/" + f.Name
	}
	if f.Format == "" {
		f.Format = "default"
	}
	if !slices.Contains([]string{"default", "http", "json"}, f.Format) {
		return p.errKey("format", "format %q: want default, http or json", f.Format)
	}
	if f.Type != "" && f.Type != "sync" && f.Type != "async" {
		return p.errKey("type", "type %q: want sync or async", f.Type)
	}
	if f.Auth != "" && f.Auth != "none" && f.Auth != "token" {
		return p.errKey("auth", "auth %q: want none or token", f.Auth)
	}
	if f.Network == "none" && f.Format == "http" {
		return p.errKey("network", "network none: an http function must be reachable over the network")
	}
	if err := p.checkBuild(&f.Build); err != nil {
		return err
	}
	route := f.route("@" + f.Name)
	if err := route.Validate(strfmt.Default); err != nil {
		return p.validationError(err)
	}
	app := models.App{Name: f.App}
	if err := app.Validate(strfmt.Default); err != nil {
		return p.errKey("app", "app %q: want letters, digits, '_' and '-', at most 255", f.App)
	}
	return nil
}

func (p *funcFileParser) checkBuild(b *funcBuild) error {
	if _, has := p.lines["build"]; !has {
		return p.errAt(0, "build is missing: say how to build the function, build: {runtime: go} or build: {dockerfile: Dockerfile}")
	}
	switch {
	case b.Runtime != "" && b.Dockerfile != "":
		return p.errKey("build.dockerfile", "build: give runtime or dockerfile, not both")
	case b.Runtime == "" && b.Dockerfile == "":
		return p.errKey("build", "build: give runtime: go or dockerfile: PATH")
	case b.Runtime != "" && b.Runtime != runtimeGo:
		return p.errKey("build.runtime", "build.runtime %q: the runtime the CLI builds is go (use a Dockerfile for others)", b.Runtime)
	}
	if b.Dockerfile != "" {
		clean := filepath.ToSlash(filepath.Clean(b.Dockerfile))
		if filepath.IsAbs(b.Dockerfile) || clean == ".." || strings.HasPrefix(clean, "../") {
			return p.errKey("build.dockerfile", "build.dockerfile %q: want a path inside the function's directory", b.Dockerfile)
		}
		b.Dockerfile = clean
	}
	if name, ok := strings.CutPrefix(b.Base, "@"); b.Base != "" && (!ok || !store.ValidImageName(name)) {
		return p.errKey("build.base", "build.base %q: want @NAME, an image Gantry manages", b.Base)
	}
	if b.Network != "" && b.Network != "none" && b.Network != "bridge" {
		return p.errKey("build.network", "build.network %q: want none or bridge", b.Network)
	}
	return nil
}

// validationError turns the route model's validation error into one at the line of the
// first field it names.
func (p *funcFileParser) validationError(err error) error {
	var errs []error
	var composite *oaierrors.CompositeError
	if errors.As(err, &composite) {
		errs = composite.Errors
	} else {
		errs = []error{err}
	}
	for _, e := range errs {
		var v *oaierrors.Validation
		if errors.As(e, &v) {
			key, _, _ := strings.Cut(v.Name, ".")
			return p.errKey(key, "%s", strings.Replace(e.Error(), " in body", "", 1))
		}
	}
	return p.errAt(0, "%s", err.Error())
}

// yamlLineRe finds the line in the YAML parser's message.
var yamlLineRe = regexp.MustCompile(`^(?:yaml: )?line (\d+): (.*)$`)

// yamlSyntaxError is the YAML parser's err as file:line: message.
func yamlSyntaxError(file string, err error) error {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	if m := yamlLineRe.FindStringSubmatch(err.Error()); m != nil {
		line, _ := strconv.Atoi(m[1])
		return &funcFileError{File: file, Line: line, Msg: m[2]}
	}
	return &funcFileError{File: file, Msg: msg}
}

// route is the route func.yaml describes, running image.
func (f *funcFile) route(image string) *models.Route {
	return &models.Route{
		Path:           f.Path,
		Image:          image,
		Format:         f.Format,
		Type:           f.Type,
		Memory:         f.Memory,
		Cpus:           f.CPUs,
		Timeout:        f.Timeout,
		IdleTimeout:    f.IdleTimeout,
		MaxConcurrency: f.MaxConcurrency,
		MaxRetries:     f.MaxRetries,
		Config:         f.Config,
		Headers:        f.Headers,
		Secrets:        f.Secrets,
		Network:        f.Network,
		Auth:           f.Auth,
	}
}
