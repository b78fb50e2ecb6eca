//! Reading attributes out of search entries, the way AD spells them.

use ldap3::SearchEntry;

use super::filters::ACCOUNT_DISABLED;

/// The first value of `name`; attribute names are case-insensitive in LDAP.
pub fn first<'e>(entry: &'e SearchEntry, name: &str) -> Option<&'e str> {
    all(entry, name).first().map(String::as_str)
}

/// Every value of `name` (none when the entry lacks it).
pub fn all<'e>(entry: &'e SearchEntry, name: &str) -> &'e [String] {
    entry
        .attrs
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_slice())
        .unwrap_or_default()
}

/// Whether userAccountControl has ACCOUNTDISABLE set. An entry without the attribute (not an AD
/// account) is taken as enabled; one with an unreadable value as disabled, to fail closed.
pub fn is_disabled(entry: &SearchEntry) -> bool {
    match first(entry, "userAccountControl") {
        None => false,
        Some(raw) => raw
            .trim()
            .parse::<i64>()
            .map(|flags| flags & i64::from(ACCOUNT_DISABLED) != 0)
            .unwrap_or(true),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn entry(attrs: &[(&str, &str)]) -> SearchEntry {
        let mut map: HashMap<String, Vec<String>> = HashMap::new();
        for (k, v) in attrs {
            map.entry((*k).to_owned())
                .or_default()
                .push((*v).to_owned());
        }
        SearchEntry {
            dn: "CN=x".into(),
            attrs: map,
            bin_attrs: HashMap::new(),
        }
    }

    #[test]
    fn attribute_names_match_whatever_case_the_server_used() {
        let e = entry(&[("samaccountname", "jjackson")]);
        assert_eq!(first(&e, "sAMAccountName"), Some("jjackson"));
        assert_eq!(first(&e, "mail"), None);
    }

    #[test]
    fn the_disabled_flag_is_bit_two_of_user_account_control() {
        assert!(!is_disabled(&entry(&[("userAccountControl", "512")])));
        assert!(is_disabled(&entry(&[("userAccountControl", "514")])));
        assert!(is_disabled(&entry(&[("userAccountControl", "66050")])));
        assert!(!is_disabled(&entry(&[("userAccountControl", "66048")])));
    }

    #[test]
    fn an_unreadable_user_account_control_counts_as_disabled() {
        assert!(is_disabled(&entry(&[("userAccountControl", "garbage")])));
        assert!(!is_disabled(&entry(&[])));
    }
}
