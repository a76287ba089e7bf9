//! The client's own rules, on the deterministic harness (tests/common/harness.rs): the
//! whole `AsyncClient` (driver, dispatcher, handlers, event streams) against a scripted
//! server in memory, on a manual clock, on one thread. No sockets and no real time: each
//! test runs in milliseconds, the same way every time, and its timings are exact.
//!
//! The real servers (tests/interop.rs, tests/faults.rs) check conformance; these check
//! what lives in the client: heartbeat and request deadlines, flow control both ways,
//! order across the upgrade, the linger after close, close waiters, reconnecting from a
//! handler, a dropped `connect` future, and that nothing is left running afterwards.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::harness::{Harness, ServerConfig, next_event};
use engineio::proto::Packet;
use engineio::{
    AsyncClient, ClientEvent, DisconnectReason, Error, Payload, SendErrorKind, ServerClose,
    TransportFailure, TransportKind, Transports,
};
use futures::StreamExt;

const SECOND: Duration = Duration::from_secs(1);

fn is_disconnect(ev: &ClientEvent) -> bool {
    matches!(ev, ClientEvent::Disconnect(_))
}

/// A client of `h` on `transports`, other options at their defaults.
fn client_on(h: &Harness, transports: Transports) -> AsyncClient {
    h.builder().transports(transports).build().unwrap()
}

fn texts(n: usize) -> Vec<Payload> {
    (0..n).map(|i| Payload::from(format!("m{i}"))).collect()
}

/// Every task the client spawned has ended.
fn assert_no_client_tasks(h: &Harness) {
    h.settle();
    assert_eq!(h.client_tasks(), 0, "client tasks left running");
}

#[test]
fn connect_echo_upgrade_and_disconnect() {
    let h = Harness::new(ServerConfig::default());
    let eio = h.client();
    let mut events = eio.events();
    h.block_on(async {
        eio.connect(h.url()).await.unwrap();
        assert_eq!(events.next().await, Some(ClientEvent::Connect));
        assert_eq!(eio.sid().as_deref(), Some("sid0"));
        eio.send("hello").await.unwrap();
        let echo = next_event(&mut events, |e| matches!(e, ClientEvent::Message(_))).await;
        assert_eq!(echo, ClientEvent::Message(Payload::from("hello")));
        eio.disconnect().await.unwrap();
        let end = next_event(&mut events, is_disconnect).await;
        assert_eq!(
            end,
            ClientEvent::Disconnect(DisconnectReason::ClientDisconnect)
        );
        eio.wait().await;
    });
    assert!(
        h.server.upgraded(),
        "the session upgraded: {:?}",
        h.server.log()
    );
    assert_eq!(h.server.sessions(), 1);
    assert_eq!(h.server.received(0), vec![Payload::from("hello")]);
    assert!(!h.server.is_open(), "the server saw the close packet");
    h.server.assert_no_violations();
    drop((eio, events));
    assert_no_client_tasks(&h);
}

#[test]
fn the_stream_reports_the_upgrade_in_order_and_only_when_there_is_one() {
    for transports in [
        Transports::Upgrade,
        Transports::Polling,
        Transports::WebSocket,
    ] {
        let h = Harness::new(ServerConfig::default());
        let eio = client_on(&h, transports);
        let mut events = eio.events();
        let mut seen = Vec::new();
        h.block_on(async {
            eio.connect(h.url()).await.unwrap();
            h.idle().await;
            // The upgrade is over by now, if there was one: its event comes right after
            // Connect, and the transport says WebSocket from then on.
            seen.push(events.next().await.unwrap());
            if transports == Transports::Upgrade {
                seen.push(events.next().await.unwrap());
                assert_eq!(eio.transport(), Some(TransportKind::WebSocket));
            }
            eio.send("after").await.unwrap();
            seen.push(events.next().await.unwrap());
            eio.disconnect().await.unwrap();
            seen.push(events.next().await.unwrap());
        });
        let mut want = vec![ClientEvent::Connect];
        if transports == Transports::Upgrade {
            want.push(ClientEvent::Upgraded);
        }
        want.push(ClientEvent::Message(Payload::from("after")));
        want.push(ClientEvent::Disconnect(DisconnectReason::ClientDisconnect));
        assert_eq!(seen, want, "{transports:?}");
        h.server.assert_no_violations();
    }
}

#[test]
fn stats_count_messages_bytes_pings_and_the_upgrade() {
    for transports in [Transports::Polling, Transports::Upgrade] {
        let h = Harness::new(ServerConfig::default());
        let eio = client_on(&h, transports);
        assert_eq!(eio.stats(), None, "not connected");
        h.block_on(async {
            let mut events = connected(&h, &eio).await;
            let sent = texts(10);
            for m in &sent {
                eio.send(m.clone()).await.unwrap();
            }
            eio.send(vec![1u8, 2, 3]).await.unwrap();
            for _ in 0..11 {
                next_event(&mut events, |e| matches!(e, ClientEvent::Message(_))).await;
            }
            // Two of the server's pings (every 25 s), answered.
            eio.sleep(Duration::from_secs(60)).await;
            let stats = eio.stats().expect("connected");
            let bytes = sent.iter().map(Payload::len).sum::<usize>() as u64 + 3;
            assert_eq!(stats.messages_sent, 11, "{transports:?}");
            assert_eq!(stats.bytes_sent, bytes, "{transports:?}");
            assert_eq!(stats.messages_received, 11, "{transports:?}");
            assert_eq!(stats.bytes_received, bytes, "{transports:?}");
            assert_eq!(stats.pings_answered, 2, "{transports:?}");
            let upgraded = transports == Transports::Upgrade;
            assert_eq!(stats.upgraded, upgraded, "{transports:?}");
            let transport = if upgraded {
                TransportKind::WebSocket
            } else {
                TransportKind::Polling
            };
            assert_eq!(stats.transport, transport);
            eio.disconnect().await.unwrap();
        });
        assert_eq!(eio.stats(), None, "disconnected");
    }
}

#[test]
fn a_request_timeout_past_the_clock_range_is_no_deadline_and_no_panic() {
    for transports in [Transports::Polling, Transports::WebSocket] {
        let h = Harness::new(ServerConfig::default());
        let eio = h
            .builder()
            .transports(transports)
            .request_timeout(Duration::MAX)
            .upgrade_timeout(Duration::MAX)
            .build()
            .unwrap();
        h.block_on(async {
            let mut events = connected(&h, &eio).await;
            eio.send("x").await.unwrap();
            eio.disconnect().await.unwrap();
            assert_eq!(
                next_event(&mut events, is_disconnect).await,
                ClientEvent::Disconnect(DisconnectReason::ClientDisconnect),
                "{transports:?}"
            );
        });
        assert_eq!(h.server.received_last(), [Payload::from("x")]);
        assert_no_client_tasks(&h);
    }
}

/// Connects `eio` and returns its event stream with the Connect event read.
async fn connected(h: &Harness, eio: &engineio::AsyncClient) -> engineio::Events {
    let mut events = eio.events();
    eio.connect(h.url()).await.unwrap();
    assert_eq!(events.next().await, Some(ClientEvent::Connect));
    events
}

#[test]
fn a_missed_ping_deadline_is_a_transport_error_at_exactly_interval_plus_timeout() {
    for transports in [
        Transports::Polling,
        Transports::WebSocket,
        Transports::Upgrade,
    ] {
        let h = Harness::new(ServerConfig::default());
        let eio = client_on(&h, transports);
        h.block_on(async {
            let mut events = connected(&h, &eio).await;
            // Pings at 25 s and 50 s are answered; then the server falls silent.
            eio.sleep(Duration::from_secs(60)).await;
            assert_eq!(h.server.heartbeats(), (2, 2), "{transports:?}");
            h.server.silence();
            let end = next_event(&mut events, is_disconnect).await;
            assert_eq!(
                end,
                ClientEvent::Disconnect(DisconnectReason::TransportError(
                    TransportFailure::PingTimeout
                )),
                "{transports:?}"
            );
            // The last ping came at 50 s: 50 + 25 + 20.
            assert_eq!(h.elapsed(), Duration::from_secs(95), "{transports:?}");
            eio.wait().await;
        });
        h.server.assert_no_violations();
        drop(eio);
        assert_no_client_tasks(&h);
    }
}

/// A harness whose server does not answer the handshake on `transports` (for an hour, on
/// WebSocket).
fn unanswered_handshake(transports: Transports) -> Harness {
    let h = Harness::new(ServerConfig::default());
    h.server.stall_handshake(true);
    if transports == Transports::WebSocket {
        h.server.delay_websocket(Duration::from_secs(3600));
    }
    h
}

#[test]
fn the_handshake_times_out_after_the_request_timeout() {
    for transports in [Transports::Polling, Transports::WebSocket] {
        let h = unanswered_handshake(transports);
        let eio = h
            .builder()
            .transports(transports)
            .request_timeout(Duration::from_secs(7))
            .build()
            .unwrap();
        let err = h.block_on(eio.connect(h.url())).unwrap_err();
        assert!(
            matches!(
                &err,
                Error::Connect {
                    failure: TransportFailure::RequestTimeout,
                    ..
                }
            ),
            "{transports:?}: {err:?}"
        );
        assert_eq!(h.elapsed(), Duration::from_secs(7), "{transports:?}");
        assert_eq!(eio.sid(), None);
        drop(eio);
        assert_no_client_tasks(&h);
    }
}

#[test]
fn a_post_the_server_never_answers_times_out_after_the_request_timeout() {
    let h = Harness::new(ServerConfig::default());
    let eio = h
        .builder()
        .transports(Transports::Polling)
        .request_timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    h.block_on(async {
        let mut events = connected(&h, &eio).await;
        eio.sleep(SECOND).await;
        h.server.stall_posts(true);
        eio.send("lost").await.unwrap();
        let end = next_event(&mut events, is_disconnect).await;
        assert_eq!(
            end,
            ClientEvent::Disconnect(DisconnectReason::TransportError(
                TransportFailure::RequestTimeout
            ))
        );
        assert_eq!(h.elapsed(), Duration::from_secs(6));
        eio.wait().await;
    });
    drop(eio);
    assert_no_client_tasks(&h);
}

#[test]
fn a_pong_goes_ahead_of_a_long_queue_of_messages() {
    let h = Harness::new(ServerConfig {
        ping_interval: Duration::from_secs(2),
        ..ServerConfig::default()
    });
    let eio = client_on(&h, Transports::Polling);
    h.block_on(async {
        let _events = connected(&h, &eio).await;
        h.server.stall_posts(true);
        for m in texts(40) {
            eio.send(m).await.unwrap();
        }
        // The ping arrives at 2 s while the first POST is held; it is answered first.
        eio.sleep(Duration::from_millis(2500)).await;
        assert_eq!(h.server.heartbeats().0, 1);
        h.server.stall_posts(false);
        eio.sleep(SECOND).await;
    });
    let bodies = h.server.post_bodies();
    assert!(bodies[0].starts_with("4m0\u{1e}"), "{bodies:?}");
    assert!(
        bodies[1].starts_with("3\u{1e}4m"),
        "the pong is not first: {bodies:?}"
    );
    assert_eq!(h.server.received_last(), texts(40));
    assert_eq!(h.server.heartbeats(), (1, 1));
    h.server.assert_no_violations();
}

#[test]
fn send_waits_while_the_send_buffer_is_full_and_a_dropped_send_sends_nothing() {
    for transports in [Transports::Polling, Transports::WebSocket] {
        const BUFFER: usize = 8;
        let h = Harness::new(ServerConfig {
            echo: false,
            ..ServerConfig::default()
        });
        let eio = h
            .builder()
            .transports(transports)
            .send_buffer(BUFFER)
            .build()
            .unwrap();
        let accepted = h.block_on(async {
            let _events = connected(&h, &eio).await;
            match transports {
                Transports::Polling => h.server.stall_posts(true),
                _ => h.server.stall_ws_writes(true),
            }
            let mut accepted = Vec::new();
            for m in texts(1000) {
                let mut send = Box::pin(eio.send(m.clone()));
                // Let the driver take what it can before deciding that the send waits.
                let done = futures::future::select(send.as_mut(), Box::pin(h.idle())).await;
                match done {
                    futures::future::Either::Left((r, _)) => {
                        r.unwrap();
                        accepted.push(m);
                    }
                    // Waiting: dropping it must send nothing.
                    futures::future::Either::Right(_) => break,
                }
            }
            accepted
        });
        // Exactly the buffer, plus what the transport holds. The sends complete without
        // yielding until the buffer is full; then the driver takes what it can: on
        // polling, the whole buffer into the POST that stalls (8 is under the 16 packets
        // of a POST), and the buffer fills again; on WebSocket, the one frame the stalled
        // socket does not accept.
        let holds = match transports {
            Transports::Polling => BUFFER,
            _ => 1,
        };
        assert_eq!(
            accepted.len(),
            BUFFER + holds,
            "{transports:?}: sends accepted with a buffer of {BUFFER}"
        );
        h.block_on(async {
            match transports {
                Transports::Polling => h.server.stall_posts(false),
                _ => h.server.stall_ws_writes(false),
            }
            eio.send("after").await.unwrap();
            eio.sleep(SECOND).await;
        });
        let mut want = accepted.clone();
        want.push(Payload::from("after"));
        assert_eq!(h.server.received_last(), want, "{transports:?}");
        h.server.assert_no_violations();
    }
}

/// A message handler that waits at a gate the test holds shut, and keeps what it got.
fn gated_handler(
    eio: &engineio::AsyncClient,
) -> (
    Arc<futures::lock::Mutex<()>>,
    Arc<std::sync::Mutex<Vec<Payload>>>,
) {
    let gate = Arc::new(futures::lock::Mutex::new(()));
    let got = Arc::new(std::sync::Mutex::new(Vec::new()));
    let (g, seen) = (gate.clone(), got.clone());
    eio.on_message(move |p| {
        let (g, seen) = (g.clone(), seen.clone());
        async move {
            let _open = g.lock().await;
            seen.lock().unwrap().push(p);
        }
    });
    (gate, got)
}

/// A server that sends at most 4 packets per poll, and a client with a 4 KiB receive
/// buffer: 100 messages of 1 kB (`kilobytes`) are far more than it may hold.
fn small_receive_buffer(transports: Transports) -> (Harness, AsyncClient) {
    let h = Harness::new(ServerConfig {
        max_per_poll: 4,
        ..ServerConfig::default()
    });
    let eio = h
        .builder()
        .transports(transports)
        .receive_buffer(4096)
        .build()
        .unwrap();
    (h, eio)
}

fn kilobytes() -> Vec<Payload> {
    (0..100)
        .map(|i| Payload::from(format!("{i:04}").repeat(250)))
        .collect()
}

#[test]
fn a_slow_message_handler_pauses_reading_and_loses_nothing() {
    for transports in [Transports::Polling, Transports::WebSocket] {
        let (h, eio) = small_receive_buffer(transports);
        let (gate, got) = gated_handler(&eio);
        let want = kilobytes();
        h.block_on(async {
            let shut = gate.lock().await;
            // The stream is dropped at once: it holds nothing up.
            drop(connected(&h, &eio).await);
            for m in &want {
                h.server.send(m.clone());
            }
            eio.sleep(Duration::from_secs(10)).await;
            // A message weighs 1,000 + 64 bytes, and counts until its handler has run: the
            // 4 KiB buffer is full with 4 (the one in the handler and 3 behind it). The
            // client reads no further; the rest stays with the server. (Over polling, the
            // poll pending when the server's first message came carried it alone: 1 + 4.)
            let taken = match transports {
                Transports::Polling => 5,
                _ => 4,
            };
            assert_eq!(
                h.server.undelivered(),
                100 - taken,
                "{transports:?}: messages left with the server"
            );
            assert!(got.lock().unwrap().is_empty());
            drop(shut);
            eio.sleep(SECOND).await;
        });
        assert_eq!(*got.lock().unwrap(), want, "{transports:?}");
        assert_eq!(h.server.undelivered(), 0);
        h.server.assert_no_violations();
    }
}

#[test]
fn an_unread_event_stream_pauses_reading_until_it_is_dropped() {
    for transports in [Transports::Polling, Transports::WebSocket] {
        let (h, eio) = small_receive_buffer(transports);
        let count = Arc::new(AtomicUsize::new(0));
        let c = count.clone();
        eio.on_message(move |_| {
            c.fetch_add(1, Ordering::SeqCst);
            async {}
        });
        h.block_on(async {
            let unread = eio.events();
            eio.connect(h.url()).await.unwrap();
            for m in kilobytes() {
                h.server.send(m);
            }
            eio.sleep(Duration::from_secs(10)).await;
            assert!(
                h.server.undelivered() >= 100 - 12,
                "{transports:?}: only {} of 100 left with the server",
                h.server.undelivered()
            );
            drop(unread);
            eio.sleep(SECOND).await;
        });
        assert_eq!(count.load(Ordering::SeqCst), 100, "{transports:?}");
        assert_eq!(h.server.undelivered(), 0);
    }
}

#[test]
fn disconnect_waits_for_the_final_frames_no_longer_than_the_request_timeout() {
    // A socket that takes the frames: disconnect returns at once, close packet first.
    let h = Harness::new(ServerConfig::default());
    let eio = client_on(&h, Transports::WebSocket);
    h.block_on(async {
        let _events = connected(&h, &eio).await;
        eio.send("last").await.unwrap();
        let start = h.elapsed();
        eio.disconnect().await.unwrap();
        assert_eq!(h.elapsed(), start);
    });
    let inbox: Vec<Packet> = h.server.inbox().into_iter().map(|(_, p)| p).collect();
    assert_eq!(inbox, vec![Packet::Message("last".into()), Packet::Close]);
    assert!(!h.server.is_open());

    // A socket that takes nothing: disconnect gives up after the request timeout.
    let h = Harness::new(ServerConfig::default());
    let eio = h
        .builder()
        .transports(Transports::WebSocket)
        .request_timeout(Duration::from_secs(3))
        .build()
        .unwrap();
    h.block_on(async {
        let mut events = connected(&h, &eio).await;
        h.server.stall_ws_writes(true);
        eio.send("stuck").await.unwrap();
        let start = h.elapsed();
        eio.disconnect().await.unwrap();
        assert_eq!(h.elapsed() - start, Duration::from_secs(3));
        let end = next_event(&mut events, is_disconnect).await;
        assert_eq!(
            end,
            ClientEvent::Disconnect(DisconnectReason::ClientDisconnect)
        );
    });
    drop(eio);
    assert_no_client_tasks(&h);
}

#[test]
fn every_disconnect_call_returns_once_closed_and_wait_returns_after_the_handler() {
    for transports in [Transports::Polling, Transports::WebSocket] {
        let h = Harness::new(ServerConfig::default());
        let eio = client_on(&h, transports);
        let handled = Arc::new(AtomicUsize::new(0));
        let seen = handled.clone();
        let clock = eio.clone();
        eio.on_disconnect(move |_| {
            let (seen, clock) = (seen.clone(), clock.clone());
            async move {
                // A slow handler: wait() must wait for it.
                clock.sleep(Duration::from_secs(2)).await;
                seen.fetch_add(1, Ordering::SeqCst);
            }
        });
        h.block_on(async {
            let _events = connected(&h, &eio).await;
            // Over polling the close packet travels in a POST, held here for a second:
            // the connection is closed when it is answered.
            let hold = if transports == Transports::Polling {
                h.server.stall_posts(true);
                SECOND
            } else {
                Duration::ZERO
            };
            let start = h.elapsed();
            let h = &h;
            let returned = |label: &'static str| {
                let eio = eio.clone();
                async move {
                    eio.disconnect().await.unwrap();
                    (label, h.elapsed() - start, h.server.is_open())
                }
            };
            let release = async {
                eio.sleep(hold).await;
                h.server.stall_posts(false);
            };
            let (a, b, (), c) =
                futures::join!(returned("first"), returned("second"), release, async {
                    eio.wait().await;
                    (h.elapsed() - start, handled.load(Ordering::SeqCst))
                });
            for (label, at, server_open) in [a, b] {
                assert_eq!(
                    at, hold,
                    "{transports:?}: the {label} disconnect() returned at {at:?}"
                );
                assert!(
                    !server_open,
                    "{transports:?}: {label} returned before the server saw the close"
                );
            }
            assert_eq!(
                c,
                (hold + 2 * SECOND, 1),
                "{transports:?}: wait() returned before the handler ran"
            );
            // Once more, on a closed client: nothing to wait for.
            eio.disconnect().await.unwrap();
            eio.wait().await;
            assert_eq!(h.elapsed() - start, hold + 2 * SECOND);
        });
        assert_eq!(handled.load(Ordering::SeqCst), 1);
        assert_eq!(eio.sid(), None);
    }
}

#[test]
fn message_order_survives_the_upgrade_both_ways() {
    let h = Harness::new(ServerConfig::default());
    h.server.delay_websocket(Duration::from_secs(2));
    let eio = client_on(&h, Transports::Upgrade);
    let mut events = eio.events();
    let sent = texts(60);
    h.block_on(async {
        eio.connect(h.url()).await.unwrap();
        // Polling, before the WebSocket opens.
        for m in &sent[..20] {
            eio.send(m.clone()).await.unwrap();
            eio.sleep(Duration::from_millis(50)).await;
        }
        // A POST held across the probe: the upgrade must wait for it.
        h.server.stall_posts(true);
        for m in &sent[20..30] {
            eio.send(m.clone()).await.unwrap();
        }
        eio.sleep(Duration::from_millis(1500)).await;
        assert_eq!(eio.transport(), Some(TransportKind::Polling));
        h.server.stall_posts(false);
        // The upgrade completes; then WebSocket.
        eio.sleep(Duration::from_millis(500)).await;
        assert_eq!(eio.transport(), Some(TransportKind::WebSocket));
        for m in &sent[30..] {
            eio.send(m.clone()).await.unwrap();
        }
        let mut echoed = Vec::new();
        while echoed.len() < sent.len() {
            if let ClientEvent::Message(p) =
                next_event(&mut events, |e| matches!(e, ClientEvent::Message(_))).await
            {
                echoed.push(p);
            }
        }
        assert_eq!(echoed, sent, "the echoes came back out of order");
    });
    assert_eq!(h.server.received_last(), sent);
    let transports: Vec<TransportKind> = h
        .server
        .inbox()
        .into_iter()
        .filter(|(_, p)| matches!(p, Packet::Message(_)))
        .map(|(t, _)| t)
        .collect();
    assert!(
        transports[..30]
            .iter()
            .all(|t| *t == TransportKind::Polling),
        "{transports:?}"
    );
    assert!(
        transports[30..]
            .iter()
            .all(|t| *t == TransportKind::WebSocket),
        "{transports:?}"
    );
    h.server.assert_no_violations();
}

#[test]
fn a_disconnect_handler_can_connect_again() {
    let h = Harness::new(ServerConfig::default());
    let eio = h.client();
    let weak = eio.downgrade();
    let connects = Arc::new(AtomicUsize::new(0));
    let c = connects.clone();
    eio.on_connect(move || {
        c.fetch_add(1, Ordering::SeqCst);
        async {}
    });
    let reconnected = Arc::new(AtomicUsize::new(0));
    let r = reconnected.clone();
    eio.on_disconnect(move |reason| {
        let (weak, r) = (weak.clone(), r.clone());
        async move {
            if reason == DisconnectReason::ServerDisconnect(ServerClose::ClosePacket)
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
        assert_eq!(eio.sid().as_deref(), Some("sid0"));
        h.server.close();
        // The handler reconnects before the stream's reader sees anything: the stream
        // still tells the two connections apart, in order. (Each upgrades meanwhile.)
        let not_upgrade = |e: &ClientEvent| *e != ClientEvent::Upgraded;
        let mut seen = Vec::new();
        while seen.len() < 3 {
            seen.push(next_event(&mut events, not_upgrade).await);
        }
        assert_eq!(
            seen,
            [
                ClientEvent::Connect,
                ClientEvent::Disconnect(DisconnectReason::ServerDisconnect(
                    ServerClose::ClosePacket
                )),
                ClientEvent::Connect,
            ]
        );
        assert_eq!(eio.sid().as_deref(), Some("sid1"));
        eio.send("again").await.unwrap();
        assert_eq!(
            next_event(&mut events, not_upgrade).await,
            ClientEvent::Message(Payload::from("again"))
        );
        eio.disconnect().await.unwrap();
        assert_eq!(
            next_event(&mut events, not_upgrade).await,
            ClientEvent::Disconnect(DisconnectReason::ClientDisconnect)
        );
        eio.wait().await;
    });
    assert_eq!(connects.load(Ordering::SeqCst), 2);
    assert_eq!(h.server.sessions(), 2);
    assert_eq!(h.server.received(1), vec![Payload::from("again")]);
    drop((eio, events));
    assert_no_client_tasks(&h);
}

#[test]
fn a_dropped_connect_future_abandons_the_connection() {
    for transports in [Transports::Polling, Transports::WebSocket] {
        let h = unanswered_handshake(transports);
        let eio = client_on(&h, transports);
        h.block_on(async {
            let connect = eio.connect(h.url());
            let gave_up =
                futures::future::select(Box::pin(connect), Box::pin(eio.sleep(SECOND))).await;
            assert!(
                matches!(gave_up, futures::future::Either::Right(_)),
                "{transports:?}"
            );
            h.idle().await;
        });
        assert_no_client_tasks(&h);
        assert_eq!(eio.sid(), None);
        // The client is free to connect again.
        h.server.stall_handshake(false);
        h.server.delay_websocket(Duration::ZERO);
        h.block_on(async {
            let _events = connected(&h, &eio).await;
            eio.send("works").await.unwrap();
            eio.sleep(SECOND).await;
        });
        assert_eq!(
            h.server.received_last(),
            vec![Payload::from("works")],
            "{transports:?}"
        );
    }
}

#[test]
fn send_when_not_connected_hands_the_message_back() {
    let h = Harness::new(ServerConfig::default());
    let eio = h.client();
    h.block_on(async {
        let early = eio.send("early").await.unwrap_err();
        assert_eq!(early.kind, SendErrorKind::NotConnected);
        assert_eq!(early.payload, Payload::from("early"));
        let _events = connected(&h, &eio).await;
        h.server.close();
        eio.wait().await;
        let late = eio.send("late").await.unwrap_err();
        assert_eq!(late.kind, SendErrorKind::NotConnected);
        assert_eq!(late.payload, Payload::from("late"));
    });
    assert!(h.server.received_last().is_empty());
}

#[test]
fn a_drop_of_every_handle_closes_the_connection() {
    let h = Harness::new(ServerConfig::default());
    let eio = client_on(&h, Transports::WebSocket);
    h.block_on(async {
        let _events = connected(&h, &eio).await;
    });
    assert!(h.server.is_open());
    drop(eio);
    h.settle();
    assert!(!h.server.is_open(), "the server did not see the close");
    assert_no_client_tasks(&h);
}

// ----- the client's own connectors, over the harness's in-memory network ---------------

#[test]
fn the_built_in_connectors_run_on_the_in_memory_network() {
    let h = Harness::new(ServerConfig::default());
    let eio = h.wire_builder().build().unwrap();
    h.block_on(async {
        let mut events = connected(&h, &eio).await;
        eio.send("over hyper, then tungstenite").await.unwrap();
        let echo = next_event(&mut events, |e| matches!(e, ClientEvent::Message(_))).await;
        assert_eq!(
            echo,
            ClientEvent::Message(Payload::from("over hyper, then tungstenite"))
        );
        assert_eq!(eio.transport(), Some(TransportKind::WebSocket));
        eio.send(vec![1u8, 2, 3]).await.unwrap();
        let echo = next_event(&mut events, |e| matches!(e, ClientEvent::Message(_))).await;
        assert_eq!(echo, ClientEvent::Message(Payload::from(vec![1u8, 2, 3])));
        eio.disconnect().await.unwrap();
    });
    // The close packet and frame are on their way through the pipe: let them arrive.
    h.settle();
    assert!(h.server.upgraded());
    assert!(!h.server.is_open());
    h.server.assert_no_violations();
    drop(eio);
    assert_no_client_tasks(&h);
    assert_eq!(h.network().open_connections(), 0, "sockets left open");
}

#[test]
fn the_network_going_down_is_a_transport_error_at_once_on_every_transport() {
    for transports in [
        Transports::Polling,
        Transports::WebSocket,
        Transports::Upgrade,
    ] {
        let h = Harness::new(ServerConfig::default());
        let eio = h.wire_builder().transports(transports).build().unwrap();
        h.block_on(async {
            let mut events = connected(&h, &eio).await;
            eio.send("before").await.unwrap();
            eio.sleep(SECOND).await;
            if transports == Transports::Upgrade {
                assert_eq!(eio.transport(), Some(TransportKind::WebSocket));
            }
            let at = h.elapsed();
            h.network().down();
            let end = next_event(&mut events, is_disconnect).await;
            assert!(
                matches!(
                    end,
                    ClientEvent::Disconnect(DisconnectReason::TransportError(_))
                ),
                "{transports:?}: {end:?}"
            );
            assert_eq!(h.elapsed(), at, "{transports:?}: not at once");
            eio.wait().await;
        });
        drop(eio);
        assert_no_client_tasks(&h);
        assert_eq!(
            h.network().open_connections(),
            0,
            "{transports:?}: sockets left open"
        );
    }
}

#[test]
fn a_reset_of_idle_pooled_connections_loses_nothing_over_polling() {
    let h = Harness::new(ServerConfig::default());
    let eio = h
        .wire_builder()
        .transports(Transports::Polling)
        .build()
        .unwrap();
    let sent = texts(30);
    h.block_on(async {
        let mut events = connected(&h, &eio).await;
        for (i, m) in sent.iter().enumerate() {
            eio.send(m.clone()).await.unwrap();
            eio.sleep(Duration::from_millis(100)).await;
            if i % 10 == 9 {
                // The POST connection waits in the pool: reset it under the client.
                h.network().reset_idle();
            }
        }
        let mut echoed = Vec::new();
        while echoed.len() < sent.len() {
            match next_event(&mut events, |e| {
                !matches!(e, ClientEvent::Connect | ClientEvent::Upgraded)
            })
            .await
            {
                ClientEvent::Message(p) => echoed.push(p),
                other => panic!("{other:?} after {} echoes", echoed.len()),
            }
        }
        assert_eq!(echoed, sent);
        eio.disconnect().await.unwrap();
    });
    assert_eq!(h.server.sessions(), 1, "a second session");
    assert_eq!(h.server.received(0), sent);
    assert!(
        h.network().dials() > 3,
        "the resets made the client dial again"
    );
    h.server.assert_no_violations();
}

#[test]
fn a_reset_while_a_poll_is_pending_is_a_transport_error_at_once() {
    let h = Harness::new(ServerConfig::default());
    let eio = h
        .wire_builder()
        .transports(Transports::Polling)
        .build()
        .unwrap();
    h.block_on(async {
        let mut events = connected(&h, &eio).await;
        eio.sleep(SECOND).await;
        let at = h.elapsed();
        h.network().reset();
        let end = next_event(&mut events, is_disconnect).await;
        assert!(
            matches!(
                end,
                ClientEvent::Disconnect(DisconnectReason::TransportError(_))
            ),
            "{end:?}"
        );
        assert_eq!(h.elapsed(), at);
    });
    assert_eq!(h.server.sessions(), 1);
}
