-- Schema 5: events, the deliveries they make, subscriptions and schedules.
--
-- As in schema 1: names and IDs sort bytewise (COLLATE "C"), documents are json, and the
-- columns that lists filter or order on are explicit (and the truth of what they hold).

-- An event is its document (event: a store.Event). Its publisher (owner), source and
-- event_id name it: the unique constraint is what makes a publish idempotent when two
-- nodes publish the same event at once (INSERT ... ON CONFLICT DO NOTHING: one stores it,
-- the other reads it), and keeps one publisher's events apart from another's. Events are
-- listed newest first (by key, a ULID: the primary key read backwards), by type or source,
-- received since a time (events_by_received), and as a developer sees them: its own
-- (events_by_owner) and the public ones (events_public), two scans merged by key. public
-- is the document's, kept beside it by PostgreSQL.
CREATE TABLE events (
    key         text COLLATE "C" PRIMARY KEY,
    source      text COLLATE "C" NOT NULL,
    event_id    text COLLATE "C" NOT NULL,
    type        text COLLATE "C" NOT NULL,
    owner       text COLLATE "C" NOT NULL DEFAULT '',
    received_at timestamptz NOT NULL,
    event       json NOT NULL,
    public      boolean NOT NULL GENERATED ALWAYS AS (coalesce((event->>'public')::boolean, false)) STORED,
    CONSTRAINT events_owner_source_id_key UNIQUE (owner, source, event_id)
);
CREATE INDEX events_by_type ON events (type, key DESC);
CREATE INDEX events_by_source ON events (source, key DESC);
CREATE INDEX events_by_received ON events (received_at);
CREATE INDEX events_by_owner ON events (owner, key DESC);
CREATE INDEX events_public ON events (key DESC) WHERE public;

-- A delivery: one event handed to one subscription, by a call (execution is its task's ID)
-- or a workflow run (execution is the run's ID). Listed oldest first (by ID): all of them
-- (the primary key), by event, by subscription name, by subscription ID and status (a
-- subscription's dead letters), or by status, each from an index in ID order. A call or run
-- that ends finds its delivery by ID (Task.Delivery, Run.Delivery).
CREATE TABLE deliveries (
    id           text COLLATE "C" PRIMARY KEY,
    event        text COLLATE "C" NOT NULL,
    subscription text COLLATE "C" NOT NULL,
    subscription_id text COLLATE "C" NOT NULL DEFAULT '',
    owner        text COLLATE "C" NOT NULL DEFAULT '',
    execution    text COLLATE "C" NOT NULL,
    executions   text[] COLLATE "C" NOT NULL,
    workflow     boolean NOT NULL DEFAULT false,
    status       text NOT NULL,
    dead_letter  text NOT NULL,
    created_at   timestamptz NOT NULL,
    updated_at   timestamptz NOT NULL
);
CREATE INDEX deliveries_by_event ON deliveries (event, id);
CREATE INDEX deliveries_by_subscription ON deliveries (subscription, id);
-- A subscription's dead letters: those of its id (not of an earlier one of its name).
CREATE INDEX deliveries_by_subscription_id ON deliveries (subscription_id, status, id);
CREATE INDEX deliveries_by_status ON deliveries (status, id);

-- A subscription's id (a ULID, kept by updates) names it apart from a later one of its
-- name: a delivery keeps the id it was made for (deliveries.subscription_id).
CREATE TABLE subscriptions (
    name         text COLLATE "C" PRIMARY KEY,
    id           text COLLATE "C" NOT NULL UNIQUE,
    owner        text COLLATE "C" NOT NULL DEFAULT '',
    subscription json NOT NULL,
    created_at   timestamptz NOT NULL,
    updated_at   timestamptz NOT NULL
);

-- A schedule is its document (schedule: a store.Schedule) beside the columns ClaimTick
-- moves: last_tick is the tick claimed last, compared and set by one conditional UPDATE, so
-- that a tick is claimed once whatever the number of nodes.
CREATE TABLE schedules (
    name       text COLLATE "C" PRIMARY KEY,
    id         text COLLATE "C" NOT NULL UNIQUE,
    owner      text COLLATE "C" NOT NULL DEFAULT '',
    last_tick  timestamptz,
    next_run   timestamptz,
    schedule   json NOT NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL
);
