package handlers

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/client"

	"github.com/gantry-dev/gantry/auth"
	"github.com/gantry-dev/gantry/internal/fnimage"
	"github.com/gantry-dev/gantry/invoke"
	"github.com/gantry-dev/gantry/runner"
	"github.com/gantry-dev/gantry/store"
	"github.com/gantry-dev/gantry/store/bolt"
	"github.com/gantry-dev/gantry/workflow"
)

// The tests of the /waas surface run workflows for real: a bbolt store, the invocation
// path with its workers, the runner and the test function (functions/testfn) in containers
// on the local Docker daemon, and the workflow engine, behind the API's real handler.
// Without a daemon they skip, except under CI=true.

const engineTestLabel = "gantry.test.package"

var (
	engineDockerOnce sync.Once
	engineDocker     *client.Client
	engineImage      string
	engineDockerErr  error
)

// engineDockerClient returns the Docker client and the test function's image, built once.
func engineDockerClient(t *testing.T) (*client.Client, string) {
	t.Helper()
	engineDockerOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		cli, err := runner.NewDockerClient()
		if err == nil {
			_, err = cli.Ping(ctx)
		}
		if err != nil {
			engineDockerErr = fmt.Errorf("no Docker: %w", err)
			return
		}
		img, err := fnimage.Build(ctx, cli, "testfn", "")
		if err != nil {
			engineDockerErr = fmt.Errorf("build the test function: %w", err)
			return
		}
		engineDocker, engineImage = cli, img
	})
	if engineDockerErr != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal(engineDockerErr)
		}
		t.Skip(engineDockerErr)
	}
	return engineDocker, engineImage
}

// engineFixture is a node of Gantry with authentication on and the workflow engine, and
// the secrets of its users' tokens: alice (developer, owns app "wf" and the workflows),
// erin (role user, the workflows are shared with her), bob (another developer).
type engineFixture struct {
	h      http.Handler
	s      *bolt.DB
	engine *workflow.Engine
	alice  string
	erin   string
	bob    string
}

func newEngineFixture(t *testing.T) *engineFixture {
	t.Helper()
	cli, img := engineDockerClient(t)
	ctx := context.Background()
	st, err := bolt.Open(ctx, t.TempDir(), bolt.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	label := fmt.Sprintf("handlers-%d-%s", os.Getpid(), st.InstanceID())
	run, err := runner.New(ctx, cli, runner.Options{Instance: st.InstanceID(), Labels: map[string]string{engineTestLabel: label}})
	if err != nil {
		t.Fatal(err)
	}
	calls := invoke.New(st, run, invoke.Options{Node: st.InstanceID()})
	stopFollow := calls.Follow(st)
	workers, err := calls.StartWorkers(ctx, invoke.WorkerOptions{Count: 8, Backoff: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	engine := workflow.New(st, calls, workflow.Options{Sweep: time.Second})
	engine.Start(ctx)
	t.Cleanup(func() {
		engine.Stop()
		workers.StopLeasing()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		_ = workers.Wait(ctx)
		_ = run.Close(ctx)
		stopFollow()
		_ = st.Close()
		left, err := cli.ContainerList(ctx, container.ListOptions{All: true, Filters: filters.NewArgs(filters.Arg("label", engineTestLabel+"="+label))})
		if err == nil && len(left) > 0 {
			t.Errorf("%d containers left behind", len(left))
			for _, c := range left {
				_ = cli.ContainerRemove(ctx, c.ID, container.RemoveOptions{Force: true})
			}
		}
	})
	if _, err := st.CreateApp(ctx, store.App{Name: "wf", Owner: "alice"}); err != nil {
		t.Fatal(err)
	}
	for _, r := range []store.Route{
		{App: "wf", Path: "/hot", Image: img, Format: store.FormatHTTP, Timeout: 60},
		{App: "wf", Path: "/cold", Image: img, Timeout: 60},
	} {
		if _, err := st.CreateRoute(ctx, r, nil); err != nil {
			t.Fatal(err)
		}
	}
	f := &engineFixture{s: st, engine: engine}
	f.alice, _ = makeToken(t, st, "alice", auth.RoleDeveloper, nil)
	f.erin, _ = makeToken(t, st, "erin", auth.RoleUser, nil)
	f.bob, _ = makeToken(t, st, "bob", auth.RoleDeveloper, nil)
	api := New(Deps{Store: st, Workflows: engine, Version: "test", Auth: auth.NewAuthenticator(st, nil)})
	if f.h, err = api.Handler(); err != nil {
		t.Fatal(err)
	}
	return f
}

// put stores a workflow of alice's, shared with erin, from a definition written as JSON.
func (f *engineFixture) put(t *testing.T, name, def string) {
	t.Helper()
	_, _, err := f.engine.Put(context.Background(), store.Workflow{Name: name, Owner: "alice", RunAccess: []string{"user:erin"}, Definition: json.RawMessage(def)},
		func(app, path string) error {
			_, err := f.s.RouteByPath(app, path, "")
			return err
		}, nil)
	if err != nil {
		t.Fatalf("put %s: %v", name, err)
	}
}
