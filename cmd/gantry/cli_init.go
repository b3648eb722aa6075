package main

// This file holds `gantry init`: write a new function's directory — func.yaml, a Go
// function of the chosen format with its test, go.mod, and for the dockerfile runtime a
// Dockerfile — from the templates embedded under init_templates/.

import (
	"bytes"
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"text/template"

	"github.com/spf13/cobra"

	"github.com/gantry-dev/gantry/store"
)

//go:embed init_templates
var initTemplates embed.FS

// Runtimes and formats `gantry init` takes.
var (
	initRuntimes = []string{runtimeGo, "dockerfile"}
	initFormats  = []string{"default", "http", "json"}
)

// initData is what the templates see.
type initData struct {
	Name      string // the function's name: the directory's base name
	App       string
	Module    string // go.mod's module path
	GoVersion string // go.mod's go directive: the local toolchain's version
	Format    string
	Runtime   string
}

// initFile is one file init writes: the template it comes from and its name in the directory.
type initFile struct {
	template string // under init_templates/
	name     string
}

// initFiles lists the files of a function with runtime and format.
func initFiles(runtime, format string) []initFile {
	files := []initFile{
		{"common/func.yaml.tmpl", funcFileName},
		{"common/go.mod.tmpl", "go.mod"},
		{format + "/main.go.tmpl", "main.go"},
		{format + "/main_test.go.tmpl", "main_test.go"},
	}
	if runtime == "dockerfile" {
		files = append(files,
			initFile{"dockerfile/Dockerfile.tmpl", "Dockerfile"},
			initFile{"dockerfile/dockerignore.tmpl", ".dockerignore"},
			initFile{"dockerfile/gitignore.tmpl", ".gitignore"},
		)
	}
	return files
}

func newInitCmd() *cobra.Command {
	var rt, format, app string
	cmd := &cobra.Command{
		Use:   "init [--runtime go|dockerfile] [--format default|http|json] NAME",
		Short: "Write a new function's directory NAME: func.yaml, a Go function with its test, go.mod",
		Long: "Write a new function's directory NAME: func.yaml, a Go function of the format with its\n" +
			"test, and go.mod (the local Go toolchain's version, no dependencies). With --runtime go\n" +
			"`gantry deploy` compiles it; with --runtime dockerfile it also gets a Dockerfile that packs\n" +
			"a binary built beforehand FROM scratch (Gantry builds offline), a .dockerignore and a\n" +
			".gitignore. The directory's base name is the function's name, its image's and, unless\n" +
			"--app is given, its app's. NAME must not exist, or be empty.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir := args[0]
			files, err := writeFunctionDir(cmd.Context(), dir, rt, format, app)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "Created %s: %s\n", dir, strings.Join(files, " "))
			fmt.Fprintf(out, "Next: (cd %s && go test ./...", dir)
			if rt == "dockerfile" {
				fmt.Fprint(out, " && CGO_ENABLED=0 GOOS=linux go build -trimpath -ldflags='-s -w' -o fn .")
			}
			fmt.Fprintf(out, ") && gantry deploy %s\n", dir)
			return nil
		},
	}
	cmd.Flags().StringVar(&rt, "runtime", runtimeGo, "how deploy builds it: go (compiled by the CLI) or dockerfile")
	cmd.Flags().StringVar(&format, "format", "default", "function format: default, http or json")
	cmd.Flags().StringVar(&app, "app", "", "the app it is deployed to (default: its name)")
	return cmd
}

// writeFunctionDir writes a new function into dir, which must not exist or be empty, and
// returns the names of the files written.
func writeFunctionDir(ctx context.Context, dir, rt, format, app string) ([]string, error) {
	if !slices.Contains(initRuntimes, rt) {
		return nil, fmt.Errorf("--runtime %q: want %s", rt, strings.Join(initRuntimes, " or "))
	}
	if !slices.Contains(initFormats, format) {
		return nil, fmt.Errorf("--format %q: want %s", format, strings.Join(initFormats, ", "))
	}
	name := filepath.Base(filepath.Clean(dir))
	if !store.ValidImageName(name) {
		return nil, fmt.Errorf("function name %q (the directory's name): want lower-case letters and digits, separated by one '.', one or two '_' or dashes, at most 63", name)
	}
	if app == "" {
		app = name
	}
	if !appNameRe.MatchString(app) {
		return nil, fmt.Errorf("--app %q: want letters, digits, '_' and '-', at most 255", app)
	}
	goVersion, err := localGoVersion(ctx)
	if err != nil {
		return nil, err
	}
	data := initData{Name: name, App: app, Module: name, GoVersion: goVersion, Format: format, Runtime: rt}

	files := initFiles(rt, format)
	rendered := make([][]byte, len(files))
	for i, f := range files {
		if rendered[i], err = renderInitTemplate(f, data); err != nil {
			return nil, err
		}
	}

	created, err := makeEmptyDir(dir)
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(files))
	for i, f := range files {
		if err := os.WriteFile(filepath.Join(dir, f.name), rendered[i], 0o644); err != nil { //nolint:gosec // G306: source files, readable
			if created {
				_ = os.RemoveAll(dir)
			}
			return nil, fmt.Errorf("init %s: %w", dir, err)
		}
		names = append(names, f.name)
	}
	return names, nil
}

// appNameRe is what an app name may be (swagger: App.name).
var appNameRe = regexp.MustCompile(`^[A-Za-z0-9_-]{1,255}$`)

// renderInitTemplate executes one template.
func renderInitTemplate(f initFile, data initData) ([]byte, error) {
	src, err := fs.ReadFile(initTemplates, "init_templates/"+f.template)
	if err != nil {
		return nil, fmt.Errorf("init template %s: %w", f.template, err)
	}
	t, err := template.New(f.template).Option("missingkey=error").Parse(string(src))
	if err != nil {
		return nil, fmt.Errorf("init template %s: %w", f.template, err)
	}
	var b bytes.Buffer
	if err := t.Execute(&b, data); err != nil {
		return nil, fmt.Errorf("init template %s: %w", f.template, err)
	}
	return b.Bytes(), nil
}

// makeEmptyDir makes dir, or accepts it when it exists empty; it tells whether it made it.
func makeEmptyDir(dir string) (bool, error) {
	entries, err := os.ReadDir(dir)
	switch {
	case err == nil && len(entries) > 0:
		return false, fmt.Errorf("%s exists and is not empty: init writes a new function's directory and overwrites nothing", dir)
	case err == nil:
		return false, nil
	case !errors.Is(err, fs.ErrNotExist):
		return false, fmt.Errorf("init %s: %w", dir, err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil { //nolint:gosec // G301: a source directory
		return false, fmt.Errorf("init %s: %w", dir, err)
	}
	return true, nil
}

// goVersionRe takes go.mod's go directive out of a toolchain version: go1.26.8 → 1.26.8.
var goVersionRe = regexp.MustCompile(`^go(\d+\.\d+(?:\.\d+|rc\d+)?)`)

// localGoVersion is the version of the go command on PATH, as go.mod's go directive; when
// there is no go command, that of the toolchain that built this CLI.
func localGoVersion(ctx context.Context) (string, error) {
	v := runtime.Version()
	if out, err := exec.CommandContext(ctx, "go", "env", "GOVERSION").Output(); err == nil {
		v = strings.TrimSpace(string(out))
	}
	m := goVersionRe.FindStringSubmatch(v)
	if m == nil {
		return "", fmt.Errorf("init: cannot tell the Go version for go.mod from %q", v)
	}
	return m[1], nil
}
