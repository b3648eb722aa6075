package postgres

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/gantry-dev/gantry/internal/pgtest"
	"github.com/jackc/pgx/v5"
)

// What Open says when it cannot open the store, how it migrates, and Redact.

// freePort returns a loopback port nobody listens on.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	_ = ln.Close()
	return port
}

func TestOpenFailsWithOneClearLineWithoutThePassword(t *testing.T) {
	base, err := url.Parse(pgtest.URL(t))
	if err != nil {
		t.Fatal(err)
	}
	const secret = "Sup3r-s3cret-pw"
	withPassword := func(u url.URL, pw string) string {
		u.User = url.UserPassword(u.User.Username(), pw)
		return u.String()
	}
	unreachable := *base
	unreachable.Host = fmt.Sprintf("127.0.0.1:%d", freePort(t))
	where := base.Host + base.Path
	user := base.User.Username()
	for _, tt := range []struct {
		name     string
		url      string
		password string
		want     string
	}{
		{"a malformed URL", "postgres://" + user + ":" + secret + "@127.0.0.1:notaport/db", "",
			"postgres store: malformed URL postgres://" + user + ":xxxxx@127.0.0.1:notaport/db: "},
		{"a URL of another scheme", "mysql://" + user + ":" + secret + "@127.0.0.1/db", "", "postgres store: malformed URL "},
		{"a wrong password in the URL", withPassword(*base, secret), "",
			"postgres store: cannot connect to " + where + " as user " + user + ": password authentication failed"},
		{"a wrong password from the password file", base.String(), secret,
			"postgres store: cannot connect to " + where + " as user " + user + ": password authentication failed"},
		{"a port nobody listens on", withPassword(unreachable, secret), "",
			"postgres store: cannot connect to " + unreachable.Host + base.Path + " as user " + user + ": dial tcp " + unreachable.Host + ": connect: connection refused"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Open(t.Context(), tt.url, Options{Node: "n", Password: tt.password})
			if err == nil {
				_ = s.Close()
				t.Fatal("Open succeeded")
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, tt.want) && !strings.Contains(msg, tt.want) {
				t.Errorf("error %q\n does not say %q", msg, tt.want)
			}
			if strings.Contains(msg, secret) {
				t.Errorf("the error shows the password: %q", msg)
			}
			if strings.ContainsAny(msg, "\n\r") {
				t.Errorf("the error is not one line: %q", msg)
			}
		})
	}
}

func TestOpenNeedsANodeAndAnExistingSchema(t *testing.T) {
	if _, err := Open(t.Context(), pgtest.Schema(t), Options{}); err == nil || !strings.Contains(err.Error(), "Node is required") {
		t.Fatalf("Open without a node: %v", err)
	}
	u, err := url.Parse(pgtest.URL(t))
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", "no_such_schema_"+randomHex(4))
	u.RawQuery = q.Encode()
	if _, err := Open(t.Context(), u.String(), Options{Node: "n"}); err == nil || !strings.Contains(err.Error(), "create it first") {
		t.Fatalf("Open of a search_path that names no schema: %v", err)
	}
}

func TestOpenRefusesASchemaNewerThanThisBuild(t *testing.T) {
	dsn := pgtest.Schema(t)
	s := openTest(t, dsn, "n")
	if _, err := s.pool.Exec(t.Context(), "INSERT INTO gantry_schema (version, name) VALUES ($1, 'from the future')", SchemaVersion()+1); err != nil {
		t.Fatal(err)
	}
	_, err := Open(t.Context(), dsn, Options{Node: "n"})
	want := fmt.Sprintf("postgres store: the database schema is at version %d, newer than this gantry (%d): upgrade gantry", SchemaVersion()+1, SchemaVersion())
	if err == nil || err.Error() != want {
		t.Fatalf("Open of a newer schema: %v\nwant %s", err, want)
	}
}

// schemaRows reads gantry_schema's versions.
func schemaRows(t *testing.T, dsn string) []int {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	rows, err := conn.Query(t.Context(), "SELECT version FROM gantry_schema ORDER BY version")
	if err != nil {
		t.Fatal(err)
	}
	versions, err := pgx.CollectRows(rows, pgx.RowTo[int])
	if err != nil {
		t.Fatal(err)
	}
	return versions
}

func TestMigrationsRunOnceUnderConcurrentOpens(t *testing.T) {
	if SchemaVersion() < 1 {
		t.Fatalf("SchemaVersion %d: the embedded migrations are missing or misnamed", SchemaVersion())
	}
	dsn := pgtest.Schema(t)
	var wg sync.WaitGroup
	for i := range 6 {
		wg.Go(func() {
			s, err := Open(context.Background(), dsn, Options{Node: fmt.Sprintf("n%d", i)})
			if err != nil {
				t.Errorf("open %d: %v", i, err)
				return
			}
			if err := s.Close(); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if got := schemaRows(t, dsn); len(got) != SchemaVersion() || got[len(got)-1] != SchemaVersion() {
		t.Fatalf("gantry_schema holds versions %v, want 1 to %d once each", got, SchemaVersion())
	}
	openTest(t, dsn, "again") // an up-to-date schema opens as it is
	if got := schemaRows(t, dsn); len(got) != SchemaVersion() {
		t.Fatalf("after another open: versions %v", got)
	}
}

func TestMigrationFilesAreNumberedWithoutGaps(t *testing.T) {
	list, err := migrations()
	if err != nil {
		t.Fatal(err)
	}
	for i, m := range list {
		if m.version != i+1 || !strings.HasPrefix(m.name, fmt.Sprintf("%04d_", i+1)) || strings.TrimSpace(m.sql) == "" {
			t.Errorf("migration %d is %+v", i+1, m)
		}
	}
}

func TestRedactHidesEveryFormOfPassword(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"postgres://u:secret@h:5432/db?sslmode=disable", "postgres://u:xxxxx@h:5432/db?sslmode=disable"},
		{"postgresql://u:secret@h/db", "postgresql://u:xxxxx@h/db"},
		{"postgres://u@h/db", "postgres://u@h/db"},
		{"postgres://u@h/db?password=secret&sslmode=disable", "postgres://u@h/db?password=xxxxx&sslmode=disable"},
		{"postgres://u:sec%2Fret@h:bad/db", "postgres://u:xxxxx@h:bad/db"},
		{"host=h user=u password=secret dbname=db", "host=h user=u password=xxxxx dbname=db"},
		{"host=h password='se cret' user=u", "host=h password=xxxxx user=u"},
		{"host=h user=u", "host=h user=u"},
	} {
		if got := Redact(tt.in); got != tt.want {
			t.Errorf("Redact(%q) = %q, want %q", tt.in, got, tt.want)
		}
		if got := Redact(tt.in); strings.Contains(got, "secret") || strings.Contains(got, "cret") {
			t.Errorf("Redact(%q) = %q shows the password", tt.in, got)
		}
	}
}

func TestErrorsOfAnUnreachableDatabaseAreUnavailable(t *testing.T) {
	for _, tt := range []struct {
		name string
		err  error
		want bool
	}{
		{"admin shutdown", pgErr("57P01"), true},
		{"connection failure", pgErr("08006"), true},
		{"too many connections", pgErr("53300"), true},
		{"a unique violation", pgErr("23505"), false},
		{"a syntax error", pgErr("42601"), false},
		{"connection refused", &net.OpError{Op: "dial", Err: errors.New("connect: connection refused")}, true},
	} {
		if got := unavailable(tt.err); got != tt.want {
			t.Errorf("%s: unavailable = %v, want %v", tt.name, got, tt.want)
		}
	}
}
