//! Broken networks between the client and a real server (node engine.io), through a TCP
//! proxy (tests/common/proxy.rs), on polling, WebSocket and after an upgrade, on tokio and
//! smol. Each fault means one thing, and each case asserts only what every correct client
//! must do about it:
//!
//! - stall (the network stops carrying bytes; every socket stays open): a ping-timeout
//!   transport error by the ping deadline (pingInterval + pingTimeout, + 1 s), never a
//!   hang. (Before any request times out: the request timeout is longer, 2 s.)
//! - down (every open connection cut, every new one refused), right after a send and
//!   while idle: an I/O transport error (not a timeout) at once (see `NOTICED`), and
//!   `wait()` returns.
//! - down in the middle of a 400 kB message on its way to the server: the same.
//! - reset (every open connection cut; the network stays up, new connections go
//!   through). Over WebSocket, and after an upgrade: an I/O transport error at once.
//!   Over long-polling a client that had no request on the way may carry on over new
//!   connections (retrying a request the dead connection never took is right): then
//!   every message sent before, right at and after the reset is echoed once, in order,
//!   the server received each once, in order, and it saw no second session; or the
//!   session ends, and then with a transport error, having doubled or reordered
//!   nothing. The polling reset lands, for certain, between two polls (the proxy cuts
//!   everything as it delivers a poll's answer, with no other request open) and while a
//!   poll is pending (the proxy stalls, sees a GET sent and not answered, cuts); and
//!   right after a send. Each run prints which way the session went. (Between polls our
//!   client carries on nearly always; now and then, on a loaded machine, it writes the
//!   next poll into an idle pooled connection whose end has arrived but has not been
//!   seen yet, and so ends: it cannot know whether the server had that request.
//!   While a poll is pending it ends: node ends the session when a pending poll's
//!   connection closes, so no client could carry on there.)
//! - `disconnect()` while stalled returns within the request timeout (+ 0.5 s), and the
//!   reason is client disconnect.
//! - down in the middle of the upgrade (as the server accepts the WebSocket, before the
//!   client sees it): polling cannot go on either: an I/O transport error at once.
//! - a server restarted behind the same address answers the old sid with 400 code 1: a
//!   transport error with the server's message (on polling, restarted while only a poll
//!   is on its way: a POST caught in the restart could time out first; a WebSocket is
//!   just closed: a transport error).
//! - a proxy that refuses WebSocket leaves the session on polling, working.
//!
//! (A reset is not a down: the old "cut" case cut the open connections but let new ones
//! through, and expected a disconnect, which a client that resent an unsent poll on a new
//! connection rightly did not give.)
//!
//! After each case (but the last) every task the client spawned has ended and every
//! socket it dialled is closed (counted by a wrapper around the runtime:
//! tests/common/counted.rs).
#![cfg(all(feature = "tokio", feature = "smol"))]

mod common;

use std::time::{Duration, Instant};

use common::counted::{Counts, counted};
use common::proxy::Proxy;
use common::{Server, ServerKind};
use engineio::rt::Runtime;
use engineio::{
    AsyncClient, ClientEvent, DisconnectReason, HttpStatusError, Payload, TransportFailure,
    TransportKind, Transports,
};
use futures::StreamExt;

/// Short heartbeats, for the cases that wait for the ping deadline (1 s).
const PING: [(&str, &str); 2] = [
    ("EIO_PING_INTERVAL_MS", "500"),
    ("EIO_PING_TIMEOUT_MS", "500"),
];

/// The server of every other case: a ping deadline (6 s) far from what they check, so that
/// a server starved for a second on a loaded machine does not end a session on its own;
/// `EIO_REPORT` makes it print `CONNECT <sid>` and `RECEIVED <sid> <message>` lines
/// (tests/servers/node/server.js).
const SERVER_ENV: [(&str, &str); 3] = [
    ("EIO_PING_INTERVAL_MS", "1000"),
    ("EIO_PING_TIMEOUT_MS", "5000"),
    ("EIO_REPORT", "1"),
];

/// The clients' request timeout: 2 s, not 1, so that a handshake or a WebSocket open
/// does not time out on a loaded machine (with 1 s, 2 runs in 40 failed so, with a whole
/// test suite running beside them), and so that in the stall case a POST caught in flight
/// cannot time out before the ping deadline (1 s): that case means a ping timeout only.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(2);

/// How soon a cut or refused connection must be reported: the request timeout + 0.5 s.
/// The OS reports a cut or a refused connection at once, so a correct client notices it
/// well within its request timeout; the bound only catches a client that waits for a
/// timer instead (the request timeout; the ping deadline is further), and the reason
/// checked with it, an I/O error and not a timeout, is what shows that it did not. The
/// 0.5 s margin is for a loaded machine; it is not a measure of speed.
const NOTICED: Duration = Duration::from_millis(2500);

/// A client on a counted copy of `runtime`, connected to `url` (and upgraded when
/// `transports` allows it).
async fn open(
    runtime: &Runtime,
    transports: Transports,
    url: &str,
) -> (AsyncClient, engineio::Events, Counts) {
    let (eio, events, counts) = connected(runtime, transports, url).await;
    if transports == Transports::Upgrade {
        common::wait_for_websocket(&eio).await;
    }
    (eio, events, counts)
}

/// A client on a counted copy of `runtime`, connected to `url`. The handshake is not what
/// these cases test: one that times out (a node server starved for the request timeout
/// on a loaded machine, seen 3 times in 60 runs with a whole test suite beside them) is
/// tried again, with a new client, twice at most.
async fn connected(
    runtime: &Runtime,
    transports: Transports,
    url: &str,
) -> (AsyncClient, engineio::Events, Counts) {
    for attempt in 1.. {
        let (base, counts) = counted(runtime);
        let eio = AsyncClient::builder()
            .runtime(base)
            .transports(transports)
            .request_timeout(REQUEST_TIMEOUT)
            .build()
            .unwrap();
        let events = eio.events();
        match eio.connect(url).await {
            Ok(()) => return (eio, events, counts),
            Err(e) if attempt < 3 && e.failure() == Some(&TransportFailure::RequestTimeout) => {
                eprintln!("{url}, {transports:?}: {e}; connecting again");
                finish(runtime, eio, events, counts, "a handshake that timed out").await;
            }
            Err(e) => panic!("{url}, {transports:?}: {e}"),
        }
    }
    unreachable!()
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

/// The next message (skipping Connect), within 5 s; `label` names the case on failure.
async fn next_message(eio: &AsyncClient, events: &mut engineio::Events, label: &str) -> Payload {
    loop {
        match common::next_event(eio, events, Duration::from_secs(5)).await {
            Some(ClientEvent::Message(p)) => return p,
            Some(ClientEvent::Connect | ClientEvent::Upgraded) => {}
            other => panic!("{label}: expected a message, got {other:?}"),
        }
    }
}

/// An I/O transport error: a connection failed (cut, or refused when the client dialled
/// again), and the client did not wait for a timer.
fn assert_io(reason: &DisconnectReason, label: &str) {
    assert!(
        matches!(
            reason,
            DisconnectReason::TransportError(
                TransportFailure::Io(_) | TransportFailure::Connect(_)
            )
        ),
        "{label}: {reason:#}"
    );
}

/// Every case but the restart and the blocked WebSocket, on `runtime` (named `on`).
async fn scenarios(on: &str, runtime: Runtime) {
    let quick = Server::start(ServerKind::Node, &PING);
    let server = Server::start(ServerKind::Node, &SERVER_ENV);
    for transports in [
        Transports::Polling,
        Transports::WebSocket,
        Transports::Upgrade,
    ] {
        let label = |case: &str| format!("{case}, {transports:?}, {on}");

        // Stall: a ping-timeout transport error by the ping deadline (+ 1 s).
        let proxy = Proxy::start(quick.port);
        let (eio, mut events, counts) = open(&runtime, transports, &proxy.url()).await;
        proxy.stall();
        let stalled = Instant::now();
        let reason = disconnect_within(&eio, &mut events, Duration::from_secs(3)).await;
        assert_eq!(
            reason,
            DisconnectReason::TransportError(TransportFailure::PingTimeout),
            "{}",
            label("stall")
        );
        assert!(
            stalled.elapsed() <= Duration::from_secs(2),
            "{}: {:?}",
            label("stall"),
            stalled.elapsed()
        );
        finish(&runtime, eio, events, counts, &label("stall")).await;
        drop(proxy);

        // Down, right after a send and while idle (a poll pending, or a quiet WebSocket):
        // an I/O transport error at once, and wait() returns.
        for idle in [false, true] {
            let case = label(if idle { "down while idle" } else { "down" });
            let proxy = Proxy::start(server.port);
            let (eio, mut events, counts) = open(&runtime, transports, &proxy.url()).await;
            if idle {
                eio.send("round trip").await.unwrap();
                let echo = next_message(&eio, &mut events, &case).await;
                assert_eq!(echo, Payload::from("round trip"), "{case}");
                eio.sleep(Duration::from_millis(100)).await;
            } else {
                eio.send("in flight").await.unwrap();
            }
            proxy.down();
            let reason = disconnect_within(&eio, &mut events, NOTICED).await;
            assert_io(&reason, &case);
            finish(&runtime, eio, events, counts, &case).await;
            drop(proxy);
        }

        // Reset: see `reset`.
        if transports == Transports::Polling {
            for placement in [
                Placement::BetweenPolls,
                Placement::PollPending,
                Placement::AfterSend,
            ] {
                reset(on, &runtime, &server, transports, placement).await;
            }
        } else {
            reset(on, &runtime, &server, transports, Placement::Idle).await;
        }

        // Down in the middle of a 400 kB message on its way to the server.
        let case = label("down mid-message");
        let proxy = Proxy::start(server.port);
        let (eio, mut events, counts) = open(&runtime, transports, &proxy.url()).await;
        proxy.down_after(64 * 1024);
        eio.send("x".repeat(400_000)).await.unwrap();
        let reason = disconnect_within(&eio, &mut events, NOTICED).await;
        assert_eq!(proxy.triggered(), 1, "{case}: the network did not go down");
        assert_io(&reason, &case);
        finish(&runtime, eio, events, counts, &case).await;
        drop(proxy);

        // disconnect() while stalled returns within the request timeout (+ 0.5 s).
        let case = label("disconnect while stalled");
        let proxy = Proxy::start(server.port);
        let (eio, mut events, counts) = open(&runtime, transports, &proxy.url()).await;
        proxy.stall();
        let start = Instant::now();
        eio.disconnect().await.unwrap();
        assert!(
            start.elapsed() <= REQUEST_TIMEOUT + Duration::from_millis(500),
            "{case}: {:?}",
            start.elapsed()
        );
        let reason = disconnect_within(&eio, &mut events, Duration::from_secs(1)).await;
        assert_eq!(reason, DisconnectReason::ClientDisconnect, "{case}");
        finish(&runtime, eio, events, counts, &case).await;
        drop(proxy);
    }

    // The network goes down in the middle of the upgrade: when the server accepts the
    // WebSocket, before the client sees it. Polling cannot go on either: an I/O transport
    // error at once. (A WebSocket that fails alone leaves the session on polling: see
    // `blocked_websocket_stays_on_polling`.)
    let proxy = Proxy::start(server.port);
    proxy.down_at_websocket();
    let (eio, mut events, counts) = connected(&runtime, Transports::Upgrade, &proxy.url()).await;
    // The upgrade starts at once, and the trigger with its first answer.
    let reason = disconnect_within(&eio, &mut events, NOTICED).await;
    assert_eq!(proxy.triggered(), 1, "{on}: the upgrade was not cut");
    let case = format!("down mid-upgrade, {on}");
    assert_io(&reason, &case);
    finish(&runtime, eio, events, counts, &case).await;
}

/// Where a reset lands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Placement {
    /// Polling: as the answer to a poll is delivered, with no other request open; the
    /// client has no request on the way, nor has the server.
    BetweenPolls,
    /// Polling: while a GET the client sent waits for its answer.
    PollPending,
    /// Right after `send` returns, wherever the message is then.
    AfterSend,
    /// With nothing to send (WebSocket: the one connection there is).
    Idle,
}

/// Every open connection is reset, the network staying up. Over WebSocket the session
/// ends, with an I/O transport error, at once. Over polling it may carry on: then every
/// message is echoed once, in order, and the server received each once, in order, on the
/// one session; or it ends with a transport error, and what did arrive arrived once, in
/// order. Either way the server saw no second session.
async fn reset(
    on: &str,
    runtime: &Runtime,
    server: &Server,
    transports: Transports,
    placement: Placement,
) {
    let case = format!("reset {placement:?}, {transports:?}, {on}");
    let proxy = Proxy::start(server.port);
    sync_lines(runtime, server).await;
    let (eio, mut events, counts) = open(runtime, transports, &proxy.url()).await;
    let sid = eio.sid().expect("a sid");

    // Before: a working session.
    let mut sent: Vec<String> = Vec::new();
    for i in 0..3 {
        let m = format!("before-{i}");
        eio.send(m.clone()).await.unwrap();
        sent.push(m);
    }
    for m in &sent {
        let echo = next_message(&eio, &mut events, &case).await;
        assert_eq!(echo, Payload::from(m.as_str()), "{case}: before the reset");
    }
    let before = sent.len();

    match placement {
        Placement::BetweenPolls => {
            proxy.reset_after_poll();
            // The next answer to a poll comes with the next ping (1 s) at the latest.
            let start = Instant::now();
            while proxy.triggered() == 0 {
                assert!(
                    start.elapsed() < Duration::from_secs(3),
                    "{case}: no poll was answered"
                );
                eio.sleep(Duration::from_millis(5)).await;
            }
        }
        Placement::PollPending => {
            assert!(
                proxy.reset_while_polling(Duration::from_secs(3)),
                "{case}: no poll was pending"
            );
        }
        Placement::AfterSend => {
            let m = "during".to_owned();
            eio.send(m.clone()).await.unwrap();
            sent.push(m);
            proxy.reset();
        }
        Placement::Idle => proxy.reset(),
    }
    let reset_at = Instant::now();

    // After.
    let mut over = false;
    for i in 0..3 {
        let m = format!("after-{i}");
        if eio.send(m.clone()).await.is_err() {
            over = true; // the Disconnect event is on its way
            break;
        }
        sent.push(m);
    }
    let mut echoes: Vec<Payload> = Vec::new();
    let ended = loop {
        if !over && echoes.len() == sent.len() - before {
            break None;
        }
        match common::next_event(&eio, &mut events, Duration::from_secs(5)).await {
            Some(ClientEvent::Message(p)) => echoes.push(p),
            Some(ClientEvent::Disconnect(r)) => break Some((r, reset_at.elapsed())),
            Some(ClientEvent::Connect) => panic!("{case}: a second Connect"),
            Some(_) => {}
            None => panic!("{case}: neither the echoes nor a disconnect within 5 s"),
        }
    };
    let expected: Vec<Payload> = sent[before..]
        .iter()
        .map(|m| Payload::from(m.as_str()))
        .collect();
    match &ended {
        None => {
            assert_eq!(echoes, expected, "{case}: the echoes after the reset");
            assert_eq!(
                transports,
                Transports::Polling,
                "{case}: a WebSocket reset must end the session"
            );
            eprintln!("{case}: the session carried on, nothing lost");
            eio.disconnect().await.unwrap();
            let reason = disconnect_within(&eio, &mut events, Duration::from_secs(2)).await;
            assert_eq!(reason, DisconnectReason::ClientDisconnect, "{case}");
        }
        Some((reason, after)) => {
            assert!(
                in_order_once(&echoes, &expected),
                "{case}: echoes {echoes:?} of {expected:?}"
            );
            if transports == Transports::Polling {
                assert!(
                    matches!(reason, DisconnectReason::TransportError(_)),
                    "{case}: {reason:#}"
                );
            } else {
                assert_io(reason, &case);
                assert!(*after <= NOTICED, "{case}: noticed after {after:?}");
            }
            eprintln!(
                "{case}: the session ended after {after:?} ({reason:#}), {} of {} \
                 echoes after the reset",
                echoes.len(),
                expected.len()
            );
        }
    }
    finish(runtime, eio, events, counts, &case).await;
    drop(proxy);

    // What the server saw (everything it printed before a line it prints now).
    let lines = sync_lines(runtime, server).await;
    let connects: Vec<&String> = lines.iter().filter(|l| l.starts_with("CONNECT ")).collect();
    assert!(
        connects.len() == 1 && connects[0].starts_with(&format!("CONNECT {sid} ")),
        "{case}: sessions {connects:?}, the client's is {sid}"
    );
    let received: Vec<Payload> = lines
        .iter()
        .filter_map(|l| l.strip_prefix("RECEIVED "))
        .map(|l| {
            let (who, what) = l.split_once(' ').expect("RECEIVED <sid> <message>");
            assert_eq!(who, sid, "{case}: a message on another session: {l}");
            let text = what
                .strip_prefix('"')
                .and_then(|t| t.strip_suffix('"'))
                .unwrap_or_else(|| panic!("{case}: not a plain JSON string: {what}"));
            Payload::from(text)
        })
        .collect();
    let all: Vec<Payload> = sent.iter().map(|m| Payload::from(m.as_str())).collect();
    if ended.is_none() {
        assert_eq!(received, all, "{case}: what the server received");
    } else {
        assert!(
            received.len() >= before && in_order_once(&received, &all),
            "{case}: the server received {received:?} of {all:?}"
        );
    }
}

/// Whether `got` is `of` with some items left out: nothing doubled, nothing reordered
/// (the items of `of` are distinct).
fn in_order_once(got: &[Payload], of: &[Payload]) -> bool {
    let mut rest = of.iter();
    got.iter().all(|g| rest.any(|o| o == g))
}

/// The server's stdout lines not read yet, up to a line it prints now: a handshake of our
/// own, straight to the server, prints `CONNECT <sid>` (not returned). Before a case, it
/// leaves no line of an earlier case (whose reader may lag) to be read as one of it.
async fn sync_lines(runtime: &Runtime, server: &Server) -> Vec<String> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(
        b"GET /engine.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: 127.0.0.1\r\n\
          Connection: close\r\n\r\n",
    )
    .unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).unwrap();
    let sid = answer
        .split("\"sid\":\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or_else(|| panic!("no sid in {answer:?}"));
    let mut lines = lines_until(runtime, server, &format!("CONNECT {sid} "), "sync").await;
    lines.pop();
    lines
}

/// The server's stdout lines up to and including the first that starts with `prefix`,
/// which must come within 5 s.
async fn lines_until(runtime: &Runtime, server: &Server, prefix: &str, label: &str) -> Vec<String> {
    let start = Instant::now();
    let mut lines = Vec::new();
    loop {
        for line in server.drain_lines() {
            let last = line.starts_with(prefix);
            lines.push(line);
            if last {
                return lines;
            }
        }
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "{label}: no `{prefix}` line from the server; it printed {lines:?}"
        );
        runtime.timer().sleep(Duration::from_millis(10)).await;
    }
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

        if transports == Transports::Polling {
            // With only the poll on its way: a POST caught in the restart could time out
            // first (request timeout, 2 s), which is right too, but not this case.
            if let Err(seen) = proxy.stall_while_polling(Duration::from_secs(3)) {
                let next = common::next_event(&eio, &mut events, Duration::ZERO).await;
                panic!(
                    "restart, {transports:?}: no poll pending alone; {seen}; the client's \
                     next event: {next:?}"
                );
            }
        } else {
            proxy.stall();
        }
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
    // Not the short heartbeats: at 500 + 500 ms a server starved on a loaded machine ended
    // the session with a ping timeout, which is not what this case is about.
    let server = Server::start(ServerKind::Node, &SERVER_ENV);
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
    // Two ping intervals later it is still up, on polling.
    eio.sleep(Duration::from_millis(2500)).await;
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
    rt.block_on(scenarios(
        "tokio",
        engineio::adapters::tokio::runtime(rt.handle().clone()),
    ));
}

#[test]
fn on_smol() {
    smol::block_on(scenarios("smol", engineio::adapters::smol::runtime()));
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
