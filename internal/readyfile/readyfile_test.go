package readyfile

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func sample() Info {
	return Info{
		Addr: "127.0.0.1:41234", HTTPAddr: "127.0.0.1:41235", TLS: true,
		Gateway:  []Listener{{Addr: "127.0.0.1:5555"}, {Addr: "127.0.0.1:5556", TLS: true}},
		Instance: "01JEXAMPLE", DataDir: "/var/lib/gantry", Version: "dev", PID: 42,
	}
}

func TestWriteThenWaitReadsWhatWasWritten(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "ready.json")
	if err := Write(path, sample()); err != nil {
		t.Fatal(err)
	}
	got, err := Wait(context.Background(), path)
	if err != nil || !reflect.DeepEqual(got, sample()) {
		t.Fatalf("Wait = %+v, %v; want %+v", got, err, sample())
	}
	if addr, ok := got.GatewayAddr(true); !ok || addr != "127.0.0.1:5556" {
		t.Errorf("GatewayAddr(tls) = %q %v", addr, ok)
	}
	// The document as other programs read it: the field names are the format.
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"addr", "tls", "http_addr", "gateway", "instance", "data_dir", "version", "pid"} {
		if _, ok := doc[k]; !ok {
			t.Errorf("the file has no %q: %s", k, b)
		}
	}
	if st, err := os.Stat(path); err != nil || st.Mode().Perm() != 0o644 {
		t.Errorf("mode %v (%v), want 0644", st.Mode(), err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil || len(entries) != 1 {
		t.Errorf("the directory holds %v (%v), want the ready file alone: no temporary file left", entries, err)
	}
}

func TestWriteWithoutGatewayListsNone(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "ready.json")
	if err := Write(path, Info{Addr: "127.0.0.1:1"}); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	if g, ok := doc["gateway"].([]any); !ok || len(g) != 0 {
		t.Errorf("gateway = %#v, want []", doc["gateway"])
	}
	if _, ok := doc["http_addr"]; ok {
		t.Errorf("http_addr present without one: %s", b)
	}
}

func TestWaitReturnsOnceTheFileAppears(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "ready.json")
	go func() {
		time.Sleep(100 * time.Millisecond)
		if err := Write(path, sample()); err != nil {
			t.Error(err)
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	got, err := Wait(ctx, path)
	if err != nil || got.Addr != sample().Addr {
		t.Fatalf("Wait = %+v, %v", got, err)
	}
}

func TestWaitEndsWithItsContext(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "never.json")
	t.Run("a deadline that passes is the error", func(t *testing.T) {
		t.Parallel()
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		began := time.Now()
		_, err := Wait(ctx, path)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Wait = %v, want the deadline", err)
		}
		if d := time.Since(began); d > 5*time.Second {
			t.Errorf("Wait returned %s after its deadline of 50ms", d)
		}
	})
	t.Run("a cancel's cause, such as the process's exit, is the error", func(t *testing.T) {
		t.Parallel()
		exited := errors.New("server exited: exit status 1")
		ctx, cancel := context.WithCancelCause(context.Background())
		go func() { time.Sleep(50 * time.Millisecond); cancel(exited) }()
		if _, err := Wait(ctx, path); !errors.Is(err, exited) {
			t.Fatalf("Wait = %v, want %v", err, exited)
		}
	})
}

func TestWaitReportsAFileThatIsNotReadiness(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "ready.json")
	if err := os.WriteFile(path, []byte(`{"addr":`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Wait(context.Background(), path); err == nil {
		t.Fatal("Wait decoded a truncated file")
	}
}

// TestReadersNeverSeeAPartialFile: while one goroutine rewrites a large file over and
// over, readers of the path see either no file or a whole document, never a part of one
// (the rename replaces the file in one step).
func TestReadersNeverSeeAPartialFile(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "ready.json")
	big := func(n int) Info {
		info := sample()
		info.PID = n
		info.Gateway = nil
		for i := range 2000 { // tens of KiB: many write calls' worth, were it written in place
			info.Gateway = append(info.Gateway, Listener{Addr: fmt.Sprintf("127.0.0.1:%d", 10000+i)})
		}
		return info
	}
	stop := make(chan struct{})
	var readers sync.WaitGroup
	var whole atomic.Int64
	for range 2 {
		readers.Go(func() {
			seen := false
			for {
				select {
				case <-stop:
					return
				default:
				}
				b, err := os.ReadFile(path)
				if errors.Is(err, fs.ErrNotExist) {
					if seen {
						t.Error("the file was gone for a moment between two writes")
						return
					}
					continue
				}
				var info Info
				if err == nil {
					err = json.Unmarshal(b, &info)
				}
				if err != nil || len(info.Gateway) != 2000 {
					t.Errorf("a reader saw %d bytes, %d listeners: %v", len(b), len(info.Gateway), err)
					return
				}
				seen = true
				whole.Add(1)
			}
		})
	}
	for n := range 200 {
		if err := Write(path, big(n)); err != nil {
			t.Error(err)
			break
		}
	}
	close(stop)
	readers.Wait()
	t.Logf("%d whole documents read", whole.Load())
	if whole.Load() == 0 {
		t.Error("no read saw the file: the test proves nothing")
	}
}

func TestRemoveOfAMissingFileIsNoError(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "ready.json")
	if err := Write(path, sample()); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := Remove(path); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("the file is still there: %v", err)
	}
}
