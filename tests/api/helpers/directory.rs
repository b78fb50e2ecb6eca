//! Throw-away people and groups in the stack's Samba AD, made over LDAPS as the domain
//! Administrator. Names are unique per call and start with `zt`, so runs never collide and
//! leftovers are easy to spot.
//!
//! ```ignore
//! let ad = Ad::connect().await;
//! let group = ad.create_group("approvers").await;               // group.cn is unique
//! let user = ad.create_user("alice").await;                     // enabled, with mail
//! ad.add_member(&group.dn, &user.dn).await;
//! app.login(&user.username, &user.password).await;
//! ad.disable(&user).await;                                      // userAccountControl bit 2
//! ad.delete(&user.dn).await;                                    // when done
//! ```

use std::collections::HashSet;

use ldap3::{Ldap, LdapConnAsync, LdapConnSettings, Mod};
use tenantry::integrations::directory::escape::dn_value;

use super::Stack;

/// ADS_UF_NORMAL_ACCOUNT, and with ACCOUNTDISABLE.
const ENABLED: &str = "512";
const DISABLED: &str = "514";

pub struct Ad {
    ldap: Ldap,
    users_dn: String,
    upn_suffix: String,
}

#[derive(Debug, Clone)]
pub struct TestUser {
    pub username: String,
    pub password: String,
    pub dn: String,
    pub email: String,
    pub display_name: String,
}

/// A group's CN: the unique account name with a payload before or after it, or a given one.
pub enum GroupCn<'a> {
    Prefix(&'a str),
    Suffix(&'a str),
    Exact(&'a str),
}

#[derive(Debug, Clone)]
pub struct TestGroup {
    pub cn: String,
    pub dn: String,
}

/// An LDAPS connection to the stack's AD, bound as its Administrator.
pub async fn admin_connection() -> Ldap {
    let stack = Stack::get();
    let tls = tenantry::integrations::tls::client_config(Some(&stack.ca())).unwrap();
    let (conn, mut ldap) = LdapConnAsync::with_settings(
        LdapConnSettings::new().set_config(tls),
        stack.var("LDAPS_URL"),
    )
    .await
    .expect("LDAPS to the stack's AD");
    ldap3::drive!(conn);
    ldap.simple_bind(
        stack.var("AD_ADMIN_DN"),
        &stack.secret("AD_ADMIN_PASSWORD_FILE"),
    )
    .await
    .unwrap()
    .success()
    .expect("binding as the AD Administrator");
    ldap
}

impl Ad {
    pub async fn connect() -> Ad {
        let stack = Stack::get();
        Ad {
            ldap: admin_connection().await,
            users_dn: format!("CN=Users,{}", stack.var("LDAP_BASE_DN")),
            upn_suffix: stack.var("AD_UPN_SUFFIX").to_owned(),
        }
    }

    /// An enabled user with mail and a password, in no group.
    pub async fn create_user(&self, hint: &str) -> TestUser {
        self.create_user_with(hint, "", None).await
    }

    /// An enabled user with mail and a password, in no group, whose CN is `cn_prefix` followed
    /// by its unique account name (a plain `sAMAccountName`, as the IdP's login form and AD need)
    /// and whose display name is `display_name`, or "Test <username>".
    pub async fn create_user_with(
        &self,
        hint: &str,
        cn_prefix: &str,
        display_name: Option<&str>,
    ) -> TestUser {
        let username = unique(hint);
        let password = format!("Pw-{}-x1", uuid::Uuid::new_v4().simple());
        let display_name = display_name
            .map(str::to_owned)
            .unwrap_or_else(|| format!("Test {username}"));
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
            attr("displayName", &[&display_name]),
            attr("mail", &[&email]),
            (b"unicodePwd".to_vec(), HashSet::from([quoted])),
            attr("userAccountControl", &[ENABLED]),
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
            display_name,
        }
    }

    /// A global security group with no members.
    pub async fn create_group(&self, hint: &str) -> TestGroup {
        self.create_group_with(hint, GroupCn::Prefix("")).await
    }

    /// A global security group with a unique plain account name and the CN `cn` says.
    pub async fn create_group_with(&self, hint: &str, cn: GroupCn<'_>) -> TestGroup {
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

    /// The group whose CN is exactly `cn`, created unless an earlier run already did (a CN is
    /// unique in its container, so such a group is shared by every run on the machine).
    pub async fn ensure_group_cn(&self, cn: &str) -> TestGroup {
        let sam = unique("fixed");
        let dn = format!("CN={},{}", dn_value(cn), self.users_dn);
        let attrs = vec![
            attr("objectClass", &["top", "group"]),
            attr("sAMAccountName", &[&sam]),
            attr("description", &["test group with a fixed name"]),
        ];
        let result = self.ldap.clone().add(&dn, attrs).await.unwrap();
        // 68: entryAlreadyExists.
        assert!(
            result.rc == 0 || result.rc == 68,
            "creating {dn}: {result:?}"
        );
        TestGroup {
            cn: cn.to_owned(),
            dn,
        }
    }

    /// Makes `member_dn` (a user or a group) a direct member of `group_dn`.
    pub async fn add_member(&self, group_dn: &str, member_dn: &str) {
        self.modify(group_dn, Mod::Add("member", HashSet::from([member_dn])))
            .await;
    }

    pub async fn remove_member(&self, group_dn: &str, member_dn: &str) {
        self.modify(group_dn, Mod::Delete("member", HashSet::from([member_dn])))
            .await;
    }

    pub async fn disable(&self, user: &TestUser) {
        self.modify(
            &user.dn,
            Mod::Replace("userAccountControl", HashSet::from([DISABLED])),
        )
        .await;
    }

    pub async fn enable(&self, user: &TestUser) {
        self.modify(
            &user.dn,
            Mod::Replace("userAccountControl", HashSet::from([ENABLED])),
        )
        .await;
    }

    /// Leaves `user` without a mail address.
    pub async fn remove_mail(&self, user: &TestUser) {
        self.modify(&user.dn, Mod::Delete("mail", HashSet::new()))
            .await;
    }

    /// Deletes an entry made here (a user or a group).
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

/// `zt` + the hint (cut short) + 8 random hex digits: within AD's 20 characters for
/// sAMAccountName, and acceptable to the IdP's username rules.
pub fn unique(hint: &str) -> String {
    let hint: String = hint
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .take(9)
        .collect::<String>()
        .to_lowercase();
    let random = uuid::Uuid::new_v4().simple().to_string();
    format!("zt{hint}-{}", &random[..8])
}

fn attr(name: &str, values: &[&str]) -> (Vec<u8>, HashSet<Vec<u8>>) {
    (
        name.as_bytes().to_vec(),
        values.iter().map(|v| v.as_bytes().to_vec()).collect(),
    )
}
