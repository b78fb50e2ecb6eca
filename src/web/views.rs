//! Small display types shared by several pages.

use chrono::{DateTime, Utc};

use crate::store::audit::AuditRow;
use crate::store::requests::TenantRequest;

/// Times are shown in UTC, to the minute, the same way everywhere.
pub fn fmt_time(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// One request in a table.
pub struct RequestRow {
    pub id: String,
    pub tenant_name: String,
    pub template: String,
    pub status: String,
    pub status_label: String,
    pub requester: String,
    pub admin_group: String,
    pub created_at: String,
    pub created_at_iso: String,
}

impl From<&TenantRequest> for RequestRow {
    fn from(r: &TenantRequest) -> Self {
        RequestRow {
            id: r.id.to_string(),
            tenant_name: r.tenant_name.to_string(),
            template: r.template.as_str().to_owned(),
            status: r.status.as_str().to_owned(),
            status_label: r.status.label().to_owned(),
            requester: format!("{} ({})", r.requester.display_name, r.requester.username),
            admin_group: r.admin_group.to_string(),
            created_at: fmt_time(r.created_at),
            created_at_iso: r.created_at.to_rfc3339(),
        }
    }
}

/// One audit event on a request's page.
pub struct Timeline {
    pub at: String,
    pub at_iso: String,
    pub action: String,
    pub actor: String,
}

impl From<&AuditRow> for Timeline {
    fn from(row: &AuditRow) -> Self {
        Timeline {
            at: fmt_time(row.at),
            at_iso: row.at.to_rfc3339(),
            action: row.action.replace('_', " "),
            actor: row.actor.clone(),
        }
    }
}
