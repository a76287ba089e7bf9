//! The client on an executor that is neither tokio, smol nor async-std:
//! `futures::executor::ThreadPool`, with a timer backed by one thread and sockets from
//! async-net (whose reactor needs no executor).
//!
//! Run it against any Engine.IO server:
//! `cargo run --example custom_executor -- http://localhost:5000`

use std::time::Duration;

use engineio::{AsyncClient, Payload};

#[path = "support/custom_runtime.rs"]
mod custom_runtime;
use custom_runtime::custom_runtime;

fn main() -> Result<(), engineio::Error> {
    let url = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "http://localhost:5000".to_owned());
    futures::executor::block_on(async {
        let eio = AsyncClient::with_runtime(custom_runtime());
        eio.on_message(|data: Payload| async move { println!("received: {data:?}") });
        eio.on_disconnect(|reason| async move { println!("disconnected: {reason}") });
        eio.connect(&url).await?;
        println!("connected, sid {}", eio.sid().unwrap_or_default());
        eio.send("hello from a thread pool").await?;
        eio.sleep(Duration::from_secs(1)).await;
        eio.disconnect().await?;
        eio.wait().await;
        Ok(())
    })
}
