package schedule

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/gantry-dev/gantry/events"
	"github.com/gantry-dev/gantry/invoke"
	"github.com/gantry-dev/gantry/store"
	"github.com/gantry-dev/gantry/workflow"
)

// fireDue fires the ticks of every schedule held that are due at now, and returns when
// the next one is due (zero when none is coming).
func (s *Scheduler) fireDue(ctx context.Context, now time.Time) time.Time {
	s.mu.Lock()
	list := make([]store.Schedule, 0, len(s.schedules))
	for _, sc := range s.schedules {
		list = append(list, sc)
	}
	s.mu.Unlock()
	var wakeAt time.Time
	for _, sc := range list {
		if ctx.Err() != nil {
			return time.Time{}
		}
		if at := s.fireSchedule(ctx, sc, now); !at.IsZero() && (wakeAt.IsZero() || at.Before(wakeAt)) {
			wakeAt = at
		}
	}
	return wakeAt
}

// fireSchedule fires (or skips, as its missed policy says) the ticks of sc due at now,
// and returns when sc next needs the scheduler (zero: never, until it changes).
func (s *Scheduler) fireSchedule(ctx context.Context, sc store.Schedule, now time.Time) time.Time {
	if !sc.Enabled || sc.NextRun.IsZero() {
		return time.Time{}
	}
	c, err := s.clockOf(sc)
	if err != nil { // stored before a rule it breaks: it cannot fire until it is changed (logged once)
		return time.Time{}
	}
	s.mu.Lock()
	retryAt := s.failed[sc.ID]
	s.mu.Unlock()
	if now.Before(retryAt) {
		return retryAt
	}
	for ctx.Err() == nil {
		t, ok := s.decide(c, sc, now)
		switch {
		case !ok:
			return time.Time{}
		case now.Before(t.tick):
			return t.tick
		}
		claimed, err := s.fire(ctx, sc, t)
		if err != nil && s.givesUp(sc, t, now, err) {
			s.log.Error("scheduler: a tick given up: its fire failed past the grace (skipped)", "schedule", sc.Name, "tick", t.tick, "err", err)
			t.fire = false
			claimed, err = s.fire(ctx, sc, t)
		}
		if err != nil {
			s.log.Warn("scheduler: fire a tick (tried again)", "schedule", sc.Name, "tick", t.tick, "err", err)
			s.mu.Lock()
			s.failed[sc.ID] = now.Add(s.retry)
			s.mu.Unlock()
			return now.Add(s.retry)
		}
		s.mu.Lock()
		delete(s.failed, sc.ID)
		delete(s.failing, sc.ID)
		s.mu.Unlock()
		if !claimed { // fired by another node, or before a restart, or the schedule is gone: read it again
			s.log.Debug("scheduler: a tick claimed already", "schedule", sc.Name, "tick", t.tick)
			s.mu.Lock()
			s.stale = true
			s.mu.Unlock()
			s.signal()
			return time.Time{}
		}
		s.log.Debug("scheduler: tick", "schedule", sc.Name, "tick", t.tick, "fired", t.fire, "next", t.next)
		sc.LastTick, sc.NextRun = t.tick, t.next
		s.mu.Lock()
		if held, ok := s.schedules[sc.Name]; ok && held.ID == sc.ID && held.LastTick.Before(t.tick) {
			held.LastTick, held.NextRun = t.tick, t.next
			s.schedules[sc.Name] = held
		}
		s.mu.Unlock()
		if t.next.IsZero() {
			return time.Time{}
		}
	}
	return time.Time{}
}

// givesUp reports whether the fire of plan's tick of sc, which failed at now with err,
// is given up: the tick is claimed without firing (skipped, as a missed tick of policy
// skip is), rather than tried again. A fire that fails is tried again every RetryDelay
// while its tick is on time; a late one (a run_once schedule's missed tick, or an on-time
// one whose fire kept failing) for the grace from its first failure. A store that cannot
// answer is waited out: the claim would fail too.
func (s *Scheduler) givesUp(sc store.Schedule, plan tickPlan, now time.Time, err error) bool {
	if !plan.fire || errors.Is(err, store.ErrUnavailable) || errors.Is(err, context.Canceled) {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	f, ok := s.failing[sc.ID]
	if !ok || !f.tick.Equal(plan.tick) {
		f = failure{tick: plan.tick, since: now}
		s.failing[sc.ID] = f
	}
	return !s.onTime(plan.tick, plan.next, now) && now.Sub(f.since) >= s.grace
}

// tickPlan is what to do about a schedule's due tick: claim tick, firing its target when
// fire is set (else the tick is skipped), and move the schedule on to next.
type tickPlan struct {
	tick, next time.Time
	fire       bool
}

// decide plans the next claim of sc at now: its next tick when it is not due yet (the
// caller waits for it); else, of the ticks due, the latest when it is on time or when the
// missed policy is skip (skipped, then) or run_once (fired late); but when the latest is
// on time and others were missed before it, run_once first fires the latest missed one,
// and the next plan the latest. ok is false when the schedule has no tick to come.
func (s *Scheduler) decide(c clock, sc store.Schedule, now time.Time) (tickPlan, bool) {
	first := sc.NextRun
	if !first.After(sc.LastTick) { // written on a node whose clock is behind the one that fired
		first = c.next(sc.LastTick)
	}
	if first.IsZero() {
		return tickPlan{}, false
	}
	if now.Before(first) {
		return tickPlan{tick: first}, true
	}
	latest, prev := latestTick(c, first, now)
	next := c.next(latest)
	if s.onTime(latest, next, now) {
		if sc.Missed == store.MissedRunOnce && !prev.IsZero() {
			return tickPlan{tick: prev, next: latest, fire: true}, true
		}
		return tickPlan{tick: latest, next: next, fire: true}, true
	}
	return tickPlan{tick: latest, next: next, fire: sc.Missed == store.MissedRunOnce}, true
}

// onTime reports whether tick, the latest due, is on time at now: later than it by less
// than the grace and than the time to the tick after it (next, zero if none).
func (s *Scheduler) onTime(tick, next, now time.Time) bool {
	window := s.grace
	if !next.IsZero() {
		window = min(window, next.Sub(tick))
	}
	return now.Sub(tick) < window
}

// latestTick finds, of the ticks from first (a tick) to now, the latest and the one before
// it (zero when the latest is first). It walks forward from a window before now, doubled
// until it holds two ticks, so that a schedule down for a year is not walked tick by tick.
func latestTick(c clock, first, now time.Time) (latest, prev time.Time) {
	t := first
	for w := time.Minute; ; w *= 2 {
		from := now.Add(-w)
		if !from.After(first) {
			break
		}
		if n := c.next(from); !n.IsZero() && !n.After(now) {
			if n2 := c.next(n); !n2.IsZero() && !n2.After(now) {
				t = n
				break
			}
		}
	}
	for !t.IsZero() && !t.After(now) {
		prev, latest = latest, t
		t = c.next(t)
	}
	if latest.Equal(first) {
		prev = time.Time{}
	}
	return latest, prev
}

// fire claims plan's tick of sc, firing its target when plan says so, as the schedule's
// owner: a call of an app (the one it was written over) and a run of a workflow still
// that owner's, never another's of the same name (ErrNotFound: the fire fails). A call is accepted
// in the claim's write; an event is published, or a workflow run triggered, before it,
// both idempotent by the tick (a second publish of the event, or trigger with the key,
// makes nothing new), so that a fire that fails after them, tried again, or claimed
// by no one until the tick is missed, never fires twice.
func (s *Scheduler) fire(ctx context.Context, sc store.Schedule, plan tickPlan) (bool, error) {
	if !plan.fire {
		return s.store.ClaimTick(ctx, sc.ID, sc.Name, sc.UpdatedAt, plan.tick, plan.next, nil)
	}
	tick := plan.tick.UTC()
	switch tg := sc.Target; {
	case tg.Call != nil:
		call, err := s.calls.ScheduledCall(invoke.ScheduledRequest{App: tg.Call.App, Path: tg.Call.Path, AppID: tg.Call.AppID,
			Owner: sc.Owner, Method: tg.Call.Method, Header: tg.Call.Header, Body: tg.Call.Body, ScheduleID: sc.ID, Schedule: sc.Name, Tick: tick})
		if err != nil {
			return false, fmt.Errorf("the call of %s%s: %w", tg.Call.App, tg.Call.Path, err)
		}
		return s.store.ClaimTick(ctx, sc.ID, sc.Name, sc.UpdatedAt, plan.tick, plan.next, &call)
	case tg.Event != nil:
		if _, err := s.events.Publish(ctx, []store.Event{TickEvent(sc, tick)}); err != nil {
			return false, fmt.Errorf("publish event %s: %w", tg.Event.Type, err)
		}
	case tg.Workflow != nil:
		w, err := s.store.GetWorkflow(ctx, tg.Workflow.Name)
		if err == nil && w.Owner != sc.Owner {
			err = store.Errorf(store.ErrNotFound, "workflow %q is not %s's (it was made again by another since the schedule was written)", w.Name, sc.Owner)
		}
		if err != nil {
			return false, fmt.Errorf("run workflow %s: %w", tg.Workflow.Name, err)
		}
		if _, _, err := s.flows.Trigger(ctx, w, tg.Workflow.Inputs, workflow.TriggerOptions{TriggeredBy: sc.Owner, IdempotencyKey: TickKey(sc, tick)}); err != nil {
			return false, fmt.Errorf("run workflow %s: %w", tg.Workflow.Name, err)
		}
	default:
		return false, fmt.Errorf("schedule %s has no target", sc.Name)
	}
	return s.claimFired(ctx, sc, plan)
}

// claimFired claims a tick whose event or run was made already. The schedule may have
// changed since sc was read (ClaimTick then refuses): the tick fired all the same, so it is
// claimed against the schedule as it is now, if that is still the one (its ID), enabled and
// has not passed the tick, with the next run its own cron gives — never fired again as the
// changed schedule's (another owner's event or run would not be the first one's duplicate).
func (s *Scheduler) claimFired(ctx context.Context, sc store.Schedule, plan tickPlan) (bool, error) {
	claimed, err := s.store.ClaimTick(ctx, sc.ID, sc.Name, sc.UpdatedAt, plan.tick, plan.next, nil)
	if claimed || err != nil {
		return claimed, err
	}
	now, err := s.store.GetSchedule(ctx, sc.Name)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	if err != nil || now.ID != sc.ID || !now.Enabled || !now.LastTick.Before(plan.tick) || now.UpdatedAt.Equal(sc.UpdatedAt) {
		return false, err
	}
	next := now.NextRun
	if !next.After(plan.tick) {
		if next, err = Next(now, plan.tick); err != nil {
			return false, err
		}
	}
	return s.store.ClaimTick(ctx, now.ID, now.Name, now.UpdatedAt, plan.tick, next, nil)
}

// TickEvent is the event that tick of sc, an event schedule, publishes: its source is the
// schedule's, its id the schedule's ID and the tick, its time the tick, its owner the
// schedule's owner, public when an admin wrote the schedule for itself (as an admin's
// publish is). Its data is read as a structured event's is: JSON as it is when its
// datacontenttype is JSON (the default), else a JSON string's text ("x" is x).
func TickEvent(sc store.Schedule, tick time.Time) store.Event {
	e := sc.Target.Event
	ev := store.Event{EventID: invoke.ScheduleTickID(sc.ID, tick), Source: invoke.ScheduleSource(sc.Name),
		Type: e.Type, SpecVersion: "1.0", Subject: e.Subject, Time: tick.UTC(), DataContentType: e.DataContentType,
		Owner: sc.Owner, Public: e.Public}
	if len(e.Data) > 0 {
		ev.Data = []byte(e.Data)
		if ev.DataContentType == "" {
			ev.DataContentType = "application/json"
		}
		var text string
		if !events.IsJSON(ev.DataContentType) && json.Unmarshal(e.Data, &text) == nil {
			ev.Data = []byte(text)
		}
	}
	return ev
}

// TickKey is the idempotency key of the workflow run that tick of sc, a workflow
// schedule, starts.
func TickKey(sc store.Schedule, tick time.Time) string {
	return "schedule:" + sc.ID + ":" + tick.UTC().Format(time.RFC3339)
}
