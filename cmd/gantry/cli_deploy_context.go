package main

// This file makes the build context `gantry deploy` uploads: for `runtime: go`, the
// function compiled into a static Linux binary and a Dockerfile that packs it FROM scratch
// (or FROM the base image); for `dockerfile:`, the function's directory as a tar stream.

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"time"
)

// goBinaryName is the binary's name in a `runtime: go` build context and in the image (/fn).
const goBinaryName = "fn"

// goDockerfile is the Dockerfile of a `runtime: go` build context; with a base image, the
// build argument BASE_IMAGE names it.
func goDockerfile(base bool) string {
	from := "FROM scratch\n"
	if base {
		from = "ARG BASE_IMAGE\nFROM ${BASE_IMAGE}\n"
	}
	return from + "COPY " + goBinaryName + " /" + goBinaryName + "\nENTRYPOINT [\"/" + goBinaryName + "\"]\n"
}

// compileGo builds the Go main package in dir into a static Linux binary at out, with the
// local Go toolchain: CGO_ENABLED=0, GOOS=linux, the toolchain's GOARCH (or $GOARCH),
// -trimpath, no VCS stamping, symbols stripped. Its output goes to log.
func compileGo(ctx context.Context, dir, out string, log io.Writer) error {
	args := []string{"build", "-trimpath", "-buildvcs=false", "-ldflags=-s -w", "-o", out, "."}
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux")
	var output bytes.Buffer
	cmd.Stdout, cmd.Stderr = &output, &output
	if err := cmd.Run(); err != nil {
		_, _ = log.Write(output.Bytes())
		if errors.Is(err, exec.ErrNotFound) {
			return errors.New("compile the function: the go command is not on PATH (runtime: go builds with the local Go toolchain)")
		}
		return fmt.Errorf("compile the function (go %s in %s): %w", strings.Join(args, " "), dir, err)
	}
	_, _ = log.Write(output.Bytes())
	return nil
}

// writeGoContext writes the tar build context of a `runtime: go` function: its Dockerfile
// and the binary at bin.
func writeGoContext(w io.Writer, bin string, base bool) error {
	f, err := os.Open(bin) //nolint:gosec // G304: the binary compileGo just wrote
	if err != nil {
		return fmt.Errorf("build context: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("build context: %w", err)
	}
	tw := tar.NewWriter(w)
	now := time.Now().UTC().Truncate(time.Second)
	df := goDockerfile(base)
	if err := tw.WriteHeader(&tar.Header{Name: "Dockerfile", Mode: 0o644, Size: int64(len(df)), ModTime: now, Typeflag: tar.TypeReg}); err != nil {
		return fmt.Errorf("build context: %w", err)
	}
	if _, err := io.WriteString(tw, df); err != nil {
		return fmt.Errorf("build context: %w", err)
	}
	if err := tw.WriteHeader(&tar.Header{Name: goBinaryName, Mode: 0o755, Size: st.Size(), ModTime: now, Typeflag: tar.TypeReg}); err != nil {
		return fmt.Errorf("build context: %w", err)
	}
	if _, err := io.Copy(tw, f); err != nil {
		return fmt.Errorf("build context: %w", err)
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("build context: %w", err)
	}
	return nil
}

// dockerIgnore holds the patterns of a .dockerignore: a subset of Docker's rules — one
// path.Match pattern per line relative to the context's root, "#" comments, "!" exceptions
// (the last matching line wins), a leading "**/" matching at any depth; a pattern that
// matches a directory excludes what is under it.
type dockerIgnore struct {
	rules []ignoreRule
}

type ignoreRule struct {
	pattern string
	negate  bool
}

// readDockerIgnore reads dir/.dockerignore; none is no patterns.
func readDockerIgnore(dir string) (dockerIgnore, error) {
	f, err := os.Open(filepath.Join(dir, ".dockerignore")) //nolint:gosec // G304: the function's own directory
	if errors.Is(err, fs.ErrNotExist) {
		return dockerIgnore{}, nil
	}
	if err != nil {
		return dockerIgnore{}, fmt.Errorf("read .dockerignore: %w", err)
	}
	defer f.Close()
	var di dockerIgnore
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		r := ignoreRule{}
		if strings.HasPrefix(line, "!") {
			r.negate, line = true, strings.TrimSpace(line[1:])
		}
		r.pattern = strings.TrimSuffix(path.Clean(strings.TrimPrefix(filepath.ToSlash(line), "/")), "/")
		if _, err := path.Match(strings.TrimPrefix(r.pattern, "**/"), ""); err != nil {
			return dockerIgnore{}, fmt.Errorf(".dockerignore:%d: bad pattern %q: %w", n, line, err)
		}
		di.rules = append(di.rules, r)
	}
	if err := sc.Err(); err != nil {
		return dockerIgnore{}, fmt.Errorf("read .dockerignore: %w", err)
	}
	return di, nil
}

// excluded tells whether rel (slash-separated, relative to the context) is left out.
func (di dockerIgnore) excluded(rel string) bool {
	out := false
	for _, r := range di.rules {
		if r.matches(rel) {
			out = !r.negate
		}
	}
	return out
}

// matches tells whether the rule matches rel or one of its parent directories.
func (r ignoreRule) matches(rel string) bool {
	for p := rel; p != "." && p != ""; p = path.Dir(p) {
		if ok, _ := path.Match(r.pattern, p); ok {
			return true
		}
		if rest, ok := strings.CutPrefix(r.pattern, "**/"); ok {
			parts := strings.Split(p, "/")
			for i := range parts {
				if ok, _ := path.Match(rest, strings.Join(parts[i:], "/")); ok {
					return true
				}
			}
		}
	}
	return false
}

// writeDirContext writes dir as a tar build context: every regular file, directory and
// symbolic link under it, but .git and what .dockerignore excludes (the Dockerfile, keep
// names it, is always sent). Files are streamed, never held in memory.
func writeDirContext(w io.Writer, dir, keep string) error {
	di, err := readDockerIgnore(dir)
	if err != nil {
		return err
	}
	tw := tar.NewWriter(w)
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		if rel == "." {
			return nil
		}
		if d.Name() == ".git" || rel != keep && di.excluded(rel) {
			if d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		return addToTar(tw, p, rel, d) // cli_images_tar.go
	})
	if err != nil {
		return fmt.Errorf("build context of %s: %w", dir, err)
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("build context of %s: %w", dir, err)
	}
	return nil
}
