package secrets

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/hashicorp/vault/api"
)

// errVaultPolicy: Vault refused an operation to a token that is still valid, so logging in
// again would not help (the token's policy does not allow the path).
var errVaultPolicy = errors.New("vault policy denies it")

// classify maps an error of the Vault client to the backend's: ErrNotFound when Vault
// answered that there is nothing there, ErrUnavailable when it could not be reached,
// timed out, is sealed, failed (5xx) or refused the token; the caller's own cancellation
// as it is. The message names Vault's address and Vault's own error text, never a token or
// a value.
func (v *Vault) classify(ctx context.Context, err error) error {
	return classifyVaultError(ctx, v.cfg.Addr, v.cfg.Timeout.String(), err)
}

func classifyVaultError(ctx context.Context, addr, timeout string, err error) error {
	if err == nil {
		return nil
	}
	if ctx.Err() != nil {
		return fmt.Errorf("vault at %s: %w", addr, ctx.Err())
	}
	if errors.Is(err, api.ErrSecretNotFound) {
		return ErrNotFound
	}
	var re *api.ResponseError
	if !errors.As(err, &re) {
		if errors.Is(err, context.DeadlineExceeded) {
			return fmt.Errorf("vault at %s did not answer within %s: %w", addr, timeout, ErrUnavailable)
		}
		// Transport (connection refused, TLS, reset) or an answer that is not Vault's.
		return fmt.Errorf("cannot reach vault at %s: %s: %w", addr, transportMessage(err), ErrUnavailable)
	}
	msg := vaultMessages(re)
	switch {
	case re.StatusCode == http.StatusNotFound && len(re.Errors) == 0:
		return ErrNotFound
	case re.StatusCode == http.StatusServiceUnavailable && strings.Contains(strings.ToLower(msg), "sealed"):
		return fmt.Errorf("vault at %s is sealed: %w", addr, ErrUnavailable)
	case re.StatusCode == http.StatusForbidden:
		return fmt.Errorf("vault at %s refused Gantry's token (%s): %w", addr, msg, ErrUnavailable)
	case re.StatusCode >= 500, re.StatusCode == http.StatusTooManyRequests:
		return fmt.Errorf("vault at %s answered %d (%s): %w", addr, re.StatusCode, msg, ErrUnavailable)
	default:
		return fmt.Errorf("vault at %s answered %d (%s)", addr, re.StatusCode, msg)
	}
}

// isVaultDenied reports a 403 from Vault: permission denied, or a token Vault no longer
// knows (expired, revoked).
func isVaultDenied(err error) bool {
	var re *api.ResponseError
	return errors.As(err, &re) && re.StatusCode == http.StatusForbidden
}

// isVaultClientError reports an answer of Vault in 400-499 (the request was refused, as a
// login with a wrong secret id is).
func isVaultClientError(err error) bool {
	var re *api.ResponseError
	return errors.As(err, &re) && re.StatusCode >= 400 && re.StatusCode < 500
}

// vaultMessages is Vault's error text, short. Vault's messages say what failed, not what
// was sent.
func vaultMessages(re *api.ResponseError) string {
	if re.RawError {
		return "an answer that is not Vault's"
	}
	var parts []string
	for _, e := range re.Errors {
		// Vault lists several errors as "2 errors occurred:\n\t* permission denied\n\t* ...".
		if _, list, ok := strings.Cut(e, "occurred:"); ok && strings.Contains(list, "* ") {
			for item := range strings.SplitSeq(list, "* ") {
				if item = strings.Join(strings.Fields(item), " "); item != "" {
					parts = append(parts, item)
				}
			}
			continue
		}
		parts = append(parts, strings.Join(strings.Fields(e), " "))
	}
	msg := strings.Join(parts, "; ")
	if msg == "" {
		msg = http.StatusText(re.StatusCode)
	}
	if len(msg) > 300 {
		msg = msg[:300] + "..."
	}
	return msg
}

// transportMessage is err's message without the request URL that net/url puts first (the
// caller's message names the path already).
func transportMessage(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) && ue.Err != nil {
		return ue.Err.Error()
	}
	return err.Error()
}
