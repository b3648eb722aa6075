package invoke

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/docker/docker/api/types/build"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"

	"github.com/gantry-dev/gantry/httperr"
	"github.com/gantry-dev/gantry/internal/fnimage"
	"github.com/gantry-dev/gantry/runner"
	"github.com/gantry-dev/gantry/store"
	"github.com/gantry-dev/gantry/store/bolt"
)

// The tests of routes that run an image by name ("@name") run the real runner over the
// local Docker daemon and a real bbolt store: they skip without a daemon, except under
// CI=true, where that is a failure.

var docker struct {
	once  sync.Once
	cli   *client.Client
	image string // functions/testfn
	err   error
}

// needDocker returns the Docker client and the test function's image, built once.
func needDocker(t *testing.T) (*client.Client, string) {
	t.Helper()
	docker.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		cli, err := runner.NewDockerClient()
		if err == nil {
			_, err = cli.Ping(ctx)
		}
		if err != nil {
			docker.err = fmt.Errorf("no Docker daemon: %w", err)
			return
		}
		docker.cli = cli
		if docker.image, err = fnimage.Build(ctx, cli, "testfn", ""); err != nil {
			docker.err = fmt.Errorf("build the test function: %w", err)
		}
	})
	if docker.err != nil {
		if os.Getenv("CI") == "true" || docker.cli != nil {
			t.Fatal(docker.err)
		}
		t.Skip(docker.err)
	}
	return docker.cli, docker.image
}

// markedImage builds an image of the test function with ROLL_MARK=mark in its environment
// (FROM the test image, no network), as a build of Gantry's images makes one, and returns
// its ID ("sha256:..."); the image is removed when the test ends (after the runners made
// later have removed their containers).
func markedImage(t *testing.T, mark string) string {
	t.Helper()
	cli, base := needDocker(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	unique := time.Now().UnixNano() // a label of its own: an image no other test removes
	dockerfile := fmt.Sprintf("FROM %s\nENV ROLL_MARK=%s\nLABEL gantry.test.roll=%d\n", base, mark, unique)
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	if err := tw.WriteHeader(&tar.Header{Name: "Dockerfile", Mode: 0o644, Size: int64(len(dockerfile))}); err != nil {
		t.Fatal(err)
	}
	if _, err := tw.Write([]byte(dockerfile)); err != nil {
		t.Fatal(err)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	tag := fmt.Sprintf("gantry-test-roll/%s:%d", strings.ToLower(mark), unique)
	resp, err := cli.ImageBuild(ctx, &buf, build.ImageBuildOptions{Tags: []string{tag}, Remove: true, ForceRemove: true, NetworkMode: "none"})
	if err != nil {
		t.Fatalf("build image %s: %v", mark, err)
	}
	out, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	inspect, err := cli.ImageInspect(ctx, tag)
	if err != nil {
		t.Fatalf("build image %s: %v\n%s", mark, err, out)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if _, err := cli.ImageRemove(ctx, inspect.ID, image.RemoveOptions{Force: true, PruneChildren: true}); err != nil {
			t.Errorf("remove image %s: %v", mark, err)
		}
	})
	return inspect.ID
}

// imageEnv is a node of Gantry over a real store and the real runner: app shop (owner ada)
// with routes that name images.
type imageEnv struct {
	t        *testing.T
	cli      *client.Client
	db       *bolt.DB
	run      *runner.Runner
	svc      *Service
	instance string
}

func newImageEnv(t *testing.T) *imageEnv { return newImageEnvWith(t, nil, nil) }

// newImageEnvOn is newImageEnv whose service follows feed (nil: the store's own).
func newImageEnvOn(t *testing.T, feed store.Changes) *imageEnv {
	t.Helper()
	return newImageEnvWith(t, feed, nil)
}

// newImageEnvWith is newImageEnvOn whose service reads images through images(db) (nil:
// from db itself).
func newImageEnvWith(t *testing.T, feed store.Changes, images func(*bolt.DB) ImageStore) *imageEnv {
	t.Helper()
	cli, _ := needDocker(t)
	ctx := context.Background()
	db, err := bolt.Open(ctx, t.TempDir(), bolt.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	e := &imageEnv{t: t, cli: cli, db: db, instance: fmt.Sprintf("invoke-images-%d", time.Now().UnixNano())}
	if e.run, err = runner.New(ctx, cli, runner.Options{Instance: e.instance, Log: log}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := e.run.Close(ctx); err != nil {
			t.Errorf("close runner: %v", err)
		}
		if n := len(e.containers(t, "", "")); n != 0 {
			t.Errorf("%d containers remain after the runner closed", n)
		}
	})
	opts := Options{Node: "node-a", Log: log}
	if images != nil {
		opts.Images = images(db)
	}
	e.svc = New(db, e.run, opts)
	if feed == nil {
		feed = db
	}
	t.Cleanup(e.svc.Follow(feed))
	if _, err := db.CreateApp(ctx, store.App{Name: "shop", Owner: "ada"}); err != nil {
		t.Fatal(err)
	}
	return e
}

// workers starts the async workers (stopped when the test ends).
func (e *imageEnv) workers() {
	e.t.Helper()
	w, err := e.svc.StartWorkers(context.Background(), WorkerOptions{Count: 2, Poll: 20 * time.Millisecond, Backoff: 20 * time.Millisecond, MaxAttempts: 2})
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() {
		w.StopLeasing()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := w.Wait(ctx); err != nil {
			e.t.Error(err)
		}
	})
}

// image stores image name (owner ada) as a build in its first status, then sets fields
// (Status READY, Digest, BuiltAt...) with set, as the image service's workers write them.
func (e *imageEnv) image(name string, set func(*store.Image)) {
	e.t.Helper()
	ctx := context.Background()
	if _, err := e.db.GetImage(ctx, name); errors.Is(err, store.ErrNotFound) {
		if _, err := e.db.CreateImage(ctx, store.Image{Name: name, Owner: "ada", Kind: store.ImageKindFunction, Source: store.ImageSourceLoad,
			Status: store.ImageCreating, Build: "b-" + name}); err != nil {
			e.t.Fatal(err)
		}
	}
	if set == nil {
		return
	}
	if _, err := e.db.UpdateImage(ctx, name, func(img *store.Image) error { set(img); return nil }, nil); err != nil {
		e.t.Fatal(err)
	}
}

// hiddenImages is a store's images with one hidden: ErrNotFound, as an image that is gone.
type hiddenImages struct {
	ImageStore
	hidden string
}

func (h hiddenImages) GetImage(ctx context.Context, name string) (store.Image, error) {
	if name == h.hidden {
		return store.Image{}, store.NotFound("image", name)
	}
	return h.ImageStore.GetImage(ctx, name)
}

// ready is what a build that ends READY writes: the digest, and when it was built.
func ready(digest string, builtAt time.Time) func(*store.Image) {
	return func(img *store.Image) {
		img.Status, img.Error, img.Digest, img.BuiltAt = store.ImageReady, "", digest, builtAt
	}
}

// route stores route path of shop running image ("@name") as an http function.
func (e *imageEnv) route(path, image string, mod func(*store.Route)) {
	e.t.Helper()
	r := store.Route{App: "shop", Path: path, Image: image, Format: store.FormatHTTP, Timeout: 30, MaxConcurrency: 2}
	if mod != nil {
		mod(&r)
	}
	if _, err := e.db.CreateRoute(context.Background(), r, nil); err != nil {
		e.t.Fatal(err)
	}
}

// markBody asks the test function for its ROLL_MARK.
const markBody = `{"env":true,"env_keys":["ROLL_MARK"]}`

// call calls path of shop (async with header Gantry-Invoke-Type: async).
func (e *imageEnv) call(path string, header http.Header, body string) (*Response, error) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if header == nil {
		header = http.Header{}
	}
	c, err := e.svc.Resolve(ctx, Request{App: "shop", Path: path, Method: "POST", Header: header, Body: []byte(body)})
	if err != nil {
		return nil, err
	}
	c.Admit(nil)
	return e.svc.Run(ctx, c)
}

// mark calls path and returns the ROLL_MARK its function answered, and its execution.
func (e *imageEnv) mark(path string) (string, store.Execution) {
	e.t.Helper()
	resp, err := e.call(path, nil, markBody)
	if err != nil {
		e.t.Fatalf("call %s: %v", path, err)
	}
	return markIn(e.t, resp.Body), e.execution(resp.CallID)
}

func markIn(t *testing.T, body []byte) string {
	t.Helper()
	var env map[string]string
	if err := json.Unmarshal(body, &env); err != nil {
		t.Fatalf("answer %q: %v", body, err)
	}
	return env["ROLL_MARK"]
}

// execution reads a call's record (the recorder flushed first).
func (e *imageEnv) execution(id string) store.Execution {
	e.t.Helper()
	if err := e.db.FlushExecutions(context.Background()); err != nil {
		e.t.Fatal(err)
	}
	ex, err := e.db.GetExecution(context.Background(), id)
	if err != nil {
		e.t.Fatalf("execution %s: %v", id, err)
	}
	return ex
}

// settled waits for an async call's record to be final.
func (e *imageEnv) settled(id string) store.Execution {
	e.t.Helper()
	var ex store.Execution
	eventually(e.t, 60*time.Second, "the async call "+id+" settled", func() bool {
		ex = e.execution(id)
		return ex.Status != store.StatusQueued && ex.Status != store.StatusRunning
	})
	return ex
}

// containers lists this node's containers (any state) of route path ("" for all) made
// from image id ("" for any): as `docker ps -a --filter label=gantry.route=PATH` shows them.
func (e *imageEnv) containers(t *testing.T, path, id string) []container.Summary {
	t.Helper()
	args := filters.NewArgs(filters.Arg("label", runner.LabelInstance+"="+e.instance))
	if path != "" {
		args.Add("label", runner.LabelRoute+"="+path)
	}
	list, err := e.cli.ContainerList(context.Background(), container.ListOptions{All: true, Filters: args})
	if err != nil {
		t.Fatal(err)
	}
	var out []container.Summary
	for _, c := range list {
		if id == "" || c.ImageID == id {
			out = append(out, c)
		}
	}
	return out
}

// TestImageRollsToANewDigest: a route that runs "@name" runs the image's digest, records it,
// and rolls to a new build's digest at once: the next call answers from it, and no
// container of the old digest remains (the change feed drains them, with no call needed).
func TestImageRollsToANewDigest(t *testing.T) {
	t.Parallel()
	digestA, digestB := markedImage(t, "A"), markedImage(t, "B") // removed after the runner
	e := newImageEnv(t)
	builtA := time.Now().UTC().Add(-time.Hour).Truncate(time.Second)
	e.image("hello", ready(digestA, builtA))
	e.route("/hello", "@hello", nil)
	e.workers()

	if mark, ex := e.mark("/hello"); mark != "A" || ex.ImageDigest != digestA || ex.Status != store.StatusSuccess {
		t.Fatalf("first call: mark %q, execution %s digest %s; want A from %s", mark, ex.Status, ex.ImageDigest, digestA)
	}
	if n := len(e.containers(t, "/hello", digestA)); n != 1 {
		t.Fatalf("%d hot containers of digest A, want 1", n)
	}
	resp, err := e.call("/hello", http.Header{HeaderInvokeType: {"async"}}, markBody)
	if err != nil || !resp.Accepted {
		t.Fatalf("async call: %v accepted=%v", err, resp != nil && resp.Accepted)
	}
	if ex := e.settled(resp.CallID); ex.Status != store.StatusSuccess || markIn(t, ex.Output) != "A" || ex.ImageDigest != digestA {
		t.Fatalf("async call: %s %q digest %s; want SUCCESS, A from %s", ex.Status, ex.Output, ex.ImageDigest, digestA)
	}

	e.image("hello", ready(digestB, builtA.Add(time.Minute))) // a rebuild ends READY: ChangeImage
	eventually(t, 30*time.Second, "no container of the old digest remains after the rebuild, without any call", func() bool {
		return len(e.containers(t, "/hello", digestA)) == 0
	})
	if mark, ex := e.mark("/hello"); mark != "B" || ex.ImageDigest != digestB {
		t.Fatalf("after the rebuild: mark %q, digest %s; want B from %s", mark, ex.ImageDigest, digestB)
	}
	resp, err = e.call("/hello", http.Header{HeaderInvokeType: {"async"}}, markBody)
	if err != nil {
		t.Fatal(err)
	}
	if ex := e.settled(resp.CallID); markIn(t, ex.Output) != "B" || ex.ImageDigest != digestB {
		t.Fatalf("async call after the rebuild: %q digest %s; want B from %s", ex.Output, ex.ImageDigest, digestB)
	}
	if left := e.containers(t, "/hello", digestA); len(left) != 0 {
		t.Fatalf("%d containers of the old digest remain", len(left))
	}
}

// TestQueuedCallsRunTheDigestCurrentWhenTheyRun: an async call, an event delivery, a
// schedule's tick and a workflow step keep "@name" in their task and run the digest of
// the image when a worker runs them, not the one it had when they were accepted.
func TestQueuedCallsRunTheDigestCurrentWhenTheyRun(t *testing.T) {
	t.Parallel()
	digestA, digestB := markedImage(t, "A"), markedImage(t, "B") // removed after the runner
	e := newImageEnv(t)
	built := time.Now().UTC().Add(-time.Hour).Truncate(time.Second)
	e.image("queued", ready(digestA, built))
	e.route("/q", "@queued", nil)

	tests := []struct {
		name   string
		accept func(t *testing.T) string // queues a call of /q, returns its ID
	}{
		{"an async call", func(t *testing.T) string {
			resp, err := e.call("/q", http.Header{HeaderInvokeType: {"async"}}, markBody)
			if err != nil || !resp.Accepted {
				t.Fatalf("accept: %v", err)
			}
			return resp.CallID
		}},
		{"an event delivery", func(t *testing.T) string {
			c, err := e.svc.DeliveryCall(DeliveryRequest{App: "shop", Path: "/q", Delivery: "d-1", Retry: store.RetryPolicy{MaxAttempts: 1, Initial: time.Second, Max: time.Second},
				Event: store.Event{EventID: "1", Source: "/test", Type: "test", SpecVersion: "1.0", Data: []byte(markBody)}})
			return enqueue(t, e, c, err)
		}},
		{"a schedule's tick", func(t *testing.T) string {
			c, err := e.svc.ScheduledCall(ScheduledRequest{App: "shop", Path: "/q", Body: []byte(markBody), ScheduleID: "S1", Schedule: "nightly", Tick: built})
			return enqueue(t, e, c, err)
		}},
		{"a workflow step", func(t *testing.T) string {
			c, err := e.svc.StepCall(StepRequest{App: "shop", Path: "/q", Body: []byte(markBody), Parent: "run-1", Step: "s1"})
			return enqueue(t, e, c, err)
		}},
	}
	ids := map[string]string{}
	for _, tt := range tests {
		ids[tt.name] = tt.accept(t)
	}
	e.image("queued", ready(digestB, built.Add(time.Minute))) // rebuilt while they wait
	e.workers()
	for _, tt := range tests {
		t.Run(tt.name+" runs the new digest", func(t *testing.T) {
			ex := e.settled(ids[tt.name])
			if ex.Status != store.StatusSuccess || markIn(t, ex.Output) != "B" || ex.ImageDigest != digestB {
				t.Fatalf("%s %q digest %s (%s); want SUCCESS, B from %s", ex.Status, ex.Output, ex.ImageDigest, ex.Error, digestB)
			}
		})
	}
}

// enqueue queues a prepared call as its maker does, and returns its ID.
func enqueue(t *testing.T, e *imageEnv, c store.StepCall, err error) string {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	if err := e.db.EnqueueTask(context.Background(), c.Task, c.Execution); err != nil {
		t.Fatal(err)
	}
	return c.Task.ID
}

// TestImagesWithoutADigestFailCalls: a route whose image has no digest to run (its first
// build runs or failed, or it does not exist) fails its calls with a clear answer, before
// any container starts: 503 with Retry-After while the first build runs, 502 otherwise;
// an async call is tried again only while the first build runs.
func TestImagesWithoutADigestFailCalls(t *testing.T) {
	t.Parallel()
	// The store refuses a route naming an image that does not exist; "nothing" exists when
	// its route is written and is then hidden from the service, as an image gone since.
	e := newImageEnvWith(t, nil, func(db *bolt.DB) ImageStore { return hiddenImages{db, "nothing"} })
	e.image("nothing", nil)
	e.image("building", nil)
	e.image("broken", func(img *store.Image) { img.Status, img.Error = store.ImageError, "build failed: step 2/3 exited 1" })
	e.workers()
	tests := []struct {
		name       string
		image      string
		status     int
		retryAfter string
		message    string
	}{
		{"an image whose first build runs answers 503 with Retry-After", "@building", http.StatusServiceUnavailable, "10",
			"route shop/building runs image @building, whose first build is still running: the route answers once the image is READY; try again shortly"},
		{"an image whose only build failed answers 502", "@broken", http.StatusBadGateway, "",
			"route shop/broken runs image @broken, which has no build that succeeded (status ERROR): its owner reads why with GET /v1/images/broken and its log"},
		{"an image that does not exist answers 502", "@nothing", http.StatusBadGateway, "",
			"route shop/nothing runs image @nothing, which does not exist"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := "/" + strings.TrimPrefix(tt.image, "@")
			e.route(path, tt.image, nil)
			resp, err := e.call(path, nil, markBody)
			if !errors.Is(err, runner.ErrImageNotFound) {
				t.Fatalf("call: %v, want an ImageUnavailable", err)
			}
			a := httperr.From(slog.New(slog.NewTextHandler(io.Discard, nil)), err)
			if a.Status != tt.status || a.Header.Get("Retry-After") != tt.retryAfter || a.Message != tt.message {
				t.Fatalf("answer %d %q Retry-After %q, want %d %q Retry-After %q", a.Status, a.Message, a.Header.Get("Retry-After"), tt.status, tt.message, tt.retryAfter)
			}
			if ex := e.execution(resp.CallID); ex.Status != store.StatusFailed || ex.Error != tt.message || ex.ImageDigest != "" {
				t.Fatalf("execution %s %q digest %q, want FAILED with the message", ex.Status, ex.Error, ex.ImageDigest)
			}
			if n := len(e.containers(t, path, "")); n != 0 {
				t.Fatalf("%d containers started", n)
			}
			async, err := e.call(path, http.Header{HeaderInvokeType: {"async"}}, markBody)
			if err != nil {
				t.Fatal(err)
			}
			ex := e.settled(async.CallID)
			wantAttempts := 1
			if tt.retryAfter != "" {
				wantAttempts = 2 // the workers' MaxAttempts
			}
			if ex.Status != store.StatusFailed || !strings.Contains(ex.Error, tt.message) || ex.Attempts != wantAttempts {
				t.Fatalf("async: %s %q after %d attempts, want FAILED with the message after %d", ex.Status, ex.Error, ex.Attempts, wantAttempts)
			}
		})
	}
}

// heldFeed is a change feed that delivers only what a test sends: it stands for a node
// that has not heard of changes yet (they reach other nodes late, or are missed).
type heldFeed struct {
	mu  sync.Mutex
	fns map[int]func(store.Change)
	seq int
}

func (f *heldFeed) Subscribe(fn func(store.Change)) func() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fns == nil {
		f.fns = map[int]func(store.Change){}
	}
	f.seq++
	id := f.seq
	f.fns[id] = fn
	return func() {
		f.mu.Lock()
		defer f.mu.Unlock()
		delete(f.fns, id)
	}
}

func (f *heldFeed) send(c store.Change) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, fn := range f.fns {
		fn(c)
	}
}

// TestImagesAreCachedUntilTheFeedSaysTheyChanged: calls read an image once, then run its
// digest from memory until a ChangeImage of it (or a ChangeReset, after which every image
// read is read again) arrives, which also rolls its hot containers.
func TestImagesAreCachedUntilTheFeedSaysTheyChanged(t *testing.T) {
	t.Parallel()
	digests := map[string]string{"A": markedImage(t, "A"), "B": markedImage(t, "B"), "C": markedImage(t, "C")}
	feed := &heldFeed{}
	e := newImageEnvOn(t, feed)
	built := time.Now().UTC().Add(-time.Hour).Truncate(time.Second)
	e.image("cached", ready(digests["A"], built))
	e.route("/c", "@cached", nil)
	if mark, _ := e.mark("/c"); mark != "A" {
		t.Fatalf("first call: mark %q, want A", mark)
	}
	steps := []struct {
		name   string
		digest string       // the image's new digest
		change store.Change // what the feed then says
		old    string       // the digest whose containers go
	}{
		{"a ChangeImage of the image rolls it", "B", store.Change{Kind: store.ChangeImage, Name: "cached"}, "A"},
		{"a ChangeReset rolls every image read", "C", store.Change{Kind: store.ChangeReset}, "B"},
	}
	for i, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			e.image("cached", ready(digests[st.digest], built.Add(time.Duration(i+1)*time.Minute)))
			if mark, ex := e.mark("/c"); mark != st.old || ex.ImageDigest != digests[st.old] {
				t.Fatalf("before the feed tells: mark %q digest %s, want %s from the cache", mark, ex.ImageDigest, st.old)
			}
			feed.send(st.change)
			eventually(t, 30*time.Second, "the containers of the old digest went", func() bool {
				return len(e.containers(t, "/c", digests[st.old])) == 0
			})
			if mark, ex := e.mark("/c"); mark != st.digest || ex.ImageDigest != digests[st.digest] {
				t.Fatalf("after the feed told: mark %q digest %s, want %s", mark, ex.ImageDigest, st.digest)
			}
		})
	}
}

// TestEnsureImageOfAnImageName: checking a route's "@name" image checks its digest on this
// node, when it has one; an image without one (yet), or unknown, passes (its calls fail).
func TestEnsureImageOfAnImageName(t *testing.T) {
	t.Parallel()
	digest := markedImage(t, "A")
	e := newImageEnv(t)
	built := time.Now().UTC().Truncate(time.Second)
	e.image("here", ready(digest, built))
	e.image("elsewhere", ready("sha256:"+strings.Repeat("0bad", 16), built))
	e.image("building", nil)
	tests := []struct {
		name    string
		ref     string
		wantErr string // "": none
	}{
		{"an image whose digest is on this node passes", "@here", ""},
		{"an image whose digest another node made fails, saying so", "@elsewhere", "another node"},
		{"an image whose first build runs passes", "@building", ""},
		{"an unknown image passes (the route's writer is checked elsewhere)", "@nothing", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := e.svc.EnsureImage(context.Background(), tt.ref)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("EnsureImage(%s) = %v, want nil", tt.ref, err)
			case tt.wantErr != "" && (!errors.Is(err, runner.ErrImageNotFound) || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("EnsureImage(%s) = %v, want ErrImageNotFound saying %q", tt.ref, err, tt.wantErr)
			}
		})
	}
}
