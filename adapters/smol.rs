//! The smol adapter (feature `smol`): smol's global executor, async-io timers and
//! async-io sockets.

use std::io;
use std::net::TcpStream;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use futures::future::BoxFuture;
use futures::io::{AsyncRead, AsyncWrite};
use smol::Async;

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

/// The three smol implementations as a [`Runtime`](crate::rt::Runtime).
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
pub fn runtime() -> crate::rt::Runtime {
    crate::rt::Runtime::new(
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
        let mut last = None;
        for addr in ::smol::net::resolve((host, port)).await? {
            match Async::<TcpStream>::connect(addr).await {
                Ok(io) => {
                    io.get_ref().set_nodelay(true)?;
                    return Ok(Box::new(SmolStream { io, drained: false }));
                }
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| {
            io::Error::new(
                io::ErrorKind::NotFound,
                format!("{host}: no address to connect to"),
            )
        }))
    }

    async fn resolve(&self, host: &str, port: u16) -> io::Result<Vec<std::net::SocketAddr>> {
        ::smol::net::resolve((host, port)).await
    }
}

/// A TCP stream on smol's reactor that, like tokio's, takes a short read as a sign that
/// the socket is empty: the next read waits for the reactor to report it readable
/// instead of trying a read that would block. On a connection where messages arrive one
/// at a time this halves the read system calls.
struct SmolStream {
    io: Async<TcpStream>,
    drained: bool,
}

impl AsyncRead for SmolStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        if self.drained {
            ready!(self.io.poll_readable(cx))?;
            self.drained = false;
        }
        let n = ready!(Pin::new(&mut self.io).poll_read(cx, buf))?;
        self.drained = n > 0 && n < buf.len();
        Poll::Ready(Ok(n))
    }
}

impl AsyncWrite for SmolStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_close(cx)
    }
}
