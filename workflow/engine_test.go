package workflow

import (
	"context"
	"encoding/json"
	"errors"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"

	"github.com/gantry-dev/gantry/runner"
	"github.com/gantry-dev/gantry/store"
)

// diamond is prepare → (solve-a ∥ solve-b) → combine over the hot test function: each
// step echoes the body its template makes, so every output shows what the step read.
const diamond = `{
  "description": "a diamond",
  "inputs": {"type": "object", "required": ["n"], "properties": {"n": {"type": "integer"}, "label": {"type": "string", "default": "run"}}},
  "outputs": {"a": "$.steps['solve-a'].output.x", "b": "$.steps['solve-b'].output.x", "label": "$.steps.combine.output.label"},
  "steps": [
    {"name": "prepare", "call": {"app": "wf", "path": "/hot"}, "input": {"echo": true, "n": "$.inputs.n"}},
    {"name": "solve-a", "needs": ["prepare"], "call": {"app": "wf", "path": "/hot"}, "input": {"echo": true, "sleep_ms": 700, "x": "$.steps.prepare.output.n"}},
    {"name": "solve-b", "needs": ["prepare"], "call": {"app": "wf", "path": "/hot"}, "input": {"echo": true, "sleep_ms": 700, "x": "$.inputs.label"}},
    {"name": "combine", "needs": ["solve-a", "solve-b"], "call": {"app": "wf", "path": "/hot"}, "input": {"echo": true, "label": "$.inputs.label", "a": "$.steps['solve-a'].output.x"}}
  ]
}`

func TestADiamondRunsItsIndependentStepsInParallelAndFillsTheOutputs(t *testing.T) {
	e := newEnv(t, "")
	w := e.put("diamond", diamond)
	r := e.wait(e.start(w, `{"n": 7}`).ID, time.Minute)
	if r.Status != store.StatusSuccess {
		t.Fatalf("status %s (%s: %s)", r.Status, r.Reason, r.Error)
	}
	var out map[string]any
	if err := json.Unmarshal(r.Outputs, &out); err != nil {
		t.Fatal(err)
	}
	if out["a"] != float64(7) || out["b"] != "run" || out["label"] != "run" {
		t.Errorf("outputs %s, want a 7, b and label \"run\"", r.Outputs)
	}
	a, b := step(t, r, "solve-a"), step(t, r, "solve-b")
	if !a.StartedAt.Before(b.CompletedAt) || !b.StartedAt.Before(a.CompletedAt) {
		t.Errorf("solve-a ran %s..%s and solve-b %s..%s: they did not overlap", a.StartedAt, a.CompletedAt, b.StartedAt, b.CompletedAt)
	}
	c := step(t, r, "combine")
	if c.StartedAt.Before(a.CompletedAt) || c.StartedAt.Before(b.CompletedAt) {
		t.Errorf("combine started at %s, before its needs ended (%s, %s)", c.StartedAt, a.CompletedAt, b.CompletedAt)
	}
	evs := e.events(r.ID)
	for i, ev := range evs {
		if ev.Seq != int64(i+1) {
			t.Fatalf("event %d has seq %d", i, ev.Seq)
		}
	}
	if first, last := evs[0], evs[len(evs)-1]; first.Type != store.EventQueued || last.Type != store.EventFinished || last.Status != store.StatusSuccess {
		t.Errorf("events run from %s to %s %s", first.Type, last.Type, last.Status)
	}
	ex, err := e.st.GetExecution(context.Background(), step(t, r, "prepare").Calls[0])
	if err != nil || ex.Parent != r.ID || ex.Step != "prepare" {
		t.Errorf("prepare's call: parent %q step %q (%v)", ex.Parent, ex.Step, err)
	}
}

func TestAMapStepNeverRunsMoreItemsAtOnceThanItsConcurrency(t *testing.T) {
	e := newEnv(t, "")
	w := e.put("fan", `{
	  "inputs": {"type": "object", "properties": {"items": {"type": "array"}}},
	  "outputs": {"all": "$.steps.each.output"},
	  "steps": [{"name": "each", "map": {"items": "$.inputs.items", "max_concurrency": 4},
	             "call": {"app": "wf", "path": "/hot"}, "input": {"echo": true, "sleep_ms": 150, "i": "$.index", "v": "$.item"}}]
	}`)
	items := make([]int, 20)
	for i := range items {
		items[i] = i * 10
	}
	in, _ := json.Marshal(map[string]any{"items": items})
	r := e.wait(e.start(w, string(in)).ID, 2*time.Minute)
	if r.Status != store.StatusSuccess {
		t.Fatalf("status %s (%s: %s)", r.Status, r.Reason, r.Error)
	}
	var all []map[string]any
	if err := json.Unmarshal(step(t, r, "each").Output, &all); err != nil || len(all) != 20 {
		t.Fatalf("map output %s (%v)", step(t, r, "each").Output, err)
	}
	for i, o := range all {
		if o["i"] != float64(i) || o["v"] != float64(i*10) {
			t.Errorf("item %d's output %v", i, o)
		}
	}
	// The calls' own run times: at no moment more than 4 at once (and more than 1: it is parallel).
	type edge struct {
		at    time.Time
		delta int
	}
	var edges []edge
	for _, id := range step(t, r, "each").Calls {
		ex, err := e.st.GetExecution(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		edges = append(edges, edge{ex.StartedAt, 1}, edge{ex.CompletedAt, -1})
	}
	sort.Slice(edges, func(i, j int) bool {
		if edges[i].at.Equal(edges[j].at) {
			return edges[i].delta < edges[j].delta
		}
		return edges[i].at.Before(edges[j].at)
	})
	now, most := 0, 0
	for _, ed := range edges {
		now += ed.delta
		most = max(most, now)
	}
	if most > 4 || most < 2 {
		t.Errorf("at most %d items ran at once, want 2 to 4", most)
	}
}

func TestWhenRetryAndOnFailure(t *testing.T) {
	e := newEnv(t, "")
	w := e.put("policies", `{
	  "inputs": {"type": "object", "properties": {"fast": {"type": "boolean", "default": true}}},
	  "steps": [
	    {"name": "slow-path", "when": "!inputs.fast", "call": {"app": "wf", "path": "/hot"}, "input": {"echo": true}},
	    {"name": "flaky", "call": {"app": "wf", "path": "/cold"}, "input": {"exit": 3},
	     "retry": {"max_attempts": 3, "backoff": "50ms", "on": ["bad_exit"]}, "on_failure": "continue"},
	    {"name": "after", "needs": ["flaky", "slow-path"], "call": {"app": "wf", "path": "/hot"}, "input": {"echo": true, "flaky": "$.steps.flaky.status"}}
	  ]
	}`)
	r := e.wait(e.start(w, `{}`).ID, 2*time.Minute)
	if r.Status != store.StatusSuccess {
		t.Fatalf("status %s (%s: %s), want SUCCESS: a failure of a step that continues does not fail the run", r.Status, r.Reason, r.Error)
	}
	if s := step(t, r, "slow-path"); s.Status != store.StatusSkipped || len(s.Calls) != 0 {
		t.Errorf("slow-path: %s with %d calls, want SKIPPED without any", s.Status, len(s.Calls))
	}
	flaky := step(t, r, "flaky")
	if flaky.Status != store.StatusFailed || flaky.Reason != store.ReasonBadExit || flaky.Attempts != 3 || len(flaky.Calls) != 3 {
		t.Errorf("flaky: %s (%s) after %d attempts, %d calls; want FAILED bad_exit after 3", flaky.Status, flaky.Reason, flaky.Attempts, len(flaky.Calls))
	}
	for _, id := range flaky.Calls {
		if ex, err := e.st.GetExecution(context.Background(), id); err != nil || ex.Status != store.StatusFailed || ex.Step != "flaky" {
			t.Errorf("flaky's call %s: %s step %q (%v)", id, ex.Status, ex.Step, err)
		}
	}
	var after map[string]any
	if err := json.Unmarshal(step(t, r, "after").Output, &after); err != nil || after["flaky"] != store.StatusFailed {
		t.Errorf("after's output %s (%v): it should have read flaky's status", step(t, r, "after").Output, err)
	}
	retrying := 0
	for _, ev := range e.events(r.ID) {
		if ev.Type == store.EventStepRetrying && ev.Step == "flaky" {
			retrying++
		}
	}
	if retrying != 2 {
		t.Errorf("%d step_retrying events for flaky, want 2", retrying)
	}
}

func TestAFailedStepFailsTheRunAndLaterStepsNeverStart(t *testing.T) {
	e := newEnv(t, "")
	w := e.put("fails", `{"steps": [
	    {"name": "boom", "call": {"app": "wf", "path": "/cold"}, "input": {"exit": 1}},
	    {"name": "never", "needs": ["boom"], "call": {"app": "wf", "path": "/hot"}}
	]}`)
	r := e.wait(e.start(w, ``).ID, time.Minute)
	if r.Status != store.StatusFailed || r.Reason != store.ReasonBadExit {
		t.Fatalf("status %s (%s), want FAILED bad_exit", r.Status, r.Reason)
	}
	if s := step(t, r, "never"); s.Status != store.StatusCancelled || len(s.Calls) != 0 {
		t.Errorf("never: %s with %d calls, want CANCELLED without any", s.Status, len(s.Calls))
	}
}

func TestCancelStopsTheRunningStepsContainerAndNothingStartsAfter(t *testing.T) {
	e := newEnv(t, "")
	w := e.put("long", `{"steps": [
	    {"name": "long", "call": {"app": "wf", "path": "/cold"}, "input": {"sleep_ms": 50000}},
	    {"name": "later", "needs": ["long"], "call": {"app": "wf", "path": "/hot"}}
	]}`)
	r := e.start(w, ``)
	ctx := context.Background()
	call := waitFor(t, 30*time.Second, func() (string, bool) {
		r, _ := e.st.GetRun(ctx, r.ID)
		s := step(t, r, "long")
		if len(s.Calls) == 0 {
			return "", false
		}
		ex, _ := e.st.GetExecution(ctx, s.Calls[0])
		return s.Calls[0], ex.Status == store.StatusRunning && containers(t, s.Calls[0]) > 0
	})
	cancelled := time.Now()
	if _, err := e.engine.Cancel(ctx, r.ID); err != nil {
		t.Fatal(err)
	}
	// The 2 s target is measured by make bench (workflow cancel); here, on a shared and
	// loaded machine, the container must go, well within the step's 50 s.
	gone := time.Now().Add(10 * time.Second)
	for containers(t, call) > 0 {
		if time.Now().After(gone) {
			ex, _ := e.st.GetExecution(ctx, call)
			run, _ := e.st.GetRun(ctx, r.ID)
			list, _ := testDocker.ContainerList(ctx, container.ListOptions{All: true, Filters: filters.NewArgs(filters.Arg("label", runner.LabelCall+"="+call))})
			t.Fatalf("the call's container is still there 10s after the cancel: %+v\nexecution %+v\nrun %+v\nevents %+v", list, ex, run, e.events(r.ID))
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("the step's container was gone %s after the cancel", time.Since(cancelled).Round(time.Millisecond))
	r = e.wait(r.ID, 10*time.Second)
	if r.Status != store.StatusCancelled || r.Reason != store.ReasonClientRequest {
		t.Errorf("status %s (%s), want CANCELLED client_request", r.Status, r.Reason)
	}
	if s := step(t, r, "later"); s.Status != store.StatusCancelled || len(s.Calls) != 0 {
		t.Errorf("later: %s with %d calls, want CANCELLED, never started", s.Status, len(s.Calls))
	}
	if _, err := e.engine.Cancel(ctx, r.ID); !errors.Is(err, store.ErrConflict) {
		t.Errorf("cancelling a finished run: %v, want ErrConflict", err)
	}
}

func TestARunResumesOnTheNextStartOfItsNode(t *testing.T) {
	e := newEnv(t, "")
	w := e.put("resume", `{"steps": [
	    {"name": "one", "call": {"app": "wf", "path": "/hot"}, "input": {"echo": true, "n": 1}},
	    {"name": "two", "needs": ["one"], "call": {"app": "wf", "path": "/cold"}, "input": {"sleep_ms": 1500, "echo": true}},
	    {"name": "three", "needs": ["two"], "call": {"app": "wf", "path": "/hot"}, "input": {"echo": true, "n": "$.steps.one.output.n"}}
	], "outputs": {"n": "$.steps.three.output.n"}}`)
	r := e.start(w, ``)
	ctx := context.Background()
	waitFor(t, 30*time.Second, func() (string, bool) {
		r, _ := e.st.GetRun(ctx, r.ID)
		return "", step(t, r, "two").Status == store.StatusRunning
	})
	e.close() // the node stops while step two runs: its call goes back to the queue
	e2 := newEnv(t, e.dir)
	r = e2.wait(r.ID, time.Minute)
	if r.Status != store.StatusSuccess || string(r.Outputs) != `{"n":1}` {
		t.Fatalf("status %s outputs %s (%s)", r.Status, r.Outputs, r.Error)
	}
	if one := step(t, r, "one"); len(one.Calls) != 1 {
		t.Errorf("step one ran %d times, want once", len(one.Calls))
	}
}

// waitFor polls cond until it holds, and returns its value.
func waitFor(t *testing.T, within time.Duration, cond func() (string, bool)) string {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		v, ok := cond()
		if ok {
			return v
		}
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %s", within)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// containers counts the containers of a call, running or not.
func containers(t *testing.T, call string) int {
	t.Helper()
	list, err := testDocker.ContainerList(context.Background(), container.ListOptions{All: true, Filters: filters.NewArgs(filters.Arg("label", runner.LabelCall+"="+call))})
	if err != nil {
		t.Fatal(err)
	}
	return len(list)
}

func TestARunPastItsBoundsEndsFailedWithReasonLimit(t *testing.T) {
	e := newEnv(t, "")
	t.Run("a map over more items than MaxMapItems never starts one", func(t *testing.T) {
		w := e.put("many", `{"inputs": {"type": "object"}, "steps": [{"name": "each", "map": {"items": "$.inputs.items"}, "call": {"app": "wf", "path": "/hot"}}]}`)
		items := make([]int, MaxMapItems+1)
		in, _ := json.Marshal(map[string]any{"items": items})
		r := e.wait(e.start(w, string(in)).ID, time.Minute)
		s := step(t, r, "each")
		if r.Status != store.StatusFailed || r.Reason != store.ReasonLimit || s.Reason != store.ReasonLimit || len(s.Calls) != 0 {
			t.Errorf("run %s (%s: %s), step %s (%s) with %d calls; want FAILED limit, no call", r.Status, r.Reason, r.Error, s.Status, s.Reason, len(s.Calls))
		}
	})
	t.Run("outputs that take the state past MaxStateBytes stop the run", func(t *testing.T) {
		w := e.put("big", `{"steps": [
		  {"name": "each", "map": {"items": "$.inputs.items", "max_concurrency": 2}, "call": {"app": "wf", "path": "/hot"}, "input": {"output_bytes": 900000}},
		  {"name": "after", "needs": ["each"], "call": {"app": "wf", "path": "/hot"}}
		], "outputs": {"n": "$.steps.each.output[0]"}}`)
		r := e.wait(e.start(w, `{"items": [1, 2, 3, 4, 5, 6]}`).ID, 2*time.Minute)
		if r.Status != store.StatusFailed || r.Reason != store.ReasonLimit || !strings.Contains(r.Error, "bytes") {
			t.Errorf("run %s (%s: %s), want FAILED limit naming the bytes", r.Status, r.Reason, r.Error)
		}
		if s := step(t, r, "after"); len(s.Calls) != 0 {
			t.Errorf("the step after the state passed its bound started (%d calls)", len(s.Calls))
		}
	})
}

func TestAFailedMapItemFailsTheRunForItsOwnReason(t *testing.T) {
	e := newEnv(t, "")
	w := e.put("items", `{"steps": [{"name": "each", "map": {"items": "$.inputs.items", "max_concurrency": 4},
	  "call": {"app": "wf", "path": "/cold"}, "input": {"sleep_ms": "$.item.sleep", "exit": "$.item.exit"}}]}`)
	r := e.wait(e.start(w, `{"items": [{"sleep": 20000, "exit": 0}, {"sleep": 20000, "exit": 0}, {"sleep": 0, "exit": 3}, {"sleep": 20000, "exit": 0}]}`).ID, time.Minute)
	if r.Status != store.StatusFailed || r.Reason != store.ReasonBadExit || !strings.Contains(r.Error, "item 2") {
		t.Errorf("run %s (%s: %s), want FAILED bad_exit naming item 2: the items cancelled after it are the engine's doing", r.Status, r.Reason, r.Error)
	}
}

func TestAMapItemDueForARetryWaitsForASlotWithoutLooping(t *testing.T) {
	e := newEnv(t, "")
	w := e.put("slot", `{"steps": [{"name": "each", "map": {"items": "$.inputs.items", "max_concurrency": 1},
	  "call": {"app": "wf", "path": "/cold"}, "input": {"sleep_ms": "$.item.sleep", "exit": "$.item.exit"},
	  "retry": {"max_attempts": 2, "backoff": "10ms"}, "on_failure": "continue"}]}`)
	before := e.engine.moves.Load()
	r := e.wait(e.start(w, `{"items": [{"sleep": 0, "exit": 1}, {"sleep": 3000, "exit": 0}]}`).ID, time.Minute)
	if r.Status != store.StatusSuccess {
		t.Fatalf("run %s (%s: %s)", r.Status, r.Reason, r.Error)
	}
	// A handful of moves: start, each call's end, the retry's. A wake-up looping while the
	// slot is taken would make hundreds in the 3 s the second item runs.
	if moves := e.engine.moves.Load() - before; moves > 20 {
		t.Errorf("%d moves of a run of 3 calls", moves)
	}
	if s := step(t, r, "each"); s.Status != store.StatusFailed || len(s.Calls) != 3 {
		t.Errorf("step %s with %d calls, want FAILED after 3 calls (item 0 twice)", s.Status, len(s.Calls))
	}
}

func TestAStepNeverCallsALaterAppOfTheSameName(t *testing.T) {
	e := newEnv(t, "")
	ctx := context.Background()
	w := e.put("pinned", `{"steps": [{"name": "one", "call": {"app": "wf", "path": "/hot"}}]}`)
	for _, path := range []string{"/hot", "/cold"} {
		if err := e.st.DeleteRoute(ctx, "wf", path, nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.st.DeleteApp(ctx, "wf", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := e.st.CreateApp(ctx, store.App{Name: "wf", Owner: "mallory"}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.st.CreateRoute(ctx, store.Route{App: "wf", Path: "/hot", Image: testImage, Format: store.FormatHTTP}, nil); err != nil {
		t.Fatal(err)
	}
	r := e.wait(e.start(w, ``).ID, time.Minute)
	if s := step(t, r, "one"); r.Status != store.StatusFailed || len(s.Calls) != 0 || !strings.Contains(s.Error, "not the app") {
		t.Errorf("run %s, step %s (%s) with %d calls: a step called another app of the same name", r.Status, s.Status, s.Error, len(s.Calls))
	}
}

func TestIdempotencyKeysAndTruncatedOutputs(t *testing.T) {
	e := newEnv(t, "")
	ctx := context.Background()
	w := e.put("big-output", `{"steps": [{"name": "one", "call": {"app": "wf", "path": "/hot"}, "input": {"output_bytes": 2000000, "n": "$.inputs.n"}}]}`)
	first, created, err := e.engine.Trigger(ctx, w, json.RawMessage(`{"n": 1}`), TriggerOptions{TriggeredBy: "dev", IdempotencyKey: "k"})
	if err != nil || !created {
		t.Fatal(created, err)
	}
	again, created, err := e.engine.Trigger(ctx, w, json.RawMessage(`{"n": 1}`), TriggerOptions{TriggeredBy: "dev", IdempotencyKey: "k"})
	if err != nil || created || again.ID != first.ID {
		t.Errorf("the same key again: run %s created %v (%v), want run %s", again.ID, created, err, first.ID)
	}
	if _, _, err := e.engine.Trigger(ctx, w, json.RawMessage(`{"n": 2}`), TriggerOptions{TriggeredBy: "dev", IdempotencyKey: "k"}); !errors.Is(err, store.ErrConflict) {
		t.Errorf("the same key with other inputs: %v, want ErrConflict", err)
	}
	r := e.wait(first.ID, time.Minute)
	if s := step(t, r, "one"); r.Status != store.StatusFailed || s.Reason != store.ReasonLimit || len(s.Output) != 0 {
		t.Errorf("run %s, step %s (%s) with output of %d bytes: a cut output must not pass for the whole", r.Status, s.Status, s.Reason, len(s.Output))
	}
}
