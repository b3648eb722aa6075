package main

// This file holds `gantry apis ...`: the APIs that expose functions on the gateway.
// Their flags are in cli_apis_flags.go, the parsing of flag values in cli_apis_parse.go,
// the request body in cli_apis_body.go and what is shown in cli_apis_show.go.

import (
	"context"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/gantry-dev/gantry/gen/client/apis"
	"github.com/gantry-dev/gantry/gen/models"
)

// newAPIsCmd builds `gantry apis` and its subcommands.
func newAPIsCmd(cf *clientFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "apis",
		Aliases: []string{"api"},
		Short:   "Manage the APIs that expose functions on the gateway",
	}
	cmd.AddCommand(
		newAPIsListCmd(cf),
		newAPIsCreateCmd(cf),
		newAPIsGetCmd(cf),
		newAPIsUpdateCmd(cf),
		newAPIsDeleteCmd(cf),
	)
	return cmd
}

func newAPIsListCmd(cf *clientFlags) *cobra.Command {
	return newOwnedListCmd(cf, ownedList[*models.API]{
		what:  "APIs",
		fetch: (*session).listAPIsPage,
		show: func(s *session, items []*models.API, next string) error {
			for _, a := range items {
				withoutSecrets(a)
			}
			return s.out.show(&models.ApisWrapper{Apis: items, NextCursor: next}, func(w io.Writer) error {
				return writeTable(w, apiTable(items))
			})
		},
	})
}

// listAPIsPage gets one page of APIs, of owner only unless owner is "".
func (s *session) listAPIsPage(ctx context.Context, owner, cursor string, perPage int64) ([]*models.API, string, error) {
	params := apis.NewListApisParams().WithPerPage(&perPage)
	if owner != "" {
		params.SetOwner(&owner)
	}
	if cursor != "" {
		params.SetCursor(&cursor)
	}
	res, err := s.api.Apis.ListApisContext(ctx, params, nil)
	if err != nil {
		return nil, "", clientError("list APIs", err)
	}
	p := res.GetPayload()
	return p.Apis, p.NextCursor, nil
}

func newAPIsCreateCmd(cf *clientFlags) *cobra.Command {
	var af apiFlags
	cmd := &cobra.Command{
		Use:   "create NAME --function APP/ROUTE --path URI [flags]",
		Short: "Create an API that exposes a function on the gateway",
		Long: "Create an API that exposes a function on the gateway: requests to one of its hosts\n" +
			"(any host without --host), methods and paths call the route ROUTE of app APP.\n\n" +
			"Example:\n" +
			"  gantry apis create users --function shop/users/:id --host api.example.com --path /users/:id \\\n" +
			"    --method GET --auth basic --user alice:correct-horse --rate 600/m --burst 20 --timeout 5s",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			m, err := af.toModel(cmd.Flags().Changed, false)
			if err != nil {
				return err
			}
			m.Name = args[0]
			body := &models.APIWrapper{API: m}
			send, err := sendJSONBody(body)
			if err != nil {
				return err
			}
			s, err := cf.session(cmd)
			if err != nil {
				return err
			}
			res, err := s.api.Apis.CreateAPIContext(cmd.Context(), apis.NewCreateAPIParams().WithBody(body), nil, send)
			if err != nil {
				return clientError(fmt.Sprintf("create API %q", args[0]), err)
			}
			return s.showAPI(res.GetPayload())
		},
	}
	addAPIFlags(cmd, &af, false)
	cmd.Flags().BoolVar(&af.disabled, apiFlagDisabled, false, "create the API disabled: the gateway does not serve it until `apis update --enable`")
	_ = cmd.MarkFlagRequired(apiFlagFunction) // only fails for an unknown flag name
	_ = cmd.MarkFlagRequired(apiFlagPath)
	return cmd
}

func newAPIsGetCmd(cf *clientFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "get NAME",
		Short: "Show an API (never its TLS key or passwords)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := cf.session(cmd)
			if err != nil {
				return err
			}
			res, err := s.api.Apis.GetAPIContext(cmd.Context(), apis.NewGetAPIParams().WithAPI(args[0]), nil)
			if err != nil {
				return clientError(fmt.Sprintf("get API %q", args[0]), err)
			}
			return s.showAPI(res.GetPayload())
		},
	}
}

func newAPIsUpdateCmd(cf *clientFlags) *cobra.Command {
	var af apiFlags
	cmd := &cobra.Command{
		Use:   "update NAME [flags]",
		Short: "Change the fields of an API given as flags",
		Long: "Change the fields of an API given as flags; the others stay as they are.\n" +
			"A list flag given replaces the API's list (--host '' empties it: any host).\n" +
			"--user USER:PASSWORD ... replaces the users; --user USER alone keeps that user's password.\n" +
			"--oidc-*, --cors-* and --rate/--burst/--rate-per each replace their whole setting.\n" +
			"--no-tls removes the certificate, --no-rate-limit the rate limit.\n" +
			"--owner NEW gives the API to NEW (admins only).",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if !anyChanged(cmd.Flags().Changed, apiUpdateFlagNames()) {
				return fmt.Errorf("update API %q: nothing to change; give at least one of --%s, --%s, --%s (see --help)",
					args[0], apiFlagHost, apiFlagPath, apiFlagFunction)
			}
			m, err := af.toModel(cmd.Flags().Changed, true)
			if err != nil {
				return err
			}
			body := &models.APIWrapper{API: m}
			send, err := sendJSONBody(body)
			if err != nil {
				return err
			}
			s, err := cf.session(cmd)
			if err != nil {
				return err
			}
			params := apis.NewPatchAPIParams().WithAPI(args[0]).WithBody(body)
			res, err := s.api.Apis.PatchAPIContext(cmd.Context(), params, nil, send)
			if err != nil {
				return clientError(fmt.Sprintf("update API %q", args[0]), err)
			}
			return s.showAPI(res.GetPayload())
		},
	}
	addAPIFlags(cmd, &af, true)
	fs := cmd.Flags()
	fs.BoolVar(&af.enable, apiFlagEnable, false, "serve the API on the gateway again")
	fs.BoolVar(&af.disable, apiFlagDisable, false, "stop serving the API (the gateway answers 404) without deleting it")
	fs.BoolVar(&af.noTLS, apiFlagNoTLS, false, "remove the API's certificate and key")
	fs.BoolVar(&af.noRateLimit, apiFlagNoRateLimit, false, "remove the API's rate limit")
	fs.StringVar(&af.owner, ownerFlag, "", "give the API to this user or service account (admins only)")
	cmd.MarkFlagsMutuallyExclusive(apiFlagEnable, apiFlagDisable)
	cmd.MarkFlagsMutuallyExclusive(apiFlagNoTLS, apiFlagTLSCert)
	cmd.MarkFlagsMutuallyExclusive(apiFlagNoTLS, apiFlagTLSKey)
	cmd.MarkFlagsMutuallyExclusive(apiFlagNoRateLimit, apiFlagRate)
	cmd.MarkFlagsMutuallyExclusive(apiFlagNoRateLimit, apiFlagBurst)
	cmd.MarkFlagsMutuallyExclusive(apiFlagNoRateLimit, apiFlagRatePer)
	return cmd
}

func newAPIsDeleteCmd(cf *clientFlags) *cobra.Command {
	return &cobra.Command{
		Use:     "delete NAME",
		Aliases: []string{"rm"},
		Short:   "Delete an API; the gateway stops serving it within a second",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := cf.session(cmd)
			if err != nil {
				return err
			}
			if _, err := s.api.Apis.DeleteAPIContext(cmd.Context(), apis.NewDeleteAPIParams().WithAPI(args[0]), nil); err != nil {
				return clientError(fmt.Sprintf("delete API %q", args[0]), err)
			}
			return s.out.confirm("API %q deleted", args[0])
		},
	}
}
