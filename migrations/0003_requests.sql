-- Tenant requests: one row per request, from the form to the tenant's deletion.
CREATE TABLE requests (
    id               UUID PRIMARY KEY,
    tenant_name      TEXT NOT NULL,
    description      TEXT NOT NULL,
    admin_group      TEXT NOT NULL,
    viewer_group     TEXT,
    template         TEXT NOT NULL,
    justification    TEXT NOT NULL,
    requester        TEXT NOT NULL,
    requester_name   TEXT NOT NULL,
    requester_email  TEXT,
    status           TEXT NOT NULL DEFAULT 'pending' CHECK (status IN
        ('pending', 'approved', 'provisioning', 'ready', 'failed',
         'rejected', 'cancelled', 'deprovisioning', 'deleted')),
    created_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    decided_by       TEXT,
    decided_by_name  TEXT,
    decided_at       TIMESTAMPTZ,
    decision_reason  TEXT
);

-- A name is held by every request that is open or became a tenant; the database, not a
-- check-then-insert, settles two people asking for the same name at once.
CREATE UNIQUE INDEX requests_tenant_name_key ON requests (tenant_name)
    WHERE status NOT IN ('rejected', 'cancelled', 'deleted');
-- The approver inbox: pending requests, oldest first.
CREATE INDEX requests_pending_idx ON requests (created_at, id) WHERE status = 'pending';
-- "My requests": newest first, per requester.
CREATE INDEX requests_requester_idx ON requests (requester, created_at DESC, id DESC);
-- The admin's list of every request, newest first.
CREATE INDEX requests_created_idx ON requests (created_at DESC, id DESC);

-- The audit trail. Append-only: the triggers refuse every UPDATE, DELETE and TRUNCATE.
CREATE TABLE audit_events (
    id           BIGSERIAL PRIMARY KEY,
    at           TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp(),
    actor        TEXT NOT NULL,
    action       TEXT NOT NULL,
    request_id   UUID,
    tenant_name  TEXT,
    details      JSONB NOT NULL DEFAULT '{}'::jsonb
);
CREATE INDEX audit_events_at_idx ON audit_events (at DESC, id DESC);
CREATE INDEX audit_events_request_idx ON audit_events (request_id, id) WHERE request_id IS NOT NULL;
CREATE INDEX audit_events_actor_idx ON audit_events (actor, id DESC);

CREATE FUNCTION audit_events_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_events is append-only' USING ERRCODE = 'insufficient_privilege';
END;
$$;
CREATE TRIGGER audit_events_no_update BEFORE UPDATE OR DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION audit_events_refuse_change();
CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events
    FOR EACH STATEMENT EXECUTE FUNCTION audit_events_refuse_change();

-- Mail waiting to be sent: written in the transaction of the action that causes it, sent by
-- the outbox worker, one row per recipient.
CREATE TABLE mail_outbox (
    id               UUID PRIMARY KEY,
    created_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    kind             TEXT NOT NULL,
    request_id       UUID REFERENCES requests (id),
    recipient        TEXT NOT NULL,
    subject          TEXT NOT NULL,
    body_text        TEXT NOT NULL,
    body_html        TEXT NOT NULL,
    attempts         INT NOT NULL DEFAULT 0,
    next_attempt_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    last_error       TEXT,
    sent_at          TIMESTAMPTZ
);
CREATE INDEX mail_outbox_due_idx ON mail_outbox (next_attempt_at) WHERE sent_at IS NULL;

-- Provisioning work: one job per approval (or deprovisioning). The engine fills in the rest.
CREATE TABLE provision_jobs (
    id           UUID PRIMARY KEY,
    request_id   UUID NOT NULL REFERENCES requests (id),
    kind         TEXT NOT NULL CHECK (kind IN ('provision', 'deprovision')),
    status       TEXT NOT NULL DEFAULT 'queued' CHECK (status IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')),
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at   TIMESTAMPTZ NOT NULL DEFAULT now()
);
-- At most one unfinished job per request.
CREATE UNIQUE INDEX provision_jobs_one_open_key ON provision_jobs (request_id)
    WHERE status IN ('queued', 'running');
