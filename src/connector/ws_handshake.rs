//! The client's side of the WebSocket opening handshake (RFC 6455, section 4.1), for
//! [`TungsteniteConnector`](super::TungsteniteConnector).
//!
//! The handshake is split into pure steps, each testable on its own, and one async function
//! that does the I/O with them:
//!
//! - [`handshake_request`]: the request to send, with the generated WebSocket headers;
//! - [`request_head`]: the bytes of its head;
//! - [`find_head_end`]: where the answer's head ends in what has been read so far;
//! - [`check_response`]: whether a complete answer's head accepts the request;
//! - [`handshake`]: writes the request, reads and checks the answer.
//!
//! tungstenite can do all this, but it keeps its 4 KiB handshake buffer as the connection's
//! read buffer for good; done here, the connection keeps the smaller buffer its
//! `WebSocketConfig` asks for.

use crate::logging::{Logger, record};
use async_tungstenite::tungstenite::client::IntoClientRequest;
use async_tungstenite::tungstenite::handshake::derive_accept_key;
use futures::{AsyncReadExt, AsyncWriteExt};
use http::header::{
    CONNECTION, HOST, HeaderName, SEC_WEBSOCKET_EXTENSIONS, SEC_WEBSOCKET_KEY,
    SEC_WEBSOCKET_PROTOCOL, SEC_WEBSOCKET_VERSION, UPGRADE,
};
use http::{Request, Uri};

use super::Prefixed;
use crate::HttpStatusError;
use crate::connector::{ConnectorError, ConnectorErrorKind};
use crate::rt::Io;

/// The longest handshake response head accepted.
pub(super) const MAX_RESPONSE_HEAD: usize = 16 * 1024;

/// The handshake request to send: the URL with a `ws`/`wss` scheme, the generated WebSocket
/// headers (`Sec-WebSocket-Key` and friends), and the caller's own headers. The caller's
/// `Host` replaces the generated one; its values of the generated headers, and any
/// `Sec-WebSocket-Extensions`, are dropped.
pub(super) fn handshake_request(
    request: &Request<()>,
    logger: &Logger,
) -> Result<Request<()>, ConnectorError> {
    let uri = ws_uri(request.uri())?;
    let mut out = uri.clone().into_client_request().map_err(|e| {
        ConnectorError::new(
            ConnectorErrorKind::Other,
            format!("connecting to {uri}: invalid WebSocket URL"),
            Some(Box::new(e)),
        )
    })?;
    const GENERATED: [HeaderName; 4] = [
        CONNECTION,
        UPGRADE,
        SEC_WEBSOCKET_KEY,
        SEC_WEBSOCKET_VERSION,
    ];
    let headers = out.headers_mut();
    for (name, value) in request.headers() {
        if *name == HOST {
            headers.insert(HOST, value.clone());
        } else if GENERATED.contains(name) || *name == SEC_WEBSOCKET_EXTENSIONS {
            record!(
                logger,
                debug,
                "connecting to {uri}: ignoring the request's {name} header"
            );
        } else {
            headers.append(name.clone(), value.clone());
        }
    }
    Ok(out)
}

/// `http`/`https` become `ws`/`wss`; `ws`/`wss` stay; anything else is refused.
fn ws_uri(uri: &Uri) -> Result<Uri, ConnectorError> {
    let scheme = match uri.scheme_str() {
        Some(s) if s.eq_ignore_ascii_case("ws") || s.eq_ignore_ascii_case("http") => "ws",
        Some(s) if s.eq_ignore_ascii_case("wss") || s.eq_ignore_ascii_case("https") => "wss",
        _ => {
            return Err(ConnectorError::new(
                ConnectorErrorKind::Other,
                format!(
                    "connecting to {uri}: the URL must start with ws://, wss://, http:// or https://"
                ),
                None,
            ));
        }
    };
    let mut parts = uri.clone().into_parts();
    parts.scheme = Some(scheme.parse().expect("ws and wss are valid schemes"));
    if parts.path_and_query.is_none() {
        parts.path_and_query = Some(http::uri::PathAndQuery::from_static("/"));
    }
    Uri::from_parts(parts).map_err(|e| {
        ConnectorError::new(
            ConnectorErrorKind::Other,
            format!("connecting to {uri}: invalid WebSocket URL"),
            Some(Box::new(e)),
        )
    })
}

/// The head of `request` as sent: `GET <path and query> HTTP/1.1`, one line per header
/// (repeated headers on lines of their own, in order), and the blank line.
pub(super) fn request_head(request: &Request<()>) -> Vec<u8> {
    let target = request.uri().path_and_query().map_or("/", |p| p.as_str());
    let mut head = format!("GET {target} HTTP/1.1\r\n").into_bytes();
    for (name, value) in request.headers() {
        head.extend_from_slice(name.as_str().as_bytes());
        head.extend_from_slice(b": ");
        head.extend_from_slice(value.as_bytes());
        head.extend_from_slice(b"\r\n");
    }
    head.extend_from_slice(b"\r\n");
    head
}

/// Where the response head ends in the bytes read so far; see [`find_head_end`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum HeadEnd {
    /// The head is `buf[..n]`, its blank line included; what follows it is the server's
    /// first frames.
    At(usize),
    /// No end yet: read more.
    NeedMore,
    /// No end, and more than [`MAX_RESPONSE_HEAD`] bytes already.
    TooLong,
}

/// Finds the end of the response head (its blank line, `\r\n\r\n`) in `buf`, the bytes read
/// so far.
///
/// `searched` is how many bytes at the start of `buf` an earlier call already searched
/// without finding the end (0 for none), so that searching a growing buffer after each read
/// stays linear; an end that straddles two reads is still found.
pub(super) fn find_head_end(buf: &[u8], searched: usize) -> HeadEnd {
    let from = searched.min(buf.len()).saturating_sub(3);
    match buf[from..].windows(4).position(|w| w == b"\r\n\r\n") {
        Some(at) => HeadEnd::At(from + at + 4),
        None if buf.len() > MAX_RESPONSE_HEAD => HeadEnd::TooLong,
        None => HeadEnd::NeedMore,
    }
}

/// Checks the server's answer to `request`, `head` being the whole response head (up to
/// and including its blank line): status 101, the `Upgrade: websocket` and
/// `Connection: upgrade` tokens, the `Sec-WebSocket-Accept` that matches the request's
/// key, no extension (none is offered), and no subprotocol unless the request offered one.
///
/// Another status is an [`HttpStatus`](ConnectorErrorKind::HttpStatus) error with that
/// status; anything else wrong is a [`Protocol`](ConnectorErrorKind::Protocol) error.
/// `url` names the server in the errors.
pub(super) fn check_response(
    head: &[u8],
    request: &Request<()>,
    url: &str,
) -> Result<(), ConnectorError> {
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut response = httparse::Response::new(&mut headers);
    match response.parse(head) {
        Ok(httparse::Status::Complete(_)) => {}
        Ok(httparse::Status::Partial) | Err(_) => {
            return Err(protocol_error(url, "the answer is not HTTP"));
        }
    }
    let status = response.code.unwrap_or(0);
    if status != 101 {
        return Err(refused(url, status));
    }
    let header = |name: &str| {
        response
            .headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| h.value)
    };
    let has_token = |name: &str, token: &str| {
        header(name).is_some_and(|v| {
            v.split(|&b| b == b',')
                .any(|t| t.trim_ascii().eq_ignore_ascii_case(token.as_bytes()))
        })
    };
    if !has_token("upgrade", "websocket") || !has_token("connection", "upgrade") {
        return Err(protocol_error(
            url,
            "the answer does not upgrade to WebSocket",
        ));
    }
    let key = request
        .headers()
        .get(SEC_WEBSOCKET_KEY)
        .map_or(&b""[..], |k| k.as_bytes());
    if header("sec-websocket-accept") != Some(derive_accept_key(key).as_bytes()) {
        return Err(protocol_error(url, "wrong Sec-WebSocket-Accept"));
    }
    // No extension is ever offered; a subprotocol only if the application set the header.
    let offered_protocol = request.headers().contains_key(SEC_WEBSOCKET_PROTOCOL);
    if header("sec-websocket-extensions").is_some()
        || (header("sec-websocket-protocol").is_some() && !offered_protocol)
    {
        return Err(protocol_error(
            url,
            "the server chose an extension or subprotocol the client did not offer",
        ));
    }
    Ok(())
}

/// Runs the client's side of the WebSocket opening handshake on `io`: sends `request` (as
/// built by [`handshake_request`]), reads and checks the answer. Returns the stream and the
/// bytes that came after the answer's head (the server's first frames, if it was quick).
pub(super) async fn handshake(
    mut io: Box<dyn Io>,
    request: &Request<()>,
    url: &str,
) -> Result<(Box<dyn Io>, Vec<u8>), ConnectorError> {
    let io_error = |e| ConnectorError::io(context(url), e);

    io.write_all(&request_head(request))
        .await
        .map_err(io_error)?;
    io.flush().await.map_err(io_error)?;

    let (mut buf, end) = read_response_head(&mut io).await.map_err(|e| match e {
        HeadError::Io(e) => io_error(e),
        HeadError::Closed => io_error(std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            "the server closed the connection before its answer was complete",
        )),
        HeadError::TooLong => protocol_error(url, "the answer's head is too long"),
    })?;
    if let Err(e) = check_response(&buf[..end], request, url) {
        return Err(match e.kind() {
            ConnectorErrorKind::HttpStatus(status) => {
                refusal_with_body(&mut io, buf, end, status, url).await
            }
            _ => e,
        });
    }
    buf.drain(..end);
    Ok((io, buf))
}

/// The longest body of a refusal read for the server's message.
const MAX_REFUSAL_BODY: usize = 4096;

/// The server's refusal of the handshake with `status`, `buf[..end]` being its head: its
/// body (as far as its `Content-Length` says, up to [`MAX_REFUSAL_BODY`]) is read for the
/// server's own error (engine.io's `{"code":…,"message":…}`, python-engineio's message),
/// kept as the error's source ([`HttpStatusError`]).
async fn refusal_with_body(
    io: &mut Box<dyn Io>,
    mut buf: Vec<u8>,
    end: usize,
    status: u16,
    url: &str,
) -> ConnectorError {
    let (_, length) = status_and_length(&buf[..end]);
    let wanted = length.map(|len| end + len.min(MAX_REFUSAL_BODY));
    if let Some(wanted) = wanted {
        let mut chunk = [0u8; 512];
        while buf.len() < wanted {
            match io.read(&mut chunk).await {
                Ok(0) | Err(_) => break,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
    }
    let body_end = wanted.unwrap_or(end).min(buf.len());
    ConnectorError::new(
        ConnectorErrorKind::HttpStatus(status),
        format!("WebSocket handshake with {url} refused"),
        Some(Box::new(HttpStatusError::from_response(
            status,
            &buf[end..body_end],
        ))),
    )
}

/// The status (0 if it has none) and the `Content-Length` of a complete response head.
fn status_and_length(head: &[u8]) -> (u16, Option<usize>) {
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut response = httparse::Response::new(&mut headers);
    if response.parse(head).is_err() {
        return (0, None);
    }
    let length = response
        .headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case("content-length"))
        .and_then(|h| std::str::from_utf8(h.value).ok()?.trim().parse().ok());
    (response.code.unwrap_or(0), length)
}

/// The stream once the handshake is done: first the bytes that came after the answer's
/// head, then the connection. It watches the first byte: no WebSocket frame starts with
/// `H` (0x48: a close frame without FIN, a reserved bit set), an HTTP answer does. node's
/// engine.io accepts the upgrade of a version it does not speak (`EIO=3` without
/// `allowEIO3`), then writes its 400 refusal on the socket: read whole (bounded), it fails
/// the first read with a [`LateRefusal`] instead of a frame error about reserved bits.
pub(super) struct AfterHandshake {
    io: Prefixed,
    sniff: Sniff,
}

/// What the first bytes after the handshake turned out to be.
enum Sniff {
    /// Nothing read yet.
    First,
    /// Frames: read through.
    Frames,
    /// An HTTP answer: what has been read of it.
    Refusal(Vec<u8>),
}

impl AfterHandshake {
    pub(super) fn new(rest: Vec<u8>, io: Box<dyn Io>) -> AfterHandshake {
        AfterHandshake {
            io: Prefixed::new(rest, io),
            sniff: Sniff::First,
        }
    }

    /// The refusal in `answer`, once it is whole, or cannot grow (`ended`, or the bound
    /// reached).
    fn late_refusal(answer: &[u8], ended: bool) -> Option<LateRefusal> {
        let bounded = ended || answer.len() >= MAX_RESPONSE_HEAD + MAX_REFUSAL_BODY;
        let end = match find_head_end(answer, 0) {
            HeadEnd::At(end) => end,
            HeadEnd::NeedMore if !bounded => return None,
            HeadEnd::NeedMore | HeadEnd::TooLong => answer.len(),
        };
        let (head, body) = answer.split_at(end);
        let (status, length) = status_and_length(head);
        let body = match length {
            Some(len) if body.len() < len.min(MAX_REFUSAL_BODY) && !bounded => return None,
            Some(len) => &body[..body.len().min(len)],
            None => body,
        };
        Some(LateRefusal(HttpStatusError::from_response(status, body)))
    }
}

/// The server's refusal written after it had accepted the upgrade (see
/// [`AfterHandshake`]); carried by the `io::Error` of the first read.
#[derive(Debug)]
pub(super) struct LateRefusal(pub(super) HttpStatusError);

impl std::fmt::Display for LateRefusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the server refused the WebSocket after accepting it: {}",
            self.0
        )
    }
}

impl std::error::Error for LateRefusal {}

impl futures::AsyncRead for AfterHandshake {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        out: &mut [u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        use std::pin::Pin;
        use std::task::{Poll, ready};
        let this = &mut *self;
        let mut answer = match &mut this.sniff {
            Sniff::Frames => return Pin::new(&mut this.io).poll_read(cx, out),
            Sniff::Refusal(answer) => std::mem::take(answer),
            Sniff::First => {
                let n = ready!(Pin::new(&mut this.io).poll_read(cx, out))?;
                if n == 0 || out[0] != b'H' {
                    if n > 0 {
                        this.sniff = Sniff::Frames;
                    }
                    return Poll::Ready(Ok(n));
                }
                out[..n].to_vec()
            }
        };
        let mut chunk = [0u8; 512];
        let result = loop {
            if let Some(refusal) = AfterHandshake::late_refusal(&answer, false) {
                break Err(std::io::Error::other(refusal));
            }
            match Pin::new(&mut this.io).poll_read(cx, &mut chunk) {
                Poll::Pending => break Ok(()),
                Poll::Ready(Err(e)) => break Err(e),
                Poll::Ready(Ok(0)) => {
                    break Err(AfterHandshake::late_refusal(&answer, true).map_or_else(
                        || std::io::Error::from(std::io::ErrorKind::UnexpectedEof),
                        std::io::Error::other,
                    ));
                }
                Poll::Ready(Ok(n)) => answer.extend_from_slice(&chunk[..n]),
            }
        };
        this.sniff = Sniff::Refusal(answer);
        match result {
            Ok(()) => Poll::Pending,
            Err(e) => Poll::Ready(Err(e)),
        }
    }
}

impl futures::AsyncWrite for AfterHandshake {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.io).poll_write(cx, buf)
    }
    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.io).poll_flush(cx)
    }
    fn poll_close(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.io).poll_close(cx)
    }
}

/// Why a response head could not be read.
#[derive(Debug)]
pub(super) enum HeadError {
    Io(std::io::Error),
    /// The peer closed the connection before the head was complete.
    Closed,
    /// More than [`MAX_RESPONSE_HEAD`] bytes without the end of a head.
    TooLong,
}

/// Reads from `io` up to the end of an HTTP response head: returns the bytes read (the
/// head, and whatever came after it in the same reads) and where the head ends. Used for
/// the WebSocket handshake's answer and a proxy's answer to `CONNECT`.
pub(super) async fn read_response_head(
    io: &mut Box<dyn Io>,
) -> Result<(Vec<u8>, usize), HeadError> {
    let mut buf = Vec::with_capacity(512);
    loop {
        let searched = buf.len();
        let mut chunk = [0u8; 512];
        let n = io.read(&mut chunk).await.map_err(HeadError::Io)?;
        if n == 0 {
            return Err(HeadError::Closed);
        }
        buf.extend_from_slice(&chunk[..n]);
        match find_head_end(&buf, searched) {
            HeadEnd::At(end) => return Ok((buf, end)),
            HeadEnd::NeedMore => {}
            HeadEnd::TooLong => return Err(HeadError::TooLong),
        }
    }
}

/// What the handshake errors say was being done.
fn context(url: &str) -> String {
    format!("WebSocket handshake with {url}")
}

/// The server's answer breaks the handshake; `what` says how.
fn protocol_error(url: &str, what: &str) -> ConnectorError {
    ConnectorError::new(
        ConnectorErrorKind::Protocol,
        format!("{}: {what}", context(url)),
        None,
    )
}

/// The server answered the handshake with `status` instead of 101 (its body is read by
/// [`handshake`], which replaces this error with one that carries it).
fn refused(url: &str, status: u16) -> ConnectorError {
    ConnectorError::new(
        ConnectorErrorKind::HttpStatus(status),
        format!("WebSocket handshake with {url} refused"),
        None,
    )
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    #[test]
    fn handshake_request_has_the_generated_and_the_extra_headers() {
        let req = Request::get("ws://127.0.0.1:5000/engine.io/?EIO=4&transport=websocket")
            .header("cookie", "io=abc")
            .header("x-token", "t1")
            .header("x-multi", "a")
            .header("x-multi", "b")
            .body(())
            .unwrap();
        let out = handshake_request(&req, &Logger::default()).unwrap();
        assert_eq!(
            out.uri().to_string(),
            "ws://127.0.0.1:5000/engine.io/?EIO=4&transport=websocket"
        );
        let h = out.headers();
        assert_eq!(h["cookie"], "io=abc");
        assert_eq!(h["x-token"], "t1");
        let multi: Vec<_> = h.get_all("x-multi").iter().collect();
        assert_eq!(multi, ["a", "b"]);
        assert_eq!(h[HOST], "127.0.0.1:5000");
        assert_eq!(h[SEC_WEBSOCKET_VERSION], "13");
        assert!(h.contains_key(SEC_WEBSOCKET_KEY));
        assert_eq!(h[UPGRADE], "websocket");
        // tungstenite turns it into bytes without complaint.
        async_tungstenite::tungstenite::handshake::client::generate_request(out).unwrap();
    }

    #[test]
    fn handshake_request_does_not_duplicate_generated_headers() {
        let req = Request::get("http://h/engine.io/?EIO=4")
            .header(HOST, "proxy.example")
            .header(SEC_WEBSOCKET_KEY, "mine")
            .header(CONNECTION, "keep-alive")
            .header(SEC_WEBSOCKET_EXTENSIONS, "permessage-deflate")
            .body(())
            .unwrap();
        let out = handshake_request(&req, &Logger::default()).unwrap();
        assert_eq!(out.uri().scheme_str(), Some("ws"));
        assert_eq!(out.headers()[HOST], "proxy.example");
        assert_ne!(out.headers()[SEC_WEBSOCKET_KEY], "mine");
        assert_eq!(out.headers().get_all(SEC_WEBSOCKET_KEY).iter().count(), 1);
        assert_eq!(out.headers()[CONNECTION], "Upgrade");
        assert!(!out.headers().contains_key(SEC_WEBSOCKET_EXTENSIONS));
        async_tungstenite::tungstenite::handshake::client::generate_request(out).unwrap();
    }

    #[test]
    fn ws_uri_maps_schemes() {
        let u = |s: &str| ws_uri(&s.parse().unwrap()).map(|u| u.to_string());
        assert_eq!(u("https://h/x?y").unwrap(), "wss://h/x?y");
        assert_eq!(u("wss://h:1/").unwrap(), "wss://h:1/");
        assert_eq!(u("http://h").unwrap(), "ws://h/");
        let err = ws_uri(&"ftp://h/".parse().unwrap()).unwrap_err();
        assert_eq!(err.kind(), ConnectorErrorKind::Other);
    }

    #[test]
    fn request_head_is_the_request_line_and_the_headers() {
        let req = Request::get("ws://h/engine.io/?EIO=4&transport=websocket")
            .header(HOST, "h")
            .header("x-multi", "a")
            .header("x-multi", "b")
            .body(())
            .unwrap();
        assert_eq!(
            request_head(&req),
            b"GET /engine.io/?EIO=4&transport=websocket HTTP/1.1\r\n\
              host: h\r\nx-multi: a\r\nx-multi: b\r\n\r\n"
        );
        let generated = handshake_request(&req, &Logger::default()).unwrap();
        let head = request_head(&generated);
        let mut headers = [httparse::EMPTY_HEADER; 16];
        let mut parsed = httparse::Request::new(&mut headers);
        assert_eq!(
            parsed.parse(&head).unwrap(),
            httparse::Status::Complete(head.len())
        );
        assert_eq!(parsed.path, Some("/engine.io/?EIO=4&transport=websocket"));
    }

    // The pure steps.

    /// The key of RFC 6455's example (section 1.3).
    const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

    /// A correct answer to a request with `KEY`.
    const ACCEPTED: &str = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
                            Connection: Upgrade\r\n\
                            Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n";

    /// A handshake request with `KEY`, offering `protocol` as its subprotocol, if any.
    fn request(protocol: Option<&str>) -> Request<()> {
        let mut request = Request::get("ws://h/engine.io/?EIO=4&transport=websocket")
            .header(HOST, "h")
            .header(SEC_WEBSOCKET_KEY, KEY);
        if let Some(p) = protocol {
            request = request.header(SEC_WEBSOCKET_PROTOCOL, p);
        }
        request.body(()).unwrap()
    }

    /// `check_response` on `answer`, the request offering `protocol`, if any.
    fn check(answer: &str, protocol: Option<&str>) -> Result<(), ConnectorError> {
        check_response(answer.as_bytes(), &request(protocol), "ws://h/")
    }

    /// `check` fails with a protocol error whose message ends with `what`.
    #[track_caller]
    fn assert_protocol_error(answer: &str, protocol: Option<&str>, what: &str) {
        let err = check(answer, protocol).unwrap_err();
        assert_eq!(err.kind(), ConnectorErrorKind::Protocol, "{err}");
        assert_eq!(
            err.context(),
            format!("WebSocket handshake with ws://h/: {what}")
        );
    }

    #[test]
    fn a_correct_answer_is_accepted() {
        assert!(check(ACCEPTED, None).is_ok());
        // Header names in any case, values with spaces around them.
        let shouting = "HTTP/1.1 101 Switching Protocols\r\nUPGRADE:  WebSocket \r\n\
                        connection: upgrade\r\n\
                        sec-websocket-accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n";
        assert!(check(shouting, None).is_ok());
    }

    #[test]
    fn token_lists_are_accepted_in_any_case() {
        let listed = ACCEPTED.replace("Connection: Upgrade", "Connection: keep-alive, Upgrade");
        assert!(check(&listed, None).is_ok());
        let listed = ACCEPTED.replace("Connection: Upgrade", "Connection: keep-alive,upgrade");
        assert!(check(&listed, None).is_ok());
        let listed = ACCEPTED.replace("Upgrade: websocket", "Upgrade: h2c, WEBSOCKET");
        assert!(check(&listed, None).is_ok());
        // A token is a whole list item, not a part of one.
        let partial = ACCEPTED.replace("Connection: Upgrade", "Connection: keep-alive-upgrade");
        assert_protocol_error(&partial, None, "the answer does not upgrade to WebSocket");
    }

    #[test]
    fn another_status_is_refused_with_that_status() {
        for (answer, status) in [
            ("HTTP/1.1 403 Forbidden\r\ncontent-length: 0\r\n\r\n", 403),
            ("HTTP/1.1 200 OK\r\n\r\n", 200),
            // A 101 that is not a WebSocket answer is still judged on its status first.
            (
                "HTTP/1.1 400 Bad Request\r\nUpgrade: websocket\r\n\r\n",
                400,
            ),
        ] {
            let err = check(answer, None).unwrap_err();
            assert_eq!(err.kind(), ConnectorErrorKind::HttpStatus(status));
            assert_eq!(
                err.to_string(),
                format!("WebSocket handshake with ws://h/ refused: HTTP {status}")
            );
        }
    }

    #[test]
    fn refused_carries_the_status() {
        let err = refused("ws://h/engine.io/", 403);
        assert_eq!(err.kind(), ConnectorErrorKind::HttpStatus(403));
        assert_eq!(
            err.to_string(),
            "WebSocket handshake with ws://h/engine.io/ refused: HTTP 403"
        );
    }

    #[test]
    fn an_answer_that_is_not_http_is_refused() {
        assert_protocol_error("garbage\r\n\r\n", None, "the answer is not HTTP");
        assert_protocol_error("HTTP/1.1 101\r\n", None, "the answer is not HTTP");
        assert_protocol_error("", None, "the answer is not HTTP");
    }

    #[test]
    fn a_missing_upgrade_token_is_refused() {
        let what = "the answer does not upgrade to WebSocket";
        let no_upgrade = ACCEPTED.replace("Upgrade: websocket\r\n", "");
        assert_protocol_error(&no_upgrade, None, what);
        let other = ACCEPTED.replace("Upgrade: websocket", "Upgrade: h2c");
        assert_protocol_error(&other, None, what);
    }

    #[test]
    fn a_missing_connection_token_is_refused() {
        let what = "the answer does not upgrade to WebSocket";
        let no_connection = ACCEPTED.replace("Connection: Upgrade\r\n", "");
        assert_protocol_error(&no_connection, None, what);
        let keep_alive = ACCEPTED.replace("Connection: Upgrade", "Connection: keep-alive");
        assert_protocol_error(&keep_alive, None, what);
    }

    #[test]
    fn a_wrong_accept_is_refused() {
        let what = "wrong Sec-WebSocket-Accept";
        let wrong = ACCEPTED.replace("s3pPLMBiTxaQ9kYGzzhZRbK+xOo=", "AAAA");
        assert_protocol_error(&wrong, None, what);
        let missing =
            ACCEPTED.replace("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n", "");
        assert_protocol_error(&missing, None, what);
        // The accept value of another key.
        let other_key = ACCEPTED.replace(
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=",
            &derive_accept_key(b"AQIDBAUGBwgJCgsMDQ4PEA=="),
        );
        assert_protocol_error(&other_key, None, what);
    }

    #[test]
    fn an_extension_is_refused() {
        let extension = ACCEPTED.replace(
            "\r\n\r\n",
            "\r\nSec-WebSocket-Extensions: permessage-deflate\r\n\r\n",
        );
        let what = "the server chose an extension or subprotocol the client did not offer";
        assert_protocol_error(&extension, None, what);
        // Even when the application offered a subprotocol.
        assert_protocol_error(&extension, Some("p"), what);
    }

    #[test]
    fn a_subprotocol_is_accepted_only_if_offered() {
        let protocol = ACCEPTED.replace("\r\n\r\n", "\r\nSec-WebSocket-Protocol: p\r\n\r\n");
        assert_protocol_error(
            &protocol,
            None,
            "the server chose an extension or subprotocol the client did not offer",
        );
        assert!(check(&protocol, Some("p")).is_ok());
        // Offering one does not oblige the server to choose it.
        assert!(check(ACCEPTED, Some("p")).is_ok());
    }

    #[test]
    fn the_head_end_is_found_after_the_blank_line() {
        let mut buf = ACCEPTED.as_bytes().to_vec();
        assert_eq!(find_head_end(&buf, 0), HeadEnd::At(ACCEPTED.len()));
        buf.extend_from_slice(b"\x81\x020{");
        assert_eq!(find_head_end(&buf, 0), HeadEnd::At(ACCEPTED.len()));
        assert_eq!(find_head_end(b"", 0), HeadEnd::NeedMore);
        assert_eq!(find_head_end(b"HTTP/1.1 101 OK\r\n", 0), HeadEnd::NeedMore);
        // A lone `\n\n` does not end it.
        assert_eq!(find_head_end(b"HTTP/1.1 101 OK\n\n", 0), HeadEnd::NeedMore);
    }

    #[test]
    fn the_head_end_is_found_across_reads() {
        let mut answer = ACCEPTED.as_bytes().to_vec();
        answer.extend_from_slice(b"\x81\x020{");
        let answer = &answer[..];
        let end = ACCEPTED.len();
        // Every way of cutting the answer in two reads, the second search resuming where
        // the first stopped: the blank line split between them is still found.
        for cut in 0..answer.len() {
            let first = find_head_end(&answer[..cut], 0);
            let found = match first {
                HeadEnd::At(at) => at,
                HeadEnd::NeedMore => match find_head_end(answer, cut) {
                    HeadEnd::At(at) => at,
                    other => panic!("cut at {cut}: {other:?}"),
                },
                HeadEnd::TooLong => panic!("cut at {cut}: too long"),
            };
            assert_eq!(found, end, "cut at {cut}");
        }
        // One byte per read.
        let mut buf = Vec::new();
        let mut found = None;
        for &b in answer {
            let searched = buf.len();
            buf.push(b);
            if let HeadEnd::At(at) = find_head_end(&buf, searched) {
                found = Some(at);
                break;
            }
        }
        assert_eq!(found, Some(end));
        // A `searched` past the end of the buffer does not panic.
        assert_eq!(find_head_end(b"\r\n", 10), HeadEnd::NeedMore);
    }

    #[test]
    fn a_head_without_end_is_too_long_past_the_limit() {
        let mut buf = b"HTTP/1.1 101 OK\r\nx: ".to_vec();
        buf.resize(MAX_RESPONSE_HEAD, b'a');
        assert_eq!(find_head_end(&buf, 0), HeadEnd::NeedMore);
        buf.push(b'a');
        assert_eq!(find_head_end(&buf, 0), HeadEnd::TooLong);
        assert_eq!(find_head_end(&buf, buf.len() - 1), HeadEnd::TooLong);
    }

    // The handshake over a scripted stream.

    /// A stream that answers with `input` and records what is written to it.
    struct Scripted {
        input: futures::io::Cursor<Vec<u8>>,
        written: Arc<Mutex<Vec<u8>>>,
    }

    /// A stream that answers with `answer`, and what will be written to it.
    fn scripted(answer: &[u8]) -> (Box<dyn Io>, Arc<Mutex<Vec<u8>>>) {
        let written = Arc::new(Mutex::new(Vec::new()));
        let io = Scripted {
            input: futures::io::Cursor::new(answer.to_vec()),
            written: written.clone(),
        };
        (Box::new(io), written)
    }

    impl futures::io::AsyncRead for Scripted {
        fn poll_read(
            mut self: std::pin::Pin<&mut Self>,
            cx: &mut std::task::Context<'_>,
            buf: &mut [u8],
        ) -> std::task::Poll<std::io::Result<usize>> {
            std::pin::Pin::new(&mut self.input).poll_read(cx, buf)
        }
    }

    impl futures::io::AsyncWrite for Scripted {
        fn poll_write(
            self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
            buf: &[u8],
        ) -> std::task::Poll<std::io::Result<usize>> {
            self.written.lock().unwrap().extend_from_slice(buf);
            std::task::Poll::Ready(Ok(buf.len()))
        }
        fn poll_flush(
            self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<std::io::Result<()>> {
            std::task::Poll::Ready(Ok(()))
        }
        fn poll_close(
            self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<std::io::Result<()>> {
            std::task::Poll::Ready(Ok(()))
        }
    }

    /// The handshake against a server that answers `answer`.
    fn handshake_with(answer: &[u8]) -> Result<Vec<u8>, ConnectorError> {
        handshake_offering(answer, None)
    }

    /// The same, the request offering `protocol` as its subprotocol, if any.
    fn handshake_offering(
        answer: &[u8],
        protocol: Option<&str>,
    ) -> Result<Vec<u8>, ConnectorError> {
        let request = request(protocol);
        let (io, _) = scripted(answer);
        futures::executor::block_on(handshake(io, &request, "ws://h/")).map(|(_, rest)| rest)
    }

    #[test]
    fn handshake_keeps_what_follows_the_answer() {
        let mut answer = ACCEPTED.as_bytes().to_vec();
        answer.extend_from_slice(b"\x81\x020{");
        assert_eq!(handshake_with(&answer).unwrap(), b"\x81\x020{");
        assert_eq!(handshake_with(ACCEPTED.as_bytes()).unwrap(), b"");
    }

    #[test]
    fn handshake_sends_the_request_head() {
        let request = request(None);
        let (io, written) = scripted(ACCEPTED.as_bytes());
        let (_, rest) = futures::executor::block_on(handshake(io, &request, "ws://h/")).unwrap();
        assert!(rest.is_empty());
        assert_eq!(*written.lock().unwrap(), request_head(&request));
    }

    #[test]
    fn handshake_failures_are_typed() {
        let err =
            handshake_with(b"HTTP/1.1 403 Forbidden\r\ncontent-length: 0\r\n\r\n").unwrap_err();
        assert_eq!(err.kind(), ConnectorErrorKind::HttpStatus(403));
        let wrong_key = ACCEPTED.replace("s3pPLMBiTxaQ9kYGzzhZRbK+xOo=", "AAAA");
        let err = handshake_with(wrong_key.as_bytes()).unwrap_err();
        assert_eq!(err.kind(), ConnectorErrorKind::Protocol);
        assert!(err.to_string().contains("Sec-WebSocket-Accept"), "{err}");
        let no_upgrade = ACCEPTED.replace("Upgrade: websocket\r\n", "");
        assert_eq!(
            handshake_with(no_upgrade.as_bytes()).unwrap_err().kind(),
            ConnectorErrorKind::Protocol
        );
        let extension = ACCEPTED.replace("\r\n\r\n", "\r\nSec-WebSocket-Extensions: x\r\n\r\n");
        assert_eq!(
            handshake_with(extension.as_bytes()).unwrap_err().kind(),
            ConnectorErrorKind::Protocol
        );
        // A subprotocol is fine when the application offered one.
        let protocol = ACCEPTED.replace("\r\n\r\n", "\r\nSec-WebSocket-Protocol: p\r\n\r\n");
        assert_eq!(
            handshake_with(protocol.as_bytes()).unwrap_err().kind(),
            ConnectorErrorKind::Protocol
        );
        assert!(handshake_offering(protocol.as_bytes(), Some("p")).is_ok());
        assert_eq!(
            handshake_with(b"garbage\r\n\r\n").unwrap_err().kind(),
            ConnectorErrorKind::Protocol
        );
        assert_eq!(
            handshake_with(b"HTTP/1.1 101 Swi").unwrap_err().kind(),
            ConnectorErrorKind::Io
        );
        let endless = format!("HTTP/1.1 101 OK\r\nx: {}", "a".repeat(20_000));
        let err = handshake_with(endless.as_bytes()).unwrap_err();
        assert_eq!(err.kind(), ConnectorErrorKind::Protocol);
        assert!(err.to_string().contains("too long"), "{err}");
    }
    /// The `HttpStatusError` a connector error carries, if any.
    fn carried(err: &ConnectorError) -> Option<HttpStatusError> {
        std::error::Error::source(err)
            .and_then(|s| s.downcast_ref::<HttpStatusError>())
            .cloned()
    }

    #[test]
    fn a_refusal_carries_the_servers_error_from_its_body() {
        let node = b"HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\n\
                     Content-Length: 53\r\n\r\n{\"code\":5,\"message\":\"Unsupported protocol version\"}";
        let err = handshake_with(node).unwrap_err();
        assert_eq!(err.kind(), ConnectorErrorKind::HttpStatus(400));
        assert_eq!(
            carried(&err),
            Some(HttpStatusError {
                status: 400,
                code: Some(5),
                message: Some("Unsupported protocol version".into())
            })
        );
        // No Content-Length: nothing more is waited for; what came with the head counts.
        let err = handshake_with(b"HTTP/1.1 401 Unauthorized\r\n\r\n").unwrap_err();
        assert_eq!(
            carried(&err),
            Some(HttpStatusError {
                status: 401,
                code: None,
                message: None
            })
        );
        // A body cut short, or a huge one: what arrived, at most 4 KiB of it.
        let err = handshake_with(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 99\r\n\r\n\"no\"")
            .unwrap_err();
        assert_eq!(carried(&err).unwrap().message.as_deref(), Some("no"));
        let mut big = b"HTTP/1.1 403 Forbidden\r\nContent-Length: 9999999\r\n\r\n".to_vec();
        big.extend(std::iter::repeat_n(b'x', 100_000));
        let err = handshake_with(&big).unwrap_err();
        assert_eq!(err.kind(), ConnectorErrorKind::HttpStatus(403));
    }

    /// Reads `after` (what follows a 101) through [`AfterHandshake`], `split` bytes of it
    /// left over from the handshake and the rest from the connection.
    fn read_after(after: &[u8], split: usize) -> std::io::Result<Vec<u8>> {
        let (io, _) = scripted(&after[split..]);
        let mut stream = AfterHandshake::new(after[..split].to_vec(), io);
        let mut out = Vec::new();
        futures::executor::block_on(stream.read_to_end(&mut out))?;
        Ok(out)
    }

    #[test]
    fn frames_after_the_handshake_pass_through_untouched() {
        let frames = b"\x81\x020{\x81\x0240\x88\x00";
        for split in 0..=frames.len() {
            assert_eq!(read_after(frames, split).unwrap(), frames, "split {split}");
        }
        // An `H` later in the stream is data.
        let frames = b"\x81\x02HH";
        assert_eq!(read_after(frames, 0).unwrap(), frames);
    }

    #[test]
    fn a_refusal_written_after_the_101_is_the_servers_refusal() {
        // node's engine.io, asked `EIO=3` without `allowEIO3`.
        let late = b"HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-type: text/html\r\n\
                     Content-Length: 28\r\n\r\nUnsupported protocol version";
        for split in [0, 1, 10, late.len()] {
            let err = read_after(late, split).unwrap_err();
            let refusal = err
                .get_ref()
                .and_then(|e| e.downcast_ref::<LateRefusal>())
                .unwrap_or_else(|| panic!("split {split}: {err:?}"));
            assert_eq!(
                refusal.0,
                HttpStatusError {
                    status: 400,
                    code: None,
                    message: Some("Unsupported protocol version".into())
                },
                "split {split}"
            );
        }
        // Cut short, or endless: a refusal all the same, from what came, bounded.
        let err = read_after(b"HTTP/1.1 400 Bad Req", 0).unwrap_err();
        assert!(
            err.get_ref().is_some_and(|e| e.is::<LateRefusal>()),
            "{err:?}"
        );
        let mut endless = b"HTTP/1.1 400 Bad Request\r\n".to_vec();
        endless.extend(std::iter::repeat_n(b'x', 1 << 20));
        let err = read_after(&endless, 0).unwrap_err();
        assert!(
            err.get_ref().is_some_and(|e| e.is::<LateRefusal>()),
            "{err:?}"
        );
    }
}
