package main

import (
	"archive/tar"
	"bytes"
	"errors"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
)

// readTar returns the entries of a tar stream: name → content (links: "-> target").
func readTar(t *testing.T, b []byte) (map[string]string, map[string]*tar.Header) {
	t.Helper()
	entries := map[string]string{}
	headers := map[string]*tar.Header{}
	tr := tar.NewReader(bytes.NewReader(b))
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return entries, headers
		}
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		switch h.Typeflag {
		case tar.TypeSymlink:
			entries[h.Name] = "-> " + h.Linkname
		default:
			entries[h.Name] = string(body)
		}
		headers[h.Name] = h
	}
}

func TestGoContextPacksTheBinaryFromScratchOrFromTheBase(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "fn")
	if err := os.WriteFile(bin, []byte("\x7fELF binary"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		base   bool
		wantDF string
	}{
		{"without a base", false, "FROM scratch\nCOPY fn /fn\nENTRYPOINT [\"/fn\"]\n"},
		{"with a base", true, "ARG BASE_IMAGE\nFROM ${BASE_IMAGE}\nCOPY fn /fn\nENTRYPOINT [\"/fn\"]\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b bytes.Buffer
			if err := writeGoContext(&b, bin, tc.base); err != nil {
				t.Fatal(err)
			}
			entries, headers := readTar(t, b.Bytes())
			if len(entries) != 2 || entries["Dockerfile"] != tc.wantDF || entries["fn"] != "\x7fELF binary" {
				t.Fatalf("context: %q", entries)
			}
			if headers["fn"].Mode != 0o755 {
				t.Fatalf("the binary's mode is %o, want 755", headers["fn"].Mode)
			}
		})
	}
}

func TestDirContextLeavesOutGitAndWhatDockerignoreNames(t *testing.T) {
	dir := t.TempDir()
	write := func(rel, content string) {
		t.Helper()
		p := filepath.Join(dir, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(p), 0o750); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("Dockerfile", "FROM scratch\n")
	write("main.go", "package main")
	write("fn", "binary")
	write("debug.log", "x")
	write("keep.log", "kept")
	write("build/out.o", "x")
	write("src/deep/secret.txt", "x")
	write("src/deep/ok.txt", "ok")
	write(".git/HEAD", "ref")
	write("sub/.git/config", "x")
	write(".dockerignore", "# comment\n\n*.log\n!keep.log\nbuild/\n**/secret.txt\nDockerfile\n")
	if err := os.Symlink("main.go", filepath.Join(dir, "link.go")); err != nil {
		t.Fatal(err)
	}

	var b bytes.Buffer
	if err := writeDirContext(&b, dir, "Dockerfile"); err != nil {
		t.Fatal(err)
	}
	entries, headers := readTar(t, b.Bytes())
	names := slices.Sorted(maps.Keys(entries))
	want := []string{".dockerignore", "Dockerfile", "fn", "keep.log", "link.go", "main.go", "src/", "src/deep/", "src/deep/ok.txt", "sub/"}
	if !slices.Equal(names, want) {
		t.Fatalf("context entries\n got %q\nwant %q", names, want)
	}
	if entries["fn"] != "binary" || entries["link.go"] != "-> main.go" || entries["src/deep/ok.txt"] != "ok" {
		t.Fatalf("contents: %q", entries)
	}
	if h := headers["main.go"]; h.Uid != 0 || h.Gid != 0 || h.Uname != "" {
		t.Fatalf("owner of main.go: %d %d %q", h.Uid, h.Gid, h.Uname)
	}
}

func TestDockerIgnoreRules(t *testing.T) {
	di := dockerIgnore{rules: []ignoreRule{{pattern: "*"}, {pattern: "fn", negate: true}, {pattern: "**/tmp"}}}
	for rel, want := range map[string]bool{
		"fn": false, "main.go": true, "a/b": true, "x/y/tmp": true,
	} {
		if got := di.excluded(rel); got != want {
			t.Errorf("excluded(%q) = %v, want %v", rel, got, want)
		}
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, ".dockerignore"), []byte("ok\n[bad\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := readDockerIgnore(dir); err == nil || !strings.Contains(err.Error(), ".dockerignore:2") {
		t.Fatalf("a bad pattern: %v, want an error naming .dockerignore:2", err)
	}
}

func TestDirContextRefusesSpecialFiles(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("FROM scratch\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(filepath.Join(dir, "pipe"), 0o600); err != nil {
		t.Fatal(err)
	}
	err := writeDirContext(io.Discard, dir, "Dockerfile")
	if err == nil || !strings.Contains(err.Error(), "pipe") || !strings.Contains(err.Error(), "cannot be sent") {
		t.Fatalf("got %v, want an error naming the pipe", err)
	}
}
