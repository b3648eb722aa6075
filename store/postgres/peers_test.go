package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/pgtest"
	"github.com/gantry-dev/gantry/store"
	"github.com/gantry-dev/gantry/store/storetest"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Several nodes on one database: the storetest cases of peers, and what only PostgreSQL
// can show (a lost listener connection, a database that went away).

func TestPeers(t *testing.T) {
	storetest.RunPeers(t, func(t *testing.T) (store.Store, store.Store) {
		dsn := pgtest.Schema(t)
		return openTest(t, dsn, "node-a"), openTest(t, dsn, "node-b")
	})
}

func pgErr(code string) error { return fmt.Errorf("query: %w", &pgconn.PgError{Code: code}) }

// heard collects the changes a subscriber hears.
type heard struct {
	mu      sync.Mutex
	changes []store.Change
}

func (h *heard) add(c store.Change) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.changes = append(h.changes, c)
}

func (h *heard) count(c store.Change) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, x := range h.changes {
		if x == c {
			n++
		}
	}
	return n
}

// waitFor polls cond for up to d.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, d)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestALostListenerReconnectsAndResetsTheCaches(t *testing.T) {
	dsn := pgtest.Schema(t)
	nodeB := "node-b-" + randomHex(4) // its listener's application_name is this test's alone
	a, b := openTest(t, dsn, "node-a"), openTest(t, dsn, nodeB)
	var h heard
	defer b.Subscribe(h.add)()

	conn, err := pgx.Connect(t.Context(), pgtest.URL(t))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var killed int
	if err := conn.QueryRow(t.Context(), `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE application_name = $1`, "gantry-listen "+nodeB).Scan(&killed); err != nil || killed != 1 {
		t.Fatalf("killed %d listener connections (%v), want 1", killed, err)
	}
	mustCreateApp(t, a, "during") // likely committed while node b does not listen
	waitFor(t, 5*time.Second, "node b's subscribers hear a reset", func() bool {
		return h.count(store.Change{Kind: store.ChangeReset}) == 1
	})
	waitFor(t, time.Second, "node b's route index knows the app made while it did not listen", func() bool {
		_, err := b.AppID("during")
		return err == nil
	})
	mustCreateApp(t, a, "after")
	waitFor(t, time.Second, "node b hears a change after it listens again", func() bool {
		return h.count(store.Change{Kind: store.ChangeApp, App: "after"}) == 1
	})
	if _, err := b.AppID("after"); err != nil {
		t.Fatalf("node b's index after it listens again: %v", err)
	}
}

func TestAHandleHearsItsOwnChangeOnce(t *testing.T) {
	s := openTest(t, pgtest.Schema(t), "node-a")
	var h heard
	defer s.Subscribe(h.add)()
	mustCreateApp(t, s, "a")
	time.Sleep(300 * time.Millisecond) // time for the NOTIFY echo to come back, if it were not skipped
	if n := h.count(store.Change{Kind: store.ChangeApp, App: "a"}); n != 1 {
		t.Fatalf("heard the change %d times, want once", n)
	}
}

func mustCreateApp(t *testing.T, s store.Store, name string) {
	t.Helper()
	if _, err := s.CreateApp(t.Context(), store.App{Name: name}); err != nil {
		t.Fatalf("create app %s: %v", name, err)
	}
}

// proxy forwards TCP connections to a target until stop, which closes them all: a
// database that went away, without stopping the test server.
type proxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	conns  []net.Conn
}

func startProxy(t *testing.T, target string) *proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{ln: ln, target: target}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", target)
			if err != nil {
				_ = c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, up)
			p.mu.Unlock()
			go func() { _, _ = io.Copy(up, c); _ = up.Close() }()
			go func() { _, _ = io.Copy(c, up); _ = c.Close() }()
		}
	}()
	t.Cleanup(p.stop)
	return p
}

func (p *proxy) stop() {
	_ = p.ln.Close()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		_ = c.Close()
	}
}

func TestADatabaseThatWentAwayIsUnavailable(t *testing.T) {
	u, err := url.Parse(pgtest.Schema(t))
	if err != nil {
		t.Fatal(err)
	}
	p := startProxy(t, u.Host)
	u.Host = p.ln.Addr().String()
	s := openTest(t, u.String(), "node-a")
	mustCreateApp(t, s, "a")
	p.stop()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	for name, call := range map[string]func() error{
		"GetApp":         func() error { _, err := s.GetApp(ctx, "a"); return err },
		"CreateApp":      func() error { _, err := s.CreateApp(ctx, store.App{Name: "b"}); return err },
		"ListExecutions": func() error { _, _, err := s.ListExecutions(ctx, store.ExecutionFilter{}, store.Page{}); return err },
		"LeaseTasks":     func() error { _, err := s.LeaseTasks(ctx, 1, "w", time.Minute); return err },
		"LeaseTasksWithoutSecrets": func() error {
			_, err := s.LeaseTasksWithoutSecrets(ctx, 1, "runner:r", time.Minute)
			return err
		},
		"TaskStats": func() error { _, err := s.TaskStats(ctx); return err },
	} {
		if err := call(); !errors.Is(err, store.ErrUnavailable) {
			t.Errorf("%s with the database gone: %v, want ErrUnavailable", name, err)
		}
	}
	if _, err := s.AppID("a"); err != nil {
		t.Errorf("the route index answers from memory while the database is gone: %v", err)
	}
	if slices.Contains([]string{""}, s.InstanceID()) {
		t.Error("no instance ID")
	}
}
