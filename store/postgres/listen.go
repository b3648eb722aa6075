package postgres

import (
	"context"
	"time"

	"github.com/gantry-dev/gantry/store"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Backoff of the listener's reconnections, and how it checks a quiet connection.
const (
	listenMinBackoff = 100 * time.Millisecond
	listenMaxBackoff = 5 * time.Second
	// listenPingInterval: after this long without a notification the listener pings the
	// server, so that a connection the network dropped without a word (no reset, TCP
	// keepalive far off) is found and replaced within about listenPingInterval+listenPingTimeout.
	listenPingInterval = 15 * time.Second
	listenPingTimeout  = 5 * time.Second
)

// listener hears the changes other nodes commit: it holds one connection of its own (not
// the pool's: LISTEN belongs to a session) named "gantry-listen <node>", LISTENs on the
// schema's channel and posts what it hears to the feed. When the connection is lost it
// reconnects with backoff and, once it listens again, posts store.ChangeReset: changes
// committed meanwhile were not heard, so every cache reloads.
type listener struct {
	s       *DB
	cfg     *pgx.ConnConfig
	conn    *pgx.Conn // owned by run once it started
	ctx     context.Context
	cancel  context.CancelFunc
	started bool
	done    chan struct{}
}

// startListener connects and LISTENs; run then waits for notifications.
func startListener(ctx context.Context, s *DB, cfg *pgx.ConnConfig) (*listener, error) {
	l := &listener{s: s, cfg: cfg, done: make(chan struct{})}
	conn, err := l.connect(ctx)
	if err != nil {
		return nil, err
	}
	l.conn = conn
	l.ctx, l.cancel = context.WithCancel(context.Background())
	return l, nil
}

func (l *listener) connect(ctx context.Context) (*pgx.Conn, error) {
	conn, err := pgx.ConnectConfig(ctx, l.cfg)
	if err != nil {
		return nil, err
	}
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{l.s.channel}.Sanitize()); err != nil {
		_ = conn.Close(context.Background())
		return nil, err
	}
	return conn, nil
}

// start runs the listener in a goroutine of its own.
func (l *listener) start() {
	l.started = true
	go l.run()
}

func (l *listener) run() {
	defer close(l.done)
	for {
		err := l.receive()
		if l.ctx.Err() != nil {
			return
		}
		l.s.log.Warn("postgres store: the change listener lost its connection; reconnecting", "err", err)
		_ = l.conn.Close(context.Background())
		if !l.reconnect() {
			return
		}
		l.s.log.Info("postgres store: the change listener listens again; caches reload")
		l.s.feed.post([]store.Change{{Kind: store.ChangeReset}})
	}
}

// receive posts the changes of other handles until the connection fails or the listener stops.
func (l *listener) receive() error {
	for {
		wait, cancel := context.WithTimeout(l.ctx, listenPingInterval)
		n, err := l.conn.WaitForNotification(wait)
		cancel()
		if err != nil && l.ctx.Err() == nil && wait.Err() != nil && pgconn.Timeout(err) {
			// Quiet for a while (a timeout leaves the connection usable): is it still there?
			ping, cancel := context.WithTimeout(l.ctx, listenPingTimeout)
			err = l.conn.Ping(ping)
			cancel()
			if err == nil {
				continue
			}
		}
		if err != nil {
			return err
		}
		origin, c, err := decodeChange(n.Payload)
		if err != nil {
			l.s.log.Error("postgres store: a change notification that is not one of ours", "payload", n.Payload, "err", err)
			continue
		}
		if origin == l.s.origin {
			continue // this handle's own change: delivered when it committed
		}
		l.s.feed.post([]store.Change{c})
	}
}

// reconnect connects again, waiting longer after each failure, until it listens (true) or
// the listener stops (false).
func (l *listener) reconnect() bool {
	backoff := listenMinBackoff
	for {
		select {
		case <-l.ctx.Done():
			return false
		case <-time.After(backoff):
		}
		conn, err := l.connect(l.ctx)
		if err == nil {
			l.conn = conn
			return true
		}
		if l.ctx.Err() != nil {
			return false
		}
		l.s.log.Warn("postgres store: the change listener cannot reconnect yet", "err", err, "retry_in", backoff)
		backoff = min(2*backoff, listenMaxBackoff)
	}
}

// stop ends the listener and closes its connection.
func (l *listener) stop() {
	l.cancel()
	if l.started {
		<-l.done
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_ = l.conn.Close(ctx)
}
