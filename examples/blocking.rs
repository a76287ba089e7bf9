//! python-engineio's client walkthrough, section by section, with the blocking `Client`:
//! plain threads, no async code at all.
//!
//! `cargo run --example blocking` starts an Engine.IO server in this process (engineioxide,
//! which echoes every message) and runs against it;
//! `cargo run --example blocking -- http://localhost:5000` runs against yours.

use std::process::ExitCode;
use std::time::Duration;

use engineio::{Client, DisconnectReason, Payload};

#[path = "../tests/common/embedded.rs"]
mod embedded;

fn my_background_task(eio: Client, my_argument: u32) {
    // do some background work here!
    eio.sleep(Duration::from_millis(500));
    let message = format!("hello from background task {my_argument}");
    println!("background task sends {message:?}");
    eio.send(message).ok();
}

fn run(url: &str) -> Result<(), engineio::Error> {
    // Creating a client instance.
    let eio = Client::new();

    // Defining event handlers: plain closures, run in order on one dispatch thread.
    eio.on_connect(|| println!("I'm connected!"));
    eio.on_message(|data: Payload| println!("I received a message! {data:?}"));
    eio.on_disconnect(|reason: DisconnectReason| match reason {
        DisconnectReason::ClientDisconnect => println!("client disconnection"),
        DisconnectReason::ServerDisconnect(_) => println!("the server kicked me out"),
        other => println!("disconnect reason: {other:#}"),
    });

    // Connecting to a server.
    eio.connect(url)?;
    println!("my sid is {}", eio.sid().unwrap_or_default());

    // Sending messages: text, binary and JSON.
    eio.send("hello")?;
    eio.send(vec![1u8, 2, 3])?;
    eio.send(serde_json::json!({"foo": "bar"}))?;

    // Managing background tasks: each on a thread of its own.
    let client = eio.clone();
    let task = eio.start_background_task(move || my_background_task(client, 123));
    eio.sleep(Duration::from_secs(1));
    let _ = task.join();

    // Disconnecting, and waiting for the end of the connection.
    eio.disconnect()?;
    eio.wait();
    Ok(())
}

fn main() -> ExitCode {
    // The server's URL, or no argument: then a server starts in this process.
    let server = embedded::server_for_example();
    let result = run(&server.url);
    server.finish(result, "error")
}
