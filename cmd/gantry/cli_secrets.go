package main

// This file holds `gantry secrets ...`: function secrets, whose values are write-only.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"unicode/utf8"

	"github.com/spf13/cobra"

	"github.com/gantry-dev/gantry/gen/client/secrets"
	"github.com/gantry-dev/gantry/gen/models"
	"github.com/gantry-dev/gantry/store"
)

// Names of the flags that give a secret's value.
const (
	flagFromLiteral = "from-literal"
	flagFromFile    = "from-file"
)

// newSecretsCmd builds `gantry secrets` and its subcommands.
func newSecretsCmd(cf *clientFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "secrets",
		Aliases: []string{"secret"},
		Short:   "Manage function secrets (values are write-only: nothing ever prints one)",
		Long: "Manage function secrets: sets of KEY=VALUE that the functions of routes naming them (gantry routes\n" +
			"create|update --secret NAME) read as files /run/secrets/NAME/KEY. Values are write-only: no command\n" +
			"and no API operation ever shows one.",
	}
	cmd.AddCommand(
		newSecretsListCmd(cf),
		newSecretsWriteCmd(cf, false),
		newSecretsGetCmd(cf),
		newSecretsWriteCmd(cf, true),
		newSecretsDeleteCmd(cf),
	)
	return cmd
}

func newSecretsListCmd(cf *clientFlags) *cobra.Command {
	return newOwnedListCmd(cf, ownedList[*models.Secret]{
		what:  "secrets",
		fetch: (*session).listSecretsPage,
		show: func(s *session, items []*models.Secret, next string) error {
			return s.out.show(&models.SecretsWrapper{Secrets: items, NextCursor: next}, func(w io.Writer) error {
				return writeTable(w, secretTable(items))
			})
		},
	})
}

// listSecretsPage gets one page of secrets, of owner only unless owner is "".
func (s *session) listSecretsPage(ctx context.Context, owner, cursor string, perPage int64) ([]*models.Secret, string, error) {
	params := secrets.NewListSecretsParams().WithPerPage(&perPage)
	if owner != "" {
		params.SetOwner(&owner)
	}
	if cursor != "" {
		params.SetCursor(&cursor)
	}
	res, err := s.api.Secrets.ListSecretsContext(ctx, params, nil)
	if err != nil {
		return nil, "", clientError("list secrets", err)
	}
	p := res.GetPayload()
	return p.Secrets, p.NextCursor, nil
}

// secretValueFlags are the flags that give a secret's value.
type secretValueFlags struct {
	literals []string // KEY=VALUE
	files    []string // KEY=PATH
}

// data reads the value the flags give: at least one key, no key twice, files read whole
// and refused unless they are UTF-8 text (values travel as JSON strings) of at most
// store.MaxSecretValue bytes.
func (f *secretValueFlags) data() (models.SecretData, error) {
	if len(f.literals) == 0 && len(f.files) == 0 {
		return nil, fmt.Errorf("no value: give --%s KEY=VALUE or --%s KEY=PATH (repeatable)", flagFromLiteral, flagFromFile)
	}
	out := models.SecretData{}
	key := func(flag string, i int, pair string) (string, string, error) {
		k, v, err := splitSecretPair(flag, i, pair)
		if err != nil {
			return "", "", err
		}
		if _, dup := out[k]; dup {
			return "", "", fmt.Errorf("--%s: key %q given more than once", flag, k)
		}
		return k, v, nil
	}
	for i, p := range f.literals {
		k, v, err := key(flagFromLiteral, i+1, p)
		if err != nil {
			return nil, err
		}
		out[k] = v
	}
	for i, p := range f.files {
		k, path, err := key(flagFromFile, i+1, p)
		if err != nil {
			return nil, err
		}
		if out[k], err = readSecretFile(path); err != nil {
			return nil, fmt.Errorf("--%s %s=%s: %w", flagFromFile, k, path, err)
		}
	}
	return out, nil
}

// splitSecretPair splits the i-th (from 1) KEY=VALUE of --flag. Its errors name the flag
// and the position, never the argument: a malformed one (hunter2, =hunter2) may be all
// value.
func splitSecretPair(flag string, i int, pair string) (string, string, error) {
	k, v, ok := strings.Cut(pair, "=")
	switch {
	case !ok:
		return "", "", fmt.Errorf("--%s number %d: want KEY=VALUE (KEY= for an empty value), and it has no '=' (not shown: it may be a value)", flag, i)
	case strings.TrimSpace(k) == "":
		return "", "", fmt.Errorf("--%s number %d: empty key; want KEY=VALUE (not shown: it holds a value)", flag, i)
	}
	return k, v, nil
}

// readSecretFile reads a file that holds one value of a secret. Its content is never part
// of an error.
func readSecretFile(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, store.MaxSecretValue+1))
	if err != nil {
		return "", err
	}
	if len(b) > store.MaxSecretValue {
		return "", fmt.Errorf("the file is larger than %d bytes, the most a secret value holds", store.MaxSecretValue)
	}
	if !utf8.Valid(b) {
		return "", errors.New("the file is not UTF-8 text: secret values travel as JSON strings; encode binary data first (e.g. base64 FILE > FILE.b64) and decode it in the function")
	}
	return string(b), nil
}

// newSecretsWriteCmd builds `secrets create` (POST: a new secret; 409 if the name is taken)
// or, with update, `secrets update` (PUT: a new version, the secret created if missing).
func newSecretsWriteCmd(cf *clientFlags, update bool) *cobra.Command {
	var vf secretValueFlags
	use, short, verb := "create", "Create a secret from literal values and files", "create"
	if update {
		use, short, verb = "update", "Store a new value of a secret: a new version that replaces every key (creates the secret if missing)", "update"
	}
	cmd := &cobra.Command{
		Use:   use + " NAME (--from-literal KEY=VALUE | --from-file KEY=PATH)...",
		Short: short,
		Long: short + ".\nEach KEY becomes the file /run/secrets/NAME/KEY of the functions of routes that name the secret.\n" +
			"--from-literal KEY=VALUE gives a value on the command line (it may end up in your shell's history);\n" +
			"--from-file KEY=PATH reads it from a file, which must be UTF-8 text of at most 64 KiB. Both repeat.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			data, err := vf.data()
			if err != nil {
				return err
			}
			s, err := cf.session(cmd)
			if err != nil {
				return err
			}
			var w *models.SecretWrapper
			if update {
				params := secrets.NewPutSecretParams().WithName(name).WithBody(&models.SecretInputWrapper{Secret: &models.SecretInput{Data: data}})
				ok, created, err := s.api.Secrets.PutSecretContext(cmd.Context(), params, nil)
				if err != nil {
					return clientError(fmt.Sprintf("%s secret %q", verb, name), err)
				}
				if ok != nil {
					w = ok.GetPayload()
				} else {
					w = created.GetPayload()
				}
			} else {
				params := secrets.NewCreateSecretParams().WithBody(&models.SecretInputWrapper{Secret: &models.SecretInput{Name: name, Data: data}})
				res, err := s.api.Secrets.CreateSecretContext(cmd.Context(), params, nil)
				if err != nil {
					return clientError(fmt.Sprintf("%s secret %q", verb, name), err)
				}
				w = res.GetPayload()
			}
			return s.showSecret(w)
		},
	}
	cmd.Flags().StringArrayVar(&vf.literals, flagFromLiteral, nil, "a key and its value, KEY=VALUE (repeatable)")
	cmd.Flags().StringArrayVar(&vf.files, flagFromFile, nil, "a key and the file holding its value, KEY=PATH (repeatable)")
	return cmd
}

func newSecretsGetCmd(cf *clientFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "get NAME",
		Short: "Show a secret's keys and versions (never its values)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := cf.session(cmd)
			if err != nil {
				return err
			}
			res, err := s.api.Secrets.GetSecretContext(cmd.Context(), secrets.NewGetSecretParams().WithName(args[0]), nil)
			if err != nil {
				return clientError(fmt.Sprintf("get secret %q", args[0]), err)
			}
			return s.showSecret(res.GetPayload())
		},
	}
}

func newSecretsDeleteCmd(cf *clientFlags) *cobra.Command {
	return &cobra.Command{
		Use:     "delete NAME",
		Aliases: []string{"rm"},
		Short:   "Delete a secret with every version of its value",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := cf.session(cmd)
			if err != nil {
				return err
			}
			if _, err := s.api.Secrets.DeleteSecretContext(cmd.Context(), secrets.NewDeleteSecretParams().WithName(args[0]), nil); err != nil {
				return clientError(fmt.Sprintf("delete secret %q", args[0]), err)
			}
			return s.out.confirm("secret %q deleted", args[0])
		},
	}
}

// showSecret prints one secret's record: key/value lines, or its {"secret":{...}} wrapper.
func (s *session) showSecret(w *models.SecretWrapper) error {
	if w == nil || w.Secret == nil {
		return errors.New("the server's answer has no secret")
	}
	return s.out.show(w, func(out io.Writer) error {
		return writeFields(out, secretFields(w.Secret))
	})
}

// secretTable is the header and rows of `gantry secrets list`.
func secretTable(items []*models.Secret) table {
	rows := make([][]string, 0, len(items))
	for _, x := range items {
		if x == nil {
			continue
		}
		rows = append(rows, []string{x.Name, orDash(x.Owner), orDash(strings.Join(x.Keys, ",")), fmt.Sprint(x.Version), formatTime(x.UpdatedAt)})
	}
	return table{header: []string{"NAME", "OWNER", "KEYS", "VERSION", "UPDATED"}, rows: rows}
}

// secretFields are the lines of one secret's record.
func secretFields(x *models.Secret) []field {
	return []field{
		{"Name", x.Name},
		{"Owner", orDash(x.Owner)},
		{"Keys", orDash(strings.Join(x.Keys, ","))},
		{"Version", fmt.Sprint(x.Version)},
		{"Versions", orDash(formatVersions(x.Versions))},
		{"Created by", orDash(x.CreatedBy)},
		{"Created", formatTime(x.CreatedAt)},
		{"Updated", formatTime(x.UpdatedAt)},
	}
}
