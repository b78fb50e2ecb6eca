//! The request use cases: submit, decide, cancel. Each runs its checks, then writes the request,
//! its audit event, its mail and (on approval) its provisioning job in one transaction.

use serde_json::json;
use sqlx::PgPool;
use uuid::Uuid;

use crate::auth::CurrentUser;
use crate::config::Config;
use crate::domain::{GroupName, Reason, RequestStatus};
use crate::error::AppError;
use crate::integrations::directory::Directory;
use crate::integrations::kube::HostCluster;
use crate::mail::messages::{self, Recipient};
use crate::store::audit::{self, Action, Event};
use crate::store::jobs::{self, JobKind};
use crate::store::outbox;
use crate::store::requests::{self, InsertError, NewRequest, Requester, TenantRequest, Verdict};

/// Who acts, as far as these use cases care.
#[derive(Debug, Clone)]
pub struct Actor {
    pub username: String,
    pub display_name: String,
    pub email: Option<String>,
}

impl From<&CurrentUser> for Actor {
    fn from(user: &CurrentUser) -> Self {
        Actor {
            username: user.username.clone(),
            display_name: user.display_name.clone(),
            email: user.email.clone(),
        }
    }
}

/// Problems with a submitted form, by field name, in words for the user.
#[derive(Debug, Default, Clone)]
pub struct FieldErrors(pub Vec<(&'static str, String)>);

impl FieldErrors {
    pub fn add(&mut self, field: &'static str, message: impl Into<String>) {
        if self.get(field).is_none() {
            self.0.push((field, message.into()));
        }
    }

    pub fn get(&self, field: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(f, _)| *f == field)
            .map(|(_, m)| m.as_str())
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

pub enum SubmitError {
    Invalid(FieldErrors),
    App(AppError),
}

impl From<AppError> for SubmitError {
    fn from(e: AppError) -> Self {
        SubmitError::App(e)
    }
}

impl From<anyhow::Error> for SubmitError {
    fn from(e: anyhow::Error) -> Self {
        SubmitError::App(e.into())
    }
}

/// Everything a use case reaches.
pub struct Context<'a> {
    pub config: &'a Config,
    pub db: &'a PgPool,
    pub directory: &'a Directory,
    pub cluster: &'a HostCluster,
}

/// Checks what needs the outside world (name free, groups in AD, no such namespace), then stores
/// the request with its audit event and a mail to every approver.
pub async fn submit(
    ctx: &Context<'_>,
    actor: &Actor,
    request: NewRequest,
) -> Result<TenantRequest, SubmitError> {
    let mut errors = FieldErrors::default();
    if requests::name_held(ctx.db, &request.tenant_name).await? {
        errors.add(
            "tenant_name",
            "This name is already requested or in use; choose another.",
        );
    } else {
        match ctx
            .cluster
            .namespace_exists(request.tenant_name.namespace())
            .await
        {
            Ok(true) => errors.add(
                "tenant_name",
                "A namespace of this name already exists on the cluster; choose another.",
            ),
            Ok(false) => {}
            Err(e) => return Err(AppError::unavailable("Kubernetes API", e).into()),
        }
    }
    check_group(ctx, &request.admin_group, "admin_group", &mut errors).await?;
    if let Some(viewer) = &request.viewer_group {
        check_group(ctx, viewer, "viewer_group", &mut errors).await?;
    }
    if !errors.is_empty() {
        return Err(SubmitError::Invalid(errors));
    }

    let approvers = approvers(ctx).await?;
    let requester = Requester {
        username: actor.username.clone(),
        display_name: actor.display_name.clone(),
        email: actor.email.clone(),
    };
    let mut tx = ctx.db.begin().await.map_err(AppError::from)?;
    let stored = match requests::insert(&mut tx, &request, &requester).await {
        Ok(stored) => stored,
        Err(InsertError::NameTaken) => {
            let mut errors = FieldErrors::default();
            errors.add(
                "tenant_name",
                "This name was just requested by someone else; choose another.",
            );
            return Err(SubmitError::Invalid(errors));
        }
        Err(InsertError::Other(e)) => return Err(AppError::from(e).into()),
    };
    audit::record(
        &mut tx,
        Event {
            actor: &actor.username,
            action: Action::RequestCreated,
            request_id: Some(stored.id),
            tenant_name: Some(stored.tenant_name.as_str()),
            details: json!({
                "template": stored.template.as_str(),
                "admin_group": stored.admin_group.as_str(),
                "viewer_group": stored.viewer_group.as_ref().map(GroupName::as_str),
            }),
        },
    )
    .await?;
    for approver in &approvers {
        let mail = messages::new_request(&ctx.config.server.external_url, &stored, approver)?;
        outbox::enqueue(&mut tx, &mail).await?;
    }
    outbox::notify(&mut tx).await?;
    tx.commit().await.map_err(AppError::from)?;
    tracing::info!(request_id = %stored.id, tenant = %stored.tenant_name, approvers = approvers.len(), "request submitted");
    Ok(stored)
}

async fn check_group(
    ctx: &Context<'_>,
    group: &GroupName,
    field: &'static str,
    errors: &mut FieldErrors,
) -> Result<(), SubmitError> {
    match ctx.directory.find_group(group.as_str()).await {
        Ok(Some(_)) => Ok(()),
        Ok(None) => {
            errors.add(
                field,
                format!("There is no AD group named “{group}”. Pick one from the suggestions."),
            );
            Ok(())
        }
        Err(e) => Err(AppError::unavailable("directory", e).into()),
    }
}

/// Every approver with a mail address, each once.
async fn approvers(ctx: &Context<'_>) -> Result<Vec<Recipient>, SubmitError> {
    let mut recipients: Vec<Recipient> = Vec::new();
    for group in &ctx.config.roles.approver_groups {
        let members = ctx
            .directory
            .members_with_mail(group)
            .await
            .map_err(|e| AppError::unavailable("directory", e))?;
        for person in members {
            if !recipients
                .iter()
                .any(|r| r.email.eq_ignore_ascii_case(&person.email))
            {
                recipients.push(Recipient {
                    display_name: person.display_name,
                    email: person.email,
                });
            }
        }
    }
    Ok(recipients)
}

/// Approves or rejects a pending request. Exactly one of any number of concurrent deciders
/// wins; the others get a conflict naming who decided first.
pub async fn decide(
    ctx: &Context<'_>,
    approver: &Actor,
    id: Uuid,
    verdict: Verdict,
    reason: Reason,
) -> Result<TenantRequest, AppError> {
    let current = requests::get(ctx.db, id).await?.ok_or(AppError::NotFound)?;
    if current
        .requester
        .username
        .eq_ignore_ascii_case(&approver.username)
        && !ctx.config.roles.allow_self_approval
    {
        return Err(AppError::Forbidden(
            "You asked for this tenant, so another approver has to decide. You can still cancel it.".into(),
        ));
    }
    let mut tx = ctx.db.begin().await?;
    let Some(decided) = requests::decide(
        &mut tx,
        id,
        verdict,
        &approver.username,
        &approver.display_name,
        &reason,
    )
    .await?
    else {
        tx.rollback().await.ok();
        return Err(already_decided(ctx.db, id).await);
    };
    let action = match verdict {
        Verdict::Approve => Action::RequestApproved,
        Verdict::Reject => Action::RequestRejected,
    };
    audit::record(
        &mut tx,
        Event {
            actor: &approver.username,
            action,
            request_id: Some(id),
            tenant_name: Some(decided.tenant_name.as_str()),
            details: json!({ "reason": reason.as_str() }),
        },
    )
    .await?;
    if verdict == Verdict::Approve {
        jobs::enqueue(&mut tx, id, JobKind::Provision).await?;
    }
    if let Some(email) = &decided.requester.email {
        let mail = messages::decision(&ctx.config.server.external_url, &decided, verdict, email)?;
        outbox::enqueue(&mut tx, &mail).await?;
        outbox::notify(&mut tx).await?;
    }
    tx.commit().await?;
    tracing::info!(request_id = %id, verdict = ?verdict, "request decided");
    Ok(decided)
}

async fn already_decided(db: &PgPool, id: Uuid) -> AppError {
    match requests::get(db, id).await {
        Ok(Some(request)) => match (&request.decision, request.status) {
            (Some(d), status) => AppError::Conflict(format!(
                "This request was already {} by {} at {} UTC.",
                if status == RequestStatus::Rejected {
                    "rejected"
                } else {
                    "approved"
                },
                d.by_name,
                d.at.format("%Y-%m-%d %H:%M:%S")
            )),
            (None, RequestStatus::Cancelled) => {
                AppError::Conflict("The requester cancelled this request.".into())
            }
            (None, status) => AppError::Conflict(format!(
                "This request is {}; there is nothing to decide.",
                status.label()
            )),
        },
        Ok(None) => AppError::NotFound,
        Err(e) => e.into(),
    }
}

/// The requester withdraws a request that is still pending. To anyone else the request is
/// not there.
pub async fn cancel(ctx: &Context<'_>, actor: &Actor, id: Uuid) -> Result<TenantRequest, AppError> {
    let current = requests::get(ctx.db, id).await?.ok_or(AppError::NotFound)?;
    if !current
        .requester
        .username
        .eq_ignore_ascii_case(&actor.username)
    {
        // The same answer as for an id that names nothing: whose requests exist is not to be
        // probed through this route, whoever else may see the request's page.
        return Err(AppError::NotFound);
    }
    let mut tx = ctx.db.begin().await?;
    let Some(cancelled) = requests::cancel(&mut tx, id, &current.requester.username).await? else {
        tx.rollback().await.ok();
        return Err(already_decided(ctx.db, id).await);
    };
    audit::record(
        &mut tx,
        Event {
            actor: &actor.username,
            action: Action::RequestCancelled,
            request_id: Some(id),
            tenant_name: Some(cancelled.tenant_name.as_str()),
            details: json!({}),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(cancelled)
}
