//! Which steps a job runs, in which order.

use std::fmt;

use crate::store::jobs::JobKind;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StepName {
    Namespace,
    Certificate,
    Database,
    Vcluster,
    Access,
    Vault,
    Notify,
}

impl StepName {
    pub const ALL: [StepName; 7] = [
        StepName::Namespace,
        StepName::Certificate,
        StepName::Database,
        StepName::Vcluster,
        StepName::Access,
        StepName::Vault,
        StepName::Notify,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            StepName::Namespace => "namespace",
            StepName::Certificate => "certificate",
            StepName::Database => "database",
            StepName::Vcluster => "vcluster",
            StepName::Access => "access",
            StepName::Vault => "vault",
            StepName::Notify => "notify",
        }
    }

    pub fn parse(text: &str) -> Option<StepName> {
        StepName::ALL.into_iter().find(|s| s.as_str() == text)
    }

    /// What the step does, for the progress list on the request page.
    pub fn label(self) -> &'static str {
        match self {
            StepName::Namespace => "Namespace, RoleBindings, quota",
            StepName::Certificate => "Database client certificate",
            StepName::Database => "MySQL database and user",
            StepName::Vcluster => "Virtual cluster",
            StepName::Access => "Access inside the virtual cluster",
            StepName::Vault => "Vault authentication and policy",
            StepName::Notify => "Notification",
        }
    }
}

impl fmt::Display for StepName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Provisioning runs every step in order: RBAC first, so a later failure never leaves a
/// namespace nobody may enter; mail last, once everything works.
const PROVISION: [StepName; 7] = StepName::ALL;

/// Deprovisioning removes in reverse, skipping the mail: what depends on a thing goes before it.
const DEPROVISION: [StepName; 6] = [
    StepName::Vault,
    StepName::Access,
    StepName::Vcluster,
    StepName::Database,
    StepName::Certificate,
    StepName::Namespace,
];

pub fn steps(kind: JobKind) -> &'static [StepName] {
    match kind {
        JobKind::Provision => &PROVISION,
        JobKind::Deprovision => &DEPROVISION,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rbac_comes_first_and_mail_last() {
        let provision = steps(JobKind::Provision);
        assert_eq!(provision.first(), Some(&StepName::Namespace));
        assert_eq!(provision.last(), Some(&StepName::Notify));
    }

    #[test]
    fn the_database_follows_its_certificate_and_the_vcluster_follows_its_database() {
        let p = steps(JobKind::Provision);
        let at = |s| p.iter().position(|x| *x == s).unwrap();
        assert!(at(StepName::Certificate) < at(StepName::Database));
        assert!(at(StepName::Database) < at(StepName::Vcluster));
        assert!(at(StepName::Vcluster) < at(StepName::Access));
        assert!(at(StepName::Access) < at(StepName::Vault));
    }

    #[test]
    fn deprovisioning_is_provisioning_reversed_without_the_mail() {
        let mut reversed: Vec<_> = steps(JobKind::Provision)
            .iter()
            .copied()
            .filter(|s| *s != StepName::Notify)
            .collect();
        reversed.reverse();
        assert_eq!(steps(JobKind::Deprovision), reversed.as_slice());
    }

    #[test]
    fn names_round_trip() {
        for s in StepName::ALL {
            assert_eq!(StepName::parse(s.as_str()), Some(s));
        }
    }
}
