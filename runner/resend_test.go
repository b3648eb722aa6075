package runner

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/network"
)

// The rule of re-sending a hot http call lives in roundTrip (hothttp.go): a call is sent
// again on a new connection only when the function closed the kept-alive connection it
// went over before any byte of an answer, and the request either never left or may be
// repeated (an idempotent method). These tests need no Docker daemon: the function is a
// server on a loopback address, and a fake Docker shows the container running there.

// runningAt is a Docker that shows every container running at ip on network.
type runningAt struct {
	Docker
	ip, network string
}

func (d runningAt) ContainerInspect(context.Context, string) (container.InspectResponse, error) {
	return container.InspectResponse{
		ContainerJSONBase: &container.ContainerJSONBase{State: &container.State{Running: true}},
		NetworkSettings:   &container.NetworkSettings{Networks: map[string]*network.EndpointSettings{d.network: {IPAddress: d.ip}}},
	}, nil
}

// scriptedFunction serves HTTP on ip:hotPort; how it treats each request is its script's,
// by connection and request number (from 0).
type scriptedFunction struct {
	ln     net.Listener
	script func(conn, req int) string // "answer", "take and close" or "begin and close"
	mu     sync.Mutex
	conns  int
	seen   []string // the methods of the requests it read
}

func startScriptedFunction(t *testing.T, script func(conn, req int) string) (*scriptedFunction, string) {
	t.Helper()
	var ln net.Listener
	var ip string
	for range 20 { // the hot port on a loopback address of its own
		ip = fmt.Sprintf("127.%d.%d.%d", rand.IntN(250)+1, rand.IntN(250)+1, rand.IntN(250)+1)
		var err error
		if ln, err = net.Listen("tcp", net.JoinHostPort(ip, strconv.Itoa(hotPort))); err == nil {
			break
		}
	}
	if ln == nil {
		t.Skip("no loopback address free on the hot port")
	}
	f := &scriptedFunction{ln: ln, script: script}
	t.Cleanup(func() { _ = ln.Close() })
	go f.accept()
	return f, ip
}

func (f *scriptedFunction) accept() {
	for {
		conn, err := f.ln.Accept()
		if err != nil {
			return
		}
		f.mu.Lock()
		n := f.conns
		f.conns++
		f.mu.Unlock()
		go f.serve(conn, n)
	}
}

func (f *scriptedFunction) serve(conn net.Conn, n int) {
	defer conn.Close()
	br := bufio.NewReader(conn)
	for i := 0; ; i++ {
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		_, _ = io.Copy(io.Discard, req.Body)
		f.mu.Lock()
		f.seen = append(f.seen, req.Method)
		f.mu.Unlock()
		switch f.script(n, i) {
		case "take and close":
			return
		case "begin and close":
			_, _ = io.WriteString(conn, "HTTP/1.1 200 OK\r\n")
			return
		default:
			_, _ = io.WriteString(conn, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
		}
	}
}

func (f *scriptedFunction) counts() (conns int, seen []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.conns, append([]string(nil), f.seen...)
}

func TestHotCallsAreSentAgainOnlyWhenThatIsSafe(t *testing.T) {
	tests := []struct {
		name      string
		method    string
		prime     bool   // a call answered before, so this one goes over a kept-alive connection
		then      string // what the function does with this call on that connection
		wantOK    bool
		wantConns int
	}{
		{"a GET the function took and dropped on a kept-alive connection is sent again on a new one", "GET", true, "take and close", true, 2},
		{"a PUT, idempotent, is sent again", "PUT", true, "take and close", true, 2},
		{"a DELETE, idempotent, is sent again", "DELETE", true, "take and close", true, 2},
		{"a HEAD, idempotent, is sent again", "HEAD", true, "take and close", true, 2},
		{"a POST is not sent again: the function may have acted on it", "POST", true, "take and close", false, 1},
		{"a PATCH is not sent again", "PATCH", true, "take and close", false, 1},
		{"a GET whose answer had begun is not sent again", "GET", true, "begin and close", false, 1},
		{"a GET dropped on a new connection is not sent again", "GET", false, "take and close", false, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			first := 0 // the request number of the call under test on the first connection
			if tt.prime {
				first = 1
			}
			f, ip := startScriptedFunction(t, func(conn, req int) string {
				if conn == 0 && req == first {
					return tt.then
				}
				return "answer"
			})
			r := &Runner{docker: runningAt{ip: ip, network: "fnnet"}}
			r.opts.applyDefaults()
			c := &hotContainer{id: "fn", format: FormatHTTP, addr: net.JoinHostPort(ip, strconv.Itoa(hotPort)), network: "fnnet",
				exited: make(chan struct{}), log: newCappedBuffer(1024)}
			t.Cleanup(c.closeConn)
			call := func(method string) (*Result, error) {
				return r.callHTTP(t.Context(), c, &Call{ID: "c", Function: Function{Format: FormatHTTP, Timeout: 5 * time.Second},
					Method: method, URL: "/fn", Header: http.Header{}, Body: []byte("x"), Deadline: time.Now().Add(5 * time.Second)})
			}
			if tt.prime {
				if _, err := call("GET"); err != nil || c.conn == nil {
					t.Fatalf("the first call: %v (kept alive: %v)", err, c.conn != nil)
				}
			}
			res, err := call(tt.method)
			if tt.wantOK != (err == nil) {
				t.Fatalf("call: %v, want ok=%v", err, tt.wantOK)
			}
			if err == nil && tt.method != "HEAD" && string(res.Body) != "ok" {
				t.Fatalf("answer %q, want the new connection's", res.Body)
			}
			if err != nil && errors.Is(err, errIdleConnClosed) {
				t.Fatalf("a call not sent again reports %v", err)
			}
			conns, seen := f.counts()
			sent := 0
			for _, m := range seen[first:] {
				if m == tt.method {
					sent++
				}
			}
			if conns != tt.wantConns || sent != tt.wantConns {
				t.Fatalf("%d connections and %d %s requests (%v), want %d of each", conns, sent, tt.method, seen, tt.wantConns)
			}
		})
	}
}

func TestIdempotentMethods(t *testing.T) {
	for method, want := range map[string]bool{"GET": true, "HEAD": true, "OPTIONS": true, "TRACE": true, "PUT": true, "DELETE": true,
		"POST": false, "PATCH": false, "CONNECT": false, "BREW": false} {
		if got := idempotent(method); got != want {
			t.Errorf("idempotent(%s) = %v, want %v", method, got, want)
		}
	}
}
