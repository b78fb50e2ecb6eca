//! The domain parsers against independent oracles written from their doc comments: never a
//! panic, exactly the documented language accepted, accepted values round-trip after the
//! documented trimming, and every refusal names a rule the input really breaks.

use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use tenantry::auth::return_to::ReturnTo;
use tenantry::domain::{
    Description, GroupName, Justification, Reason, RequestStatus, TemplateName, TenantName,
};
use tenantry::store::audit::Action;
use tenantry::store::page::Cursor;

use super::{cases, runner};
use crate::helpers::report::report;

const AREA: &str = "bad input";

/// Text near each parser's language: valid shapes, their neighbours, boundary lengths, padding,
/// look-alike letters (`ä`, the Kelvin sign, dotless ı), controls, and arbitrary unicode.
fn near_names() -> impl Strategy<Value = String> {
    let core = prop_oneof![
        4 => "[a-z][a-z0-9-]{0,30}",
        2 => "[a-zA-Z0-9 ._-]{0,70}",
        1 => "(kube|vcluster)-[a-z0-9]{0,6}",
        1 => prop::sample::select(vec![
            "default", "tenantry", "cert-manager", "vault", "ingress-nginx", "openunison",
            "a-", "-a", "a--b", "ab", "a", "Tenant1", "ten_ant", "tenänt", "\u{212a}ube-x",
            "tenant\u{0131}", "a\u{0}b", "ab\u{85}", "\u{85}ab", "x\u{200b}y",
        ]).prop_map(str::to_owned),
        1 => (1usize..80).prop_map(|n| "a".repeat(n)),
        1 => (1usize..40).prop_map(|n| "ä".repeat(n)),
        2 => "\\PC{0,40}",
        1 => any::<String>(),
        1 => (0usize..200_000).prop_map(|n| "z".repeat(n)),
    ];
    let pad = prop::sample::select(vec!["", " ", "\t", "\n", "\r\n", "\u{a0}", "\u{3000}"]);
    (pad.clone(), core, pad).prop_map(|(a, c, b)| format!("{a}{c}{b}"))
}

fn free_text() -> impl Strategy<Value = String> {
    let core = prop_oneof![
        3 => "[a-zA-Z ,.]{0,30}",
        2 => "\\PC{0,60}",
        1 => "[a-z\\n\\r\\t]{0,20}",
        1 => "[a-z]{0,5}[\\x00-\\x1f\\x7f\\u{80}-\\u{9f}][a-z]{0,5}",
        1 => any::<String>(),
        1 => (0usize..2_200).prop_map(|n| "é".repeat(n)),
        1 => prop::sample::select(vec![0usize, 1, 2, 3, 4, 9, 10, 11, 499, 500, 501, 999, 1000, 1001, 1999, 2000, 2001])
            .prop_map(|n| "\u{1F600}".repeat(n)),
        1 => (0usize..300_000).prop_map(|n| "y".repeat(n)),
    ];
    let pad = prop::sample::select(vec!["", " ", "\n", "\u{85}", "\u{2028}"]);
    (pad.clone(), core, pad).prop_map(|(a, c, b)| format!("{a}{c}{b}"))
}

/// The DNS-1123 label grammar read one character at a time:
/// `label := lower (lower | digit | '-')* and not ending in '-'`.
fn dns_label(s: &str) -> bool {
    let chars: Vec<char> = s.chars().collect();
    let Some((first, rest)) = chars.split_first() else {
        return false;
    };
    first.is_ascii_lowercase()
        && rest
            .iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-')
        && chars.last() != Some(&'-')
}

/// Each rule of the tenant-name doc comment, as the oracle sees it.
struct TenantRules<'a> {
    t: &'a str,
    reserved: &'a [String],
}

impl TenantRules<'_> {
    fn count(&self) -> usize {
        self.t.chars().count()
    }
    fn length_ok(&self) -> bool {
        (2..=29).contains(&self.count())
    }
    fn charset_ok(&self) -> bool {
        self.t
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    }
    fn reserved(&self) -> bool {
        const PLATFORM: [&str; 6] = [
            "default",
            "tenantry",
            "cert-manager",
            "vault",
            "ingress-nginx",
            "openunison",
        ];
        self.t.starts_with("kube-")
            || self.t.starts_with("vcluster-")
            || PLATFORM.contains(&self.t)
            || self.reserved.iter().any(|r| r.to_lowercase() == self.t)
    }
    fn accepted(&self) -> bool {
        self.length_ok() && dns_label(self.t) && !self.t.contains("--") && !self.reserved()
    }
}

#[test]
fn tenant_names_accept_exactly_short_dns_labels() {
    let n = cases(512);
    let reserved = vec!["payments-prod".to_owned(), "Legacy".to_owned()];
    runner(n)
        .run(&near_names(), |input| {
            let rules = TenantRules {
                t: input.trim(),
                reserved: &reserved,
            };
            match TenantName::parse(&input, &reserved) {
                Ok(name) => {
                    prop_assert!(rules.accepted(), "accepted {input:?}");
                    prop_assert_eq!(name.as_str(), rules.t);
                    prop_assert_eq!(name.to_string(), rules.t);
                    prop_assert!(name.database_identifier().len() <= 32);
                }
                Err(e) => {
                    prop_assert!(!rules.accepted(), "refused {input:?}: {}", e.0);
                    // The message names a rule this input really breaks.
                    let m = &e.0;
                    let named = if m.starts_with("Enter") {
                        rules.t.is_empty()
                    } else if m.contains("characters (this has") {
                        !rules.length_ok() && m.contains(&format!("this has {})", rules.count()))
                    } else if m.contains("lowercase letters a–z") {
                        !rules.charset_ok()
                    } else if m.starts_with("Start with") {
                        !rules.t.starts_with(|c: char| c.is_ascii_lowercase())
                    } else if m.starts_with("End with") {
                        rules.t.ends_with('-')
                    } else if m.contains("two hyphens") {
                        rules.t.contains("--")
                    } else if m.contains("reserved") {
                        rules.reserved()
                    } else {
                        false
                    };
                    prop_assert!(
                        named,
                        "{input:?} refused with {m:?}, a rule it does not break"
                    );
                }
            }
            Ok(())
        })
        .unwrap();
    report(
        AREA,
        format!(
            "tenant names: {n} generated cases, 0 panics, accepted = oracle, every refusal named a rule the input breaks"
        ),
    );
}

#[test]
fn group_names_accept_exactly_the_documented_characters() {
    let n = cases(512);
    runner(n)
        .run(&near_names(), |input| {
            let t = input.trim();
            let count = t.chars().count();
            let chars_ok = t
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || " -_.".contains(c));
            let accepted = (1..=64).contains(&count) && chars_ok;
            match GroupName::parse(&input) {
                Ok(g) => {
                    prop_assert!(accepted, "accepted {input:?}");
                    prop_assert_eq!(g.as_str(), t);
                    prop_assert_eq!(g.to_string(), t);
                }
                Err(e) => {
                    prop_assert!(!accepted, "refused {input:?}: {}", e.0);
                    let m = &e.0;
                    let named = if m.starts_with("Enter") {
                        count == 0
                    } else if m.contains("at most 64") {
                        count > 64
                    } else if m.contains("letters, digits") {
                        !chars_ok
                    } else {
                        false
                    };
                    prop_assert!(named, "{input:?} refused with {m:?}");
                }
            }
            Ok(())
        })
        .unwrap();
    report(
        AREA,
        format!(
            "group names: {n} generated cases, 0 panics, accepted = oracle, every refusal named its rule"
        ),
    );
}

/// The free-text rule from its doc comment: trimmed, MIN..=MAX characters, no control
/// characters but newlines (`\n`, and `\r` of a CRLF) and tabs.
fn check_text<T>(
    input: &str,
    what: &str,
    (min, max): (usize, usize),
    parsed: Result<T, tenantry::domain::Invalid>,
    as_str: impl Fn(&T) -> &str,
) -> Result<(), TestCaseError> {
    let t = input.trim();
    let count = t.chars().count();
    let controls = t
        .chars()
        .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'));
    let accepted = count >= min && count <= max && !controls;
    match parsed {
        Ok(v) => {
            prop_assert!(accepted, "{what}: accepted {input:?}");
            prop_assert_eq!(as_str(&v), t);
        }
        Err(e) => {
            prop_assert!(!accepted, "{what}: refused {input:?}: {}", e.0);
            let m = &e.0;
            prop_assert!(m.contains(what), "{m:?} does not name the {what}");
            let named = if m.starts_with("Enter") {
                count == 0
            } else if m.contains(&format!("at least {min}")) {
                count < min
            } else if m.contains(&format!("{count} characters long; at most {max}")) {
                count > max
            } else if m.contains("control characters") {
                controls
            } else {
                false
            };
            prop_assert!(named, "{what}: {input:?} refused with {m:?}");
        }
    }
    Ok(())
}

#[test]
fn free_text_fields_accept_exactly_their_bounds() {
    let n = cases(384);
    runner(n)
        .run(&free_text(), |input| {
            check_text(
                &input,
                "description",
                (Description::MIN, Description::MAX),
                Description::parse(&input),
                |v| v.as_str(),
            )?;
            check_text(
                &input,
                "justification",
                (Justification::MIN, Justification::MAX),
                Justification::parse(&input),
                |v| v.as_str(),
            )?;
            check_text(
                &input,
                "reason",
                (Reason::MIN, Reason::MAX),
                Reason::parse(&input),
                |v| v.as_str(),
            )
        })
        .unwrap();
    report(
        AREA,
        format!(
            "descriptions, justifications, reasons: {n} generated cases each, 0 panics, accepted = oracle, every refusal named the field and its rule"
        ),
    );
}

#[test]
fn small_vocabularies_accept_only_their_words() {
    let n = cases(256);
    let offered = vec!["dev".to_owned(), "ha".to_owned()];
    let words = prop_oneof![
        prop::sample::select(
            RequestStatus::ALL
                .iter()
                .map(|s| s.as_str().to_owned())
                .chain(Action::ALL.iter().map(|a| a.as_str().to_owned()))
                .chain(["dev", " ha ", "HA", "Pending", "pending ", "dev\0"].map(str::to_owned))
                .collect::<Vec<_>>()
        ),
        "\\PC{0,20}",
        any::<String>(),
    ];
    runner(n)
        .run(&words, |input| {
            let t = input.trim();
            match TemplateName::parse(&input, &offered) {
                Ok(name) => prop_assert!(offered.iter().any(|o| o == t) && name.as_str() == t),
                Err(e) => {
                    prop_assert!(!offered.iter().any(|o| o == t));
                    prop_assert!(e.0.contains("template"), "{:?}", e.0);
                }
            }
            match input.parse::<RequestStatus>() {
                Ok(s) => prop_assert_eq!(s.as_str(), input.as_str()),
                Err(m) => {
                    prop_assert!(RequestStatus::ALL.iter().all(|s| s.as_str() != input));
                    prop_assert!(m.contains("status"), "{m:?}");
                }
            }
            match Action::parse(&input) {
                Some(a) => prop_assert_eq!(a.as_str(), input.as_str()),
                None => prop_assert!(Action::ALL.iter().all(|a| a.as_str() != input)),
            }
            Ok(())
        })
        .unwrap();
    report(
        AREA,
        format!(
            "templates, request statuses, audit actions: {n} generated cases, 0 panics, exactly the listed words accepted"
        ),
    );
}

/// Postgres stores `timestamptz` from 4713 BC to 294276 AD; a cursor outside it would make the
/// page's query fail on the server. The parser promises years 1 to 9999.
#[test]
fn page_cursors_round_trip_and_stay_within_what_postgres_stores() {
    let n = cases(512);
    let uuid = prop_oneof![
        Just("00000000-0000-0000-0000-000000000000".to_owned()),
        "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",
        "[0-9a-fA-F]{32}",
        "\\PC{0,40}",
    ];
    let micros = prop_oneof![
        any::<i64>().prop_map(|m| m.to_string()),
        (-62_135_596_800_000_000i64..253_402_300_799_999_999).prop_map(|m| m.to_string()),
        Just("-8000000000000000".to_owned()),
        Just("8000000000000000000".to_owned()),
        "[+-]?[0-9]{0,22}",
        "\\PC{0,10}",
    ];
    let text = prop_oneof![
        4 => (micros, uuid).prop_map(|(m, u)| format!("{m}.{u}")),
        1 => any::<String>(),
    ];
    runner(n)
        .run(&text, |input| {
            if let Ok(c) = Cursor::parse(&input) {
                let year = chrono::Datelike::year(&c.at);
                prop_assert!((1..=9999).contains(&year), "{input:?} → year {year}");
                prop_assert_eq!(Cursor::parse(&c.encode()).unwrap(), c);
            }
            Ok(())
        })
        .unwrap();
    report(
        AREA,
        format!(
            "page cursors: {n} generated cases, 0 panics, every accepted cursor round-trips within years 1–9999"
        ),
    );
}

#[test]
fn return_to_only_ever_yields_a_local_path() {
    let n = cases(512);
    let raw = prop_oneof![
        "/[a-z/?=&.%]{0,30}",
        "[/\\\\]{1,3}[a-z.:@]{0,20}",
        "(https?:|javascript:|//|/\\\\|/%2f|/%5c)[a-z.]{0,12}",
        "\\PC{0,40}",
        any::<String>(),
        (2040usize..2060).prop_map(|n| format!("/{}", "r".repeat(n))),
    ];
    runner(n)
        .run(&raw, |input| {
            if let Some(r) = ReturnTo::parse(&input) {
                let s = r.as_str();
                prop_assert!(s.starts_with('/') && !s.starts_with("//") && !s.contains('\\'));
                prop_assert!(!s.chars().any(char::is_control));
                let base = url::Url::parse("https://portal.example/").unwrap();
                prop_assert_eq!(base.join(s).unwrap().origin(), base.origin(), "{}", s);
                prop_assert!(s.len() <= 2048 * 3);
            }
            Ok(())
        })
        .unwrap();
    report(
        AREA,
        format!(
            "return_to: {n} generated cases, 0 panics, every accepted value a same-origin path"
        ),
    );
}
