package storetest

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/store"
)

func runCases() []testCase {
	return []testCase{
		{
			name:   "a run is created QUEUED with its first events numbered from 1",
			covers: []string{"CreateRun", "GetRun", "ListRunEvents"},
			run:    testRunCreate,
		},
		{
			name:   "a second trigger with an idempotency key gets the run it made and writes nothing; another trigger's same key makes a new run",
			covers: []string{"CreateRun", "ListRunEvents", "Subscribe"},
			run:    testRunIdempotency,
		},
		{
			name:   "an update whose fn fails writes nothing and returns fn's error",
			covers: []string{"UpdateRun", "GetRun", "ListRunEvents", "TaskStats"},
			run:    testRunUpdateFnFails,
		},
		{
			name:   "the events of an update are numbered after the run's last and listed in order from after, up to limit",
			covers: []string{"UpdateRun", "ListRunEvents"},
			run:    testRunEvents,
		},
		{
			name:   "a run's status moves only as CanRunTransition allows, and a finished run never changes",
			covers: []string{"UpdateRun", "GetRun", "ActiveRuns"},
			run:    testRunTransitions,
		},
		{
			name:   "concurrent updates of a run are serialized and none is lost",
			covers: []string{"UpdateRun", "ListRunEvents"},
			run:    testRunConcurrentUpdates,
		},
		{
			name:   "runs are listed newest first, a page at a time, filtered by workflow, status and viewer",
			covers: []string{"ListRuns"},
			run:    testRunList,
		},
		{
			name:   "ActiveRuns lists the runs not final, oldest first",
			covers: []string{"ActiveRuns", "CreateRun", "UpdateRun"},
			run:    testActiveRuns,
		},
	}
}

// mustRun creates a run (QUEUED, with a queued event) from r's workflow, owner and trigger.
func mustRun(t *testing.T, s store.Store, r store.Run) store.Run {
	t.Helper()
	r.ID, r.Status = s.NewID(), store.StatusQueued
	if r.Definition == nil {
		r.Definition = json.RawMessage(`{"steps":[]}`)
	}
	stored, created, err := s.CreateRun(t.Context(), r, []store.RunEvent{{Type: store.EventQueued}})
	if err != nil || !created {
		t.Fatalf("create run: %+v created=%v %v", stored, created, err)
	}
	return stored
}

// setStatus moves a run to status.
func setStatus(t *testing.T, s store.Store, id, status string) store.Run {
	t.Helper()
	r, err := s.UpdateRun(t.Context(), id, func(r *store.Run) (store.RunUpdate, error) {
		r.Status = status
		return store.RunUpdate{}, nil
	})
	if err != nil {
		t.Fatalf("run %s to %s: %v", id, status, err)
	}
	return r
}

// eventSeqs lists the Seq of each event of a run, after after.
func eventSeqs(t *testing.T, s store.Store, id string, after int64, limit int) []int64 {
	t.Helper()
	events, err := s.ListRunEvents(t.Context(), id, after, limit)
	if err != nil {
		t.Fatalf("events of run %s: %v", id, err)
	}
	var seqs []int64
	for _, e := range events {
		seqs = append(seqs, e.Seq)
	}
	return seqs
}

func seqRange(from, to int64) []int64 {
	var out []int64
	for i := from; i <= to; i++ {
		out = append(out, i)
	}
	return out
}

func testRunCreate(t *testing.T, s store.Store) {
	ctx := t.Context()
	if _, _, err := s.CreateRun(ctx, store.Run{ID: s.NewID(), Workflow: "etl", Status: store.StatusRunning}, nil); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("a run created RUNNING: got %v, want ErrInvalid", err)
	}
	at := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	r, created, err := s.CreateRun(ctx, store.Run{ID: s.NewID(), Workflow: "etl", WorkflowVersion: 3, Owner: "ann", TriggeredBy: "bob",
		Status: store.StatusQueued, Inputs: json.RawMessage(`{"n":1}`), Definition: json.RawMessage(`{"steps":[{"name":"a"}]}`),
		Steps: []store.StepRun{{Name: "a", Status: store.StatusPending}}, Events: 42},
		[]store.RunEvent{{Type: store.EventQueued}, {Type: store.EventStepSkipped, Step: "a", Time: at}})
	if err != nil || !created || r.Events != 2 || r.CreatedAt.IsZero() || r.ID == "" {
		t.Fatalf("create: %+v created=%v %v", r, created, err)
	}
	got, err := s.GetRun(ctx, r.ID)
	if err != nil || got.Status != store.StatusQueued || got.Workflow != "etl" || got.WorkflowVersion != 3 || got.Events != 2 ||
		!jsonEqual(got.Inputs, `{"n":1}`) || !jsonEqual(got.Definition, `{"steps":[{"name":"a"}]}`) ||
		len(got.Steps) != 1 || got.Steps[0].Status != store.StatusPending || !got.CreatedAt.Equal(r.CreatedAt) {
		t.Fatalf("get: %+v %v", got, err)
	}
	events, err := s.ListRunEvents(ctx, r.ID, 0, 0)
	if err != nil || len(events) != 2 || events[0].Seq != 1 || events[0].Type != store.EventQueued || events[0].Time.IsZero() ||
		events[1].Seq != 2 || events[1].Step != "a" || !events[1].Time.Equal(at) {
		t.Fatalf("events: %+v %v", events, err)
	}
	if _, err := s.GetRun(ctx, s.NewID()); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("get of a missing run: got %v, want ErrNotFound", err)
	}
	if _, err := s.ListRunEvents(ctx, s.NewID(), 0, 10); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("events of a missing run: got %v, want ErrNotFound", err)
	}
}

func testRunIdempotency(t *testing.T, s store.Store) {
	ctx := t.Context()
	var heard changeLog
	defer s.Subscribe(heard.add)()
	first, created, err := s.CreateRun(ctx, store.Run{ID: s.NewID(), Workflow: "etl", TriggeredBy: "bob", IdempotencyKey: "k1",
		Status: store.StatusQueued}, []store.RunEvent{{Type: store.EventQueued}})
	if err != nil || !created {
		t.Fatalf("first: %+v %v %v", first, created, err)
	}
	heard.take()
	again, created, err := s.CreateRun(ctx, store.Run{ID: s.NewID(), Workflow: "etl", TriggeredBy: "bob", IdempotencyKey: "k1",
		Status: store.StatusQueued, Inputs: json.RawMessage(`{"other":true}`)}, []store.RunEvent{{Type: store.EventQueued}, {Type: store.EventStarted}})
	if err != nil || created || again.ID != first.ID || again.Events != 1 || len(again.Inputs) != 0 {
		t.Fatalf("same trigger, same key: %+v created=%v %v; want run %s back, created false", again, created, err, first.ID)
	}
	if got := eventSeqs(t, s, first.ID, 0, 0); !slices.Equal(got, []int64{1}) {
		t.Fatalf("a repeated trigger added events: %v", got)
	}
	if got := heard.take(); len(got) != 0 {
		t.Fatalf("a repeated trigger, which writes nothing, delivered %+v", got)
	}
	other, created, err := s.CreateRun(ctx, store.Run{ID: s.NewID(), Workflow: "etl", TriggeredBy: "carol", IdempotencyKey: "k1",
		Status: store.StatusQueued}, nil)
	if err != nil || !created || other.ID == first.ID {
		t.Fatalf("another trigger, same key: %+v created=%v %v; want a new run", other, created, err)
	}
	for range 2 { // no key: every trigger is a run
		if r, created, err := s.CreateRun(ctx, store.Run{ID: s.NewID(), Workflow: "etl", TriggeredBy: "bob", Status: store.StatusQueued}, nil); err != nil || !created || r.ID == first.ID {
			t.Fatalf("without a key: %+v created=%v %v", r, created, err)
		}
	}
	setStatus(t, s, first.ID, store.StatusCancelled)
	if r, created, err := s.CreateRun(ctx, store.Run{ID: s.NewID(), Workflow: "etl", TriggeredBy: "bob", IdempotencyKey: "k1", Status: store.StatusQueued}, nil); err != nil || created || r.ID != first.ID || r.Status != store.StatusCancelled {
		t.Fatalf("the key of a finished run: %+v created=%v %v; want the finished run back", r, created, err)
	}
}

func testRunUpdateFnFails(t *testing.T, s store.Store) {
	ctx := t.Context()
	r := mustRun(t, s, store.Run{Workflow: "etl"})
	errStop := errors.New("stop")
	_, err := s.UpdateRun(ctx, r.ID, func(r *store.Run) (store.RunUpdate, error) {
		r.Status, r.Reason = store.StatusRunning, "lost"
		return store.RunUpdate{Events: []store.RunEvent{{Type: store.EventStarted}},
			Calls: []store.StepCall{stepCall(s, r.ID, "a")}}, errStop
	})
	if err != errStop { //nolint:errorlint // returned unchanged, not wrapped
		t.Fatalf("got %v, want fn's error unchanged", err)
	}
	if got, _ := s.GetRun(ctx, r.ID); got.Status != store.StatusQueued || got.Reason != "" || got.Events != 1 {
		t.Fatalf("an update whose fn failed was stored: %+v", got)
	}
	if got := eventSeqs(t, s, r.ID, 0, 0); !slices.Equal(got, []int64{1}) {
		t.Fatalf("an update whose fn failed stored events: %v", got)
	}
	if st, err := s.TaskStats(ctx); err != nil || st.Queued != 0 {
		t.Fatalf("an update whose fn failed accepted its calls: %+v %v", st, err)
	}
	if _, err := s.UpdateRun(ctx, s.NewID(), func(*store.Run) (store.RunUpdate, error) { return store.RunUpdate{}, nil }); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("update of a missing run: got %v, want ErrNotFound", err)
	}
}

func testRunEvents(t *testing.T, s store.Store) {
	ctx := t.Context()
	r := mustRun(t, s, store.Run{Workflow: "etl"})
	other := mustRun(t, s, store.Run{Workflow: "etl"})
	for i := range 3 {
		got, err := s.UpdateRun(ctx, r.ID, func(r *store.Run) (store.RunUpdate, error) {
			r.Events = 1000 // the store's to keep: ignored
			var evs []store.RunEvent
			for j := range i + 1 {
				evs = append(evs, store.RunEvent{Type: store.EventStepStarted, Step: fmt.Sprintf("s%d", i), Attempt: j + 1})
			}
			return store.RunUpdate{Events: evs}, nil
		})
		if want := int64(1 + (i+1)*(i+2)/2); err != nil || got.Events != want {
			t.Fatalf("update %d: Events %d %v, want %d", i, got.Events, err, want)
		}
	}
	if got := eventSeqs(t, s, r.ID, 0, 0); !slices.Equal(got, seqRange(1, 7)) {
		t.Fatalf("all events: %v", got)
	}
	if got := eventSeqs(t, s, r.ID, 2, 3); !slices.Equal(got, []int64{3, 4, 5}) {
		t.Fatalf("after 2, limit 3: %v", got)
	}
	if got := eventSeqs(t, s, r.ID, 5, 100); !slices.Equal(got, []int64{6, 7}) {
		t.Fatalf("after 5: %v", got)
	}
	if got, err := s.ListRunEvents(ctx, r.ID, 7, 10); err != nil || got == nil || len(got) != 0 {
		t.Fatalf("after the last: %+v %v, want an empty list", got, err)
	}
	events, _ := s.ListRunEvents(ctx, r.ID, 1, 3)
	if events[0].Step != "s0" || events[1].Step != "s1" || events[2].Attempt != 2 || events[2].Time.IsZero() {
		t.Fatalf("events in the order given: %+v", events)
	}
	if got := eventSeqs(t, s, other.ID, 0, 0); !slices.Equal(got, []int64{1}) {
		t.Fatalf("another run's events: %v", got)
	}
}

func testRunTransitions(t *testing.T, s store.Store) {
	ctx := t.Context()
	r := mustRun(t, s, store.Run{Workflow: "etl"})
	try := func(status string) error {
		_, err := s.UpdateRun(ctx, r.ID, func(r *store.Run) (store.RunUpdate, error) {
			r.Status, r.Reason = status, "try "+status
			return store.RunUpdate{Events: []store.RunEvent{{Type: store.EventStarted}}}, nil
		})
		return err
	}
	for _, step := range []struct {
		to string
		ok bool
	}{
		{store.StatusQueued, true}, {"BOGUS", false}, {"", false}, {store.StatusRunning, true}, {store.StatusRunning, true},
		{store.StatusQueued, false}, {store.StatusFailed, true},
		{store.StatusFailed, false}, {store.StatusRunning, false}, {store.StatusSuccess, false},
	} {
		before, _ := s.GetRun(ctx, r.ID)
		err := try(step.to)
		if step.ok != (err == nil) || !step.ok && !errors.Is(err, store.ErrConflict) {
			t.Fatalf("%s to %q: got %v, want ok=%v (ErrConflict otherwise)", before.Status, step.to, err, step.ok)
		}
		if after, _ := s.GetRun(ctx, r.ID); !step.ok && (after.Status != before.Status || after.Events != before.Events || after.Reason != before.Reason) {
			t.Fatalf("a refused move to %q changed the run: %+v, was %+v", step.to, after, before)
		}
	}
	_, err := s.UpdateRun(ctx, r.ID, func(r *store.Run) (store.RunUpdate, error) { r.Error = "late"; return store.RunUpdate{}, nil })
	if !errors.Is(err, store.ErrConflict) {
		t.Fatalf("a change of a finished run that keeps its status: got %v, want ErrConflict", err)
	}
	live := mustRun(t, s, store.Run{Workflow: "etl"})
	if _, err := s.UpdateRun(ctx, live.ID, func(r *store.Run) (store.RunUpdate, error) { r.ID = s.NewID(); return store.RunUpdate{}, nil }); err == nil {
		t.Fatal("an update changed a run's ID")
	}
	if ids, err := s.ActiveRuns(ctx); err != nil || !slices.Equal(ids, []string{live.ID}) {
		t.Fatalf("active runs: %v %v, want only %s", ids, err, live.ID)
	}
}

func testRunConcurrentUpdates(t *testing.T, s store.Store) {
	ctx := t.Context()
	r := mustRun(t, s, store.Run{Workflow: "etl", Steps: []store.StepRun{{Name: "count", Status: store.StatusRunning}}})
	const workers, each = 8, 10
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				_, err := s.UpdateRun(ctx, r.ID, func(r *store.Run) (store.RunUpdate, error) {
					r.Steps[0].Attempts++ // a read-modify-write: lost if two updates overlap
					return store.RunUpdate{Events: []store.RunEvent{{Type: store.EventStepRetrying, Message: fmt.Sprintf("%d/%d", w, i)}}}, nil
				})
				if err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	got, err := s.GetRun(ctx, r.ID)
	if err != nil || got.Steps[0].Attempts != workers*each || got.Events != 1+workers*each {
		t.Fatalf("after %d updates: attempts %d, events %d, %v", workers*each, got.Steps[0].Attempts, got.Events, err)
	}
	if seqs := eventSeqs(t, s, r.ID, 0, 0); !slices.Equal(seqs, seqRange(1, 1+workers*each)) {
		t.Fatalf("event numbers: %v, want 1..%d without gap or duplicate", seqs, 1+workers*each)
	}
}
