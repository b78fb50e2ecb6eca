//! An Active Directory group name as people type it (its CN / sAMAccountName).

use std::fmt;

use super::Invalid;

/// A group name limited to the characters AD group names use in practice. Lookups escape it
/// anyway; refusing LDAP metacharacters here gives the user a clear message instead of a miss.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(transparent)]
pub struct GroupName(String);

pub const MAX_LEN: usize = 64;

impl GroupName {
    pub fn parse(input: &str) -> Result<GroupName, Invalid> {
        let name = input.trim();
        if name.is_empty() {
            return Err(Invalid::new("Enter an AD group name."));
        }
        if name.chars().count() > MAX_LEN {
            return Err(Invalid::new(format!(
                "AD group names have at most {MAX_LEN} characters."
            )));
        }
        if !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, ' ' | '-' | '_' | '.'))
        {
            return Err(Invalid::new(
                "Use the group's name as AD shows it: letters, digits, spaces, '.', '_' and '-'.",
            ));
        }
        Ok(GroupName(name.to_owned()))
    }

    /// For values read back from the store, which were validated when written.
    pub fn from_trusted(name: String) -> GroupName {
        GroupName(name)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for GroupName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_ordinary_group_names() {
        for ok in ["tenant1-admins", "K8s Cluster Admins", "team_a.dev"] {
            assert_eq!(GroupName::parse(ok).unwrap().as_str(), ok);
        }
    }

    #[test]
    fn refuses_ldap_metacharacters_and_empty_names() {
        for bad in [
            "",
            "  ",
            "*",
            "a*",
            "x)(cn=*",
            "a\\b",
            "a,b",
            "a=b",
            "a\0b",
            &"g".repeat(65),
        ] {
            assert!(GroupName::parse(bad).is_err(), "{bad:?}");
        }
    }
}
