package bolt

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"time"

	"github.com/gantry-dev/gantry/store"
	"github.com/oklog/ulid/v2"
	bolt "go.etcd.io/bbolt"
)

var (
	bucketEvents          = []byte("events")            // Key (a ULID) -> store.Event JSON
	bucketEventBySource   = []byte("event_by_source")   // owner, source and event id (see eventSourceKey) -> Key
	bucketDeliveries      = []byte("deliveries")        // ID (a ULID) -> store.Delivery JSON
	bucketDeliveryByEvent = []byte("delivery_by_event") // event Key \x00 delivery ID -> empty
	bucketDeliveryBySub   = []byte("delivery_by_sub")   // subscription \x00 delivery ID -> empty
	// subscription ID \x00 status \x00 delivery ID -> empty (see deliveryStatusKey)
	bucketDeliveryBySubStatus = []byte("delivery_by_sub_status")
)

// eventSourceKey names an event by its publisher (Owner) and its source and id, the
// CloudEvents identity: one publisher's, so that nobody reads or blocks another's event by
// its source and id. Each of owner and source comes after its length (uvarint), so that no
// two triples make the same key.
func eventSourceKey(owner, source, id string) []byte {
	k := make([]byte, 0, 2*binary.MaxVarintLen64+len(owner)+len(source)+len(id))
	k = append(binary.AppendUvarint(k, uint64(len(owner))), owner...)
	k = append(binary.AppendUvarint(k, uint64(len(source))), source...)
	return append(k, id...)
}

func indexKey(prefix, id string) []byte { return append(append([]byte(prefix), 0), id...) }

// deliveryStatusKey is the key of delivery id, of subscription ID sub, in
// bucketDeliveryBySubStatus while its status is status: the deliveries of a subscription
// with a status (its dead letters) are one range, in ID order.
func deliveryStatusKey(sub, status, id string) []byte { return indexKey(sub+"\x00"+status, id) }

// putDeliveryStatus moves delivery d, whose status was was ("" when it is new), to its
// status in bucketDeliveryBySubStatus. A delivery without a subscription ID has no entry.
func putDeliveryStatus(tx *bolt.Tx, d store.Delivery, was string) error {
	if d.SubscriptionID == "" {
		return nil
	}
	b := tx.Bucket(bucketDeliveryBySubStatus)
	if was != "" && was != d.Status {
		if err := b.Delete(deliveryStatusKey(d.SubscriptionID, was, d.ID)); err != nil {
			return fmt.Errorf("index delivery %s: %w", d.ID, err)
		}
	}
	if err := b.Put(deliveryStatusKey(d.SubscriptionID, d.Status, d.ID), nil); err != nil {
		return fmt.Errorf("index delivery %s: %w", d.ID, err)
	}
	return nil
}

// prepareDelivery makes nd ready to store at now, outside the write (Batch may run a write
// more than once, and IDs are made once): the delivery's ID (unless set), status and
// times, and a copy of its call or run naming the delivery. The event's Key is set later.
func (s *DB) prepareDelivery(nd store.NewDelivery, now time.Time) (store.NewDelivery, error) {
	d := &nd.Delivery
	if d.ID == "" {
		d.ID = s.NewID()
	}
	switch {
	case nd.Call != nil && nd.Run == nil:
		c := *nd.Call
		c.Task.Delivery = d.ID
		nd.Call, d.Execution, d.Workflow = &c, c.Task.ID, false
	case nd.Run != nil && nd.Call == nil:
		r, err := s.prepareRun(*nd.Run)
		if err != nil {
			return nd, err
		}
		r.Delivery = d.ID
		nd.Run, d.Execution, d.Workflow = &r, r.ID, true
	default:
		return nd, store.Invalid("delivery", "a delivery is made by a call or by a workflow run, exactly one of them")
	}
	d.Status, d.CreatedAt, d.UpdatedAt = store.DeliveryQueued, now, now
	d.Executions = []string{d.Execution}
	return nd, nil
}

// acceptDelivery accepts the call (as EnqueueTask does) or creates the run (as CreateRun
// does) of a prepared delivery, in tx, and returns the change to send once tx committed.
func (s *DB) acceptDelivery(tx *bolt.Tx, nd store.NewDelivery, now time.Time) (store.Change, error) {
	if nd.Call != nil {
		if err := enqueueTx(tx, nd.Call.Task, nd.Call.Execution, now); err != nil {
			return store.Change{}, fmt.Errorf("accept the call of delivery %s: %w", nd.Delivery.ID, err)
		}
		return store.Change{Kind: store.ChangeTask, Name: nd.Call.Task.ID}, nil
	}
	r, created, err := s.createRunTx(tx, *nd.Run, nd.RunEvents)
	if err == nil && !created {
		err = store.Errorf(store.ErrConflict, "run %s of delivery %s: its idempotency key made run %s already", nd.Run.ID, nd.Delivery.ID, r.ID)
	}
	if err != nil {
		return store.Change{}, fmt.Errorf("create the run of delivery %s: %w", nd.Delivery.ID, err)
	}
	return store.Change{Kind: store.ChangeRun, Name: r.ID}, nil
}

// putDelivery stores a new delivery and its index entries (by event, by subscription, by
// subscription ID and status).
func putDelivery(tx *bolt.Tx, d store.Delivery) error {
	if err := putJSON(tx.Bucket(bucketDeliveries), []byte(d.ID), d); err != nil {
		return err
	}
	if err := tx.Bucket(bucketDeliveryByEvent).Put(indexKey(d.Event, d.ID), nil); err != nil {
		return fmt.Errorf("index delivery %s: %w", d.ID, err)
	}
	if err := putDeliveryStatus(tx, d, ""); err != nil {
		return err
	}
	return tx.Bucket(bucketDeliveryBySub).Put(indexKey(d.Subscription, d.ID), nil)
}

func getDeliveryTx(tx *bolt.Tx, id string) (store.Delivery, error) {
	var d store.Delivery
	found, err := getJSON(tx.Bucket(bucketDeliveries), []byte(id), &d)
	if err == nil && !found {
		err = store.NotFound("delivery", id)
	}
	return d, err
}

// deliveryDone ends delivery id, made by the call or run exec that ended with the
// execution status status, in tx (see store.Delivery): unless exec is no longer its
// current execution (it was redelivered since) or it ended already. Every write that takes
// a call out of the queue for good (taskDone) or ends a run (UpdateRun) calls it.
func (s *DB) deliveryDone(tx *bolt.Tx, id, exec, status string) error {
	if id == "" {
		return nil
	}
	var d store.Delivery
	found, err := getJSON(tx.Bucket(bucketDeliveries), []byte(id), &d)
	if err != nil || !found || d.Execution != exec || d.Done() {
		return err
	}
	was := d.Status
	d.Status, d.UpdatedAt = store.DeliveryDone(status, d.DeadLetter), s.now()
	if err := putDeliveryStatus(tx, d, was); err != nil {
		return err
	}
	return putJSON(tx.Bucket(bucketDeliveries), []byte(id), d)
}

// PublishEvents stores each event with its deliveries, their calls accepted and their runs
// created, in one transaction, on disk (fsync) before it returns (see store.Events). An
// event whose owner, source and id were stored before, or earlier in events, writes
// nothing and gets the stored one. Concurrent publishers share commits (bbolt's Batch), as EnqueueTask
// callers do; their changes are delivered afterwards under wmu.
func (s *DB) PublishEvents(ctx context.Context, events []store.EventPublish) ([]store.Published, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	now := s.now()
	ready := make([]store.EventPublish, len(events))
	if len(events) == 0 {
		return nil, nil
	}
	for i, p := range events {
		if err := store.ValidateEvent(p.Event); err != nil {
			return nil, err
		}
		p.Event.Key, p.Event.ReceivedAt, p.Event.Deliveries = s.NewID(), now, nil
		ds := make([]store.NewDelivery, len(p.Deliveries))
		for j, nd := range p.Deliveries {
			nd.Delivery.Event = p.Event.Key
			var err error
			if ds[j], err = s.prepareDelivery(nd, now); err != nil {
				return nil, fmt.Errorf("event %d, delivery %d: %w", i, j, err)
			}
			p.Event.Deliveries = append(p.Event.Deliveries, ds[j].Delivery.ID)
		}
		p.Deliveries = ds
		ready[i] = p
	}
	var out []store.Published
	err := s.batch(ctx, func(tx *bolt.Tx) ([]store.Change, error) {
		var changes []store.Change
		out = make([]store.Published, 0, len(ready))
		for _, p := range ready {
			pub, err := s.publishTx(tx, p, now, &changes)
			if err != nil {
				return nil, err
			}
			out = append(out, pub)
		}
		return changes, nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// publishTx stores one prepared event and its deliveries in tx, or reads the event stored
// under its owner, source and id, appending the changes to send to changes.
func (s *DB) publishTx(tx *bolt.Tx, p store.EventPublish, now time.Time, changes *[]store.Change) (store.Published, error) {
	bySource := tx.Bucket(bucketEventBySource)
	sk := eventSourceKey(p.Event.Owner, p.Event.Source, p.Event.EventID)
	if key := bySource.Get(sk); key != nil {
		ev, err := getEventTx(tx, string(key))
		if err != nil {
			return store.Published{}, err
		}
		pub := store.Published{Event: ev, Deliveries: make([]store.Delivery, 0, len(ev.Deliveries))}
		for _, id := range ev.Deliveries {
			d, err := getDeliveryTx(tx, id)
			if err != nil {
				return store.Published{}, err
			}
			pub.Deliveries = append(pub.Deliveries, d)
		}
		return pub, nil
	}
	if err := bySource.Put(sk, []byte(p.Event.Key)); err != nil {
		return store.Published{}, fmt.Errorf("index event %s: %w", p.Event.Key, err)
	}
	if err := putJSON(tx.Bucket(bucketEvents), []byte(p.Event.Key), p.Event); err != nil {
		return store.Published{}, err
	}
	pub := store.Published{Event: p.Event, Created: true, Deliveries: make([]store.Delivery, 0, len(p.Deliveries))}
	for _, nd := range p.Deliveries {
		c, err := s.acceptDelivery(tx, nd, now)
		if err != nil {
			return store.Published{}, err
		}
		if err := putDelivery(tx, nd.Delivery); err != nil {
			return store.Published{}, err
		}
		*changes = append(*changes, c)
		pub.Deliveries = append(pub.Deliveries, nd.Delivery)
	}
	return pub, nil
}

func getEventTx(tx *bolt.Tx, key string) (store.Event, error) {
	var ev store.Event
	found, err := getJSON(tx.Bucket(bucketEvents), []byte(key), &ev)
	if err == nil && !found {
		err = store.NotFound("event", key)
	}
	return ev, err
}

// GetEvent reads an event by its Key.
func (s *DB) GetEvent(ctx context.Context, key string) (store.Event, error) {
	var ev store.Event
	err := s.view(ctx, func(tx *bolt.Tx) error {
		var err error
		ev, err = getEventTx(tx, key)
		return err
	})
	return ev, err
}

// GetDelivery reads a delivery by its ID.
func (s *DB) GetDelivery(ctx context.Context, id string) (store.Delivery, error) {
	var d store.Delivery
	err := s.view(ctx, func(tx *bolt.Tx) error {
		var err error
		d, err = getDeliveryTx(tx, id)
		return err
	})
	return d, err
}

// eventHead is the part of a stored event that filters look at.
type eventHead struct {
	Source     string    `json:"source"`
	Type       string    `json:"type"`
	Owner      string    `json:"owner"`
	Public     bool      `json:"public"`
	ReceivedAt time.Time `json:"received_at"`
}

// matches reports whether an event of head h passes f.
func (h eventHead) matches(f store.EventFilter) bool {
	return (f.Type == "" || h.Type == f.Type) && (f.Source == "" || h.Source == f.Source) && !h.ReceivedAt.Before(f.Since) &&
		(f.Viewer == "" || h.Public || h.Owner == f.Viewer)
}

// decodeCursor reads a cursor this store gave out: the base64 of an ID (a ULID).
func decodeCursor(cursor string) ([]byte, error) {
	raw, err := base64.RawURLEncoding.DecodeString(cursor)
	if _, perr := ulid.ParseStrict(string(raw)); err != nil || perr != nil {
		return nil, store.Invalid("cursor", "cursor %q is not one this server gave out", cursor)
	}
	return raw, nil
}

// ListEvents returns one page of the events that match f, newest first (by Key), and the
// cursor of the next page ("" on the last). It scans the events from the cursor back,
// reading only the head of those that f (Viewer included) leaves out. A Key is made when
// its event is received, so the scan for f.Since stops at the first Key made before it.
func (s *DB) ListEvents(ctx context.Context, f store.EventFilter, page store.Page) ([]store.Event, string, error) {
	var before []byte
	if page.Cursor != "" {
		var err error
		if before, err = decodeCursor(page.Cursor); err != nil {
			return nil, "", err
		}
	}
	limit := page.Size()
	out := []store.Event{}
	more := false
	err := s.view(ctx, func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketEvents)
		c := b.Cursor()
		var k, v []byte
		if before == nil {
			k, v = c.Last()
		} else if k = seekBefore(c, before); k != nil {
			v = b.Get(k)
		}
		for ; k != nil; k, v = c.Prev() {
			if !f.Since.IsZero() {
				if id, err := ulid.ParseStrict(string(k)); err == nil && ulid.Time(id.Time()).Before(f.Since.Truncate(time.Millisecond)) {
					return nil // this event and every older one were received before Since
				}
			}
			var h eventHead
			if err := json.Unmarshal(v, &h); err != nil {
				return fmt.Errorf("decode event %s: %w", k, err)
			}
			if !h.matches(f) {
				continue
			}
			if len(out) == limit {
				more = true
				return nil
			}
			var ev store.Event
			if err := json.Unmarshal(v, &ev); err != nil {
				return fmt.Errorf("decode event %s: %w", k, err)
			}
			out = append(out, ev)
		}
		return nil
	})
	if err != nil {
		return nil, "", err
	}
	if !more {
		return out, "", nil
	}
	return out, base64.RawURLEncoding.EncodeToString([]byte(out[len(out)-1].Key)), nil
}

// deliveryHead is the part of a stored delivery that filters look at.
type deliveryHead struct {
	Event          string `json:"event"`
	Subscription   string `json:"subscription"`
	SubscriptionID string `json:"subscription_id"`
	Status         string `json:"status"`
}

// ListDeliveries returns one page of the deliveries that match f, oldest first (by ID),
// and the cursor of the next page ("" on the last). With an event, a subscription ID and
// a status, or a subscription it reads only that one's index; otherwise every delivery.
func (s *DB) ListDeliveries(ctx context.Context, f store.DeliveryFilter, page store.Page) ([]store.Delivery, string, error) {
	if err := f.Validate(); err != nil {
		return nil, "", err
	}
	var after []byte
	if page.Cursor != "" {
		var err error
		if after, err = decodeCursor(page.Cursor); err != nil {
			return nil, "", err
		}
	}
	limit := page.Size()
	out := []store.Delivery{}
	more := false
	err := s.view(ctx, func(tx *bolt.Tx) error {
		deliveries := tx.Bucket(bucketDeliveries)
		// The IDs in order: from an index (the ID after its prefix) or the deliveries themselves.
		var c *bolt.Cursor
		var prefix []byte
		switch {
		case f.Event != "":
			c, prefix = tx.Bucket(bucketDeliveryByEvent).Cursor(), indexKey(f.Event, "")
		case f.SubscriptionID != "" && f.Status != "":
			c, prefix = tx.Bucket(bucketDeliveryBySubStatus).Cursor(), deliveryStatusKey(f.SubscriptionID, f.Status, "")
		case f.Subscription != "":
			c, prefix = tx.Bucket(bucketDeliveryBySub).Cursor(), indexKey(f.Subscription, "")
		default:
			c = deliveries.Cursor()
		}
		start := append(bytes.Clone(prefix), after...)
		k, _ := c.Seek(start)
		if after != nil && bytes.Equal(k, start) {
			k, _ = c.Next()
		}
		for ; k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
			id := k[len(prefix):]
			v := deliveries.Get(id)
			if v == nil {
				continue
			}
			var h deliveryHead
			if err := json.Unmarshal(v, &h); err != nil {
				return fmt.Errorf("decode delivery %s: %w", id, err)
			}
			if f.Event != "" && h.Event != f.Event || f.Subscription != "" && h.Subscription != f.Subscription ||
				f.SubscriptionID != "" && h.SubscriptionID != f.SubscriptionID || f.Status != "" && h.Status != f.Status {
				continue
			}
			if len(out) == limit {
				more = true
				return nil
			}
			var d store.Delivery
			if err := json.Unmarshal(v, &d); err != nil {
				return fmt.Errorf("decode delivery %s: %w", id, err)
			}
			out = append(out, d)
		}
		return nil
	})
	if err != nil {
		return nil, "", err
	}
	if !more {
		return out, "", nil
	}
	return out, base64.RawURLEncoding.EncodeToString([]byte(out[len(out)-1].ID)), nil
}

// Redeliver makes a final delivery QUEUED again, with next's call accepted or run created,
// and next's dead-letter policy when it has one, in one write (see store.Events).
func (s *DB) Redeliver(ctx context.Context, id string, next store.NewDelivery) (store.Delivery, error) {
	now := s.now()
	policy := next.Delivery.DeadLetter
	next.Delivery = store.Delivery{ID: id}
	nd, err := s.prepareDelivery(next, now)
	if err != nil {
		return store.Delivery{}, err
	}
	var out store.Delivery
	err = s.update(ctx, func(tx *bolt.Tx) ([]store.Change, error) {
		d, err := getDeliveryTx(tx, id)
		if err != nil {
			return nil, err
		}
		if !d.Done() {
			return nil, store.Errorf(store.ErrConflict, "delivery %q is %s: only a final delivery is redelivered", id, d.Status)
		}
		c, err := s.acceptDelivery(tx, nd, now)
		if err != nil {
			return nil, err
		}
		was := d.Status
		d.Execution, d.Workflow, d.Status, d.UpdatedAt = nd.Delivery.Execution, nd.Delivery.Workflow, store.DeliveryQueued, now
		d.Executions = append(d.Executions, d.Execution)
		if policy != "" {
			d.DeadLetter = policy
		}
		if err := putDeliveryStatus(tx, d, was); err != nil {
			return nil, err
		}
		out = d
		return []store.Change{c}, putJSON(tx.Bucket(bucketDeliveries), []byte(id), d)
	})
	if err != nil {
		return store.Delivery{}, err
	}
	return out, nil
}
