//! Lone UTF-16 surrogates in JSON text.
//!
//! `JSON.stringify` writes a string holding half of a surrogate pair (an
//! emoji cut in two by `slice`) as a `\ud83d` escape, and `JSON.parse`
//! accepts it back. A Rust string cannot hold such a character, so
//! serde_json refuses it; rather than closing the connection, the decoder
//! replaces each lone surrogate by U+FFFD, as a lossy UTF-8 conversion
//! would.

/// `text` with every lone surrogate escape replaced by `\ufffd`, or `None`
/// (no copy) if there is none.
pub(crate) fn replace_lone_surrogates(text: &str) -> Option<String> {
    let b = text.as_bytes();
    let suspect = b
        .windows(3)
        .any(|w| w[0] == b'\\' && w[1] == b'u' && (w[2] | 0x20) == b'd');
    if !suspect {
        return None;
    }
    let mut out: Option<String> = None;
    let mut copied = 0;
    let mut replace = |start: usize, end: usize, copied: &mut usize| {
        let o = out.get_or_insert_with(|| String::with_capacity(text.len()));
        o.push_str(&text[*copied..start]);
        o.push_str("\\ufffd");
        *copied = end;
    };
    let (mut i, mut in_str) = (0, false);
    while let Some(&c) = b.get(i) {
        if !in_str {
            in_str = c == b'"';
            i += 1;
            continue;
        }
        match c {
            b'"' => {
                in_str = false;
                i += 1;
            }
            b'\\' if b.get(i + 1) == Some(&b'u') => match hex4(b, i + 2) {
                Some(0xD800..=0xDBFF) => {
                    let low = b.get(i + 6) == Some(&b'\\')
                        && b.get(i + 7) == Some(&b'u')
                        && matches!(hex4(b, i + 8), Some(0xDC00..=0xDFFF));
                    if low {
                        i += 12;
                    } else {
                        replace(i, i + 6, &mut copied);
                        i += 6;
                    }
                }
                Some(0xDC00..=0xDFFF) => {
                    replace(i, i + 6, &mut copied);
                    i += 6;
                }
                _ => i += 2,
            },
            // Any other escape: skip the escaped character's first byte
            // (never a quote or a backslash inside a multi-byte character).
            b'\\' => i += 2,
            _ => i += 1,
        }
    }
    let mut out = out?;
    out.push_str(&text[copied..]);
    Some(out)
}

fn hex4(b: &[u8], at: usize) -> Option<u16> {
    let digits = std::str::from_utf8(b.get(at..at + 4)?).ok()?;
    u16::from_str_radix(digits, 16)
        .ok()
        .filter(|_| digits.bytes().all(|d| d.is_ascii_hexdigit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_only_lone_halves() {
        let r = |s: &str| replace_lone_surrogates(s);
        assert_eq!(r(r#"["a","b"]"#), None);
        assert_eq!(r(r#"["\ud83d\ude00"]"#), None);
        assert_eq!(r(r#"["\\ud800"]"#), None);
        assert_eq!(r(r#"["x\ud83d"]"#).as_deref(), Some(r#"["x\ufffd"]"#));
        assert_eq!(
            r(r#"["\uDE00é","\ud83dx"]"#).as_deref(),
            Some(r#"["\ufffdé","\ufffdx"]"#)
        );
        assert_eq!(
            r(r#"["\ud83d\u0041"]"#).as_deref(),
            Some(r#"["\ufffd\u0041"]"#)
        );
        assert_eq!(
            r(r#"["\ud83d\ud83d\ude00"]"#).as_deref(),
            Some(r#"["\ufffd\ud83d\ude00"]"#)
        );
        assert_eq!(r(r#"[1, "\ud8"]"#), None);
        assert_eq!(r(r#"\ud800"#), None); // not inside a string
        assert_eq!(r("\"\\u+d80\""), None);
        let fixed = r(r#"["a","\ud800"]"#).unwrap();
        assert_eq!(
            serde_json::from_str::<Vec<String>>(&fixed).unwrap(),
            ["a", "\u{fffd}"]
        );
    }
}
