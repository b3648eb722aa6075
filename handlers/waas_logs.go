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

// waasLogBounds bound the lines of calls' logs in a run's /waas log, so that a request does
// not read and hold every line of a map of thousands of items: at most attemptLines lines of
// an attempt's call log, and no line at all once the log holds entries entries or bytes
// bytes of content (events still follow: there are at most store.MaxRunEvents). Each cut is
// one WARN entry. The cuts depend only on what comes before them, so `from` stays stable.
type waasLogBounds struct {
	attemptLines int
	entries      int64
	bytes        int64
}

var defaultWaaSLogBounds = waasLogBounds{attemptLines: 2000, entries: 200_000, bytes: 16 << 20}

// waasLog builds a run's log entries, append-only, from its events in order (see
// eventEntry) and, right after the event that ends an attempt of a step (step_finished or
// step_retrying naming its call), the lines of that call's log (attemptEntries), within
// bound. It keeps only the window asked for: the entries of the levels of mask numbered
// [from, from+size) (size -1: to the end), and counts the others. It reads the events it
// has not seen yet on each call of more, so a long poll reads each once.
type waasLog struct {
	run        store.Run
	bound      waasLogBounds
	mask       int
	from, size int64

	seen    int64
	logged  map[string]bool // calls whose lines were added
	started map[string]store.RunEvent
	entries int64 // of every level
	bytes   int64 // of the content of every entry
	cut     bool  // no more lines of calls' logs (bound)
	total   int64 // entries of the levels of mask
	page    []waasLogEntry
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
			l.add(l.eventEntry(e))
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

// next counts the next entry, of level with n bytes of content, and tells whether it is
// in the window (then the caller adds it to page).
func (l *waasLog) next(level, n int) bool {
	l.entries++
	l.bytes += int64(n)
	if level&l.mask == 0 {
		return false
	}
	in := inWindow(l.total, l.from, l.size)
	l.total++
	return in
}

// inWindow tells whether entry i is in the window of size entries from from (size -1: to
// the end); from+size may pass the largest int64.
func inWindow(i, from, size int64) bool {
	return i >= from && (size < 0 || i-from < size)
}

// add counts an entry, and keeps it when it is in the window.
func (l *waasLog) add(e waasLogEntry) {
	if l.next(e.level, len(e.content)) {
		l.page = append(l.page, e)
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
// event's time, each led by the step (and item, and attempt after the first) it comes from;
// at most bound.attemptLines of them, then a WARN entry telling how many more there are and
// where to read them; none once the log passed its bound (one WARN entry says so, once).
func (l *waasLog) attemptEntries(ctx context.Context, s Store, e store.RunEvent) error {
	if l.cut || l.mask&(waasInfo|waasWarn) == 0 { // nothing of it would be seen
		return nil
	}
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
	lines, more := 0, 0
	for line := range bytes.Lines(log) {
		if lines == l.bound.attemptLines {
			more++
			continue
		}
		if l.entries >= l.bound.entries || l.bytes >= l.bound.bytes {
			l.cut = true
			l.add(waasLogEntry{level: waasWarn, time: e.Time, content: fmt.Sprintf(
				"the call logs of this execution stop here: it passed %d entries or %d bytes; its events still follow, and each call's log is whole at GET /v1/executions/{call}/log",
				l.bound.entries, l.bound.bytes)})
			return nil
		}
		lines++
		line = bytes.TrimSuffix(bytes.TrimSuffix(line, []byte("\n")), []byte("\r"))
		if l.next(waasInfo, len(prefix)+len(line)) {
			l.page = append(l.page, waasLogEntry{level: waasInfo, time: e.Time, content: prefix + string(line)})
		}
	}
	if more > 0 {
		l.add(waasLogEntry{level: waasWarn, time: e.Time, content: fmt.Sprintf(
			"%sthis attempt's log goes on for %d more lines, not shown here; it is whole at GET /v1/executions/%s/log", prefix, more, e.Call)})
	}
	return nil
}

// GetExecutionLogs answers the entries of a run's log of the chosen levels from index
// `from` of that filtered sequence, at most `size` (-1: all). When there is no entry at
// `from` yet, it waits for one (a long poll, woken by the run's changes through waitRun) up
// to `timeout` (30s by default, at most 5m), and then answers what there is, possibly
// nothing. A final run gets no new entry, but is waited on all the same, as upstream does:
// `waas executions logs --follow` asks again at once, forever, without a pause of its own,
// and an immediate empty answer would make it spin against the server. The log is bounded
// (waasLogBounds), and only the page answered is held. A wait ends early, answering what
// there is, when the server stops (EndStreams).
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
	l := &waasLog{run: run, bound: s.a.waasLogBound, mask: mask, from: from, size: size}
	for {
		if err := l.more(ctx, s.a.store); err != nil {
			return s.fail(err)
		}
		if l.total > from || waitCtx.Err() != nil || s.a.streamsEnded() {
			return executions.NewGetExecutionLogsOK().WithPayload(waasLogs(l.page, from, l.total))
		}
		if run.Done() { // nothing more will come
			select {
			case <-waitCtx.Done():
			case <-s.a.streamsEnd:
			}
			if ctx.Err() != nil {
				return s.fail(ctx.Err())
			}
			continue
		}
		err := s.a.waitRun(waitCtx, run.ID, l.seen)
		if ctx.Err() != nil {
			return s.fail(ctx.Err()) // the client went away
		}
		if err != nil && waitCtx.Err() == nil && !errors.Is(err, errStreamsEnded) {
			return s.fail(err) // the store failed
		}
		if run, err = s.a.store.GetRun(ctx, run.ID); err != nil {
			return s.fail(err)
		}
		l.run = run
	}
}

// waasLogs is the answer: the entries of the window, which starts at from, of total.
func waasLogs(page []waasLogEntry, from, total int64) *waasmodels.Logs {
	out := []*waasmodels.LogEntry{}
	for _, e := range page {
		level, content, ts := waasLevelNames[e.level], e.content, strfmt.DateTime(e.time.UTC())
		out = append(out, &waasmodels.LogEntry{Level: &level, Content: &content, Timestamp: &ts})
	}
	return &waasmodels.Logs{Logs: out, TotalResults: &total, From: &from}
}
