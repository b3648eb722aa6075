package handlers

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/go-openapi/strfmt"

	"github.com/gantry-dev/gantry/events"
	"github.com/gantry-dev/gantry/gen/models"
	"github.com/gantry-dev/gantry/store"
)

// cloudEventToModel is an event without its deliveries: its data as JSON when its content type
// is JSON (or unset) and the data is valid JSON, else in base64.
func cloudEventToModel(ev store.Event) *models.Event {
	m := &models.Event{
		Key: ev.Key, ID: ev.EventID, Source: ev.Source, Type: ev.Type, Specversion: ev.SpecVersion,
		Subject: ev.Subject, Time: dateTime(ev.Time), Datacontenttype: ev.DataContentType, Dataschema: ev.DataSchema,
		Extensions: ev.Extensions, Owner: ev.Owner, Public: ev.Public, ReceivedAt: dateTime(ev.ReceivedAt),
	}
	switch {
	case len(ev.Data) == 0:
	case (ev.DataContentType == "" || events.IsJSON(ev.DataContentType)) && json.Valid(ev.Data):
		m.Data = json.RawMessage(ev.Data)
	default:
		m.DataBase64 = strfmt.Base64(ev.Data)
	}
	return m
}

// deliveryToModel is a delivery with the status of its current execution ("" unknown).
func deliveryToModel(d store.Delivery, executionStatus string) *models.Delivery {
	executions := d.Executions
	if executions == nil {
		executions = []string{}
	}
	return &models.Delivery{
		ID: d.ID, Event: d.Event, Subscription: d.Subscription, SubscriptionID: d.SubscriptionID, Owner: d.Owner, Status: d.Status, Workflow: d.Workflow,
		ExecutionID: d.Execution, ExecutionStatus: executionStatus, Executions: executions, DeadLetter: d.DeadLetter,
		CreatedAt: dateTime(d.CreatedAt), UpdatedAt: dateTime(d.UpdatedAt),
	}
}

func subscriptionToModel(s store.Subscription) *models.Subscription {
	typ, enabled, attempts := s.Filter.Type, s.Enabled, int64(s.Retry.MaxAttempts)
	m := &models.Subscription{
		Name: s.Name, ID: s.ID, Owner: s.Owner, Enabled: &enabled, DeadLetter: s.DeadLetter, Scope: s.Scope,
		Filter:    &models.SubscriptionFilter{Type: &typ, Source: s.Filter.Source, Subject: s.Filter.Subject},
		Target:    &models.SubscriptionTarget{Workflow: s.Target.Workflow},
		Retry:     &models.RetryPolicy{MaxAttempts: &attempts, Initial: durationString(s.Retry.Initial), Max: durationString(s.Retry.Max)},
		CreatedAt: dateTime(s.CreatedAt), UpdatedAt: dateTime(s.UpdatedAt),
	}
	if s.Target.App != "" {
		app, path := s.Target.App, s.Target.Path
		m.Target.Function = &models.FunctionTarget{App: &app, Path: &path}
	}
	return m
}

// patchSubscription applies the fields of m that are present to s: filter, target and
// retry given replace the old ones (their absent fields left zero, for defaults).
func patchSubscription(s *store.Subscription, m *models.Subscription) error {
	if m.Filter != nil {
		s.Filter = store.EventMatch{Source: m.Filter.Source, Subject: m.Filter.Subject}
		if m.Filter.Type != nil {
			s.Filter.Type = *m.Filter.Type
		}
	}
	if m.Target != nil {
		s.Target = store.DeliveryTarget{Workflow: m.Target.Workflow}
		if f := m.Target.Function; f != nil {
			s.Target.App, s.Target.Path = deref(f.App), deref(f.Path)
		}
	}
	setIfPresent(&s.Enabled, m.Enabled)
	if m.Retry != nil {
		s.Retry = store.RetryPolicy{}
		if m.Retry.MaxAttempts != nil {
			s.Retry.MaxAttempts = int(*m.Retry.MaxAttempts)
		}
		var err error
		if s.Retry.Initial, err = parseDuration("retry.initial", m.Retry.Initial); err != nil {
			return err
		}
		if s.Retry.Max, err = parseDuration("retry.max", m.Retry.Max); err != nil {
			return err
		}
	}
	if m.DeadLetter != "" {
		s.DeadLetter = m.DeadLetter
	}
	if m.Scope != "" {
		s.Scope = m.Scope
	}
	return nil
}

// subscriptionField names the fields of the events service's checks as the request body
// does: a function target's "target.app" is "target.function.app".
func subscriptionField(err error) error {
	var verr *store.ValidationError
	if errors.As(err, &verr) {
		switch verr.Field {
		case "target.app", "target.path":
			err = &store.ValidationError{Field: "target.function." + verr.Field[len("target."):], Message: verr.Message}
		}
	}
	return withFieldPrefix("subscription", err)
}

func scheduleToModel(s store.Schedule) *models.Schedule {
	enabled := s.Enabled
	m := &models.Schedule{
		Name: s.Name, ID: s.ID, Owner: s.Owner, Cron: s.Cron, Timezone: s.Timezone, Missed: s.Missed, Enabled: &enabled,
		Target: &models.ScheduleTarget{}, NextRun: dateTime(s.NextRun), LastTick: dateTime(s.LastTick),
		CreatedAt: dateTime(s.CreatedAt), UpdatedAt: dateTime(s.UpdatedAt),
	}
	switch t := s.Target; {
	case t.Call != nil:
		app, path := t.Call.App, t.Call.Path
		m.Target.Call = &models.ScheduledCall{App: &app, Path: &path, Method: t.Call.Method, Headers: t.Call.Header, Body: string(t.Call.Body)}
	case t.Workflow != nil:
		name := t.Workflow.Name
		m.Target.Workflow = &models.ScheduledWorkflow{Name: &name}
		if len(t.Workflow.Inputs) > 0 {
			m.Target.Workflow.Inputs = t.Workflow.Inputs
		}
	case t.Event != nil:
		typ := t.Event.Type
		m.Target.Event = &models.ScheduledEvent{Type: &typ, Subject: t.Event.Subject, Datacontenttype: t.Event.DataContentType}
		if len(t.Event.Data) > 0 {
			m.Target.Event.Data = t.Event.Data
		}
	}
	return m
}

// patchSchedule applies the fields of m that are present to s; a target given replaces
// the old one.
func patchSchedule(s *store.Schedule, m *models.Schedule) error {
	if m.Cron != "" {
		s.Cron = m.Cron
	}
	if m.Timezone != "" {
		s.Timezone = m.Timezone
	}
	if m.Missed != "" {
		s.Missed = m.Missed
	}
	setIfPresent(&s.Enabled, m.Enabled)
	if m.Target == nil {
		return nil
	}
	s.Target = store.ScheduleTarget{}
	if c := m.Target.Call; c != nil {
		s.Target.Call = &store.ScheduledCall{App: deref(c.App), Path: deref(c.Path), Method: c.Method, Header: http.Header(c.Headers)}
		if c.Body != "" {
			s.Target.Call.Body = []byte(c.Body)
		}
	}
	if w := m.Target.Workflow; w != nil {
		inputs, err := rawJSON(w.Inputs)
		if err != nil {
			return errInvalidField("target.workflow.inputs", err.Error())
		}
		s.Target.Workflow = &store.ScheduledWorkflow{Name: deref(w.Name), Inputs: inputs}
	}
	if e := m.Target.Event; e != nil {
		data, err := rawJSON(e.Data)
		if err != nil {
			return errInvalidField("target.event.data", err.Error())
		}
		s.Target.Event = &store.ScheduledEvent{Type: deref(e.Type), Subject: e.Subject, DataContentType: e.Datacontenttype, Data: data}
	}
	return nil
}

// parseDuration reads a duration of a request body ("500ms", "10s", "5m"); "" is zero.
func parseDuration(field, v string) (time.Duration, error) {
	if v == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		return 0, errInvalidField(field, fmt.Sprintf("%s %q is not a duration such as 500ms, 10s or 5m", field, v))
	}
	return d, nil
}

// durationString is a duration as the API writes it ("1s", "1m0s"); "" for zero.
func durationString(d time.Duration) string {
	if d == 0 {
		return ""
	}
	return d.String()
}

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}
