package main

// This file holds the node's identity: --node, or the ID a node keeps in its data dir.

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

// nodeIDFile is where, in the data dir, a node that shares its store keeps its ID.
const nodeIDFile = "node-id"

// nodeIDRule is what a node ID looks like: it names the node's containers (a Docker label)
// and its leases.
var nodeIDRule = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,64}$`)

func validateNodeID(id, from string) error {
	if !nodeIDRule.MatchString(id) {
		return fmt.Errorf("%s: node ID %q must match %s", from, id, nodeIDRule)
	}
	return nil
}

// nodeID decides this node's ID: --node when given; else, with a bolt store, the store's
// own instance ID (one server owns a bolt store, so its data dir is the node, as ever);
// else the ID kept in <data-dir>/node-id, made at the first start (random, hex) and read
// at every start after, so that a node is the same node across restarts: it reaps its own
// dead run's containers and takes back its own leases, never another node's.
func nodeID(flag string, spec storeSpec, instance, dataDir string) (string, error) {
	switch {
	case flag != "":
		return flag, validateNodeID(flag, "--node")
	case spec.kind == storeBolt:
		return instance, validateNodeID(instance, "the bolt store's instance ID")
	}
	return keptNodeID(dataDir)
}

// keptNodeID reads the node ID in dataDir, making it first if there is none. A new ID is
// written whole to a temporary file, then linked to its name, which fails if the name
// exists: of two processes that start at once on one data dir, one makes the ID and the
// other reads it, never a part of it.
func keptNodeID(dataDir string) (string, error) {
	path := filepath.Join(dataDir, nodeIDFile)
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return "", fmt.Errorf("create data dir: %w", err)
	}
	var b [8]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	id := hex.EncodeToString(b[:])
	tmp, err := os.CreateTemp(dataDir, "."+nodeIDFile+"-*")
	if err != nil {
		return "", fmt.Errorf("make the node ID: %w", err)
	}
	defer func() { _ = os.Remove(tmp.Name()) }()
	_, err = tmp.WriteString(id + "\n")
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", fmt.Errorf("make the node ID: %w", err)
	}
	switch err := os.Link(tmp.Name(), path); {
	case err == nil:
		return id, nil
	case !errors.Is(err, fs.ErrExist):
		return "", fmt.Errorf("make the node ID: %w", err)
	}
	kept, err := os.ReadFile(path) //nolint:gosec // G304: the data dir is the operator's
	if err != nil {
		return "", fmt.Errorf("read the node ID: %w", err)
	}
	id = strings.TrimSpace(string(kept))
	return id, validateNodeID(id, path)
}
