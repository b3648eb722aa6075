package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// EnvURL is the environment variable that names the test server: a PostgreSQL URL
// (postgres://user:password@host:port/db?sslmode=disable) of a user that may create
// schemas and databases. `make postgres` starts one and prints it.
const EnvURL = "GANTRY_TEST_POSTGRES"

// URL returns the test server's URL. Without one the test is skipped, or fails when
// CI=true: CI needs PostgreSQL.
func URL(t testing.TB) string {
	t.Helper()
	u := os.Getenv(EnvURL)
	if u == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal(EnvURL + " is not set; CI needs PostgreSQL")
		}
		t.Skip(EnvURL + " is not set: run `make postgres` and export the URL it prints to run the PostgreSQL tests")
	}
	return u
}

// Schema creates a schema with a random name in the test server's database, drops it (and
// everything in it) when the test ends, and returns a URL whose search_path is that
// schema: a store opened on it keeps its tables there.
func Schema(t testing.TB) string {
	t.Helper()
	base := URL(t)
	name := "gantry_test_" + randomHex()
	exec(t, base, "CREATE SCHEMA "+pgx.Identifier{name}.Sanitize())
	t.Cleanup(func() { exec(t, base, "DROP SCHEMA IF EXISTS "+pgx.Identifier{name}.Sanitize()+" CASCADE") })
	return withParam(t, base, "search_path", name)
}

// Database creates a database with a random name on the test server, drops it when the
// test ends (closing what is still connected to it), and returns its URL: for tests that
// start whole servers, which keep their tables in its public schema.
func Database(t testing.TB) string {
	t.Helper()
	base := URL(t)
	name := "gantry_test_" + randomHex()
	exec(t, base, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize())
	t.Cleanup(func() { exec(t, base, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)") })
	u, err := url.Parse(base)
	if err != nil || !strings.HasPrefix(u.Scheme, "postgres") {
		t.Fatalf("%s must be a postgres:// URL to name another database in it", EnvURL)
	}
	u.Path = "/" + name
	return u.String()
}

// exec runs one statement on its own connection to url.
func exec(t testing.TB, url, sql string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatalf("connect to the test server (%s): %v", EnvURL, err)
	}
	defer func() { _ = conn.Close(context.Background()) }()
	if _, err := conn.Exec(ctx, sql); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

// withParam returns url with a run-time parameter set: a URL's query, or a keyword/value
// string's pair.
func withParam(t testing.TB, base, key, value string) string {
	t.Helper()
	if !strings.HasPrefix(base, "postgres://") && !strings.HasPrefix(base, "postgresql://") {
		return base + " " + key + "=" + value
	}
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("%s: %v", EnvURL, err)
	}
	q := u.Query()
	q.Set(key, value)
	u.RawQuery = q.Encode()
	return u.String()
}

func randomHex() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	return hex.EncodeToString(b)
}
