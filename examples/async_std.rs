//! python-engineio's client walkthrough, section by section, on async-std (feature
//! `async-std`).
//!
//! `cargo run --example async_std --features async-std` starts an Engine.IO server in this
//! process (engineioxide, which echoes every message) and runs against it;
//! `cargo run --example async_std --features async-std -- http://localhost:5000` runs
//! against yours.

use std::process::ExitCode;
use std::time::Duration;

use engineio::{AsyncClient, DisconnectReason, Payload};

#[path = "../tests/common/embedded.rs"]
mod embedded;

async fn my_background_task(eio: AsyncClient, my_argument: u32) {
    // do some background work here!
    eio.sleep(Duration::from_millis(500)).await;
    let message = format!("hello from background task {my_argument}");
    println!("background task sends {message:?}");
    eio.send(message).await.ok();
}

async fn run(url: &str) -> Result<(), engineio::Error> {
    // Creating a client instance, on async-std.
    let eio = AsyncClient::with_runtime(engineio::adapters::async_std::runtime());

    // Defining event handlers.
    eio.on_connect(|| async { println!("I'm connected!") });
    eio.on_message(|data: Payload| async move { println!("I received a message! {data:?}") });
    eio.on_disconnect(|reason: DisconnectReason| async move {
        match reason {
            DisconnectReason::ClientDisconnect => println!("client disconnection"),
            DisconnectReason::ServerDisconnect(_) => println!("the server kicked me out"),
            other => println!("disconnect reason: {other:#}"),
        }
    });

    // Connecting to a server.
    eio.connect(url).await?;
    println!("my sid is {}", eio.sid().unwrap_or_default());

    // Sending messages: text, binary and JSON.
    eio.send("hello").await?;
    eio.send(vec![1u8, 2, 3]).await?;
    eio.send(serde_json::json!({"foo": "bar"})).await?;

    // Managing background tasks.
    eio.start_background_task(my_background_task(eio.clone(), 123));
    eio.sleep(Duration::from_secs(1)).await;

    // Disconnecting, and waiting for the end of the connection.
    eio.disconnect().await?;
    eio.wait().await;
    Ok(())
}

fn main() -> ExitCode {
    // The server's URL, or no argument: then a server starts in this process.
    let server = embedded::server_for_example();
    let result = async_std::task::block_on(run(&server.url));
    server.finish(result, "error")
}
