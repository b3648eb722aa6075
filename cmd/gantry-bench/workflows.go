package main

// This file holds benchmark (w): workflows. A 10-step sequential workflow over a hot
// function against 10 sequential /r/ calls of the same function (the engine's added
// latency per step: trigger to the run's last event, less the calls); 200 executions of a
// 3-step workflow started at once (all complete, the containers stay bounded); and a
// cancel of a running step (the time until its container is gone).

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"

	"github.com/gantry-dev/gantry/gen/models"
	"github.com/gantry-dev/gantry/runner"
)

// chain is a definition of n sequential steps over route, each passing on the name it got.
func chain(n int, route string) string {
	steps := make([]string, n)
	for i := range steps {
		needs := ""
		if i > 0 {
			needs = fmt.Sprintf(`"needs": ["s%d"], `, i-1)
		}
		steps[i] = fmt.Sprintf(`{"name": "s%d", %s"call": {"app": %q, "path": %q}, "input": {"name": "x"}}`, i, needs, benchApp, route)
	}
	return `{"workflow": {"outputs": {"last": "$.steps.s` + fmt.Sprint(n-1) + `.output"}, "steps": [` + strings.Join(steps, ",") + `]}}`
}

func (b *bench) workflows(ctx context.Context, runs int) ([]row, error) {
	if err := b.srv.createRoute(ctx, benchApp, &models.Route{Path: "/wf", Image: b.images["hello-http"], Format: "http",
		MaxConcurrency: new(int64(asyncWorkers)), IdleTimeout: new(int64(3600))}); err != nil {
		return nil, err
	}
	if err := b.srv.createRoute(ctx, benchApp, &models.Route{Path: "/wfsleep", Image: b.images["testfn"]}); err != nil {
		return nil, err
	}
	for name, def := range map[string]string{"chain10": chain(10, "/wf"), "chain3": chain(3, "/wf"),
		"cancel": `{"workflow": {"steps": [{"name": "long", "call": {"app": "bench", "path": "/wfsleep"}, "input": {"sleep_ms": 60000}}]}}`} {
		if err := b.manage("PUT", "/v1/workflows/"+name, def, http.StatusCreated, nil); err != nil {
			return nil, err
		}
	}
	var rows []row
	r, err := b.stepLatency(runs)
	if err != nil {
		return nil, err
	}
	rows = append(rows, r)
	if r, err = b.concurrentRuns(ctx, 200); err != nil {
		return nil, err
	}
	rows = append(rows, r)
	if r, err = b.cancelRuns(ctx, 5); err != nil {
		return nil, err
	}
	return append(rows, r), nil
}

// stepLatency times runs of chain10 (trigger to the end of its event stream) against 10
// sequential /r/ calls of its function, alternately.
func (b *bench) stepLatency(runs int) (row, error) {
	via := b.url("/r/" + benchApp + "/wf")
	for range 20 { // warm: the route's hot container, the connections
		if err := b.do("POST", via, `{"name":"x"}`); err != nil {
			return row{}, err
		}
	}
	var added, calls, flows []time.Duration
	for range runs {
		t0 := time.Now()
		for range 10 {
			if err := b.do("POST", via, `{"name":"x"}`); err != nil {
				return row{}, err
			}
		}
		c := time.Since(t0)
		t0 = time.Now()
		id, err := b.trigger("chain10")
		if err != nil {
			return row{}, err
		}
		if status, err := b.follow(id); err != nil || status != "SUCCESS" {
			return row{}, fmt.Errorf("run %s: %s (%v)", id, status, err)
		}
		f := time.Since(t0)
		calls, flows, added = append(calls, c), append(flows, f), append(added, (f-c)/10)
	}
	p := pct(added, 50)
	return row{name: "(w) workflow: added latency per step, 10 sequential steps vs 10 /r/ calls (bbolt)", gantry: ms(pct(flows, 50)) + " a run",
		baseline: ms(pct(calls, 50)) + " 10 calls", result: "+" + ms(p) + " p50 a step", target: "<= +5 ms", ok: p <= 5*time.Millisecond}, nil
}

// concurrentRuns starts n runs of chain3 at once and waits for them all: every one must
// succeed, and the route's containers never pass its bound.
func (b *bench) concurrentRuns(ctx context.Context, n int) (row, error) {
	t0 := time.Now()
	ids := make([]string, n)
	var wg sync.WaitGroup
	var failed atomic.Int64
	var firstErr error
	var once sync.Once
	for i := range n {
		wg.Go(func() {
			id, err := b.trigger("chain3")
			if err != nil {
				failed.Add(1)
				once.Do(func() { firstErr = err })
			}
			ids[i] = id
		})
	}
	wg.Wait()
	if firstErr != nil {
		return row{}, fmt.Errorf("%d of %d triggers failed: %w", failed.Load(), n, firstErr)
	}
	most := 0
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		for {
			if c, err := b.containers(ctx, "/wf"); err == nil {
				most = max(most, c)
			}
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
			}
		}
	}()
	ok := 0
	for _, id := range ids {
		if status, err := b.follow(id); err == nil && status == "SUCCESS" {
			ok++
		}
	}
	took := time.Since(t0)
	close(stop)
	<-sampled
	return row{name: fmt.Sprintf("(w) %d concurrent 3-step workflow runs", n), gantry: fmt.Sprintf("%d/%d SUCCESS in %s", ok, n, took.Round(time.Millisecond)),
		baseline: fmt.Sprintf("<= %d containers", asyncWorkers), result: fmt.Sprintf("%.0f runs/s, %d containers at most", float64(ok)/took.Seconds(), most),
		target: "all SUCCESS, containers bounded", ok: ok == n && most <= asyncWorkers}, nil
}

// cancelRuns cancels runs whose step runs a long call, and times the DELETE to the step's
// container gone.
func (b *bench) cancelRuns(ctx context.Context, n int) (row, error) {
	var gone []time.Duration
	for range n {
		id, err := b.trigger("cancel")
		if err != nil {
			return row{}, err
		}
		var call string
		for deadline := time.Now().Add(time.Minute); call == ""; time.Sleep(20 * time.Millisecond) {
			if time.Now().After(deadline) {
				return row{}, fmt.Errorf("run %s: its step's container never ran", id)
			}
			var w struct {
				Execution struct {
					Steps []struct{ Calls []string }
				}
			}
			if err := b.manage("GET", "/v1/executions/"+id, "", http.StatusOK, &w); err != nil {
				return row{}, err
			}
			if steps := w.Execution.Steps; len(steps) == 1 && len(steps[0].Calls) == 1 && b.callRunning(ctx, steps[0].Calls[0]) {
				call = steps[0].Calls[0]
			}
		}
		t0 := time.Now()
		if err := b.manage("DELETE", "/v1/executions/"+id, "", http.StatusAccepted, nil); err != nil {
			return row{}, err
		}
		for b.callContainers(ctx, call) > 0 {
			if time.Since(t0) > 30*time.Second {
				return row{}, fmt.Errorf("run %s: its step's container outlived the cancel by 30s", id)
			}
			time.Sleep(5 * time.Millisecond)
		}
		gone = append(gone, time.Since(t0))
		if status, err := b.follow(id); err != nil || status != "CANCELLED" {
			return row{}, fmt.Errorf("run %s after its cancel: %s (%v)", id, status, err)
		}
	}
	worst := pct(gone, 100)
	return row{name: "(w) workflow cancel: DELETE to the running step's container gone", gantry: ms(pct(gone, 50)) + " p50", baseline: "-",
		result: ms(worst) + " worst of " + fmt.Sprint(n), target: "<= 2 s", ok: worst <= 2*time.Second}, nil
}

func (b *bench) callRunning(ctx context.Context, call string) bool {
	list, err := b.docker.ContainerList(ctx, container.ListOptions{Filters: filters.NewArgs(filters.Arg("label", runner.LabelCall+"="+call), filters.Arg("status", "running"))})
	return err == nil && len(list) > 0
}

func (b *bench) callContainers(ctx context.Context, call string) int {
	list, err := b.docker.ContainerList(ctx, container.ListOptions{All: true, Filters: filters.NewArgs(filters.Arg("label", runner.LabelCall+"="+call))})
	if err != nil {
		return 1
	}
	return len(list)
}

// trigger starts a run of workflow and returns its ID, from the Location of the 201.
func (b *bench) trigger(workflow string) (string, error) {
	req, err := b.managementRequest("POST", "/v1/workflows/"+workflow, `{"inputs": {}}`)
	if err != nil {
		return "", err
	}
	res, err := b.client.Do(req)
	if err != nil {
		return "", err
	}
	defer res.Body.Close()
	_, _ = io.Copy(io.Discard, res.Body)
	loc := res.Header.Get("Location")
	if res.StatusCode != http.StatusCreated || !strings.HasPrefix(loc, "/v1/executions/") {
		return "", fmt.Errorf("trigger %s: %d, Location %q", workflow, res.StatusCode, loc)
	}
	return strings.TrimPrefix(loc, "/v1/executions/"), nil
}

// follow reads a run's event stream (Server-Sent Events) to its end and returns the status
// of its last event.
func (b *bench) follow(id string) (string, error) {
	req, err := b.managementRequest("GET", "/v1/executions/"+id+"/events", "")
	if err != nil {
		return "", err
	}
	req.Header.Set("Accept", "text/event-stream")
	res, err := b.client.Do(req)
	if err != nil {
		return "", err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		out, _ := io.ReadAll(res.Body)
		return "", fmt.Errorf("events of %s: %d %s", id, res.StatusCode, out)
	}
	status := ""
	sc := bufio.NewScanner(res.Body)
	for sc.Scan() {
		data, ok := strings.CutPrefix(sc.Text(), "data:")
		if !ok {
			continue
		}
		var ev struct{ Type, Status string }
		if json.Unmarshal([]byte(strings.TrimSpace(data)), &ev) == nil && ev.Type == "finished" {
			status = ev.Status
		}
	}
	return status, sc.Err()
}

// manage makes a management API request as the admin and decodes the answer into out.
func (b *bench) manage(method, path, body string, want int, out any) error {
	req, err := b.managementRequest(method, path, body)
	if err != nil {
		return err
	}
	res, err := b.client.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	if res.StatusCode != want {
		return fmt.Errorf("%s %s: %d %s", method, path, res.StatusCode, raw)
	}
	if out != nil {
		return json.Unmarshal(raw, out)
	}
	return nil
}

func (b *bench) managementRequest(method, path, body string) (*http.Request, error) {
	req, err := http.NewRequest(method, b.url(path), strings.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+b.srv.token)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	return req, nil
}
