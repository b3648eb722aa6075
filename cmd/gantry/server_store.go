package main

// This file holds the choice of the store: --store, --store-password-file.

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"regexp"
	"strings"

	"github.com/gantry-dev/gantry/store"
	"github.com/gantry-dev/gantry/store/bolt"
	"github.com/gantry-dev/gantry/store/postgres"
)

// Kinds of store.
const (
	storeBolt     = "bolt"
	storePostgres = "postgres"
)

// storeSpec is the store a server opens, as --store names it.
type storeSpec struct {
	kind string // storeBolt or storePostgres
	// path is the directory of a bolt store's database.
	path string
	// url is a postgres store's URL as given, password included if it had one: pass it to
	// the driver, never to a log (String redacts it).
	url string
	// password is a postgres store's password, read from --store-password-file.
	password string
}

// String names the store for logs and messages, without any password.
func (s storeSpec) String() string {
	if s.kind == storeBolt {
		return "bolt://" + s.path
	}
	return redactStoreURL(s.url)
}

// parseStore reads --store: "bolt://PATH" (the database in directory PATH, relative or,
// as in bolt:///var/lib/gantry, absolute), "postgres://..." or "postgresql://..." (a
// PostgreSQL connection URL), or "" for the default, a bolt store in dataDir. A malformed
// URL or an unknown scheme is an error of one line that never repeats a password.
func parseStore(raw, dataDir string) (storeSpec, error) {
	if raw == "" {
		return storeSpec{kind: storeBolt, path: dataDir}, nil
	}
	shown := redactStoreURL(raw)
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok || scheme == "" {
		return storeSpec{}, fmt.Errorf("--store %q is not a store URL: want bolt://PATH or postgres://USER@HOST/DB", shown)
	}
	switch strings.ToLower(scheme) {
	case "bolt":
		switch {
		case rest == "":
			return storeSpec{}, fmt.Errorf("--store %q names no directory: want bolt://PATH, such as bolt://./data or bolt:///var/lib/gantry", shown)
		case strings.ContainsAny(rest, "?#"):
			return storeSpec{}, fmt.Errorf("--store %q: a bolt store takes a directory, without options", shown)
		}
		return storeSpec{kind: storeBolt, path: rest}, nil
	case "postgres", "postgresql":
		if _, err := url.Parse(raw); err != nil {
			// url's message quotes a part of the URL, which may be a part of the password.
			return storeSpec{}, fmt.Errorf("--store %q is a malformed URL (percent-encode characters such as # ? / @ : in the user name and password)", shown)
		}
		return storeSpec{kind: storePostgres, url: raw}, nil
	default:
		return storeSpec{}, fmt.Errorf("--store %q: unknown scheme %q: want bolt:// or postgres://", shown, scheme)
	}
}

// passwordParam finds a password given as a URL option (?password=...).
var passwordParam = regexp.MustCompile(`(?i)(password=)[^&#\s]*`)

// redactStoreURL hides the password of a store URL (user:PASSWORD@host, or a password
// option) even in a URL too malformed to parse, erring towards hiding too much: everything
// from the first ':' of the part before the last '@' up to it is taken for a password.
func redactStoreURL(raw string) string {
	head, rest, found := strings.Cut(raw, "://")
	if !found {
		head, rest = "", raw
	} else {
		head += "://"
	}
	if at := strings.LastIndex(rest, "@"); at >= 0 {
		if colon := strings.Index(rest[:at], ":"); colon >= 0 {
			rest = rest[:colon+1] + "xxxxx" + rest[at:]
		}
	}
	return passwordParam.ReplaceAllString(head+rest, "${1}xxxxx")
}

// readStorePassword reads --store-password-file: the password of a postgres store, without
// the newline that ends the file (one: a password may end in spaces).
func readStorePassword(path string, spec *storeSpec) error {
	if path == "" {
		return nil
	}
	if spec.kind != storePostgres {
		return fmt.Errorf("--store-password-file is for a postgres store, not %s", spec)
	}
	if redactStoreURL(spec.url) != spec.url {
		return errors.New("--store-password-file: --store has a password already; give it in one place")
	}
	b, err := os.ReadFile(path) //nolint:gosec // G304: the operator names the file
	if err != nil {
		return fmt.Errorf("--store-password-file: %w", err)
	}
	pw := strings.TrimSuffix(strings.TrimSuffix(string(b), "\n"), "\r")
	if pw == "" {
		return fmt.Errorf("--store-password-file %s is empty", path)
	}
	spec.password = pw
	return nil
}

// openStore opens the store spec names, for node (the store's InstanceID; "" with a bolt
// store: the ID the store keeps).
func openStore(ctx context.Context, spec storeSpec, node string, keepExecutions int, log *slog.Logger) (store.Store, error) {
	switch spec.kind {
	case storeBolt:
		return bolt.Open(ctx, spec.path, bolt.Options{Node: node, KeepExecutionsPerRoute: keepExecutions, Logger: log})
	case storePostgres:
		return postgres.Open(ctx, spec.url, postgres.Options{Node: node, Password: spec.password, KeepExecutionsPerRoute: keepExecutions, Logger: log})
	}
	return nil, fmt.Errorf("unknown store kind %q", spec.kind)
}
