package secrets_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/secrets"
	"github.com/gantry-dev/gantry/store"
)

// stall is a backend whose n-th Put waits until released: a writer stuck past
// PendingGrace, whose mark others take for a crash's.
type stall struct {
	secrets.Backend
	n, at   atomic.Int32
	entered chan struct{}
	release chan struct{}
}

func newStall(b secrets.Backend, at int32) *stall {
	s := &stall{Backend: b, entered: make(chan struct{}), release: make(chan struct{})}
	s.at.Store(at)
	return s
}

func (s *stall) Put(ctx context.Context, path string, data map[string][]byte) (int, error) {
	if s.n.Add(1) == s.at.Load() {
		close(s.entered)
		<-s.release
	}
	return s.Backend.Put(ctx, path, data)
}

// clock is a settable clock shared by the services of a test.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// TestAWriterTakenOverNeverUndoesTheWriteThatTookOver: writer A stalls in the backend past
// PendingGrace; writer B takes A's mark for a crash's, settles it and commits its own
// value; when A's backend write lands and A fails, A's undo must leave B's value alone —
// for a secret that existed and for a new one.
func TestAWriterTakenOverNeverUndoesTheWriteThatTookOver(t *testing.T) {
	for _, existing := range []bool{true, false} {
		name := map[bool]string{true: "a rotation", false: "a first write"}[existing]
		t.Run(name, func(t *testing.T) {
			eachStore(t, func(t *testing.T, st backendStore) {
				ctx := t.Context()
				e, err := secrets.OpenEmbedded(ctx, st, newKey(t))
				if err != nil {
					t.Fatal(err)
				}
				c := &clock{now: time.Now()}
				b := newStall(e, 1)
				if existing {
					b.at.Store(2)
				}
				svc := newService(t, st, b, secrets.Options{Now: c.Now})
				if existing {
					if _, _, err := svc.PutSecret(ctx, "s", "alice", "alice", map[string][]byte{"k": []byte("v1")}, nil); err != nil {
						t.Fatal(err)
					}
				}
				aErr := make(chan error, 1)
				go func() {
					_, _, err := svc.PutSecret(ctx, "s", "alice", "alice", map[string][]byte{"k": []byte("A")}, nil)
					aErr <- err
				}()
				<-b.entered
				c.add(time.Hour) // A's mark looks abandoned
				if _, _, err := svc.PutSecret(ctx, "s", "alice", "alice", map[string][]byte{"k": []byte("B")}, nil); err != nil {
					t.Fatalf("B: %v", err)
				}
				close(b.release)
				if err := <-aErr; err == nil {
					t.Fatal("A, taken over, reports success")
				}
				if n, err := newService(t, st, e, secrets.Options{Now: func() time.Time { return c.Now().Add(time.Hour) }}).Recover(ctx); err != nil || n != 0 {
					t.Fatalf("recovery after both: %d settled, %v", n, err)
				}
				files, err := svc.Files(ctx, []string{"s"})
				if err != nil || string(files["s"]["k"]) != "B" {
					t.Fatalf("B's committed value: %q, %v", files, err)
				}
			})
		})
	}
}

// TestRecoveriesRacingSettleEachMarkOnce: eight nodes recover the same interrupted writes
// at once while a writer writes again; every mark is settled once and the new value stays.
func TestRecoveriesRacingSettleEachMarkOnce(t *testing.T) {
	eachStore(t, func(t *testing.T, st backendStore) {
		ctx := t.Context()
		e := openEmbedded(t, st)
		svc := newService(t, st, e, secrets.Options{})
		if _, _, err := svc.PutSecret(ctx, "kept", "alice", "alice", map[string][]byte{"k": []byte("v1")}, nil); err != nil {
			t.Fatal(err)
		}
		for _, name := range []string{"kept", "new"} { // two interrupted writes (see TestRecovery...)
			c := &crash{}
			crashed := newService(t, crashingStore{Store: st.Store, c: c}, crashingBackend{Backend: e, c: c}, secrets.Options{})
			if _, _, err := crashed.PutSecret(ctx, name, "alice", "alice", map[string][]byte{"k": []byte("lost")}, nil); err == nil {
				t.Fatal("no crash")
			}
		}
		later := func() time.Time { return time.Now().Add(time.Hour) }
		var settled atomic.Int32
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				n, err := newService(t, st, e, secrets.Options{Now: later}).Recover(ctx)
				if err != nil {
					t.Errorf("recover: %v", err)
				}
				settled.Add(int32(n))
			})
		}
		var rec store.Secret
		wg.Go(func() { // a writer that comes at once takes the stale mark over too
			for {
				var err error
				rec, _, err = newService(t, st, e, secrets.Options{Now: later}).PutSecret(ctx, "kept", "alice", "alice", map[string][]byte{"k": []byte("v2")}, nil)
				if err == nil {
					return
				}
				time.Sleep(5 * time.Millisecond) // 409 while another settles it
			}
		})
		wg.Wait()
		if settled.Load() > 2 {
			t.Fatalf("%d settles of 2 interrupted writes", settled.Load())
		}
		files, err := svc.Files(ctx, []string{"kept"})
		if err != nil || string(files["kept"]["k"]) != "v2" {
			t.Fatalf("the value written during recovery: %q, %v (record %+v)", files, err, rec)
		}
		if _, err := svc.Get(ctx, "new"); err == nil {
			t.Fatal("the interrupted first write survived recovery")
		}
		pending, err := st.PendingSecrets(ctx)
		if err != nil || len(pending) != 0 {
			t.Fatalf("still pending: %+v, %v", pending, err)
		}
	})
}
