//! Free text people write: descriptions, justifications and decision reasons.

use super::Invalid;

macro_rules! bounded_text {
    ($name:ident, $what:literal, $min:expr, $max:expr) => {
        #[doc = concat!("A ", $what, ", trimmed, between the bounds in characters, without control characters other than newlines and tabs, nor characters that hide or reorder text.")]
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
                if let Some((c, name)) = super::invisible::first_hidden(text) {
                    return Err(Invalid::new(format!(
                        concat!(
                            "The ", $what, " contains an invisible character, U+{:04X} {}, ",
                            "which can make text read differently than it was written. Remove it ",
                            "(it often comes along when text is pasted)."
                        ),
                        c as u32,
                        name
                    )));
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
    fn characters_that_hide_or_reorder_text_are_refused_by_name() {
        let refused = Justification::parse("approved by \u{202E}gninrom\u{202C} team").unwrap_err();
        assert!(
            refused.0.contains("U+202E RIGHT-TO-LEFT OVERRIDE"),
            "{}",
            refused.0
        );
        assert!(Reason::parse("fine\u{200B}by me").is_err());
        assert!(Description::parse("caf\u{FEFF}e bar").is_err());
        assert!(Description::parse("Café für 日本 🚀").is_ok());
    }

    #[test]
    fn markup_is_kept_as_text() {
        let j = Justification::parse("<script>alert(1)</script>").unwrap();
        assert_eq!(j.as_str(), "<script>alert(1)</script>");
    }
}
