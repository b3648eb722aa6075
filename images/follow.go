package images

// This file holds WriteLog: an image's log, read from the store (so it works on every
// node), followed while the image is CREATING.

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"time"

	"github.com/gantry-dev/gantry/store"
)

// followEvery is how often a followed log is read again.
const followEvery = 200 * time.Millisecond

// WriteLog writes the image's log to w; with follow, keeps writing new bytes (calling
// flush after each write) until the image is READY or ERROR (or stale: see building) or
// ctx ends. The caller checks
// that the image is visible to whoever asks.
func (s *Service) WriteLog(ctx context.Context, name string, follow bool, w io.Writer, flush func()) error {
	if flush == nil {
		flush = func() {}
	}
	img, err := s.st.GetImage(ctx, name)
	if err != nil {
		return fmt.Errorf("image log %s: %w", name, err)
	}
	data, err := s.st.GetImageLog(ctx, name)
	if err != nil {
		return fmt.Errorf("image log %s: %w", name, err)
	}
	if len(data) > 0 {
		if _, err := w.Write(data); err != nil {
			return err
		}
		flush()
	}
	if !follow {
		return nil
	}
	sent, build := data, img.Build
	t := time.NewTicker(followEvery)
	defer t.Stop()
	for s.building(img) {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		if img, err = s.st.GetImage(ctx, name); err != nil {
			return fmt.Errorf("image log %s: %w", name, err)
		}
		if data, err = s.st.GetImageLog(ctx, name); err != nil {
			return fmt.Errorf("image log %s: %w", name, err)
		}
		next := newBytes(sent, data)
		if img.Build != build { // a new build began: its log is all new
			build, next = img.Build, data
		}
		if len(next) > 0 {
			if _, err := w.Write(next); err != nil {
				return err
			}
			flush()
		}
		sent = data
	}
	return nil
}

// newBytes is what cur holds beyond prev, the log as last read: the log only grows, but
// once at its cap (store.MaxImageLog) it loses its beginning, so then the end of prev is
// looked for in cur.
func newBytes(prev, cur []byte) []byte {
	if len(prev) < store.MaxImageLog && bytes.HasPrefix(cur, prev) {
		return cur[len(prev):]
	}
	const probe = 256
	end := prev[max(0, len(prev)-probe):]
	if len(end) == 0 {
		return cur
	}
	if i := bytes.Index(cur, end); i >= 0 {
		return cur[i+len(end):]
	}
	return cur
}
