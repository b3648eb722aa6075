package storetest

import (
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/store"
)

func tokenCases() []testCase {
	return []testCase{
		{
			name:   "tokens are stored, listed newest first a page at a time filtered by user, and deleted",
			covers: []string{"CreateToken", "GetToken", "ListTokens", "DeleteToken"},
			run:    testTokensStoreListAndDelete,
		},
		{
			name:   "a token is read back as it was stored",
			covers: []string{"CreateToken", "GetToken"},
			run:    testTokenRoundTrip,
		},
		{
			name:   "the first admin token is made once",
			covers: []string{"Bootstrapped", "BootstrapToken", "GetToken"},
			run:    testBootstrapTokenOnce,
		},
		{
			name:   "deleting a token deletes the tokens it made, and theirs",
			covers: []string{"DeleteToken", "CreateToken", "GetToken"},
			run:    testDeleteTokenTakesItsDescendants,
		},
	}
}

func testTokensStoreListAndDelete(t *testing.T, s store.Store) {
	ctx := t.Context()
	var ids []string
	for i := range 7 {
		user := []string{"alice", "bob"}[i%2]
		tk, err := s.CreateToken(ctx, store.Token{ID: s.NewID(), Name: fmt.Sprint("t", i), User: user, Role: "developer", Hash: []byte{1}})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, tk.ID)
	}
	if _, err := s.CreateToken(ctx, store.Token{ID: ids[0], Name: "dup", User: "x", Role: "admin", Hash: []byte{1}}); !errors.Is(err, store.ErrExists) {
		t.Fatalf("duplicate id: %v", err)
	}
	for name, bad := range map[string]store.Token{
		"no name":  {ID: s.NewID(), User: "u", Role: "admin", Hash: []byte{1}},
		"bad user": {ID: s.NewID(), Name: "n", User: "a b", Role: "admin", Hash: []byte{1}},
		"no role":  {ID: s.NewID(), Name: "n", User: "u", Hash: []byte{1}},
		"no hash":  {ID: s.NewID(), Name: "n", User: "u", Role: "admin"},
	} {
		if _, err := s.CreateToken(ctx, bad); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("%s: %v", name, err)
		}
	}
	// Newest first, in pages, filtered by user.
	var got []string
	cursor := ""
	for {
		page, next, err := s.ListTokens(ctx, store.TokenFilter{User: "alice"}, store.Page{Limit: 3, Cursor: cursor})
		if err != nil {
			t.Fatal(err)
		}
		checkPageAfterCursor(t, cursor, len(page))
		for _, tk := range page {
			got = append(got, tk.ID)
		}
		if next == "" {
			break
		}
		cursor = next
	}
	want := []string{ids[6], ids[4], ids[2], ids[0]}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("alice's tokens %v, want %v", got, want)
	}
	all, next, err := s.ListTokens(ctx, store.TokenFilter{}, store.Page{})
	if err != nil || len(all) != 7 || next != "" || all[0].ID != ids[6] {
		t.Fatalf("all tokens: %d %q %v", len(all), next, err)
	}
	if _, _, err := s.ListTokens(ctx, store.TokenFilter{}, store.Page{Cursor: "!!"}); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("bad cursor: %v", err)
	}
	if _, err := s.DeleteToken(ctx, ids[0]); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetToken(ctx, ids[0]); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("deleted token: %v", err)
	}
	if _, err := s.DeleteToken(ctx, ids[0]); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("delete twice: %v", err)
	}
	// A page goes on after the token its cursor names was deleted.
	first, next, err := s.ListTokens(ctx, store.TokenFilter{}, store.Page{Limit: 2})
	if err != nil || len(first) != 2 || next == "" {
		t.Fatalf("first page: %d %q %v", len(first), next, err)
	}
	if _, err := s.DeleteToken(ctx, first[1].ID); err != nil {
		t.Fatal(err)
	}
	rest, _, err := s.ListTokens(ctx, store.TokenFilter{}, store.Page{Cursor: next})
	if err != nil || len(rest) != 4 || rest[0].ID != ids[4] {
		t.Fatalf("the page after a deleted cursor: %d tokens, first %v, %v; want the 4 older ones", len(rest), rest, err)
	}
}

func testTokenRoundTrip(t *testing.T, s store.Store) {
	ctx := t.Context()
	expires := time.Now().Add(time.Hour).UTC().Truncate(time.Second)
	parent, err := s.CreateToken(ctx, store.Token{ID: s.NewID(), Name: "parent", User: "ann", Role: "admin", Hash: []byte{9}})
	if err != nil {
		t.Fatal(err)
	}
	if parent.CreatedAt.IsZero() {
		t.Fatalf("CreatedAt not set: %+v", parent)
	}
	in := store.Token{ID: s.NewID(), Name: "ci", User: "ann", Role: "developer", Hash: []byte{1, 2, 3},
		CreatedBy: "ann", ParentID: parent.ID, ExpiresAt: &expires}
	stored, err := s.CreateToken(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.GetToken(ctx, in.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !got.CreatedAt.Equal(stored.CreatedAt) || got.ExpiresAt == nil || !got.ExpiresAt.Equal(expires) {
		t.Fatalf("times: got %+v, stored %+v", got, stored)
	}
	got.CreatedAt, got.ExpiresAt, in.ExpiresAt = time.Time{}, nil, nil // compared above
	if !reflect.DeepEqual(got, in) {
		t.Fatalf("got  %+v\nwant %+v", got, in)
	}
	if _, err := s.GetToken(ctx, s.NewID()); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("unknown token: %v", err)
	}
}

func testBootstrapTokenOnce(t *testing.T, s store.Store) {
	ctx := t.Context()
	if done, err := s.Bootstrapped(ctx); err != nil || done {
		t.Fatalf("fresh store bootstrapped: %v %v", done, err)
	}
	if err := s.BootstrapToken(ctx, store.Token{ID: s.NewID(), Name: "first", User: "admin", Role: "admin"}); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("an invalid first token: %v", err)
	}
	if done, err := s.Bootstrapped(ctx); err != nil || done {
		t.Fatalf("bootstrapped by an invalid token: %v %v", done, err)
	}
	first := store.Token{ID: s.NewID(), Name: "first", User: "admin", Role: "admin", Hash: []byte{1}}
	if err := s.BootstrapToken(ctx, first); err != nil {
		t.Fatal(err)
	}
	if done, err := s.Bootstrapped(ctx); err != nil || !done {
		t.Fatalf("not bootstrapped after the first token: %v %v", done, err)
	}
	if got, err := s.GetToken(ctx, first.ID); err != nil || got.Role != "admin" {
		t.Fatalf("the first token: %+v %v", got, err)
	}
	if err := s.BootstrapToken(ctx, store.Token{ID: s.NewID(), Name: "again", User: "admin", Role: "admin", Hash: []byte{1}}); !errors.Is(err, store.ErrExists) {
		t.Fatalf("second bootstrap: %v", err)
	}
	if _, err := s.DeleteToken(ctx, first.ID); err != nil {
		t.Fatal(err)
	}
	if err := s.BootstrapToken(ctx, store.Token{ID: s.NewID(), Name: "again", User: "admin", Role: "admin", Hash: []byte{1}}); !errors.Is(err, store.ErrExists) {
		t.Fatalf("bootstrap after the first token was deleted: %v, want ErrExists", err)
	}
}

func testDeleteTokenTakesItsDescendants(t *testing.T, s store.Store) {
	ctx := t.Context()
	mk := func(parent string) string {
		tk, err := s.CreateToken(ctx, store.Token{ID: s.NewID(), Name: "t", User: "u", Role: "developer", Hash: []byte{1}, ParentID: parent})
		if err != nil {
			t.Fatal(err)
		}
		return tk.ID
	}
	root := mk("")
	child := mk(root)
	grandchild := mk(child)
	other := mk("")
	otherChild := mk(other)
	if n, err := s.DeleteToken(ctx, child); err != nil || n != 2 {
		t.Fatalf("delete child: %d %v, want 2 (it and its child)", n, err)
	}
	for id, want := range map[string]bool{root: true, child: false, grandchild: false, other: true, otherChild: true} {
		_, err := s.GetToken(ctx, id)
		if (err == nil) != want {
			t.Errorf("token %s present = %v, want %v", id, err == nil, want)
		}
	}
	if n, err := s.DeleteToken(ctx, other); err != nil || n != 2 {
		t.Fatalf("delete other: %d %v, want 2", n, err)
	}
}
