package main

// This file holds `gantry executions ...`: the records of function calls.

import (
	"context"
	"errors"
	"fmt"
	"io"
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
		Short:   "Inspect the records of function calls",
	}
	cmd.AddCommand(
		newExecutionsCancelCmd(cf),
		newExecutionsWaitCmd(cf),
		newExecutionsListCmd(cf),
		newExecutionsGetCmd(cf),
		newExecutionsLogsCmd(cf),
	)
	return cmd
}

// executionFilter holds the filter flags of `executions list`; empty ones are not sent.
type executionFilter struct {
	app    string
	route  string
	status string
}

func newExecutionsListCmd(cf *clientFlags) *cobra.Command {
	var (
		pf pageFlags
		ef executionFilter
	)
	cmd := &cobra.Command{
		Use:     "list [--app APP] [--route PATH] [--status STATUS]",
		Aliases: []string{"ls"},
		Short:   "List executions, newest first",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := cf.session(cmd)
			if err != nil {
				return err
			}
			ef.status = strings.ToUpper(ef.status)
			fetch := func(ctx context.Context, cursor string, perPage int64) ([]*models.Execution, string, error) {
				return s.listExecutionsPage(ctx, ef, cursor, perPage)
			}
			return runList(cmd, s, pf, "executions", fetch, func(items []*models.Execution, next string) error {
				return s.out.show(&models.ExecutionsWrapper{Executions: items, NextCursor: next}, func(w io.Writer) error {
					return writeTable(w, executionTable(items))
				})
			})
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&ef.app, "app", "", "only executions of this app")
	fs.StringVar(&ef.route, "route", "", "only executions of this route path, e.g. /hello/world (use with --app)")
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
		Use:   "get ID",
		Short: "Show an execution",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := cf.session(cmd)
			if err != nil {
				return err
			}
			params := executions.NewGetExecutionParams().WithID(args[0])
			res, err := s.api.Executions.GetExecutionContext(cmd.Context(), params, nil)
			if err != nil {
				return clientError(fmt.Sprintf("get execution %s", args[0]), err)
			}
			w := res.GetPayload()
			if w == nil || w.Execution == nil {
				return errors.New("the server's answer has no execution")
			}
			return s.out.show(w, func(out io.Writer) error {
				return writeFields(out, executionFields(w.Execution))
			})
		},
	}
}

func newExecutionsLogsCmd(cf *clientFlags) *cobra.Command {
	return &cobra.Command{
		Use:     "logs ID",
		Aliases: []string{"log"},
		Short:   "Print the log (stderr) of an execution as it is, whatever --output says",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := cf.session(cmd)
			if err != nil {
				return err
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
}

// executionTable is the header and rows of `gantry executions list`.
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
		Short: "Cancel a queued or running call",
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
			return s.out.show(w, func(out io.Writer) error {
				_, err := fmt.Fprintf(out, "execution %s cancelled (%s)\n", args[0], w.Execution.Status)
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
	cmd.Flags().DurationVar(&interval, "interval", 500*time.Millisecond, "how often to look")
	return cmd
}
