package workflow

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/gantry-dev/gantry/invoke"
	"github.com/gantry-dev/gantry/store"
)

// errNoChange: a move found nothing to change; UpdateRun writes nothing.
var errNoChange = errors.New("workflow: nothing to change")

// mover moves one run on, inside the store's write of it: it applies the results of the
// run's calls that ended, starts what is ready, and ends the run when nothing is left. It
// changes the run in place and gathers what the write stores with it (events, calls) and
// what the engine does after the write (cancels).
type mover struct {
	r       *store.Run
	p       *Program
	results map[string]store.Execution // final executions of the run's calls, by ID
	now     time.Time
	stepOf  func(invoke.StepRequest) (store.StepCall, error)

	update  store.RunUpdate
	cancels []string // calls to stop once the write is stored
	changed bool
	state   *State        // decoded lazily; nil after a step's output changes
	items   map[int][]any // the items of map steps, evaluated once per move
}

func (m *mover) event(ev store.RunEvent) {
	ev.Time = m.now
	m.update.Events = append(m.update.Events, ev)
	m.changed = true
}

// move is the whole of one move of a run.
func (m *mover) move() {
	r := m.r
	if r.Done() {
		return
	}
	if r.Status == store.StatusQueued {
		r.Status, r.StartedAt = store.StatusRunning, m.now
		m.event(store.RunEvent{Type: store.EventStarted, Status: store.StatusRunning})
	}
	for i := range r.Steps {
		m.collect(i)
	}
	m.st() // the state with the outputs just collected: past MaxStateBytes, the run stops
	if r.Stopping == "" {
		for m.startReady() {
		}
	}
	if r.Stopping != "" {
		m.stop()
	}
	m.finishIfDone()
	if r.Events+int64(len(m.update.Events)) > store.MaxRunEvents && !r.Done() {
		m.fail(store.ReasonLimit, fmt.Sprintf("the run passed %d events", store.MaxRunEvents))
		m.stop()
		m.finishIfDone()
	}
}

// collect applies the results of step i's calls that ended, and ends a sleep that is over.
func (m *mover) collect(i int) {
	s, sp := &m.r.Steps[i], &m.p.Steps[i]
	switch {
	case s.Status != store.StatusRunning:
	case sp.Sleep > 0:
		if !s.WakeAt.After(m.now) {
			m.endStep(i, store.StatusSuccess, "", "", nil)
		}
	case sp.Map != nil:
		m.collectItems(i)
	default:
		ex, ok := m.results[last(s.Calls)]
		if !ok {
			return
		}
		if ex.Status == store.StatusSuccess && ex.OutputTruncated {
			m.endStep(i, store.StatusFailed, store.ReasonLimit, truncated(ex), nil)
			return
		}
		if ex.Status == store.StatusSuccess {
			m.endStep(i, store.StatusSuccess, "", "", outputJSON(ex.Output))
			return
		}
		if m.retries(sp, ex, s.Attempts) {
			s.Status, s.WakeAt = store.StatusQueued, m.now.Add(sp.Retry.Delay(s.Attempts))
			m.event(store.RunEvent{Type: store.EventStepRetrying, Step: s.Name, Attempt: s.Attempts, Call: ex.ID, Status: ex.Status, Reason: ex.Reason, Message: ex.Error})
			return
		}
		m.endStep(i, ex.Status, ex.Reason, callError(ex), nil)
	}
}

func (m *mover) collectItems(i int) {
	s, sp := &m.r.Steps[i], &m.p.Steps[i]
	for j := range s.Items {
		it := &s.Items[j]
		ex, ok := m.results[it.Call]
		if it.Status != store.StatusRunning || !ok {
			continue
		}
		item := j
		switch {
		case ex.Status == store.StatusSuccess && ex.OutputTruncated:
			it.Status, it.Reason, it.Error = store.StatusFailed, store.ReasonLimit, truncated(ex)
		case ex.Status == store.StatusSuccess:
			it.Status, it.Output = store.StatusSuccess, outputJSON(ex.Output)
			m.state = nil // its size counts
		case m.retries(sp, ex, it.Attempts):
			it.Status, it.WakeAt = store.StatusQueued, m.now.Add(sp.Retry.Delay(it.Attempts))
			m.event(store.RunEvent{Type: store.EventStepRetrying, Step: s.Name, Item: &item, Attempt: it.Attempts, Call: ex.ID, Status: ex.Status, Reason: ex.Reason, Message: ex.Error})
			continue
		default:
			it.Status, it.Reason, it.Error = ex.Status, ex.Reason, callError(ex)
		}
		m.event(store.RunEvent{Type: store.EventStepFinished, Step: s.Name, Item: &item, Attempt: it.Attempts, Call: ex.ID, Status: it.Status, Reason: it.Reason, Message: it.Error})
	}
	// The step fails with its first FAILED item; items cancelled are the engine's doing
	// once one failed (or a cancel's), and count only when none failed.
	var failed, cancelled *store.ItemRun
	done := true
	for j := range s.Items {
		it := &s.Items[j]
		switch {
		case !store.StatusFinal(it.Status):
			done = false
		case it.Status == store.StatusFailed && failed == nil:
			failed = it
		case it.Status == store.StatusCancelled && cancelled == nil:
			cancelled = it
		}
	}
	if failed == nil {
		failed = cancelled
	}
	switch {
	case failed != nil: // the step fails as soon as one item does: its other items stop
		for j := range s.Items {
			m.stopItem(s, j)
		}
		if !m.itemsRunning(s) {
			m.endStep(i, failed.Status, failed.Reason, fmt.Sprintf("item %d: %s", indexOf(s.Items, failed), failed.Error), nil)
		}
	case done:
		outs := make([]json.RawMessage, len(s.Items))
		for j := range s.Items {
			outs[j], s.Items[j].Output = s.Items[j].Output, nil // kept once: in the step's output
		}
		out, _ := json.Marshal(outs)
		m.endStep(i, store.StatusSuccess, "", "", out)
	}
}

// retries tells whether a failed attempt gets another under the step's policy.
func (m *mover) retries(sp *StepProgram, ex store.Execution, attempts int) bool {
	return m.r.Stopping == "" && ex.Status == store.StatusFailed && sp.Retry.On[ex.Reason] && attempts < sp.Retry.MaxAttempts
}

// endStep ends step i; a failure that the step does not continue past stops the run.
func (m *mover) endStep(i int, status, reason, msg string, output json.RawMessage) {
	s := &m.r.Steps[i]
	s.Status, s.Reason, s.Error, s.CompletedAt, s.WakeAt = status, reason, msg, m.now, time.Time{}
	if output != nil {
		s.Output = output
		m.state = nil
	}
	m.event(store.RunEvent{Type: store.EventStepFinished, Step: s.Name, Attempt: s.Attempts, Call: last(s.Calls), Status: status, Reason: reason, Message: msg})
	if status == store.StatusSuccess || m.p.Steps[i].Continue || m.r.Stopping != "" {
		return
	}
	if status == store.StatusCancelled {
		m.r.Stopping, m.r.Reason, m.r.Error = store.StatusCancelled, store.ReasonClientRequest, fmt.Sprintf("step %s was cancelled", s.Name)
		return
	}
	m.fail(reason, fmt.Sprintf("step %s failed: %s", s.Name, msg))
}

// fail makes the run end FAILED once its running calls have stopped.
func (m *mover) fail(reason, msg string) {
	if m.r.Stopping == "" {
		m.r.Stopping, m.r.Reason, m.r.Error = store.StatusFailed, reason, msg
		m.changed = true
	}
}

// startReady starts the steps whose needs are done, the attempts whose backoff is over and
// the map items that fit the concurrency; it reports whether it changed a step's status
// (which may make others ready).
func (m *mover) startReady() bool {
	progress := false
	for i := range m.r.Steps {
		if m.r.Stopping != "" {
			return false
		}
		s, sp := &m.r.Steps[i], &m.p.Steps[i]
		switch {
		case s.Status == store.StatusPending && m.needsDone(sp):
			m.startStep(i)
			progress = true
		case s.Status == store.StatusQueued && !s.WakeAt.After(m.now):
			s.WakeAt = time.Time{}
			m.attempt(i, -1)
			progress = true
		case s.Status == store.StatusRunning && sp.Map != nil:
			m.startItems(i)
		}
	}
	return progress
}

func (m *mover) needsDone(sp *StepProgram) bool {
	for _, n := range sp.Needs {
		d := m.r.Steps[n]
		switch {
		case d.Status == store.StatusSuccess, d.Status == store.StatusSkipped:
		case store.StatusFinal(d.Status) && m.p.Steps[n].Continue:
		default:
			return false
		}
	}
	return true
}

// startStep starts a step whose needs are done: skipped, asleep, or its first call(s).
func (m *mover) startStep(i int) {
	s, sp := &m.r.Steps[i], &m.p.Steps[i]
	st := m.st()
	if m.r.Stopping != "" { // the state passed its bound: nothing starts
		return
	}
	ok, err := m.p.Condition(i, *st)
	switch {
	case err != nil:
		m.r.Steps[i].StartedAt = m.now
		m.endStep(i, store.StatusFailed, store.ReasonError, "when: "+err.Error(), nil)
		return
	case !ok:
		s.Status, s.CompletedAt = store.StatusSkipped, m.now
		m.event(store.RunEvent{Type: store.EventStepSkipped, Step: s.Name, Status: store.StatusSkipped})
		return
	}
	s.StartedAt = m.now
	switch {
	case sp.Sleep > 0:
		s.Status, s.WakeAt = store.StatusRunning, m.now.Add(sp.Sleep)
		m.event(store.RunEvent{Type: store.EventStepSleeping, Step: s.Name, Status: store.StatusRunning, Message: "until " + s.WakeAt.Format(time.RFC3339Nano)})
	case sp.Map != nil:
		items, err := m.mapItems(i)
		if err != nil {
			reason := store.ReasonError
			if errors.Is(err, ErrTooManyItems) {
				reason = store.ReasonLimit
			}
			m.endStep(i, store.StatusFailed, reason, "map: "+err.Error(), nil)
			return
		}
		s.Status, s.Items = store.StatusRunning, make([]store.ItemRun, len(items))
		for j := range s.Items {
			s.Items[j].Status = store.StatusPending
		}
		m.event(store.RunEvent{Type: store.EventStepStarted, Step: s.Name, Status: store.StatusRunning, Message: fmt.Sprintf("%d items", len(items))})
		m.startItems(i)
		if len(items) == 0 {
			m.endStep(i, store.StatusSuccess, "", "", json.RawMessage("[]"))
		}
	default:
		m.attempt(i, -1)
	}
}

// startItems starts the pending items of map step i (and those whose backoff is over) that
// fit its concurrency.
func (m *mover) startItems(i int) {
	s, sp := &m.r.Steps[i], &m.p.Steps[i]
	running := 0
	for _, it := range s.Items {
		if it.Status == store.StatusRunning {
			running++
		}
	}
	for j := range s.Items {
		if running >= sp.Map.MaxConcurrency || m.r.Stopping != "" {
			return
		}
		it := &s.Items[j]
		if it.Status == store.StatusPending || it.Status == store.StatusQueued && !it.WakeAt.After(m.now) {
			it.WakeAt = time.Time{}
			m.attempt(i, j)
			running++
		}
	}
}

// attempt starts the next attempt of step i (item j of a map step, or -1): its call.
func (m *mover) attempt(i, j int) {
	s, sp := &m.r.Steps[i], &m.p.Steps[i]
	st := m.st()
	if m.r.Stopping != "" {
		return
	}
	var body []byte
	var err error
	var items []any
	if j >= 0 {
		if items, err = m.mapItems(i); err == nil && j >= len(items) {
			err = fmt.Errorf("map: the items changed: %d items, item %d", len(items), j)
		}
		if err == nil {
			body, err = m.p.Body(i, *st, items[j], j)
		}
	} else {
		body, err = m.p.Body(i, *st, nil, 0)
	}
	var secrets []string
	if err == nil {
		secrets, err = stepSecrets(sp.Secrets, m.r.TriggeredBy)
	}
	var sc store.StepCall
	if err == nil {
		header := http.Header{}
		for k, v := range sp.Call.Headers {
			header.Set(k, v)
		}
		if body != nil && header.Get("Content-Type") == "" {
			header.Set("Content-Type", "application/json")
		}
		sc, err = m.stepOf(invoke.StepRequest{App: sp.Call.App, AppID: m.r.Apps[sp.Call.App], Path: sp.Call.Path, Method: sp.Call.Method,
			Header: header, Body: body, Timeout: sp.Timeout, Parent: m.r.ID, Step: s.Name,
			Secrets: secrets, SecretsOwner: m.r.Owner, SecretsLent: lentBy(sp.Secrets, m.r.TriggeredBy)})
	}
	if err != nil {
		if j >= 0 {
			it := &s.Items[j]
			it.Status, it.Reason, it.Error = store.StatusFailed, store.ReasonError, err.Error()
			m.collectItems(i)
			return
		}
		m.endStep(i, store.StatusFailed, store.ReasonError, err.Error(), nil)
		return
	}
	m.update.Calls = append(m.update.Calls, sc)
	ev := store.RunEvent{Type: store.EventStepStarted, Step: s.Name, Call: sc.Task.ID, Status: store.StatusRunning}
	if j >= 0 {
		it := &s.Items[j]
		it.Status, it.Call = store.StatusRunning, sc.Task.ID
		it.Attempts++
		item := j
		ev.Item, ev.Attempt = &item, it.Attempts
		s.Calls = append(s.Calls, sc.Task.ID)
	} else {
		s.Status = store.StatusRunning
		s.Attempts++
		s.Calls = append(s.Calls, sc.Task.ID)
		ev.Attempt = s.Attempts
	}
	m.event(ev)
}

// stop, for a run that ends (a failure or a cancel): steps and items not started never
// start, calls still running are stopped (after the write), and the run ends once none is.
func (m *mover) stop() {
	for i := range m.r.Steps {
		s := &m.r.Steps[i]
		for j := range s.Items {
			m.stopItem(s, j)
		}
		switch {
		case s.Status == store.StatusPending, s.Status == store.StatusQueued,
			s.Status == store.StatusRunning && m.p.Steps[i].Sleep > 0,
			s.Status == store.StatusRunning && m.p.Steps[i].Map != nil && !m.itemsRunning(s):
			s.Status, s.CompletedAt, s.WakeAt = store.StatusCancelled, m.now, time.Time{}
			m.event(store.RunEvent{Type: store.EventStepFinished, Step: s.Name, Status: store.StatusCancelled, Reason: store.ReasonClientRequest})
		case s.Status == store.StatusRunning && m.p.Steps[i].Map == nil:
			m.cancels = append(m.cancels, last(s.Calls))
		}
	}
}

// stopItem keeps item j of s from starting, or has its call stopped.
func (m *mover) stopItem(s *store.StepRun, j int) {
	it := &s.Items[j]
	switch it.Status {
	case store.StatusPending, store.StatusQueued:
		it.Status, it.WakeAt = store.StatusCancelled, time.Time{}
		m.changed = true
	case store.StatusRunning:
		m.cancels = append(m.cancels, it.Call)
	}
}

func (m *mover) itemsRunning(s *store.StepRun) bool {
	for _, it := range s.Items {
		if it.Status == store.StatusRunning {
			return true
		}
	}
	return false
}

// finishIfDone ends the run when no step is left to run or wait for.
func (m *mover) finishIfDone() {
	r := m.r
	if r.Done() {
		return
	}
	for _, s := range r.Steps {
		if !store.StatusFinal(s.Status) && s.Status != store.StatusSkipped {
			return
		}
	}
	st := m.st() // first: a state past its bound stops the run
	status := r.Stopping
	if status == "" {
		out, err := m.p.Outputs(*st)
		switch {
		case err != nil:
			status, r.Reason, r.Error = store.StatusFailed, store.ReasonError, "outputs: "+err.Error()
		case len(out) > MaxStateBytes:
			status, r.Reason, r.Error = store.StatusFailed, store.ReasonLimit, fmt.Sprintf("the outputs pass %d bytes", MaxStateBytes)
		default:
			status, r.Outputs = store.StatusSuccess, out
		}
	}
	r.Status, r.CompletedAt, r.Stopping = status, m.now, ""
	m.event(store.RunEvent{Type: store.EventFinished, Status: status, Reason: r.Reason, Message: r.Error})
}

// mapItems evaluates the items of map step i, once per move.
func (m *mover) mapItems(i int) ([]any, error) {
	if items, ok := m.items[i]; ok {
		return items, nil
	}
	items, err := m.p.Items(i, *m.st())
	if err != nil {
		return items, err
	}
	if m.items == nil {
		m.items = map[int][]any{}
	}
	m.items[i] = items
	return items, nil
}

// st is the run's state as templates and conditions read it.
func (m *mover) st() *State {
	if m.state == nil {
		st, size := runState(*m.r)
		m.state = &st
		if size > MaxStateBytes {
			m.fail(store.ReasonLimit, fmt.Sprintf("the run's state (inputs and step outputs) passed %d bytes", MaxStateBytes))
		}
	}
	return m.state
}

// runState decodes a run's inputs and step outputs, and tells their size in bytes.
func runState(r store.Run) (State, int) {
	st := State{Steps: make(map[string]StepState, len(r.Steps))}
	size := len(r.Inputs)
	if len(r.Inputs) > 0 {
		_ = json.Unmarshal(r.Inputs, &st.Inputs)
	}
	for _, s := range r.Steps {
		ss := StepState{Status: s.Status}
		if len(s.Output) > 0 {
			size += len(s.Output)
			_ = json.Unmarshal(s.Output, &ss.Output)
		}
		for _, it := range s.Items { // the outputs of a map step's items, until it ends
			size += len(it.Output)
		}
		st.Steps[s.Name] = ss
	}
	return st, size
}

// outputJSON is a call's output as the state holds it: its JSON, or a JSON string.
func outputJSON(body []byte) json.RawMessage {
	b, err := json.Marshal(OutputValue(body))
	if err != nil {
		b, _ = json.Marshal(string(body))
	}
	return b
}

// truncated is the error of a call whose output passed the runner's cap: the state never
// takes a cut output for the whole.
func truncated(ex store.Execution) string {
	return fmt.Sprintf("call %s: its output passed the cap on a call's output and was cut; the run's state takes no cut output", ex.ID)
}

func callError(ex store.Execution) string {
	if ex.Error != "" {
		return ex.Error
	}
	return fmt.Sprintf("call %s ended %s (%s)", ex.ID, ex.Status, ex.Reason)
}

func last(calls []string) string {
	if len(calls) == 0 {
		return ""
	}
	return calls[len(calls)-1]
}

func indexOf(items []store.ItemRun, it *store.ItemRun) int {
	for j := range items {
		if &items[j] == it {
			return j
		}
	}
	return -1
}

// finishBroken ends a run whose definition no longer parses (Stopping is set): its
// calls still running are stopped, and it ends once none is.
func (m *mover) finishBroken() {
	running := false
	for i := range m.r.Steps {
		s := &m.r.Steps[i]
		if s.Status == store.StatusRunning && len(s.Items) == 0 && len(s.Calls) > 0 {
			if _, ok := m.results[last(s.Calls)]; !ok {
				m.cancels, running = append(m.cancels, last(s.Calls)), true
				continue
			}
		}
		for _, it := range s.Items {
			if _, ok := m.results[it.Call]; it.Status == store.StatusRunning && !ok {
				m.cancels, running = append(m.cancels, it.Call), true
			}
		}
	}
	if running {
		return
	}
	for i := range m.r.Steps {
		if s := &m.r.Steps[i]; !store.StatusFinal(s.Status) && s.Status != store.StatusSkipped {
			s.Status, s.CompletedAt = store.StatusCancelled, m.now
		}
	}
	m.finishIfDone()
}
