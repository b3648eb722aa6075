// Command gantry-bench measures Gantry against baselines on this machine, side by side
// in one run, and prints the ratios as a table (make bench). It starts the real
// `gantry server` binary, builds its function images locally, and exits non-zero when
// a target is missed.
//
//	(a) cold call latency of the default format vs `docker run --rm -i` of the same image
//	(b) a hot http route vs calling the same containers' HTTP server directly:
//	    the added p50 latency at concurrency 1, the throughput ratio at concurrency 8
//	(c) Gantry's resident memory with 1, 10 and 50 hot containers
//	(g) the gateway: a public and a basic-auth API vs /r/ vs the containers directly
//	(async) durable accepts per second, the drain through workers, the bbolt file's
//	    growth, and a backlog of cold calls with bounded concurrency
//	(n) nodes: async accepts on PostgreSQL (1 and 2 nodes) vs bbolt, the hot path on a
//	    PostgreSQL node vs a bbolt node, a route change reaching another node, and the
//	    takeover of a killed node's leases (needs -postgres: a durable PostgreSQL server)
//	(w) workflows: the engine's added latency per step (10 sequential steps vs 10 /r/
//	    calls), 200 concurrent 3-step runs, and a cancel reaching a running step
//	(e) events: durable publishes per second with one matching subscription, and the
//	    fan-out of one event to 10 subscribed hot functions (publish to the last start)
//	(images) upload + build of a 10 MiB context through the images service vs
//	    `docker build` of a context of the same shape (needs no server)
//
// One file per benchmark (cold.go, hot.go, memory.go, gateway.go, async.go, nodes.go, workflows.go, events.go); server.go
// runs the server under test, manage.go sets it up through the generated API client,
// calls.go makes the measured calls with plain net/http, report.go prints the table.
package main

import (
	"context"
	"flag"
	"fmt"
	"net/http"
	"os"
	"time"

	dockerclient "github.com/docker/docker/client"

	"github.com/gantry-dev/gantry/internal/fnimage"
	"github.com/gantry-dev/gantry/runner"
)

type config struct {
	only     string
	backlog  int
	gantry   string
	coldN    int
	hotN     int
	duration time.Duration
	rssMax   int
	postgres string
	changes  int
	wfRuns   int
	fanOuts  int
	builds   int
}

func main() {
	var cfg config
	flag.StringVar(&cfg.gantry, "gantry", "bin/gantry", "gantry binary to benchmark")
	flag.StringVar(&cfg.only, "only", "", "run only one part: memory, cold, hot, gateway, async, nodes, workflows, events or images")
	flag.StringVar(&cfg.postgres, "postgres", os.Getenv("GANTRY_BENCH_POSTGRES"), "URL of a PostgreSQL server (with fsync) the nodes benchmark makes its databases in (GANTRY_BENCH_POSTGRES)")
	flag.IntVar(&cfg.changes, "changes", 100, "route changes timed from one node to another")
	flag.IntVar(&cfg.fanOuts, "fan-outs", 50, "events published one at a time to 10 subscribed hot functions")
	flag.IntVar(&cfg.wfRuns, "workflow-runs", 30, "runs of the 10-step workflow timed against 10 /r/ calls")
	flag.IntVar(&cfg.builds, "image-builds", 5, "builds of a 10 MiB context timed each way (images)")
	flag.IntVar(&cfg.backlog, "backlog", 2000, "async calls queued against a cold route")
	flag.IntVar(&cfg.coldN, "cold-n", 20, "cold calls of each kind")
	flag.IntVar(&cfg.hotN, "hot-n", 3000, "sequential hot calls of each kind at concurrency 1")
	flag.DurationVar(&cfg.duration, "duration", 3*time.Second, "length of each throughput run at concurrency 8")
	flag.IntVar(&cfg.rssMax, "rss-containers", 50, "hot containers of the memory measurement")
	flag.Parse()
	if err := run(context.Background(), cfg); err != nil {
		fmt.Fprintln(os.Stderr, "gantry-bench:", err)
		os.Exit(1)
	}
}

// bench is what every benchmark works with: the server under test, Docker (to find the
// containers behind a route, and for the baselines), the HTTP client of the measured calls
// and the function images by name.
type bench struct {
	srv    *gantryServer
	docker *dockerclient.Client
	client *http.Client
	images map[string]string
}

func run(ctx context.Context, cfg config) error {
	docker, err := runner.NewDockerClient()
	if err != nil {
		return err
	}
	var rows []row
	want := func(part string) bool { return cfg.only == "" || cfg.only == part }
	if want("images") { // through the images service: no server needed
		progress("images: upload + build of a 10 MiB context vs docker build")
		r, err := imagesBench(ctx, docker, cfg.builds)
		if err != nil {
			return err
		}
		rows = append(rows, r...)
		if cfg.only == "images" {
			return report(os.Stdout, rows)
		}
	}
	images, err := fnimage.BuildAll(ctx, docker, "hello", "hello-http", "testfn")
	if err != nil {
		return err
	}
	srv, err := startGantry(ctx, cfg.gantry)
	if err != nil {
		return err
	}
	defer srv.stop()
	b := &bench{srv: srv, docker: docker, client: newHTTPClient(), images: images}
	if err := b.setup(ctx, cfg.rssMax); err != nil {
		return err
	}

	if want("cold") {
		progress("cold calls")
		r, err := b.cold(ctx, cfg.coldN)
		if err != nil {
			return err
		}
		rows = append(rows, r...)
	}
	if want("hot") {
		progress("hot calls at concurrency 1")
		r, err := b.hotLatency(ctx, cfg.hotN)
		if err != nil {
			return err
		}
		rows = append(rows, r)
		progress("hot calls at concurrency 8")
		if r, err = b.hotThroughput(ctx, cfg.duration); err != nil {
			return err
		}
		rows = append(rows, r)
	}
	if want("gateway") {
		progress("gateway vs /r/ vs the container directly")
		rs, err := b.gateway(ctx, cfg.hotN, cfg.duration)
		if err != nil {
			return err
		}
		rows = append(rows, rs...)
	}
	if want("async") {
		progress("async calls: accepts, drain, backlog of cold calls")
		rs, err := b.async(ctx, cfg.gantry, cfg.duration, cfg.backlog)
		if err != nil {
			return err
		}
		rows = append(rows, rs...)
	}
	if want("nodes") {
		if cfg.postgres == "" {
			return fmt.Errorf("the nodes benchmark needs a PostgreSQL server: -postgres URL or GANTRY_BENCH_POSTGRES (make bench starts one)")
		}
		rs, err := b.nodes(ctx, cfg.gantry, cfg.postgres, cfg.duration, cfg.hotN, cfg.changes)
		if err != nil {
			return err
		}
		rows = append(rows, rs...)
	}
	if want("workflows") {
		progress("workflows: added latency per step, concurrent runs, cancel")
		rs, err := b.workflows(ctx, cfg.wfRuns)
		if err != nil {
			return err
		}
		rows = append(rows, rs...)
	}
	if want("events") {
		progress("events: durable publishes, fan-out to 10 hot functions")
		rs, err := b.events(ctx, cfg.gantry, cfg.duration, cfg.fanOuts)
		if err != nil {
			return err
		}
		rows = append(rows, rs...)
	}
	if want("memory") {
		progress("memory with hot containers")
		rs, err := b.memory(ctx, cfg.rssMax)
		if err != nil {
			return err
		}
		rows = append(rows, rs...)
	}
	return report(os.Stdout, rows)
}

func progress(what string) { fmt.Fprintln(os.Stderr, "--", what) }
