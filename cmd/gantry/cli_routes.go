package main

// This file holds `gantry routes ...`.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/gantry-dev/gantry/gen/client/routes"
	"github.com/gantry-dev/gantry/gen/models"
)

// Names of the route flags; PATCH sends exactly the ones the user set.
const (
	flagImage          = "image"
	flagType           = "type"
	flagFormat         = "format"
	flagMemory         = "memory"
	flagCPUs           = "cpus"
	flagTimeout        = "timeout"
	flagIdleTimeout    = "idle-timeout"
	flagMaxConcurrency = "max-concurrency"
	flagMaxRetries     = "max-retries"
	flagNetwork        = "network"
	flagAuth           = "auth"
	flagConfig         = configFlag
	flagHeader         = "header"
	flagSecret         = "secret"
	flagNoSecrets      = "no-secrets"
)

// routeFlagNames lists every route field flag.
func routeFlagNames() []string {
	return []string{flagImage, flagType, flagFormat, flagMemory, flagCPUs, flagTimeout,
		flagIdleTimeout, flagMaxConcurrency, flagMaxRetries, flagNetwork, flagAuth, flagConfig, flagHeader, flagSecret, flagNoSecrets}
}

// routeFlags are the flags of `routes create` and `routes update`.
type routeFlags struct {
	image          string
	typ            string
	format         string
	memory         int64
	cpus           float64
	timeout        int64
	idleTimeout    int64
	maxConcurrency int64
	maxRetries     int64
	network        string
	auth           string
	config         []string
	headers        []string
	secrets        []string
	noSecrets      bool // update only: remove every secret
}

func addRouteFlags(cmd *cobra.Command, rf *routeFlags) {
	fs := cmd.Flags()
	fs.StringVar(&rf.image, flagImage, "", "Docker image that runs the function")
	fs.StringVar(&rf.typ, flagType, "", "call type: sync or async (server default sync)")
	fs.StringVar(&rf.format, flagFormat, "", "function format: default, http or json (server default: default)")
	fs.Int64Var(&rf.memory, flagMemory, 0, "memory limit in MiB (server default 128)")
	fs.Float64Var(&rf.cpus, flagCPUs, 0, "CPU limit in cores, 0 for none")
	secondsVar(cmd, &rf.timeout, flagTimeout, "time a call may run, whole seconds (server default 30s)")
	secondsVar(cmd, &rf.idleTimeout, flagIdleTimeout, "time a hot container stays up idle, whole seconds (server default 30s)")
	fs.Int64Var(&rf.maxConcurrency, flagMaxConcurrency, 0, "most containers run at once (server default 1)")
	fs.Int64Var(&rf.maxRetries, flagMaxRetries, 0, "runs of an async call after the function's own failure, 0-10 (server default 0)")
	fs.StringVar(&rf.network, flagNetwork, "", "Docker network: bridge, none, or one an administrator registered (server default bridge)")
	fs.StringVar(&rf.auth, flagAuth, "", "who may call it at /r/: none (anyone) or token (server default none)")
	fs.StringArrayVar(&rf.config, flagConfig, nil, "config variable K=V; on update K= removes K (repeatable)")
	fs.StringArrayVar(&rf.headers, flagHeader, nil, "response header K=V; repeat K for several values; on update K= removes K")
	fs.StringArrayVar(&rf.secrets, flagSecret, nil, "a secret the function gets as files /run/secrets/NAME/KEY: a secret's name or ssh:USER (repeatable; on update the list given replaces the route's)")
}

// addNoSecretsFlag registers --no-secrets, which `routes update` has to remove every secret.
func addNoSecretsFlag(cmd *cobra.Command, rf *routeFlags) {
	cmd.Flags().BoolVar(&rf.noSecrets, flagNoSecrets, false, "remove every secret from the route")
	cmd.MarkFlagsMutuallyExclusive(flagSecret, flagNoSecrets)
}

// toModel builds a route holding only the fields whose flag changed(name)
// reports as set, so that create leaves the rest to server defaults and
// PATCH changes only what the user asked for.
func (rf *routeFlags) toModel(changed func(name string) bool) (*models.Route, error) {
	r := &models.Route{}
	if changed(flagImage) {
		r.Image = rf.image
	}
	if changed(flagType) {
		r.Type = rf.typ
	}
	if changed(flagFormat) {
		r.Format = rf.format
	}
	if changed(flagMemory) {
		r.Memory = &rf.memory
	}
	if changed(flagCPUs) {
		r.Cpus = &rf.cpus
	}
	if changed(flagTimeout) {
		r.Timeout = &rf.timeout
	}
	if changed(flagIdleTimeout) {
		r.IdleTimeout = &rf.idleTimeout
	}
	if changed(flagMaxConcurrency) {
		r.MaxConcurrency = &rf.maxConcurrency
	}
	if changed(flagMaxRetries) {
		r.MaxRetries = &rf.maxRetries
	}
	if changed(flagNetwork) {
		r.Network = rf.network
	}
	if changed(flagAuth) {
		r.Auth = rf.auth
	}
	cfg, err := parseKeyValues(flagConfig, rf.config)
	if err != nil {
		return nil, err
	}
	r.Config = cfg
	headers, err := parseHeaders(flagHeader, rf.headers)
	if err != nil {
		return nil, err
	}
	r.Headers = headers
	switch {
	case changed(flagNoSecrets) && rf.noSecrets:
		r.Secrets = []string{} // sent as [], which removes them; absent (null) leaves them
	case changed(flagSecret):
		for _, name := range rf.secrets {
			if strings.TrimSpace(name) == "" {
				return nil, fmt.Errorf("--%s: empty name (--%s removes every secret)", flagSecret, flagNoSecrets)
			}
		}
		r.Secrets = rf.secrets
	}
	return r, nil
}

// newRoutesCmd builds `gantry routes` and its subcommands.
func newRoutesCmd(cf *clientFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "routes",
		Aliases: []string{"route"},
		Short:   "Manage the routes of an app",
	}
	cmd.AddCommand(
		newRoutesListCmd(cf),
		newRoutesCreateCmd(cf),
		newRoutesGetCmd(cf),
		newRoutesUpdateCmd(cf),
		newRoutesDeleteCmd(cf),
	)
	return cmd
}

func newRoutesListCmd(cf *clientFlags) *cobra.Command {
	var pf pageFlags
	cmd := &cobra.Command{
		Use:     "list APP",
		Aliases: []string{"ls"},
		Short:   "List the routes of an app in path order",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := cf.session(cmd)
			if err != nil {
				return err
			}
			app := args[0]
			fetch := func(ctx context.Context, cursor string, perPage int64) ([]*models.Route, string, error) {
				return s.listRoutesPage(ctx, app, cursor, perPage)
			}
			return runList(cmd, s, pf, "routes", fetch, func(items []*models.Route, next string) error {
				return s.out.show(&models.RoutesWrapper{Routes: items, NextCursor: next}, func(w io.Writer) error {
					return writeTable(w, routeTable(items))
				})
			})
		},
	}
	addPageFlags(cmd, &pf)
	return cmd
}

func (s *session) listRoutesPage(ctx context.Context, app, cursor string, perPage int64) ([]*models.Route, string, error) {
	params := routes.NewListRoutesParams().WithApp(app).WithPerPage(&perPage)
	if cursor != "" {
		params.SetCursor(&cursor)
	}
	res, err := s.api.Routes.ListRoutesContext(ctx, params, nil)
	if err != nil {
		return nil, "", clientError(fmt.Sprintf("list routes of app %q", app), err)
	}
	p := res.GetPayload()
	return p.Routes, p.NextCursor, nil
}

func newRoutesCreateCmd(cf *clientFlags) *cobra.Command {
	var rf routeFlags
	cmd := &cobra.Command{
		Use:   "create APP PATH --image IMAGE [flags]",
		Short: "Create a route binding PATH of APP to a Docker image",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			app, path := args[0], args[1]
			route, err := rf.toModel(cmd.Flags().Changed)
			if err != nil {
				return err
			}
			route.Path = path
			s, err := cf.session(cmd)
			if err != nil {
				return err
			}
			params := routes.NewCreateRouteParams().WithApp(app).WithBody(&models.RouteWrapper{Route: route})
			res, err := s.api.Routes.CreateRouteContext(cmd.Context(), params, nil)
			if err != nil {
				return clientError(fmt.Sprintf("create route %s of app %q", path, app), err)
			}
			return s.showRoute(res.GetPayload())
		},
	}
	addRouteFlags(cmd, &rf)
	_ = cmd.MarkFlagRequired(flagImage) // only fails for an unknown flag name
	return cmd
}

func newRoutesGetCmd(cf *clientFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "get APP PATH",
		Short: "Show a route",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			app, path := args[0], args[1]
			s, err := cf.session(cmd)
			if err != nil {
				return err
			}
			params := routes.NewGetRouteParams().WithApp(app).WithRoute(path)
			res, err := s.api.Routes.GetRouteContext(cmd.Context(), params, nil)
			if err != nil {
				return clientError(fmt.Sprintf("get route %s of app %q", path, app), err)
			}
			return s.showRoute(res.GetPayload())
		},
	}
}

func newRoutesUpdateCmd(cf *clientFlags) *cobra.Command {
	var rf routeFlags
	cmd := &cobra.Command{
		Use:   "update APP PATH [flags]",
		Short: "Change the fields of a route given as flags; config and headers are merged",
		Long: "Change the fields of a route given as flags; config and headers are merged.\n" +
			"--secret NAME (repeatable) replaces the route's secrets with the ones given; --no-secrets removes them all.",
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			app, path := args[0], args[1]
			if !anyChanged(cmd.Flags().Changed, routeFlagNames()) {
				return fmt.Errorf("update route %s of app %q: nothing to change; give at least one of --%s, --%s (see --help)",
					path, app, flagImage, flagMemory)
			}
			route, err := rf.toModel(cmd.Flags().Changed)
			if err != nil {
				return err
			}
			s, err := cf.session(cmd)
			if err != nil {
				return err
			}
			params := routes.NewPatchRouteParams().WithApp(app).WithRoute(path).
				WithBody(&models.RouteWrapper{Route: route})
			res, err := s.api.Routes.PatchRouteContext(cmd.Context(), params, nil)
			if err != nil {
				return clientError(fmt.Sprintf("update route %s of app %q", path, app), err)
			}
			return s.showRoute(res.GetPayload())
		},
	}
	addRouteFlags(cmd, &rf)
	addNoSecretsFlag(cmd, &rf)
	return cmd
}

func newRoutesDeleteCmd(cf *clientFlags) *cobra.Command {
	return &cobra.Command{
		Use:     "delete APP PATH",
		Aliases: []string{"rm"},
		Short:   "Delete a route",
		Args:    cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			app, path := args[0], args[1]
			s, err := cf.session(cmd)
			if err != nil {
				return err
			}
			params := routes.NewDeleteRouteParams().WithApp(app).WithRoute(path)
			if _, err := s.api.Routes.DeleteRouteContext(cmd.Context(), params, nil); err != nil {
				return clientError(fmt.Sprintf("delete route %s of app %q", path, app), err)
			}
			return s.out.confirm("route %s of app %q deleted", path, app)
		},
	}
}

func anyChanged(changed func(string) bool, names []string) bool {
	for _, n := range names {
		if changed(n) {
			return true
		}
	}
	return false
}

// showRoute prints one route: key/value lines, or its {"route":{...}} wrapper.
func (s *session) showRoute(w *models.RouteWrapper) error {
	if w == nil || w.Route == nil {
		return errors.New("the server's answer has no route")
	}
	return s.out.show(w, func(out io.Writer) error {
		return writeFields(out, routeFields(w.Route))
	})
}

// routeTable is the header and rows of `gantry routes list`.
func routeTable(items []*models.Route) table {
	header := []string{"PATH", "IMAGE", "TYPE", "FORMAT", "MEMORY", "TIMEOUT", "CONCURRENCY"}
	rows := make([][]string, 0, len(items))
	for _, r := range items {
		if r == nil {
			continue
		}
		rows = append(rows, []string{
			r.Path, orDash(r.Image), orDash(r.Type), orDash(r.Format),
			formatInt(r.Memory, "MiB"), formatInt(r.Timeout, "s"), formatInt(r.MaxConcurrency, ""),
		})
	}
	return table{header: header, rows: rows}
}

func routeFields(r *models.Route) []field {
	return []field{
		{"Path", r.Path},
		{"Image", orDash(r.Image)},
		{"Type", orDash(r.Type)},
		{"Format", orDash(r.Format)},
		{"Memory", formatInt(r.Memory, "MiB")},
		{"CPUs", formatFloat(r.Cpus)},
		{"Timeout", formatInt(r.Timeout, "s")},
		{"Idle timeout", formatInt(r.IdleTimeout, "s")},
		{"Max concurrency", formatInt(r.MaxConcurrency, "")},
		{"Max retries", formatInt(r.MaxRetries, "")},
		{"Network", orDash(r.Network)},
		{"Auth", orDash(r.Auth)},
		{"Config", orDash(formatConfig(r.Config))},
		{"Headers", orDash(formatHeaders(r.Headers))},
		{"Secrets", orDash(strings.Join(r.Secrets, ","))},
		{"Created", formatTime(r.CreatedAt)},
		{"Updated", formatTime(r.UpdatedAt)},
	}
}
