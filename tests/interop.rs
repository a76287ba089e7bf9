//! The AsyncClient against real Engine.IO servers (node engine.io 6.6.13, python-engineio
//! 4.15.1 under aiohttp and under uvicorn), on every runtime, over every transport.
//!
//! In each cell: connect and `sid`; text (multibyte UTF-8), binary and JSON round trips;
//! 1,000 messages sent while the upgrade happens arrive once each, in order; a close the
//! server chose is `server disconnect`; `disconnect()` is `client disconnect` and the server
//! sees the session end; a killed server is `transport error` at once (its sockets close).
#![cfg(all(feature = "tokio", feature = "smol", feature = "async-std"))]

mod common;

use std::future::Future;
use std::time::{Duration, Instant};

use common::{Server, ServerKind, next_event, next_message, wait_for_websocket};
use engineio::rt::Runtime;
use engineio::{
    AsyncClient, ClientEvent, DisconnectReason, Payload, TransportFailure, TransportKind,
    Transports,
};
use futures::Stream;

/// Frequent pings (in whole seconds: python-engineio announces whole seconds only), with a
/// ping timeout that tolerates a server or client starved for seconds on a loaded machine:
/// at 1 s + 1 s, a python server late by a second ended a session with a ping timeout (2 of
/// 20 runs beside two busy loops). A killed server closes its sockets, and the client
/// notices that at once, not at the ping deadline (the deadline itself is checked on the
/// manual clock in tests/harness.rs).
const PING: [(&str, &str); 2] = [
    ("EIO_PING_INTERVAL_MS", "1000"),
    ("EIO_PING_TIMEOUT_MS", "5000"),
];

async fn connect(
    runtime: &Runtime,
    transports: Transports,
    url: &str,
) -> (AsyncClient, impl Stream<Item = ClientEvent> + Unpin) {
    let eio = AsyncClient::builder()
        .runtime(runtime.clone())
        .transports(transports)
        .build()
        .unwrap();
    let events = eio.events();
    eio.connect(url)
        .await
        .unwrap_or_else(|e| panic!("connect to {url}: {e}"));
    (eio, events)
}

async fn cell(runtime: Runtime, kind: ServerKind, transports: Transports) {
    let label = format!("{kind:?}/{transports:?}");
    let mut server = Server::start(kind, &PING);
    let url = server.url();

    // Connect, sid, and round trips of each payload kind.
    let (eio, mut events) = connect(&runtime, transports, &url).await;
    assert_eq!(
        next_event(&eio, &mut events, Duration::from_secs(5)).await,
        Some(ClientEvent::Connect)
    );
    let sid = eio.sid().expect("sid");
    assert!(!sid.is_empty());
    if transports == Transports::Upgrade {
        wait_for_websocket(&eio).await;
    }
    let expected_transport = match transports {
        Transports::Polling => TransportKind::Polling,
        _ => TransportKind::WebSocket,
    };
    assert_eq!(eio.transport(), Some(expected_transport), "{label}");

    eio.send("héllo €😀").await.unwrap();
    assert_eq!(
        next_message(&eio, &mut events, &label).await,
        Payload::from("héllo €😀"),
        "{label}"
    );
    eio.send(vec![0u8, 1, 2, 255]).await.unwrap();
    assert_eq!(
        next_message(&eio, &mut events, &label).await,
        Payload::from(vec![0u8, 1, 2, 255]),
        "{label}"
    );
    eio.send(serde_json::json!({"foo": "bar", "n": [1, 2]}))
        .await
        .unwrap();
    let json: serde_json::Value = next_message(&eio, &mut events, &label)
        .await
        .json()
        .unwrap();
    assert_eq!(
        json,
        serde_json::json!({"foo": "bar", "n": [1, 2]}),
        "{label}"
    );
    eio.send("").await.unwrap();
    assert_eq!(
        next_message(&eio, &mut events, &label).await,
        Payload::from(""),
        "{label}"
    );
    eio.send("binary 00ff").await.unwrap();
    assert_eq!(
        next_message(&eio, &mut events, &label).await,
        Payload::from(vec![0u8, 255]),
        "{label}"
    );

    // A close the server chose.
    eio.send("close").await.unwrap();
    match next_event(&eio, &mut events, Duration::from_secs(10)).await {
        Some(ClientEvent::Disconnect(DisconnectReason::ServerDisconnect(_))) => {}
        // engineioxide, closing a polling session with no poll pending, drops the close
        // packet and answers the next poll as for a sid it never knew: the client cannot
        // tell that from a restarted server.
        Some(ClientEvent::Disconnect(DisconnectReason::TransportError(
            TransportFailure::Http(e),
        ))) if kind == ServerKind::Engineioxide
            && transports == Transports::Polling
            && e.code == Some(1) => {}
        other => panic!("{label}: expected a server disconnect, got {other:?}"),
    }
    eio.wait().await;
    assert_eq!(eio.sid(), None);
    assert!(eio.send("late").await.is_err());

    // 1,000 messages sent right after connecting (during the upgrade, when there is one)
    // arrive once each, in order; and the same client can connect again.
    eio.connect(&url).await.unwrap();
    assert_eq!(
        next_event(&eio, &mut events, Duration::from_secs(5)).await,
        Some(ClientEvent::Connect)
    );
    for i in 0..1000 {
        eio.send(format!("m{i}")).await.unwrap();
    }
    for i in 0..1000 {
        assert_eq!(
            next_message(&eio, &mut events, &label).await,
            Payload::from(format!("m{i}")),
            "{label}"
        );
    }
    if transports == Transports::Upgrade {
        wait_for_websocket(&eio).await;
    }

    // disconnect(): client disconnect, and the server sees the session end.
    let sid = eio.sid().unwrap();
    eio.disconnect().await.unwrap();
    assert_eq!(
        next_event(&eio, &mut events, Duration::from_secs(5)).await,
        Some(ClientEvent::Disconnect(DisconnectReason::ClientDisconnect)),
        "{label}"
    );
    let line = server.wait_line(&format!("DISCONNECT {sid}"), Duration::from_secs(10));
    assert!(
        line.is_some(),
        "{label}: the server did not see the session end"
    );

    // A killed server: its sockets close, and the client reports a transport error at once
    // (well before pingInterval + pingTimeout).
    eio.connect(&url).await.unwrap();
    assert_eq!(
        next_event(&eio, &mut events, Duration::from_secs(5)).await,
        Some(ClientEvent::Connect)
    );
    if transports == Transports::Upgrade {
        wait_for_websocket(&eio).await;
    }
    server.kill();
    let killed = Instant::now();
    match next_event(&eio, &mut events, Duration::from_secs(4)).await {
        Some(ClientEvent::Disconnect(DisconnectReason::TransportError(_))) => {}
        other => panic!("{label}: expected a transport error, got {other:?}"),
    }
    assert!(
        killed.elapsed() < Duration::from_secs(3),
        "{label}: {:?}",
        killed.elapsed()
    );
}

async fn all_cells(runtime: Runtime) {
    for kind in ServerKind::ALL {
        for transports in [
            Transports::Polling,
            Transports::WebSocket,
            Transports::Upgrade,
        ] {
            cell(runtime.clone(), kind, transports).await;
        }
    }
}

fn run_on_tokio(f: impl Future<Output = ()>) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(f);
}

#[test]
fn tokio_runtime() {
    run_on_tokio(async {
        let rt = engineio::adapters::tokio::runtime(tokio::runtime::Handle::current());
        all_cells(rt).await;
    });
}

#[test]
fn smol_runtime() {
    smol::block_on(all_cells(engineio::adapters::smol::runtime()));
}

#[test]
fn async_std_runtime() {
    async_std::task::block_on(all_cells(engineio::adapters::async_std::runtime()));
}

#[path = "../examples/support/custom_runtime.rs"]
mod custom_runtime;

#[test]
fn custom_executor() {
    futures::executor::block_on(all_cells(custom_runtime::custom_runtime()));
}

/// A close the server chooses at once, on the client's first message right after the
/// handshake (the probe on its way, the first poll held for it), is a server disconnect on
/// every server, and reconnection does not retry it. python-engineio and engineioxide
/// forget such a session at once, with no poll pending to carry their close packet; the
/// client reads their answer to the held poll as the close it is. Eight times each, since
/// which of the probe, the POST and the poll the server sees first varies.
///
/// Not engineioxide: a session it closes while the upgrade is under way loses its close
/// packet on either transport (the WebSocket just ends, or the next poll hears of no such
/// session), which no client can tell from a failure.
#[test]
fn a_close_right_after_the_handshake_is_a_server_disconnect() {
    run_on_tokio(async {
        let runtime = engineio::adapters::tokio::runtime(tokio::runtime::Handle::current());
        let kinds = ServerKind::ALL.iter().chain(ServerKind::V3.iter());
        for &kind in kinds.filter(|k| **k != ServerKind::Engineioxide) {
            let server = Server::start(kind, &PING);
            for round in 0..8 {
                let label = format!("{kind:?}, round {round}");
                let eio = AsyncClient::builder()
                    .runtime(runtime.clone())
                    .reconnect(engineio::Reconnect::new().delay(Duration::from_millis(50)))
                    .build()
                    .unwrap();
                let mut events = eio.events();
                eio.connect(&server.url())
                    .await
                    .unwrap_or_else(|e| panic!("{label}: {e}"));
                eio.send("close").await.unwrap();
                let mut seen = Vec::new();
                let end = loop {
                    match next_event(&eio, &mut events, Duration::from_secs(10)).await {
                        Some(ClientEvent::Disconnect(reason)) => break reason,
                        Some(other) => seen.push(other),
                        None => panic!("{label}: no disconnect; events {seen:?}"),
                    }
                };
                assert!(
                    matches!(end, DisconnectReason::ServerDisconnect(_)),
                    "{label}: {end:?} (after {seen:?})"
                );
                // Not retried: the client stops, and no attempt is announced.
                tokio::time::timeout(Duration::from_secs(10), eio.wait())
                    .await
                    .unwrap_or_else(|_| panic!("{label}: wait() did not return"));
                let after = next_event(&eio, &mut events, Duration::from_millis(200)).await;
                assert_eq!(after, None, "{label}: after the server's close");
            }
        }
    });
}

/// 5,000 messages sent, then `disconnect()` at once: every message reaches the server, in
/// order, before the session ends, on node's engine.io 6 and 3 over every transport. The
/// server echoes each one: a client that dropped its WebSocket right after its close
/// frame, with echoes still unread, reset the connection, and the server lost what it had
/// received and not yet read (thousands of messages).
#[test]
fn every_message_sent_before_disconnect_reaches_the_server() {
    const N: usize = 5000;
    run_on_tokio(async {
        let runtime = engineio::adapters::tokio::runtime(tokio::runtime::Handle::current());
        for kind in [ServerKind::Node, ServerKind::NodeV3] {
            let server = Server::start(kind, &[PING[0], PING[1], ("EIO_REPORT", "1")]);
            for transports in [
                Transports::Polling,
                Transports::WebSocket,
                Transports::Upgrade,
            ] {
                let label = format!("{kind:?}/{transports:?}");
                let eio = AsyncClient::builder()
                    .runtime(runtime.clone())
                    .transports(transports)
                    .build()
                    .unwrap();
                eio.connect(&server.url())
                    .await
                    .unwrap_or_else(|e| panic!("{label}: {e}"));
                let sid = eio.sid().expect("sid");
                for i in 0..N {
                    eio.send(format!("m{i}")).await.unwrap();
                }
                eio.disconnect().await.unwrap();
                let prefix = format!("RECEIVED {sid} ");
                let mut received = Vec::new();
                while received.len() < N {
                    match server.wait_line(&prefix, Duration::from_secs(10)) {
                        Some(line) => received.push(line[prefix.len()..].to_owned()),
                        None => break,
                    }
                }
                let expected: Vec<String> = (0..N).map(|i| format!("\"m{i}\"")).collect();
                assert!(
                    received == expected,
                    "{label}: the server received {} of {N}, the last {:?}",
                    received.len(),
                    received.last()
                );
            }
        }
    });
}
