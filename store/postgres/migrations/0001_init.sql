-- Schema 1: every table of the store, in the connection's current schema.
--
-- Keys and names sort bytewise (COLLATE "C"), as bbolt's keys do, whatever the database's
-- locale: lists come out in the same order on both backends. Columns that lists filter or
-- order on are explicit; nested documents (a route, an API, a task) are json, which keeps the
-- text as written (jsonb refuses the \u0000 escape a Go string may encode to). Timestamps the
-- store sets come from the database's clock, one clock for every node.

CREATE TABLE apps (
    name       text COLLATE "C" PRIMARY KEY,
    id         text COLLATE "C" NOT NULL,
    owner      text COLLATE "C" NOT NULL DEFAULT '',
    config     json,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL
);
CREATE INDEX apps_by_owner ON apps (owner, name);

-- shape is store.RouteShape(path): two routes of an app may not have the same one.
CREATE TABLE routes (
    app        text COLLATE "C" NOT NULL REFERENCES apps (name),
    path       text COLLATE "C" NOT NULL,
    shape      text COLLATE "C" NOT NULL,
    route      json NOT NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    PRIMARY KEY (app, path),
    CONSTRAINT routes_shape_key UNIQUE (app, shape)
);

CREATE TABLE apis (
    name       text COLLATE "C" PRIMARY KEY,
    owner      text COLLATE "C" NOT NULL DEFAULT '',
    api        json NOT NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL
);
CREATE INDEX apis_by_owner ON apis (owner, name);

-- Tokens are listed newest first: their IDs are ULIDs, so by ID, descending.
CREATE TABLE tokens (
    id         text COLLATE "C" PRIMARY KEY,
    name       text NOT NULL,
    user_name  text COLLATE "C" NOT NULL,
    role       text NOT NULL,
    hash       bytea NOT NULL,
    created_by text NOT NULL DEFAULT '',
    parent_id  text COLLATE "C" NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL,
    expires_at timestamptz
);
CREATE INDEX tokens_by_user ON tokens (user_name, id DESC);
CREATE INDEX tokens_by_parent ON tokens (parent_id) WHERE parent_id <> '';

-- One row once the first admin token was made; it stays when that token is deleted.
CREATE TABLE bootstrap (
    done       boolean PRIMARY KEY DEFAULT true CHECK (done),
    token_id   text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

-- Executions are listed newest first (by ID, a ULID), by route, app or status.
CREATE TABLE executions (
    id               text COLLATE "C" PRIMARY KEY,
    app              text COLLATE "C" NOT NULL,
    app_id           text COLLATE "C" NOT NULL DEFAULT '',
    route            text COLLATE "C" NOT NULL,
    type             text NOT NULL DEFAULT '',
    status           text NOT NULL,
    reason           text NOT NULL DEFAULT '',
    exit_code        integer,
    error            text NOT NULL DEFAULT '',
    container        text NOT NULL DEFAULT '',
    node             text COLLATE "C" NOT NULL DEFAULT '',
    created_at       timestamptz NOT NULL,
    started_at       timestamptz,
    completed_at     timestamptz,
    attempts         integer NOT NULL DEFAULT 0,
    output_truncated boolean NOT NULL DEFAULT false,
    log_truncated    boolean NOT NULL DEFAULT false,
    output           bytea,
    log              bytea
);
CREATE INDEX executions_by_route ON executions (app, route, id DESC);
CREATE INDEX executions_by_app ON executions (app, id DESC);
CREATE INDEX executions_by_status ON executions (status, id DESC);

-- The queue: a task waits in line by priority, then available_at (when it was accepted or
-- its retry delay ends), then ID. A lease does not move it (lease_until says until when it
-- is passed over).
CREATE TABLE tasks (
    id               text COLLATE "C" PRIMARY KEY,
    priority         smallint NOT NULL,
    available_at     timestamptz NOT NULL,
    enqueued_at      timestamptz NOT NULL,
    attempts         integer NOT NULL DEFAULT 0,
    lease_owner      text COLLATE "C" NOT NULL DEFAULT '',
    lease_until      timestamptz,
    last_error       text NOT NULL DEFAULT '',
    cancel_requested boolean NOT NULL DEFAULT false,
    body             bytea,
    task             json NOT NULL
);
CREATE INDEX tasks_in_line ON tasks (priority, available_at, id);
CREATE INDEX tasks_leased ON tasks (lease_owner) WHERE lease_owner <> '';

CREATE TABLE nodes (
    id         text COLLATE "C" PRIMARY KEY,
    run        text NOT NULL DEFAULT '',
    version    text NOT NULL DEFAULT '',
    addr       text NOT NULL DEFAULT '',
    started_at timestamptz NOT NULL,
    heartbeat  timestamptz NOT NULL,
    running    integer NOT NULL DEFAULT 0,
    hot        integer NOT NULL DEFAULT 0
);
