//! Protocol v3 against real v3 servers: node engine.io 3.6.2 (the engine of socket.io 2.x)
//! and python-engineio 3.14.2 under aiohttp, both with the default `Protocol::Auto` (node
//! answers the `EIO=4` handshake in v3; python refuses it and is asked again with `EIO=3`),
//! and engineioxide's v3 in process with `Protocol::V3` pinned (it speaks v4 to a client
//! that asks `EIO=4`). On tokio, smol, async-std, a custom executor and the blocking client,
//! over polling, WebSocket and the upgrade.
//!
//! In each cell: connect, `protocol()` is v3; text with multibyte and non-BMP characters
//! (which v3's length-prefixed framing counts differently per server), binary and JSON
//! round trips; a server close; 1,000 messages in order across the upgrade; disconnect;
//! and, on tokio, the heartbeat: the client's pings keep the session alive past several
//! ping intervals, and a server that stops answering (SIGSTOP, its sockets still open) is a
//! ping timeout within pingInterval + pingTimeout.
#![cfg(all(
    feature = "tokio",
    feature = "smol",
    feature = "async-std",
    feature = "blocking"
))]

mod common;

use std::future::Future;
use std::time::{Duration, Instant};

use common::{Server, ServerKind, next_event, next_message, wait_for_websocket};
use engineio::rt::Runtime;
use engineio::{
    AsyncClient, ClientEvent, DisconnectReason, Payload, Protocol, TransportFailure, TransportKind,
    Transports,
};

/// The v3 servers: whole seconds (python announces whole seconds), a ping timeout that
/// tolerates a loaded machine.
const PING: [(&str, &str); 2] = [
    ("EIO_PING_INTERVAL_MS", "1000"),
    ("EIO_PING_TIMEOUT_MS", "3000"),
];

const TRANSPORTS: [Transports; 3] = [
    Transports::Polling,
    Transports::WebSocket,
    Transports::Upgrade,
];

const TEXT: &str = "héllo wörld € 😀 𝄞 こんにちは";

/// The servers, and the protocol the client is built with for each.
const SERVERS: [(ServerKind, Protocol); 3] = [
    (ServerKind::NodeV3, Protocol::Auto),
    (ServerKind::PythonV3, Protocol::Auto),
    (ServerKind::Engineioxide, Protocol::V3),
];

/// One cell; `heartbeat`: also the seconds-long heartbeat checks (a few seconds of silence,
/// a stopped server), which test the client's rule rather than the runtime, so one
/// runtime runs them (the rule itself is checked to the millisecond on the fake clock in
/// tests/session_v3.rs).
async fn cell(
    runtime: Runtime,
    kind: ServerKind,
    protocol: Protocol,
    transports: Transports,
    heartbeat: bool,
) {
    let label = format!("{kind:?}/{transports:?}/{protocol:?}");
    let mut server = Server::start(kind, &PING);
    let url = server.url();
    let eio = AsyncClient::builder()
        .runtime(runtime.clone())
        .transports(transports)
        .protocol(protocol)
        .build()
        .unwrap();
    let mut events = eio.events();
    eio.connect(&url)
        .await
        .unwrap_or_else(|e| panic!("{label}: {e}"));
    assert_eq!(
        next_event(&eio, &mut events, Duration::from_secs(5)).await,
        Some(ClientEvent::Connect),
        "{label}"
    );
    assert_eq!(eio.protocol(), Some(Protocol::V3), "{label}");
    if transports == Transports::Upgrade {
        wait_for_websocket(&eio).await;
    }
    let expected = match transports {
        Transports::Polling => TransportKind::Polling,
        _ => TransportKind::WebSocket,
    };
    assert_eq!(eio.transport(), Some(expected), "{label}");

    // Round trips: multibyte and non-BMP text, binary both ways, JSON, empty.
    eio.send(TEXT).await.unwrap();
    assert_eq!(
        next_message(&eio, &mut events, &label).await,
        Payload::from(TEXT),
        "{label}"
    );
    eio.send(vec![0u8, 1, 2, 255]).await.unwrap();
    assert_eq!(
        next_message(&eio, &mut events, &label).await,
        Payload::from(vec![0u8, 1, 2, 255]),
        "{label}"
    );
    eio.send("binary 04ff00").await.unwrap();
    assert_eq!(
        next_message(&eio, &mut events, &label).await,
        Payload::from(vec![4u8, 255, 0]),
        "{label}"
    );
    eio.send(serde_json::json!({"k": "😀", "n": [1, 2]}))
        .await
        .unwrap();
    let json: serde_json::Value = next_message(&eio, &mut events, &label)
        .await
        .json()
        .unwrap();
    assert_eq!(json, serde_json::json!({"k": "😀", "n": [1, 2]}), "{label}");
    // Several texts in one poll response, each framed with its length.
    eio.send("burst 5").await.unwrap();
    for i in 0..5 {
        assert_eq!(
            next_message(&eio, &mut events, &label).await,
            Payload::from(format!("burst-{i}")),
            "{label}"
        );
    }

    // The heartbeat: the client's pings keep the session past several intervals.
    if heartbeat {
        let quiet = Instant::now();
        assert_eq!(
            next_event(&eio, &mut events, Duration::from_millis(3500)).await,
            None,
            "{label}: the session did not survive 3.5 pingIntervals of silence"
        );
        assert!(quiet.elapsed() >= Duration::from_secs(3));
        eio.send("still here").await.unwrap();
        assert_eq!(
            next_message(&eio, &mut events, &label).await,
            Payload::from("still here"),
            "{label}"
        );
    }

    // A close the server chose.
    eio.send("close").await.unwrap();
    match next_event(&eio, &mut events, Duration::from_secs(10)).await {
        Some(ClientEvent::Disconnect(DisconnectReason::ServerDisconnect(_))) => {}
        // engineioxide, closing a polling session with no poll pending, answers the next
        // poll as for a sid it never knew (see tests/interop.rs).
        Some(ClientEvent::Disconnect(DisconnectReason::TransportError(
            TransportFailure::Http(_),
        ))) if kind == ServerKind::Engineioxide && transports == Transports::Polling => {}
        // python-engineio 3.14.2, closing a polling session while no poll is pending (the
        // client is between two polls, a window a loaded machine widens), answers the next
        // poll with a 500 ("Server got itself in trouble", a traceback on its stderr)
        // instead of the close packet: the client cannot tell that from a server error.
        Some(ClientEvent::Disconnect(DisconnectReason::TransportError(
            TransportFailure::Http(e),
        ))) if kind == ServerKind::PythonV3
            && transports == Transports::Polling
            && e.status == 500 => {}
        other => panic!("{label}: expected a server disconnect, got {other:?}"),
    }
    eio.wait().await;
    assert_eq!(eio.protocol(), None);

    // 1,000 messages sent right after connecting (during the upgrade, if any) arrive once
    // each, in order.
    eio.connect(&url).await.unwrap();
    assert_eq!(
        next_event(&eio, &mut events, Duration::from_secs(5)).await,
        Some(ClientEvent::Connect)
    );
    for i in 0..1000 {
        eio.send(format!("m{i} é😀")).await.unwrap();
    }
    for i in 0..1000 {
        assert_eq!(
            next_message(&eio, &mut events, &label).await,
            Payload::from(format!("m{i} é😀")),
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
    assert!(
        server
            .wait_line(&format!("DISCONNECT {sid}"), Duration::from_secs(10))
            .is_some(),
        "{label}: the server did not see the session end"
    );

    // A server that stops answering, its sockets open: no pong comes back, and the
    // client calls it a ping timeout within pingInterval + pingTimeout (4 s; 8 s allowed
    // for a loaded machine).
    if heartbeat && kind != ServerKind::Engineioxide {
        eio.connect(&url).await.unwrap();
        assert_eq!(
            next_event(&eio, &mut events, Duration::from_secs(5)).await,
            Some(ClientEvent::Connect)
        );
        if transports == Transports::Upgrade {
            wait_for_websocket(&eio).await;
        }
        server.pause();
        let paused = Instant::now();
        match next_event(&eio, &mut events, Duration::from_secs(15)).await {
            Some(ClientEvent::Disconnect(DisconnectReason::TransportError(
                TransportFailure::PingTimeout,
            ))) => {}
            other => panic!("{label}: expected a ping timeout, got {other:?}"),
        }
        assert!(
            paused.elapsed() < Duration::from_secs(8),
            "{label}: {:?}",
            paused.elapsed()
        );
    }
    server.kill();
}

async fn all_cells(runtime: Runtime, heartbeat: bool) {
    for (kind, protocol) in SERVERS {
        for transports in TRANSPORTS {
            cell(runtime.clone(), kind, protocol, transports, heartbeat).await;
        }
    }
}

fn run_on_tokio(f: impl Future<Output = ()>) {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
        .block_on(f);
}

#[test]
fn tokio_runtime() {
    run_on_tokio(async {
        let rt = engineio::adapters::tokio::runtime(tokio::runtime::Handle::current());
        all_cells(rt, true).await;
    });
}

#[test]
fn smol_runtime() {
    smol::block_on(all_cells(engineio::adapters::smol::runtime(), false));
}

#[test]
fn async_std_runtime() {
    async_std::task::block_on(all_cells(engineio::adapters::async_std::runtime(), false));
}

#[path = "../examples/support/custom_runtime.rs"]
mod custom_runtime;

#[test]
fn custom_executor() {
    futures::executor::block_on(all_cells(custom_runtime::custom_runtime(), false));
}

/// The blocking Client, through its own API, on each v3 server and transport.
#[test]
fn blocking_client() {
    use std::sync::mpsc;

    #[derive(Debug, PartialEq)]
    enum Ev {
        Connect,
        Message(Payload),
        Disconnect(DisconnectReason),
    }
    for (kind, protocol) in SERVERS {
        let server = Server::start(kind, &PING);
        for transports in TRANSPORTS {
            let label = format!("blocking {kind:?}/{transports:?}");
            let eio = engineio::Client::builder()
                .transports(transports)
                .protocol(protocol)
                .build_blocking()
                .unwrap();
            let (tx, rx) = mpsc::channel();
            let t = tx.clone();
            eio.on_connect(move || t.send(Ev::Connect).unwrap());
            let t = tx.clone();
            eio.on_message(move |p| t.send(Ev::Message(p)).unwrap());
            eio.on_disconnect(move |r| {
                let _ = tx.send(Ev::Disconnect(r));
            });
            let next = || rx.recv_timeout(Duration::from_secs(10)).expect("an event");
            eio.connect(&server.url())
                .unwrap_or_else(|e| panic!("{label}: {e}"));
            assert_eq!(next(), Ev::Connect, "{label}");
            assert_eq!(eio.protocol(), Some(Protocol::V3), "{label}");
            eio.send(TEXT).unwrap();
            assert_eq!(next(), Ev::Message(Payload::from(TEXT)), "{label}");
            eio.send(vec![9u8, 8]).unwrap();
            assert_eq!(next(), Ev::Message(Payload::from(vec![9u8, 8])), "{label}");
            eio.disconnect().unwrap();
            assert_eq!(
                next(),
                Ev::Disconnect(DisconnectReason::ClientDisconnect),
                "{label}"
            );
        }
    }
}

/// https polling and the wss upgrade to node's engine.io 3.6.2, with a certificate from a
/// test CA: v3 over TLS, verified, with `Protocol::Auto`.
#[test]
fn tls_to_a_v3_server() {
    let (dir, ca_pem) = common::tls::test_pki();
    let cert = dir.join("cert.pem").to_string_lossy().into_owned();
    let key = dir.join("key.pem").to_string_lossy().into_owned();
    let server = Server::start(
        ServerKind::NodeV3,
        &[
            PING[0],
            PING[1],
            ("EIO_TLS_CERT", &cert),
            ("EIO_TLS_KEY", &key),
        ],
    );
    run_on_tokio(async {
        let eio = AsyncClient::builder()
            .add_root_certificate(ca_pem.as_bytes())
            .build()
            .unwrap();
        eio.connect(&format!("https://localhost:{}", server.port))
            .await
            .unwrap();
        let mut events = eio.events();
        assert_eq!(eio.protocol(), Some(Protocol::V3));
        wait_for_websocket(&eio).await;
        eio.send(TEXT).await.unwrap();
        assert_eq!(
            next_message(&eio, &mut events, "tls").await,
            Payload::from(TEXT)
        );
        eio.disconnect().await.unwrap();
    });
    let _ = std::fs::remove_dir_all(dir);
}

/// `Protocol::V3` pinned against servers that speak v4 only (node's engine.io 6 without
/// `allowEIO3`, python-engineio 4) fails `connect` with the server's own refusal, its
/// message included, on every transport: over WebSocket node accepts the upgrade and then
/// writes its 400 on the socket, which the client reads as the refusal it is.
#[test]
fn pinned_v3_against_a_v4_only_server_is_the_servers_refusal() {
    run_on_tokio(async {
        let runtime = engineio::adapters::tokio::runtime(tokio::runtime::Handle::current());
        for kind in [ServerKind::Node, ServerKind::PythonAiohttp] {
            let server = Server::start(kind, &PING);
            for transports in TRANSPORTS {
                let label = format!("{kind:?}/{transports:?}");
                let eio = AsyncClient::builder()
                    .runtime(runtime.clone())
                    .transports(transports)
                    .protocol(Protocol::V3)
                    .build()
                    .unwrap();
                let err = eio
                    .connect(&server.url())
                    .await
                    .expect_err("connected in v3 to a v4-only server");
                match err.failure() {
                    Some(TransportFailure::Http(e)) => {
                        assert_eq!(e.status, 400, "{label}: {err}");
                        let message = e.message.as_deref().unwrap_or_default();
                        assert!(
                            message.to_lowercase().contains("unsupported"),
                            "{label}: {err}"
                        );
                    }
                    other => panic!("{label}: {other:?} ({err})"),
                }
            }
        }
    });
}
