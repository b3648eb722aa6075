package workflow

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/client"

	"github.com/gantry-dev/gantry/internal/fnimage"
	"github.com/gantry-dev/gantry/invoke"
	"github.com/gantry-dev/gantry/runner"
	"github.com/gantry-dev/gantry/store"
	"github.com/gantry-dev/gantry/store/bolt"
)

// The engine's tests run workflows end to end in this process: a real bbolt store, the
// real invocation path and runner, and the test function (functions/testfn) in containers
// on the local Docker daemon. Without a daemon they skip, except under CI=true.

const testLabel = "gantry.test.package"

var testLabelValue = fmt.Sprintf("workflow-%d", os.Getpid())

var (
	testDocker *client.Client
	testImage  string
)

func TestMain(m *testing.M) { os.Exit(runTests(m)) }

func runTests(m *testing.M) int {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cli, err := runner.NewDockerClient()
	if err == nil {
		_, err = cli.Ping(ctx)
	}
	if err != nil {
		if os.Getenv("CI") == "true" {
			fmt.Fprintln(os.Stderr, "workflow tests need Docker and CI=true:", err)
			return 1
		}
		fmt.Fprintln(os.Stderr, "skipping the workflow tests that need Docker:", err)
		return m.Run()
	}
	testDocker = cli
	if testImage, err = fnimage.Build(ctx, cli, "testfn", ""); err != nil {
		fmt.Fprintln(os.Stderr, "build the test function:", err)
		return 1
	}
	code := m.Run()
	left, err := cli.ContainerList(ctx, container.ListOptions{All: true, Filters: filters.NewArgs(filters.Arg("label", testLabel+"="+testLabelValue))})
	if err == nil && len(left) > 0 {
		fmt.Fprintf(os.Stderr, "FAIL: %d containers left behind by the workflow tests\n", len(left))
		for _, c := range left {
			_ = cli.ContainerRemove(ctx, c.ID, container.RemoveOptions{Force: true})
		}
		return 1
	}
	return code
}

// env is a node of Gantry in the test: store, runner, invocation path with workers, engine.
type env struct {
	t       *testing.T
	dir     string
	st      *bolt.DB
	run     *runner.Runner
	calls   *invoke.Service
	workers *invoke.Workers
	engine  *Engine
	secrets *testSecrets // the secret service of the runner and the invocation path
	stops   []func()
}

// newEnv starts a node on a bbolt store in dir (a new one when dir is ""), with app "wf":
// route /hot (the test function, hot, http format) and /cold (one container per call).
func newEnv(t *testing.T, dir string) *env {
	t.Helper()
	if testDocker == nil {
		t.Skip("no Docker")
	}
	ctx := context.Background()
	fresh := dir == ""
	if fresh {
		dir = t.TempDir()
	}
	st, err := bolt.Open(ctx, dir, bolt.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, dir: dir, st: st, secrets: newTestSecrets()}
	run, err := runner.New(ctx, testDocker, runner.Options{Instance: st.InstanceID(), Labels: map[string]string{testLabel: testLabelValue}, Secrets: e.secrets, Log: slog.New(slog.NewTextHandler(testWriter{t}, nil))})
	if err != nil {
		t.Fatal(err)
	}
	e.run = run
	log := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	e.calls = invoke.New(st, run, invoke.Options{Node: st.InstanceID(), Secrets: e.secrets, Log: log})
	e.stops = append(e.stops, e.calls.Follow(st))
	if e.workers, err = e.calls.StartWorkers(ctx, invoke.WorkerOptions{Count: 8, Backoff: 50 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	e.engine = New(st, e.calls, Options{Sweep: time.Second, Log: log})
	e.engine.Start(ctx)
	if fresh {
		if _, err := st.CreateApp(ctx, store.App{Name: "wf", Owner: "dev"}); err != nil {
			t.Fatal(err)
		}
		for _, r := range []store.Route{
			{App: "wf", Path: "/hot", Image: testImage, Format: store.FormatHTTP, Timeout: 60},
			{App: "wf", Path: "/cold", Image: testImage, Timeout: 60},
		} {
			if _, err := st.CreateRoute(ctx, r, nil); err != nil {
				t.Fatal(err)
			}
		}
	}
	t.Cleanup(e.close)
	return e
}

// testWriter writes a log into the test's output.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// close stops the node as a shutdown does.
func (e *env) close() {
	if e.engine == nil {
		return
	}
	e.engine.Stop()
	e.workers.StopLeasing()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_ = e.workers.Wait(ctx)
	_ = e.run.Close(ctx)
	for _, stop := range e.stops {
		stop()
	}
	_ = e.st.Close()
	e.engine = nil
}

// put stores a workflow of owner "dev" from a definition written as JSON.
func (e *env) put(name, def string) store.Workflow {
	e.t.Helper()
	w, _, err := e.engine.Put(context.Background(), store.Workflow{Name: name, Owner: "dev", Definition: json.RawMessage(def)}, func(app, path string) error {
		_, err := e.st.RouteByPath(app, path, "")
		return err
	}, nil)
	if err != nil {
		e.t.Fatalf("put %s: %v", name, err)
	}
	return w
}

// start triggers a run of a workflow with inputs.
func (e *env) start(w store.Workflow, inputs string) store.Run {
	e.t.Helper()
	r, created, err := e.engine.Trigger(context.Background(), w, json.RawMessage(inputs), TriggerOptions{TriggeredBy: "dev"})
	if err != nil || !created {
		e.t.Fatalf("trigger %s: created %v, %v", w.Name, created, err)
	}
	return r
}

// wait waits for a run to end, and returns it.
func (e *env) wait(id string, within time.Duration) store.Run {
	e.t.Helper()
	deadline := time.Now().Add(within)
	for {
		r, err := e.st.GetRun(context.Background(), id)
		if err != nil {
			e.t.Fatal(err)
		}
		if r.Done() {
			return r
		}
		if time.Now().After(deadline) {
			b, _ := json.MarshalIndent(r, "", "  ")
			e.t.Fatalf("run %s not finished after %s:\n%s", id, within, b)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// step returns the step of a run named name.
func step(t *testing.T, r store.Run, name string) store.StepRun {
	t.Helper()
	for _, s := range r.Steps {
		if s.Name == name {
			return s
		}
	}
	t.Fatalf("run %s has no step %s", r.ID, name)
	return store.StepRun{}
}

// events reads every event of a run.
func (e *env) events(id string) []store.RunEvent {
	e.t.Helper()
	evs, err := e.st.ListRunEvents(context.Background(), id, 0, 100000)
	if err != nil {
		e.t.Fatal(err)
	}
	return evs
}
