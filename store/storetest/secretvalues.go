package storetest

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/gantry-dev/gantry/store"
)

func secretValueCases() []testCase {
	return []testCase{
		{
			name:   "sealed values are versioned per path from 1, and read at the latest or a given version",
			covers: []string{"PutSecretValue", "GetSecretValue"},
			run:    testSecretValueVersions,
		},
		{
			name:   "destroyed versions leave the others' numbers, the latest is the highest left, and a delete removes every version",
			covers: []string{"PutSecretValue", "GetSecretValue", "DestroySecretValues", "DeleteSecretValues"},
			run:    testSecretValueDestroyAndDelete,
		},
		{
			name:   "concurrent puts on one path get distinct versions",
			covers: []string{"PutSecretValue", "GetSecretValue"},
			run:    testSecretValueConcurrentPuts,
		},
		{
			name:   "a rewrite replaces every value, or none when fn fails",
			covers: []string{"PutSecretValue", "GetSecretValue", "RewriteSecretValues"},
			run:    testSecretValueRewrite,
		},
	}
}

func mustPutValue(t *testing.T, s store.SecretValues, path, sealed string, want int) {
	t.Helper()
	got, err := s.PutSecretValue(t.Context(), path, []byte(sealed))
	if err != nil || got != want {
		t.Fatalf("put %q on %s: version %d %v, want %d", sealed, path, got, err, want)
	}
}

// valueIs checks that version of path (0: the latest) reads as sealed, at version want.
func valueIs(t *testing.T, s store.SecretValues, path string, version int, sealed string, want int) {
	t.Helper()
	got, read, err := s.GetSecretValue(t.Context(), path, version)
	if err != nil || string(got) != sealed || read != want {
		t.Fatalf("get %s version %d: %q at %d %v, want %q at %d", path, version, got, read, err, sealed, want)
	}
}

// valueMissing checks that version of path (0: the latest) is not found.
func valueMissing(t *testing.T, s store.SecretValues, path string, version int) {
	t.Helper()
	if got, read, err := s.GetSecretValue(t.Context(), path, version); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("get %s version %d: %q at %d %v, want ErrNotFound", path, version, got, read, err)
	}
}

func testSecretValueVersions(t *testing.T, s store.Store) {
	ctx := t.Context()
	valueMissing(t, s, "secrets/a", 0)
	for i := 1; i <= 3; i++ {
		mustPutValue(t, s, "secrets/a", fmt.Sprintf("a%d", i), i)
	}
	// Paths that share a prefix with secrets/a, or sort next to it, keep versions of their own.
	mustPutValue(t, s, "secrets/a/b", "ab1", 1)
	mustPutValue(t, s, "secrets/ab", "ab", 1)
	mustPutValue(t, s, "secrets/", "root", 1)
	valueIs(t, s, "secrets/a", 0, "a3", 3)
	for i := 1; i <= 3; i++ {
		valueIs(t, s, "secrets/a", i, fmt.Sprintf("a%d", i), i)
	}
	valueIs(t, s, "secrets/a/b", 0, "ab1", 1)
	valueIs(t, s, "secrets/ab", 0, "ab", 1)
	valueIs(t, s, "secrets/", 0, "root", 1)
	valueMissing(t, s, "secrets/a", 4)
	valueMissing(t, s, "secrets/a", 1<<40)
	valueMissing(t, s, "secrets/none", 1)
	if _, _, err := s.GetSecretValue(ctx, "secrets/a", -1); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("get of version -1: %v, want ErrInvalid", err)
	}
	for _, path := range []string{"", "a\x00b"} {
		if _, err := s.PutSecretValue(ctx, path, []byte("x")); !errors.Is(err, store.ErrInvalid) {
			t.Fatalf("put on path %q: %v, want ErrInvalid", path, err)
		}
	}

	// The store keeps a value of its own: changing the caller's slices changes nothing.
	in := []byte("mine")
	mustPutValue(t, s, "secrets/copy", string(in), 1)
	in[0] = 'X'
	out, _, err := s.GetSecretValue(ctx, "secrets/copy", 1)
	if err != nil {
		t.Fatal(err)
	}
	out[0] = 'Y'
	valueIs(t, s, "secrets/copy", 1, "mine", 1)

	// Any bytes: empty, NUL, not UTF-8.
	mustPutValue(t, s, "secrets/bin", "", 1)
	mustPutValue(t, s, "secrets/bin", "\x00\xff\x00", 2)
	valueIs(t, s, "secrets/bin", 1, "", 1)
	valueIs(t, s, "secrets/bin", 0, "\x00\xff\x00", 2)
}

func testSecretValueDestroyAndDelete(t *testing.T, s store.Store) {
	ctx := t.Context()
	for i := 1; i <= 3; i++ {
		mustPutValue(t, s, "p", fmt.Sprintf("p%d", i), i)
	}
	mustPutValue(t, s, "q", "q1", 1)
	if err := s.DestroySecretValues(ctx, "p", []int{2, 9, 0, -1}); err != nil { // 9, 0, -1: missing, ignored
		t.Fatal(err)
	}
	valueMissing(t, s, "p", 2)
	valueIs(t, s, "p", 1, "p1", 1)
	valueIs(t, s, "p", 3, "p3", 3)
	valueIs(t, s, "p", 0, "p3", 3)

	if err := s.DestroySecretValues(ctx, "p", []int{3}); err != nil {
		t.Fatal(err)
	}
	valueIs(t, s, "p", 0, "p1", 1) // the latest is the highest left
	mustPutValue(t, s, "p", "p-next", 2)
	valueIs(t, s, "p", 0, "p-next", 2)
	if err := s.DestroySecretValues(ctx, "p", nil); err != nil {
		t.Fatalf("destroy of no version: %v", err)
	}
	if err := s.DestroySecretValues(ctx, "p", []int{1, 2}); err != nil {
		t.Fatal(err)
	}
	valueMissing(t, s, "p", 0)
	mustPutValue(t, s, "p", "p-again", 1)

	for i := 2; i <= 4; i++ {
		mustPutValue(t, s, "p", fmt.Sprintf("p%d", i), i)
	}
	if err := s.DeleteSecretValues(ctx, "p"); err != nil {
		t.Fatal(err)
	}
	for v := range 5 {
		valueMissing(t, s, "p", v)
	}
	valueIs(t, s, "q", 0, "q1", 1) // another path is left alone
	if err := s.DeleteSecretValues(ctx, "p"); err != nil {
		t.Fatalf("delete of a path without values: %v", err)
	}
	if err := s.DeleteSecretValues(ctx, "never"); err != nil {
		t.Fatalf("delete of a path never written: %v", err)
	}
	mustPutValue(t, s, "p", "p-new", 1)
}

func testSecretValueConcurrentPuts(t *testing.T, s store.Store) {
	ctx := t.Context()
	const n = 8
	var mu sync.Mutex
	got := map[int]string{} // version -> the value put at it
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			sealed := fmt.Sprintf("value-%d", i)
			v, err := s.PutSecretValue(ctx, "shared", []byte(sealed))
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			defer mu.Unlock()
			if prev, dup := got[v]; dup {
				t.Errorf("%s and %s both got version %d", prev, sealed, v)
			}
			got[v] = sealed
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	for v := 1; v <= n; v++ {
		if _, ok := got[v]; !ok {
			t.Fatalf("versions %v, want 1 to %d", versionsOf(got), n)
		}
		valueIs(t, s, "shared", v, got[v], v)
	}
	valueIs(t, s, "shared", 0, got[n], n)
}

func versionsOf(m map[int]string) []int {
	var out []int
	for v := range m {
		out = append(out, v)
	}
	slices.Sort(out)
	return out
}

func testSecretValueRewrite(t *testing.T, s store.Store) {
	ctx := t.Context()
	if n, err := s.RewriteSecretValues(ctx, func(string, int, []byte) ([]byte, error) {
		return nil, errors.New("called without values")
	}); err != nil || n != 0 {
		t.Fatalf("a rewrite of no values: %d %v", n, err)
	}
	type ref struct {
		path    string
		version int
	}
	want := map[ref]string{} // what each version of each path reads as
	for _, path := range []string{"a", "b"} {
		for v := 1; v <= 2; v++ {
			sealed := fmt.Sprintf("%s%d", path, v)
			mustPutValue(t, s, path, sealed, v)
			want[ref{path, v}] = sealed
		}
	}
	mustPutValue(t, s, "c", "c1", 1)
	want[ref{"c", 1}] = "c1"
	unchanged := func(what string) {
		t.Helper()
		for r, sealed := range want {
			got, _, err := s.GetSecretValue(ctx, r.path, r.version)
			if err != nil || string(got) != sealed {
				t.Fatalf("%s: %+v reads %q %v, want %q", what, r, got, err, sealed)
			}
		}
	}

	errStop := errors.New("stop")
	calls := 0
	if _, err := s.RewriteSecretValues(ctx, func(path string, v int, sealed []byte) ([]byte, error) {
		calls++
		if calls == 3 {
			return nil, errStop
		}
		return []byte("lost:" + string(sealed)), nil
	}); !errors.Is(err, errStop) {
		t.Fatalf("a rewrite whose fn fails on the 3rd value: %v, want fn's error", err)
	}
	unchanged("after a failed rewrite")

	seen := map[ref]string{}
	n, err := s.RewriteSecretValues(ctx, func(path string, v int, sealed []byte) ([]byte, error) {
		key := ref{path, v}
		if _, twice := seen[key]; twice {
			return nil, fmt.Errorf("%+v given twice", key)
		}
		seen[key] = string(sealed)
		out := []byte("re:" + string(sealed))
		sealed[0] = 'X' // fn's copy: the store's value is not touched but by the result
		return out, nil
	})
	if err != nil || n != len(want) {
		t.Fatalf("rewrite: %d %v, want %d", n, err, len(want))
	}
	for key, sealed := range want {
		if seen[key] != sealed {
			t.Fatalf("fn saw %+v as %q, want %q (saw %v)", key, seen[key], sealed, seen)
		}
		want[key] = "re:" + sealed
	}
	unchanged("after a rewrite")
	valueIs(t, s, "a", 0, "re:a2", 2) // versions keep their numbers
	mustPutValue(t, s, "a", "a3", 3)
}
