//! Error types of the protocol core.

use std::fmt;

/// What was wrong with bytes that claimed to be Engine.IO packets.
///
/// Decoding never panics: every malformed input ends in one of these.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DecodeError {
    /// The packet was empty: not even a type digit.
    Empty,
    /// The first character is not a packet type (`0`-`6`) nor `b` (base64 binary).
    UnknownPacketType(char),
    /// Text that must be UTF-8 was not.
    InvalidUtf8 {
        /// How many leading bytes were valid.
        valid_up_to: usize,
    },
    /// A `b` packet whose data is not standard base64.
    InvalidBase64(String),
    /// The open packet was not the JSON object the protocol defines.
    InvalidHandshake(String),
    /// The first packet of a new session was not an open packet.
    ExpectedOpen,
    /// The server framed its answer as Engine.IO protocol v3 (`97:0{…}`) while the client
    /// was pinned to v4 (`Protocol::V4`): it is an engine.io 3.x server (socket.io 2.x).
    ProtocolV3,
    /// A protocol v3 polling payload whose framing is broken (a bad length, a record
    /// longer than the payload).
    InvalidPayload(String),
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::Empty => f.write_str("empty packet"),
            DecodeError::UnknownPacketType(c) => {
                write!(f, "unknown packet type {c:?}")
            }
            DecodeError::InvalidUtf8 { valid_up_to } => {
                write!(f, "text is not UTF-8 (valid up to byte {valid_up_to})")
            }
            DecodeError::InvalidBase64(e) => write!(f, "invalid base64 binary packet: {e}"),
            DecodeError::InvalidHandshake(e) => write!(f, "invalid open packet: {e}"),
            DecodeError::ExpectedOpen => {
                f.write_str("the server's first packet was not an open packet")
            }
            DecodeError::ProtocolV3 => f.write_str(
                "the server speaks Engine.IO protocol v3 (engine.io 3.x / socket.io 2.x), not v4",
            ),
            DecodeError::InvalidPayload(e) => write!(f, "malformed v3 payload: {e}"),
        }
    }
}

impl std::error::Error for DecodeError {}

/// Why a message could not be sent, by [`AsyncClient::send`](crate::AsyncClient::send) or
/// [`Session::send`](crate::proto::Session::send).
///
/// The message is handed back so that nothing is lost.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SendError {
    /// The message that was not queued.
    pub payload: crate::Payload,
    /// Why.
    pub kind: SendErrorKind,
}

/// Why a message could not be queued.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SendErrorKind {
    /// No connection is open: none was made, or its handshake has not completed.
    NotConnected,
    /// The session is closing or closed.
    Closed,
    /// A text message holds U+001E, the record separator of long-polling payloads, and the
    /// session runs on long-polling: the server would split it in two. (Over WebSocket,
    /// one frame per message, it can be sent.)
    RecordSeparator,
    /// The send buffer is full: the transport has not taken the messages already queued.
    /// The client's `send` waits instead of failing with this.
    Full,
}

impl fmt::Display for SendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            SendErrorKind::NotConnected => f.write_str("not connected"),
            SendErrorKind::Closed => f.write_str("the connection is closed"),
            SendErrorKind::RecordSeparator => f.write_str(
                "a text message with U+001E (the polling payload separator) cannot be sent \
                 over long-polling",
            ),
            SendErrorKind::Full => f.write_str("the send buffer is full"),
        }
    }
}

impl std::error::Error for SendError {}

/// The errors of [`AsyncClient`](crate::AsyncClient) and [`ClientBuilder`](crate::ClientBuilder).
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// The URL passed to `connect` cannot be used.
    Url(crate::UrlError),
    /// A header given to the builder is not a valid HTTP header (CR and LF are refused).
    InvalidHeader(String),
    /// A root certificate given to the builder could not be read.
    Certificate(String),
    /// The proxy URL given to the builder (`ClientBuilder::proxy`) cannot be used.
    InvalidProxy(crate::connector::ProxyUrlError),
    /// No runtime was given to the builder and no runtime feature (`tokio`, `smol`,
    /// `async-std`) is enabled.
    NoRuntime,
    /// `connect` was called while a connection is open or opening (a reconnection attempt
    /// excepted: `connect` replaces it).
    AlreadyConnected,
    /// A message could not be sent (no open connection, or a text message holding U+001E
    /// on long-polling); the [`SendError`] hands it back. `send` itself returns the
    /// [`SendError`]; this variant lets `?` carry it into an `Error`.
    Send(SendError),
    /// The connection could not be opened: refused, TLS, an HTTP error from the server (with
    /// its status and message), a server that is not Engine.IO v4, or a timeout.
    Connect {
        /// The URL given to `connect`.
        url: String,
        /// What failed.
        failure: crate::TransportFailure,
    },
}

impl Error {
    /// The failure behind a [`Error::Connect`].
    pub fn failure(&self) -> Option<&crate::TransportFailure> {
        match self {
            Error::Connect { failure, .. } => Some(failure),
            _ => None,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Url(e) => fmt::Display::fmt(e, f),
            Error::InvalidHeader(h) => write!(f, "invalid header: {h}"),
            Error::Certificate(e) => write!(f, "invalid root certificate: {e}"),
            Error::InvalidProxy(e) => fmt::Display::fmt(e, f),
            Error::NoRuntime => f.write_str(
                "no runtime: enable the tokio, smol or async-std feature, or give one to the builder",
            ),
            Error::AlreadyConnected => f.write_str("already connected"),
            Error::Send(e) => write!(f, "cannot send: {e}"),
            Error::Connect { url, failure } => {
                let detail = failure.to_string();
                if detail.contains(url.as_str()) {
                    // The failure already names the URL ("connecting to …: refused").
                    write!(f, "cannot connect: {detail}")
                } else {
                    write!(f, "cannot connect to {url}: {detail}")
                }
            }
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Url(e) => Some(e),
            Error::Send(e) => Some(e),
            Error::InvalidProxy(e) => Some(e),
            _ => None,
        }
    }
}

impl From<SendError> for Error {
    fn from(e: SendError) -> Self {
        Error::Send(e)
    }
}

impl From<crate::UrlError> for Error {
    fn from(e: crate::UrlError) -> Self {
        Error::Url(e)
    }
}

/// The error and its causes on one line.
pub(crate) fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let t = c.to_string();
        if !s.contains(&t) {
            s.push_str(": ");
            s.push_str(&t);
        }
        cur = c.source();
    }
    s
}
