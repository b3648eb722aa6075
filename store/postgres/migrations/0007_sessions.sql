-- Schema 7: the web console's sessions.

-- A session is keyed by the hash of its cookie's secret. token_id is the API token it was
-- opened with (NULL for an OIDC sign-in): DeleteToken deletes the sessions of the tokens
-- it deletes, found by sessions_by_token. DeleteExpiredSessions reads sessions_by_expiry.
CREATE TABLE sessions (
    id         text COLLATE "C" PRIMARY KEY,
    name       text NOT NULL,
    role       text NOT NULL,
    kind       text NOT NULL,
    groups     text[] NOT NULL DEFAULT '{}',
    -- The token must exist when the session is stored (a sign-in racing a revoke fails);
    -- DeleteToken deletes the sessions of the tokens it deletes (the cascade would too).
    token_id   text COLLATE "C" REFERENCES tokens (id) ON DELETE CASCADE,
    csrf       text NOT NULL,
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    credential_expires_at timestamptz
);
CREATE INDEX sessions_by_token ON sessions (token_id) WHERE token_id IS NOT NULL;
CREATE INDEX sessions_by_expiry ON sessions (expires_at);
