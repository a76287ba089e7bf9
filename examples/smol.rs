//! python-engineio's client walkthrough, section by section, on smol (feature `smol`).
//! This file creates the client; the sections after that are in `support/walkthrough.rs`,
//! shared with the other async examples.
//!
//! `cargo run --example smol --features smol` starts an Engine.IO server in this process
//! (engineioxide, which echoes every message) and runs against it;
//! `cargo run --example smol --features smol -- http://localhost:5000` runs against yours.

use std::process::ExitCode;

use engineio::AsyncClient;

#[path = "../tests/common/embedded.rs"]
mod embedded;
#[path = "support/walkthrough.rs"]
mod walkthrough;
use walkthrough::walkthrough;

async fn run(url: &str) -> Result<(), engineio::Error> {
    // Creating a client instance, on smol.
    let eio = AsyncClient::with_runtime(engineio::adapters::smol::runtime());
    walkthrough(&eio, url).await
}

fn main() -> ExitCode {
    // The server's URL, or no argument: then a server starts in this process.
    let server = embedded::server_for_example();
    let result = smol::block_on(run(&server.url));
    server.finish(result, "error")
}
