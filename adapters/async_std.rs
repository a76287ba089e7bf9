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
#[derive(Clone, Copy, Debug, Default)]
pub struct AsyncStdSpawner;

/// Sleeps with async-std's timer.
#[derive(Clone, Copy, Debug, Default)]
pub struct AsyncStdTimer;

/// Opens async-std `TcpStream`s.
#[derive(Clone, Copy, Debug, Default)]
pub struct AsyncStdDialer;

/// The three async-std implementations as a [`Runtime`](crate::Runtime).
pub fn runtime() -> crate::Runtime {
    crate::Runtime::new(
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
}
