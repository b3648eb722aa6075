package main

// Black-box tests of events and schedules: real `gantry server` processes, real Docker
// functions, killed and restarted as a crash or an upgrade would.

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/pgtest"
)

// publishedEvent is the part of a publish's answer these tests read.
type publishedEvent struct {
	Key        string `json:"key"`
	Deliveries []struct {
		ID              string `json:"id"`
		Subscription    string `json:"subscription"`
		ExecutionID     string `json:"execution_id"`
		Status          string `json:"status"`
		ExecutionStatus string `json:"execution_status"`
	} `json:"deliveries"`
}

// publish publishes an event in binary mode and returns the answer's status and event.
func (s *server) publish(t *testing.T, id, typ string, data string) (int, publishedEvent) {
	t.Helper()
	res, body := s.callWith(t, "POST", "/v1/events", data, "Ce-Id", id, "Ce-Source", "/e2e", "Ce-Type", typ,
		"Ce-Specversion", "1.0", "Content-Type", "application/json")
	var w struct{ Event publishedEvent }
	if res.StatusCode != 200 && res.StatusCode != 202 || json.Unmarshal([]byte(body), &w) != nil {
		t.Fatalf("publish %s: %d %s", id, res.StatusCode, body)
	}
	return res.StatusCode, w.Event
}

// event reads an event's trace.
func (s *server) event(t *testing.T, key string) publishedEvent {
	t.Helper()
	_, body := s.mustCall(t, "GET", "/v1/events/"+key, "", 200)
	var w struct{ Event publishedEvent }
	if err := json.Unmarshal([]byte(body), &w); err != nil {
		t.Fatal(err)
	}
	return w.Event
}

// TestDeliveriesSurviveAKill: every delivery of an event whose publish was answered runs,
// although the server is killed (SIGKILL) while most still wait; the trace of each event
// shows its delivery DELIVERED with its execution SUCCESS; publishing an event again after
// the restart makes no new delivery.
func TestDeliveriesSurviveAKill(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s, err := launch(dir, "GANTRY_ASYNC_WORKERS=2")
	if err != nil {
		t.Fatal(err)
	}
	s.mustCall(t, "POST", "/v1/apps", `{"app":{"name":"ev"}}`, 201)
	s.mustCall(t, "POST", "/v1/apps/ev/routes", `{"route":{"path":"/orders","image":"`+imgTestfn+`","format":"http","type":"async","max_concurrency":2}}`, 201)
	s.mustCall(t, "POST", "/v1/subscriptions", `{"subscription":{"name":"orders","filter":{"type":"com.example.order"},"target":{"function":{"app":"ev","path":"/orders"}}}}`, 201)

	const n = 300
	keys := make([]string, n)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 16)
	for i := range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			status, ev := s.publish(t, fmt.Sprintf("order-%d", i), "com.example.order", fmt.Sprintf(`{"name":"n%d","sleep_ms":10}`, i))
			if status != 202 || len(ev.Deliveries) != 1 || ev.Deliveries[0].ExecutionID == "" {
				t.Errorf("publish %d: %d %+v, want 202 and one delivery", i, status, ev)
				return
			}
			keys[i] = ev.Key
		}()
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	waitFor(t, time.Minute, "no delivery ran before the kill", func() bool {
		return s.event(t, keys[0]).Deliveries[0].Status == "DELIVERED"
	})
	if err := s.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-s.done //nolint:errcheck // the exit status of a killed process
	s2 := startServer(t, dir, "GANTRY_ASYNC_WORKERS=2")
	if s2.event(t, keys[n-1]).Deliveries[0].Status == "DELIVERED" {
		t.Fatal("every delivery ran before the kill: the test proves nothing")
	}
	deadline := time.Now().Add(4 * time.Minute)
	for i, key := range keys {
		for {
			ev := s2.event(t, key)
			d := ev.Deliveries[0]
			if d.Status == "DELIVERED" {
				if d.ExecutionStatus != "SUCCESS" || d.Subscription != "orders" {
					t.Fatalf("event %d: delivery %+v", i, d)
				}
				if out := s2.execution(t, d.ExecutionID)["output"]; out != fmt.Sprintf("Hello n%d!", i) {
					t.Fatalf("event %d: its function answered %v", i, out)
				}
				break
			}
			if d.Status != "QUEUED" || time.Now().After(deadline) {
				t.Fatalf("event %d after the kill: delivery %+v", i, d)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	before := s2.executionsOf(t, "ev", "/orders", "")
	status, again := s2.publish(t, "order-7", "com.example.order", `{"name":"other"}`)
	if status != 200 || again.Key != keys[7] || len(again.Deliveries) != 1 {
		t.Fatalf("a second publish of order-7: %d %+v, want 200 and the first one's event", status, again)
	}
	if after := s2.executionsOf(t, "ev", "/orders", ""); len(after) != len(before) || len(after) != n {
		t.Fatalf("%d executions before the second publish, %d after, want %d", len(before), len(after), n)
	}
}

// tickRun is an execution a schedule's tick made, as its function (testfn's request
// output, a hot http function) saw it: the tick's CloudEvents attributes.
type tickRun struct {
	source  string
	tick    time.Time
	created time.Time
}

// ticksOf reads the executions of app/route made by ticks, with the ce-source and ce-time
// headers their function received.
func ticksOf(t *testing.T, s *server, app, route string) []tickRun {
	t.Helper()
	var runs []tickRun
	for _, ex := range s.executionsOf(t, app, route, "SUCCESS") {
		var req struct {
			Headers map[string][]string `json:"headers"`
		}
		if err := json.Unmarshal([]byte(ex["output"].(string)), &req); err != nil || len(req.Headers["Ce-Time"]) != 1 || len(req.Headers["Ce-Source"]) != 1 {
			t.Fatalf("execution %v: output is not testfn's request with the tick's headers (%v)", ex, err)
		}
		tick, err := time.Parse(time.RFC3339, req.Headers["Ce-Time"][0])
		if err != nil {
			t.Fatalf("execution %v: ce-time: %v", ex, err)
		}
		created, err := time.Parse(time.RFC3339Nano, ex["created_at"].(string))
		if err != nil {
			t.Fatal(err)
		}
		runs = append(runs, tickRun{source: req.Headers["Ce-Source"][0], tick: tick, created: created})
	}
	slices.SortFunc(runs, func(a, b tickRun) int { return a.tick.Compare(b.tick) })
	return runs
}

// tickRoute is the route of the ticks' calls: a hot http function (testfn).
func tickRoute() string {
	return `{"route":{"path":"/tick","image":"` + imgTestfn + `","format":"http","type":"async","max_concurrency":2}}`
}

// tickBody is the body of the ticks' calls: testfn answers with the request it got.
const tickBody = `"body":"{\"request\":true}"`

// scheduleEvery2s creates a schedule of a call of app/route every 2 s with a missed policy.
func scheduleEvery2s(t *testing.T, s *server, name, app, route, missed string) {
	t.Helper()
	s.mustCall(t, "POST", "/v1/schedules", `{"schedule":{"name":"`+name+`","cron":"@every 2s","missed":"`+missed+`",`+
		`"target":{"call":{"app":"`+app+`","path":"`+route+`",`+tickBody+`}}}}`, 201)
}

// TestSchedulesFireOnTimeAndOnceAcrossARestart: two @every 2s schedules fire every tick on
// time (+-1 s) for 10 s; the server stops for 7 s and starts again: no tick fires twice,
// none while it is down; of the ticks missed meanwhile the skip schedule fires none late,
// the run_once one fires one, once; both go on firing every tick on time.
func TestSchedulesFireOnTimeAndOnceAcrossARestart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := startServer(t, dir)
	s.mustCall(t, "POST", "/v1/apps", `{"app":{"name":"cron"}}`, 201)
	s.mustCall(t, "POST", "/v1/apps/cron/routes", tickRoute(), 201)
	scheduleEvery2s(t, s, "skip", "cron", "/tick", "skip")
	scheduleEvery2s(t, s, "once", "cron", "/tick", "run_once")
	time.Sleep(10 * time.Second)
	stopping := time.Now()
	s.stop(t)
	stopped := time.Now()
	time.Sleep(7 * time.Second)
	restarting := time.Now()
	s2 := startServer(t, dir)
	ready := time.Now()
	time.Sleep(6 * time.Second)
	waitFor(t, 2*time.Minute, "the calls of the ticks to finish", func() bool {
		_, queued := s2.mustCall(t, "GET", "/v1/executions?app=cron&status=QUEUED", "", 200)
		_, running := s2.mustCall(t, "GET", "/v1/executions?app=cron&status=RUNNING", "", 200)
		return !strings.Contains(queued, `"id"`) && !strings.Contains(running, `"id"`)
	})
	runs := ticksOf(t, s2, "cron", "/tick")
	for _, name := range []string{"skip", "once"} {
		t.Run(name, func(t *testing.T) {
			var mine []tickRun
			for _, r := range runs {
				if r.source == "/gantry/schedules/"+name {
					mine = append(mine, r)
				}
			}
			var before, after []tickRun
			late := 0 // ticks of the downtime fired late, after the restart
			for i, r := range mine {
				if i > 0 && r.tick.Equal(mine[i-1].tick) {
					t.Errorf("tick %s fired twice", r.tick)
				}
				if r.tick.Unix()%2 != 0 {
					t.Errorf("tick %s is not on the 2 s grid", r.tick)
				}
				switch {
				case r.tick.Before(stopping):
					before = append(before, r)
				case r.tick.After(ready):
					after = append(after, r)
				case r.created.After(stopped) && r.created.Before(restarting):
					t.Errorf("tick %s fired at %s, while the server was down", r.tick, r.created)
				case r.created.Sub(r.tick) >= 2*time.Second:
					late++
				}
			}
			for _, part := range [][]tickRun{before, after} {
				if len(part) < 2 {
					t.Fatalf("%d ticks fired in a run of the server, want at least 2: %+v", len(part), mine)
				}
				for i, r := range part {
					if off := r.created.Sub(r.tick); off < -time.Second || off > time.Second {
						t.Errorf("tick %s fired at %s: %s off", r.tick, r.created, off)
					}
					if i > 0 && r.tick.Sub(part[i-1].tick) != 2*time.Second {
						t.Errorf("the ticks between %s and %s did not fire", part[i-1].tick, r.tick)
					}
				}
			}
			if len(before) < 4 {
				t.Errorf("%d ticks fired in the first 10 s, want 4 or 5", len(before))
			}
			if want := map[string]int{"skip": 0, "once": 1}[name]; late != want {
				t.Errorf("%d missed ticks fired late, want %d: %+v", late, want, mine)
			}
		})
	}
}

// TestSchedulesFireOncePerTickOnTwoNodes: two nodes on one PostgreSQL database fire each
// tick of an @every 1s schedule once between them, none missing.
func TestSchedulesFireOncePerTickOnTwoNodes(t *testing.T) {
	t.Parallel()
	c := startCluster(t, "sched", pgtest.Database(t), 2)
	a, b := c.nodes[0], c.nodes[1]
	a.mustCall(t, "POST", "/v1/apps", `{"app":{"name":"cron"}}`, 201)
	a.mustCall(t, "POST", "/v1/apps/cron/routes", tickRoute(), 201)
	a.mustCall(t, "POST", "/v1/schedules", `{"schedule":{"name":"every-second","cron":"@every 1s",`+
		`"target":{"call":{"app":"cron","path":"/tick",`+tickBody+`}}}}`, 201)
	time.Sleep(8 * time.Second)
	b.mustCall(t, "PATCH", "/v1/schedules/every-second", `{"schedule":{"enabled":false}}`, 200)
	waitFor(t, 2*time.Minute, "the calls of the ticks to finish", func() bool {
		_, body := a.mustCall(t, "GET", "/v1/executions?app=cron&status=QUEUED", "", 200)
		_, running := a.mustCall(t, "GET", "/v1/executions?app=cron&status=RUNNING", "", 200)
		return !strings.Contains(body, `"id"`) && !strings.Contains(running, `"id"`)
	})
	runs := ticksOf(t, a, "cron", "/tick")
	if len(runs) < 6 {
		t.Fatalf("%d ticks fired in 8 s, want at least 6", len(runs))
	}
	nodes := map[string]bool{}
	for _, ex := range a.executionsOf(t, "cron", "/tick", "SUCCESS") {
		nodes[fmt.Sprint(ex["node"])] = true
	}
	for i, r := range runs {
		if i > 0 && r.tick.Sub(runs[i-1].tick) != time.Second {
			t.Errorf("ticks %s and %s: %s apart, want each second once", runs[i-1].tick, r.tick, r.tick.Sub(runs[i-1].tick))
		}
	}
	t.Logf("%d ticks fired once each; their calls ran on %v", len(runs), nodes)
}
