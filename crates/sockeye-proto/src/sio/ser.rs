//! JSON output as `JSON.stringify` writes it, with binary data moved out into
//! attachments.
//!
//! serde_json calls [`Formatter::write_byte_array`] for every
//! `serialize_bytes` (`bytes::Bytes`, `serde_bytes`, [`Value::Binary`]); the
//! formatter here writes a `{"_placeholder":true,"num":N}` object instead and
//! keeps the bytes aside, so any `Serialize` type is encoded in one pass
//! without an intermediate tree. Floats are written in JavaScript's format
//! (`1` rather than `1.0`, `1e+21` rather than `1e21`).

use super::Value;
use bytes::Bytes;
use serde::Serialize;
use serde_json::ser::Formatter;
use std::io::{self, Write};

/// Serializes `data` to JSON, replacing binary data by placeholders numbered
/// from 0 in the order met; returns the JSON and the attachments.
///
/// ```
/// use bytes::Bytes;
/// use sockeye_proto::sio::to_json_with_attachments;
///
/// let (json, bins) = to_json_with_attachments(&("baz", Bytes::from_static(&[1, 2]), 1.0)).unwrap();
/// assert_eq!(json, r#"["baz",{"_placeholder":true,"num":0},1]"#);
/// assert_eq!(bins, vec![Bytes::from_static(&[1, 2])]);
/// ```
pub fn to_json_with_attachments<T: Serialize + ?Sized>(
    data: &T,
) -> Result<(String, Vec<Bytes>), serde_json::Error> {
    let mut out = Vec::with_capacity(64);
    let mut attachments = Vec::new();
    write_json(&mut out, data, &mut attachments)?;
    // serde_json writes UTF-8 only.
    let json = String::from_utf8(out).unwrap_or_default();
    Ok((json, attachments))
}

/// Writes `data` as JSON to `out`, binary data going to `attachments`.
pub(crate) fn write_json<W: Write, T: Serialize + ?Sized>(
    out: W,
    data: &T,
    attachments: &mut Vec<Bytes>,
) -> Result<(), serde_json::Error> {
    let mut ser = serde_json::Serializer::with_formatter(out, JsFormatter { attachments });
    data.serialize(&mut ser)
}

/// Compact JSON with JavaScript numbers and binary placeholders.
struct JsFormatter<'a> {
    attachments: &'a mut Vec<Bytes>,
}

impl Formatter for JsFormatter<'_> {
    fn write_byte_array<W: ?Sized + Write>(&mut self, w: &mut W, value: &[u8]) -> io::Result<()> {
        write_placeholder(w, self.attachments.len())?;
        self.attachments.push(Bytes::copy_from_slice(value));
        Ok(())
    }

    fn write_f64<W: ?Sized + Write>(&mut self, w: &mut W, value: f64) -> io::Result<()> {
        w.write_all(js_f64(value).as_bytes())
    }

    fn write_f32<W: ?Sized + Write>(&mut self, w: &mut W, value: f32) -> io::Result<()> {
        w.write_all(js_number(&format!("{value:e}"), value < 0.0).as_bytes())
    }
}

pub(crate) fn write_placeholder<W: ?Sized + Write>(w: &mut W, num: usize) -> io::Result<()> {
    write!(w, "{{\"_placeholder\":true,\"num\":{num}}}")
}

/// A finite `f64` as JavaScript writes it (`String(v)`).
pub(crate) fn js_f64(v: f64) -> String {
    js_number(&format!("{v:e}"), v < 0.0)
}

/// Formats a finite number as JavaScript's `Number.prototype.toString`
/// does, from Rust's shortest round-trip `{:e}` output (`1.25e3`).
fn js_number(exp_form: &str, negative: bool) -> String {
    let digits_and_exp = exp_form.trim_start_matches('-');
    let (mantissa, exp) = digits_and_exp
        .split_once('e')
        .unwrap_or((digits_and_exp, "0"));
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let digits = digits.trim_end_matches('0');
    if digits.is_empty() {
        return "0".to_owned(); // 0 and -0
    }
    let k = digits.len() as i64;
    let n = exp.parse::<i64>().unwrap_or(0) + 1;
    let mut s = String::with_capacity(24);
    if negative {
        s.push('-');
    }
    if k <= n && n <= 21 {
        s.push_str(digits);
        s.extend(std::iter::repeat_n('0', (n - k) as usize));
    } else if 0 < n && n <= 21 {
        s.push_str(&digits[..n as usize]);
        s.push('.');
        s.push_str(&digits[n as usize..]);
    } else if -6 < n && n <= 0 {
        s.push_str("0.");
        s.extend(std::iter::repeat_n('0', (-n) as usize));
        s.push_str(digits);
    } else {
        s.push_str(&digits[..1]);
        if k > 1 {
            s.push('.');
            s.push_str(&digits[1..]);
        }
        s.push('e');
        s.push(if n > 0 { '+' } else { '-' });
        s.push_str(&(n - 1).abs().to_string());
    }
    s
}

/// Writes a [`Value`] as JSON with placeholders; binary nodes are cloned
/// into `attachments` without copying their bytes.
pub(crate) fn write_value(out: &mut Vec<u8>, value: &Value, attachments: &mut Vec<Bytes>) {
    match value {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        Value::Number(n) => {
            if n.is_f64() {
                let f = n.as_f64().unwrap_or(0.0);
                out.extend_from_slice(js_f64(f).as_bytes());
            } else {
                out.extend_from_slice(n.to_string().as_bytes());
            }
        }
        Value::String(s) => write_str(out, s),
        Value::Binary(b) => {
            let _ = write_placeholder(out, attachments.len());
            attachments.push(b.clone());
        }
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_value(out, item, attachments);
            }
            out.push(b']');
        }
        Value::Object(entries) => {
            out.push(b'{');
            for (i, (k, v)) in entries.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_str(out, k);
                out.push(b':');
                write_value(out, v, attachments);
            }
            out.push(b'}');
        }
    }
}

fn write_str(out: &mut Vec<u8>, s: &str) {
    // Writing a `str` to a `Vec` cannot fail.
    let _ = serde_json::to_writer(&mut *out, s);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn js(v: f64) -> String {
        js_number(&format!("{v:e}"), v < 0.0)
    }

    #[test]
    fn numbers_like_javascript() {
        let cases: [(f64, &str); 16] = [
            (0.0, "0"),
            (-0.0, "0"),
            (1.0, "1"),
            (-1.5, "-1.5"),
            (123.456, "123.456"),
            (0.1, "0.1"),
            (1e21, "1e+21"),
            (1e20, "100000000000000000000"),
            (123e18, "123000000000000000000"),
            (1.5e-7, "1.5e-7"),
            (1e-6, "0.000001"),
            (0.000123, "0.000123"),
            (2.5e-300, "2.5e-300"),
            (1.7976931348623157e308, "1.7976931348623157e+308"),
            (5e-324, "5e-324"),
            (-1234.5e30, "-1.2345e+33"),
        ];
        for (v, want) in cases {
            assert_eq!(js(v), want, "{v:e}");
        }
        assert_eq!(js_number(&format!("{:e}", 0.1f32), false), "0.1");
    }

    #[test]
    fn typed_data_with_placeholders() {
        #[derive(Serialize)]
        struct File<'a> {
            name: &'a str,
            #[serde(with = "serde_bytes_like")]
            data: &'a [u8],
            parts: Vec<Bytes>,
        }
        mod serde_bytes_like {
            pub fn serialize<S: serde::Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
                s.serialize_bytes(v)
            }
        }
        let f = File {
            name: "é\"\n",
            data: &[1],
            parts: vec![Bytes::from_static(&[2]), Bytes::from_static(&[3])],
        };
        let (json, bins) = to_json_with_attachments(&f).unwrap();
        assert_eq!(
            json,
            r#"{"name":"é\"\n","data":{"_placeholder":true,"num":0},"parts":[{"_placeholder":true,"num":1},{"_placeholder":true,"num":2}]}"#
        );
        assert_eq!(bins.len(), 3);
        assert_eq!(to_json_with_attachments(&f64::NAN).unwrap().0, "null");
        assert_eq!(to_json_with_attachments("\u{1f}").unwrap().0, r#""\u001f""#);
    }

    #[test]
    fn values_share_their_bytes() {
        let bin = Bytes::from(vec![7u8; 100]);
        let v = Value::Array(vec![
            Value::from("x"),
            Value::Binary(bin.clone()),
            Value::Object(vec![
                ("k".into(), Value::from(2.0)),
                ("n".into(), Value::from(-3i64)),
            ]),
        ]);
        let mut out = Vec::new();
        let mut bins = Vec::new();
        write_value(&mut out, &v, &mut bins);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            r#"["x",{"_placeholder":true,"num":0},{"k":2,"n":-3}]"#
        );
        assert_eq!(bins[0].as_ptr(), bin.as_ptr());
        assert_eq!(
            to_json_with_attachments(&v).unwrap().0,
            r#"["x",{"_placeholder":true,"num":0},{"k":2,"n":-3}]"#
        );
    }
}
