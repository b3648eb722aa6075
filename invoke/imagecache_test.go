package invoke

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/store"
	"github.com/gantry-dev/gantry/store/bolt"
)

// blockedImages is a store's images whose reads wait for release (or their ctx), counted.
type blockedImages struct {
	ImageStore
	entered     chan struct{} // a read began
	release     chan struct{} // closed: reads go on
	calls       atomic.Int32
	hadDeadline atomic.Bool
}

func (b *blockedImages) GetImage(ctx context.Context, name string) (store.Image, error) {
	b.calls.Add(1)
	_, ok := ctx.Deadline()
	b.hadDeadline.Store(ok)
	b.entered <- struct{}{}
	select {
	case <-b.release:
	case <-ctx.Done():
		return store.Image{}, ctx.Err()
	}
	return b.ImageStore.GetImage(ctx, name)
}

// TestAnImageReadIsNotCanceledByTheCallerThatBeganIt: calls that miss the cache together
// share one read; the caller that began it going away (a client that disconnected) stops
// its own wait only, and the others get the image.
func TestAnImageReadIsNotCanceledByTheCallerThatBeganIt(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, err := bolt.Open(ctx, t.TempDir(), bolt.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	const digest = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	if _, err := db.CreateImage(ctx, store.Image{Name: "web", Source: store.ImageSourceLoad, Status: store.ImageReady, Build: "b1", Digest: digest}); err != nil {
		t.Fatal(err)
	}
	src := &blockedImages{ImageStore: db, entered: make(chan struct{}, 4), release: make(chan struct{})}
	c := newImageCache()

	firstCtx, cancelFirst := context.WithCancel(ctx)
	first := make(chan error, 1)
	go func() {
		_, err := c.get(firstCtx, src, "web")
		first <- err
	}()
	select {
	case <-src.entered:
	case <-time.After(10 * time.Second):
		t.Fatal("the first call never read the image")
	}
	type result struct {
		img cachedImage
		err error
	}
	second := make(chan result, 1)
	go func() {
		img, err := c.get(ctx, src, "web")
		second <- result{img, err}
	}()

	cancelFirst()
	select {
	case err := <-first:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("the canceled caller: %v, want context.Canceled", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the canceled caller still waits for the read")
	}
	time.Sleep(50 * time.Millisecond) // the second caller joins the read in flight
	close(src.release)
	select {
	case r := <-second:
		if r.err != nil || !r.img.found || r.img.digest != digest {
			t.Fatalf("the other caller: %+v %v, want image web of digest %s", r.img, r.err, digest)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the other caller never got the image")
	}
	if n := src.calls.Load(); n != 1 {
		t.Fatalf("%d reads of the store, want the one the callers shared", n)
	}
	if !src.hadDeadline.Load() {
		t.Fatal("the shared read has no deadline of its own")
	}
	if img, err := c.get(ctx, src, "web"); err != nil || img.digest != digest || src.calls.Load() != 1 {
		t.Fatalf("a later call: %+v %v after %d reads, want the image from the cache", img, err, src.calls.Load())
	}
}
