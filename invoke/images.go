package invoke

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/gantry-dev/gantry/httperr"
	"github.com/gantry-dev/gantry/runner"
	"github.com/gantry-dev/gantry/store"
)

// ImageStore is what the service needs of the images Gantry manages (store.Images): one
// read, when its cache of them misses.
type ImageStore interface {
	GetImage(ctx context.Context, name string) (store.Image, error)
}

// imageDrainer is the runner's roll of the hot containers of an image name to its new
// digest (*runner.Runner has it). It stands apart from Runner, as secretDrainer does, so
// that the runners of tests that know nothing of images still serve; with a runner
// without it, containers of an old digest are replaced when a call that resolved the new
// one arrives (its newer ImageVersion drains their pool).
type imageDrainer interface {
	DrainImage(name, digest string, version time.Time)
}

var _ imageDrainer = (*runner.Runner)(nil)

// imageRetryAfter is the Retry-After (seconds) of a call of an image whose first build runs.
const imageRetryAfter = 10

// noImageStoreRetryAfter is the Retry-After (seconds) of a call of an image on a server
// without an image store.
const noImageStoreRetryAfter = 60

// ImageUnavailable is the error of a call whose route names an image ("@name") that has
// no digest to run: it does not exist (anymore), or none of its builds ended READY yet, or
// this server has no image store to resolve it in (NoStore). Its answer: 503 with
// Retry-After while its first build runs (Building: an async call is tried again later)
// or without an image store (another node may have one; an async call is not retried),
// else 502 (the function cannot run; an async call is not retried).
type ImageUnavailable struct {
	Image    string // "@name"
	Route    string // app/path
	Status   string // the image's status; "" when it does not exist
	Building bool   // CREATING: its first build (or load, or pull) runs
	NoStore  bool   // the service has no ImageStore: it resolves no "@name"
}

func (e *ImageUnavailable) Error() string {
	switch {
	case e.NoStore:
		return fmt.Sprintf("route %s runs image %s, but this server cannot resolve %sNAME images: it has no image store", e.Route, e.Image, store.ImageRefPrefix)
	case e.Status == "":
		return fmt.Sprintf("route %s runs image %s, which does not exist", e.Route, e.Image)
	case e.Building:
		return fmt.Sprintf("route %s runs image %s, whose first build is still running: the route answers once the image is %s; try again shortly", e.Route, e.Image, store.ImageReady)
	default:
		return fmt.Sprintf("route %s runs image %s, which has no build that succeeded (status %s): its owner reads why with GET /v1/images/%s and its log", e.Route, e.Image, e.Status, e.Image[len(store.ImageRefPrefix):])
	}
}

// Unwrap makes the error a runner.ErrImageNotFound for errors.Is.
func (e *ImageUnavailable) Unwrap() error { return runner.ErrImageNotFound }

// Answer is the HTTP answer of the error: 503 with Retry-After while the image's first
// build runs or without an image store, else 502 (as for a missing Docker image).
func (e *ImageUnavailable) Answer() *httperr.Error {
	if e.NoStore {
		return &httperr.Error{Status: http.StatusServiceUnavailable, Message: e.Error(), Header: httperr.RetryAfter(noImageStoreRetryAfter)}
	}
	if e.Building {
		return &httperr.Error{Status: http.StatusServiceUnavailable, Message: e.Error(), Header: httperr.RetryAfter(imageRetryAfter)}
	}
	return httperr.New(http.StatusBadGateway, e.Error())
}

// imageCache keeps the images that routes name, read through from the store on a miss and
// forgotten at each ChangeImage of theirs (every change, ChangeReset): calls of a route by
// image name read no store. A read that began before a change of any image is not kept.
type imageCache struct {
	mu      sync.Mutex
	gen     uint64                  // bumped by every invalidation
	entries map[string]cachedImage  // by name
	reading map[string]*imageSearch // misses being read now: calls that miss together read once
}

// cachedImage is what calls need of an image: its status, digest, tag and versions.
type cachedImage struct {
	found   bool
	status  string
	digest  string
	tag     string
	builtAt time.Time
}

// imageSearch is a read of the store on a miss that other calls may wait for.
type imageSearch struct {
	done chan struct{}
	img  cachedImage
	err  error
}

func newImageCache() *imageCache {
	return &imageCache{entries: map[string]cachedImage{}, reading: map[string]*imageSearch{}}
}

// imageReadTimeout bounds a read of an image on a cache miss.
const imageReadTimeout = 10 * time.Second

// get returns the image name as the cache holds it, reading it from src on a miss. The
// calls that miss together share one read, which runs apart from any one of them (its own
// timeout, not their cancellation: a caller that goes does not fail the others); each
// caller stops waiting when its own ctx ends.
func (c *imageCache) get(ctx context.Context, src ImageStore, name string) (cachedImage, error) {
	c.mu.Lock()
	if img, ok := c.entries[name]; ok {
		c.mu.Unlock()
		return img, nil
	}
	r := c.reading[name]
	if r == nil {
		r = &imageSearch{done: make(chan struct{})}
		c.reading[name] = r
		go c.read(context.WithoutCancel(ctx), src, name, r, c.gen)
	}
	c.mu.Unlock()
	select {
	case <-r.done:
		return r.img, r.err
	case <-ctx.Done():
		return cachedImage{}, ctx.Err()
	}
}

// read reads image name from src for search r, begun at generation gen, and keeps it
// unless an invalidation came since.
func (c *imageCache) read(ctx context.Context, src ImageStore, name string, r *imageSearch, gen uint64) {
	ctx, cancel := context.WithTimeout(ctx, imageReadTimeout)
	defer cancel()
	img, err := src.GetImage(ctx, name)
	switch {
	case err == nil:
		r.img = cachedImage{found: true, status: img.Status, digest: img.Digest, tag: img.Tag, builtAt: imageVersion(img)}
	case errors.Is(err, store.ErrNotFound):
	default:
		r.err = err
	}
	c.mu.Lock()
	if c.reading[name] == r {
		delete(c.reading, name)
	}
	if r.err == nil && c.gen == gen { // no change since the read began: it is current
		c.entries[name] = r.img
	}
	c.mu.Unlock()
	close(r.done)
}

// invalidate forgets image name (it changed): the next call reads it again.
func (c *imageCache) invalidate(name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	delete(c.entries, name)
	delete(c.reading, name) // a read in flight may have begun before the change: the next call reads again
}

// reset forgets every image (changes may have been missed) and returns the names it held.
func (c *imageCache) reset() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	names := make([]string, 0, len(c.entries))
	for name := range c.entries {
		names = append(names, name)
	}
	clear(c.entries)
	clear(c.reading)
	return names
}

// imageVersion is when the image's digest was built (its ImageVersion for the runner):
// BuiltAt, else (a record written without it) UpdatedAt.
func imageVersion(img store.Image) time.Time {
	if img.BuiltAt.IsZero() {
		return img.UpdatedAt
	}
	return img.BuiltAt
}

// resolveImage makes fn run its route's image: a Docker reference as it is; "@name" the
// digest of that image now (ImageName and ImageVersion set too), or an *ImageUnavailable
// when it has none. Every call of every kind passes here (run), so that an async call runs
// the digest current when it runs, not when it was accepted.
func (s *Service) resolveImage(ctx context.Context, rt store.Route, fn *runner.Function) error {
	name, ok := store.ImageName(rt.Image)
	if !ok {
		return nil
	}
	if s.images == nil {
		return &ImageUnavailable{Image: rt.Image, Route: rt.App + rt.Path, NoStore: true}
	}
	img, err := s.imageCache.get(ctx, s.images, name)
	if err != nil {
		return fmt.Errorf("read image %s of route %s%s: %w", rt.Image, rt.App, rt.Path, err)
	}
	if !img.found || img.digest == "" {
		return &ImageUnavailable{Image: rt.Image, Route: rt.App + rt.Path, Status: img.status, Building: img.found && img.status == store.ImageCreating}
	}
	fn.Image, fn.ImageName, fn.ImageVersion = img.digest, rt.Image, img.builtAt
	return nil
}

// ranImage is the digest an execution of route records: the image of the container that
// ran it, for a route that names an image ("@name"); "" for one that names a Docker
// reference.
func ranImage(rt store.Route, res *runner.Result) string {
	if _, ok := store.ImageName(rt.Image); !ok || res == nil {
		return ""
	}
	return res.Image
}

// rollImages rolls the hot containers of images that changed (ChangeImage, ChangeReset)
// to their digests now, one image at a time in the background, each read from the store
// after its change: the runner drains the pools of an older digest. Changes that arrive
// while one is rolled are rolled after it, each name once.
func (s *Service) rollImages(names ...string) {
	if len(names) == 0 {
		return
	}
	if _, ok := s.runner.(imageDrainer); !ok || s.images == nil {
		return
	}
	s.rollMu.Lock()
	for _, name := range names {
		s.rollDirty[name] = true
	}
	start := !s.rolling
	s.rolling = true
	s.rollMu.Unlock()
	if start {
		go s.roll()
	}
}

// roll rolls the images marked until none is left.
func (s *Service) roll() {
	for {
		s.rollMu.Lock()
		var name string
		for n := range s.rollDirty {
			name = n
			break
		}
		if name == "" {
			s.rolling = false
			s.rollMu.Unlock()
			return
		}
		delete(s.rollDirty, name)
		s.rollMu.Unlock()
		s.rollImage(name)
	}
}

// rollImage drains the hot containers of image name that run another digest than its
// current one (every one if it went, or has none).
func (s *Service) rollImage(name string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	img, err := s.imageCache.get(ctx, s.images, name)
	if err != nil { // the next call that resolves the image drains the old pools
		s.log.Warn("read a changed image to roll its containers", "image", name, "err", err)
		return
	}
	s.runner.(imageDrainer).DrainImage(store.ImageRefPrefix+name, img.digest, img.builtAt)
}
