//! A walk through one Engine.IO session with the protocol core.
//!
//! The core does no I/O, so this example plays the server's part itself, with the exact
//! bytes a node engine.io 6 server sends: a handshake over long-polling, a message each
//! way, a heartbeat, the upgrade to WebSocket, binary and JSON messages, and a clean close.
//! Every request and frame the client decides on is printed, then every event.
//!
//! Run it with `cargo run --example quickstart`.

use std::time::Instant;

use bytes::Bytes;
use engineio::{Endpoint, Event, Frame, Request, Session, SessionConfig, Transmit};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let now = Instant::now();
    let endpoint = Endpoint::parse("http://localhost:5000")?;
    let mut session = Session::new(endpoint, SessionConfig::default(), now);

    println!("-- connect");
    let get = flush(&mut session, now);
    expect_get(&get)?;
    session.handle_response(
        now,
        Request::Get,
        200,
        Bytes::from_static(
            br#"0{"sid":"lv_VI97HAXpY6yYWAAAC","upgrades":["websocket"],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}"#,
        ),
    );
    println!("my sid is {}", session.sid().unwrap_or("?"));

    println!("-- send a message while polling; the server pings");
    session.send("hello")?;
    flush(&mut session, now);
    session.handle_response(now, Request::Post, 200, Bytes::from_static(b"ok"));
    session.handle_response(now, Request::Get, 200, Bytes::from_static(b"4welcome\x1e2"));
    flush(&mut session, now);
    session.handle_response(now, Request::Post, 200, Bytes::from_static(b"ok"));

    println!("-- upgrade to WebSocket");
    session.handle_ws_connected(now);
    flush(&mut session, now);
    session.handle_ws_frame(now, Frame::Text("3probe".into()));
    flush(&mut session, now);
    // The server releases the pending poll with a noop; the client then switches.
    session.handle_response(now, Request::Get, 200, Bytes::from_static(b"6"));
    flush(&mut session, now);

    println!("-- binary and JSON over WebSocket");
    session.send(vec![1u8, 2, 3, 4])?;
    session.send(serde_json::json!({"foo": "bar"}))?;
    flush(&mut session, now);
    session.handle_ws_frame(now, Frame::Binary(Bytes::from_static(&[1, 2, 3, 4])));
    session.handle_ws_frame(now, Frame::Text(r#"4{"foo":"bar"}"#.into()));

    println!("-- disconnect");
    session.close();
    flush(&mut session, now);
    while let Some(event) = session.poll_event() {
        match event {
            Event::Disconnected(reason) => println!("event: disconnected: {reason}"),
            other => println!("event: {other:?}"),
        }
    }
    Ok(())
}

/// Prints every transmit the session wants, and the events so far; returns the transmits.
fn flush(session: &mut Session, now: Instant) -> Vec<Transmit> {
    let mut out = Vec::new();
    while let Some(t) = session.poll_transmit(now) {
        match &t {
            Transmit::Get { uri } => println!("client: GET {uri}"),
            Transmit::Post { uri, body } => {
                println!("client: POST {uri} {:?}", String::from_utf8_lossy(body))
            }
            Transmit::WsOpen { uri } => println!("client: open WebSocket {uri}"),
            Transmit::WsSend(Frame::Text(t)) => println!("client: ws text {t:?}"),
            Transmit::WsSend(Frame::Binary(b)) => println!("client: ws binary {b:?}"),
            Transmit::WsClose => println!("client: close WebSocket"),
        }
        out.push(t);
    }
    while let Some(event) = session.poll_event() {
        println!("event: {event:?}");
    }
    out
}

fn expect_get(ts: &[Transmit]) -> Result<(), String> {
    match ts.first() {
        Some(Transmit::Get { .. }) => Ok(()),
        other => Err(format!("expected the handshake GET, got {other:?}")),
    }
}
