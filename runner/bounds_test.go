package runner

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// endlessHead is a function's side of a connection that answers with a response head
// that never ends, counting what it sent.
type endlessHead struct {
	net.Conn
	sent int
}

func (e *endlessHead) Read(p []byte) (int, error) {
	const start = "HTTP/1.1 200 OK\r\nX-Pad: " // one header whose value never ends: bytes, not fields
	for i := range p {
		if at := e.sent + i; at < len(start) {
			p[i] = start[at]
		} else {
			p[i] = 'p'
		}
	}
	e.sent += len(p)
	return len(p), nil
}

// TestResponseHeadIsReadWithinItsBound: however long a head a function sends, Gantry reads
// no more than the bound of it off the connection, and says the head was too large.
func TestResponseHeadIsReadWithinItsBound(t *testing.T) {
	const bound = 64 << 10
	conn := &endlessHead{}
	lim := &headLimiter{conn: conn}
	req, _ := http.NewRequest("GET", "http://function/", nil)
	_, err := readResponse(bufio.NewReaderSize(lim, 16<<10), lim, bound, req)
	if !errors.Is(err, errHeadTooLarge) {
		t.Fatalf("endless head: %v, want errHeadTooLarge", err)
	}
	if conn.sent > bound {
		t.Fatalf("read %d bytes of the head, bound %d", conn.sent, bound)
	}
	// A head just under the bound, and its body, are read whole.
	head := "HTTP/1.1 200 OK\r\nX-Pad: " + strings.Repeat("p", bound-64) + "\r\nContent-Length: 2\r\n\r\nok"
	lim = &headLimiter{conn: fakeConn{strings.NewReader(head)}}
	resp, err := readResponse(bufio.NewReaderSize(lim, 16<<10), lim, bound, req)
	if err != nil {
		t.Fatalf("a head within the bound: %v", err)
	}
	if body, err := io.ReadAll(resp.Body); err != nil || string(body) != "ok" {
		t.Fatalf("body after a head within the bound: %q %v", body, err)
	}
}

// TestResponseHeadsAreParsedWithinBounds: interim heads are skipped, the fields of all heads
// are bounded (many tiny headers cost more memory than their bytes), lines of a body are
// not taken for fields, and statuses HTTP/1.1 gives no meaning to are refused.
func TestResponseHeadsAreParsedWithinBounds(t *testing.T) {
	fields := func(n int) string { return strings.Repeat("A: b\r\n", n) }
	tests := []struct {
		name, stream string
		status       int    // of the answer, when it is read
		body         string // of the answer
		err          string // what the error says, when it is not
	}{
		{"an answer is read", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", 200, "ok", ""},
		{"an early hint before it is skipped",
			"HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok", 201, "ok", ""},
		{"five interim heads are skipped",
			strings.Repeat("HTTP/1.1 100 Continue\r\n\r\n", 5) + "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", 200, "ok", ""},
		{"a sixth is a broken protocol", strings.Repeat("HTTP/1.1 100 Continue\r\n\r\n", 6) + "HTTP/1.1 200 OK\r\n\r\n", 0, "", "interim"},
		{"a switch of protocols is a broken protocol", "HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n\r\n", 0, "", "status 101"},
		{"a status under 100 is a broken protocol", "HTTP/1.1 099 Odd\r\nContent-Length: 0\r\n\r\n", 0, "", "status 99"},
		{"a status over 599 is a broken protocol", "HTTP/1.1 600 Odd\r\nContent-Length: 0\r\n\r\n", 0, "", "status 600"},
		{"100 fields are read", "HTTP/1.1 200 OK\r\n" + fields(99) + "Content-Length: 2\r\n\r\nok", 200, "ok", ""},
		{"101 fields are too many", "HTTP/1.1 200 OK\r\n" + fields(100) + "Content-Length: 2\r\n\r\nok", 0, "", errHeadTooLarge.Error()},
		{"10,000 tiny fields within the byte bound are too many", "HTTP/1.1 200 OK\r\n" + fields(10000) + "\r\n", 0, "", errHeadTooLarge.Error()},
		{"fields of interim heads count", "HTTP/1.1 103 Early Hints\r\n" + fields(60) + "\r\nHTTP/1.1 200 OK\r\n" + fields(41) + "\r\n", 0, "", errHeadTooLarge.Error()},
		{"lines of a body are not fields",
			"HTTP/1.1 200 OK\r\nContent-Length: 1200\r\n\r\n" + fields(200), 200, fields(200), ""},
		{"a head near the bound with a body read along is within the bound",
			"HTTP/1.1 200 OK\r\nX-Pad: " + strings.Repeat("p", 60<<10) + "\r\nContent-Length: 10240\r\n\r\n" + strings.Repeat("b", 10240),
			200, strings.Repeat("b", 10240), ""},
	}
	req, _ := http.NewRequest("GET", "http://function/", nil)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lim := &headLimiter{conn: fakeConn{strings.NewReader(tt.stream)}}
			resp, err := readResponse(bufio.NewReaderSize(lim, 16<<10), lim, 64<<10, req)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("readResponse = %v, want an error about %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("readResponse: %v", err)
			}
			body, err := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.status || err != nil || string(body) != tt.body {
				t.Fatalf("answer %d %.80q (%d bytes) %v, want %d %.80q", resp.StatusCode, body, len(body), err, tt.status, tt.body)
			}
		})
	}
}

type fakeConn struct{ r *strings.Reader }

func (f fakeConn) Read(p []byte) (int, error)     { return f.r.Read(p) }
func (fakeConn) Write(p []byte) (int, error)      { return len(p), nil }
func (fakeConn) Close() error                     { return nil }
func (fakeConn) LocalAddr() net.Addr              { return nil }
func (fakeConn) RemoteAddr() net.Addr             { return nil }
func (fakeConn) SetDeadline(time.Time) error      { return nil }
func (fakeConn) SetReadDeadline(time.Time) error  { return nil }
func (fakeConn) SetWriteDeadline(time.Time) error { return nil }

// TestHotFunctionWithAnOversizedHead: an answer whose head is over a bound (its bytes or its
// number of fields) fails the call as the function's (502), in both hot formats, and its
// container is replaced; a head within the bounds is served.
func TestHotFunctionWithAnOversizedHead(t *testing.T) {
	t.Parallel()
	r := newTestRunner(t, Options{})
	bounds := []struct {
		name, within, withinHeader, over, says string
	}{
		{"bytes", `{"header_bytes":32768}`, "X-Pad-31", `{"header_bytes":1048576}`, "response head"},
		{"fields", `{"header_count":80}`, "X-H-79", fmt.Sprintf(`{"header_count":%d}`, MaxResponseHeaderFields+1), "header fields"},
	}
	for _, b := range bounds {
		for _, format := range []string{FormatHTTP, FormatJSON} {
			t.Run(b.name+"/"+format, func(t *testing.T) {
				t.Parallel()
				rt := testRoute(format, func(rt *Function) { rt.Path = "/" + b.name + "-" + format })
				res, err := r.Run(context.Background(), testCall(rt, b.within))
				if err != nil || res.Header.Get(b.withinHeader) == "" {
					t.Fatalf("a head within the bound (%s): %v, headers %d", b.within, err, len(res.Header))
				}
				first := res.Header.Get("X-Container-Id")
				_, err = r.Run(context.Background(), testCall(rt, b.over))
				var fe *FunctionError
				if !errors.As(err, &fe) || !strings.Contains(fe.Message, b.says) {
					t.Fatalf("a head over the bound (%s): %v, want a FunctionError about the %s", b.over, err, b.says)
				}
				res, err = r.Run(context.Background(), testCall(rt, `{"name":"next"}`))
				if err != nil || string(res.Body) != "Hello next!" {
					t.Fatalf("the call after: %q %v", res.Body, err)
				}
				if next := res.Header.Get("X-Container-Id"); next == first || next == "" {
					t.Fatalf("the container that sent an oversized head served again (%q)", next)
				}
			})
		}
	}
}

// TestHotFunctionWithEarlyHints: interim 1xx responses of an http-format function are not
// its answer; the answer that follows is, and the next call gets its own. More interim
// responses than the bound break the protocol: 502 and a new container.
func TestHotFunctionWithEarlyHints(t *testing.T) {
	t.Parallel()
	r := newTestRunner(t, Options{})
	rt := testRoute(FormatHTTP, nil)
	res, err := r.Run(context.Background(), testCall(rt, `{"interim":[103,103],"name":"hinted"}`))
	if err != nil || res.Status != 200 || string(res.Body) != "Hello hinted!" {
		t.Fatalf("a call answered after two early hints: %v %+v", err, res)
	}
	first := res.Header.Get("X-Container-Id")
	res, err = r.Run(context.Background(), testCall(rt, `{"name":"next"}`))
	if err != nil || string(res.Body) != "Hello next!" || res.Header.Get("X-Container-Id") != first {
		t.Fatalf("the next call on the same container: %v %q from %q (before: %q)", err, res.Body, res.Header.Get("X-Container-Id"), first)
	}
	_, err = r.Run(context.Background(), testCall(rt, `{"interim":[103,103,103,103,103,103]}`))
	var fe *FunctionError
	if !errors.As(err, &fe) || !strings.Contains(fe.Message, "interim") {
		t.Fatalf("six early hints: %v, want a FunctionError about interim responses", err)
	}
	res, err = r.Run(context.Background(), testCall(rt, `{"name":"after"}`))
	if err != nil || string(res.Body) != "Hello after!" || res.Header.Get("X-Container-Id") == first {
		t.Fatalf("the call after: %v %q from %q (before: %q)", err, res.Body, res.Header.Get("X-Container-Id"), first)
	}
}

func TestCallEnvBounds(t *testing.T) {
	big := strings.Repeat("h", MaxHeaderEnvBytes)
	tests := []struct {
		name   string
		url    string
		params map[string]string
		header http.Header
		want   error
	}{
		{"ordinary headers fit", "/fn?x=1", nil, http.Header{"Accept": {"*/*"}, "X-Many": {"a", "b"}}, nil},
		{"one header of 128 KiB does not", "/fn", nil, http.Header{"X-Big": {strings.Repeat("h", 128<<10)}}, ErrHeadersTooLarge},
		{"headers that add up past the bound do not", "/fn", nil, http.Header{"X-A": {big[:MaxHeaderEnvBytes/2]}, "X-B": {big[:MaxHeaderEnvBytes/2]}}, ErrHeadersTooLarge},
		{"a URL of 16 KiB fits", "/" + strings.Repeat("u", MaxURLEnvBytes-1), nil, nil, nil},
		{"a longer URL does not", "/" + strings.Repeat("u", MaxURLEnvBytes), nil, nil, ErrURLTooLong},
		{"a URL of 16 KiB that is all one parameter fits",
			"/" + strings.Repeat("u", MaxURLEnvBytes-1), map[string]string{"rest": strings.Repeat("u", MaxURLEnvBytes-1)}, nil, nil},
		// The gateway passes the parameters apart from a short URL: they are bounded too.
		{"a parameter of 200 KiB beside a short URL does not", "/", map[string]string{"id": strings.Repeat("p", 200<<10)}, nil, ErrURLTooLong},
		{"parameters that add up past the bound do not", "/",
			map[string]string{"a": strings.Repeat("p", MaxParamEnvBytes/2), "b": strings.Repeat("p", MaxParamEnvBytes/2+1)}, nil, ErrURLTooLong},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := CheckCallEnv(tt.url, tt.params, tt.header); !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Fatalf("CheckCallEnv = %v, want %v", err, tt.want)
			}
		})
	}
}
