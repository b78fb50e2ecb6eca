//! The messages Tenantry sends, rendered from templates into outbox rows.

use askama::Template;
use url::Url;

use crate::store::outbox::OutgoingMail;
use crate::store::requests::{TenantRequest, Verdict};

/// A person to write to.
#[derive(Debug, Clone)]
pub struct Recipient {
    pub display_name: String,
    pub email: String,
}

fn link(base: &Url, path: &str) -> String {
    base.join(path)
        .map(String::from)
        .unwrap_or_else(|_| format!("{base}{path}"))
}

#[derive(Template)]
#[template(path = "mail/new_request.txt")]
struct NewRequestText<'a> {
    request: &'a TenantRequest,
    recipient: &'a Recipient,
    link: &'a str,
}

#[derive(Template)]
#[template(path = "mail/new_request.html")]
struct NewRequestHtml<'a> {
    request: &'a TenantRequest,
    recipient: &'a Recipient,
    link: &'a str,
}

/// "A request waits for you" to one approver.
pub fn new_request(
    base: &Url,
    request: &TenantRequest,
    approver: &Recipient,
) -> anyhow::Result<OutgoingMail> {
    let link = link(base, &format!("approvals/{}", request.id));
    Ok(OutgoingMail {
        kind: "new_request",
        request_id: Some(request.id),
        recipient: approver.email.clone(),
        subject: format!(
            "Tenant request “{}” from {} needs a decision",
            request.tenant_name, request.requester.display_name
        ),
        body_text: NewRequestText {
            request,
            recipient: approver,
            link: &link,
        }
        .render()?,
        body_html: NewRequestHtml {
            request,
            recipient: approver,
            link: &link,
        }
        .render()?,
    })
}

#[derive(Template)]
#[template(path = "mail/decision.txt")]
struct DecisionText<'a> {
    request: &'a TenantRequest,
    approved: bool,
    link: &'a str,
}

#[derive(Template)]
#[template(path = "mail/decision.html")]
struct DecisionHtml<'a> {
    request: &'a TenantRequest,
    approved: bool,
    link: &'a str,
}

/// "Your request was approved / rejected" to the requester.
pub fn decision(
    base: &Url,
    request: &TenantRequest,
    verdict: Verdict,
    to: &str,
) -> anyhow::Result<OutgoingMail> {
    let link = link(base, &format!("requests/{}", request.id));
    let approved = verdict == Verdict::Approve;
    Ok(OutgoingMail {
        kind: if approved {
            "request_approved"
        } else {
            "request_rejected"
        },
        request_id: Some(request.id),
        recipient: to.to_owned(),
        subject: format!(
            "Your tenant request “{}” was {}",
            request.tenant_name,
            if approved { "approved" } else { "rejected" }
        ),
        body_text: DecisionText {
            request,
            approved,
            link: &link,
        }
        .render()?,
        body_html: DecisionHtml {
            request,
            approved,
            link: &link,
        }
        .render()?,
    })
}

#[derive(Template)]
#[template(path = "mail/tenant_ready.txt")]
struct TenantReadyText<'a> {
    request: &'a TenantRequest,
    recipient: &'a Recipient,
    api_endpoint: &'a str,
    /// Whether the recipient is an admin or viewer: only then is the access page theirs.
    reaches: bool,
    tenant_link: &'a str,
    request_link: &'a str,
}

#[derive(Template)]
#[template(path = "mail/tenant_ready.html")]
struct TenantReadyHtml<'a> {
    request: &'a TenantRequest,
    recipient: &'a Recipient,
    api_endpoint: &'a str,
    /// Whether the recipient is an admin or viewer: only then is the access page theirs.
    reaches: bool,
    tenant_link: &'a str,
    request_link: &'a str,
}

/// "Your tenant is ready" to the requester or one of the tenant's admins. `reaches`: the
/// recipient is an admin or viewer of the tenant, so the mail links to its access page.
pub fn tenant_ready(
    base: &Url,
    request: &TenantRequest,
    api_endpoint: &str,
    to: &Recipient,
    reaches: bool,
) -> anyhow::Result<OutgoingMail> {
    let tenant_link = link(base, &format!("tenants/{}/access", request.tenant_name));
    let request_link = link(base, &format!("requests/{}", request.id));
    Ok(OutgoingMail {
        kind: "tenant_ready",
        request_id: Some(request.id),
        recipient: to.email.clone(),
        subject: format!("Your tenant “{}” is ready", request.tenant_name),
        body_text: TenantReadyText {
            request,
            recipient: to,
            api_endpoint,
            reaches,
            tenant_link: &tenant_link,
            request_link: &request_link,
        }
        .render()?,
        body_html: TenantReadyHtml {
            request,
            recipient: to,
            api_endpoint,
            reaches,
            tenant_link: &tenant_link,
            request_link: &request_link,
        }
        .render()?,
    })
}

#[derive(Template)]
#[template(path = "mail/provisioning_failed.txt")]
struct ProvisioningFailedText<'a> {
    request: &'a TenantRequest,
    recipient: &'a Recipient,
    kind: &'a str,
    step: &'a str,
    step_label: &'a str,
    error: &'a str,
    request_link: &'a str,
}

#[derive(Template)]
#[template(path = "mail/provisioning_failed.html")]
struct ProvisioningFailedHtml<'a> {
    request: &'a TenantRequest,
    recipient: &'a Recipient,
    kind: &'a str,
    step: &'a str,
    step_label: &'a str,
    error: &'a str,
    request_link: &'a str,
}

/// What failed in a provisioning (or deprovisioning) job, to the requester or a portal admin.
/// `error` must already be redacted.
pub fn provisioning_failed(
    base: &Url,
    request: &TenantRequest,
    kind: &str,
    step: (&str, &str),
    error: &str,
    to: &Recipient,
) -> anyhow::Result<OutgoingMail> {
    let request_link = link(base, &format!("requests/{}", request.id));
    let (step, step_label) = step;
    Ok(OutgoingMail {
        kind: "provisioning_failed",
        request_id: Some(request.id),
        recipient: to.email.clone(),
        subject: format!("Tenant “{}”: the {step} step failed", request.tenant_name),
        body_text: ProvisioningFailedText {
            request,
            recipient: to,
            kind,
            step,
            step_label,
            error,
            request_link: &request_link,
        }
        .render()?,
        body_html: ProvisioningFailedHtml {
            request,
            recipient: to,
            kind,
            step,
            step_label,
            error,
            request_link: &request_link,
        }
        .render()?,
    })
}
