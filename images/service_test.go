package images

// These tests run the service against the real Docker daemon and a real bbolt store:
// function images are static Go binaries built FROM scratch here, so nothing needs a
// network. Every image a test builds carries the label gantry.test=<this run>, set by
// the test's Dockerfiles right after FROM, so that the leftovers of a build (even its
// intermediate images) are found and checked.

import (
	"archive/tar"
	"bytes"
	"cmp"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/build"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"
	"github.com/docker/docker/pkg/stdcopy"
	bbolt "go.etcd.io/bbolt"

	"github.com/gantry-dev/gantry/httperr"
	"github.com/gantry-dev/gantry/store"
	"github.com/gantry-dev/gantry/store/bolt"
)

// testLabel marks every image this test run builds.
const testLabel = "gantry.test"

type env struct {
	t      *testing.T
	svc    *Service
	st     *bolt.DB
	docker *client.Client
	dir    string
	run    string // this test's value of testLabel
}

func newEnv(t *testing.T, cfg Config) *env {
	t.Helper()
	return newEnvIn(t, cfg, t.TempDir())
}

// newEnvIn is newEnv on the store in storeDir.
func newEnvIn(t *testing.T, cfg Config, storeDir string) *env {
	t.Helper()
	docker, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := docker.Ping(ctx); err != nil {
		t.Fatalf("the images tests need Docker: %v", err)
	}
	st, err := bolt.Open(ctx, storeDir, bolt.Options{NoSync: true, Node: "node-a"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	if cfg.Dir == "" {
		cfg.Dir = filepath.Join(t.TempDir(), "uploads")
	}
	if cfg.Node == "" {
		cfg.Node = "node-a"
	}
	e := &env{t: t, st: st, docker: docker, dir: cfg.Dir,
		run: strings.ToLower(strings.ReplaceAll(t.Name(), "/", "-")) + "-" + fmt.Sprint(time.Now().UnixNano())}
	e.svc = New(st, docker, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err := e.svc.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		e.svc.Close()
		e.removeLabelled()
	})
	return e
}

// removeLabelled removes every image of this test run (the test's own cleanup).
func (e *env) removeLabelled() {
	ctx := context.Background()
	list, _ := e.docker.ImageList(ctx, image.ListOptions{All: true, Filters: filters.NewArgs(filters.Arg("label", testLabel+"="+e.run))})
	for _, im := range list {
		_, _ = e.docker.ImageRemove(ctx, im.ID, image.RemoveOptions{Force: true, PruneChildren: true})
	}
}

var (
	binMu sync.Mutex
	bins  = map[string][]byte{}
)

// binary is a static Go program that prints "hello <version>", built once per version.
func binary(t *testing.T, version string) []byte {
	t.Helper()
	binMu.Lock()
	defer binMu.Unlock()
	if b, ok := bins[version]; ok {
		return b
	}
	dir := t.TempDir()
	src := "package main\n\nimport \"fmt\"\n\nvar version = \"\"\n\nfunc main() { fmt.Print(\"hello \" + version) }\n"
	if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module tiny\n\ngo 1.22\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w -X main.version="+version, "-o", "fn", ".")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOWORK=off", "GOFLAGS=")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	b, err := os.ReadFile(filepath.Join(dir, "fn"))
	if err != nil {
		t.Fatal(err)
	}
	bins[version] = b
	return b
}

// context is a build context: the Dockerfile (FROM scratch, the test label, then lines)
// and the binary of version as "fn".
func (e *env) context(version string, lines ...string) []byte {
	df := "FROM scratch\nLABEL " + testLabel + "=" + e.run + "\n" + strings.Join(lines, "\n") + "\n"
	return tarball(e.t, entry{name: "Dockerfile", body: df}, entry{name: "fn", body: string(binary(e.t, version))})
}

var fnLines = []string{"COPY fn /fn", `ENTRYPOINT ["/fn"]`}

func mine(owner string) store.AppGuard {
	return func(o string) error {
		if o != owner {
			return store.ErrNotFound
		}
		return nil
	}
}

func (e *env) upload(img store.Image, body []byte) (store.Image, bool, error) {
	if img.Owner == "" {
		img.Owner = "alice"
	}
	return e.svc.Upload(context.Background(), img, bytes.NewReader(body), mine(img.Owner), func(b store.Image) bool { return b.Owner == img.Owner })
}

// final waits for the image's build to end.
func (e *env) final(name string) store.Image {
	e.t.Helper()
	deadline := time.Now().Add(3 * time.Minute)
	for {
		img, err := e.st.GetImage(context.Background(), name)
		if err != nil {
			e.t.Fatal(err)
		}
		if img.Status != store.ImageCreating && !e.svc.owns(img.Build) {
			return img
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("image %s still CREATING", name)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (e *env) ready(name string) store.Image {
	e.t.Helper()
	img := e.final(name)
	if img.Status != store.ImageReady {
		e.t.Fatalf("image %s: %s %q", name, img.Status, img.Error)
	}
	return img
}

// runImage runs image ref with no input and returns what it printed.
func (e *env) runImage(ref string) string {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := e.docker.ContainerCreate(ctx, &container.Config{Image: ref, Labels: map[string]string{testLabel: e.run}}, &container.HostConfig{NetworkMode: "none"}, nil, nil, "")
	if err != nil {
		e.t.Fatalf("create a container of %s: %v", ref, err)
	}
	defer func() { _ = e.docker.ContainerRemove(context.Background(), c.ID, container.RemoveOptions{Force: true}) }()
	if err := e.docker.ContainerStart(ctx, c.ID, container.StartOptions{}); err != nil {
		e.t.Fatal(err)
	}
	waitc, errc := e.docker.ContainerWait(ctx, c.ID, container.WaitConditionNotRunning)
	select {
	case w := <-waitc:
		if w.StatusCode != 0 {
			e.t.Fatalf("%s exited %d", ref, w.StatusCode)
		}
	case err := <-errc:
		e.t.Fatal(err)
	}
	rc, err := e.docker.ContainerLogs(ctx, c.ID, container.LogsOptions{ShowStdout: true})
	if err != nil {
		e.t.Fatal(err)
	}
	defer rc.Close()
	var out bytes.Buffer
	if _, err := stdcopy.StdCopy(&out, io.Discard, rc); err != nil {
		e.t.Fatal(err)
	}
	return out.String()
}

// clean checks that nothing is left behind: no file in the upload folder, no dangling
// image of this run, and no image of this run beyond those of keep (digests).
func (e *env) clean(keep ...string) {
	e.t.Helper()
	files, err := os.ReadDir(e.dir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		e.t.Fatal(err)
	}
	for _, f := range files {
		e.t.Errorf("stray file in the upload folder: %s", f.Name())
	}
	ctx := context.Background()
	dangling, err := e.docker.ImageList(ctx, image.ListOptions{Filters: filters.NewArgs(filters.Arg("dangling", "true"), filters.Arg("label", testLabel+"="+e.run))})
	if err != nil {
		e.t.Fatal(err)
	}
	for _, im := range dangling {
		e.t.Errorf("dangling image left: %s", im.ID)
	}
	// Every image of this run must be a kept one or a parent (intermediate step) of one.
	kept := map[string]bool{}
	for _, k := range keep {
		for id := k; id != ""; {
			kept[id] = true
			info, err := e.docker.ImageInspect(ctx, id)
			if err != nil {
				e.t.Fatalf("inspect %s: %v", id, err)
			}
			id = info.Parent //nolint:staticcheck // the classic builder's step images are the parents
		}
	}
	all, err := e.docker.ImageList(ctx, image.ListOptions{All: true, Filters: filters.NewArgs(filters.Arg("label", testLabel+"="+e.run))})
	if err != nil {
		e.t.Fatal(err)
	}
	for _, im := range all {
		if !kept[im.ID] {
			e.t.Errorf("image left behind: %s %v", im.ID, im.RepoTags)
		}
	}
}

// removeUntagged removes this run's untagged images that are not (parents of) kept ones,
// with the stopped build containers an interrupted build left on them; newest first, so
// that children go before their parents. The daemon may still be committing the step it
// was cut off in: it lists again until a pass finds nothing left (at most a few seconds).
func (e *env) removeUntagged(keep ...string) {
	e.t.Helper()
	ctx := context.Background()
	kept := map[string]bool{}
	for _, k := range keep {
		for id := k; id != ""; {
			kept[id] = true
			info, err := e.docker.ImageInspect(ctx, id)
			if err != nil {
				e.t.Fatalf("inspect %s: %v", id, err)
			}
			id = info.Parent //nolint:staticcheck // the classic builder's step images are the parents
		}
	}
	for pass := 0; pass < 20; pass++ {
		all, err := e.docker.ImageList(ctx, image.ListOptions{All: true, Filters: filters.NewArgs(filters.Arg("label", testLabel+"="+e.run))})
		if err != nil {
			e.t.Fatal(err)
		}
		slices.SortFunc(all, func(a, b image.Summary) int { return cmp.Compare(b.Created, a.Created) })
		left := 0
		for _, im := range all {
			if kept[im.ID] || slices.ContainsFunc(im.RepoTags, func(tag string) bool { return tag != "<none>:<none>" }) {
				continue
			}
			left++
			e.t.Logf("an interrupted build left untagged %s", im.ID)
			users, err := e.docker.ContainerList(ctx, container.ListOptions{All: true, Filters: filters.NewArgs(filters.Arg("ancestor", im.ID))})
			if err != nil {
				e.t.Fatal(err)
			}
			for _, c := range users {
				if err := e.docker.ContainerRemove(ctx, c.ID, container.RemoveOptions{Force: true}); err != nil && !cerrdefs.IsNotFound(err) {
					e.t.Logf("remove container %s: %v", c.ID, err)
				}
			}
			if _, err := e.docker.ImageRemove(ctx, im.ID, image.RemoveOptions{PruneChildren: true}); err != nil && !cerrdefs.IsNotFound(err) {
				e.t.Logf("remove %s: %v", im.ID, err)
			}
		}
		if left == 0 && pass > 0 {
			return
		}
		time.Sleep(250 * time.Millisecond)
	}
}

func gone(t *testing.T, docker *client.Client, ref string) {
	t.Helper()
	if _, err := docker.ImageInspect(context.Background(), ref); !cerrdefs.IsNotFound(err) {
		t.Errorf("image %s: err = %v, want it removed", ref, err)
	}
}

func TestBuildRebuildLoadAndDelete(t *testing.T) {
	e := newEnv(t, Config{})
	ctx := context.Background()

	t.Run("an uploaded context builds into an image that runs", func(t *testing.T) {
		img, created, err := e.upload(store.Image{Name: "greet"}, e.context("v1", fnLines...))
		if err != nil || !created || img.Status != store.ImageCreating || img.Build == "" || img.Network != store.NetworkNone {
			t.Fatalf("upload: %+v created=%v err=%v", img, created, err)
		}
		img = e.ready("greet")
		if !strings.HasPrefix(img.Digest, "sha256:") || img.Size <= 0 || img.Tag != Tag("greet", img.Build) || img.BuiltAt.IsZero() || img.Node != "node-a" {
			t.Fatalf("ready image: %+v", img)
		}
		if got := e.runImage(img.Digest); got != "hello v1" {
			t.Errorf("the image printed %q", got)
		}
		var log bytes.Buffer
		if err := e.svc.WriteLog(ctx, "greet", false, &log, nil); err != nil || !strings.Contains(log.String(), "COPY fn /fn") {
			t.Errorf("log %q, err %v", log.String(), err)
		}
		e.clean(img.Digest)
	})
	first, _ := e.st.GetImage(ctx, "greet")

	t.Run("a failing rebuild ends ERROR with the log's end and keeps the old digest", func(t *testing.T) {
		if _, created, err := e.upload(store.Image{Name: "greet"}, e.context("v2", "COPY fn /fn", "RUN /no-such-program")); err != nil || created {
			t.Fatalf("rebuild: created=%v err=%v", created, err)
		}
		img := e.final("greet")
		if img.Status != store.ImageError || !strings.Contains(img.Error, "build failed") || !strings.Contains(img.Error, "RUN /no-such-program") {
			t.Fatalf("failed rebuild: %s %q", img.Status, img.Error)
		}
		if img.Digest != first.Digest || img.Tag != first.Tag {
			t.Errorf("digest %s tag %s, want the old %s %s", img.Digest, img.Tag, first.Digest, first.Tag)
		}
		if got := e.runImage(img.Tag); got != "hello v1" {
			t.Errorf("the old image printed %q", got)
		}
		e.clean(first.Digest)
	})

	var second store.Image
	t.Run("a rebuild that works replaces the digest and removes the old tag", func(t *testing.T) {
		if _, _, err := e.upload(store.Image{Name: "greet"}, e.context("v3", fnLines...)); err != nil {
			t.Fatal(err)
		}
		second = e.ready("greet")
		if second.Digest == first.Digest || second.Tag == first.Tag {
			t.Fatalf("rebuild kept %s %s", second.Digest, second.Tag)
		}
		gone(t, e.docker, first.Tag)
		gone(t, e.docker, first.Digest)
		if got := e.runImage(second.Tag); got != "hello v3" {
			t.Errorf("the new image printed %q", got)
		}
		e.clean(second.Digest)
	})

	t.Run("a docker save tarball loads", func(t *testing.T) {
		rc, err := e.docker.ImageSave(ctx, []string{second.Tag})
		if err != nil {
			t.Fatal(err)
		}
		saved, err := io.ReadAll(rc)
		_ = rc.Close()
		if err != nil {
			t.Fatal(err)
		}
		if err := e.svc.Delete(ctx, "greet", mine("alice")); err != nil {
			t.Fatal(err)
		}
		gone(t, e.docker, second.Tag)
		gone(t, e.docker, second.Digest)

		if _, created, err := e.upload(store.Image{Name: "greet-loaded", Source: store.ImageSourceLoad}, gzipped(t, saved)); err != nil || !created {
			t.Fatalf("load: created=%v err=%v", created, err)
		}
		img := e.ready("greet-loaded")
		if img.Digest != second.Digest || img.Tag != Tag("greet-loaded", img.Build) {
			t.Fatalf("loaded %+v, want digest %s", img, second.Digest)
		}
		// The tarball's own tag was not loaded: only Gantry's names the image.
		gone(t, e.docker, second.Tag)
		if got := e.runImage(img.Tag); got != "hello v3" {
			t.Errorf("the loaded image printed %q", got)
		}
		e.clean(img.Digest)
		if err := e.svc.Delete(ctx, "greet-loaded", mine("alice")); err != nil {
			t.Fatal(err)
		}
		gone(t, e.docker, img.Digest)
		if _, err := e.st.GetImage(ctx, "greet-loaded"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("deleted image: %v", err)
		}
		e.clean()
	})
}

func TestAFirstBuildThatFailsLeavesNothing(t *testing.T) {
	e := newEnv(t, Config{})
	if _, _, err := e.upload(store.Image{Name: "broken"}, e.context("v1", "COPY fn /fn", "COPY missing /missing")); err != nil {
		t.Fatal(err)
	}
	img := e.final("broken")
	if img.Status != store.ImageError || !strings.Contains(img.Error, "missing") || img.Digest != "" {
		t.Fatalf("%s %q digest %q", img.Status, img.Error, img.Digest)
	}
	var log bytes.Buffer
	if err := e.svc.WriteLog(context.Background(), "broken", true, &log, nil); err != nil || !strings.Contains(log.String(), "ERROR: build failed") {
		t.Errorf("log %q, err %v", log.String(), err)
	}
	gone(t, e.docker, Tag("broken", img.Build))
	e.clean()
}

func TestABuildOnABaseImage(t *testing.T) {
	e := newEnv(t, Config{})
	base := tarball(t, entry{name: "Dockerfile", body: "FROM scratch\nLABEL " + testLabel + "=" + e.run + "\nCOPY fn /fn\n"}, entry{name: "fn", body: string(binary(t, "base"))})
	if _, _, err := e.upload(store.Image{Name: "runtime", Kind: store.ImageKindBase}, base); err != nil {
		t.Fatal(err)
	}
	b := e.ready("runtime")
	fn := tarball(t, entry{name: "build/Dockerfile", body: "ARG BASE_IMAGE\nFROM ${BASE_IMAGE}\nENTRYPOINT [\"/fn\"]\n"})
	if _, _, err := e.upload(store.Image{Name: "on-base", Base: "@runtime", Dockerfile: "build/Dockerfile"}, fn); err != nil {
		t.Fatal(err)
	}
	img := e.ready("on-base")
	if got := e.runImage(img.Digest); got != "hello base" {
		t.Errorf("the image on the base printed %q", got)
	}
	ctx := context.Background()
	if err := e.svc.Delete(ctx, "runtime", nil); !errors.Is(err, store.ErrConflict) || !strings.Contains(err.Error(), "on-base") {
		t.Errorf("delete a base in use: %v", err)
	}
	pruned, err := e.svc.Prune(ctx)
	if err != nil || strings.Join(pruned, ",") != "on-base" {
		t.Errorf("prune: %v %v, want only on-base (runtime is its base)", pruned, err)
	}
	if pruned, err = e.svc.Prune(ctx); err != nil || strings.Join(pruned, ",") != "runtime" {
		t.Errorf("second prune: %v %v", pruned, err)
	}
	gone(t, e.docker, b.Tag)
	gone(t, e.docker, img.Tag)
	e.clean()
}

func TestPulls(t *testing.T) {
	e := newEnv(t, Config{})
	ctx := context.Background()
	t.Run("an unreachable reference ends ERROR with the daemon's reason", func(t *testing.T) {
		img, err := e.svc.Create(ctx, store.Image{Name: "far", Owner: "alice", Source: store.ImageSourceReference, Reference: "registry.invalid/gantry/nothing:1"})
		if err != nil || img.Status != store.ImageCreating {
			t.Fatalf("create: %+v %v", img, err)
		}
		img = e.final("far")
		if img.Status != store.ImageError || !strings.Contains(img.Error, "pull registry.invalid/gantry/nothing:1") {
			t.Fatalf("%s %q", img.Status, img.Error)
		}
		t.Logf("reason: %s", img.Error)
	})
	t.Run("a reference present on the node is used as it is", func(t *testing.T) {
		if _, _, err := e.upload(store.Image{Name: "local"}, e.context("local", fnLines...)); err != nil {
			t.Fatal(err)
		}
		local := e.ready("local")
		img, err := e.svc.Create(ctx, store.Image{Name: "pulled", Owner: "alice", Source: store.ImageSourceReference, Reference: local.Tag})
		if err != nil {
			t.Fatal(err)
		}
		img = e.ready("pulled")
		if img.Digest != local.Digest || img.Tag != Tag("pulled", img.Build) {
			t.Fatalf("pulled %+v", img)
		}
		if err := e.svc.Delete(ctx, "pulled", nil); err != nil {
			t.Fatal(err)
		}
		gone(t, e.docker, img.Tag)
		if _, err := e.docker.ImageInspect(ctx, local.Tag); err != nil {
			t.Errorf("deleting the pulled image removed the reference it pulled: %v", err)
		}
		if _, err := e.svc.Create(ctx, store.Image{Name: "local", Owner: "bob", Source: store.ImageSourceReference, Reference: "x:1"}); !errors.Is(err, store.ErrExists) || !strings.Contains(err.Error(), "image local is taken") {
			t.Errorf("create over a name taken: %v", err)
		}
	})
}

func TestBadUploadsLeaveNothing(t *testing.T) {
	e := newEnv(t, Config{MaxUpload: 4 << 20})
	ctx := context.Background()
	// bob's image, and alice's image being built (Builds: 1 and a queued job keep it CREATING
	// long enough? no: it is made CREATING in the store directly).
	if _, _, err := e.upload(store.Image{Name: "bobs", Owner: "bob"}, e.context("bob", fnLines...)); err != nil {
		t.Fatal(err)
	}
	bobs := e.ready("bobs")
	if _, err := e.st.CreateImage(ctx, store.Image{Name: "busy", Owner: "alice", Kind: store.ImageKindFunction, Source: store.ImageSourceBuild, Network: store.NetworkNone, Dockerfile: "Dockerfile", Status: store.ImageCreating, Build: e.st.NewID(), Node: "node-b"}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.st.CreateImage(ctx, store.Image{Name: "failed-base", Owner: "alice", Kind: store.ImageKindBase, Source: store.ImageSourceBuild, Network: store.NetworkNone, Dockerfile: "Dockerfile", Status: store.ImageError, Build: e.st.NewID()}); err != nil {
		t.Fatal(err)
	}
	big := tarball(t, entry{name: "Dockerfile", body: "FROM scratch\n"}, entry{name: "blob", body: strings.Repeat("x", 5<<20)})
	for _, tc := range []struct {
		name   string
		img    store.Image
		body   []byte
		status string // "400 field", "409", "413"
	}{
		{"a ../ entry", store.Image{Name: "bad"}, tarball(t, entry{name: "Dockerfile", body: "FROM scratch"}, entry{name: "../x", body: "x"}), "400 context"},
		{"a symlink out of the context", store.Image{Name: "bad"}, tarball(t, entry{name: "Dockerfile", body: "FROM scratch"}, entry{name: "l", link: "../../etc", kind: '2'}), "400 context"},
		{"a symlink through a symlink", store.Image{Name: "bad"}, tarball(t, entry{name: "Dockerfile", body: "FROM scratch"}, entry{name: "a", link: ".", kind: '2'}, entry{name: "a/b", link: "..", kind: '2'}), "400 context"},
		{"an upload over the limit", store.Image{Name: "bad"}, big, "413 larger than"},
		{"a gzipped context that unpacks past 4 × the upload limit", store.Image{Name: "bad"}, gzipped(t, tarball(t, dockerfile, entry{name: "zeros", body: strings.Repeat("\x00", 17<<20)})), "413 unpacked"},
		{"a gzipped image tarball that unpacks past 4 × the upload limit", store.Image{Name: "bad", Source: store.ImageSourceLoad}, gzipped(t, tarball(t, entry{name: "manifest.json", body: `[{"Config":"c.json"}]`}, entry{name: "zeros", body: strings.Repeat("\x00", 17<<20)})), "413 unpacked"},
		{"a context without a Dockerfile", store.Image{Name: "bad"}, tarball(t, entry{name: "fn", body: "x"}), "400 dockerfile"},
		{"a load that is not an image tarball", store.Image{Name: "bad", Source: store.ImageSourceLoad}, e.context("v1"), "400 body"},
		{"a base that does not exist", store.Image{Name: "bad", Base: "@nothing"}, e.context("v1", fnLines...), "400 base"},
		{"another owner's base", store.Image{Name: "bad", Base: "@bobs"}, e.context("v1", fnLines...), "400 base"},
		{"a base that is not ready", store.Image{Name: "bad", Base: "@failed-base"}, e.context("v1", fnLines...), "400 base"},
		{"an invalid name", store.Image{Name: "Bad Name"}, e.context("v1", fnLines...), "400 name"},
		{"a name another owner has", store.Image{Name: "bobs"}, e.context("v1", fnLines...), "409 image bobs is taken"},
		{"an image being built", store.Image{Name: "busy"}, e.context("v1", fnLines...), "409 a build of image busy is running"},
	} {
		t.Run(tc.name+" is refused", func(t *testing.T) {
			_, _, err := e.upload(tc.img, tc.body)
			var verr *store.ValidationError
			switch field, isField := strings.CutPrefix(tc.status, "400 "); {
			case isField:
				if !errors.As(err, &verr) || verr.Field != field {
					t.Fatalf("err = %v, want a 400 of field %s", err, field)
				}
			case strings.HasPrefix(tc.status, "413 "):
				var answer *httperr.Error
				if !errors.As(err, &answer) || answer.Status != http.StatusRequestEntityTooLarge || !strings.Contains(answer.Message, strings.TrimPrefix(tc.status, "413 ")) {
					t.Fatalf("err = %v, want %s", err, tc.status)
				}
			default:
				msg := strings.TrimPrefix(tc.status, "409 ")
				if !errors.Is(err, store.ErrExists) && !errors.Is(err, store.ErrConflict) || !strings.Contains(err.Error(), msg) {
					t.Fatalf("err = %v, want 409 %q", err, msg)
				}
			}
			if _, err := e.st.GetImage(ctx, "bad"); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("the refused image was stored: %v", err)
			}
			e.clean(bobs.Digest)
		})
	}
	t.Run("a gzipped context that unpacks to less than 4 × the upload limit builds", func(t *testing.T) {
		roomy := gzipped(t, tarball(t, entry{name: "Dockerfile", body: "FROM scratch\nLABEL " + testLabel + "=" + e.run + "\n"}, entry{name: "zeros", body: strings.Repeat("\x00", 12<<20)}))
		if _, _, err := e.upload(store.Image{Name: "roomy"}, roomy); err != nil {
			t.Fatal(err)
		}
		e.clean(bobs.Digest, e.ready("roomy").Digest)
	})
	if img, _ := e.st.GetImage(ctx, "bobs"); img.Build != bobs.Build || img.Status != store.ImageReady {
		t.Errorf("bob's image changed: %+v", img)
	}
	if err := e.svc.Delete(ctx, "busy", nil); !errors.Is(err, store.ErrConflict) {
		t.Errorf("delete an image being built: %v", err)
	}
	if err := e.svc.Delete(ctx, "bobs", mine("alice")); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("delete another owner's image: %v", err)
	}
}

func TestAnUploadOfTooManyEntriesIsRefused(t *testing.T) {
	e := newEnv(t, Config{MaxUnpacked: 128 << 20})
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for i := range MaxEntries + 1 {
		if err := tw.WriteHeader(&tar.Header{Name: fmt.Sprintf("f%d", i), Typeflag: tar.TypeReg, Mode: 0o644}); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	_, _, err := e.upload(store.Image{Name: "many"}, buf.Bytes())
	var verr *store.ValidationError
	if !errors.As(err, &verr) || verr.Field != "context" || !strings.Contains(verr.Message, fmt.Sprintf("more than %d entries", MaxEntries)) {
		t.Fatalf("err = %v, want a 400 of the context naming the entries", err)
	}
	if _, err := e.st.GetImage(context.Background(), "many"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("the refused image was stored: %v", err)
	}
	e.clean()
}

// unread is a body that fails the test when read.
type unread struct{ t *testing.T }

func (u unread) Read([]byte) (int, error) {
	u.t.Error("the body was read")
	return 0, io.EOF
}

func TestQueuedUploadsAreBounded(t *testing.T) {
	e := newEnv(t, Config{MaxQueued: 2})
	ctx := context.Background()
	busy := func(t *testing.T, err error) {
		t.Helper()
		var answer *httperr.Error
		if !errors.As(err, &answer) || answer.Status != http.StatusServiceUnavailable || answer.Header.Get("Retry-After") == "" {
			t.Fatalf("err = %v, want a 503 with Retry-After", err)
		}
	}
	e.svc.sem <- struct{}{} // hold the one worker: uploads wait
	for _, name := range []string{"first", "second"} {
		if _, _, err := e.upload(store.Image{Name: name}, e.context(name, fnLines...)); err != nil {
			t.Fatal(err)
		}
	}
	t.Run("an upload past MaxQueued waiting is refused before its body is read", func(t *testing.T) {
		_, _, err := e.svc.Upload(ctx, store.Image{Name: "third", Owner: "alice"}, unread{t}, nil, nil)
		busy(t, err)
		if _, err := e.st.GetImage(ctx, "third"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("the refused image was stored: %v", err)
		}
		if files, _ := os.ReadDir(e.dir); len(files) != 2 {
			t.Errorf("the upload folder holds %d files, want the 2 queued uploads", len(files))
		}
	})
	t.Run("a pull past MaxQueued waiting is refused", func(t *testing.T) {
		_, err := e.svc.Create(ctx, store.Image{Name: "pulled", Owner: "alice", Source: store.ImageSourceReference, Reference: "x:1"})
		busy(t, err)
		if _, err := e.st.GetImage(ctx, "pulled"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("the refused image was stored: %v", err)
		}
	})
	<-e.svc.sem
	first, second := e.ready("first"), e.ready("second")
	t.Run("once the queue drains, uploads are taken again", func(t *testing.T) {
		if _, _, err := e.upload(store.Image{Name: "third"}, e.context("third", fnLines...)); err != nil {
			t.Fatal(err)
		}
		e.clean(first.Digest, second.Digest, e.ready("third").Digest)
	})
	t.Run("after Close an upload is refused before its body is read", func(t *testing.T) {
		e.svc.Close()
		_, _, err := e.svc.Upload(ctx, store.Image{Name: "late", Owner: "alice"}, unread{t}, nil, nil)
		busy(t, err)
		if _, err := e.st.GetImage(ctx, "late"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("the refused image was stored: %v", err)
		}
	})
}

// lateStore is a store whose writes that make an image CREATING fail after they were
// made, as a write whose answer is lost does.
type lateStore struct{ *bolt.DB }

var errLost = errors.New("the store's answer was lost")

func (l lateStore) CreateImage(ctx context.Context, img store.Image) (store.Image, error) {
	if _, err := l.DB.CreateImage(ctx, img); err != nil {
		return store.Image{}, err
	}
	return store.Image{}, errLost
}

func (l lateStore) UpdateImage(ctx context.Context, name string, fn func(*store.Image) error, guard store.AppGuard) (store.Image, error) {
	img, err := l.DB.UpdateImage(ctx, name, fn, guard)
	if err == nil && img.Status == store.ImageCreating {
		return store.Image{}, errLost
	}
	return img, err
}

// cancelAtEOF is a body whose request ends as the body is read to its end.
type cancelAtEOF struct {
	r      io.Reader
	cancel context.CancelFunc
}

func (c cancelAtEOF) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if errors.Is(err, io.EOF) {
		c.cancel()
	}
	return n, err
}

func TestAnImageIsNeverLeftCreatingByItsRequest(t *testing.T) {
	e := newEnv(t, Config{})
	var built string // the digest of image gone
	t.Run("a request that ends as its body is read still gets its build", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		body := cancelAtEOF{r: bytes.NewReader(e.context("v1", fnLines...)), cancel: cancel}
		if _, _, err := e.svc.Upload(ctx, store.Image{Name: "gone", Owner: "alice"}, body, nil, nil); err != nil {
			t.Fatal(err)
		}
		if ctx.Err() == nil {
			t.Fatal("the body was not read to its end")
		}
		built = e.ready("gone").Digest
		e.clean(built)
	})
	late := New(lateStore{e.st}, e.docker, Config{Dir: e.dir, Node: "node-a"}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	defer late.Close()
	for _, tc := range []struct {
		name string
		do   func() error
	}{
		{"a new image", func() error {
			_, _, err := late.Upload(context.Background(), store.Image{Name: "lost", Owner: "alice"}, bytes.NewReader(e.context("v1", fnLines...)), nil, nil)
			return err
		}},
		{"a new build of an image", func() error {
			_, _, err := late.Upload(context.Background(), store.Image{Name: "gone", Owner: "alice"}, bytes.NewReader(e.context("v2", fnLines...)), nil, nil)
			return err
		}},
		{"a pull", func() error {
			_, err := late.Create(context.Background(), store.Image{Name: "lost-pull", Owner: "alice", Source: store.ImageSourceReference, Reference: "x:1"})
			return err
		}},
	} {
		t.Run(tc.name+" whose write is made but fails ends ERROR", func(t *testing.T) {
			if err := tc.do(); !errors.Is(err, errLost) {
				t.Fatalf("err = %v, want the store's", err)
			}
		})
	}
	for _, name := range []string{"lost", "gone", "lost-pull"} {
		if img, _ := e.st.GetImage(context.Background(), name); img.Status != store.ImageError || img.Error != msgNotStarted {
			t.Errorf("image %s: %s %q, want ERROR %q", name, img.Status, img.Error, msgNotStarted)
		}
	}
	e.clean(built) // a failed build keeps the image's last good one
}

func TestAStaleBuildOfAnotherNodeDoesNotHoldItsImage(t *testing.T) {
	ctx := context.Background()
	storeDir := t.TempDir()
	st, err := bolt.Open(ctx, storeDir, bolt.Options{NoSync: true, Node: "node-a"})
	if err != nil {
		t.Fatal(err)
	}
	stale := []string{"stale-deleted", "stale-ended", "stale-pruned", "stale-rebuilt"}
	for _, name := range append(stale, "fresh") {
		if _, err := st.CreateImage(ctx, store.Image{Name: name, Owner: "alice", Kind: store.ImageKindFunction, Source: store.ImageSourceBuild, Network: store.NetworkNone, Dockerfile: "Dockerfile", Status: store.ImageCreating, Build: st.NewID(), Node: "node-b"}); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	// node-b stopped long ago: its records are older than BuildTimeout and a minute.
	db, err := bbolt.Open(filepath.Join(storeDir, bolt.FileName), 0o600, &bbolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bbolt.Tx) error {
		b := tx.Bucket([]byte("images"))
		for _, name := range stale {
			var rec map[string]any
			if err := json.Unmarshal(b.Get([]byte(name)), &rec); err != nil {
				return err
			}
			rec["updated_at"] = time.Now().Add(-DefaultBuildTimeout - 2*time.Minute).UTC()
			data, err := json.Marshal(rec)
			if err != nil {
				return err
			}
			if err := b.Put([]byte(name), data); err != nil {
				return err
			}
		}
		return nil
	})
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}
	e := newEnvIn(t, Config{}, storeDir)

	t.Run("a build of another node written to lately still holds its image", func(t *testing.T) {
		if _, _, err := e.upload(store.Image{Name: "fresh"}, e.context("v1", fnLines...)); !errors.Is(err, store.ErrConflict) {
			t.Errorf("upload: %v, want 409", err)
		}
		if err := e.svc.Delete(ctx, "fresh", nil); !errors.Is(err, store.ErrConflict) {
			t.Errorf("delete: %v, want 409", err)
		}
	})
	t.Run("a stale build is replaced by a new one", func(t *testing.T) {
		if _, _, err := e.upload(store.Image{Name: "stale-rebuilt"}, e.context("v1", fnLines...)); err != nil {
			t.Fatal(err)
		}
		if img := e.ready("stale-rebuilt"); img.Node != "node-a" {
			t.Errorf("rebuilt on %s", img.Node)
		}
	})
	t.Run("an image of a stale build is deleted", func(t *testing.T) {
		if err := e.svc.Delete(ctx, "stale-deleted", nil); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("the sweep ends a stale build ERROR for every reader, and leaves a fresh one", func(t *testing.T) {
		n, err := e.svc.EndStale(ctx)
		if err != nil || n != 2 { // stale-ended and stale-pruned (stale-rebuilt is READY, stale-deleted gone)
			t.Fatalf("ended %d (%v), want 2", n, err)
		}
		for name, want := range map[string]string{"stale-ended": store.ImageError, "stale-pruned": store.ImageError, "fresh": store.ImageCreating} {
			if img, err := e.st.GetImage(ctx, name); err != nil || img.Status != want {
				t.Errorf("%s: %s %q (%v), want %s", name, img.Status, img.Error, err, want)
			}
		}
		if n, err := e.svc.EndStale(ctx); err != nil || n != 0 {
			t.Errorf("a second sweep ended %d (%v), want 0", n, err)
		}
	})
	t.Run("an image of a stale build is pruned", func(t *testing.T) {
		pruned, err := e.svc.Prune(ctx)
		if err != nil || strings.Join(pruned, ",") != "stale-ended,stale-pruned,stale-rebuilt" {
			t.Fatalf("pruned %v (%v), want stale-ended, stale-pruned and stale-rebuilt", pruned, err)
		}
	})
	t.Run("a followed log of a stale build ends", func(t *testing.T) {
		if _, err := e.st.UpdateImage(ctx, "fresh", func(*store.Image) error { return nil }, nil); err != nil {
			t.Fatal(err)
		}
		e.svc.cfg.BuildTimeout = -time.Minute // every build of another node is stale now
		defer func() { e.svc.cfg.BuildTimeout = DefaultBuildTimeout }()
		done := make(chan error, 1)
		go func() { done <- e.svc.WriteLog(ctx, "fresh", true, io.Discard, nil) }()
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("the followed log did not end")
		}
	})
	e.clean()
}

func TestAWaitingJobKeepsItsImageFresh(t *testing.T) {
	e := newEnv(t, Config{})
	e.svc.heartbeat = 20 * time.Millisecond
	e.svc.sem <- struct{}{} // hold the one worker: the upload waits
	img, _, err := e.upload(store.Image{Name: "waiting"}, e.context("w", fnLines...))
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	cur, err := e.st.GetImage(context.Background(), "waiting")
	if err != nil {
		t.Fatal(err)
	}
	<-e.svc.sem
	if !cur.UpdatedAt.After(img.UpdatedAt) || cur.Status != store.ImageCreating {
		t.Errorf("waiting image: %s updated %s, stored %s", cur.Status, cur.UpdatedAt, img.UpdatedAt)
	}
	e.clean(e.ready("waiting").Digest)
}

// buildSpy is the Docker client that records the options of the builds it runs.
type buildSpy struct {
	*client.Client
	mu   sync.Mutex
	opts []build.ImageBuildOptions
}

func (b *buildSpy) ImageBuild(ctx context.Context, r io.Reader, opts build.ImageBuildOptions) (build.ImageBuildResponse, error) {
	b.mu.Lock()
	b.opts = append(b.opts, opts)
	b.mu.Unlock()
	return b.Client.ImageBuild(ctx, r, opts)
}

func TestBuildsRunWithinTheirResourceLimits(t *testing.T) {
	e := newEnv(t, Config{})
	if got := e.svc.Config(); got.BuildMemory != 2<<30 || got.BuildCPUs != 1 {
		t.Errorf("defaults: memory %d, CPUs %v; want 2 GiB and 1", got.BuildMemory, got.BuildCPUs)
	}
	spy := &buildSpy{Client: e.docker}
	svc := New(e.st, spy, Config{Dir: e.dir, Node: "node-a", BuildMemory: 64 << 20, BuildCPUs: 0.5}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	defer svc.Close()
	// A RUN step (exec form: the image has no shell) runs a container with the limits.
	ctxt := e.context("limited", "COPY fn /fn", `RUN ["/fn"]`, `ENTRYPOINT ["/fn"]`)
	if _, _, err := svc.Upload(context.Background(), store.Image{Name: "limited", Owner: "alice"}, bytes.NewReader(ctxt), nil, nil); err != nil {
		t.Fatal(err)
	}
	img := e.ready("limited") // the daemon took the limits
	var log bytes.Buffer
	if err := svc.WriteLog(context.Background(), "limited", false, &log, nil); err != nil || !strings.Contains(log.String(), "hello limited") {
		t.Errorf("the RUN step did not run: %q (%v)", log.String(), err)
	}
	spy.mu.Lock()
	defer spy.mu.Unlock()
	if len(spy.opts) != 1 {
		t.Fatalf("%d builds", len(spy.opts))
	}
	o := spy.opts[0]
	if o.Memory != 64<<20 || o.MemorySwap != 64<<20 || o.CPUPeriod != 100_000 || o.CPUQuota != 50_000 {
		t.Errorf("build options: memory %d, swap %d, CPU period %d, quota %d; want 64 MiB, 64 MiB (no swap), 100000, 50000", o.Memory, o.MemorySwap, o.CPUPeriod, o.CPUQuota)
	}
	e.clean(img.Digest)
}

func TestStartRemovesTheUploadsAnEarlierRunLeft(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "uploads")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"upload-123.tar", "load-0abc-456.tar", "notes.txt"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	e := newEnv(t, Config{Dir: dir}) // it starts the service
	files, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range files {
		names = append(names, f.Name())
	}
	if strings.Join(names, ",") != "notes.txt" {
		t.Fatalf("the upload folder holds %v, want only notes.txt (not an upload)", names)
	}
	_ = os.Remove(filepath.Join(dir, "notes.txt"))
	t.Run("a second Start keeps the uploads of this run's jobs", func(t *testing.T) {
		e.svc.sem <- struct{}{} // hold the one worker: the upload waits
		defer func() { <-e.svc.sem }()
		if _, _, err := e.upload(store.Image{Name: "queued"}, e.context("q", fnLines...)); err != nil {
			t.Fatal(err)
		}
		if err := e.svc.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		if files, _ := os.ReadDir(dir); len(files) != 1 {
			t.Fatalf("the upload folder holds %d files, want the queued upload", len(files))
		}
	})
	e.clean(e.ready("queued").Digest)
}

func TestAnImageARouteUsesIsNotDeleted(t *testing.T) {
	e := newEnv(t, Config{})
	ctx := context.Background()
	if _, _, err := e.upload(store.Image{Name: "used"}, e.context("used", fnLines...)); err != nil {
		t.Fatal(err)
	}
	img := e.ready("used")
	if _, err := e.st.CreateApp(ctx, store.App{Name: "app", Owner: "alice"}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.st.CreateRoute(ctx, store.Route{App: "app", Path: "/fn", Image: "@used"}, nil); err != nil {
		t.Fatal(err)
	}
	err := e.svc.Delete(ctx, "used", nil)
	if !errors.Is(err, store.ErrConflict) || !strings.Contains(err.Error(), "route app/fn") {
		t.Fatalf("delete: %v", err)
	}
	if pruned, err := e.svc.Prune(ctx); err != nil || len(pruned) != 0 {
		t.Fatalf("prune: %v %v", pruned, err)
	}
	if _, err := e.docker.ImageInspect(ctx, img.Tag); err != nil {
		t.Errorf("the image in use was removed from Docker: %v", err)
	}
	e.clean(img.Digest)
}

func TestFollowAndRecovery(t *testing.T) {
	e := newEnv(t, Config{})
	ctx := context.Background()
	t.Run("a followed log streams until the build ends", func(t *testing.T) {
		if _, _, err := e.upload(store.Image{Name: "followed"}, e.context("f", fnLines...)); err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		flushes := 0
		if err := e.svc.WriteLog(ctx, "followed", true, &out, func() { flushes++ }); err != nil {
			t.Fatal(err)
		}
		img, _ := e.st.GetImage(ctx, "followed")
		log, _ := e.st.GetImageLog(ctx, "followed")
		if img.Status != store.ImageReady || out.String() != string(log) || flushes == 0 {
			t.Fatalf("followed %q (%d flushes); status %s, log %q", out.String(), flushes, img.Status, log)
		}
	})
	t.Run("a build left CREATING by this node ends ERROR at Start", func(t *testing.T) {
		for _, n := range []struct{ name, node string }{{"mine", "node-a"}, {"theirs", "node-b"}} {
			if _, err := e.st.CreateImage(ctx, store.Image{Name: n.name, Owner: "alice", Kind: store.ImageKindFunction, Source: store.ImageSourceLoad, Status: store.ImageCreating, Build: e.st.NewID(), Node: n.node}); err != nil {
				t.Fatal(err)
			}
		}
		if err := e.svc.Start(ctx); err != nil {
			t.Fatal(err)
		}
		if img, _ := e.st.GetImage(ctx, "mine"); img.Status != store.ImageError || img.Error != msgRestarted {
			t.Errorf("this node's: %s %q", img.Status, img.Error)
		}
		if img, _ := e.st.GetImage(ctx, "theirs"); img.Status != store.ImageCreating {
			t.Errorf("another node's: %s %q", img.Status, img.Error)
		}
	})
	e.clean(e.ready("followed").Digest)
}

func TestTimeoutsAndClose(t *testing.T) {
	t.Run("a build over its time limit ends ERROR", func(t *testing.T) {
		e := newEnv(t, Config{BuildTimeout: time.Nanosecond})
		if _, _, err := e.upload(store.Image{Name: "slow"}, e.context("v1", fnLines...)); err != nil {
			t.Fatal(err)
		}
		if img := e.final("slow"); img.Status != store.ImageError || !strings.Contains(img.Error, "timed out") {
			t.Fatalf("%s %q", img.Status, img.Error)
		}
		e.clean()
	})
	t.Run("a job queued after Close is refused: its image ends ERROR, its file is removed", func(t *testing.T) {
		e := newEnv(t, Config{})
		img, err := e.st.CreateImage(context.Background(), store.Image{Name: "late", Owner: "alice", Kind: store.ImageKindFunction, Source: store.ImageSourceBuild, Network: store.NetworkNone, Dockerfile: "Dockerfile", Status: store.ImageCreating, Build: e.st.NewID(), Node: "node-a"})
		if err != nil {
			t.Fatal(err)
		}
		file := filepath.Join(e.dir, "upload-late.tar")
		if err := os.WriteFile(file, e.context("late", fnLines...), 0o600); err != nil {
			t.Fatal(err)
		}
		e.svc.Close()
		ctx, cancel := context.WithCancel(context.Background())
		cancel() // the request is gone too: the image's write must not depend on it
		err = e.svc.enqueue(ctx, job{name: "late", build: img.Build, source: store.ImageSourceBuild, file: file, network: store.NetworkNone, dockerfile: "Dockerfile"})
		var answer *httperr.Error
		if !errors.As(err, &answer) || answer.Status != http.StatusServiceUnavailable || answer.Header.Get("Retry-After") == "" {
			t.Fatalf("err = %v, want a 503 with Retry-After", err)
		}
		if got, _ := e.st.GetImage(context.Background(), "late"); got.Status != store.ImageError || got.Error != msgStopped {
			t.Errorf("image: %s %q, want ERROR %q", got.Status, got.Error, msgStopped)
		}
		e.clean()
	})
	t.Run("Close ends the queued and running builds interrupted", func(t *testing.T) {
		e := newEnv(t, Config{})
		for _, name := range []string{"one", "two", "three"} {
			if _, _, err := e.upload(store.Image{Name: name}, e.context(name, fnLines...)); err != nil {
				t.Fatal(err)
			}
		}
		e.svc.Close()
		interrupted := 0
		for _, name := range []string{"one", "two", "three"} {
			img := e.final(name)
			switch {
			case img.Status == store.ImageError && strings.HasPrefix(img.Error, msgInterrupted):
				interrupted++
			case img.Status != store.ImageReady:
				t.Errorf("%s: %s %q", name, img.Status, img.Error)
			}
		}
		if interrupted == 0 {
			t.Error("no build was interrupted")
		}
		var keep []string
		for _, name := range []string{"one", "two", "three"} {
			if img, _ := e.st.GetImage(context.Background(), name); img.Digest != "" {
				keep = append(keep, img.Digest)
			}
		}
		// A build the daemon was committing a step of when Close cut it off may leave that
		// step's untagged image (documented in doc.go): the daemon's `docker image prune`
		// removes it. Tagged images and uploads must still be gone.
		e.removeUntagged(keep...)
		e.clean(keep...)
	})
}
