//! [`ByteStr`]: a cheaply cloneable, immutable UTF-8 string backed by [`Bytes`].

use std::borrow::Borrow;
use std::fmt;
use std::ops::Deref;

use bytes::Bytes;

/// An immutable UTF-8 string that shares its buffer.
///
/// Text messages are slices of the frame or poll body they arrived in; `ByteStr` lets
/// them travel to your handler without a copy. It dereferences to [`str`], so most code
/// never needs to name it:
///
/// ```
/// use engineio::ByteStr;
///
/// let s = ByteStr::from("héllo");
/// assert_eq!(&*s, "héllo");
/// assert!(s.starts_with("hé"));
/// assert_eq!(s.len(), 6); // bytes, like `str::len`
/// let owned: String = s.into();
/// assert_eq!(owned, "héllo");
/// ```
#[derive(Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ByteStr(Bytes);

impl ByteStr {
    /// An empty string.
    pub const fn new() -> Self {
        ByteStr(Bytes::new())
    }

    /// Wraps a static string without copying it.
    pub const fn from_static(s: &'static str) -> Self {
        ByteStr(Bytes::from_static(s.as_bytes()))
    }

    /// Checks that `bytes` is UTF-8 and wraps it without copying.
    ///
    /// On failure the bytes are handed back with the UTF-8 error.
    pub fn from_utf8(bytes: Bytes) -> Result<Self, (Bytes, std::str::Utf8Error)> {
        match std::str::from_utf8(&bytes) {
            Ok(_) => Ok(ByteStr(bytes)),
            Err(e) => Err((bytes, e)),
        }
    }

    /// Wraps `bytes` without checking them.
    ///
    /// # Safety
    ///
    /// `bytes` must be valid UTF-8.
    pub(crate) unsafe fn from_utf8_unchecked(bytes: Bytes) -> Self {
        ByteStr(bytes)
    }

    /// The string as `&str`.
    pub fn as_str(&self) -> &str {
        // SAFETY: every constructor checks or inherits UTF-8 validity, and the buffer is
        // immutable; `slice_from` only cuts at char boundaries (checked there).
        unsafe { std::str::from_utf8_unchecked(&self.0) }
    }

    /// The underlying bytes, shared.
    pub fn as_bytes(&self) -> &Bytes {
        &self.0
    }

    /// Gives up the string, returning its bytes without copying.
    pub fn into_bytes(self) -> Bytes {
        self.0
    }

    /// The tail starting at byte `start`, sharing the buffer.
    ///
    /// Returns `None` when `start` is past the end or not on a character boundary.
    pub fn slice_from(&self, start: usize) -> Option<ByteStr> {
        if self.as_str().is_char_boundary(start) {
            Some(ByteStr(self.0.slice(start..)))
        } else {
            None
        }
    }
}

impl Deref for ByteStr {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<str> for ByteStr {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<[u8]> for ByteStr {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl Borrow<str> for ByteStr {
    fn borrow(&self) -> &str {
        self.as_str()
    }
}

impl fmt::Debug for ByteStr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for ByteStr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self.as_str(), f)
    }
}

impl From<String> for ByteStr {
    fn from(s: String) -> Self {
        ByteStr(Bytes::from(s))
    }
}

impl From<&str> for ByteStr {
    fn from(s: &str) -> Self {
        ByteStr(Bytes::copy_from_slice(s.as_bytes()))
    }
}

impl From<ByteStr> for String {
    fn from(s: ByteStr) -> Self {
        s.as_str().to_owned()
    }
}

impl From<ByteStr> for Bytes {
    fn from(s: ByteStr) -> Self {
        s.0
    }
}

impl PartialEq<str> for ByteStr {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for ByteStr {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl PartialEq<String> for ByteStr {
    fn eq(&self, other: &String) -> bool {
        self.as_str() == other.as_str()
    }
}

impl PartialEq<ByteStr> for str {
    fn eq(&self, other: &ByteStr) -> bool {
        self == other.as_str()
    }
}

impl PartialEq<ByteStr> for &str {
    fn eq(&self, other: &ByteStr) -> bool {
        *self == other.as_str()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_invalid_utf8_and_hands_bytes_back() {
        let raw = Bytes::from_static(&[0x34, 0xff, 0xfe]);
        let (back, err) = ByteStr::from_utf8(raw.clone()).unwrap_err();
        assert_eq!(back, raw);
        assert_eq!(err.valid_up_to(), 1);
    }

    #[test]
    fn slice_respects_char_boundaries() {
        let s = ByteStr::from("4€");
        assert_eq!(s.slice_from(1).unwrap(), "€");
        assert!(s.slice_from(2).is_none());
        assert_eq!(s.slice_from(4).unwrap(), "");
        assert!(s.slice_from(5).is_none());
    }
}
