package handlers

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/go-openapi/runtime/middleware"

	"github.com/gantry-dev/gantry/auth"
	"github.com/gantry-dev/gantry/events"
	"github.com/gantry-dev/gantry/gen/models"
	"github.com/gantry-dev/gantry/gen/restapi/operations/schedules"
	"github.com/gantry-dev/gantry/store"
)

// CheckSchedule is what the API needs of the scheduler (schedule.Check): a schedule's
// defaults applied, its cron, time zone and target validated (a store.ValidationError
// naming the field → 400), and its NextRun set from now.
type CheckSchedule func(s *store.Schedule, now time.Time) error

// ListSchedules answers one page of schedules in name order: a developer's own, or for an
// admin all of them or one owner's.
func (a *API) ListSchedules(ctx context.Context, params schedules.ListSchedulesParams) middleware.Responder {
	owner, err := ownerFilter(caller(ctx), params.Owner, "schedules")
	if err != nil {
		return a.errorResponse(err)
	}
	f := store.ScheduleFilter{}
	if owner != "" {
		f.Visible = func(s store.Schedule) bool { return s.Owner == owner }
	}
	list, next, err := a.store.ListSchedules(ctx, f, page(params.PerPage, params.Cursor))
	if err != nil {
		return a.errorResponse(err)
	}
	out := &models.SchedulesWrapper{Schedules: make([]*models.Schedule, 0, len(list)), NextCursor: next}
	for _, s := range list {
		out.Schedules = append(out.Schedules, scheduleToModel(s))
	}
	return schedules.NewListSchedulesOK().WithPayload(out)
}

// CreateSchedule creates a schedule owned by the caller, enabled unless it says otherwise.
func (a *API) CreateSchedule(ctx context.Context, params schedules.CreateScheduleParams) middleware.Responder {
	in := params.Body.Schedule
	switch {
	case in == nil:
		return a.badRequest("schedule", "schedule is required")
	case in.Name == "":
		return a.badRequest("schedule.name", "schedule.name is required")
	case in.Cron == "":
		return a.badRequest("schedule.cron", "schedule.cron is required, e.g. \"*/5 * * * *\" or \"@every 30s\"")
	case in.Target == nil:
		return a.badRequest("schedule.target", "schedule.target is required: a call, a workflow or an event")
	case a.checkSchedule == nil:
		return responder(errNoSchedules())
	}
	sc := store.Schedule{Name: in.Name, Owner: caller(ctx).Name, Enabled: true}
	if err := a.checkScheduleWrite(ctx, &sc, in); err != nil {
		return a.errorResponse(err)
	}
	created, err := a.store.CreateSchedule(ctx, sc)
	if err != nil {
		return a.errorResponse(withFieldPrefix("schedule", err))
	}
	return schedules.NewCreateScheduleCreated().WithPayload(&models.ScheduleWrapper{Schedule: scheduleToModel(created)})
}

// GetSchedule answers one schedule of the caller's.
func (a *API) GetSchedule(ctx context.Context, params schedules.GetScheduleParams) middleware.Responder {
	s, err := a.schedule(ctx, params.Name)
	if err != nil {
		return a.errorResponse(err)
	}
	return schedules.NewGetScheduleOK().WithPayload(&models.ScheduleWrapper{Schedule: scheduleToModel(s)})
}

// PatchSchedule changes the fields given, checked again as a whole (its next run computed
// again); an admin may give the schedule to another owner.
func (a *API) PatchSchedule(ctx context.Context, params schedules.PatchScheduleParams) middleware.Responder {
	in, who := params.Body.Schedule, caller(ctx)
	switch {
	case in == nil:
		return a.badRequest("schedule", "schedule is required")
	case in.Name != "" && in.Name != params.Name:
		return a.badRequest("schedule.name", "schedule.name %q differs from the schedule in the URL (%q); schedules cannot be renamed", in.Name, params.Name)
	case in.Owner != "" && in.Owner != who.Name && !who.IsAdmin():
		return a.errorResponse(auth.Forbidden("only an admin may give a schedule to another owner"))
	}
	if in.Owner != "" {
		if err := store.ValidateUserName(in.Owner); err != nil {
			return a.errorResponse(withField("schedule.owner", err))
		}
	}
	current, err := a.schedule(ctx, params.Name)
	if err != nil {
		return a.errorResponse(err)
	}
	if a.checkSchedule == nil {
		return responder(errNoSchedules())
	}
	// The target's check reads the store: it runs before the write, on the schedule as it
	// was read, and the write refuses (409) if the schedule changed meanwhile.
	next := current
	if in.Owner != "" {
		next.Owner = in.Owner
	}
	if err := a.checkScheduleWrite(ctx, &next, in); err != nil {
		return a.errorResponse(err)
	}
	updated, err := a.store.UpdateSchedule(ctx, params.Name, func(s *store.Schedule) error {
		if s.ID != current.ID || !s.UpdatedAt.Equal(current.UpdatedAt) { // changed, or deleted and made again
			return store.Errorf(store.ErrConflict, "schedule %q changed while it was updated: try again", params.Name)
		}
		next.ID, next.LastTick, next.CreatedAt, next.UpdatedAt = s.ID, s.LastTick, s.CreatedAt, s.UpdatedAt
		*s = next
		return nil
	}, scheduleGuard(ctx, params.Name))
	if err != nil {
		return a.errorResponse(withFieldPrefix("schedule", err))
	}
	return schedules.NewPatchScheduleOK().WithPayload(&models.ScheduleWrapper{Schedule: scheduleToModel(updated)})
}

// DeleteSchedule deletes a schedule of the caller's; what its ticks fired stays.
func (a *API) DeleteSchedule(ctx context.Context, params schedules.DeleteScheduleParams) middleware.Responder {
	if err := a.store.DeleteSchedule(ctx, params.Name, scheduleGuard(ctx, params.Name)); err != nil {
		return a.errorResponse(err)
	}
	return schedules.NewDeleteScheduleNoContent()
}

// checkScheduleWrite applies the fields of in to sc and checks the result: the scheduler's
// check (cron, time zone, target's shape; NextRun set), then the target itself, which
// must be the schedule's owner's (an app's route, a workflow) and no system event. An
// event schedule that an admin writes as its own publishes public events, as the admin's
// publishes are.
func (a *API) checkScheduleWrite(ctx context.Context, sc *store.Schedule, in *models.Schedule) error {
	if err := patchSchedule(sc, in); err != nil {
		return withFieldPrefix("schedule", err)
	}
	if err := a.checkSchedule(sc, a.now()); err != nil {
		return withFieldPrefix("schedule", err)
	}
	if e := sc.Target.Event; e != nil {
		who := caller(ctx)
		e.Public = who.IsAdmin() && who.Name == sc.Owner
	}
	return withFieldPrefix("schedule", a.checkScheduleTarget(ctx, sc.Owner, sc.Target))
}

// checkScheduleTarget checks that a schedule of owner may fire its target: a call of a
// route of one of owner's apps, a run of one of owner's workflows, an event of a type that
// is not Gantry's own. The scheduler fires a tick as the schedule's owner, and checks
// again at each tick (the app or workflow may have changed hands since): an admin, who
// may write another's schedule or give one to another owner, may not point it at a third
// one's target. Another's app or workflow reads as one that does not exist, unless the
// caller may see it. A call is pinned to its app's ID (store.ScheduledCall.AppID): its
// ticks never call a later app of the same name.
func (a *API) checkScheduleTarget(ctx context.Context, owner string, t store.ScheduleTarget) error {
	who := caller(ctx)
	switch {
	case t.Call != nil:
		appOwner, err := a.store.AppOwner(t.Call.App)
		switch {
		case errors.Is(err, store.ErrNotFound), err == nil && !mayUse(who, appOwner):
			return errInvalidField("target.call.app", "app \""+t.Call.App+"\" not found")
		case err != nil:
			return err
		case appOwner != owner:
			return errInvalidField("target.call.app", "app \""+t.Call.App+"\" is "+appOwner+"'s: a schedule calls its owner's ("+owner+"'s) functions only")
		}
		if t.Call.AppID, err = a.store.AppID(t.Call.App); err != nil {
			return err
		}
		if _, _, err := a.store.MatchRoute(t.Call.App, t.Call.Path); errors.Is(err, store.ErrNotFound) {
			return errInvalidField("target.call.path", "no route of app \""+t.Call.App+"\" matches "+t.Call.Path)
		} else if err != nil {
			return err
		}
	case t.Workflow != nil:
		w, err := a.store.GetWorkflow(ctx, t.Workflow.Name)
		switch {
		case errors.Is(err, store.ErrNotFound), err == nil && !mayUse(who, w.Owner):
			return errInvalidField("target.workflow.name", "workflow \""+t.Workflow.Name+"\" not found")
		case err != nil:
			return err
		case w.Owner != owner:
			return errInvalidField("target.workflow.name", "workflow \""+t.Workflow.Name+"\" is "+w.Owner+"'s: a schedule runs its owner's ("+owner+"'s) workflows only")
		}
	case t.Event != nil:
		if strings.HasPrefix(t.Event.Type, events.SystemPrefix) {
			return errInvalidField("target.event.type", "types under "+events.SystemPrefix+" are Gantry's own events, not "+t.Event.Type)
		}
	}
	return nil
}

// schedule reads a schedule the caller may see; another's is not found.
func (a *API) schedule(ctx context.Context, name string) (store.Schedule, error) {
	s, err := a.store.GetSchedule(ctx, name)
	if err == nil {
		err = scheduleGuard(ctx, name)(s.Owner)
	}
	return s, err
}

// scheduleGuard is the ownership check of a schedule.
func scheduleGuard(ctx context.Context, name string) store.AppGuard {
	return ownerGuard(ctx, store.NotFound("schedule", name))
}
