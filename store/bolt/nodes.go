package bolt

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/gantry-dev/gantry/store"
	bolt "go.etcd.io/bbolt"
)

var bucketNodes = []byte("nodes")

// Heartbeat records that node n is alive now (see store.Nodes).
func (s *DB) Heartbeat(ctx context.Context, n store.NodeInfo) error {
	if n.ID == "" {
		return store.Invalid("id", "a node has an ID")
	}
	return s.update(ctx, func(tx *bolt.Tx) ([]store.Change, error) {
		b := tx.Bucket(bucketNodes)
		var prev store.NodeInfo
		found, err := getJSON(b, []byte(n.ID), &prev)
		if err != nil {
			return nil, err
		}
		n.Heartbeat = s.now()
		n.StartedAt = prev.StartedAt
		if !found || prev.Run != n.Run {
			n.StartedAt = n.Heartbeat
		}
		return nil, putJSON(b, []byte(n.ID), n)
	})
}

// ListNodes returns the nodes heard from after since, in ID order.
func (s *DB) ListNodes(ctx context.Context, since time.Time) ([]store.NodeInfo, error) {
	var out []store.NodeInfo
	err := s.view(ctx, func(tx *bolt.Tx) error {
		return tx.Bucket(bucketNodes).ForEach(func(_, v []byte) error {
			var n store.NodeInfo
			if err := json.Unmarshal(v, &n); err != nil {
				return fmt.Errorf("decode node: %w", err)
			}
			if n.Heartbeat.After(since) {
				out = append(out, n)
			}
			return nil
		})
	})
	return out, err
}

// RecoverDeadNodes ends FAILED the sync executions that nodes silent for silentFor left
// RUNNING (see store.Nodes). On a bbolt store the only live node is this process; the
// others are names this data dir had before (--node changed), whose calls ended with them.
func (s *DB) RecoverDeadNodes(ctx context.Context, silentFor time.Duration) (int, error) {
	dead := map[string]bool{}
	if err := s.view(ctx, func(tx *bolt.Tx) error {
		cutoff := s.now().Add(-silentFor)
		return tx.Bucket(bucketNodes).ForEach(func(k, v []byte) error {
			var n store.NodeInfo
			if err := json.Unmarshal(v, &n); err != nil {
				return fmt.Errorf("decode node: %w", err)
			}
			if n.Heartbeat.Before(cutoff) {
				dead[n.ID] = true
			}
			return nil
		})
	}); err != nil || len(dead) == 0 {
		return 0, err // nobody died: no scan of the executions
	}
	return s.failRunningSync(ctx, "its node stopped during the call", func(ex store.Execution) bool { return dead[ex.Node] })
}

// RequestCancel asks the node running execution id to stop it (see store.Executions). One
// process holds a bbolt store: the change reaches this process's subscribers only.
func (s *DB) RequestCancel(ctx context.Context, id string) error {
	ex, err := s.GetExecution(ctx, id)
	switch {
	case err != nil:
		return err
	case ex.Done():
		return store.Errorf(store.ErrConflict, "execution %q already finished (%s)", id, ex.Status)
	}
	s.wmu.Lock() // delivered one at a time with every other change
	defer s.wmu.Unlock()
	s.subs.publish(store.Change{Kind: store.ChangeCancel, Name: id})
	return nil
}
