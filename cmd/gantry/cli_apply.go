package main

// This file holds `gantry apply`: make what the caller owns match a project file.

import (
	"context"
	"fmt"
	"io"

	"github.com/spf13/cobra"
)

const applyLong = `Create or update what a project file declares: images, apps and their routes, APIs,
workflows, subscriptions and schedules (YAML or JSON; -f - reads stdin).

apply reads what you own through the API and compares it with the file:
  + what the file declares and does not exist is created,
  ~ what exists and differs is updated, only in the fields that differ,
  - with --prune, what you own and the file no longer names is deleted
    (never another owner's: an admin's prune also touches only the admin's own).
Creates and updates run in dependency order (images, each after the image it is built on,
apps, routes, APIs, workflows, subscriptions, schedules), deletes in the reverse. A second apply of the same file changes nothing and
says "no changes".

A field the file leaves out is not managed: apply never changes it (the server keeps its
value or its default). Maps (config, headers) and lists given are compared and replaced
whole. API users' passwords are never read back: they are sent when a user list is created
or changed, not compared.

Images: reference pulls a Docker reference; context (a directory, tar or tar.gz) is built,
load (a docker save tarball) is loaded, both paths relative to the file. apply waits until
each image it creates or changes is READY. The server keeps no trace of a context's
content, so an image that exists is built again only when its kind, dockerfile, base or
network changed, or with --rebuild-images; a changed reference deletes and pulls the image
again (refused while routes use it).

--dry-run prints the plan (+ create, ~ update with each field old → new, - delete) and
changes nothing. ` + "`gantry export`" + ` writes the file for what you own.`

func newApplyCmd(cf *clientFlags) *cobra.Command {
	var (
		file   string
		dryRun bool
		opts   planOptions
	)
	cmd := &cobra.Command{
		Use:   "apply -f FILE [--dry-run] [--prune] [--rebuild-images]",
		Short: "Create or update the images, apps, routes, APIs, workflows, subscriptions and schedules a project file declares",
		Long:  applyLong,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			decls, err := readProjectFile(file, cmd.InOrStdin())
			if err != nil {
				return err
			}
			s, err := cf.session(cmd)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			cur, err := s.readState(ctx)
			if err != nil {
				return err
			}
			changes := plan(decls, cur, opts)
			if err := s.runPlan(ctx, cmd.OutOrStdout(), changes, dryRun); err != nil {
				return err
			}
			if n := unmanaged(decls, cur); n > 0 && !opts.prune {
				fmt.Fprintf(s.stderr, "%d of your resources are not in %s (kept; --prune deletes them)\n", n, file)
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&file, "file", "f", "", `the project file, YAML or JSON ("-": stdin)`)
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "print what would change and change nothing")
	cmd.Flags().BoolVar(&opts.prune, "prune", false, "delete what you own that the file does not name")
	cmd.Flags().BoolVar(&opts.rebuildImages, "rebuild-images", false, "build (or load) again every image the file gives a context (or tarball) for")
	_ = cmd.MarkFlagRequired("file") // only fails for an unknown flag name
	return cmd
}

// runPlan prints each change and, unless dryRun, makes it; it stops at the first error.
func (s *session) runPlan(ctx context.Context, w io.Writer, changes []change, dryRun bool) error {
	if len(changes) == 0 {
		_, err := fmt.Fprintln(w, "no changes")
		return err
	}
	var counts [3]int // create, update, delete
	for _, c := range changes {
		if !dryRun {
			if err := s.carryOut(ctx, c); err != nil {
				return err
			}
		}
		if _, err := fmt.Fprintln(w, c.describe()); err != nil {
			return err
		}
		switch c.op {
		case opCreate:
			counts[0]++
		case opUpdate:
			counts[1]++
		case opDelete:
			counts[2]++
		}
	}
	var err error
	if dryRun {
		_, err = fmt.Fprintf(w, "dry run: %d to create, %d to update, %d to delete; nothing changed\n", counts[0], counts[1], counts[2])
	} else {
		_, err = fmt.Fprintf(w, "applied: %d created, %d updated, %d deleted\n", counts[0], counts[1], counts[2])
	}
	return err
}
