//! Whether a page (or a mail's HTML part) shows a payload only as text.

use std::collections::BTreeSet;

use scraper::{ElementRef, Html};

use crate::helpers::report::report;

/// Elements no page or mail of the portal uses, that an injection would bring in.
const FOREIGN: &[&str] = &[
    "img", "svg", "iframe", "object", "embed", "math", "base", "frame", "x-xss", "b",
];

/// Attributes whose value is a URL a browser follows or runs.
const URL_ATTRIBUTES: &[&str] = &["href", "src", "action", "formaction", "xlink:href", "data"];

/// Text as a parser hands it over: CR LF and lone CR become LF.
fn normalized(s: &str) -> String {
    s.replace("\r\n", "\n").replace('\r', "\n")
}

/// The problems with `html`, empty when it is inert: no inline script, no event-handler
/// attribute, no `javascript:` URL, no element the portal never writes, no comment other than
/// those in the templates (there are none).
pub fn injections(html: &str) -> Vec<String> {
    let page = Html::parse_document(html);
    let mut found = Vec::new();
    for node in page.tree.nodes() {
        if let scraper::Node::Comment(c) = node.value() {
            found.push(format!("a comment <!--{}-->", &**c));
        }
    }
    for element in page
        .root_element()
        .descendants()
        .filter_map(ElementRef::wrap)
    {
        let value = element.value();
        let name = value.name();
        if name == "script" {
            let src = value.attr("src").unwrap_or_default();
            let text: String = element.text().collect();
            if !src.starts_with("/static/") || !text.trim().is_empty() {
                found.push(format!("a script element: {}", element.html()));
            }
        }
        if FOREIGN.contains(&name) {
            found.push(format!("an injected <{name}>: {}", element.html()));
        }
        for (attribute, v) in value.attrs() {
            if attribute.to_ascii_lowercase().starts_with("on") {
                found.push(format!("an event handler {attribute}={v:?} on <{name}>"));
            }
            if ["autofocus", "x"].contains(&attribute) {
                found.push(format!("an injected attribute {attribute} on <{name}>"));
            }
            let url: String = v
                .chars()
                .filter(|c| !c.is_whitespace() && !c.is_control())
                .collect();
            if URL_ATTRIBUTES.contains(&attribute)
                && url.to_ascii_lowercase().starts_with("javascript:")
            {
                found.push(format!("a javascript: URL in {attribute} of <{name}>"));
            }
        }
    }
    found
}

/// Whether `payload` is on the page as what was typed: in a text node or an attribute value.
pub fn shown(html: &str, payload: &str) -> bool {
    let page = Html::parse_document(html);
    let wanted = normalized(payload);
    let text: String = page.root_element().text().collect();
    normalized(&text).contains(&wanted)
        || page
            .root_element()
            .descendants()
            .filter_map(ElementRef::wrap)
            .flat_map(|e| {
                e.value()
                    .attrs()
                    .map(|(_, v)| v.to_owned())
                    .collect::<Vec<_>>()
            })
            .any(|v| normalized(&v).contains(&wanted))
}

/// Whether `payload` would be markup if it were pasted into `html` raw: then its raw form must
/// not be in the source.
fn pasted_raw(html: &str, payload: &str) -> bool {
    payload.contains(['<', '>', '"', '\'', '&']) && html.contains(payload)
}

/// What a sweep tried and what it found, reported to the resilience report as one line and
/// asserted once at the end, with every failure listed.
#[derive(Default)]
pub struct Sweep {
    pub checks: usize,
    pub refused: usize,
    pub failures: Vec<String>,
    pub pages: BTreeSet<String>,
    pub mails: BTreeSet<String>,
    pub payloads: BTreeSet<String>,
    pub fields: BTreeSet<String>,
}

impl Sweep {
    /// `html` (the page `where_`) must carry `payload` (typed into `field`) as text only.
    pub fn expect_text(&mut self, where_: &str, field: &str, html: &str, payload: &str) {
        self.note(where_, field, payload);
        if !shown(html, payload) {
            self.failures.push(format!(
                "{where_}: {field} {payload:?} is not shown as text"
            ));
        }
        self.expect_inert(where_, field, html, payload);
    }

    /// `html` must be inert and must not hold the raw payload, whether it shows it or not.
    pub fn expect_inert(&mut self, where_: &str, field: &str, html: &str, payload: &str) {
        self.note(where_, field, payload);
        self.checks += 1;
        if pasted_raw(html, payload) {
            self.failures.push(format!(
                "{where_}: {field} {payload:?} is in the source unescaped"
            ));
        }
        for problem in injections(html) {
            self.failures
                .push(format!("{where_}: {field} {payload:?}: {problem}"));
        }
    }

    /// A mail's HTML part as a page, and its text part carrying the payload exactly as typed.
    pub fn expect_mail(&mut self, kind: &str, field: &str, html: &str, text: &str, payload: &str) {
        self.mails.insert(kind.to_owned());
        self.expect_text(&format!("mail {kind} (HTML)"), field, html, payload);
        self.checks += 1;
        if !normalized(text).contains(&normalized(payload)) {
            self.failures.push(format!(
                "mail {kind} (text): {field} {payload:?} is not there as typed"
            ));
        }
    }

    fn note(&mut self, where_: &str, field: &str, payload: &str) {
        if !where_.starts_with("mail ") {
            self.pages.insert(where_.to_owned());
        }
        self.fields.insert(field.to_owned());
        self.payloads.insert(payload.to_owned());
    }

    /// Reports `summary` (what was typed where) with the counts and fails with every problem.
    pub fn finish(self, area: &str, summary: &str) {
        let mails = match self.mails.len() {
            0 => String::new(),
            n => format!(" + {n} mail kinds"),
        };
        report(
            area,
            format!(
                "{summary}: {} distinct strings in {} fields × {} pages{mails}, {} checks, {} refused at the edge, {} unescaped",
                self.payloads.len(),
                self.fields.len(),
                self.pages.len(),
                self.checks,
                self.refused,
                self.failures.len()
            ),
        );
        assert!(
            self.failures.is_empty(),
            "{} problems:\n{}",
            self.failures.len(),
            self.failures.join("\n")
        );
    }
}

#[test]
fn the_checks_catch_what_they_are_for() {
    // Each check must be able to fail: a page with the payload pasted raw fails all of them.
    let raw = |p: &str| format!("<html><body><p>{p}</p><textarea>{p}</textarea></body></html>");
    for payload in crate::security::payloads::XSS {
        let html = raw(payload);
        let mut sweep = Sweep::default();
        sweep.expect_text("raw", "f", &html, payload);
        if payload.contains(['<', '"', '\'', '&']) {
            assert!(
                !sweep.failures.is_empty(),
                "{payload:?} pasted raw went unnoticed"
            );
        }
    }
    assert!(!injections(r#"<p><img src=x onerror=alert(1)></p>"#).is_empty());
    assert!(!injections(r#"<a href=" JaVaScRiPt:alert(1)">x</a>"#).is_empty());
    assert!(!injections("<p><script>alert(1)</script></p>").is_empty());
    assert!(!injections("<input value=\"\" autofocus onfocus=\"alert(1)\">").is_empty());
    assert!(!injections("<p><!-- x --></p>").is_empty());
    assert!(injections(r#"<script src="/static/progress.js" defer></script>"#).is_empty());
    // Escaped, the same payloads pass, and are found as text.
    let escaped = "<p>&lt;script&gt;alert(1)&lt;/script&gt;</p><input value=\"&#34; autofocus\">";
    assert!(injections(escaped).is_empty());
    assert!(shown(escaped, "<script>alert(1)</script>"));
    assert!(shown(escaped, "\" autofocus"));
    assert!(!shown(escaped, "<b>"));
}
