package runner

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"
)

// Labels on every container Gantry starts.
const (
	LabelManaged  = "gantry.managed"
	LabelInstance = "gantry.instance"
	LabelApp      = "gantry.app"
	LabelRoute    = "gantry.route"
	LabelCall     = "gantry.call"
	LabelFormat   = "gantry.format"
	// LabelImage is the function's ImageName ("@name"), on containers of a route that
	// runs an image Gantry manages.
	LabelImage = "gantry.image"
)

// Options configure a Runner; zero values take the defaults.
type Options struct {
	// Instance identifies this Gantry (one per data dir). Its containers carry it as a label,
	// and the ones a previous run left behind are reaped when the runner starts.
	Instance string
	// MaxOutputBytes caps what a call's response body keeps (default 1 MiB); the rest is dropped and flagged.
	MaxOutputBytes int
	// MaxLogBytes caps a call's log, its stderr (default 256 KiB).
	MaxLogBytes int
	// MaxResponseHeadBytes caps the head of a hot function's answer, its status line and
	// headers (default 64 KiB, as net/http's client). A larger head fails the call (502)
	// and replaces the container.
	MaxResponseHeadBytes int
	// PidsLimit caps the processes of a container (default 256).
	PidsLimit int64
	// TmpfsSize is the size of the writable /tmp of a container (default 64m).
	TmpfsSize string
	// StartTimeout bounds preparing a container: create, attach, start, and for a hot one
	// until it is ready for calls (default 30s). It does not count against a route's timeout.
	StartTimeout time.Duration
	// SweepInterval is how often containers of this instance that exited but were not
	// removed (Docker was away when their call ended) are removed (default 30s).
	SweepInterval time.Duration
	// Labels are added to every container (tests use them to find their own).
	Labels map[string]string
	// FunctionNetwork names the Docker network of routes on network "bridge", which Gantry
	// creates with inter-container communication off (default DefaultFunctionNetwork).
	FunctionNetwork string
	// Networks are the Docker networks an administrator registered for routes, each with
	// the owners whose apps may use it (none: every owner).
	Networks map[string][]string
	// Secrets gives the values of the secrets a function names (Function.Secrets); without
	// it, a call of such a function fails.
	Secrets Secrets
	// SecretsDir is where the secrets of this instance's containers are written, one
	// directory per container, bind-mounted read-only at SecretsTarget. It must be on a
	// tmpfs of this host, where the Docker daemon runs (default DefaultSecretsDir(Instance),
	// on /dev/shm); what is in it when the runner starts is a previous run's, and is removed.
	// It and its parent must be directories of the server's user that no one else may
	// write to (the runner makes them, mode 0700), or New fails: prepareSecretsDir.
	SecretsDir string
	Log        *slog.Logger
}

func (o *Options) applyDefaults() {
	if o.MaxOutputBytes <= 0 {
		o.MaxOutputBytes = 1 << 20
	}
	if o.MaxLogBytes <= 0 {
		o.MaxLogBytes = 256 << 10
	}
	if o.MaxResponseHeadBytes <= 0 {
		o.MaxResponseHeadBytes = 64 << 10
	}
	if o.PidsLimit <= 0 {
		o.PidsLimit = 256
	}
	if o.TmpfsSize == "" {
		o.TmpfsSize = "64m"
	}
	if o.StartTimeout <= 0 {
		o.StartTimeout = 30 * time.Second
	}
	if o.SweepInterval <= 0 {
		o.SweepInterval = 30 * time.Second
	}
	if o.FunctionNetwork == "" {
		o.FunctionNetwork = DefaultFunctionNetwork
	}
	if o.SecretsDir == "" {
		o.SecretsDir = DefaultSecretsDir(o.Instance)
	}
	if o.Log == nil {
		o.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
}

// Runner runs calls in Docker containers.
type Runner struct {
	docker Docker
	opts   Options
	log    *slog.Logger
	nets   *networks

	ctx     context.Context // cancelled by Close: ends the calls still running
	cancel  context.CancelFunc
	closing atomic.Bool    // set under mu with closed; read without it on the call path
	stop    chan struct{}  // closed by Close: ends the sweeper
	calls   sync.WaitGroup // calls in Run
	bg      sync.WaitGroup // container removals, pool janitors and the sweeper
	mu      sync.Mutex
	closed  bool
	pools   map[poolKey]*pool
	// images are the digests image names run now, as DrainImage last told (by name).
	images map[string]imageDigest
	hot    atomic.Int64 // hot containers started and not yet destroyed: idle, busy or draining

	hotMu sync.Mutex
	hotBy map[hotRoute]int // hot, by route (HotRoutes)
}

// New returns a runner and reaps the containers a previous run of this instance left behind.
// A daemon that is down does not fail New: calls get ErrDockerUnavailable until it is back.
func New(ctx context.Context, docker Docker, opts Options) (*Runner, error) {
	if opts.Instance == "" {
		return nil, errors.New("runner: Options.Instance is required")
	}
	opts.applyDefaults()
	secretsDirMade := true
	if err := prepareSecretsDir(opts.SecretsDir); errors.Is(err, errUnsafeSecretsDir) {
		return nil, fmt.Errorf("runner: %w", err)
	} else if err != nil {
		secretsDirMade = false
		opts.Log.Warn("the secrets directory cannot be made: calls of functions with secrets will fail", "dir", opts.SecretsDir, "err", err)
	}
	r := &Runner{docker: docker, opts: opts, log: opts.Log, nets: newNetworks(opts.FunctionNetwork, opts.Networks),
		pools: map[poolKey]*pool{}, images: map[string]imageDigest{}, stop: make(chan struct{})}
	r.ctx, r.cancel = context.WithCancel(context.Background())
	if n, err := r.Reap(ctx); err != nil {
		r.log.Warn("could not reap containers of a previous run", "err", err)
	} else if n > 0 {
		r.log.Info("reaped containers of a previous run", "count", n)
	}
	if secretsDirMade {
		r.removeLeftoverSecrets()
		r.checkSecretsDir()
	}
	if _, err := r.networkMode(ctx, NetworkBridge); err != nil { // ready before the first call
		r.log.Warn("the function network is not ready; calls will try again", "network", opts.FunctionNetwork, "err", err)
	}
	r.warnSharedNetworks(ctx)
	r.bg.Add(1)
	go r.sweeper() //nolint:gosec // G118: the sweeper lives as long as the runner
	return r, nil
}

// sweeper removes, every SweepInterval, the containers of this instance that exited but
// are still there: their removal failed, typically because Docker was away at the time.
// Running containers belong to calls or pools and are left alone.
func (r *Runner) sweeper() {
	defer r.bg.Done()
	t := time.NewTicker(r.opts.SweepInterval)
	defer t.Stop()
	for {
		select {
		case <-r.stop:
			return
		case <-t.C:
			ctx, cancel := context.WithTimeout(context.Background(), r.opts.SweepInterval)
			args := filters.NewArgs(filters.Arg("label", LabelInstance+"="+r.opts.Instance), filters.Arg("status", "exited"), filters.Arg("status", "dead"))
			if list, err := r.docker.ContainerList(ctx, container.ListOptions{All: true, Filters: args}); err == nil {
				for _, c := range list {
					r.remove(ctx, c.ID)
				}
			}
			cancel()
		}
	}
}

// Reap removes every container labelled with this instance, whatever its state.
func (r *Runner) Reap(ctx context.Context) (int, error) {
	list, err := r.docker.ContainerList(ctx, container.ListOptions{All: true, Filters: filters.NewArgs(filters.Arg("label", LabelInstance+"="+r.opts.Instance))})
	if err != nil {
		return 0, r.dockerError("list containers", err)
	}
	for _, c := range list {
		r.remove(ctx, c.ID)
	}
	return len(list), nil
}

// enter admits a call unless the runner is closing; the caller must call r.calls.Done.
func (r *Runner) enter() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return false
	}
	r.calls.Add(1)
	return true
}

// Close stops taking calls, ends the ones still running (the server has already given
// them its drain time), stops every hot container and removes every container of this
// instance. It waits up to ctx for all that, and reaps whatever remains in any case.
func (r *Runner) Close(ctx context.Context) error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil
	}
	r.closed = true
	r.closing.Store(true)
	r.mu.Unlock()
	close(r.stop)
	r.cancel()
	werr := waitGroup(ctx, &r.calls, "calls still running")

	r.mu.Lock()
	pools := r.pools
	r.pools = map[poolKey]*pool{}
	r.mu.Unlock()
	for _, p := range pools {
		p.drain()
	}
	if werr == nil {
		werr = waitGroup(ctx, &r.bg, "containers still being removed")
	}
	reapCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := r.Reap(reapCtx)
	r.removeAllSecrets()
	if err != nil {
		return errors.Join(werr, err)
	}
	return werr
}

func waitGroup(ctx context.Context, wg *sync.WaitGroup, what string) error {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("runner: %s: %w", what, ctx.Err())
	}
}

// HotContainers is how many hot containers the runner keeps now: ready ones, idle or
// serving a call, and those of drained pools still finishing theirs.
func (r *Runner) HotContainers() int { return int(r.hot.Load()) }

// remove force-removes a container; "already gone" is success.
func (r *Runner) remove(ctx context.Context, id string) {
	err := r.docker.ContainerRemove(ctx, id, container.RemoveOptions{Force: true, RemoveVolumes: true})
	if err != nil && !errdefs.IsNotFound(err) && !errdefs.IsConflict(err) {
		r.log.Warn("remove container", "id", short(id), "err", err)
	}
}

// removeLater removes a container, then its secrets directory (secrets, "" if none), in
// the background, off the call's path. Close waits for it.
func (r *Runner) removeLater(id, secrets string) {
	r.bg.Add(1)
	go func() {
		defer r.bg.Done()
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		r.remove(ctx, id)
		r.removeSecrets(secrets) // even if the removal failed: the call that needed them is over
	}()
}

// EnsureImage checks that an image is on this host, pulling it when it is not. It returns
// ErrImageNotFound when the image is neither present nor pullable. An image ID
// ("sha256:...", what a route's "@name" resolves to) is never pulled (no registry knows
// it): one not on this host fails at once (imageNotHere).
func (r *Runner) EnsureImage(ctx context.Context, ref string) error {
	_, err := r.docker.ImageInspect(ctx, ref)
	if err == nil {
		return nil
	}
	if !errdefs.IsNotFound(err) {
		return r.dockerError("inspect image "+ref, err)
	}
	if IsImageID(ref) {
		return imageNotHere(ref)
	}
	pullCtx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	rc, err := r.docker.ImagePull(pullCtx, ref, image.PullOptions{})
	if err == nil {
		_, err = io.Copy(io.Discard, rc)
		_ = rc.Close()
		if _, ierr := r.docker.ImageInspect(ctx, ref); ierr == nil {
			return nil
		}
	}
	if client.IsErrConnectionFailed(err) {
		return r.dockerError("pull image "+ref, err)
	}
	return fmt.Errorf("%w: image %q is not on this host and could not be pulled", ErrImageNotFound, ref)
}

// IsImageID tells whether ref is a Docker image ID ("sha256:" and 64 hex digits), not a
// reference a registry could serve.
func IsImageID(ref string) bool {
	hex, ok := strings.CutPrefix(ref, "sha256:")
	if !ok || len(hex) != 64 {
		return false
	}
	for _, c := range hex {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// imageNotHere is the error of an image ID missing from this host's Docker daemon: the
// images Gantry builds live in the daemon of the node that built them.
func imageNotHere(id string) error {
	return fmt.Errorf("%w: image %s is not in this node's Docker daemon: it was built, loaded or pulled by another node, "+
		"and images live in the daemon of the node that made them (nodes sharing a store must share a Docker daemon)", ErrImageNotFound, "sha256:"+short(strings.TrimPrefix(id, "sha256:")))
}

// dockerError wraps a Docker error, marking an unreachable daemon as ErrDockerUnavailable.
func (r *Runner) dockerError(op string, err error) error {
	if client.IsErrConnectionFailed(err) {
		return fmt.Errorf("%w: %s: %v", ErrDockerUnavailable, op, err)
	}
	if errdefs.IsNotFound(err) && (op == "create container" || op == "start container") {
		switch msg := strings.ToLower(err.Error()); {
		case strings.Contains(msg, "no such image"): // first: an image's name may say "network"
			return fmt.Errorf("%w: %v", ErrImageNotFound, err)
		case strings.Contains(msg, "network"): // removed since Gantry checked it
			return fmt.Errorf("%w: %v", ErrNetworkUnavailable, err)
		case strings.Contains(msg, "image"):
			return fmt.Errorf("%w: %v", ErrImageNotFound, err)
		}
	}
	return fmt.Errorf("%s: %w", op, err)
}

func short(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}
