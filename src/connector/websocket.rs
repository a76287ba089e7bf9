//! [`TungsteniteConnector`]: the default [`WebSocketConnector`], async-tungstenite over
//! [`Dialer`] streams.

use std::fmt;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use crate::logging::{Logger, record};
use async_trait::async_trait;
use async_tungstenite::WebSocketStream;
use async_tungstenite::tungstenite::error::{CapacityError, ProtocolError};
use async_tungstenite::tungstenite::protocol::Role;
use async_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use async_tungstenite::tungstenite::protocol::{CloseFrame, WebSocketConfig};
use async_tungstenite::tungstenite::{Error as WsError, Message, Utf8Bytes};
use bytes::Bytes;
use futures::{Sink, SinkExt, Stream, StreamExt, ready};
use http::Request;

use super::ws_handshake::{AfterHandshake, LateRefusal, handshake, handshake_request};
use crate::ByteStr;
use crate::connector::{
    ConnectorError, ConnectorErrorKind, ProxyRules, WebSocketConnector, WsConnection, WsMessage,
};
use crate::proto::Frame;
use crate::rt::{Dialer, Io};

/// The size of tungstenite's read buffer, per connection.
const READ_BUFFER: usize = 2 * 1024;

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
    proxies: ProxyRules,
    logger: Logger,
}

impl fmt::Debug for TungsteniteConnector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TungsteniteConnector")
            .field("proxies", &self.proxies)
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
            proxies: ProxyRules::none(),
            logger: Logger::default(),
        }
    }

    /// Opens WebSockets through the proxies `rules` choose (none by default). Through an
    /// HTTP proxy, a WebSocket (`ws://` or `wss://`) goes through a `CONNECT` tunnel;
    /// through SOCKS5, through a SOCKS5 connection. For `wss://`, TLS runs to the server
    /// inside the tunnel and checks the server's certificate, not the proxy's.
    ///
    /// ```
    /// use engineio::connector::{ProxyRules, TungsteniteConnector};
    /// use engineio::rt::Runtime;
    ///
    /// let rt = Runtime::from_features();
    /// let ws = TungsteniteConnector::new(rt.dialer().clone()).with_proxy(ProxyRules::from_env());
    /// # let _ = ws;
    /// ```
    pub fn with_proxy(mut self, rules: ProxyRules) -> TungsteniteConnector {
        self.proxies = rules;
        self
    }

    /// Logs through the client's logger (`ClientBuilder::logger`, `log_target`).
    pub(crate) fn with_logger(mut self, logger: Logger) -> TungsteniteConnector {
        self.logger = logger;
        self
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
        let request = handshake_request(&request, &self.logger)?;
        let uri = request.uri().clone();
        let url: Arc<str> = uri.to_string().into();
        let tls = uri.scheme_str() == Some("wss");
        let host = super::bare_host(uri.host().unwrap_or_default()).to_owned();
        let port = uri.port_u16().unwrap_or(if tls { 443 } else { 80 });
        #[cfg(not(feature = "rustls"))]
        if tls {
            return Err(no_tls_error(&super::authority(&host, port)));
        }

        let io = match self.proxies.proxy_for_origin(tls, &host, port) {
            None => self
                .dialer
                .dial(&host, port)
                .await
                .map_err(|e| super::dial_error(&url, e))?,
            Some(proxy) => {
                let io = super::tunnel::tunnel(&*self.dialer, proxy, &host, port).await?;
                record!(
                    self.logger,
                    debug,
                    "{url}: tunnel open through proxy {proxy}"
                );
                io
            }
        };
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
        // Not `from_partially_read`: tungstenite builds its read buffer from the leftover
        // bytes there, so the buffer remembers their (usually zero) size as its capacity,
        // and once frames share it, it grows one frame at a time: one `recv` per frame.
        // With `from_raw_socket` it keeps `READ_BUFFER`; the leftover is read first.
        let io: Box<dyn Io> = Box::new(AfterHandshake::new(rest, io));
        let stream = WebSocketStream::from_raw_socket(io, Role::Client, Some(config)).await;
        record!(self.logger, debug, "WebSocket connected to {url}");

        Ok(Box::pin(Socket {
            inner: stream,
            url,
            logger: self.logger.clone(),
        }))
    }
}

/// An open tungstenite WebSocket, speaking in [`WsMessage`]s: pings, pongs and raw frames
/// stay below (tungstenite answers pings itself), and a peer that drops the connection
/// without a close frame ends the stream.
struct Socket {
    inner: WebSocketStream<Box<dyn Io>>,
    url: Arc<str>,
    logger: Logger,
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
                    let url = &self.url;
                    record!(
                        self.logger,
                        debug,
                        "{url}: connection closed without a close frame"
                    );
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

/// Classifies a tungstenite error; `context` says what was being done.
fn ws_error(context: &str, e: WsError) -> ConnectorError {
    let kind = match &e {
        WsError::Io(_) => {
            let WsError::Io(io) = e else { unreachable!() };
            if let Some(LateRefusal(refusal)) = io.get_ref().and_then(|e| e.downcast_ref()) {
                return ConnectorError::new(
                    ConnectorErrorKind::HttpStatus(refusal.status),
                    format!("{context}: the server refused the WebSocket after accepting it"),
                    Some(Box::new(refusal.clone())),
                );
            }
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
    fn the_bytes_after_the_handshake_are_read_first_and_whole() {
        use futures::AsyncReadExt;
        let io = futures::io::Cursor::new(b" and the socket".to_vec());
        let mut p = AfterHandshake::new(b"leftover".to_vec(), Box::new(io));
        let mut small = [0u8; 5];
        let mut all = Vec::new();
        futures::executor::block_on(async {
            let n = p.read(&mut small).await.unwrap();
            all.extend_from_slice(&small[..n]);
            p.read_to_end(&mut all).await.unwrap();
        });
        assert_eq!(all, b"leftover and the socket");
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
    }
}
