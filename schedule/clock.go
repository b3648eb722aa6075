package schedule

import (
	"strings"
	"time"

	"github.com/robfig/cron/v3"
)

// parser reads cron expressions: 5 fields, or 6 with seconds first, and the descriptors
// (@every 30s, @hourly, @daily, ...).
var parser = cron.NewParser(cron.SecondOptional | cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// clock tells the ticks of a schedule: the instants its cron expression names in its time
// zone.
type clock struct {
	spec  *cron.SpecSchedule // a cron expression or a descriptor other than @every
	every time.Duration      // @every: the interval
	loc   *time.Location
}

// parseClock parses a schedule's cron expression and time zone ("" is UTC). Errors are
// validation errors naming the field.
func parseClock(expr, tz string) (clock, error) {
	loc, err := location(tz)
	if err != nil {
		return clock{}, err
	}
	expr = strings.TrimSpace(expr)
	if expr == "" {
		return clock{}, invalid("cron", "a cron expression is required (5 fields, 6 with seconds first, or a descriptor such as @hourly or @every 30s)")
	}
	if strings.HasPrefix(expr, "CRON_TZ=") || strings.HasPrefix(expr, "TZ=") {
		return clock{}, invalid("cron", "cron %q names its time zone: give it in the timezone field instead", expr)
	}
	parsed, err := parser.Parse(expr)
	if err != nil {
		return clock{}, invalid("cron", "cron %q: %v", expr, err)
	}
	c := clock{loc: loc}
	switch p := parsed.(type) {
	case *cron.SpecSchedule:
		c.spec = p
	case cron.ConstantDelaySchedule:
		// robfig rounds the interval down to whole seconds, and up to one: refuse what it
		// would change rather than fire on another clock than the one asked for.
		asked, err := time.ParseDuration(strings.TrimSpace(strings.TrimPrefix(expr, "@every")))
		if err != nil || asked != p.Delay {
			return clock{}, invalid("cron", "cron %q: the interval of @every must be whole seconds, at least 1s", expr)
		}
		c.every = p.Delay
	default:
		return clock{}, invalid("cron", "cron %q: not a schedule Gantry knows", expr)
	}
	if c.next(time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)).IsZero() {
		return clock{}, invalid("cron", "cron %q never fires", expr)
	}
	return c, nil
}

// location loads an IANA time zone; "" is UTC.
func location(tz string) (*time.Location, error) {
	if tz == "" {
		return time.UTC, nil
	}
	if tz == "Local" { // the server's zone, not a place: a schedule would move with the server
		return nil, invalid("timezone", "timezone must be an IANA name such as Europe/Paris or UTC, not %q", tz)
	}
	loc, err := time.LoadLocation(tz)
	if err != nil {
		return nil, invalid("timezone", "timezone %q is not an IANA time zone (such as Europe/Paris or UTC)", tz)
	}
	return loc, nil
}

// next is the first tick strictly after after, in UTC; zero if there is none.
//
// @every ticks are the multiples of the interval since Go's zero time (so every node
// computes the same ticks, whatever its clock reads when it asks). Other ticks are the
// instants at which the wall clock of the time zone reads a time the expression names,
// each wall-clock time firing once: a time skipped by a daylight saving change (02:30 on
// a spring-forward day) fires at the end of the gap, once however many skipped times the
// expression names in it; a time that happens twice (01:30 on a fall-back day) fires at
// its first occurrence only. robfig's SpecSchedule.Next skips the first and fires the
// second twice, so it is run on the wall clock (as UTC, which has no daylight saving), and
// its answers are mapped back to instants here.
func (c clock) next(after time.Time) time.Time {
	if c.every > 0 {
		return after.UTC().Truncate(c.every).Add(c.every)
	}
	local := after.In(c.loc)
	y, mo, d := local.Date()
	h, mi, s := local.Clock()
	wall := time.Date(y, mo, d, h, mi, s, local.Nanosecond(), time.UTC)
	for {
		wall = c.spec.Next(wall)
		if wall.IsZero() {
			return time.Time{}
		}
		if at := c.instant(wall); at.After(after) {
			return at.UTC()
		}
		// a wall-clock time of a fall-back's second hour, which fired in its first
	}
}

// instant is the first instant at which the zone's wall clock reads wall (given as UTC)
// or later: wall itself, at its first occurrence when it happens twice, or the end of the
// daylight saving gap that skips it.
func (c clock) instant(wall time.Time) time.Time {
	// A zone changes its offset at most once in a day (true of every zone in the tz
	// database): the offsets a day before and a day after are the candidates.
	_, before := wall.Add(-24 * time.Hour).In(c.loc).Zone()
	_, after := wall.Add(24 * time.Hour).In(c.loc).Zone()
	first, second := wall.Add(-time.Duration(before)*time.Second), wall.Add(-time.Duration(after)*time.Second)
	if second.Before(first) {
		first, second = second, first
	}
	for _, at := range []time.Time{first, second} {
		if reads(at, c.loc, wall) {
			return at
		}
	}
	// In the gap: the wall clock jumps past wall at the change of offset, which lies
	// between the two candidates. Find it to the second.
	lo, hi := first, second // the wall clock reads before wall at lo, past it at hi
	for hi.Sub(lo) > time.Second {
		mid := lo.Add(hi.Sub(lo) / 2).Truncate(time.Second)
		if wallClock(mid, c.loc).Before(wall) {
			lo = mid
		} else {
			hi = mid
		}
	}
	return hi
}

// reads reports whether the wall clock of loc reads wall at instant at.
func reads(at time.Time, loc *time.Location, wall time.Time) bool {
	return wallClock(at, loc).Equal(wall)
}

// wallClock is what the wall clock of loc reads at instant at, as a UTC time.
func wallClock(at time.Time, loc *time.Location) time.Time {
	_, off := at.In(loc).Zone()
	return at.UTC().Add(time.Duration(off) * time.Second)
}
