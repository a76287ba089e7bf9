//! [`Client`]: python-engineio's threaded `Client`, in Rust (feature `blocking`).
//!
//! It is a thin shell over [`AsyncClient`]: the same protocol core and driver run on a
//! runtime the client owns (by default tokio's background runtime of this crate, else
//! smol's or async-std's own threads), never on a runtime of the caller's, so it works
//! from any thread: a plain `main`, a thread of an app that runs tokio, smol or async-std
//! elsewhere, or inside `tokio::task::spawn_blocking`.
//!
//! Handlers run on one dispatch thread per client, one at a time, in the order of the
//! events. A handler may call [`send`](Client::send), [`sleep`](Client::sleep),
//! [`disconnect`](Client::disconnect) and [`connect`](Client::connect) on the client; it
//! must not call [`wait`](Client::wait), which waits for the handlers themselves.

use std::cell::Cell;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::client::{DispatchOn, Dispatcher, Handler};
use crate::logging::{Logger, record};
use crate::rt::Runtime;
use crate::{
    AsyncClient, ClientBuilder, DisconnectReason, Error, Payload, SendError, TransportKind,
};

/// An Engine.IO client for threaded code: python-engineio's `Client`.
///
/// The same methods as [`AsyncClient`], blocking. Cheap to clone; every clone drives the
/// same connection.
///
/// ```no_run
/// use engineio::{Client, DisconnectReason, Payload};
///
/// # fn main() -> Result<(), engineio::Error> {
/// let eio = Client::new();
/// eio.on_connect(|| println!("I'm connected!"));
/// eio.on_message(|data: Payload| println!("I received a message! {data:?}"));
/// eio.on_disconnect(|reason: DisconnectReason| println!("I'm disconnected! reason: {reason}"));
///
/// eio.connect("http://localhost:5000")?;
/// println!("my sid is {}", eio.sid().unwrap_or_default());
/// eio.send(serde_json::json!({"foo": "bar"}))?;
/// let task = eio.start_background_task(|| { /* runs on its own thread */ });
/// eio.sleep(std::time::Duration::from_secs(2));
/// eio.disconnect()?;
/// eio.wait();
/// task.join().unwrap();
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct Client {
    aio: AsyncClient,
}

thread_local! {
    /// Whether this thread is a dispatch thread.
    static ON_DISPATCH_THREAD: Cell<bool> = const { Cell::new(false) };
}

/// The dispatch thread: it runs each connection's dispatcher, one connection after the
/// other, reading the events straight from the client's event queue. Started on first
/// use; it ends when the client and its connections are gone.
struct DispatchThread {
    tx: Mutex<Option<mpsc::Sender<Dispatcher>>>,
    logger: Logger,
}

impl DispatchThread {
    fn run(&self, dispatcher: Dispatcher) {
        let mut tx = self.tx.lock().unwrap_or_else(|e| e.into_inner());
        let sender = tx.get_or_insert_with(|| {
            let (tx, rx) = mpsc::channel::<Dispatcher>();
            let spawned = std::thread::Builder::new()
                .name("engineio-dispatch".into())
                .spawn(move || {
                    ON_DISPATCH_THREAD.with(|f| f.set(true));
                    for dispatcher in rx {
                        dispatcher.run_blocking();
                    }
                });
            if let Err(e) = spawned {
                record!(self.logger, error, "cannot start the dispatch thread: {e}");
            }
            tx
        });
        if sender.send(dispatcher).is_err() {
            record!(
                self.logger,
                error,
                "the dispatch thread is gone: handlers will not run"
            );
        }
    }
}

#[cfg(any(feature = "tokio", feature = "smol", feature = "async-std"))]
impl Default for Client {
    fn default() -> Self {
        Client::new()
    }
}

impl Client {
    /// A client with default options, on a runtime of this crate's own.
    ///
    /// ```
    /// let eio = engineio::Client::new();
    /// assert_eq!(eio.sid(), None); // not connected yet
    /// ```
    #[cfg(any(feature = "tokio", feature = "smol", feature = "async-std"))]
    pub fn new() -> Client {
        Client::from_config(ClientBuilder::new().into_config_with(Runtime::detached()))
    }

    /// A client on `runtime`, with default options.
    ///
    /// ```
    /// // A tokio runtime of the application's own.
    /// let rt = tokio::runtime::Runtime::new()?;
    /// let runtime = engineio::adapters::tokio::runtime(rt.handle().clone());
    /// let eio = engineio::Client::with_runtime(runtime);
    /// # let _ = eio;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn with_runtime(runtime: Runtime) -> Client {
        Client::from_config(ClientBuilder::new().into_config_with(runtime))
    }

    /// A builder for every option; finish it with
    /// [`build_blocking`](ClientBuilder::build_blocking).
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let eio = engineio::Client::builder()
    ///     .request_timeout(Duration::from_secs(10))
    ///     .build_blocking()?;
    /// # let _ = eio;
    /// # Ok::<(), engineio::Error>(())
    /// ```
    pub fn builder() -> ClientBuilder {
        ClientBuilder::new()
    }

    pub(crate) fn from_config(config: crate::client::ClientConfig) -> Client {
        let thread = DispatchThread {
            tx: Mutex::new(None),
            logger: config.logger.clone(),
        };
        let run = Box::new(move |dispatcher| thread.run(dispatcher));
        Client {
            aio: AsyncClient::from_parts(config, DispatchOn::Thread(run)),
        }
    }

    /// Sets the handler for the `connect` event; it runs before [`connect`](Self::connect)
    /// returns.
    ///
    /// ```
    /// let eio = engineio::Client::new();
    /// eio.on_connect(|| println!("I'm connected!"));
    /// ```
    pub fn on_connect(&self, handler: impl Fn() + Send + Sync + 'static) {
        let handler = Arc::new(move |()| handler());
        self.aio
            .set_handler(|h| h.connect = Some(Handler::Blocking(handler)));
    }

    /// Sets the handler for the `message` event: one call per message, in order.
    ///
    /// To answer from inside the handler, keep a [weak handle](Self::downgrade) on the
    /// client (a clone would keep the client, and its dispatch thread, alive forever):
    ///
    /// ```
    /// use engineio::{Client, Payload};
    ///
    /// let eio = Client::new();
    /// let echo = eio.downgrade();
    /// eio.on_message(move |data: Payload| {
    ///     if let Some(eio) = echo.upgrade() {
    ///         let _ = eio.send(data);
    ///     }
    /// });
    /// ```
    pub fn on_message(&self, handler: impl Fn(Payload) + Send + Sync + 'static) {
        // A message counts against the receive buffer until its handler has run: a slow
        // handler holds up the connection only once the buffer is full.
        self.aio
            .set_handler(|h| h.message = Some(Handler::Blocking(Arc::new(handler))));
    }

    /// Sets the handler for the `disconnect` event, called once per connection.
    ///
    /// Reconnecting, unless the client itself disconnected:
    ///
    /// ```
    /// use engineio::{Client, DisconnectReason};
    ///
    /// let eio = Client::new();
    /// let again = eio.downgrade();
    /// eio.on_disconnect(move |reason: DisconnectReason| {
    ///     if reason != DisconnectReason::ClientDisconnect {
    ///         if let Some(eio) = again.upgrade() {
    ///             let _ = eio.connect("http://localhost:5000");
    ///         }
    ///     }
    /// });
    /// ```
    pub fn on_disconnect(&self, handler: impl Fn(DisconnectReason) + Send + Sync + 'static) {
        self.aio
            .set_handler(|h| h.disconnect = Some(Handler::Blocking(Arc::new(handler))));
    }

    /// Connects to an Engine.IO server, blocking until the connection is open (and the
    /// `connect` handler has run) or has failed.
    ///
    /// Called from a handler (to reconnect from `on_disconnect`, say), it returns once the
    /// connection is open; the `connect` handler runs after the current handler returns.
    ///
    /// ```
    /// use engineio::{Client, Error};
    ///
    /// // A port that was just free: the connection is refused.
    /// let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    /// let eio = Client::new();
    /// match eio.connect(&format!("http://127.0.0.1:{port}")) {
    ///     Ok(()) => println!("my sid is {}", eio.sid().unwrap_or_default()),
    ///     Err(Error::Connect { failure, .. }) => println!("cannot connect: {failure}"),
    ///     Err(e) => return Err(e.into()),
    /// }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn connect(&self, url: &str) -> Result<(), Error> {
        // From a handler, the `connect` handler can only run once that handler returns.
        let from_handler = ON_DISPATCH_THREAD.with(Cell::get);
        futures::executor::block_on(self.aio.connect_and_wait(url, !from_handler))
    }

    /// The session id, while connected.
    ///
    /// ```no_run
    /// let eio = engineio::Client::new();
    /// assert_eq!(eio.sid(), None);
    /// eio.connect("http://localhost:5000")?;
    /// println!("my sid is {}", eio.sid().unwrap_or_default());
    /// # Ok::<(), engineio::Error>(())
    /// ```
    pub fn sid(&self) -> Option<String> {
        self.aio.sid()
    }

    /// The transport in use, while connected.
    ///
    /// ```no_run
    /// use engineio::{Client, TransportKind};
    ///
    /// let eio = Client::new();
    /// eio.connect("http://localhost:5000")?;
    /// // Polling first; the upgrade to WebSocket follows in the background.
    /// if eio.transport() == Some(TransportKind::WebSocket) {
    ///     println!("upgraded");
    /// }
    /// # Ok::<(), engineio::Error>(())
    /// ```
    pub fn transport(&self) -> Option<TransportKind> {
        self.aio.transport()
    }

    /// Sets a header of the next connection's requests and reconnection attempts; see
    /// [`AsyncClient::set_header`].
    pub fn set_header(&self, name: &str, value: &str) -> Result<(), Error> {
        self.aio.set_header(name, value)
    }

    /// Removes a header from the next connection's requests.
    pub fn remove_header(&self, name: &str) {
        self.aio.remove_header(name);
    }

    /// Sets a query parameter of the next connection's requests; see
    /// [`AsyncClient::set_query`].
    pub fn set_query(&self, key: &str, value: &str) {
        self.aio.set_query(key, value);
    }

    /// The protocol version spoken, [`Protocol::V4`](crate::Protocol::V4) or [`Protocol::V3`](crate::Protocol::V3), while
    /// connected; `None` otherwise.
    pub fn protocol(&self) -> Option<crate::Protocol> {
        self.aio.protocol()
    }

    /// What the connection has carried so far, while connected; see
    /// [`AsyncClient::stats`].
    pub fn stats(&self) -> Option<crate::ConnectionStats> {
        self.aio.stats()
    }

    /// Sends a message (text, binary or JSON); see [`AsyncClient::send`].
    ///
    /// ```no_run
    /// let eio = engineio::Client::new();
    /// eio.connect("http://localhost:5000")?;
    /// eio.send("text")?;
    /// eio.send(vec![0xde, 0xad, 0xbe, 0xef])?;
    /// eio.send(serde_json::json!({"foo": "bar"}))?;
    /// # Ok::<(), engineio::Error>(())
    /// ```
    pub fn send(&self, data: impl Into<Payload>) -> Result<(), SendError> {
        futures::executor::block_on(self.aio.send(data))
    }

    /// Disconnects, blocking until the connection is closed. The `disconnect` handler runs
    /// right after on the dispatch thread; [`wait`](Self::wait) waits for it too.
    ///
    /// ```no_run
    /// let eio = engineio::Client::new();
    /// eio.connect("http://localhost:5000")?;
    /// eio.send("bye")?; // goes out before the close packet
    /// eio.disconnect()?;
    /// eio.wait(); // and the `disconnect` handler has run
    /// # Ok::<(), engineio::Error>(())
    /// ```
    pub fn disconnect(&self) -> Result<(), Error> {
        futures::executor::block_on(self.aio.disconnect())
    }

    /// Blocks until the connection ends, for any reason, and the `disconnect` handler has
    /// run. Returns at once when not connected. Not to be called from a handler.
    ///
    /// ```no_run
    /// let eio = engineio::Client::new();
    /// eio.on_message(|data| println!("{data:?}"));
    /// eio.connect("http://localhost:5000")?;
    /// eio.wait(); // until the server closes the connection, or it fails
    /// # Ok::<(), engineio::Error>(())
    /// ```
    pub fn wait(&self) {
        futures::executor::block_on(self.aio.wait());
    }

    /// Runs `task` on a thread of its own; join the handle for its result.
    ///
    /// ```
    /// let eio = engineio::Client::new();
    /// let task = eio.start_background_task(|| 6 * 7);
    /// assert_eq!(task.join().unwrap(), 42);
    /// ```
    pub fn start_background_task<F, T>(&self, task: F) -> JoinHandle<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        std::thread::spawn(task)
    }

    /// Sleeps the calling thread.
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    ///
    /// let eio = engineio::Client::new();
    /// let start = Instant::now();
    /// eio.sleep(Duration::from_millis(10));
    /// assert!(start.elapsed() >= Duration::from_millis(10));
    /// ```
    pub fn sleep(&self, duration: Duration) {
        std::thread::sleep(duration);
    }

    /// A handle that does not keep the client alive: what a handler should hold to use its
    /// own client.
    ///
    /// ```
    /// let eio = engineio::Client::new();
    /// let weak = eio.downgrade();
    /// assert!(weak.upgrade().is_some());
    /// drop(eio);
    /// assert!(weak.upgrade().is_none());
    /// ```
    pub fn downgrade(&self) -> WeakClient {
        WeakClient {
            aio: self.aio.downgrade(),
        }
    }

    /// The async client underneath, for code that has both styles.
    ///
    /// Its event stream, read from a thread:
    ///
    /// ```no_run
    /// use engineio::{Client, ClientEvent};
    ///
    /// let eio = Client::new();
    /// let events = futures::executor::block_on_stream(eio.as_async().events());
    /// eio.connect("http://localhost:5000")?;
    /// for event in events {
    ///     println!("{event:?}");
    ///     if let ClientEvent::Disconnect(_) = event {
    ///         break;
    ///     }
    /// }
    /// # Ok::<(), engineio::Error>(())
    /// ```
    pub fn as_async(&self) -> &AsyncClient {
        &self.aio
    }
}

/// A handle on a [`Client`] that does not keep it alive. Made by [`Client::downgrade`].
#[derive(Clone, Debug)]
pub struct WeakClient {
    aio: crate::WeakAsyncClient,
}

impl WeakClient {
    /// The client, if it still exists.
    pub fn upgrade(&self) -> Option<Client> {
        Some(Client {
            aio: self.aio.upgrade()?,
        })
    }
}

impl ClientBuilder {
    /// Builds a blocking [`Client`]. Without a runtime given to
    /// [`runtime`](ClientBuilder::runtime), it runs on this crate's own (see [`Client`]).
    ///
    /// ```
    /// let eio = engineio::ClientBuilder::new()
    ///     .engineio_path("socket.io")
    ///     .logger(false)
    ///     .build_blocking()?;
    /// # let _ = eio;
    /// # Ok::<(), engineio::Error>(())
    /// ```
    pub fn build_blocking(self) -> Result<Client, Error> {
        #[cfg(any(feature = "tokio", feature = "smol", feature = "async-std"))]
        let this = if self.has_runtime() {
            self
        } else {
            self.runtime(Runtime::detached())
        };
        #[cfg(not(any(feature = "tokio", feature = "smol", feature = "async-std")))]
        let this = self;
        this.try_into_config().map(Client::from_config)
    }
}
