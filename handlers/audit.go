package handlers

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/gantry-dev/gantry/auth"
)

// auditEntry gathers what the audit line of one request says; authenticate fills in who.
type auditEntry struct {
	who   auth.Identity
	notes []slog.Attr // what the operation adds: the new token's user, an app's new owner, ...
}

// auditNote adds attributes to the audit line of the request in ctx, if it has one.
func auditNote(ctx context.Context, attrs ...slog.Attr) {
	if e := auditEntryOf(ctx); e != nil {
		e.notes = append(e.notes, attrs...)
	}
}

type auditKey struct{}

func auditEntryOf(ctx context.Context) *auditEntry {
	e, _ := ctx.Value(auditKey{}).(*auditEntry)
	return e
}

// mutating tells whether a management request changes state, and so is audited.
func mutating(method string) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return false
	}
	return true
}

// audited writes one structured line per mutating management request to the audit log:
// who (as authenticated; empty when credentials failed), what (method and path), when,
// and the result (status). Bodies and credentials are never logged.
func (a *API) audited(next http.Handler) http.Handler {
	if a.audit == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !mutating(r.Method) {
			next.ServeHTTP(w, r)
			return
		}
		start := time.Now()
		entry := &auditEntry{}
		rec := &statusRecorder{ResponseWriter: w}
		defer func() { // written even when the operation panics (a bug: 500, unless a status was sent)
			v := recover()
			status := rec.status
			switch {
			case v != nil && status == 0:
				status = http.StatusInternalServerError
			case status == 0:
				status = http.StatusOK
			}
			a.writeAudit(r, entry, status, time.Since(start))
			if v != nil {
				panic(v)
			}
		}()
		next.ServeHTTP(rec, r.WithContext(context.WithValue(r.Context(), auditKey{}, entry)))
	})
}

func (a *API) writeAudit(r *http.Request, entry *auditEntry, status int, took time.Duration) {
	result := "ok"
	switch {
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		result = "denied"
	case status >= 400:
		result = "failed"
	}
	attrs := append([]slog.Attr{
		slog.String("who", entry.who.Name),
		slog.String("role", entry.who.Role),
		slog.String("auth", entry.who.Kind),
		slog.String("token_id", entry.who.TokenID),
		slog.String("method", r.Method),
		slog.String("path", r.URL.Path),
		slog.Int("status", status),
		slog.String("result", result),
		slog.Int64("duration_us", took.Microseconds()),
		slog.String("remote", r.RemoteAddr),
	}, entry.notes...)
	a.audit.LogAttrs(r.Context(), slog.LevelInfo, "audit", attrs...)
}

// statusRecorder remembers the status a handler wrote.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }
