//! A runtime wrapper that counts the client's live tasks and live sockets, to check that
//! nothing is left running after a connection ends, whatever ended it.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use engineio::rt::{Dialer, Io, Runtime, Spawner};
use futures::future::BoxFuture;
use futures::io::{AsyncRead, AsyncWrite};

/// Live counts, shared with the wrapped runtime.
#[derive(Clone, Default)]
pub struct Counts {
    tasks: Arc<AtomicUsize>,
    sockets: Arc<AtomicUsize>,
    spawned: Arc<AtomicUsize>,
    dialed: Arc<AtomicUsize>,
}

impl Counts {
    /// Tasks spawned and not yet finished (or dropped).
    pub fn tasks(&self) -> usize {
        self.tasks.load(Ordering::SeqCst)
    }

    /// Sockets dialled and not yet dropped.
    pub fn sockets(&self) -> usize {
        self.sockets.load(Ordering::SeqCst)
    }

    /// Tasks spawned so far.
    pub fn spawned(&self) -> usize {
        self.spawned.load(Ordering::SeqCst)
    }

    /// Sockets dialled so far.
    pub fn dialed(&self) -> usize {
        self.dialed.load(Ordering::SeqCst)
    }

    /// Waits (up to `limit`, on `runtime`'s timer) until no task and no socket is live;
    /// panics with the counts otherwise.
    pub async fn drained(&self, runtime: &Runtime, label: &str, limit: Duration) {
        let start = Instant::now();
        while self.tasks() + self.sockets() > 0 {
            assert!(
                start.elapsed() < limit,
                "{label}: {} tasks and {} sockets still live after {limit:?} \
                 ({} spawned, {} dialled in all)",
                self.tasks(),
                self.sockets(),
                self.spawned(),
                self.dialed()
            );
            runtime.timer().sleep(Duration::from_millis(10)).await;
        }
    }
}

/// `runtime` with its spawner and dialer counted.
pub fn counted(runtime: &Runtime) -> (Runtime, Counts) {
    let counts = Counts::default();
    let spawner = Arc::new(CountingSpawner {
        inner: runtime.spawner().clone(),
        counts: counts.clone(),
    });
    let dialer = Arc::new(CountingDialer {
        inner: runtime.dialer().clone(),
        counts: counts.clone(),
    });
    (
        Runtime::new(spawner, runtime.timer().clone(), dialer),
        counts,
    )
}

struct CountingSpawner {
    inner: Arc<dyn Spawner>,
    counts: Counts,
}

/// Counts itself live in its counter until dropped: with the task when it finishes or is
/// dropped, with the socket when it is closed.
pub struct Live(Arc<AtomicUsize>);

impl Live {
    pub fn new(counter: &Arc<AtomicUsize>) -> Live {
        counter.fetch_add(1, Ordering::SeqCst);
        Live(counter.clone())
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Spawner for CountingSpawner {
    fn spawn(&self, task: BoxFuture<'static, ()>) {
        self.counts.spawned.fetch_add(1, Ordering::SeqCst);
        let live = Live::new(&self.counts.tasks);
        self.inner.spawn(Box::pin(async move {
            let _live = live;
            task.await
        }));
    }
}

struct CountingDialer {
    inner: Arc<dyn Dialer>,
    counts: Counts,
}

#[async_trait]
impl Dialer for CountingDialer {
    async fn dial(&self, host: &str, port: u16) -> io::Result<Box<dyn Io>> {
        let io = self.inner.dial(host, port).await?;
        self.counts.dialed.fetch_add(1, Ordering::SeqCst);
        Ok(Box::new(CountedIo {
            io,
            _live: Live::new(&self.counts.sockets),
        }))
    }
}

struct CountedIo {
    io: Box<dyn Io>,
    _live: Live,
}

impl AsyncRead for CountedIo {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl AsyncWrite for CountedIo {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_close(cx)
    }
}
