package workflow

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/store"
)

const needsN = `{
  "inputs": {"type": "object", "required": ["n"], "properties": {"n": {"type": "integer"}}},
  "steps": [{"name": "echo", "call": {"app": "wf", "path": "/hot"}, "input": {"echo": true, "n": "$.inputs.n"}}]
}`

// TestPrepareMakesARunThatKickStarts: a run Prepare made, stored by another (as the
// events service stores it with its event), runs once kicked.
func TestPrepareMakesARunThatKickStarts(t *testing.T) {
	e := newEnv(t, "")
	w := e.put("needs-n", needsN)
	r, events, err := e.engine.Prepare(w, json.RawMessage(`{"n": 3}`), TriggerOptions{TriggeredBy: "dev"})
	if err != nil {
		t.Fatal(err)
	}
	if r.Status != store.StatusQueued || len(events) != 1 || events[0].Type != store.EventQueued || r.Stopping != "" {
		t.Fatalf("prepared run %s stopping %q with events %+v, want QUEUED with its queued event", r.Status, r.Stopping, events)
	}
	if _, err := e.st.GetRun(t.Context(), r.ID); err == nil {
		t.Fatal("Prepare stored the run")
	}
	if _, _, err := e.st.CreateRun(t.Context(), r, events); err != nil {
		t.Fatal(err)
	}
	e.engine.Kick(r.ID)
	if done := e.wait(r.ID, 30*time.Second); done.Status != store.StatusSuccess {
		t.Fatalf("run %s (%s), want SUCCESS", done.Status, done.Error)
	}
}

// TestPrepareWithRefusedInputs: inputs the schema refuses are Prepare's error, unless
// KeepRefused: then the run is made with them and fails at its first move, no step run.
func TestPrepareWithRefusedInputs(t *testing.T) {
	e := newEnv(t, "")
	w := e.put("needs-n", needsN)
	if _, _, err := e.engine.Prepare(w, json.RawMessage(`{"type": "com.example"}`), TriggerOptions{TriggeredBy: "dev"}); err == nil {
		t.Fatal("Prepare took inputs without n")
	}
	r, events, err := e.engine.Prepare(w, json.RawMessage(`{"type": "com.example"}`), TriggerOptions{TriggeredBy: "dev", KeepRefused: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.st.CreateRun(t.Context(), r, events); err != nil {
		t.Fatal(err)
	}
	e.engine.Kick(r.ID)
	done := e.wait(r.ID, 30*time.Second)
	if done.Status != store.StatusFailed || done.Reason != store.ReasonError || !strings.Contains(done.Error, "the inputs were refused") {
		t.Fatalf("run %s %s %q, want FAILED error naming the refused inputs", done.Status, done.Reason, done.Error)
	}
	if s := step(t, done, "echo"); len(s.Calls) != 0 || s.Status != store.StatusCancelled {
		t.Errorf("step echo %s with calls %v, want CANCELLED without a call", s.Status, s.Calls)
	}
	var in map[string]any
	if json.Unmarshal(done.Inputs, &in) != nil || len(in) != 1 || in["type"] != "com.example" {
		t.Errorf("inputs %s, want the refused inputs as given", done.Inputs)
	}
}
