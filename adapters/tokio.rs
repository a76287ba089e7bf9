//! The tokio adapter (feature `tokio`).
//!
//! Every type here holds a [`Handle`] captured when it is made, so nothing panics for lack
//! of a "current runtime", whichever thread later polls the client's futures.

use std::io;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use ::tokio::net::TcpStream;
use ::tokio::runtime::{Builder, Handle, Runtime as TokioRt};
use async_trait::async_trait;
use futures::future::BoxFuture;
use tokio_util::compat::TokioAsyncReadCompatExt;

use crate::rt::{Dialer, Io, Spawner, Timer};

/// Spawns tasks on a tokio runtime.
///
/// ```
/// use engineio::adapters::tokio::{TokioSpawner, handle};
/// use engineio::rt::Spawner;
///
/// let (tx, rx) = std::sync::mpsc::channel();
/// TokioSpawner::new(handle()).spawn(Box::pin(async move { tx.send(42).unwrap() }));
/// assert_eq!(rx.recv().unwrap(), 42);
/// ```
#[derive(Clone, Debug)]
pub struct TokioSpawner(Handle);

/// Sleeps on a tokio runtime's timer.
///
/// Its sleeps can be awaited from any executor, not only tokio's:
///
/// ```
/// use std::time::{Duration, Instant};
/// use engineio::adapters::tokio::{TokioTimer, handle};
/// use engineio::rt::Timer;
///
/// let timer = TokioTimer::new(handle());
/// let start = Instant::now();
/// futures::executor::block_on(timer.sleep(Duration::from_millis(10)));
/// assert!(start.elapsed() >= Duration::from_millis(10));
/// ```
#[derive(Clone, Debug)]
pub struct TokioTimer(Handle);

/// Opens `TcpStream`s on a tokio runtime's reactor.
///
/// The streams can be used from any executor, not only tokio's:
///
/// ```
/// use engineio::adapters::tokio::{TokioDialer, handle};
/// use engineio::rt::Dialer;
///
/// let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
/// let port = listener.local_addr()?.port();
/// let dialer = TokioDialer::new(handle());
/// let stream = futures::executor::block_on(dialer.dial("127.0.0.1", port))?;
/// # let _ = stream;
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct TokioDialer(Handle);

/// The handle of the runtime the caller runs in or, outside any runtime, of the
/// [`background`] runtime.
///
/// ```
/// // No runtime here: the background one serves.
/// let handle = engineio::adapters::tokio::handle();
/// assert_eq!(handle.block_on(async { 1 + 1 }), 2);
/// ```
///
/// # Panics
///
/// Only if the background runtime is needed and the operating system refuses its thread
/// or its event queue.
pub fn handle() -> Handle {
    Handle::try_current().unwrap_or_else(|_| background())
}

/// The handle of a small multi-threaded runtime (one worker) that this crate starts on first
/// use and keeps for the life of the process. The blocking `Client` always runs on it, so
/// that it never depends on (or blocks) a runtime of the caller's.
///
/// ```
/// let background = engineio::adapters::tokio::background();
/// let task = background.spawn(async { 6 * 7 });
/// assert_eq!(background.block_on(task)?, 42);
/// # Ok::<(), tokio::task::JoinError>(())
/// ```
///
/// # Panics
///
/// If the operating system refuses the runtime's thread or its event queue.
pub fn background() -> Handle {
    static BACKGROUND: OnceLock<TokioRt> = OnceLock::new();
    BACKGROUND
        .get_or_init(|| {
            Builder::new_multi_thread()
                .worker_threads(1)
                .thread_name("engineio-tokio")
                .enable_all()
                .build()
                .unwrap_or_else(|e| panic!("cannot start the background tokio runtime: {e}"))
        })
        .handle()
        .clone()
}

/// The three tokio implementations on one runtime, as a [`Runtime`](crate::rt::Runtime).
///
/// ```
/// let rt = engineio::adapters::tokio::runtime(engineio::adapters::tokio::handle());
/// # let _ = rt;
/// ```
pub fn runtime(handle: Handle) -> crate::rt::Runtime {
    crate::rt::Runtime::new(
        Arc::new(TokioSpawner(handle.clone())),
        Arc::new(TokioTimer(handle.clone())),
        Arc::new(TokioDialer(handle)),
    )
}

impl TokioSpawner {
    /// A spawner for the runtime behind `handle`.
    pub fn new(handle: Handle) -> Self {
        TokioSpawner(handle)
    }
}

impl TokioTimer {
    /// A timer on the runtime behind `handle` (which must have its time driver enabled).
    pub fn new(handle: Handle) -> Self {
        TokioTimer(handle)
    }
}

impl TokioDialer {
    /// A dialer on the runtime behind `handle` (which must have its I/O driver enabled).
    pub fn new(handle: Handle) -> Self {
        TokioDialer(handle)
    }
}

impl Spawner for TokioSpawner {
    fn spawn(&self, task: BoxFuture<'static, ()>) {
        drop(self.0.spawn(task));
    }
}

impl Timer for TokioTimer {
    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()> {
        let _guard = self.0.enter();
        Box::pin(::tokio::time::sleep(duration))
    }

    fn sleep_until(&self, deadline: Instant) -> BoxFuture<'static, ()> {
        let _guard = self.0.enter();
        Box::pin(::tokio::time::sleep_until(deadline.into()))
    }
}

#[async_trait]
impl Dialer for TokioDialer {
    async fn dial(&self, host: &str, port: u16) -> io::Result<Box<dyn Io>> {
        let host = host.to_owned();
        // Connect on the runtime itself, so the socket registers with its reactor whatever
        // executor polls this future.
        let stream = self
            .0
            .spawn(async move {
                let s = TcpStream::connect((host.as_str(), port)).await?;
                s.set_nodelay(true)?;
                Ok::<_, io::Error>(s)
            })
            .await
            .map_err(io::Error::other)??;
        Ok(Box::new(stream.compat()))
    }

    async fn resolve(&self, host: &str, port: u16) -> io::Result<Vec<std::net::SocketAddr>> {
        let host = host.to_owned();
        self.0
            .spawn(async move {
                Ok(::tokio::net::lookup_host((host.as_str(), port))
                    .await?
                    .collect())
            })
            .await
            .map_err(io::Error::other)?
    }
}
