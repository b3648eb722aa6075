package main

// This file holds `gantry events` (publish, list and get CloudEvents) and
// `gantry deliveries` (get a delivery, redeliver it). An event is published in structured
// mode (application/cloudevents+json) through the generated client.

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/go-openapi/runtime"
	"github.com/go-openapi/strfmt"
	"github.com/spf13/cobra"

	"github.com/gantry-dev/gantry/gen/client/events"
	"github.com/gantry-dev/gantry/gen/models"
)

// cloudEventsJSON is the media type of a structured CloudEvent, what publish sends.
const cloudEventsJSON = "application/cloudevents+json"

// newEventsCmd builds `gantry events` and its subcommands.
func newEventsCmd(cf *clientFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "events",
		Aliases: []string{"event"},
		Short:   "Publish CloudEvents and trace them to the executions they caused",
	}
	cmd.AddCommand(newEventsPublishCmd(cf), newEventsListCmd(cf), newEventsGetCmd(cf))
	return cmd
}

// publishFlags are the flags of `gantry events publish`.
type publishFlags struct {
	id, typ, source, subject, data, contentType, dataSchema string
	extensions                                              []string
}

// event is the structured CloudEvent the flags describe; data is --data as read.
func (pf publishFlags) event(data string, now time.Time) (*models.CloudEvent, error) {
	id, spec := pf.id, "1.0"
	if id == "" {
		id = fmt.Sprintf("cli-%d", now.UnixNano())
	}
	at := strfmt.DateTime(now.UTC())
	ev := &models.CloudEvent{ID: &id, Source: &pf.source, Type: &pf.typ, Specversion: &spec, Subject: pf.subject, Time: &at,
		Dataschema: pf.dataSchema, Datacontenttype: pf.contentType}
	if pf.data != "" {
		if ev.Datacontenttype == "" {
			ev.Datacontenttype = "text/plain"
			if json.Valid([]byte(data)) {
				ev.Datacontenttype = "application/json"
			}
		}
		if isJSONType(ev.Datacontenttype) {
			if !json.Valid([]byte(data)) {
				return nil, fmt.Errorf("--data is not JSON, but --content-type %s says it is", ev.Datacontenttype)
			}
			ev.Data = json.RawMessage(data)
		} else {
			ev.DataBase64 = strfmt.Base64(data)
		}
	}
	if len(pf.extensions) > 0 {
		ext, err := parseKeyValues("--extension", pf.extensions)
		if err != nil {
			return nil, err
		}
		ev.CloudEventAdditionalProperties = map[string]any{}
		for k, v := range ext {
			ev.CloudEventAdditionalProperties[k] = v
		}
	}
	return ev, nil
}

// isJSONType reports whether a media type is JSON (application/json, or a +json type).
func isJSONType(ct string) bool {
	mt, _, _ := strings.Cut(ct, ";")
	mt = strings.ToLower(strings.TrimSpace(mt))
	return mt == "application/json" || mt == "text/json" || strings.HasSuffix(mt, "+json")
}

func newEventsPublishCmd(cf *clientFlags) *cobra.Command {
	var pf publishFlags
	cmd := &cobra.Command{
		Use:   "publish --type T --source S [--id ID] [--subject S] [--data DATA|@FILE|@-] [--content-type TYPE]",
		Short: "Publish a CloudEvent; print it with the deliveries it made",
		Long: "Publish a CloudEvent (structured mode). --data gives its data: a string, @FILE, or @- for\n" +
			"stdin; its type is --content-type, by default application/json when the data is JSON, else\n" +
			"text/plain. --id defaults to a new one; publishing the same --source and --id again makes\n" +
			"nothing new (the answer is the earlier event). --extension NAME=VALUE adds extension attributes.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			data, err := readData(pf.data, cmd.InOrStdin())
			if err != nil {
				return err
			}
			ev, err := pf.event(data, time.Now())
			if err != nil {
				return err
			}
			s, err := cf.session(cmd)
			if err != nil {
				return err
			}
			structured := func(op *runtime.ClientOperation) { op.ConsumesMediaTypes = []string{cloudEventsJSON} }
			ok, accepted, err := s.api.Events.PublishEventContext(cmd.Context(), events.NewPublishEventParams().WithEvent(ev), nil, structured)
			if err != nil {
				return clientError("publish event", err)
			}
			payload := &models.PublishedEvents{}
			if ok != nil {
				payload = ok.GetPayload()
				fmt.Fprintln(s.stderr, "published before: nothing new was stored")
			} else if accepted != nil {
				payload = accepted.GetPayload()
			}
			return s.showEvent(payload.Event, payload)
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&pf.typ, "type", "", "the event's type, e.g. com.example.order.created")
	fs.StringVar(&pf.source, "source", "", "the event's source, a URI-reference such as /shop")
	fs.StringVar(&pf.id, "id", "", "the event's id (default: a new one)")
	fs.StringVar(&pf.subject, "subject", "", "the event's subject")
	fs.StringVarP(&pf.data, "data", "d", "", "the event's data: a string, @FILE, or @- for stdin")
	fs.StringVar(&pf.contentType, "content-type", "", "the data's media type (default application/json for JSON data, else text/plain)")
	fs.StringVar(&pf.dataSchema, "dataschema", "", "the event's dataschema")
	fs.StringArrayVar(&pf.extensions, "extension", nil, "an extension attribute NAME=VALUE; repeat the flag")
	_ = cmd.MarkFlagRequired("type") // only fails for an unknown flag name
	_ = cmd.MarkFlagRequired("source")
	return cmd
}

func newEventsListCmd(cf *clientFlags) *cobra.Command {
	var (
		pf                 pageFlags
		typ, source, since string
	)
	cmd := &cobra.Command{
		Use:     "list [--type T] [--source S] [--since TIME|DURATION]",
		Aliases: []string{"ls"},
		Short:   "List the events you may see, newest first",
		Long: "List the events you may see, newest first: yours, the public ones (an admin's) and the\n" +
			"system events about your resources (an admin sees all). --since takes an RFC 3339 time or\n" +
			"a duration back from now (10m).",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var after *strfmt.DateTime
			if since != "" {
				t, err := parseSince(since, time.Now())
				if err != nil {
					return err
				}
				after = &t
			}
			s, err := cf.session(cmd)
			if err != nil {
				return err
			}
			fetch := func(ctx context.Context, cursor string, perPage int64) ([]*models.Event, string, error) {
				params := events.NewListEventsParams().WithPerPage(&perPage).WithSince(after)
				if typ != "" {
					params.SetType(&typ)
				}
				if source != "" {
					params.SetSource(&source)
				}
				if cursor != "" {
					params.SetCursor(&cursor)
				}
				res, err := s.api.Events.ListEventsContext(ctx, params, nil)
				if err != nil {
					return nil, "", clientError("list events", err)
				}
				return res.GetPayload().Events, res.GetPayload().NextCursor, nil
			}
			return runList(cmd, s, pf, "events", fetch, func(items []*models.Event, next string) error {
				return s.out.show(&models.EventsWrapper{Events: items, NextCursor: next}, func(w io.Writer) error {
					t := table{header: []string{"KEY", "TYPE", "SOURCE", "ID", "SUBJECT", "OWNER", "RECEIVED"}}
					for _, ev := range items {
						t.rows = append(t.rows, []string{ev.Key, ev.Type, ev.Source, ev.ID, ev.Subject, ev.Owner, formatTime(ev.ReceivedAt)})
					}
					return writeTable(w, t)
				})
			})
		},
	}
	addPageFlags(cmd, &pf)
	fs := cmd.Flags()
	fs.StringVar(&typ, "type", "", "only events of this type")
	fs.StringVar(&source, "source", "", "only events of this source")
	fs.StringVar(&since, "since", "", "only events received since this RFC 3339 time, or this long ago (10m)")
	return cmd
}

// parseSince reads --since: an RFC 3339 time, or a duration back from now.
func parseSince(v string, now time.Time) (strfmt.DateTime, error) {
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return strfmt.DateTime(t), nil
	}
	d, err := nonNegativeDuration("since", v)
	if err != nil {
		return strfmt.DateTime{}, fmt.Errorf("--since %q: want an RFC 3339 time or a duration such as 10m", v)
	}
	return strfmt.DateTime(now.Add(-d).UTC()), nil
}

func newEventsGetCmd(cf *clientFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "get KEY",
		Short: "Show an event with its deliveries and their executions' status (its trace)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := cf.session(cmd)
			if err != nil {
				return err
			}
			res, err := s.api.Events.GetEventContext(cmd.Context(), events.NewGetEventParams().WithKey(args[0]), nil)
			if err != nil {
				return clientError(fmt.Sprintf("get event %q", args[0]), err)
			}
			return s.showEvent(res.GetPayload().Event, res.GetPayload())
		},
	}
}

// showEvent prints an event and its deliveries (payload with -o json).
func (s *session) showEvent(ev *models.Event, payload any) error {
	return s.out.show(payload, func(w io.Writer) error {
		if ev == nil {
			return nil
		}
		data := ""
		if ev.Data != nil {
			b, _ := json.Marshal(ev.Data)
			data = string(b)
		} else if len(ev.DataBase64) > 0 {
			data = fmt.Sprintf("(%d bytes of %s)", len(ev.DataBase64), ev.Datacontenttype)
		}
		if err := writeFields(w, []field{
			{"Key", ev.Key}, {"ID", ev.ID}, {"Source", ev.Source}, {"Type", ev.Type}, {"Subject", ev.Subject},
			{"Time", formatTime(ev.Time)}, {"Content type", ev.Datacontenttype}, {"Data", data},
			{"Extensions", formatConfig(ev.Extensions)}, {"Owner", ev.Owner}, {"Received", formatTime(ev.ReceivedAt)},
		}); err != nil {
			return err
		}
		if len(ev.Deliveries) == 0 {
			_, err := fmt.Fprintln(w, "\nNo deliveries.")
			return err
		}
		fmt.Fprintln(w)
		return writeTable(w, deliveryTable(ev.Deliveries))
	})
}

// deliveryTable shows deliveries with their current execution.
func deliveryTable(ds []*models.Delivery) table {
	t := table{header: []string{"DELIVERY", "SUBSCRIPTION", "STATUS", "EXECUTION", "EXECUTION STATUS", "ATTEMPTS"}}
	for _, d := range ds {
		t.rows = append(t.rows, []string{d.ID, d.Subscription, d.Status, d.ExecutionID, d.ExecutionStatus, fmt.Sprint(len(d.Executions))})
	}
	return t
}

// newDeliveriesCmd builds `gantry deliveries`: get and redeliver.
func newDeliveriesCmd(cf *clientFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "deliveries",
		Aliases: []string{"delivery"},
		Short:   "Show deliveries of events to subscriptions, and redeliver them",
	}
	cmd.AddCommand(
		&cobra.Command{
			Use:   "get ID",
			Short: "Show a delivery",
			Args:  cobra.ExactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				s, err := cf.session(cmd)
				if err != nil {
					return err
				}
				res, err := s.api.Events.GetDeliveryContext(cmd.Context(), events.NewGetDeliveryParams().WithID(args[0]), nil)
				if err != nil {
					return clientError(fmt.Sprintf("get delivery %q", args[0]), err)
				}
				return s.out.show(res.GetPayload(), func(w io.Writer) error {
					return writeTable(w, deliveryTable([]*models.Delivery{res.GetPayload().Delivery}))
				})
			},
		},
		newRedeliverCmd(cf),
	)
	return cmd
}

// newRedeliverCmd builds `redeliver ID` (of `gantry deliveries` and `gantry subscriptions`).
func newRedeliverCmd(cf *clientFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "redeliver ID",
		Short: "Deliver a finished delivery (a dead letter) again, with a new execution",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := cf.session(cmd)
			if err != nil {
				return err
			}
			res, err := s.api.Events.RedeliverContext(cmd.Context(), events.NewRedeliverParams().WithID(args[0]), nil)
			if err != nil {
				return clientError(fmt.Sprintf("redeliver %q", args[0]), err)
			}
			return s.out.show(res.GetPayload(), func(w io.Writer) error {
				return writeTable(w, deliveryTable([]*models.Delivery{res.GetPayload().Delivery}))
			})
		},
	}
}
