package main

import (
	"context"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/image"

	"github.com/gantry-dev/gantry/gen/client/images"
	"github.com/gantry-dev/gantry/runner"
)

// TestDeployFromInitThenRedeployRollsTheHotContainers is the first hour of a function
// written from scratch: `gantry init --runtime go --format http`, `gantry deploy`, a call
// through /r/; then an edit of the code and a second deploy, after which the call answers
// the new greeting and no container of the first image remains.
func TestDeployFromInitThenRedeployRollsTheHotContainers(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := startServer(t, t.TempDir())
	const name = "hello-deploy"
	dir := filepath.Join(t.TempDir(), name)

	if r := s.gantry(t, "init", "--runtime", "go", "--format", "http", dir); r.code != 0 {
		t.Fatalf("gantry init: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}

	var digests []string
	t.Cleanup(func() { // the Docker images the deploys built
		_, _ = s.cliErr("routes", "delete", name, "/"+name)
		_, _ = s.cliErr("images", "delete", name)
		for _, d := range digests {
			_, _ = docker.ImageRemove(context.Background(), d, image.RemoveOptions{Force: true, PruneChildren: true})
		}
	})
	callURL := "http://" + s.addr + "/r/" + name + "/" + name
	deploy := func(verb string) string {
		t.Helper()
		r := s.gantry(t, "deploy", dir)
		if r.code != 0 {
			t.Fatalf("gantry deploy: exit %d\nstdout:\n%s\nstderr:\n%s\nserver:\n%s", r.code, r.stdout, r.stderr, s.logText())
		}
		for _, want := range []string{"Compiling", "COPY fn /fn", "Image " + name + ": READY sha256:"} {
			if !strings.Contains(r.stderr, want) {
				t.Errorf("deploy's progress lacks %q:\n%s", want, r.stderr)
			}
		}
		if m := regexp.MustCompile(`(?m)^URL:\s+(\S+)$`).FindStringSubmatch(r.stdout); m == nil || m[1] != callURL {
			t.Errorf("deploy's output does not give the URL %s:\n%s", callURL, r.stdout)
		}
		if !regexp.MustCompile(`(?m)^Route:\s+` + name + ` /` + name + ` \(` + verb + `\)$`).MatchString(r.stdout) {
			t.Errorf("deploy's output does not say the route was %s:\n%s", verb, r.stdout)
		}
		res, err := s.client().Images.GetImageContext(ctx, images.NewGetImageParams().WithName(name), nil)
		if err != nil {
			t.Fatal(err)
		}
		img := res.GetPayload().Image
		if img.Status != imageReady || !strings.HasPrefix(img.Digest, "sha256:") {
			t.Fatalf("image after deploy: %+v", img)
		}
		digests = append(digests, img.Digest)
		return img.Digest
	}
	greet := func() string {
		t.Helper()
		res, body := s.callWith(t, http.MethodPost, "/r/"+name+"/"+name, `{"name":"Ada"}`, "Authorization", "Bearer "+s.token) // the route becomes auth: token
		if res.StatusCode != http.StatusOK {
			t.Fatalf("call: %d %s\nserver:\n%s", res.StatusCode, body, s.logText())
		}
		return body
	}
	// containersOf lists the route's containers, in any state, by image ID.
	containersOf := func() map[string]int {
		t.Helper()
		args := filters.NewArgs(
			filters.Arg("label", runner.LabelInstance+"="+s.instance),
			filters.Arg("label", runner.LabelApp+"="+name),
		)
		list, err := docker.ContainerList(ctx, container.ListOptions{All: true, Filters: args})
		if err != nil {
			t.Fatal(err)
		}
		byImage := map[string]int{}
		for _, c := range list {
			byImage[c.ImageID]++
		}
		return byImage
	}

	first := deploy("created")
	if got := greet(); got != "Hello Ada!" {
		t.Fatalf("first deploy answers %q, want %q", got, "Hello Ada!")
	}
	if n := containersOf()[first]; n == 0 {
		t.Fatalf("no hot container of the first image %s after a call: %v", first, containersOf())
	}

	main := filepath.Join(dir, "main.go")
	src, err := os.ReadFile(main)
	if err != nil {
		t.Fatal(err)
	}
	edited := strings.ReplaceAll(string(src), `"Hello "`, `"Howdy "`)
	if edited == string(src) {
		t.Fatalf("the skeleton's main.go has no \"Hello \" to change:\n%s", src)
	}
	if err := os.WriteFile(main, []byte(edited), 0o600); err != nil { //nolint:gosec // G703: the test's own temp dir
		t.Fatal(err)
	}

	// The route is made private by other means; func.yaml gives no auth, and the redeploy
	// keeps the route's: it does not make it public again.
	s.cli(t, "routes", "update", name, "/"+name, "--auth", "token")

	second := deploy("updated")
	if second == first {
		t.Fatalf("the second deploy left the image at %s", first)
	}
	if out := s.cli(t, "routes", "get", name, "/"+name, "-o", "json"); !strings.Contains(out, `"auth": "token"`) {
		t.Errorf("the redeploy changed the route's auth from token:\n%s", out)
	}
	if res, body := s.callWith(t, http.MethodPost, "/r/"+name+"/"+name, `{"name":"Ada"}`, "Authorization", ""); res.StatusCode != http.StatusUnauthorized {
		t.Errorf("a call without a token after the redeploy: %d %s", res.StatusCode, body)
	}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		got := greet()
		if got == "Howdy Ada!" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("30s after the second deploy the call still answers %q, want %q", got, "Howdy Ada!")
		}
	}
	waitFor(t, 30*time.Second, "no container of the first image to remain", func() bool {
		return containersOf()[first] == 0
	})
	if got := greet(); got != "Howdy Ada!" {
		t.Fatalf("after the roll the call answers %q", got)
	}
	if n := containersOf()[second]; n == 0 {
		t.Fatalf("no container of the second image %s: %v", second, containersOf())
	}

	t.Run("a dockerfile function deploys its directory as the build context", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "hello-dockerfile")
		if r := s.gantry(t, "init", "--runtime", "dockerfile", "--format", "default", "--app", "deployed", dir); r.code != 0 {
			t.Fatalf("gantry init: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
		}
		t.Cleanup(func() {
			_, _ = s.cliErr("routes", "delete", "deployed", "/hello-dockerfile")
			_, _ = s.cliErr("images", "delete", "hello-dockerfile")
		})

		// Without the binary its Dockerfile copies, the build fails: deploy says why and
		// routes nothing.
		r := s.gantry(t, "deploy", dir)
		if r.code == 0 || !strings.Contains(r.stderr, "Image hello-dockerfile: ERROR") || !strings.Contains(r.stderr, "the build of image hello-dockerfile failed") || !strings.Contains(r.stderr, "fn") {
			t.Fatalf("deploy without the binary: exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
		}
		if _, err := s.cliErr("routes", "get", "deployed", "/hello-dockerfile"); err == nil {
			t.Fatal("a failed deploy made the route")
		}

		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		build := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags=-s -w", "-o", "fn", ".")
		build.Dir = dir
		build.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOWORK=off", "GOFLAGS=-mod=mod", "GOPROXY=off")
		if out, err := build.CombinedOutput(); err != nil {
			t.Fatalf("go build: %v\n%s", err, out)
		}
		r = s.gantry(t, "deploy", dir)
		if r.code != 0 {
			t.Fatalf("deploy: exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
		}
		if !strings.Contains(r.stdout, "URL:     http://"+s.addr+"/r/deployed/hello-dockerfile") {
			t.Errorf("deploy's output:\n%s", r.stdout)
		}
		if w, err := s.client().Images.GetImageContext(ctx, images.NewGetImageParams().WithName("hello-dockerfile"), nil); err == nil {
			digests = append(digests, w.GetPayload().Image.Digest)
		}
		if res, body := s.call(t, http.MethodPost, "/r/deployed/hello-dockerfile", `{"name":"Bo"}`); res.StatusCode != http.StatusOK || body != "Hello Bo!" {
			t.Fatalf("call: %d %q, want 200 %q", res.StatusCode, body, "Hello Bo!")
		}
	})
	t.Run("a refused upload says what the server answered", func(t *testing.T) {
		r := s.gantry(t, "deploy", dir, "--token", "not-a-token")
		if r.code == 0 || !strings.Contains(r.stderr, "(401)") || strings.Contains(r.stderr, "pipe") {
			t.Fatalf("deploy with a bad token: exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
		}
	})
	t.Run("a function that does not compile fails before anything is uploaded", func(t *testing.T) {
		if err := os.WriteFile(main, []byte("package main\n\nfunc main() { notDefined() }\n"), 0o600); err != nil { //nolint:gosec // G703: the test's own temp dir
			t.Fatal(err)
		}
		r := s.gantry(t, "deploy", dir)
		if r.code == 0 || !strings.Contains(r.stderr, "notDefined") || !strings.Contains(r.stderr, "compile the function") || strings.Contains(r.stderr, "Uploading") {
			t.Fatalf("deploy of code that does not compile: exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
		}
		if got := greet(); got != "Howdy Ada!" {
			t.Fatalf("after a failed deploy the call answers %q, want the last good %q", got, "Howdy Ada!")
		}
	})
}
