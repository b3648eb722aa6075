package runner

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"

	"github.com/gantry-dev/gantry/internal/fnimage"
)

// The runner's tests run functions in real containers on the local Docker daemon. They
// skip when no daemon is reachable, except under CI=true, where that is a failure; the
// tests that need no daemon (pools, bounds, buffers, the re-send rule) run anyway.
const testLabel = "gantry.test.package"

// testLabelValue marks the containers of this test process: another process running these
// tests at the same time keeps its own (TestMain removes what this one left behind).
var testLabelValue = fmt.Sprintf("runner-%d", os.Getpid())

var (
	testDocker Docker
	testImage  string // functions/testfn, built once per run (and reused across runs)
)

func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cli, err := NewDockerClient()
	if err == nil {
		_, err = cli.Ping(ctx)
	}
	if err != nil {
		if os.Getenv("CI") == "true" {
			fmt.Fprintln(os.Stderr, "runner tests need Docker and CI=true:", err)
			return 1
		}
		fmt.Fprintln(os.Stderr, "skipping the runner tests that need Docker: no Docker daemon:", err)
		return m.Run()
	}
	testDocker = cli
	if testImage, err = fnimage.Build(ctx, cli, "testfn", ""); err != nil {
		fmt.Fprintln(os.Stderr, "build the test function:", err)
		return 1
	}
	code := m.Run()
	// No container may outlive the tests that started it.
	left, err := cli.ContainerList(ctx, container.ListOptions{All: true, Filters: filters.NewArgs(filters.Arg("label", testLabel+"="+testLabelValue))})
	if err != nil {
		fmt.Fprintln(os.Stderr, "list containers:", err)
		return 1
	}
	if len(left) > 0 {
		fmt.Fprintf(os.Stderr, "FAIL: %d containers left behind by the runner tests\n", len(left))
		for _, c := range left {
			_ = cli.ContainerRemove(ctx, c.ID, container.RemoveOptions{Force: true})
		}
		return 1
	}
	return code
}

// needDocker skips a test that needs the Docker daemon when none is reachable (TestMain
// fails the run instead under CI=true).
func needDocker(t *testing.T) {
	t.Helper()
	if testDocker == nil {
		t.Skip("no Docker")
	}
}

// newTestRunner returns a runner with its own instance id, closed (and checked empty) at the end.
func newTestRunner(t *testing.T, opts Options) *Runner {
	t.Helper()
	needDocker(t)
	return newTestRunnerWith(t, testDocker, opts)
}

// newTestRunnerWith is newTestRunner over docker (the real client, or a wrapper of it).
func newTestRunnerWith(t *testing.T, docker Docker, opts Options) *Runner {
	t.Helper()
	needDocker(t)
	if opts.Instance == "" {
		opts.Instance = fmt.Sprintf("test-%s-%d", t.Name(), time.Now().UnixNano())
	}
	opts.Labels = map[string]string{testLabel: testLabelValue}
	if testing.Verbose() {
		opts.Log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	} else {
		opts.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	r, err := New(context.Background(), docker, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := r.Close(ctx); err != nil {
			t.Errorf("close runner: %v", err)
		}
		if n := countContainers(t, opts.Instance); n != 0 {
			t.Errorf("%d containers of the runner remain after Close", n)
		}
		if _, err := os.Stat(r.opts.SecretsDir); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("the secrets directory of the runner remains after Close (%v)", err)
		}
	})
	return r
}

// countContainers counts the containers (any state) of a runner instance.
func countContainers(t *testing.T, instance string) int {
	t.Helper()
	n, err := containersOf(instance)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// containersOf counts the containers of an instance; safe outside the test's goroutine.
func containersOf(instance string) (int, error) {
	list, err := testDocker.ContainerList(context.Background(), container.ListOptions{All: true, Filters: filters.NewArgs(filters.Arg("label", LabelInstance+"="+instance))})
	return len(list), err
}

// eventually polls cond until it holds or the timeout passes.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %s", timeout, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

var routeVersion = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// testRoute is the function of a route of the format with the routes' defaults (as the
// invocation service would assemble it), changed by edit.
func testRoute(format string, edit func(*Function)) Function {
	fn := Function{App: "app", Path: "/fn", Image: testImage, Format: format, RouteVersion: routeVersion,
		MemoryMiB: 128, Timeout: 30 * time.Second, IdleTimeout: 30 * time.Second, MaxConcurrency: 1, Network: NetworkBridge}
	if edit != nil {
		edit(&fn)
	}
	return fn
}

func testCall(fn Function, body string) *Call {
	return &Call{
		ID: fmt.Sprintf("call-%d", time.Now().UnixNano()), Function: fn, Method: "POST", URL: fn.Path,
		Header: map[string][]string{"X-Test": {"yes"}}, Body: []byte(body),
		Deadline: time.Now().Add(fn.Timeout),
	}
}
