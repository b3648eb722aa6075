package postgres

import (
	"context"
	"time"

	"github.com/gantry-dev/gantry/store"
	"github.com/jackc/pgx/v5"
)

// maxAttempts bounds the runs of a transaction that another one made fail (a
// serialization failure or a deadlock, which PostgreSQL resolves by failing one of them).
const maxAttempts = 5

// write runs fn in one short transaction and commits it. The changes fn returns are sent
// to the other nodes with pg_notify inside the transaction (delivered at commit), and to
// this process's subscribers before write returns, in commit order: the commit and the
// posting of its changes happen under commitMu. fn runs again, from the start, when the
// transaction failed because of another (so it must reset what it sets outside tx).
func (s *DB) write(ctx context.Context, op string, fn func(tx pgx.Tx) ([]store.Change, error)) error {
	return s.writeTx(ctx, op, true, fn)
}

// writeTx is write; ordered false skips commitMu, for writes whose changes need no order
// against others (accepted tasks: workers lease whatever is due), so that their commits
// are not queued behind each other's.
func (s *DB) writeTx(ctx context.Context, op string, ordered bool, fn func(tx pgx.Tx) ([]store.Change, error)) error {
	for attempt := 1; ; attempt++ {
		delivered, err := s.tryWrite(ctx, ordered, fn)
		if err != nil && retryable(err) && attempt < maxAttempts && ctx.Err() == nil {
			time.Sleep(time.Duration(attempt) * 5 * time.Millisecond)
			continue
		}
		if err != nil {
			return dbError(op, err)
		}
		if delivered != nil {
			<-delivered
		}
		return nil
	}
}

// writeOnce is write without running fn again: for a write whose fn calls a caller's
// function that must run once (UpdateRun). A transaction that failed because of another
// one fails (its error says so) rather than run again.
func (s *DB) writeOnce(ctx context.Context, op string, fn func(tx pgx.Tx) ([]store.Change, error)) error {
	delivered, err := s.tryWrite(ctx, true, fn)
	if err != nil {
		return dbError(op, err)
	}
	if delivered != nil {
		<-delivered
	}
	return nil
}

func (s *DB) tryWrite(ctx context.Context, ordered bool, fn func(tx pgx.Tx) ([]store.Change, error)) (<-chan struct{}, error) {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return nil, err
	}
	defer func() { _ = tx.Rollback(context.Background()) }() // does nothing once committed
	changes, err := fn(tx)
	if err != nil {
		return nil, err
	}
	if len(changes) == 0 {
		return nil, tx.Commit(ctx)
	}
	payloads := make([]string, len(changes))
	for i, c := range changes {
		payloads[i] = encodeChange(s.origin, c)
	}
	if _, err := tx.Exec(ctx, "SELECT pg_notify($1, p) FROM unnest($2::text[]) WITH ORDINALITY AS n(p, i) ORDER BY i", s.channel, payloads); err != nil {
		return nil, err
	}
	if ordered {
		s.commitMu.Lock()
		defer s.commitMu.Unlock()
	}
	if err := tx.Commit(ctx); err != nil {
		// The commit may have happened all the same (the connection broke as it answered),
		// and this node skips its own notifications: its caches reload rather than miss it.
		s.feed.post([]store.Change{{Kind: store.ChangeReset}})
		return nil, err
	}
	return s.feed.post(changes), nil
}
