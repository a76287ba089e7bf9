//! The smol adapter (feature `smol`): smol's global executor, async-io timers and
//! async-net sockets.

use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use futures::future::BoxFuture;

use crate::rt::{Dialer, Io, Spawner, Timer};

/// Spawns detached tasks on smol's global executor.
#[derive(Clone, Copy, Debug, Default)]
pub struct SmolSpawner;

/// Sleeps with async-io timers.
#[derive(Clone, Copy, Debug, Default)]
pub struct SmolTimer;

/// Opens async-net `TcpStream`s.
#[derive(Clone, Copy, Debug, Default)]
pub struct SmolDialer;

/// The three smol implementations as a [`Runtime`](crate::Runtime).
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
