package runner

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"math"
	"net"
	"net/http"
)

// Bounds of the head of an http-format function's answer, beyond its size in bytes
// (Options.MaxResponseHeadBytes). Parsed headers take far more memory than their bytes,
// so their number is bounded too, as Envoy (100) and HAProxy (101) bound it.
const (
	// MaxResponseHeaderFields caps the header lines of an answer, interim heads included.
	MaxResponseHeaderFields = 100
	// maxInterimResponses caps the 1xx heads (103 Early Hints, 100 Continue) before the
	// answer; Go's own HTTP client takes 5.
	maxInterimResponses = 5
)

// errHeadTooLarge: a function's response head went past MaxResponseHeadBytes or
// MaxResponseHeaderFields.
var errHeadTooLarge = errors.New("response head too large")

// headTooLarge is the function's failure to keep its response head within the bounds.
func (r *Runner) headTooLarge() *FunctionError {
	return &FunctionError{Reason: ReasonBadExit, Message: fmt.Sprintf(
		"function failed: its response head (status line and headers) is larger than %d bytes or has more than %d header fields",
		r.opts.MaxResponseHeadBytes, MaxResponseHeaderFields)}
}

// readResponse reads the answer to req: interim 1xx heads are skipped, and all heads
// together are at most max bytes and MaxResponseHeaderFields fields. br reads from lim.
// A status HTTP/1.1 gives no meaning to (under 100, over 599) or a switch of protocols is
// a broken protocol: the connection cannot serve another call.
func readResponse(br *bufio.Reader, lim *headLimiter, max int, req *http.Request) (*http.Response, error) {
	lim.left, lim.scan = max, headScan{}
	defer func() { lim.left, lim.scan.active = math.MaxInt, false }()
	for interim := 0; ; interim++ {
		// Count the fields of this head, starting with what the reader holds already.
		lim.scan.active, lim.scan.lines, lim.scan.inLine = true, 0, false
		if buffered, _ := br.Peek(br.Buffered()); lim.scan.feed(buffered) {
			return nil, errHeadTooLarge
		}
		resp, err := http.ReadResponse(br, req)
		if err != nil && lim.left <= 0 || lim.scan.tooMany() { // the error is whatever the parser made of the cut
			return nil, errHeadTooLarge
		}
		if err != nil {
			return nil, err
		}
		switch code := resp.StatusCode; {
		case code < 100 || code > 599 || code == http.StatusSwitchingProtocols:
			return nil, &FunctionError{Reason: ReasonBadExit, Message: fmt.Sprintf("function broke the http protocol: status %d", code)}
		case code >= 200:
			return resp, nil
		case interim == maxInterimResponses:
			return nil, &FunctionError{Reason: ReasonBadExit, Message: fmt.Sprintf("function broke the http protocol: more than %d interim (1xx) responses", maxInterimResponses)}
		}
	}
}

// headLimiter reads from a connection, no more than left bytes: while a response head is
// read, left is the bound of the head (less what the reader buffers ahead of it), and scan
// counts its fields, so a function cannot make Gantry hold more than that of headers in
// memory.
type headLimiter struct {
	conn net.Conn
	left int
	scan headScan
	got  int // bytes read since the request was sent: none means nothing was answered
}

func (l *headLimiter) Read(p []byte) (int, error) {
	if l.left <= 0 {
		return 0, errHeadTooLarge
	}
	if len(p) > l.left {
		p = p[:l.left]
	}
	n, err := l.conn.Read(p)
	l.left -= n
	l.got += n
	if l.scan.active && l.scan.feed(p[:n]) {
		return n, errHeadTooLarge
	}
	return n, err
}

// headScan counts the lines of response heads as their bytes go by, up to each head's
// empty line (what follows is a body, or a head not yet begun).
type headScan struct {
	active bool // within a head
	inLine bool // the current line has a byte other than '\r'
	lines  int  // lines of the current head ended so far
	fields int  // header lines of every head of the answer
}

// feed scans p; it reports whether the heads now have too many fields.
func (s *headScan) feed(p []byte) bool {
	for s.active && len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			s.inLine = s.inLine || len(bytes.Trim(p, "\r")) > 0
			return false
		}
		if s.inLine || len(bytes.Trim(p[:i], "\r")) > 0 {
			s.lines++
			if s.lines > 1 { // the first is the status line
				s.fields++
			}
			s.inLine = false
		} else {
			s.active = false // the empty line that ends the head
		}
		p = p[i+1:]
	}
	return s.tooMany()
}

func (s *headScan) tooMany() bool { return s.fields > MaxResponseHeaderFields }
