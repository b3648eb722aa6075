package postgres

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/pgtest"
	"github.com/gantry-dev/gantry/store"
	"github.com/jackc/pgx/v5"
)

// migrateTo applies the migrations up to version to, as migrate does, on dsn's schema.
func migrateTo(t *testing.T, dsn string, to int) {
	t.Helper()
	list, err := migrations()
	if err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(t.Context(), `CREATE TABLE gantry_schema (version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`); err != nil {
		t.Fatal(err)
	}
	for _, m := range list[:to] {
		if _, err := conn.Exec(t.Context(), m.sql); err != nil {
			t.Fatalf("migration %s: %v", m.name, err)
		}
		if _, err := conn.Exec(t.Context(), "INSERT INTO gantry_schema (version, name) VALUES ($1, $2)", m.version, m.name); err != nil {
			t.Fatal(err)
		}
	}
}

// Tasks accepted before schema 4 have no needs_secrets of their own: the migration reads it
// from their document, so that external runners never get those that need secrets.
func TestMigrationMarksTheTasksAcceptedBeforeItThatNeedSecrets(t *testing.T) {
	dsn := pgtest.Schema(t)
	migrateTo(t, dsn, 3)
	conn, err := pgx.Connect(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	docs := []struct{ id, doc string }{ // in line order
		{"01", `{"id":"01","route":{"app":"a","path":"/fn","image":"img"},"method":"POST","url":"/fn"}`},
		{"02", `{"id":"02","route":{"app":"a","path":"/fn","image":"img","secrets":["db"]},"method":"POST","url":"/fn"}`},
		{"03", `{"id":"03","route":{"app":"a","path":"/fn","image":"img","secrets":[]},"method":"POST","url":"/fn","secrets":null}`},
		{"04", `{"id":"04","route":{"app":"a","path":"/fn","image":"img"},"method":"POST","url":"/fn","secrets":["deploy-key"]}`},
		{"05", `{"id":"05","route":{"app":"a","path":"/fn","image":"img","secrets":null},"method":"POST","url":"/fn"}`},
	}
	start := time.Now().Add(-time.Minute)
	for i, d := range docs {
		at := start.Add(time.Duration(i) * time.Second)
		if _, err := conn.Exec(t.Context(), `INSERT INTO tasks (id, priority, available_at, enqueued_at, task) VALUES ($1, 0, $2, $2, $3)`, d.id, at, d.doc); err != nil {
			t.Fatal(err)
		}
		if _, err := conn.Exec(t.Context(), `INSERT INTO executions (id, app, route, type, status, created_at) VALUES ($1, 'a', '/fn', $2, $3, $4)`,
			d.id, store.TypeAsync, store.StatusQueued, at); err != nil {
			t.Fatal(err)
		}
	}

	s := openTest(t, dsn, "n") // migrates to this build's schema
	got, err := s.LeaseTasksWithoutSecrets(t.Context(), 10, "runner:r1", time.Minute)
	if err != nil || !slices.Equal(ids(got), []string{"01", "03", "05"}) {
		t.Fatalf("external lease after the migration: %v %v, want 01, 03 and 05 (none with secrets)", ids(got), err)
	}
	got, err = s.LeaseTasks(t.Context(), 10, "gantry@n:r:0", time.Minute)
	if err != nil || !slices.Equal(ids(got), []string{"02", "04"}) || got[0].Attempts != 1 {
		t.Fatalf("the lease of everything: %v %v, want 02 and 04 at attempt 1", ids(got), err)
	}
}

func ids(ts []store.Task) []string {
	out := make([]string, 0, len(ts))
	for _, t := range ts {
		out = append(out, t.ID)
	}
	return out
}
