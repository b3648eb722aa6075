package main

import (
	"fmt"
	"strings"
)

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
