//! The connector traits: how the client sends HTTP requests and opens WebSockets.

use std::fmt;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use async_trait::async_trait;
use bytes::Bytes;
use futures::{Sink, Stream};

use crate::connector::ProxyError;
use crate::proto::Frame;

/// What went wrong below the Engine.IO protocol: connecting, TLS, I/O, limits.
///
/// One opaque type with predicates, in the manner of hyper's error: `Display` says what
/// failed at this level, and the underlying error is in [`source`](std::error::Error::source).
#[derive(Debug)]
pub struct ConnectorError {
    kind: ConnectorErrorKind,
    context: String,
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

/// The class of a [`ConnectorError`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ConnectorErrorKind {
    /// The TCP connection could not be made (refused, unreachable, name not resolved).
    Connect,
    /// The TLS handshake failed, usually a certificate problem.
    Tls,
    /// Reading or writing failed, or the peer ended the stream early.
    Io,
    /// The response broke the HTTP or WebSocket protocol.
    Protocol,
    /// The response was larger than the receive limit.
    TooLarge,
    /// The WebSocket handshake was refused with an HTTP status.
    HttpStatus(u16),
    /// A proxy could not be reached, refused the connection, or broke its protocol; the
    /// [`ProxyError`](crate::connector::ProxyError) is the source (see
    /// [`ConnectorError::proxy_error`]).
    Proxy,
    /// Anything else.
    Other,
}

impl ConnectorError {
    /// A new error of `kind`; `context` says what was being done ("connecting to
    /// http://127.0.0.1:5000"), `source` is the cause.
    pub fn new(
        kind: ConnectorErrorKind,
        context: impl Into<String>,
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    ) -> ConnectorError {
        ConnectorError {
            kind,
            context: context.into(),
            source,
        }
    }

    /// An I/O error, classified: refused or unreachable connections are
    /// [`Connect`](ConnectorErrorKind::Connect), everything else [`Io`](ConnectorErrorKind::Io).
    pub fn io(context: impl Into<String>, e: io::Error) -> ConnectorError {
        let kind = match e.kind() {
            io::ErrorKind::ConnectionRefused
            | io::ErrorKind::AddrNotAvailable
            | io::ErrorKind::NotFound => ConnectorErrorKind::Connect,
            _ => ConnectorErrorKind::Io,
        };
        ConnectorError::new(kind, context, Some(Box::new(e)))
    }

    /// The class of error.
    pub fn kind(&self) -> ConnectorErrorKind {
        self.kind
    }

    /// What was being done.
    pub fn context(&self) -> &str {
        &self.context
    }

    /// Whether the connection could not be made.
    pub fn is_connect(&self) -> bool {
        self.kind == ConnectorErrorKind::Connect
    }

    /// Whether TLS failed (usually the certificate).
    pub fn is_tls(&self) -> bool {
        self.kind == ConnectorErrorKind::Tls
    }

    /// The proxy's failure, for a [`Proxy`](ConnectorErrorKind::Proxy) error.
    pub fn proxy_error(&self) -> Option<&ProxyError> {
        self.source.as_deref()?.downcast_ref()
    }
}

impl From<ProxyError> for ConnectorError {
    fn from(e: ProxyError) -> ConnectorError {
        ConnectorError::new(ConnectorErrorKind::Proxy, "", Some(Box::new(e)))
    }
}

impl fmt::Display for ConnectorError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.kind {
            ConnectorErrorKind::Connect => "connection failed",
            ConnectorErrorKind::Tls => "TLS failed (certificate problem?)",
            ConnectorErrorKind::Io => "I/O error",
            ConnectorErrorKind::Protocol => "protocol error",
            ConnectorErrorKind::TooLarge => "response larger than the receive limit",
            ConnectorErrorKind::HttpStatus(s) => return write!(f, "{}: HTTP {s}", self.context),
            ConnectorErrorKind::Proxy => match self.proxy_error() {
                Some(e) if self.context.is_empty() => return fmt::Display::fmt(e, f),
                _ => "proxy failed",
            },
            ConnectorErrorKind::Other => "error",
        };
        if self.context.is_empty() {
            f.write_str(what)
        } else {
            write!(f, "{}: {what}", self.context)
        }
    }
}

impl std::error::Error for ConnectorError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

/// Sends HTTP requests: the long-polling transport. The Rust form of python-engineio's
/// `http_session`.
///
/// The client sends at most one GET and one POST at a time for a session and expects them
/// to travel on different connections (a pooling connector does this by itself: the
/// second request finds the first connection busy). A request the client no longer wants
/// is dropped; the connector must then not reuse that connection.
///
/// ```
/// use async_trait::async_trait;
/// use bytes::Bytes;
/// use engineio::connector::{ConnectorError, HttpConnector};
///
/// /// Answers every request itself; a real connector speaks HTTP over the network.
/// struct Canned;
///
/// #[async_trait]
/// impl HttpConnector for Canned {
///     async fn request(
///         &self,
///         request: http::Request<Bytes>,
///         max_body: usize,
///     ) -> Result<http::Response<Bytes>, ConnectorError> {
///         assert!(request.uri().query().unwrap().contains("EIO=4"));
///         let body = Bytes::from_static(b"ok");
///         assert!(body.len() <= max_body);
///         Ok(http::Response::new(body))
///     }
/// }
///
/// let req = http::Request::post("http://h/engine.io/?EIO=4&transport=polling&sid=x")
///     .body(Bytes::from_static(b"4hi"))
///     .unwrap();
/// let resp = futures::executor::block_on(Canned.request(req, 1 << 20)).unwrap();
/// assert_eq!(resp.body().as_ref(), b"ok");
/// ```
#[async_trait]
pub trait HttpConnector: Send + Sync + 'static {
    /// Sends `request` and reads the whole response body, failing with
    /// [`ConnectorErrorKind::TooLarge`] rather than reading more than `max_body` bytes.
    /// Decompress `gzip`/`deflate` bodies if the request asked for them.
    async fn request(
        &self,
        request: http::Request<Bytes>,
        max_body: usize,
    ) -> Result<http::Response<Bytes>, ConnectorError>;
}

/// A WebSocket message as the client sees it: data frames and the close frame.
/// WebSocket-level pings are the connector's business.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WsMessage {
    /// A text or binary frame.
    Data(Frame),
    /// A close frame; `code` is 1005 when the frame carried none.
    Close {
        /// The close code.
        code: u16,
        /// The close reason, possibly empty.
        reason: String,
    },
}

/// An open WebSocket, both ways: a [`Sink`] of the messages to send and a [`Stream`] of
/// those received. The stream ends after a close frame, or without one when the
/// connection drops.
///
/// Anything that is both implements it. A connector whose socket comes in two halves
/// joins them with [`join_websocket`].
pub trait WebSocket:
    Stream<Item = Result<WsMessage, ConnectorError>> + Sink<WsMessage, Error = ConnectorError> + Send
{
}

impl<T> WebSocket for T where
    T: Stream<Item = Result<WsMessage, ConnectorError>>
        + Sink<WsMessage, Error = ConnectorError>
        + Send
{
}

/// An open WebSocket, as a [`WebSocketConnector`] returns it. The client owns it whole:
/// one task reads and writes it.
pub type WsConnection = Pin<Box<dyn WebSocket>>;

/// One [`WsConnection`] from a sending half and a receiving half.
///
/// ```
/// use futures::{SinkExt, StreamExt};
/// use engineio::connector::{ConnectorError, ConnectorErrorKind, WsMessage, join_websocket};
/// use engineio::proto::Frame;
///
/// // An in-memory socket that hands back what it is sent.
/// let (tx, rx) = futures::channel::mpsc::unbounded::<WsMessage>();
/// let tx = tx.sink_map_err(|e| ConnectorError::new(ConnectorErrorKind::Io, "loopback", Some(Box::new(e))));
/// let mut ws = join_websocket(tx, rx.map(Ok));
/// futures::executor::block_on(async {
///     ws.send(WsMessage::Data(Frame::Text("2probe".into()))).await.unwrap();
///     assert_eq!(ws.next().await.unwrap().unwrap(), WsMessage::Data(Frame::Text("2probe".into())));
/// });
/// ```
pub fn join_websocket<Si, St>(sink: Si, stream: St) -> WsConnection
where
    Si: Sink<WsMessage, Error = ConnectorError> + Send + 'static,
    St: Stream<Item = Result<WsMessage, ConnectorError>> + Send + 'static,
{
    Box::pin(Joined {
        sink: Box::pin(sink),
        stream: Box::pin(stream),
    })
}

/// See [`join_websocket`].
struct Joined {
    sink: Pin<Box<dyn Sink<WsMessage, Error = ConnectorError> + Send>>,
    stream: Pin<Box<dyn Stream<Item = Result<WsMessage, ConnectorError>> + Send>>,
}

impl Stream for Joined {
    type Item = Result<WsMessage, ConnectorError>;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.stream.as_mut().poll_next(cx)
    }
}

impl Sink<WsMessage> for Joined {
    type Error = ConnectorError;
    fn poll_ready(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Result<(), ConnectorError>> {
        self.sink.as_mut().poll_ready(cx)
    }
    fn start_send(mut self: Pin<&mut Self>, item: WsMessage) -> Result<(), ConnectorError> {
        self.sink.as_mut().start_send(item)
    }
    fn poll_flush(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Result<(), ConnectorError>> {
        self.sink.as_mut().poll_flush(cx)
    }
    fn poll_close(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Result<(), ConnectorError>> {
        self.sink.as_mut().poll_close(cx)
    }
}

/// Opens WebSocket connections: the WebSocket transport.
///
/// The request carries the URL (`ws://` or `wss://`) and the headers to send, cookies
/// included. Messages larger than `max_message` bytes must fail the stream with
/// [`ConnectorErrorKind::TooLarge`] rather than be buffered.
///
/// ```
/// use async_trait::async_trait;
/// use futures::{SinkExt, StreamExt};
/// use engineio::connector::{ConnectorError, WebSocketConnector, WsConnection, WsMessage, join_websocket};
/// use engineio::proto::Frame;
///
/// /// An in-memory "WebSocket" that echoes what it is sent.
/// struct Loopback;
///
/// #[async_trait]
/// impl WebSocketConnector for Loopback {
///     async fn connect(
///         &self,
///         _request: http::Request<()>,
///         _max_message: usize,
///     ) -> Result<WsConnection, ConnectorError> {
///         let (tx, rx) = futures::channel::mpsc::unbounded::<WsMessage>();
///         let sink = tx.sink_map_err(|e| {
///             ConnectorError::new(engineio::connector::ConnectorErrorKind::Io, "loopback", Some(Box::new(e)))
///         });
///         Ok(join_websocket(sink, rx.map(Ok)))
///     }
/// }
///
/// futures::executor::block_on(async {
///     let req = http::Request::get("ws://h/engine.io/?EIO=4&transport=websocket").body(()).unwrap();
///     let mut ws = Loopback.connect(req, 1 << 20).await.unwrap();
///     ws.send(WsMessage::Data(Frame::Text("2probe".into()))).await.unwrap();
///     assert_eq!(ws.next().await.unwrap().unwrap(), WsMessage::Data(Frame::Text("2probe".into())));
/// });
/// ```
#[async_trait]
pub trait WebSocketConnector: Send + Sync + 'static {
    /// Performs the WebSocket handshake for `request` and returns the open socket.
    async fn connect(
        &self,
        request: http::Request<()>,
        max_message: usize,
    ) -> Result<WsConnection, ConnectorError>;
}

#[async_trait]
impl<T: HttpConnector + ?Sized> HttpConnector for Arc<T> {
    async fn request(
        &self,
        request: http::Request<Bytes>,
        max_body: usize,
    ) -> Result<http::Response<Bytes>, ConnectorError> {
        (**self).request(request, max_body).await
    }
}

#[async_trait]
impl<T: WebSocketConnector + ?Sized> WebSocketConnector for Arc<T> {
    async fn connect(
        &self,
        request: http::Request<()>,
        max_message: usize,
    ) -> Result<WsConnection, ConnectorError> {
        (**self).connect(request, max_message).await
    }
}
