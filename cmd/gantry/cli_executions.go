package main

// This file holds `gantry executions ...`: the records of function calls.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/gantry-dev/gantry/gen/client/executions"
	"github.com/gantry-dev/gantry/gen/models"
)

// newExecutionsCmd builds `gantry executions` and its subcommands.
func newExecutionsCmd(cf *clientFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "executions",
		Aliases: []string{"execution", "exec"},
		Short:   "Inspect the records of function calls and workflow runs",
	}
	cmd.AddCommand(
		newExecutionsCancelCmd(cf),
		newExecutionsWaitCmd(cf),
		newExecutionsListCmd(cf),
		newExecutionsGetCmd(cf),
		newExecutionsLogsCmd(cf),
		newExecutionsEventsCmd(cf),
	)
	return cmd
}

// executionFilter holds the filter flags of `executions list`; empty ones are not sent.
type executionFilter struct {
	app      string
	route    string
	status   string
	workflow string
	kind     string
}

func newExecutionsListCmd(cf *clientFlags) *cobra.Command {
	var (
		pf pageFlags
		ef executionFilter
	)
	cmd := &cobra.Command{
		Use:     "list [--app APP] [--route PATH] [--workflow NAME] [--kind call|workflow] [--status STATUS]",
		Aliases: []string{"ls"},
		Short:   "List executions, newest first",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := cf.session(cmd)
			if err != nil {
				return err
			}
			ef.status = strings.ToUpper(ef.status)
			ef.kind = strings.ToLower(ef.kind)
			if ef.kind != "" && ef.kind != "call" && ef.kind != "workflow" {
				return fmt.Errorf("--kind %q: want call or workflow", ef.kind)
			}
			fetch := func(ctx context.Context, cursor string, perPage int64) ([]*models.Execution, string, error) {
				return s.listExecutionsPage(ctx, ef, cursor, perPage)
			}
			return runList(cmd, s, pf, "executions", fetch, func(items []*models.Execution, next string) error {
				return s.out.show(&models.ExecutionsWrapper{Executions: items, NextCursor: next}, func(w io.Writer) error {
					return writeTable(w, executionsTable(items))
				})
			})
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&ef.app, "app", "", "only executions of this app")
	fs.StringVar(&ef.route, "route", "", "only executions of this route path, e.g. /hello/world (use with --app)")
	fs.StringVar(&ef.workflow, "workflow", "", "only the runs of this workflow")
	fs.StringVar(&ef.kind, "kind", "", "only executions of this kind: call (function calls) or workflow (workflow runs)")
	fs.StringVar(&ef.status, "status", "", "only executions with this status: QUEUED, RUNNING, SUCCESS, FAILED or CANCELLED")
	addPageFlags(cmd, &pf)
	return cmd
}

func (s *session) listExecutionsPage(ctx context.Context, ef executionFilter, cursor string, perPage int64) ([]*models.Execution, string, error) {
	params := executions.NewListExecutionsParams().WithPerPage(&perPage)
	if ef.app != "" {
		params.SetApp(&ef.app)
	}
	if ef.route != "" {
		params.SetRoute(&ef.route)
	}
	if ef.status != "" {
		params.SetStatus(&ef.status)
	}
	if ef.workflow != "" {
		params.SetWorkflow(&ef.workflow)
	}
	if ef.kind != "" {
		params.SetKind(&ef.kind)
	}
	if cursor != "" {
		params.SetCursor(&cursor)
	}
	res, err := s.api.Executions.ListExecutionsContext(ctx, params, nil)
	if err != nil {
		return nil, "", clientError("list executions", err)
	}
	p := res.GetPayload()
	return p.Executions, p.NextCursor, nil
}

func newExecutionsGetCmd(cf *clientFlags) *cobra.Command {
	return &cobra.Command{
		Use:     "get ID",
		Aliases: []string{"show"},
		Short:   "Show an execution: a call, or a workflow run with its steps and outputs",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := cf.session(cmd)
			if err != nil {
				return err
			}
			e, err := s.getExecution(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			return s.out.show(&models.ExecutionWrapper{Execution: e}, func(out io.Writer) error {
				if e.Kind == "workflow" {
					return writeRun(out, e)
				}
				return writeFields(out, executionFields(e))
			})
		},
	}
}

func newExecutionsLogsCmd(cf *clientFlags) *cobra.Command {
	var follow bool
	cmd := &cobra.Command{
		Use:     "logs ID [--follow]",
		Aliases: []string{"log"},
		Short:   "Print the log (stderr) of an execution as it is, whatever --output says",
		Long: "Print the log of an execution: a call's stderr, or a workflow run's step logs in the order\n" +
			"of the steps, each attempt under a header line. --follow streams a run's log until it ends.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := cf.session(cmd)
			if err != nil {
				return err
			}
			if follow {
				return s.followLog(cmd.Context(), args[0])
			}
			params := executions.NewGetExecutionLogParams().WithID(args[0])
			res, err := s.api.Executions.GetExecutionLogContext(cmd.Context(), params, nil)
			if err != nil {
				return clientError(fmt.Sprintf("get the log of execution %s", args[0]), err)
			}
			if _, err := io.WriteString(s.out.w, res.GetPayload()); err != nil {
				return fmt.Errorf("write output: %w", err)
			}
			return nil
		},
	}
	cmd.Flags().BoolVarP(&follow, "follow", "f", false, "for a workflow run, stream the log until the run ends")
	return cmd
}

// followLog copies the streamed log of execution id (?follow=true) to the output as it
// comes. The generated client would read it whole before answering.
func (s *session) followLog(ctx context.Context, id string) error {
	op := fmt.Sprintf("follow the log of execution %s", id)
	req, err := s.raw.newRequest(ctx, http.MethodGet, "/executions/"+url.PathEscape(id)+"/log?follow=true")
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "text/plain")
	res, err := s.raw.client.Do(req)
	if err != nil {
		return fmt.Errorf("%s: cannot reach the Gantry API at %s: %w", op, req.URL.Redacted(), errors.Unwrap(err))
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return rawError(op, res)
	}
	if _, err := io.Copy(s.out.w, res.Body); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	// The server ends the stream when the execution is final, or when it stops (a restart):
	// a log cut short is not taken for the whole.
	ex, err := s.getExecution(ctx, id)
	if err != nil {
		return fmt.Errorf("%s: the stream ended; %w", op, err)
	}
	if st := ex.Status; st != "SUCCESS" && st != "FAILED" && st != "CANCELLED" {
		return fmt.Errorf("%s: the stream ended while the execution is %s (the server stopped?): follow it again", op, st)
	}
	return nil
}

// getExecution reads execution id (a call or a workflow run).
func (s *session) getExecution(ctx context.Context, id string) (*models.Execution, error) {
	res, err := s.api.Executions.GetExecutionContext(ctx, executions.NewGetExecutionParams().WithID(id), nil)
	if err != nil {
		return nil, clientError(fmt.Sprintf("get execution %s", id), err)
	}
	w := res.GetPayload()
	if w == nil || w.Execution == nil {
		return nil, errors.New("the server's answer has no execution")
	}
	return w.Execution, nil
}

// executionsTable is the table of `gantry executions list`: calls' columns when all are
// calls, runs' when all are workflow runs, and the columns both have when they are mixed.
func executionsTable(items []*models.Execution) table {
	calls, runs := 0, 0
	for _, e := range items {
		switch {
		case e == nil:
		case e.Kind == "workflow":
			runs++
		default:
			calls++
		}
	}
	switch {
	case runs == 0:
		return executionTable(items)
	case calls == 0:
		return runTable(items)
	}
	t := table{header: []string{"ID", "KIND", "OF", "STATUS", "REASON", "DURATION", "CREATED"}}
	for _, e := range items {
		if e == nil {
			continue
		}
		kind, of := "call", e.App+e.Route
		if e.Kind == "workflow" {
			kind, of = "workflow", e.Workflow
		}
		t.rows = append(t.rows, []string{e.ID, kind, orDash(of), orDash(e.Status), orDash(e.Reason), formatDurationMs(e.DurationMs), formatTime(e.CreatedAt)})
	}
	return t
}

// runTable lists workflow runs.
func runTable(items []*models.Execution) table {
	t := table{header: []string{"ID", "WORKFLOW", "VERSION", "STATUS", "REASON", "TRIGGERED BY", "DURATION", "CREATED"}}
	for _, e := range items {
		if e == nil {
			continue
		}
		t.rows = append(t.rows, []string{
			e.ID, orDash(e.Workflow), strconv.FormatInt(e.WorkflowVersion, 10), orDash(e.Status), orDash(e.Reason),
			orDash(e.TriggeredBy), formatDurationMs(e.DurationMs), formatTime(e.CreatedAt),
		})
	}
	return t
}

// executionTable is the header and rows of `gantry executions list` of calls.
func executionTable(items []*models.Execution) table {
	header := []string{"ID", "APP", "ROUTE", "STATUS", "REASON", "EXIT", "CONTAINER", "DURATION", "CREATED"}
	rows := make([][]string, 0, len(items))
	for _, e := range items {
		if e == nil {
			continue
		}
		rows = append(rows, []string{
			e.ID, orDash(e.App), orDash(e.Route), orDash(e.Status), orDash(e.Reason),
			formatInt(e.ExitCode, ""), orDash(e.Container), formatDurationMs(e.DurationMs), formatTime(e.CreatedAt),
		})
	}
	return table{header: header, rows: rows}
}

func executionFields(e *models.Execution) []field {
	fields := []field{
		{"ID", e.ID},
		{"App", orDash(e.App)},
		{"Route", orDash(e.Route)},
		{"Type", orDash(e.Type)},
		{"Status", orDash(e.Status)},
		{"Reason", orDash(e.Reason)},
		{"Exit code", formatInt(e.ExitCode, "")},
		{"Error", orDash(e.Error)},
		{"Container", orDash(e.Container)},
		{"Node", orDash(e.Node)},
		{"Attempts", attemptsText(e)},
		{"Created", formatTime(e.CreatedAt)},
		{"Started", formatTime(e.StartedAt)},
		{"Completed", formatTime(e.CompletedAt)},
		{"Duration", formatDurationMs(e.DurationMs)},
		{"Output truncated", strconv.FormatBool(e.OutputTruncated)},
		{"Log truncated", strconv.FormatBool(e.LogTruncated)},
	}
	if e.Output != "" {
		fields = append(fields, field{"Output", strconv.Quote(e.Output)})
	}
	return fields
}

// attemptsText is an execution's attempts: runs started, "-" for a sync call (always one run).
func attemptsText(e *models.Execution) string {
	if e.Type != "async" && e.Attempts == 0 {
		return "-"
	}
	return strconv.FormatInt(e.Attempts, 10)
}

// formatDurationMs renders milliseconds as a Go duration: 850ms, 1.5s, 2m3s.
func formatDurationMs(ms *int64) string {
	if ms == nil {
		return "-"
	}
	return (time.Duration(*ms) * time.Millisecond).String()
}

func newExecutionsCancelCmd(cf *clientFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "cancel ID",
		Short: "Cancel a queued or running call or workflow run",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := cf.session(cmd)
			if err != nil {
				return err
			}
			res, err := s.api.Executions.CancelExecutionContext(cmd.Context(), executions.NewCancelExecutionParams().WithID(args[0]), nil)
			if err != nil {
				return clientError(fmt.Sprintf("cancel execution %s", args[0]), err)
			}
			w := res.GetPayload()
			if w == nil || w.Execution == nil {
				return errors.New("the server's answer has no execution")
			}
			return s.out.show(w, func(out io.Writer) error {
				format := "execution %s cancelled (%s)\n"
				if statusActive(w.Execution.Status) {
					format = "execution %s is being cancelled (%s until it has stopped)\n"
				}
				_, err := fmt.Fprintf(out, format, args[0], w.Execution.Status)
				return err
			})
		},
	}
}

// errNotSucceeded: `executions wait` saw the call end otherwise than SUCCESS.
var errNotSucceeded = errors.New("the call did not succeed")

func newExecutionsWaitCmd(cf *clientFlags) *cobra.Command {
	var interval time.Duration
	cmd := &cobra.Command{
		Use:   "wait ID",
		Short: "Wait until a call finishes, showing its progress; fails unless it succeeded",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := cf.session(cmd)
			if err != nil {
				return err
			}
			last := ""
			for {
				res, err := s.api.Executions.GetExecutionContext(cmd.Context(), executions.NewGetExecutionParams().WithID(args[0]), nil)
				if err != nil {
					return clientError(fmt.Sprintf("get execution %s", args[0]), err)
				}
				e := res.GetPayload().Execution
				if e.Status != last {
					fmt.Fprintf(s.stderr, "%s %s\n", time.Now().Format("15:04:05"), e.Status)
					last = e.Status
				}
				if e.Status != "QUEUED" && e.Status != "RUNNING" {
					if err := s.out.show(res.GetPayload(), func(out io.Writer) error { return writeFields(out, executionFields(e)) }); err != nil {
						return err
					}
					if e.Status != "SUCCESS" {
						return fmt.Errorf("%w: %s %s", errNotSucceeded, e.Status, e.Reason)
					}
					return nil
				}
				select {
				case <-cmd.Context().Done():
					return cmd.Context().Err()
				case <-time.After(interval):
				}
			}
		},
	}
	durationVar(cmd, &interval, "interval", 500*time.Millisecond, "how often to look")
	return cmd
}
