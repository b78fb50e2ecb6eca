//! Roles, derived from AD group membership (nested groups already resolved) and the config.

use serde::Serialize;

use crate::config::RolesConfig;

/// The portal-wide roles a user holds. Every signed-in user may also request tenants.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Roles {
    /// A member of one of `roles.approver_groups`.
    pub approver: bool,
    /// A member of one of `roles.portal_admin_groups`.
    pub portal_admin: bool,
}

impl Roles {
    pub fn from_groups(groups: &[String], config: &RolesConfig) -> Roles {
        Roles {
            approver: any_member(groups, &config.approver_groups),
            portal_admin: any_member(groups, &config.portal_admin_groups),
        }
    }
}

/// What a user may do with one tenant, from the groups named on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub enum TenantRole {
    Viewer,
    Admin,
}

impl TenantRole {
    /// Admin wins over viewer; `None` when neither group applies.
    pub fn of(
        groups: &[String],
        admin_group: &str,
        viewer_group: Option<&str>,
    ) -> Option<TenantRole> {
        if is_member(groups, admin_group) {
            Some(TenantRole::Admin)
        } else if viewer_group.is_some_and(|g| is_member(groups, g)) {
            Some(TenantRole::Viewer)
        } else {
            None
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            TenantRole::Admin => "tenant admin",
            TenantRole::Viewer => "tenant viewer",
        }
    }
}

/// AD compares names case-insensitively; so does the portal.
pub fn is_member(groups: &[String], group: &str) -> bool {
    groups.iter().any(|g| g.eq_ignore_ascii_case(group))
}

fn any_member(groups: &[String], wanted: &[String]) -> bool {
    wanted.iter().any(|w| is_member(groups, w))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    fn config() -> RolesConfig {
        RolesConfig {
            approver_groups: names(&["k8s-cluster-admins", "Approvers"]),
            portal_admin_groups: names(&["k8s-cluster-admins"]),
            allow_self_approval: false,
        }
    }

    #[test]
    fn roles_follow_the_configured_groups_case_insensitively() {
        let admin = Roles::from_groups(&names(&["K8S-Cluster-Admins"]), &config());
        assert_eq!(
            admin,
            Roles {
                approver: true,
                portal_admin: true
            }
        );
        let approver = Roles::from_groups(&names(&["approvers", "tenant1-admins"]), &config());
        assert!(approver.approver && !approver.portal_admin);
        assert_eq!(
            Roles::from_groups(&names(&["tenant1-admins"]), &config()),
            Roles::default()
        );
    }

    #[test]
    fn a_member_of_a_nested_viewer_group_is_a_tenant_viewer() {
        // jjackson: direct member of tenant1-admins, which is nested in tenant1-viewers, so the
        // resolved list holds both.
        let jjackson = names(&["tenant1-admins", "tenant1-viewers"]);
        assert_eq!(
            TenantRole::of(&jjackson, "tenant1-admins", Some("tenant1-viewers")),
            Some(TenantRole::Admin)
        );
        assert_eq!(
            TenantRole::of(&jjackson, "other-admins", Some("tenant1-viewers")),
            Some(TenantRole::Viewer)
        );
        assert_eq!(TenantRole::of(&jjackson, "tenant2-admins", None), None);
    }
}
