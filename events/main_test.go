package events

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
	"github.com/gantry-dev/gantry/workflow"
)

// The events service's tests deliver events end to end in this process: a real bbolt
// store, the real invocation path, runner and workflow engine, and the test function
// (functions/testfn) in containers on the local Docker daemon. Without a daemon the tests
// that need one skip, except under CI=true.

const testLabel = "gantry.test.package"

var testLabelValue = fmt.Sprintf("events-%d", os.Getpid())

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
			fmt.Fprintln(os.Stderr, "events tests need Docker and CI=true:", err)
			return 1
		}
		fmt.Fprintln(os.Stderr, "skipping the events tests that need Docker:", err)
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
		fmt.Fprintf(os.Stderr, "FAIL: %d containers left behind by the events tests\n", len(left))
		for _, c := range left {
			_ = cli.ContainerRemove(ctx, c.ID, container.RemoveOptions{Force: true})
		}
		return 1
	}
	return code
}

// env is a node of Gantry in the test: store, runner, invocation path with workers,
// workflow engine and events service, with app "shop" of ada: /hot and /hot2 (the test
// function, http format), /cold (default format), /json (json format).
type env struct {
	t       *testing.T
	st      *bolt.DB
	run     *runner.Runner
	calls   *invoke.Service
	workers *invoke.Workers
	engine  *workflow.Engine
	svc     *Service
	stops   []func()
}

func newEnv(t *testing.T) *env {
	t.Helper()
	if testDocker == nil {
		t.Skip("no Docker")
	}
	ctx := context.Background()
	st, err := bolt.Open(ctx, t.TempDir(), bolt.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, st: st}
	log := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	if e.run, err = runner.New(ctx, testDocker, runner.Options{Instance: st.InstanceID(), Labels: map[string]string{testLabel: testLabelValue}, Log: log}); err != nil {
		t.Fatal(err)
	}
	e.calls = invoke.New(st, e.run, invoke.Options{Node: st.InstanceID(), Log: log})
	e.stops = append(e.stops, e.calls.Follow(st))
	if e.workers, err = e.calls.StartWorkers(ctx, invoke.WorkerOptions{Count: 8, Poll: 50 * time.Millisecond, Backoff: 50 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	e.engine = workflow.New(st, e.calls, workflow.Options{Sweep: time.Second, Log: log})
	e.engine.Start(ctx)
	e.svc = New(st, e.calls, e.engine, Options{Log: log})
	e.svc.Start(ctx)
	for _, a := range []store.App{{Name: "shop", Owner: "ada"}, {Name: "bobs", Owner: "bob"}} {
		if _, err := st.CreateApp(ctx, a); err != nil {
			t.Fatal(err)
		}
	}
	for _, r := range []store.Route{
		{App: "shop", Path: "/hot", Image: testImage, Format: store.FormatHTTP, Timeout: 30},
		{App: "shop", Path: "/hot2", Image: testImage, Format: store.FormatHTTP, Timeout: 30},
		{App: "shop", Path: "/cold", Image: testImage, Timeout: 30},
		{App: "shop", Path: "/json", Image: testImage, Format: store.FormatJSON, Timeout: 30},
		{App: "bobs", Path: "/hot", Image: testImage, Format: store.FormatHTTP, Timeout: 30},
	} {
		if _, err := st.CreateRoute(ctx, r, nil); err != nil {
			t.Fatal(err)
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
	e.svc.Stop()
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
}

// subscribe checks and stores a subscription (enabled, of ada unless owner is set).
func (e *env) subscribe(s store.Subscription, admin bool) store.Subscription {
	e.t.Helper()
	if s.Owner == "" {
		s.Owner = "ada"
	}
	s.Enabled = true
	if err := e.svc.CheckSubscription(e.t.Context(), &s, admin); err != nil {
		e.t.Fatalf("subscription %s: %v", s.Name, err)
	}
	stored, err := e.st.CreateSubscription(e.t.Context(), s)
	if err != nil {
		e.t.Fatal(err)
	}
	return stored
}

// publish publishes one event of ada's.
func (e *env) publish(ev store.Event) store.Published {
	e.t.Helper()
	if ev.SpecVersion == "" {
		ev.SpecVersion = "1.0"
	}
	if ev.Owner == "" {
		ev.Owner = "ada"
	}
	pubs, err := e.svc.Publish(e.t.Context(), []store.Event{ev})
	if err != nil {
		e.t.Fatalf("publish: %v", err)
	}
	if len(pubs) != 1 {
		e.t.Fatalf("%d published, want 1", len(pubs))
	}
	return pubs[0]
}

// settled waits for a delivery to reach a final status, and returns it.
func (e *env) settled(id string, within time.Duration) store.Delivery {
	e.t.Helper()
	deadline := time.Now().Add(within)
	for {
		d, err := e.st.GetDelivery(e.t.Context(), id)
		if err != nil {
			e.t.Fatal(err)
		}
		if d.Done() {
			return d
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("delivery %s still %s after %s", id, d.Status, within)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// execution reads an execution.
func (e *env) execution(id string) store.Execution {
	e.t.Helper()
	ex, err := e.st.GetExecution(e.t.Context(), id)
	if err != nil {
		e.t.Fatal(err)
	}
	return ex
}

// output decodes an execution's output as JSON.
func output(t *testing.T, ex store.Execution) map[string]any {
	t.Helper()
	var out map[string]any
	if err := json.Unmarshal(ex.Output, &out); err != nil {
		t.Fatalf("output of %s %q: %v", ex.ID, ex.Output, err)
	}
	return out
}

// listEvents lists the events of a type.
func (e *env) listEvents(typ string) []store.Event {
	e.t.Helper()
	evs, _, err := e.st.ListEvents(e.t.Context(), store.EventFilter{Type: typ}, store.Page{Limit: store.MaxPageSize})
	if err != nil {
		e.t.Fatal(err)
	}
	return evs
}
