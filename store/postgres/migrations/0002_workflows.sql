-- Schema 2: workflows, their runs and the runs' event logs; the calls of workflow steps.
--
-- As in schema 1: names and IDs sort bytewise (COLLATE "C"), documents are json (the text as
-- written), and the columns that lists filter or order on are explicit.

CREATE TABLE workflows (
    name        text COLLATE "C" PRIMARY KEY,
    owner       text COLLATE "C" NOT NULL DEFAULT '',
    version     integer NOT NULL,
    definition  json NOT NULL,
    description text NOT NULL DEFAULT '',
    run_access  json,
    apps        json,
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL
);

-- A run is its document (run: a store.Run); its columns are the truth of what they hold.
-- Runs are listed newest first (by ID, a ULID: the primary key read backwards), by
-- workflow, status or viewer (owner OR triggered_by: one index each, or-ed). runs_active
-- holds the runs an engine resumes (ActiveRuns, oldest first), a few at any time, which
-- also keep their workflow from being deleted.
CREATE TABLE runs (
    id              text COLLATE "C" PRIMARY KEY,
    workflow        text COLLATE "C" NOT NULL,
    owner           text COLLATE "C" NOT NULL DEFAULT '',
    triggered_by    text COLLATE "C" NOT NULL DEFAULT '',
    idempotency_key text COLLATE "C" NOT NULL DEFAULT '',
    status          text NOT NULL,
    created_at      timestamptz NOT NULL,
    run             json NOT NULL
);
CREATE INDEX runs_by_workflow ON runs (workflow, id DESC);
CREATE INDEX runs_by_status ON runs (status, id DESC);
CREATE INDEX runs_by_owner ON runs (owner, id DESC);
CREATE INDEX runs_by_triggered_by ON runs (triggered_by, id DESC);
CREATE UNIQUE INDEX runs_idempotency_key ON runs (triggered_by, idempotency_key) WHERE idempotency_key <> '';
CREATE INDEX runs_active ON runs (id) WHERE status IN ('QUEUED', 'RUNNING');

-- A run's append-only event log, numbered from 1.
CREATE TABLE run_events (
    run_id text COLLATE "C" NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    seq    bigint NOT NULL,
    event  json NOT NULL,
    PRIMARY KEY (run_id, seq)
);

-- The workflow run and the step a call is an attempt of ('' for other calls).
ALTER TABLE executions
    ADD COLUMN parent text COLLATE "C" NOT NULL DEFAULT '',
    ADD COLUMN step   text NOT NULL DEFAULT '';
