//! Where a session's requests go: the server's origin, the Engine.IO path and the query.

use std::fmt;
use std::fmt::Write as _;

use http::Uri;
use http::uri::{Authority, Scheme};

/// The transport a request belongs to.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum TransportKind {
    /// HTTP long-polling (where every session but a WebSocket-only one starts).
    #[default]
    Polling,
    /// WebSocket.
    WebSocket,
}

impl TransportKind {
    /// The name used in the `transport` query parameter.
    pub fn as_str(self) -> &'static str {
        match self {
            TransportKind::Polling => "polling",
            TransportKind::WebSocket => "websocket",
        }
    }
}

impl fmt::Display for TransportKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A URL the client cannot use.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UrlError {
    url: String,
    why: &'static str,
}

impl fmt::Display for UrlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid server URL {:?}: {}", self.url, self.why)
    }
}

impl std::error::Error for UrlError {}

/// The server a session talks to, and how its request URLs are built.
///
/// As in python-engineio and engine.io-client, the URL names the server (scheme, host,
/// port) and may carry query parameters; its path is not used: requests go to the
/// Engine.IO path (`/engine.io/` unless set otherwise). `http`/`ws` and `https`/`wss` are
/// interchangeable.
///
/// Every request carries the user's query parameters first, then `EIO=4`, `transport`, and,
/// once the session is open, `sid`.
///
/// ```
/// use engineio::TransportKind;
/// use engineio::proto::Endpoint;
///
/// let ep = Endpoint::parse("http://localhost:5000/ignored?token=a%20b")?
///     .with_path("socket.io")
///     .with_query("room", "1&2");
/// assert_eq!(
///     ep.uri(TransportKind::Polling, None, None).to_string(),
///     "http://localhost:5000/socket.io/?token=a%20b&room=1%262&EIO=4&transport=polling",
/// );
/// assert_eq!(
///     ep.uri(TransportKind::WebSocket, Some("abc"), None).to_string(),
///     "ws://localhost:5000/socket.io/?token=a%20b&room=1%262&EIO=4&transport=websocket&sid=abc",
/// );
/// # Ok::<(), engineio::UrlError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoint {
    secure: bool,
    authority: Authority,
    path: String,
    /// The query string that precedes `EIO=`, already encoded, without `?`.
    query: String,
}

impl Endpoint {
    /// Parses a server URL (`http`, `https`, `ws` or `wss`).
    pub fn parse(url: &str) -> Result<Endpoint, UrlError> {
        let err = |why| UrlError {
            url: url.to_owned(),
            why,
        };
        let uri: Uri = url
            .parse()
            .map_err(|_| err("not a URL (expected e.g. http://localhost:5000)"))?;
        let secure = match uri.scheme() {
            Some(s) if *s == Scheme::HTTP || s.as_str().eq_ignore_ascii_case("ws") => false,
            Some(s) if *s == Scheme::HTTPS || s.as_str().eq_ignore_ascii_case("wss") => true,
            Some(_) => return Err(err("the scheme must be http, https, ws or wss")),
            None => return Err(err("the URL has no scheme (expected e.g. http://…)")),
        };
        let authority = uri
            .authority()
            .cloned()
            .ok_or_else(|| err("the URL has no host"))?;
        if authority.host().is_empty() {
            return Err(err("the URL has no host"));
        }
        if authority.as_str().contains('@') {
            return Err(err(
                "credentials in the URL are not supported; use a header",
            ));
        }
        Ok(Endpoint {
            secure,
            authority,
            path: "/engine.io/".to_owned(),
            query: uri.query().unwrap_or("").to_owned(),
        })
    }

    /// Sets the Engine.IO path (`engine.io` by default; socket.io servers use `socket.io`).
    /// Leading and trailing slashes are optional.
    pub fn with_path(mut self, path: &str) -> Endpoint {
        let trimmed = path.trim_matches('/');
        let mut p = String::with_capacity(trimmed.len() + 2);
        p.push('/');
        for c in trimmed.chars() {
            push_encoded(&mut p, c, |c| {
                c.is_ascii_alphanumeric() || "-._~/!$&'()*+,;=:@".contains(c)
            });
        }
        if !trimmed.is_empty() {
            p.push('/');
        }
        self.path = p;
        self
    }

    /// Adds a query parameter, percent-encoding it.
    pub fn with_query(mut self, key: &str, value: &str) -> Endpoint {
        if !self.query.is_empty() {
            self.query.push('&');
        }
        encode_component(&mut self.query, key);
        self.query.push('=');
        encode_component(&mut self.query, value);
        self
    }

    /// Whether the connection uses TLS (`https` / `wss`).
    pub fn is_secure(&self) -> bool {
        self.secure
    }

    /// The host and port.
    pub fn authority(&self) -> &Authority {
        &self.authority
    }

    /// The host name or address, without brackets for IPv6.
    pub fn host(&self) -> &str {
        let h = self.authority.host();
        h.strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(h)
    }

    /// The port, or the scheme's default (80 or 443).
    pub fn port(&self) -> u16 {
        self.authority
            .port_u16()
            .unwrap_or(if self.secure { 443 } else { 80 })
    }

    /// The Engine.IO path, with leading and trailing slash.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The URL of a request on `transport`, with the session id once there is one and the
    /// cache-busting timestamp when given.
    pub fn uri(&self, transport: TransportKind, sid: Option<&str>, timestamp: Option<&str>) -> Uri {
        self.uri_for(Protocol::V4, transport, sid, timestamp)
    }

    /// Like [`uri`](Self::uri), for protocol `protocol`: `EIO=3` for [`Protocol::V3`],
    /// `EIO=4` otherwise.
    ///
    /// ```
    /// use engineio::{Protocol, TransportKind};
    /// use engineio::proto::Endpoint;
    ///
    /// let ep = Endpoint::parse("http://localhost:5000")?;
    /// assert_eq!(
    ///     ep.uri_for(Protocol::V3, TransportKind::Polling, None, None).query(),
    ///     Some("EIO=3&transport=polling"),
    /// );
    /// # Ok::<(), engineio::UrlError>(())
    /// ```
    pub fn uri_for(
        &self,
        protocol: Protocol,
        transport: TransportKind,
        sid: Option<&str>,
        timestamp: Option<&str>,
    ) -> Uri {
        let scheme = match (transport, self.secure) {
            (TransportKind::Polling, false) => "http",
            (TransportKind::Polling, true) => "https",
            (TransportKind::WebSocket, false) => "ws",
            (TransportKind::WebSocket, true) => "wss",
        };
        let mut s = String::with_capacity(64 + self.query.len());
        let _ = write!(s, "{scheme}://{}{}?", self.authority, self.path);
        if !self.query.is_empty() {
            s.push_str(&self.query);
            s.push('&');
        }
        s.push_str(match protocol {
            Protocol::V3 => "EIO=3&transport=",
            _ => "EIO=4&transport=",
        });
        s.push_str(transport.as_str());
        if let Some(sid) = sid {
            s.push_str("&sid=");
            encode_component(&mut s, sid);
        }
        if let Some(t) = timestamp {
            s.push_str("&t=");
            encode_component(&mut s, t);
        }
        // Every part is either parsed from a valid URI or percent-encoded here, so this
        // parses; the fallback keeps the function total all the same.
        s.parse().unwrap_or_else(|_| Uri::from_static("/"))
    }
}

fn encode_component(out: &mut String, s: &str) {
    for c in s.chars() {
        push_encoded(out, c, |c| c.is_ascii_alphanumeric() || "-._~".contains(c));
    }
}

fn push_encoded(out: &mut String, c: char, keep: impl Fn(char) -> bool) {
    if keep(c) {
        out.push(c);
    } else {
        let mut buf = [0u8; 4];
        for b in c.encode_utf8(&mut buf).bytes() {
            let _ = write!(out, "%{b:02X}");
        }
    }
}

/// Which Engine.IO protocol version a client speaks.
///
/// [`Auto`](Protocol::Auto), the default, speaks whichever the server does, with no second
/// round trip for node's engine.io 3.x (which answers a v4 handshake in v3) and one for
/// python-engineio 3.x (which refuses it, and is asked again in v3). See
/// `ClientBuilder::protocol` for how the choice is made on each transport.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Protocol {
    /// v4 or v3, as the server speaks.
    #[default]
    Auto,
    /// Protocol v3 only: engine.io 3.x (socket.io 2.x), python-engineio 3.x (python-socketio
    /// 4.x), and v4 servers that allow v3 (node's `allowEIO3`).
    V3,
    /// Protocol v4 only: engine.io 4 and later (socket.io 3 and later), python-engineio 4
    /// and later, engineioxide. A v3 server is an error
    /// ([`DecodeError::ProtocolV3`](crate::DecodeError::ProtocolV3)), except over
    /// WebSocket only (see [`ClientBuilder::protocol`](crate::ClientBuilder::protocol)).
    V4,
}

impl Protocol {
    /// `"3"` or `"4"` (`"auto"` for [`Auto`](Protocol::Auto)).
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Auto => "auto",
            Protocol::V3 => "3",
            Protocol::V4 => "4",
        }
    }
}

impl std::fmt::Display for Protocol {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Protocol::Auto => f.write_str("auto"),
            Protocol::V3 => f.write_str("v3"),
            Protocol::V4 => f.write_str("v4"),
        }
    }
}

/// Which transports a client may use.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Transports {
    /// Long-polling only.
    Polling,
    /// WebSocket only: the session opens directly on a WebSocket.
    WebSocket,
    /// Open on long-polling, then upgrade to WebSocket when the server offers it. The
    /// default, as in python-engineio and engine.io-client.
    #[default]
    Upgrade,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schemes_and_ports() {
        let ep = Endpoint::parse("wss://example.com").unwrap();
        assert!(ep.is_secure());
        assert_eq!(ep.port(), 443);
        assert_eq!(
            ep.uri(TransportKind::Polling, Some("a b"), Some("Pq1"))
                .to_string(),
            "https://example.com/engine.io/?EIO=4&transport=polling&sid=a%20b&t=Pq1"
        );
        let ep = Endpoint::parse("http://[::1]:3000").unwrap();
        assert_eq!(ep.host(), "::1");
        assert_eq!(ep.port(), 3000);
    }

    #[test]
    fn rejects_unusable_urls() {
        for (url, why) in [
            ("localhost:5000", "scheme"),
            ("ftp://x", "scheme must be"),
            ("http://", "not a URL"),
            ("not a url", "not a URL"),
            ("http://user:pw@host", "credentials"),
        ] {
            let e = Endpoint::parse(url).unwrap_err();
            assert!(e.to_string().contains(why), "{url}: {e}");
        }
    }

    #[test]
    fn paths() {
        let ep = Endpoint::parse("http://h").unwrap();
        assert_eq!(ep.clone().with_path("/socket.io/").path(), "/socket.io/");
        assert_eq!(ep.clone().with_path("a/b").path(), "/a/b/");
        assert_eq!(ep.clone().with_path("").path(), "/");
        assert_eq!(ep.clone().with_path("sp ace?").path(), "/sp%20ace%3F/");
    }

    #[test]
    fn hostile_sid_cannot_inject_parameters() {
        let ep = Endpoint::parse("http://h").unwrap();
        let uri = ep.uri(TransportKind::Polling, Some("x&transport=websocket#"), None);
        assert_eq!(
            uri.query(),
            Some("EIO=4&transport=polling&sid=x%26transport%3Dwebsocket%23")
        );
    }
}
