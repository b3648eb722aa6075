package main

// This file holds the server under test: a `gantry server` process on loopback ports,
// found through its --ready-file, with the generated API client of its admin.

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	httptransport "github.com/go-openapi/runtime/client"
	"github.com/go-openapi/strfmt"

	"github.com/gantry-dev/gantry/gen/client"
	"github.com/gantry-dev/gantry/internal/readyfile"
)

// asyncWorkers is the server's async concurrency in the benchmark: twice the cores here.
const asyncWorkers = 4

// readyWithin is how long a server may take to bind its listeners.
const readyWithin = 30 * time.Second

type gantryServer struct {
	cmd      *exec.Cmd
	exited   chan struct{} // closed once the process has exited
	logFile  *os.File      // the server's stderr, in dir
	addr     string
	instance string
	dir      string
	gateway  string         // the gateway's plain HTTP listener
	token    string         // the admin token
	api      *client.Gantry // the management API, with the admin token the server wrote to dir
}

// startGantry starts `gantry server` with its data in a new temporary directory, on free
// loopback ports, and waits for its ready file.
func startGantry(ctx context.Context, bin string, extra ...string) (*gantryServer, error) {
	return startNode(ctx, bin, "", extra...)
}

// startNode is startGantry for a node that joins a shared store: token is the admin token
// the first node made ("": the one this server writes to its data dir).
func startNode(ctx context.Context, bin, token string, extra ...string) (*gantryServer, error) {
	dir, err := os.MkdirTemp("", "gantry-bench-")
	if err != nil {
		return nil, err
	}
	readyFile := filepath.Join(dir, "ready.json")
	// Every execution is kept: the backlog check counts them all.
	args := append([]string{"server", "--addr", "127.0.0.1:0", "--data-dir", dir, "--async-workers", strconv.Itoa(asyncWorkers), "--keep-executions", "-1",
		"--gateway-addr", "127.0.0.1:0", "--gateway-tls-addr", "127.0.0.1:0", "--ready-file", readyFile}, extra...)
	s := &gantryServer{dir: dir, cmd: exec.Command(bin, args...), exited: make(chan struct{})}
	if s.logFile, err = os.Create(filepath.Join(dir, "server.log")); err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	s.cmd.Stderr = s.logFile
	if err := s.cmd.Start(); err != nil {
		_ = s.logFile.Close()
		_ = os.RemoveAll(dir)
		return nil, fmt.Errorf("start %s (run make build first): %w", bin, err)
	}
	waitCtx, exited := context.WithCancelCause(ctx)
	go func() {
		err := s.cmd.Wait()
		exited(fmt.Errorf("gantry exited before it was ready (%v)", err))
		close(s.exited)
	}()
	waitCtx, cancel := context.WithTimeoutCause(waitCtx, readyWithin, fmt.Errorf("gantry was not ready within %s", readyWithin))
	defer cancel()
	info, err := readyfile.Wait(waitCtx, readyFile)
	if err != nil {
		log := s.logTail()
		s.kill()
		return nil, fmt.Errorf("%w; its log ends:\n%s", err, log)
	}
	s.addr, s.instance = info.Addr, info.Instance
	var ok bool
	if s.gateway, ok = info.GatewayAddr(false); !ok {
		s.kill()
		return nil, errors.New("the ready file names no plain gateway listener")
	}
	if token == "" {
		b, err := os.ReadFile(filepath.Join(dir, "admin.token"))
		if err != nil {
			s.stop()
			return nil, fmt.Errorf("read the admin token: %w", err)
		}
		token = strings.TrimSpace(string(b))
	}
	s.token = token
	s.api = newAPIClient(s.addr, token)
	return s, nil
}

// newAPIClient is the generated client of the management API at addr, as token; its
// connections are its own, apart from those of the measured calls.
func newAPIClient(addr, token string) *client.Gantry {
	transport := httptransport.NewWithClient(addr, client.DefaultBasePath, []string{"http"}, &http.Client{Timeout: time.Minute})
	transport.SetDebug(false) // go-openapi's DEBUG=1 would print the bearer token
	transport.DefaultAuthentication = httptransport.BearerToken(token)
	return client.New(transport, strfmt.Default)
}

// stop shuts the server down (SIGTERM, which removes its containers) and removes its data.
func (s *gantryServer) stop() {
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	<-s.exited
	s.cleanUp()
}

// kill ends a server that never became ready.
func (s *gantryServer) kill() {
	_ = s.cmd.Process.Kill()
	<-s.exited
	s.cleanUp()
}

func (s *gantryServer) cleanUp() {
	_ = s.logFile.Close()
	_ = os.RemoveAll(s.dir)
}

// logTail is the end of the server's log, for an error message.
func (s *gantryServer) logTail() string {
	b, _ := os.ReadFile(s.logFile.Name())
	const keep = 4 << 10
	if len(b) > keep {
		b = b[len(b)-keep:]
	}
	return string(b)
}

// rss is the server's resident memory in bytes.
func (s *gantryServer) rss() (int64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", s.cmd.Process.Pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) == 3 && f[0] == "VmRSS:" {
			kb, err := strconv.ParseInt(f[1], 10, 64)
			return kb << 10, err
		}
	}
	return 0, fmt.Errorf("no VmRSS")
}
