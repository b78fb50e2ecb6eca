//! Validated values and the request state machine. Nothing here does I/O; everything past a
//! handler takes these types, never raw strings.

mod group_name;
mod invisible;
mod request_status;
mod template_name;
mod tenant_name;
mod text;

pub use group_name::GroupName;
pub use request_status::RequestStatus;
pub use template_name::TemplateName;
pub use tenant_name::TenantName;
pub use text::{Description, Justification, Reason};

/// Why a value was refused, in words for the person who typed it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Invalid(pub String);

impl Invalid {
    pub fn new(message: impl Into<String>) -> Self {
        Invalid(message.into())
    }
}
