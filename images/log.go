package images

// This file holds a job's log: the daemon's JSON message stream read into plain text,
// capped to its last store.MaxImageLog bytes.

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/docker/docker/pkg/jsonmessage"

	"github.com/gantry-dev/gantry/store"
)

// buildLog is a job's log as it grows.
type buildLog struct {
	mu    sync.Mutex
	buf   []byte
	dirty bool
}

// add appends text, keeping the last store.MaxImageLog bytes.
func (l *buildLog) add(text string) {
	if text == "" {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf = append(l.buf, text...)
	if over := len(l.buf) - store.MaxImageLog; over > 0 {
		l.buf = append(l.buf[:0], l.buf[over:]...)
	}
	l.dirty = true
}

// addLine appends text as a line.
func (l *buildLog) addLine(text string) {
	if !strings.HasSuffix(text, "\n") {
		text += "\n"
	}
	l.add(text)
}

// changed returns a copy of the log if it changed since the last call.
func (l *buildLog) changed() ([]byte, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.dirty {
		return nil, false
	}
	l.dirty = false
	return append([]byte(nil), l.buf...), true
}

func (l *buildLog) bytes() []byte {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.dirty = false
	return append([]byte(nil), l.buf...)
}

// tail is the last n non-empty lines of the log.
func (l *buildLog) tail(n int) string {
	l.mu.Lock()
	text := string(l.buf)
	l.mu.Unlock()
	var lines []string
	for _, line := range strings.Split(text, "\n") {
		if strings.TrimSpace(line) != "" {
			lines = append(lines, strings.TrimRight(line, "\r"))
		}
	}
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// readStream reads the daemon's JSON message stream r into lg (stream text, status
// lines without progress bars, errors), calling see on each stream or status line, until
// its end or an error message, which it returns.
func readStream(r io.Reader, lg *buildLog, see func(string)) error {
	dec := json.NewDecoder(r)
	for {
		var m jsonmessage.JSONMessage
		err := dec.Decode(&m)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read the daemon's output: %w", err)
		}
		if m.Error != nil && m.Error.Message != "" {
			return errors.New(strings.TrimSpace(m.Error.Message))
		}
		if m.Stream != "" {
			lg.add(m.Stream)
			if see != nil {
				see(m.Stream)
			}
		}
		if m.Status != "" && (m.Progress == nil || m.Progress.Total == 0 && m.Progress.Current == 0) {
			line := m.Status
			if m.ID != "" {
				line = m.ID + ": " + line
			}
			lg.addLine(line)
			if see != nil {
				see(line)
			}
		}
	}
}
