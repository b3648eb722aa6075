package fnimage

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/docker/docker/api/types/build"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"
	"github.com/docker/docker/pkg/stdcopy"
)

// dockerOrSkip connects to the daemon; without one it skips, or fails when
// CI=true.
func dockerOrSkip(t *testing.T) *client.Client {
	t.Helper()
	c, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, err = c.Ping(ctx)
	}
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("Docker unreachable with CI=true: %v", err)
		}
		t.Skipf("Docker unreachable: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// countingDocker is the real client, counting the builds it starts.
type countingDocker struct {
	DockerAPI
	builds atomic.Int32
}

func (c *countingDocker) ImageBuild(ctx context.Context, r io.Reader, o build.ImageBuildOptions) (build.ImageBuildResponse, error) {
	c.builds.Add(1)
	return c.DockerAPI.ImageBuild(ctx, r, o)
}

func TestBuildAndRun(t *testing.T) {
	cli := dockerOrSkip(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	docker := &countingDocker{DockerAPI: cli}

	start := time.Now()
	tags, err := BuildAll(ctx, docker, "testfn", "hello")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("BuildAll: %v, %d image builds, tags %v", time.Since(start), docker.builds.Load(), tags)
	for _, name := range []string{"testfn", "hello"} {
		if !strings.HasPrefix(tags[name], DefaultRepo+"/"+name+":") {
			t.Errorf("tag for %s = %q", name, tags[name])
		}
	}

	t.Run("hello answers", func(t *testing.T) {
		out, stderr, code := runOnce(ctx, t, cli, tags["hello"], `{"name":"John"}`)
		if out != "Hello John!" || code != 0 {
			t.Errorf("hello: stdout %q, exit %d, stderr %q; want \"Hello John!\", 0", out, code, stderr)
		}
	})

	t.Run("second build is a no-op", func(t *testing.T) {
		before := docker.builds.Load()
		start := time.Now()
		tag, err := Build(ctx, docker, "hello", "")
		if err != nil {
			t.Fatal(err)
		}
		took := time.Since(start)
		t.Logf("cached Build: %v", took)
		if tag != tags["hello"] {
			t.Errorf("tag = %q, want %q", tag, tags["hello"])
		}
		if n := docker.builds.Load() - before; n != 0 {
			t.Errorf("cached Build started %d image builds, want 0", n)
		}
		if took > 5*time.Second {
			t.Errorf("cached Build took %v", took)
		}
	})

	t.Run("explicit tag", func(t *testing.T) {
		const tag = "gantry-fn-test/hello:explicit"
		t.Cleanup(func() {
			_, _ = cli.ImageRemove(context.Background(), tag, image.RemoveOptions{})
		})
		if got, err := Build(ctx, docker, "hello", tag); err != nil || got != tag {
			t.Fatalf("Build = %q, %v; want %q", got, err, tag)
		}
		img, err := cli.ImageInspect(ctx, tag)
		if err != nil {
			t.Fatal(err)
		}
		if img.Config == nil || img.Config.Labels[NameLabel] != "hello" ||
			!strings.HasPrefix(img.Config.Labels[SourceLabel], strings.TrimPrefix(tags["hello"], DefaultRepo+"/hello:")) {
			t.Errorf("labels = %v", img.Config)
		}
		before := docker.builds.Load()
		if _, err := Build(ctx, docker, "hello", tag); err != nil {
			t.Fatal(err)
		}
		if n := docker.builds.Load() - before; n != 0 {
			t.Errorf("rebuilding an up-to-date explicit tag started %d image builds, want 0", n)
		}
	})
}

// runOnce runs image with input on stdin, the way the default format does,
// and returns stdout, stderr and the exit code.
func runOnce(ctx context.Context, t *testing.T, cli *client.Client, img, input string) (string, string, int) {
	t.Helper()
	created, err := cli.ContainerCreate(ctx, &container.Config{
		Image:        img,
		OpenStdin:    true,
		StdinOnce:    true,
		AttachStdin:  true,
		AttachStdout: true,
		AttachStderr: true,
		Labels:       map[string]string{"gantry.test": "fnimage"},
	}, &container.HostConfig{NetworkMode: "none"}, nil, nil, "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		err := cli.ContainerRemove(context.Background(), created.ID, container.RemoveOptions{Force: true})
		if err != nil {
			t.Errorf("remove container: %v", err)
		}
	})
	hj, err := cli.ContainerAttach(ctx, created.ID, container.AttachOptions{Stream: true, Stdin: true, Stdout: true, Stderr: true})
	if err != nil {
		t.Fatal(err)
	}
	defer hj.Close()
	if err := cli.ContainerStart(ctx, created.ID, container.StartOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(hj.Conn, input); err != nil {
		t.Fatal(err)
	}
	if err := hj.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	if _, err := stdcopy.StdCopy(&stdout, &stderr, hj.Reader); err != nil {
		t.Fatal(err)
	}
	waitC, errC := cli.ContainerWait(ctx, created.ID, container.WaitConditionNotRunning)
	select {
	case w := <-waitC:
		return stdout.String(), stderr.String(), int(w.StatusCode)
	case err := <-errC:
		t.Fatal(err)
	}
	return "", "", -1
}

func TestBuildUnknownFunction(t *testing.T) {
	for _, name := range []string{"no-such-function", "../go.mod", "Hello", ""} {
		t.Run(name, func(t *testing.T) {
			_, err := Build(context.Background(), nil, name, "")
			if !errors.Is(err, ErrNoFunction) {
				t.Errorf("Build(%q) = %v, want ErrNoFunction", name, err)
			}
		})
	}
}

func TestSourceHash(t *testing.T) {
	root := t.TempDir()
	write := func(rel, data string) {
		t.Helper()
		p := filepath.Join(root, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("go.mod", "module x\n\ngo 1.26.0\n")
	write("functions/f/main.go", "package main\nfunc main() {}\n")
	hash := func(goVersion string) string {
		t.Helper()
		h, err := sourceHash(root, "f", goVersion, "amd64")
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	base := hash("go1.26.8")
	if len(base) != 64 || base != hash("go1.26.8") {
		t.Fatalf("hash %q is not a stable sha256", base)
	}
	steps := []struct {
		name   string
		change func()
		goVer  string
		same   bool
	}{
		{name: "test files are ignored", change: func() { write("functions/f/main_test.go", "package main\n") }, goVer: "go1.26.8", same: true},
		{name: "Go version", change: func() {}, goVer: "go1.27.0"},
		{name: "contents", change: func() { write("functions/f/main.go", "package main\nfunc main() { }\n") }, goVer: "go1.26.8"},
		{name: "new file", change: func() { write("functions/f/sub/x.go", "package sub\n") }, goVer: "go1.26.8"},
		{name: "go directive", change: func() { write("go.mod", "module x\n\ngo 1.27.0\n") }, goVer: "go1.26.8"},
	}
	prev := base
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			s.change()
			got := hash(s.goVer)
			if (got == prev) != s.same {
				t.Errorf("hash changed = %v, want %v", got != prev, !s.same)
			}
			prev = got
		})
	}
}

func TestReadBuildOutput(t *testing.T) {
	tests := []struct {
		name    string
		stream  string
		wantErr string
	}{
		{name: "success", stream: `{"stream":"Step 1/4 : FROM scratch\n"}` + "\n" + `{"aux":{"ID":"sha256:abc"}}` + "\n" + `{"stream":"Successfully built abc\n"}`},
		{name: "empty", stream: ``},
		{
			name:    "error detail",
			stream:  `{"stream":"Step 2/4 : COPY x /fn\n"}` + "\n" + `{"errorDetail":{"message":"COPY failed: file not found"},"error":"COPY failed: file not found"}` + "\n",
			wantErr: "COPY failed: file not found\nStep 2/4 : COPY x /fn",
		},
		{name: "error only", stream: `{"error":"boom"}`, wantErr: "boom"},
		{name: "truncated", stream: `{"stream":"Step`, wantErr: "read build output"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := readBuildOutput(strings.NewReader(tt.stream))
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("err = %v, want nil", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Errorf("err = %v, want one containing %q", err, tt.wantErr)
			}
			if tt.wantErr != "" && tt.name != "truncated" && !errors.Is(err, ErrBuild) {
				t.Errorf("err = %v, want ErrBuild", err)
			}
		})
	}
}

func TestContextTar(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(bin, []byte("binary"), 0o755); err != nil {
		t.Fatal(err)
	}
	a, err := contextTar("f", "abc", bin)
	if err != nil {
		t.Fatal(err)
	}
	b, err := contextTar("f", "abc", bin)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a, b) {
		t.Error("build context is not deterministic")
	}
}
