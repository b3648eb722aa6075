package runner

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/docker/docker/api/types"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/pkg/stdcopy"
)

// hotContainer is a running container that serves calls one at a time.
type hotContainer struct {
	id       string
	format   string
	addr     string // ip:port of an http function
	network  string // the Docker network addr is on
	hj       types.HijackedResponse
	stdout   *bufio.Reader // a json function's stdout
	exited   chan struct{} // closed when the container's streams end: it died
	lastUsed time.Time
	secrets  string // the directory mounted at SecretsTarget ("": none), removed with the container

	// An http function's keep-alive connection, used only by the call holding the container.
	conn net.Conn
	raw  syscall.RawConn // conn's socket, to peek at it between calls
	head headLimiter     // conn as br reads it: bounded while a response head is read
	br   *bufio.Reader
	bw   *bufio.Writer

	logMu sync.Mutex
	log   *cappedBuffer      // stderr (and an http function's stdout) of the current call
	late  func([]byte, bool) // receives what arrives after the last call answered

	counted atomic.Bool // in the runner's count of hot containers (HotContainers)
	route   hotRoute    // the function's app and path, its place in the count by route (HotRoutes)
}

func (c *hotContainer) alive() bool {
	select {
	case <-c.exited:
		return false
	default:
		return true
	}
}

// logWriter appends a container's output to the log of the call it is serving.
type logWriter struct{ c *hotContainer }

func (w logWriter) Write(p []byte) (int, error) {
	w.c.logMu.Lock()
	defer w.c.logMu.Unlock()
	return w.c.log.Write(p)
}

// takeLog returns the log of the call that ends and starts an empty one for the next.
func (c *hotContainer) takeLog(max int) ([]byte, bool) {
	c.logMu.Lock()
	defer c.logMu.Unlock()
	l := c.log
	c.log = newCappedBuffer(max)
	return l.Bytes(), l.truncated
}

// flushLateLog hands what the container wrote since its last call answered to that call.
func (c *hotContainer) flushLateLog(max int) {
	log, truncated := c.takeLog(max)
	if late := c.late; late != nil && (len(log) > 0 || truncated) {
		c.late = nil
		late(log, truncated)
	}
}

// startHot starts a container of the function and waits until it is ready for calls.
func (r *Runner) startHot(ctx context.Context, fn *Function) (*hotContainer, error) {
	ctx, cancel := context.WithTimeout(ctx, r.opts.StartTimeout)
	defer cancel()
	created, secrets, err := r.createContainer(ctx, fn, functionEnv(fn), "")
	if err != nil {
		return nil, err
	}
	c := &hotContainer{id: created.ID, format: fn.Format, exited: make(chan struct{}), log: newCappedBuffer(r.opts.MaxLogBytes), secrets: secrets,
		route: hotRoute{app: fn.App, path: fn.Path}}
	ok := false
	defer func() {
		if !ok {
			r.destroyHot(c)
		}
	}()
	c.hj, err = r.docker.ContainerAttach(ctx, c.id, container.AttachOptions{Stream: true, Stdin: fn.Format == FormatJSON, Stdout: true, Stderr: true})
	if err != nil {
		close(c.exited) // no streams to wait for
		return nil, r.callError(ctx, "attach container", err)
	}
	var stdout io.Writer = logWriter{c}
	var stdoutPipe *io.PipeWriter
	if fn.Format == FormatJSON {
		pr, pw := io.Pipe()
		c.stdout, stdoutPipe, stdout = bufio.NewReaderSize(pr, 64<<10), pw, pw
	}
	go func() {
		_, err := stdcopy.StdCopy(stdout, logWriter{c}, c.hj.Reader)
		if stdoutPipe != nil {
			stdoutPipe.CloseWithError(cmpErr(err, io.EOF))
		}
		close(c.exited)
	}()
	if err := r.docker.ContainerStart(ctx, c.id, container.StartOptions{}); err != nil {
		return nil, r.callError(ctx, "start container", err)
	}
	if fn.Format == FormatHTTP {
		if err := r.waitHTTPReady(ctx, c, r.nets.dockerName(fn.Network)); err != nil {
			return nil, err
		}
	}
	ok = true
	c.counted.Store(true)
	r.hot.Add(1)
	r.countHot(c.route, 1)
	return c, nil
}

func cmpErr(err, def error) error {
	if err == nil {
		return def
	}
	return err
}

// waitHTTPReady finds the container's address and waits until its server accepts connections.
func (r *Runner) waitHTTPReady(ctx context.Context, c *hotContainer, network string) error {
	info, err := r.docker.ContainerInspect(ctx, c.id)
	if err != nil {
		return r.callError(ctx, "inspect container", err)
	}
	c.addr, c.network = httpAddr(info, network), network
	if c.addr == "" {
		return fmt.Errorf("container of an http function has no address on network %q", network)
	}
	var d net.Dialer
	for {
		conn, err := d.DialContext(ctx, "tcp", c.addr)
		if err == nil {
			_ = conn.Close()
			if !c.alive() { // whoever answered has the address of a container that died
				return &FunctionError{Reason: ReasonBadExit, Message: "the function's container exited before it listened on $PORT"}
			}
			return nil // the first call's connection checks it is still there
		}
		select {
		case <-c.exited:
			return &FunctionError{Reason: ReasonBadExit, Message: "the function's container exited before it listened on $PORT"}
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return &FunctionError{Reason: ReasonBadExit, Message: fmt.Sprintf("the function did not listen on $PORT (%d) within %s", hotPort, r.opts.StartTimeout)}
			}
			return ctx.Err()
		case <-time.After(3 * time.Millisecond):
		}
	}
}

// destroyHot kills and removes a hot container, then its secrets, in the background.
func (r *Runner) destroyHot(c *hotContainer) {
	if c.counted.Swap(false) {
		r.hot.Add(-1)
		r.countHot(c.route, -1)
	}
	r.bg.Add(1)
	go func() {
		defer r.bg.Done()
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		r.kill(c.id)
		select { // let the streams end so the last call's log is complete
		case <-c.exited:
		case <-time.After(streamGrace):
		}
		c.flushLateLog(r.opts.MaxLogBytes)
		if c.hj.Conn != nil {
			c.hj.Close()
		}
		c.closeConn()
		r.remove(ctx, c.id)
		r.removeSecrets(c.secrets)
	}()
}

// runHot serves a call from the function's pool of hot containers.
func (r *Runner) runHot(ctx context.Context, call *Call) (*Result, error) {
	for {
		p := r.poolFor(call)
		c, err := p.acquire(ctx, call.Deadline)
		if errors.Is(err, errPoolDrained) {
			if r.closing.Load() {
				return nil, ErrShuttingDown
			}
			continue // the function changed while we waited: its new pool serves us
		}
		if err != nil {
			return nil, err
		}
		call.Deadline = time.Now().Add(call.Function.Timeout)
		res, healthy, err := r.callHot(ctx, c, call)
		err = r.stoppedBy(ctx, err)
		res.Ran, res.Image = true, p.fn.Image
		call.finish(res, err) // before the container serves anyone else: its late log comes after
		p.release(c, healthy)
		return res, err
	}
}

// callHot sends one call to a container; healthy is false when the container must go.
func (r *Runner) callHot(ctx context.Context, c *hotContainer, call *Call) (*Result, bool, error) {
	c.flushLateLog(r.opts.MaxLogBytes) // the previous call's tail, if any
	c.late = call.LateLog
	var (
		res *Result
		err error
	)
	if c.format == FormatHTTP {
		res, err = r.callHTTP(ctx, c, call)
	} else {
		res, err = r.callJSON(ctx, c, call)
	}
	if res == nil {
		res = &Result{Header: http.Header{}}
	}
	res.Hot = true
	res.Log, res.LogTruncated = c.takeLog(r.opts.MaxLogBytes)
	if err == nil {
		return res, true, nil
	}
	if errors.Is(err, errCallTimedOut) || (ctx.Err() == nil && !time.Now().Before(call.Deadline)) {
		return res, false, ErrTimeout // hung past its deadline: replaced
	}
	if ctx.Err() != nil {
		return res, false, ctx.Err()
	}
	var fe *FunctionError
	if errors.As(err, &fe) {
		return res, false, fe
	}
	if errors.Is(err, ErrDockerUnavailable) || errors.Is(err, ErrStartTimeout) {
		return res, true, err // Docker's trouble, not the container's (503)
	}
	// The container broke the protocol or died mid-call: explain, and replace it.
	select {
	case <-c.exited:
		return res, false, r.diedMidCall(c)
	case <-time.After(50 * time.Millisecond):
	}
	return res, false, &FunctionError{Reason: ReasonBadExit, Message: "function failed: " + err.Error()}
}

// diedMidCall explains the death of a hot container during a call.
func (r *Runner) diedMidCall(c *hotContainer) *FunctionError {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	info, err := r.docker.ContainerInspect(ctx, c.id)
	if err != nil || info.State == nil {
		return &FunctionError{Reason: ReasonBadExit, Message: "the function's container died during the call"}
	}
	return r.exitFailure(c.id, info.State.ExitCode)
}
