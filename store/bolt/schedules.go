package bolt

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/gantry-dev/gantry/store"
	bolt "go.etcd.io/bbolt"
)

var bucketSchedules = []byte("schedules") // name -> store.Schedule JSON

func scheduleChange(name string) store.Change {
	return store.Change{Kind: store.ChangeSchedule, Name: name}
}

// getScheduleTx reads a schedule; found is false without it.
func getScheduleTx(tx *bolt.Tx, name string) (store.Schedule, bool, error) {
	var sc store.Schedule
	found, err := getJSON(tx.Bucket(bucketSchedules), []byte(name), &sc)
	return sc, found, err
}

// CreateSchedule stores a new schedule with a new ID, CreatedAt and UpdatedAt now;
// ErrExists if the name is taken.
func (s *DB) CreateSchedule(ctx context.Context, sc store.Schedule) (store.Schedule, error) {
	if sc.Name == "" {
		return store.Schedule{}, store.Invalid("name", "a schedule has a name")
	}
	sc.ID = s.NewID()
	err := s.update(ctx, func(tx *bolt.Tx) ([]store.Change, error) {
		sc.CreatedAt = s.now()
		sc.UpdatedAt = sc.CreatedAt
		return []store.Change{scheduleChange(sc.Name)}, putNew(tx.Bucket(bucketSchedules), "schedule", sc.Name, sc)
	})
	if err != nil {
		return store.Schedule{}, err
	}
	return sc, nil
}

// UpdateSchedule applies fn to the stored schedule in one write, after guard vetted its
// stored owner; fn may not rename it nor change its ID or LastTick (ClaimTick's).
// UpdatedAt moves (now, or past the one stored when the clock did not move: ClaimTick
// compares it), CreatedAt is kept.
func (s *DB) UpdateSchedule(ctx context.Context, name string, fn func(*store.Schedule) error, guard store.AppGuard) (store.Schedule, error) {
	var out store.Schedule
	err := s.update(ctx, func(tx *bolt.Tx) ([]store.Change, error) {
		sc, found, err := getScheduleTx(tx, name)
		switch {
		case err != nil:
			return nil, err
		case !found:
			return nil, store.NotFound("schedule", name)
		}
		if guard != nil {
			if err := guard(sc.Owner); err != nil {
				return nil, err
			}
		}
		old := sc
		if err := fn(&sc); err != nil {
			return nil, err
		}
		switch {
		case sc.Name != name:
			return nil, store.Invalid("name", "a schedule cannot be renamed (%q to %q)", name, sc.Name)
		case sc.ID != old.ID:
			return nil, store.Invalid("id", "a schedule keeps its ID")
		case !sc.LastTick.Equal(old.LastTick):
			return nil, store.Invalid("last_tick", "a schedule's last tick moves only when a tick is claimed")
		}
		sc.CreatedAt, sc.UpdatedAt = old.CreatedAt, s.now()
		if !sc.UpdatedAt.After(old.UpdatedAt) {
			sc.UpdatedAt = old.UpdatedAt.Add(time.Millisecond)
		}
		out = sc
		return []store.Change{scheduleChange(name)}, putJSON(tx.Bucket(bucketSchedules), []byte(name), sc)
	})
	if err != nil {
		return store.Schedule{}, err
	}
	return out, nil
}

// GetSchedule reads one schedule.
func (s *DB) GetSchedule(ctx context.Context, name string) (store.Schedule, error) {
	var sc store.Schedule
	err := s.view(ctx, func(tx *bolt.Tx) error {
		var found bool
		var err error
		sc, found, err = getScheduleTx(tx, name)
		if err == nil && !found {
			err = store.NotFound("schedule", name)
		}
		return err
	})
	return sc, err
}

// ListSchedules returns one page of the schedules that pass f, in name order, and the
// cursor of the next page ("" on the last).
func (s *DB) ListSchedules(ctx context.Context, f store.ScheduleFilter, page store.Page) ([]store.Schedule, string, error) {
	out := []store.Schedule{}
	var next string
	err := s.view(ctx, func(tx *bolt.Tx) error {
		var err error
		out, next, err = listPage(tx.Bucket(bucketSchedules), nil, page, func(v []byte) (sc store.Schedule, kept bool, err error) {
			if err := json.Unmarshal(v, &sc); err != nil {
				return sc, false, fmt.Errorf("decode schedule: %w", err)
			}
			if f.Visible != nil && !f.Visible(sc) {
				return sc, false, nil
			}
			return sc, true, nil
		})
		return err
	})
	if err != nil {
		return nil, "", err
	}
	return out, next, nil
}

// AllSchedules reads every schedule, in name order.
func (s *DB) AllSchedules(ctx context.Context) ([]store.Schedule, error) {
	out := []store.Schedule{}
	err := s.view(ctx, func(tx *bolt.Tx) error {
		return tx.Bucket(bucketSchedules).ForEach(func(_, v []byte) error {
			var sc store.Schedule
			if err := json.Unmarshal(v, &sc); err != nil {
				return fmt.Errorf("decode schedule: %w", err)
			}
			out = append(out, sc)
			return nil
		})
	})
	return out, err
}

// DeleteSchedule removes a schedule after guard vetted its owner.
func (s *DB) DeleteSchedule(ctx context.Context, name string, guard store.AppGuard) error {
	return s.update(ctx, func(tx *bolt.Tx) ([]store.Change, error) {
		sc, found, err := getScheduleTx(tx, name)
		switch {
		case err != nil:
			return nil, err
		case !found:
			return nil, store.NotFound("schedule", name)
		}
		if guard != nil {
			if err := guard(sc.Owner); err != nil {
				return nil, err
			}
		}
		return []store.Change{scheduleChange(name)}, tx.Bucket(bucketSchedules).Delete([]byte(name))
	})
}

// ClaimTick claims tick of the schedule name whose ID is id, once (see store.Schedules):
// bbolt's writes are serialised, so of claims of one tick only the first finds it after
// LastTick, and a claim planned from a schedule written since (seen is not its UpdatedAt
// any more) or disabled finds it changed. The claim moves LastTick and NextRun and accepts
// call in the same write; a lost claim writes nothing.
func (s *DB) ClaimTick(ctx context.Context, id, name string, seen, tick, next time.Time, call *store.StepCall) (claimed bool, err error) {
	now := s.now()
	err = s.update(ctx, func(tx *bolt.Tx) ([]store.Change, error) {
		claimed = false
		sc, found, err := getScheduleTx(tx, name)
		if err != nil || !found || sc.ID != id || !sc.Enabled || !sc.UpdatedAt.Equal(seen) || !tick.After(sc.LastTick) {
			return nil, err
		}
		sc.LastTick, sc.NextRun = tick, next
		if err := putJSON(tx.Bucket(bucketSchedules), []byte(name), sc); err != nil {
			return nil, err
		}
		changes := []store.Change{scheduleChange(name)}
		if call != nil {
			if err := enqueueTx(tx, call.Task, call.Execution, now); err != nil {
				return nil, fmt.Errorf("accept the call of schedule %s at %s: %w", name, tick.Format(time.RFC3339), err)
			}
			changes = append(changes, store.Change{Kind: store.ChangeTask, Name: call.Task.ID})
		}
		claimed = true
		return changes, nil
	})
	return claimed, err
}
