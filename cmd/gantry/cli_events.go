package main

// This file follows a workflow run's events as Server-Sent Events (GET
// /v1/executions/{id}/events with Accept: text/event-stream). The generated client cannot
// stream, so this is plain net/http with the client's base URL, TLS and credentials. A
// stream that drops is resumed with Last-Event-ID: no event is lost or repeated.

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/gantry-dev/gantry/gen/client/executions"
	"github.com/gantry-dev/gantry/gen/models"
)

// eventFinished is the type of a run's last event.
const eventFinished = "finished"

// followOptions tune how a dropped event stream is resumed.
type followOptions struct {
	// retries is how many times in a row a stream may fail to connect or drop without
	// delivering an event before following gives up, once giveUp has passed too.
	retries int
	// giveUp is how long following keeps trying without an event: a server restarted
	// (after a crash, or a node replaced) is waited for, as the run goes on there.
	giveUp time.Duration
	// backoff is the wait before the first reconnect; it doubles up to maxBackoff.
	backoff, maxBackoff time.Duration
}

var defaultFollow = followOptions{retries: 8, giveUp: 5 * time.Minute, backoff: 250 * time.Millisecond, maxBackoff: 5 * time.Second}

// followEvents calls fn with each event of run id after after, in order, as they happen,
// until the run's finished event (or, when the server ends a stream of a final run without
// one, until the run is final). A dropped stream is resumed after the last event received.
func (s *session) followEvents(ctx context.Context, id string, after int64, opts followOptions, fn func(*models.ExecutionEvent) error) error {
	last := after
	failures := 0
	backoff := opts.backoff
	since := time.Now() // the last event, or the start
	for {
		before := last
		done, err := s.readEventStream(ctx, id, &last, fn)
		if done || ctx.Err() != nil {
			if err == nil && ctx.Err() != nil {
				err = ctx.Err()
			}
			return err
		}
		var ae *apiError
		if errors.As(err, &ae) && ae.Status < 500 {
			return err // 4xx: reconnecting would get the same answer
		}
		if err == nil && last == before {
			// The server ended the stream without news: it does so for a final run whose
			// events were all sent before the resume point.
			final, ferr := s.runIsFinal(ctx, id)
			if ferr != nil {
				return ferr
			}
			if final {
				return nil
			}
		}
		if last > before {
			failures, backoff, since = 0, opts.backoff, time.Now()
		} else if failures++; failures > opts.retries && time.Since(since) >= opts.giveUp {
			if err == nil {
				err = errors.New("the stream keeps ending without events")
			}
			return fmt.Errorf("follow the events of execution %s: giving up after %d attempts: %w", id, failures, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, opts.maxBackoff)
	}
}

// readEventStream reads one SSE connection, advancing *last past each event handed to fn.
// It answers true once the finished event was handled; an error of fn ends following.
func (s *session) readEventStream(ctx context.Context, id string, last *int64, fn func(*models.ExecutionEvent) error) (done bool, err error) {
	req, err := s.raw.newRequest(ctx, http.MethodGet, "/executions/"+url.PathEscape(id)+"/events")
	if err != nil {
		return false, err
	}
	req.Header.Set("Accept", "text/event-stream")
	if *last > 0 {
		req.Header.Set("Last-Event-ID", strconv.FormatInt(*last, 10))
	}
	res, err := s.raw.client.Do(req)
	if err != nil {
		return false, fmt.Errorf("follow the events of execution %s: cannot reach the Gantry API at %s: %w", id, req.URL.Redacted(), errors.Unwrap(err))
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return false, rawError(fmt.Sprintf("follow the events of execution %s", id), res)
	}
	if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") {
		return false, &apiError{Status: res.StatusCode, Message: fmt.Sprintf("follow the events of execution %s: the server answered %q, not an event stream", id, ct)}
	}
	r := bufio.NewReader(res.Body)
	var evID, evData string
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			if errors.Is(err, io.EOF) {
				return false, nil
			}
			return false, err // dropped: resumed by the caller
		}
		line = strings.TrimRight(line, "\r\n")
		if line != "" {
			field, value, _ := strings.Cut(line, ":")
			value = strings.TrimPrefix(value, " ")
			switch field {
			case "": // a comment (keep-alive)
			case "id":
				evID = value
			case "data":
				if evData != "" {
					evData += "\n"
				}
				evData += value
			}
			continue
		}
		if evData == "" {
			evID = ""
			continue
		}
		var ev models.ExecutionEvent
		if err := json.Unmarshal([]byte(evData), &ev); err != nil {
			return false, fmt.Errorf("event %s of execution %s is not JSON: %w", evID, id, err)
		}
		evData, evID = "", ""
		if ev.Seq == nil || *ev.Seq <= *last {
			continue // never twice
		}
		*last = *ev.Seq
		if err := fn(&ev); err != nil {
			return true, err
		}
		if ev.Type != nil && *ev.Type == eventFinished {
			return true, nil
		}
	}
}

// runIsFinal tells whether execution id has reached a final status.
func (s *session) runIsFinal(ctx context.Context, id string) (bool, error) {
	e, err := s.getExecution(ctx, id)
	if err != nil {
		return false, err
	}
	return !statusActive(e.Status), nil
}

// statusActive tells whether an execution with status is still to finish.
func statusActive(status string) bool {
	return status == "QUEUED" || status == "RUNNING"
}

// rawError turns an error answer of a plain HTTP request into an apiError, as clientError
// does for the generated client.
func rawError(op string, res *http.Response) error {
	body, _ := io.ReadAll(io.LimitReader(res.Body, 64<<10))
	var p models.Error
	if json.Unmarshal(body, &p) == nil && p.Error != nil && p.Error.Message != nil {
		msg := *p.Error.Message
		if res.StatusCode == http.StatusUnauthorized || res.StatusCode == http.StatusForbidden {
			msg = fmt.Sprintf("%s: %s (%d)", op, msg, res.StatusCode)
		}
		return &apiError{Status: res.StatusCode, Message: msg, Fields: p.Error.Fields, Hint: authHint(res.StatusCode)}
	}
	return &apiError{Status: res.StatusCode, Message: fmt.Sprintf("%s: server answered HTTP %d without an error message", op, res.StatusCode), Hint: authHint(res.StatusCode)}
}

// formatEvent is the one-line form of a run's event, for a person following the run.
func formatEvent(e *models.ExecutionEvent) string {
	typ := ""
	if e.Type != nil {
		typ = *e.Type
	}
	when := "--:--:--"
	if e.Time != nil {
		when = time.Time(*e.Time).Local().Format("15:04:05")
	}
	step := e.Step
	if e.Item != nil {
		step = fmt.Sprintf("%s[%d]", step, *e.Item)
	}
	var b strings.Builder
	switch typ {
	case "queued":
		b.WriteString("run queued")
	case "started":
		b.WriteString("run started")
	case "cancelling":
		b.WriteString("run cancelling")
	case eventFinished:
		fmt.Fprintf(&b, "run finished: %s", orDash(e.Status))
	case "step_started":
		fmt.Fprintf(&b, "step %s started", step)
	case "step_finished":
		fmt.Fprintf(&b, "step %s finished: %s", step, orDash(e.Status))
	case "step_retrying":
		fmt.Fprintf(&b, "step %s retrying: attempt %d %s", step, e.Attempt, orDash(e.Status))
	case "step_skipped":
		fmt.Fprintf(&b, "step %s skipped", step)
	case "step_sleeping":
		fmt.Fprintf(&b, "step %s sleeping", step)
	case "step_scheduled":
		fmt.Fprintf(&b, "step %s scheduled", step)
	default:
		fmt.Fprintf(&b, "%s %s", typ, step)
	}
	var details []string
	if e.Attempt > 0 && typ != "step_retrying" {
		details = append(details, fmt.Sprintf("attempt %d", e.Attempt))
	}
	if e.Reason != "" {
		details = append(details, e.Reason)
	}
	if e.Call != "" {
		details = append(details, "call "+e.Call)
	}
	if len(details) > 0 {
		fmt.Fprintf(&b, " (%s)", strings.Join(details, ", "))
	}
	if e.Message != "" {
		fmt.Fprintf(&b, ": %s", e.Message)
	}
	seq := int64(0)
	if e.Seq != nil {
		seq = *e.Seq
	}
	return fmt.Sprintf("%s #%d %s", when, seq, cleanCell(b.String()))
}

func newExecutionsEventsCmd(cf *clientFlags) *cobra.Command {
	var (
		after  int64
		follow bool
	)
	cmd := &cobra.Command{
		Use:   "events ID [--after SEQ] [--follow]",
		Short: "List a workflow run's events, or follow them as they happen (--follow)",
		Long: "List the numbered events of a workflow run (queued, step started/finished/retrying/\n" +
			"skipped, finished) after --after. --follow streams them until the run ends, one line\n" +
			"each (one JSON object a line with -o json), resuming where it was if the connection drops.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := cf.session(cmd)
			if err != nil {
				return err
			}
			id := args[0]
			if follow {
				return s.followEvents(cmd.Context(), id, after, defaultFollow, func(e *models.ExecutionEvent) error {
					if s.out.format == formatJSON {
						b, err := json.Marshal(e)
						if err != nil {
							return fmt.Errorf("encode JSON output: %w", err)
						}
						_, err = fmt.Fprintf(s.out.w, "%s\n", b)
						return err
					}
					_, err := fmt.Fprintln(s.out.w, formatEvent(e))
					return err
				})
			}
			events, err := s.listEvents(cmd.Context(), id, after)
			if err != nil {
				return err
			}
			return s.out.show(&models.ExecutionEventsWrapper{Events: events}, func(w io.Writer) error {
				return writeTable(w, eventTable(events))
			})
		},
	}
	cmd.Flags().Int64Var(&after, "after", 0, "only events after this sequence number")
	cmd.Flags().BoolVarP(&follow, "follow", "f", false, "stream the events until the run ends")
	return cmd
}

// eventsPage is the most events one JSON request asks for (the API's maximum).
const eventsPage = 1000

// listEvents reads every event of run id after after, page by page.
func (s *session) listEvents(ctx context.Context, id string, after int64) ([]*models.ExecutionEvent, error) {
	out := []*models.ExecutionEvent{}
	for {
		limit := int64(eventsPage)
		params := executions.NewGetExecutionEventsParams().WithID(id).WithAfter(&after).WithLimit(&limit)
		res, err := s.api.Executions.GetExecutionEventsContext(ctx, params, nil, executions.WithAcceptApplicationJSON)
		if err != nil {
			return nil, clientError(fmt.Sprintf("get the events of execution %s", id), err)
		}
		page := res.GetPayload().Events
		out = append(out, page...)
		if len(page) < eventsPage {
			return out, nil
		}
		last := page[len(page)-1]
		if last == nil || last.Seq == nil || *last.Seq <= after {
			return nil, fmt.Errorf("the server's events of execution %s do not go forward", id)
		}
		after = *last.Seq
	}
}

// eventTable is the table of `gantry executions events`.
func eventTable(events []*models.ExecutionEvent) table {
	t := table{header: []string{"SEQ", "TIME", "TYPE", "STEP", "ATTEMPT", "STATUS", "REASON", "CALL", "MESSAGE"}}
	for _, e := range events {
		if e == nil {
			continue
		}
		seq, typ := "-", "-"
		if e.Seq != nil {
			seq = strconv.FormatInt(*e.Seq, 10)
		}
		if e.Type != nil {
			typ = *e.Type
		}
		step := e.Step
		if e.Item != nil {
			step = fmt.Sprintf("%s[%d]", step, *e.Item)
		}
		attempt := "-"
		if e.Attempt > 0 {
			attempt = strconv.FormatInt(e.Attempt, 10)
		}
		t.rows = append(t.rows, []string{seq, formatTime(e.Time), typ, orDash(step), attempt, orDash(e.Status), orDash(e.Reason), orDash(e.Call), orDash(e.Message)})
	}
	return t
}
