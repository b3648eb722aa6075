package main

// This file holds `gantry subscriptions`: subscribe a function or a workflow to events,
// list, show, change and delete subscriptions, list their dead letters and redeliver them.

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/gantry-dev/gantry/gen/client/subscriptions"
	"github.com/gantry-dev/gantry/gen/models"
)

// newSubscriptionsCmd builds `gantry subscriptions` and its subcommands.
func newSubscriptionsCmd(cf *clientFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "subscriptions",
		Aliases: []string{"subscription", "subs"},
		Short:   "Subscribe functions and workflows to events",
	}
	cmd.AddCommand(
		newOwnedListCmd(cf, ownedList[*models.Subscription]{
			what:  "subscriptions",
			fetch: (*session).listSubscriptionsPage,
			show: func(s *session, items []*models.Subscription, next string) error {
				return s.out.show(&models.SubscriptionsWrapper{Subscriptions: items, NextCursor: next}, func(w io.Writer) error {
					t := table{header: []string{"NAME", "TYPE", "TARGET", "ENABLED", "SCOPE", "OWNER"}}
					for _, sub := range items {
						t.rows = append(t.rows, []string{sub.Name, filterType(sub.Filter), subscriptionTarget(sub.Target), enabledCell(sub.Enabled), sub.Scope, sub.Owner})
					}
					return writeTable(w, t)
				})
			},
		}),
		newSubscriptionWriteCmd(cf, true),
		newSubscriptionGetCmd(cf),
		newSubscriptionWriteCmd(cf, false),
		newSubscriptionDeleteCmd(cf),
		newDeadLettersCmd(cf),
		newRedeliverCmd(cf),
	)
	return cmd
}

// listSubscriptionsPage gets one page of subscriptions, of owner only unless owner is "".
func (s *session) listSubscriptionsPage(ctx context.Context, owner, cursor string, perPage int64) ([]*models.Subscription, string, error) {
	params := subscriptions.NewListSubscriptionsParams().WithPerPage(&perPage)
	if owner != "" {
		params.SetOwner(&owner)
	}
	if cursor != "" {
		params.SetCursor(&cursor)
	}
	res, err := s.api.Subscriptions.ListSubscriptionsContext(ctx, params, nil)
	if err != nil {
		return nil, "", clientError("list subscriptions", err)
	}
	return res.GetPayload().Subscriptions, res.GetPayload().NextCursor, nil
}

// subscriptionFlags are the flags of `subscriptions create` and `update`.
type subscriptionFlags struct {
	typ, source, subject, function, workflow string
	maxAttempts                              int64
	backoff, maxBackoff, deadLetter, scope   string
	owner                                    string
	enable, disable                          bool
}

// toModel is the subscription the flags given describe: on update only those changed.
func (sf subscriptionFlags) toModel(changed func(string) bool) (*models.Subscription, error) {
	m := &models.Subscription{DeadLetter: sf.deadLetter, Scope: sf.scope, Owner: sf.owner}
	if changed("type") || changed("source") || changed("subject") {
		typ := sf.typ
		m.Filter = &models.SubscriptionFilter{Type: &typ, Source: sf.source, Subject: sf.subject}
	}
	switch {
	case sf.function != "":
		app, path, ok := strings.Cut(sf.function, "/")
		if !ok || app == "" {
			return nil, fmt.Errorf("--function %q: want APP/ROUTE, e.g. shop/orders", sf.function)
		}
		path = "/" + path
		m.Target = &models.SubscriptionTarget{Function: &models.FunctionTarget{App: &app, Path: &path}}
	case sf.workflow != "":
		m.Target = &models.SubscriptionTarget{Workflow: sf.workflow}
	}
	if changed("max-attempts") || changed("backoff") || changed("max-backoff") {
		m.Retry = &models.RetryPolicy{Initial: sf.backoff, Max: sf.maxBackoff}
		if changed("max-attempts") {
			m.Retry.MaxAttempts = &sf.maxAttempts
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

func newSubscriptionWriteCmd(cf *clientFlags, create bool) *cobra.Command {
	var sf subscriptionFlags
	cmd := &cobra.Command{
		Use:   "create NAME --type T (--function APP/ROUTE | --workflow W) [flags]",
		Short: "Subscribe a function or a workflow to the events of a type",
		Long: "Subscribe a function (APP/ROUTE) or a workflow to events: --type is an exact type, a prefix\n" +
			"ending in .* (com.example.*), or * for all; --source an exact source; --subject a prefix of\n" +
			"the subject. Each matching event becomes a delivery, retried up to --max-attempts runs in\n" +
			"all (backoff from --backoff, doubled, at most --max-backoff); then a dead letter, or\n" +
			"discarded with --dead-letter discard. --scope all (admins) receives everyone's events.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			changed := cmd.Flags().Changed
			if create && sf.function == "" && sf.workflow == "" {
				return fmt.Errorf("create subscription %q: give --function APP/ROUTE or --workflow NAME", args[0])
			}
			m, err := sf.toModel(changed)
			if err != nil {
				return err
			}
			s, err := cf.session(cmd)
			if err != nil {
				return err
			}
			body := &models.SubscriptionWrapper{Subscription: m}
			if create {
				m.Name = args[0]
				res, err := s.api.Subscriptions.CreateSubscriptionContext(cmd.Context(), subscriptions.NewCreateSubscriptionParams().WithBody(body), nil)
				if err != nil {
					return clientError(fmt.Sprintf("create subscription %q", args[0]), err)
				}
				return s.showSubscription(res.GetPayload())
			}
			res, err := s.api.Subscriptions.PatchSubscriptionContext(cmd.Context(), subscriptions.NewPatchSubscriptionParams().WithName(args[0]).WithBody(body), nil)
			if err != nil {
				return clientError(fmt.Sprintf("update subscription %q", args[0]), err)
			}
			return s.showSubscription(res.GetPayload())
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&sf.typ, "type", "", "the events' type: exact, a prefix ending in .*, or *")
	fs.StringVar(&sf.source, "source", "", "only events of this source")
	fs.StringVar(&sf.subject, "subject", "", "only events whose subject starts with this")
	fs.StringVar(&sf.function, "function", "", "deliver to this function, APP/ROUTE (e.g. shop/orders)")
	fs.StringVar(&sf.workflow, "workflow", "", "deliver to a run of this workflow")
	fs.Int64Var(&sf.maxAttempts, "max-attempts", 5, "runs of a delivery's call in all, before it is a dead letter")
	fs.StringVar(&sf.backoff, "backoff", "", "wait before the second run (default 1s)")
	fs.StringVar(&sf.maxBackoff, "max-backoff", "", "longest wait between two runs (default 1m)")
	fs.StringVar(&sf.deadLetter, "dead-letter", "", "after the last attempt: keep (default) or discard")
	fs.StringVar(&sf.scope, "scope", "", "own (default): your events, public ones and system events of your resources; all: every event (admins)")
	cmd.MarkFlagsMutuallyExclusive("function", "workflow")
	if create {
		_ = cmd.MarkFlagRequired("type") // only fails for an unknown flag name
		fs.BoolVar(&sf.disable, "disabled", false, "create it disabled")
		return cmd
	}
	cmd.Use = "update NAME [flags]"
	cmd.Short = "Change the fields of a subscription given as flags"
	cmd.Long = "Change the fields of a subscription given as flags; the others stay. --type, --source and\n" +
		"--subject replace the whole filter; --max-attempts, --backoff and --max-backoff the whole retry policy."
	fs.BoolVar(&sf.enable, "enable", false, "deliver events to it again")
	fs.BoolVar(&sf.disable, "disable", false, "stop delivering events to it")
	fs.StringVar(&sf.owner, ownerFlag, "", "give it to this user (admins only)")
	cmd.MarkFlagsMutuallyExclusive("enable", "disable")
	return cmd
}

func newSubscriptionGetCmd(cf *clientFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "get NAME",
		Short: "Show a subscription",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := cf.session(cmd)
			if err != nil {
				return err
			}
			res, err := s.api.Subscriptions.GetSubscriptionContext(cmd.Context(), subscriptions.NewGetSubscriptionParams().WithName(args[0]), nil)
			if err != nil {
				return clientError(fmt.Sprintf("get subscription %q", args[0]), err)
			}
			return s.showSubscription(res.GetPayload())
		},
	}
}

func newSubscriptionDeleteCmd(cf *clientFlags) *cobra.Command {
	return &cobra.Command{
		Use:     "delete NAME",
		Aliases: []string{"rm"},
		Short:   "Delete a subscription; its deliveries stay",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := cf.session(cmd)
			if err != nil {
				return err
			}
			if _, err := s.api.Subscriptions.DeleteSubscriptionContext(cmd.Context(), subscriptions.NewDeleteSubscriptionParams().WithName(args[0]), nil); err != nil {
				return clientError(fmt.Sprintf("delete subscription %q", args[0]), err)
			}
			return s.out.confirm("subscription %q deleted", args[0])
		},
	}
}

func newDeadLettersCmd(cf *clientFlags) *cobra.Command {
	var pf pageFlags
	cmd := &cobra.Command{
		Use:   "dead-letters NAME",
		Short: "List a subscription's dead letters, oldest first (redeliver them with `redeliver ID`)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := cf.session(cmd)
			if err != nil {
				return err
			}
			fetch := func(ctx context.Context, cursor string, perPage int64) ([]*models.Delivery, string, error) {
				params := subscriptions.NewListDeadLettersParams().WithName(args[0]).WithPerPage(&perPage)
				if cursor != "" {
					params.SetCursor(&cursor)
				}
				res, err := s.api.Subscriptions.ListDeadLettersContext(ctx, params, nil)
				if err != nil {
					return nil, "", clientError(fmt.Sprintf("list the dead letters of %q", args[0]), err)
				}
				return res.GetPayload().Deliveries, res.GetPayload().NextCursor, nil
			}
			return runList(cmd, s, pf, "dead letters", fetch, func(items []*models.Delivery, next string) error {
				return s.out.show(&models.DeliveriesWrapper{Deliveries: items, NextCursor: next}, func(w io.Writer) error {
					t := table{header: []string{"DELIVERY", "EVENT", "EXECUTION", "ATTEMPTS", "UPDATED"}}
					for _, d := range items {
						t.rows = append(t.rows, []string{d.ID, d.Event, d.ExecutionID, fmt.Sprint(len(d.Executions)), formatTime(d.UpdatedAt)})
					}
					return writeTable(w, t)
				})
			})
		},
	}
	addPageFlags(cmd, &pf)
	return cmd
}

// showSubscription prints a subscription (the wrapper with -o json).
func (s *session) showSubscription(p *models.SubscriptionWrapper) error {
	return s.out.show(p, func(w io.Writer) error {
		sub := p.Subscription
		f := sub.Filter
		if f == nil {
			f = &models.SubscriptionFilter{}
		}
		retry := ""
		if r := sub.Retry; r != nil && r.MaxAttempts != nil {
			retry = fmt.Sprintf("%d attempts, backoff %s to %s", *r.MaxAttempts, r.Initial, r.Max)
		}
		return writeFields(w, []field{
			{"Name", sub.Name}, {"Owner", sub.Owner}, {"Type", filterType(f)}, {"Source", f.Source}, {"Subject", f.Subject},
			{"Target", subscriptionTarget(sub.Target)}, {"Enabled", enabledCell(sub.Enabled)}, {"Retry", retry},
			{"Dead letters", sub.DeadLetter}, {"Scope", sub.Scope}, {"Created", formatTime(sub.CreatedAt)}, {"Updated", formatTime(sub.UpdatedAt)},
		})
	})
}

func filterType(f *models.SubscriptionFilter) string {
	if f == nil || f.Type == nil {
		return ""
	}
	return *f.Type
}

// subscriptionTarget shows a target the way the flags take it.
func subscriptionTarget(t *models.SubscriptionTarget) string {
	switch {
	case t == nil:
		return ""
	case t.Function != nil && t.Function.App != nil && t.Function.Path != nil:
		return "function " + *t.Function.App + *t.Function.Path
	case t.Workflow != "":
		return "workflow " + t.Workflow
	}
	return ""
}

func enabledCell(b *bool) string {
	if b == nil || *b {
		return "yes"
	}
	return "no"
}
