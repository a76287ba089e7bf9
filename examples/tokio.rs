//! python-engineio's client walkthrough, section by section, on tokio (the default runtime).
//! This file creates the client; the sections after that are in `support/walkthrough.rs`,
//! shared with the other async examples.
//!
//! `cargo run --example tokio` starts an Engine.IO server in this process (engineioxide, which
//! echoes every message) and runs against it;
//! `cargo run --example tokio -- http://localhost:5000` runs against yours.

use std::process::ExitCode;

use engineio::AsyncClient;

#[path = "../tests/common/embedded.rs"]
mod embedded;
#[path = "support/walkthrough.rs"]
mod walkthrough;
use walkthrough::walkthrough;

async fn run(url: &str) -> Result<(), engineio::Error> {
    // Creating a client instance: with the `tokio` feature (a default), on tokio.
    let eio = AsyncClient::new();
    walkthrough(&eio, url).await
}

#[tokio::main]
async fn main() -> ExitCode {
    // The server's URL, or no argument: then a server starts in this process.
    let server = embedded::server_for_example();
    let result = run(&server.url).await;
    server.finish(result, "error")
}
