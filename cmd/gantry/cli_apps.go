package main

// This file holds `gantry apps ...` and `gantry version`.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/gantry-dev/gantry/gen/client/apps"
	"github.com/gantry-dev/gantry/gen/client/meta"
	"github.com/gantry-dev/gantry/gen/models"
)

const (
	configFlag = "config"
	ownerFlag  = "owner"
)

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
					return writeFields(w, versionFields(server))
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
	return newOwnedListCmd(cf, ownedList[*models.App]{
		what:  "apps",
		fetch: (*session).listAppsPage,
		show: func(s *session, items []*models.App, next string) error {
			return s.out.show(&models.AppsWrapper{Apps: items, NextCursor: next}, func(w io.Writer) error {
				return writeTable(w, appTable(items))
			})
		},
	})
}

// listAppsPage gets one page of apps, of owner only unless owner is "".
func (s *session) listAppsPage(ctx context.Context, owner, cursor string, perPage int64) ([]*models.App, string, error) {
	params := apps.NewListAppsParams().WithPerPage(&perPage)
	if owner != "" {
		params.SetOwner(&owner)
	}
	if cursor != "" {
		params.SetCursor(&cursor)
	}
	res, err := s.api.Apps.ListAppsContext(ctx, params, nil)
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
			res, err := s.api.Apps.CreateAppContext(cmd.Context(), apps.NewCreateAppParams().WithBody(body), nil)
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
			res, err := s.api.Apps.GetAppContext(cmd.Context(), apps.NewGetAppParams().WithApp(args[0]), nil)
			if err != nil {
				return clientError(fmt.Sprintf("get app %q", args[0]), err)
			}
			return s.showApp(res.GetPayload())
		},
	}
}

func newAppsUpdateCmd(cf *clientFlags) *cobra.Command {
	var (
		config []string
		owner  string
	)
	cmd := &cobra.Command{
		Use:   "update NAME [--config K=V ...] [--owner NEW]",
		Short: "Merge config into an app (K= removes K), or give it to another owner",
		Long: "Merge config into an app: --config K=V sets K, --config K= removes K.\n" +
			"--owner NEW gives the app to NEW (admins only).",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if !anyChanged(cmd.Flags().Changed, []string{configFlag, ownerFlag}) {
				return fmt.Errorf("update app %q: nothing to change; give --%s K=V or --%s NEW", args[0], configFlag, ownerFlag)
			}
			if cmd.Flags().Changed(ownerFlag) && strings.TrimSpace(owner) == "" {
				return fmt.Errorf("--%s: empty owner", ownerFlag)
			}
			cfg, err := parseKeyValues(configFlag, config)
			if err != nil {
				return err
			}
			s, err := cf.session(cmd)
			if err != nil {
				return err
			}
			body := &models.AppWrapper{App: &models.App{Config: cfg, Owner: owner}}
			params := apps.NewPatchAppParams().WithApp(args[0]).WithBody(body)
			res, err := s.api.Apps.PatchAppContext(cmd.Context(), params, nil)
			if err != nil {
				return clientError(fmt.Sprintf("update app %q", args[0]), err)
			}
			return s.showApp(res.GetPayload())
		},
	}
	cmd.Flags().StringArrayVar(&config, configFlag, nil, "config variable K=V to set, or K= to remove (repeatable)")
	cmd.Flags().StringVar(&owner, ownerFlag, "", "give the app to this user or service account (admins only)")
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
			_, err = s.api.Apps.DeleteAppContext(cmd.Context(), apps.NewDeleteAppParams().WithApp(args[0]), nil)
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

// appTable is the header and rows of `gantry apps list`. The OWNER column
// is left out when no app has an owner: a server without ownership (before
// authentication) sends none, and a column of dashes says nothing.
func appTable(items []*models.App) table {
	withOwner := slices.ContainsFunc(items, func(a *models.App) bool { return a != nil && a.Owner != "" })
	header := []string{"NAME", "CONFIG", "CREATED"}
	if withOwner {
		header = []string{"NAME", "CONFIG", "OWNER", "CREATED"}
	}
	rows := make([][]string, 0, len(items))
	for _, a := range items {
		if a == nil {
			continue
		}
		row := []string{a.Name, orDash(formatConfig(a.Config)), formatTime(a.CreatedAt)}
		if withOwner {
			row = []string{a.Name, orDash(formatConfig(a.Config)), orDash(a.Owner), formatTime(a.CreatedAt)}
		}
		rows = append(rows, row)
	}
	return table{header: header, rows: rows}
}

// appFields are the lines of `gantry apps get`; Owner only when the server sent one.
func appFields(a *models.App) []field {
	fields := []field{{"Name", a.Name}}
	if a.Owner != "" {
		fields = append(fields, field{"Owner", a.Owner})
	}
	return append(fields,
		field{"Config", orDash(formatConfig(a.Config))},
		field{"Created", formatTime(a.CreatedAt)},
		field{"Updated", formatTime(a.UpdatedAt)},
	)
}
