//! The search filters the portal sends to Active Directory, built only from escaped values.

use super::escape::filter_value;

/// AD's transitive ("in chain") matching rule: membership through any depth of nesting.
pub const IN_CHAIN: &str = "1.2.840.113556.1.4.1941";
/// AD's bitwise-AND matching rule, used to test userAccountControl flags.
const BIT_AND: &str = "1.2.840.113556.1.4.803";
/// userAccountControl flag ACCOUNTDISABLE.
pub const ACCOUNT_DISABLED: u32 = 2;

/// The person whose `attribute` equals `username`.
pub fn user(attribute: &str, username: &str) -> String {
    format!(
        "(&(objectCategory=person)(objectClass=user)({attribute}={}))",
        filter_value(username)
    )
}

/// Every group the entry `member_dn` belongs to, directly or through nested groups.
pub fn groups_of(member_dn: &str) -> String {
    format!(
        "(&(objectClass=group)(member:{IN_CHAIN}:={}))",
        filter_value(member_dn)
    )
}

/// The group named `cn`.
pub fn group(cn: &str) -> String {
    format!("(&(objectClass=group)(cn={}))", filter_value(cn))
}

/// Groups whose name starts with `prefix` (every group for an empty prefix).
pub fn groups_with_prefix(prefix: &str) -> String {
    format!("(&(objectClass=group)(cn={}*))", filter_value(prefix))
}

/// Enabled people with a mail address who are members of `group_dn`, through nesting too.
pub fn members_with_mail(group_dn: &str) -> String {
    format!(
        "(&(objectCategory=person)(objectClass=user)(mail=*)\
         (!(userAccountControl:{BIT_AND}:={ACCOUNT_DISABLED}))\
         (memberOf:{IN_CHAIN}:={}))",
        filter_value(group_dn)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hostile_username_is_a_literal_value_in_the_user_filter() {
        assert_eq!(
            user("sAMAccountName", "*)(|(cn=*"),
            r"(&(objectCategory=person)(objectClass=user)(sAMAccountName=\2a\29\28|\28cn=\2a))"
        );
    }

    #[test]
    fn a_dn_with_parentheses_is_escaped_in_the_in_chain_filter() {
        assert_eq!(
            groups_of("CN=Jackson (ops),CN=Users,DC=corp"),
            concat!(
                r"(&(objectClass=group)(member:1.2.840.113556.1.4.1941:=",
                r"CN=Jackson \28ops\29,CN=Users,DC=corp))"
            )
        );
    }

    #[test]
    fn the_prefix_search_keeps_only_its_own_wildcard() {
        assert_eq!(
            groups_with_prefix("ten*"),
            r"(&(objectClass=group)(cn=ten\2a*))"
        );
    }

    #[test]
    fn members_with_mail_excludes_disabled_accounts_and_follows_nesting() {
        let filter = members_with_mail("CN=tenant1-viewers,DC=corp");
        assert!(filter.contains("(!(userAccountControl:1.2.840.113556.1.4.803:=2))"));
        assert!(filter.contains("(memberOf:1.2.840.113556.1.4.1941:=CN=tenant1-viewers,DC=corp)"));
        assert!(filter.contains("(mail=*)"));
    }
}
