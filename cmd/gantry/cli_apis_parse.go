package main

// This file holds the parsers of `gantry apis` flag values, each checking a value
// against the API definition's limits for a clear message before anything is sent.

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gantry-dev/gantry/gen/models"
)

// Limits of the swagger Api definition, checked here for a clear message before sending.
const (
	apiMaxTimeout     = 300
	apiMaxBodyLimit   = 100 << 20
	apiPasswordMinLen = 8
	apiPasswordMaxLen = 72
)

// parseAPIFunction splits APP/ROUTE at the first slash: shop/users/:id is
// app shop, route /users/:id.
func parseAPIFunction(s string) (*models.APIFunction, error) {
	app, rest, ok := strings.Cut(s, "/")
	if !ok || app == "" || rest == "" {
		return nil, fmt.Errorf("--%s %q: want APP/ROUTE, e.g. shop/users/:id for the route /users/:id of app shop", apiFlagFunction, s)
	}
	route := "/" + rest
	return &models.APIFunction{App: &app, Route: &route}, nil
}

// listValues checks and normalizes the values of a repeatable list flag.
// A single empty value stands for the empty list (which PATCH sends as []
// to clear the list); an empty value among others is a mistake.
func listValues(flag string, values []string, norm func(string) (string, error)) ([]string, error) {
	out := []string{}
	if len(values) == 1 && values[0] == "" {
		return out, nil
	}
	for _, v := range values {
		if strings.TrimSpace(v) == "" {
			return nil, fmt.Errorf("--%s: empty value (give --%s '' alone to empty the list)", flag, flag)
		}
		if norm != nil {
			var err error
			if v, err = norm(v); err != nil {
				return nil, err
			}
		}
		out = append(out, v)
	}
	return out, nil
}

// enumValue returns a check that a value, normalized by norm, is one of allowed.
func enumValue(flag string, norm func(string) string, allowed []string) func(string) (string, error) {
	return func(v string) (string, error) {
		n := norm(strings.TrimSpace(v))
		if !slices.Contains(allowed, n) {
			return "", fmt.Errorf("--%s %q: want one of %s", flag, v, strings.Join(allowed, ", "))
		}
		return n, nil
	}
}

// parseBasicUsers parses --user values USER:PASSWORD, split at the first
// colon. On update USER alone keeps the user's current password. A single
// empty value is the empty list. Error messages never show a password.
func parseBasicUsers(values []string, update bool) ([]*models.APIBasicUser, error) {
	users := []*models.APIBasicUser{}
	if len(values) == 1 && values[0] == "" {
		return users, nil
	}
	seen := map[string]bool{}
	for _, v := range values {
		name, password, hasPassword := strings.Cut(v, ":")
		switch {
		case strings.TrimSpace(name) == "":
			return nil, fmt.Errorf("--%s: empty user name; want USER:PASSWORD", apiFlagUser)
		case !hasPassword && !update:
			return nil, fmt.Errorf("--%s %q: want USER:PASSWORD", apiFlagUser, name)
		case hasPassword && password == "":
			return nil, fmt.Errorf("--%s %q: empty password", apiFlagUser, name+":")
		case hasPassword && (utf8.RuneCountInString(password) < apiPasswordMinLen || utf8.RuneCountInString(password) > apiPasswordMaxLen):
			return nil, fmt.Errorf("--%s: the password of %q must be %d to %d characters long", apiFlagUser, name, apiPasswordMinLen, apiPasswordMaxLen)
		case seen[name]:
			return nil, fmt.Errorf("--%s: user %q given more than once", apiFlagUser, name)
		}
		seen[name] = true
		users = append(users, &models.APIBasicUser{Username: &name, Password: password})
	}
	return users, nil
}

// parseRate parses --rate N/s, N/m or N/h into requests per second.
func parseRate(s string) (float64, error) {
	bad := func() (float64, error) {
		return 0, fmt.Errorf("--%s %q: want a number of requests per second, minute or hour: 10/s, 600/m or 5/h", apiFlagRate, s)
	}
	num, unit, ok := strings.Cut(strings.TrimSpace(s), "/")
	if !ok {
		return bad()
	}
	per := map[string]float64{"s": 1, "m": 60, "h": 3600}[unit]
	if per == 0 {
		return bad()
	}
	n, err := strconv.ParseFloat(num, 64)
	if err != nil || math.IsNaN(n) || math.IsInf(n, 0) {
		return bad()
	}
	if n <= 0 {
		return 0, fmt.Errorf("--%s %q: must be positive (--%s removes the limit on update)", apiFlagRate, s, apiFlagNoRateLimit)
	}
	rps := n / per
	if rps > 1_000_000 {
		return 0, fmt.Errorf("--%s %q: at most 1000000 requests per second", apiFlagRate, s)
	}
	return rps, nil
}

// parseAPITimeout parses --timeout, a duration in whole seconds (5s, 1m) or
// a plain number of seconds (parseDuration), into seconds.
func parseAPITimeout(s string) (int64, error) {
	d, err := parseDuration(apiFlagTimeout, s)
	if err != nil {
		return 0, err
	}
	if d%time.Second != 0 {
		return 0, fmt.Errorf("--%s %q: must be whole seconds", apiFlagTimeout, s)
	}
	if d < time.Second || d > apiMaxTimeout*time.Second {
		return 0, fmt.Errorf("--%s %q: must be between 1s and %ds", apiFlagTimeout, s, apiMaxTimeout)
	}
	return int64(d / time.Second), nil
}

// parseByteSize parses --max-body: a number of bytes, optionally with a
// B, KiB or MiB suffix.
func parseByteSize(s string) (int64, error) {
	num, mult := strings.TrimSpace(s), int64(1)
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"B", 1}} {
		if v, ok := strings.CutSuffix(num, u.suffix); ok {
			num, mult = strings.TrimSpace(v), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n < 0 || strings.HasPrefix(num, "+") {
		return 0, fmt.Errorf("--%s %q: want a number of bytes, optionally with a KiB or MiB suffix: 1048576, 512KiB, 1MiB", apiFlagMaxBody, s)
	}
	if n > apiMaxBodyLimit/mult {
		return 0, fmt.Errorf("--%s %q: at most 100MiB", apiFlagMaxBody, s)
	}
	return n * mult, nil
}
