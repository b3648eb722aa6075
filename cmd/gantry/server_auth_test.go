package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/gantry-dev/gantry/auth"
	"github.com/gantry-dev/gantry/store/bolt"
)

// notYetBootstrapped is a shared store as a node sees it when another node starts at the
// same moment: neither has stored the first admin token yet when it looks.
type notYetBootstrapped struct{ *bolt.DB }

func (notYetBootstrapped) Bootstrapped(context.Context) (bool, error) { return false, nil }

// TestBootstrapOnASharedStore: nodes starting at once on one store make one admin token:
// the first node's; the others find it made (not a failure) and keep no token of their own.
func TestBootstrapOnASharedStore(t *testing.T) {
	db, err := bolt.Open(t.Context(), t.TempDir(), bolt.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	st := notYetBootstrapped{db}
	type start struct {
		dir, path string
		made      bool
		err       error
	}
	starts := make([]start, 4)
	var wg sync.WaitGroup
	for i := range starts {
		starts[i].dir = t.TempDir()
		wg.Go(func() {
			s := &starts[i]
			s.path, s.made, s.err = bootstrapAdminToken(t.Context(), st, s.dir)
		})
	}
	wg.Wait()
	made := 0
	authn := auth.NewAuthenticator(db, nil)
	for _, s := range starts {
		if s.err != nil {
			t.Fatalf("a node failed to start: %v", s.err)
		}
		secret, readErr := os.ReadFile(filepath.Join(s.dir, adminTokenFile))
		if !s.made {
			if s.path != "" || readErr == nil {
				t.Fatalf("a node that made no token says %q, and keeps a file (%v)", s.path, readErr)
			}
			continue
		}
		made++
		if readErr != nil || s.path != filepath.Join(s.dir, adminTokenFile) {
			t.Fatalf("the node that made the token has no file: %v", readErr)
		}
		id, err := authn.Authenticate(t.Context(), "Bearer "+strings.TrimSpace(string(secret)))
		if err != nil || !id.IsAdmin() {
			t.Fatalf("the token in the file: %+v %v, want an admin", id, err)
		}
	}
	if made != 1 {
		t.Fatalf("%d nodes made the admin token, want 1", made)
	}
	// A node that starts later finds the token made, and points at its own data dir.
	dir := t.TempDir()
	path, made2, err := bootstrapAdminToken(t.Context(), db, dir)
	if err != nil || made2 || path != filepath.Join(dir, adminTokenFile) {
		t.Fatalf("a later start: %q %v %v", path, made2, err)
	}
}
