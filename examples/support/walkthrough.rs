//! python-engineio's client walkthrough, section by section, for an `AsyncClient` on any
//! runtime: defining event handlers, connecting, the sid, sending text, binary and JSON, a
//! background task, sleeping, disconnecting and waiting. Shared by the `tokio`, `smol`,
//! `async_std` and `custom_executor` examples, which differ only in how they make their
//! runtime and their client (the walkthrough's first section, "creating a client
//! instance").

use std::time::Duration;

use engineio::{AsyncClient, DisconnectReason, Payload};

async fn my_background_task(eio: AsyncClient, my_argument: u32) {
    // do some background work here!
    eio.sleep(Duration::from_millis(500)).await;
    let message = format!("hello from background task {my_argument}");
    println!("background task sends {message:?}");
    eio.send(message).await.ok();
}

/// Runs the walkthrough with `eio`, a client just created, against the server at `url`.
pub async fn walkthrough(eio: &AsyncClient, url: &str) -> Result<(), engineio::Error> {
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
