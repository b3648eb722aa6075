package postgres

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gantry-dev/gantry/store"
	"github.com/jackc/pgx/v5"
)

const eventColumns = "key, source, event_id, type, owner, received_at, event"

// scanEvent reads eventColumns: the event document, then the columns, which are the truth
// of what they hold.
func scanEvent(row pgx.Row) (store.Event, error) {
	var e store.Event
	var key, source, id, typ, owner string
	var received time.Time
	var doc []byte
	if err := row.Scan(&key, &source, &id, &typ, &owner, &received, &doc); err != nil {
		return e, err
	}
	if err := json.Unmarshal(doc, &e); err != nil {
		return e, fmt.Errorf("decode event %s: %w", key, err)
	}
	e.Key, e.Source, e.EventID, e.Type, e.Owner, e.ReceivedAt = key, source, id, typ, owner, received
	return e, nil
}

// publishing is an EventPublish readied to store: the event with its key and deliveries,
// and the deliveries with their IDs; first is the index of an earlier one of the slice with
// the same owner, source and ID (-1 when none), which it repeats.
type publishing struct {
	ev    store.Event
	nds   []store.NewDelivery
	first int
}

// PublishEvents stores the events with their deliveries in one transaction (see
// store.Events): each new event (INSERT ... ON CONFLICT DO NOTHING on its owner, source and
// ID, so that of two nodes publishing it at once one stores it and the other reads it), its
// deliveries, their calls (accepted as EnqueueTask accepts them, in one round trip) and
// their runs (created as CreateRun creates them). An event published before, or earlier
// in the slice, stores nothing and reads as it was stored, with its deliveries. After the
// commit, a ChangeTask per call and a ChangeRun per run reach every node.
func (s *DB) PublishEvents(ctx context.Context, events []store.EventPublish) ([]store.Published, error) {
	if len(events) == 0 {
		return []store.Published{}, nil
	}
	items, err := s.readyEvents(events)
	if err != nil {
		return nil, err
	}
	ordered := false // runs' changes keep the order of commits; calls' need none (see writeTx)
	for _, it := range items {
		for _, nd := range it.nds {
			ordered = ordered || nd.Run != nil
		}
	}
	var out []store.Published
	err = s.writeTx(ctx, "publish events", ordered, func(tx pgx.Tx) ([]store.Change, error) {
		out = make([]store.Published, len(items))
		return s.publishTx(ctx, tx, items, out)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// readyEvents gives each event of the slice not repeated in it its key and the IDs of its
// deliveries, readied by prepareDelivery.
func (s *DB) readyEvents(events []store.EventPublish) ([]publishing, error) {
	items := make([]publishing, len(events))
	seen := make(map[[3]string]int, len(events))
	for i, p := range events {
		ev := p.Event
		if err := store.ValidateEvent(ev); err != nil {
			return nil, err
		}
		name := [3]string{ev.Owner, ev.Source, ev.EventID}
		if j, ok := seen[name]; ok {
			items[i] = publishing{first: j}
			continue
		}
		seen[name] = i
		ev.Key, ev.Deliveries = s.NewID(), nil
		nds := make([]store.NewDelivery, len(p.Deliveries))
		for j, nd := range p.Deliveries {
			id := nd.Delivery.ID
			if id == "" {
				id = s.NewID()
			}
			if err := s.prepareDelivery(id, &nd); err != nil {
				return nil, err
			}
			nd.Delivery.Event = ev.Key
			nds[j] = nd
			ev.Deliveries = append(ev.Deliveries, id)
		}
		items[i] = publishing{ev: ev, nds: nds, first: -1}
	}
	return items, nil
}

// publishTx is PublishEvents' transaction: it fills out, one Published per item.
func (s *DB) publishTx(ctx context.Context, tx pgx.Tx, items []publishing, out []store.Published) ([]store.Change, error) {
	// The events, in (owner, source, id) order: two transactions publishing some of the same
	// events wait for each other's in the same order, never in a circle.
	var order []int
	for i, it := range items {
		if it.first < 0 {
			order = append(order, i)
		}
	}
	slices.SortFunc(order, func(a, b int) int {
		x, y := items[a].ev, items[b].ev
		return cmp.Or(strings.Compare(x.Owner, y.Owner), strings.Compare(x.Source, y.Source), strings.Compare(x.EventID, y.EventID))
	})
	n := len(order)
	keys, sources, ids, types, owners, docs := make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([][]byte, n)
	for j, i := range order {
		ev := items[i].ev
		doc, err := jsonValue(ev)
		if err != nil {
			return nil, err
		}
		keys[j], sources[j], ids[j], types[j], owners[j], docs[j] = ev.Key, ev.Source, ev.EventID, ev.Type, ev.Owner, doc
	}
	rows, err := tx.Query(ctx, `INSERT INTO events (`+eventColumns+`)
		SELECT k, s, i, t, o, now(), e FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::json[])
			WITH ORDINALITY AS x(k, s, i, t, o, e, n) ORDER BY n
		ON CONFLICT (owner, source, event_id) DO NOTHING RETURNING key, received_at`, keys, sources, ids, types, owners, docs)
	if err != nil {
		return nil, err
	}
	stored := make(map[string]time.Time, n)
	var key string
	var received time.Time
	if _, err := pgx.ForEachRow(rows, []any{&key, &received}, func() error { stored[key] = received; return nil }); err != nil {
		return nil, err
	}

	var fresh []store.NewDelivery
	var oldOwners, oldSources, oldIDs []string
	for _, i := range order {
		it := items[i]
		received, ok := stored[it.ev.Key]
		if !ok { // published before: read below
			oldOwners, oldSources, oldIDs = append(oldOwners, it.ev.Owner), append(oldSources, it.ev.Source), append(oldIDs, it.ev.EventID)
			continue
		}
		ev := it.ev
		ev.ReceivedAt = received
		dels := make([]store.Delivery, len(it.nds))
		for j, nd := range it.nds {
			nd.Delivery.CreatedAt, nd.Delivery.UpdatedAt = received, received
			dels[j] = nd.Delivery
			fresh = append(fresh, nd)
		}
		out[i] = store.Published{Event: ev, Deliveries: dels, Created: true}
	}
	if len(oldSources) > 0 {
		if err := readPublished(ctx, tx, items, out, oldOwners, oldSources, oldIDs); err != nil {
			return nil, err
		}
	}
	for i, it := range items {
		if it.first >= 0 {
			out[i] = store.Published{Event: out[it.first].Event, Deliveries: out[it.first].Deliveries}
		}
	}
	if len(fresh) == 0 {
		return nil, nil
	}
	if err := insertDeliveries(ctx, tx, fresh); err != nil {
		return nil, err
	}
	return s.startDeliveries(ctx, tx, fresh)
}

// readPublished reads, in tx, the events named by owners, sources and ids, which were
// published before, and their deliveries, into out at the index of the items that name
// them (those not Created there yet). Each statement of a READ COMMITTED transaction sees
// what was committed before it started, so this reads an event whose insert made ours do
// nothing.
func readPublished(ctx context.Context, tx pgx.Tx, items []publishing, out []store.Published, owners, sources, ids []string) error {
	rows, err := tx.Query(ctx, "SELECT "+eventColumns+" FROM events WHERE (owner, source, event_id) IN (SELECT * FROM unnest($1::text[], $2::text[], $3::text[]))",
		owners, sources, ids)
	if err != nil {
		return err
	}
	evs, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (store.Event, error) { return scanEvent(row) })
	if err != nil {
		return err
	}
	byName := make(map[[3]string]store.Event, len(evs))
	var delIDs []string
	for _, e := range evs {
		byName[[3]string{e.Owner, e.Source, e.EventID}] = e
		delIDs = append(delIDs, e.Deliveries...)
	}
	rows, err = tx.Query(ctx, "SELECT "+deliveryColumns+" FROM deliveries WHERE id = ANY($1)", delIDs)
	if err != nil {
		return err
	}
	dels, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (store.Delivery, error) { return scanDelivery(row) })
	if err != nil {
		return err
	}
	byID := make(map[string]store.Delivery, len(dels))
	for _, d := range dels {
		byID[d.ID] = d
	}
	for i, it := range items {
		if it.first >= 0 || out[i].Created {
			continue // a repeat, or stored by this transaction
		}
		e, ok := byName[[3]string{it.ev.Owner, it.ev.Source, it.ev.EventID}]
		if !ok {
			return fmt.Errorf("event %q of %q by %q: neither stored nor found", it.ev.EventID, it.ev.Source, it.ev.Owner)
		}
		p := store.Published{Event: e, Deliveries: make([]store.Delivery, 0, len(e.Deliveries))}
		for _, id := range e.Deliveries {
			if d, ok := byID[id]; ok {
				p.Deliveries = append(p.Deliveries, d)
			}
		}
		out[i] = p
	}
	return nil
}

// insertDeliveries stores new deliveries, QUEUED since now, in one statement.
func insertDeliveries(ctx context.Context, tx pgx.Tx, nds []store.NewDelivery) error {
	n := len(nds)
	ids, events, subs, owners, execs, policies, workflows := make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]bool, n)
	subIDs := make([]string, n)
	for i, nd := range nds {
		d := nd.Delivery
		ids[i], events[i], subs[i], owners[i], execs[i], policies[i], workflows[i] = d.ID, d.Event, d.Subscription, d.Owner, d.Execution, d.DeadLetter, d.Workflow
		subIDs[i] = d.SubscriptionID
	}
	_, err := tx.Exec(ctx, `INSERT INTO deliveries (`+deliveryColumns+`)
		SELECT id, ev, sub, sid, own, ex, ARRAY[ex], wf, $8, dl, now(), now()
		FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::boolean[], $9::text[]) AS d(id, ev, sub, own, ex, dl, wf, sid)`,
		ids, events, subs, owners, execs, policies, workflows, store.DeliveryQueued, subIDs)
	if isUniqueViolation(err) {
		return store.Errorf(store.ErrExists, "a delivery of these IDs exists already: %s", strings.Join(ids, ", "))
	}
	return err
}

// GetEvent reads an event by its key.
func (s *DB) GetEvent(ctx context.Context, key string) (store.Event, error) {
	e, err := scanEvent(s.pool.QueryRow(ctx, "SELECT "+eventColumns+" FROM events WHERE key = $1", key))
	if errors.Is(err, pgx.ErrNoRows) {
		return store.Event{}, store.NotFound("event", key)
	}
	return e, dbError("get event", err)
}

// ListEvents returns one page of the events that match f, newest first (by key), and the
// cursor of the next page. Only the filters set are in the query, so that the planner picks
// the index that serves them (events_by_type, events_by_source, events_by_received, or the
// primary key read backwards). With f.Viewer, the events it owns (events_by_owner) and the
// public ones (events_public) are read by two scans, each of at most a page and one, and
// merged by key: a developer who may see few events costs a few rows, not a scan.
func (s *DB) ListEvents(ctx context.Context, f store.EventFilter, page store.Page) ([]store.Event, string, error) {
	before, err := decodeCursor(page.Cursor)
	if err != nil {
		return nil, "", err
	}
	if _, ok := store.ValidID(before); before != "" && !ok {
		return nil, "", store.Invalid("cursor", "cursor %q is not one this server gave out", page.Cursor)
	}
	var where []string
	args := []any{page.Size() + 1}
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	for _, c := range []struct{ col, v string }{{"key <", before}, {"type =", f.Type}, {"source =", f.Source}} {
		if c.v != "" {
			where = append(where, c.col+" "+arg(c.v))
		}
	}
	if !f.Since.IsZero() {
		where = append(where, "received_at >= "+arg(f.Since))
	}
	scan := func(more ...string) string {
		q := "SELECT " + eventColumns + " FROM events"
		if w := append(slices.Clone(where), more...); len(w) > 0 {
			q += " WHERE " + strings.Join(w, " AND ")
		}
		return q + " ORDER BY key DESC LIMIT $1"
	}
	q := scan()
	if f.Viewer != "" {
		q = "(" + scan("owner = "+arg(f.Viewer), "NOT public") + ") UNION ALL (" + scan("public") + ") ORDER BY key DESC LIMIT $1"
	}
	rows, err := s.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, "", dbError("list events", err)
	}
	evs, next, err := collectPage(rows, page.Size(), scanEvent, func(e store.Event) string { return e.Key })
	return evs, next, dbError("list events", err)
}
