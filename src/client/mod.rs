//! [`AsyncClient`]: python-engineio's `AsyncClient`, in Rust.
//!
//! One message's way out: [`AsyncClient::send`] locks the client's state, hands the
//! message to the [`Session`] (the one send queue) and wakes the driver, which takes it as
//! a POST body or a WebSocket frame when the transport can take it. One message's way in:
//! the driver feeds the frame or poll response to the session, and the session's
//! `Message` event goes into the client's one [`EventQueue`], which the handlers'
//! dispatcher and every [`Events`] stream read, each at its own pace.

mod builder;
mod dispatch;
mod driver;
mod events;
mod reconnect;

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use futures::FutureExt;
use futures::channel::oneshot;
use futures::future::Shared as SharedFuture;

pub use builder::ClientBuilder;
pub(crate) use builder::ClientConfig;
use dispatch::AsyncHandler;
pub(crate) use dispatch::{Dispatcher, Handler, Handlers};
use driver::Driver;
pub use events::Events;
use events::{EventQueue, ReaderKind};

use crate::logging::record;
use crate::proto::{Endpoint, Session, SessionConfig};
use crate::rt::Runtime;
use crate::{
    ConnectionStats, DisconnectReason, Error, Payload, Protocol, SendError, SendErrorKind,
    TransportFailure, TransportKind, Transports,
};
use events::Entry;
use reconnect::Jitter;
pub use reconnect::Reconnect;

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
    /// The connection moved from long-polling to WebSocket.
    Upgraded,
    /// The connection ended; always the last event of a connection.
    Disconnect(DisconnectReason),
    /// With [`ClientBuilder::reconnect`]: the client waits `delay`, then makes reconnection
    /// attempt `attempt` (from 1). Comes after the `Disconnect` of the connection that was
    /// lost, and before each wait.
    Reconnecting {
        /// Which attempt follows the wait, from 1.
        attempt: u32,
        /// How long the client waits before it.
        delay: Duration,
    },
    /// With [`ClientBuilder::reconnect`]: the attempts ran out; the client has stopped
    /// (`wait()` returns).
    ReconnectFailed {
        /// How many attempts were made.
        attempts: u32,
    },
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

/// What the handles share. When the last handle goes, the connection closes.
struct Inner {
    shared: Arc<Shared>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        let mut state = lock(&self.shared.state);
        // Nobody can use the connection any more; nobody will read new events.
        if let Some(conn) = &mut state.conn {
            conn.session.close();
            conn.wake_driver();
        }
        if let Some(run) = &mut state.reconnect {
            run.cancel();
        }
        state.events.end();
    }
}

/// What the handles, the driver and the dispatchers share: the configuration, the
/// handlers, and behind one lock the connection and the event queue.
pub(crate) struct Shared {
    config: ClientConfig,
    handlers: Mutex<Handlers>,
    /// Bumped at every change of `handlers`, so that dispatchers re-read them only then.
    handlers_version: AtomicU64,
    /// Where the handlers run.
    dispatch_on: DispatchOn,
    state: Mutex<State>,
    /// Whether a session of this client ran on WebSocket (opened on it or upgraded to it),
    /// and no remembered WebSocket connect failed since: `remember_upgrade`'s memory.
    websocket_worked: Arc<AtomicBool>,
    /// The headers and query parameters of the next connection: the builder's, as changed
    /// since by `set_header`, `remove_header` and `set_query`.
    request: Mutex<RequestParts>,
}

/// What every request of a connection carries besides the protocol's own.
pub(crate) struct RequestParts {
    pub(crate) headers: http::HeaderMap,
    pub(crate) query: Vec<(String, String)>,
}

/// One connect as the application asked it: with `try_all_transports` or
/// `remember_upgrade`, a WebSocket-only attempt that fails is followed by one over
/// long-polling (and the other way round). A function of the shared state, not of a
/// client handle, so that the reconnection loop does not keep the client alive.
async fn connect_attempt(shared: &Arc<Shared>, url: &str, how: Attempt) -> Result<(), Error> {
    let cfg = &shared.config;
    let remembered = cfg.remember_upgrade && shared.websocket_worked.load(Ordering::Relaxed);
    let (first, fallback) = match cfg.session.transports {
        Transports::WebSocket if cfg.try_all_transports => {
            (Transports::WebSocket, Some(Transports::Upgrade))
        }
        Transports::Upgrade if remembered => (Transports::WebSocket, Some(Transports::Upgrade)),
        Transports::Upgrade if cfg.try_all_transports => {
            (Transports::Upgrade, Some(Transports::WebSocket))
        }
        transports => (transports, None),
    };
    let disconnects = lock(&shared.state).disconnect_calls;
    let result = connect_once(shared, url, first, how).await;
    let (Some(next), Err(Error::Connect { failure, .. })) = (fallback, &result) else {
        return result;
    };
    let disconnected = lock(&shared.state).disconnect_calls != disconnects;
    if disconnected || !worth_another_transport(failure) {
        return result;
    }
    let (failed, other) = match first {
        Transports::WebSocket => ("WebSocket", "long-polling"),
        _ => ("long-polling", "WebSocket"),
    };
    record!(
        cfg.logger,
        info,
        "{url}: connecting over {failed} failed ({failure}); trying {other}"
    );
    if first == Transports::WebSocket {
        shared.websocket_worked.store(false, Ordering::Relaxed);
    }
    let second = connect_once(shared, url, next, how).await;
    match (first, second) {
        // Both failed: the polling attempt's failure says more (it is the usual way in,
        // and the server's own error answers come that way).
        (Transports::Upgrade, Err(Error::Connect { .. })) => result,
        (_, second) => second,
    }
}

/// How a connection attempt is made.
#[derive(Clone, Copy)]
pub(crate) struct Attempt {
    /// It returns only once the `connect` handler has run (`AsyncClient::connect`).
    pub(crate) for_handler: bool,
    /// A reconnection run makes it (after a lost connection, or as a first connect's
    /// retry): a `connect()` of the application's replaces it rather than failing with
    /// `AlreadyConnected`.
    pub(crate) by_run: bool,
}

/// One attempt at connecting, over `transports`.
async fn connect_once(
    shared: &Arc<Shared>,
    url: &str,
    transports: Transports,
    how: Attempt,
) -> Result<(), Error> {
    let cfg = &shared.config;
    let mut endpoint = Endpoint::parse(url)?.with_path(&cfg.path);
    for (k, v) in &lock(&shared.request).query {
        endpoint = endpoint.with_query(k, v);
    }
    let rt = &cfg.runtime;
    let (opened_tx, opened_rx) = oneshot::channel();
    let (handled_tx, handled_rx) = oneshot::channel();
    let (ended_tx, ended_rx) = oneshot::channel();
    let (generation, reader) = {
        let mut state = lock(&shared.state);
        if state.conn.is_some() {
            return Err(Error::AlreadyConnected);
        }
        state.generation += 1;
        let messages = lock(&shared.handlers).message.is_some();
        let reader = state.events.subscribe(ReaderKind::Dispatcher { messages });
        state.conn = Some(Conn {
            generation: state.generation,
            by_run: how.by_run,
            session: Session::new(
                endpoint,
                SessionConfig {
                    transports,
                    ..cfg.session.clone()
                },
                rt.timer.now(),
            ),
            driver: None,
            senders: Vec::new(),
            close_waiters: Vec::new(),
            ended: ended_rx.shared(),
        });
        (state.generation, reader)
    };
    // If this future is dropped before the connection opens, abandon the connection.
    let mut guard = ConnectGuard {
        shared: Some(shared.clone()),
        generation,
    };
    rt.spawner.spawn(Box::pin(Driver::new(
        shared.clone(),
        generation,
        url,
        opened_tx,
    )));
    let dispatcher = Dispatcher::new(shared.clone(), reader, handled_tx, ended_tx);
    match &shared.dispatch_on {
        DispatchOn::Task => rt.spawner.spawn(dispatcher.run().boxed()),
        DispatchOn::Thread(run) => run(dispatcher),
    }
    let opened = match opened_rx.await {
        Ok(Ok(())) if !how.for_handler => Ok(()),
        // Open: the `connect` handler runs first (or the connection ended meanwhile).
        Ok(Ok(())) => handled_rx
            .await
            .map_err(|_| TransportFailure::Io("the connection ended at once".into())),
        Ok(Err(failure)) => Err(failure),
        Err(_) => Err(TransportFailure::Io("the connection task ended".into())),
    };
    guard.shared = None;
    opened.map_err(|failure| Error::Connect {
        url: url.to_owned(),
        failure,
    })
}

/// The reconnection loop: waits for the end of connection `generation` (and its
/// `disconnect` handler); if the end is one `policy` retries, makes attempts, each after
/// its wait, until one connects (then watches that connection the same way), the attempts
/// run out, or `cancel` fires (`disconnect`, a new `connect`, the client dropped). Holds
/// the client weakly: dropping every handle stops it. `done` fires when it stops.
async fn reconnect_loop(
    client: std::sync::Weak<Inner>,
    url: String,
    policy: Reconnect,
    mut generation: u64,
    cancel: SharedFuture<oneshot::Receiver<()>>,
    done: oneshot::Sender<()>,
) {
    use futures::future::{Either, select};

    let mut jitter = Jitter::new();
    let upgrade = || client.upgrade().map(|inner| AsyncClient { inner });
    'watch: loop {
        // The end of the watched connection, its disconnect handler included.
        let ended = {
            let Some(eio) = upgrade() else { break };
            let state = lock(&eio.inner.shared.state);
            match &state.conn {
                Some(c) if c.generation == generation => Some(c.ended.clone()),
                Some(_) => break, // somebody else connected
                None => state.last_ended.clone(),
            }
        };
        if let Some(ended) = ended {
            if let Either::Right(_) = select(ended, cancel.clone()).await {
                break;
            }
        }
        let Some(eio) = upgrade() else { break };
        let shared = eio.inner.shared.clone();
        let reason = {
            let state = lock(&shared.state);
            if state.generation != generation || state.conn.is_some() {
                break; // somebody else connected
            }
            state.last_reason.clone()
        };
        if !reason.is_some_and(|r| policy.retries(&r)) {
            break;
        }
        drop(eio);
        let mut attempt: u32 = 0;
        loop {
            attempt = attempt.saturating_add(1);
            // Without a client handle: dropping every handle cancels the loop (and an
            // attempt in progress) at once.
            let step = reconnect_step(&shared, &url, true, &policy, attempt, &mut jitter, &cancel);
            match step.await {
                Step::Done(Ok(())) => {
                    generation = lock(&shared.state).generation;
                    continue 'watch;
                }
                Step::GaveUp | Step::Cancelled => break 'watch,
                // The application connected meanwhile: its connection, not ours.
                Step::Done(Err(Error::AlreadyConnected)) => break 'watch,
                Step::Done(Err(e)) => {
                    record!(
                        shared.config.logger,
                        info,
                        "{url}: attempt {attempt} failed: {e}"
                    );
                }
            }
        }
    }
    let _ = done.send(());
}

/// How one step of a reconnection schedule ended.
enum Step {
    /// The attempts had run out: `ReconnectFailed` was announced.
    GaveUp,
    /// `disconnect()`, a new `connect`, or the last handle dropped stopped it.
    Cancelled,
    /// The attempt was made.
    Done(Result<(), Error>),
}

/// One step of a reconnection schedule: announces attempt `attempt` (`Reconnecting`, or
/// `ReconnectFailed` when the attempts have run out), waits its delay and makes it, the
/// wait and the attempt both cut short by `cancel` or a `disconnect()`.
async fn reconnect_step(
    shared: &Arc<Shared>,
    url: &str,
    for_handler: bool,
    policy: &Reconnect,
    attempt: u32,
    jitter: &mut Jitter,
    cancel: &SharedFuture<oneshot::Receiver<()>>,
) -> Step {
    use futures::future::{Either, select};

    let how = Attempt {
        for_handler,
        by_run: true,
    };
    let logger = &shared.config.logger;
    let disconnects = lock(&shared.state).disconnect_calls;
    let stopped = || lock(&shared.state).disconnect_calls != disconnects || cancel.peek().is_some();
    if policy.max_attempts().is_some_and(|max| attempt > max) {
        let attempts = attempt - 1;
        record!(
            logger,
            info,
            "{url}: no connection after {attempts} attempts; stopping"
        );
        let failed = ClientEvent::ReconnectFailed { attempts };
        lock(&shared.state).events.push(Entry::Event(failed));
        return Step::GaveUp;
    }
    let delay = policy.wait_before(attempt, jitter.next_unit());
    record!(
        logger,
        info,
        "{url}: connecting again in {delay:?} (attempt {attempt})"
    );
    let reconnecting = ClientEvent::Reconnecting { attempt, delay };
    lock(&shared.state).events.push(Entry::Event(reconnecting));
    let sleep = shared.config.runtime.timer.sleep(delay);
    // A wait that ended as the stop came (both ready when the step is polled again) makes
    // no attempt: the stop wins.
    if let Either::Right(_) = select(sleep, cancel.clone()).await {
        return Step::Cancelled;
    }
    if stopped() {
        return Step::Cancelled;
    }
    let attempted = Box::pin(connect_attempt(shared, url, how));
    let outcome = match select(attempted, cancel.clone()).await {
        Either::Left((outcome, _)) => outcome,
        Either::Right(_) => return Step::Cancelled,
    };
    if stopped() {
        if outcome.is_ok() {
            // Stopped just as it opened: the connection is not kept (a `connect()` of the
            // application's waits for it to end, and `disconnect()` closed it already).
            let mut state = lock(&shared.state);
            if let Some(conn) = state.conn.as_mut().filter(|c| c.by_run) {
                conn.session.close();
                conn.wake_driver();
            }
        }
        return Step::Cancelled;
    }
    Step::Done(outcome)
}

/// Whether a connect that failed this way may succeed over the other transport: not when
/// the Engine.IO server itself refused it with an error of its own (a 4xx with an error
/// message: its connect handler said no, or the request was bad); yes for everything the
/// network, a proxy, a gateway or a firewall may have caused.
fn worth_another_transport(failure: &TransportFailure) -> bool {
    match failure {
        TransportFailure::Http(e) => {
            let servers_own =
                (400..500).contains(&e.status) && (e.code.is_some() || e.message.is_some());
            !servers_own
        }
        _ => true,
    }
}

/// Where a connection's handlers run.
pub(crate) enum DispatchOn {
    /// A task on the client's runtime, per connection (`AsyncClient`).
    Task,
    /// A thread of the client's own (`Client`): the function runs a connection's
    /// dispatcher there.
    #[cfg_attr(not(feature = "blocking"), allow(dead_code))]
    Thread(Box<dyn Fn(Dispatcher) + Send + Sync>),
}

/// The state behind the client's one lock.
pub(crate) struct State {
    generation: u64,
    /// The connection, from `connect` until its session closes.
    conn: Option<Conn>,
    events: EventQueue,
    /// The end of the last connection, for a `wait` that comes after it was cleared.
    last_ended: Option<SharedFuture<oneshot::Receiver<()>>>,
    /// How many times `disconnect` was called: a call during a connect that has a second
    /// transport to try ends the whole connect, not just the attempt in progress.
    disconnect_calls: u64,
    /// Why the last connection ended (set when its session closes).
    last_reason: Option<DisconnectReason>,
    /// The reconnection loop, while one runs (from a `connect` with reconnection on until
    /// the client stops for good).
    reconnect: Option<ReconnectRun>,
}

/// A running reconnection loop, as the client's handles see it.
struct ReconnectRun {
    /// Tells the loop to stop (`disconnect`, or a new `connect`).
    cancel: Option<oneshot::Sender<()>>,
    /// Resolves when the loop has stopped.
    done: SharedFuture<oneshot::Receiver<()>>,
}

impl ReconnectRun {
    /// Installs a new run in `state`, stopping any earlier one. Returns what the loop
    /// keeps: the signal that stops it, and the sender it fires once it has stopped.
    fn install(state: &mut State) -> (SharedFuture<oneshot::Receiver<()>>, oneshot::Sender<()>) {
        if let Some(mut old) = state.reconnect.take() {
            old.cancel();
        }
        let (cancel_tx, cancel_rx) = oneshot::channel();
        let (done_tx, done_rx) = oneshot::channel();
        state.reconnect = Some(ReconnectRun {
            cancel: Some(cancel_tx),
            done: done_rx.shared(),
        });
        (cancel_rx.shared(), done_tx)
    }

    fn cancel(&mut self) {
        if let Some(tx) = self.cancel.take() {
            let _ = tx.send(());
        }
    }
}

/// One connection: its session, and who waits on it.
pub(crate) struct Conn {
    generation: u64,
    /// Opened by a reconnection run (see [`Attempt::by_run`]).
    by_run: bool,
    session: Session,
    /// The driver, waiting for something to do.
    driver: Option<Waker>,
    /// `send`s waiting for room in the session's queue.
    senders: Vec<Waker>,
    /// `disconnect`s waiting for the end of the connection.
    close_waiters: Vec<oneshot::Sender<()>>,
    /// Resolves once the dispatcher is done with the connection.
    ended: SharedFuture<oneshot::Receiver<()>>,
}

impl Conn {
    pub(crate) fn wake_driver(&mut self) {
        if let Some(w) = self.driver.take() {
            w.wake();
        }
    }

    pub(crate) fn wake_senders(&mut self) {
        for w in self.senders.drain(..) {
            w.wake();
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A handler that panicked while another thread held the lock leaves the data
    // consistent (every critical section here completes its own updates): carry on.
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
    /// [`Runtime::new`](crate::rt::Runtime::new).
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
        AsyncClient::from_parts(config, DispatchOn::Task)
    }

    pub(crate) fn from_parts(config: ClientConfig, dispatch_on: DispatchOn) -> AsyncClient {
        let state = State {
            generation: 0,
            conn: None,
            events: EventQueue::new(config.receive_buffer),
            last_ended: None,
            disconnect_calls: 0,
            last_reason: None,
            reconnect: None,
        };
        let request = Mutex::new(RequestParts {
            headers: config.headers.clone(),
            query: config.query.clone(),
        });
        AsyncClient {
            inner: Arc::new(Inner {
                shared: Arc::new(Shared {
                    request,
                    config,
                    handlers: Mutex::new(Handlers::default()),
                    handlers_version: AtomicU64::new(0),
                    dispatch_on,
                    state: Mutex::new(state),
                    websocket_worked: Arc::new(AtomicBool::new(false)),
                }),
            }),
        }
    }

    /// Changes the handlers.
    pub(crate) fn set_handler(&self, set: impl FnOnce(&mut Handlers)) {
        let shared = &self.inner.shared;
        let messages = {
            let mut handlers = lock(&shared.handlers);
            set(&mut handlers);
            handlers.message.is_some()
        };
        shared.handlers_version.fetch_add(1, Ordering::AcqRel);
        if messages {
            lock(&shared.state).events.dispatch_messages();
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
        let handler: AsyncHandler<()> = Arc::new(move |()| handler().boxed());
        self.set_handler(|h| h.connect = Some(Handler::Async(handler)));
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
        let handler: AsyncHandler<Payload> = Arc::new(move |p| handler(p).boxed());
        self.set_handler(|h| h.message = Some(Handler::Async(handler)));
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
        let handler: AsyncHandler<DisconnectReason> = Arc::new(move |r| handler(r).boxed());
        self.set_handler(|h| h.disconnect = Some(Handler::Async(handler)));
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
        Events::new(self.inner.shared.clone())
    }

    /// Connects to an Engine.IO server: `http://`, `https://`, `ws://` or `wss://`, with the
    /// server's host and port (the path comes from the builder's `engineio_path`).
    ///
    /// Returns once the connection is open and the `connect` handler has run, or with the
    /// reason it could not open. While a connection is open or opening it fails with
    /// [`Error::AlreadyConnected`] and changes nothing. With
    /// [reconnection](ClientBuilder::reconnect) on, a `connect` while the client is
    /// reconnecting (between a lost connection and the next) replaces the reconnection:
    /// the wait, or the attempt in progress, is dropped, and this connect is made at once.
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
        self.connect_and_wait(url, true).await
    }

    /// Connects; returns once the connection is open and, if `for_handler`, once the
    /// `connect` handler has run. With reconnection on, a loop then watches the connection
    /// (a loop already running is stopped first: this `connect` replaces it).
    pub(crate) async fn connect_and_wait(&self, url: &str, for_handler: bool) -> Result<(), Error> {
        let shared = &self.inner.shared;
        self.stop_reconnecting().await?;
        let how = Attempt {
            for_handler,
            by_run: false,
        };
        let Some(policy) = shared.config.reconnect.clone() else {
            return connect_attempt(shared, url, how).await;
        };
        self.connect_retrying(url, for_handler, &policy).await?;
        self.start_reconnecting(url, policy);
        Ok(())
    }

    /// Before a `connect`: a connection that is open, or being opened by the application,
    /// stays, and so does the reconnection watching it (`AlreadyConnected`). Otherwise a
    /// reconnection under way (waiting, or in an attempt) is stopped, and its attempt, if
    /// one was in progress, has ended when this returns: the application's connect
    /// replaces it.
    async fn stop_reconnecting(&self) -> Result<(), Error> {
        let shared = &self.inner.shared;
        let stopping = {
            let mut state = lock(&shared.state);
            if let Some(conn) = &state.conn {
                let opened = conn.session.handshake().is_some() && !conn.session.is_closed();
                if !conn.by_run || opened {
                    return Err(Error::AlreadyConnected);
                }
            }
            state.reconnect.take().map(|mut run| {
                run.cancel();
                run.done
            })
        };
        if let Some(done) = stopping {
            let _ = done.await;
        }
        // The run's attempt, abandoned (or closed, had it opened meanwhile), ends on its
        // own: its driver lets go of it (not its dispatcher, which may be queued behind
        // the handler calling this, on the blocking client's one dispatch thread). A
        // connection that is not the run's is the application's.
        let abandoned = {
            let mut state = lock(&shared.state);
            match &mut state.conn {
                Some(conn) if conn.by_run => {
                    let (tx, rx) = oneshot::channel();
                    conn.close_waiters.push(tx);
                    Some(rx)
                }
                Some(_) => return Err(Error::AlreadyConnected),
                None => None,
            }
        };
        if let Some(closed) = abandoned {
            let _ = closed.await;
        }
        Ok(())
    }

    /// With reconnection on, the first connect does not give up at its first failure
    /// (socket.io-client's Manager does not either): a failed attempt is followed by
    /// others on the same schedule, with the same events, until one connects (`Ok`), the
    /// attempts run out (the last failure, after `ReconnectFailed`), or `disconnect()` is
    /// called (the last failure).
    async fn connect_retrying(
        &self,
        url: &str,
        for_handler: bool,
        policy: &Reconnect,
    ) -> Result<(), Error> {
        let shared = &self.inner.shared;
        let disconnects = lock(&shared.state).disconnect_calls;
        let how = Attempt {
            for_handler,
            by_run: false,
        };
        let first = connect_attempt(shared, url, how).await;
        let Err(Error::Connect { .. }) = &first else {
            return first;
        };
        // From here on, `disconnect()` stops the attempts and `wait()` waits for them.
        let (cancel, done_tx) = {
            let mut state = lock(&shared.state);
            if state.disconnect_calls != disconnects {
                return first;
            }
            ReconnectRun::install(&mut state)
        };
        let mut jitter = Jitter::new();
        let mut last = first;
        let mut attempt: u32 = 0;
        let result = loop {
            attempt = attempt.saturating_add(1);
            let step = reconnect_step(
                shared,
                url,
                for_handler,
                policy,
                attempt,
                &mut jitter,
                &cancel,
            );
            match step.await {
                Step::Done(Ok(())) => break Ok(()),
                Step::Done(Err(e @ Error::Connect { .. })) => last = Err(e),
                Step::Done(Err(e)) => break Err(e),
                Step::GaveUp | Step::Cancelled => break last,
            }
        };
        let _ = done_tx.send(());
        result
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
        self.with_open(|s| s.sid().map(str::to_owned)).flatten()
    }

    /// `f` of the session, while it is open (or closing).
    fn with_open<T>(&self, f: impl FnOnce(&Session) -> T) -> Option<T> {
        let state = lock(&self.inner.shared.state);
        let session = &state.conn.as_ref()?.session;
        (session.handshake().is_some() && !session.is_closed()).then(|| f(session))
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
        self.with_open(Session::transport)
    }

    /// The protocol version spoken, [`Protocol::V4`] or [`Protocol::V3`], while
    /// connected; `None` otherwise.
    ///
    /// ```no_run
    /// # async fn run() -> Result<(), engineio::Error> {
    /// let eio = engineio::AsyncClient::new();
    /// eio.connect("http://localhost:5000").await?;
    /// println!("speaking Engine.IO {}", eio.protocol().unwrap());
    /// # Ok(())
    /// # }
    /// ```
    pub fn protocol(&self) -> Option<Protocol> {
        self.with_open(Session::protocol).flatten()
    }

    /// What the connection has carried so far (messages and bytes each way, pings
    /// answered, the transport), while connected; `None` otherwise.
    ///
    /// ```no_run
    /// # async fn run() -> Result<(), engineio::Error> {
    /// let eio = engineio::AsyncClient::new();
    /// eio.connect("http://localhost:5000").await?;
    /// eio.send("hello").await?;
    /// if let Some(stats) = eio.stats() {
    ///     println!("{} messages out, {} in", stats.messages_sent, stats.messages_received);
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub fn stats(&self) -> Option<ConnectionStats> {
        self.with_open(Session::stats)
    }

    /// Sends a message: text (`&str`, `String`), binary (`Vec<u8>`, `&[u8]`, `Bytes`) or
    /// JSON (`serde_json::Value`, sent as text).
    ///
    /// The message is queued in order with the others and written as soon as the
    /// transport allows. When the send buffer is full
    /// ([`ClientBuilder::send_buffer`], 1024 messages by default), it waits for room.
    /// Dropping the future while it waits sends nothing. A message accepted here is
    /// delivered, or the connection's end is reported by the `disconnect` event.
    ///
    /// A message that cannot be sent comes back in the [`SendError`]: with
    /// [`SendErrorKind::NotConnected`] when no connection is open, with
    /// [`SendErrorKind::Closed`] when the connection is closing or ended while the send
    /// waited, and with [`SendErrorKind::RecordSeparator`] for a text message holding
    /// U+001E while the connection runs on long-polling (it is the payload separator; the
    /// server would split the message; engine.io-client and python-engineio send it,
    /// corrupted). `?` turns a `SendError` into an [`Error`].
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
    pub async fn send(&self, data: impl Into<Payload>) -> Result<(), SendError> {
        let mut send = Sending {
            shared: &self.inner.shared,
            payload: Some(data.into()),
            waiting_on: None,
        };
        std::future::poll_fn(|cx| send.poll(cx)).await
    }

    /// Disconnects from the server: queued messages go out, then the close packet.
    ///
    /// Returns when the connection is closed: over long-polling once the close packet's
    /// POST is answered, over WebSocket once the server has answered the close frame (the
    /// socket is read until then, so that the server reads every message before the
    /// connection ends; at most the request timeout). The `disconnect` handler (reason
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
        let rx = {
            let mut state = lock(&self.inner.shared.state);
            state.disconnect_calls += 1;
            if let Some(run) = &mut state.reconnect {
                run.cancel();
            }
            let Some(conn) = &mut state.conn else {
                return Ok(());
            };
            let (tx, rx) = oneshot::channel();
            conn.close_waiters.push(tx);
            conn.session.close();
            conn.wake_driver();
            rx
        };
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
        loop {
            let (ended, reconnecting) = {
                let state = lock(&self.inner.shared.state);
                let ended = match &state.conn {
                    Some(c) => Some(c.ended.clone()),
                    None => state.last_ended.clone(),
                };
                let running = state.reconnect.as_ref().map(|r| r.done.clone());
                (ended, running.filter(|done| done.peek().is_none()))
            };
            // With reconnection on, the client stops for good only when its loop does;
            // then the last connection's end (its disconnect handler) is waited for.
            if let Some(done) = reconnecting {
                let _ = done.await;
                continue;
            }
            if let Some(ended) = ended {
                let _ = ended.await;
            }
            return;
        }
    }

    /// Sets a header of the next connection's requests (and of every reconnection attempt),
    /// replacing any value it had; the connection in progress keeps its own. Fails with
    /// [`Error::InvalidHeader`] for an invalid name or value (CR and LF included).
    ///
    /// With reconnection, the `disconnect` handler runs before the next attempt: the place
    /// to renew an expired token.
    ///
    /// ```
    /// use engineio::{AsyncClient, DisconnectReason, Reconnect};
    ///
    /// fn fresh_token() -> String {
    ///     "abc".to_owned() // ask the auth server
    /// }
    ///
    /// let eio = AsyncClient::builder()
    ///     .header("Authorization", &format!("Bearer {}", fresh_token()))
    ///     .reconnect(Reconnect::new())
    ///     .build()?;
    /// let weak = eio.downgrade();
    /// eio.on_disconnect(move |_: DisconnectReason| {
    ///     let weak = weak.clone();
    ///     async move {
    ///         if let Some(eio) = weak.upgrade() {
    ///             // The next attempt carries the new token, and a query parameter too.
    ///             let _ = eio.set_header("Authorization", &format!("Bearer {}", fresh_token()));
    ///             eio.set_query("resume", "1");
    ///         }
    ///     }
    /// });
    /// # Ok::<(), engineio::Error>(())
    /// ```
    pub fn set_header(&self, name: &str, value: &str) -> Result<(), Error> {
        let (Ok(name), Ok(value)) = (
            http::header::HeaderName::from_bytes(name.as_bytes()),
            http::HeaderValue::from_str(value),
        ) else {
            return Err(Error::InvalidHeader(format!("{name:?}: {value:?}")));
        };
        lock(&self.inner.shared.request).headers.insert(name, value);
        Ok(())
    }

    /// Removes a header from the next connection's requests.
    pub fn remove_header(&self, name: &str) {
        lock(&self.inner.shared.request).headers.remove(name);
    }

    /// Sets a query parameter of the next connection's requests (and of every reconnection
    /// attempt), replacing any value it had; see [`set_header`](Self::set_header).
    pub fn set_query(&self, key: &str, value: &str) {
        let mut request = lock(&self.inner.shared.request);
        request.query.retain(|(k, _)| k != key);
        request.query.push((key.to_owned(), value.to_owned()));
    }

    /// Starts the reconnection loop for the connection just opened.
    fn start_reconnecting(&self, url: &str, policy: Reconnect) {
        let shared = &self.inner.shared;
        let (generation, (cancel, done)) = {
            let mut state = lock(&shared.state);
            (state.generation, ReconnectRun::install(&mut state))
        };
        let run = reconnect_loop(
            Arc::downgrade(&self.inner),
            url.to_owned(),
            policy,
            generation,
            cancel,
            done,
        );
        shared.config.runtime.spawner.spawn(Box::pin(run));
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
            .shared
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
        self.inner.shared.config.runtime.timer.sleep(duration).await;
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

/// A `send` in progress: it holds the message while it waits for room.
struct Sending<'a> {
    shared: &'a Shared,
    payload: Option<Payload>,
    /// The connection whose queue it waits on.
    waiting_on: Option<u64>,
}

impl Sending<'_> {
    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), SendError>> {
        let Some(payload) = self.payload.take() else {
            return Poll::Ready(Ok(()));
        };
        let mut state = lock(&self.shared.state);
        let conn = match &mut state.conn {
            Some(c) if self.waiting_on.is_none_or(|g| g == c.generation) => c,
            // The connection it waited on has ended.
            _ if self.waiting_on.is_some() => {
                return Poll::Ready(Err(SendError {
                    payload,
                    kind: SendErrorKind::Closed,
                }));
            }
            _ => {
                return Poll::Ready(Err(SendError {
                    payload,
                    kind: SendErrorKind::NotConnected,
                }));
            }
        };
        match conn.session.send(payload) {
            Ok(()) => {
                conn.wake_driver();
                Poll::Ready(Ok(()))
            }
            Err(SendError {
                payload,
                kind: SendErrorKind::Full,
            }) => {
                // The driver wakes the waiting sends when the transport takes messages.
                self.payload = Some(payload);
                self.waiting_on = Some(conn.generation);
                if !conn.senders.iter().any(|w| w.will_wake(cx.waker())) {
                    conn.senders.push(cx.waker().clone());
                }
                Poll::Pending
            }
            Err(e) => Poll::Ready(Err(e)),
        }
    }
}

/// Abandons a connection whose `connect` future was dropped before it completed.
struct ConnectGuard {
    shared: Option<Arc<Shared>>,
    generation: u64,
}

impl Drop for ConnectGuard {
    fn drop(&mut self) {
        let Some(shared) = self.shared.take() else {
            return;
        };
        let mut state = lock(&shared.state);
        if let Some(conn) = state
            .conn
            .as_mut()
            .filter(|c| c.generation == self.generation)
        {
            conn.session.close();
            conn.wake_driver();
        }
    }
}
