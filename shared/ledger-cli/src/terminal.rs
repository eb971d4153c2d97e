//! What this tool writes to a terminal: recorded values come from evidence an adversary may
//! have shaped, so none of them reaches the terminal raw if it could steer it — move the
//! cursor, erase or hide a line, reorder what a person reads (bidirectional controls), or hide
//! text or make two different values look alike (invisible format characters).
//!
//! Messages pass through [`printable`] (foreign text put into them through [`one_line`]);
//! `--json` lines through [`json_line`]; the bundle `prove` writes through [`json_text`] (the
//! same JSON value: a bundle reads in any JSON formatting).

/// A character that must not reach a terminal raw: a control character (C0, DEL, C1), a
/// bidirectional control, an invisible format character (soft hyphen, zero-width space,
/// non-joiner and joiner, word joiner and invisible operators, byte-order mark, Mongolian
/// vowel separator), a line or paragraph separator, or a Unicode tag character.
pub fn steers_terminal(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{ad}'
                | '\u{61c}'
                | '\u{180e}'
                | '\u{200b}'..='\u{200f}'
                | '\u{2028}'..='\u{202e}'
                | '\u{2060}'..='\u{2064}'
                | '\u{2066}'..='\u{2069}'
                | '\u{feff}'
                | '\u{e0000}'..='\u{e007f}'
        )
}

/// `text` safe for a terminal: every character [`steers_terminal`] names, but the line breaks
/// this tool writes, shown escaped (`\u{1b}`).
pub fn printable(text: &str) -> String {
    escaped(text, |c| c != '\n' && steers_terminal(c))
}

/// Foreign text (a server's answer, a file name, a value) to put into a message: as
/// [`printable`], and its line breaks escaped too, so that it cannot forge a line of its own.
pub fn one_line(text: &str) -> String {
    escaped(text, steers_terminal)
}

fn escaped(text: &str, escape: impl Fn(char) -> bool) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if escape(c) {
            out.extend(c.escape_unicode());
        } else {
            out.push(c);
        }
    }
    out
}

/// `value` as one line of JSON (newline-terminated) that is safe for a terminal: serde_json
/// escapes C0 itself; every other character [`steers_terminal`] names is written as JSON's
/// `\uXXXX` escape (a surrogate pair above U+FFFF). Such characters occur only inside strings,
/// so the line is the same JSON value.
pub fn json_line(value: &serde_json::Value) -> String {
    let mut out = json_text(&value.to_string());
    out.push('\n');
    out
}

/// JSON text (as serde_json writes it: C0 escaped) with every other character
/// [`steers_terminal`] names, but its line breaks, written as `\uXXXX`: the same JSON value.
pub fn json_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c != '\n' && steers_terminal(c) {
            let mut units = [0u16; 2];
            for unit in c.encode_utf16(&mut units) {
                out.push_str(&format!("\\u{unit:04x}"));
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn json_lines_say_the_same_value_with_nothing_that_steers_a_terminal() {
        let hostile =
            "a\u{1b}[2K\u{7f}\u{85}\u{9b}\u{202e}\u{2066}\u{200b}\u{200d}\u{2028}\u{feff}\u{e0041}\u{1f600}é\n";
        let value = json!({ hostile: [hostile, 1, null] });
        let line = json_line(&value);
        assert!(line.ends_with('\n') && line.matches('\n').count() == 1, "{line:?}");
        assert!(!line.trim_end().chars().any(steers_terminal), "{line:?}");
        // Above U+FFFF: a surrogate pair; what does not steer (an emoji, é) stays as it is.
        assert!(
            line.contains("\\udb40\\udc41") && line.contains('\u{1f600}') && line.contains('é'),
            "{line}"
        );
        let back: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(back, value);
    }

    #[test]
    fn foreign_text_cannot_forge_a_line() {
        assert_eq!(one_line("x\nOK: all fine\r\n"), "x\\u{a}OK: all fine\\u{d}\\u{a}");
    }

    #[test]
    fn printable_text_keeps_its_line_breaks_and_shows_the_rest_escaped() {
        let text = printable("OK\u{1b}[2K\rX\u{200b}Y\u{e0041}\tZ\nnext é\n");
        assert_eq!(text, "OK\\u{1b}[2K\\u{d}X\\u{200b}Y\\u{e0041}\\u{9}Z\nnext é\n");
    }
}
