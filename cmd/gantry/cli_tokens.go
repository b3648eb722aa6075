package main

// This file holds `gantry whoami` and `gantry tokens ...`.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/go-openapi/strfmt"
	"github.com/spf13/cobra"

	"github.com/gantry-dev/gantry/gen/client/auth"
	"github.com/gantry-dev/gantry/gen/models"
)

// Names of the `tokens create` flags.
const (
	flagUser      = "user"
	flagRole      = "role"
	flagExpiresIn = "expires-in"
	flagExpiresAt = "expires-at"
	flagQuiet     = "quiet"
)

// newWhoamiCmd builds `gantry whoami`: the identity the credentials map to.
func newWhoamiCmd(cf *clientFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "whoami",
		Short: "Show who the credentials identify and their role",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := cf.session(cmd)
			if err != nil {
				return err
			}
			res, err := s.api.Auth.WhoamiContext(cmd.Context(), auth.NewWhoamiParams(), nil)
			if err != nil {
				return clientError("whoami", err)
			}
			w := res.GetPayload()
			if w == nil || w.Principal == nil {
				return errors.New("the server's answer has no principal")
			}
			return s.out.show(w, func(out io.Writer) error {
				return writeFields(out, principalFields(w.Principal))
			})
		},
	}
}

func principalFields(p *models.Principal) []field {
	return []field{
		{"Name", derefOrDash(p.Name)},
		{"Role", derefOrDash(p.Role)},
		{"Kind", derefOrDash(p.Kind)},
		{"Groups", orDash(strings.Join(p.Groups, ","))},
		{"Token ID", orDash(p.TokenID)},
	}
}

func derefOrDash(s *string) string {
	if s == nil {
		return "-"
	}
	return orDash(*s)
}

// newTokensCmd builds `gantry tokens` and its subcommands.
func newTokensCmd(cf *clientFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "tokens",
		Aliases: []string{"token"},
		Short:   "Manage API tokens",
	}
	cmd.AddCommand(
		newTokensListCmd(cf),
		newTokensCreateCmd(cf),
		newTokensGetCmd(cf),
		newTokensRevokeCmd(cf),
	)
	return cmd
}

func newTokensListCmd(cf *clientFlags) *cobra.Command {
	var pf pageFlags
	cmd := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List API tokens, newest first, without their secrets",
		Long:    "List API tokens, newest first, without their secrets: every token for an admin, a developer's own otherwise.",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := cf.session(cmd)
			if err != nil {
				return err
			}
			return runList(cmd, s, pf, "tokens", s.listTokensPage, func(items []*models.Token, next string) error {
				return s.out.show(&models.TokensWrapper{Tokens: items, NextCursor: next}, func(w io.Writer) error {
					return writeTable(w, tokenTable(items))
				})
			})
		},
	}
	addPageFlags(cmd, &pf)
	return cmd
}

func (s *session) listTokensPage(ctx context.Context, cursor string, perPage int64) ([]*models.Token, string, error) {
	params := auth.NewListTokensParams().WithPerPage(&perPage)
	if cursor != "" {
		params.SetCursor(&cursor)
	}
	res, err := s.api.Auth.ListTokensContext(ctx, params, nil)
	if err != nil {
		return nil, "", clientError("list tokens", err)
	}
	p := res.GetPayload()
	return p.Tokens, p.NextCursor, nil
}

// tokenCreateFlags are the flags of `tokens create`.
type tokenCreateFlags struct {
	user      string
	role      string
	expiresIn string
	expiresAt string
	quiet     bool
}

// toModel builds the token to create, named name, as of now. Only the flags
// that changed(name) reports as set are sent; the server fills in the rest.
func (tf *tokenCreateFlags) toModel(name string, now time.Time, changed func(string) bool) (*models.Token, error) {
	t := &models.Token{Name: name}
	if changed(flagUser) {
		if strings.TrimSpace(tf.user) == "" {
			return nil, fmt.Errorf("--%s: empty user", flagUser)
		}
		t.User = tf.user
	}
	if changed(flagRole) {
		if tf.role != models.TokenRoleAdmin && tf.role != models.TokenRoleDeveloper && tf.role != models.TokenRoleUser {
			return nil, fmt.Errorf("--%s %q: must be %q, %q or %q", flagRole, tf.role, models.TokenRoleAdmin, models.TokenRoleDeveloper, models.TokenRoleUser)
		}
		t.Role = tf.role
	}
	switch {
	case changed(flagExpiresIn):
		d, err := parseExpiresIn(tf.expiresIn)
		if err != nil {
			return nil, err
		}
		at := strfmt.DateTime(now.Add(d).UTC().Truncate(time.Second))
		t.ExpiresAt = &at
	case changed(flagExpiresAt):
		v, err := time.Parse(time.RFC3339, tf.expiresAt)
		if err != nil {
			return nil, fmt.Errorf("--%s %q: want an RFC 3339 time such as 2030-01-02T15:04:05Z", flagExpiresAt, tf.expiresAt)
		}
		at := strfmt.DateTime(v.UTC())
		t.ExpiresAt = &at
	}
	return t, nil
}

// parseExpiresIn parses --expires-in: a duration as every flag takes them (parseDuration:
// 90m, 12h, or seconds) or a whole number of days (30d). It must be positive.
func parseExpiresIn(s string) (time.Duration, error) {
	var (
		d   time.Duration
		err error
	)
	if days, ok := strings.CutSuffix(s, "d"); ok {
		var n int64
		n, err = strconv.ParseInt(days, 10, 64)
		if err == nil && n > math.MaxInt64/int64(24*time.Hour) {
			err = errors.New("too long")
		}
		d = time.Duration(n) * 24 * time.Hour
	} else {
		d, err = parseDuration(flagExpiresIn, s)
	}
	if err != nil {
		return 0, fmt.Errorf("--%s %q: want a duration such as 90m, 12h or 30d", flagExpiresIn, s)
	}
	if d <= 0 {
		return 0, fmt.Errorf("--%s %q: must be positive", flagExpiresIn, s)
	}
	return d, nil
}

func newTokensCreateCmd(cf *clientFlags) *cobra.Command {
	var tf tokenCreateFlags
	cmd := &cobra.Command{
		Use:   "create NAME [--user USER] [--role admin|developer] [--expires-in DURATION | --expires-at TIME]",
		Short: "Create an API token and print its secret, which is shown only this once",
		Long: "Create an API token and print its secret, which is shown only this once.\n" +
			"An admin creates tokens of either role for anyone; a developer creates developer tokens for itself.\n" +
			"--user defaults to the caller, --role to developer; without --expires-in/--expires-at the token never expires.\n" +
			"In scripts, -q prints the secret alone: TOKEN=$(gantry tokens create ci -q)",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if tf.quiet && cf.output == formatJSON {
				return fmt.Errorf("--%s prints the secret alone; it does not go with -o %s", flagQuiet, formatJSON)
			}
			token, err := tf.toModel(args[0], time.Now(), cmd.Flags().Changed)
			if err != nil {
				return err
			}
			s, err := cf.session(cmd)
			if err != nil {
				return err
			}
			params := auth.NewCreateTokenParams().WithBody(&models.TokenWrapper{Token: token})
			res, err := s.api.Auth.CreateTokenContext(cmd.Context(), params, nil)
			if err != nil {
				return clientError(fmt.Sprintf("create token %q", args[0]), err)
			}
			w := res.GetPayload()
			if w == nil || w.Token == nil || w.Token.Secret == "" {
				return errors.New("the server's answer has no token secret")
			}
			if tf.quiet {
				_, err := fmt.Fprintln(s.out.w, w.Token.Secret)
				return err
			}
			err = s.out.show(w, func(out io.Writer) error {
				return writeFields(out, append(tokenFields(w.Token), field{"Secret", w.Token.Secret}))
			})
			if err != nil {
				return err
			}
			fmt.Fprintln(s.stderr, "Save the secret now: it is shown only this once and cannot be read back.")
			return nil
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&tf.user, flagUser, "", "user or service account the token acts as (default: the caller)")
	fs.StringVar(&tf.role, flagRole, "", `role of the token: "admin", "developer" or "user" (an end user, who may only run the workflows shared with it; server default developer)`)
	fs.StringVar(&tf.expiresIn, flagExpiresIn, "", "expire after this long, e.g. 12h or 30d (default: never)")
	fs.StringVar(&tf.expiresAt, flagExpiresAt, "", "expire at this RFC 3339 time, e.g. 2030-01-02T15:04:05Z (default: never)")
	fs.BoolVarP(&tf.quiet, flagQuiet, "q", false, "print only the secret, for scripts")
	cmd.MarkFlagsMutuallyExclusive(flagExpiresIn, flagExpiresAt)
	return cmd
}

func newTokensGetCmd(cf *clientFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "get ID",
		Short: "Show an API token (without its secret)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := cf.session(cmd)
			if err != nil {
				return err
			}
			res, err := s.api.Auth.GetTokenContext(cmd.Context(), auth.NewGetTokenParams().WithID(args[0]), nil)
			if err != nil {
				return clientError(fmt.Sprintf("get token %s", args[0]), err)
			}
			w := res.GetPayload()
			if w == nil || w.Token == nil {
				return errors.New("the server's answer has no token")
			}
			return s.out.show(w, func(out io.Writer) error {
				return writeFields(out, tokenFields(w.Token))
			})
		},
	}
}

func newTokensRevokeCmd(cf *clientFlags) *cobra.Command {
	return &cobra.Command{
		Use:     "revoke ID",
		Aliases: []string{"delete", "rm"},
		Short:   "Revoke an API token; it stops working at once",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := cf.session(cmd)
			if err != nil {
				return err
			}
			if _, err := s.api.Auth.RevokeTokenContext(cmd.Context(), auth.NewRevokeTokenParams().WithID(args[0]), nil); err != nil {
				return clientError(fmt.Sprintf("revoke token %s", args[0]), err)
			}
			return s.out.confirm("token %s revoked", args[0])
		},
	}
}

// tokenTable is the header and rows of `gantry tokens list`.
func tokenTable(items []*models.Token) table {
	header := []string{"ID", "NAME", "USER", "ROLE", "EXPIRES", "CREATED", "CREATED BY"}
	rows := make([][]string, 0, len(items))
	for _, t := range items {
		if t == nil {
			continue
		}
		rows = append(rows, []string{
			t.ID, orDash(t.Name), orDash(t.User), orDash(t.Role),
			formatExpires(t.ExpiresAt), formatTime(t.CreatedAt), orDash(t.CreatedBy),
		})
	}
	return table{header: header, rows: rows}
}

// tokenFields are the lines of one token, without its secret.
func tokenFields(t *models.Token) []field {
	return []field{
		{"ID", t.ID},
		{"Name", orDash(t.Name)},
		{"User", orDash(t.User)},
		{"Role", orDash(t.Role)},
		{"Expires", formatExpires(t.ExpiresAt)},
		{"Created", formatTime(t.CreatedAt)},
		{"Created by", orDash(t.CreatedBy)},
	}
}

// formatExpires shows a token's expiry; a token without one never expires.
func formatExpires(t *strfmt.DateTime) string {
	if t == nil {
		return "never"
	}
	return formatTime(t)
}
