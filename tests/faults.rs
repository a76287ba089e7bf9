//! Broken networks between the client and a real server (node engine.io), through a TCP
//! proxy: a stalled connection is a ping-timeout transport error within pingInterval +
//! pingTimeout, never a hang; a cut connection is a transport error at once; disconnect()
//! while the network is stalled returns within the request timeout.
#![cfg(all(feature = "tokio", feature = "smol"))]

mod common;

use std::time::{Duration, Instant};

use common::proxy::Proxy;
use common::{Server, ServerKind};
use engineio::rt::Runtime;
use engineio::{
    AsyncClient, ClientEvent, DisconnectReason, TransportFailure, TransportKind, Transports,
};
use futures::StreamExt;

const PING: [(&str, &str); 2] = [
    ("EIO_PING_INTERVAL_MS", "500"),
    ("EIO_PING_TIMEOUT_MS", "500"),
];

async fn open(
    runtime: &Runtime,
    transports: Transports,
    url: &str,
) -> (AsyncClient, engineio::Events) {
    let eio = AsyncClient::builder()
        .runtime(runtime.clone())
        .transports(transports)
        .request_timeout(Duration::from_secs(1))
        .build()
        .unwrap();
    let events = eio.events();
    eio.connect(url).await.unwrap();
    if transports == Transports::Upgrade {
        let start = Instant::now();
        while eio.transport() != Some(TransportKind::WebSocket) {
            assert!(start.elapsed() < Duration::from_secs(5), "no upgrade");
            eio.sleep(Duration::from_millis(10)).await;
        }
    }
    (eio, events)
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
        // Stall: a ping-timeout transport error within pingInterval + pingTimeout (+ 1 s).
        let proxy = Proxy::start(server.port);
        let (eio, mut events) = open(&runtime, transports, &proxy.url()).await;
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
        eio.wait().await;
        drop(proxy);

        // Cut: a transport error at once, and wait() returns.
        let proxy = Proxy::start(server.port);
        let (eio, mut events) = open(&runtime, transports, &proxy.url()).await;
        eio.send("in flight").await.unwrap();
        proxy.cut();
        let reason = disconnect_within(&eio, &mut events, Duration::from_millis(1500)).await;
        assert!(
            matches!(reason, DisconnectReason::TransportError(_)),
            "{transports:?}: {reason:?}"
        );
        eio.wait().await;
        drop(proxy);

        // disconnect() while stalled returns within the request timeout.
        let proxy = Proxy::start(server.port);
        let (eio, mut events) = open(&runtime, transports, &proxy.url()).await;
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
        drop(proxy);
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
