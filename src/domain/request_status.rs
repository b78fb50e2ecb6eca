//! The life of a tenant request, as an explicit state machine.

use std::fmt;
use std::str::FromStr;

/// ```text
/// pending ─┬─> approved ─> provisioning ─┬─> ready ─> deprovisioning ─> deleted
///          │   (approved ─> failed: cancelled before it started)
///          ├─> rejected                   └─> failed ─> provisioning (resumed)
///          └─> cancelled                        failed ─> deprovisioning
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RequestStatus {
    Pending,
    Approved,
    Provisioning,
    Ready,
    Failed,
    Rejected,
    Cancelled,
    Deprovisioning,
    Deleted,
}

impl RequestStatus {
    pub const ALL: [RequestStatus; 9] = [
        RequestStatus::Pending,
        RequestStatus::Approved,
        RequestStatus::Provisioning,
        RequestStatus::Ready,
        RequestStatus::Failed,
        RequestStatus::Rejected,
        RequestStatus::Cancelled,
        RequestStatus::Deprovisioning,
        RequestStatus::Deleted,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RequestStatus::Pending => "pending",
            RequestStatus::Approved => "approved",
            RequestStatus::Provisioning => "provisioning",
            RequestStatus::Ready => "ready",
            RequestStatus::Failed => "failed",
            RequestStatus::Rejected => "rejected",
            RequestStatus::Cancelled => "cancelled",
            RequestStatus::Deprovisioning => "deprovisioning",
            RequestStatus::Deleted => "deleted",
        }
    }

    /// Whether `self → next` is a legal step. The store's updates encode the same rule in SQL
    /// (`WHERE status = <from>`); this is what the UI asks before offering an action.
    pub fn can_become(self, next: RequestStatus) -> bool {
        use RequestStatus::*;
        matches!(
            (self, next),
            (Pending, Approved | Rejected | Cancelled)
                | (Approved, Provisioning | Failed)
                | (Provisioning, Ready | Failed)
                | (Failed, Provisioning | Deprovisioning)
                | (Ready, Deprovisioning)
                | (Deprovisioning, Deleted | Failed)
        )
    }

    /// Open requests and live tenants hold their name; closed ones release it.
    pub fn holds_name(self) -> bool {
        !matches!(
            self,
            RequestStatus::Rejected | RequestStatus::Cancelled | RequestStatus::Deleted
        )
    }

    pub fn label(self) -> &'static str {
        match self {
            RequestStatus::Pending => "Waiting for approval",
            RequestStatus::Approved => "Approved, queued",
            RequestStatus::Provisioning => "Being built",
            RequestStatus::Ready => "Ready",
            RequestStatus::Failed => "Failed",
            RequestStatus::Rejected => "Rejected",
            RequestStatus::Cancelled => "Cancelled",
            RequestStatus::Deprovisioning => "Being removed",
            RequestStatus::Deleted => "Deleted",
        }
    }
}

impl fmt::Display for RequestStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for RequestStatus {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        RequestStatus::ALL
            .into_iter()
            .find(|status| status.as_str() == s)
            .ok_or_else(|| format!("unknown request status {s:?}"))
    }
}

#[cfg(test)]
mod tests {
    use super::RequestStatus::*;
    use super::*;

    #[test]
    fn closed_requests_cannot_be_reopened() {
        for closed in [Rejected, Cancelled, Deleted] {
            for next in RequestStatus::ALL {
                assert!(!closed.can_become(next), "{closed} -> {next}");
            }
        }
    }

    #[test]
    fn a_pending_request_is_decided_or_cancelled_only() {
        let allowed: Vec<_> = RequestStatus::ALL
            .into_iter()
            .filter(|n| Pending.can_become(*n))
            .collect();
        assert_eq!(allowed, [Approved, Rejected, Cancelled]);
    }

    #[test]
    fn every_status_round_trips_through_text() {
        for status in RequestStatus::ALL {
            assert_eq!(status.as_str().parse::<RequestStatus>().unwrap(), status);
        }
    }
}
