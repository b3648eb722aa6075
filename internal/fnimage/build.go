package fnimage

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strings"
	"sync"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/build"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"
)

// DockerAPI is the part of Docker's Engine API client Build uses.
type DockerAPI interface {
	ImageInspect(ctx context.Context, image string, opts ...client.ImageInspectOption) (image.InspectResponse, error)
	ImageBuild(ctx context.Context, buildContext io.Reader, options build.ImageBuildOptions) (build.ImageBuildResponse, error)
}

// Labels set on every function image.
const (
	SourceLabel = "gantry.fn.source" // sha256 of the function's sources, the Go version and the recipe
	NameLabel   = "gantry.fn.name"   // the folder name under functions/
)

// DefaultRepo is the repository of images built without an explicit tag.
const DefaultRepo = "gantry-fn"

// FunctionsDir is the folder, relative to the module root, that holds one
// package main per function.
const FunctionsDir = "functions"

var (
	// ErrNoFunction means functions/<name> does not exist or the name is invalid.
	ErrNoFunction = errors.New("no such function")
	// ErrNoModule means no go.mod was found above the working directory.
	ErrNoModule = errors.New("go.mod not found")
	// ErrCompile means go build failed.
	ErrCompile = errors.New("compile function")
	// ErrBuild means the Docker daemon reported a failed image build.
	ErrBuild = errors.New("image build failed")
)

// recipeVersion is hashed into every image with dockerfile and the go build
// flags, so changing how images are built changes their tags.
const recipeVersion = "fnimage/1"

const dockerfile = `FROM scratch
COPY %[1]s /fn
ENTRYPOINT ["/fn"]
LABEL ` + NameLabel + `="%[1]s" ` + SourceLabel + `="%[2]s"
`

// goBuildFlags are the go build flags for every function.
func goBuildFlags() []string {
	return []string{"-trimpath", "-buildvcs=false", "-ldflags=-s -w"}
}

// contextModTime is the fixed modification time of files in the build
// context, so that identical binaries hit the daemon's build cache.
var contextModTime = time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)

// names a function folder may have: a valid Docker repository path component.
var validName = regexp.MustCompile(`^[a-z0-9]+(?:[._-][a-z0-9]+)*$`)

// Build builds functions/<name> into an image tagged tag and returns the tag.
// With tag == "" the tag is gantry-fn/<name>:<12 hex of the source hash>.
// When an image with that tag already carries the current source hash, it is
// reused and nothing is compiled or built.
//
// The function is compiled with CGO_ENABLED=0 GOOS=linux GOARCH=<this
// machine's>, -trimpath and -ldflags "-s -w", then built with the classic
// builder into a FROM scratch image whose entrypoint is /fn.
func Build(ctx context.Context, docker DockerAPI, name string, tag string) (string, error) {
	root, err := ModuleRoot()
	if err != nil {
		return "", err
	}
	return buildIn(ctx, docker, root, name, tag)
}

// BuildAll builds each named function with its default tag, concurrently,
// and returns the tags by name.
func BuildAll(ctx context.Context, docker DockerAPI, names ...string) (map[string]string, error) {
	root, err := ModuleRoot()
	if err != nil {
		return nil, err
	}
	var (
		mu   sync.Mutex
		wg   sync.WaitGroup
		tags = make(map[string]string, len(names))
		errs []error
	)
	seen := map[string]bool{}
	for _, name := range names {
		if seen[name] {
			continue
		}
		seen[name] = true
		wg.Add(1)
		go func() {
			defer wg.Done()
			tag, err := buildIn(ctx, docker, root, name, "")
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
				return
			}
			tags[name] = tag
		}()
	}
	wg.Wait()
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return tags, nil
}

// ModuleRoot walks up from the working directory to the folder with go.mod.
func ModuleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("module root: %w", err)
	}
	for {
		if st, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil && st.Mode().IsRegular() {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("module root: %w", ErrNoModule)
		}
		dir = parent
	}
}

func buildIn(ctx context.Context, docker DockerAPI, root, name, tag string) (string, error) {
	if !validName.MatchString(name) {
		return "", fmt.Errorf("build function %q: invalid name: %w", name, ErrNoFunction)
	}
	src := filepath.Join(root, FunctionsDir, name)
	if st, err := os.Stat(src); err != nil || !st.IsDir() {
		return "", fmt.Errorf("build function %s: %s: %w", name, src, ErrNoFunction)
	}
	goVersion, err := goEnv(ctx, root, "GOVERSION")
	if err != nil {
		return "", fmt.Errorf("build function %s: %w", name, err)
	}
	hash, err := sourceHash(root, name, goVersion, runtime.GOARCH)
	if err != nil {
		return "", fmt.Errorf("build function %s: %w", name, err)
	}
	if tag == "" {
		tag = DefaultRepo + "/" + name + ":" + hash[:12]
	}

	switch img, err := docker.ImageInspect(ctx, tag); {
	case err == nil && img.Config != nil && img.Config.Labels[SourceLabel] == hash:
		return tag, nil // already built from these sources
	case err != nil && !cerrdefs.IsNotFound(err):
		return "", fmt.Errorf("build function %s: inspect image %s: %w", name, tag, err)
	}

	tmp, err := os.MkdirTemp("", "gantry-fnimage-")
	if err != nil {
		return "", fmt.Errorf("build function %s: %w", name, err)
	}
	defer func() { _ = os.RemoveAll(tmp) }()
	bin := filepath.Join(tmp, name)
	if err := compile(ctx, root, name, bin); err != nil {
		return "", fmt.Errorf("build function %s: %w", name, err)
	}
	buildCtx, err := contextTar(name, hash, bin)
	if err != nil {
		return "", fmt.Errorf("build function %s: %w", name, err)
	}
	resp, err := docker.ImageBuild(ctx, bytes.NewReader(buildCtx), build.ImageBuildOptions{
		Tags:        []string{tag},
		Dockerfile:  "Dockerfile",
		Remove:      true,
		ForceRemove: true,
		Version:     build.BuilderV1,
	})
	if err != nil {
		return "", fmt.Errorf("build function %s: build image %s: %w", name, tag, err)
	}
	defer resp.Body.Close()
	if err := readBuildOutput(resp.Body); err != nil {
		return "", fmt.Errorf("build function %s: build image %s: %w", name, tag, err)
	}
	return tag, nil
}

// goEnv runs `go env key` in dir.
func goEnv(ctx context.Context, dir, key string) (string, error) {
	cmd := exec.CommandContext(ctx, "go", "env", key)
	cmd.Dir = dir
	out, err := cmd.Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return "", fmt.Errorf("go env %s: %w: %s", key, err, bytes.TrimSpace(ee.Stderr))
		}
		return "", fmt.Errorf("go env %s: %w", key, err)
	}
	return strings.TrimSpace(string(out)), nil
}

// sourceHash is the hex sha256 over the recipe, the Go version, the target
// architecture, go.mod's go directive, and the names and contents of the
// files under functions/<name> (tests excluded).
func sourceHash(root, name, goVersion, goarch string) (string, error) {
	h := sha256.New()
	fmt.Fprintf(h, "recipe %q %q %q\ngo %q\nplatform linux/%s\n",
		recipeVersion, dockerfile, goBuildFlags(), goVersion, goarch)
	gomod, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil {
		return "", fmt.Errorf("hash sources: %w", err)
	}
	fmt.Fprintf(h, "go.mod go %q\n", goDirective(gomod))

	dir := filepath.Join(root, FunctionsDir, name)
	var files []string
	err = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() && !strings.HasSuffix(d.Name(), "_test.go") {
			files = append(files, path)
		}
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("hash sources: %w", err)
	}
	sort.Strings(files)
	for _, path := range files {
		b, err := os.ReadFile(path)
		if err != nil {
			return "", fmt.Errorf("hash sources: %w", err)
		}
		rel, err := filepath.Rel(dir, path)
		if err != nil {
			return "", fmt.Errorf("hash sources: %w", err)
		}
		fmt.Fprintf(h, "file %q %d\n", filepath.ToSlash(rel), len(b))
		h.Write(b)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

var goLine = regexp.MustCompile(`(?m)^go\s+(\S+)`)

func goDirective(gomod []byte) string {
	if m := goLine.FindSubmatch(gomod); m != nil {
		return string(m[1])
	}
	return ""
}

// compile builds functions/<name> into a static Linux binary at out.
func compile(ctx context.Context, root, name, out string) error {
	args := append([]string{"build"}, goBuildFlags()...)
	args = append(args, "-o", out, "./"+FunctionsDir+"/"+name)
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+runtime.GOARCH)
	if output, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("%w: go %s: %v\n%s", ErrCompile, strings.Join(args, " "), err, output)
	}
	return nil
}

// contextTar is the build context: the Dockerfile and the binary.
func contextTar(name, hash, bin string) ([]byte, error) {
	exe, err := os.ReadFile(bin)
	if err != nil {
		return nil, fmt.Errorf("build context: %w", err)
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range []struct {
		name string
		mode int64
		data []byte
	}{
		{"Dockerfile", 0o644, fmt.Appendf(nil, dockerfile, name, hash)},
		{name, 0o755, exe},
	} {
		hdr := &tar.Header{
			Typeflag: tar.TypeReg,
			Name:     f.name,
			Mode:     f.mode,
			Size:     int64(len(f.data)),
			ModTime:  contextModTime,
			Format:   tar.FormatPAX,
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return nil, fmt.Errorf("build context: %w", err)
		}
		if _, err := tw.Write(f.data); err != nil {
			return nil, fmt.Errorf("build context: %w", err)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("build context: %w", err)
	}
	return buf.Bytes(), nil
}

// buildMessage is one JSON message of the daemon's build output stream.
type buildMessage struct {
	Stream      string `json:"stream"`
	Error       string `json:"error"`
	ErrorDetail *struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"errorDetail"`
}

// readBuildOutput reads the build output stream to the end and returns
// ErrBuild with the daemon's message (and the last lines of the build's
// output) if it reports an error.
func readBuildOutput(r io.Reader) error {
	const keep = 2048
	var tail []byte
	dec := json.NewDecoder(r)
	for {
		var m buildMessage
		err := dec.Decode(&m)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read build output: %w", err)
		}
		if m.Stream != "" {
			tail = append(tail, m.Stream...)
			if len(tail) > keep {
				tail = tail[len(tail)-keep:]
			}
		}
		msg := m.Error
		if m.ErrorDetail != nil && m.ErrorDetail.Message != "" {
			msg = m.ErrorDetail.Message
		}
		if msg != "" {
			_, _ = io.Copy(io.Discard, r) // read the stream to the end
			if out := strings.TrimSpace(string(tail)); out != "" {
				return fmt.Errorf("%w: %s\n%s", ErrBuild, msg, out)
			}
			return fmt.Errorf("%w: %s", ErrBuild, msg)
		}
	}
}
