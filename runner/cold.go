package runner

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/pkg/stdcopy"
)

// streamGrace bounds the wait for a container's output streams to close after it exited.
const streamGrace = 2 * time.Second

// Run runs a call in a container of its function and returns what the function answered.
// Errors: ErrTimeout, ErrBusy, ErrDockerUnavailable, ErrImageNotFound, ErrStartTimeout,
// ErrShuttingDown, or a *FunctionError (the Result then still carries the log and exit
// code). call.Done, if set, gets the outcome before Run returns.
func (r *Runner) Run(ctx context.Context, call *Call) (res *Result, err error) {
	if !r.enter() {
		err = ErrShuttingDown
		call.finish(&Result{Header: http.Header{}}, err)
		return nil, err
	}
	defer r.calls.Done()
	callCtx := ctx // the caller's: its cause tells a user's cancel from a shutdown
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(r.ctx, cancel)() // Close ends calls still running
	defer func() {
		err = r.stoppedBy(callCtx, err)
		if res == nil {
			res = &Result{Header: http.Header{}}
		}
		if errors.Is(err, ErrNetworkUnavailable) {
			r.forgetNetwork(call.Function.Network) // it went since it was checked: look again next time
		}
		call.finish(res, err)
	}()
	if call.Function.Format == FormatDefault {
		return r.runCold(ctx, call)
	}
	return r.runHot(ctx, call)
}

// stoppedBy names the runner's own Close as the cause of a call it cancelled, so that an
// async call goes back to the queue instead of ending as cancelled by a client.
func (r *Runner) stoppedBy(ctx context.Context, err error) error {
	if err != nil && r.ctx.Err() != nil && errors.Is(err, context.Canceled) && !errors.Is(context.Cause(ctx), ErrCancelled) {
		return ErrShuttingDown
	}
	return err
}

// Time limits of a call. Preparing a container (create, attach, start; for a hot one,
// until it is ready) has its own bound, StartTimeout; the route's timeout counts from
// the moment the function runs, as Lambda separates init from invocation; waiting in
// line for a busy hot container is bounded by the call's Deadline.

// runCold runs the default format: one container per call, the request body on stdin,
// stdout as the response, stderr as the log, the exit code as the verdict. The container
// is created and attached before it starts, so no output is missed, and it is removed
// in the background once the answer is known.
func (r *Runner) runCold(ctx context.Context, call *Call) (*Result, error) {
	prepCtx, cancelPrep := context.WithTimeout(ctx, r.opts.StartTimeout)
	defer cancelPrep()
	call.Deadline = time.Now().Add(call.Function.Timeout) // FN_DEADLINE, approximately
	created, secrets, err := r.createContainer(prepCtx, &call.Function, callEnv(call), call.ID)
	if err != nil {
		return nil, err
	}
	id := created.ID
	defer r.removeLater(id, secrets)

	hj, err := r.docker.ContainerAttach(prepCtx, id, container.AttachOptions{Stream: true, Stdin: true, Stdout: true, Stderr: true})
	if err != nil {
		return nil, r.callError(prepCtx, "attach container", err)
	}
	defer hj.Close()

	// The wait is registered before the start so that a fast exit is not missed. It is
	// not tied to the call: on a timeout the container is killed and its exit still awaited.
	waitCtx, stopWait := context.WithTimeout(context.Background(), r.opts.StartTimeout+call.Function.Timeout+30*time.Second)
	defer stopWait()
	waitC, waitErrC := r.docker.ContainerWait(waitCtx, id, container.WaitConditionNextExit)

	if err := r.docker.ContainerStart(prepCtx, id, container.StartOptions{}); err != nil {
		return nil, r.callError(prepCtx, "start container", err)
	}
	ran := true
	call.Deadline = time.Now().Add(call.Function.Timeout)
	ctx, cancel := context.WithDeadline(ctx, call.Deadline)
	defer cancel()
	go func() {
		if len(call.Body) > 0 {
			_, _ = hj.Conn.Write(call.Body)
		}
		_ = hj.CloseWrite()
	}()
	stdout, stderr := newCappedBuffer(r.opts.MaxOutputBytes), newCappedBuffer(r.opts.MaxLogBytes)
	streamed := make(chan struct{})
	go func() {
		_, _ = stdcopy.StdCopy(stdout, stderr, hj.Reader)
		close(streamed)
	}()

	var exitCode int64
	timedOut := false
	select {
	case res := <-waitC:
		exitCode = res.StatusCode
	case err := <-waitErrC:
		return nil, r.callError(ctx, "wait for container", err)
	case <-ctx.Done():
		timedOut = true
		r.kill(id)
		select {
		case res := <-waitC:
			exitCode = res.StatusCode
		case err := <-waitErrC:
			_ = err // killed: the exit status is the timeout
		case <-time.After(streamGrace):
		}
	}
	select {
	case <-streamed:
	case <-time.After(streamGrace):
		hj.Close()
		<-streamed
	}

	code := int(exitCode)
	res := &Result{
		Status:          http.StatusOK,
		Header:          http.Header{},
		Body:            stdout.Bytes(),
		OutputTruncated: stdout.truncated,
		Log:             stderr.Bytes(),
		LogTruncated:    stderr.truncated,
		ExitCode:        &code,
		Ran:             ran,
		Image:           call.Function.Image,
	}
	switch {
	case timedOut && errors.Is(ctx.Err(), context.DeadlineExceeded):
		res.ExitCode = nil
		return res, ErrTimeout
	case timedOut:
		res.ExitCode = nil
		return res, ctx.Err()
	case code != 0:
		return res, r.exitFailure(id, code)
	}
	return res, nil
}

// exitFailure explains a non-zero exit: killed for running out of memory (or by a
// signal from outside), otherwise a bad exit.
func (r *Runner) exitFailure(id string, code int) *FunctionError {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if info, err := r.docker.ContainerInspect(ctx, id); err == nil && info.State != nil && info.State.OOMKilled {
		return exitError(code, ReasonKilled, "killed: out of memory")
	}
	if code == 137 {
		return exitError(code, ReasonKilled, "killed")
	}
	return exitError(code, ReasonBadExit, "")
}

// kill stops a container at once; it is removed by whoever owns it.
func (r *Runner) kill(id string) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := r.docker.ContainerKill(ctx, id, "KILL"); err != nil {
		r.log.Debug("kill container", "id", short(id), "err", err)
	}
}

// createContainer creates a container of the function on its network, with its secrets
// (if it names any) mounted from a directory of its own, which it returns: whoever removes
// the container removes that directory after it (removeLater, destroyHot).
func (r *Runner) createContainer(ctx context.Context, fn *Function, env map[string]string, callID string) (container.CreateResponse, string, error) {
	netMode, err := r.networkMode(ctx, fn.Network)
	if err != nil {
		return container.CreateResponse{}, "", r.callError(ctx, "network", err)
	}
	secrets, err := r.writeSecrets(ctx, fn)
	if err != nil {
		if ctx.Err() != nil {
			return container.CreateResponse{}, "", r.callError(ctx, "read secrets", err)
		}
		return container.CreateResponse{}, "", err
	}
	cfg, host := r.containerSpec(fn, env, callID, netMode)
	if secrets != "" {
		host.Mounts = append(host.Mounts, secretsMount(secrets))
	}
	// The daemon may create the container although the request is abandoned (a cancel or
	// a deadline that lands during the create): the create is not tied to the caller's
	// context, only bounded by StartTimeout, so that its ID is known and a container made
	// for a caller that went away is removed, never left behind in the "created" state.
	createCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.opts.StartTimeout)
	defer cancel()
	created, err := r.docker.ContainerCreate(createCtx, cfg, host, nil, nil, "")
	switch {
	case err != nil:
		r.removeSecrets(secrets)
		err = r.callError(ctx, "create container", err)
		if errors.Is(err, ErrImageNotFound) && IsImageID(fn.Image) {
			err = imageNotHere(fn.Image)
		}
		return created, "", err
	case ctx.Err() != nil:
		r.removeLater(created.ID, secrets)
		return container.CreateResponse{}, "", r.callError(ctx, "create container", ctx.Err())
	}
	return created, secrets, nil
}

// callError turns a Docker failure while a container is prepared into the runner's
// errors. ctx is the preparation's context: its deadline is StartTimeout.
func (r *Runner) callError(ctx context.Context, op string, err error) error {
	if ctx.Err() != nil {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return fmt.Errorf("%w (%s)", ErrStartTimeout, op)
		}
		return ctx.Err()
	}
	return r.dockerError(op, err)
}
