//! [`Str`]: UTF-8 text over shared bytes.

use bytes::Bytes;
use std::fmt;
use std::ops::Deref;

/// An immutable UTF-8 string stored in [`Bytes`].
///
/// Cloning is a reference-count increment and slicing shares the buffer, so a
/// text frame received from a socket can be split into packets and handed to
/// many readers without copying. The invariant (valid UTF-8) is checked once,
/// when the value is built.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Str(Bytes);

impl Str {
    /// An empty string.
    pub const fn new() -> Self {
        Str(Bytes::new())
    }

    /// Wraps a static string without copying it.
    pub const fn from_static(s: &'static str) -> Self {
        Str(Bytes::from_static(s.as_bytes()))
    }

    /// Checks that `bytes` is UTF-8 and wraps it.
    pub fn from_utf8(bytes: Bytes) -> Result<Self, std::str::Utf8Error> {
        std::str::from_utf8(&bytes)?;
        Ok(Str(bytes))
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        // The constructor checked the invariant; re-checking is cheap
        // (SIMD-accelerated) and keeps this crate free of `unsafe`.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }

    /// The underlying bytes.
    pub fn as_bytes(&self) -> &Bytes {
        &self.0
    }

    /// Gives back the underlying bytes.
    pub fn into_bytes(self) -> Bytes {
        self.0
    }

    /// A sub-string sharing this buffer; `start..end` must fall on character
    /// boundaries of `self` (as the result of `str::find` does).
    ///
    /// # Panics
    /// If the range is out of bounds or not on character boundaries.
    pub fn slice(&self, start: usize, end: usize) -> Str {
        assert!(self.as_str().is_char_boundary(start) && self.as_str().is_char_boundary(end));
        Str(self.0.slice(start..end))
    }

    /// The sub-string from `start` to the end (see [`Str::slice`]).
    pub fn slice_from(&self, start: usize) -> Str {
        self.slice(start, self.0.len())
    }
}

impl Deref for Str {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl fmt::Debug for Str {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for Str {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<String> for Str {
    fn from(s: String) -> Self {
        Str(Bytes::from(s))
    }
}

impl From<&'static str> for Str {
    fn from(s: &'static str) -> Self {
        Str::from_static(s)
    }
}

impl From<Str> for Bytes {
    fn from(s: Str) -> Bytes {
        s.0
    }
}

impl PartialEq<str> for Str {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for Str {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slices_share_and_check() {
        let s = Str::from(String::from("4héllo"));
        assert_eq!(s.slice_from(1), "héllo");
        assert!(Str::from_utf8(Bytes::from_static(&[0xff])).is_err());
    }
}
