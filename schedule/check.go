package schedule

import (
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"time"
	"unicode"

	"github.com/gantry-dev/gantry/store"
)

var (
	// nameRE is the rule of schedule names (that of subscriptions and secrets).
	nameRE     = regexp.MustCompile(`^[a-z0-9][a-z0-9_.-]{0,62}$`)
	appNameRE  = regexp.MustCompile(`^[A-Za-z0-9_-]{1,255}$`)
	methodRE   = regexp.MustCompile(`^[A-Z]{1,20}$`)
	headerRE   = regexp.MustCompile("^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
	maxTextLen = 255 // workflow names, event types and subjects
)

// MaxBody caps the body of a scheduled call and the data of a scheduled event.
const MaxBody = 256 << 10

// Check applies a schedule's defaults (missed "skip", timezone "" = UTC, a call's method
// POST), validates it (its name, cron expression, time zone, missed policy and target:
// exactly one of call, workflow or event) and sets NextRun to its first tick after now
// (zero when it is disabled). Errors are store validation errors naming the field. Check
// does not look the target up (its app, route or workflow): the caller does, as it knows
// who may use it.
func Check(s *store.Schedule, now time.Time) error {
	if !nameRE.MatchString(s.Name) {
		return invalid("name", "schedule name %q must match %s", s.Name, nameRE)
	}
	if s.Timezone == "" {
		s.Timezone = "UTC"
	}
	c, err := parseClock(s.Cron, s.Timezone)
	if err != nil {
		return err
	}
	s.Cron = strings.TrimSpace(s.Cron)
	switch s.Missed {
	case "":
		s.Missed = store.MissedSkip
	case store.MissedSkip, store.MissedRunOnce:
	default:
		return invalid("missed", "missed must be %q or %q, not %q", store.MissedSkip, store.MissedRunOnce, s.Missed)
	}
	if err := checkTarget(&s.Target); err != nil {
		return err
	}
	s.NextRun = time.Time{}
	if s.Enabled {
		s.NextRun = c.next(now)
	}
	return nil
}

// checkTarget checks that exactly one target is set, and that one.
func checkTarget(t *store.ScheduleTarget) error {
	n := 0
	for _, set := range []bool{t.Call != nil, t.Workflow != nil, t.Event != nil} {
		if set {
			n++
		}
	}
	if n != 1 {
		return invalid("target", "a schedule has exactly one target: a call, a workflow or an event (%d given)", n)
	}
	switch {
	case t.Call != nil:
		return checkCall(t.Call)
	case t.Workflow != nil:
		return checkWorkflow(t.Workflow)
	default:
		return checkEvent(t.Event)
	}
}

func checkCall(c *store.ScheduledCall) error {
	if !appNameRE.MatchString(c.App) {
		return invalid("target.call.app", "app name %q must match %s", c.App, appNameRE)
	}
	if !strings.HasPrefix(c.Path, "/") || strings.ContainsFunc(c.Path, unicode.IsControl) {
		return invalid("target.call.path", "the path of the call must start with / (a path under the app, as /r/%s takes it), not %q", c.App, c.Path)
	}
	if c.Method == "" {
		c.Method = http.MethodPost
	}
	if !methodRE.MatchString(c.Method) {
		return invalid("target.call.method", "method %q is not an HTTP method (GET, POST, ...)", c.Method)
	}
	for k, vs := range c.Header {
		if !headerRE.MatchString(k) {
			return invalid("target.call.header", "header name %q is not a valid HTTP header name", k)
		}
		for _, v := range vs {
			if strings.ContainsAny(v, "\r\n\x00") {
				return invalid("target.call.header", "the value of header %s may not hold CR, LF or NUL", k)
			}
		}
	}
	if len(c.Body) > MaxBody {
		return invalid("target.call.body", "the body of a scheduled call is at most %d bytes, not %d", MaxBody, len(c.Body))
	}
	return nil
}

func checkWorkflow(w *store.ScheduledWorkflow) error {
	if err := text("target.workflow.name", "workflow name", w.Name); err != nil {
		return err
	}
	if len(w.Inputs) > 0 && !json.Valid(w.Inputs) {
		return invalid("target.workflow.inputs", "the inputs of the workflow must be JSON")
	}
	if len(w.Inputs) > MaxBody {
		return invalid("target.workflow.inputs", "the inputs of a scheduled run are at most %d bytes, not %d", MaxBody, len(w.Inputs))
	}
	return nil
}

func checkEvent(e *store.ScheduledEvent) error {
	if err := text("target.event.type", "event type", e.Type); err != nil {
		return err
	}
	if e.Subject != "" {
		if err := text("target.event.subject", "event subject", e.Subject); err != nil {
			return err
		}
	}
	if len(e.Data) > 0 && !json.Valid(e.Data) {
		return invalid("target.event.data", "the data of the event must be JSON")
	}
	if len(e.Data) > MaxBody {
		return invalid("target.event.data", "the data of a scheduled event is at most %d bytes, not %d", MaxBody, len(e.Data))
	}
	if strings.ContainsFunc(e.DataContentType, unicode.IsControl) || len(e.DataContentType) > maxTextLen {
		return invalid("target.event.datacontenttype", "datacontenttype %q is not a media type", e.DataContentType)
	}
	return nil
}

// text checks a required short text without control characters.
func text(field, what, v string) error {
	switch {
	case v == "":
		return invalid(field, "%s is required", what)
	case len(v) > maxTextLen:
		return invalid(field, "%s is at most %d bytes", what, maxTextLen)
	case strings.ContainsFunc(v, unicode.IsControl):
		return invalid(field, "%s %q may not hold control characters", what, v)
	}
	return nil
}

// invalid is a store validation error naming field.
func invalid(field, format string, args ...any) error {
	return store.Invalid(field, format, args...)
}

// Next is the first tick of s strictly after after (zero when there is none): what the
// scheduler and Check compute, for callers that show upcoming ticks.
func Next(s store.Schedule, after time.Time) (time.Time, error) {
	c, err := parseClock(s.Cron, s.Timezone)
	if err != nil {
		return time.Time{}, fmt.Errorf("schedule %s: %w", s.Name, err)
	}
	return c.next(after), nil
}
