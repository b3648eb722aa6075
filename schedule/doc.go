// Package schedule owns schedules: their cron expressions and time zones (parsed and
// checked here, Check), and the Scheduler that fires their ticks.
//
// # Cron expressions
//
// A schedule's cron is read by github.com/robfig/cron/v3's parser: 5 fields (minute, hour,
// day of month, month, day of week), or 6 with seconds first, or a descriptor: @yearly,
// @monthly, @weekly, @daily (@midnight), @hourly, @every <duration>. When both the day of
// month and the day of week are restricted (neither is *), a day matching either fires.
// The time zone is the schedule's timezone field (an IANA name, "" is UTC); a CRON_TZ= or
// TZ= prefix in the expression is refused. @every takes whole seconds, at least 1s; its
// ticks are the multiples of the interval since Go's zero time, in absolute time (an
// interval that divides a day, such as 30s, 5m or 1h, ticks on the UTC clock's round
// times), so every node computes the same ticks, whatever the time zone.
//
// # Daylight saving time
//
// The other expressions name wall-clock times of the time zone, and each wall-clock time
// of a day fires once. On a spring-forward day a time in the gap (02:30 in Europe/Paris on
// 2027-03-28, when the clocks go from 02:00 to 03:00) fires at the end of the gap (03:00
// local), once however many times of the gap the expression names. On a fall-back day a
// time that happens twice (01:30 in America/New_York on 2026-11-01) fires at its first
// occurrence only (01:30 EDT), so a schedule every 15 minutes pauses during the repeated
// hour. robfig's own SpecSchedule.Next skips the first case (no tick that day) and fires
// the second twice; the scheduler runs it on the wall clock and maps its answers back.
//
// # Ticks fire once
//
// A tick is claimed in the store (store.ClaimTick), which moves the schedule's LastTick
// to it and NextRun to the tick after it, once: a second claim of a tick, by another node
// sharing the store or after a restart, writes nothing. The claim of a call target
// accepts the call (an async call through the one invocation path, carrying its tick as a
// CloudEvent in binary mode: ce-type dev.gantry.schedule.tick, ce-source
// /gantry/schedules/<name>, ce-id <schedule ID>:<tick, RFC 3339 UTC>, ce-time the tick) in
// the same write. An event target is published through the events service first, then the
// tick claimed: the event's source is /gantry/schedules/<name>, its id
// <schedule ID>:<tick, RFC 3339 UTC>, its time the tick and its owner the schedule's
// (public when an admin wrote the schedule as its own: ScheduledEvent.Public), and
// a second publish of one source and id makes nothing new. A workflow target is triggered
// first, then the tick claimed, with the idempotency key schedule:<schedule ID>:<tick>
// and the schedule's owner as the run's caller. Either way a crash, or another node,
// between the fire and the claim never makes two.
//
// A tick fires as the schedule's owner: its call's app (the one the schedule was written
// over, by ID) and its workflow must still be the owner's, else the fire fails; it never
// runs another's target of the same name. A fire that fails (the route is gone, the
// target changed hands, the store is down) is logged and tried again at the scheduler's
// next wake (Options.RetryDelay later); it never fires twice. Once its tick is late and it
// has failed for the grace, it is given up (claimed without firing, logged as an error),
// unless the store is down. A disabled schedule never fires, and its NextRun is zero.
//
// # Missed ticks
//
// A due tick T is on time when now - T < min(Grace, next(T) - T) (Options.Grace, 5s by
// default): it fires. Older unfired ticks were missed (no node was up, or the store was
// down): with missed "skip" (the default) none of them fires, the latest is claimed
// without firing and the schedule goes on from the tick after it; with "run_once" the
// latest missed tick fires once, late (its tick header and event time are still the
// tick's time), then the schedule goes on.
//
// # The scheduler
//
// The Scheduler keeps the schedules in memory, a cache of the store read again at every
// ChangeSchedule and ChangeReset of its change feed, and sleeps until the earliest tick
// is due. Every node runs one: each tick fires on one of them.
package schedule
