//! [`Str`]: UTF-8 text over shared bytes.

use bytes::Bytes;
use bytestring::ByteString;
use std::fmt;
use std::ops::Deref;

/// An immutable UTF-8 string stored in [`Bytes`].
///
/// Cloning is a reference-count increment and slicing shares the buffer, so a
/// text frame received from a socket can be split into packets and handed to
/// many readers without copying. The invariant (valid UTF-8) is checked once,
/// when the value is built; reading the text costs nothing afterwards (the
/// `bytestring` crate holds the invariant, so this crate needs no `unsafe`).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Str(ByteString);

impl Str {
    /// An empty string.
    pub const fn new() -> Self {
        Str(ByteString::new())
    }

    /// Wraps a static string without copying it.
    pub const fn from_static(s: &'static str) -> Self {
        Str(ByteString::from_static(s))
    }

    /// Checks that `bytes` is UTF-8 and wraps it.
    pub fn from_utf8(bytes: Bytes) -> Result<Self, std::str::Utf8Error> {
        ByteString::try_from(bytes).map(Str)
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The underlying bytes.
    pub fn as_bytes(&self) -> &Bytes {
        self.0.as_bytes()
    }

    /// Gives back the underlying bytes.
    pub fn into_bytes(self) -> Bytes {
        self.0.into_bytes()
    }

    /// A sub-string sharing this buffer; `start..end` must fall on character
    /// boundaries of `self` (as the result of `str::find` does).
    ///
    /// # Panics
    /// If the range is out of bounds or not on character boundaries.
    pub fn slice(&self, start: usize, end: usize) -> Str {
        Str(self.0.slice_ref(&self.0[start..end]))
    }

    /// The sub-string from `start` to the end (see [`Str::slice`]).
    pub fn slice_from(&self, start: usize) -> Str {
        self.slice(start, self.0.as_bytes().len())
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
        Str(ByteString::from(s))
    }
}

impl From<&'static str> for Str {
    fn from(s: &'static str) -> Self {
        Str::from_static(s)
    }
}

impl From<Str> for Bytes {
    fn from(s: Str) -> Bytes {
        s.0.into_bytes()
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
