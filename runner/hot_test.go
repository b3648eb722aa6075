package runner

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/docker/docker/api/types"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
)

func TestHotFormatsAnswer(t *testing.T) {
	t.Parallel()
	r := newTestRunner(t, Options{})
	for _, format := range []string{FormatHTTP, FormatJSON} {
		t.Run(format, func(t *testing.T) {
			t.Parallel()
			rt := testRoute(format, func(r *Function) { r.Path = "/" + format })
			call := testCall(rt, `{"name":"John","status":201,"header":{"X-Fn":"yes"},"stderr":"logged","sleep_ms":300}`)
			late := make(chan []byte, 1)
			call.LateLog = func(log []byte, _ bool) { late <- log }
			res, err := r.Run(context.Background(), call)
			if err != nil || string(res.Body) != "Hello John!" || res.Status != 201 || res.Header.Get("X-Fn") != "yes" || !res.Hot {
				t.Fatalf("got %d %q %v hot=%v err=%v", res.Status, res.Body, res.Header, res.Hot, err)
			}
			// stderr written before the answer is the call's log (Docker reads stdout and stderr
			// from separate pipes: the 300ms gap keeps their order, even on a loaded machine; a
			// tail that arrives after the answer reaches the call through LateLog).
			log := string(res.Log)
			// Binary bodies survive the json envelope (base64) and the proxy.
			call = testCall(rt, "")
			call.Body = []byte("{\"echo\":true,\"pad\":\"\xff\xfez\"}")
			res, err = r.Run(context.Background(), call)
			if err != nil || string(res.Body) != string(call.Body) {
				t.Fatalf("echo: got %q %v, want %q", res.Body, err, call.Body)
			}
			select {
			case l := <-late:
				log += string(l)
			default:
			}
			if log != "logged" {
				t.Fatalf("log of the call = %q, want %q", log, "logged")
			}
		})
	}
}

func TestHotSequentialCallsReuseContainers(t *testing.T) {
	t.Parallel()
	r := newTestRunner(t, Options{})
	rt := testRoute(FormatHTTP, func(r *Function) { r.MaxConcurrency = 2 })
	seen := map[string]bool{}
	for i := range 200 {
		res, err := r.Run(context.Background(), testCall(rt, `{}`))
		if err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
		seen[res.Header.Get("X-Container-Id")] = true
	}
	if len(seen) != 1 || countContainers(t, r.opts.Instance) != 1 {
		t.Fatalf("200 sequential calls used %d containers (%d exist), want 1: a free container is reused", len(seen), countContainers(t, r.opts.Instance))
	}
}

func TestHotConcurrencyIsBounded(t *testing.T) {
	t.Parallel()
	r := newTestRunner(t, Options{})
	rt := testRoute(FormatHTTP, func(r *Function) { r.MaxConcurrency = 4 })

	stop := make(chan struct{})
	var most atomic.Int64
	var sampler sync.WaitGroup
	sampler.Add(1)
	go func() { // watch Docker, not our bookkeeping
		defer sampler.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			if n, err := containersOf(r.opts.Instance); err == nil && int64(n) > most.Load() {
				most.Store(int64(n))
			}
			time.Sleep(20 * time.Millisecond)
		}
	}()
	var wg sync.WaitGroup
	errs := make(chan error, 50)
	for range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := r.Run(context.Background(), testCall(rt, `{"sleep_ms":50}`)); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(stop)
	sampler.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("concurrent call failed: %v", err)
	}
	if most.Load() > 4 {
		t.Fatalf("%d containers existed at once, want at most max_concurrency=4", most.Load())
	}
	if most.Load() == 0 {
		t.Fatal("the sampler saw no container at all")
	}
}

func TestHotIdleContainersStop(t *testing.T) {
	t.Parallel()
	r := newTestRunner(t, Options{})
	rt := testRoute(FormatJSON, func(r *Function) { r.IdleTimeout = time.Second; r.MaxConcurrency = 2 })
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := r.Run(context.Background(), testCall(rt, `{"sleep_ms":300}`)); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	// Counted first: one the janitor is removing (idle for 1s on a busy machine) may leave
	// the count before Docker's list.
	if c, n := r.HotContainers(), countContainers(t, r.opts.Instance); c == 0 || c > n {
		t.Fatalf("%d hot containers counted after the calls, %d in Docker: want some, none that Docker lacks", c, n)
	}
	eventually(t, 8*time.Second, "idle containers outlived idle_timeout=1s", func() bool { return countContainers(t, r.opts.Instance) == 0 })
	if n := r.HotContainers(); n != 0 {
		t.Fatalf("%d hot containers still counted after they stopped", n)
	}
}

func TestHotContainerKilledFromOutsideIsReplaced(t *testing.T) {
	t.Parallel()
	r := newTestRunner(t, Options{})
	rt := testRoute(FormatHTTP, nil)
	first, err := r.Run(context.Background(), testCall(rt, `{}`))
	if err != nil {
		t.Fatal(err)
	}
	list, err := testDocker.ContainerList(context.Background(), container.ListOptions{Filters: filters.NewArgs(filters.Arg("label", LabelInstance+"="+r.opts.Instance))})
	if err != nil || len(list) != 1 {
		t.Fatalf("want one running container, got %d (%v)", len(list), err)
	}
	if err := testDocker.ContainerKill(context.Background(), list[0].ID, "KILL"); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "the killed container still looks alive", func() bool {
		info, err := testDocker.ContainerInspect(context.Background(), list[0].ID)
		return err != nil || !info.State.Running
	})
	for i := range 3 {
		res, err := r.Run(context.Background(), testCall(rt, `{}`))
		if err != nil {
			t.Fatalf("call %d after the kill: %v", i, err)
		}
		if res.Header.Get("X-Container-Id") == first.Header.Get("X-Container-Id") {
			t.Fatalf("call %d was served by the killed container", i)
		}
	}
}

func TestHotFailuresReplaceTheContainer(t *testing.T) {
	t.Parallel()
	r := newTestRunner(t, Options{})
	for _, format := range []string{FormatHTTP, FormatJSON} {
		t.Run(format, func(t *testing.T) {
			t.Parallel()
			// 3 s: short enough for the hung call, long enough for Docker, under a loaded
			// machine, to report the crashed container's end before the crash call's deadline.
			rt := testRoute(format, func(r *Function) { r.Path = "/" + format; r.Timeout = 3 * time.Second })
			warm, err := r.Run(context.Background(), testCall(rt, `{}`))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := r.Run(context.Background(), testCall(rt, `{"sleep_ms":10000}`)); !errors.Is(err, ErrTimeout) {
				t.Fatalf("hung call: got %v, want ErrTimeout", err)
			}
			var fe *FunctionError
			if _, err := r.Run(context.Background(), testCall(rt, `{"crash":true}`)); !errors.As(err, &fe) {
				t.Fatalf("crash mid-call: got %v, want a FunctionError", err)
			}
			res, err := r.Run(context.Background(), testCall(rt, `{"name":"again"}`))
			if err != nil || string(res.Body) != "Hello again!" {
				t.Fatalf("call after failures: %q %v", res.Body, err)
			}
			if res.Header.Get("X-Container-Id") == warm.Header.Get("X-Container-Id") {
				t.Fatal("a container that failed was kept")
			}
		})
	}
}

func TestHotBusyWhenNoContainerFrees(t *testing.T) {
	t.Parallel()
	r := newTestRunner(t, Options{})
	rt := testRoute(FormatHTTP, func(r *Function) { r.Timeout = 10 * time.Second })
	long := make(chan error, 1)
	go func() {
		_, err := r.Run(context.Background(), testCall(rt, `{"sleep_ms":3000}`))
		long <- err
	}()
	eventually(t, 15*time.Second, "the long call never started", func() bool {
		p := r.poolFor(testCall(rt, ""))
		p.mu.Lock()
		defer p.mu.Unlock()
		return p.total == 1 && len(p.idle) == 0
	})
	call := testCall(rt, `{}`)
	call.Deadline = time.Now().Add(300 * time.Millisecond)
	if _, err := r.Run(context.Background(), call); !errors.Is(err, ErrBusy) {
		t.Fatalf("got %v, want ErrBusy", err)
	}
	if err := <-long; err != nil {
		t.Fatalf("long call: %v", err)
	}
}

func TestDrainRouteStopsItsContainers(t *testing.T) {
	t.Parallel()
	r := newTestRunner(t, Options{})
	rt := testRoute(FormatHTTP, nil)
	if _, err := r.Run(context.Background(), testCall(rt, `{}`)); err != nil {
		t.Fatal(err)
	}
	if n := r.HotContainers(); n != 1 {
		t.Fatalf("%d hot containers counted after a call, want 1", n)
	}
	if got, want := r.HotRoutes(), []HotRoute{{App: rt.App, Path: rt.Path, Containers: 1}}; !slices.Equal(got, want) {
		t.Fatalf("hot routes after a call: %+v, want %+v", got, want)
	}
	r.DrainRoute(rt.App, rt.Path)
	if n := r.HotContainers(); n != 0 {
		t.Fatalf("%d hot containers counted after the drain, want 0", n)
	}
	if got := r.HotRoutes(); len(got) != 0 {
		t.Fatalf("hot routes after the drain: %+v, want none", got)
	}
	eventually(t, 10*time.Second, "drained route still has containers", func() bool { return countContainers(t, r.opts.Instance) == 0 })

	// A new version of the route gets new containers; the old version's go.
	if _, err := r.Run(context.Background(), testCall(rt, `{}`)); err != nil {
		t.Fatal(err)
	}
	v2 := rt
	v2.RouteVersion = rt.RouteVersion.Add(time.Second)
	v2.Env = []map[string]string{{"V": "2"}}
	res, err := r.Run(context.Background(), testCall(v2, `{"env":true,"env_keys":["V"]}`))
	if err != nil || !strings.Contains(string(res.Body), `"V":"2"`) {
		t.Fatalf("call on the new version: %q %v", res.Body, err)
	}
	eventually(t, 10*time.Second, "the old version's container outlived the change", func() bool { return countContainers(t, r.opts.Instance) == 1 })
}

// TestAppChangeGetsNewContainers: a hot container keeps the app config it started with, so a
// call made with a newer app config gets a new container, and a call that read the old
// config just before the change (an async task queued earlier) does not bring the old
// containers back: it is served by the new ones.
func TestAppChangeGetsNewContainers(t *testing.T) {
	t.Parallel()
	r := newTestRunner(t, Options{})
	rt := testRoute(FormatHTTP, func(r *Function) { r.Path = "/appversion" })
	callWith := func(config string, version time.Time) string {
		t.Helper()
		c := testCall(rt, `{"env":true,"env_keys":["V"]}`)
		c.Function.Env, c.Function.AppVersion = []map[string]string{{"V": config}}, version
		res, err := r.Run(context.Background(), c)
		if err != nil {
			t.Fatal(err)
		}
		return string(res.Body)
	}
	v1 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	if body := callWith("1", v1); !strings.Contains(body, `"V":"1"`) {
		t.Fatalf("first call: %s", body)
	}
	if body := callWith("2", v1.Add(time.Second)); !strings.Contains(body, `"V":"2"`) {
		t.Fatalf("a call after the app changed was served by a container of the old config: %s", body)
	}
	if body := callWith("1", v1); !strings.Contains(body, `"V":"2"`) {
		t.Fatalf("a call that read the old config brought its containers back: %s", body)
	}
}

func TestRestartReapsOrphans(t *testing.T) {
	t.Parallel()
	instance := "test-reap-" + time.Now().Format("150405.000000000")
	crashed := newTestRunner(t, Options{Instance: instance})
	if _, err := crashed.Run(context.Background(), testCall(testRoute(FormatHTTP, nil), `{}`)); err != nil {
		t.Fatal(err)
	}
	if countContainers(t, instance) != 1 {
		t.Fatal("want one hot container before the restart")
	}
	// A new runner of the same instance (the server restarted after a crash) reaps it.
	newTestRunner(t, Options{Instance: instance})
	if n := countContainers(t, instance); n != 0 {
		t.Fatalf("%d orphans survived the restart", n)
	}
}

func TestSweeperRemovesExitedContainers(t *testing.T) {
	t.Parallel()
	r := newTestRunner(t, Options{SweepInterval: 200 * time.Millisecond})
	// A container of this instance that exited without being removed, as when Docker
	// was away at the end of its call.
	fn := testRoute(FormatDefault, nil)
	cfg, host := r.containerSpec(&fn, map[string]string{}, "left-behind", "none")
	cfg.OpenStdin, cfg.AttachStdin, cfg.StdinOnce = false, false, false // stdin at EOF: it answers and exits
	created, err := testDocker.ContainerCreate(context.Background(), cfg, host, nil, nil, "")
	if err != nil {
		t.Fatal(err)
	}
	if err := testDocker.ContainerStart(context.Background(), created.ID, container.StartOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 15*time.Second, "the exited container was not swept", func() bool { return countContainers(t, r.opts.Instance) == 0 })
}

// attachFails is the real Docker client whose ContainerAttach fails, as when Docker drops
// the connection: the error path of a narrow interface, everything else real.
type attachFails struct{ Docker }

func (attachFails) ContainerAttach(context.Context, string, container.AttachOptions) (types.HijackedResponse, error) {
	return types.HijackedResponse{}, errors.New("attach: connection reset by Docker")
}

func TestHotStartFailureLeaksNothing(t *testing.T) {
	t.Parallel()
	needDocker(t)
	instance := "test-attach-fails-" + time.Now().Format("150405.000000000")
	r, err := New(context.Background(), attachFails{testDocker}, Options{Instance: instance, Labels: map[string]string{testLabel: testLabelValue}})
	if err != nil {
		t.Fatal(err)
	}
	for _, format := range []string{FormatHTTP, FormatDefault} {
		if _, err := r.Run(context.Background(), testCall(testRoute(format, nil), `{}`)); err == nil {
			t.Fatalf("%s: a call whose attach failed succeeded", format)
		}
	}
	if n := r.HotContainers(); n != 0 {
		t.Fatalf("%d hot containers counted, though none started", n)
	}
	if err := r.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := countContainers(t, instance); n != 0 {
		t.Fatalf("%d containers left after failed starts", n)
	}
}

func TestCloseEndsCallsInFlight(t *testing.T) {
	t.Parallel()
	needDocker(t)
	instance := "test-close-" + time.Now().Format("150405.000000000")
	r, err := New(context.Background(), testDocker, Options{Instance: instance, Labels: map[string]string{testLabel: testLabelValue}})
	if err != nil {
		t.Fatal(err)
	}
	results := make(chan error, 2)
	for _, format := range []string{FormatHTTP, FormatDefault} {
		go func() {
			_, err := r.Run(context.Background(), testCall(testRoute(format, nil), `{"sleep_ms":20000}`))
			results <- err
		}()
	}
	eventually(t, 20*time.Second, "the calls did not start", func() bool { return countContainers(t, instance) == 2 })
	time.Sleep(300 * time.Millisecond) // both are in their sleep
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := r.Close(ctx); err != nil {
		t.Fatalf("close: %v", err)
	}
	for range 2 {
		if err := <-results; !errors.Is(err, ErrShuttingDown) {
			t.Errorf("a call cut by Close: got %v, want ErrShuttingDown", err)
		}
	}
	if d := time.Since(start); d > 15*time.Second {
		t.Errorf("Close took %s with calls in flight", d)
	}
	if n := countContainers(t, instance); n != 0 {
		t.Fatalf("%d containers left after Close", n)
	}
	if _, err := r.Run(context.Background(), testCall(testRoute(FormatHTTP, nil), `{}`)); !errors.Is(err, ErrShuttingDown) {
		t.Fatalf("a call after Close: %v", err)
	}
}

func TestHotIdleConnectionClosedByTheFunction(t *testing.T) {
	t.Parallel()
	r := newTestRunner(t, Options{})
	rt := testRoute(FormatHTTP, func(r *Function) { r.Env = []map[string]string{{"TESTFN_IDLE_TIMEOUT_MS": "200"}} })
	first, err := r.Run(context.Background(), testCall(rt, `{}`))
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second) // the function's server closes the idle keep-alive connection
	res, err := r.Run(context.Background(), testCall(rt, `{"name":"again"}`))
	if err != nil || string(res.Body) != "Hello again!" {
		t.Fatalf("call after the function closed its idle connection: %q %v", res.Body, err)
	}
	if res.Header.Get("X-Container-Id") != first.Header.Get("X-Container-Id") {
		t.Fatal("the container was replaced: a closed idle connection is not a failure")
	}
}
