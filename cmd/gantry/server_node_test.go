package main

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

func TestNodeID(t *testing.T) {
	bolt := storeSpec{kind: storeBolt, path: "./data"}
	pg := storeSpec{kind: storePostgres, url: "postgres://db/gantry"}
	tests := []struct {
		name     string
		flag     string
		spec     storeSpec
		instance string
		want     string // "": a new ID, kept in the data dir
		err      string
	}{
		{"--node names the node", "edge-1.eu_west", pg, "", "edge-1.eu_west", ""},
		{"--node names a node of a bolt store too", "edge-1", bolt, "9e9195b8fa649d0f", "edge-1", ""},
		{"a bolt store's node is its instance", "", bolt, "9e9195b8fa649d0f", "9e9195b8fa649d0f", ""},
		{"a shared store's node is kept in the data dir", "", pg, "", "", ""},
		{"--node with a slash is refused", "a/b", pg, "", "", "must match"},
		{"--node with a space is refused", "a b", pg, "", "", "must match"},
		{"--node over 64 characters is refused", strings.Repeat("n", 65), pg, "", "", "must match"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			got, err := nodeID(tt.flag, tt.spec, tt.instance, dir)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("nodeID = %q, %v; want an error saying %q", got, err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			_, statErr := os.Stat(filepath.Join(dir, nodeIDFile))
			if tt.want != "" {
				if got != tt.want || statErr == nil {
					t.Fatalf("nodeID = %q (node-id file: %v), want %q and no file", got, statErr, tt.want)
				}
				return
			}
			if validateNodeID(got, "test") != nil || len(got) != 16 || statErr != nil {
				t.Fatalf("nodeID = %q (node-id file: %v), want 16 hex digits kept in the data dir", got, statErr)
			}
			again, err := nodeID("", tt.spec, "", dir)
			if err != nil || again != got {
				t.Fatalf("at the next start: %q %v, want the same ID %q", again, err, got)
			}
			if other, _ := nodeID("", tt.spec, "", t.TempDir()); other == got {
				t.Fatalf("another data dir got the same ID %q", got)
			}
		})
	}
}

// TestNodeIDIsMadeOnce: processes that start at once on one data dir get one ID.
func TestNodeIDIsMadeOnce(t *testing.T) {
	dir := t.TempDir()
	ids := make([]string, 8)
	var wg sync.WaitGroup
	for i := range ids {
		wg.Go(func() {
			id, err := keptNodeID(dir)
			if err != nil {
				t.Error(err)
			}
			ids[i] = id
		})
	}
	wg.Wait()
	for _, id := range ids {
		if id != ids[0] || id == "" {
			t.Fatalf("IDs %q, want one", ids)
		}
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Fatalf("data dir holds %d files, want the node-id alone", len(entries))
	}
}

func TestAKeptNodeIDIsChecked(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, nodeIDFile), []byte("no good\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := keptNodeID(dir); err == nil || !strings.Contains(err.Error(), "must match") {
		t.Fatalf("keptNodeID: %v, want the kept ID refused", err)
	}
}
