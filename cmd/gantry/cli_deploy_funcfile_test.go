package main

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestParseFuncFileReadsEveryField(t *testing.T) {
	src := `# a comment
name: hello
app: myapp
path: /greet/:who
format: http
type: async
memory: 64
cpus: 0.5
timeout: 2m
idle_timeout: 45
max_concurrency: 3
max_retries: 2
config:
  GREETING: Hi
  COUNT: 3
headers:
  X-One: a
  X-Two: [b, c]
secrets: [db, "ssh:alice"]
network: bridge
auth: token
build:
  dockerfile: ./docker/Dockerfile
  base: "@go-runtime"
  network: bridge
`
	f, err := parseFuncFile("func.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	i := func(v int64) *int64 { return &v }
	c := 0.5
	want := &funcFile{
		Name: "hello", App: "myapp", Path: "/greet/:who", Format: "http", Type: "async",
		Memory: i(64), CPUs: &c, Timeout: i(120), IdleTimeout: i(45), MaxConcurrency: i(3), MaxRetries: i(2),
		Config:  map[string]string{"GREETING": "Hi", "COUNT": "3"},
		Headers: map[string][]string{"X-One": {"a"}, "X-Two": {"b", "c"}},
		Secrets: []string{"db", "ssh:alice"}, Network: "bridge", Auth: "token",
		Build: funcBuild{Dockerfile: "docker/Dockerfile", Base: "@go-runtime", Network: "bridge"},
	}
	if !reflect.DeepEqual(f, want) {
		t.Fatalf("got  %+v\nwant %+v", f, want)
	}
	r := f.route("@hello")
	if r.Image != "@hello" || r.Path != "/greet/:who" || *r.Timeout != 120 || r.Auth != "token" || r.Config["COUNT"] != "3" {
		t.Fatalf("route: %+v", r)
	}
}

func TestParseFuncFileDefaultsAppPathAndFormatToTheName(t *testing.T) {
	f, err := parseFuncFile("func.yaml", []byte("name: hello\nbuild:\n  runtime: go\n"))
	if err != nil {
		t.Fatal(err)
	}
	if f.App != "hello" || f.Path != "/hello" || f.Format != "default" || f.Build.Runtime != "go" || f.Memory != nil {
		t.Fatalf("defaults: %+v", f)
	}
}

func TestParseFuncFileErrorsNameTheFileLineAndKey(t *testing.T) {
	for _, tc := range []struct {
		name, src, want string
	}{
		{"an unknown key", "name: a\nbuild: {runtime: go}\nmemroy: 64\n", `func.yaml:3: unknown key "memroy"`},
		{"an unknown build key", "name: a\nbuild:\n  runtime: go\n  dockrefile: x\n", `func.yaml:4: unknown key "build.dockrefile"`},
		{"a repeated key", "name: a\nname: b\nbuild: {runtime: go}\n", `func.yaml:2:`},
		{"memory that is not a number", "name: a\nmemory: lots\nbuild: {runtime: go}\n", `func.yaml:2: memory: want a whole number`},
		{"memory over the limit", "name: a\nbuild: {runtime: go}\nmemory: 100000\n", `func.yaml:3: memory`},
		{"a timeout in fractions of seconds", "name: a\ntimeout: 1.5s\nbuild: {runtime: go}\n", `func.yaml:2: timeout: want whole seconds`},
		{"an unknown format", "name: a\nbuild: {runtime: go}\nformat: grpc\n", `func.yaml:3: format "grpc"`},
		{"an unknown type", "name: a\ntype: later\nbuild: {runtime: go}\n", `func.yaml:2: type "later"`},
		{"an unknown auth", "name: a\nauth: maybe\nbuild: {runtime: go}\n", `func.yaml:2: auth "maybe"`},
		{"an http function without network", "name: a\nformat: http\nnetwork: none\nbuild: {runtime: go}\n", `func.yaml:3: network none`},
		{"a path without a slash", "name: a\npath: hello\nbuild: {runtime: go}\n", `func.yaml:2: path`},
		{"a bad app name", "name: a\napp: my app\nbuild: {runtime: go}\n", `func.yaml:2: app "my app"`},
		{"config that is not a mapping", "name: a\nconfig: [A]\nbuild: {runtime: go}\n", `func.yaml:2: config: want a mapping`},
		{"secrets that are not a list", "name: a\nsecrets: db\nbuild: {runtime: go}\n", `func.yaml:2: secrets: want a list`},
		{"a missing name", "build: {runtime: go}\n", `func.yaml: name is missing`},
		{"an upper-case name", "name: Hello\nbuild: {runtime: go}\n", `func.yaml:1: name "Hello"`},
		{"a name Docker cannot tag", "name: hello-\nbuild: {runtime: go}\n", `func.yaml:1: name "hello-"`},
		{"a base Docker cannot tag", "name: a\nbuild:\n  runtime: go\n  base: \"@a..b\"\n", `func.yaml:4: build.base "@a..b"`},
		{"a missing build", "name: a\n", `func.yaml: build is missing`},
		{"an empty build", "name: a\nbuild: {}\n", `func.yaml:2: build: give runtime: go or dockerfile: PATH`},
		{"both runtime and dockerfile", "name: a\nbuild:\n  runtime: go\n  dockerfile: Dockerfile\n", `func.yaml:4: build: give runtime or dockerfile, not both`},
		{"another runtime", "name: a\nbuild:\n  runtime: python\n", `func.yaml:3: build.runtime "python"`},
		{"a Dockerfile outside the directory", "name: a\nbuild:\n  dockerfile: ../Dockerfile\n", `func.yaml:3: build.dockerfile "../Dockerfile"`},
		{"a base that is not @NAME", "name: a\nbuild:\n  runtime: go\n  base: golang:1.26\n", `func.yaml:4: build.base "golang:1.26"`},
		{"a build network other than none or bridge", "name: a\nbuild:\n  runtime: go\n  network: host\n", `func.yaml:4: build.network "host"`},
		{"a list instead of a mapping", "- name: a\n", `func.yaml:1: func.yaml must be a mapping`},
		{"an empty file", "", `func.yaml: empty file`},
		{"YAML that does not parse", "name: a\nbuild: x: y\n", `func.yaml:2: mapping values are not allowed`},
		{"two documents", "name: a\nbuild: {runtime: go}\n---\nname: b\n", `func.yaml:3: a second YAML document`},
	} {
		t.Run(tc.name+" is refused", func(t *testing.T) {
			_, err := parseFuncFile("func.yaml", []byte(tc.src))
			if err == nil {
				t.Fatalf("no error, want %q", tc.want)
			}
			if !strings.HasPrefix(err.Error(), tc.want) {
				t.Fatalf("error %q, want it to start with %q", err, tc.want)
			}
		})
	}
}

func TestReadFuncFileSaysWhenTheDirectoryHasNone(t *testing.T) {
	dir := t.TempDir()
	_, err := readFuncFile(dir)
	if err == nil || !strings.Contains(err.Error(), "gantry init") {
		t.Fatalf("got %v, want a hint at gantry init", err)
	}
	if err := os.WriteFile(filepath.Join(dir, funcFileName), []byte("name: x\nbuild: {runtime: go}\nfoo: 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = readFuncFile(dir)
	var fe *funcFileError
	if !errors.As(err, &fe) || fe.File != filepath.Join(dir, funcFileName) || fe.Line != 3 {
		t.Fatalf("got %v, want an error at %s:3", err, filepath.Join(dir, funcFileName))
	}
}
