//! People and groups in the stack's AD whose names carry payloads. The shared `Ad` helper makes
//! plain names only; these keep a plain `sAMAccountName` (the IdP's login form and AD's own
//! rules need one) and put the payload in the CN — hence the DN — and the display name.

use std::collections::HashSet;

use ldap3::{Ldap, Mod};
use tenantry::integrations::directory::escape::dn_value;

use crate::helpers::Stack;
use crate::helpers::directory::{TestGroup, TestUser, admin_connection, unique};

pub struct PayloadAd {
    ldap: Ldap,
    users_dn: String,
    upn_suffix: String,
}

impl PayloadAd {
    pub async fn connect() -> PayloadAd {
        let stack = Stack::get();
        PayloadAd {
            ldap: admin_connection().await,
            users_dn: format!("CN=Users,{}", stack.var("LDAP_BASE_DN")),
            upn_suffix: stack.var("AD_UPN_SUFFIX").to_owned(),
        }
    }

    /// An enabled user with mail and a password, in no group, whose CN is `cn_prefix` followed
    /// by its unique account name and whose display name is `display_name`.
    pub async fn create_user(&self, hint: &str, cn_prefix: &str, display_name: &str) -> TestUser {
        let username = unique(hint);
        let password = format!("Pw-{}-x1", uuid::Uuid::new_v4().simple());
        let email = format!("{username}@{}", self.upn_suffix);
        let cn = format!("{cn_prefix}{username}");
        let dn = format!("CN={},{}", dn_value(&cn), self.users_dn);
        let upn = format!("{username}@{}", self.upn_suffix);
        let quoted: Vec<u8> = format!("\"{password}\"")
            .encode_utf16()
            .flat_map(u16::to_le_bytes)
            .collect();
        let attrs: Vec<(Vec<u8>, HashSet<Vec<u8>>)> = vec![
            attr(
                "objectClass",
                &["top", "person", "organizationalPerson", "user"],
            ),
            attr("sAMAccountName", &[&username]),
            attr("userPrincipalName", &[&upn]),
            attr("displayName", &[display_name]),
            attr("mail", &[&email]),
            (b"unicodePwd".to_vec(), HashSet::from([quoted])),
            attr("userAccountControl", &["512"]),
        ];
        self.ldap
            .clone()
            .add(&dn, attrs)
            .await
            .unwrap()
            .success()
            .unwrap_or_else(|e| panic!("creating {dn}: {e}"));
        TestUser {
            username,
            password,
            dn,
            email,
            display_name: display_name.to_owned(),
        }
    }

    /// A global security group with a unique plain account name and the CN `cn` says.
    pub async fn create_group(&self, hint: &str, cn: GroupCn<'_>) -> TestGroup {
        let sam = unique(hint);
        let cn = match cn {
            GroupCn::Prefix(prefix) => format!("{prefix}{sam}"),
            GroupCn::Suffix(suffix) => format!("{sam}{suffix}"),
            GroupCn::Exact(cn) => cn.to_owned(),
        };
        let dn = format!("CN={},{}", dn_value(&cn), self.users_dn);
        let attrs = vec![
            attr("objectClass", &["top", "group"]),
            attr("sAMAccountName", &[&sam]),
            attr("description", &[&format!("throw-away test group {sam}")]),
        ];
        self.ldap
            .clone()
            .add(&dn, attrs)
            .await
            .unwrap()
            .success()
            .unwrap_or_else(|e| panic!("creating {dn}: {e}"));
        TestGroup { cn, dn }
    }

    pub async fn add_member(&self, group_dn: &str, member_dn: &str) {
        self.modify(group_dn, Mod::Add("member", HashSet::from([member_dn])))
            .await;
    }

    pub async fn remove_member(&self, group_dn: &str, member_dn: &str) {
        self.modify(group_dn, Mod::Delete("member", HashSet::from([member_dn])))
            .await;
    }

    pub async fn delete(&self, dn: &str) {
        self.ldap
            .clone()
            .delete(dn)
            .await
            .unwrap()
            .success()
            .unwrap_or_else(|e| panic!("deleting {dn}: {e}"));
    }

    async fn modify(&self, dn: &str, change: Mod<&str>) {
        self.ldap
            .clone()
            .modify(dn, vec![change])
            .await
            .unwrap()
            .success()
            .unwrap_or_else(|e| panic!("modifying {dn}: {e}"));
    }
}

/// A group's CN: the payload before or after its unique account name, or a given one.
pub enum GroupCn<'a> {
    Prefix(&'a str),
    Suffix(&'a str),
    Exact(&'a str),
}

fn attr(name: &str, values: &[&str]) -> (Vec<u8>, HashSet<Vec<u8>>) {
    (
        name.as_bytes().to_vec(),
        values.iter().map(|v| v.as_bytes().to_vec()).collect(),
    )
}
