package storetest

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/store"
)

func secretCases() []testCase {
	return []testCase{
		{
			name:   "a secret's record is created, read, updated and deleted, and an invalid one is refused",
			covers: []string{"CreateSecret", "GetSecret", "UpdateSecret", "DeleteSecret"},
			run:    testSecretLifecycle,
		},
		{
			name:   "the guards of UpdateSecret and DeleteSecret run in the write, and a refusal writes nothing",
			covers: []string{"CreateSecret", "GetSecret", "UpdateSecret", "DeleteSecret"},
			run:    testSecretGuards,
		},
		{
			name:   "a record not committed is read and pending but not listed, and is listed once committed",
			covers: []string{"CreateSecret", "GetSecret", "UpdateSecret", "ListSecrets", "PendingSecrets"},
			run:    testSecretPending,
		},
		{
			name:   "secrets are listed in name order, a page at a time, filtered by owner and kind",
			covers: []string{"CreateSecret", "ListSecrets"},
			run:    testSecretPagination,
		},
		{
			name:   "every committed write of a secret's record delivers ChangeSecret before it returns, and a refused one none",
			covers: []string{"Subscribe", "CreateSecret", "UpdateSecret", "DeleteSecret"},
			run:    testSecretWritesDeliverTheirChange,
		},
	}
}

// since is a fixed time of a pending write: it reads back equal from JSON.
func since() time.Time { return time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC) }

// testSecret is a committed function secret of owner, changed by mod.
func testSecret(name, owner string, mod func(*store.Secret)) store.Secret {
	s := store.Secret{Name: name, Kind: store.SecretKindSecret, Owner: owner, Path: "secrets/" + name,
		Keys: []string{"password"}, Version: 1, Versions: []int{1}, CreatedBy: owner}
	if mod != nil {
		mod(&s)
	}
	return s
}

func mustSecret(t *testing.T, s store.Store, sec store.Secret) store.Secret {
	t.Helper()
	created, err := s.CreateSecret(t.Context(), sec)
	if err != nil {
		t.Fatalf("create secret %s: %v", sec.Name, err)
	}
	return created
}

// sameSecret compares two records, their timestamps by the instant.
func sameSecret(a, b store.Secret) bool {
	if !a.CreatedAt.Equal(b.CreatedAt) || !a.UpdatedAt.Equal(b.UpdatedAt) {
		return false
	}
	a.CreatedAt, a.UpdatedAt, b.CreatedAt, b.UpdatedAt = time.Time{}, time.Time{}, time.Time{}, time.Time{}
	return reflect.DeepEqual(a, b)
}

func secretNames(list []store.Secret) []string {
	names := []string{}
	for _, s := range list {
		names = append(names, s.Name)
	}
	return names
}

func testSecretLifecycle(t *testing.T, s store.Store) {
	ctx := t.Context()
	created := mustSecret(t, s, testSecret("db", "ann", func(sec *store.Secret) {
		sec.Pending = &store.SecretPending{Op: store.SecretOpPut, Since: since(), Keys: []string{"password", "user"}, By: "ann"}
	}))
	if created.CreatedAt.IsZero() || !created.CreatedAt.Equal(created.UpdatedAt) {
		t.Fatalf("timestamps not set: %+v", created)
	}
	if got, err := s.GetSecret(ctx, "db"); err != nil || !sameSecret(got, created) {
		t.Fatalf("get:\n got %+v %v\nwant %+v", got, err, created)
	}
	if _, err := s.CreateSecret(ctx, testSecret("db", "bob", nil)); !errors.Is(err, store.ErrExists) {
		t.Fatalf("a second create of db: got %v, want ErrExists", err)
	}
	for _, bad := range []struct {
		name string
		sec  store.Secret
	}{
		{"an empty name", testSecret("", "ann", nil)},
		{"an unknown kind", testSecret("kinda", "ann", func(s *store.Secret) { s.Kind = "password" })},
		{"an SSH key not named for a user", testSecret("key", "ann", func(s *store.Secret) { s.Kind = store.SecretKindSSHKey })},
		{"an owner that is no user name", testSecret("owned", "ann smith", nil)},
	} {
		if _, err := s.CreateSecret(ctx, bad.sec); !errors.Is(err, store.ErrInvalid) {
			t.Fatalf("create of %s: got %v, want ErrInvalid", bad.name, err)
		}
		if _, err := s.GetSecret(ctx, bad.sec.Name); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("a refused record (%s) was stored: %v", bad.name, err)
		}
	}
	sshKey := mustSecret(t, s, store.Secret{Name: store.SSHKeySecretName("ann"), Kind: store.SecretKindSSHKey, Owner: "ann",
		Path: "ssh/ann", Keys: []string{store.SSHKeyFile}, Version: 1,
		SSH: &store.SSHKeyInfo{ID: "k1", Type: "ed25519", Fingerprint: "SHA256:x", Metadata: map[string]string{"host": "git"}}})
	if got, err := s.GetSecret(ctx, sshKey.Name); err != nil || !sameSecret(got, sshKey) {
		t.Fatalf("get of an SSH key:\n got %+v %v\nwant %+v", got, err, sshKey)
	}

	time.Sleep(2 * time.Millisecond) // so that UpdatedAt moves on
	updated, err := s.UpdateSecret(ctx, "db", func(sec *store.Secret) error {
		sec.Keys, sec.Pending, sec.Version, sec.Versions = sec.Pending.Keys, nil, 2, []int{1, 2}
		sec.CreatedAt = time.Time{} // not the caller's to change
		return nil
	}, nil)
	if err != nil || !slices.Equal(updated.Keys, []string{"password", "user"}) || updated.Pending != nil || updated.Version != 2 ||
		!updated.CreatedAt.Equal(created.CreatedAt) || !updated.UpdatedAt.After(created.UpdatedAt) {
		t.Fatalf("update: %+v %v (created %+v)", updated, err, created)
	}
	if got, _ := s.GetSecret(ctx, "db"); !sameSecret(got, updated) {
		t.Fatalf("get after update:\n got %+v\nwant %+v", got, updated)
	}
	errStop := errors.New("stop")
	for _, bad := range []struct {
		name string
		fn   func(*store.Secret) error
		want error
	}{
		{"a rename", func(s *store.Secret) error { s.Name = "other"; return nil }, store.ErrInvalid},
		{"an invalid change", func(s *store.Secret) error { s.Kind = store.SecretKindTLSKey; return nil }, store.ErrInvalid},
		{"a change whose fn fails", func(s *store.Secret) error { s.Version = 9; return errStop }, errStop},
	} {
		if _, err := s.UpdateSecret(ctx, "db", bad.fn, nil); !errors.Is(err, bad.want) {
			t.Fatalf("%s: got %v, want %v", bad.name, err, bad.want)
		}
	}
	if got, _ := s.GetSecret(ctx, "db"); !sameSecret(got, updated) {
		t.Fatalf("a refused update changed the record: %+v", got)
	}
	if _, err := s.UpdateSecret(ctx, "ghost", func(*store.Secret) error { return nil }, nil); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("update of a missing secret: got %v, want ErrNotFound", err)
	}
	if _, err := s.GetSecret(ctx, "ghost"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("get of a missing secret: got %v, want ErrNotFound", err)
	}

	if err := s.DeleteSecret(ctx, "db", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetSecret(ctx, "db"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("get of a deleted secret: got %v, want ErrNotFound", err)
	}
	if err := s.DeleteSecret(ctx, "db", nil); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("delete twice: got %v, want ErrNotFound", err)
	}
	if got, err := s.GetSecret(ctx, sshKey.Name); err != nil || !sameSecret(got, sshKey) {
		t.Fatalf("deleting db touched another record: %+v %v", got, err)
	}
	mustSecret(t, s, testSecret("db", "bob", nil)) // the name is free again
}

func testSecretGuards(t *testing.T, s store.Store) {
	ctx := t.Context()
	kept := mustSecret(t, s, testSecret("db", "ann", nil))
	errNotYours := errors.New("not yours")
	onlyBob := func(owner string) error {
		if owner != "bob" {
			return errNotYours
		}
		return nil
	}
	called := false
	if _, err := s.UpdateSecret(ctx, "db", func(*store.Secret) error { called = true; return nil }, onlyBob); !errors.Is(err, errNotYours) || called {
		t.Fatalf("update refused by its guard: %v (fn called: %v), want the guard's error and fn not called", err, called)
	}
	var vetted []string
	updated, err := s.UpdateSecret(ctx, "db", func(sec *store.Secret) error { sec.Owner = "bob"; return nil },
		func(owner string) error { vetted = append(vetted, owner); return nil })
	if err != nil || updated.Owner != "bob" || !slices.Equal(vetted, []string{"ann"}) {
		t.Fatalf("update under a guard that lets it: %+v %v, the guard vetted %v (want ann once)", updated, err, vetted)
	}
	if _, err := s.UpdateSecret(ctx, "db", func(sec *store.Secret) error { sec.Keys = []string{"bob"}; return nil }, onlyBob); err != nil {
		t.Fatalf("the guard vets the owner stored now (bob): %v", err)
	}

	var seen []store.Secret
	refuse := func(sec store.Secret) error { seen = append(seen, sec); return errNotYours }
	if err := s.DeleteSecret(ctx, "db", refuse); !errors.Is(err, errNotYours) {
		t.Fatalf("delete refused by its guard: got %v", err)
	}
	if len(seen) != 1 || seen[0].Name != "db" || seen[0].Owner != "bob" || !slices.Equal(seen[0].Keys, []string{"bob"}) ||
		!seen[0].CreatedAt.Equal(kept.CreatedAt) {
		t.Fatalf("the delete's guard saw %+v, want the stored record", seen)
	}
	if _, err := s.GetSecret(ctx, "db"); err != nil {
		t.Fatalf("a delete refused by its guard deleted: %v", err)
	}
	if err := s.DeleteSecret(ctx, "ghost", refuse); !errors.Is(err, store.ErrNotFound) || len(seen) != 1 {
		t.Fatalf("delete of a missing secret: %v (guard called %d times), want ErrNotFound and no call", err, len(seen))
	}
	if err := s.DeleteSecret(ctx, "db", func(sec store.Secret) error { return onlyBob(sec.Owner) }); err != nil {
		t.Fatalf("delete under a guard that lets it: %v", err)
	}
	if _, err := s.GetSecret(ctx, "db"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("get after delete: got %v, want ErrNotFound", err)
	}
}

func testSecretPending(t *testing.T, s store.Store) {
	ctx := t.Context()
	pendingPut := func(sec *store.Secret) {
		sec.Version, sec.Versions = 0, nil
		sec.Pending = &store.SecretPending{Op: store.SecretOpPut, Since: since(), Keys: []string{"token"}}
	}
	draft := mustSecret(t, s, testSecret("draft", "ann", pendingPut))
	mustSecret(t, s, testSecret("kept", "ann", nil))
	if got, err := s.GetSecret(ctx, "draft"); err != nil || !sameSecret(got, draft) {
		t.Fatalf("get of a record not committed: %+v %v", got, err)
	}
	listed := func() []string {
		t.Helper()
		list, _, err := s.ListSecrets(ctx, store.SecretFilter{}, store.Page{})
		if err != nil {
			t.Fatal(err)
		}
		return secretNames(list)
	}
	pending := func() []string {
		t.Helper()
		list, err := s.PendingSecrets(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, sec := range list {
			if sec.Pending == nil {
				t.Fatalf("PendingSecrets returned %s, which has no pending write", sec.Name)
			}
		}
		return secretNames(list)
	}
	if got := listed(); !slices.Equal(got, []string{"kept"}) {
		t.Fatalf("listed %v, want only the committed kept", got)
	}
	if got, _, err := s.ListSecrets(ctx, store.SecretFilter{Owner: "ann", Kind: store.SecretKindSecret}, store.Page{}); err != nil ||
		!slices.Equal(secretNames(got), []string{"kept"}) {
		t.Fatalf("filtered list %v %v, want only the committed kept", secretNames(got), err)
	}
	if got := pending(); !slices.Equal(got, []string{"draft"}) {
		t.Fatalf("pending %v, want draft", got)
	}

	// A committed record with a write in progress is listed and pending.
	if _, err := s.UpdateSecret(ctx, "kept", func(sec *store.Secret) error {
		sec.Pending = &store.SecretPending{Op: store.SecretOpDelete, Since: since()}
		return nil
	}, nil); err != nil {
		t.Fatal(err)
	}
	if got := pending(); !slices.Equal(got, []string{"draft", "kept"}) {
		t.Fatalf("pending %v, want draft and kept in name order", got)
	}
	if got := listed(); !slices.Equal(got, []string{"kept"}) {
		t.Fatalf("listed %v, want kept (committed, whatever is pending)", got)
	}
	// The first write of draft commits; kept's ends.
	if _, err := s.UpdateSecret(ctx, "draft", func(sec *store.Secret) error {
		sec.Keys, sec.Version, sec.Versions, sec.Pending = sec.Pending.Keys, 1, []int{1}, nil
		return nil
	}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := s.UpdateSecret(ctx, "kept", func(sec *store.Secret) error { sec.Pending = nil; return nil }, nil); err != nil {
		t.Fatal(err)
	}
	if got := pending(); len(got) != 0 {
		t.Fatalf("pending %v after every write ended, want none", got)
	}
	if got := listed(); !slices.Equal(got, []string{"draft", "kept"}) {
		t.Fatalf("listed %v, want draft and kept once both are committed", got)
	}
}

func testSecretPagination(t *testing.T, s store.Store) {
	ctx := t.Context()
	var all []store.Secret
	for i := 9; i >= 0; i-- { // created out of order on purpose
		owner := "ann"
		if i%3 == 0 {
			owner = "bob"
		}
		all = append(all, testSecret(fmt.Sprintf("s%d", i), owner, nil))
	}
	all = append(all,
		store.Secret{Name: store.SSHKeySecretName("bob"), Kind: store.SecretKindSSHKey, Owner: "bob", Path: "ssh/bob", Version: 1},
		store.Secret{Name: store.SSHKeySecretName("ann"), Kind: store.SecretKindSSHKey, Owner: "ann", Path: "ssh/ann", Version: 3},
		store.Secret{Name: store.TLSKeySecretName("shop"), Kind: store.SecretKindTLSKey, Owner: "bob", Path: "tls/shop", Version: 1},
		testSecret("s4a", "ann", func(sec *store.Secret) { sec.Version = 0 }), // not committed: never listed
	)
	for _, sec := range all {
		mustSecret(t, s, sec)
	}
	want := func(f store.SecretFilter) []string {
		var names []string
		for _, sec := range all {
			if sec.Version > 0 && (f.Owner == "" || sec.Owner == f.Owner) && (f.Kind == "" || sec.Kind == f.Kind) {
				names = append(names, sec.Name)
			}
		}
		sort.Strings(names) // bytewise: the order of every backend
		return names
	}
	list := func(f store.SecretFilter, limit int) []string {
		t.Helper()
		var names []string
		cursor := ""
		for {
			page, next, err := s.ListSecrets(ctx, f, store.Page{Cursor: cursor, Limit: limit})
			if err != nil {
				t.Fatal(err)
			}
			checkPageAfterCursor(t, cursor, len(page))
			for _, sec := range page {
				if f.Owner != "" && sec.Owner != f.Owner || f.Kind != "" && sec.Kind != f.Kind {
					t.Fatalf("the list of %+v has %s of %q, kind %q", f, sec.Name, sec.Owner, sec.Kind)
				}
				names = append(names, sec.Name)
			}
			if next == "" {
				return names
			}
			if len(page) != limit {
				t.Fatalf("a page of %d secrets before the last, want %d", len(page), limit)
			}
			cursor = next
		}
	}
	for _, f := range []store.SecretFilter{
		{}, {Owner: "ann"}, {Owner: "bob"}, {Kind: store.SecretKindSSHKey}, {Kind: store.SecretKindTLSKey},
		{Owner: "bob", Kind: store.SecretKindSecret}, {Owner: "carol"},
	} {
		for _, limit := range []int{1, 3, 100} {
			if got, want := list(f, limit), want(f); !slices.Equal(got, want) {
				t.Fatalf("%+v per page %d: %v, want %v", f, limit, got, want)
			}
		}
	}
	if _, _, err := s.ListSecrets(ctx, store.SecretFilter{}, store.Page{Cursor: "!!"}); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("bad cursor: got %v, want ErrInvalid", err)
	}
}
