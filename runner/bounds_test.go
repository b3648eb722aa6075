package runner

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/store"
)

// endlessHead is a function's side of a connection that answers with a response head
// that never ends, counting what it sent.
type endlessHead struct {
	net.Conn
	sent int
}

func (e *endlessHead) Read(p []byte) (int, error) {
	const start, line = "HTTP/1.1 200 OK\r\n", "X-Pad: pppppppppppppppppppppppppppppppppppppppppppppppppppppp\r\n"
	for i := range p {
		if at := e.sent + i; at < len(start) {
			p[i] = start[at]
		} else {
			p[i] = line[(at-len(start))%len(line)]
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

type fakeConn struct{ r *strings.Reader }

func (f fakeConn) Read(p []byte) (int, error)     { return f.r.Read(p) }
func (fakeConn) Write(p []byte) (int, error)      { return len(p), nil }
func (fakeConn) Close() error                     { return nil }
func (fakeConn) LocalAddr() net.Addr              { return nil }
func (fakeConn) RemoteAddr() net.Addr             { return nil }
func (fakeConn) SetDeadline(time.Time) error      { return nil }
func (fakeConn) SetReadDeadline(time.Time) error  { return nil }
func (fakeConn) SetWriteDeadline(time.Time) error { return nil }

// TestHotFunctionWithAHugeHead: an answer whose head is over the bound fails the call as the
// function's (502), and its container is replaced; a head within the bound is served.
func TestHotFunctionWithAHugeHead(t *testing.T) {
	t.Parallel()
	r := newTestRunner(t, Options{})
	for _, format := range []string{store.FormatHTTP, store.FormatJSON} {
		t.Run(format, func(t *testing.T) {
			t.Parallel()
			rt := testRoute(format, func(rt *store.Route) { rt.Path = "/" + format })
			res, err := r.Run(context.Background(), testCall(rt, `{"header_bytes":32768}`))
			if err != nil || res.Header.Get("X-Pad-31") == "" {
				t.Fatalf("a 32 KiB head: %v, headers %d", err, len(res.Header))
			}
			first := res.Header.Get("X-Container-Id")
			_, err = r.Run(context.Background(), testCall(rt, `{"header_bytes":1048576}`))
			var fe *FunctionError
			if !errors.As(err, &fe) || !strings.Contains(fe.Message, "response head") {
				t.Fatalf("a 1 MiB head: %v, want a FunctionError about the response head", err)
			}
			res, err = r.Run(context.Background(), testCall(rt, `{"name":"next"}`))
			if err != nil || string(res.Body) != "Hello next!" {
				t.Fatalf("the call after: %q %v", res.Body, err)
			}
			if next := res.Header.Get("X-Container-Id"); next == first || next == "" {
				t.Fatalf("the container that sent a huge head served again (%q)", next)
			}
		})
	}
}

func TestCallEnvBounds(t *testing.T) {
	big := strings.Repeat("h", MaxHeaderEnvBytes)
	tests := []struct {
		name   string
		url    string
		header http.Header
		want   error
	}{
		{"ordinary headers fit", "/fn?x=1", http.Header{"Accept": {"*/*"}, "X-Many": {"a", "b"}}, nil},
		{"one header of 128 KiB does not", "/fn", http.Header{"X-Big": {strings.Repeat("h", 128<<10)}}, ErrHeadersTooLarge},
		{"headers that add up past the bound do not", "/fn", http.Header{"X-A": {big[:MaxHeaderEnvBytes/2]}, "X-B": {big[:MaxHeaderEnvBytes/2]}}, ErrHeadersTooLarge},
		{"a URL of 16 KiB fits", "/" + strings.Repeat("u", MaxURLEnvBytes-1), nil, nil},
		{"a longer URL does not", "/" + strings.Repeat("u", MaxURLEnvBytes), nil, ErrURLTooLong},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := checkCallEnv(tt.url, tt.header); !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Fatalf("checkCallEnv = %v, want %v", err, tt.want)
			}
		})
	}
}
