//! Step 7: the "ready" mail to the requester and the tenant's admins, through the outbox, once.
//! (The "failed" mail is written by the engine in the transaction that fails the job.)

use async_trait::async_trait;

use crate::auth::roles::TenantRole;
use crate::mail::messages::{self, Recipient};
use crate::provision::context::StepCx;
use crate::provision::error::{StepContext, StepError};
use crate::provision::plan::StepName;
use crate::provision::step::Step;
use crate::store::{outbox, provision, provision_tenants};

pub const KIND: &str = "tenant_ready";

pub struct Notify {
    admin_group: String,
}

impl Notify {
    pub fn new(cx: &StepCx) -> Notify {
        Notify {
            admin_group: cx.request.admin_group.as_str().to_owned(),
        }
    }

    /// Everyone to mail, each with whether the access page is theirs: the tenant's admins, and
    /// the requester, who may be neither admin nor viewer of what they asked for.
    async fn recipients(&self, cx: &StepCx) -> Result<Vec<(Recipient, bool)>, StepError> {
        let mut recipients = Vec::new();
        let requester = &cx.request.requester;
        let directory = &cx.backends.directory;
        let admins = directory
            .members_with_mail(&self.admin_group)
            .await
            .step_context("reading the tenant admins from the directory")?;
        if let Some(email) = &requester.email {
            let reaches = directory
                .find_user(&requester.username)
                .await
                .step_context("reading the requester from the directory")?
                .is_some_and(|user| {
                    TenantRole::of(
                        &user.groups,
                        cx.request.admin_group.as_str(),
                        cx.request.viewer_group.as_ref().map(|g| g.as_str()),
                    )
                    .is_some()
                });
            recipients.push((
                Recipient {
                    display_name: requester.display_name.clone(),
                    email: email.clone(),
                },
                reaches,
            ));
        }
        recipients.extend(admins.into_iter().map(|p| {
            (
                Recipient {
                    display_name: p.display_name,
                    email: p.email,
                },
                true,
            )
        }));
        // A requester who is also an admin is mailed once, as an admin.
        let mut merged: Vec<(Recipient, bool)> = Vec::new();
        for (recipient, reaches) in recipients {
            match merged
                .iter_mut()
                .find(|(m, _)| m.email.eq_ignore_ascii_case(&recipient.email))
            {
                Some((_, seen)) => *seen |= reaches,
                None => merged.push((recipient, reaches)),
            }
        }
        Ok(merged)
    }
}

#[async_trait]
impl Step for Notify {
    fn name(&self) -> StepName {
        StepName::Notify
    }

    async fn apply(&self, cx: &StepCx) -> Result<(), StepError> {
        let recipients = self.recipients(cx).await?;
        let db = &cx.backends.db;
        let tenant = provision_tenants::get(db, cx.request.id)
            .await
            .step_context("reading the tenant")?;
        let endpoint = tenant.map(|t| t.api_endpoint).unwrap_or_default();
        let mut tx = db.begin().await.step_context("queueing the ready mail")?;
        // Another worker (a takeover) may have queued it already: then this is a no-op.
        if provision::mail_queued_locked(&mut tx, cx.request.id, KIND)
            .await
            .step_context("queueing the ready mail")?
        {
            return Ok(());
        }
        let base = &cx.config().server.external_url;
        for (recipient, reaches) in &recipients {
            let mail = messages::tenant_ready(base, &cx.request, &endpoint, recipient, *reaches)
                .map_err(StepError::Permanent)?;
            outbox::enqueue(&mut tx, &mail)
                .await
                .step_context("queueing the ready mail")?;
        }
        outbox::notify(&mut tx)
            .await
            .step_context("queueing the ready mail")?;
        tx.commit().await.step_context("queueing the ready mail")?;
        tracing::info!(recipients = recipients.len(), "ready mail queued");
        Ok(())
    }

    async fn wait_ready(&self, _cx: &StepCx) -> Result<(), StepError> {
        Ok(())
    }

    async fn remove(&self, _cx: &StepCx) -> Result<(), StepError> {
        Ok(())
    }
}
