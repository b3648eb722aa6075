package secrets_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/gantry-dev/gantry/internal/pgtest"
	"github.com/gantry-dev/gantry/secrets"
	"github.com/gantry-dev/gantry/store"
	"github.com/gantry-dev/gantry/store/bolt"
	"github.com/gantry-dev/gantry/store/postgres"
)

// backendStore is a store the secrets are tested on, with a way to read its raw bytes.
type backendStore struct {
	store.Store
	raw func(t *testing.T) []byte // every byte the store holds of secrets, as it holds them
}

// eachStore runs fn on a fresh bbolt store and a fresh PostgreSQL schema (pgtest skips the
// latter without GANTRY_TEST_POSTGRES, except under CI=true where it fails).
func eachStore(t *testing.T, fn func(t *testing.T, st backendStore)) {
	t.Run("on bbolt", func(t *testing.T) {
		dir := t.TempDir()
		db, err := bolt.Open(t.Context(), dir, bolt.Options{NoSync: true})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		fn(t, backendStore{Store: db, raw: func(t *testing.T) []byte {
			b, err := os.ReadFile(filepath.Join(dir, bolt.FileName))
			if err != nil {
				t.Fatal(err)
			}
			return b
		}})
	})
	t.Run("on PostgreSQL", func(t *testing.T) {
		url := pgtest.Schema(t)
		db, err := postgres.Open(t.Context(), url, postgres.Options{Node: "node-a"})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		fn(t, backendStore{Store: db, raw: func(t *testing.T) []byte { return rawPostgres(t, url) }})
	})
}

// rawPostgres reads every row of the tables that hold secrets, as text.
func rawPostgres(t *testing.T, url string) []byte {
	conn, err := pgx.Connect(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var out bytes.Buffer
	for _, q := range []string{"SELECT t::text FROM secrets t", "SELECT t::text FROM secret_values t", "SELECT encode(sealed, 'escape') FROM secret_values"} {
		rows, err := conn.Query(t.Context(), q)
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		for rows.Next() {
			var s string
			if err := rows.Scan(&s); err != nil {
				t.Fatal(err)
			}
			out.WriteString(s)
		}
		if rows.Err() != nil {
			t.Fatal(rows.Err())
		}
	}
	return out.Bytes()
}

func newKey(t *testing.T) []byte {
	k := make([]byte, secrets.KeySize)
	if _, err := rand.Read(k); err != nil {
		t.Fatal(err)
	}
	return k
}

// openEmbedded opens the embedded backend over st with a new key.
func openEmbedded(t *testing.T, st store.Store) *secrets.Embedded {
	t.Helper()
	e, err := secrets.OpenEmbedded(t.Context(), st, newKey(t))
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func newService(t *testing.T, st store.Store, b secrets.Backend, opts secrets.Options) *secrets.Service {
	svc := secrets.New(st, b, opts)
	t.Cleanup(svc.Close)
	return svc
}

func TestEmbeddedSecretsRoundTripAndAreNeverInClear(t *testing.T) {
	eachStore(t, func(t *testing.T, st backendStore) {
		ctx := t.Context()
		e := openEmbedded(t, st)
		svc := newService(t, st, e, secrets.Options{})
		value := []byte("correct horse battery staple " + rand.Text())
		rec, created, err := svc.PutSecret(ctx, "db-password", "alice", "alice", map[string][]byte{"password": value}, nil)
		if err != nil || !created || rec.Version != 1 || rec.Owner != "alice" || len(rec.Keys) != 1 {
			t.Fatalf("put: %+v created=%v err=%v", rec, created, err)
		}
		files, err := svc.Files(ctx, []string{"db-password"})
		if err != nil || !bytes.Equal(files["db-password"]["password"], value) {
			t.Fatalf("files: %q, %v", files, err)
		}
		key, err := svc.GenerateSSHKey(ctx, "alice", "alice", secrets.KeyOptions{})
		if err != nil {
			t.Fatal(err)
		}
		files, err = svc.Files(ctx, []string{"ssh:alice"})
		if err != nil {
			t.Fatal(err)
		}
		private := files["ssh:alice"][store.SSHKeyFile]
		if !bytes.Contains(private, []byte("OPENSSH PRIVATE KEY")) || key.PublicKey == "" {
			t.Fatalf("ssh key: %q", private)
		}
		raw := st.raw(t)
		body := bytes.Split(private, []byte("\n"))[1] // a line of the key's base64
		for name, clear := range map[string][]byte{"secret value": value, "private key": body, "public key": []byte(key.PublicKey[12:40])} {
			if bytes.Contains(raw, clear) {
				t.Errorf("the store holds the %s in clear", name)
			}
		}
	})
}

func TestEmbeddedKeyIsCheckedAndRotates(t *testing.T) {
	eachStore(t, func(t *testing.T, st backendStore) {
		ctx := t.Context()
		oldKey, otherKey, newKey := newKey(t), newKey(t), newKey(t)
		e, err := secrets.OpenEmbedded(ctx, st, oldKey)
		if err != nil {
			t.Fatal(err)
		}
		svc := newService(t, st, e, secrets.Options{})
		for _, v := range []string{"one", "two"} { // two versions of one secret
			if _, _, err := svc.PutSecret(ctx, "token", "alice", "alice", map[string][]byte{"t": []byte(v)}, nil); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := secrets.OpenEmbedded(ctx, st, otherKey); !errors.Is(err, secrets.ErrWrongKey) {
			t.Fatalf("a node with another key: %v, want ErrWrongKey", err)
		}
		if _, err := secrets.RotateKey(ctx, st, otherKey, newKey); !errors.Is(err, secrets.ErrWrongKey) {
			t.Fatalf("rotation from a wrong key: %v", err)
		}
		n, err := secrets.RotateKey(ctx, st, oldKey, newKey)
		if err != nil || n != 3 { // two values and the key check
			t.Fatalf("rotate: %d, %v", n, err)
		}
		if _, err := secrets.OpenEmbedded(ctx, st, oldKey); !errors.Is(err, secrets.ErrWrongKey) {
			t.Fatalf("the old key after rotation: %v, want ErrWrongKey", err)
		}
		rotated, err := secrets.OpenEmbedded(ctx, st, newKey)
		if err != nil {
			t.Fatal(err)
		}
		for v, want := range map[int]string{1: "one", 2: "two"} {
			data, err := rotated.Get(ctx, "secrets/token", v)
			if err != nil || string(data["t"]) != want {
				t.Fatalf("version %d after rotation: %q, %v", v, data, err)
			}
		}
	})
}

func TestOnlyTheNewestVersionsAreKept(t *testing.T) {
	eachStore(t, func(t *testing.T, st backendStore) {
		ctx := t.Context()
		e := openEmbedded(t, st)
		svc := newService(t, st, e, secrets.Options{})
		var (
			rec store.Secret
			err error
		)
		for i := range secrets.KeepVersions + 2 {
			if rec, _, err = svc.PutSecret(ctx, "s", "alice", "alice", map[string][]byte{"k": {byte('a' + i)}}, nil); err != nil {
				t.Fatal(err)
			}
		}
		if len(rec.Versions) != secrets.KeepVersions || rec.Versions[0] != 3 || rec.Version != secrets.KeepVersions+2 {
			t.Fatalf("versions: %v (current %d)", rec.Versions, rec.Version)
		}
		for v, kept := range map[int]bool{1: false, 2: false, 3: true} {
			_, err := e.Get(ctx, "secrets/s", v)
			if kept != (err == nil) || !kept && !errors.Is(err, secrets.ErrNotFound) {
				t.Errorf("version %d: %v (kept: %v)", v, err, kept)
			}
		}
	})
}

func TestKeyFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "secret.key")
	if _, err := secrets.LoadKey(path, false); err == nil {
		t.Fatal("a missing key file was accepted without create")
	}
	k1, err := secrets.LoadKey(path, true)
	if err != nil {
		t.Fatal(err)
	}
	info, err := os.Stat(path)
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode: %v, %v", info.Mode(), err)
	}
	k2, err := secrets.LoadKey(path, true)
	if err != nil || !bytes.Equal(k1, k2) {
		t.Fatalf("a second load made another key: %v", err)
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := secrets.LoadKey(path, false); err == nil {
		t.Fatal("a key file others may read was accepted")
	}
	bad := filepath.Join(dir, "bad.key")
	if err := os.WriteFile(bad, []byte("c2hvcnQ=\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := secrets.LoadKey(bad, false); err == nil {
		t.Fatal("a short key was accepted")
	}
}

// failing is a Backend whose writes fail as an unreachable one does, or succeed and then
// "crash" the caller (the test stops before the commit).
type failing struct {
	secrets.Backend
	put func() error
}

func (f *failing) Put(ctx context.Context, path string, data map[string][]byte) (int, error) {
	if err := f.put(); err != nil {
		return 0, err
	}
	return f.Backend.Put(ctx, path, data)
}

func TestAFailedWriteLeavesNothingHalfWritten(t *testing.T) {
	eachStore(t, func(t *testing.T, st backendStore) {
		ctx := t.Context()
		e := openEmbedded(t, st)
		down := &failing{Backend: e, put: func() error { return secrets.ErrUnavailable }}
		svc := newService(t, st, down, secrets.Options{})
		_, _, err := svc.PutSecret(ctx, "fresh", "alice", "alice", map[string][]byte{"k": []byte("v")}, nil)
		if !errors.Is(err, secrets.ErrUnavailable) {
			t.Fatalf("put with the backend down: %v", err)
		}
		if _, err := st.GetSecret(ctx, "fresh"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("a failed first write left a record: %v", err)
		}
		if v, _ := e.Current(ctx, "secrets/fresh"); v != 0 {
			t.Fatalf("a failed first write left version %d", v)
		}
		// A rotation that fails keeps the key pair before it.
		up := &failing{Backend: e, put: func() error { return nil }}
		ok := newService(t, st, up, secrets.Options{})
		first, err := ok.GenerateSSHKey(ctx, "bob", "bob", secrets.KeyOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := svc.GenerateSSHKey(ctx, "bob", "bob", secrets.KeyOptions{}); !errors.Is(err, secrets.ErrUnavailable) {
			t.Fatalf("rotation with the backend down: %v", err)
		}
		rec, err := ok.SSHKeyRecord(ctx, "bob")
		if err != nil || rec.Pending != nil || rec.Version != 1 || rec.SSH.Fingerprint != first.Record.SSH.Fingerprint {
			t.Fatalf("after a failed rotation: %+v, %v", rec, err)
		}
	})
}

// away is a Backend that fails every operation, as a sealed or stopped Vault does, while
// down is set: a failed write cannot be undone at once either.
type away struct {
	secrets.Backend
	down atomic.Bool
}

func (a *away) err() error {
	if a.down.Load() {
		return fmt.Errorf("vault is sealed: %w", secrets.ErrUnavailable)
	}
	return nil
}

func (a *away) Put(ctx context.Context, path string, data map[string][]byte) (int, error) {
	if err := a.err(); err != nil {
		return 0, err
	}
	return a.Backend.Put(ctx, path, data)
}

func (a *away) Current(ctx context.Context, path string) (int, error) {
	if err := a.err(); err != nil {
		return 0, err
	}
	return a.Backend.Current(ctx, path)
}

func (a *away) Destroy(ctx context.Context, path string, versions []int) error {
	if err := a.err(); err != nil {
		return err
	}
	return a.Backend.Destroy(ctx, path, versions)
}

func (a *away) Delete(ctx context.Context, path string) error {
	if err := a.err(); err != nil {
		return err
	}
	return a.Backend.Delete(ctx, path)
}

// TestAFirstWriteGivenUpWhileTheBackendWasAwayTakesNoName: a first write that failed with
// the backend away, its undo too, leaves a pending record that reads as not found; once
// the backend is back, the same create succeeds at once (not only after recovery), even
// through a guard that refuses every existing secret (POST /v1/secrets) or another
// owner's (PUT by another developer).
func TestAFirstWriteGivenUpWhileTheBackendWasAwayTakesNoName(t *testing.T) {
	eachStore(t, func(t *testing.T, st backendStore) {
		ctx := t.Context()
		e := openEmbedded(t, st)
		b := &away{Backend: e}
		svc := newService(t, st, b, secrets.Options{})
		data := map[string][]byte{"k": []byte("v")}
		taken := func(string) error { return store.Errorf(store.ErrExists, "secret already exists") }
		onlyBob := func(owner string) error {
			if owner != "bob" {
				return store.NotFound("secret", "other")
			}
			return nil
		}
		for _, tc := range []struct {
			name, owner string
			guard       store.SecretGuard
		}{
			{"fresh", "alice", taken},
			{"other", "bob", onlyBob},
		} {
			b.down.Store(true)
			if _, _, err := svc.PutSecret(ctx, tc.name, "alice", "alice", data, tc.guard); !errors.Is(err, secrets.ErrUnavailable) {
				t.Fatalf("%s: put with the backend away: %v", tc.name, err)
			}
			if rec, err := st.GetSecret(ctx, tc.name); err != nil || rec.Pending == nil || rec.Committed() {
				t.Fatalf("%s: the given-up write's record: %+v, %v; want a pending one left to settle", tc.name, rec, err)
			}
			if _, err := svc.Get(ctx, tc.name); !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("%s: Get after a failed first write: %v", tc.name, err)
			}
			b.down.Store(false)
			rec, created, err := svc.PutSecret(ctx, tc.name, tc.owner, tc.owner, data, tc.guard)
			if err != nil || !created || rec.Version != 1 || rec.Owner != tc.owner || rec.Pending != nil {
				t.Fatalf("%s: the same create with the backend back: %+v, created %t, %v", tc.name, rec, created, err)
			}
			if v, _ := e.Current(ctx, "secrets/"+tc.name); v != 1 {
				t.Fatalf("%s: the backend is at version %d, want 1", tc.name, v)
			}
			// A committed secret is guarded again.
			if _, _, err := svc.PutSecret(ctx, tc.name, "carol", "carol", data, taken); !errors.Is(err, store.ErrExists) {
				t.Fatalf("%s: a create of an existing secret: %v", tc.name, err)
			}
		}
	})
}

// TestRecoveryUndoesAWriteACrashInterrupted stops writes after the backend stored the
// value and before the record took it (a crash: nothing after that point runs), then
// recovers as a restarted node does.
func TestRecoveryUndoesAWriteACrashInterrupted(t *testing.T) {
	eachStore(t, func(t *testing.T, st backendStore) {
		ctx := t.Context()
		e := openEmbedded(t, st)
		svc := newService(t, st, e, secrets.Options{})
		if _, _, err := svc.PutSecret(ctx, "kept", "alice", "alice", map[string][]byte{"k": []byte("v1")}, nil); err != nil {
			t.Fatal(err)
		}
		for _, name := range []string{"kept", "new"} {
			c := &crash{}
			crashed := newService(t, crashingStore{Store: st.Store, c: c}, crashingBackend{Backend: e, c: c}, secrets.Options{})
			if _, _, err := crashed.PutSecret(ctx, name, "alice", "alice", map[string][]byte{"k": []byte("v2")}, nil); err == nil || !c.happened {
				t.Fatalf("put %s: the crash did not happen (%v)", name, err)
			}
		}
		pending, err := st.PendingSecrets(ctx)
		if err != nil || len(pending) != 2 {
			t.Fatalf("pending after the crashes: %d, %v", len(pending), err)
		}
		if v, _ := e.Current(ctx, "secrets/kept"); v != 2 {
			t.Fatalf("the crash came before the backend write (version %d)", v)
		}
		early := newService(t, st, e, secrets.Options{})
		if n, err := early.Recover(ctx); err != nil || n != 0 {
			t.Fatalf("recovery within PendingGrace settled %d writes (%v): they may be in progress", n, err)
		}
		// A restarted node, PendingGrace later.
		later := newService(t, st, e, secrets.Options{Now: func() time.Time { return time.Now().Add(time.Hour) }})
		if n, err := later.Recover(ctx); err != nil || n != 2 {
			t.Fatalf("recover: %d, %v", n, err)
		}
		if _, err := st.GetSecret(ctx, "new"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("an interrupted first write left its record: %v", err)
		}
		if v, _ := e.Current(ctx, "secrets/new"); v != 0 {
			t.Fatalf("an interrupted first write left version %d in the backend", v)
		}
		rec, err := st.GetSecret(ctx, "kept")
		if err != nil || rec.Pending != nil || rec.Version != 1 {
			t.Fatalf("the interrupted rotation: %+v, %v", rec, err)
		}
		if v, _ := e.Current(ctx, "secrets/kept"); v != 1 {
			t.Fatalf("the interrupted rotation left version %d in the backend", v)
		}
		files, err := later.Files(ctx, []string{"kept"})
		if err != nil || string(files["kept"]["k"]) != "v1" {
			t.Fatalf("kept: %q, %v", files, err)
		}
		// The secret is usable again: a new write takes version 2.
		rec, _, err = later.PutSecret(ctx, "kept", "alice", "alice", map[string][]byte{"k": []byte("v3")}, nil)
		if err != nil || rec.Version != 2 {
			t.Fatalf("write after recovery: %+v, %v", rec, err)
		}
	})
}

// crash is a process that dies when the commit of a pending write is sent: from then on,
// the store and the backend of that process do nothing.
type crash struct{ happened bool }

var errCrashed = errors.New("crashed")

type crashingStore struct {
	store.Store
	c *crash
}

func (s crashingStore) UpdateSecret(ctx context.Context, name string, fn func(*store.Secret) error, guard store.SecretGuard) (store.Secret, error) {
	if s.c.happened {
		return store.Secret{}, errCrashed
	}
	return s.Store.UpdateSecret(ctx, name, func(r *store.Secret) error {
		before := r.Pending
		if err := fn(r); err != nil {
			return err
		}
		if before != nil && r.Pending == nil && r.Version > 0 { // the commit
			s.c.happened = true
			return errCrashed
		}
		return nil
	}, guard)
}

func (s crashingStore) DeleteSecret(ctx context.Context, name string, guard func(store.Secret) error) error {
	if s.c.happened {
		return errCrashed
	}
	return s.Store.DeleteSecret(ctx, name, guard)
}

type crashingBackend struct {
	secrets.Backend
	c *crash
}

func (b crashingBackend) Current(ctx context.Context, path string) (int, error) {
	if b.c.happened {
		return 0, errCrashed
	}
	return b.Backend.Current(ctx, path)
}

func (b crashingBackend) Destroy(ctx context.Context, path string, versions []int) error {
	if b.c.happened {
		return errCrashed
	}
	return b.Backend.Destroy(ctx, path, versions)
}

func (b crashingBackend) Delete(ctx context.Context, path string) error {
	if b.c.happened {
		return errCrashed
	}
	return b.Backend.Delete(ctx, path)
}

func TestSSHKeyOptions(t *testing.T) {
	for _, tc := range []struct {
		name string
		o    secrets.KeyOptions
		ok   bool
	}{
		{"ed25519 by default", secrets.KeyOptions{}, true},
		{"rsa 4096 by default", secrets.KeyOptions{Type: "rsa"}, true},
		{"rsa 3072", secrets.KeyOptions{Type: "rsa", Bits: 3072}, true},
		{"rsa 2048 is refused", secrets.KeyOptions{Type: "rsa", Bits: 2048}, false},
		{"dsa is refused", secrets.KeyOptions{Type: "dsa"}, false},
		{"ed25519 with bits is refused", secrets.KeyOptions{Type: "ed25519", Bits: 256}, false},
		{"a comment of two lines is refused", secrets.KeyOptions{Comment: "a\nb"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.o.Validate("alice")
			if (err == nil) != tc.ok {
				t.Fatalf("validate %+v: %v", tc.o, err)
			}
			if err != nil && !errors.Is(err, store.ErrInvalid) {
				t.Fatalf("not a validation error: %v", err)
			}
		})
	}
}

// TestVersionGivesAFunctionOnlyItsOwnersSecrets: what a call may get is checked against
// who owns the secrets when it runs.
func TestVersionGivesAFunctionOnlyItsOwnersSecrets(t *testing.T) {
	eachStore(t, func(t *testing.T, st backendStore) {
		ctx := t.Context()
		e := openEmbedded(t, st)
		svc := newService(t, st, e, secrets.Options{})
		if _, _, err := svc.PutSecret(ctx, "db", "alice", "alice", map[string][]byte{"k": []byte("a")}, nil); err != nil {
			t.Fatal(err)
		}
		for _, u := range []string{"alice", "bob"} {
			if _, err := svc.GenerateSSHKey(ctx, u, u, secrets.KeyOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		for _, tc := range []struct {
			name, owner, lent string
			refs              []string
			ok                bool
		}{
			{"the owner's secret and key", "alice", "", []string{"db", "ssh:alice"}, true},
			{"another's secret", "bob", "", []string{"db"}, false},
			{"another's key", "alice", "", []string{"ssh:bob"}, false},
			{"a key lent by the run's caller", "alice", "bob", []string{"db", "ssh:bob"}, true},
			{"a secret is never lent", "bob", "alice", []string{"db"}, false},
			{"a secret that does not exist", "alice", "", []string{"ghost"}, false},
		} {
			t.Run(tc.name, func(t *testing.T) {
				_, err := svc.Version(tc.owner, tc.lent, tc.refs)
				if (err == nil) != tc.ok || err != nil && !errors.Is(err, store.ErrConflict) {
					t.Fatalf("Version(%s, %q, %v): %v", tc.owner, tc.lent, tc.refs, err)
				}
			})
		}
		// The name deleted, then taken by bob: alice's functions no longer get it.
		if err := svc.Delete(ctx, "db", store.SecretKindSecret, nil); err != nil {
			t.Fatal(err)
		}
		if _, _, err := svc.PutSecret(ctx, "db", "bob", "bob", map[string][]byte{"k": []byte("b")}, nil); err != nil {
			t.Fatal(err)
		}
		if _, err := svc.Version("alice", "", []string{"db"}); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("alice's function after bob took the name: %v", err)
		}
	})
}
