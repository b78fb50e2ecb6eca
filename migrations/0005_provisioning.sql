-- The provisioning engine's bookkeeping: leases on jobs, one row per step of a job, one row per
-- attempt of a step, and what a finished tenant exposes to its users.

ALTER TABLE provision_jobs
    -- The worker holding the job and until when; an expired lease may be taken over.
    ADD COLUMN lease_owner       TEXT,
    ADD COLUMN lease_expires_at  TIMESTAMPTZ,
    -- A queued job is not claimed before this (the backoff of its current step).
    ADD COLUMN next_attempt_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    -- How many times a worker claimed it (a takeover counts).
    ADD COLUMN claims            INT NOT NULL DEFAULT 0,
    ADD COLUMN current_step      TEXT,
    -- What a platform engineer needs to act on a failed job (secrets redacted).
    ADD COLUMN last_error        TEXT,
    ADD COLUMN started_at        TIMESTAMPTZ,
    ADD COLUMN finished_at       TIMESTAMPTZ;

-- The claim query: due queued jobs and running jobs whose lease ran out.
CREATE INDEX provision_jobs_due_idx ON provision_jobs (next_attempt_at) WHERE status = 'queued';
CREATE INDEX provision_jobs_lease_idx ON provision_jobs (lease_expires_at) WHERE status = 'running';

CREATE TABLE provision_steps (
    job_id           UUID NOT NULL REFERENCES provision_jobs (id),
    step             TEXT NOT NULL,
    position         INT NOT NULL,
    status           TEXT NOT NULL DEFAULT 'pending'
        CHECK (status IN ('pending', 'running', 'succeeded', 'failed', 'skipped')),
    -- Every start, including those a crash interrupted.
    attempts         INT NOT NULL DEFAULT 0,
    -- Attempts that ended in an error since the step was last resumed: the budget counts these.
    failures         INT NOT NULL DEFAULT 0,
    last_error       TEXT,
    started_at       TIMESTAMPTZ,
    finished_at      TIMESTAMPTZ,
    PRIMARY KEY (job_id, step),
    UNIQUE (job_id, position)
);

CREATE TABLE provision_attempts (
    id           BIGSERIAL PRIMARY KEY,
    job_id       UUID NOT NULL REFERENCES provision_jobs (id),
    step         TEXT NOT NULL,
    attempt      INT NOT NULL,
    worker       TEXT NOT NULL,
    started_at   TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp(),
    finished_at  TIMESTAMPTZ,
    outcome      TEXT CHECK (outcome IN ('succeeded', 'retrying', 'failed', 'interrupted', 'abandoned')),
    error        TEXT
);
CREATE INDEX provision_attempts_job_idx ON provision_attempts (job_id, id);

-- A built tenant as its users reach it: the virtual API server's address and CA, for the
-- kubeconfig page.
CREATE TABLE tenants (
    request_id    UUID PRIMARY KEY REFERENCES requests (id),
    tenant_name   TEXT NOT NULL,
    api_endpoint  TEXT NOT NULL,
    api_ca_pem    TEXT NOT NULL,
    vault_mount_accessor TEXT,
    -- When the TokenRequest token Vault reviews pod tokens with runs out; renewed at half-life.
    reviewer_token_expires_at TIMESTAMPTZ,
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at    TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX tenants_name_key ON tenants (tenant_name);
