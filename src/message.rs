//! [`Payload`]: the data of one Engine.IO message.

use bytes::Bytes;

use crate::ByteStr;

/// The data of one message, as sent by [`Session::send`](crate::proto::Session::send) or
/// received in [`SessionEvent::Message`](crate::proto::SessionEvent::Message).
///
/// Engine.IO carries two kinds of message: UTF-8 text and raw bytes. Everything you can
/// hand to python-engineio's `send()` converts into a `Payload`:
///
/// ```
/// use engineio::Payload;
///
/// assert_eq!(Payload::from("hi"), Payload::Text("hi".into()));
/// assert_eq!(Payload::from(String::from("hi")), Payload::Text("hi".into()));
/// assert_eq!(Payload::from(vec![1u8, 2]), Payload::Binary(vec![1u8, 2].into()));
/// assert_eq!(Payload::from(&[1u8, 2][..]), Payload::Binary(vec![1u8, 2].into()));
/// // JSON (python's dict and list) goes out as its text form, like python-engineio does.
/// let json = Payload::from(serde_json::json!({"foo": "bar"}));
/// assert_eq!(json.as_text(), Some(r#"{"foo":"bar"}"#));
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Payload {
    /// A text message.
    Text(ByteStr),
    /// A binary message.
    Binary(Bytes),
}

impl Payload {
    /// The text, if this is a text message.
    pub fn as_text(&self) -> Option<&str> {
        match self {
            Payload::Text(s) => Some(s),
            Payload::Binary(_) => None,
        }
    }

    /// The bytes, if this is a binary message.
    pub fn as_binary(&self) -> Option<&Bytes> {
        match self {
            Payload::Text(_) => None,
            Payload::Binary(b) => Some(b),
        }
    }

    /// Whether this is a binary message.
    pub fn is_binary(&self) -> bool {
        matches!(self, Payload::Binary(_))
    }

    /// The length of the data in bytes (UTF-8 bytes for text).
    pub fn len(&self) -> usize {
        match self {
            Payload::Text(s) => s.len(),
            Payload::Binary(b) => b.len(),
        }
    }

    /// Whether the message carries no data. Empty messages are legal and are delivered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Parses a text message as JSON.
    ///
    /// ```
    /// let p = engineio::Payload::from(r#"{"n": 1}"#);
    /// let v: serde_json::Value = p.json().unwrap();
    /// assert_eq!(v["n"], 1);
    /// ```
    pub fn json<T: serde::de::DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        match self {
            Payload::Text(s) => serde_json::from_str(s),
            Payload::Binary(b) => serde_json::from_slice(b),
        }
    }
}

impl From<&str> for Payload {
    fn from(s: &str) -> Self {
        Payload::Text(ByteStr::from(s))
    }
}

impl From<String> for Payload {
    fn from(s: String) -> Self {
        Payload::Text(ByteStr::from(s))
    }
}

impl From<&String> for Payload {
    fn from(s: &String) -> Self {
        Payload::Text(ByteStr::from(s.as_str()))
    }
}

impl From<ByteStr> for Payload {
    fn from(s: ByteStr) -> Self {
        Payload::Text(s)
    }
}

impl From<Vec<u8>> for Payload {
    fn from(b: Vec<u8>) -> Self {
        Payload::Binary(Bytes::from(b))
    }
}

impl From<&[u8]> for Payload {
    fn from(b: &[u8]) -> Self {
        Payload::Binary(Bytes::copy_from_slice(b))
    }
}

impl<const N: usize> From<[u8; N]> for Payload {
    fn from(b: [u8; N]) -> Self {
        Payload::Binary(Bytes::copy_from_slice(&b))
    }
}

impl From<Bytes> for Payload {
    fn from(b: Bytes) -> Self {
        Payload::Binary(b)
    }
}

impl From<serde_json::Value> for Payload {
    fn from(v: serde_json::Value) -> Self {
        Payload::Text(ByteStr::from(v.to_string()))
    }
}

impl From<&serde_json::Value> for Payload {
    fn from(v: &serde_json::Value) -> Self {
        Payload::Text(ByteStr::from(v.to_string()))
    }
}
