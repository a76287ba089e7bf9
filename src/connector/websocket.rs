//! [`TungsteniteConnector`]: the default [`WebSocketConnector`], async-tungstenite over
//! [`Dialer`] streams.

use std::fmt;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use async_trait::async_trait;
use async_tungstenite::WebSocketStream;
use async_tungstenite::tungstenite::client::IntoClientRequest;
use async_tungstenite::tungstenite::error::{CapacityError, ProtocolError};
use async_tungstenite::tungstenite::handshake::derive_accept_key;
use async_tungstenite::tungstenite::protocol::Role;
use async_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use async_tungstenite::tungstenite::protocol::{CloseFrame, WebSocketConfig};
use async_tungstenite::tungstenite::{Error as WsError, Message, Utf8Bytes};
use bytes::Bytes;
use futures::{AsyncReadExt, AsyncWriteExt, Sink, SinkExt, Stream, StreamExt, ready};
use http::header::{
    CONNECTION, HOST, HeaderName, SEC_WEBSOCKET_EXTENSIONS, SEC_WEBSOCKET_KEY,
    SEC_WEBSOCKET_PROTOCOL, SEC_WEBSOCKET_VERSION, UPGRADE,
};
use http::{Request, Uri};
use log::debug;

use crate::ByteStr;
use crate::connector::{
    ConnectorError, ConnectorErrorKind, WebSocketConnector, WsConnection, WsMessage,
};
use crate::proto::Frame;
use crate::rt::{Dialer, Io};

/// The size of tungstenite's read buffer, per connection.
const READ_BUFFER: usize = 2 * 1024;

/// The longest handshake response head accepted.
const MAX_RESPONSE_HEAD: usize = 16 * 1024;

/// The default [`WebSocketConnector`]: [async-tungstenite] over connections from a
/// [`Dialer`], with TLS for `wss://` URLs (feature `rustls`).
///
/// The request's headers (cookies, your own headers) are sent with the handshake, next to
/// the ones the handshake generates (`Sec-WebSocket-Key` and friends; the request's own
/// values of those, and any `Sec-WebSocket-Extensions`, are ignored: this connector speaks
/// no extension). An `http://` or `https://` URL is taken as `ws://` or `wss://`.
///
/// Messages and frames larger than `max_message` fail the stream with
/// [`TooLarge`](ConnectorErrorKind::TooLarge). WebSocket pings are answered here and never
/// reach the client. Sending flushes when the sink is flushed (`SinkExt::send` does).
///
/// [async-tungstenite]: https://docs.rs/async-tungstenite
///
/// ```no_run
/// # use std::sync::Arc;
/// # use engineio::rt::Dialer;
/// use engineio::connector::TungsteniteConnector;
///
/// # fn f(dialer: Arc<dyn Dialer>) {
/// let ws = TungsteniteConnector::new(dialer);
/// # }
/// ```
#[derive(Clone)]
pub struct TungsteniteConnector {
    dialer: Arc<dyn Dialer>,
    #[cfg(feature = "rustls")]
    tls: Arc<rustls::ClientConfig>,
}

impl fmt::Debug for TungsteniteConnector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TungsteniteConnector")
            .finish_non_exhaustive()
    }
}

impl TungsteniteConnector {
    /// A connector that dials with `dialer`.
    ///
    /// With the `rustls` feature, `wss://` URLs use the default `TlsConfig`
    /// (certificates checked against the `webpki-roots` store); change it with
    /// `with_tls`. Without the feature, `wss://` URLs
    /// fail.
    ///
    /// It can also be used on its own:
    ///
    /// ```
    /// use engineio::connector::{TungsteniteConnector, WebSocketConnector};
    /// use engineio::rt::Runtime;
    ///
    /// let rt = Runtime::from_features();
    /// let connector = TungsteniteConnector::new(rt.dialer().clone());
    ///
    /// // A port that was just free: the handshake cannot connect.
    /// let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    /// let request = http::Request::get(format!("ws://127.0.0.1:{port}/")).body(())?;
    /// let result = futures::executor::block_on(connector.connect(request, 1 << 20));
    /// assert!(result.err().is_some_and(|err| err.is_connect()));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn new(dialer: Arc<dyn Dialer>) -> TungsteniteConnector {
        TungsteniteConnector {
            dialer,
            #[cfg(feature = "rustls")]
            tls: super::tls::default_config(),
        }
    }

    /// Uses `config` for `wss://` URLs; build it with
    /// [`TlsConfig`](crate::connector::TlsConfig), and pass the same one to the HTTP
    /// connector.
    ///
    /// Trusting a private CA only, not the Mozilla roots:
    ///
    /// ```
    /// use engineio::{connector::{TlsConfig, TungsteniteConnector}, rt::Runtime};
    ///
    /// # let ca_pem = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()])?.cert.pem();
    /// // `ca_pem`: the CA's certificate, e.g. from `std::fs::read("ca.pem")?`.
    /// let tls = TlsConfig::new().webpki_roots(false).root_certificates_pem(&ca_pem).build()?;
    /// let rt = Runtime::from_features();
    /// let ws = TungsteniteConnector::new(rt.dialer().clone()).with_tls(tls);
    /// # let _ = ws;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[cfg(feature = "rustls")]
    pub fn with_tls(mut self, config: Arc<rustls::ClientConfig>) -> TungsteniteConnector {
        self.tls = config;
        self
    }

    #[cfg(feature = "rustls")]
    async fn tls(&self, host: &str, io: Box<dyn Io>) -> Result<Box<dyn Io>, ConnectorError> {
        super::tls::connect_tls(&self.tls, host, io).await
    }

    #[cfg(not(feature = "rustls"))]
    async fn tls(&self, host: &str, _io: Box<dyn Io>) -> Result<Box<dyn Io>, ConnectorError> {
        Err(no_tls_error(host))
    }
}

#[cfg(not(feature = "rustls"))]
fn no_tls_error(host: &str) -> ConnectorError {
    ConnectorError::new(
        ConnectorErrorKind::Other,
        format!(
            "connecting to wss://{host}: wss:// needs TLS support, which needs the `rustls` \
             feature of engineio"
        ),
        None,
    )
}

#[async_trait]
impl WebSocketConnector for TungsteniteConnector {
    async fn connect(
        &self,
        request: Request<()>,
        max_message: usize,
    ) -> Result<WsConnection, ConnectorError> {
        let request = handshake_request(&request)?;
        let uri = request.uri().clone();
        let url: Arc<str> = uri.to_string().into();
        let tls = uri.scheme_str() == Some("wss");
        let host = super::bare_host(uri.host().unwrap_or_default()).to_owned();
        let port = uri.port_u16().unwrap_or(if tls { 443 } else { 80 });
        #[cfg(not(feature = "rustls"))]
        if tls {
            return Err(no_tls_error(&super::authority(&host, port)));
        }

        let io = self
            .dialer
            .dial(&host, port)
            .await
            .map_err(|e| super::dial_error(&url, e))?;
        let io = if tls { self.tls(&host, io).await? } else { io };

        // tungstenite reads into a buffer of `read_buffer_size` (128 KiB by default) that
        // it keeps per connection and clears before each read: `READ_BUFFER` (2 KiB)
        // holds a loopback burst of small frames and costs 64 times less memory per idle
        // connection; larger messages simply take several reads.
        let config = WebSocketConfig::default()
            .read_buffer_size(READ_BUFFER)
            .max_message_size(Some(max_message))
            .max_frame_size(Some(max_message));
        let (io, rest) = handshake(io, &request, &url).await?;
        let stream =
            WebSocketStream::from_partially_read(io, rest, Role::Client, Some(config)).await;
        debug!("WebSocket connected to {url}");

        Ok(Box::pin(Socket { inner: stream, url }))
    }
}

/// An open tungstenite WebSocket, speaking in [`WsMessage`]s: pings, pongs and raw frames
/// stay below (tungstenite answers pings itself), and a peer that drops the connection
/// without a close frame ends the stream.
struct Socket {
    inner: WebSocketStream<Box<dyn Io>>,
    url: Arc<str>,
}

impl Stream for Socket {
    type Item = Result<WsMessage, ConnectorError>;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        loop {
            let item = match ready!(self.inner.poll_next_unpin(cx)) {
                None => None,
                Some(Ok(message)) => match from_tungstenite(message) {
                    Some(m) => Some(Ok(m)),
                    None => continue,
                },
                Some(Err(WsError::Protocol(ProtocolError::ResetWithoutClosingHandshake))) => {
                    debug!("{}: connection closed without a close frame", self.url);
                    None
                }
                Some(Err(e)) => Some(Err(ws_error(&format!("receiving from {}", self.url), e))),
            };
            return Poll::Ready(item);
        }
    }
}

impl Sink<WsMessage> for Socket {
    type Error = ConnectorError;
    fn poll_ready(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Result<(), ConnectorError>> {
        let r = ready!(self.inner.poll_ready_unpin(cx));
        Poll::Ready(r.map_err(|e| self.send_error(e)))
    }
    fn start_send(mut self: Pin<&mut Self>, item: WsMessage) -> Result<(), ConnectorError> {
        let r = self.inner.start_send_unpin(to_tungstenite(item));
        r.map_err(|e| self.send_error(e))
    }
    fn poll_flush(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Result<(), ConnectorError>> {
        let r = ready!(self.inner.poll_flush_unpin(cx));
        Poll::Ready(r.map_err(|e| self.send_error(e)))
    }
    fn poll_close(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Result<(), ConnectorError>> {
        let r = ready!(self.inner.poll_close_unpin(cx));
        Poll::Ready(r.map_err(|e| self.send_error(e)))
    }
}

impl Socket {
    fn send_error(&self, e: WsError) -> ConnectorError {
        ws_error(&format!("sending to {}", self.url), e)
    }
}

/// The handshake request tungstenite sends: the URL with a `ws`/`wss` scheme, the
/// generated WebSocket headers, and the caller's own headers.
fn handshake_request(request: &Request<()>) -> Result<Request<()>, ConnectorError> {
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
            debug!("connecting to {uri}: ignoring the request's {name} header");
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

/// A received message as the client sees it; pings, pongs and raw frames are dropped.
fn from_tungstenite(message: Message) -> Option<WsMessage> {
    match message {
        Message::Text(text) => {
            // SAFETY: tungstenite checked the text frame: `Utf8Bytes` is valid UTF-8.
            let text = unsafe { ByteStr::from_utf8_unchecked(Bytes::from(text)) };
            Some(WsMessage::Data(Frame::Text(text)))
        }
        Message::Binary(data) => Some(WsMessage::Data(Frame::Binary(data))),
        Message::Close(Some(frame)) => Some(WsMessage::Close {
            code: frame.code.into(),
            reason: frame.reason.as_str().to_owned(),
        }),
        Message::Close(None) => Some(WsMessage::Close {
            code: 1005,
            reason: String::new(),
        }),
        Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => None,
    }
}

/// A message to send, as tungstenite sends it.
fn to_tungstenite(message: WsMessage) -> Message {
    match message {
        WsMessage::Data(Frame::Text(text)) => {
            // SAFETY: a `ByteStr` is always valid UTF-8.
            Message::Text(unsafe { Utf8Bytes::from_bytes_unchecked(text.into_bytes()) })
        }
        WsMessage::Data(Frame::Binary(data)) => Message::Binary(data),
        WsMessage::Close { code, reason } => {
            let code = CloseCode::from(code);
            if !code.is_allowed() {
                // 1005, 1006, 1015 and reserved codes may not be sent: send no code at all.
                return Message::Close(None);
            }
            Message::Close(Some(CloseFrame {
                code,
                reason: truncate_reason(reason).into(),
            }))
        }
    }
}

/// A close frame's reason must fit its 125-byte payload with the 2-byte code.
fn truncate_reason(mut reason: String) -> String {
    const MAX: usize = 123;
    if reason.len() > MAX {
        let mut end = MAX;
        while !reason.is_char_boundary(end) {
            end -= 1;
        }
        reason.truncate(end);
    }
    reason
}

/// Runs the client's side of the WebSocket opening handshake (RFC 6455, section 4.1) on
/// `io`: sends `request`, reads and checks the answer. Returns the stream and the bytes
/// that came after the answer's head (the server's first frames, if it was quick).
///
/// tungstenite can do this, but it keeps its 4 KiB handshake buffer as the connection's
/// read buffer for good; done here, the connection keeps a buffer of `READ_BUFFER` only.
async fn handshake(
    mut io: Box<dyn Io>,
    request: &Request<()>,
    url: &str,
) -> Result<(Box<dyn Io>, Vec<u8>), ConnectorError> {
    let context = || format!("WebSocket handshake with {url}");
    let io_error = |e| ConnectorError::io(context(), e);
    let protocol_error = |what: &str| {
        ConnectorError::new(
            ConnectorErrorKind::Protocol,
            format!("{}: {what}", context()),
            None,
        )
    };

    let target = request.uri().path_and_query().map_or("/", |p| p.as_str());
    let mut head = format!("GET {target} HTTP/1.1\r\n").into_bytes();
    for (name, value) in request.headers() {
        head.extend_from_slice(name.as_str().as_bytes());
        head.extend_from_slice(b": ");
        head.extend_from_slice(value.as_bytes());
        head.extend_from_slice(b"\r\n");
    }
    head.extend_from_slice(b"\r\n");
    io.write_all(&head).await.map_err(io_error)?;
    io.flush().await.map_err(io_error)?;

    // Read up to the end of the response head.
    let mut buf = Vec::with_capacity(512);
    let end = loop {
        let searched = buf.len().saturating_sub(3);
        let mut chunk = [0u8; 512];
        let n = io.read(&mut chunk).await.map_err(io_error)?;
        if n == 0 {
            return Err(io_error(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "the server closed the connection before its answer was complete",
            )));
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(at) = buf[searched..].windows(4).position(|w| w == b"\r\n\r\n") {
            break searched + at + 4;
        }
        if buf.len() > MAX_RESPONSE_HEAD {
            return Err(protocol_error("the answer's head is too long"));
        }
    };

    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut response = httparse::Response::new(&mut headers);
    match response.parse(&buf[..end]) {
        Ok(httparse::Status::Complete(_)) => {}
        Ok(httparse::Status::Partial) | Err(_) => {
            return Err(protocol_error("the answer is not HTTP"));
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
        return Err(protocol_error("the answer does not upgrade to WebSocket"));
    }
    let key = request
        .headers()
        .get(SEC_WEBSOCKET_KEY)
        .map_or(&b""[..], |k| k.as_bytes());
    if header("sec-websocket-accept") != Some(derive_accept_key(key).as_bytes()) {
        return Err(protocol_error("wrong Sec-WebSocket-Accept"));
    }
    // No extension is ever offered; a subprotocol only if the application set the header.
    let offered_protocol = request.headers().contains_key(SEC_WEBSOCKET_PROTOCOL);
    if header("sec-websocket-extensions").is_some()
        || (header("sec-websocket-protocol").is_some() && !offered_protocol)
    {
        return Err(protocol_error(
            "the server chose an extension or subprotocol the client did not offer",
        ));
    }
    buf.drain(..end);
    Ok((io, buf))
}

/// The server answered the handshake with `status` instead of 101.
fn refused(url: &str, status: u16) -> ConnectorError {
    ConnectorError::new(
        ConnectorErrorKind::HttpStatus(status),
        format!("WebSocket handshake with {url} refused"),
        None,
    )
}

/// Classifies a tungstenite error; `context` says what was being done.
fn ws_error(context: &str, e: WsError) -> ConnectorError {
    let kind = match &e {
        WsError::Io(_) => {
            let WsError::Io(io) = e else { unreachable!() };
            return ConnectorError::io(context, io);
        }
        WsError::Capacity(CapacityError::MessageTooLong { .. }) => ConnectorErrorKind::TooLarge,
        WsError::Tls(_) => ConnectorErrorKind::Tls,
        WsError::Http(response) => ConnectorErrorKind::HttpStatus(response.status().as_u16()),
        WsError::Capacity(_)
        | WsError::Protocol(_)
        | WsError::Utf8(_)
        | WsError::AttackAttempt
        | WsError::HttpFormat(_) => ConnectorErrorKind::Protocol,
        WsError::ConnectionClosed | WsError::AlreadyClosed | WsError::WriteBufferFull(_) => {
            ConnectorErrorKind::Io
        }
        WsError::Url(_) => ConnectorErrorKind::Other,
    };
    ConnectorError::new(kind, format!("{context}: {e}"), Some(Box::new(e)))
}

#[cfg(test)]
mod tests {
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
        let out = handshake_request(&req).unwrap();
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
        let out = handshake_request(&req).unwrap();
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
    fn received_messages_map_to_ws_messages() {
        assert_eq!(
            from_tungstenite(Message::text("4hi")),
            Some(WsMessage::Data(Frame::Text("4hi".into())))
        );
        assert_eq!(
            from_tungstenite(Message::binary(vec![1u8, 2])),
            Some(WsMessage::Data(Frame::Binary(Bytes::from_static(&[1, 2]))))
        );
        assert_eq!(
            from_tungstenite(Message::Close(Some(CloseFrame {
                code: CloseCode::Away,
                reason: "bye".into()
            }))),
            Some(WsMessage::Close {
                code: 1001,
                reason: "bye".into()
            })
        );
        assert_eq!(
            from_tungstenite(Message::Close(None)),
            Some(WsMessage::Close {
                code: 1005,
                reason: String::new()
            })
        );
        assert_eq!(from_tungstenite(Message::Ping(Bytes::new())), None);
        assert_eq!(from_tungstenite(Message::Pong(Bytes::new())), None);
    }

    #[test]
    fn text_is_not_copied_on_the_way_in() {
        let text = Utf8Bytes::from("4hello");
        let ptr = text.as_str().as_ptr();
        let Some(WsMessage::Data(Frame::Text(s))) = from_tungstenite(Message::Text(text)) else {
            panic!()
        };
        assert_eq!(s.as_str().as_ptr(), ptr);
    }

    #[test]
    fn sent_messages_map_to_tungstenite() {
        assert_eq!(
            to_tungstenite(WsMessage::Data(Frame::Text("4hi".into()))),
            Message::text("4hi")
        );
        assert_eq!(
            to_tungstenite(WsMessage::Data(Frame::Binary(Bytes::from_static(b"\x01")))),
            Message::binary(vec![1u8])
        );
        assert_eq!(
            to_tungstenite(WsMessage::Close {
                code: 1000,
                reason: "done".into()
            }),
            Message::Close(Some(CloseFrame {
                code: CloseCode::Normal,
                reason: "done".into()
            }))
        );
        assert_eq!(
            to_tungstenite(WsMessage::Close {
                code: 1005,
                reason: String::new()
            }),
            Message::Close(None)
        );
    }

    #[test]
    fn close_reason_is_truncated_on_a_char_boundary() {
        let long = "é".repeat(100); // 200 bytes
        let cut = truncate_reason(long);
        assert!(cut.len() <= 123);
        assert_eq!(cut.len(), 122);
    }

    #[test]
    fn errors_are_classified() {
        let too_long = WsError::Capacity(CapacityError::MessageTooLong {
            size: 10,
            max_size: 5,
        });
        assert_eq!(
            ws_error("receiving from ws://h/", too_long).kind(),
            ConnectorErrorKind::TooLarge
        );
        let refused = std::io::Error::from(std::io::ErrorKind::ConnectionReset);
        assert_eq!(
            ws_error("x", WsError::Io(refused)).kind(),
            ConnectorErrorKind::Io
        );
        let err = super::refused("ws://h/engine.io/", 403);
        assert_eq!(err.kind(), ConnectorErrorKind::HttpStatus(403));
        assert_eq!(
            err.to_string(),
            "WebSocket handshake with ws://h/engine.io/ refused: HTTP 403"
        );
    }

    /// A stream that answers with `input` and records what is written to it.
    struct Scripted {
        input: futures::io::Cursor<Vec<u8>>,
        written: Vec<u8>,
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
            mut self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
            buf: &[u8],
        ) -> std::task::Poll<std::io::Result<usize>> {
            self.written.extend_from_slice(buf);
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
        // The key and accept value of RFC 6455's example.
        let mut request = Request::get("ws://h/engine.io/?EIO=4&transport=websocket")
            .header(HOST, "h")
            .header(SEC_WEBSOCKET_KEY, "dGhlIHNhbXBsZSBub25jZQ==");
        if let Some(p) = protocol {
            request = request.header(SEC_WEBSOCKET_PROTOCOL, p);
        }
        let request = request.body(()).unwrap();
        let io: Box<dyn Io> = Box::new(Scripted {
            input: futures::io::Cursor::new(answer.to_vec()),
            written: Vec::new(),
        });
        futures::executor::block_on(handshake(io, &request, "ws://h/")).map(|(_, rest)| rest)
    }

    const ACCEPTED: &str = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
                            Connection: Upgrade\r\n\
                            Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n";

    #[test]
    fn handshake_keeps_what_follows_the_answer() {
        let mut answer = ACCEPTED.as_bytes().to_vec();
        answer.extend_from_slice(b"\x81\x020{");
        assert_eq!(handshake_with(&answer).unwrap(), b"\x81\x020{");
        assert_eq!(handshake_with(ACCEPTED.as_bytes()).unwrap(), b"");
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
}
