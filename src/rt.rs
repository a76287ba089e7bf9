//! The runtime seams: spawning, time and TCP, and the [`Runtime`] that bundles them.
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
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use futures::future::BoxFuture;
use futures::io::{AsyncRead, AsyncWrite};

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

    /// The addresses of `host` (a name or an IP address), for the proxies that take an
    /// address rather than a name (`socks5://`).
    ///
    /// The default resolves with the standard library, which blocks the calling thread
    /// while it waits for the system's resolver; the adapters use their runtime's
    /// non-blocking resolver instead.
    async fn resolve(&self, host: &str, port: u16) -> io::Result<Vec<std::net::SocketAddr>> {
        std::net::ToSocketAddrs::to_socket_addrs(&(host, port)).map(Iterator::collect)
    }
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
impl<T: Dialer + ?Sized> Dialer for Arc<T> {
    async fn dial(&self, host: &str, port: u16) -> io::Result<Box<dyn Io>> {
        (**self).dial(host, port).await
    }
    async fn resolve(&self, host: &str, port: u16) -> io::Result<Vec<std::net::SocketAddr>> {
        (**self).resolve(host, port).await
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
/// use engineio::AsyncClient;
/// use engineio::rt::Runtime;
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
    /// use engineio::AsyncClient;
    /// use engineio::rt::Runtime;
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
    /// use engineio::AsyncClient;
    /// use engineio::rt::Runtime;
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
