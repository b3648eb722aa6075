package bolt

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/store"
	bolt "go.etcd.io/bbolt"
)

// What a data directory keeps across a restart, its lock and its schema.

func TestPersistsAcrossReopen(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := Open(ctx, dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	mustApp(t, s, "kept")
	if _, err := s.CreateRoute(ctx, store.Route{App: "kept", Path: "/users/:id", Image: "img"}, nil); err != nil {
		t.Fatal(err)
	}
	instance := s.InstanceID()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = openTest(t, dir)
	if _, err := s.GetApp(ctx, "kept"); err != nil {
		t.Fatalf("app lost on reopen: %v", err)
	}
	r, params, err := s.MatchRoute("kept", "/users/42")
	if err != nil || r.Path != "/users/:id" || params["id"] != "42" {
		t.Fatalf("route index not rebuilt on reopen: %+v %v %v", r, params, err)
	}
	if got := s.InstanceID(); got != instance {
		t.Fatalf("instance ID %q after reopen, was %q: the data dir names the node", got, instance)
	}
	if other := openTest(t, t.TempDir()); other.InstanceID() == instance {
		t.Fatalf("two data dirs share the instance ID %q", instance)
	}
	err = s.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketMeta).Get(keySchema)
		if len(v) != 8 || int(v[7]) != SchemaVersion() {
			return fmt.Errorf("schema version %v, want %d", v, SchemaVersion())
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestSecondOpenFailsFast(t *testing.T) {
	dir := t.TempDir()
	openTest(t, dir)
	start := time.Now()
	_, err := Open(context.Background(), dir, Options{LockTimeout: 200 * time.Millisecond})
	if err == nil {
		t.Fatal("second open of a locked data dir succeeded")
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("second open took %s, want it to fail fast", d)
	}
	if want := "in use by another gantry process"; !strings.Contains(err.Error(), want) {
		t.Fatalf("error %q does not say %q", err, want)
	}
}

// A data file written by schema 1 (apps and routes only) gains the execution buckets on open.
func TestMigrationFromSchema1(t *testing.T) {
	dir := t.TempDir()
	old, err := bolt.Open(filepath.Join(dir, FileName), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = old.Update(func(tx *bolt.Tx) error {
		meta, err := tx.CreateBucket(bucketMeta)
		if err != nil {
			return err
		}
		if err := migrations[0](tx); err != nil {
			return err
		}
		return meta.Put(keySchema, binary.BigEndian.AppendUint64(nil, 1))
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := old.Close(); err != nil {
		t.Fatal(err)
	}

	s := openTest(t, dir)
	ex := exec(s, "app", "/p", store.StatusSuccess)
	s.RecordExecution(ex, []byte("log"))
	flush(t, s)
	if got := countKeys(t, s, bucketExecLogs); got != 1 {
		t.Fatalf("%d logs stored after migration", got)
	}
	err = s.db.View(func(tx *bolt.Tx) error {
		if v := binary.BigEndian.Uint64(tx.Bucket(bucketMeta).Get(keySchema)); v != uint64(SchemaVersion()) {
			return fmt.Errorf("schema %d after migration, want %d", v, SchemaVersion())
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// A data file this build cannot read is refused at open, and left as it was.
func TestOpenRefusesANewerOrCorruptSchema(t *testing.T) {
	for _, tt := range []struct {
		name    string
		version []byte
		want    string
	}{
		{"a newer schema", binary.BigEndian.AppendUint64(nil, uint64(SchemaVersion()+1)), "newer gantry"},
		{"a corrupt schema record", []byte{1, 2, 3}, "corrupt"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			db, err := bolt.Open(filepath.Join(dir, FileName), 0o600, nil)
			if err != nil {
				t.Fatal(err)
			}
			err = db.Update(func(tx *bolt.Tx) error {
				meta, err := tx.CreateBucket(bucketMeta)
				if err != nil {
					return err
				}
				return meta.Put(keySchema, tt.version)
			})
			if err := errors.Join(err, db.Close()); err != nil {
				t.Fatal(err)
			}
			s, err := Open(context.Background(), dir, Options{NoSync: true, LockTimeout: 200 * time.Millisecond})
			if err == nil {
				_ = s.Close()
				t.Fatal("opened")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %q does not say %q", err, tt.want)
			}
			// The refused open released the file and wrote nothing.
			db, err = bolt.Open(filepath.Join(dir, FileName), 0o600, &bolt.Options{Timeout: time.Second})
			if err != nil {
				t.Fatalf("the file is still locked: %v", err)
			}
			defer db.Close()
			err = db.View(func(tx *bolt.Tx) error {
				if v := tx.Bucket(bucketMeta).Get(keySchema); string(v) != string(tt.version) {
					return fmt.Errorf("schema record %v, want it unchanged %v", v, tt.version)
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestAppConfigFollowsWritesAndReopen(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := openTest(t, dir)
	if _, err := s.CreateApp(ctx, store.App{Name: "a", Config: map[string]string{"K": "1"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.UpdateApp(ctx, "a", func(a *store.App) error { a.Config["K"] = "2"; return nil }); err != nil {
		t.Fatal(err)
	}
	if cfg, err := s.AppConfig("a"); err != nil || cfg["K"] != "2" {
		t.Fatalf("after update: %v %v", cfg, err)
	}
	if _, _, err := s.PutApp(ctx, store.App{Name: "a", Config: map[string]string{"P": "3"}}, "", nil); err != nil {
		t.Fatal(err)
	}
	if cfg, _ := s.AppConfig("a"); !maps.Equal(cfg, map[string]string{"P": "3"}) {
		t.Fatalf("after put: %v", cfg)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openTest(t, dir)
	if cfg, _ := s.AppConfig("a"); !maps.Equal(cfg, map[string]string{"P": "3"}) {
		t.Fatalf("after reopen: %v", cfg)
	}
	if err := s.DeleteApp(ctx, "a", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AppConfig("a"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("deleted app: %v", err)
	}
}

func TestBootstrapTokenOnceAcrossReopen(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(context.Background(), dir, Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if done, err := s.Bootstrapped(ctx); err != nil || done {
		t.Fatalf("fresh store bootstrapped: %v %v", done, err)
	}
	if err := s.BootstrapToken(ctx, store.Token{ID: s.NewID(), Name: "first", User: "admin", Role: "admin", Hash: []byte{1}}); err != nil {
		t.Fatal(err)
	}
	if err := s.BootstrapToken(ctx, store.Token{ID: s.NewID(), Name: "again", User: "admin", Role: "admin", Hash: []byte{1}}); !errors.Is(err, store.ErrExists) {
		t.Fatalf("second bootstrap: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openTest(t, dir)
	if done, err := s.Bootstrapped(ctx); err != nil || !done {
		t.Fatalf("bootstrap forgotten after reopen: %v %v", done, err)
	}
	if err := s.BootstrapToken(ctx, store.Token{ID: s.NewID(), Name: "after", User: "admin", Role: "admin", Hash: []byte{1}}); !errors.Is(err, store.ErrExists) {
		t.Fatalf("bootstrap after reopen: %v", err)
	}
}

// Accepted work survives a restart, in its order.
func TestAcceptedTasksSurviveReopen(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := Open(ctx, dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	a, b, urgent := enqueue(t, s, 1), enqueue(t, s, 1), enqueue(t, s, 0)
	if ex, _ := s.GetExecution(ctx, a); ex.Status != store.StatusQueued || ex.Type != store.TypeAsync {
		t.Fatalf("accepted execution: %+v", ex)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openTest(t, dir)

	got, err := s.LeaseTasks(ctx, 2, "w1", time.Minute)
	if err != nil || len(got) != 2 || got[0].ID != urgent || got[1].ID != a || string(got[1].Body) != "in" {
		t.Fatalf("lease: %v %v, want %s then %s (priority, then FIFO)", ids(got), err, urgent, a)
	}
	if ex, _ := s.GetExecution(ctx, a); ex.Status != store.StatusRunning || ex.StartedAt.IsZero() {
		t.Fatalf("leased execution: %+v", ex)
	}
	if more, _ := s.LeaseTasks(ctx, 10, "w2", time.Minute); len(more) != 1 || more[0].ID != b {
		t.Fatalf("second consumer got %v, want only %s", ids(more), b)
	}
}

func TestExecutionsPersistAcrossReopen(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := Open(ctx, dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	flushed := exec(s, "app", "/a", store.StatusSuccess)
	s.RecordExecution(flushed, []byte("log a"))
	if err := s.FlushExecutions(ctx); err != nil {
		t.Fatal(err)
	}
	// Recorded right before Close: Close stores it.
	closing := exec(s, "app", "/a", store.StatusFailed)
	s.RecordExecution(closing, []byte("log b"))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second close: %v", err)
	}
	s.RecordExecution(exec(s, "app", "/a", store.StatusSuccess), nil) // dropped, does not block or panic
	if err := s.FlushExecutions(ctx); err == nil {
		t.Fatal("flush after close succeeded")
	}

	s = openTest(t, dir)
	for id, log := range map[string]string{flushed.ID: "log a", closing.ID: "log b"} {
		if _, err := s.GetExecution(ctx, id); err != nil {
			t.Fatalf("execution lost on reopen: %v", err)
		}
		if got, _ := s.GetExecutionLog(ctx, id); string(got) != log {
			t.Fatalf("log %q, want %q", got, log)
		}
	}
	list, _, err := s.ListExecutions(ctx, store.ExecutionFilter{App: "app", Route: "/a"}, store.Page{})
	if err != nil || len(list) != 2 || list[0].ID != closing.ID {
		t.Fatalf("list after reopen: %+v %v", list, err)
	}
	// IDs of two opens sort by their millisecond (within one, by the random part): the same
	// property as IDs made on two nodes.
	time.Sleep(2 * time.Millisecond)
	if next := s.NewID(); next <= closing.ID {
		t.Fatalf("new ID %s sorts before an existing one %s", next, closing.ID)
	}
}

func TestRecoverExecutionsAfterRestart(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := Open(ctx, dir, Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	running, done := s.NewID(), s.NewID()
	s.RecordExecution(store.Execution{ID: running, App: "a", Route: "/r", Type: store.TypeSync, Status: store.StatusRunning}, nil)
	s.RecordExecution(store.Execution{ID: done, App: "a", Route: "/r", Type: store.TypeSync, Status: store.StatusSuccess}, nil)
	if err := s.Close(); err != nil { // as a crash would leave it: the first record RUNNING
		t.Fatal(err)
	}

	s = openTest(t, dir)
	n, err := s.RecoverExecutions(ctx)
	if err != nil || n != 1 {
		t.Fatalf("recovered %d (%v), want 1", n, err)
	}
	if ex, _ := s.GetExecution(ctx, running); ex.Status != store.StatusFailed || ex.Reason != store.ReasonError || ex.CompletedAt.IsZero() {
		t.Fatalf("left RUNNING by the previous run: %+v", ex)
	}
	if ex, _ := s.GetExecution(ctx, done); ex.Status != store.StatusSuccess {
		t.Fatalf("a finished execution changed: %+v", ex)
	}
}
