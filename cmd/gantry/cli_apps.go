package main

// This file holds `gantry apps ...` and `gantry version`.

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/gantry-dev/gantry/gen/client/apps"
	"github.com/gantry-dev/gantry/gen/client/meta"
	"github.com/gantry-dev/gantry/gen/models"
)

const configFlag = "config"

// newVersionCmd builds `gantry version`: the CLI's and the server's version.
func newVersionCmd(cf *clientFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version of this CLI and of the server",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := cf.session(cmd)
			if err != nil {
				return err
			}
			if s.out.format == formatTable {
				// Say who we are even when the server cannot be reached.
				if err := writeFields(s.out.w, []field{{"Client version", version}}); err != nil {
					return err
				}
			}
			res, err := s.api.Meta.GetVersionContext(cmd.Context(), meta.NewGetVersionParams())
			if err != nil {
				return clientError("get server version", err)
			}
			server := res.GetPayload()
			return s.out.show(versionOutput{Client: models.Version{Version: &version}, Server: server},
				func(w io.Writer) error {
					return writeFields(w, []field{{"Server version", versionString(server)}})
				})
		},
	}
}

// versionOutput is the -o json form of `gantry version`.
type versionOutput struct {
	Client models.Version  `json:"client"`
	Server *models.Version `json:"server"`
}

func versionString(v *models.Version) string {
	if v == nil || v.Version == nil {
		return "-"
	}
	return *v.Version
}

// newAppsCmd builds `gantry apps` and its subcommands.
func newAppsCmd(cf *clientFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "apps",
		Aliases: []string{"app"},
		Short:   "Manage apps",
	}
	cmd.AddCommand(
		newAppsListCmd(cf),
		newAppsCreateCmd(cf),
		newAppsGetCmd(cf),
		newAppsUpdateCmd(cf),
		newAppsDeleteCmd(cf),
	)
	return cmd
}

func newAppsListCmd(cf *clientFlags) *cobra.Command {
	var pf pageFlags
	cmd := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List apps in name order",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := cf.session(cmd)
			if err != nil {
				return err
			}
			perPage := pf.pageSize(cmd.Flags().Changed("per-page"))
			items, next, err := listPages(cmd.Context(), pf, perPage, s.listAppsPage)
			if err != nil {
				return err
			}
			err = s.out.show(&models.AppsWrapper{Apps: items, NextCursor: next}, func(w io.Writer) error {
				return writeTable(w, appTable(items))
			})
			if err != nil {
				return err
			}
			hintMore(s.stderr, "apps", next)
			return nil
		},
	}
	addPageFlags(cmd, &pf)
	return cmd
}

func (s *session) listAppsPage(ctx context.Context, cursor string, perPage int64) ([]*models.App, string, error) {
	params := apps.NewListAppsParams().WithPerPage(&perPage)
	if cursor != "" {
		params.SetCursor(&cursor)
	}
	res, err := s.api.Apps.ListAppsContext(ctx, params)
	if err != nil {
		return nil, "", clientError("list apps", err)
	}
	p := res.GetPayload()
	return p.Apps, p.NextCursor, nil
}

func newAppsCreateCmd(cf *clientFlags) *cobra.Command {
	var config []string
	cmd := &cobra.Command{
		Use:   "create NAME",
		Short: "Create an app",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := parseKeyValues(configFlag, config)
			if err != nil {
				return err
			}
			s, err := cf.session(cmd)
			if err != nil {
				return err
			}
			body := &models.AppWrapper{App: &models.App{Name: args[0], Config: cfg}}
			res, err := s.api.Apps.CreateAppContext(cmd.Context(), apps.NewCreateAppParams().WithBody(body))
			if err != nil {
				return clientError(fmt.Sprintf("create app %q", args[0]), err)
			}
			return s.showApp(res.GetPayload())
		},
	}
	cmd.Flags().StringArrayVar(&config, configFlag, nil, "config variable K=V passed to the app's functions (repeatable)")
	return cmd
}

func newAppsGetCmd(cf *clientFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "get NAME",
		Short: "Show an app",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := cf.session(cmd)
			if err != nil {
				return err
			}
			res, err := s.api.Apps.GetAppContext(cmd.Context(), apps.NewGetAppParams().WithApp(args[0]))
			if err != nil {
				return clientError(fmt.Sprintf("get app %q", args[0]), err)
			}
			return s.showApp(res.GetPayload())
		},
	}
}

func newAppsUpdateCmd(cf *clientFlags) *cobra.Command {
	var config []string
	cmd := &cobra.Command{
		Use:   "update NAME --config K=V [--config K=V ...]",
		Short: "Merge config into an app (K= removes K)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := parseKeyValues(configFlag, config)
			if err != nil {
				return err
			}
			s, err := cf.session(cmd)
			if err != nil {
				return err
			}
			body := &models.AppWrapper{App: &models.App{Config: cfg}}
			params := apps.NewPatchAppParams().WithApp(args[0]).WithBody(body)
			res, err := s.api.Apps.PatchAppContext(cmd.Context(), params)
			if err != nil {
				return clientError(fmt.Sprintf("update app %q", args[0]), err)
			}
			return s.showApp(res.GetPayload())
		},
	}
	cmd.Flags().StringArrayVar(&config, configFlag, nil, "config variable K=V to set, or K= to remove (repeatable)")
	_ = cmd.MarkFlagRequired(configFlag) // only fails for an unknown flag name
	return cmd
}

func newAppsDeleteCmd(cf *clientFlags) *cobra.Command {
	return &cobra.Command{
		Use:     "delete NAME",
		Aliases: []string{"rm"},
		Short:   "Delete an app that has no routes left",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := cf.session(cmd)
			if err != nil {
				return err
			}
			_, err = s.api.Apps.DeleteAppContext(cmd.Context(), apps.NewDeleteAppParams().WithApp(args[0]))
			if err != nil {
				return clientError(fmt.Sprintf("delete app %q", args[0]), err)
			}
			return s.out.confirm("app %q deleted", args[0])
		},
	}
}

// showApp prints one app: key/value lines, or its {"app":{...}} wrapper.
func (s *session) showApp(w *models.AppWrapper) error {
	if w == nil || w.App == nil {
		return errors.New("the server's answer has no app")
	}
	return s.out.show(w, func(out io.Writer) error {
		return writeFields(out, appFields(w.App))
	})
}

// appTable is the header and rows of `gantry apps list`.
func appTable(items []*models.App) table {
	header := []string{"NAME", "CONFIG", "CREATED"}
	rows := make([][]string, 0, len(items))
	for _, a := range items {
		if a == nil {
			continue
		}
		rows = append(rows, []string{a.Name, orDash(formatConfig(a.Config)), formatTime(a.CreatedAt)})
	}
	return table{header: header, rows: rows}
}

func appFields(a *models.App) []field {
	return []field{
		{"Name", a.Name},
		{"Config", orDash(formatConfig(a.Config))},
		{"Created", formatTime(a.CreatedAt)},
		{"Updated", formatTime(a.UpdatedAt)},
	}
}
