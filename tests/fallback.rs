//! Falling back from one transport to the other, on the deterministic harness
//! (tests/common/harness.rs): `ClientBuilder::try_all_transports` (a WebSocket-only
//! connect that cannot open its WebSocket connects over polling instead; with the default
//! transports, a polling handshake that fails is retried on WebSocket) and
//! `ClientBuilder::remember_upgrade` (once a session ran on WebSocket, the next connect
//! opens directly on it; if that fails, polling, and the memory is gone).
//!
//! Each test checks what the scripted server saw (a polling handshake GET or a WebSocket
//! opened without a sid, in which order, at what time on the manual clock), the client's
//! transport, and the error when there is no fallback. No sockets, no real time.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::harness::{Harness, ServerConfig, next_event};
use engineio::proto::Packet;
use engineio::{
    AsyncClient, ClientBuilder, ClientEvent, DisconnectReason, Error, Payload, TransportFailure,
    TransportKind, Transports,
};
use futures::StreamExt;
use futures::future::Either;

const SECOND: Duration = Duration::from_secs(1);

/// How the WebSocket fails while polling works.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fault {
    /// The server answers the WebSocket handshake with HTTP 403.
    Refused,
    /// The network resets every connection carrying a WebSocket upgrade request (the
    /// client's own connectors over the in-memory network).
    Dropped,
    /// The server never answers the WebSocket handshake.
    Hangs,
}

impl Fault {
    const ALL: [Fault; 3] = [Fault::Refused, Fault::Dropped, Fault::Hangs];

    /// A builder for a client of `h` that this fault can reach.
    fn builder(self, h: &Harness) -> ClientBuilder {
        match self {
            Fault::Dropped => h.wire_builder(),
            Fault::Refused | Fault::Hangs => h.builder(),
        }
    }

    fn start(self, h: &Harness) {
        match self {
            Fault::Refused => h.server.refuse_websocket(403),
            Fault::Dropped => h.network().drop_websockets(true),
            Fault::Hangs => h.server.hang_websocket(true),
        }
    }

    fn stop(self, h: &Harness) {
        match self {
            Fault::Refused => h.server.accept_websocket(),
            Fault::Dropped => h.network().drop_websockets(false),
            Fault::Hangs => h.server.hang_websocket(false),
        }
    }

    /// How long the failed WebSocket open takes to fail, with the default request timeout.
    fn delay(self) -> Duration {
        match self {
            Fault::Hangs => Duration::from_secs(5),
            Fault::Refused | Fault::Dropped => Duration::ZERO,
        }
    }

    /// Whether `failure` is what this fault makes of a WebSocket open.
    fn is_failure(self, failure: &TransportFailure) -> bool {
        match self {
            Fault::Refused => matches!(failure, TransportFailure::Http(e) if e.status == 403),
            Fault::Dropped => matches!(
                failure,
                TransportFailure::Io(_) | TransportFailure::Protocol(_)
            ),
            Fault::Hangs => *failure == TransportFailure::RequestTimeout,
        }
    }
}

/// How a connection attempt opened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Opening {
    /// A polling handshake: a GET without a sid.
    Polling,
    /// A WebSocket opened without a sid (not an upgrade probe).
    WebSocket,
}

/// The server's requests so far, without their times: `GET handshake`, `GET poll`,
/// `POST <body>`, `WS <query>`.
fn requests(h: &Harness) -> Vec<String> {
    h.server
        .log()
        .into_iter()
        .map(|l| l.split_once(' ').expect("a log line").1.to_owned())
        .collect()
}

/// The connection attempts the server saw, from its `from`-th request on, in order.
fn openings_from(h: &Harness, from: usize) -> Vec<Opening> {
    requests(h)
        .into_iter()
        .skip(from)
        .filter_map(|r| {
            if r == "GET handshake" {
                Some(Opening::Polling)
            } else if r.starts_with("WS ") && !r.contains("sid=") {
                Some(Opening::WebSocket)
            } else {
                None
            }
        })
        .collect()
}

/// How many connections were attempted on WebSocket (no sid) so far: those the server
/// saw and those the network dropped before it could.
fn websocket_opens(h: &Harness) -> usize {
    let dropped = h
        .network()
        .dropped_websockets()
        .iter()
        .filter(|q| !q.contains("sid="))
        .count();
    openings_from(h, 0)
        .into_iter()
        .filter(|o| *o == Opening::WebSocket)
        .count()
        + dropped
}

/// How many upgrade probes (WebSocket opens with a sid) were attempted so far: those the
/// server saw and those the network dropped.
fn upgrade_probes(h: &Harness) -> usize {
    let seen = requests(h)
        .iter()
        .filter(|r| r.starts_with("WS ") && r.contains("sid="))
        .count();
    let dropped = h
        .network()
        .dropped_websockets()
        .iter()
        .filter(|q| q.contains("sid="))
        .count();
    seen + dropped
}

/// How many polling handshakes the server saw.
fn polling_handshakes(h: &Harness) -> usize {
    openings_from(h, 0)
        .into_iter()
        .filter(|o| *o == Opening::Polling)
        .count()
}

fn is_message(ev: &ClientEvent) -> bool {
    matches!(ev, ClientEvent::Message(_))
}

/// Sends `text` and waits for the server's echo on `events`.
async fn round_trip(eio: &AsyncClient, events: &mut engineio::Events, text: &str) {
    eio.send(text).await.unwrap();
    let echo = next_event(events, is_message).await;
    assert_eq!(echo, ClientEvent::Message(Payload::from(text)));
}

/// The transports of the messages the latest session received.
fn message_transports(h: &Harness) -> Vec<TransportKind> {
    h.server
        .inbox()
        .into_iter()
        .filter(|(_, p)| matches!(p, Packet::Message(_)))
        .map(|(t, _)| t)
        .collect()
}

/// Every task the client spawned has ended.
fn assert_no_client_tasks(h: &Harness) {
    h.settle();
    assert_eq!(h.client_tasks(), 0, "client tasks left running");
}

// ----- try_all_transports ------------------------------------------------------------

/// Without `try_all_transports` (the default), a WebSocket-only connect whose WebSocket
/// cannot open (refused, reset by the network, or unanswered until the request timeout)
/// fails with `Error::Connect` carrying the WebSocket's failure, and never tries polling.
#[test]
fn without_try_all_transports_a_failed_websocket_fails_the_connect() {
    for fault in Fault::ALL {
        let h = Harness::new(ServerConfig::default());
        fault.start(&h);
        let eio = fault
            .builder(&h)
            .transports(Transports::WebSocket)
            .build()
            .unwrap();
        let err = h.block_on(eio.connect(h.url())).unwrap_err();
        match &err {
            Error::Connect { url, failure } => {
                assert_eq!(url, h.url(), "{fault:?}");
                assert!(fault.is_failure(failure), "{fault:?}: {failure:?}");
            }
            other => panic!("{fault:?}: {other:?}"),
        }
        assert_eq!(h.elapsed(), fault.delay(), "{fault:?}");
        assert_eq!(websocket_opens(&h), 1, "{fault:?}: {:?}", h.server.log());
        assert_eq!(polling_handshakes(&h), 0, "{fault:?}: polling was tried");
        assert_eq!(h.server.sessions(), 0, "{fault:?}");
        assert_eq!(eio.sid(), None);
        assert_eq!(eio.transport(), None);
        drop(eio);
        assert_no_client_tasks(&h);
    }
}

/// With `try_all_transports`, a WebSocket-only connect whose WebSocket is refused (by
/// the server, or reset by the network) connects over long-polling at once: the
/// WebSocket open comes first, then the polling handshake; `connect` succeeds, the
/// `connect` handler and the event stream see one connection, and messages round-trip
/// over polling. The fallback session may try the upgrade (`Transports::Upgrade`); it
/// fails the same way and the session stays on polling.
#[test]
fn with_try_all_transports_a_refused_websocket_falls_back_to_polling() {
    for fault in [Fault::Refused, Fault::Dropped] {
        let h = Harness::new(ServerConfig::default());
        fault.start(&h);
        let eio = fault
            .builder(&h)
            .transports(Transports::WebSocket)
            .try_all_transports(true)
            .build()
            .unwrap();
        let connects = Arc::new(AtomicUsize::new(0));
        let c = connects.clone();
        eio.on_connect(move || {
            c.fetch_add(1, Ordering::SeqCst);
            async {}
        });
        let mut events = eio.events();
        h.block_on(async {
            eio.connect(h.url()).await.unwrap();
            assert_eq!(h.elapsed(), Duration::ZERO, "{fault:?}: not at once");
            assert_eq!(eio.transport(), Some(TransportKind::Polling), "{fault:?}");
            assert_eq!(eio.sid().as_deref(), Some("sid0"), "{fault:?}");
            // The failed attempt leaves no trace on the stream: Connect comes first.
            assert_eq!(events.next().await, Some(ClientEvent::Connect), "{fault:?}");
            round_trip(&eio, &mut events, "over polling").await;
            // Long enough for any upgrade attempt to fail.
            eio.sleep(Duration::from_secs(15)).await;
            assert_eq!(eio.transport(), Some(TransportKind::Polling), "{fault:?}");
            round_trip(&eio, &mut events, "still polling").await;
            eio.disconnect().await.unwrap();
            assert_eq!(
                next_event(&mut events, |e| matches!(e, ClientEvent::Disconnect(_))).await,
                ClientEvent::Disconnect(DisconnectReason::ClientDisconnect),
                "{fault:?}"
            );
        });
        h.settle();
        assert_eq!(connects.load(Ordering::SeqCst), 1, "{fault:?}");
        assert_eq!(websocket_opens(&h), 1, "{fault:?}");
        // The fallback is `Transports::Upgrade`: the session tried the upgrade.
        assert_eq!(upgrade_probes(&h), 1, "{fault:?}: {:?}", h.server.log());
        assert_eq!(polling_handshakes(&h), 1, "{fault:?}");
        if fault == Fault::Refused {
            assert_eq!(
                openings_from(&h, 0),
                [Opening::WebSocket, Opening::Polling],
                "{:?}",
                h.server.log()
            );
        }
        assert_eq!(h.server.sessions(), 1, "{fault:?}");
        assert!(!h.server.upgraded(), "{fault:?}");
        assert_eq!(
            h.server.received(0),
            [
                Payload::from("over polling"),
                Payload::from("still polling")
            ],
            "{fault:?}"
        );
        assert!(
            message_transports(&h)
                .iter()
                .all(|t| *t == TransportKind::Polling),
            "{fault:?}"
        );
        h.server.assert_no_violations();
        drop((eio, events));
        assert_no_client_tasks(&h);
    }
}

/// With `try_all_transports`, a WebSocket open that the server never answers falls back
/// to polling exactly when the request timeout runs out, not before: until then the only
/// request is the WebSocket open, held.
#[test]
fn with_try_all_transports_a_hanging_websocket_falls_back_after_the_request_timeout() {
    let timeout = Duration::from_secs(7);
    let h = Harness::new(ServerConfig::default());
    h.server.hang_websocket(true);
    let eio = h
        .builder()
        .transports(Transports::WebSocket)
        .try_all_transports(true)
        .request_timeout(timeout)
        .build()
        .unwrap();
    let mut events = eio.events();
    h.block_on(async {
        let mut connect = std::pin::pin!(eio.connect(h.url()));
        let early = futures::future::select(
            connect.as_mut(),
            Box::pin(eio.sleep(timeout - Duration::from_millis(1))),
        )
        .await;
        assert!(
            matches!(early, Either::Right(_)),
            "connect returned before the timeout"
        );
        assert_eq!(openings_from(&h, 0), [Opening::WebSocket]);
        assert_eq!(requests(&h).len(), 1, "{:?}", h.server.log());
        assert_eq!(h.server.held_websockets(), 1);
        connect.await.unwrap();
        assert_eq!(h.elapsed(), timeout);
        assert_eq!(eio.transport(), Some(TransportKind::Polling));
        assert_eq!(events.next().await, Some(ClientEvent::Connect));
        round_trip(&eio, &mut events, "after the timeout").await;
        // The fallback session's upgrade probe hangs too, until the upgrade timeout
        // (10 s): the session stays on polling.
        assert_eq!(h.server.held_websockets(), 1, "{:?}", h.server.log());
        eio.sleep(Duration::from_secs(11)).await;
        assert_eq!(eio.transport(), Some(TransportKind::Polling));
        round_trip(&eio, &mut events, "after the upgrade timeout").await;
    });
    assert_eq!(
        h.server.log()[..2],
        ["0 WS EIO=4&transport=websocket", "7000 GET handshake"],
        "{:?}",
        h.server.log()
    );
    // The client gave up on both held WebSockets.
    assert_eq!(h.server.held_websockets(), 0);
    assert_eq!(h.server.sessions(), 1);
    assert_eq!(
        h.server.received(0),
        [
            Payload::from("after the timeout"),
            Payload::from("after the upgrade timeout")
        ]
    );
    h.server.assert_no_violations();
}

/// With `try_all_transports`, the fallback session runs on `Transports::Upgrade`: once
/// the WebSocket answers again, it upgrades. Here the server holds every WebSocket
/// handshake: the direct open times out (5 s) and the session falls back to polling; its
/// upgrade probe is held too, until the server lets it through (at 8 s, within the
/// upgrade timeout): the session upgrades, and messages go over WebSocket from then on.
#[test]
fn with_try_all_transports_the_fallback_session_upgrades_when_websocket_comes_back() {
    let h = Harness::new(ServerConfig::default());
    h.server.hang_websocket(true);
    let eio = h
        .builder()
        .transports(Transports::WebSocket)
        .try_all_transports(true)
        .build()
        .unwrap();
    let mut events = eio.events();
    h.block_on(async {
        eio.connect(h.url()).await.unwrap();
        assert_eq!(h.elapsed(), Duration::from_secs(5));
        assert_eq!(eio.transport(), Some(TransportKind::Polling));
        assert_eq!(events.next().await, Some(ClientEvent::Connect));
        round_trip(&eio, &mut events, "polling").await;
        eio.sleep(Duration::from_secs(3)).await;
        assert_eq!(h.server.held_websockets(), 1, "the probe is held");
        h.server.hang_websocket(false);
        assert_eq!(
            next_event(&mut events, |e| *e == ClientEvent::Upgraded).await,
            ClientEvent::Upgraded
        );
        assert_eq!(eio.transport(), Some(TransportKind::WebSocket));
        round_trip(&eio, &mut events, "websocket").await;
        eio.disconnect().await.unwrap();
    });
    assert_eq!(
        openings_from(&h, 0),
        [Opening::WebSocket, Opening::Polling],
        "{:?}",
        h.server.log()
    );
    assert_eq!(upgrade_probes(&h), 1);
    assert_eq!(h.server.sessions(), 1);
    assert_eq!(
        message_transports(&h),
        [TransportKind::Polling, TransportKind::WebSocket]
    );
    h.server.assert_no_violations();
}

/// `try_all_transports` changes nothing while the WebSocket works: a WebSocket-only
/// connect opens on WebSocket, with no polling request at all.
#[test]
fn with_try_all_transports_a_working_websocket_is_used_alone() {
    let h = Harness::new(ServerConfig::default());
    let eio = h
        .builder()
        .transports(Transports::WebSocket)
        .try_all_transports(true)
        .build()
        .unwrap();
    let mut events = eio.events();
    h.block_on(async {
        eio.connect(h.url()).await.unwrap();
        assert_eq!(eio.transport(), Some(TransportKind::WebSocket));
        round_trip(&eio, &mut events, "ws").await;
        eio.disconnect().await.unwrap();
    });
    assert_eq!(openings_from(&h, 0), [Opening::WebSocket]);
    assert!(
        requests(&h).iter().all(|r| r.starts_with("WS ")),
        "{:?}",
        h.server.log()
    );
    assert_eq!(message_transports(&h), [TransportKind::WebSocket]);
}

/// How the polling handshake fails while WebSocket works.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum HandshakeFault {
    /// Never answered: the request timeout (5 s by default) ends it.
    Stalled,
    /// Answered 502 with an HTML page, as a proxy does: no Engine.IO error in it.
    ProxyError,
    /// Answered 502 with a plain-text message, as some gateways do: a message, but a 5xx,
    /// which an Engine.IO server never sends.
    GatewayText,
}

impl HandshakeFault {
    fn start(self, h: &Harness) {
        match self {
            HandshakeFault::Stalled => h.server.stall_handshake(true),
            HandshakeFault::ProxyError => h
                .server
                .refuse_handshake(502, "<html><body>Bad Gateway</body></html>"),
            HandshakeFault::GatewayText => h.server.refuse_handshake(502, "Bad Gateway"),
        }
    }

    fn delay(self) -> Duration {
        match self {
            HandshakeFault::Stalled => Duration::from_secs(5),
            HandshakeFault::ProxyError | HandshakeFault::GatewayText => Duration::ZERO,
        }
    }

    fn is_failure(self, failure: &TransportFailure) -> bool {
        match self {
            HandshakeFault::Stalled => *failure == TransportFailure::RequestTimeout,
            HandshakeFault::ProxyError | HandshakeFault::GatewayText => {
                matches!(failure, TransportFailure::Http(e) if e.status == 502)
            }
        }
    }
}

/// With the default transports (`Transports::Upgrade`), a polling handshake that fails
/// (unanswered until the request timeout, or a proxy's HTTP error) is retried on
/// WebSocket only with `try_all_transports`: then the connect succeeds on WebSocket right
/// after the failure, and messages round-trip over it. Without the option, the connect
/// fails with the handshake's error and no WebSocket is opened.
#[test]
fn a_failed_polling_handshake_is_retried_on_websocket_only_with_try_all_transports() {
    for fault in [
        HandshakeFault::Stalled,
        HandshakeFault::ProxyError,
        HandshakeFault::GatewayText,
    ] {
        for try_all in [false, true] {
            let h = Harness::new(ServerConfig::default());
            fault.start(&h);
            let eio = h.builder().try_all_transports(try_all).build().unwrap();
            let mut events = eio.events();
            let connected = h.block_on(async {
                let connected = eio.connect(h.url()).await;
                assert_eq!(h.elapsed(), fault.delay(), "{fault:?}, {try_all}");
                if connected.is_ok() {
                    assert_eq!(eio.transport(), Some(TransportKind::WebSocket));
                    assert_eq!(events.next().await, Some(ClientEvent::Connect));
                    round_trip(&eio, &mut events, "over ws").await;
                    eio.disconnect().await.unwrap();
                }
                connected
            });
            if try_all {
                connected.unwrap();
                assert_eq!(
                    openings_from(&h, 0),
                    [Opening::Polling, Opening::WebSocket],
                    "{fault:?}: {:?}",
                    h.server.log()
                );
                assert_eq!(h.server.sessions(), 1);
                assert_eq!(h.server.received(0), [Payload::from("over ws")]);
                assert_eq!(message_transports(&h), [TransportKind::WebSocket]);
            } else {
                match connected {
                    Err(Error::Connect { failure, .. }) => {
                        assert!(fault.is_failure(&failure), "{fault:?}: {failure:?}")
                    }
                    other => panic!("{fault:?}: {other:?}"),
                }
                assert_eq!(openings_from(&h, 0), [Opening::Polling], "{fault:?}");
                assert_eq!(h.server.sessions(), 0);
            }
            drop((eio, events));
            assert_no_client_tasks(&h);
        }
    }
}

/// With `try_all_transports` and the default transports, when the polling handshake and
/// then the WebSocket both fail, `connect` returns the polling attempt's error (here the
/// proxy's 502), not the WebSocket's (403).
#[test]
fn when_polling_and_websocket_both_fail_the_polling_error_is_returned() {
    let h = Harness::new(ServerConfig::default());
    HandshakeFault::ProxyError.start(&h);
    h.server.refuse_websocket(403);
    let eio = h.builder().try_all_transports(true).build().unwrap();
    let err = h.block_on(eio.connect(h.url())).unwrap_err();
    match &err {
        Error::Connect { failure, .. } => assert!(
            HandshakeFault::ProxyError.is_failure(failure),
            "{failure:?}"
        ),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        openings_from(&h, 0),
        [Opening::Polling, Opening::WebSocket],
        "{:?}",
        h.server.log()
    );
    assert_eq!(eio.sid(), None);
    drop(eio);
    assert_no_client_tasks(&h);
}

/// With `try_all_transports`, a refusal that is the Engine.IO server's own answer (an
/// HTTP error whose body is an Engine.IO error, e.g. its connect handler said no) is the
/// connect's error: no WebSocket is tried after it.
#[test]
fn the_servers_own_refusal_is_not_retried_on_websocket() {
    let h = Harness::new(ServerConfig::default());
    h.server
        .refuse_handshake(403, r#"{"code":4,"message":"Forbidden"}"#);
    let eio = h.builder().try_all_transports(true).build().unwrap();
    let err = h.block_on(eio.connect(h.url())).unwrap_err();
    match &err {
        Error::Connect {
            failure: TransportFailure::Http(e),
            ..
        } => {
            assert_eq!(e.status, 403);
            assert_eq!(e.code, Some(4));
            assert_eq!(e.message.as_deref(), Some("Forbidden"));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        openings_from(&h, 0),
        [Opening::Polling],
        "{:?}",
        h.server.log()
    );
    assert_eq!(websocket_opens(&h), 0);
}

/// `try_all_transports` does nothing with polling only (`Transports::Polling`): there is
/// no other transport to try, so a handshake that fails is the connect's error and no
/// WebSocket is opened.
#[test]
fn try_all_transports_with_polling_only_tries_no_websocket() {
    let h = Harness::new(ServerConfig::default());
    h.server.stall_handshake(true);
    let eio = h
        .builder()
        .transports(Transports::Polling)
        .try_all_transports(true)
        .build()
        .unwrap();
    let err = h.block_on(eio.connect(h.url())).unwrap_err();
    assert!(
        matches!(
            err,
            Error::Connect {
                failure: TransportFailure::RequestTimeout,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(h.elapsed(), Duration::from_secs(5));
    assert_eq!(
        openings_from(&h, 0),
        [Opening::Polling],
        "{:?}",
        h.server.log()
    );
}

// ----- remember_upgrade --------------------------------------------------------------

/// Connects `eio`, checks the connection ends up on WebSocket with an echo over it, and
/// disconnects. Returns how the connection opened, from the server's log.
fn session_on_websocket(h: &Harness, eio: &AsyncClient, text: &str) -> Vec<Opening> {
    let from = requests(h).len();
    h.block_on(async {
        let mut events = eio.events();
        eio.connect(h.url()).await.unwrap();
        h.idle().await;
        assert_eq!(eio.transport(), Some(TransportKind::WebSocket));
        round_trip(eio, &mut events, text).await;
        eio.disconnect().await.unwrap();
    });
    h.settle();
    assert_eq!(
        message_transports(h),
        [TransportKind::WebSocket],
        "{:?}",
        h.server.log()
    );
    openings_from(h, from)
}

/// With `remember_upgrade` and the default transports, the first connection opens on
/// polling and upgrades; the next one opens directly on WebSocket (its first request is a
/// WebSocket open without a sid; no polling handshake, no GET at all), and so does the
/// one after it, since WebSocket keeps working.
#[test]
fn remember_upgrade_opens_the_next_connection_directly_on_websocket() {
    let h = Harness::new(ServerConfig::default());
    let eio = h.builder().remember_upgrade(true).build().unwrap();
    assert_eq!(session_on_websocket(&h, &eio, "first"), [Opening::Polling]);
    assert!(h.server.upgraded(), "the first session upgraded");
    for (i, text) in [(1, "second"), (2, "third")] {
        let from = requests(&h).len();
        let mut events = eio.events();
        h.block_on(async {
            eio.connect(h.url()).await.unwrap();
            // On WebSocket from the start, not after an upgrade.
            assert_eq!(eio.transport(), Some(TransportKind::WebSocket));
            assert_eq!(events.next().await, Some(ClientEvent::Connect));
            round_trip(&eio, &mut events, text).await;
            eio.disconnect().await.unwrap();
        });
        let new = requests(&h)[from..].to_vec();
        assert_eq!(
            new.first().map(String::as_str),
            Some("WS EIO=4&transport=websocket"),
            "connection {i}: {new:?}"
        );
        assert!(
            new.iter().all(|r| r.starts_with("WS ")),
            "connection {i} polled: {new:?}"
        );
        assert_eq!(h.server.sessions(), i + 1);
        assert_eq!(h.server.received(i), [Payload::from(text)]);
        assert_eq!(message_transports(&h), [TransportKind::WebSocket]);
    }
    h.server.assert_no_violations();
    drop(eio);
    assert_no_client_tasks(&h);
}

/// Without `remember_upgrade` (the default), every connection starts with the polling
/// handshake and upgrades anew, however many sessions upgraded before.
#[test]
fn without_remember_upgrade_every_connection_starts_with_polling() {
    let h = Harness::new(ServerConfig::default());
    let eio = h.client();
    for text in ["first", "second", "third"] {
        let from = requests(&h).len();
        assert_eq!(session_on_websocket(&h, &eio, text), [Opening::Polling]);
        assert_eq!(requests(&h)[from], "GET handshake", "{:?}", h.server.log());
    }
    assert_eq!(websocket_opens(&h), 0);
    assert_eq!(h.server.sessions(), 3);
}

/// `remember_upgrade` also remembers a session that opened on WebSocket without an
/// upgrade: here `try_all_transports` moved a connect whose polling handshake failed to
/// WebSocket; the next connect (the handshake works again) opens directly on WebSocket.
#[test]
fn remember_upgrade_remembers_a_session_opened_on_websocket() {
    let h = Harness::new(ServerConfig::default());
    h.server.refuse_handshake(502, "");
    let eio = h
        .builder()
        .remember_upgrade(true)
        .try_all_transports(true)
        .build()
        .unwrap();
    h.block_on(async {
        eio.connect(h.url()).await.unwrap();
        assert_eq!(eio.transport(), Some(TransportKind::WebSocket));
        eio.disconnect().await.unwrap();
    });
    assert_eq!(openings_from(&h, 0), [Opening::Polling, Opening::WebSocket]);
    h.server.accept_handshake();
    let from = requests(&h).len();
    h.block_on(async {
        eio.connect(h.url()).await.unwrap();
        assert_eq!(eio.transport(), Some(TransportKind::WebSocket));
        eio.disconnect().await.unwrap();
    });
    assert_eq!(
        openings_from(&h, from),
        [Opening::WebSocket],
        "{:?}",
        &requests(&h)[from..]
    );
    assert_eq!(h.server.sessions(), 2);
}

/// `remember_upgrade` remembers a session that ran on WebSocket, nothing else: while the
/// server offers no upgrade, every connection starts with polling.
#[test]
fn remember_upgrade_remembers_nothing_until_a_session_ran_on_websocket() {
    let h = Harness::new(ServerConfig {
        upgrades: false,
        ..ServerConfig::default()
    });
    let eio = h.builder().remember_upgrade(true).build().unwrap();
    for _ in 0..3 {
        h.block_on(async {
            eio.connect(h.url()).await.unwrap();
            eio.sleep(Duration::from_secs(15)).await;
            assert_eq!(eio.transport(), Some(TransportKind::Polling));
            eio.disconnect().await.unwrap();
        });
    }
    assert_eq!(
        openings_from(&h, 0),
        [Opening::Polling, Opening::Polling, Opening::Polling],
        "{:?}",
        h.server.log()
    );
}

/// With `remember_upgrade`, once a session upgraded: when the WebSocket then fails
/// (refused, reset by the network, unanswered until the request timeout), the next
/// connect still succeeds, over polling, after its one direct WebSocket attempt; it
/// stays on polling (its upgrade fails too). The memory is cleared: the connect after it
/// starts with polling again (no direct WebSocket attempt), and once WebSocket works
/// again and a session upgrades, the one after that opens directly on WebSocket again.
#[test]
fn a_failed_remembered_websocket_falls_back_to_polling_and_is_forgotten() {
    for fault in Fault::ALL {
        let h = Harness::new(ServerConfig::default());
        let eio = fault.builder(&h).remember_upgrade(true).build().unwrap();

        // 1: polling, upgraded.
        session_on_websocket(&h, &eio, "first");
        assert_eq!(websocket_opens(&h), 0, "{fault:?}");
        assert_eq!(polling_handshakes(&h), 1, "{fault:?}");

        // 2: the remembered WebSocket fails; polling.
        fault.start(&h);
        let start = h.elapsed();
        let from = requests(&h).len();
        h.block_on(async {
            let mut events = eio.events();
            eio.connect(h.url()).await.unwrap();
            assert_eq!(h.elapsed() - start, fault.delay(), "{fault:?}");
            assert_eq!(eio.transport(), Some(TransportKind::Polling), "{fault:?}");
            assert_eq!(events.next().await, Some(ClientEvent::Connect), "{fault:?}");
            round_trip(&eio, &mut events, "second").await;
            eio.sleep(Duration::from_secs(15)).await;
            assert_eq!(eio.transport(), Some(TransportKind::Polling), "{fault:?}");
            eio.disconnect().await.unwrap();
        });
        h.settle();
        assert_eq!(websocket_opens(&h), 1, "{fault:?}: one direct attempt");
        // The first session's probe, and the fallback session's (`Transports::Upgrade`).
        assert_eq!(upgrade_probes(&h), 2, "{fault:?}: {:?}", h.server.log());
        assert_eq!(polling_handshakes(&h), 2, "{fault:?}");
        if fault != Fault::Dropped {
            assert_eq!(
                openings_from(&h, from),
                [Opening::WebSocket, Opening::Polling],
                "{fault:?}: {:?}",
                h.server.log()
            );
        }
        assert_eq!(h.server.sessions(), 2, "{fault:?}");
        assert!(!h.server.upgraded(), "{fault:?}");
        assert_eq!(h.server.received(1), [Payload::from("second")], "{fault:?}");

        // 3: forgotten: polling first, although WebSocket works again and upgrades.
        fault.stop(&h);
        assert_eq!(
            session_on_websocket(&h, &eio, "third"),
            [Opening::Polling],
            "{fault:?}: {:?}",
            h.server.log()
        );
        assert_eq!(websocket_opens(&h), 1, "{fault:?}");

        // 4: learnt anew: directly on WebSocket.
        let from = requests(&h).len();
        h.block_on(async {
            eio.connect(h.url()).await.unwrap();
            assert_eq!(eio.transport(), Some(TransportKind::WebSocket), "{fault:?}");
            eio.disconnect().await.unwrap();
        });
        assert_eq!(
            openings_from(&h, from),
            [Opening::WebSocket],
            "{fault:?}: {:?}",
            h.server.log()
        );
        assert_eq!(h.server.sessions(), 4, "{fault:?}");
        h.server.assert_no_violations();
        drop(eio);
        assert_no_client_tasks(&h);
    }
}

/// With `remember_upgrade`, when the direct WebSocket attempt and the polling fallback
/// both fail (the network is down), `connect` fails with the fallback's error, and the
/// memory is cleared all the same: once the network is back, the next connect starts
/// with polling.
#[test]
fn when_the_fallback_fails_too_the_connect_fails_and_the_memory_is_cleared() {
    let h = Harness::new(ServerConfig::default());
    let eio = h.wire_builder().remember_upgrade(true).build().unwrap();
    session_on_websocket(&h, &eio, "first");
    h.network().down();
    let dials = h.network().dials();
    let err = h.block_on(eio.connect(h.url())).unwrap_err();
    assert!(
        matches!(
            &err,
            Error::Connect {
                failure: TransportFailure::Connect(_),
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(
        h.network().dials() - dials,
        2,
        "one WebSocket attempt, one polling attempt"
    );
    assert_eq!(eio.sid(), None);
    h.network().up();
    let from = requests(&h).len();
    assert_eq!(
        session_on_websocket(&h, &eio, "after"),
        [Opening::Polling],
        "{:?}",
        &requests(&h)[from..]
    );
    assert_eq!(h.server.sessions(), 2);
}

/// A `remember_upgrade` client that connects from its own `disconnect` handler (a
/// reconnect loop) opens the new connection directly on WebSocket too.
#[test]
fn a_reconnect_from_the_disconnect_handler_uses_the_remembered_websocket() {
    let h = Harness::new(ServerConfig::default());
    let eio = h.builder().remember_upgrade(true).build().unwrap();
    let weak = eio.downgrade();
    let reconnects = Arc::new(AtomicUsize::new(0));
    let r = reconnects.clone();
    eio.on_disconnect(move |reason| {
        let (weak, r) = (weak.clone(), r.clone());
        async move {
            if matches!(reason, DisconnectReason::ServerDisconnect(_))
                && r.fetch_add(1, Ordering::SeqCst) == 0
            {
                let eio = weak.upgrade().unwrap();
                eio.connect("http://harness.test").await.unwrap();
            }
        }
    });
    let mut events = eio.events();
    h.block_on(async {
        eio.connect(h.url()).await.unwrap();
        next_event(&mut events, |e| *e == ClientEvent::Upgraded).await;
        let from = requests(&h).len();
        h.server.close();
        next_event(&mut events, |e| *e == ClientEvent::Connect).await;
        assert_eq!(eio.transport(), Some(TransportKind::WebSocket));
        assert_eq!(
            requests(&h)[from..].first().map(String::as_str),
            Some("WS EIO=4&transport=websocket"),
            "{:?}",
            h.server.log()
        );
        eio.sleep(SECOND).await;
        eio.disconnect().await.unwrap();
    });
    assert_eq!(reconnects.load(Ordering::SeqCst), 1);
    assert_eq!(openings_from(&h, 0), [Opening::Polling, Opening::WebSocket]);
}

// ----- what the fallback must not undo ---------------------------------------------------

/// A `disconnect` while the first attempt of a connect with a fallback is still pending
/// (its WebSocket open, or its polling handshake, unanswered) ends the connect: that is
/// the application's decision, not a transport failure, so no attempt on the other
/// transport may follow. `connect` fails, the client is not connected, and the server
/// sees no second attempt. Checked for `try_all_transports` with WebSocket only, for a
/// remembered WebSocket (`remember_upgrade`), and for `try_all_transports` with the
/// default transports.
#[test]
fn a_disconnect_during_the_first_attempt_is_not_undone_by_the_fallback() {
    for mode in ["try_all websocket", "remember_upgrade", "try_all upgrade"] {
        let h = Harness::new(ServerConfig::default());
        let eio = match mode {
            "try_all websocket" => h
                .builder()
                .transports(Transports::WebSocket)
                .try_all_transports(true)
                .build()
                .unwrap(),
            "remember_upgrade" => {
                let eio = h.builder().remember_upgrade(true).build().unwrap();
                session_on_websocket(&h, &eio, "first");
                eio
            }
            _ => h.builder().try_all_transports(true).build().unwrap(),
        };
        if mode == "try_all upgrade" {
            h.server.stall_handshake(true);
        } else {
            h.server.hang_websocket(true);
        }
        let from = requests(&h).len();
        let (connected, disconnected) = h.block_on(async {
            let connect = eio.connect(h.url());
            let stop = async {
                eio.sleep(SECOND).await;
                assert_eq!(requests(&h).len(), from + 1, "{mode}: {:?}", h.server.log());
                eio.disconnect().await
            };
            futures::join!(connect, stop)
        });
        disconnected.unwrap();
        h.settle();
        assert_eq!(
            openings_from(&h, from).len(),
            1,
            "{mode}: another attempt after the disconnect: {:?}",
            &requests(&h)[from..]
        );
        assert!(
            matches!(connected, Err(Error::Connect { .. })),
            "{mode}: {connected:?}"
        );
        assert_eq!(eio.sid(), None, "{mode}: still connected");
    }
}
