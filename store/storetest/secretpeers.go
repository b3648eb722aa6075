package storetest

import (
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/gantry-dev/gantry/store"
)

// testPeersShareSecrets: every committed write of a secret's record on one node reaches
// the other node's subscribers (their hot containers are drained), which read the record
// as written; values put on either node are read on both, and puts on one path from both
// nodes at once get distinct versions.
func testPeersShareSecrets(t *testing.T, a, b store.Store) {
	ctx := t.Context()
	var heard changeLog
	defer b.Subscribe(heard.add)()
	changed := store.Change{Kind: store.ChangeSecret, Name: "db"}

	mustSecret(t, a, testSecret("db", "ann", nil))
	heard.hears(t, changed)
	if got, err := b.GetSecret(ctx, "db"); err != nil || got.Version != 1 {
		t.Fatalf("node b reads the record node a created: %+v %v", got, err)
	}
	heard.take()
	if _, err := a.UpdateSecret(ctx, "db", func(s *store.Secret) error { s.Version = 2; return nil }, nil); err != nil {
		t.Fatal(err)
	}
	heard.hears(t, changed)
	if got, err := b.GetSecret(ctx, "db"); err != nil || got.Version != 2 {
		t.Fatalf("node b reads the record node a updated: %+v %v", got, err)
	}
	heard.take()
	if err := a.DeleteSecret(ctx, "db", nil); err != nil {
		t.Fatal(err)
	}
	heard.hears(t, changed)

	const perNode = 4
	var mu sync.Mutex
	var versions []int
	var wg sync.WaitGroup
	for _, s := range []store.Store{a, b} {
		for i := range perNode {
			wg.Go(func() {
				v, err := s.PutSecretValue(ctx, "shared", fmt.Appendf(nil, "%s-%d", s.InstanceID(), i))
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				versions = append(versions, v)
				mu.Unlock()
			})
		}
	}
	wg.Wait()
	slices.Sort(versions)
	want := []int{1, 2, 3, 4, 5, 6, 7, 8}
	if !slices.Equal(versions, want) {
		t.Fatalf("puts on one path from two nodes got versions %v, want %v", versions, want)
	}
	for _, s := range []store.Store{a, b} {
		if _, v, err := s.GetSecretValue(ctx, "shared", 0); err != nil || v != 2*perNode {
			t.Fatalf("node %s reads the latest at %d %v, want %d", s.InstanceID(), v, err, 2*perNode)
		}
	}
}
