package schedule

import (
	"testing"
	"time"
)

// at parses an RFC 3339 time.
func at(t *testing.T, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// ticks are the n ticks of cron in tz after from, RFC 3339 in UTC.
func ticks(t *testing.T, cron, tz, from string, n int) []string {
	t.Helper()
	c, err := parseClock(cron, tz)
	if err != nil {
		t.Fatalf("parse %q in %q: %v", cron, tz, err)
	}
	var out []string
	for tick := at(t, from); len(out) < n; {
		tick = c.next(tick)
		if tick.IsZero() {
			break
		}
		out = append(out, tick.Format(time.RFC3339))
	}
	return out
}

func TestTicks(t *testing.T) {
	cases := []struct {
		name, cron, tz, from string
		want                 []string
	}{
		{name: "a five-field expression fires at its minutes", cron: "*/15 * * * *", from: "2026-05-01T10:07:30Z",
			want: []string{"2026-05-01T10:15:00Z", "2026-05-01T10:30:00Z", "2026-05-01T10:45:00Z"}},
		{name: "a six-field expression takes seconds first", cron: "*/20 * * * * *", from: "2026-05-01T10:00:05Z",
			want: []string{"2026-05-01T10:00:20Z", "2026-05-01T10:00:40Z", "2026-05-01T10:01:00Z"}},
		{name: "@every 30s ticks on the round half minutes", cron: "@every 30s", from: "2026-05-01T10:00:05.5Z",
			want: []string{"2026-05-01T10:00:30Z", "2026-05-01T10:01:00Z", "2026-05-01T10:01:30Z"}},
		{name: "@every ticks the same whatever the time zone", cron: "@every 2s", tz: "Asia/Kolkata", from: "2026-05-01T10:00:01Z",
			want: []string{"2026-05-01T10:00:02Z", "2026-05-01T10:00:04Z"}},
		{name: "a tick at the time asked for is not after it", cron: "@every 1m", from: "2026-05-01T10:01:00Z",
			want: []string{"2026-05-01T10:02:00Z"}},
		{name: "@hourly fires on the hour", cron: "@hourly", from: "2026-05-01T10:00:00Z",
			want: []string{"2026-05-01T11:00:00Z", "2026-05-01T12:00:00Z"}},
		{name: "@daily fires at midnight of the time zone", cron: "@daily", tz: "Europe/Paris", from: "2026-05-01T10:00:00Z",
			want: []string{"2026-05-01T22:00:00Z", "2026-05-02T22:00:00Z"}},
		{name: "a time zone moves the hour", cron: "0 9 * * *", tz: "America/New_York", from: "2026-01-10T00:00:00Z",
			want: []string{"2026-01-10T14:00:00Z", "2026-01-11T14:00:00Z"}},
		{name: "a time zone with a half-hour offset", cron: "0 9 * * *", tz: "Asia/Kolkata", from: "2026-01-10T00:00:00Z",
			want: []string{"2026-01-10T03:30:00Z", "2026-01-11T03:30:00Z"}},
		{name: "a day of the week alone fires on that day", cron: "0 12 * * MON", from: "2026-05-01T00:00:00Z", // a Friday
			want: []string{"2026-05-04T12:00:00Z", "2026-05-11T12:00:00Z"}},
		{name: "a day of the month and a day of the week fire on either", cron: "0 12 13 * FRI", from: "2026-03-01T00:00:00Z",
			want: []string{"2026-03-06T12:00:00Z", "2026-03-13T12:00:00Z", "2026-03-20T12:00:00Z", "2026-03-27T12:00:00Z", "2026-04-03T12:00:00Z", "2026-04-10T12:00:00Z", "2026-04-13T12:00:00Z"}},
		{name: "the 29th of February fires in leap years", cron: "0 0 29 2 *", from: "2026-01-01T00:00:00Z",
			want: []string{"2028-02-29T00:00:00Z"}},
		{name: "the last days of months that have them", cron: "0 0 31 * *", from: "2026-04-01T00:00:00Z",
			want: []string{"2026-05-31T00:00:00Z", "2026-07-31T00:00:00Z"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := ticks(t, tc.cron, tc.tz, tc.from, len(tc.want))
			if len(got) != len(tc.want) {
				t.Fatalf("ticks = %v, want %v", got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Fatalf("ticks = %v, want %v", got, tc.want)
				}
			}
		})
	}
}

// TestDaylightSaving runs schedules over the days the clocks change: each wall-clock time
// fires once, a time the change skips at the end of the gap.
func TestDaylightSaving(t *testing.T) {
	cases := []struct {
		name, cron, tz string
		from, to       string
		want           []string // the ticks in [from, to), RFC 3339 UTC
	}{
		{name: "a daily 02:30 fires once, at 03:00, on the day Paris springs forward", cron: "30 2 * * *", tz: "Europe/Paris",
			from: "2027-03-27T23:00:00Z", to: "2027-03-28T22:00:00Z", want: []string{"2027-03-28T01:00:00Z"}},
		{name: "a daily 02:30 fires at 02:30 the day after Paris sprang forward", cron: "30 2 * * *", tz: "Europe/Paris",
			from: "2027-03-28T22:00:00Z", to: "2027-03-29T22:00:00Z", want: []string{"2027-03-29T00:30:00Z"}},
		{name: "a daily 02:30 fires once on the day New York springs forward", cron: "30 2 * * *", tz: "America/New_York",
			from: "2026-03-08T05:00:00Z", to: "2026-03-09T04:00:00Z", want: []string{"2026-03-08T07:00:00Z"}},
		{name: "times in the gap fire once, at its end", cron: "*/20 2 * * *", tz: "Europe/Paris",
			from: "2027-03-27T23:00:00Z", to: "2027-03-28T22:00:00Z", want: []string{"2027-03-28T01:00:00Z"}},
		{name: "an hourly schedule skips the hour that does not exist", cron: "0 * * * *", tz: "Europe/Paris",
			from: "2027-03-27T23:30:00Z", to: "2027-03-28T02:30:00Z", want: []string{"2027-03-28T00:00:00Z", "2027-03-28T01:00:00Z", "2027-03-28T02:00:00Z"}},
		{name: "a daily 01:30 fires once, at its first occurrence, on the day New York falls back", cron: "30 1 * * *", tz: "America/New_York",
			from: "2026-11-01T04:00:00Z", to: "2026-11-02T05:00:00Z", want: []string{"2026-11-01T05:30:00Z"}},
		{name: "a daily 02:30 fires once on the day Paris falls back", cron: "30 2 * * *", tz: "Europe/Paris",
			from: "2027-10-30T22:00:00Z", to: "2027-10-31T23:00:00Z", want: []string{"2027-10-31T00:30:00Z"}},
		{name: "a schedule every 30 minutes pauses in the repeated hour", cron: "*/30 * * * *", tz: "America/New_York",
			from: "2026-11-01T05:00:00Z", to: "2026-11-01T07:30:00Z", // 01:00 EDT to 02:30 EST
			want: []string{"2026-11-01T05:00:00Z", "2026-11-01T05:30:00Z", "2026-11-01T07:00:00Z"}},
		{name: "a six-field schedule in the gap fires once at its end", cron: "30 30 2 * * *", tz: "Europe/Paris",
			from: "2027-03-27T23:00:00Z", to: "2027-03-28T22:00:00Z", want: []string{"2027-03-28T01:00:00Z"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := parseClock(tc.cron, tc.tz)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			to := at(t, tc.to)
			// the watched span starts just before from, so a tick at from counts
			for tick := c.next(at(t, tc.from).Add(-time.Second)); tick.Before(to); tick = c.next(tick) {
				got = append(got, tick.Format(time.RFC3339))
			}
			if len(got) != len(tc.want) {
				t.Fatalf("ticks = %v, want %v", got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Fatalf("ticks = %v, want %v", got, tc.want)
				}
			}
		})
	}
}

// TestTicksFromWithinTheRepeatedHour: a clock asked during the second pass of a repeated
// hour does not fire again a time that fired in the first.
func TestTicksFromWithinTheRepeatedHour(t *testing.T) {
	c, err := parseClock("30 1 * * *", "America/New_York")
	if err != nil {
		t.Fatal(err)
	}
	got := c.next(at(t, "2026-11-01T06:10:00Z")) // 01:10 EST, after 01:30 EDT fired
	if want := at(t, "2026-11-02T06:30:00Z"); !got.Equal(want) {
		t.Fatalf("next = %s, want %s (the next day)", got, want)
	}
}
