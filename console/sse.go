package console

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/gantry-dev/gantry/store"
)

// liveInterval is how often a live region looks again at what it shows: it reads the API,
// so it is correct on every node whatever notifications were missed.
const liveInterval = 500 * time.Millisecond

// stream answers a live region (app.js's data-live) with Server-Sent Events: render is
// called now and every interval; each time its HTML differs from the last sent, it goes as
// one event's data. When render says the resource is final, an "end" event closes the
// stream. A comment line keeps the connection alive every 15 s. The stream ends with the
// request (the browser left), the server's shutdown (EndStreams), or the session: signed
// out, its token revoked or expired (it is read again before each render).
func (c *Console) stream(w http.ResponseWriter, r *http.Request, interval time.Duration,
	render func(ctx context.Context) (html string, final bool, err error)) {
	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	var last string
	seq := 0
	tick := time.NewTicker(interval)
	defer tick.Stop()
	keepAlive := time.NewTicker(15 * time.Second)
	defer keepAlive.Stop()
	s := visitor(r)
	for {
		var html string
		var final bool
		var err error
		if !s.anonymous { // signed out, revoked or expired since the stream opened: it ends
			if _, serr := c.sessions.GetSession(r.Context(), s.ID, c.now()); errors.Is(serr, store.ErrNotFound) {
				fmt.Fprint(w, "event: end\ndata: \n\n")
				_ = rc.Flush()
				return
			} else if serr != nil { // the store is away: say so, and stop following
				c.log.Warn("console: read a session", "err", serr)
				err = &apiError{Status: http.StatusServiceUnavailable, Message: "Gantry cannot read its store now: reload the page to follow again"}
			}
		}
		if err == nil {
			html, final, err = render(r.Context())
		}
		if err != nil {
			e := errorOf(err)
			html, final = `<div class="error" role="alert">`+templateEscape(e.Message)+`</div>`, true
		}
		if html != last {
			seq++
			fmt.Fprintf(w, "id: %d\n", seq)
			// EventSource ends a line at CR, LF or CRLF: a CR left in the HTML (a log's
			// progress bar) would end a data line early, and what follows it be read as a
			// field. In HTML, &#13; means the same character.
			for line := range strings.SplitSeq(strings.ReplaceAll(strings.ReplaceAll(html, "\r\n", "\n"), "\r", "&#13;"), "\n") {
				fmt.Fprintf(w, "data: %s\n", line)
			}
			fmt.Fprint(w, "\n")
			last = html
		}
		if final {
			fmt.Fprint(w, "event: end\ndata: \n\n")
			_ = rc.Flush()
			return
		}
		if err := rc.Flush(); err != nil {
			return
		}
		select {
		case <-r.Context().Done():
			return
		case <-c.done:
			return
		case <-keepAlive.C:
			fmt.Fprint(w, ": keep-alive\n\n")
		case <-tick.C:
		}
	}
}
