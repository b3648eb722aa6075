package pgtest

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"
)

// query runs a one-value query on its own connection to url.
func query[T any](t *testing.T, url, sql string, args ...any) T {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), url)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	defer func() { _ = conn.Close(context.Background()) }()
	var v T
	if err := conn.QueryRow(context.Background(), sql, args...).Scan(&v); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return v
}

func TestSchemaIsTheTestsOwnAndDroppedAfterIt(t *testing.T) {
	var name string
	t.Run("a test", func(t *testing.T) {
		dsn := Schema(t)
		name = query[string](t, dsn, "SELECT current_schema()")
		if other := query[string](t, Schema(t), "SELECT current_schema()"); other == name {
			t.Fatalf("two schemas named %s", name)
		}
	})
	if query[bool](t, URL(t), "SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)", name) {
		t.Fatalf("schema %s outlived its test", name)
	}
}

func TestDatabaseIsTheTestsOwnAndDroppedAfterIt(t *testing.T) {
	var name string
	t.Run("a test", func(t *testing.T) {
		dsn := Database(t)
		name = query[string](t, dsn, "SELECT current_database()")
		if name == query[string](t, URL(t), "SELECT current_database()") {
			t.Fatalf("Database returned the server's own database %s", name)
		}
		conn, err := pgx.Connect(context.Background(), dsn) // left open: the drop closes it
		if err != nil {
			t.Fatal(err)
		}
		_ = conn
	})
	if query[bool](t, URL(t), "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name) {
		t.Fatalf("database %s outlived its test", name)
	}
}
