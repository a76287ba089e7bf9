//! One Engine.IO session, start to finish.
//!
//! `cargo run --example quickstart` starts an Engine.IO server in this process (engineioxide,
//! on 127.0.0.1, echoing every message), connects to it over long-polling, waits for the
//! upgrade to WebSocket, sends text, binary and JSON, prints what comes back, and
//! disconnects.
//!
//! `cargo run --example quickstart -- http://localhost:5000` does the same against your own
//! server; a server that does not echo is reported, not waited for.

use std::process::ExitCode;
use std::time::Duration;

use engineio::{AsyncClient, ClientEvent, DisconnectReason, Payload, TransportKind};
use futures::StreamExt;
use futures::channel::mpsc::{self, UnboundedReceiver};
use serde_json::{Value, json};
use tokio::time::timeout;

#[path = "../tests/common/embedded.rs"]
mod embedded;

/// How long to wait for each echo before saying that nothing came back.
const REPLY_TIMEOUT: Duration = Duration::from_secs(2);

#[tokio::main]
async fn main() -> ExitCode {
    // The server's URL, or no argument: then a server starts in this process.
    let server = embedded::server_for_example();
    let result = run(&server.url).await;
    server.finish(result, "quickstart failed")
}

async fn run(url: &str) -> Result<(), engineio::Error> {
    let eio = AsyncClient::new(); // on tokio, the default runtime

    // Handlers. Messages go into a channel, so that each reply prints next to what was sent.
    let (inbox_tx, mut inbox) = mpsc::unbounded();
    eio.on_connect(|| async { println!("connected") });
    eio.on_message(move |data: Payload| {
        let inbox_tx = inbox_tx.clone();
        async move {
            inbox_tx.unbounded_send(data).ok();
        }
    });
    eio.on_disconnect(|reason: DisconnectReason| async move {
        println!("disconnected: {reason}");
    });

    // The event stream tells of the upgrade; made before `connect`, it sees everything.
    let mut events = eio.events();
    println!("connecting to {url}");
    eio.connect(url).await?;
    let sid = eio.sid().unwrap_or_default();
    let transport = eio.transport().map_or("-", TransportKind::as_str);
    println!("sid:       {sid}");
    println!("transport: {transport}");

    // The session opens on long-polling; the client upgrades it to WebSocket by itself.
    let upgrade = async {
        while let Some(event) = events.next().await {
            if event == ClientEvent::Upgraded {
                return;
            }
        }
    };
    match timeout(Duration::from_secs(5), upgrade).await {
        Ok(()) => println!("upgraded:  websocket"),
        Err(_) => println!("no upgrade within 5 s: staying on long-polling"),
    }
    // Unread, the stream would keep every message for itself: let it go.
    drop(events);
    while let Ok(data) = inbox.try_recv() {
        println!("received:  {} (before we sent anything)", describe(&data));
    }

    let text = "héllo wörld, こんにちは 👋";
    println!("sent:      text {text:?}");
    eio.send(text).await?;
    if let Some(reply) = next_reply(&mut inbox).await {
        println!("received:  {}", describe(&reply));
    }

    let bytes = vec![0xde, 0xad, 0xbe, 0xef];
    println!("sent:      binary {bytes:02x?}");
    eio.send(bytes).await?;
    if let Some(reply) = next_reply(&mut inbox).await {
        println!("received:  {}", describe(&reply));
    }

    let value = json!({"foo": "bar", "n": [1, 2, 3]});
    println!("sent:      JSON {value}");
    eio.send(value).await?; // JSON travels as text
    if let Some(reply) = next_reply(&mut inbox).await {
        match reply.json::<Value>() {
            Ok(value) => println!("received:  JSON {value}"),
            Err(_) => println!("received:  {}", describe(&reply)),
        }
    }

    println!("disconnecting");
    eio.disconnect().await?;
    eio.wait().await; // returns once the disconnect handler has run
    Ok(())
}

/// The next message from the server, or `None` (said out loud) after `REPLY_TIMEOUT`.
async fn next_reply(inbox: &mut UnboundedReceiver<Payload>) -> Option<Payload> {
    let reply = timeout(REPLY_TIMEOUT, inbox.next()).await.ok().flatten();
    if reply.is_none() {
        println!("received:  nothing within {REPLY_TIMEOUT:?} (does the server echo?)");
    }
    reply
}

fn describe(data: &Payload) -> String {
    match data {
        Payload::Text(text) => format!("text {text:?}"),
        Payload::Binary(bytes) => format!("binary {:02x?}", &bytes[..]),
    }
}
