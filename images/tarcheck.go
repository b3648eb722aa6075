package images

// This file holds the checks of uploads: a build context must be a tar(.gz) whose entries
// all stay inside it and that holds its Dockerfile; an image tarball must be a tar with a
// manifest.json, and is rewritten without the tags it names, so that loading it cannot
// move a tag Gantry or another user relies on.

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"path"
	"strings"

	"github.com/gantry-dev/gantry/httperr"
	"github.com/gantry-dev/gantry/store"
)

// gzipMagic starts every gzip stream.
var gzipMagic = []byte{0x1f, 0x8b}

// MaxEntries is the most entries an upload (build context or image tarball) may hold.
const MaxEntries = 100_000

// limits bound what an upload unpacks to.
type limits struct {
	maxUnpacked int64 // bytes of the unpacked tar and of its entries' sizes (413 beyond)
	maxEntries  int   // entries (400 beyond)
}

// errUnpacked ends the read of an archive that unpacks past its limit.
var errUnpacked = errors.New("the unpacked archive is over its limit")

// counter counts the bytes of the unpacked tar stream and fails past max.
type counter struct {
	r      io.Reader
	n, max int64
}

func (c *counter) Read(p []byte) (int, error) {
	if c.n > c.max {
		return 0, errUnpacked
	}
	if rest := c.max - c.n; rest < math.MaxInt64 && int64(len(p)) > rest+1 {
		p = p[:rest+1]
	}
	n, err := c.r.Read(p)
	c.n += int64(n)
	if c.n > c.max {
		return n, errUnpacked
	}
	return n, err
}

// archive reads a tar (or gzipped tar) within limits: the unpacked stream, the sum of the
// entries' declared sizes (a sparse entry's is the size it unpacks to) and the number of
// entries are bounded.
type archive struct {
	tr       *tar.Reader
	c        *counter
	lim      limits
	field    string // the field of the 400s: "context" or "body"
	entries  int
	declared int64
}

// openArchive reads r as a tar, gunzipping it first when it starts with gzip's magic bytes.
func openArchive(r io.Reader, lim limits, field string) (*archive, error) {
	br := bufio.NewReader(r)
	var unpacked io.Reader = br
	magic, err := br.Peek(2)
	if err == nil && magic[0] == gzipMagic[0] && magic[1] == gzipMagic[1] {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, err
		}
		unpacked = zr
	}
	c := &counter{r: unpacked, max: lim.maxUnpacked}
	return &archive{tr: tar.NewReader(c), c: c, lim: lim, field: field}, nil
}

// next returns the next entry's header: io.EOF at the end, a refusal (an *httperr.Error
// 413, a *store.ValidationError) past a limit, else the reader's error.
func (a *archive) next() (*tar.Header, error) {
	hdr, err := a.tr.Next()
	if err != nil {
		return nil, a.over(err)
	}
	a.entries++
	if a.entries > a.lim.maxEntries {
		return nil, store.Invalid(a.field, "the upload holds more than %d entries", a.lim.maxEntries)
	}
	if hdr.Size < 0 || hdr.Size > a.lim.maxUnpacked-a.declared {
		return nil, a.tooLarge()
	}
	a.declared += hdr.Size
	return hdr, nil
}

// copy copies the current entry's content to w; its errors are as next's.
func (a *archive) copy(w io.Writer) error {
	_, err := io.Copy(w, a.tr)
	return a.over(err)
}

// over is err, or the 413 of an archive past maxUnpacked when that is its cause.
func (a *archive) over(err error) error {
	if err != nil && (errors.Is(err, errUnpacked) || a.c.n > a.c.max) {
		return a.tooLarge()
	}
	return err
}

func (a *archive) tooLarge() error {
	return &httperr.Error{Status: http.StatusRequestEntityTooLarge, Fields: "body",
		Message: fmt.Sprintf("the upload is larger than %d bytes unpacked", a.lim.maxUnpacked)}
}

// refused tells whether err, of next or copy, is a refusal to pass on as it is.
func refused(err error) bool {
	var answer *httperr.Error
	var verr *store.ValidationError
	return errors.As(err, &answer) || errors.As(err, &verr)
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
// context (no absolute path, no .. climbing out, no path through a symbolic link, no link
// leaving it once the context's links are followed, no device) and dockerfile must be a
// regular file in it. Its errors are ValidationErrors of the field "context" (naming the
// entry) or "dockerfile", or a 413 when it unpacks past lim.maxUnpacked.
func checkContext(r io.Reader, dockerfile string, lim limits) error {
	ar, err := openArchive(r, lim, "context")
	if err != nil {
		return store.Invalid("context", "the build context is not a tar archive (or a gzipped one): %v", err)
	}
	want := path.Clean(dockerfile)
	found := false
	links := symlinks{targets: map[string]string{}}
	for {
		hdr, err := ar.next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			if refused(err) {
				return err
			}
			return store.Invalid("context", "the build context is not a valid tar archive (or a gzipped one): %v", err)
		}
		if len(hdr.Name) > maxPath || len(hdr.Linkname) > maxPath {
			return store.Invalid("context", "entry %.64q...: a name or link longer than %d bytes", hdr.Name, maxPath)
		}
		name, ok := inside(hdr.Name)
		if !ok {
			return store.Invalid("context", "entry %q: paths must be relative and stay inside the build context", hdr.Name)
		}
		if link := links.through(name); link != "" {
			return store.Invalid("context", "entry %q: its path passes through the symbolic link %q", hdr.Name, link)
		}
		delete(links.targets, name) // a later entry of the same name replaces it
		switch hdr.Typeflag {
		case tar.TypeSymlink:
			target := hdr.Linkname
			if strings.HasPrefix(target, "/") {
				return store.Invalid("context", "entry %q: symbolic link to %q leaves the build context (absolute target)", hdr.Name, target)
			}
			if _, ok := inside(path.Join(path.Dir(name), target)); !ok { //nolint:gosec // G305: this is the traversal check
				return store.Invalid("context", "entry %q: symbolic link to %q leaves the build context", hdr.Name, target)
			}
			if err := links.add(name, target); err != nil {
				return err
			}
		case tar.TypeLink:
			target, ok := inside(hdr.Linkname)
			if !ok {
				return store.Invalid("context", "entry %q: hard link to %q leaves the build context", hdr.Name, hdr.Linkname)
			}
			if link := links.through(target); link != "" {
				return store.Invalid("context", "entry %q: hard link to %q passes through the symbolic link %q", hdr.Name, hdr.Linkname, link)
			}
			// link(2) does not follow symbolic links: a hard link to one is another symbolic
			// link with its target, read from where the hard link is.
			if symTarget, isLink := links.targets[target]; isLink {
				if _, ok := inside(path.Join(path.Dir(name), symTarget)); !ok || strings.HasPrefix(symTarget, "/") { //nolint:gosec // G305: this is the traversal check
					return store.Invalid("context", "entry %q: hard link to the symbolic link %q, whose target %q leaves the build context from here", hdr.Name, hdr.Linkname, symTarget)
				}
				if err := links.add(name, symTarget); err != nil {
					return err
				}
			}
		case tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
			return store.Invalid("context", "entry %q: device files and pipes are not allowed in a build context", hdr.Name)
		}
		if name == want {
			found = hdr.Typeflag == tar.TypeReg
		}
		if err := ar.copy(io.Discard); err != nil {
			if refused(err) {
				return err
			}
			return store.Invalid("context", "entry %q: %v", hdr.Name, err)
		}
	}
	if ar.entries == 0 {
		return store.Invalid("context", "the build context is empty or not a tar archive")
	}
	if err := links.check(); err != nil {
		return err
	}
	if !found {
		return store.Invalid("dockerfile", "the build context has no regular file %q (the Dockerfile)", dockerfile)
	}
	return nil
}

// Bounds of the check of a build context's symbolic links.
const (
	maxLinkBytes = 16 << 20  // bytes of the links' names and targets held
	maxLinkHops  = 40        // links followed resolving one (Linux's MAXSYMLINKS)
	maxLinkSteps = 1_000_000 // path components walked resolving them all
	maxPath      = 4096      // length of a resolved path (PATH_MAX)
)

// symlinks are the symbolic links of a build context, as its entries are read.
type symlinks struct {
	targets map[string]string // cleaned name → target
	size    int               // bytes of the names and targets held
}

func (l *symlinks) add(name, target string) error {
	if l.size += len(name) + len(target); l.size > maxLinkBytes {
		return store.Invalid("context", "the build context's symbolic links name more than %d bytes of paths", maxLinkBytes)
	}
	l.targets[name] = target
	return nil
}

// through returns the first parent folder of the cleaned path p that is a symbolic link
// read so far, or "".
func (l *symlinks) through(p string) string {
	for i := range len(p) {
		if p[i] == '/' {
			if _, ok := l.targets[p[:i]]; ok {
				return p[:i]
			}
		}
	}
	return ""
}

// check resolves every link as the kernel will once the context is unpacked (following
// the others, whatever their order in the archive, a .. after a link going up from where
// the link leads): each must stay inside the context.
func (l *symlinks) check() error {
	steps := 0
	for name, target := range l.targets {
		switch l.resolve(name, target, &steps) {
		case errLinkLeaves:
			return store.Invalid("context", "entry %q: symbolic link to %q leaves the build context through the symbolic links it follows", name, target)
		case errLinkLoops:
			return store.Invalid("context", "entry %q: symbolic link to %q does not resolve (a loop, or a path too long)", name, target)
		case errLinkSteps:
			return store.Invalid("context", "the build context's symbolic links are too intricate to check (more than %d path components to walk)", maxLinkSteps)
		}
	}
	return nil
}

var (
	errLinkLeaves = errors.New("leaves the context")
	errLinkLoops  = errors.New("does not resolve")
	errLinkSteps  = errors.New("too intricate")
)

// resolve walks the link name → target from name's folder, following the links it meets;
// steps counts the components walked.
func (l *symlinks) resolve(name, target string, steps *int) error {
	todo := append(strings.Split(path.Dir(name), "/"), strings.Split(target, "/")...)
	cur, ends, hops := "", []int{}, 0 // cur: the resolved path; ends: its length before each component
	for len(todo) > 0 {
		c := todo[0]
		todo = todo[1:]
		if *steps++; *steps > maxLinkSteps {
			return errLinkSteps
		}
		switch c {
		case "", ".":
			continue
		case "..":
			if len(ends) == 0 {
				return errLinkLeaves
			}
			cur, ends = cur[:ends[len(ends)-1]], ends[:len(ends)-1]
			continue
		}
		ends = append(ends, len(cur))
		if cur == "" {
			cur = c
		} else {
			cur += "/" + c
		}
		if len(cur) > maxPath {
			return errLinkLoops
		}
		next, ok := l.targets[cur]
		if !ok {
			continue
		}
		if hops++; hops > maxLinkHops {
			return errLinkLoops
		}
		if strings.HasPrefix(next, "/") {
			return errLinkLeaves
		}
		cur, ends = cur[:ends[len(ends)-1]], ends[:len(ends)-1]
		todo = append(strings.Split(next, "/"), todo...)
	}
	return nil
}

// sanitizeLoad copies the image tarball r (tar or gzipped tar, as `docker save` writes
// it) to w as a plain tar without the tags it names: manifest.json's RepoTags are
// dropped, as are the legacy "repositories" file and index.json's annotations, so that
// the daemon loads the image by ID only. It fails (a ValidationError of the field "body")
// unless r is a tar that holds manifest.json naming one image, or a 413 when it unpacks
// past lim.maxUnpacked.
func sanitizeLoad(r io.Reader, w io.Writer, lim limits) error {
	ar, err := openArchive(r, lim, "body")
	if err != nil {
		return store.Invalid("body", "the image tarball is not a tar archive (or a gzipped one): %v", err)
	}
	tw := tar.NewWriter(w)
	found := false
	for {
		hdr, err := ar.next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			if refused(err) {
				return err
			}
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
			var buf bytes.Buffer
			if err := ar.copy(&buf); err != nil {
				if refused(err) {
					return err
				}
				return store.Invalid("body", "entry %q: %v", hdr.Name, err)
			}
			data := buf.Bytes()
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
		if err := ar.copy(tw); err != nil {
			var pe *os.PathError
			switch {
			case refused(err):
				return err
			case errors.As(err, &pe):
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

// untagManifest drops RepoTags from the image of a docker save manifest.json; a manifest
// of several images is refused (only one would be tagged; the others would stay loaded,
// untagged).
func untagManifest(data []byte) ([]byte, error) {
	var m []map[string]json.RawMessage
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("not a docker save manifest: %w", err)
	}
	if len(m) == 0 {
		return nil, errors.New("the manifest names no image")
	}
	if len(m) > 1 {
		return nil, fmt.Errorf("the tarball holds %d images: upload one image per tarball (`docker save` one image)", len(m))
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
