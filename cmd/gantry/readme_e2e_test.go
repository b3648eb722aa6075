package main

// TestREADMEWalkthroughs runs the README's marked walkthroughs (see readme_walkthrough_test.go
// for the marking) against a real server, so that they cannot drift from what Gantry does.

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/fnimage"
)

// readmeImages are the images `make images` builds that the walkthroughs use.
var readmeImages = []string{"hello", "hello-http", "hello-json", "testfn"}

// TestREADMEWalkthroughs follows the README as a new user does: one server, set up as the
// README says (data in ./data, `gantry` on PATH, the images of `make images`), and each
// walkthrough in turn, in the order the README gives them, each in a bash session of its own.
// The server listens on free ports: the commands' localhost:8080 (management API) and
// localhost:8081 (gateway) are pointed at them, and the CLI gets GANTRY_API_URL; nothing else
// is changed.
func TestREADMEWalkthroughs(t *testing.T) {
	t.Parallel() // beside the other black-box tests; its walkthroughs run in order
	f, err := os.Open("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	walks, err := parseWalkthroughs(f)
	f.Close()
	if err != nil {
		t.Fatalf("README.md: %v", err)
	}
	if len(walks) == 0 {
		t.Fatal("README.md marks no walkthrough")
	}
	for _, tool := range []string{"bash", "curl"} { // what the README's reader has
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("the README's walkthroughs need %s: %v", tool, err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	for _, name := range readmeImages {
		if _, err := fnimage.Build(ctx, docker, name, "gantry/"+name+":dev"); err != nil {
			t.Fatalf("build %s: %v", name, err)
		}
	}

	// The working directory is a clone's: the repository's files (functions/examples/...),
	// with the data dir of `make run` and the bin/ of `make build` of its own.
	work := t.TempDir()
	entries, err := os.ReadDir("../..")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if n := e.Name(); n != "bin" && n != "data" && n != ".git" {
			abs, err := filepath.Abs(filepath.Join("../..", n))
			if err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(abs, filepath.Join(work, n)); err != nil {
				t.Fatal(err)
			}
		}
	}
	dataDir := filepath.Join(work, "data")
	if err := os.Mkdir(dataDir, 0o700); err != nil {
		t.Fatal(err)
	}
	s := startServer(t, dataDir)
	gateway, _ := s.gatewayAddrs(t)
	bin := filepath.Join(work, "bin")
	if err := os.Mkdir(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	// `gantry` is this test binary run as the gantry command (see TestMain).
	wrapper := fmt.Sprintf("#!/bin/sh\nexec %q \"$@\"\n", gantryBin)
	if err := os.WriteFile(filepath.Join(bin, "gantry"), []byte(wrapper), 0o755); err != nil { //nolint:gosec // an executable script
		t.Fatal(err)
	}
	env := []string{"PATH=" + bin + ":" + os.Getenv("PATH"), "HOME=" + work, "LC_ALL=C.UTF-8", "GANTRY_API_URL=http://" + s.addr}
	addrs := strings.NewReplacer("localhost:8080", s.addr, "localhost:8081", gateway)
	back := strings.NewReplacer(s.addr, "localhost:8080", gateway, "localhost:8081")

	for _, w := range walks {
		t.Run(w.name, func(t *testing.T) {
			outs, codes, err := runWalkthrough(ctx, work, env, w, addrs.Replace)
			if err != nil {
				t.Fatalf("%v\n%s", err, s.logText())
			}
			for i, st := range w.steps {
				if msg := checkWalkStep(st, splitWalkOutput(back.Replace(outs[i])), codes[i]); msg != "" {
					t.Error(msg)
				}
			}
		})
	}
}

// runWalkthrough runs the commands of w in one bash session in dir, and returns what each
// printed (stdout and stderr together) and its exit status (a pipeline's under pipefail).
func runWalkthrough(ctx context.Context, dir string, env []string, w walkthrough, rewrite func(string) string) ([]string, []int, error) {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	marker := "--- end of step " + hex.EncodeToString(b)
	var script strings.Builder
	script.WriteString("exec 2>&1\nset -o pipefail\n")
	for _, st := range w.steps {
		fmt.Fprintf(&script, "%s\nprintf '\\n%s: exit %%d ---\\n' \"$?\"\n", rewrite(st.command), marker)
	}
	path := filepath.Join(dir, "walkthrough-"+w.name+".sh")
	if err := os.WriteFile(path, []byte(script.String()), 0o600); err != nil {
		return nil, nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, 4*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "--noprofile", "--norc", path)
	cmd.Dir, cmd.Env, cmd.Stdin = dir, env, nil
	out, err := cmd.CombinedOutput()
	ends := regexp.MustCompile("\n"+marker+`: exit ([0-9]+) ---\n`).FindAllStringSubmatchIndex(string(out), -1)
	if len(ends) != len(w.steps) {
		return nil, nil, fmt.Errorf("walkthrough %s: %d of %d commands ended (bash: %v); output:\n%s", w.name, len(ends), len(w.steps), err, out)
	}
	outs, codes := make([]string, len(ends)), make([]int, len(ends))
	from := 0
	for i, e := range ends {
		outs[i] = string(out[from:e[0]])
		codes[i], _ = strconv.Atoi(string(out[e[2]:e[3]])) // [0-9]+ from printf %d
		from = e[1]
	}
	return outs, codes, nil
}
