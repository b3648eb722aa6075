package main

import (
	"bytes"
	"context"
	"debug/elf"
	"errors"
	"go/format"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
)

// goCmd runs the go command in dir, offline and outside any workspace, and fails the test
// with its output when it fails.
func goCmd(t *testing.T, dir string, args ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GOPROXY=off", "GOWORK=off", "GOTOOLCHAIN=local")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go %s in %s: %v\n%s", strings.Join(args, " "), dir, err, out)
	}
}

func TestInitWritesAFunctionWhoseTestsPassForEveryFormat(t *testing.T) {
	for _, rt := range initRuntimes {
		for _, f := range initFormats {
			t.Run(rt+" "+f, func(t *testing.T) {
				dir := filepath.Join(t.TempDir(), "my-fn_"+f)
				files, err := writeFunctionDir(context.Background(), dir, rt, f, "")
				if err != nil {
					t.Fatal(err)
				}
				want := []string{"func.yaml", "go.mod", "main.go", "main_test.go"}
				if rt == "dockerfile" {
					want = append(want, "Dockerfile", ".dockerignore", ".gitignore")
				}
				if !slices.Equal(files, want) {
					t.Fatalf("files %v, want %v", files, want)
				}
				fn, err := readFuncFile(dir)
				if err != nil {
					t.Fatalf("the func.yaml init wrote does not parse: %v", err)
				}
				if fn.Name != "my-fn_"+f || fn.App != fn.Name || fn.Path != "/"+fn.Name || fn.Format != f {
					t.Fatalf("func.yaml: %+v", fn)
				}
				switch rt {
				case runtimeGo:
					if fn.Build.Runtime != runtimeGo || fn.Build.Dockerfile != "" {
						t.Fatalf("build: %+v", fn.Build)
					}
				default:
					if fn.Build.Dockerfile != "Dockerfile" || fn.Build.Runtime != "" {
						t.Fatalf("build: %+v", fn.Build)
					}
				}
				gomod, err := os.ReadFile(filepath.Join(dir, "go.mod"))
				if err != nil {
					t.Fatal(err)
				}
				if !strings.HasPrefix(string(gomod), "module my-fn_"+f+"\n\ngo 1.") || strings.Contains(string(gomod), "require") {
					t.Fatalf("go.mod:\n%s", gomod)
				}
				for _, name := range []string{"main.go", "main_test.go"} {
					src, err := os.ReadFile(filepath.Join(dir, name))
					if err != nil {
						t.Fatal(err)
					}
					if formatted, err := format.Source(src); err != nil || !bytes.Equal(formatted, src) {
						t.Fatalf("%s is not gofmt-formatted (%v)", name, err)
					}
				}
				goCmd(t, dir, "vet", "./...")
				goCmd(t, dir, "test", "-count=1", "./...")
			})
		}
	}
}

func TestInitTakesTheAppFlag(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "fn")
	if _, err := writeFunctionDir(context.Background(), dir, runtimeGo, "json", "shop"); err != nil {
		t.Fatal(err)
	}
	f, err := readFuncFile(dir)
	if err != nil || f.App != "shop" || f.Name != "fn" || f.Path != "/fn" {
		t.Fatalf("func.yaml with --app: %+v %v", f, err)
	}
}

func TestInitRefusesBadInputAndOverwritesNothing(t *testing.T) {
	base := t.TempDir()
	full := filepath.Join(base, "full")
	if err := os.MkdirAll(full, 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(full, "main.go"), []byte("mine"), 0o600); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(base, "empty")
	if err := os.MkdirAll(empty, 0o750); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, dir, rt, format, app, want string
	}{
		{"a directory with files", full, runtimeGo, "default", "", "exists and is not empty"},
		{"an unknown runtime", filepath.Join(base, "a"), "python", "default", "", `--runtime "python"`},
		{"an unknown format", filepath.Join(base, "b"), runtimeGo, "grpc", "", `--format "grpc"`},
		{"a name that cannot be an image's", filepath.Join(base, "Hello"), runtimeGo, "default", "", `function name "Hello"`},
		{"a bad app name", filepath.Join(base, "c"), runtimeGo, "default", "my app", `--app "my app"`},
	} {
		t.Run(tc.name+" is refused", func(t *testing.T) {
			_, err := writeFunctionDir(context.Background(), tc.dir, tc.rt, tc.format, tc.app)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error with %q", err, tc.want)
			}
		})
	}
	if b, err := os.ReadFile(filepath.Join(full, "main.go")); err != nil || string(b) != "mine" {
		t.Fatalf("the existing file changed: %q %v", b, err)
	}
	for _, d := range []string{"a", "b", "Hello", "c"} {
		if _, err := os.Stat(filepath.Join(base, d)); !os.IsNotExist(err) {
			t.Fatalf("a refused init left %s behind (%v)", d, err)
		}
	}
	if _, err := writeFunctionDir(context.Background(), empty, runtimeGo, "default", ""); err != nil {
		t.Fatalf("an existing empty directory: %v", err)
	}
}

func TestInitCommandExitsNonZeroOnAnExistingDirectory(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "x"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := gantryCmd(ctx, "init", "--runtime", "go", "--format", "http", dir).CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() == 0 || !strings.Contains(string(out), "exists and is not empty") {
		t.Fatalf("gantry init on a non-empty directory: %v: %s", err, out)
	}
}

func TestCompileGoMakesAStaticLinuxBinary(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "fn")
	if _, err := writeFunctionDir(context.Background(), dir, runtimeGo, "default", ""); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), goBinaryName)
	var log bytes.Buffer
	if err := compileGo(context.Background(), dir, bin, &log); err != nil {
		t.Fatalf("%v\n%s", err, log.String())
	}
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatalf("not an ELF binary: %v", err)
	}
	defer f.Close()
	if f.OSABI != elf.ELFOSABI_NONE && f.OSABI != elf.ELFOSABI_LINUX {
		t.Fatalf("OS ABI %v", f.OSABI)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Fatal("the binary has an interpreter: it is not static")
		}
	}
	machine := map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64}[runtime.GOARCH]
	if machine != 0 && f.Machine != machine {
		t.Fatalf("machine %v, want %v (GOARCH %s)", f.Machine, machine, runtime.GOARCH)
	}

	// A function that does not compile says why.
	if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte("package main\nfunc main() { undefined() }\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	log.Reset()
	if err := compileGo(context.Background(), dir, bin, &log); err == nil || !strings.Contains(log.String(), "undefined") {
		t.Fatalf("a broken function: %v\n%s", err, log.String())
	}
}
