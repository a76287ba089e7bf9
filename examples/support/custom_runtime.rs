//! A runtime for the client made of parts that belong to no async runtime:
//! `futures::executor::ThreadPool` to spawn, one thread as the timer, and async-net
//! sockets (whose reactor needs no executor). Shared by the `custom_executor` example and
//! the interop tests.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use engineio::rt::{Dialer, Io, Runtime, Spawner, Timer};
use futures::channel::oneshot;
use futures::executor::ThreadPool;
use futures::future::BoxFuture;

/// Spawns on a `futures` thread pool.
struct PoolSpawner(ThreadPool);

impl Spawner for PoolSpawner {
    fn spawn(&self, task: BoxFuture<'static, ()>) {
        self.0.spawn_ok(task);
    }
}

/// A timer thread that wakes sleepers in deadline order.
struct ThreadTimer {
    shared: Arc<(Mutex<BinaryHeap<Reverse<Sleeper>>>, Condvar)>,
}

struct Sleeper(Instant, u64, oneshot::Sender<()>);

impl PartialEq for Sleeper {
    fn eq(&self, other: &Self) -> bool {
        (self.0, self.1) == (other.0, other.1)
    }
}
impl Eq for Sleeper {}
impl PartialOrd for Sleeper {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Sleeper {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.0, self.1).cmp(&(other.0, other.1))
    }
}

impl ThreadTimer {
    fn new() -> ThreadTimer {
        let shared: Arc<(Mutex<BinaryHeap<Reverse<Sleeper>>>, Condvar)> = Arc::default();
        let s = shared.clone();
        std::thread::spawn(move || {
            let (heap, cv) = &*s;
            let mut heap = heap.lock().unwrap();
            loop {
                let now = Instant::now();
                while heap.peek().is_some_and(|Reverse(top)| top.0 <= now) {
                    if let Some(Reverse(Sleeper(_, _, tx))) = heap.pop() {
                        let _ = tx.send(());
                    }
                }
                let next = heap.peek().map(|Reverse(top)| top.0);
                heap = match next {
                    Some(at) => cv.wait_timeout(heap, at - now).unwrap().0,
                    None => cv.wait(heap).unwrap(),
                };
            }
        });
        ThreadTimer { shared }
    }
}

impl Timer for ThreadTimer {
    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()> {
        self.sleep_until(Instant::now() + duration)
    }

    fn sleep_until(&self, deadline: Instant) -> BoxFuture<'static, ()> {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let (tx, rx) = oneshot::channel();
        let id = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let (heap, cv) = &*self.shared;
        heap.lock()
            .unwrap()
            .push(Reverse(Sleeper(deadline, id, tx)));
        cv.notify_one();
        Box::pin(async move {
            let _ = rx.await;
        })
    }
}

/// TCP from async-net.
struct NetDialer;

#[async_trait]
impl Dialer for NetDialer {
    async fn dial(&self, host: &str, port: u16) -> std::io::Result<Box<dyn Io>> {
        let s = async_net::TcpStream::connect((host, port)).await?;
        s.set_nodelay(true)?;
        Ok(Box::new(s))
    }
}

/// The runtime made of the three parts above.
pub fn custom_runtime() -> Runtime {
    let pool = ThreadPool::builder()
        .pool_size(2)
        .create()
        .expect("thread pool");
    Runtime::new(
        Arc::new(PoolSpawner(pool)),
        Arc::new(ThreadTimer::new()),
        Arc::new(NetDialer),
    )
}
