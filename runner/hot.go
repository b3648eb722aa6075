package runner

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"strconv"
	"sync"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/docker/docker/api/types"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/pkg/stdcopy"

	"github.com/gantry-dev/gantry/store"
)

// hotContainer is a running container that serves calls one at a time.
type hotContainer struct {
	id       string
	format   string
	addr     string // ip:port of an http function
	hj       types.HijackedResponse
	stdout   *bufio.Reader // a json function's stdout
	exited   chan struct{} // closed when the container's streams end: it died
	lastUsed time.Time

	// An http function's keep-alive connection, used only by the call holding the container.
	conn net.Conn
	raw  syscall.RawConn // conn's socket, to peek at it between calls
	head headLimiter     // conn as br reads it: bounded while a response head is read
	br   *bufio.Reader
	bw   *bufio.Writer

	logMu sync.Mutex
	log   *cappedBuffer      // stderr (and an http function's stdout) of the current call
	late  func([]byte, bool) // receives what arrives after the last call answered
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

// startHot starts a container of the route and waits until it is ready for calls.
func (r *Runner) startHot(ctx context.Context, rt store.Route, appConfig map[string]string) (*hotContainer, error) {
	ctx, cancel := context.WithTimeout(ctx, r.opts.StartTimeout)
	defer cancel()
	created, err := r.createContainer(ctx, rt, routeEnv(rt, appConfig), "")
	if err != nil {
		return nil, err
	}
	c := &hotContainer{id: created.ID, format: rt.Format, exited: make(chan struct{}), log: newCappedBuffer(r.opts.MaxLogBytes)}
	ok := false
	defer func() {
		if !ok {
			r.destroyHot(c)
		}
	}()
	c.hj, err = r.docker.ContainerAttach(ctx, c.id, container.AttachOptions{Stream: true, Stdin: rt.Format == store.FormatJSON, Stdout: true, Stderr: true})
	if err != nil {
		close(c.exited) // no streams to wait for
		return nil, r.callError(ctx, "attach container", err)
	}
	var stdout io.Writer = logWriter{c}
	var stdoutPipe *io.PipeWriter
	if rt.Format == store.FormatJSON {
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
	if rt.Format == store.FormatHTTP {
		if err := r.waitHTTPReady(ctx, c, r.nets.dockerName(rt.Network)); err != nil {
			return nil, err
		}
	}
	ok = true
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
	ip := ""
	if info.NetworkSettings != nil {
		if ep := info.NetworkSettings.Networks[network]; ep != nil {
			ip = ep.IPAddress
		}
	}
	if ip == "" {
		return fmt.Errorf("container of an http function has no address on network %q", network)
	}
	c.addr = net.JoinHostPort(ip, strconv.Itoa(hotPort))
	var d net.Dialer
	for {
		conn, err := d.DialContext(ctx, "tcp", c.addr)
		if err == nil {
			conn.Close()
			if !c.alive() { // whoever answered has the address of a container that died
				return &FunctionError{Reason: store.ReasonBadExit, Message: "the function's container exited before it listened on $PORT"}
			}
			return nil // the first call's connection checks it is still there
		}
		select {
		case <-c.exited:
			return &FunctionError{Reason: store.ReasonBadExit, Message: "the function's container exited before it listened on $PORT"}
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return &FunctionError{Reason: store.ReasonBadExit, Message: fmt.Sprintf("the function did not listen on $PORT (%d) within %s", hotPort, r.opts.StartTimeout)}
			}
			return ctx.Err()
		case <-time.After(3 * time.Millisecond):
		}
	}
}

// destroyHot kills and removes a hot container in the background.
func (r *Runner) destroyHot(c *hotContainer) {
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
	}()
}

// runHot serves a call from the route's pool of hot containers.
func (r *Runner) runHot(ctx context.Context, call *Call) (*Result, error) {
	for {
		p := r.poolFor(call)
		c, err := p.acquire(ctx, call.Deadline)
		if errors.Is(err, errPoolDrained) {
			if r.closing.Load() {
				return nil, ErrShuttingDown
			}
			continue // the route changed while we waited: its new pool serves us
		}
		if err != nil {
			return nil, err
		}
		call.Deadline = time.Now().Add(time.Duration(call.Route.Timeout) * time.Second)
		res, healthy, err := r.callHot(ctx, c, call)
		err = r.stoppedBy(ctx, err)
		res.Ran = true
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
	if c.format == store.FormatHTTP {
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
	return res, false, &FunctionError{Reason: store.ReasonBadExit, Message: "function failed: " + err.Error()}
}

// diedMidCall explains the death of a hot container during a call.
func (r *Runner) diedMidCall(c *hotContainer) *FunctionError {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	info, err := r.docker.ContainerInspect(ctx, c.id)
	if err != nil || info.State == nil {
		return &FunctionError{Reason: store.ReasonBadExit, Message: "the function's container died during the call"}
	}
	return r.exitFailure(c.id, info.State.ExitCode)
}

// ---- http format ----

// answerHeader is a function's response headers as the caller gets them: canonical names,
// without those meant for one connection or the body's length (Gantry sets its own).
func answerHeader(h map[string][]string) http.Header {
	out := make(http.Header, len(h))
	for k, v := range h {
		out[http.CanonicalHeaderKey(k)] = v
	}
	for _, k := range hopHeaders {
		out.Del(k)
	}
	out.Del("Content-Length")
	return out
}

// errCallTimedOut: a hot call ran past its deadline.
var errCallTimedOut = errors.New("call timed out")

// hopHeaders are meaningful only for one connection and never forwarded.
var hopHeaders = []string{"Connection", "Keep-Alive", "Proxy-Authenticate", "Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade"}

// callHTTP forwards the call to the container's HTTP server over the container's own
// keep-alive connection. The call holds the container, so it writes the request and
// reads the response itself: no transport goroutines, no hand-offs on the hot path.
func (r *Runner) callHTTP(ctx context.Context, c *hotContainer, call *Call) (*Result, error) {
	req, err := http.NewRequest(call.Method, "http://function"+call.URL, nil)
	if err != nil {
		return nil, fmt.Errorf("build request: %w", err)
	}
	req.Header = forwardHeader(call.Header)
	req.Header.Set("Gantry-Call-Id", call.ID)
	req.Header.Set("Gantry-Deadline", call.Deadline.UTC().Format(time.RFC3339Nano))
	for k, v := range call.Params {
		req.Header.Set("Gantry-Param-"+k, v)
	}
	resp, err := r.roundTrip(ctx, c, req, call)
	if err != nil && errors.Is(err, errIdleConnClosed) && c.alive() && ctx.Err() == nil {
		resp, err = r.roundTrip(ctx, c, req, call) // the function closed an idle connection: once more, on a new one
	}
	if err != nil {
		return nil, err
	}
	return resp, nil
}

// errIdleConnClosed: a reused connection failed before any byte of the answer, as when
// the function's server closed it while idle (Node does after 5s). Nothing was processed.
var errIdleConnClosed = errors.New("the function closed the idle connection")

// roundTrip sends the request over the container's connection and reads the answer.
func (r *Runner) roundTrip(ctx context.Context, c *hotContainer, req *http.Request, call *Call) (*Result, error) {
	if c.conn != nil && !idleConnClean(c) {
		c.closeConn() // the function wrote past its last answer, or closed: never hand that to this call
	}
	reused := c.conn != nil
	dialCtx, cancel := context.WithDeadline(ctx, call.Deadline)
	err := r.dialHot(dialCtx, c)
	cancel()
	if err != nil {
		return nil, err
	}
	c.head.got = 0
	conn := c.conn
	_ = conn.SetDeadline(call.Deadline)
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) }) // cancelled: unblock now
	defer func() {
		if !stop() { // the cancel callback ran: the connection's deadline is spoiled
			c.closeConn()
		}
	}()
	if len(call.Body) > 0 {
		req.Body, req.ContentLength = io.NopCloser(bytes.NewReader(call.Body)), int64(len(call.Body))
	}
	failed := func(what string, err error) (*Result, error) {
		c.closeConn()
		// Sent again only when nothing came back on a reused connection, and the request
		// either never left or may be repeated: a function that took it may have acted on it.
		if reused && c.head.got == 0 && (what == "send request" || idempotent(req.Method)) && (errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)) {
			return nil, fmt.Errorf("%w: %s: %v", errIdleConnClosed, what, err)
		}
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	if err := req.Write(c.bw); err != nil {
		return failed("send request", err)
	}
	if err := c.bw.Flush(); err != nil {
		return failed("send request", err)
	}
	resp, err := readResponse(c.br, &c.head, r.opts.MaxResponseHeadBytes, req)
	var fe *FunctionError
	switch {
	case errors.Is(err, errHeadTooLarge):
		c.closeConn()
		return nil, r.headTooLarge()
	case errors.As(err, &fe):
		c.closeConn()
		return nil, fe
	case err != nil && !connError(err):
		// Not an answer: say so without echoing the bytes, which may not be this call's.
		c.closeConn()
		return nil, &FunctionError{Reason: store.ReasonBadExit, Message: "function broke the http protocol: its answer is not an HTTP/1.1 response"}
	case err != nil:
		return failed("read response", err)
	}
	body := newCappedBuffer(r.opts.MaxOutputBytes)
	_, err = io.Copy(body, resp.Body) // read to the end, so the connection can serve the next call
	resp.Body.Close()
	if err != nil || resp.Close {
		c.closeConn()
	}
	if err != nil {
		return nil, fmt.Errorf("read response: %w", err)
	}
	return &Result{Status: resp.StatusCode, Header: answerHeader(resp.Header), Body: body.Bytes(), OutputTruncated: body.truncated}, nil
}

// dialHot opens the container's connection if it has none. Docker gives a dead container's
// address to the next container it starts, so a connection counts only once the container
// is seen running at that address after it was made: whoever answered is then this container.
func (r *Runner) dialHot(ctx context.Context, c *hotContainer) error {
	if c.conn != nil {
		return nil
	}
	conn, err := (&net.Dialer{Timeout: 5 * time.Second}).DialContext(ctx, "tcp", c.addr)
	if err != nil {
		return fmt.Errorf("connect to the function: %w", err)
	}
	if err := r.stillAt(ctx, c); err != nil {
		conn.Close()
		return err
	}
	c.conn, c.head, c.raw = conn, headLimiter{conn: conn, left: math.MaxInt}, nil
	if sc, ok := conn.(syscall.Conn); ok {
		c.raw, _ = sc.SyscallConn()
	}
	c.br, c.bw = bufio.NewReaderSize(&c.head, 16<<10), bufio.NewWriterSize(conn, 16<<10)
	return nil
}

// stillAt checks that the container is running and has its address c.addr.
func (r *Runner) stillAt(ctx context.Context, c *hotContainer) error {
	if !c.alive() {
		return errors.New("connect to the function: its container exited")
	}
	info, err := r.docker.ContainerInspect(ctx, c.id)
	if err != nil {
		return r.callError(ctx, "inspect container", err)
	}
	if info.State != nil && info.State.Running && info.NetworkSettings != nil {
		for _, ep := range info.NetworkSettings.Networks {
			if ep != nil && ep.IPAddress != "" && net.JoinHostPort(ep.IPAddress, strconv.Itoa(hotPort)) == c.addr {
				return nil
			}
		}
	}
	return errors.New("connect to the function: its container is no longer at its address")
}

// idempotent reports the methods a call may be sent twice with (RFC 9110, 9.2.2).
func idempotent(method string) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace, http.MethodPut, http.MethodDelete:
		return true
	}
	return false
}

// connError reports an error of the connection (closed, reset, timed out), as opposed to
// bytes that are no HTTP answer.
func connError(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) || errors.Is(err, net.ErrClosed)
}

func (c *hotContainer) closeConn() {
	if c.conn != nil {
		c.conn.Close()
		c.conn = nil
	}
}

// ---- json format ----

// jsonRequest and jsonResponse are the envelopes of the json format, one per line.
type jsonRequest struct {
	CallID       string              `json:"call_id"`
	Method       string              `json:"method"`
	URL          string              `json:"url"`
	Headers      map[string][]string `json:"headers"`
	Params       map[string]string   `json:"params,omitempty"`
	Deadline     string              `json:"deadline"`
	Body         string              `json:"body"`
	BodyEncoding string              `json:"body_encoding,omitempty"`
}

type jsonResponse struct {
	Status       int             `json:"status"`
	Headers      json.RawMessage `json:"headers"` // decoded once its size is checked
	Body         string          `json:"body"`
	BodyEncoding string          `json:"body_encoding"`
}

// callJSON writes the request envelope on the container's stdin and reads one response
// envelope line from its stdout.
func (r *Runner) callJSON(ctx context.Context, c *hotContainer, call *Call) (*Result, error) {
	env := jsonRequest{CallID: call.ID, Method: call.Method, URL: call.URL, Headers: call.Header, Params: call.Params,
		Deadline: call.Deadline.UTC().Format(time.RFC3339Nano)}
	if utf8.Valid(call.Body) {
		env.Body = string(call.Body)
	} else {
		env.Body, env.BodyEncoding = base64.StdEncoding.EncodeToString(call.Body), "base64"
	}
	line, err := json.Marshal(env)
	if err != nil {
		return nil, fmt.Errorf("encode request envelope: %w", err)
	}
	if c.stdout.Buffered() > 0 {
		return nil, &FunctionError{Reason: store.ReasonBadExit, Message: "function broke the json protocol: it wrote to stdout between calls"}
	}
	type answer struct {
		line []byte
		err  error
	}
	done := make(chan answer, 1)
	maxLine := 2*r.opts.MaxOutputBytes + r.opts.MaxResponseHeadBytes // a base64 body plus the head
	go func() {
		if _, err := c.hj.Conn.Write(append(line, '\n')); err != nil {
			done <- answer{err: fmt.Errorf("write request envelope: %w", err)}
			return
		}
		l, err := readLine(c.stdout, maxLine)
		done <- answer{l, err}
	}()
	timer := time.NewTimer(time.Until(call.Deadline))
	defer timer.Stop()
	var a answer
	select {
	case a = <-done:
	case <-timer.C:
		r.kill(c.id) // ends the reader above; the container is replaced
		return nil, errCallTimedOut
	case <-ctx.Done():
		r.kill(c.id)
		return nil, ctx.Err()
	}
	if a.err != nil {
		return nil, a.err
	}
	var out jsonResponse
	if err := json.Unmarshal(a.line, &out); err != nil {
		return nil, &FunctionError{Reason: store.ReasonBadExit, Message: fmt.Sprintf("function broke the json protocol: invalid response envelope: %v", err)}
	}
	// The headers are decoded only within the head's bounds, as those of the http format.
	if len(out.Headers) > r.opts.MaxResponseHeadBytes {
		return nil, r.headTooLarge()
	}
	var headers map[string][]string
	if len(out.Headers) > 0 {
		if err := json.Unmarshal(out.Headers, &headers); err != nil {
			return nil, &FunctionError{Reason: store.ReasonBadExit, Message: fmt.Sprintf("function broke the json protocol: invalid headers: %v", err)}
		}
	}
	if size, fields := headSize(headers); size > r.opts.MaxResponseHeadBytes || fields > MaxResponseHeaderFields {
		return nil, r.headTooLarge()
	}
	body := []byte(out.Body)
	if out.BodyEncoding == "base64" {
		if body, err = base64.StdEncoding.DecodeString(out.Body); err != nil {
			return nil, &FunctionError{Reason: store.ReasonBadExit, Message: "function broke the json protocol: body is not base64"}
		}
	}
	capped := newCappedBuffer(r.opts.MaxOutputBytes)
	capped.Write(body)
	if out.Status == 0 {
		out.Status = http.StatusOK
	}
	if out.Status < 200 || out.Status > 599 {
		return nil, &FunctionError{Reason: store.ReasonBadExit, Message: fmt.Sprintf("function broke the json protocol: status %d", out.Status)}
	}
	return &Result{Status: out.Status, Header: answerHeader(headers), Body: capped.Bytes(), OutputTruncated: capped.truncated}, nil
}

// headSize is the size of headers as a response head carries them ("Name: value\r\n"),
// and their number of fields; a name without values counts as one empty field.
func headSize(h map[string][]string) (size, fields int) {
	for k, vs := range h {
		size, fields = size+len(k)+4, fields+max(len(vs), 1)
		for i, v := range vs {
			size += len(v) + min(i, 1)*(len(k)+4)
		}
	}
	return size, fields
}

// readLine reads up to and without the next '\n', failing on lines longer than max.
func readLine(rd *bufio.Reader, max int) ([]byte, error) {
	var line []byte
	for {
		chunk, err := rd.ReadSlice('\n')
		line = append(line, chunk...)
		if len(line) > max {
			return nil, &FunctionError{Reason: store.ReasonBadExit, Message: fmt.Sprintf("function broke the json protocol: response line longer than %d bytes", max)}
		}
		if err == nil {
			return bytes.TrimRight(line, "\r\n"), nil
		}
		if !errors.Is(err, bufio.ErrBufferFull) {
			return nil, fmt.Errorf("read response envelope: %w", err)
		}
	}
}
