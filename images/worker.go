package images

// This file holds the jobs: a build, load or pull runs on the bounded pool, with a time
// limit, saving its log as it goes, and writes its outcome to the image while the image's
// Build is still its own.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"regexp"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/build"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"

	"github.com/gantry-dev/gantry/httperr"
	"github.com/gantry-dev/gantry/store"
)

// job is one build, load or pull of an image.
type job struct {
	name, build, source string
	file                string // the upload (build context or image tarball); removed when the job ends
	reference           string // a pull's
	base                string // "@name" of a build's base
	network, dockerfile string
}

// tag is the Docker reference the job tags its image as.
func (j job) tag() string { return Tag(j.name, j.build) }

// Tag is the Docker reference Gantry tags build build of image name as.
func Tag(name, build string) string { return TagRepo + "/" + name + ":" + strings.ToLower(build) }

// logEvery is how often a running job saves its log.
const logEvery = 300 * time.Millisecond

// errorLines is how many of the log's last lines an ERROR's message carries.
const errorLines = 10

// finalWrite bounds the writes of a job's outcome (made after its context ended).
const finalWrite = 30 * time.Second

// storeWrite bounds the writes made for a request that must not be cut by its end.
const storeWrite = 10 * time.Second

// enqueue queues the job, which owns j.file from now on, and the caller's reservation
// once queued. After Close it refuses it (503): the image ends ERROR and the file is
// removed; the reservation stays the caller's.
func (s *Service) enqueue(ctx context.Context, j job) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		s.removeFile(j)
		s.abandon(ctx, j.name, j.build, msgStopped)
		return errStopping()
	}
	s.running[j.build] = true
	s.wg.Add(1) // under mu, with closed false: never after Close's Wait
	s.mu.Unlock()
	go s.run(j)
	return nil
}

// errStopping answers a request that came as the service was closing.
func errStopping() error {
	return &httperr.Error{Status: http.StatusServiceUnavailable, Message: "the server is stopping: try again", Header: httperr.RetryAfter(5)}
}

// abandon ends ERROR (reason) build of image name while it is the image's and CREATING,
// in a write of its own: ctx's end does not cut it.
func (s *Service) abandon(ctx context.Context, name, build, reason string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), storeWrite)
	defer cancel()
	_, err := s.st.UpdateImage(ctx, name, func(img *store.Image) error {
		if img.Build != build || img.Status != store.ImageCreating {
			return errStale
		}
		img.Status, img.Error = store.ImageError, reason
		return nil
	}, nil)
	switch {
	case err == nil:
		s.log.Warn("image build abandoned", "image", name, "build", build, "reason", reason)
	case !errors.Is(err, errStale) && !errors.Is(err, store.ErrNotFound):
		s.log.Error("end an abandoned image build", "image", name, "build", build, "err", err)
	}
}

// run waits for a free worker, then runs the job and writes its outcome.
func (s *Service) run(j job) {
	defer s.wg.Done()
	defer func() {
		s.mu.Lock()
		delete(s.running, j.build)
		s.mu.Unlock()
	}()
	lg := &buildLog{}
	stopBeating := s.beat(j)
	select {
	case s.sem <- struct{}{}:
		s.unreserve()
		defer func() { <-s.sem }()
	case <-s.ctx.Done():
		s.unreserve()
		stopBeating()
		s.removeFile(j)
		s.finish(j, lg, "", errors.New(msgInterrupted))
		return
	}
	ctx, cancel := context.WithTimeout(s.ctx, s.cfg.BuildTimeout)
	defer cancel()
	saved := make(chan struct{})
	stopSaving := make(chan struct{})
	go func() { // save the log as it grows
		defer close(saved)
		t := time.NewTicker(logEvery)
		defer t.Stop()
		for {
			select {
			case <-stopSaving:
				return
			case <-t.C:
				if data, ok := lg.changed(); ok {
					if err := s.st.SetImageLog(ctx, j.name, j.build, data); err != nil && ctx.Err() == nil {
						s.log.Warn("save image log", "image", j.name, "build", j.build, "err", err)
					}
				}
			}
		}
	}()
	id, err := s.do(ctx, j, lg)
	close(stopSaving)
	<-saved
	stopBeating()
	s.removeFile(j)
	if err != nil {
		switch {
		case s.ctx.Err() != nil:
			err = errors.New(msgInterrupted)
		case errors.Is(ctx.Err(), context.DeadlineExceeded):
			err = fmt.Errorf("timed out: the %s took longer than %s", j.what(), s.cfg.BuildTimeout)
		}
	}
	s.finish(j, lg, id, err)
}

// defaultHeartbeat is how often a job writes its image while it waits and runs: well
// within the minute past BuildTimeout after which another node takes it as stale.
const defaultHeartbeat = 30 * time.Second

// beat writes the job's image every s.heartbeat (its UpdatedAt moves, nothing else), until
// stop is called or the image has another build, so that no node takes the build as
// stale (building) while it waits for a worker or runs.
func (s *Service) beat(j job) (stop func()) {
	done, ended := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(ended)
		t := time.NewTicker(s.heartbeat)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
			}
			ctx, cancel := context.WithTimeout(s.ctx, storeWrite)
			_, err := s.st.UpdateImage(ctx, j.name, func(img *store.Image) error {
				if img.Build != j.build || img.Status != store.ImageCreating {
					return errStale
				}
				return nil
			}, nil)
			cancel()
			switch {
			case errors.Is(err, errStale), errors.Is(err, store.ErrNotFound):
				return
			case err != nil && s.ctx.Err() == nil:
				s.log.Warn("write image of a running build", "image", j.name, "build", j.build, "err", err)
			}
		}
	}()
	return func() {
		close(done)
		<-ended
	}
}

// removeFile removes the job's upload, its own since Upload queued it.
func (s *Service) removeFile(j job) {
	if j.file != "" {
		if err := os.Remove(j.file); err != nil && !errors.Is(err, os.ErrNotExist) {
			s.log.Warn("remove upload", "file", j.file, "err", err)
		}
	}
}

func (j job) what() string {
	switch j.source {
	case store.ImageSourceReference:
		return "pull"
	case store.ImageSourceLoad:
		return "load"
	}
	return "build"
}

// do runs the job and returns the ID of the image it tagged as j.tag().
func (s *Service) do(ctx context.Context, j job, lg *buildLog) (string, error) {
	switch j.source {
	case store.ImageSourceReference:
		return s.pull(ctx, j, lg)
	case store.ImageSourceLoad:
		return s.load(ctx, j, lg)
	}
	return s.buildImage(ctx, j, lg)
}

func (s *Service) pull(ctx context.Context, j job, lg *buildLog) (string, error) {
	info, err := s.d.ImageInspect(ctx, j.reference)
	switch {
	case err == nil:
		lg.addLine("using " + j.reference + ", present on this node (" + info.ID + ")")
	case !cerrdefs.IsNotFound(err):
		return "", fmt.Errorf("inspect %s: %w", j.reference, err)
	default:
		lg.addLine("pulling " + j.reference)
		rc, err := s.d.ImagePull(ctx, j.reference, image.PullOptions{})
		if err != nil {
			return "", fmt.Errorf("pull %s: %w", j.reference, err)
		}
		err = readStream(rc, lg, nil)
		_ = rc.Close()
		if err != nil {
			return "", fmt.Errorf("pull %s: %w", j.reference, err)
		}
		if info, err = s.d.ImageInspect(ctx, j.reference); err != nil {
			return "", fmt.Errorf("pull %s: inspect: %w", j.reference, err)
		}
	}
	if err := s.d.ImageTag(ctx, info.ID, j.tag()); err != nil {
		return "", fmt.Errorf("tag %s as %s: %w", j.reference, j.tag(), err)
	}
	return info.ID, nil
}

// cpuPeriod is the CFS period of a build's CPU quota, in microseconds (Docker's default).
const cpuPeriod = 100_000

func (s *Service) buildImage(ctx context.Context, j job, lg *buildLog) (string, error) {
	opts := build.ImageBuildOptions{
		Tags:        []string{j.tag()},
		Dockerfile:  j.dockerfile,
		NetworkMode: j.network,
		Remove:      true,
		ForceRemove: true,
		Version:     build.BuilderV1,
		// The containers of RUN steps: bounded, so that a build cannot starve the calls.
		Memory:     s.cfg.BuildMemory,
		MemorySwap: s.cfg.BuildMemory, // = Memory: no swap
		CPUPeriod:  cpuPeriod,
		CPUQuota:   int64(s.cfg.BuildCPUs * cpuPeriod),
	}
	if baseName, ok := store.ImageName(j.base); ok {
		base, err := s.st.GetImage(ctx, baseName)
		if err != nil {
			return "", fmt.Errorf("base image %s: %w", j.base, err)
		}
		if base.Status != store.ImageReady || base.Tag == "" {
			return "", fmt.Errorf("base image %s is not ready (%s)", j.base, base.Status)
		}
		opts.BuildArgs = map[string]*string{"BASE_IMAGE": &base.Tag}
		lg.addLine("BASE_IMAGE=" + base.Tag)
	}
	f, err := os.Open(j.file)
	if err != nil {
		return "", fmt.Errorf("open build context: %w", err)
	}
	defer func() { _ = f.Close() }()
	resp, err := s.d.ImageBuild(ctx, f, opts)
	if err != nil {
		return "", fmt.Errorf("build: %w", err)
	}
	err = readStream(resp.Body, lg, nil)
	_ = resp.Body.Close()
	if err != nil {
		return "", fmt.Errorf("build failed: %w", err)
	}
	info, err := s.d.ImageInspect(ctx, j.tag())
	if err != nil {
		return "", fmt.Errorf("build: inspect %s: %w", j.tag(), err)
	}
	return info.ID, nil
}

var loadedID = regexp.MustCompile(`Loaded image ID: (sha256:[0-9a-f]{64})`)
var loadedRef = regexp.MustCompile(`Loaded image: (\S+)`)

func (s *Service) load(ctx context.Context, j job, lg *buildLog) (string, error) {
	f, err := os.Open(j.file)
	if err != nil {
		return "", fmt.Errorf("open image tarball: %w", err)
	}
	defer func() { _ = f.Close() }()
	resp, err := s.d.ImageLoad(ctx, f, client.ImageLoadWithQuiet(true))
	if err != nil {
		return "", fmt.Errorf("load: %w", err)
	}
	var ids, refs []string
	see := func(line string) {
		if m := loadedID.FindStringSubmatch(line); m != nil {
			ids = append(ids, m[1])
		} else if m := loadedRef.FindStringSubmatch(line); m != nil {
			refs = append(refs, m[1])
		}
	}
	if resp.JSON {
		err = readStream(resp.Body, lg, see)
	} else {
		var b []byte
		b, err = io.ReadAll(resp.Body)
		lg.add(string(b))
		for _, line := range strings.Split(string(b), "\n") {
			see(line)
		}
	}
	_ = resp.Body.Close()
	if err != nil {
		return "", fmt.Errorf("load failed: %w", err)
	}
	for _, ref := range refs { // a daemon that loaded tags anyway: find their IDs
		if info, err := s.d.ImageInspect(ctx, ref); err == nil {
			ids = append(ids, info.ID)
		}
	}
	if len(ids) == 0 {
		return "", errors.New("load failed: the daemon reported no loaded image")
	}
	id := ids[0]
	if err := s.d.ImageTag(ctx, id, j.tag()); err != nil {
		return "", fmt.Errorf("tag %s as %s: %w", id, j.tag(), err)
	}
	return id, nil
}

// finish writes the job's log and outcome to the image (while its Build is still the
// job's), then removes the Docker images the outcome leaves unneeded: a failed job's, a
// superseded job's, or the previous build's tag after a success.
func (s *Service) finish(j job, lg *buildLog, id string, jobErr error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(s.ctx), finalWrite)
	defer cancel()
	var reason string
	if jobErr != nil {
		reason = jobErr.Error()
		if tail := lg.tail(errorLines); tail != "" {
			reason += "\n" + tail
		}
		lg.addLine("ERROR: " + jobErr.Error())
	}
	if err := s.st.SetImageLog(ctx, j.name, j.build, lg.bytes()); err != nil && !errors.Is(err, store.ErrConflict) && !errors.Is(err, store.ErrNotFound) {
		s.log.Warn("save image log", "image", j.name, "build", j.build, "err", err)
	}
	var info image.InspectResponse
	if jobErr == nil {
		var err error
		if info, err = s.d.ImageInspect(ctx, id); err != nil {
			jobErr = fmt.Errorf("inspect %s: %w", id, err)
			reason = jobErr.Error()
		}
	}
	if jobErr != nil {
		s.cleanFailed(ctx, j, lg) // before the status: once ERROR, nothing of it is left
	}
	var prevTag string
	_, err := s.st.UpdateImage(ctx, j.name, func(img *store.Image) error {
		if img.Build != j.build {
			return errStale
		}
		if jobErr != nil {
			img.Status, img.Error = store.ImageError, reason
			return nil
		}
		prevTag = img.Tag
		img.Status, img.Error = store.ImageReady, ""
		img.Digest, img.Size, img.Tag, img.BuiltAt = info.ID, info.Size, j.tag(), time.Now().UTC()
		return nil
	}, nil)
	switch {
	case err != nil:
		if !errors.Is(err, errStale) && !errors.Is(err, store.ErrNotFound) {
			s.log.Error("write image outcome", "image", j.name, "build", j.build, "err", err)
		}
		if jobErr == nil {
			s.cleanFailed(ctx, j, lg)
		}
	case jobErr != nil:
		s.log.Info("image build failed", "image", j.name, "build", j.build, "err", jobErr)
	default:
		s.log.Info("image ready", "image", j.name, "build", j.build, "digest", info.ID)
		if prevTag != "" && prevTag != j.tag() {
			s.removeTag(ctx, prevTag)
		}
		s.sweepTags(ctx, j.name, j.tag())
	}
}

// stepID matches the lines of the classic builder that name a step's image.
var stepID = regexp.MustCompile(`(?m)^ ---> ([0-9a-f]{12})$`)

// cleanFailed removes what a job that did not end READY left in Docker: its tag and the
// untagged images of its build steps (named by the classic builder's log). Builds carry
// no labels of Gantry's: the classic builder adds them as one more step (a container and
// a commit, about 1.5 s here), so the tag and the log find a build's images instead.
func (s *Service) cleanFailed(ctx context.Context, j job, lg *buildLog) {
	s.removeTag(ctx, j.tag())
	if j.source != store.ImageSourceBuild {
		return
	}
	steps := stepID.FindAllStringSubmatch(string(lg.bytes()), -1)
	for i := len(steps) - 1; i >= 0; i-- {
		s.removeIfUntagged(ctx, steps[i][1])
	}
}

// removeTag removes a tag Gantry made (never forced: an image a container still uses
// stays); a tag already gone is success.
func (s *Service) removeTag(ctx context.Context, tag string) {
	if tag == "" {
		return
	}
	if _, err := s.d.ImageRemove(ctx, tag, image.RemoveOptions{PruneChildren: true}); err != nil && !cerrdefs.IsNotFound(err) {
		s.log.Warn("remove image tag", "tag", tag, "err", err)
	}
}

// removeIfUntagged removes the image id when no tag names it (never forced).
func (s *Service) removeIfUntagged(ctx context.Context, id string) {
	info, err := s.d.ImageInspect(ctx, id)
	if err != nil || len(info.RepoTags) > 0 {
		return
	}
	if _, err := s.d.ImageRemove(ctx, info.ID, image.RemoveOptions{PruneChildren: true}); err != nil && !cerrdefs.IsNotFound(err) {
		s.log.Debug("remove untagged image", "id", id, "err", err)
	}
}

// sweepTags removes the tags of image name other than keep: those an earlier removal left
// (a container still used them).
func (s *Service) sweepTags(ctx context.Context, name, keep string) {
	list, err := s.d.ImageList(ctx, image.ListOptions{Filters: filters.NewArgs(filters.Arg("reference", TagRepo+"/"+name))})
	if err != nil {
		s.log.Warn("list image tags", "image", name, "err", err)
		return
	}
	for _, im := range list {
		for _, t := range im.RepoTags {
			if t != keep && strings.HasPrefix(t, TagRepo+"/"+name+":") {
				s.removeTag(ctx, t)
			}
		}
	}
}
