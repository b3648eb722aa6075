package main

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

// parseDuration reads a duration the one way every flag of the CLI takes them: a Go
// duration (10s, 1m30s, 500ms) or a plain number of seconds (10, 0.5). The caller checks
// its bounds (durationFlag and secondsFlag refuse negative ones).
func parseDuration(flag, s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if n, err := strconv.ParseFloat(s, 64); err == nil {
		if math.IsNaN(n) || math.Abs(n) > float64(math.MaxInt64/int64(time.Second)) {
			return 0, fmt.Errorf("--%s %q: out of range", flag, s)
		}
		return time.Duration(n * float64(time.Second)), nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("--%s %q: want a duration such as 10s, 1m30s or 500ms, or a number of seconds", flag, s)
	}
	return d, nil
}

// nonNegativeDuration is parseDuration for flags that take no negative duration.
func nonNegativeDuration(flag, s string) (time.Duration, error) {
	d, err := parseDuration(flag, s)
	if err == nil && d < 0 {
		err = fmt.Errorf("--%s %q: must not be negative", flag, s)
	}
	return d, err
}

// durationFlag is a duration flag read by parseDuration.
type durationFlag struct {
	name string
	d    *time.Duration
}

// durationVar registers a duration flag read by parseDuration.
func durationVar(cmd *cobra.Command, d *time.Duration, name string, value time.Duration, usage string) {
	*d = value
	cmd.Flags().Var(durationFlag{name: name, d: d}, name, usage+" (10s, 1m30s, or seconds)")
}

func (f durationFlag) String() string {
	if f.d == nil {
		return "0s"
	}
	return f.d.String()
}

func (f durationFlag) Set(s string) error {
	d, err := nonNegativeDuration(f.name, s)
	if err != nil {
		return err
	}
	*f.d = d
	return nil
}

func (durationFlag) Type() string { return "duration" }

// secondsFlag is a duration flag the API takes in whole seconds (a route's timeouts):
// read by parseDuration, so 10s, 1m and 10 are all ten or sixty seconds.
type secondsFlag struct {
	name string
	n    *int64
}

// secondsVar registers a whole-seconds duration flag read by parseDuration.
func secondsVar(cmd *cobra.Command, n *int64, name, usage string) {
	cmd.Flags().Var(secondsFlag{name: name, n: n}, name, usage+" (10s, 2m, or seconds)")
}

func (f secondsFlag) String() string {
	if f.n == nil || *f.n == 0 {
		return ""
	}
	return (time.Duration(*f.n) * time.Second).String()
}

func (f secondsFlag) Set(s string) error {
	d, err := nonNegativeDuration(f.name, s)
	if err != nil {
		return err
	}
	if d%time.Second != 0 {
		return fmt.Errorf("--%s %q: must be whole seconds", f.name, s)
	}
	*f.n = int64(d / time.Second)
	return nil
}

func (secondsFlag) Type() string { return "duration" }

// parseKeyValues parses repeated K=V flag values into a map. "K=" gives
// K an empty value (which PATCH treats as "remove K"). A value may contain
// "="; a missing "=", an empty key or a repeated key is an error.
func parseKeyValues(flag string, pairs []string) (map[string]string, error) {
	if len(pairs) == 0 {
		return nil, nil
	}
	out := make(map[string]string, len(pairs))
	for _, p := range pairs {
		k, v, err := splitKeyValue(flag, p)
		if err != nil {
			return nil, err
		}
		if _, dup := out[k]; dup {
			return nil, fmt.Errorf("--%s: key %q given more than once", flag, k)
		}
		out[k] = v
	}
	return out, nil
}

// parseHeaders parses repeated K=V flag values into header lists: each
// K=V adds a value to K, and "K=" alone gives K an empty list (which PATCH
// treats as "remove K"). Removing and setting the same header is an error.
func parseHeaders(flag string, pairs []string) (map[string][]string, error) {
	if len(pairs) == 0 {
		return nil, nil
	}
	out := make(map[string][]string, len(pairs))
	removed := make(map[string]bool)
	for _, p := range pairs {
		k, v, err := splitKeyValue(flag, p)
		if err != nil {
			return nil, err
		}
		if v == "" && len(out[k]) > 0 || v != "" && removed[k] {
			return nil, fmt.Errorf("--%s: header %q is both removed (%s=) and set", flag, k, k)
		}
		if v == "" {
			removed[k] = true
			out[k] = []string{}
			continue
		}
		out[k] = append(out[k], v)
	}
	return out, nil
}

func splitKeyValue(flag, pair string) (string, string, error) {
	k, v, ok := strings.Cut(pair, "=")
	if !ok {
		return "", "", fmt.Errorf("--%s %q: want KEY=VALUE (KEY= for an empty value)", flag, pair)
	}
	if strings.TrimSpace(k) == "" {
		return "", "", fmt.Errorf("--%s %q: empty key", flag, pair)
	}
	return k, v, nil
}
