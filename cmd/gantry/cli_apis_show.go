package main

// This file holds what `gantry apis` shows: the table of `list`, the lines of `get`
// (never a TLS key or a password) and the formatting of their fields.

import (
	"errors"
	"io"
	"strconv"
	"strings"

	"github.com/gantry-dev/gantry/gen/models"
)

// withoutSecrets clears the TLS key and the passwords of a, should a server send them.
func withoutSecrets(a *models.API) {
	if a == nil {
		return
	}
	if a.TLS != nil {
		a.TLS.Key = ""
	}
	for _, u := range a.BasicUsers {
		if u != nil {
			u.Password = ""
		}
	}
}

// showAPI prints one API: key/value lines, or its {"api":{...}} wrapper;
// never a TLS key or password.
func (s *session) showAPI(w *models.APIWrapper) error {
	if w == nil || w.API == nil {
		return errors.New("the server's answer has no API")
	}
	withoutSecrets(w.API)
	return s.out.show(w, func(out io.Writer) error {
		return writeFields(out, apiFields(w.API))
	})
}

// apiTable is the header and rows of `gantry apis list`.
func apiTable(items []*models.API) table {
	header := []string{"NAME", "FUNCTION", "HOSTS", "URIS", "AUTH", "ENABLED", "OWNER"}
	rows := make([][]string, 0, len(items))
	for _, a := range items {
		if a == nil {
			continue
		}
		rows = append(rows, []string{
			a.Name, formatAPIFunction(a.Function), formatHosts(a.Hosts), orDash(strings.Join(a.Uris, ",")),
			formatAuth(a.Authentication), formatBool(a.Enabled), orDash(a.Owner),
		})
	}
	return table{header: header, rows: rows}
}

// apiFields are the lines of `gantry apis get`: no certificate PEM, no key, no password.
func apiFields(a *models.API) []field {
	users := make([]string, 0, len(a.BasicUsers))
	for _, u := range a.BasicUsers {
		if u != nil && u.Username != nil {
			users = append(users, *u.Username)
		}
	}
	fields := []field{
		{"Name", a.Name},
		{"Owner", orDash(a.Owner)},
		{"Function", formatAPIFunction(a.Function)},
		{"Hosts", formatHosts(a.Hosts)},
		{"URIs", orDash(strings.Join(a.Uris, ","))},
		{"Methods", orAny(a.Methods)},
		{"Protocols", orAny(a.Protocols)},
		{"HTTPS only", formatBool(a.HTTPSOnly)},
		{"Authentication", formatAuth(a.Authentication)},
	}
	if len(users) > 0 {
		fields = append(fields, field{"Basic users", strings.Join(users, ",")})
	}
	if a.Oidc != nil {
		fields = append(fields,
			field{"OIDC issuer", orDefault(a.Oidc.Issuer)},
			field{"OIDC audience", orDefault(a.Oidc.Audience)})
	}
	if c := a.Cors; c != nil {
		fields = append(fields,
			field{"CORS origins", orDash(strings.Join(c.Origins, ","))},
			field{"CORS methods", orDefault(strings.Join(c.Methods, ","))},
			field{"CORS headers", orDash(strings.Join(c.Headers, ","))})
	}
	fields = append(fields,
		field{"Rate limit", formatRateLimit(a.RateLimit)},
		field{"Timeout", formatInt(a.Timeout, "s")},
		field{"Max body", formatByteSize(a.MaxBodyBytes)},
	)
	if a.TLS == nil || a.TLS.Certificate == "" && a.TLS.NotAfter == nil && len(a.TLS.DNSNames) == 0 {
		fields = append(fields, field{"TLS", "none"})
	} else {
		fields = append(fields,
			field{"TLS names", orDash(strings.Join(a.TLS.DNSNames, ","))},
			field{"TLS expires", formatTime(a.TLS.NotAfter)})
	}
	return append(fields,
		field{"Enabled", formatBool(a.Enabled)},
		field{"Created", formatTime(a.CreatedAt)},
		field{"Updated", formatTime(a.UpdatedAt)},
	)
}

// formatAPIFunction shows a function the way --function takes it: APP/ROUTE.
func formatAPIFunction(f *models.APIFunction) string {
	if f == nil || f.App == nil || f.Route == nil {
		return "-"
	}
	return *f.App + *f.Route
}

// formatHosts shows the hosts; none means any host.
func formatHosts(hosts []string) string {
	return orAny(hosts)
}

func orAny(list []string) string {
	if len(list) == 0 {
		return "(any)"
	}
	return strings.Join(list, ",")
}

func orDefault(s string) string {
	if s == "" {
		return "(default)"
	}
	return s
}

// formatAuth shows the authentication; the server's default is public.
func formatAuth(auth string) string {
	if auth == "" {
		return models.APIAuthenticationPublic
	}
	return auth
}

func formatBool(b *bool) string {
	if b == nil {
		return "-"
	}
	return strconv.FormatBool(*b)
}

// formatRateLimit shows a rate limit as "10/s, burst 20, per client".
func formatRateLimit(rl *models.APIRateLimit) string {
	if rl == nil || rl.Rps == nil || *rl.Rps == 0 {
		return "none"
	}
	s := strconv.FormatFloat(*rl.Rps, 'f', -1, 64) + "/s"
	if rl.Burst > 0 {
		s += ", burst " + strconv.FormatInt(rl.Burst, 10)
	}
	if rl.Per != "" {
		s += ", per " + rl.Per
	}
	return s
}

// formatByteSize shows a size in the unit --max-body takes.
func formatByteSize(n *int64) string {
	switch {
	case n == nil:
		return "-"
	case *n != 0 && *n%(1<<20) == 0:
		return strconv.FormatInt(*n>>20, 10) + "MiB"
	case *n != 0 && *n%(1<<10) == 0:
		return strconv.FormatInt(*n>>10, 10) + "KiB"
	default:
		return strconv.FormatInt(*n, 10) + "B"
	}
}
