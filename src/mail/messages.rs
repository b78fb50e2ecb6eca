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
    base.join(path).map(String::from).unwrap_or_else(|_| format!("{base}{path}"))
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
pub fn new_request(base: &Url, request: &TenantRequest, approver: &Recipient) -> anyhow::Result<OutgoingMail> {
    let link = link(base, &format!("approvals/{}", request.id));
    Ok(OutgoingMail {
        kind: "new_request",
        request_id: Some(request.id),
        recipient: approver.email.clone(),
        subject: format!("Tenant request “{}” from {} needs a decision", request.tenant_name, request.requester.display_name),
        body_text: NewRequestText { request, recipient: approver, link: &link }.render()?,
        body_html: NewRequestHtml { request, recipient: approver, link: &link }.render()?,
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
pub fn decision(base: &Url, request: &TenantRequest, verdict: Verdict, to: &str) -> anyhow::Result<OutgoingMail> {
    let link = link(base, &format!("requests/{}", request.id));
    let approved = verdict == Verdict::Approve;
    Ok(OutgoingMail {
        kind: if approved { "request_approved" } else { "request_rejected" },
        request_id: Some(request.id),
        recipient: to.to_owned(),
        subject: format!(
            "Your tenant request “{}” was {}",
            request.tenant_name,
            if approved { "approved" } else { "rejected" }
        ),
        body_text: DecisionText { request, approved, link: &link }.render()?,
        body_html: DecisionHtml { request, approved, link: &link }.render()?,
    })
}
