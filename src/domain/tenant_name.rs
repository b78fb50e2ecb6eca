//! The tenant's name and every name derived from it.

use std::fmt;

use super::Invalid;

/// A tenant name: a DNS-1123 label short enough that every derived name fits its system.
///
/// The longest derived name is the MySQL user `vc_<name>` (MySQL caps user names at 32
/// characters), so names are at most 29 characters. Derivations only replace `-` by `_`, and
/// names never contain `_`, so two tenants can never derive the same database or user name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(transparent)]
pub struct TenantName(String);

pub const MIN_LEN: usize = 2;
pub const MAX_LEN: usize = 29;

/// Names that belong to the platform, whatever the configuration adds.
const RESERVED: &[&str] = &[
    "default",
    "tenantry",
    "cert-manager",
    "vault",
    "ingress-nginx",
    "openunison",
];

impl TenantName {
    /// Parses user input. `reserved` are extra names the configuration forbids.
    pub fn parse(input: &str, reserved: &[String]) -> Result<TenantName, Invalid> {
        let name = input.trim();
        if name.is_empty() {
            return Err(Invalid::new("Enter a tenant name."));
        }
        // Characters, not bytes: "ää" is two characters that break the alphabet rule, and the
        // message must not tell someone their 15-letter name is too long.
        let count = name.chars().count();
        if !(MIN_LEN..=MAX_LEN).contains(&count) {
            return Err(Invalid::new(format!(
                "Use {MIN_LEN} to {MAX_LEN} characters (this has {count}): derived names such as \
                 the database user must fit their systems."
            )));
        }
        if !name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            return Err(Invalid::new(
                "Use only lowercase letters a–z, digits and hyphens.",
            ));
        }
        if !name.as_bytes()[0].is_ascii_lowercase() {
            return Err(Invalid::new("Start with a lowercase letter."));
        }
        if name.ends_with('-') {
            return Err(Invalid::new("End with a letter or a digit."));
        }
        if name.contains("--") {
            return Err(Invalid::new("Do not use two hyphens in a row."));
        }
        if name.starts_with("kube-")
            || name.starts_with("vcluster-")
            || RESERVED.contains(&name)
            || reserved.iter().any(|r| r.eq_ignore_ascii_case(name))
        {
            return Err(Invalid::new(format!(
                "“{name}” is reserved for the platform; choose another name."
            )));
        }
        Ok(TenantName(name.to_owned()))
    }

    /// For values read back from the store, which were validated when written.
    pub fn from_trusted(name: String) -> TenantName {
        TenantName(name)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The host namespace (and vCluster release) name.
    pub fn namespace(&self) -> &str {
        &self.0
    }

    /// The MySQL database and user name: `vc_` and the name with `-` as `_`.
    pub fn database_identifier(&self) -> String {
        format!("vc_{}", self.0.replace('-', "_"))
    }

    /// The Vault Kubernetes auth mount path and policy name.
    pub fn vault_mount(&self) -> String {
        format!("vcluster-{}", self.0)
    }
}

impl fmt::Display for TenantName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<TenantName, Invalid> {
        TenantName::parse(s, &["payments-prod".to_owned()])
    }

    #[test]
    fn accepts_dns_labels_within_the_length() {
        for ok in [
            "tenant1",
            "ab",
            "team-a-dev",
            "a2345678901234567890123456789",
        ] {
            assert!(parse(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn refuses_what_is_not_a_short_dns_label() {
        for bad in [
            "",
            "a",
            "Tenant1",
            "1tenant",
            "tenant-",
            "ten_ant",
            "ten.ant",
            "tenänt",
            "a--b",
            "a23456789012345678901234567890",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn lengths_are_counted_in_characters() {
        // 15 characters, 30 bytes: the alphabet is the problem, not the length.
        let message = parse(&"ä".repeat(15)).unwrap_err().0;
        assert!(message.contains("lowercase letters"), "{message}");
        let message = parse(&"ä".repeat(30)).unwrap_err().0;
        assert!(message.contains("this has 30"), "{message}");
    }

    #[test]
    fn refuses_reserved_names() {
        for bad in [
            "default",
            "kube-system",
            "kube-anything",
            "vcluster-x",
            "tenantry",
            "payments-prod",
        ] {
            assert!(parse(bad).unwrap_err().0.contains("reserved"), "{bad}");
        }
    }

    #[test]
    fn every_accepted_name_derives_a_mysql_user_that_fits() {
        let longest = parse(&"a".repeat(MAX_LEN)).unwrap();
        assert!(longest.database_identifier().len() <= 32);
    }

    #[test]
    fn distinct_names_derive_distinct_database_names() {
        assert_ne!(
            parse("a-b").unwrap().database_identifier(),
            parse("ab").unwrap().database_identifier()
        );
        assert_eq!(parse("team-a").unwrap().database_identifier(), "vc_team_a");
    }
}
