package images

// This file holds the checks of uploads: a build context must be a tar(.gz) whose entries
// all stay inside it and that holds its Dockerfile; an image tarball must be a tar with a
// manifest.json, and is rewritten without the tags it names, so that loading it cannot
// move a tag Gantry or another user relies on.

import (
	"archive/tar"
	"bufio"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strings"

	"github.com/gantry-dev/gantry/store"
)

// gzipMagic starts every gzip stream.
var gzipMagic = []byte{0x1f, 0x8b}

// openArchive reads r as a tar, gunzipping it first when it starts with gzip's magic bytes.
func openArchive(r io.Reader) (*tar.Reader, error) {
	br := bufio.NewReader(r)
	magic, err := br.Peek(2)
	if err == nil && magic[0] == gzipMagic[0] && magic[1] == gzipMagic[1] {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, err
		}
		return tar.NewReader(zr), nil
	}
	return tar.NewReader(br), nil
}

// inside cleans p, a path relative to the context's root, and reports whether it stays
// inside the context.
func inside(p string) (string, bool) {
	if strings.HasPrefix(p, "/") {
		return "", false
	}
	c := path.Clean(p)
	if c == ".." || strings.HasPrefix(c, "../") {
		return "", false
	}
	return c, true
}

// checkContext reads the build context r to its end: every entry must stay inside the
// context (no absolute path, no .. climbing out, no link leaving it, no device) and
// dockerfile must be a regular file in it. Its errors are ValidationErrors of the field
// "context" (naming the entry) or "dockerfile".
func checkContext(r io.Reader, dockerfile string) error {
	tr, err := openArchive(r)
	if err != nil {
		return store.Invalid("context", "the build context is not a tar archive (or a gzipped one): %v", err)
	}
	want := path.Clean(dockerfile)
	found, entries := false, 0
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return store.Invalid("context", "the build context is not a valid tar archive (or a gzipped one): %v", err)
		}
		entries++
		name, ok := inside(hdr.Name)
		if !ok {
			return store.Invalid("context", "entry %q: paths must be relative and stay inside the build context", hdr.Name)
		}
		switch hdr.Typeflag {
		case tar.TypeSymlink:
			target := hdr.Linkname
			if strings.HasPrefix(target, "/") {
				return store.Invalid("context", "entry %q: symbolic link to %q leaves the build context (absolute target)", hdr.Name, target)
			}
			if _, ok := inside(path.Join(path.Dir(name), target)); !ok { //nolint:gosec // G305: this is the traversal check
				return store.Invalid("context", "entry %q: symbolic link to %q leaves the build context", hdr.Name, target)
			}
		case tar.TypeLink:
			if _, ok := inside(hdr.Linkname); !ok {
				return store.Invalid("context", "entry %q: hard link to %q leaves the build context", hdr.Name, hdr.Linkname)
			}
		case tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
			return store.Invalid("context", "entry %q: device files and pipes are not allowed in a build context", hdr.Name)
		case tar.TypeReg:
			if name == want {
				found = true
			}
		}
		if _, err := io.Copy(io.Discard, tr); err != nil {
			return store.Invalid("context", "entry %q: %v", hdr.Name, err)
		}
	}
	if entries == 0 {
		return store.Invalid("context", "the build context is empty or not a tar archive")
	}
	if !found {
		return store.Invalid("dockerfile", "the build context has no regular file %q (the Dockerfile)", dockerfile)
	}
	return nil
}

// sanitizeLoad copies the image tarball r (tar or gzipped tar, as `docker save` writes
// it) to w as a plain tar without the tags it names: manifest.json's RepoTags are
// dropped, as are the legacy "repositories" file and index.json's annotations, so that
// the daemon loads the image by ID only. It fails (a ValidationError of the field "body")
// unless r is a tar that holds manifest.json.
func sanitizeLoad(r io.Reader, w io.Writer) error {
	tr, err := openArchive(r)
	if err != nil {
		return store.Invalid("body", "the image tarball is not a tar archive (or a gzipped one): %v", err)
	}
	tw := tar.NewWriter(w)
	found := false
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return store.Invalid("body", "the image tarball is not a valid tar archive: %v", err)
		}
		name, ok := inside(hdr.Name)
		if !ok {
			return store.Invalid("body", "entry %q: paths must be relative", hdr.Name)
		}
		switch name {
		case "repositories":
			continue
		case "manifest.json", "index.json":
			if hdr.Size > 16<<20 {
				return store.Invalid("body", "entry %q is too large", hdr.Name)
			}
			data, err := io.ReadAll(tr)
			if err != nil {
				return store.Invalid("body", "entry %q: %v", hdr.Name, err)
			}
			if name == "manifest.json" {
				found = true
				data, err = untagManifest(data)
			} else {
				data, err = untagIndex(data)
			}
			if err != nil {
				return store.Invalid("body", "entry %q: %v", hdr.Name, err)
			}
			hdr.Size = int64(len(data))
			if err := tw.WriteHeader(hdr); err != nil {
				return fmt.Errorf("copy image tarball: %w", err)
			}
			if _, err := tw.Write(data); err != nil {
				return fmt.Errorf("copy image tarball: %w", err)
			}
			continue
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return fmt.Errorf("copy image tarball: %w", err)
		}
		if _, err := io.Copy(tw, tr); err != nil {
			var pe *os.PathError
			if errors.As(err, &pe) {
				return fmt.Errorf("copy image tarball: %w", err)
			}
			return store.Invalid("body", "entry %q: %v", hdr.Name, err)
		}
	}
	if !found {
		return store.Invalid("body", "the image tarball has no manifest.json: make it with `docker save`")
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("copy image tarball: %w", err)
	}
	return nil
}

// untagManifest drops RepoTags from each image of a docker save manifest.json.
func untagManifest(data []byte) ([]byte, error) {
	var m []map[string]json.RawMessage
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("not a docker save manifest: %w", err)
	}
	if len(m) == 0 {
		return nil, errors.New("the manifest names no image")
	}
	for _, img := range m {
		if _, ok := img["Config"]; !ok {
			return nil, errors.New("an image of the manifest has no Config")
		}
		delete(img, "RepoTags")
	}
	return json.Marshal(m)
}

// untagIndex drops the annotations (which may carry image names) of each manifest of an
// OCI index.json.
func untagIndex(data []byte) ([]byte, error) {
	var idx map[string]json.RawMessage
	if err := json.Unmarshal(data, &idx); err != nil {
		return nil, fmt.Errorf("not an OCI index: %w", err)
	}
	var manifests []map[string]json.RawMessage
	if raw, ok := idx["manifests"]; ok {
		if err := json.Unmarshal(raw, &manifests); err != nil {
			return nil, fmt.Errorf("not an OCI index: %w", err)
		}
		for _, m := range manifests {
			delete(m, "annotations")
		}
		b, err := json.Marshal(manifests)
		if err != nil {
			return nil, err
		}
		idx["manifests"] = b
	}
	return json.Marshal(idx)
}
