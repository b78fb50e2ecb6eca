//! Running one claimed job: its steps in order from the first unfinished one, each attempt
//! recorded, the lease renewed meanwhile, and the job ended, deferred or handed back.

use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use serde_json::json;
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use super::backoff;
use super::context::{Backends, StepCx};
use super::error::{StepError, redact};
use super::metrics::ProvisionMetrics;
use super::plan::{self, StepName};
use super::step;
use crate::domain::RequestStatus;
use crate::mail::messages::{self, Recipient};
use crate::store::audit::{self, Action, Event};
use crate::store::jobs::JobKind;
use crate::store::outbox;
use crate::store::provision::{self as jobs, ClaimedJob};
use crate::store::provision_steps::{self as steps, Outcome};
use crate::store::requests::{self, TenantRequest};

/// One worker's identity and what it needs to run jobs.
#[derive(Clone)]
pub struct Runner {
    pub worker: String,
    pub backends: Backends,
    pub metrics: Arc<ProvisionMetrics>,
}

const ACTOR: &str = "tenantry";

/// Claims the next due job and, in the same transaction, prepares it: step rows, attempts a
/// crashed worker left open, and the request's status.
pub async fn claim(runner: &Runner) -> anyhow::Result<Option<ClaimedJob>> {
    let config = &runner.backends.config.provisioning;
    let mut tx = runner
        .backends
        .db
        .begin()
        .await
        .context("starting the claim")?;
    let Some(job) = jobs::claim(&mut tx, &runner.worker, config.lease).await? else {
        tx.rollback().await.ok();
        return Ok(None);
    };
    let names: Vec<&str> = plan::steps(job.kind).iter().map(|s| s.as_str()).collect();
    steps::ensure(&mut tx, job.id, &names).await?;
    let abandoned = steps::abandon_open_attempts(&mut tx, job.id).await?;
    if job.kind == JobKind::Provision {
        requests::transition(
            &mut tx,
            job.request_id,
            RequestStatus::Approved,
            RequestStatus::Provisioning,
        )
        .await?;
    }
    tx.commit().await.context("committing the claim")?;
    runner.metrics.jobs_claimed.inc();
    if abandoned > 0 {
        tracing::warn!(job_id = %job.id, abandoned, "took over a job whose worker stopped mid-step");
    }
    Ok(Some(job))
}

/// How a job run ended for this worker.
#[derive(Debug, PartialEq, Eq)]
pub enum RunEnd {
    Completed,
    Failed,
    /// A step failed transiently; the job waits in the queue for its backoff.
    Deferred,
    /// Stopped before finishing (shutdown, cancelled, lease lost); whoever holds it continues.
    Interrupted,
}

pub async fn run(
    runner: &Runner,
    job: ClaimedJob,
    stop: &CancellationToken,
) -> anyhow::Result<RunEnd> {
    let span = tracing::info_span!("provision_job", job_id = %job.id, request_id = %job.request_id, kind = job.kind.as_str(), worker = %runner.worker);
    async {
        let held = stop.child_token();
        let renewer = tokio::spawn(renew_lease(runner.clone(), job.id, held.clone()));
        let result = run_steps(runner, &job, &held).await;
        held.cancel();
        let _ = renewer.await;
        if let Err(e) = &result {
            tracing::warn!(error = %format!("{e:#}"), "job run ended with an error; the lease will expire and the job be retried");
        }
        result
    }
    .instrument(span)
    .await
}

/// Renews the lease at a third of its length until `held` is cancelled; cancels `held` when the
/// lease is lost, so the step in flight stops.
async fn renew_lease(runner: Runner, job: uuid::Uuid, held: CancellationToken) {
    let lease = runner.backends.config.provisioning.lease;
    loop {
        tokio::select! {
            _ = held.cancelled() => return,
            _ = tokio::time::sleep(lease / 3) => {}
        }
        match jobs::renew(&runner.backends.db, job, &runner.worker, lease).await {
            Ok(true) => {}
            Ok(false) => {
                tracing::warn!(job_id = %job, "lost the job's lease (taken over or cancelled); stopping");
                held.cancel();
                return;
            }
            Err(e) => {
                tracing::warn!(error = %format!("{e:#}"), "could not renew the lease; trying again")
            }
        }
    }
}

async fn run_steps(
    runner: &Runner,
    job: &ClaimedJob,
    held: &CancellationToken,
) -> anyhow::Result<RunEnd> {
    let db = &runner.backends.db;
    let request = requests::get(db, job.request_id)
        .await?
        .context("the job's request is gone")?;
    let rows = steps::list(db, job.id).await?;
    for row in rows
        .iter()
        .filter(|r| r.status != "succeeded" && r.status != "skipped")
    {
        let Some(name) = StepName::parse(&row.step) else {
            anyhow::bail!("the job has an unknown step {:?}", row.step);
        };
        match run_step(runner, job, &request, name, held).await? {
            None => continue,
            Some(end) => return Ok(end),
        }
    }
    complete(runner, job, &request).await
}

/// Runs one attempt of one step; `None` when it succeeded (go on), else how the run ends.
async fn run_step(
    runner: &Runner,
    job: &ClaimedJob,
    request: &TenantRequest,
    name: StepName,
    held: &CancellationToken,
) -> anyhow::Result<Option<RunEnd>> {
    let db = &runner.backends.db;
    let step_name = name.as_str();
    let cx = StepCx::new(runner.backends.clone(), request.clone(), Some(job.id));
    let built = cx.and_then(|cx| step::build(name, &cx).map(|s| (cx, s)));

    // Skipping is decided before an attempt is opened.
    if let Ok((_, step)) = &built
        && !step.applies()
    {
        let mut tx = db.begin().await?;
        if !jobs::fence(&mut tx, job.id, &runner.worker).await? {
            return Ok(Some(RunEnd::Interrupted));
        }
        steps::skip(&mut tx, job.id, step_name).await?;
        tx.commit().await?;
        tracing::info!(
            step = step_name,
            "step does not apply to this tenant; skipped"
        );
        return Ok(None);
    }

    let mut tx = db.begin().await?;
    if !jobs::fence(&mut tx, job.id, &runner.worker).await? {
        return Ok(Some(RunEnd::Interrupted));
    }
    let attempt = steps::start_attempt(&mut tx, job.id, step_name, &runner.worker).await?;
    jobs::set_current_step(&mut tx, job.id, step_name).await?;
    audit::record(&mut tx, event(Action::StepStarted, request, json!({ "job_id": job.id, "kind": job.kind.as_str(), "step": step_name, "attempt": attempt }))).await?;
    tx.commit().await?;

    let span = tracing::info_span!("provision_step", step = step_name, attempt);
    let started = Instant::now();
    let outcome = async {
        let (cx, step) = built?;
        let work = async {
            match job.kind {
                JobKind::Provision => {
                    step.apply(&cx).await?;
                    step.wait_ready(&cx).await
                }
                JobKind::Deprovision => step.remove(&cx).await,
            }
        };
        let limit = runner.backends.config.provisioning.step_timeout;
        match tokio::time::timeout(limit, work).await {
            Ok(result) => result,
            Err(_) => Err(StepError::transient(format!(
                "the step did not finish within {limit:?}"
            ))),
        }
    }
    .instrument(span.clone());
    let result = tokio::select! {
        result = outcome => Some(result),
        _ = held.cancelled() => None,
    };
    let seconds = started.elapsed().as_secs_f64();
    let _enter = span.enter();

    let Some(result) = result else {
        runner.metrics.observe(
            job.kind.as_str(),
            step_name,
            Outcome::Interrupted.as_str(),
            seconds,
        );
        // Shutting down (not a lost lease): hand the job back now so another worker continues.
        let mut tx = db.begin().await?;
        if jobs::fence(&mut tx, job.id, &runner.worker).await? {
            steps::finish_attempt(
                &mut tx,
                job.id,
                step_name,
                attempt,
                Outcome::Interrupted,
                Some("the worker stopped"),
            )
            .await?;
            jobs::requeue(&mut tx, job.id, chrono::Utc::now(), None).await?;
            tx.commit().await?;
            tracing::info!("step interrupted; job handed back to the queue");
        }
        return Ok(Some(RunEnd::Interrupted));
    };

    match result {
        Ok(()) => {
            runner.metrics.observe(
                job.kind.as_str(),
                step_name,
                Outcome::Succeeded.as_str(),
                seconds,
            );
            let mut tx = db.begin().await?;
            if !jobs::fence(&mut tx, job.id, &runner.worker).await? {
                return Ok(Some(RunEnd::Interrupted));
            }
            steps::finish_attempt(
                &mut tx,
                job.id,
                step_name,
                attempt,
                Outcome::Succeeded,
                None,
            )
            .await?;
            audit::record(&mut tx, event(Action::StepSucceeded, request, json!({ "job_id": job.id, "kind": job.kind.as_str(), "step": step_name, "attempt": attempt, "seconds": seconds }))).await?;
            tx.commit().await?;
            tracing::info!(seconds, "step succeeded");
            Ok(None)
        }
        Err(error) => handle_failure(runner, job, request, name, attempt, error, seconds)
            .await
            .map(Some),
    }
}

async fn handle_failure(
    runner: &Runner,
    job: &ClaimedJob,
    request: &TenantRequest,
    name: StepName,
    attempt: i32,
    error: StepError,
    seconds: f64,
) -> anyhow::Result<RunEnd> {
    let config = &runner.backends.config.provisioning;
    let db = &runner.backends.db;
    let step_name = name.as_str();
    let text = redact(&error.to_string(), &runner.backends.secrets());
    let permanent = error.is_permanent();
    // Recipients are looked up before the transaction: the directory may be slow.
    let recipients = failure_recipients(runner, request).await;

    let mut tx = db.begin().await?;
    if !jobs::fence(&mut tx, job.id, &runner.worker).await? {
        return Ok(RunEnd::Interrupted);
    }
    let failures = steps::failures(&mut tx, job.id, step_name).await? + 1;
    let give_up = permanent || failures as u32 >= config.step_attempts;
    let outcome = if give_up {
        Outcome::Failed
    } else {
        Outcome::Retrying
    };
    steps::finish_attempt(&mut tx, job.id, step_name, attempt, outcome, Some(&text)).await?;
    if !give_up {
        let wait = backoff::delay(config.backoff_base, config.backoff_max, failures as u32);
        let due = chrono::Utc::now() + chrono::Duration::from_std(wait).unwrap_or_default();
        jobs::requeue(&mut tx, job.id, due, Some(&text)).await?;
        tx.commit().await?;
        runner.metrics.observe(
            job.kind.as_str(),
            step_name,
            Outcome::Retrying.as_str(),
            seconds,
        );
        tracing::warn!(error = %text, failures, retry_in_ms = wait.as_millis() as u64, "step failed; will retry");
        return Ok(RunEnd::Deferred);
    }

    // Out of budget, or retrying cannot help: the job stops here until an admin acts.
    let message = if permanent {
        format!("{step_name}: {text}")
    } else {
        format!("{step_name}: gave up after {failures} failed attempts; the last error: {text}")
    };
    jobs::finish(&mut tx, job.id, "failed", Some(&message)).await?;
    let from = match job.kind {
        JobKind::Provision => RequestStatus::Provisioning,
        JobKind::Deprovision => RequestStatus::Deprovisioning,
    };
    requests::transition(&mut tx, request.id, from, RequestStatus::Failed).await?;
    audit::record(
        &mut tx,
        event(Action::StepFailed, request, json!({ "job_id": job.id, "kind": job.kind.as_str(), "step": step_name, "attempt": attempt, "permanent": permanent, "error": message })),
    )
    .await?;
    let base = &runner.backends.config.server.external_url;
    for recipient in &recipients {
        let mail = messages::provisioning_failed(
            base,
            request,
            job.kind.as_str(),
            (step_name, name.label()),
            &message,
            recipient,
        )?;
        outbox::enqueue(&mut tx, &mail).await?;
    }
    outbox::notify(&mut tx).await?;
    tx.commit().await?;
    runner.metrics.observe(
        job.kind.as_str(),
        step_name,
        Outcome::Failed.as_str(),
        seconds,
    );
    tracing::error!(error = %message, permanent, "step failed; the job is marked failed");
    Ok(RunEnd::Failed)
}

/// The requester and every portal admin, each once.
async fn failure_recipients(runner: &Runner, request: &TenantRequest) -> Vec<Recipient> {
    let mut recipients = Vec::new();
    if let Some(email) = &request.requester.email {
        recipients.push(Recipient {
            display_name: request.requester.display_name.clone(),
            email: email.clone(),
        });
    }
    let directory = &runner.backends.directory;
    for group in &runner.backends.config.roles.portal_admin_groups {
        match directory.members_with_mail(group).await {
            Ok(people) => recipients.extend(people.into_iter().map(|p| Recipient {
                display_name: p.display_name,
                email: p.email,
            })),
            Err(e) => {
                tracing::warn!(error = %format!("{e:#}"), group, "cannot list portal admins for the failure mail")
            }
        }
    }
    let mut seen = std::collections::HashSet::new();
    recipients.retain(|r| seen.insert(r.email.to_lowercase()));
    recipients
}

async fn complete(
    runner: &Runner,
    job: &ClaimedJob,
    request: &TenantRequest,
) -> anyhow::Result<RunEnd> {
    let mut tx = runner.backends.db.begin().await?;
    if !jobs::fence(&mut tx, job.id, &runner.worker).await? {
        return Ok(RunEnd::Interrupted);
    }
    jobs::finish(&mut tx, job.id, "succeeded", None).await?;
    let (from, to, action) = match job.kind {
        JobKind::Provision => (
            RequestStatus::Provisioning,
            RequestStatus::Ready,
            Action::TenantReady,
        ),
        JobKind::Deprovision => (
            RequestStatus::Deprovisioning,
            RequestStatus::Deleted,
            Action::TenantDeleted,
        ),
    };
    if !requests::transition(&mut tx, request.id, from, to).await? {
        tracing::warn!(expected = %from, "the request was not in the expected state when its job finished");
    }
    audit::record(&mut tx, event(action, request, json!({ "job_id": job.id }))).await?;
    tx.commit().await?;
    tracing::info!(status = %to, "job finished");
    Ok(RunEnd::Completed)
}

fn event<'a>(action: Action, request: &'a TenantRequest, details: serde_json::Value) -> Event<'a> {
    Event {
        actor: ACTOR,
        action,
        request_id: Some(request.id),
        tenant_name: Some(request.tenant_name.as_str()),
        details,
    }
}

/// Whether the database can be reached (used by the worker's idle loop).
pub async fn queue_stats(db: &PgPool, metrics: &ProvisionMetrics) {
    if let Ok((depth, oldest)) = jobs::queue_stats(db).await {
        metrics.queue_depth.set(depth);
        metrics.oldest_waiting.set(oldest);
    }
}
