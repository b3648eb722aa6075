package images

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/docker/docker/api/types/build"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"

	"github.com/gantry-dev/gantry/httperr"
	"github.com/gantry-dev/gantry/store"
)

// Defaults of Config's zero fields.
const (
	DefaultMaxUpload    = 512 << 20
	DefaultBuildTimeout = 10 * time.Minute
	DefaultBuilds       = 1
	DefaultMaxQueued    = 16
	DefaultBuildMemory  = 2 << 30
	DefaultBuildCPUs    = 1.0
)

// TagRepo is the repository Gantry tags its images in: gantry-images/<name>:<build ID>.
const TagRepo = "gantry-images"

// Config is the service's configuration; zero fields take the defaults.
type Config struct {
	Dir          string        // where uploads are streamed (created if missing); default <temp>/gantry-uploads
	MaxUpload    int64         // largest upload in bytes (413 beyond), default 512 MiB
	MaxUnpacked  int64         // largest unpacked upload (its tar, gunzipped) in bytes (413 beyond), default 4 × MaxUpload
	BuildTimeout time.Duration // time limit of a build, load or pull, default 10m
	Builds       int           // builds, loads and pulls run at once on this node, default 1
	MaxQueued    int           // uploads and pulls that may wait for a free build on this node (503 beyond), default 16
	BuildMemory  int64         // memory of a build's RUN steps in bytes, no swap, default 2 GiB
	BuildCPUs    float64       // CPUs of a build's RUN steps, default 1
	Node         string        // this node's ID (store.Node): the node of the builds it runs
}

// Store is what the service needs of the store.
type Store interface {
	store.IDSource
	CreateImage(ctx context.Context, img store.Image) (store.Image, error)
	UpdateImage(ctx context.Context, name string, fn func(*store.Image) error, guard store.AppGuard) (store.Image, error)
	GetImage(ctx context.Context, name string) (store.Image, error)
	ListImages(ctx context.Context, f store.ImageFilter, page store.Page) ([]store.Image, string, error)
	DeleteImage(ctx context.Context, name string, guard store.AppGuard, check func(store.Image) error) error
	SetImageLog(ctx context.Context, name, build string, log []byte) error
	GetImageLog(ctx context.Context, name string) ([]byte, error)
}

// Docker is the part of Docker's Engine API client the service uses (made with API
// version negotiation: the daemon may be older than the client).
type Docker interface {
	ImageBuild(ctx context.Context, buildContext io.Reader, options build.ImageBuildOptions) (build.ImageBuildResponse, error)
	ImageLoad(ctx context.Context, input io.Reader, opts ...client.ImageLoadOption) (image.LoadResponse, error)
	ImagePull(ctx context.Context, ref string, options image.PullOptions) (io.ReadCloser, error)
	ImageInspect(ctx context.Context, image string, opts ...client.ImageInspectOption) (image.InspectResponse, error)
	ImageRemove(ctx context.Context, image string, options image.RemoveOptions) ([]image.DeleteResponse, error)
	ImageTag(ctx context.Context, source, target string) error
	ImageList(ctx context.Context, options image.ListOptions) ([]image.Summary, error)
}

var _ Docker = (*client.Client)(nil)

// Service runs the images' builds, loads and pulls, and their deletion.
type Service struct {
	st  Store
	d   Docker
	cfg Config
	log *slog.Logger

	ctx    context.Context // ends at Close: running jobs are cancelled
	cancel context.CancelFunc
	sem    chan struct{} // one token per running job
	wg     sync.WaitGroup

	heartbeat time.Duration // how often a job writes its image, so that it is never stale (building)
	sweep     time.Duration // how often Start's sweeper ends the stale builds of other nodes (EndStale)

	files string // this service's part of its upload files' names: "<nonce>-"

	mu      sync.Mutex
	running map[string]bool // build IDs of the jobs of this service
	queued  int             // uploads being received and jobs waiting for a worker (reserve)
	closed  bool
}

// New returns the service; Start recovers this node's interrupted builds.
func New(st Store, d Docker, cfg Config, log *slog.Logger) *Service {
	if cfg.Dir == "" {
		cfg.Dir = os.TempDir() + "/gantry-uploads"
	}
	if cfg.MaxUpload <= 0 {
		cfg.MaxUpload = DefaultMaxUpload
	}
	if cfg.MaxUnpacked <= 0 {
		cfg.MaxUnpacked = cfg.MaxUpload * 4
		if cfg.MaxUpload > math.MaxInt64/4 {
			cfg.MaxUnpacked = math.MaxInt64
		}
	}
	if cfg.BuildTimeout <= 0 {
		cfg.BuildTimeout = DefaultBuildTimeout
	}
	if cfg.Builds <= 0 {
		cfg.Builds = DefaultBuilds
	}
	if cfg.MaxQueued <= 0 {
		cfg.MaxQueued = DefaultMaxQueued
	}
	if cfg.BuildMemory <= 0 {
		cfg.BuildMemory = DefaultBuildMemory
	}
	if cfg.BuildCPUs <= 0 {
		cfg.BuildCPUs = DefaultBuildCPUs
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Service{st: st, d: d, cfg: cfg, log: log, ctx: ctx, cancel: cancel,
		files: strconv.FormatInt(time.Now().UnixNano(), 36) + "-", heartbeat: defaultHeartbeat, sweep: time.Minute,
		sem: make(chan struct{}, cfg.Builds), running: map[string]bool{}}
}

// Config returns the configuration in effect (defaults applied).
func (s *Service) Config() Config { return s.cfg }

// Start creates the upload folder, removes the uploads an earlier run left in it (a crash
// leaves them), and ends ERROR the builds this node left CREATING when it stopped (they
// cannot resume). Jobs queued before Start run as usual.
func (s *Service) Start(ctx context.Context) error {
	if err := os.MkdirAll(s.cfg.Dir, 0o700); err != nil {
		return fmt.Errorf("images: upload folder: %w", err)
	}
	if err := s.removeLeftovers(); err != nil {
		return err
	}
	err := s.eachImage(ctx, func(img store.Image) error {
		if img.Status != store.ImageCreating || img.Node != s.cfg.Node || s.owns(img.Build) {
			return nil
		}
		_, err := s.st.UpdateImage(ctx, img.Name, func(cur *store.Image) error {
			if cur.Build != img.Build || cur.Status != store.ImageCreating {
				return errStale
			}
			cur.Status, cur.Error = store.ImageError, msgRestarted
			return nil
		}, nil)
		if err != nil && !errors.Is(err, errStale) && !errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("images: end interrupted build of %s: %w", img.Name, err)
		}
		if err == nil {
			s.log.Warn("image build interrupted by a restart", "image", img.Name, "build", img.Build)
		}
		return nil
	})
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.closed {
		s.wg.Add(1)
		go s.sweeper()
	}
	return nil
}

// sweeper ends the stale builds of other nodes every s.sweep, until Close.
func (s *Service) sweeper() {
	defer s.wg.Done()
	t := time.NewTicker(s.sweep)
	defer t.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-t.C:
			if _, err := s.EndStale(s.ctx); err != nil && s.ctx.Err() == nil {
				s.log.Warn("images: end stale builds", "err", err)
			}
		}
	}
}

// EndStale ends ERROR every build that building takes as over although its record still
// says CREATING (its node stopped and never came back to end it), so that every reader —
// calls of its routes, clients waiting for it — sees it ended, not only this node's
// checks. A record written since it was read is left alone. It returns how many it ended.
func (s *Service) EndStale(ctx context.Context) (int, error) {
	ended := 0
	err := s.eachImage(ctx, func(img store.Image) error {
		if img.Status != store.ImageCreating || s.building(img) {
			return nil
		}
		_, err := s.st.UpdateImage(ctx, img.Name, func(cur *store.Image) error {
			if cur.Build != img.Build || cur.Status != store.ImageCreating || !cur.UpdatedAt.Equal(img.UpdatedAt) {
				return errStale
			}
			cur.Status, cur.Error = store.ImageError, msgNodeStopped
			return nil
		}, nil)
		switch {
		case err == nil:
			ended++
		case !errors.Is(err, errStale) && !errors.Is(err, store.ErrNotFound):
			return fmt.Errorf("images: end the stale build of %s: %w", img.Name, err)
		}
		return nil
	})
	return ended, err
}

// Prefixes of the names of upload files; this service's follow with its s.files.
const (
	uploadPrefix = "upload-"
	loadPrefix   = "load-"
)

// removeLeftovers removes the upload files of earlier runs from Dir: files named as
// receive names them, but not with this service's part.
func (s *Service) removeLeftovers() error {
	entries, err := os.ReadDir(s.cfg.Dir)
	if err != nil {
		return fmt.Errorf("images: upload folder: %w", err)
	}
	for _, e := range entries {
		name := e.Name()
		ours := strings.HasPrefix(name, uploadPrefix+s.files) || strings.HasPrefix(name, loadPrefix+s.files)
		upload := strings.HasPrefix(name, uploadPrefix) || strings.HasPrefix(name, loadPrefix)
		if ours || !upload || !e.Type().IsRegular() {
			continue
		}
		if err := os.Remove(filepath.Join(s.cfg.Dir, name)); err != nil && !errors.Is(err, os.ErrNotExist) {
			s.log.Warn("remove an upload an earlier run left", "file", name, "err", err)
			continue
		}
		s.log.Info("removed an upload an earlier run left", "file", name)
	}
	return nil
}

// Close cancels the running jobs (they end ERROR "interrupted") and waits for them. An
// upload or pull that comes after it is refused (503); one already stored ends ERROR.
func (s *Service) Close() {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.cancel()
	s.wg.Wait()
}

const (
	msgRestarted   = "interrupted: the server restarted during the build"
	msgInterrupted = "interrupted: the server stopped during the build"
	msgStopped     = "interrupted: the server stopped"
	msgNodeStopped = "interrupted: the node building it stopped and did not come back; upload again to rebuild"
	msgNotStarted  = "interrupted: the build could not be queued (the store failed): try again"
)

// reserve takes one of the MaxQueued places of the uploads and jobs that wait for a
// worker: a 503 when none is left, or after Close. A job ends its reservation when it gets
// a worker (run); who reserved and queues no job ends it (unreserve).
func (s *Service) reserve() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errStopping()
	}
	if s.queued >= s.cfg.MaxQueued {
		return &httperr.Error{Status: http.StatusServiceUnavailable, Header: httperr.RetryAfter(30),
			Message: fmt.Sprintf("%d image builds, loads and pulls already wait on this node: try again later", s.cfg.MaxQueued)}
	}
	s.queued++
	return nil
}

func (s *Service) unreserve() {
	s.mu.Lock()
	s.queued--
	s.mu.Unlock()
}

// errStale ends a write of a job whose build is no longer the image's.
var errStale = errors.New("the image has a newer build")

func (s *Service) owns(build string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.running[build]
}

// eachImage calls fn on every image, page by page.
func (s *Service) eachImage(ctx context.Context, fn func(store.Image) error) error {
	cursor := ""
	for {
		imgs, next, err := s.st.ListImages(ctx, store.ImageFilter{}, store.Page{Cursor: cursor, Limit: store.MaxPageSize})
		if err != nil {
			return fmt.Errorf("images: list: %w", err)
		}
		for _, img := range imgs {
			if err := fn(img); err != nil {
				return err
			}
		}
		if next == "" {
			return nil
		}
		cursor = next
	}
}

// Create stores a source-reference image owned by img.Owner (CREATING) and queues its pull
// (503 when MaxQueued uploads and jobs wait for a worker already, or after Close).
func (s *Service) Create(ctx context.Context, img store.Image) (store.Image, error) {
	img.ApplyDefaults()
	if img.Source != store.ImageSourceReference {
		return store.Image{}, store.Invalid("source", "an image made without an upload pulls a reference (source %s); builds and loads are uploads", store.ImageSourceReference)
	}
	if err := img.Validate(); err != nil {
		return store.Image{}, err
	}
	img.Base, img.Network, img.Dockerfile = "", "", ""
	img.Status, img.Error, img.Build, img.Node = store.ImageCreating, "", s.st.NewID(), s.cfg.Node
	img.Digest, img.Size, img.Tag, img.BuiltAt = "", 0, "", time.Time{}
	if err := s.reserve(); err != nil {
		return store.Image{}, err
	}
	wctx, cancel := writeContext(ctx)
	stored, err := s.st.CreateImage(wctx, img)
	cancel()
	if err != nil {
		s.unreserve()
		if errors.Is(err, store.ErrExists) {
			return store.Image{}, taken(img.Name)
		}
		s.abandon(ctx, img.Name, img.Build, msgNotStarted)
		return store.Image{}, fmt.Errorf("create image %s: %w", img.Name, err)
	}
	if err := s.enqueue(ctx, job{name: stored.Name, build: stored.Build, source: stored.Source, reference: stored.Reference}); err != nil {
		s.unreserve()
		return store.Image{}, err
	}
	return stored, nil
}

func taken(name string) error { return store.Errorf(store.ErrExists, "image %s is taken", name) }

func building(name string) error {
	return store.Errorf(store.ErrConflict, "a build of image %s is running: wait for it to end", name)
}

// vet refuses a new build of cur: another owner's (guard fails) or one being built.
func (s *Service) vet(cur store.Image, guard store.AppGuard) error {
	if guard != nil && guard(cur.Owner) != nil {
		return taken(cur.Name)
	}
	if s.building(cur) {
		return building(cur.Name)
	}
	return nil
}

// building tells whether img is CREATING and not stale: a build that no job of this
// service runs, whose record was not written for longer than BuildTimeout and a minute,
// is one whose node stopped (forever, it may be); it is taken as ended ERROR
// "interrupted", which its job, should it come back, finds replaced.
func (s *Service) building(img store.Image) bool {
	if img.Status != store.ImageCreating {
		return false
	}
	if s.owns(img.Build) || time.Since(img.UpdatedAt) <= s.cfg.BuildTimeout+time.Minute {
		return true
	}
	s.log.Warn("image build taken as interrupted: its record was not written for too long (its node stopped?)",
		"image", img.Name, "build", img.Build, "node", img.Node, "updated_at", img.UpdatedAt)
	return false
}

// Upload streams body (at most MaxUpload bytes) to a file in Dir, checks it (at most
// MaxUnpacked bytes unpacked, else 413, and MaxEntries entries; a build context: every
// entry inside it and the Dockerfile present; a load: a docker save tarball, whose tags
// are dropped), resolves Base (visible and READY, else 400 field
// "base"), then creates the image (owner img.Owner; created is true) or starts a new build
// of the existing one when guard passes (another owner's → 409 "image NAME is taken"; one
// being built → 409). An empty Source is a build; an empty Kind keeps the existing image's.
// When MaxQueued uploads and jobs wait for a worker already, or after Close, it answers
// 503 before reading body. Nothing is left on disk on any error; the queued job owns the
// file.
func (s *Service) Upload(ctx context.Context, img store.Image, body io.Reader, guard store.AppGuard, visible func(store.Image) bool) (store.Image, bool, error) {
	if img.Source == "" {
		img.Source = store.ImageSourceBuild
	}
	keepKind := img.Kind == ""
	img.ApplyDefaults()
	if img.Source == store.ImageSourceReference {
		return store.Image{}, false, store.Invalid("source", "an upload is a %s or a %s", store.ImageSourceBuild, store.ImageSourceLoad)
	}
	if err := img.Validate(); err != nil {
		return store.Image{}, false, err
	}
	// Refuse early what the write would refuse, before reading the body.
	switch cur, err := s.st.GetImage(ctx, img.Name); {
	case err == nil:
		if err := s.vet(cur, guard); err != nil {
			return store.Image{}, false, err
		}
	case !errors.Is(err, store.ErrNotFound):
		return store.Image{}, false, fmt.Errorf("upload image %s: %w", img.Name, err)
	}
	// Refuse before reading the body when too many jobs wait already.
	if err := s.reserve(); err != nil {
		return store.Image{}, false, err
	}
	reserved := true
	defer func() {
		if reserved {
			s.unreserve()
		}
	}()
	file, err := s.receive(img, body)
	if err != nil {
		return store.Image{}, false, err
	}
	keep := false
	defer func() {
		if !keep {
			_ = os.Remove(file)
		}
	}()
	if img.Base != "" {
		if err := s.checkBase(ctx, img, visible); err != nil {
			return store.Image{}, false, err
		}
	}
	stored, created, err := s.save(ctx, img, keepKind, guard)
	if err != nil {
		return store.Image{}, false, err
	}
	keep = true // the job's, or enqueue removes it
	err = s.enqueue(ctx, job{name: stored.Name, build: stored.Build, source: stored.Source, file: file,
		base: stored.Base, network: stored.Network, dockerfile: stored.Dockerfile})
	if err != nil {
		return store.Image{}, false, err
	}
	reserved = false // the job's now: it ends the reservation when it gets a worker
	return stored, created, nil
}

// receive streams body to a new file in Dir and checks it; the file is removed on error.
func (s *Service) receive(img store.Image, body io.Reader) (string, error) {
	if err := os.MkdirAll(s.cfg.Dir, 0o700); err != nil {
		return "", fmt.Errorf("upload image %s: %w", img.Name, err)
	}
	f, err := os.CreateTemp(s.cfg.Dir, uploadPrefix+s.files+"*.tar")
	if err != nil {
		return "", fmt.Errorf("upload image %s: %w", img.Name, err)
	}
	file := f.Name()
	fail := func(err error) (string, error) {
		_ = f.Close()
		_ = os.Remove(file)
		return "", err
	}
	n, err := io.Copy(f, io.LimitReader(body, s.cfg.MaxUpload+1))
	if err != nil {
		var tooLarge *http.MaxBytesError
		var pathErr *os.PathError
		switch {
		case errors.As(err, &tooLarge):
			return fail(httperr.BodyTooLarge(s.cfg.MaxUpload))
		case errors.As(err, &pathErr):
			return fail(fmt.Errorf("upload image %s: %w", img.Name, err))
		}
		return fail(store.Invalid("body", "reading the upload: %v", err))
	}
	if n > s.cfg.MaxUpload {
		return fail(httperr.BodyTooLarge(s.cfg.MaxUpload))
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return fail(fmt.Errorf("upload image %s: %w", img.Name, err))
	}
	if img.Source == store.ImageSourceBuild {
		if err := checkContext(f, img.Dockerfile, s.limits()); err != nil {
			return fail(err)
		}
		if err := f.Close(); err != nil {
			_ = os.Remove(file)
			return "", fmt.Errorf("upload image %s: %w", img.Name, err)
		}
		return file, nil
	}
	// A load: copy it without the tags it names.
	out, err := os.CreateTemp(s.cfg.Dir, loadPrefix+s.files+"*.tar")
	if err != nil {
		return fail(fmt.Errorf("upload image %s: %w", img.Name, err))
	}
	err = sanitizeLoad(f, out, s.limits())
	if cerr := out.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("upload image %s: %w", img.Name, cerr)
	}
	_ = f.Close()
	_ = os.Remove(file)
	if err != nil {
		_ = os.Remove(out.Name())
		return "", err
	}
	return out.Name(), nil
}

// limits are the bounds of an upload's unpacked size and entries.
func (s *Service) limits() limits {
	return limits{maxUnpacked: s.cfg.MaxUnpacked, maxEntries: MaxEntries}
}

// checkBase resolves img.Base: an image visible to the caller, READY, with no cycle back
// to img.
func (s *Service) checkBase(ctx context.Context, img store.Image, visible func(store.Image) bool) error {
	name, _ := store.ImageName(img.Base)
	base, err := s.st.GetImage(ctx, name)
	if errors.Is(err, store.ErrNotFound) || err == nil && visible != nil && !visible(base) {
		return store.Invalid("base", "base image %s not found", img.Base)
	}
	if err != nil {
		return fmt.Errorf("upload image %s: base: %w", img.Name, err)
	}
	if base.Status != store.ImageReady || base.Tag == "" {
		return store.Invalid("base", "base image %s is not ready (%s)", img.Base, base.Status)
	}
	for i, next := 0, base.Base; next != "" && i < 32; i++ {
		n, _ := store.ImageName(next)
		if n == img.Name {
			return store.Invalid("base", "base image %s builds on %s: a cycle", img.Base, img.Name)
		}
		b, err := s.st.GetImage(ctx, n)
		if err != nil {
			break
		}
		next = b.Base
	}
	return nil
}

// writeContext bounds a write that makes an image CREATING: the request's end must not
// cut it (a write cut after its commit would leave the image CREATING with no job).
func writeContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), storeWrite)
}

// save starts a new build of img in the store: a new build of the stored image when
// guard lets the caller write it, else a new image. A write that fails may still have
// been made: the image is then ended ERROR if the build is ours.
func (s *Service) save(ctx context.Context, img store.Image, keepKind bool, guard store.AppGuard) (store.Image, bool, error) {
	buildID := s.st.NewID()
	stored, created, err := s.saveBuild(ctx, img, keepKind, guard, buildID)
	var verr *store.ValidationError
	if err != nil && !errors.Is(err, store.ErrExists) && !errors.Is(err, store.ErrConflict) && !errors.As(err, &verr) {
		s.abandon(ctx, img.Name, buildID, msgNotStarted)
	}
	return stored, created, err
}

func (s *Service) saveBuild(ctx context.Context, img store.Image, keepKind bool, guard store.AppGuard, buildID string) (store.Image, bool, error) {
	ctx, cancel := writeContext(ctx)
	defer cancel()
	for range 3 {
		var guardErr error
		g := func(owner string) error {
			if guard == nil {
				return nil
			}
			guardErr = guard(owner)
			return guardErr
		}
		stored, err := s.st.UpdateImage(ctx, img.Name, func(cur *store.Image) error {
			if s.building(*cur) {
				return building(cur.Name)
			}
			if !keepKind {
				cur.Kind = img.Kind
			}
			cur.Source, cur.Reference = img.Source, ""
			cur.Base, cur.Network, cur.Dockerfile = img.Base, img.Network, img.Dockerfile
			cur.Status, cur.Error, cur.Build, cur.Node = store.ImageCreating, "", buildID, s.cfg.Node
			return nil
		}, g)
		switch {
		case guardErr != nil:
			return store.Image{}, false, taken(img.Name)
		case err == nil:
			return stored, false, nil
		case !errors.Is(err, store.ErrNotFound):
			return store.Image{}, false, fmt.Errorf("upload image %s: %w", img.Name, err)
		}
		img.Status, img.Error, img.Build, img.Node = store.ImageCreating, "", buildID, s.cfg.Node
		img.Reference, img.Digest, img.Size, img.Tag, img.BuiltAt = "", "", 0, "", time.Time{}
		stored, err = s.st.CreateImage(ctx, img)
		switch {
		case err == nil:
			return stored, true, nil
		case !errors.Is(err, store.ErrExists):
			return store.Image{}, false, fmt.Errorf("upload image %s: %w", img.Name, err)
		}
		// Created meanwhile: try the update again.
	}
	return store.Image{}, false, taken(img.Name)
}

// Delete removes the image (guard → 404 for others; 409 while in use or CREATING, unless
// stale: see building) and then its Docker image(s); Docker's failures are logged (the
// record is gone).
func (s *Service) Delete(ctx context.Context, name string, guard store.AppGuard) error {
	var img store.Image
	err := s.st.DeleteImage(ctx, name, guard, func(cur store.Image) error {
		if s.building(cur) {
			return building(cur.Name)
		}
		img = cur
		return nil
	})
	if err != nil {
		return fmt.Errorf("delete image %s: %w", name, err)
	}
	s.removeTag(ctx, img.Tag)
	if img.Digest != "" {
		s.removeIfUntagged(ctx, img.Digest)
	}
	s.sweepTags(ctx, name, "")
	return nil
}

// Prune deletes every image nothing uses and that is not CREATING (or is, stale: see
// building); it returns their names.
func (s *Service) Prune(ctx context.Context) ([]string, error) {
	var names []string
	bases := map[string]bool{} // images others build on when the prune starts: kept
	err := s.eachImage(ctx, func(img store.Image) error {
		if !s.building(img) {
			names = append(names, img.Name)
		}
		if b, ok := store.ImageName(img.Base); ok {
			bases[b] = true
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	pruned := []string{}
	for _, name := range names {
		if bases[name] {
			continue
		}
		err := s.Delete(ctx, name, nil)
		switch {
		case err == nil:
			pruned = append(pruned, name)
		case errors.Is(err, store.ErrConflict), errors.Is(err, store.ErrNotFound):
		default:
			return pruned, fmt.Errorf("prune images: %w", err)
		}
	}
	return pruned, nil
}
