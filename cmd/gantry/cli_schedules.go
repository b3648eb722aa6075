package main

// This file holds `gantry schedules`: cron schedules that call a function, run a workflow
// or publish an event, each tick once.

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/gantry-dev/gantry/gen/client/schedules"
	"github.com/gantry-dev/gantry/gen/models"
)

// newSchedulesCmd builds `gantry schedules` and its subcommands.
func newSchedulesCmd(cf *clientFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "schedules",
		Aliases: []string{"schedule"},
		Short:   "Call functions, run workflows or publish events on a clock",
	}
	cmd.AddCommand(
		newOwnedListCmd(cf, ownedList[*models.Schedule]{
			what:  "schedules",
			fetch: (*session).listSchedulesPage,
			show: func(s *session, items []*models.Schedule, next string) error {
				return s.out.show(&models.SchedulesWrapper{Schedules: items, NextCursor: next}, func(w io.Writer) error {
					t := table{header: []string{"NAME", "CRON", "TIMEZONE", "TARGET", "ENABLED", "NEXT RUN", "OWNER"}}
					for _, sc := range items {
						t.rows = append(t.rows, []string{sc.Name, sc.Cron, sc.Timezone, scheduleTarget(sc.Target), enabledCell(sc.Enabled), formatTime(sc.NextRun), sc.Owner})
					}
					return writeTable(w, t)
				})
			},
		}),
		newScheduleWriteCmd(cf, true),
		newScheduleGetCmd(cf),
		newScheduleWriteCmd(cf, false),
		newScheduleDeleteCmd(cf),
	)
	return cmd
}

// listSchedulesPage gets one page of schedules, of owner only unless owner is "".
func (s *session) listSchedulesPage(ctx context.Context, owner, cursor string, perPage int64) ([]*models.Schedule, string, error) {
	params := schedules.NewListSchedulesParams().WithPerPage(&perPage)
	if owner != "" {
		params.SetOwner(&owner)
	}
	if cursor != "" {
		params.SetCursor(&cursor)
	}
	res, err := s.api.Schedules.ListSchedulesContext(ctx, params, nil)
	if err != nil {
		return nil, "", clientError("list schedules", err)
	}
	return res.GetPayload().Schedules, res.GetPayload().NextCursor, nil
}

// scheduleFlags are the flags of `schedules create` and `update`.
type scheduleFlags struct {
	cron, tz, missed, owner               string
	call, method, body                    string
	workflow, inputs                      string
	eventType, subject, data, contentType string
	enable, disable                       bool
}

// toModel is the schedule the flags given describe (on update, only those changed); data
// reads @FILE and @- values.
func (sf scheduleFlags) toModel(readValue func(string) (string, error)) (*models.Schedule, error) {
	m := &models.Schedule{Cron: sf.cron, Timezone: sf.tz, Missed: sf.missed, Owner: sf.owner}
	switch {
	case sf.call != "":
		app, path, ok := strings.Cut(sf.call, "/")
		if !ok || app == "" {
			return nil, fmt.Errorf("--call %q: want APP/ROUTE, e.g. shop/cleanup", sf.call)
		}
		path = "/" + path
		body, err := readValue(sf.body)
		if err != nil {
			return nil, err
		}
		m.Target = &models.ScheduleTarget{Call: &models.ScheduledCall{App: &app, Path: &path, Method: strings.ToUpper(sf.method), Body: body}}
	case sf.workflow != "":
		name := sf.workflow
		m.Target = &models.ScheduleTarget{Workflow: &models.ScheduledWorkflow{Name: &name}}
		if sf.inputs != "" {
			v, err := jsonValue("--inputs", sf.inputs, readValue)
			if err != nil {
				return nil, err
			}
			m.Target.Workflow.Inputs = v
		}
	case sf.eventType != "":
		typ := sf.eventType
		m.Target = &models.ScheduleTarget{Event: &models.ScheduledEvent{Type: &typ, Subject: sf.subject, Datacontenttype: sf.contentType}}
		if sf.data != "" {
			v, err := jsonValue("--data", sf.data, readValue)
			if err != nil {
				return nil, err
			}
			m.Target.Event.Data = v
		}
	}
	switch {
	case sf.enable:
		t := true
		m.Enabled = &t
	case sf.disable:
		f := false
		m.Enabled = &f
	}
	return m, nil
}

// jsonValue reads a JSON flag value: JSON text, @FILE or @- for stdin.
func jsonValue(flag, v string, readValue func(string) (string, error)) (json.RawMessage, error) {
	text, err := readValue(v)
	if err != nil {
		return nil, err
	}
	if !json.Valid([]byte(text)) {
		return nil, fmt.Errorf("%s: not JSON", flag)
	}
	return json.RawMessage(text), nil
}

func newScheduleWriteCmd(cf *clientFlags, create bool) *cobra.Command {
	var sf scheduleFlags
	cmd := &cobra.Command{
		Use:   "create NAME --cron EXPR [--tz ZONE] (--call APP/ROUTE [--body B] | --workflow W [--inputs JSON] | --event-type T [--data JSON])",
		Short: "Create a schedule",
		Long: "Create a schedule: --cron is 5 fields (minute hour day month weekday), 6 with seconds\n" +
			"first, or @every 30s, @hourly, @daily...; --tz an IANA time zone (default UTC). Each tick\n" +
			"fires once: an async call of --call APP/ROUTE with --body, a run of --workflow with\n" +
			"--inputs, or an event of --event-type with --data. Values take @FILE or @- for stdin.\n" +
			"--missed run_once fires the last tick missed while no node was up (default skip).",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if create && sf.call == "" && sf.workflow == "" && sf.eventType == "" {
				return fmt.Errorf("create schedule %q: give --call APP/ROUTE, --workflow NAME or --event-type TYPE", args[0])
			}
			m, err := sf.toModel(func(v string) (string, error) { return readData(v, cmd.InOrStdin()) })
			if err != nil {
				return err
			}
			s, err := cf.session(cmd)
			if err != nil {
				return err
			}
			body := &models.ScheduleWrapper{Schedule: m}
			if create {
				m.Name = args[0]
				res, err := s.api.Schedules.CreateScheduleContext(cmd.Context(), schedules.NewCreateScheduleParams().WithBody(body), nil)
				if err != nil {
					return clientError(fmt.Sprintf("create schedule %q", args[0]), err)
				}
				return s.showSchedule(res.GetPayload())
			}
			res, err := s.api.Schedules.PatchScheduleContext(cmd.Context(), schedules.NewPatchScheduleParams().WithName(args[0]).WithBody(body), nil)
			if err != nil {
				return clientError(fmt.Sprintf("update schedule %q", args[0]), err)
			}
			return s.showSchedule(res.GetPayload())
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&sf.cron, "cron", "", `when it fires: "*/5 * * * *", "0 30 2 * * *" (seconds first), "@every 30s", "@hourly"`)
	fs.StringVar(&sf.tz, "tz", "", "IANA time zone of the cron, e.g. Europe/Paris (default UTC)")
	fs.StringVar(&sf.missed, "missed", "", "ticks missed while no node was up: skip (default) or run_once")
	fs.StringVar(&sf.call, "call", "", "call this function at each tick, APP/ROUTE")
	fs.StringVarP(&sf.method, "method", "X", "", "HTTP method of the call (default POST)")
	fs.StringVar(&sf.body, "body", "", "body of the call: a string, @FILE, or @- for stdin")
	fs.StringVar(&sf.workflow, "workflow", "", "run this workflow at each tick")
	fs.StringVar(&sf.inputs, "inputs", "", "inputs of the run, JSON, @FILE or @-")
	fs.StringVar(&sf.eventType, "event-type", "", "publish an event of this type at each tick")
	fs.StringVar(&sf.subject, "subject", "", "subject of the event")
	fs.StringVarP(&sf.data, "data", "d", "", "data of the event, JSON, @FILE or @-")
	fs.StringVar(&sf.contentType, "content-type", "", "datacontenttype of the event (default application/json)")
	cmd.MarkFlagsMutuallyExclusive("call", "workflow", "event-type")
	if create {
		_ = cmd.MarkFlagRequired("cron") // only fails for an unknown flag name
		fs.BoolVar(&sf.disable, "disabled", false, "create it disabled")
		return cmd
	}
	cmd.Use = "update NAME [flags]"
	cmd.Short = "Change the fields of a schedule given as flags"
	cmd.Long = "Change the fields of a schedule given as flags; the others stay. A target given\n" +
		"(--call, --workflow or --event-type, with their values) replaces the old one. Its next run is\n" +
		"computed again; a tick already fired never fires again."
	fs.BoolVar(&sf.enable, "enable", false, "fire it again")
	fs.BoolVar(&sf.disable, "disable", false, "stop firing it")
	fs.StringVar(&sf.owner, ownerFlag, "", "give it to this user (admins only)")
	cmd.MarkFlagsMutuallyExclusive("enable", "disable")
	return cmd
}

func newScheduleGetCmd(cf *clientFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "get NAME",
		Short: "Show a schedule, with its next run and last tick",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := cf.session(cmd)
			if err != nil {
				return err
			}
			res, err := s.api.Schedules.GetScheduleContext(cmd.Context(), schedules.NewGetScheduleParams().WithName(args[0]), nil)
			if err != nil {
				return clientError(fmt.Sprintf("get schedule %q", args[0]), err)
			}
			return s.showSchedule(res.GetPayload())
		},
	}
}

func newScheduleDeleteCmd(cf *clientFlags) *cobra.Command {
	return &cobra.Command{
		Use:     "delete NAME",
		Aliases: []string{"rm"},
		Short:   "Delete a schedule; what its ticks fired stays",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := cf.session(cmd)
			if err != nil {
				return err
			}
			if _, err := s.api.Schedules.DeleteScheduleContext(cmd.Context(), schedules.NewDeleteScheduleParams().WithName(args[0]), nil); err != nil {
				return clientError(fmt.Sprintf("delete schedule %q", args[0]), err)
			}
			return s.out.confirm("schedule %q deleted", args[0])
		},
	}
}

// showSchedule prints a schedule (the wrapper with -o json).
func (s *session) showSchedule(p *models.ScheduleWrapper) error {
	return s.out.show(p, func(w io.Writer) error {
		sc := p.Schedule
		return writeFields(w, []field{
			{"Name", sc.Name}, {"ID", sc.ID}, {"Owner", sc.Owner}, {"Cron", sc.Cron}, {"Time zone", sc.Timezone},
			{"Target", scheduleTarget(sc.Target)}, {"Missed", sc.Missed}, {"Enabled", enabledCell(sc.Enabled)},
			{"Next run", formatTime(sc.NextRun)}, {"Last tick", formatTime(sc.LastTick)},
			{"Created", formatTime(sc.CreatedAt)}, {"Updated", formatTime(sc.UpdatedAt)},
		})
	})
}

// scheduleTarget shows a schedule's target the way the flags take it.
func scheduleTarget(t *models.ScheduleTarget) string {
	switch {
	case t == nil:
		return ""
	case t.Call != nil && t.Call.App != nil && t.Call.Path != nil:
		return "call " + t.Call.Method + " " + *t.Call.App + *t.Call.Path
	case t.Workflow != nil && t.Workflow.Name != nil:
		return "workflow " + *t.Workflow.Name
	case t.Event != nil && t.Event.Type != nil:
		return "event " + *t.Event.Type
	}
	return ""
}
