//! The smol adapter (feature `smol`): smol's global executor, async-io timers and
//! async-net sockets.

use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use futures::future::BoxFuture;

use crate::rt::{Dialer, Io, Spawner, Timer};

/// Spawns detached tasks on smol's global executor.
///
/// ```
/// use engineio::adapters::smol::SmolSpawner;
/// use engineio::rt::Spawner;
///
/// let (tx, rx) = std::sync::mpsc::channel();
/// SmolSpawner.spawn(Box::pin(async move { tx.send(42).unwrap() }));
/// assert_eq!(rx.recv().unwrap(), 42);
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct SmolSpawner;

/// Sleeps with async-io timers.
///
/// ```
/// use std::time::{Duration, Instant};
/// use engineio::adapters::smol::SmolTimer;
/// use engineio::rt::Timer;
///
/// let start = Instant::now();
/// smol::block_on(SmolTimer.sleep(Duration::from_millis(10)));
/// assert!(start.elapsed() >= Duration::from_millis(10));
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct SmolTimer;

/// Opens async-net `TcpStream`s.
///
/// ```
/// use engineio::adapters::smol::SmolDialer;
/// use engineio::rt::Dialer;
///
/// let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
/// let port = listener.local_addr()?.port();
/// let stream = smol::block_on(SmolDialer.dial("127.0.0.1", port))?;
/// # let _ = stream;
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct SmolDialer;

/// The three smol implementations as a [`Runtime`](crate::Runtime).
///
/// ```
/// use engineio::AsyncClient;
///
/// let eio = AsyncClient::with_runtime(engineio::adapters::smol::runtime());
/// smol::block_on(async {
///     let task = eio.start_background_task(async { 6 * 7 });
///     assert_eq!(task.await, Some(42));
/// });
/// ```
pub fn runtime() -> crate::Runtime {
    crate::Runtime::new(
        Arc::new(SmolSpawner),
        Arc::new(SmolTimer),
        Arc::new(SmolDialer),
    )
}

impl Spawner for SmolSpawner {
    fn spawn(&self, task: BoxFuture<'static, ()>) {
        ::smol::spawn(task).detach();
    }
}

impl Timer for SmolTimer {
    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()> {
        let t = ::smol::Timer::after(duration);
        Box::pin(async move {
            t.await;
        })
    }

    fn sleep_until(&self, deadline: Instant) -> BoxFuture<'static, ()> {
        let t = ::smol::Timer::at(deadline);
        Box::pin(async move {
            t.await;
        })
    }
}

#[async_trait]
impl Dialer for SmolDialer {
    async fn dial(&self, host: &str, port: u16) -> io::Result<Box<dyn Io>> {
        let s = ::smol::net::TcpStream::connect((host, port)).await?;
        s.set_nodelay(true)?;
        Ok(Box::new(s))
    }
}
