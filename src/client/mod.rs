//! [`AsyncClient`]: python-engineio's `AsyncClient`, in Rust.

mod builder;
mod driver;
mod flow;

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::Duration;

use futures::channel::{mpsc, oneshot};
use futures::future::{BoxFuture, Shared};
use futures::{FutureExt, SinkExt, Stream, StreamExt};

pub use builder::ClientBuilder;
use builder::ClientConfig;
use driver::{Command, Driver, DriverEvent, DriverParts};
use flow::{Flow, Queue, weight};

use crate::rt::Runtime;
use crate::session::Session;
use crate::{DisconnectReason, Endpoint, Error, Payload, TransportKind};

/// The capacity of the channel that carries messages from `send` to the driver; the
/// driver takes them as long as the session holds fewer than the send buffer.
const MESSAGE_CHANNEL: usize = 64;

type ConnectHandler = Arc<dyn Fn() -> BoxFuture<'static, ()> + Send + Sync>;
type MessageHandler = Arc<dyn Fn(Payload) -> BoxFuture<'static, ()> + Send + Sync>;
type DisconnectHandler = Arc<dyn Fn(DisconnectReason) -> BoxFuture<'static, ()> + Send + Sync>;

/// What happened on a connection, as delivered by [`AsyncClient::events`].
///
/// ```
/// use engineio::ClientEvent;
///
/// fn describe(event: &ClientEvent) -> String {
///     match event {
///         ClientEvent::Connect => "connected".to_owned(),
///         ClientEvent::Message(data) => format!("message: {data:?}"),
///         ClientEvent::Disconnect(reason) => format!("disconnected: {reason}"),
///         _ => "something new".to_owned(),
///     }
/// }
/// assert_eq!(describe(&ClientEvent::Connect), "connected");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClientEvent {
    /// The connection opened.
    Connect,
    /// A message arrived.
    Message(Payload),
    /// The connection ended; always the last event of a connection.
    Disconnect(DisconnectReason),
}

/// An Engine.IO client for async code: python-engineio's `AsyncClient`.
///
/// Cheap to clone: every clone drives the same connection, so a handler can keep one and
/// `send` from inside itself. The connection runs in background tasks on the client's
/// [`Runtime`]; handlers run one at a time, in the order of the events.
///
/// ```no_run
/// use engineio::{AsyncClient, DisconnectReason, Payload};
///
/// # async fn run() -> Result<(), engineio::Error> {
/// let eio = AsyncClient::new();
/// eio.on_connect(|| async { println!("I'm connected!") });
/// eio.on_message(|data: Payload| async move { println!("I received a message! {data:?}") });
/// eio.on_disconnect(|reason: DisconnectReason| async move {
///     println!("I'm disconnected! reason: {reason}")
/// });
///
/// eio.connect("http://localhost:5000").await?;
/// println!("my sid is {}", eio.sid().unwrap_or_default());
/// eio.send(serde_json::json!({"foo": "bar"})).await?;
/// eio.wait().await;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct AsyncClient {
    inner: Arc<Inner>,
}

struct Inner {
    config: ClientConfig,
    /// The receive budget of every connection of this client.
    flow: Arc<Flow>,
    /// Whether a message handler is set: if not, messages skip the dispatcher.
    has_message_handler: AtomicBool,
    handlers: Mutex<Handlers>,
    state: Mutex<State>,
}

#[derive(Default)]
struct Handlers {
    connect: Option<ConnectHandler>,
    message: Option<MessageHandler>,
    disconnect: Option<DisconnectHandler>,
    subscribers: Vec<(mpsc::UnboundedSender<ClientEvent>, Arc<Queue>)>,
}

#[derive(Default)]
struct State {
    generation: u64,
    conn: Option<Conn>,
    /// The end of the last connection, for a `wait` that comes after it was cleared.
    last_ended: Option<Shared<oneshot::Receiver<()>>>,
}

struct Conn {
    generation: u64,
    commands: mpsc::UnboundedSender<Command>,
    /// One sender for every `send`, so that the channel's bound holds: each clone of a
    /// bounded sender would get a slot of its own.
    messages: Arc<futures::lock::Mutex<mpsc::Sender<Payload>>>,
    sid: Option<String>,
    transport: TransportKind,
    ended: Shared<oneshot::Receiver<()>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A handler that panicked while another thread held the lock leaves the data
    // consistent (every critical section here is a few assignments): carry on.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl std::fmt::Debug for AsyncClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AsyncClient")
            .field("sid", &self.sid())
            .field("transport", &self.transport())
            .finish_non_exhaustive()
    }
}

#[cfg(any(feature = "tokio", feature = "smol", feature = "async-std"))]
impl Default for AsyncClient {
    fn default() -> Self {
        AsyncClient::new()
    }
}

impl AsyncClient {
    /// A client with default options on the default runtime: tokio when the `tokio`
    /// feature is on (the current runtime, or a background one outside any), else smol,
    /// else async-std.
    ///
    /// ```
    /// use engineio::AsyncClient;
    ///
    /// let eio = AsyncClient::new();
    /// assert_eq!(eio.sid(), None); // not connected yet
    /// ```
    #[cfg(any(feature = "tokio", feature = "smol", feature = "async-std"))]
    pub fn new() -> AsyncClient {
        AsyncClient::from_config(ClientBuilder::new().into_config_with(Runtime::from_features()))
    }

    /// A client on a runtime of your own, with default options. See
    /// [`Runtime::new`](crate::Runtime::new).
    ///
    /// ```
    /// use engineio::AsyncClient;
    ///
    /// // A tokio runtime of the application's own.
    /// let rt = tokio::runtime::Runtime::new()?;
    /// let runtime = engineio::adapters::tokio::runtime(rt.handle().clone());
    /// let eio = AsyncClient::with_runtime(runtime);
    /// # let _ = eio;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn with_runtime(runtime: Runtime) -> AsyncClient {
        AsyncClient::from_config(ClientBuilder::new().into_config_with(runtime))
    }

    /// A builder for every option: headers, query, transports, timeouts, TLS, logging,
    /// runtime and connectors.
    ///
    /// ```
    /// use engineio::{AsyncClient, Transports};
    ///
    /// let eio = AsyncClient::builder()
    ///     .engineio_path("socket.io")
    ///     .transports(Transports::WebSocket)
    ///     .build()?;
    /// # let _ = eio;
    /// # Ok::<(), engineio::Error>(())
    /// ```
    pub fn builder() -> ClientBuilder {
        ClientBuilder::new()
    }

    pub(crate) fn from_config(config: ClientConfig) -> AsyncClient {
        AsyncClient {
            inner: Arc::new(Inner {
                flow: Flow::new(config.receive_buffer),
                has_message_handler: AtomicBool::new(false),
                config,
                handlers: Mutex::new(Handlers::default()),
                state: Mutex::new(State::default()),
            }),
        }
    }

    /// Sets the handler for the `connect` event. It runs before [`connect`](Self::connect)
    /// returns.
    ///
    /// ```
    /// let eio = engineio::AsyncClient::new();
    /// eio.on_connect(|| async { println!("I'm connected!") });
    /// ```
    pub fn on_connect<F, Fut>(&self, handler: F)
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        lock(&self.inner.handlers).connect = Some(Arc::new(move || handler().boxed()));
    }

    /// Sets the handler for the `message` event: one call per message, in the order the
    /// server sent them.
    ///
    /// To answer from inside the handler, keep a [weak handle](Self::downgrade) on the
    /// client (a clone would keep the client alive through its own handler, forever):
    ///
    /// ```
    /// use engineio::{AsyncClient, Payload};
    ///
    /// let eio = AsyncClient::new();
    /// let echo = eio.downgrade();
    /// eio.on_message(move |data: Payload| {
    ///     let echo = echo.clone();
    ///     async move {
    ///         if let Some(eio) = echo.upgrade() {
    ///             let _ = eio.send(data).await;
    ///         }
    ///     }
    /// });
    /// ```
    pub fn on_message<F, Fut>(&self, handler: F)
    where
        F: Fn(Payload) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        lock(&self.inner.handlers).message = Some(Arc::new(move |p| handler(p).boxed()));
        self.inner
            .has_message_handler
            .store(true, Ordering::Release);
    }

    /// Sets the handler for the `disconnect` event, called once per connection with the
    /// reason, whoever ended it.
    ///
    /// ```
    /// use engineio::{AsyncClient, DisconnectReason};
    ///
    /// let eio = AsyncClient::new();
    /// eio.on_disconnect(|reason: DisconnectReason| async move {
    ///     // `{:#}` adds the detail: the close frame, the failed request, ...
    ///     println!("disconnected: {reason:#}");
    /// });
    /// ```
    pub fn on_disconnect<F, Fut>(&self, handler: F)
    where
        F: Fn(DisconnectReason) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        lock(&self.inner.handlers).disconnect = Some(Arc::new(move |r| handler(r).boxed()));
    }

    /// A stream of this client's events, for those who prefer
    /// `while let Some(ev) = events.next().await` to handlers. It sees the events from the
    /// moment it is made, and never ends; an unread stream buffers its events.
    ///
    /// ```no_run
    /// use futures::StreamExt;
    /// use engineio::{AsyncClient, ClientEvent};
    ///
    /// # async fn run() -> Result<(), engineio::Error> {
    /// let eio = AsyncClient::new();
    /// let mut events = eio.events();
    /// eio.connect("http://localhost:5000").await?;
    /// while let Some(event) = events.next().await {
    ///     match event {
    ///         ClientEvent::Message(data) => println!("{data:?}"),
    ///         ClientEvent::Disconnect(reason) => {
    ///             println!("{reason}");
    ///             break;
    ///         }
    ///         _ => {}
    ///     }
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub fn events(&self) -> Events {
        let (tx, rx) = mpsc::unbounded();
        let queue = Arc::new(self.inner.flow.queue());
        lock(&self.inner.handlers)
            .subscribers
            .push((tx, queue.clone()));
        Events { rx, queue }
    }

    /// Connects to an Engine.IO server: `http://`, `https://`, `ws://` or `wss://`, with the
    /// server's host and port (the path comes from the builder's `engineio_path`).
    ///
    /// Returns once the connection is open and the `connect` handler has run, or with the
    /// reason it could not open.
    ///
    /// ```
    /// use engineio::{AsyncClient, Error};
    ///
    /// # futures::executor::block_on(async {
    /// // A port that was just free: the connection is refused.
    /// let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    /// let eio = AsyncClient::new();
    /// match eio.connect(&format!("http://127.0.0.1:{port}")).await {
    ///     Ok(()) => println!("my sid is {}", eio.sid().unwrap_or_default()),
    ///     Err(Error::Connect { failure, .. }) => println!("cannot connect: {failure}"),
    ///     Err(e) => return Err(e.into()),
    /// }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub async fn connect(&self, url: &str) -> Result<(), Error> {
        let cfg = &self.inner.config;
        let mut endpoint = Endpoint::parse(url)?.with_path(&cfg.path);
        for (k, v) in &cfg.query {
            endpoint = endpoint.with_query(k, v);
        }
        let (cmd_tx, cmd_rx) = mpsc::unbounded();
        let (msg_tx, msg_rx) = mpsc::channel(cfg.send_buffer.clamp(1, MESSAGE_CHANNEL));
        let (ev_tx, ev_rx) = mpsc::unbounded();
        let (connected_tx, connected_rx) = oneshot::channel();
        let (ended_tx, ended_rx) = oneshot::channel();
        let generation = {
            let mut state = lock(&self.inner.state);
            // A connection whose driver has finished is over, even if its dispatcher has
            // not caught up yet.
            if state.conn.as_ref().is_some_and(|c| !c.commands.is_closed()) {
                return Err(Error::AlreadyConnected);
            }
            state.generation += 1;
            state.conn = Some(Conn {
                generation: state.generation,
                commands: cmd_tx.clone(),
                messages: Arc::new(futures::lock::Mutex::new(msg_tx)),
                sid: None,
                transport: TransportKind::Polling,
                ended: ended_rx.shared(),
            });
            state.generation
        };
        // If this future is dropped before the connection opens, abandon the connection.
        let mut guard = ConnectGuard(Some(cmd_tx));
        let rt = &cfg.runtime;
        let handler_queue = Arc::new(self.inner.flow.queue());
        let session = Session::new(endpoint, cfg.session.clone(), rt.timer.now());
        let driver = Driver::new(DriverParts {
            session,
            timer: rt.timer.clone(),
            http: cfg.http.clone(),
            ws: cfg.ws.clone(),
            headers: cfg.headers.clone(),
            max_receive: cfg.max_receive,
            logger: cfg.logger,
            commands: cmd_rx,
            messages: msg_rx,
            send_buffer: cfg.send_buffer,
            linger: cfg.session.request_timeout,
            events: ev_tx,
            flow: self.inner.flow.clone(),
            handler_queue: handler_queue.clone(),
            hook: state_hook(Arc::downgrade(&self.inner), generation),
        });
        rt.spawner.spawn(Box::pin(driver));
        let dispatcher = dispatch(
            Arc::downgrade(&self.inner),
            generation,
            ev_rx,
            handler_queue,
            connected_tx,
            ended_tx,
        );
        rt.spawner.spawn(Box::pin(dispatcher));
        let result = connected_rx.await;
        guard.0 = None;
        match result {
            Ok(Ok(())) => Ok(()),
            Ok(Err(failure)) => Err(Error::Connect {
                url: url.to_owned(),
                failure,
            }),
            Err(_) => Err(Error::Connect {
                url: url.to_owned(),
                failure: crate::TransportFailure::Io("the connection task ended".into()),
            }),
        }
    }

    /// The session id the server assigned, while connected.
    ///
    /// ```no_run
    /// # async fn run() -> Result<(), engineio::Error> {
    /// let eio = engineio::AsyncClient::new();
    /// assert_eq!(eio.sid(), None);
    /// eio.connect("http://localhost:5000").await?;
    /// println!("my sid is {}", eio.sid().unwrap_or_default());
    /// # Ok(())
    /// # }
    /// ```
    pub fn sid(&self) -> Option<String> {
        lock(&self.inner.state)
            .conn
            .as_ref()
            .and_then(|c| c.sid.clone())
    }

    /// The transport in use, while connected.
    ///
    /// ```no_run
    /// use engineio::{AsyncClient, TransportKind};
    ///
    /// # async fn run() -> Result<(), engineio::Error> {
    /// let eio = AsyncClient::new();
    /// eio.connect("http://localhost:5000").await?;
    /// // Polling first; the upgrade to WebSocket follows in the background.
    /// if eio.transport() == Some(TransportKind::WebSocket) {
    ///     println!("upgraded");
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub fn transport(&self) -> Option<TransportKind> {
        lock(&self.inner.state)
            .conn
            .as_ref()
            .filter(|c| c.sid.is_some())
            .map(|c| c.transport)
    }

    /// Sends a message: text (`&str`, `String`), binary (`Vec<u8>`, `&[u8]`, `Bytes`) or
    /// JSON (`serde_json::Value`, sent as text).
    ///
    /// The message is queued in order with the others and written as soon as the
    /// transport allows. When the send buffer is full
    /// ([`ClientBuilder::send_buffer`], 1024 messages by default), it waits for room.
    /// Fails with [`Error::NotConnected`] when no connection is open (or the connection
    /// ends while it waits); a message accepted here is delivered, or the connection's end
    /// is reported by the `disconnect` event. Dropping the future while it waits for room
    /// sends nothing. A text message holding U+001E cannot travel over long-polling (it is
    /// the payload separator; the server would split the message): while the connection
    /// runs on polling, such a message fails with [`Error::RecordSeparator`] and nothing
    /// is sent (engine.io-client and python-engineio send it, corrupted).
    ///
    /// ```no_run
    /// # async fn run() -> Result<(), engineio::Error> {
    /// let eio = engineio::AsyncClient::new();
    /// eio.connect("http://localhost:5000").await?;
    /// eio.send("text").await?;
    /// eio.send(vec![0xde, 0xad, 0xbe, 0xef]).await?;
    /// eio.send(serde_json::json!({"foo": "bar"})).await?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn send(&self, data: impl Into<Payload>) -> Result<(), Error> {
        let data = data.into();
        let messages = {
            let state = lock(&self.inner.state);
            match &state.conn {
                Some(c) if c.sid.is_some() => {
                    // The session would refuse it too, but only the driver would know.
                    if c.transport == TransportKind::Polling && crate::session::has_separator(&data)
                    {
                        return Err(Error::RecordSeparator);
                    }
                    c.messages.clone()
                }
                _ => return Err(Error::NotConnected),
            }
        };
        let mut tx = messages.lock().await;
        // `feed`, not `send`: done once the message is in the channel, without waiting for
        // the driver to take it. A send dropped while it waits for room queues nothing.
        tx.feed(data).await.map_err(|_| Error::NotConnected)
    }

    /// Disconnects from the server: queued messages go out, then the close packet.
    ///
    /// Returns when the connection is closed; the `disconnect` handler (reason
    /// `client disconnect`) runs right after, and [`wait`](Self::wait) returns once it has.
    /// Safe to call from a handler, and when not connected (it does nothing).
    ///
    /// ```no_run
    /// # async fn run() -> Result<(), engineio::Error> {
    /// let eio = engineio::AsyncClient::new();
    /// eio.connect("http://localhost:5000").await?;
    /// eio.send("bye").await?; // goes out before the close packet
    /// eio.disconnect().await?;
    /// assert_eq!(eio.sid(), None);
    /// # Ok(())
    /// # }
    /// ```
    pub async fn disconnect(&self) -> Result<(), Error> {
        let (tx, rx) = oneshot::channel();
        {
            let state = lock(&self.inner.state);
            let Some(c) = &state.conn else { return Ok(()) };
            if c.commands.unbounded_send(Command::Close(tx)).is_err() {
                return Ok(());
            }
        }
        let _ = rx.await;
        Ok(())
    }

    /// Waits until the connection ends, for any reason, and its `disconnect` handler has
    /// run. Returns at once when not connected.
    ///
    /// ```no_run
    /// # async fn run() -> Result<(), engineio::Error> {
    /// let eio = engineio::AsyncClient::new();
    /// eio.connect("http://localhost:5000").await?;
    /// eio.wait().await; // until the server closes the connection, or it fails
    /// # Ok(())
    /// # }
    /// ```
    pub async fn wait(&self) {
        let ended = {
            let state = lock(&self.inner.state);
            match &state.conn {
                Some(c) => Some(c.ended.clone()),
                None => state.last_ended.clone(),
            }
        };
        if let Some(ended) = ended {
            let _ = ended.await;
        }
    }

    /// Runs `task` in the background on the client's runtime, and returns a handle that
    /// resolves to its output (or `None` if it panicked).
    ///
    /// ```
    /// # futures::executor::block_on(async {
    /// let eio = engineio::AsyncClient::new();
    /// let task = eio.start_background_task(async { 6 * 7 });
    /// assert_eq!(task.await, Some(42));
    /// # });
    /// ```
    pub fn start_background_task<F>(&self, task: F) -> BackgroundTask<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        self.inner
            .config
            .runtime
            .spawner
            .spawn(Box::pin(async move {
                let _ = tx.send(task.await);
            }));
        BackgroundTask { rx }
    }

    /// A handle that does not keep the client alive. Handlers that use their own client
    /// should hold this rather than a clone: a clone held by a handler keeps the client,
    /// and so the handler, alive forever.
    ///
    /// ```
    /// let eio = engineio::AsyncClient::new();
    /// let weak = eio.downgrade();
    /// eio.on_connect(move || {
    ///     let weak = weak.clone();
    ///     async move {
    ///         if let Some(eio) = weak.upgrade() {
    ///             let _ = eio.send("hello").await;
    ///         }
    ///     }
    /// });
    /// ```
    pub fn downgrade(&self) -> WeakAsyncClient {
        WeakAsyncClient {
            inner: Arc::downgrade(&self.inner),
        }
    }

    /// Sleeps on the client's runtime timer.
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    ///
    /// # futures::executor::block_on(async {
    /// let eio = engineio::AsyncClient::new();
    /// let start = Instant::now();
    /// eio.sleep(Duration::from_millis(10)).await;
    /// assert!(start.elapsed() >= Duration::from_millis(10));
    /// # });
    /// ```
    pub async fn sleep(&self, duration: Duration) {
        self.inner.config.runtime.timer.sleep(duration).await;
    }
}

/// A handle on an [`AsyncClient`] that does not keep it alive: what a handler should hold
/// to use its own client. Made by [`AsyncClient::downgrade`].
#[derive(Clone, Debug)]
pub struct WeakAsyncClient {
    inner: std::sync::Weak<Inner>,
}

impl WeakAsyncClient {
    /// The client, if it still exists.
    ///
    /// ```
    /// let eio = engineio::AsyncClient::new();
    /// let weak = eio.downgrade();
    /// assert!(weak.upgrade().is_some());
    /// drop(eio);
    /// assert!(weak.upgrade().is_none());
    /// ```
    pub fn upgrade(&self) -> Option<AsyncClient> {
        self.inner.upgrade().map(|inner| AsyncClient { inner })
    }
}

/// The stream returned by [`AsyncClient::events`].
///
/// ```
/// use futures::{FutureExt, StreamExt};
///
/// let eio = engineio::AsyncClient::new();
/// let mut events = eio.events();
/// // Nothing has happened yet: the stream waits for the first event.
/// assert!(events.next().now_or_never().is_none());
/// ```
#[derive(Debug)]
pub struct Events {
    rx: mpsc::UnboundedReceiver<ClientEvent>,
    /// The messages waiting in `rx`, counted against the client's receive buffer.
    queue: Arc<Queue>,
}

impl Stream for Events {
    type Item = ClientEvent;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<ClientEvent>> {
        let next = self.rx.poll_next_unpin(cx);
        if let Poll::Ready(Some(ClientEvent::Message(p))) = &next {
            self.queue.take(weight(p));
        }
        next
    }
}

impl Drop for Events {
    fn drop(&mut self) {
        // What nobody will read no longer holds up the connection.
        self.rx.close();
        while let Ok(event) = self.rx.try_recv() {
            if let ClientEvent::Message(p) = event {
                self.queue.take(weight(&p));
            }
        }
    }
}

/// The handle of a task started by [`AsyncClient::start_background_task`]: a future that
/// resolves to the task's output, or to `None` if the task panicked or its runtime shut
/// down. Dropping it does not stop the task.
///
/// ```
/// use futures::channel::oneshot;
///
/// # futures::executor::block_on(async {
/// let eio = engineio::AsyncClient::new();
/// let (tx, rx) = oneshot::channel();
/// drop(eio.start_background_task(async move { tx.send("still ran") }));
/// assert_eq!(rx.await, Ok("still ran"));
/// # });
/// ```
#[derive(Debug)]
pub struct BackgroundTask<T> {
    rx: oneshot::Receiver<T>,
}

impl<T> Future for BackgroundTask<T> {
    type Output = Option<T>;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        self.rx.poll_unpin(cx).map(Result::ok)
    }
}

/// Keeps the client's state and event streams in step with the connection: called by the
/// driver for each event, before the dispatcher sees it. Returns whether the dispatcher
/// needs the event (a message does not when no message handler is set).
fn state_hook(inner: std::sync::Weak<Inner>, generation: u64) -> driver::EventHook {
    Box::new(move |ev| {
        let Some(inner) = inner.upgrade() else {
            return true;
        };
        let update = |f: &mut dyn FnMut(&mut Conn)| {
            let mut state = lock(&inner.state);
            if let Some(c) = state.conn.as_mut().filter(|c| c.generation == generation) {
                f(c);
            }
        };
        match ev {
            DriverEvent::Connected { sid, transport } => {
                update(&mut |c| {
                    c.sid = Some(sid.clone());
                    c.transport = *transport;
                });
                publish(&inner, ClientEvent::Connect);
            }
            DriverEvent::Message(p) => {
                publish(&inner, ClientEvent::Message(p.clone()));
                return inner.has_message_handler.load(Ordering::Acquire);
            }
            DriverEvent::Upgraded(t) => update(&mut |c| c.transport = *t),
            DriverEvent::ConnectFailed(_) => clear(&inner, generation),
            DriverEvent::Disconnected(reason) => {
                let was_open = lock(&inner.state)
                    .conn
                    .as_ref()
                    .is_some_and(|c| c.generation == generation && c.sid.is_some());
                clear(&inner, generation);
                if was_open {
                    publish(&inner, ClientEvent::Disconnect(reason.clone()));
                }
            }
        }
        true
    })
}

/// Runs the handlers for one connection's events, one at a time and in order.
async fn dispatch(
    inner: std::sync::Weak<Inner>,
    generation: u64,
    mut events: mpsc::UnboundedReceiver<DriverEvent>,
    queue: Arc<Queue>,
    connected: oneshot::Sender<Result<(), crate::TransportFailure>>,
    ended: oneshot::Sender<()>,
) {
    let mut connected = Some(connected);
    while let Some(ev) = events.next().await {
        let Some(inner) = inner.upgrade() else { break };
        match ev {
            DriverEvent::Connected { .. } => {
                let handler = lock(&inner.handlers).connect.clone();
                if let Some(h) = handler {
                    h().await;
                }
                if let Some(tx) = connected.take() {
                    let _ = tx.send(Ok(()));
                }
            }
            DriverEvent::Message(p) => {
                let handler = lock(&inner.handlers).message.clone();
                let cost = weight(&p);
                if let Some(h) = handler {
                    h(p).await;
                }
                queue.take(cost);
            }
            DriverEvent::Upgraded(_) => {}
            DriverEvent::ConnectFailed(f) => {
                if let Some(tx) = connected.take() {
                    let _ = tx.send(Err(f));
                }
                break;
            }
            DriverEvent::Disconnected(reason) => {
                if let Some(tx) = connected.take() {
                    // Closed before the handshake finished.
                    let _ = tx.send(Err(crate::TransportFailure::Io(format!(
                        "closed during the handshake ({reason})"
                    ))));
                    break;
                }
                let handler = lock(&inner.handlers).disconnect.clone();
                if let Some(h) = handler {
                    h(reason).await;
                }
                break;
            }
        }
    }
    // Whatever is left will not be handled: it no longer holds up the driver.
    events.close();
    while let Ok(ev) = events.try_recv() {
        if let DriverEvent::Message(p) = ev {
            queue.take(weight(&p));
        }
    }
    // However the connection ended (even if its driver vanished without a word), it is over.
    if let Some(inner) = inner.upgrade() {
        clear(&inner, generation);
    }
    let _ = ended.send(());
}

/// Abandons a connection whose `connect` future was dropped before it completed.
struct ConnectGuard(Option<mpsc::UnboundedSender<Command>>);

impl Drop for ConnectGuard {
    fn drop(&mut self) {
        if let Some(commands) = self.0.take() {
            let (tx, _rx) = oneshot::channel();
            let _ = commands.unbounded_send(Command::Close(tx));
        }
    }
}

fn clear(inner: &Inner, generation: u64) {
    let mut state = lock(&inner.state);
    if state
        .conn
        .as_ref()
        .is_some_and(|c| c.generation == generation)
    {
        state.last_ended = state.conn.take().map(|c| c.ended);
    }
}

fn publish(inner: &Inner, event: ClientEvent) {
    let cost = match &event {
        ClientEvent::Message(p) => weight(p),
        _ => 0,
    };
    lock(&inner.handlers).subscribers.retain(|(tx, queue)| {
        // Counted before it can be read, so that the count never goes below zero.
        queue.add(cost);
        let sent = tx.unbounded_send(event.clone()).is_ok();
        if !sent {
            queue.take(cost);
        }
        sent
    });
}
