//! Where to send someone after they sign in: a path on this portal, never another site.

use serde::{Deserialize, Serialize};
use url::Url;

/// Longest accepted `return_to`; longer ones are not links people follow.
const MAX_LEN: usize = 2048;

/// A same-origin path (with its query), safe to put in a `Location` header.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ReturnTo(String);

impl ReturnTo {
    /// The home page.
    pub fn home() -> ReturnTo {
        ReturnTo("/".into())
    }

    /// Accepts only an absolute path on this origin: `/requests?x=1` yes; `//evil.example`,
    /// `/\evil.example`, `https://evil.example/` and paths with control characters no. Paths
    /// of the sign-in machinery itself become the home page, so nobody loops through sign-in.
    pub fn parse(raw: &str) -> Option<ReturnTo> {
        if raw.len() > MAX_LEN
            || !raw.starts_with('/')
            || raw.starts_with("//")
            || raw.contains('\\')
            || raw.chars().any(char::is_control)
        {
            return None;
        }
        let base = Url::parse("http://portal.invalid/").expect("a valid base URL");
        let joined = base.join(raw).ok()?;
        if joined.origin() != base.origin() {
            return None;
        }
        let path = joined.path();
        // Dot segments can collapse into a scheme-relative `//host` (`/.//evil.example` becomes
        // `//evil.example`), which a browser follows to another site: judge what the path became,
        // not only what was typed.
        if path.starts_with("//") {
            return None;
        }
        if path == "/login" || path.starts_with("/auth/") || path.starts_with("/logout") {
            return Some(ReturnTo::home());
        }
        Some(ReturnTo(match joined.query() {
            Some(query) => format!("{path}?{query}"),
            None => path.to_owned(),
        }))
    }

    /// `raw` when it is acceptable, else the home page.
    pub fn parse_or_home(raw: Option<&str>) -> ReturnTo {
        raw.and_then(ReturnTo::parse).unwrap_or_else(ReturnTo::home)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for ReturnTo {
    type Error = String;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        ReturnTo::parse(&value).ok_or_else(|| "not a same-origin path".to_owned())
    }
}

impl From<ReturnTo> for String {
    fn from(value: ReturnTo) -> Self {
        value.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_origin_paths_are_kept_with_their_query() {
        assert_eq!(ReturnTo::parse("/").unwrap().as_str(), "/");
        assert_eq!(
            ReturnTo::parse("/requests?after=abc").unwrap().as_str(),
            "/requests?after=abc"
        );
        assert_eq!(
            ReturnTo::parse("/requests/../approvals").unwrap().as_str(),
            "/approvals"
        );
    }

    #[test]
    fn other_origins_and_tricks_are_refused() {
        for hostile in [
            "https://evil.example/",
            "//evil.example/x",
            "/\\evil.example",
            "\\\\evil.example",
            "/\t/evil.example",
            "evil.example",
            "javascript:alert(1)",
            "",
            "/.//evil.example",
            "/..//evil.example",
            "/x/..//evil.example",
            "/%2e%2e//evil.example",
            "/./\\evil.example",
        ] {
            assert_eq!(ReturnTo::parse(hostile), None, "{hostile:?}");
        }
    }

    #[test]
    fn what_parse_accepts_it_accepts_again_unchanged() {
        // A pending sign-in stores the parsed value and parses it again when it comes back.
        for raw in [
            "/",
            "/requests?after=abc",
            "/a/./b/../c",
            "/%2F%2Fx",
            "/x y",
            "/é?q=ü",
        ] {
            let once = ReturnTo::parse(raw).unwrap();
            assert_eq!(
                ReturnTo::parse(once.as_str()),
                Some(once.clone()),
                "{raw:?}"
            );
            assert!(!once.as_str().starts_with("//"), "{raw:?}");
        }
    }

    #[test]
    fn the_sign_in_machinery_is_never_a_destination() {
        for path in ["/login?return_to=/x", "/auth/callback?code=1", "/logout"] {
            assert_eq!(ReturnTo::parse(path), Some(ReturnTo::home()), "{path}");
        }
    }

    #[test]
    fn anything_unacceptable_falls_back_to_home() {
        assert_eq!(ReturnTo::parse_or_home(None), ReturnTo::home());
        assert_eq!(
            ReturnTo::parse_or_home(Some("https://evil.example")),
            ReturnTo::home()
        );
    }
}
