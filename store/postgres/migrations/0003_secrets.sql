-- Schema 3: the records of secrets, and the sealed values of the embedded secret backend.
--
-- As before: names sort bytewise (COLLATE "C"), documents are json, and the columns that
-- lists filter or order on are explicit.

-- A secret's record is its document (secret: a store.Secret); kind, owner, version and
-- pending (Pending is set) are copies of its fields for the lists. ListSecrets reads the
-- committed records (version > 0) in name order, all of them (the primary key), by owner
-- or by kind; PendingSecrets reads the few with a write in progress.
CREATE TABLE secrets (
    name       text COLLATE "C" PRIMARY KEY,
    kind       text COLLATE "C" NOT NULL,
    owner      text COLLATE "C" NOT NULL DEFAULT '',
    version    integer NOT NULL DEFAULT 0,
    pending    boolean NOT NULL DEFAULT false,
    secret     json NOT NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL
);
CREATE INDEX secrets_by_owner ON secrets (owner, name) WHERE version > 0;
CREATE INDEX secrets_by_kind ON secrets (kind, name) WHERE version > 0;
CREATE INDEX secrets_pending ON secrets (name) WHERE pending;

-- Sealed values, versioned per path from 1. The primary key serves every read: a version,
-- the latest (the highest), and the next version's number.
CREATE TABLE secret_values (
    path    text COLLATE "C" NOT NULL,
    version integer NOT NULL CHECK (version > 0),
    sealed  bytea NOT NULL,
    PRIMARY KEY (path, version)
);
