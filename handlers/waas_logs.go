package handlers

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/go-openapi/runtime/middleware"
	"github.com/go-openapi/strfmt"

	waasmodels "github.com/gantry-dev/gantry/gen/waas/models"
	"github.com/gantry-dev/gantry/gen/waas/restapi/operations/executions"
	"github.com/gantry-dev/gantry/store"
)

// Log levels of the /waas surface, as the bits of the `levels` mask.
const (
	waasDebug = 1 << iota
	waasInfo
	waasWarn
	waasError

	waasAllLevels     = waasDebug | waasInfo | waasWarn | waasError
	waasDefaultLevels = waasInfo | waasWarn | waasError // levels=0
)

// Bounds of the long poll of GET /waas/executions/{id}/logs.
const (
	waasDefaultLogWait = 30 * time.Second // under the client's own one-minute limit
	waasMaxLogWait     = 5 * time.Minute
)

var waasLevelNames = map[int]string{waasDebug: "DEBUG", waasInfo: "INFO", waasWarn: "WARN", waasError: "ERROR"}

// waasLogEntry is one entry of a run's log on the /waas surface.
type waasLogEntry struct {
	level   int
	time    time.Time
	content string
}

// waasLog builds a run's log entries, append-only, from its events in order (see
// eventEntry) and, right after the event that ends an attempt of a step (step_finished or
// step_retrying naming its call), the lines of that call's log (attemptEntries). It reads
// the events it has not seen yet on each call of more, so a long poll reads each once.
type waasLog struct {
	run     store.Run
	seen    int64
	entries []waasLogEntry
	logged  map[string]bool // calls whose lines are in entries
	started map[string]store.RunEvent
}

// more appends the entries of the events after the last one seen.
func (l *waasLog) more(ctx context.Context, s Store) error {
	if l.logged == nil {
		l.logged, l.started = map[string]bool{}, map[string]store.RunEvent{}
	}
	for {
		events, err := s.ListRunEvents(ctx, l.run.ID, l.seen, eventPage)
		if err != nil {
			return err
		}
		if len(events) == 0 {
			return nil
		}
		for _, e := range events {
			l.entries = append(l.entries, l.eventEntry(e))
			switch e.Type {
			case store.EventStepStarted:
				if e.Call != "" {
					l.started[e.Call] = e
				}
			case store.EventStepFinished, store.EventStepRetrying:
				if e.Call != "" && !l.logged[e.Call] {
					l.logged[e.Call] = true
					if err := l.attemptEntries(ctx, s, e); err != nil {
						return err
					}
				}
			}
			l.seen = e.Seq
		}
	}
}

// eventEntry is an event as a log entry: INFO, step_retrying WARN, a step or run that ended
// FAILED ERROR.
func (l *waasLog) eventEntry(e store.RunEvent) waasLogEntry {
	level := waasInfo
	step := "step " + e.Step
	if e.Item != nil {
		step += fmt.Sprintf(" item %d", *e.Item)
	}
	var parts []string
	for _, p := range []string{e.Reason, e.Message} {
		if p != "" {
			parts = append(parts, p)
		}
	}
	why := ""
	if len(parts) > 0 {
		why = " (" + strings.Join(parts, ": ") + ")"
	}
	var content string
	switch e.Type {
	case store.EventQueued:
		content = fmt.Sprintf("execution queued: workflow %s version %d", l.run.Workflow, l.run.WorkflowVersion)
	case store.EventStarted:
		content = "execution started"
	case store.EventStepStarted:
		switch {
		case e.Call != "":
			content = fmt.Sprintf("%s started attempt %d (call %s)", step, max(e.Attempt, 1), e.Call)
		case e.Message != "":
			content = fmt.Sprintf("%s started: %s", step, e.Message)
		default:
			content = step + " started"
		}
	case store.EventStepFinished:
		content = fmt.Sprintf("%s finished: %s%s", step, e.Status, why)
		if e.Status == store.StatusFailed {
			level = waasError
		}
	case store.EventStepRetrying:
		content = fmt.Sprintf("%s attempt %d ended %s%s; it will be retried", step, e.Attempt, e.Status, why)
		level = waasWarn
	case store.EventStepSkipped:
		content = step + " skipped: its condition is false"
	case store.EventStepSleeping:
		content = fmt.Sprintf("%s sleeping %s", step, e.Message)
	case store.EventCancelling:
		content = "cancel requested"
	case store.EventFinished:
		content = fmt.Sprintf("execution finished: %s%s", e.Status, why)
		if e.Status == store.StatusFailed {
			level = waasError
		}
	default:
		content = strings.TrimSpace(fmt.Sprintf("%s %s %s%s", e.Type, e.Step, e.Status, why))
	}
	return waasLogEntry{level: level, time: e.Time, content: content}
}

// attemptEntries appends the lines of the log of the call an event ends, INFO, at the
// event's time, each led by the step (and item, and attempt after the first) it comes from.
func (l *waasLog) attemptEntries(ctx context.Context, s Store, e store.RunEvent) error {
	log, err := s.GetExecutionLog(ctx, e.Call)
	if errors.Is(err, store.ErrNotFound) || len(log) == 0 {
		return nil
	}
	if err != nil {
		return err
	}
	item, attempt := e.Item, e.Attempt
	if st, ok := l.started[e.Call]; ok {
		item, attempt = st.Item, st.Attempt
	}
	prefix := "[" + e.Step
	if item != nil {
		prefix += fmt.Sprintf(" item %d", *item)
	}
	if attempt > 1 {
		prefix += fmt.Sprintf(" attempt %d", attempt)
	}
	prefix += "] "
	for line := range bytes.Lines(log) {
		line = bytes.TrimSuffix(bytes.TrimSuffix(line, []byte("\n")), []byte("\r"))
		l.entries = append(l.entries, waasLogEntry{level: waasInfo, time: e.Time, content: prefix + string(line)})
	}
	return nil
}

// filtered returns the entries whose level is in mask.
func (l *waasLog) filtered(mask int) []waasLogEntry {
	var out []waasLogEntry
	for _, e := range l.entries {
		if e.level&mask != 0 {
			out = append(out, e)
		}
	}
	return out
}

// GetExecutionLogs answers the entries of a run's log of the chosen levels from index
// `from` of that filtered sequence, at most `size` (-1: all). When there is no entry at
// `from` yet, it waits for one (a long poll, woken by the run's changes through waitRun) up
// to `timeout` (30s by default, at most 5m), and then answers what there is, possibly
// nothing. A final run gets no new entry, but is waited on all the same, as upstream does:
// `waas executions logs --follow` asks again at once, forever, without a pause of its own,
// and an immediate empty answer would make it spin against the server.
func (s *WaaS) GetExecutionLogs(ctx context.Context, params executions.GetExecutionLogsParams) middleware.Responder {
	from, size, mask := int64(0), int64(-1), 0
	if params.From != nil {
		from = *params.From
	}
	if params.Size != nil {
		size = *params.Size
	}
	if params.Levels != nil {
		mask = int(*params.Levels) & waasAllLevels
	}
	if mask == 0 {
		mask = waasDefaultLevels
	}
	wait := waasDefaultLogWait
	if params.Timeout != nil {
		d, err := time.ParseDuration(*params.Timeout)
		if err != nil || d < 0 {
			return s.fail(errInvalidField("timeout", fmt.Sprintf("timeout %q is not a duration such as 30s or 1m30s", *params.Timeout)))
		}
		wait = min(d, waasMaxLogWait)
	}
	run, err := s.a.visibleRun(ctx, params.ID)
	if err != nil {
		return s.fail(err)
	}
	waitCtx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	l := &waasLog{run: run}
	for {
		if err := l.more(ctx, s.a.store); err != nil {
			return s.fail(err)
		}
		entries := l.filtered(mask)
		if int64(len(entries)) > from || waitCtx.Err() != nil {
			return executions.NewGetExecutionLogsOK().WithPayload(waasLogs(entries, from, size))
		}
		if run.Done() { // nothing more will come
			<-waitCtx.Done()
			if ctx.Err() != nil {
				return s.fail(ctx.Err())
			}
			continue
		}
		if err := s.a.waitRun(waitCtx, run.ID, l.seen); err != nil && (ctx.Err() != nil || waitCtx.Err() == nil) {
			return s.fail(err) // the client went away, or the store failed
		}
		if run, err = s.a.store.GetRun(ctx, run.ID); err != nil {
			return s.fail(err)
		}
		l.run = run
	}
}

// waasLogs is the answer: entries[from:][:size] (size -1: all), the count of entries, from.
func waasLogs(entries []waasLogEntry, from, size int64) *waasmodels.Logs {
	total := int64(len(entries))
	page := []*waasmodels.LogEntry{}
	if from < total {
		end := total
		if size >= 0 && size < end-from { // from+size may pass the largest int64
			end = from + size
		}
		for _, e := range entries[from:end] {
			level, content, ts := waasLevelNames[e.level], e.content, strfmt.DateTime(e.time.UTC())
			page = append(page, &waasmodels.LogEntry{Level: &level, Content: &content, Timestamp: &ts})
		}
	}
	return &waasmodels.Logs{Logs: page, TotalResults: &total, From: &from}
}
