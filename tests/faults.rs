//! Broken networks between the client and a real server (node engine.io), through a TCP
//! proxy (tests/common/proxy.rs), on polling, WebSocket and after an upgrade, on tokio and
//! smol:
//! - a stalled connection is a ping-timeout transport error within pingInterval +
//!   pingTimeout, never a hang;
//! - a cut connection, a cut in the middle of a large message and a cut in the middle of
//!   the upgrade are transport errors at once, and `wait()` returns;
//! - a server restarted behind the same address answers the old sid with 400 code 1:
//!   a transport error with the server's message (on polling; a WebSocket is just closed);
//! - `disconnect()` while the network is stalled returns within the request timeout;
//! - a proxy that refuses WebSocket leaves the session on polling, working.
//!
//! After each case every task the client spawned has ended and every socket it dialled is
//! closed (counted by a wrapper around the runtime: tests/common/counted.rs).
#![cfg(all(feature = "tokio", feature = "smol"))]

mod common;

use std::time::{Duration, Instant};

use common::counted::{Counts, counted};
use common::proxy::Proxy;
use common::{Server, ServerKind};
use engineio::rt::Runtime;
use engineio::{
    AsyncClient, ClientEvent, DisconnectReason, HttpStatusError, TransportFailure, TransportKind,
    Transports,
};
use futures::StreamExt;

const PING: [(&str, &str); 2] = [
    ("EIO_PING_INTERVAL_MS", "500"),
    ("EIO_PING_TIMEOUT_MS", "500"),
];

/// A client on a counted copy of `runtime`, connected to `url` (and upgraded when
/// `transports` allows it).
async fn open(
    runtime: &Runtime,
    transports: Transports,
    url: &str,
) -> (AsyncClient, engineio::Events, Counts) {
    let (runtime, counts) = counted(runtime);
    let eio = AsyncClient::builder()
        .runtime(runtime)
        .transports(transports)
        .request_timeout(Duration::from_secs(1))
        .build()
        .unwrap();
    let events = eio.events();
    eio.connect(url).await.unwrap();
    if transports == Transports::Upgrade {
        common::wait_for_websocket(&eio).await;
    }
    (eio, events, counts)
}

/// Waits for the end of the connection, drops the client and checks that every task it
/// spawned ended and every socket it dialled closed.
async fn finish(
    runtime: &Runtime,
    eio: AsyncClient,
    events: engineio::Events,
    counts: Counts,
    label: &str,
) {
    eio.wait().await;
    drop((eio, events));
    counts.drained(runtime, label, Duration::from_secs(3)).await;
}

/// The next Disconnect event, within `limit`.
async fn disconnect_within(
    eio: &AsyncClient,
    events: &mut engineio::Events,
    limit: Duration,
) -> DisconnectReason {
    let deadline = Instant::now() + limit;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let next = futures::future::select(events.next(), Box::pin(eio.sleep(left))).await;
        match next {
            futures::future::Either::Left((Some(ClientEvent::Disconnect(r)), _)) => return r,
            futures::future::Either::Left((Some(_), _)) => {}
            futures::future::Either::Left((None, _)) => panic!("event stream ended"),
            futures::future::Either::Right(_) => panic!("no disconnect within {limit:?}"),
        }
    }
}

async fn scenarios(runtime: Runtime) {
    let server = Server::start(ServerKind::Node, &PING);
    for transports in [
        Transports::Polling,
        Transports::WebSocket,
        Transports::Upgrade,
    ] {
        let label = |case: &str| format!("{case}, {transports:?}");

        // Stall: a ping-timeout transport error within pingInterval + pingTimeout (+ 1 s).
        let proxy = Proxy::start(server.port);
        let (eio, mut events, counts) = open(&runtime, transports, &proxy.url()).await;
        proxy.stall();
        let stalled = Instant::now();
        let reason = disconnect_within(&eio, &mut events, Duration::from_secs(3)).await;
        assert_eq!(
            reason,
            DisconnectReason::TransportError(TransportFailure::PingTimeout),
            "{transports:?}"
        );
        assert!(
            stalled.elapsed() <= Duration::from_secs(2),
            "{transports:?}: {:?}",
            stalled.elapsed()
        );
        finish(&runtime, eio, events, counts, &label("stall")).await;
        drop(proxy);

        // Cut: a transport error at once, and wait() returns.
        let proxy = Proxy::start(server.port);
        let (eio, mut events, counts) = open(&runtime, transports, &proxy.url()).await;
        eio.send("in flight").await.unwrap();
        proxy.cut();
        let reason = disconnect_within(&eio, &mut events, Duration::from_millis(1500)).await;
        assert!(
            matches!(reason, DisconnectReason::TransportError(_)),
            "{transports:?}: {reason:?}"
        );
        finish(&runtime, eio, events, counts, &label("cut")).await;
        drop(proxy);

        // Cut in the middle of a 400 kB message on its way to the server.
        let proxy = Proxy::start(server.port);
        let (eio, mut events, counts) = open(&runtime, transports, &proxy.url()).await;
        proxy.cut_after(64 * 1024);
        eio.send("x".repeat(400_000)).await.unwrap();
        let reason = disconnect_within(&eio, &mut events, Duration::from_secs(3)).await;
        assert!(
            matches!(reason, DisconnectReason::TransportError(_)),
            "{transports:?}: {reason:?}"
        );
        assert_eq!(
            proxy.triggered(),
            1,
            "{transports:?}: the cut did not happen"
        );
        finish(&runtime, eio, events, counts, &label("cut mid-message")).await;
        drop(proxy);

        // disconnect() while stalled returns within the request timeout.
        let proxy = Proxy::start(server.port);
        let (eio, mut events, counts) = open(&runtime, transports, &proxy.url()).await;
        proxy.stall();
        let start = Instant::now();
        eio.disconnect().await.unwrap();
        assert!(
            start.elapsed() <= Duration::from_millis(1500),
            "{transports:?}: {:?}",
            start.elapsed()
        );
        let reason = disconnect_within(&eio, &mut events, Duration::from_secs(1)).await;
        assert_eq!(reason, DisconnectReason::ClientDisconnect, "{transports:?}");
        finish(
            &runtime,
            eio,
            events,
            counts,
            &label("disconnect while stalled"),
        )
        .await;
        drop(proxy);
    }

    // The network goes down in the middle of the upgrade: when the server accepts the
    // WebSocket, before the client sees it. Polling cannot go on either: a transport
    // error. (A WebSocket that fails alone leaves the session on polling: see
    // `blocked_websocket_stays_on_polling`.)
    let proxy = Proxy::start(server.port);
    proxy.cut_at_websocket();
    let (base, counts) = counted(&runtime);
    let eio = AsyncClient::builder()
        .runtime(base)
        .transports(Transports::Upgrade)
        .build()
        .unwrap();
    let mut events = eio.events();
    eio.connect(&proxy.url()).await.unwrap();
    let reason = disconnect_within(&eio, &mut events, Duration::from_secs(3)).await;
    assert!(
        matches!(reason, DisconnectReason::TransportError(_)),
        "cut mid-upgrade: {reason:?}"
    );
    assert_eq!(proxy.triggered(), 1, "the upgrade was not cut");
    finish(&runtime, eio, events, counts, "cut mid-upgrade").await;
}

/// The server restarts behind the same address: a reverse proxy sends the pending poll
/// again, to the new server, which does not know the sid.
async fn restarted_server(runtime: Runtime) {
    // Long enough heartbeats that the restart (a new node process) fits in them.
    let ping = [
        ("EIO_PING_INTERVAL_MS", "2000"),
        ("EIO_PING_TIMEOUT_MS", "3000"),
    ];
    for transports in [
        Transports::Polling,
        Transports::WebSocket,
        Transports::Upgrade,
    ] {
        let mut server = Server::start(ServerKind::Node, &ping);
        let proxy = Proxy::start(server.port);
        let (eio, mut events, counts) = open(&runtime, transports, &proxy.url()).await;
        assert_eq!(events.next().await, Some(ClientEvent::Connect));
        eio.send("before").await.unwrap();
        let echo = common::next_message(&eio, &mut events, "before the restart").await;
        assert_eq!(echo, engineio::Payload::from("before"));

        proxy.stall();
        server.kill();
        let restarted = Server::start(ServerKind::Node, &ping);
        proxy.retarget(restarted.port);
        proxy.resume();

        let reason = disconnect_within(&eio, &mut events, Duration::from_secs(4)).await;
        if transports == Transports::Polling {
            assert_eq!(
                reason,
                DisconnectReason::TransportError(TransportFailure::Http(HttpStatusError {
                    status: 400,
                    code: Some(1),
                    message: Some("Session ID unknown".into()),
                })),
            );
            assert!(
                format!("{reason:#}").contains("Session ID unknown"),
                "{reason:#}"
            );
        } else {
            assert!(
                matches!(reason, DisconnectReason::TransportError(_)),
                "{transports:?}: {reason:?}"
            );
        }
        finish(
            &runtime,
            eio,
            events,
            counts,
            &format!("restart, {transports:?}"),
        )
        .await;
    }
}

/// A proxy that refuses WebSocket: the session stays on polling and keeps working.
async fn websocket_blocked(runtime: Runtime) {
    let server = Server::start(ServerKind::Node, &PING);
    let proxy = Proxy::start(server.port);
    proxy.block_websocket();
    let eio = AsyncClient::builder()
        .runtime(runtime)
        .transports(Transports::Upgrade)
        .build()
        .unwrap();
    let mut events = eio.events();
    eio.connect(&proxy.url()).await.unwrap();
    eio.sleep(Duration::from_millis(300)).await;
    for i in 0..20 {
        eio.send(format!("m{i}")).await.unwrap();
    }
    let mut got = 0;
    while got < 20 {
        match disconnect_or_message(&eio, &mut events).await {
            Some(p) => {
                assert_eq!(p, engineio::Payload::from(format!("m{got}")));
                got += 1;
            }
            None => panic!("disconnected"),
        }
    }
    // Several ping intervals later it is still up, on polling.
    eio.sleep(Duration::from_millis(1500)).await;
    assert_eq!(eio.transport(), Some(TransportKind::Polling));
    eio.disconnect().await.unwrap();
}

/// The next message, or None on a disconnect; panics after 5 s.
async fn disconnect_or_message(
    eio: &AsyncClient,
    events: &mut engineio::Events,
) -> Option<engineio::Payload> {
    loop {
        let next =
            futures::future::select(events.next(), Box::pin(eio.sleep(Duration::from_secs(5))))
                .await;
        match next {
            futures::future::Either::Left((Some(ClientEvent::Message(p)), _)) => return Some(p),
            futures::future::Either::Left((Some(ClientEvent::Disconnect(_)), _)) => return None,
            futures::future::Either::Left((Some(_), _)) => {}
            futures::future::Either::Left((None, _)) => panic!("event stream ended"),
            futures::future::Either::Right(_) => panic!("nothing within 5 s"),
        }
    }
}

#[test]
fn blocked_websocket_stays_on_polling() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(websocket_blocked(engineio::adapters::tokio::runtime(
        rt.handle().clone(),
    )));
    smol::block_on(websocket_blocked(engineio::adapters::smol::runtime()));
}

#[test]
fn on_tokio() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(scenarios(engineio::adapters::tokio::runtime(
        rt.handle().clone(),
    )));
}

#[test]
fn on_smol() {
    smol::block_on(scenarios(engineio::adapters::smol::runtime()));
}

#[test]
fn restart_on_tokio() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(restarted_server(engineio::adapters::tokio::runtime(
        rt.handle().clone(),
    )));
}

#[test]
fn restart_on_smol() {
    smol::block_on(restarted_server(engineio::adapters::smol::runtime()));
}
