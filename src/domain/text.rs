//! One rule for control characters in what clients type (SPEC §5): a NUL
//! cannot be stored in PostgreSQL text (it would fail the statement, a 500), and
//! no field of ours means any other control character. Tab, CR and LF are let
//! through only where a field allows them (`allow_line_breaks`).

/// What a field with a control character is told, under its name.
pub const CONTROL_CHARACTERS: &str = "must not contain control characters";

/// Whether `value` holds a control character its field does not allow.
pub fn has_control_characters(value: &str, allow_line_breaks: bool) -> bool {
    value
        .chars()
        .any(|c| c.is_control() && !(allow_line_breaks && matches!(c, '\t' | '\r' | '\n')))
}

/// `Err` naming the rule when `value` holds a control character (none allowed).
pub fn no_control_characters(value: &str) -> Result<&str, &'static str> {
    if has_control_characters(value, false) {
        Err(CONTROL_CHARACTERS)
    } else {
        Ok(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn c0_del_and_c1_are_control_characters() {
        for bad in ["a\0b", "\u{1}", "x\u{1f}", "\u{7f}", "\u{85}"] {
            assert!(has_control_characters(bad, false), "{bad:?}");
            assert!(has_control_characters(bad, true), "{bad:?}");
        }
        assert!(has_control_characters("a\tb", false));
        assert!(!has_control_characters("a\tb\r\n", true));
        assert!(!has_control_characters("Zoë 👩‍💻 <x>", false));
        assert_eq!(no_control_characters("fine"), Ok("fine"));
        assert_eq!(no_control_characters("a\0"), Err(CONTROL_CHARACTERS));
    }
}
