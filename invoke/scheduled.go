package invoke

import (
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/gantry-dev/gantry/store"
)

// TypeScheduleTick is the CloudEvents type of a schedule's call: a tick's call carries
// the tick as an event in binary mode (see ScheduledCall).
const TypeScheduleTick = "dev.gantry.schedule.tick"

// ScheduleSource is the CloudEvents source of the events of the schedule named name: the
// events its ticks publish, and the ce-source of its calls.
func ScheduleSource(name string) string { return "/gantry/schedules/" + name }

// ScheduleTickID is the CloudEvents id of a tick of the schedule whose ID is id: the
// tick's idempotency key, the same on every node.
func ScheduleTickID(id string, tick time.Time) string {
	return id + ":" + tick.UTC().Format(time.RFC3339)
}

// ScheduledRequest is the call that a schedule's tick makes: resolved when it fires, and
// accepted by the scheduler in the same store write as the claim of its tick
// (store.ClaimTick).
type ScheduledRequest struct {
	App    string
	Path   string // the path under the app, as /r/ calls take it
	Method string // default POST
	Header http.Header
	Body   []byte
	// AppID, when set, is the app the call must reach (the app of that name when the
	// schedule was written, not a later one of the same name).
	AppID string
	// Owner, when set, must still own the app: a schedule calls its owner's functions
	// only, never those of an app that changed hands since it was written (ErrNotFound).
	Owner string
	// ScheduleID, Schedule and Tick name the schedule and the tick that makes the call.
	ScheduleID, Schedule string
	Tick                 time.Time
}

// ScheduledCall resolves a schedule's call to its function as an async call would be (the
// route and app as they are now, kept in the task) and returns it ready for the queue.
// The tick reaches the function as a CloudEvent in binary mode, over the schedule's own
// headers (whose Gantry-* ones are dropped, as a caller's are): ce-type
// dev.gantry.schedule.tick, ce-source /gantry/schedules/<name>, ce-id "<schedule ID>:<tick>"
// (the tick's idempotency key), ce-time the tick; the body is the schedule's. An app that
// is no longer the one the schedule was written over (AppID), or no longer its owner's
// (Owner), is not found (store.ErrNotFound): the tick calls nobody else's. The route's
// max_retries applies, as to every async call: a tick fires once, and its call is retried
// as any call.
func (s *Service) ScheduledCall(req ScheduledRequest) (store.StepCall, error) {
	if req.Schedule == "" || req.ScheduleID == "" || req.Tick.IsZero() {
		return store.StepCall{}, fmt.Errorf("scheduled call of %s%s: no schedule or tick", req.App, req.Path)
	}
	header := http.Header{}
	for k, v := range req.Header {
		if !strings.HasPrefix(strings.ToLower(k), "ce-") {
			header[k] = v
		}
	}
	for k, v := range BinaryHeader(store.Event{EventID: ScheduleTickID(req.ScheduleID, req.Tick), Source: ScheduleSource(req.Schedule),
		Type: TypeScheduleTick, SpecVersion: "1.0", Time: req.Tick}) {
		header[k] = v
	}
	c, _, err := s.prepare(queuedCall{App: req.App, Path: req.Path, AppID: req.AppID, Owner: req.Owner, Method: req.Method, Header: header, Body: req.Body})
	return c, err
}
