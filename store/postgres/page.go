package postgres

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"time"

	"github.com/gantry-dev/gantry/store"
	"github.com/jackc/pgx/v5"
)

// A cursor is the base64 of the key of the last item of a page (an app's name, a route's
// path, a token's ID, ...): opaque to clients, as bbolt's are.

// decodeCursor returns the key a page starts after ("" for the first page).
func decodeCursor(cursor string) (string, error) {
	if cursor == "" {
		return "", nil
	}
	raw, err := base64.RawURLEncoding.DecodeString(cursor)
	if err != nil || len(raw) == 0 {
		return "", store.Invalid("cursor", "cursor %q is not one this server gave out", cursor)
	}
	return string(raw), nil
}

func encodeCursor(key string) string { return base64.RawURLEncoding.EncodeToString([]byte(key)) }

// collectPage reads rows, which a query limited to size+1 returned in list order, and
// returns the first size of them and the cursor of the next page ("" on the last).
func collectPage[T any](rows pgx.Rows, size int, scan func(pgx.Row) (T, error), key func(T) string) ([]T, string, error) {
	defer rows.Close()
	out := []T{}
	more := false
	for rows.Next() {
		if len(out) == size {
			more = true
			break
		}
		v, err := scan(rows)
		if err != nil {
			return nil, "", err
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, "", err
	}
	if more {
		return out, encodeCursor(key(out[len(out)-1])), nil
	}
	return out, "", nil
}

// jsonValue encodes v for a json column; nil stores NULL.
func jsonValue(v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encode %T: %w", v, err)
	}
	return b, nil
}

// optionalTime is t for a nullable timestamptz column: nil (NULL) for the zero time.
func optionalTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// timeOrZero reads a nullable timestamptz column: the zero time for NULL.
func timeOrZero(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return *t
}

// visiblePage reads one page of a list of which visible keeps some items (all, when nil),
// a chunk at a time, so that a page is full whenever enough items pass it: read(after, n)
// returns up to n items that follow the key after ("" for the start) in list order. It
// returns the page and the cursor of the next one ("" on the last).
func visiblePage[T any](page store.Page, visible func(T) bool, key func(T) string, read func(after string, n int) ([]T, error)) ([]T, string, error) {
	after, err := decodeCursor(page.Cursor)
	if err != nil {
		return nil, "", err
	}
	size := page.Size()
	out := []T{}
	for {
		chunk := size + 1 - len(out)
		if visible != nil {
			chunk = max(chunk, store.MaxPageSize) // most may be hidden: read ahead
		}
		got, err := read(after, chunk)
		if err != nil {
			return nil, "", err
		}
		for _, v := range got {
			if visible != nil && !visible(v) {
				continue
			}
			if len(out) == size { // one more passes: there is a next page
				return out, encodeCursor(key(out[len(out)-1])), nil
			}
			out = append(out, v)
		}
		if len(got) < chunk {
			return out, "", nil
		}
		after = key(got[len(got)-1])
	}
}
