package runner

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"strconv"
	"syscall"
	"time"

	"github.com/docker/docker/api/types/container"
)

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

// callHTTP forwards the call to the container's HTTP server over the container's own
// keep-alive connection. The call holds the container, so it writes the request and
// reads the response itself: no transport goroutines, no hand-offs on the hot path.
func (r *Runner) callHTTP(ctx context.Context, c *hotContainer, call *Call) (*Result, error) {
	req, err := http.NewRequest(call.Method, "http://function"+call.URL, nil)
	if err != nil {
		return nil, fmt.Errorf("build request: %w", err)
	}
	req.Header = ForwardHeader(call.Header)
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
	if !reused { // a new connection: dialled and checked within the call's deadline
		dialCtx, cancel := context.WithDeadline(ctx, call.Deadline)
		err := r.dialHot(dialCtx, c)
		cancel()
		if err != nil {
			return nil, err
		}
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
		return nil, &FunctionError{Reason: ReasonBadExit, Message: "function broke the http protocol: its answer is not an HTTP/1.1 response"}
	case err != nil:
		return failed("read response", err)
	}
	body := newCappedBuffer(r.opts.MaxOutputBytes)
	_, err = io.Copy(body, resp.Body) // read to the end, so the connection can serve the next call
	_ = resp.Body.Close()
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
		_ = conn.Close()
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
	if info.State != nil && info.State.Running && httpAddr(info, c.network) == c.addr {
		return nil
	}
	return errors.New("connect to the function: its container is no longer at its address")
}

// httpAddr is the ip:port an http function's container serves on, on the Docker network
// (keyed by name), or "" when it has no address there.
func httpAddr(info container.InspectResponse, network string) string {
	if info.NetworkSettings == nil {
		return ""
	}
	if ep := info.NetworkSettings.Networks[network]; ep != nil && ep.IPAddress != "" {
		return net.JoinHostPort(ep.IPAddress, strconv.Itoa(hotPort))
	}
	return ""
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
		_ = c.conn.Close()
		c.conn = nil
	}
}
