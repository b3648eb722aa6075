package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"regexp"
	"strings"
	"syscall"

	"github.com/gantry-dev/gantry/store"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/puddle/v2"
)

// PostgreSQL error codes the store tells apart.
const (
	codeUniqueViolation      = "23505"
	codeForeignKeyViolation  = "23503"
	codeSerializationFailure = "40001"
	codeDeadlockDetected     = "40P01"
)

// dbError wraps an error of the database with what was being done. A connection failure
// (the server is down, restarting, unreachable, or shut this connection) is wrapped with
// store.ErrUnavailable, so that callers answer "try again later" (503); the original
// error stays in the chain (errors.Is(err, context.DeadlineExceeded) still holds). Errors
// of the store's own kinds (not found, exists, conflict, invalid, a guard's) pass as they are.
func dbError(op string, err error) error {
	if err == nil || !isDBError(err) {
		return err
	}
	if unavailable(err) {
		return fmt.Errorf("%w: %s: %w", store.ErrUnavailable, op, err)
	}
	return fmt.Errorf("%s: %w", op, err)
}

// isDBError tells an error that came from pgx (or the network under it) from the store's
// own errors and those of callers' functions (guards, update functions), which are returned
// unchanged.
func isDBError(err error) bool {
	var pgErr *pgconn.PgError
	var netErr net.Error
	var connErr *pgconn.ConnectError
	return errors.As(err, &pgErr) || errors.As(err, &netErr) || errors.As(err, &connErr) ||
		errors.Is(err, pgconn.ErrConnClosed) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		pgconn.Timeout(err) || pgconn.SafeToRetry(err) || errors.Is(err, puddle.ErrClosedPool)
}

// unavailable reports whether err means the database could not be reached or dropped the
// connection: nothing the request did is at fault, and it may succeed later.
func unavailable(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		// 08: connection exceptions; 57P01-03: admin or crash shutdown, cannot connect now;
		// 53300: too many connections.
		switch {
		case strings.HasPrefix(pgErr.Code, "08"), pgErr.Code == "57P01", pgErr.Code == "57P02", pgErr.Code == "57P03", pgErr.Code == "53300":
			return true
		}
		return false
	}
	var connErr *pgconn.ConnectError
	var netErr net.Error
	return errors.As(err, &connErr) || errors.As(err, &netErr) ||
		errors.Is(err, pgconn.ErrConnClosed) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) ||
		(pgconn.Timeout(err) && !errors.Is(err, context.Canceled)) || errors.Is(err, puddle.ErrClosedPool)
}

// isUniqueViolation reports a unique constraint refusing a row (the name is taken).
func isUniqueViolation(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == codeUniqueViolation
}

// retryable reports a transaction that failed only because of another one running at the
// same time (a serialization failure or a deadlock): run again, it may pass.
func retryable(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && (pgErr.Code == codeSerializationFailure || pgErr.Code == codeDeadlockDetected)
}

// reason is the cause of a failed connection, on one line: the server's message
// ("password authentication failed for user \"u\"") or the network's ("dial tcp
// 127.0.0.1:5432: connect: connection refused"), without pgx's prefixes, which repeat the
// host, user and database the caller's message already names.
func reason(err error) string {
	var pgErr *pgconn.PgError
	var opErr *net.OpError
	var connErr *pgconn.ConnectError
	msg := err.Error()
	switch {
	case errors.As(err, &pgErr):
		msg = pgErr.Message + " (SQLSTATE " + pgErr.Code + ")"
	case errors.As(err, &opErr):
		msg = opErr.Error()
	case errors.As(err, &connErr) && connErr.Unwrap() != nil:
		msg = connErr.Unwrap().Error()
	}
	return strings.Join(strings.Fields(msg), " ")
}

// parseReason is what pgx says is wrong with a connection string, without the string
// itself (pgx's message quotes it, redacted only as best it can).
func parseReason(err error) string {
	msg := err.Error()
	var perr *pgconn.ParseConfigError
	if errors.As(err, &perr) {
		if _, after, ok := strings.Cut(msg, "`: "); ok {
			msg = after
		}
	}
	return strings.Join(strings.Fields(msg), " ")
}

var (
	kvPassword     = regexp.MustCompile(`(?i)(\bpassword\s*=\s*)('(?:[^'\\]|\\.)*'|[^\s]*)`)
	brokenUserinfo = regexp.MustCompile(`(://[^/@:]*:)[^@]*@`)
)

// Redact returns url, a PostgreSQL URL (or one of any scheme, given by mistake) or a
// keyword/value connection string, with any password replaced by "xxxxx": for logs and
// error messages.
func Redact(dsn string) string {
	if strings.Contains(dsn, "://") {
		u, err := url.Parse(dsn)
		if err != nil {
			return brokenUserinfo.ReplaceAllString(kvPassword.ReplaceAllString(dsn, "${1}xxxxx"), "${1}xxxxx@")
		}
		if _, has := u.User.Password(); has {
			u.User = url.UserPassword(u.User.Username(), "xxxxx")
		}
		if q := u.Query(); q.Has("password") {
			q.Set("password", "xxxxx")
			u.RawQuery = q.Encode()
		}
		return u.String()
	}
	return kvPassword.ReplaceAllString(dsn, "${1}xxxxx")
}
