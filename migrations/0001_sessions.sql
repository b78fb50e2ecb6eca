-- Browser sessions (tower-sessions records), with the user they belong to so that a user can
-- be signed out everywhere.
CREATE TABLE sessions (
    id          TEXT PRIMARY KEY,
    data        BYTEA NOT NULL,
    expires_at  TIMESTAMPTZ NOT NULL,
    username    TEXT
);
CREATE INDEX sessions_expires_at_idx ON sessions (expires_at);
CREATE INDEX sessions_username_idx ON sessions (username) WHERE username IS NOT NULL;
