//! The seams between the client and the world: spawning, time, HTTP, WebSocket and TCP.
//!
//! Nothing in this crate's core names an async runtime. The client runs on whatever
//! implements these small traits. The `tokio`, `smol` and `async-std` features provide
//! implementations (in `adapters/`); implement them yourself to run on any other executor.
//!
//! The traits are shaped after hyper's `rt` module (`Executor`, `Timer`) and quinn's
//! `Runtime`: object-safe, `Send + Sync`, and free of join handles, because cancellation
//! lives in the protocol core (a request that is no longer wanted is simply dropped), not
//! in runtime-specific handle semantics.

use std::fmt;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bytes::Bytes;
use futures::future::BoxFuture;
use futures::io::{AsyncRead, AsyncWrite};
use futures::{Sink, Stream};

use crate::packet::Frame;

/// Runs detached tasks: the client's background work and
/// `start_background_task`.
///
/// `spawn` must not block and must not panic for lack of a "current runtime": an adapter
/// captures its runtime handle when it is constructed.
///
/// ```
/// use futures::future::BoxFuture;
/// use futures::executor::ThreadPool;
/// use engineio::rt::Spawner;
///
/// struct PoolSpawner(ThreadPool);
///
/// impl Spawner for PoolSpawner {
///     fn spawn(&self, task: BoxFuture<'static, ()>) {
///         self.0.spawn_ok(task);
///     }
/// }
///
/// let spawner = PoolSpawner(ThreadPool::new().unwrap());
/// let (tx, rx) = std::sync::mpsc::channel();
/// spawner.spawn(Box::pin(async move { tx.send(42).unwrap() }));
/// assert_eq!(rx.recv().unwrap(), 42);
/// ```
pub trait Spawner: Send + Sync + 'static {
    /// Starts `task` and lets it run to completion on its own.
    fn spawn(&self, task: BoxFuture<'static, ()>);
}

/// Sleeps and tells the time.
///
/// `now` defaults to [`Instant::now`]. A timer whose clock does not stop while the machine
/// is suspended may override it, so that a heartbeat deadline that passed during a
/// suspend is noticed on wake-up.
///
/// ```
/// use std::time::{Duration, Instant};
/// use futures::future::BoxFuture;
/// use engineio::rt::Timer;
///
/// /// A timer with no runtime at all: each sleep parks a thread.
/// struct ThreadTimer;
///
/// impl Timer for ThreadTimer {
///     fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()> {
///         let (tx, rx) = futures::channel::oneshot::channel::<()>();
///         std::thread::spawn(move || {
///             std::thread::sleep(duration);
///             let _ = tx.send(());
///         });
///         Box::pin(async move {
///             let _ = rx.await;
///         })
///     }
/// }
///
/// let start = Instant::now();
/// futures::executor::block_on(ThreadTimer.sleep(Duration::from_millis(20)));
/// assert!(start.elapsed() >= Duration::from_millis(20));
/// ```
pub trait Timer: Send + Sync + 'static {
    /// A future that completes after `duration`.
    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()>;

    /// A future that completes at `deadline`. The default sleeps for the time left by
    /// [`now`](Timer::now).
    fn sleep_until(&self, deadline: Instant) -> BoxFuture<'static, ()> {
        self.sleep(deadline.saturating_duration_since(self.now()))
    }

    /// The current time, as the protocol core measures deadlines.
    fn now(&self) -> Instant {
        Instant::now()
    }
}

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
/// use engineio::rt::{ConnectorError, HttpConnector};
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
/// use engineio::rt::{ConnectorError, ConnectorErrorKind, WsMessage, join_websocket};
/// use engineio::Frame;
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
/// use engineio::rt::{ConnectorError, WebSocketConnector, WsConnection, WsMessage, join_websocket};
/// use engineio::Frame;
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
///             ConnectorError::new(engineio::rt::ConnectorErrorKind::Io, "loopback", Some(Box::new(e)))
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

/// A byte stream: what a [`Dialer`] returns, and what TLS, HTTP and WebSocket run over.
pub trait Io: AsyncRead + AsyncWrite + Send + Unpin + 'static {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin + 'static> Io for T {}

/// Opens TCP connections; the built-in HTTP and WebSocket connectors run over it, so a
/// runtime adapter needs only this to give them sockets.
///
/// ```
/// use async_trait::async_trait;
/// use engineio::rt::{Dialer, Io};
///
/// /// Refuses everything: a dialer for a sandbox with no network.
/// struct NoNetwork;
///
/// #[async_trait]
/// impl Dialer for NoNetwork {
///     async fn dial(&self, host: &str, port: u16) -> std::io::Result<Box<dyn Io>> {
///         Err(std::io::Error::new(
///             std::io::ErrorKind::ConnectionRefused,
///             format!("no network for {host}:{port}"),
///         ))
///     }
/// }
///
/// let err = futures::executor::block_on(NoNetwork.dial("127.0.0.1", 5000)).err().unwrap();
/// assert_eq!(err.kind(), std::io::ErrorKind::ConnectionRefused);
/// ```
#[async_trait]
pub trait Dialer: Send + Sync + 'static {
    /// Connects to `host:port` (a name or an IP address), with `TCP_NODELAY` set.
    async fn dial(&self, host: &str, port: u16) -> io::Result<Box<dyn Io>>;
}

impl<T: Spawner + ?Sized> Spawner for Arc<T> {
    fn spawn(&self, task: BoxFuture<'static, ()>) {
        (**self).spawn(task)
    }
}

impl<T: Timer + ?Sized> Timer for Arc<T> {
    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()> {
        (**self).sleep(duration)
    }
    fn sleep_until(&self, deadline: Instant) -> BoxFuture<'static, ()> {
        (**self).sleep_until(deadline)
    }
    fn now(&self) -> Instant {
        (**self).now()
    }
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

#[async_trait]
impl<T: Dialer + ?Sized> Dialer for Arc<T> {
    async fn dial(&self, host: &str, port: u16) -> io::Result<Box<dyn Io>> {
        (**self).dial(host, port).await
    }
}

/// The runtime a client runs on: where its tasks are spawned, how it sleeps, and how it
/// opens TCP connections for the built-in connectors.
///
/// The `tokio`, `smol` and `async-std` features each provide one
/// (`engineio::adapters::tokio::runtime(handle)`, `engineio::adapters::smol::runtime()`,
/// `engineio::adapters::async_std::runtime()`); [`Runtime::new`] takes your own.
///
/// Cheap to clone; clients can share one:
///
/// ```
/// use engineio::{AsyncClient, Runtime};
///
/// let rt = Runtime::from_features();
/// let first = AsyncClient::with_runtime(rt.clone());
/// let second = AsyncClient::builder().runtime(rt).build()?;
/// # let _ = (first, second);
/// # Ok::<(), engineio::Error>(())
/// ```
#[derive(Clone)]
pub struct Runtime {
    pub(crate) spawner: Arc<dyn Spawner>,
    pub(crate) timer: Arc<dyn Timer>,
    pub(crate) dialer: Arc<dyn Dialer>,
}

impl Runtime {
    /// A runtime from its three parts.
    ///
    /// The parts can come from different places; here, a runtime's spawner and timer with
    /// a dialer of your own:
    ///
    /// ```
    /// use std::sync::Arc;
    /// use async_trait::async_trait;
    /// use engineio::rt::{Dialer, Io, Runtime};
    ///
    /// /// Sends every connection to this machine, whatever the URL's host.
    /// struct Loopback(Arc<dyn Dialer>);
    ///
    /// #[async_trait]
    /// impl Dialer for Loopback {
    ///     async fn dial(&self, _host: &str, port: u16) -> std::io::Result<Box<dyn Io>> {
    ///         self.0.dial("127.0.0.1", port).await
    ///     }
    /// }
    ///
    /// let base = Runtime::from_features();
    /// let dialer = Arc::new(Loopback(base.dialer().clone()));
    /// let rt = Runtime::new(base.spawner().clone(), base.timer().clone(), dialer);
    /// let eio = engineio::AsyncClient::with_runtime(rt);
    /// # let _ = eio;
    /// ```
    pub fn new(
        spawner: Arc<dyn Spawner>,
        timer: Arc<dyn Timer>,
        dialer: Arc<dyn Dialer>,
    ) -> Runtime {
        Runtime {
            spawner,
            timer,
            dialer,
        }
    }

    /// The runtime chosen by Cargo feature: tokio (the current runtime, or a background
    /// one), else smol, else async-std.
    ///
    /// ```
    /// use engineio::{AsyncClient, Runtime};
    ///
    /// // What `AsyncClient::new()` runs on.
    /// let eio = AsyncClient::with_runtime(Runtime::from_features());
    /// # let _ = eio;
    /// ```
    #[cfg(any(feature = "tokio", feature = "smol", feature = "async-std"))]
    pub fn from_features() -> Runtime {
        #[cfg(feature = "tokio")]
        return crate::adapters::tokio::runtime(crate::adapters::tokio::handle());
        #[cfg(all(not(feature = "tokio"), feature = "smol"))]
        return crate::adapters::smol::runtime();
        #[cfg(all(not(feature = "tokio"), not(feature = "smol"), feature = "async-std"))]
        return crate::adapters::async_std::runtime();
    }

    /// The runtime the blocking `Client` uses by default: one that belongs to this crate
    /// (tokio's background runtime, else smol's or async-std's global executor), never a
    /// runtime of the caller's.
    ///
    /// A client on it outlives the runtime it was made in:
    ///
    /// ```
    /// use engineio::{AsyncClient, Runtime};
    ///
    /// let app = tokio::runtime::Runtime::new()?;
    /// let eio = app.block_on(async { AsyncClient::with_runtime(Runtime::detached()) });
    /// drop(app);
    /// let task = eio.start_background_task(async { 42 });
    /// assert_eq!(futures::executor::block_on(task), Some(42));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    #[cfg(any(feature = "tokio", feature = "smol", feature = "async-std"))]
    pub fn detached() -> Runtime {
        #[cfg(feature = "tokio")]
        return crate::adapters::tokio::runtime(crate::adapters::tokio::background());
        #[cfg(not(feature = "tokio"))]
        return Runtime::from_features();
    }

    /// The spawner.
    pub fn spawner(&self) -> &Arc<dyn Spawner> {
        &self.spawner
    }

    /// The timer.
    pub fn timer(&self) -> &Arc<dyn Timer> {
        &self.timer
    }

    /// The dialer.
    pub fn dialer(&self) -> &Arc<dyn Dialer> {
        &self.dialer
    }
}

impl fmt::Debug for Runtime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Runtime").finish_non_exhaustive()
    }
}
