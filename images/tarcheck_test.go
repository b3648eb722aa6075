package images

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/gantry-dev/gantry/httperr"
	"github.com/gantry-dev/gantry/store"
)

// entry is one entry of a test tarball.
type entry struct {
	name, link, body string
	kind             byte
}

func tarball(t testing.TB, entries ...entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		kind := e.kind
		if kind == 0 {
			kind = tar.TypeReg
		}
		hdr := &tar.Header{Name: e.name, Linkname: e.link, Typeflag: kind, Mode: 0o755}
		if kind == tar.TypeReg {
			hdr.Size = int64(len(e.body))
		}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatal(err)
		}
		if kind == tar.TypeReg {
			if _, err := tw.Write([]byte(e.body)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func gzipped(t testing.TB, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

var dockerfile = entry{name: "Dockerfile", body: "FROM scratch\n"}

// testLimits are the bounds of the tests that are not about them.
var testLimits = limits{maxUnpacked: 1 << 30, maxEntries: MaxEntries}

// declaring is a tar whose one entry declares size bytes but holds only a few.
func declaring(t testing.TB, name string, size int64) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	if err := tw.WriteHeader(&tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o644, Size: size}); err != nil {
		t.Fatal(err)
	}
	if _, err := tw.Write(make([]byte, 100)); err != nil {
		t.Fatal(err)
	}
	if err := tw.Flush(); err == nil {
		t.Fatal("the short entry was completed")
	}
	return buf.Bytes()
}

func TestUnpackedBounds(t *testing.T) {
	manifest := entry{name: "manifest.json", body: `[{"Config":"c.json","Layers":[]}]`}
	lim := limits{maxUnpacked: 1 << 20, maxEntries: 4}
	zeros := strings.Repeat("\x00", 2<<20)
	for _, tc := range []struct {
		name   string
		data   []byte
		status string // "413", or "400 FIELD" (the message names the entries)
	}{
		{"a gzipped context that unpacks past the limit is refused", gzipped(t, tarball(t, dockerfile, entry{name: "zeros", body: zeros})), "413"},
		{"an entry declaring more than the limit is refused before it is read", declaring(t, "big", 8<<20), "413"},
		{"entries whose sizes add up past the limit are refused", gzipped(t, tarball(t, dockerfile, entry{name: "a", body: zeros[:600<<10]}, entry{name: "b", body: zeros[:600<<10]})), "413"},
		{"more entries than the limit are refused", tarball(t, dockerfile, entry{name: "a"}, entry{name: "b"}, entry{name: "c"}, entry{name: "d"}), "400"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, check := range []struct {
				field string
				run   func() error
			}{
				{"context", func() error { return checkContext(bytes.NewReader(tc.data), "Dockerfile", lim) }},
				{"body", func() error {
					data := tc.data
					if tc.status == "400" { // a tarball's entries: its manifest and four more
						data = tarball(t, manifest, dockerfile, entry{name: "a"}, entry{name: "b"}, entry{name: "c"})
					}
					return sanitizeLoad(bytes.NewReader(data), io.Discard, lim)
				}},
			} {
				err := check.run()
				var answer *httperr.Error
				var verr *store.ValidationError
				switch {
				case tc.status == "413":
					if !errors.As(err, &answer) || answer.Status != http.StatusRequestEntityTooLarge || !strings.Contains(answer.Message, "unpacked") {
						t.Errorf("%s: err = %v, want a 413 naming the unpacked size", check.field, err)
					}
				case !errors.As(err, &verr) || verr.Field != check.field || !strings.Contains(verr.Message, "more than 4 entries"):
					t.Errorf("%s: err = %v, want a 400 of %s naming the entries", check.field, err, check.field)
				}
			}
		})
	}
	t.Run("headers that unpack past the limit are refused, though no entry has a size", func(t *testing.T) {
		var entries []entry
		for i := range 400 {
			entries = append(entries, entry{name: fmt.Sprintf("%d-%s", i, strings.Repeat("n", 4000))})
		}
		data := gzipped(t, tarball(t, append(entries, dockerfile)...))
		err := checkContext(bytes.NewReader(data), "Dockerfile", limits{maxUnpacked: 1 << 20, maxEntries: MaxEntries})
		var answer *httperr.Error
		if !errors.As(err, &answer) || answer.Status != http.StatusRequestEntityTooLarge {
			t.Fatalf("err = %v, want a 413", err)
		}
	})
	t.Run("an archive within the limits is accepted", func(t *testing.T) {
		ok := gzipped(t, tarball(t, dockerfile, entry{name: "zeros", body: zeros[:900<<10]}))
		if err := checkContext(bytes.NewReader(ok), "Dockerfile", lim); err != nil {
			t.Fatal(err)
		}
	})
}

func TestCheckContext(t *testing.T) {
	for _, tc := range []struct {
		name       string
		data       []byte
		dockerfile string
		field      string // "" when the context is accepted
		mention    string // what the message must name
	}{
		{"a context with its Dockerfile is accepted", tarball(t, dockerfile, entry{name: "fn", body: "x"}), "Dockerfile", "", ""},
		{"a gzipped context is accepted", gzipped(t, tarball(t, dockerfile)), "Dockerfile", "", ""},
		{"a Dockerfile elsewhere is found by its path", tarball(t, entry{name: "./build/Dockerfile.fn", body: "FROM scratch"}), "build/Dockerfile.fn", "", ""},
		{"links that stay inside are accepted", tarball(t, dockerfile, entry{name: "a/b", body: "x"}, entry{name: "a/l", link: "b", kind: tar.TypeSymlink}, entry{name: "c/l", link: "../a/b", kind: tar.TypeSymlink}, entry{name: "h", link: "a/b", kind: tar.TypeLink}), "Dockerfile", "", ""},
		{"links through links that stay inside are accepted", tarball(t, dockerfile, entry{name: "usr/lib/x", body: "x"}, entry{name: "lib", link: "usr/lib", kind: tar.TypeSymlink}, entry{name: "y", link: "lib/x", kind: tar.TypeSymlink}, entry{name: "z", link: "lib/..", kind: tar.TypeSymlink}, entry{name: "self", link: ".", kind: tar.TypeSymlink}), "Dockerfile", "", ""},
		{"an entry under a symlink is refused", tarball(t, dockerfile, entry{name: "a", link: ".", kind: tar.TypeSymlink}, entry{name: "a/b", link: "..", kind: tar.TypeSymlink}), "Dockerfile", "context", `"a/b": its path passes through the symbolic link "a"`},
		{"a file under a symlink is refused", tarball(t, dockerfile, entry{name: "a", link: "sub", kind: tar.TypeSymlink}, entry{name: "a/f", body: "x"}), "Dockerfile", "context", `"a/f"`},
		{"a symlink out through an earlier symlink is refused", tarball(t, dockerfile, entry{name: "a", link: ".", kind: tar.TypeSymlink}, entry{name: "b", link: "a/..", kind: tar.TypeSymlink}), "Dockerfile", "context", `"b"`},
		{"a symlink out through a later symlink is refused", tarball(t, dockerfile, entry{name: "b", link: "a/..", kind: tar.TypeSymlink}, entry{name: "a", link: ".", kind: tar.TypeSymlink}), "Dockerfile", "context", `"b"`},
		{"a symlink out through a chain of symlinks is refused", tarball(t, dockerfile, entry{name: "d/e", body: "x"}, entry{name: "a", link: "d/e/..", kind: tar.TypeSymlink}, entry{name: "d/e2", link: "../a", kind: tar.TypeSymlink}, entry{name: "c", link: "d/e2/../..", kind: tar.TypeSymlink}), "Dockerfile", "context", `"c"`},
		{"a hard link through a symlink is refused", tarball(t, dockerfile, entry{name: "a", link: ".", kind: tar.TypeSymlink}, entry{name: "h", link: "a/Dockerfile", kind: tar.TypeLink}), "Dockerfile", "context", `"h"`},
		{"a hard link to an inside symlink, placed where that target leaves, is refused", tarball(t, dockerfile, entry{name: "d/l", link: "../x", kind: tar.TypeSymlink}, entry{name: "top", link: "d/l", kind: tar.TypeLink}), "Dockerfile", "context", `"top"`},
		{"a hard link to a symlink whose target stays inside from there too is accepted", tarball(t, dockerfile, entry{name: "d/x", body: "x"}, entry{name: "d/l", link: "x", kind: tar.TypeSymlink}, entry{name: "d/h", link: "d/l", kind: tar.TypeLink}), "Dockerfile", "", ""},
		{"an entry name longer than PATH_MAX is refused before any path work", tarball(t, dockerfile, entry{name: strings.Repeat("a/", 2100) + "f", body: "x"}), "Dockerfile", "context", "longer than 4096"},
		{"a symlink loop is refused", tarball(t, dockerfile, entry{name: "a", link: "b", kind: tar.TypeSymlink}, entry{name: "b", link: "a", kind: tar.TypeSymlink}), "Dockerfile", "context", "loop"},
		{"a .. entry is refused", tarball(t, dockerfile, entry{name: "../evil", body: "x"}), "Dockerfile", "context", "../evil"},
		{"a .. climbing out from a folder is refused", tarball(t, dockerfile, entry{name: "a/../../evil", body: "x"}), "Dockerfile", "context", "a/../../evil"},
		{"an absolute path is refused", tarball(t, dockerfile, entry{name: "/etc/passwd", body: "x"}), "Dockerfile", "context", "/etc/passwd"},
		{"a symlink out of the context is refused", tarball(t, dockerfile, entry{name: "a/l", link: "../../etc/passwd", kind: tar.TypeSymlink}), "Dockerfile", "context", "a/l"},
		{"an absolute symlink is refused", tarball(t, dockerfile, entry{name: "l", link: "/etc/passwd", kind: tar.TypeSymlink}), "Dockerfile", "context", "/etc/passwd"},
		{"a hard link out of the context is refused", tarball(t, dockerfile, entry{name: "h", link: "../x", kind: tar.TypeLink}), "Dockerfile", "context", "h"},
		{"a device is refused", tarball(t, dockerfile, entry{name: "dev", kind: tar.TypeChar}), "Dockerfile", "context", "dev"},
		{"a context without its Dockerfile is refused", tarball(t, entry{name: "fn", body: "x"}), "Dockerfile", "dockerfile", "Dockerfile"},
		{"a Dockerfile that is a symlink is refused", tarball(t, entry{name: "real", body: "FROM scratch"}, entry{name: "Dockerfile", link: "real", kind: tar.TypeSymlink}), "Dockerfile", "dockerfile", "Dockerfile"},
		{"something that is not a tar is refused", []byte(strings.Repeat("not a tar ", 100)), "Dockerfile", "context", "tar"},
		{"an empty body is refused", nil, "Dockerfile", "context", "tar"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := checkContext(bytes.NewReader(tc.data), tc.dockerfile, testLimits)
			if tc.field == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			var verr *store.ValidationError
			if !errors.As(err, &verr) {
				t.Fatalf("err = %v, want a ValidationError of %s", err, tc.field)
			}
			if verr.Field != tc.field || !strings.Contains(verr.Message, tc.mention) {
				t.Fatalf("err = %s: %s, want field %s naming %q", verr.Field, verr.Message, tc.field, tc.mention)
			}
		})
	}
}

func TestSanitizeLoadDropsTags(t *testing.T) {
	manifest := `[{"Config":"abc.json","RepoTags":["alpine:3","gantry-images/other:01x"],"Layers":["l/layer.tar"]}]`
	index := `{"schemaVersion":2,"manifests":[{"mediaType":"m","digest":"sha256:1","size":1,"annotations":{"io.containerd.image.name":"docker.io/library/alpine:3"}}]}`
	in := tarball(t, entry{name: "manifest.json", body: manifest}, entry{name: "index.json", body: index},
		entry{name: "repositories", body: `{"alpine":{"3":"abc"}}`}, entry{name: "abc.json", body: "{}"}, entry{name: "l/layer.tar", body: "layer"})
	for _, data := range [][]byte{in, gzipped(t, in)} {
		var out bytes.Buffer
		if err := sanitizeLoad(bytes.NewReader(data), &out, testLimits); err != nil {
			t.Fatal(err)
		}
		tr := tar.NewReader(&out)
		got := map[string]string{}
		for {
			hdr, err := tr.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(tr)
			got[hdr.Name] = string(b)
		}
		if _, ok := got["repositories"]; ok {
			t.Error("repositories kept")
		}
		var m []map[string]any
		if err := json.Unmarshal([]byte(got["manifest.json"]), &m); err != nil || len(m) != 1 {
			t.Fatalf("manifest.json = %q (%v)", got["manifest.json"], err)
		}
		if _, ok := m[0]["RepoTags"]; ok || m[0]["Config"] != "abc.json" {
			t.Errorf("manifest.json = %q: want Config kept, RepoTags dropped", got["manifest.json"])
		}
		if strings.Contains(got["index.json"], "alpine") || !strings.Contains(got["index.json"], "sha256:1") {
			t.Errorf("index.json = %q: want annotations dropped, manifests kept", got["index.json"])
		}
		if got["l/layer.tar"] != "layer" || got["abc.json"] != "{}" {
			t.Errorf("other entries changed: %q", got)
		}
	}
}

func TestSanitizeLoadRefusesWhatIsNotAnImageTarball(t *testing.T) {
	for name, data := range map[string][]byte{
		"a tar without manifest.json":  tarball(t, dockerfile),
		"a manifest that is not JSON":  tarball(t, entry{name: "manifest.json", body: "nope"}),
		"a manifest naming no image":   tarball(t, entry{name: "manifest.json", body: "[]"}),
		"a manifest naming two images": tarball(t, entry{name: "manifest.json", body: `[{"Config":"a.json","Layers":[]},{"Config":"b.json","Layers":[]}]`}),
		"something that is not a tar":  []byte(strings.Repeat("x", 2000)),
		"an absolute path in the tar":  tarball(t, entry{name: "/manifest.json", body: "[]"}),
		"an empty body":                nil,
	} {
		t.Run(name, func(t *testing.T) {
			err := sanitizeLoad(bytes.NewReader(data), io.Discard, testLimits)
			var verr *store.ValidationError
			if !errors.As(err, &verr) || verr.Field != "body" {
				t.Fatalf("err = %v, want a ValidationError of body", err)
			}
		})
	}
}

func TestNewBytesOfAFollowedLog(t *testing.T) {
	if got := string(newBytes([]byte("ab"), []byte("abcd"))); got != "cd" {
		t.Errorf("grown log: %q", got)
	}
	prev := bytes.Repeat([]byte("x"), store.MaxImageLog-10)
	prev = append(prev, []byte("0123456789")...)
	cur := append(append([]byte(nil), prev[20:]...), []byte("new bytes!..........")...)
	if got := string(newBytes(prev, cur)); got != "new bytes!.........." {
		t.Errorf("log cut at its cap: %q", got)
	}
}
