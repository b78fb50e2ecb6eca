-- Kubernetes sessions: one per kubeconfig Tenantry hands out. Its refresh tokens rotate on every
-- use; a token used twice means a copy leaked, and the whole session is revoked.
CREATE TABLE kube_sessions (
    id              UUID PRIMARY KEY,
    username        TEXT NOT NULL,
    client_id       TEXT NOT NULL,
    -- What the kubeconfig was for: a tenant's virtual cluster or its host namespace.
    tenant_name     TEXT NOT NULL,
    target          TEXT NOT NULL CHECK (target IN ('vcluster', 'host')),
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    last_used_at    TIMESTAMPTZ,
    revoked_at      TIMESTAMPTZ,
    revoked_reason  TEXT
);
CREATE INDEX kube_sessions_active_idx ON kube_sessions (username, created_at DESC) WHERE revoked_at IS NULL;

CREATE TABLE kube_refresh_tokens (
    -- SHA-256 of the token: the token itself is never stored.
    token_hash   BYTEA PRIMARY KEY,
    session_id   UUID NOT NULL REFERENCES kube_sessions (id),
    issued_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    expires_at   TIMESTAMPTZ NOT NULL,
    used_at      TIMESTAMPTZ
);
CREATE INDEX kube_refresh_tokens_session_idx ON kube_refresh_tokens (session_id);
