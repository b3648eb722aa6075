package main

// This file holds `gantry functions`: every route of every app the caller owns, in one list.

import (
	"context"
	"io"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/gantry-dev/gantry/gen/client/functions"
	"github.com/gantry-dev/gantry/gen/models"
)

// newFunctionsCmd builds `gantry functions` and its subcommand.
func newFunctionsCmd(cf *clientFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "functions",
		Aliases: []string{"function", "fn"},
		Short:   "List every function (route) of every app you own",
	}
	list := newOwnedListCmd(cf, ownedList[*models.Function]{
		what:  "functions",
		fetch: (*session).listFunctionsPage,
		show: func(s *session, items []*models.Function, next string) error {
			return s.out.show(&models.FunctionsWrapper{Functions: items, NextCursor: next}, func(w io.Writer) error {
				t := table{header: []string{"APP", "PATH", "IMAGE", "FORMAT", "TYPE", "MEMORY", "TIMEOUT", "OWNER"}}
				for _, f := range items {
					t.rows = append(t.rows, []string{f.App, f.Path, f.Image, f.Format, f.Type,
						strconv.FormatInt(f.Memory, 10) + "MiB", strconv.FormatInt(f.Timeout, 10) + "s", f.Owner})
				}
				return writeTable(w, t)
			})
		},
	})
	list.Short = "List the routes of every app in app then path order"
	list.Long = "List the routes of every app in app then path order: those of a developer's own apps, or\n" +
		"for an admin every app's. --owner keeps one owner's apps; --owner me keeps the caller's."
	cmd.AddCommand(list)
	return cmd
}

// listFunctionsPage gets one page of functions, of owner only unless owner is "".
func (s *session) listFunctionsPage(ctx context.Context, owner, cursor string, perPage int64) ([]*models.Function, string, error) {
	params := functions.NewListFunctionsParams().WithPerPage(&perPage)
	if owner != "" {
		params.SetOwner(&owner)
	}
	if cursor != "" {
		params.SetCursor(&cursor)
	}
	res, err := s.api.Functions.ListFunctionsContext(ctx, params, nil)
	if err != nil {
		return nil, "", clientError("list functions", err)
	}
	return res.GetPayload().Functions, res.GetPayload().NextCursor, nil
}
