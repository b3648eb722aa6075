package main

// This file holds benchmark (n): Gantry on PostgreSQL beside Gantry on bbolt, and several
// nodes sharing one database — durable async accepts, the hot path, how fast a route
// change reaches another node, and how fast a killed node's leases are taken over.

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/jackc/pgx/v5"

	"github.com/gantry-dev/gantry/gen/client/executions"
	"github.com/gantry-dev/gantry/gen/models"
	"github.com/gantry-dev/gantry/runner"
)

// nodesBench is what the nodes benchmark starts: servers, and the databases it made.
type nodesBench struct {
	*bench
	bin     string
	pgURL   string // the server's maintenance database; each measurement gets a database of its own
	servers []*gantryServer
	dbs     []string
}

// nodes runs benchmark (n) against the PostgreSQL server at pgURL.
func (b *bench) nodes(ctx context.Context, bin, pgURL string, d time.Duration, hotN, changes int) (rows []row, err error) {
	n := &nodesBench{bench: b, bin: bin, pgURL: pgURL}
	defer n.close(context.Background())

	progress("nodes: async accepts on bbolt, 1 and 2 PostgreSQL nodes")
	bolt, err := n.start(ctx, "", "", "--async-workers", "0")
	if err != nil {
		return nil, err
	}
	db, err := n.database(ctx)
	if err != nil {
		return nil, err
	}
	pg1, err := n.start(ctx, "", db, "--async-workers", "0", "--node", "pg1")
	if err != nil {
		return nil, err
	}
	db2, err := n.database(ctx)
	if err != nil {
		return nil, err
	}
	pgA, err := n.start(ctx, "", db2, "--async-workers", "0", "--node", "pgA")
	if err != nil {
		return nil, err
	}
	pgB, err := n.start(ctx, pgA.token, db2, "--async-workers", "0", "--node", "pgB")
	if err != nil {
		return nil, err
	}
	for _, s := range []*gantryServer{bolt, pg1, pgA} {
		if err := s.createApp(ctx, benchApp); err != nil {
			return nil, err
		}
		for _, r := range []*models.Route{
			{Path: "/async", Image: b.images["hello-http"], Format: "http", Type: "async"},
			{Path: "/hot1", Image: b.images["hello-http"], Format: "http", IdleTimeout: new(int64(3600))},
		} {
			if err := s.createRoute(ctx, benchApp, r); err != nil {
				return nil, err
			}
		}
	}
	var rBolt, rPG1, rPG2 float64
	for range 2 { // alternate, so that the machine's noise falls on each alike
		for _, m := range []struct {
			rate  *float64
			nodes []*gantryServer
		}{{&rBolt, []*gantryServer{bolt}}, {&rPG1, []*gantryServer{pg1}}, {&rPG2, []*gantryServer{pgA, pgB}}} {
			rate, err := b.load(32, d, func(w int) string { return "http://" + m.nodes[w%len(m.nodes)].addr + "/r/" + benchApp + "/async" })
			if err != nil {
				return nil, err
			}
			*m.rate += rate / 2
		}
	}
	ratio, efficiency := rPG1/rBolt, rPG2/(2*rPG1)
	rows = append(rows,
		row{name: "(n) async accepts/s, 32 callers: 1 PostgreSQL node vs 1 bbolt node", gantry: fmt.Sprintf("%.0f/s", rPG1), baseline: fmt.Sprintf("%.0f/s", rBolt),
			result: fmt.Sprintf("%.2f", ratio), target: ">= 0.5", ok: ratio >= 0.5},
		row{name: "(n) async accepts/s, 32 callers: 2 PostgreSQL nodes (sharing 2 cores) vs 1", gantry: fmt.Sprintf("%.0f/s", rPG2), baseline: fmt.Sprintf("%.0f/s", rPG1),
			result: fmt.Sprintf("%.2f of 2x", efficiency), target: "reported", ok: true})

	progress("nodes: hot /r/ p50 on a PostgreSQL node vs a bbolt node")
	added, pPG, pBolt, err := n.hotP50(bolt, pg1, hotN)
	if err != nil {
		return nil, err
	}
	rows = append(rows, row{name: "(n) hot http p50 at concurrency 1: PostgreSQL node vs bbolt node", gantry: ms(pPG), baseline: ms(pBolt),
		result: fmt.Sprintf("%+.3f ms", float64(added)/float64(time.Millisecond)), target: "<= +0.05 ms", ok: added <= 50*time.Microsecond})

	progress("nodes: a route change on one node, seen by another")
	p50, p99, err := n.propagation(ctx, pgA, pgB, changes)
	if err != nil {
		return nil, err
	}
	rows = append(rows, row{name: fmt.Sprintf("(n) a route created on node A, served by node B (%d changes)", changes), gantry: "p50 " + ms(p50), baseline: "-",
		result: "p99 " + ms(p99), target: "p99 < 1 s", ok: p99 < time.Second})

	progress("nodes: lease takeover after kill -9 (default lease)")
	took, err := n.takeover(ctx)
	if err != nil {
		return nil, err
	}
	limit := 15*time.Second + 2*time.Second
	rows = append(rows, row{name: "(n) a killed node's running async calls leased again by another node (lease 15s)", gantry: fmt.Sprintf("%.1f s", took.Seconds()), baseline: "-",
		result: "-", target: "<= lease + 2 s", ok: took <= limit})
	return rows, nil
}

// start starts a node: on bbolt when db is "", else on that database; token as startNode.
func (n *nodesBench) start(ctx context.Context, token, db string, extra ...string) (*gantryServer, error) {
	if db != "" {
		extra = append([]string{"--store", db}, extra...)
	}
	s, err := startNode(ctx, n.bin, token, extra...)
	if err == nil {
		n.servers = append(n.servers, s)
	}
	return s, err
}

// database creates a database for one measurement and returns its URL.
func (n *nodesBench) database(ctx context.Context) (string, error) {
	conn, err := pgx.Connect(ctx, n.pgURL)
	if err != nil {
		return "", fmt.Errorf("connect to the benchmark's PostgreSQL: %w", err)
	}
	defer func() { _ = conn.Close(ctx) }()
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := "gantry_bench_" + hex.EncodeToString(b[:])
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		return "", err
	}
	n.dbs = append(n.dbs, name)
	u, err := url.Parse(n.pgURL)
	if err != nil {
		return "", err
	}
	u.Path = "/" + name
	return u.String(), nil
}

// close stops every server the benchmark started and drops its databases.
func (n *nodesBench) close(ctx context.Context) {
	for _, s := range n.servers {
		select {
		case <-s.exited:
			s.cleanUp()
		default:
			s.stop()
		}
	}
	conn, err := pgx.Connect(ctx, n.pgURL)
	if err != nil {
		return
	}
	defer func() { _ = conn.Close(ctx) }()
	for _, db := range n.dbs {
		_, _ = conn.Exec(ctx, "DROP DATABASE IF EXISTS "+db+" WITH (FORCE)")
	}
}

// hotP50 times sequential calls of the same hot route on a bbolt and a PostgreSQL node,
// in alternating blocks, and returns the difference of their medians.
func (n *nodesBench) hotP50(bolt, pg *gantryServer, calls int) (added, pPG, pBolt time.Duration, err error) {
	var tb, tp []time.Duration
	const block = 100
	for done := 0; done < calls+block; done += block { // the first block of each warms up
		for _, m := range []struct {
			s   *gantryServer
			out *[]time.Duration
		}{{bolt, &tb}, {pg, &tp}} {
			u := "http://" + m.s.addr + "/r/" + benchApp + "/hot1"
			for range block {
				t0 := time.Now()
				if err := n.do("POST", u, `{"name":"x"}`); err != nil {
					return 0, 0, 0, err
				}
				if done > 0 {
					*m.out = append(*m.out, time.Since(t0))
				}
			}
		}
	}
	pPG, pBolt = pct(tp, 50), pct(tb, 50)
	return pPG - pBolt, pPG, pBolt, nil
}

// propagation creates routes on a and times until b serves each (b's OPTIONS of the route
// stops answering 404: its route index has it), and returns the p50 and p99.
func (n *nodesBench) propagation(ctx context.Context, a, b *gantryServer, changes int) (p50, p99 time.Duration, err error) {
	var took []time.Duration
	for i := range changes {
		path := fmt.Sprintf("/prop%d", i)
		if err := a.createRoute(ctx, benchApp, &models.Route{Path: path, Image: n.images["hello-http"], Format: "http"}); err != nil {
			return 0, 0, err
		}
		created := time.Now()
		for {
			req, _ := http.NewRequest("OPTIONS", "http://"+b.addr+"/r/"+benchApp+path, nil)
			res, err := n.client.Do(req)
			if err != nil {
				return 0, 0, err
			}
			_ = res.Body.Close()
			if res.StatusCode != http.StatusNotFound {
				took = append(took, time.Since(created))
				break
			}
			if time.Since(created) > 10*time.Second {
				return 0, 0, fmt.Errorf("node B did not serve route %s within 10s of its creation on node A", path)
			}
			time.Sleep(time.Millisecond)
		}
	}
	return pct(took, 50), pct(took, 99), nil
}

// takeover runs two long async calls on a victim node, kills it (SIGKILL) with an idle
// node beside it, and returns how long until the idle node runs both again.
func (n *nodesBench) takeover(ctx context.Context) (time.Duration, error) {
	db, err := n.database(ctx)
	if err != nil {
		return 0, err
	}
	front, err := n.start(ctx, "", db, "--async-workers", "0", "--node", "front")
	if err != nil {
		return 0, err
	}
	victim, err := n.start(ctx, front.token, db, "--async-workers", "2", "--node", "victim")
	if err != nil {
		return 0, err
	}
	defer n.removeContainers(context.Background(), "victim")
	if err := front.createApp(ctx, benchApp); err != nil {
		return 0, err
	}
	if err := front.createRoute(ctx, benchApp, &models.Route{Path: "/long", Image: n.images["testfn"], Format: "http", Type: "async", MaxConcurrency: new(int64(2))}); err != nil {
		return 0, err
	}
	for range 2 {
		if err := n.do("POST", "http://"+front.addr+"/r/"+benchApp+"/long", `{"sleep_ms":120000}`); err != nil {
			return 0, err
		}
	}
	if err := waitRunning(ctx, front, "victim", 2, time.Minute); err != nil {
		return 0, err
	}
	if _, err := n.start(ctx, front.token, db, "--async-workers", "2", "--node", "spare"); err != nil {
		return 0, err
	}
	if err := victim.cmd.Process.Kill(); err != nil {
		return 0, err
	}
	<-victim.exited
	killed := time.Now()
	if err := waitRunning(ctx, front, "spare", 2, time.Minute); err != nil {
		return 0, err
	}
	return time.Since(killed), nil
}

// waitRunning polls until count calls of /long run on node.
func waitRunning(ctx context.Context, via *gantryServer, node string, count int, limit time.Duration) error {
	app, route, status := benchApp, "/long", "RUNNING"
	params := executions.NewListExecutionsParams().WithApp(&app).WithRoute(&route).WithStatus(&status)
	for deadline := time.Now().Add(limit); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		res, err := via.api.Executions.ListExecutionsContext(ctx, params, nil)
		if err != nil {
			return err
		}
		on := 0
		for _, ex := range res.GetPayload().Executions {
			if ex.Node == node {
				on++
			}
		}
		if on == count {
			return nil
		}
	}
	return fmt.Errorf("%d calls did not run on node %s within %s", count, node, limit)
}

// removeContainers removes what a killed node left behind.
func (n *nodesBench) removeContainers(ctx context.Context, node string) {
	list, err := n.docker.ContainerList(ctx, container.ListOptions{All: true, Filters: filters.NewArgs(filters.Arg("label", runner.LabelInstance+"="+node))})
	if err != nil {
		return
	}
	for _, c := range list {
		_ = n.docker.ContainerRemove(ctx, c.ID, container.RemoveOptions{Force: true})
	}
}
