package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/fnimage"
)

// cliResult is what a gantry CLI command did: its stdout, its stderr and its exit code.
type cliResult struct {
	stdout, stderr string
	code           int
}

// gantry runs a gantry CLI command against the server and tells what it did.
func (s *server) gantry(t *testing.T, args ...string) cliResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := gantryCmd(ctx, args...)
	cmd.Env = append(cmd.Env, "GANTRY_API_URL=http://"+s.addr, "GANTRY_DATA_DIR="+s.dataDir)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatalf("gantry %s: %v", strings.Join(args, " "), err)
	}
	return cliResult{stdout: stdout.String(), stderr: stderr.String(), code: cmd.ProcessState.ExitCode()}
}

// TestWorkflowsCLIWalkthrough runs the README's workflow walkthrough with the repository's
// example workflow over the example functions, against a real server and Docker.
func TestWorkflowsCLIWalkthrough(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	images := map[string]string{"hello": imgHello}
	for _, name := range []string{"hello-http", "hello-json"} {
		img, err := fnimage.Build(ctx, docker, name, "")
		if err != nil {
			t.Fatalf("build %s: %v", name, err)
		}
		images[name] = img
	}
	s := startServer(t, t.TempDir())
	s.cli(t, "apps", "create", "examples")
	s.cli(t, "routes", "create", "examples", "/hello", "--image", images["hello"])
	s.cli(t, "routes", "create", "examples", "/hello-http", "--image", images["hello-http"], "--format", "http")
	s.cli(t, "routes", "create", "examples", "/hello-json", "--image", images["hello-json"], "--format", "json")
	s.cli(t, "routes", "create", "examples", "/testfn", "--image", imgTestfn, "--timeout", "120")

	// Apply the example as YAML, then the same as JSON: a new version each time.
	example := filepath.Join("..", "..", "functions", "examples", "workflows", "pipeline.yaml")
	if out := s.cli(t, "workflows", "apply", "-f", example); out != "workflow \"pipeline\" created (version 1)\n" {
		t.Fatalf("apply YAML: %q", out)
	}
	w, err := readWorkflowFile(example, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(w)
	asJSONFile := filepath.Join(t.TempDir(), "pipeline.json")
	if err := os.WriteFile(asJSONFile, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if out := s.cli(t, "workflows", "apply", "-f", asJSONFile); out != "workflow \"pipeline\" updated (version 2)\n" {
		t.Fatalf("apply JSON: %q", out)
	}
	if out := s.cli(t, "workflows", "list"); !regexp.MustCompile(`(?m)^pipeline\s+2\s+4\s+admin\s+Greets a name`).MatchString(out) {
		t.Fatalf("list:\n%s", out)
	}
	out := s.cli(t, "workflows", "describe", "pipeline")
	for _, re := range []string{
		`(?m)^Version:\s+2$`, `(?m)^Run access:\s+authenticated$`, `(?m)^name\s+string\s+no\s+"World"\s+Who to greet$`,
		`(?m)^combined\s+\$\.steps\.combine\.output$`, `(?m)^combine\s+call\s+examples/hello\s+via_http,via_json\s+-$`,
	} {
		if !regexp.MustCompile(re).MatchString(out) {
			t.Errorf("describe lacks %s:\n%s", re, out)
		}
	}

	// Run it and wait: one line per event on stderr, the outputs on stdout, exit code 0.
	res := s.gantry(t, "workflows", "run", "pipeline", "--input", "name=Ada", "--wait")
	if res.code != 0 {
		t.Fatalf("run --wait: exit %d\n%s\n%s", res.code, res.stdout, res.stderr)
	}
	var outputs map[string]string
	if err := json.Unmarshal([]byte(res.stdout), &outputs); err != nil {
		t.Fatalf("run --wait printed %q: %v", res.stdout, err)
	}
	want := map[string]string{"greeting": "Hello Ada!", "http": "Hello Hello Ada!!", "json": "Hello Hello Ada!!", "combined": "Hello Hello Hello Ada!!!"}
	if !equalMaps(outputs, want) {
		t.Errorf("outputs %v, want %v", outputs, want)
	}
	id := regexp.MustCompile(`^execution (\w{26}) of workflow pipeline \(version 2\)\n`).FindStringSubmatch(res.stderr)
	if id == nil {
		t.Fatalf("stderr does not start with the execution:\n%s", res.stderr)
	}
	progress := []string{
		`#1 run queued`, `#2 run started`, `step prepare started \(attempt 1, call \w{26}\)`,
		`step prepare finished: SUCCESS`, `step via_http started`, `step via_json started`,
		`step via_http finished: SUCCESS`, `step via_json finished: SUCCESS`, `step combine finished: SUCCESS`,
		`#11 run finished: SUCCESS\n$`,
	}
	for _, re := range progress {
		if !regexp.MustCompile(re).MatchString(res.stderr) {
			t.Errorf("progress lacks %s:\n%s", re, res.stderr)
		}
	}
	if n := strings.Count(res.stderr, "\n"); n != 12 {
		t.Errorf("%d lines of progress, want the execution and 11 events:\n%s", n, res.stderr)
	}

	// The run among the executions, shown with its steps and outputs, and its events.
	if out := s.cli(t, "executions", "list", "--workflow", "pipeline"); !regexp.MustCompile(`(?m)^` + id[1] + `\s+pipeline\s+2\s+SUCCESS\s+-\s+admin`).MatchString(out) {
		t.Errorf("executions list --workflow:\n%s", out)
	}
	if out := s.cli(t, "executions", "list", "--kind", "call"); strings.Contains(out, id[1]) || !strings.Contains(out, "/hello-json") {
		t.Errorf("executions list --kind call:\n%s", out)
	}
	out = s.cli(t, "executions", "show", id[1])
	for _, re := range []string{`(?m)^Status:\s+SUCCESS$`, `(?m)^Inputs:\s+\{"name":"Ada"\}$`, `(?m)^via_json\s+SUCCESS\s+1\s+-\s+\w{26}\s`, `"combined": "Hello Hello Hello Ada!!!"`} {
		if !regexp.MustCompile(re).MatchString(out) {
			t.Errorf("show lacks %s:\n%s", re, out)
		}
	}
	if out := s.cli(t, "executions", "events", id[1]); !regexp.MustCompile(`(?m)^11\s+\S+\s+finished\s+-\s+-\s+SUCCESS`).MatchString(out) {
		t.Errorf("events:\n%s", out)
	}
	if out := s.cli(t, "executions", "events", id[1], "--follow", "--after", "9", "-o", "json"); strings.Count(out, "\n") != 2 || !strings.Contains(out, `"type":"finished"`) {
		t.Errorf("events --follow of a finished run after 9:\n%s", out)
	}
	if out := s.cli(t, "executions", "logs", id[1], "--follow"); strings.Count(out, "== step ") != 4 {
		t.Errorf("logs --follow:\n%s", out)
	}

	// A run that fails: the reason on stderr, exit code 1.
	failing := filepath.Join(t.TempDir(), "failing.yaml")
	if err := os.WriteFile(failing, []byte("steps:\n  - name: boom\n    call: {app: examples, path: /testfn}\n    input: {exit: 3}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s.cli(t, "workflows", "apply", "-f", failing, "--name", "failing")
	res = s.gantry(t, "workflows", "run", "failing", "--wait")
	if res.code != 1 || res.stdout != "" || !strings.Contains(res.stderr, "step boom finished: FAILED (attempt 1, bad_exit") ||
		!regexp.MustCompile(`gantry: the run did not succeed: execution \w{26} ended FAILED \(bad_exit\)`).MatchString(res.stderr) {
		t.Errorf("run --wait of a failing run: exit %d\n%s\n%s", res.code, res.stdout, res.stderr)
	}

	// Cancel a run mid-step: it ends CANCELLED and waiting on it fails.
	slow := filepath.Join(t.TempDir(), "slow.json")
	if err := os.WriteFile(slow, []byte(`{"name":"slow","steps":[{"name":"nap","call":{"app":"examples","path":"/testfn"},"input":{"sleep_ms":60000}},`+
		`{"name":"after","needs":["nap"],"call":{"app":"examples","path":"/hello"}}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	s.cli(t, "workflows", "apply", "-f", slow)
	runID := strings.TrimSpace(s.cli(t, "workflows", "run", "slow", "--idempotency-key", "once"))
	if again := strings.TrimSpace(s.cli(t, "workflows", "run", "slow", "--idempotency-key", "once")); again != runID || len(runID) != 26 {
		t.Fatalf("runs with one idempotency key: %q then %q", runID, again)
	}
	waitFor(t, 30*time.Second, "the step nap running", func() bool {
		return regexp.MustCompile(`(?m)^nap\s+RUNNING`).MatchString(s.cli(t, "executions", "show", runID))
	})
	if out := s.cli(t, "executions", "cancel", runID); !strings.Contains(out, "execution "+runID) || !strings.Contains(out, "cancelled") {
		t.Errorf("cancel: %q", out)
	}
	res = s.gantry(t, "executions", "events", runID, "--follow")
	if res.code != 0 || !strings.Contains(res.stdout, "run cancelling") || !strings.Contains(res.stdout, "run finished: CANCELLED (client_request)") || strings.Contains(res.stdout, "step after started") {
		t.Errorf("events --follow of the cancelled run: exit %d\n%s%s", res.code, res.stdout, res.stderr)
	}
	if out, err := s.cliErr("executions", "cancel", runID); err == nil || !strings.Contains(out, "already finished") {
		t.Errorf("cancel of a finished run: %v %q", err, out)
	}

	if out, err := s.cliErr("workflows", "describe", "nope"); err == nil || !strings.Contains(out, `"nope"`) {
		t.Errorf("describe of a missing workflow: %v %q", err, out)
	}
	if out := s.cli(t, "workflows", "delete", "pipeline"); out != "workflow \"pipeline\" deleted\n" {
		t.Errorf("delete: %q", out)
	}
}
