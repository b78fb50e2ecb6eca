//! Characters that change how text reads without showing themselves: bidirectional overrides
//! and isolates, zero-width spaces and joiners, and the like. In a justification an approver
//! reads, they can make words appear in another order than they were written, so free text
//! refuses them (names refuse them already by their character sets).

/// The first such character in `text`, with its Unicode name, for a message that says which.
pub fn first_hidden(text: &str) -> Option<(char, &'static str)> {
    text.chars().find_map(|c| name(c).map(|n| (c, n)))
}

fn name(c: char) -> Option<&'static str> {
    Some(match c {
        '\u{00AD}' => "SOFT HYPHEN",
        '\u{061C}' => "ARABIC LETTER MARK",
        '\u{180E}' => "MONGOLIAN VOWEL SEPARATOR",
        '\u{200B}' => "ZERO WIDTH SPACE",
        '\u{200C}' => "ZERO WIDTH NON-JOINER",
        '\u{200D}' => "ZERO WIDTH JOINER",
        '\u{200E}' => "LEFT-TO-RIGHT MARK",
        '\u{200F}' => "RIGHT-TO-LEFT MARK",
        '\u{202A}' => "LEFT-TO-RIGHT EMBEDDING",
        '\u{202B}' => "RIGHT-TO-LEFT EMBEDDING",
        '\u{202C}' => "POP DIRECTIONAL FORMATTING",
        '\u{202D}' => "LEFT-TO-RIGHT OVERRIDE",
        '\u{202E}' => "RIGHT-TO-LEFT OVERRIDE",
        '\u{2060}' => "WORD JOINER",
        '\u{2061}'..='\u{2064}' => "INVISIBLE OPERATOR",
        '\u{2066}' => "LEFT-TO-RIGHT ISOLATE",
        '\u{2067}' => "RIGHT-TO-LEFT ISOLATE",
        '\u{2068}' => "FIRST STRONG ISOLATE",
        '\u{2069}' => "POP DIRECTIONAL ISOLATE",
        '\u{206A}'..='\u{206F}' => "DEPRECATED FORMAT CHARACTER",
        '\u{FEFF}' => "ZERO WIDTH NO-BREAK SPACE",
        '\u{FFF9}'..='\u{FFFB}' => "INTERLINEAR ANNOTATION CHARACTER",
        '\u{E0000}'..='\u{E007F}' => "TAG CHARACTER",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overrides_and_zero_width_characters_are_found_and_ordinary_text_is_not() {
        assert_eq!(
            first_hidden("pay \u{202E}0001\u{202C} now"),
            Some(('\u{202E}', "RIGHT-TO-LEFT OVERRIDE"))
        );
        assert_eq!(
            first_hidden("a\u{200B}b").map(|(_, n)| n),
            Some("ZERO WIDTH SPACE")
        );
        assert_eq!(
            first_hidden("Ünïcödé, 日本語, עברית, العربية, emoji 🚀"),
            None
        );
    }
}
