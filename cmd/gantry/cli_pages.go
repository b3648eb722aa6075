package main

import (
	"context"
	"fmt"
	"io"

	"github.com/spf13/cobra"
)

// pageFlags are the pagination flags of a list subcommand.
type pageFlags struct {
	perPage int64
	cursor  string
	all     bool
}

func addPageFlags(cmd *cobra.Command, pf *pageFlags) {
	fs := cmd.Flags()
	fs.Int64Var(&pf.perPage, "per-page", defaultPerPage, fmt.Sprintf("items per page (1-%d)", maxPerPage))
	fs.StringVar(&pf.cursor, "cursor", "", "start at this cursor (next_cursor of a previous page)")
	fs.BoolVar(&pf.all, "all", false, "follow next_cursor and list everything")
}

// pageSize is --per-page, or the largest page for --all when unset.
func (pf pageFlags) pageSize(perPageChanged bool) int64 {
	if pf.all && !perPageChanged {
		return maxPerPage
	}
	return pf.perPage
}

// fetchPage gets one page starting at cursor ("" for the first) and
// returns its items and the next cursor ("" on the last page).
type fetchPage[T any] func(ctx context.Context, cursor string, perPage int64) ([]T, string, error)

// listPages fetches one page, or every page with --all. It returns the
// items and the cursor of the next page, "" when there is none.
func listPages[T any](ctx context.Context, pf pageFlags, perPage int64, fetch fetchPage[T]) ([]T, string, error) {
	items := []T{}
	cursor := pf.cursor
	for {
		page, next, err := fetch(ctx, cursor, perPage)
		if err != nil {
			return nil, "", err
		}
		items = append(items, page...)
		if !pf.all || next == "" {
			return items, next, nil
		}
		if next == cursor {
			return nil, "", fmt.Errorf("server returned the same next_cursor %q twice", next)
		}
		cursor = next
	}
}

// hintMore tells the user, on stderr, how to get the next page.
// runList is the body of every list command: the pages asked for, shown, and a hint on
// stderr when more remain.
func runList[T any](cmd *cobra.Command, s *session, pf pageFlags, what string, fetch fetchPage[T], show func(items []T, next string) error) error {
	items, next, err := listPages(cmd.Context(), pf, pf.pageSize(cmd.Flags().Changed("per-page")), fetch)
	if err != nil {
		return err
	}
	if err := show(items, next); err != nil {
		return err
	}
	hintMore(s.stderr, what, next)
	return nil
}

// ownedList describes `gantry THINGS list` of a resource that has owners (apps, APIs).
type ownedList[T any] struct {
	what  string // "apps", "APIs"
	fetch func(s *session, ctx context.Context, owner, cursor string, perPage int64) ([]T, string, error)
	show  func(s *session, items []T, next string) error
}

// newOwnedListCmd builds the list command of a resource that has owners: paginated, with
// --owner NAME|me.
func newOwnedListCmd[T any](cf *clientFlags, l ownedList[T]) *cobra.Command {
	var (
		pf    pageFlags
		owner string
	)
	cmd := &cobra.Command{
		Use:     "list [--owner NAME|me]",
		Aliases: []string{"ls"},
		Short:   "List " + l.what + " in name order",
		Long: fmt.Sprintf("List %[1]s in name order: a developer's own %[1]s, or for an admin all of them.\n"+
			"--owner keeps one owner's %[1]s; --owner me keeps the caller's.", l.what),
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := cf.session(cmd)
			if err != nil {
				return err
			}
			fetch := func(ctx context.Context, cursor string, perPage int64) ([]T, string, error) {
				return l.fetch(s, ctx, owner, cursor, perPage)
			}
			return runList(cmd, s, pf, l.what, fetch, func(items []T, next string) error { return l.show(s, items, next) })
		},
	}
	addPageFlags(cmd, &pf)
	cmd.Flags().StringVar(&owner, ownerFlag, "", fmt.Sprintf(`only the %s of this owner; "me" for the caller's`, l.what))
	return cmd
}

func hintMore(w io.Writer, what, next string) {
	if next == "" {
		return
	}
	fmt.Fprintf(w, "more %s available: rerun with --cursor %s, or use --all\n", what, next)
}
