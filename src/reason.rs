//! Why a connection ended.

use std::fmt;

use crate::error::DecodeError;

/// Why a connection ended: the argument of python-engineio's `disconnect` handler.
///
/// `Display` prints exactly python-engineio's strings, `client disconnect`,
/// `server disconnect` and `transport error`, so code and logs that compare against them
/// keep working. The detail (which close, which failure) rides along in the variant, and
/// the alternate form `{:#}` prints it too.
///
/// A close the server chose (a close packet, or a WebSocket close frame) is
/// [`ServerDisconnect`](Self::ServerDisconnect); an accident of the network (a reset, an
/// end of stream without a close frame, an HTTP error, a missed ping deadline) is
/// [`TransportError`](Self::TransportError).
///
/// ```
/// use engineio::{DisconnectReason, TransportFailure};
///
/// let reason = DisconnectReason::TransportError(TransportFailure::PingTimeout);
/// match &reason {
///     DisconnectReason::ClientDisconnect => println!("client disconnection"),
///     DisconnectReason::ServerDisconnect(_) => println!("the server kicked me out"),
///     other => println!("disconnect reason: {other}"),
/// }
/// assert_eq!(reason.to_string(), "transport error");
/// assert_eq!(format!("{reason:#}"), "transport error: ping timeout");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DisconnectReason {
    /// The application asked to disconnect.
    ClientDisconnect,
    /// The server ended the session.
    ServerDisconnect(ServerClose),
    /// The connection failed.
    TransportError(TransportFailure),
}

impl DisconnectReason {
    /// The seed's name for the reason: `client disconnect`, `server disconnect` or
    /// `transport error`.
    pub fn as_str(&self) -> &'static str {
        match self {
            DisconnectReason::ClientDisconnect => "client disconnect",
            DisconnectReason::ServerDisconnect(_) => "server disconnect",
            DisconnectReason::TransportError(_) => "transport error",
        }
    }

    /// The detail beyond the seed's three names, if any, as text.
    pub fn detail(&self) -> Option<String> {
        match self {
            DisconnectReason::ClientDisconnect => None,
            DisconnectReason::ServerDisconnect(c) => Some(c.to_string()),
            DisconnectReason::TransportError(f) => Some(f.to_string()),
        }
    }
}

impl fmt::Display for DisconnectReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())?;
        if f.alternate() {
            if let Some(detail) = self.detail() {
                write!(f, ": {detail}")?;
            }
        }
        Ok(())
    }
}

/// How the server closed the session.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ServerClose {
    /// The server sent a close packet (`1`).
    ClosePacket,
    /// The server closed the WebSocket with a close frame and no close packet (node's
    /// engine.io does this). Code 1005 means the frame carried no code.
    CloseFrame {
        /// The close code.
        code: u16,
        /// The close reason text, possibly empty.
        reason: String,
    },
    /// The server closed the session while no poll was pending, and answered the next
    /// poll that it had (python-engineio: 400 `'Session is disconnected'`).
    SessionClosed(HttpStatusError),
}

impl fmt::Display for ServerClose {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ServerClose::ClosePacket => f.write_str("close packet"),
            ServerClose::CloseFrame { code, reason } if reason.is_empty() => {
                write!(f, "WebSocket close frame {code}")
            }
            ServerClose::CloseFrame { code, reason } => {
                write!(f, "WebSocket close frame {code} ({reason})")
            }
            ServerClose::SessionClosed(e) => write!(f, "session closed by the server ({e})"),
        }
    }
}

/// What failed when a connection was lost.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TransportFailure {
    /// No ping arrived within pingInterval + pingTimeout.
    PingTimeout,
    /// A request (handshake, POST, WebSocket open) got no answer within its timeout.
    RequestTimeout,
    /// The server answered a request with an HTTP error.
    Http(HttpStatusError),
    /// The connection could not be made: refused, unreachable, or the name did not
    /// resolve. Nothing reached the server.
    Connect(String),
    /// A proxy could not be reached, or refused the connection (credentials, its rules, a
    /// server it could not reach), or broke its protocol; see [`ProxyError`] for which
    /// proxy and what it said.
    ///
    /// [`ProxyError`]: crate::connector::ProxyError
    Proxy(crate::connector::ProxyError),
    /// The TLS handshake failed, usually over the server's certificate.
    Tls(String),
    /// The server broke the HTTP or WebSocket protocol (a malformed response, a refused
    /// or malformed WebSocket handshake, an invalid frame), or answered the upgrade probe
    /// with something else than `3probe`.
    Protocol(String),
    /// The network failed once connected: reset, or ended without a close.
    Io(String),
    /// A poll response or WebSocket message was larger than the receive limit
    /// (`ClientBuilder::receive_limit`); the client stopped reading it.
    TooLarge {
        /// The receive limit, in bytes.
        limit: usize,
    },
    /// The server sent something that is not Engine.IO.
    Decode(DecodeError),
}

impl fmt::Display for TransportFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TransportFailure::PingTimeout => f.write_str("ping timeout"),
            TransportFailure::RequestTimeout => f.write_str("request timed out"),
            TransportFailure::Http(e) => fmt::Display::fmt(e, f),
            TransportFailure::Proxy(e) => fmt::Display::fmt(e, f),
            TransportFailure::Connect(e)
            | TransportFailure::Tls(e)
            | TransportFailure::Protocol(e)
            | TransportFailure::Io(e) => f.write_str(e),
            TransportFailure::TooLarge { limit } => {
                write!(f, "larger than the receive limit of {limit} bytes")
            }
            TransportFailure::Decode(e) => write!(f, "protocol error: {e}"),
        }
    }
}

/// An HTTP error answer from an Engine.IO server, with the server's own error when it gave
/// one.
///
/// Node's engine.io answers `{"code":1,"message":"Session ID unknown"}`; python-engineio
/// answers a JSON string such as `"Invalid session abc"`. Both are understood:
///
/// ```
/// use engineio::HttpStatusError;
///
/// let node = HttpStatusError::from_response(400, br#"{"code":1,"message":"Session ID unknown"}"#);
/// assert_eq!(node.code, Some(1));
/// assert_eq!(node.to_string(), "HTTP 400: Session ID unknown (code 1)");
///
/// let python = HttpStatusError::from_response(400, br#""Invalid session abc""#);
/// assert_eq!(python.message.as_deref(), Some("Invalid session abc"));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpStatusError {
    /// The HTTP status code.
    pub status: u16,
    /// The server's numeric error code (node's `code`), if any.
    pub code: Option<i64>,
    /// The server's error message, if the body held one.
    pub message: Option<String>,
}

/// The longest error message kept from a response body, in characters.
const MAX_MESSAGE_CHARS: usize = 200;

impl HttpStatusError {
    /// Whether the server says it closed this session itself (python-engineio's 400
    /// `'Session is disconnected'`), as opposed to not knowing it.
    pub fn is_session_closed(&self) -> bool {
        self.status == 400
            && self
                .message
                .as_deref()
                .is_some_and(|m| m.contains("Session is disconnected"))
    }

    /// Whether the server says it does not know this session: engine.io's code 1
    /// ("Session ID unknown"), python-engineio's "Invalid session". A restarted server says
    /// it; so do python-engineio and engineioxide for a session they closed while no poll
    /// was pending.
    pub(crate) fn is_unknown_session(&self) -> bool {
        self.status == 400
            && (self.code == Some(1)
                || self
                    .message
                    .as_deref()
                    .is_some_and(|m| m.starts_with("Invalid session")))
    }

    /// Reads the server's error from a response status and body. Bodies that are neither
    /// of the known JSON shapes are kept as text, cut to 200 characters; HTML pages and
    /// empty bodies give no message.
    pub fn from_response(status: u16, body: &[u8]) -> HttpStatusError {
        let (code, message) = parse_error_body(body);
        HttpStatusError {
            status,
            code,
            message,
        }
    }
}

fn parse_error_body(body: &[u8]) -> (Option<i64>, Option<String>) {
    match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(serde_json::Value::Object(map)) => {
            // node sends a number; engineioxide sends the same code as a string.
            let code = map.get("code").and_then(|c| match c {
                serde_json::Value::String(s) => s.parse().ok(),
                other => other.as_i64(),
            });
            let message = map
                .get("message")
                .and_then(serde_json::Value::as_str)
                .map(clip);
            (code, message)
        }
        Ok(serde_json::Value::String(s)) => (None, Some(clip(&s))),
        _ => {
            let text = String::from_utf8_lossy(body);
            let text = text.trim();
            if text.is_empty() || text.starts_with('<') {
                (None, None)
            } else {
                (None, Some(clip(text)))
            }
        }
    }
}

fn clip(s: &str) -> String {
    let mut out: String = s
        .chars()
        .take(MAX_MESSAGE_CHARS)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if s.chars().nth(MAX_MESSAGE_CHARS).is_some() {
        out.push('…');
    }
    out
}

impl fmt::Display for HttpStatusError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "HTTP {}", self.status)?;
        if let Some(m) = &self.message {
            write!(f, ": {m}")?;
        }
        if let Some(c) = self.code {
            write!(f, " (code {c})")?;
        }
        Ok(())
    }
}

impl std::error::Error for HttpStatusError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_is_the_seed_string() {
        assert_eq!(
            DisconnectReason::ClientDisconnect.to_string(),
            "client disconnect"
        );
        assert_eq!(
            DisconnectReason::ServerDisconnect(ServerClose::ClosePacket).to_string(),
            "server disconnect"
        );
        assert_eq!(
            DisconnectReason::TransportError(TransportFailure::Io("reset".into())).to_string(),
            "transport error"
        );
        assert_eq!(
            format!(
                "{:#}",
                DisconnectReason::ServerDisconnect(ServerClose::CloseFrame {
                    code: 1005,
                    reason: String::new()
                })
            ),
            "server disconnect: WebSocket close frame 1005"
        );
        assert_eq!(
            format!("{:#}", DisconnectReason::ClientDisconnect),
            "client disconnect"
        );
    }

    #[test]
    fn error_bodies_of_every_shape() {
        let e = HttpStatusError::from_response(403, br#"{"code":4,"message":"Forbidden"}"#);
        assert_eq!((e.code, e.message.as_deref()), (Some(4), Some("Forbidden")));
        let e =
            HttpStatusError::from_response(400, br#"{"code":"1","message":"Session ID unknown"}"#);
        assert_eq!(e.code, Some(1));
        let e = HttpStatusError::from_response(413, b"");
        assert_eq!((e.code, e.message.as_deref()), (None, None));
        assert_eq!(e.to_string(), "HTTP 413");
        let e = HttpStatusError::from_response(502, b"<html><body>Bad Gateway</body></html>");
        assert_eq!(e.message, None);
        let e = HttpStatusError::from_response(400, b"Unsupported protocol\r\nversion");
        assert_eq!(e.message.as_deref(), Some("Unsupported protocol  version"));
        let long = "x".repeat(1000);
        let e = HttpStatusError::from_response(400, long.as_bytes());
        assert_eq!(e.message.unwrap().chars().count(), MAX_MESSAGE_CHARS + 1);
        let e = HttpStatusError::from_response(400, &[0xff, 0xfe, b'a']);
        assert!(e.message.is_some());
    }
}
