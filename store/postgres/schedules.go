package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/gantry-dev/gantry/store"
	"github.com/jackc/pgx/v5"
)

const scheduleColumns = "name, id, owner, last_tick, next_run, schedule, created_at, updated_at"

// scanSchedule reads scheduleColumns: the document, then the columns, which are the truth
// of what they hold (ClaimTick moves last_tick and next_run alone).
func scanSchedule(row pgx.Row) (store.Schedule, error) {
	var sc store.Schedule
	var name, id, owner string
	var last, next *time.Time
	var doc []byte
	var created, updated time.Time
	if err := row.Scan(&name, &id, &owner, &last, &next, &doc, &created, &updated); err != nil {
		return sc, err
	}
	if err := json.Unmarshal(doc, &sc); err != nil {
		return sc, fmt.Errorf("decode schedule %s: %w", name, err)
	}
	sc.Name, sc.ID, sc.Owner, sc.LastTick, sc.NextRun, sc.CreatedAt, sc.UpdatedAt = name, id, owner, timeOrZero(last), timeOrZero(next), created, updated
	return sc, nil
}

func scheduleChanged(name string) []store.Change {
	return []store.Change{{Kind: store.ChangeSchedule, Name: name}}
}

// CreateSchedule stores a new schedule with a new ID, created and updated now; ErrExists
// if the name is taken (the primary key decides between two nodes creating it at once).
func (s *DB) CreateSchedule(ctx context.Context, sc store.Schedule) (store.Schedule, error) {
	if sc.Name == "" {
		return store.Schedule{}, store.Invalid("name", "a schedule needs a name")
	}
	sc.ID = s.NewID()
	doc, err := jsonValue(sc)
	if err != nil {
		return store.Schedule{}, err
	}
	err = s.write(ctx, "create schedule", func(tx pgx.Tx) ([]store.Change, error) {
		err := tx.QueryRow(ctx, `INSERT INTO schedules (`+scheduleColumns+`) VALUES ($1, $2, $3, $4, $5, $6, now(), now())
			ON CONFLICT (name) DO NOTHING RETURNING created_at, updated_at`,
			sc.Name, sc.ID, sc.Owner, optionalTime(sc.LastTick), optionalTime(sc.NextRun), doc).Scan(&sc.CreatedAt, &sc.UpdatedAt)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil, store.Errorf(store.ErrExists, "schedule %q already exists", sc.Name)
		}
		return scheduleChanged(sc.Name), err
	})
	if err != nil {
		return store.Schedule{}, err
	}
	return sc, nil
}

// UpdateSchedule applies fn to the stored schedule in one transaction, its row locked:
// guard vets the stored owner first. fn may not rename it nor change its ID or LastTick
// (ClaimTick's); the NextRun it sets is stored, and UpdatedAt becomes now (or a
// microsecond past the one stored, when now is not after it: ClaimTick compares it).
func (s *DB) UpdateSchedule(ctx context.Context, name string, fn func(*store.Schedule) error, guard store.AppGuard) (store.Schedule, error) {
	var sc store.Schedule
	err := s.write(ctx, "update schedule", func(tx pgx.Tx) ([]store.Change, error) {
		old, err := scanSchedule(tx.QueryRow(ctx, "SELECT "+scheduleColumns+" FROM schedules WHERE name = $1 FOR UPDATE", name))
		if errors.Is(err, pgx.ErrNoRows) {
			return nil, store.NotFound("schedule", name)
		}
		if err != nil {
			return nil, err
		}
		if guard != nil {
			if err := guard(old.Owner); err != nil {
				return nil, err
			}
		}
		sc = old
		if err := fn(&sc); err != nil {
			return nil, err
		}
		switch {
		case sc.Name != name:
			return nil, store.Invalid("name", "a schedule cannot be renamed (%q to %q)", name, sc.Name)
		case sc.ID != old.ID:
			return nil, store.Invalid("id", "schedule %q cannot change its ID", name)
		case !sc.LastTick.Equal(old.LastTick):
			return nil, store.Invalid("last_tick", "the last tick of schedule %q is the scheduler's to move", name)
		}
		sc.CreatedAt = old.CreatedAt
		doc, err := jsonValue(sc)
		if err != nil {
			return nil, err
		}
		err = tx.QueryRow(ctx, `UPDATE schedules SET owner = $2, next_run = $3, schedule = $4,
			updated_at = greatest(now(), updated_at + interval '1 microsecond') WHERE name = $1 RETURNING updated_at`,
			name, sc.Owner, optionalTime(sc.NextRun), doc).Scan(&sc.UpdatedAt)
		return scheduleChanged(name), err
	})
	if err != nil {
		return store.Schedule{}, err
	}
	return sc, nil
}

// GetSchedule reads one schedule.
func (s *DB) GetSchedule(ctx context.Context, name string) (store.Schedule, error) {
	sc, err := scanSchedule(s.pool.QueryRow(ctx, "SELECT "+scheduleColumns+" FROM schedules WHERE name = $1", name))
	if errors.Is(err, pgx.ErrNoRows) {
		return store.Schedule{}, store.NotFound("schedule", name)
	}
	return sc, dbError("get schedule", err)
}

// ListSchedules returns one page of the schedules that pass f, in name order, and the
// cursor of the next page; f.Visible is applied while the rows are read.
func (s *DB) ListSchedules(ctx context.Context, f store.ScheduleFilter, page store.Page) ([]store.Schedule, string, error) {
	read := func(after string, n int) ([]store.Schedule, error) {
		rows, err := s.pool.Query(ctx, "SELECT "+scheduleColumns+" FROM schedules WHERE name > $1 ORDER BY name LIMIT $2", after, n)
		if err != nil {
			return nil, err
		}
		return pgx.CollectRows(rows, func(row pgx.CollectableRow) (store.Schedule, error) { return scanSchedule(row) })
	}
	scs, next, err := visiblePage(page, f.Visible, func(sc store.Schedule) string { return sc.Name }, read)
	return scs, next, dbError("list schedules", err)
}

// AllSchedules reads every schedule, in name order, for the scheduler.
func (s *DB) AllSchedules(ctx context.Context) ([]store.Schedule, error) {
	rows, err := s.pool.Query(ctx, "SELECT "+scheduleColumns+" FROM schedules ORDER BY name")
	if err != nil {
		return nil, dbError("read schedules", err)
	}
	scs, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (store.Schedule, error) { return scanSchedule(row) })
	return scs, dbError("read schedules", err)
}

// DeleteSchedule removes a schedule; guard vets its owner, its row locked.
func (s *DB) DeleteSchedule(ctx context.Context, name string, guard store.AppGuard) error {
	return s.write(ctx, "delete schedule", func(tx pgx.Tx) ([]store.Change, error) {
		return scheduleChanged(name), deleteOwned(ctx, tx, "schedules", "schedule", name, guard)
	})
}

// ClaimTick claims tick of the schedule whose ID is id, once across nodes: one conditional
// UPDATE moves last_tick (and next_run) only while the stored last tick is before tick,
// the schedule is enabled, and its updated_at is still seen (no write since the caller read
// it: a schedule disabled or changed meanwhile keeps its next_run, and fires nothing).
// Two nodes claiming at once, the second waits on the row's lock, then finds the tick
// taken (PostgreSQL evaluates the condition again on the row the first committed) and
// updates nothing. The call, when not nil, is accepted in the same transaction (as
// EnqueueTask accepts it). A claim sends ChangeSchedule naming the schedule, and the
// call's ChangeTask; a tick not claimed writes and sends nothing.
func (s *DB) ClaimTick(ctx context.Context, id, name string, seen, tick, next time.Time, call *store.StepCall) (claimed bool, err error) {
	var accept *acceptReq
	if call != nil {
		if accept, err = newAccept(call.Task, call.Execution); err != nil {
			return false, err
		}
	}
	err = s.write(ctx, "claim tick", func(tx pgx.Tx) ([]store.Change, error) {
		claimed = false
		var stored string
		err := tx.QueryRow(ctx, `UPDATE schedules SET last_tick = $2, next_run = $3
			WHERE id = $1 AND (last_tick IS NULL OR last_tick < $2) AND updated_at = $4
				AND (schedule->>'enabled')::boolean RETURNING name`, id, tick, optionalTime(next), seen).Scan(&stored)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		changes := scheduleChanged(stored)
		if accept != nil {
			tasks, err := storeTasks(ctx, tx, []*acceptReq{accept})
			if err != nil {
				return nil, err
			}
			changes = append(changes, tasks...)
		}
		claimed = true
		return changes, nil
	})
	return claimed, err
}
