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
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/client"

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
}

func main() {
	var cfg config
	flag.StringVar(&cfg.gantry, "gantry", "bin/gantry", "gantry binary to benchmark")
	flag.StringVar(&cfg.only, "only", "", "run only one part: memory, cold, hot, gateway or async")
	flag.IntVar(&cfg.backlog, "backlog", 2000, "async calls queued against a cold route")
	flag.IntVar(&cfg.coldN, "cold-n", 20, "cold calls of each kind")
	flag.IntVar(&cfg.hotN, "hot-n", 3000, "sequential hot calls of each kind at concurrency 1")
	flag.DurationVar(&cfg.duration, "duration", 3*time.Second, "length of each throughput run at concurrency 8")
	flag.IntVar(&cfg.rssMax, "rss-containers", 50, "hot containers of the memory measurement")
	flag.Parse()
	if err := run(cfg); err != nil {
		fmt.Fprintln(os.Stderr, "gantry-bench:", err)
		os.Exit(1)
	}
}

type row struct {
	name, gantry, baseline, result, target string
	ok                                     bool
}

func run(cfg config) error {
	ctx := context.Background()
	docker, err := runner.NewDockerClient()
	if err != nil {
		return err
	}
	images, err := fnimage.BuildAll(ctx, docker, "hello", "hello-http")
	g0 := images
	if err != nil {
		return err
	}
	srv, err := startGantry(cfg.gantry)
	if err != nil {
		return err
	}
	defer srv.stop()
	g := &bench{srv: srv, docker: docker, client: newClient(), images: g0}
	if err := g.setup(images, cfg.rssMax); err != nil {
		return err
	}

	var rows []row
	want := func(part string) bool { return cfg.only == "" || cfg.only == part }
	if want("cold") {
		progress("cold calls")
		r, err := g.cold(images["hello"], cfg.coldN)
		if err != nil {
			return err
		}
		rows = append(rows, r...)
	}
	if want("hot") {
		progress("hot calls at concurrency 1")
		r, err := g.hotLatency(cfg.hotN)
		if err != nil {
			return err
		}
		rows = append(rows, r)
		progress("hot calls at concurrency 8")
		if r, err = g.hotThroughput(cfg.duration); err != nil {
			return err
		}
		rows = append(rows, r)
	}
	if want("gateway") {
		progress("gateway vs /r/ vs the container directly")
		rs, err := g.gateway(cfg.hotN, cfg.duration)
		if err != nil {
			return err
		}
		rows = append(rows, rs...)
	}
	if want("async") {
		progress("async calls: accepts, drain, backlog of cold calls")
		rs, err := g.async(cfg.gantry, cfg.duration, cfg.backlog)
		if err != nil {
			return err
		}
		rows = append(rows, rs...)
	}
	if want("memory") {
		progress("memory with hot containers")
		rs, err := g.memory(cfg.rssMax)
		if err != nil {
			return err
		}
		rows = append(rows, rs...)
	}

	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "benchmark\tgantry\tbaseline\tresult\ttarget\t")
	failed := 0
	for _, r := range rows {
		verdict := "ok"
		if !r.ok {
			verdict, failed = "MISSED", failed+1
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s %s\t\n", r.name, r.gantry, r.baseline, r.result, r.target, verdict)
	}
	_ = w.Flush()
	if failed > 0 {
		return fmt.Errorf("%d targets missed", failed)
	}
	return nil
}

func progress(what string) { fmt.Fprintln(os.Stderr, "--", what) }

// ---- the server under test ----

type gantryServer struct {
	cmd      *exec.Cmd
	addr     string
	instance string
	dir      string
	token    string // the admin token the server wrote to its data dir
	gateway  string // the gateway's plain HTTP listener
}

// asyncWorkers is the server's async concurrency in the benchmark: twice the cores here.
const asyncWorkers = 4

var (
	listeningRE = regexp.MustCompile(`msg=listening addr=(\S+) .*instance=(\S+)`)
	gatewayRE   = regexp.MustCompile(`msg="gateway listening" addr=(\S+) tls=false`)
)

func startGantry(bin string, extra ...string) (*gantryServer, error) {
	dir, err := os.MkdirTemp("", "gantry-bench-")
	if err != nil {
		return nil, err
	}
	// Every execution is kept: the backlog check counts them all.
	args := append([]string{"server", "--addr", "127.0.0.1:0", "--data-dir", dir, "--async-workers", strconv.Itoa(asyncWorkers), "--keep-executions", "-1",
		"--gateway-addr", "127.0.0.1:0", "--gateway-tls-addr", "127.0.0.1:0"}, extra...)
	s := &gantryServer{dir: dir, cmd: exec.Command(bin, args...)}
	stderr, err := s.cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := s.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s (run make build first): %w", bin, err)
	}
	found, gateway := make(chan []string, 1), make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if m := gatewayRE.FindStringSubmatch(sc.Text()); m != nil {
				gateway <- m[1]
			}
			if m := listeningRE.FindStringSubmatch(sc.Text()); m != nil {
				found <- m[1:]
			}
		}
	}()
	select {
	case m := <-found:
		s.addr, s.instance = m[0], m[1]
		select {
		case s.gateway = <-gateway:
		case <-time.After(10 * time.Second):
			s.stop()
			return nil, fmt.Errorf("the gateway did not listen within 10s")
		}
		token, err := os.ReadFile(filepath.Join(dir, "admin.token"))
		if err != nil {
			s.stop()
			return nil, fmt.Errorf("read the admin token: %w", err)
		}
		s.token = strings.TrimSpace(string(token))
		return s, nil
	case <-time.After(30 * time.Second):
		_ = s.cmd.Process.Kill()
		return nil, fmt.Errorf("gantry did not listen within 30s")
	}
}

func (s *gantryServer) stop() {
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	_ = s.cmd.Wait()
	_ = os.RemoveAll(s.dir)
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

// ---- the benchmarks ----

type bench struct {
	srv    *gantryServer
	docker *client.Client
	client *http.Client
	images map[string]string
}

func newClient() *http.Client {
	return &http.Client{Transport: &http.Transport{
		MaxIdleConns: 256, MaxIdleConnsPerHost: 64, IdleConnTimeout: time.Minute,
		DialContext: (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
	}}
}

func (b *bench) url(path string) string { return "http://" + b.srv.addr + path }

// get sends a GET of the management API with the server's admin token.
func (b *bench) get(url string) (*http.Response, error) {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+b.srv.token)
	return b.client.Do(req)
}

// do sends one request and checks the status; the body is read and dropped.
func (b *bench) do(method, url, body string) error {
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		return err
	}
	if strings.Contains(url, "/v1/") {
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+b.srv.token)
	}
	res, err := b.client.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	out, _ := io.ReadAll(res.Body)
	if res.StatusCode >= 300 {
		return fmt.Errorf("%s %s: %d %s", method, url, res.StatusCode, out)
	}
	return nil
}

func (b *bench) setup(images map[string]string, rssMax int) error {
	steps := []struct{ path, body string }{
		{"/v1/apps", `{"app":{"name":"bench"}}`},
		{"/v1/apps/bench/routes", `{"route":{"path":"/cold","image":"` + images["hello"] + `"}}`},
		{"/v1/apps/bench/routes", `{"route":{"path":"/hot1","image":"` + images["hello-http"] + `","format":"http","idle_timeout":3600}}`},
		{"/v1/apps/bench/routes", `{"route":{"path":"/hot8","image":"` + images["hello-http"] + `","format":"http","max_concurrency":8,"idle_timeout":3600}}`},
	}
	for i := 1; i <= rssMax; i++ {
		steps = append(steps, struct{ path, body string }{"/v1/apps/bench/routes",
			fmt.Sprintf(`{"route":{"path":"/rss%d","image":"%s","format":"http","idle_timeout":3600,"memory":16}}`, i, images["hello-http"])})
	}
	for _, s := range steps {
		if err := b.do("POST", b.url(s.path), s.body); err != nil {
			return err
		}
	}
	return nil
}

// memory measures the server's RSS as hot containers are added: 1, 10, then rssMax.
func (b *bench) memory(rssMax int) ([]row, error) {
	var rows []row
	started := 0
	var first int64
	for _, n := range []int{1, 10, rssMax} {
		for ; started < n; started++ {
			if err := b.do("POST", b.url(fmt.Sprintf("/r/bench/rss%d", started+1)), `{"name":"m"}`); err != nil {
				return nil, err
			}
		}
		time.Sleep(time.Second)
		rss, err := b.srv.rss()
		if err != nil {
			return nil, err
		}
		result := "-"
		if n == 1 {
			first = rss
		} else {
			result = fmt.Sprintf("+%.0f KiB per container beyond the first", float64(rss-first)/1024/float64(n-1))
		}
		rows = append(rows, row{name: fmt.Sprintf("(c) gantry RSS with %d hot containers", n), gantry: mib(rss), baseline: "-",
			result: result, target: "reported", ok: true})
	}
	// Drop them so they do not disturb the timings.
	for i := 1; i <= rssMax; i++ {
		if err := b.do("DELETE", b.url(fmt.Sprintf("/v1/apps/bench/routes/rss%d", i)), ""); err != nil {
			return nil, err
		}
	}
	return rows, nil
}

// cold times default-format calls against `docker run --rm -i` of the same image, in turn
// on Docker's default bridge and on Gantry's function network: the target compares like with
// like (the function network's isolation costs Docker some set-up on every container, and
// is not Gantry's overhead); the default bridge is reported beside it.
func (b *bench) cold(image string, n int) ([]row, error) {
	input := `{"name":"bench"}`
	dockerRun := func(args ...string) func() error {
		return func() error {
			cmd := exec.Command("docker", append(append([]string{"run", "--rm", "-i"}, args...), image)...)
			cmd.Stdin = strings.NewReader(input)
			out, err := cmd.Output()
			if err != nil || string(out) != "Hello bench!" {
				return fmt.Errorf("docker run: %q %v", out, err)
			}
			return nil
		}
	}
	paths := []func() error{
		func() error { return b.do("POST", b.url("/r/bench/cold"), input) },
		dockerRun("--network", runner.DefaultFunctionNetwork),
		dockerRun(),
	}
	for range 2 { // warm every path
		for _, run := range paths {
			if err := run(); err != nil {
				return nil, err
			}
		}
	}
	times := make([][]time.Duration, len(paths))
	for i := range n {
		for j := range paths { // each path goes first as often as the others
			k := (i + j) % len(paths)
			t0 := time.Now()
			if err := paths[k](); err != nil {
				return nil, err
			}
			times[k] = append(times[k], time.Since(t0))
		}
	}
	// Let the removal of the cold containers finish before anything else is timed.
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		if n, err := b.containers("/cold"); err != nil || n == 0 {
			break
		}
	}
	pg, pn, pd := pct(times[0], 50), pct(times[1], 50), pct(times[2], 50)
	same, bridge := float64(pg)/float64(pn), float64(pg)/float64(pd)
	return []row{
		{name: "(a) cold call p50, default format vs docker run --rm -i on the function network", gantry: ms(pg), baseline: ms(pn),
			result: fmt.Sprintf("%.2f", same), target: "<= 0.95", ok: same <= 0.95},
		{name: "(a) cold call p50, default format vs docker run --rm -i on Docker's default bridge", gantry: ms(pg), baseline: ms(pd),
			result: fmt.Sprintf("%.2f", bridge), target: "reported", ok: true},
	}, nil
}

// containers counts a route's containers in any state.
func (b *bench) containers(route string) (int, error) {
	args := filters.NewArgs(filters.Arg("label", runner.LabelInstance+"="+b.srv.instance), filters.Arg("label", runner.LabelRoute+"="+route))
	list, err := b.docker.ContainerList(context.Background(), container.ListOptions{All: true, Filters: args})
	return len(list), err
}

// hotContainers returns the addresses of a route's running containers.
func (b *bench) hotContainers(route string) ([]string, error) {
	args := filters.NewArgs(filters.Arg("label", runner.LabelInstance+"="+b.srv.instance), filters.Arg("label", runner.LabelRoute+"="+route))
	list, err := b.docker.ContainerList(context.Background(), container.ListOptions{Filters: args})
	if err != nil {
		return nil, err
	}
	var addrs []string
	for _, c := range list {
		for _, ep := range c.NetworkSettings.Networks {
			if ep.IPAddress != "" {
				addrs = append(addrs, net.JoinHostPort(ep.IPAddress, "8080"))
			}
		}
	}
	return addrs, nil
}

// hotLatency compares sequential calls through Gantry and straight to the same container.
func (b *bench) hotLatency(n int) (row, error) {
	via := b.url("/r/bench/hot1")
	if err := b.do("POST", via, `{"name":"x"}`); err != nil {
		return row{}, err
	}
	addrs, err := b.hotContainers("/hot1")
	if err != nil || len(addrs) != 1 {
		return row{}, fmt.Errorf("want 1 container of /hot1, got %v (%v)", addrs, err)
	}
	direct := "http://" + addrs[0] + "/hot1"
	var g, d []time.Duration
	const block = 100
	for done := 0; done < n; done += block {
		for _, p := range []struct {
			url string
			out *[]time.Duration
		}{{via, &g}, {direct, &d}} {
			for range block {
				t0 := time.Now()
				if err := b.do("POST", p.url, `{"name":"x"}`); err != nil {
					return row{}, err
				}
				*p.out = append(*p.out, time.Since(t0))
			}
		}
	}
	pg, pd := pct(g, 50), pct(d, 50)
	added := pg - pd
	return row{name: "(b) hot http p50 at concurrency 1, vs the container directly", gantry: ms(pg), baseline: ms(pd),
		result: "+" + ms(added), target: "<= +0.25 ms", ok: added <= 250*time.Microsecond}, nil
}

// hotThroughput compares 8 concurrent callers through Gantry and straight to the same 8 containers.
func (b *bench) hotThroughput(d time.Duration) (row, error) {
	via := b.url("/r/bench/hot8")
	// Start the route's 8 containers: 8 calls at once, until 8 exist.
	var addrs []string
	for try := 0; len(addrs) < 8; try++ {
		if try == 20 {
			return row{}, fmt.Errorf("/hot8 has %d containers, want 8", len(addrs))
		}
		var wg sync.WaitGroup
		for range 16 {
			wg.Add(1)
			go func() { defer wg.Done(); _ = b.do("POST", via, `{"name":"x"}`) }()
		}
		wg.Wait()
		var err error
		if addrs, err = b.hotContainers("/hot8"); err != nil {
			return row{}, err
		}
	}
	urlOf := func(direct bool, worker int) string {
		if direct {
			return "http://" + addrs[worker%len(addrs)] + "/hot8"
		}
		return via
	}
	var gRate, dRate float64
	for range 2 { // alternate: gantry, direct, gantry, direct
		for _, direct := range []bool{false, true} {
			rate, err := b.load(8, d, func(w int) string { return urlOf(direct, w) })
			if err != nil {
				return row{}, err
			}
			if direct {
				dRate += rate / 2
			} else {
				gRate += rate / 2
			}
		}
	}
	ratio := gRate / dRate
	return row{name: "(b) hot http throughput at concurrency 8, vs the containers directly", gantry: fmt.Sprintf("%.0f/s", gRate),
		baseline: fmt.Sprintf("%.0f/s", dRate), result: fmt.Sprintf("%.2f", ratio), target: ">= 0.5", ok: ratio >= 0.5}, nil
}

// load runs workers callers of url for d and returns the rate of successful calls.
func (b *bench) load(workers int, d time.Duration, url func(worker int) string) (float64, error) {
	return b.loadCalls(workers, d, func(w int) func() error {
		u := url(w)
		return func() error { return b.do("POST", u, `{"name":"x"}`) }
	})
}

// loadCalls runs workers callers of call(worker) for d and returns the rate of successful calls.
func (b *bench) loadCalls(workers int, d time.Duration, call func(worker int) func() error) (float64, error) {
	var ok, failed atomic.Int64
	var firstErr atomic.Value
	stop := time.Now().Add(d)
	var wg sync.WaitGroup
	start := time.Now()
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := call(w)
			for time.Now().Before(stop) {
				if err := c(); err != nil {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
					continue
				}
				ok.Add(1)
			}
		}()
	}
	wg.Wait()
	if failed.Load() > 0 {
		return 0, fmt.Errorf("%d calls failed, first: %v", failed.Load(), firstErr.Load())
	}
	return float64(ok.Load()) / time.Since(start).Seconds(), nil
}

// ---- figures ----

func pct(ds []time.Duration, p int) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[(len(s)-1)*p/100]
}

func ms(d time.Duration) string { return fmt.Sprintf("%.3f ms", float64(d)/float64(time.Millisecond)) }

func mib(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }

// async measures async calls: the rate of durable accepts from concurrent callers, the rate
// at which workers drain them through a hot function, the bbolt file's growth, and a
// backlog of cold calls draining with bounded concurrency.
func (b *bench) async(bin string, d time.Duration, backlog int) ([]row, error) {
	// Accepts, measured alone: a server with no workers, so that nothing drains meanwhile.
	acceptor, err := startGantry(bin, "--async-workers", "0")
	if err != nil {
		return nil, err
	}
	a := &bench{srv: acceptor, docker: b.docker, client: b.client, images: b.images}
	for _, r := range []struct{ path, body string }{
		{"/v1/apps", `{"app":{"name":"bench"}}`},
		{"/v1/apps/bench/routes", `{"route":{"path":"/async-hot","image":"` + b.images["hello-http"] + `","format":"http","type":"async"}}`},
	} {
		if err := a.do("POST", a.url(r.path), r.body); err != nil {
			acceptor.stop()
			return nil, err
		}
	}
	dbFile := acceptor.dir + "/gantry.db"
	size0, err := fileSize(dbFile)
	if err != nil {
		acceptor.stop()
		return nil, err
	}
	rate, err := a.load(32, d, func(int) string { return a.url("/r/bench/async-hot") })
	size1, serr := fileSize(dbFile)
	acceptor.stop()
	if err != nil || serr != nil {
		return nil, errors.Join(err, serr)
	}
	accepted := int(rate * d.Seconds())

	// Drain: the same number of calls, through a hot function, on the main server.
	for _, r := range []string{
		`{"route":{"path":"/async-hot","image":"` + b.images["hello-http"] + `","format":"http","type":"async","max_concurrency":4,"idle_timeout":3600}}`,
		`{"route":{"path":"/async-cold","image":"` + b.images["hello"] + `","type":"async"}}`,
	} {
		if err := b.do("POST", b.url("/v1/apps/bench/routes"), r); err != nil {
			return nil, err
		}
	}
	start := time.Now()
	if err := b.submitAsync("/r/bench/async-hot", accepted); err != nil {
		return nil, err
	}
	if err := b.waitQueueEmpty(10 * time.Minute); err != nil {
		return nil, err
	}
	drain := float64(accepted) / time.Since(start).Seconds()
	rows := []row{
		{name: "(async) accepted calls/s, durable (fsync), 32 callers", gantry: fmt.Sprintf("%.0f/s", rate), baseline: "-", result: fmt.Sprintf("%d accepted", accepted), target: ">= 2000/s", ok: rate >= 2000},
		{name: fmt.Sprintf("(async) %d calls accepted and drained, hot http function, %d workers", accepted, asyncWorkers), gantry: fmt.Sprintf("%.0f/s", drain), baseline: "-", result: "all drained", target: "reported", ok: true},
		{name: "(async) bbolt file growth per 10k accepted calls", gantry: mib((size1 - size0) * 10000 / int64(max(accepted, 1))), baseline: "-", result: "-", target: "reported", ok: true},
	}

	// A backlog of cold calls: containers never exceed the workers, nothing lost or left.
	start = time.Now()
	if err := b.submitAsync("/r/bench/async-cold", backlog); err != nil {
		return nil, err
	}
	most, stop := 0, make(chan struct{})
	sampled := make(chan int)
	go func() {
		for {
			select {
			case <-stop:
				sampled <- most
				return
			case <-time.After(50 * time.Millisecond):
			}
			args := filters.NewArgs(filters.Arg("label", runner.LabelInstance+"="+b.srv.instance), filters.Arg("label", runner.LabelRoute+"=/async-cold"), filters.Arg("status", "running"))
			if list, err := b.docker.ContainerList(context.Background(), container.ListOptions{Filters: args}); err == nil && len(list) > most {
				most = len(list)
			}
		}
	}()
	err = b.waitQueueEmpty(30 * time.Minute)
	close(stop)
	peak := <-sampled
	if err != nil {
		return nil, err
	}
	coldRate := float64(backlog) / time.Since(start).Seconds()
	succeeded, err := b.countExecutions("/async-cold", "SUCCESS")
	if err != nil {
		return nil, err
	}
	time.Sleep(2 * time.Second) // the last removals
	left, err := b.containers("/async-cold")
	if err != nil {
		return nil, err
	}
	rows = append(rows, row{
		name:   fmt.Sprintf("(async) backlog of %d cold calls, %d workers", backlog, asyncWorkers),
		gantry: fmt.Sprintf("%.1f/s", coldRate), baseline: "-",
		result: fmt.Sprintf("%d succeeded, peak %d containers, %d left", succeeded, peak, left),
		target: "all succeed, peak <= workers, none left", ok: succeeded == backlog && peak <= asyncWorkers && left == 0,
	})
	return rows, nil
}

// submitAsync sends n async calls from 32 concurrent callers.
func (b *bench) submitAsync(path string, n int) error {
	var wg sync.WaitGroup
	sem := make(chan struct{}, 32)
	var failed atomic.Int64
	for range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if err := b.do("POST", b.url(path), `{"name":"x"}`); err != nil {
				failed.Add(1)
			}
		}()
	}
	wg.Wait()
	if failed.Load() > 0 {
		return fmt.Errorf("%d async calls to %s were not accepted", failed.Load(), path)
	}
	return nil
}

// waitQueueEmpty polls /v1/tasks/stats until nothing is queued or running.
func (b *bench) waitQueueEmpty(limit time.Duration) error {
	for deadline := time.Now().Add(limit); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		res, err := b.get(b.url("/v1/tasks/stats"))
		if err != nil {
			return err
		}
		var st struct{ Queued, Running int }
		err = json.NewDecoder(res.Body).Decode(&st)
		_ = res.Body.Close()
		if err != nil {
			return err
		}
		if st.Queued == 0 && st.Running == 0 {
			return nil
		}
	}
	return fmt.Errorf("the async queue did not drain within %s", limit)
}

// countExecutions counts a route's executions with a status, page by page.
func (b *bench) countExecutions(route, status string) (int, error) {
	n, cursor := 0, ""
	for {
		res, err := b.get(b.url("/v1/executions?app=bench&per_page=100&route=" + route + "&status=" + status + "&cursor=" + cursor))
		if err != nil {
			return 0, err
		}
		var page struct {
			Executions []json.RawMessage
			NextCursor string `json:"next_cursor"`
		}
		err = json.NewDecoder(res.Body).Decode(&page)
		_ = res.Body.Close()
		if err != nil {
			return 0, err
		}
		n += len(page.Executions)
		if page.NextCursor == "" {
			return n, nil
		}
		cursor = page.NextCursor
	}
}

func fileSize(path string) (int64, error) {
	st, err := os.Stat(path)
	if err != nil {
		return 0, err
	}
	return st.Size(), nil
}
