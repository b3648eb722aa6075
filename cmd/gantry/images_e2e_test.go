package main

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/fnimage"
)

// helloContext writes a build context for the hello function: its static binary, built
// here, and a Dockerfile FROM scratch (nothing pulled, no network needed).
func helloContext(t *testing.T) string {
	t.Helper()
	root, err := fnimage.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags=-s -w", "-o", filepath.Join(dir, "fn"), "./functions/hello")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build hello: %v\n%s", err, out)
	}
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("FROM scratch\nCOPY fn /fn\nENTRYPOINT [\"/fn\"]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// tarGz writes dir as a .tar.gz file and returns its path.
func tarGz(t *testing.T, dir string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "context.tar.gz")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zw := gzip.NewWriter(f)
	tw := tar.NewWriter(zw)
	for _, name := range []string{"Dockerfile", "fn"} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o755, Size: int64(len(b)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(b); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestImagesCLIUploadBuildAndRoute uploads a FROM scratch context directory with the CLI,
// waits for READY, names the image in a route as @NAME, calls it through /r/ and lists it
// among the functions.
func TestImagesCLIUploadBuildAndRoute(t *testing.T) {
	t.Parallel()
	dir := helloContext(t)
	s := startServer(t, t.TempDir())

	r := s.gantry(t, "images", "upload", "hello-e2e", dir, "--wait")
	if r.code != 0 {
		t.Fatalf("images upload --wait: exit %d\n%s\n%s\n%s", r.code, r.stdout, r.stderr, s.logText())
	}
	if !regexp.MustCompile(`(?m)^Status:\s+READY$`).MatchString(r.stdout) || !regexp.MustCompile(`(?m)^Digest:\s+sha256:[0-9a-f]{64}$`).MatchString(r.stdout) {
		t.Fatalf("images upload --wait output:\n%s", r.stdout)
	}
	if !strings.Contains(r.stderr, "COPY fn /fn") { // the build log, followed
		t.Errorf("no build log on stderr:\n%s", r.stderr)
	}
	if out := s.cli(t, "images", "list"); !regexp.MustCompile(`(?m)^hello-e2e\s+function\s+build\s+READY\s+[0-9a-f]{12}\s+\S+\s+\S+\s+admin$`).MatchString(out) {
		t.Errorf("images list:\n%s", out)
	}
	if out := s.cli(t, "images", "log", "hello-e2e"); !strings.Contains(out, "COPY fn /fn") {
		t.Errorf("images log:\n%s", out)
	}

	s.cli(t, "apps", "create", "imgs")
	s.cli(t, "routes", "create", "imgs", "/hello", "--image", "@hello-e2e")
	// Called through /r/: the route runs the image's digest, which its execution records.
	var img struct{ Image struct{ Digest string } }
	if err := json.Unmarshal([]byte(s.cli(t, "images", "get", "hello-e2e", "-o", "json")), &img); err != nil || img.Image.Digest == "" {
		t.Fatalf("images get: %v %+v", err, img)
	}
	res, body := s.call(t, "POST", "/r/imgs/hello", `{"name":"Gantry"}`)
	if res.StatusCode != 200 || body != "Hello Gantry!" {
		t.Fatalf("call of @hello-e2e: %d %q\n%s", res.StatusCode, body, s.logText())
	}
	if ex := s.execution(t, res.Header.Get("Gantry-Call-Id")); ex["image_digest"] != img.Image.Digest || ex["status"] != "SUCCESS" {
		t.Errorf("execution of the call: %v, want image_digest %s", ex, img.Image.Digest)
	}
	out, err := s.cliErr("routes", "create", "imgs", "/nope", "--image", "@no-such-image")
	if err == nil || !strings.Contains(out, "@no-such-image") {
		t.Errorf("a route naming an unknown image: %v %s", err, out)
	}
	var fns struct {
		Functions []struct{ App, Path, Image, Owner string }
	}
	if err := json.Unmarshal([]byte(s.cli(t, "functions", "list", "-o", "json")), &fns); err != nil {
		t.Fatal(err)
	}
	if len(fns.Functions) != 1 || fns.Functions[0].App != "imgs" || fns.Functions[0].Path != "/hello" || fns.Functions[0].Image != "@hello-e2e" || fns.Functions[0].Owner != "admin" {
		t.Errorf("functions list: %+v", fns)
	}
	if out := s.cli(t, "functions", "list"); !regexp.MustCompile(`(?m)^imgs\s+/hello\s+@hello-e2e\s+default\s+sync\s+\d+MiB\s+\d+s\s+admin$`).MatchString(out) {
		t.Errorf("functions list table:\n%s", out)
	}

	// In use: not deleted, and the message names the route.
	out, err = s.cliErr("images", "delete", "hello-e2e")
	if err == nil || !strings.Contains(out, "imgs/hello") {
		t.Errorf("deleting an image in use: %v %s", err, out)
	}

	t.Run("a tar.gz file is a context too", func(t *testing.T) {
		r := s.gantry(t, "images", "upload", "hello-gz", tarGz(t, dir), "--kind", "base", "--wait")
		if r.code != 0 || !regexp.MustCompile(`(?m)^Kind:\s+base$`).MatchString(r.stdout) {
			t.Fatalf("upload of a tar.gz: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
		}
		if out := s.cli(t, "images", "list", "--kind", "base"); !strings.Contains(out, "hello-gz") || strings.Contains(out, "hello-e2e") {
			t.Errorf("images list --kind base:\n%s", out)
		}
	})
	t.Run("a failing build exits non-zero with the build's error", func(t *testing.T) {
		bad := t.TempDir()
		if err := os.WriteFile(filepath.Join(bad, "Dockerfile"), []byte("FROM scratch\nCOPY missing /\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		r := s.gantry(t, "images", "upload", "broken", bad, "--wait")
		if r.code == 0 || !strings.Contains(r.stderr, "missing") || !regexp.MustCompile(`(?m)^Status:\s+ERROR$`).MatchString(r.stdout) {
			t.Fatalf("failing build: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
		}
	})
	t.Run("a directory that cannot be sent fails, naming what", func(t *testing.T) {
		odd := t.TempDir()
		if err := os.WriteFile(filepath.Join(odd, "Dockerfile"), []byte("FROM scratch\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		ln, err := net.Listen("unix", filepath.Join(odd, "sock"))
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		r := s.gantry(t, "images", "upload", "odd", odd)
		if r.code == 0 || !strings.Contains(r.stderr, "sock") || strings.Contains(r.stderr, "cannot reach") {
			t.Fatalf("upload of a directory with a socket: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
		}
		if _, err := s.cliErr("images", "get", "odd"); err == nil {
			t.Error("an image was made of a refused upload")
		}
	})
	t.Run("unused images are pruned, the one in use stays", func(t *testing.T) {
		out := s.cli(t, "images", "prune")
		if !strings.Contains(out, `image "hello-gz" deleted`) || !strings.Contains(out, `image "broken" deleted`) || strings.Contains(out, "hello-e2e") {
			t.Errorf("prune:\n%s", out)
		}
		s.cli(t, "images", "get", "hello-e2e")
	})
	t.Run("deleted once no route uses it", func(t *testing.T) {
		s.cli(t, "routes", "delete", "imgs", "/hello")
		if out := s.cli(t, "images", "delete", "hello-e2e"); !strings.Contains(out, `image "hello-e2e" deleted`) {
			t.Errorf("delete: %s", out)
		}
		if _, err := s.cliErr("images", "get", "hello-e2e"); err == nil {
			t.Error("the deleted image is still there")
		}
	})
	uploads, err := os.ReadDir(filepath.Join(s.dataDir, "uploads"))
	if err != nil || len(uploads) != 0 {
		t.Errorf("the uploads folder holds %v (%v)", uploads, err)
	}
}
