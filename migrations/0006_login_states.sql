-- Sign-ins in flight live in the browser, in a cookie sealed with a key every replica shares;
-- the server keeps only the states already used, so that a callback cannot be replayed.
CREATE TABLE portal_keys (
    name        TEXT PRIMARY KEY,
    secret      BYTEA NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE spent_login_states (
    state_hash  BYTEA PRIMARY KEY,
    expires_at  TIMESTAMPTZ NOT NULL
);
CREATE INDEX spent_login_states_expires_at_idx ON spent_login_states (expires_at);
