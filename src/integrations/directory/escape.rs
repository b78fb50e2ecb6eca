//! Escaping of user-supplied values: RFC 4515 inside search filters, RFC 4514 inside DNs.
//!
//! Every value that did not come from the directory itself goes through one of these before it
//! is put into a filter or a DN, so a username like `*)(|(cn=*` stays a literal string.

use std::borrow::Cow;

/// A value for the right-hand side of a filter item: `\`, `*`, `(`, `)` and NUL become `\xx`.
pub fn filter_value(value: &str) -> Cow<'_, str> {
    ldap3::ldap_escape(value)
}

/// A value for one RDN of a DN: `"+,;<=>\` and NUL always, a leading space or `#` and a trailing
/// space become `\xx`.
pub fn dn_value(value: &str) -> Cow<'_, str> {
    ldap3::dn_escape(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filter_metacharacters_become_hex_escapes() {
        assert_eq!(filter_value("*)(|(cn=*"), r"\2a\29\28|\28cn=\2a");
        assert_eq!(filter_value(r"a\b"), r"a\5cb");
        assert_eq!(filter_value("nul\0byte"), r"nul\00byte");
    }

    #[test]
    fn ordinary_filter_values_are_unchanged() {
        assert_eq!(filter_value("jjackson"), "jjackson");
        assert_eq!(
            filter_value("j.jackson@corp.example.com"),
            "j.jackson@corp.example.com"
        );
        assert!(matches!(filter_value("plain"), Cow::Borrowed(_)));
    }

    #[test]
    fn an_escaped_filter_value_cannot_close_the_filter_item() {
        let hostile = "x)(objectClass=*";
        let filter = format!("(sAMAccountName={})", filter_value(hostile));
        let opens = filter.matches('(').count();
        let closes = filter.matches(')').count();
        assert_eq!((opens, closes), (1, 1), "{filter}");
    }

    #[test]
    fn dn_special_characters_become_hex_escapes() {
        assert_eq!(dn_value("Jackson, Jason"), r"Jackson\2c Jason");
        assert_eq!(dn_value("a+b=c"), r"a\2bb\3dc");
        assert_eq!(dn_value(r#"q"uote<>;\"#), r"q\22uote\3c\3e\3b\5c");
    }

    #[test]
    fn dn_leading_space_or_hash_and_trailing_space_are_escaped() {
        assert_eq!(dn_value("#admins"), r"\23admins");
        assert_eq!(dn_value(" padded "), r"\20padded\20");
        assert_eq!(dn_value("in side"), "in side");
    }
}
