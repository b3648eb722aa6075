package storetest

import (
	"sync"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/store"
	"github.com/oklog/ulid/v2"
)

func nodeCases() []testCase {
	return []testCase{
		{
			name:   "NewID makes ULIDs, each greater than the one before",
			covers: []string{"NewID"},
			run:    testNewIDIsMonotonicULID,
		},
		{
			name:   "NewID never makes the same ID twice, however many goroutines ask",
			covers: []string{"NewID"},
			run:    testNewIDIsUniqueAcrossGoroutines,
		},
		{
			name:   "InstanceID names the node, the same at every call",
			covers: []string{"InstanceID"},
			run:    testInstanceIDIsStable,
		},
		{
			name:   "Close returns once, again without error, and the store drops what is recorded after it",
			covers: []string{"Close", "RecordExecution", "FlushExecutions"},
			run:    testClose,
		},
	}
}

func testNewIDIsMonotonicULID(t *testing.T, s store.Store) {
	prev := ""
	for range 10000 {
		id := s.NewID()
		if _, err := ulid.ParseStrict(id); err != nil {
			t.Fatalf("%q is not a ULID: %v", id, err)
		}
		if _, ok := store.ValidID(id); !ok {
			t.Fatalf("%q is not an ID store.ValidID accepts", id)
		}
		if id <= prev {
			t.Fatalf("ID %s after %s: not increasing", id, prev)
		}
		prev = id
	}
	made, _ := store.ValidID(s.NewID())
	if d := time.Since(made); d < -time.Second || d > time.Minute {
		t.Fatalf("a new ID was made at %s, %s from now", made, d)
	}
}

func testNewIDIsUniqueAcrossGoroutines(t *testing.T, s store.Store) {
	const workers, each = 8, 2000
	var mu sync.Mutex
	seen := map[string]bool{}
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			ids := make([]string, 0, each)
			for range each {
				ids = append(ids, s.NewID())
			}
			for i := 1; i < len(ids); i++ {
				if ids[i] <= ids[i-1] {
					t.Errorf("one goroutine got %s after %s", ids[i], ids[i-1])
					return
				}
			}
			mu.Lock()
			defer mu.Unlock()
			for _, id := range ids {
				if seen[id] {
					t.Errorf("ID %s made twice", id)
				}
				seen[id] = true
			}
		})
	}
	wg.Wait()
	if len(seen) != workers*each {
		t.Fatalf("%d distinct IDs, want %d", len(seen), workers*each)
	}
}

func testInstanceIDIsStable(t *testing.T, s store.Store) {
	id := s.InstanceID()
	if id == "" {
		t.Fatal("empty InstanceID")
	}
	mustApp(t, s, "a", "")
	for range 3 {
		if again := s.InstanceID(); again != id {
			t.Fatalf("InstanceID %q, then %q", id, again)
		}
	}
}

func testClose(t *testing.T, s store.Store) {
	ctx := t.Context()
	s.RecordExecution(newExec(s, "app", "/a", store.StatusSuccess), nil)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second close: %v", err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.RecordExecution(newExec(s, "app", "/a", store.StatusSuccess), nil) // dropped, does not block or panic
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("RecordExecution after Close blocked")
	}
	if err := s.FlushExecutions(ctx); err == nil {
		t.Fatal("flush after close succeeded")
	}
}
