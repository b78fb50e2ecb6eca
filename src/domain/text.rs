//! Free text people write: descriptions, justifications and decision reasons.

use super::Invalid;

macro_rules! bounded_text {
    ($name:ident, $what:literal, $min:expr, $max:expr) => {
        #[doc = concat!("A ", $what, ", trimmed, between the bounds in characters, without control characters other than newlines and tabs.")]
        #[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            pub const MIN: usize = $min;
            pub const MAX: usize = $max;

            pub fn parse(input: &str) -> Result<Self, Invalid> {
                let text = input.trim();
                let count = text.chars().count();
                if count == 0 {
                    return Err(Invalid::new(concat!("Enter a ", $what, ".")));
                }
                if count < Self::MIN {
                    return Err(Invalid::new(format!(
                        concat!("Write at least {} characters for the ", $what, "."),
                        Self::MIN
                    )));
                }
                if count > Self::MAX {
                    return Err(Invalid::new(format!(
                        concat!("The ", $what, " is {} characters long; at most {} are allowed."),
                        count,
                        Self::MAX
                    )));
                }
                if text.chars().any(|c| c.is_control() && c != '\n' && c != '\r' && c != '\t') {
                    return Err(Invalid::new(concat!("The ", $what, " contains control characters.")));
                }
                Ok($name(text.to_owned()))
            }

            pub fn from_trusted(text: String) -> Self {
                $name(text)
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }
    };
}

bounded_text!(Description, "description", 3, 500);
bounded_text!(Justification, "justification", 10, 2000);
bounded_text!(Reason, "reason", 3, 1000);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_are_enforced_with_a_message() {
        assert!(Justification::parse("").unwrap_err().0.contains("Enter"));
        assert!(
            Justification::parse("too short")
                .unwrap_err()
                .0
                .contains("at least 10")
        );
        assert!(
            Description::parse(&"x".repeat(1 << 20))
                .unwrap_err()
                .0
                .contains("at most 500")
        );
        assert!(Reason::parse("ok\u{0}").is_err());
        assert_eq!(
            Reason::parse("  fine by me \n").unwrap().as_str(),
            "fine by me"
        );
    }

    #[test]
    fn markup_is_kept_as_text() {
        let j = Justification::parse("<script>alert(1)</script>").unwrap();
        assert_eq!(j.as_str(), "<script>alert(1)</script>");
    }
}
