package main

import (
	"archive/tar"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/pflag"
)

func TestTarDirStreamsFilesDirectoriesAndLinks(t *testing.T) {
	dir := t.TempDir()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("FROM scratch\n"), 0o644))
	must(os.MkdirAll(filepath.Join(dir, "bin", "sub"), 0o755))
	must(os.WriteFile(filepath.Join(dir, "bin", "fn"), []byte("\x7fELF..."), 0o755))
	must(os.Symlink("bin/fn", filepath.Join(dir, "fn")))

	rd := tarDir(dir)
	defer rd.Close()
	tr := tar.NewReader(rd)
	got := map[string]string{}
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if hdr.Uid != 0 || hdr.Gid != 0 || hdr.Uname != "" {
			t.Errorf("%s is owned by %d/%d %q, want root", hdr.Name, hdr.Uid, hdr.Gid, hdr.Uname)
		}
		body, _ := io.ReadAll(tr)
		switch hdr.Typeflag {
		case tar.TypeReg:
			got[hdr.Name] = string(body) + " " + hdr.FileInfo().Mode().Perm().String()
		case tar.TypeDir:
			got[hdr.Name] = "dir"
		case tar.TypeSymlink:
			got[hdr.Name] = "-> " + hdr.Linkname
		}
	}
	want := map[string]string{
		"Dockerfile": "FROM scratch\n -rw-r--r--",
		"bin/":       "dir",
		"bin/fn":     "\x7fELF... -rwxr-xr-x",
		"bin/sub/":   "dir",
		"fn":         "-> bin/fn",
	}
	if len(got) != len(want) {
		t.Errorf("entries %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: %q, want %q", k, got[k], v)
		}
	}
}

func TestTarDirFailsOnWhatItCannotSend(t *testing.T) {
	dir := t.TempDir()
	ln, err := net.Listen("unix", filepath.Join(dir, "sock"))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	rd := tarDir(dir)
	defer rd.Close()
	if _, err := io.ReadAll(rd); err == nil || !strings.Contains(err.Error(), "sock") {
		t.Fatalf("a socket in the context: %v", err)
	}
	if _, _, err := openUpload(filepath.Join(dir, "missing")); err == nil {
		t.Fatal("a missing path was opened")
	}
}

func TestByteSizeFlag(t *testing.T) {
	for _, c := range []struct {
		in   string
		want int64
		err  bool
	}{
		{in: "536870912", want: 512 << 20},
		{in: "512MiB", want: 512 << 20},
		{in: "64 KiB", want: 64 << 10},
		{in: "2GiB", want: 2 << 30},
		{in: "100B", want: 100},
		{in: "0", err: true},
		{in: "-1MiB", err: true},
		{in: "+5", err: true},
		{in: "12MB", err: true},
		{in: "lots", err: true},
		{in: "9223372036854775807GiB", err: true},
	} {
		t.Run(c.in, func(t *testing.T) {
			var b byteSize
			err := b.Set(c.in)
			if c.err {
				if err == nil {
					t.Fatalf("%q taken as %d", c.in, b)
				}
				return
			}
			if err != nil || int64(b) != c.want {
				t.Fatalf("%q: %d, %v; want %d", c.in, b, err, c.want)
			}
		})
	}
	b := byteSize(512 << 20)
	if b.String() != "512MiB" {
		t.Errorf("String %q", b.String())
	}
	b = byteSize(1000)
	if b.String() != "1000" {
		t.Errorf("String %q", b.String())
	}
}

func TestImageBuildResourceFlags(t *testing.T) {
	for _, c := range []struct {
		args   []string
		memory int64
		cpus   float64
		err    string
	}{
		{args: nil, memory: 2 << 30, cpus: 1},
		{args: []string{"--image-build-memory", "512MiB", "--image-build-cpus", "0.5"}, memory: 512 << 20, cpus: 0.5},
		{args: []string{"--image-build-memory", "1MiB"}, err: "--image-build-memory"},
		{args: []string{"--image-build-cpus", "0"}, err: "--image-build-cpus"},
		{args: []string{"--image-build-cpus", "NaN"}, err: "--image-build-cpus"},
	} {
		t.Run(strings.Join(c.args, " "), func(t *testing.T) {
			var cfg imagesConfig
			f := pflag.NewFlagSet("server", pflag.ContinueOnError)
			cfg.flags(f)
			if err := f.Parse(c.args); err != nil {
				t.Fatal(err)
			}
			svc, err := cfg.service(nil, nil, t.TempDir(), "node-a", slog.New(slog.NewTextHandler(io.Discard, nil)))
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("err = %v, want one naming %s", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := svc.Config(); got.BuildMemory != c.memory || got.BuildCPUs != c.cpus {
				t.Errorf("memory %d, CPUs %v; want %d, %v", got.BuildMemory, got.BuildCPUs, c.memory, c.cpus)
			}
		})
	}
}
