package runner

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/docker/docker/api/types/build"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"
)

// markedImage builds an image of the test function with ROLL_MARK=mark in its environment
// (FROM the test image, no network) and returns its ID ("sha256:..."), as Gantry's image
// builds give routes that name "@name"; the image is removed at the end of the test
// (after the runners made later, whose cleanups run first).
func markedImage(t *testing.T, mark string) string {
	t.Helper()
	needDocker(t)
	cli, ok := testDocker.(*client.Client)
	if !ok {
		t.Fatalf("the test Docker is a %T, not the Engine API client", testDocker)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	unique := time.Now().UnixNano() // a label of its own: an image no other test removes
	dockerfile := fmt.Sprintf("FROM %s\nENV ROLL_MARK=%s\nLABEL gantry.test.roll=%d\n", testImage, mark, unique)
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

// markOf asks a hot test function which ROLL_MARK its container has.
func markOf(t *testing.T, r *Runner, fn Function) (string, *Result) {
	t.Helper()
	res, err := r.Run(context.Background(), testCall(fn, `{"env":true,"env_keys":["ROLL_MARK"]}`))
	if err != nil {
		t.Fatalf("call: %v", err)
	}
	var env map[string]string
	if err := json.Unmarshal(res.Body, &env); err != nil {
		t.Fatalf("answer %q: %v", res.Body, err)
	}
	return env["ROLL_MARK"], res
}

// containersOfImage counts the containers (any state) of a runner instance made from image id.
func containersOfImage(instance, id string) (int, error) {
	list, err := testDocker.ContainerList(context.Background(), container.ListOptions{All: true, Filters: filters.NewArgs(filters.Arg("label", LabelInstance+"="+instance))})
	n := 0
	for _, c := range list {
		if c.ImageID == id {
			n++
		}
	}
	return n, err
}

// TestImageRolls: hot containers of a route that runs an image by name roll to the
// image's new digest, whether a call brings the new one or the runner is told of it
// (DrainImage); no container of the old digest remains once its calls end.
func TestImageRolls(t *testing.T) {
	t.Parallel()
	digestA, digestB := markedImage(t, "A"), markedImage(t, "B")
	builtA := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	builtB := builtA.Add(time.Hour)
	tests := []struct {
		name string
		// roll makes the runner run digest B in place of A, busy: a call of A in progress.
		roll func(t *testing.T, r *Runner, fnA, fnB Function, busy <-chan struct{})
	}{
		{"a call that resolved the newer digest drains the pool of the older one", func(t *testing.T, r *Runner, _, fnB Function, _ <-chan struct{}) {
			if mark, res := markOf(t, r, fnB); mark != "B" || res.Image != digestB {
				t.Fatalf("a call of B answered mark %q from image %s", mark, res.Image)
			}
		}},
		{"DrainImage drains the old pool, and a late call of the old digest runs the new one", func(t *testing.T, r *Runner, fnA, _ Function, _ <-chan struct{}) {
			r.DrainImage("@roll", digestB, builtB)
			if mark, res := markOf(t, r, fnA); mark != "B" || res.Image != digestB {
				t.Fatalf("a call resolved to A before the roll answered mark %q from image %s, want B", mark, res.Image)
			}
		}},
		{"a word of an older digest after the roll changes nothing", func(t *testing.T, r *Runner, fnA, fnB Function, _ <-chan struct{}) {
			r.DrainImage("@roll", digestB, builtB)
			if mark, _ := markOf(t, r, fnB); mark != "B" {
				t.Fatalf("mark %q, want B", mark)
			}
			r.DrainImage("@roll", digestA, builtA) // late
			if mark, res := markOf(t, r, fnA); mark != "B" || res.Image != digestB {
				t.Fatalf("after a late word of A, a call answered mark %q from image %s, want B", mark, res.Image)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := newTestRunner(t, Options{})
			fnA := testRoute(FormatHTTP, func(f *Function) {
				f.Image, f.ImageName, f.ImageVersion, f.MaxConcurrency = digestA, "@roll", builtA, 2
			})
			fnB := fnA
			fnB.Image, fnB.ImageVersion = digestB, builtB
			// A call of A in progress in one container (it ends as it began, then its
			// container goes), another container of A idle.
			var wg sync.WaitGroup
			wg.Add(1)
			busy := make(chan struct{})
			var slowMark string
			go func() {
				defer wg.Done()
				call := testCall(fnA, `{"sleep_ms":4000,"env":true,"env_keys":["ROLL_MARK"]}`)
				call.ID = "slow"
				close(busy)
				res, err := r.Run(context.Background(), call)
				if err != nil {
					t.Errorf("the call in progress: %v", err)
					return
				}
				var env map[string]string
				_ = json.Unmarshal(res.Body, &env)
				slowMark = env["ROLL_MARK"]
			}()
			<-busy
			eventually(t, 20*time.Second, "the slow call's container is made", func() bool {
				n, err := containersOfImage(r.opts.Instance, digestA)
				return err == nil && n == 1
			})
			if mark, res := markOf(t, r, fnA); mark != "A" || res.Image != digestA {
				t.Fatalf("a call of A answered mark %q from image %s", mark, res.Image)
			}
			if n, err := containersOfImage(r.opts.Instance, digestA); err != nil || n != 2 {
				t.Fatalf("%d containers of A (%v), want 2: one busy, one idle", n, err)
			}
			tt.roll(t, r, fnA, fnB, busy)
			wg.Wait()
			if slowMark != "A" {
				t.Fatalf("the call in progress during the roll answered mark %q, want A (it ends where it began)", slowMark)
			}
			eventually(t, 30*time.Second, "no container of the old digest remains", func() bool {
				n, err := containersOfImage(r.opts.Instance, digestA)
				return err == nil && n == 0
			})
			if n, err := containersOfImage(r.opts.Instance, digestB); err != nil || n == 0 {
				t.Fatalf("%d containers of the new digest (%v), want the one that served", n, err)
			}
		})
	}
}

// TestImageIDsAreNeverPulled: a route's image resolved to an ID that this node's daemon
// does not hold (another node built it) fails at once, saying so, and is not pulled.
func TestImageIDsAreNeverPulled(t *testing.T) {
	t.Parallel()
	r := newTestRunner(t, Options{})
	missing := "sha256:" + strings.Repeat("0badc0de", 8)
	tests := []struct {
		name string
		run  func() error
	}{
		{"EnsureImage of a missing ID fails without a pull", func() error { return r.EnsureImage(context.Background(), missing) }},
		{"a cold call of a missing ID fails", func() error {
			_, err := r.Run(context.Background(), testCall(testRoute(FormatDefault, func(f *Function) { f.Image, f.ImageName = missing, "@gone" }), ""))
			return err
		}},
		{"a hot call of a missing ID fails", func() error {
			_, err := r.Run(context.Background(), testCall(testRoute(FormatHTTP, func(f *Function) { f.Image, f.ImageName = missing, "@gone" }), ""))
			return err
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			err := tt.run()
			if !errors.Is(err, ErrImageNotFound) || !strings.Contains(err.Error(), "another node") {
				t.Fatalf("err = %v, want ErrImageNotFound saying another node made it", err)
			}
			if d := time.Since(start); d > 10*time.Second {
				t.Fatalf("failing took %s: it should not try a registry", d)
			}
		})
	}
}

func TestIsImageID(t *testing.T) {
	tests := []struct {
		ref  string
		want bool
	}{
		{"sha256:" + strings.Repeat("ab", 32), true},
		{"sha256:" + strings.Repeat("AB", 32), false},
		{"sha256:abc", false},
		{"busybox", false},
		{"gantry-images/hello:01abc", false},
		{"busybox@sha256:" + strings.Repeat("ab", 32), false},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%q is an image ID: %v", tt.ref, tt.want), func(t *testing.T) {
			if got := IsImageID(tt.ref); got != tt.want {
				t.Fatalf("IsImageID(%q) = %v", tt.ref, got)
			}
		})
	}
}
