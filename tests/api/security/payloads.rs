//! The hostile strings the sweeps type into every field.

/// Markup that would run script, add elements or attributes, or break out of the context it is
/// printed in (text, attribute value, textarea, `<code>`/`<pre>`, comment) if printed unescaped;
/// template syntax that would be evaluated by a template engine rendering user data; text that
/// is already escaped (must be shown as typed, not decoded); a style sheet that would hide the
/// page. Bidirectional overrides are refused at the edge instead (`requests.rs` shows that).
pub const XSS: &[&str] = &[
    "<script>alert(1)</script>",
    "\"><img src=x onerror=alert(1)>",
    "'><svg onload=alert(1)>",
    "javascript:alert(document.domain)",
    "{{7*7}} ${7*7} <%= 7*7 %> #{7*7}",
    "</textarea><script>alert(1)</script>",
    "\" autofocus onfocus=\"alert(1)",
    "' onmouseover='alert(1)' x='",
    "`-alert(1)-` <x-xss>${alert(1)}</x-xss>",
    "<style>*{display:none}</style><b>bold</b>",
    "</code></pre><iframe src=\"javascript:alert(1)\"></iframe>",
    "&lt;script&gt;alert(1)&lt;/script&gt; &amp; &#x3C;b>",
    "<!-- <a href=\"javascript:alert(1)\">x</a>",
];

/// Strings that change an SQL statement when pasted into it instead of bound: quotes, comment
/// starts, statement separators, LIKE wildcards, backslashes, a NUL byte (Postgres refuses it
/// in text), Unicode quotes that some layers fold into ASCII ones, placeholders.
pub const SQL: &[&str] = &[
    "' OR '1'='1",
    "'; DROP TABLE requests; --",
    "\" OR \"\"=\"",
    "1) OR (1=1",
    "' UNION SELECT id, tenant_name FROM requests --",
    "\\",
    "\\'; SELECT pg_sleep(5); --",
    "%_%",
    "%",
    "nul\u{0}byte",
    "\u{2018} OR \u{2019}1\u{2019}=\u{2019}1 \u{201C}x\u{201D} \u{02BC}",
    "$1 $2 ?",
    "`; DROP DATABASE vc_x; --",
];

/// RFC 4515 filter metacharacters, a filter that would widen a search to everything, an escape
/// sequence typed literally, a NUL, and a DN fragment.
pub const LDAP: &[&str] = &[
    "*",
    "a*",
    ")(",
    "*)(cn=*",
    "*)(uid=*))(|(uid=*",
    "tenant1-admins)(|(cn=*",
    "\\2a",
    "\\",
    "nul\u{0}byte",
    "CN=tenant1-admins,CN=Users",
    "k8s-cluster-admins)(objectClass=*",
];

/// `s` at least `min` characters long (some fields have a minimum length), the payload first.
pub fn padded(s: &str, min: usize) -> String {
    let count = s.chars().count();
    if count >= min {
        s.to_owned()
    } else {
        format!("{s} {}", "x".repeat(min - count))
    }
}
