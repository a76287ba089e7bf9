//! The async-std adapter (feature `async-std`).
//!
//! async-std was discontinued upstream in 2025 in favour of smol; this adapter stays thin so
//! that existing async-std applications can embed the client. New code should prefer the
//! `smol` feature.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use futures::future::BoxFuture;

use crate::rt::{Dialer, Io, Spawner, Timer};

/// Spawns detached async-std tasks.
///
/// ```
/// use engineio::adapters::async_std::AsyncStdSpawner;
/// use engineio::rt::Spawner;
///
/// let (tx, rx) = std::sync::mpsc::channel();
/// AsyncStdSpawner.spawn(Box::pin(async move { tx.send(42).unwrap() }));
/// assert_eq!(rx.recv().unwrap(), 42);
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct AsyncStdSpawner;

/// Sleeps with async-std's timer.
///
/// ```
/// use std::time::{Duration, Instant};
/// use engineio::adapters::async_std::AsyncStdTimer;
/// use engineio::rt::Timer;
///
/// let start = Instant::now();
/// async_std::task::block_on(AsyncStdTimer.sleep(Duration::from_millis(10)));
/// assert!(start.elapsed() >= Duration::from_millis(10));
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct AsyncStdTimer;

/// Opens async-std `TcpStream`s.
///
/// ```
/// use engineio::adapters::async_std::AsyncStdDialer;
/// use engineio::rt::Dialer;
///
/// let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
/// let port = listener.local_addr()?.port();
/// let stream = async_std::task::block_on(AsyncStdDialer.dial("127.0.0.1", port))?;
/// # let _ = stream;
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct AsyncStdDialer;

/// The three async-std implementations as a [`Runtime`](crate::rt::Runtime).
///
/// ```
/// use engineio::AsyncClient;
///
/// let eio = AsyncClient::with_runtime(engineio::adapters::async_std::runtime());
/// async_std::task::block_on(async {
///     let task = eio.start_background_task(async { 6 * 7 });
///     assert_eq!(task.await, Some(42));
/// });
/// ```
pub fn runtime() -> crate::rt::Runtime {
    crate::rt::Runtime::new(
        Arc::new(AsyncStdSpawner),
        Arc::new(AsyncStdTimer),
        Arc::new(AsyncStdDialer),
    )
}

impl Spawner for AsyncStdSpawner {
    fn spawn(&self, task: BoxFuture<'static, ()>) {
        drop(::async_std::task::spawn(task));
    }
}

impl Timer for AsyncStdTimer {
    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()> {
        Box::pin(::async_std::task::sleep(duration))
    }
}

#[async_trait]
impl Dialer for AsyncStdDialer {
    async fn dial(&self, host: &str, port: u16) -> io::Result<Box<dyn Io>> {
        let s = ::async_std::net::TcpStream::connect((host, port)).await?;
        s.set_nodelay(true)?;
        Ok(Box::new(s))
    }

    async fn resolve(&self, host: &str, port: u16) -> io::Result<Vec<std::net::SocketAddr>> {
        use ::async_std::net::ToSocketAddrs;
        Ok((host, port).to_socket_addrs().await?.collect())
    }
}
