//! python-engineio's client walkthrough, section by section, on an executor that is
//! neither tokio, smol nor async-std: `futures::executor::ThreadPool`, with a timer backed
//! by one thread and sockets from async-net (whose reactor needs no executor), put together
//! in `support/custom_runtime.rs`. This file creates the client; the sections after that
//! are in `support/walkthrough.rs`, shared with the other async examples.
//!
//! Run it against any Engine.IO server:
//! `cargo run --example custom_executor -- http://localhost:5000`

use engineio::AsyncClient;

#[path = "support/custom_runtime.rs"]
mod custom_runtime;
use custom_runtime::custom_runtime;
#[path = "support/walkthrough.rs"]
mod walkthrough;
use walkthrough::walkthrough;

fn main() -> Result<(), engineio::Error> {
    let url = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "http://localhost:5000".to_owned());
    futures::executor::block_on(async {
        // Creating a client instance, on the custom runtime.
        let eio = AsyncClient::with_runtime(custom_runtime());
        walkthrough(&eio, &url).await
    })
}
