package console

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/gantry-dev/gantry/auth"
	"github.com/gantry-dev/gantry/gen/client/stats"
)

// overviewInterval is how often the overview's figures are read again while it is open.
const overviewInterval = 2 * time.Second

func (c *Console) overviewRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET "+Base+"overview/stream", c.overviewStream)
}

// overviewData is what the overview shows: GET /v1/stats, in plain values.
type overviewData struct {
	Window             int64 // seconds
	Windows            []overviewWindow
	Apps, Functions    int64
	Calls, Errors      int64
	CallsPerMinute     string
	ErrorRate          string
	QueueDepth, Queued int64
	Running            int64
	OldestTask         string // "" when none waits
	Hot                []hotRoute
	At                 time.Time
	EndUser            bool // role user: no figures, the workflows shared with it
	StreamURL          string
	NoApps             bool
}

type overviewWindow struct {
	Seconds int64
	Label   string
}

type hotRoute struct {
	App, Route string
	Containers int64
}

var overviewWindows = []overviewWindow{{300, "last 5 minutes"}, {900, "last 15 minutes"}, {3600, "last hour"}}

// window reads ?window= (seconds; the API checks its bounds), 300 by default.
func window(r *http.Request) int64 {
	if n, err := strconv.ParseInt(r.URL.Query().Get("window"), 10, 64); err == nil {
		return n
	}
	return 300
}

func (c *Console) readOverview(ctx context.Context, win int64) (overviewData, error) {
	d := overviewData{Window: win, Windows: overviewWindows, StreamURL: Base + "overview/stream?window=" + strconv.FormatInt(win, 10)}
	ok, err := c.api.Stats.GetStatsContext(ctx, stats.NewGetStatsParams().WithWindow(&win), nil)
	if err != nil {
		return d, err
	}
	s := ok.Payload
	d.Apps, d.Functions, d.Calls, d.Errors = num(s.Apps), num(s.Functions), num(s.Calls), num(s.Errors)
	d.NoApps = d.Apps == 0
	d.CallsPerMinute = fmt.Sprintf("%.1f", fnum(s.CallsPerMinute))
	d.ErrorRate = fmt.Sprintf("%.1f %%", 100*fnum(s.ErrorRate))
	if q := s.Queue; q != nil {
		d.QueueDepth, d.Queued, d.Running = num(q.Depth), num(q.Queued), num(q.Running)
		if age := fnum(q.OldestAgeSeconds); age > 0 {
			d.OldestTask = (time.Duration(age * float64(time.Second))).Round(time.Second).String()
		}
	}
	for _, h := range s.Hot {
		if h != nil && h.App != nil && h.Route != nil {
			d.Hot = append(d.Hot, hotRoute{App: *h.App, Route: *h.Route, Containers: num(h.Containers)})
		}
	}
	if s.At != nil {
		d.At = time.Time(*s.At)
	}
	return d, nil
}

func num(p *int64) int64 {
	if p == nil {
		return 0
	}
	return *p
}

func fnum(p *float64) float64 {
	if p == nil {
		return 0
	}
	return *p
}

func (c *Console) overview(w http.ResponseWriter, r *http.Request) {
	if visitor(r).Role == auth.RoleUser { // end users run the workflows shared with them
		c.page(w, r, http.StatusOK, "overview", "Overview", "overview", overviewData{EndUser: true}, nil)
		return
	}
	d, err := c.readOverview(as(r), window(r))
	if err != nil {
		if e := errorOf(err); e.Status == http.StatusBadRequest { // a bad ?window=
			c.page(w, r, e.Status, "overview", "Overview", "overview", overviewData{Window: 300, Windows: overviewWindows}, e)
			return
		}
		c.fail(w, r, err)
		return
	}
	c.page(w, r, http.StatusOK, "overview", "Overview", "overview", d, nil)
}

// overviewStream keeps the overview's figures live while the page is open.
func (c *Console) overviewStream(w http.ResponseWriter, r *http.Request) {
	win := window(r)
	c.stream(w, r, overviewInterval, func(ctx context.Context) (string, bool, error) {
		d, err := c.readOverview(auth.Vouch(ctx, visitor(r).identity()), win)
		if err != nil {
			return "", true, err
		}
		html, err := c.renderString("overview", "figures", view{Data: d})
		return html, false, err
	})
}
