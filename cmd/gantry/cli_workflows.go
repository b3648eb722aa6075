package main

// This file holds `gantry workflows ...`: defining workflows from files, listing,
// describing and deleting them, and running them (and following a run to its end).

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/gantry-dev/gantry/gen/client/workflows"
	"github.com/gantry-dev/gantry/gen/models"
)

// newWorkflowsCmd builds `gantry workflows` and its subcommands.
func newWorkflowsCmd(cf *clientFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "workflows",
		Aliases: []string{"workflow", "wf"},
		Short:   "Define, inspect and run workflows (step graphs over functions)",
	}
	cmd.AddCommand(
		newWorkflowsApplyCmd(cf),
		newWorkflowsListCmd(cf),
		newWorkflowsDescribeCmd(cf),
		newWorkflowsDeleteCmd(cf),
		newWorkflowsRunCmd(cf),
	)
	return cmd
}

func newWorkflowsApplyCmd(cf *clientFlags) *cobra.Command {
	var file, name string
	cmd := &cobra.Command{
		Use:   "apply -f FILE [--name NAME]",
		Short: "Create or replace a workflow from a JSON or YAML file (each change is a new version)",
		Long: "Create or replace the workflow in FILE (\"-\": stdin), JSON or YAML: its name (or --name),\n" +
			"description, inputs (a JSON Schema), outputs, steps and run_access. The server checks the\n" +
			"whole definition and names the offending field when it refuses it.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			w, err := readWorkflowFile(file, name, cmd.InOrStdin())
			if err != nil {
				return err
			}
			s, err := cf.session(cmd)
			if err != nil {
				return err
			}
			params := workflows.NewPutWorkflowParams().WithName(w.Name).WithBody(&models.WorkflowWrapper{Workflow: w})
			replaced, created, err := s.api.Workflows.PutWorkflowContext(cmd.Context(), params, nil)
			if err != nil {
				return clientError(fmt.Sprintf("apply workflow %q", w.Name), err)
			}
			verb, payload := "updated", (*models.WorkflowWrapper)(nil)
			if created != nil {
				verb, payload = "created", created.GetPayload()
			} else if replaced != nil {
				payload = replaced.GetPayload()
			}
			if payload == nil || payload.Workflow == nil {
				return errors.New("the server's answer has no workflow")
			}
			return s.out.show(payload, func(out io.Writer) error {
				_, err := fmt.Fprintf(out, "workflow %q %s (version %d)\n", payload.Workflow.Name, verb, payload.Workflow.Version)
				return err
			})
		},
	}
	cmd.Flags().StringVarP(&file, "file", "f", "", `the workflow: a JSON or YAML file ("-": stdin)`)
	cmd.Flags().StringVar(&name, "name", "", "the workflow's name, when the file has none (or the same)")
	_ = cmd.MarkFlagRequired("file")
	return cmd
}

func newWorkflowsListCmd(cf *clientFlags) *cobra.Command {
	var pf pageFlags
	cmd := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List the workflows you may see (yours, and those shared with you), in name order",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := cf.session(cmd)
			if err != nil {
				return err
			}
			fetch := func(ctx context.Context, cursor string, perPage int64) ([]*models.Workflow, string, error) {
				params := workflows.NewListWorkflowsParams().WithPerPage(&perPage)
				if cursor != "" {
					params.SetCursor(&cursor)
				}
				res, err := s.api.Workflows.ListWorkflowsContext(ctx, params, nil)
				if err != nil {
					return nil, "", clientError("list workflows", err)
				}
				p := res.GetPayload()
				return p.Workflows, p.NextCursor, nil
			}
			return runList(cmd, s, pf, "workflows", fetch, func(items []*models.Workflow, next string) error {
				return s.out.show(&models.WorkflowsWrapper{Workflows: items, NextCursor: next}, func(w io.Writer) error {
					return writeTable(w, workflowTable(items))
				})
			})
		},
	}
	addPageFlags(cmd, &pf)
	return cmd
}

func newWorkflowsDescribeCmd(cf *clientFlags) *cobra.Command {
	return &cobra.Command{
		Use:     "describe NAME",
		Aliases: []string{"get", "show"},
		Short:   "Describe a workflow: its inputs, outputs and steps",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := cf.session(cmd)
			if err != nil {
				return err
			}
			res, err := s.api.Workflows.GetWorkflowContext(cmd.Context(), workflows.NewGetWorkflowParams().WithName(args[0]), nil)
			if err != nil {
				return clientError(fmt.Sprintf("describe workflow %q", args[0]), err)
			}
			p := res.GetPayload()
			if p == nil || p.Workflow == nil {
				return errors.New("the server's answer has no workflow")
			}
			return s.out.show(p, func(out io.Writer) error { return writeWorkflow(out, p.Workflow) })
		},
	}
}

func newWorkflowsDeleteCmd(cf *clientFlags) *cobra.Command {
	var force bool
	cmd := &cobra.Command{
		Use:     "delete NAME [--force]",
		Aliases: []string{"rm"},
		Short:   "Delete a workflow; its finished runs stay (--force cancels its unfinished runs first)",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := cf.session(cmd)
			if err != nil {
				return err
			}
			params := workflows.NewDeleteWorkflowParams().WithName(args[0])
			if force {
				params.SetForce(&force)
			}
			if _, err := s.api.Workflows.DeleteWorkflowContext(cmd.Context(), params, nil); err != nil {
				err = clientError(fmt.Sprintf("delete workflow %q", args[0]), err)
				var ae *apiError
				if errors.As(err, &ae) && ae.Status == 409 && !force && ae.Hint == "" {
					ae.Hint = "--force cancels its unfinished runs first"
				}
				return err
			}
			return s.out.confirm("workflow %q deleted", args[0])
		},
	}
	cmd.Flags().BoolVar(&force, "force", false, "cancel the workflow's unfinished runs first")
	return cmd
}

// errRunNotSucceeded: `workflows run --wait` saw the run end otherwise than SUCCESS.
var errRunNotSucceeded = errors.New("the run did not succeed")

func newWorkflowsRunCmd(cf *clientFlags) *cobra.Command {
	var (
		pairs   []string
		inputs  string
		key     string
		wait    bool
		timeout time.Duration
	)
	cmd := &cobra.Command{
		Use:   "run NAME [--input K=V]... [--inputs @FILE] [--idempotency-key KEY] [--wait]",
		Short: "Run a workflow: print the run's execution id, or with --wait follow it to its end",
		Long: "Run the workflow NAME with inputs: --inputs gives an object (JSON or YAML, or @FILE, @-\n" +
			"for stdin), and each --input K=V sets one input over it; V is taken as JSON when it is\n" +
			"JSON (3, true, [1,2], {\"a\":1}, \"quoted\"), else as a string. Without --wait it prints the\n" +
			"run's execution id. --wait shows each event of the run on stderr as it happens (steps\n" +
			"started, finished, retrying, skipped), then prints the outputs; it fails unless the run\n" +
			"ended SUCCESS. An --idempotency-key used before gives the run it started, not a new one.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			in, err := parseRunInputs(inputs, pairs, cmd.InOrStdin())
			if err != nil {
				return err
			}
			s, err := cf.session(cmd)
			if err != nil {
				return err
			}
			params := workflows.NewTriggerWorkflowParams().WithName(args[0]).WithBody(&models.WorkflowTrigger{Inputs: in})
			if key != "" {
				params.SetIdempotencyKey(&key)
			}
			res, err := s.api.Workflows.TriggerWorkflowContext(cmd.Context(), params, nil)
			if err != nil {
				return clientError(fmt.Sprintf("run workflow %q", args[0]), err)
			}
			p := res.GetPayload()
			if p == nil || p.Execution == nil || p.Execution.ID == "" {
				return errors.New("the server's answer has no execution")
			}
			if !wait {
				return s.out.show(p, func(out io.Writer) error {
					_, err := fmt.Fprintln(out, p.Execution.ID)
					return err
				})
			}
			ctx := cmd.Context()
			if timeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, timeout)
				defer cancel()
			}
			fmt.Fprintf(s.stderr, "execution %s of workflow %s (version %d)\n", p.Execution.ID, p.Execution.Workflow, p.Execution.WorkflowVersion)
			return s.waitRun(ctx, p.Execution.ID)
		},
	}
	fs := cmd.Flags()
	fs.StringArrayVar(&pairs, "input", nil, "an input K=V (repeatable); V is JSON when it parses as JSON, else a string")
	fs.StringVar(&inputs, "inputs", "", "the inputs object: JSON or YAML, @FILE, or @- for stdin")
	fs.StringVar(&key, "idempotency-key", "", "a key of yours: running with the same key again gives the same run")
	fs.BoolVar(&wait, "wait", false, "follow the run's events until it ends, then print its outputs; fail unless SUCCESS")
	durationVar(cmd, &timeout, "timeout", 0, "with --wait, give up waiting after this long (the run goes on)")
	return cmd
}

// waitRun follows run id's events on stderr until it ends, then prints the run's outputs
// (table) or the run (JSON); it answers an error unless the run ended SUCCESS.
func (s *session) waitRun(ctx context.Context, id string) error {
	err := s.followEvents(ctx, id, 0, defaultFollow, func(e *models.ExecutionEvent) error {
		_, err := fmt.Fprintln(s.stderr, formatEvent(e))
		return err
	})
	if err != nil {
		return err
	}
	e, err := s.getExecution(ctx, id)
	if err != nil {
		return err
	}
	if statusActive(e.Status) { // the stream ended, the run did not: never taken for success
		return fmt.Errorf("%w: execution %s is still %s", errRunNotSucceeded, id, e.Status)
	}
	if e.Status != "SUCCESS" {
		if s.out.format == formatJSON {
			if err := writeJSON(s.out.w, &models.ExecutionWrapper{Execution: e}); err != nil {
				return err
			}
		}
		return runFailure(e)
	}
	return s.out.show(&models.ExecutionWrapper{Execution: e}, func(out io.Writer) error {
		return writeJSON(out, outputsOrEmpty(e.Outputs))
	})
}

// runFailure says how a run ended when it did not succeed: its status, reason and error,
// and the steps that failed.
func runFailure(e *models.Execution) error {
	msg := fmt.Sprintf("execution %s ended %s", e.ID, e.Status)
	if e.Reason != "" {
		msg += " (" + e.Reason + ")"
	}
	if e.Error != "" {
		msg += ": " + e.Error
	}
	for _, st := range e.Steps {
		if st != nil && st.Status == "FAILED" && st.Error != "" && st.Error != e.Error {
			msg += fmt.Sprintf("; step %s: %s", st.Name, st.Error)
		}
	}
	return fmt.Errorf("%w: %s", errRunNotSucceeded, msg)
}

// outputsOrEmpty is a run's outputs, {} when it has none.
func outputsOrEmpty(v any) any {
	if v == nil {
		return map[string]any{}
	}
	return v
}
