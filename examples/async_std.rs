//! python-engineio's client walkthrough, section by section, on async-std (feature
//! `async-std`). This file creates the client; the sections after that are in
//! `support/walkthrough.rs`, shared with the other async examples.
//!
//! `cargo run --example async_std --features async-std` starts an Engine.IO server in this
//! process (engineioxide, which echoes every message) and runs against it;
//! `cargo run --example async_std --features async-std -- http://localhost:5000` runs
//! against yours.

use std::process::ExitCode;

use engineio::AsyncClient;

#[path = "../tests/common/embedded.rs"]
mod embedded;
#[path = "support/walkthrough.rs"]
mod walkthrough;
use walkthrough::walkthrough;

async fn run(url: &str) -> Result<(), engineio::Error> {
    // Creating a client instance, on async-std.
    let eio = AsyncClient::with_runtime(engineio::adapters::async_std::runtime());
    walkthrough(&eio, url).await
}

fn main() -> ExitCode {
    // The server's URL, or no argument: then a server starts in this process.
    let server = embedded::server_for_example();
    let result = async_std::task::block_on(run(&server.url));
    server.finish(result, "error")
}
