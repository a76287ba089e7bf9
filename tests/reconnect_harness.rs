//! Reconnection (`ClientBuilder::reconnect` with a `Reconnect` policy), on the
//! deterministic harness (tests/common/harness.rs): the whole `AsyncClient` against the
//! scripted server and the in-memory network, on the manual clock. No sockets and no real
//! time: the waits are checked to the nanosecond.
//!
//! The rules: the wait before attempt `n` is `delay × 2^(n−1)`, capped at `max_delay`,
//! then moved at random by up to ± `randomization` of itself (defaults 1 s, 5 s,
//! unlimited attempts, 0.5). A transport error (the network down or reset, a missed ping
//! deadline, a restarted server that no longer knows the sid, a 5xx) and a failed attempt
//! are retried; the application's `disconnect()` and a server's close packet are not
//! (unless `on_server_disconnect(true)`). The application sees, in order: the `disconnect`
//! handler of the connection that ended, with its reason; `Reconnecting { attempt, delay }`
//! before each wait; the `connect` handler again, and the new session's sid; or
//! `ReconnectFailed { attempts }` when the attempts run out, and the client stops.
//! `wait()` returns only when the client has stopped for good; `disconnect()` during a
//! wait or an attempt stops it at once; `send` between connections hands the message back.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::harness::{Harness, ServerConfig};
use engineio::{
    AsyncClient, ClientBuilder, ClientEvent, DisconnectReason, Error, Events, HttpStatusError,
    Payload, Reconnect, SendErrorKind, ServerClose, TransportFailure, Transports,
};
use futures::{FutureExt, StreamExt};

const SECOND: Duration = Duration::from_secs(1);

/// socket.io's schedule without the jitter: 1 s doubling up to 5 s, unlimited attempts.
fn no_jitter() -> Reconnect {
    Reconnect::new().randomization(0.0)
}

/// A client of `h` (the scripted connectors) with reconnection `policy`, on `transports`.
fn client(h: &Harness, policy: Reconnect, transports: Transports) -> AsyncClient {
    h.builder()
        .reconnect(policy)
        .transports(transports)
        .build()
        .unwrap()
}

/// The next event that is not `Upgraded` (each session upgrades on its own schedule),
/// with the time on the manual clock it was read: the time it was pushed, since the test's
/// future runs before the clock moves.
async fn next(h: &Harness, events: &mut Events) -> (Duration, ClientEvent) {
    loop {
        let ev = events.next().await.expect("the event stream ended");
        if ev != ClientEvent::Upgraded {
            return (h.elapsed(), ev);
        }
    }
}

/// The events the stream holds now, `Upgraded` left out, without waiting for more.
fn pending(events: &mut Events) -> Vec<ClientEvent> {
    let mut seen = Vec::new();
    while let Some(Some(ev)) = events.next().now_or_never() {
        if ev != ClientEvent::Upgraded {
            seen.push(ev);
        }
    }
    seen
}

/// Every task the client spawned has ended (the client itself may still exist).
fn assert_no_client_tasks(h: &Harness, when: &str) {
    h.settle();
    assert_eq!(h.client_tasks(), 0, "{when}: client tasks left running");
}

/// The times of the connection attempts the server saw after the first connection's.
fn reattempts(h: &Harness) -> Vec<Duration> {
    h.server.attempts_at().into_iter().skip(1).collect()
}

/// Whether `reason` is the 400 of a server that no longer knows the session.
fn is_unknown_sid(reason: &DisconnectReason) -> bool {
    matches!(
        reason,
        DisconnectReason::TransportError(TransportFailure::Http(HttpStatusError {
            status: 400,
            code: Some(1),
            message: Some(m),
        })) if m == "Session ID unknown"
    )
}

/// The server restarts (the connection is lost) and holds the handshakes of the attempts
/// that follow unanswered; returns once the first `Reconnecting` is read.
async fn lose_with_attempts_hanging(h: &Harness, events: &mut Events) {
    h.server.stall_handshake(true);
    h.server.restart();
    while !matches!(next(h, events).await.1, ClientEvent::Reconnecting { .. }) {}
}

/// Runs `f` beside an `eio.wait()` that starts now, until `f` is done; returns the time
/// on the manual clock `wait()` returned at, if it did meanwhile.
async fn with_wait<F: std::future::Future<Output = ()>>(
    h: &Harness,
    eio: &AsyncClient,
    f: F,
) -> Option<Duration> {
    let waited = Arc::new(Mutex::new(None));
    let w = waited.clone();
    let wait = async move {
        eio.wait().await;
        *w.lock().unwrap() = Some(h.elapsed());
    };
    let both = futures::future::select(Box::pin(wait), Box::pin(f)).await;
    if let futures::future::Either::Left(((), f)) = both {
        f.await;
    }
    *waited.lock().unwrap()
}

// ----- (1) the schedule ----------------------------------------------------------------

/// Rule: the wait before attempt `n` is `delay × 2^(n−1)` capped at `max_delay` (with
/// randomization 0: exactly 1 s, 2 s, 4 s, 5 s, 5 s… by default), announced by
/// `Reconnecting { attempt: n, delay }` at the failure before it, and attempt `n` reaches
/// the server exactly `delay` after that failure: not a nanosecond early or late.
#[test]
fn with_no_randomization_the_waits_double_up_to_the_cap_and_each_attempt_comes_exactly_then() {
    let schedules: [(Reconnect, &[f64]); 2] = [
        (no_jitter(), &[1.0, 2.0, 4.0, 5.0, 5.0, 5.0, 5.0]),
        (
            no_jitter()
                .delay(Duration::from_millis(250))
                .max_delay(Duration::from_secs(3)),
            &[0.25, 0.5, 1.0, 2.0, 3.0, 3.0],
        ),
    ];
    for (policy, want) in schedules {
        let want: Vec<Duration> = want.iter().map(|s| Duration::from_secs_f64(*s)).collect();
        let h = Harness::new(ServerConfig::default());
        let eio = client(&h, policy, Transports::Polling);
        let mut events = eio.events();
        let seen = h.block_on(async {
            eio.connect(h.url()).await.unwrap();
            assert_eq!(next(&h, &mut events).await.1, ClientEvent::Connect);
            eio.sleep(SECOND).await;
            // Every attempt fails at once: a gateway's 503 to the handshake.
            h.server.refuse_handshake(503, "");
            h.server.restart();
            let (lost_at, end) = next(&h, &mut events).await;
            assert!(matches!(end, ClientEvent::Disconnect(_)), "{end:?}");
            let mut seen = vec![(lost_at, end)];
            // Up to the Reconnecting after the last attempt checked: it has failed.
            while seen.len() <= want.len() + 1 {
                seen.push(next(&h, &mut events).await);
            }
            eio.disconnect().await.unwrap();
            seen
        });
        let lost_at = seen[0].0;
        let mut failed_at = lost_at;
        let attempts = reattempts(&h);
        assert_eq!(attempts.len(), want.len(), "{seen:?}");
        for (n, ((at, ev), delay)) in seen[1..].iter().zip(&want).enumerate() {
            let attempt = n as u32 + 1;
            assert_eq!(
                *ev,
                ClientEvent::Reconnecting {
                    attempt,
                    delay: *delay
                },
                "event {attempt}"
            );
            assert_eq!(
                *at, failed_at,
                "Reconnecting {attempt} comes at the failure before it"
            );
            assert_eq!(
                attempts[n],
                failed_at + *delay,
                "attempt {attempt}: {:?} after the failure, not {delay:?}",
                attempts[n] - failed_at
            );
            // The 503 fails the attempt at once.
            failed_at = attempts[n];
        }
        // The disconnect() stopped the loop: no attempt afterwards.
        h.advance(Duration::from_secs(60));
        assert_eq!(reattempts(&h).len(), want.len());
        assert_eq!(h.server.sessions(), 1);
    }
}

/// Rule: with the default randomization (0.5) each wait is within [0.5, 1.5] × its base
/// (1 s, 2 s, 4 s, 5 s, 5 s…), the waits are actually moved (not all at their base), and
/// each attempt reaches the server exactly the `delay` its `Reconnecting` event announced
/// after that event.
#[test]
fn with_the_default_randomization_each_wait_is_within_half_its_base_and_is_kept_exactly() {
    const ATTEMPTS: usize = 10;
    let mut moved = 0;
    for run in 0..5 {
        let h = Harness::new(ServerConfig::default());
        let eio = client(&h, Reconnect::new(), Transports::Polling);
        let mut events = eio.events();
        let seen = h.block_on(async {
            eio.connect(h.url()).await.unwrap();
            h.server.refuse_handshake(503, "");
            h.server.restart();
            let mut seen = Vec::new();
            // Up to the Reconnecting after the last attempt checked: it has happened.
            while seen.len() <= ATTEMPTS {
                match next(&h, &mut events).await {
                    (at, ClientEvent::Reconnecting { attempt, delay }) => {
                        seen.push((at, attempt, delay))
                    }
                    (_, ClientEvent::Connect | ClientEvent::Disconnect(_)) => {}
                    other => panic!("{other:?}"),
                }
            }
            eio.disconnect().await.unwrap();
            seen
        });
        let attempts = reattempts(&h);
        assert_eq!(attempts.len(), ATTEMPTS, "run {run}");
        for (n, (at, attempt, delay)) in seen.into_iter().take(ATTEMPTS).enumerate() {
            assert_eq!(attempt as usize, n + 1, "run {run}");
            let base = (SECOND * (1 << n)).min(5 * SECOND);
            assert!(
                delay >= base / 2 && delay <= base * 3 / 2,
                "run {run}, attempt {attempt}: {delay:?} for a base of {base:?}"
            );
            moved += usize::from(delay != base);
            assert_eq!(
                attempts[n] - at,
                delay,
                "run {run}, attempt {attempt}: not exactly the announced delay after the event"
            );
        }
    }
    assert!(
        moved > 0,
        "no wait was moved from its base: no randomization"
    );
}

// ----- (2) what the application sees, in order ----------------------------------------

/// Rule: when a connection is lost, its `disconnect` handler runs with the reason; only
/// once it has finished does the stream yield `Reconnecting`, and the wait starts; then
/// the `connect` handler runs again, on the new session (`sid()` is the new sid, in the
/// handler already), and the stream yields `Connect`. The stream's order is Connect,
/// Disconnect(reason), Reconnecting, Connect. `wait()` does not return meanwhile.
#[test]
fn a_lost_connection_runs_the_disconnect_handler_then_reconnecting_then_connect_on_a_new_sid() {
    let h = Harness::new(ServerConfig::default());
    let eio = client(&h, no_jitter(), Transports::Polling);
    let log = Arc::new(Mutex::new(Vec::<String>::new()));
    let clock = h.builder().build().unwrap(); // only its timer: no connection
    let (l, weak) = (log.clone(), eio.downgrade());
    eio.on_connect(move || {
        let sid = weak.upgrade().and_then(|eio| eio.sid());
        l.lock().unwrap().push(format!("connect handler: {sid:?}"));
        async {}
    });
    let l = log.clone();
    eio.on_disconnect(move |reason| {
        let (l, clock) = (l.clone(), clock.clone());
        async move {
            l.lock()
                .unwrap()
                .push(format!("disconnect handler: {reason:?}"));
            // A slow handler: the reconnection waits for it.
            clock.sleep(2 * SECOND).await;
            l.lock().unwrap().push("disconnect handler done".into());
        }
    });
    let mut events = eio.events();
    let (seen, waited) = h.block_on(async {
        let mut seen = Vec::new();
        eio.connect(h.url()).await.unwrap();
        seen.push(next(&h, &mut events).await);
        assert_eq!(eio.sid(), Some(h.server.sid(0)));
        let waited = with_wait(&h, &eio, async {
            eio.sleep(SECOND).await;
            h.server.restart();
            for _ in 0..3 {
                let (at, ev) = next(&h, &mut events).await;
                log.lock().unwrap().push(format!("event: {ev:?}"));
                seen.push((at, ev));
            }
            assert_eq!(eio.sid(), Some(h.server.sid(1)));
            eio.send("again").await.unwrap();
            assert_eq!(
                next(&h, &mut events).await.1,
                ClientEvent::Message(Payload::from("again"))
            );
        })
        .await;
        (seen, waited)
    });
    assert_eq!(waited, None, "wait() returned while the client reconnected");
    let at: Vec<Duration> = seen.iter().map(|(at, _)| *at).collect();
    let evs: Vec<ClientEvent> = seen.into_iter().map(|(_, ev)| ev).collect();
    assert_eq!(evs[0], ClientEvent::Connect);
    assert!(
        matches!(&evs[1], ClientEvent::Disconnect(r) if is_unknown_sid(r)),
        "{:?}",
        evs[1]
    );
    assert_eq!(
        evs[2..],
        [
            ClientEvent::Reconnecting {
                attempt: 1,
                delay: SECOND
            },
            ClientEvent::Connect
        ]
    );
    let lost = SECOND;
    assert_eq!(
        at,
        [Duration::ZERO, lost, lost + 2 * SECOND, lost + 3 * SECOND],
        "Reconnecting once the disconnect handler is done, Connect a second later"
    );
    let sid0 = h.server.sid(0);
    let sid1 = h.server.sid(1);
    assert_ne!(sid0, sid1);
    // The stream's Disconnect and Connect may be read before or after their handlers
    // run: only the handlers and Reconnecting are ordered by the rules.
    let log: Vec<String> = log
        .lock()
        .unwrap()
        .iter()
        .filter(|l| !l.starts_with("event: Disconnect") && !l.starts_with("event: Connect"))
        .cloned()
        .collect();
    let reason = match &evs[1] {
        ClientEvent::Disconnect(r) => r.clone(),
        _ => unreachable!(),
    };
    assert_eq!(
        log,
        [
            format!("connect handler: {:?}", Some(&sid0)),
            format!("disconnect handler: {reason:?}"),
            "disconnect handler done".into(),
            format!("event: {:?}", evs[2]),
            format!("connect handler: {:?}", Some(&sid1)),
        ],
        "the order of the handlers and the stream"
    );
    assert_eq!(h.server.received(1), [Payload::from("again")]);
    assert_eq!(h.server.sessions(), 2);
    h.server.assert_no_violations();
}

// ----- (3) the attempts run out --------------------------------------------------------

/// Rule: with `attempts(N)`, after exactly N failed attempts (each after its wait) the
/// stream yields `ReconnectFailed { attempts: N }` and the client stops: `wait()` returns
/// then, and not before (a `wait()` that starts during a wait too); no attempt follows; no
/// client task is left; the handlers ran for the one connection only (a failed attempt
/// is no connection); `send` hands the message back. `attempts(0)`:
/// `ReconnectFailed { attempts: 0 }` at once, no attempt.
#[test]
fn when_the_attempts_run_out_reconnect_failed_comes_after_exactly_that_many_and_wait_returns_then()
{
    for max in [0u32, 1, 3] {
        let h = Harness::new(ServerConfig::default());
        let eio = client(&h, no_jitter().attempts(max), Transports::Upgrade);
        let handled = Arc::new(Mutex::new((0, 0)));
        let c = handled.clone();
        eio.on_connect(move || {
            c.lock().unwrap().0 += 1;
            async {}
        });
        let d = handled.clone();
        eio.on_disconnect(move |_| {
            d.lock().unwrap().1 += 1;
            async {}
        });
        let mut events = eio.events();
        let (seen, waited, late_wait) = h.block_on(async {
            eio.connect(h.url()).await.unwrap();
            let mut seen = vec![next(&h, &mut events).await];
            let mut late_wait = Duration::ZERO;
            let waited = with_wait(&h, &eio, async {
                eio.sleep(SECOND).await;
                h.server.refuse_handshake(503, "");
                h.server.close_websocket(1012);
                let read = async {
                    loop {
                        let (at, ev) = next(&h, &mut events).await;
                        let last = matches!(ev, ClientEvent::ReconnectFailed { .. });
                        seen.push((at, ev));
                        if last {
                            break;
                        }
                    }
                };
                // Another wait(), from halfway through the first wait on.
                let late = async {
                    eio.sleep(Duration::from_millis(500)).await;
                    eio.wait().await;
                    late_wait = h.elapsed();
                };
                futures::join!(read, late);
                // Let wait() see the end, if it is ever going to: the clock does not move.
                h.idle().await;
            })
            .await;
            (seen, waited, late_wait)
        });
        let lost = SECOND;
        let mut want = vec![(Duration::ZERO, ClientEvent::Connect)];
        want.push((
            lost,
            ClientEvent::Disconnect(DisconnectReason::ServerDisconnect(
                ServerClose::CloseFrame {
                    code: 1012,
                    reason: String::new(),
                },
            )),
        ));
        let mut t = lost;
        let mut attempts = Vec::new();
        for attempt in 1..=max {
            let delay = (SECOND * (1 << (attempt - 1))).min(5 * SECOND);
            want.push((t, ClientEvent::Reconnecting { attempt, delay }));
            t += delay;
            attempts.push(t);
        }
        want.push((t, ClientEvent::ReconnectFailed { attempts: max }));
        assert_eq!(seen, want, "attempts({max})");
        assert_eq!(reattempts(&h), attempts, "attempts({max})");
        assert_eq!(
            waited,
            Some(t),
            "attempts({max}): wait() must return when ReconnectFailed comes"
        );
        assert_eq!(
            late_wait,
            t.max(lost + Duration::from_millis(500)),
            "attempts({max}): a wait() that started during a wait"
        );
        assert_eq!(
            *handled.lock().unwrap(),
            (1, 1),
            "attempts({max}): (connect, disconnect) handlers"
        );
        // Stopped for good: nothing more, ever.
        assert_no_client_tasks(&h, &format!("attempts({max}), after giving up"));
        h.advance(Duration::from_secs(120));
        assert_eq!(
            reattempts(&h),
            attempts,
            "attempts({max}): an attempt after"
        );
        assert_eq!(pending(&mut events), [], "attempts({max}): events after");
        let back = h.block_on(eio.send("late")).unwrap_err();
        assert_eq!(back.kind, SendErrorKind::NotConnected);
        assert_eq!(back.payload, Payload::from("late"));
        assert_eq!(eio.sid(), None);
        h.block_on(eio.wait());
    }
}

// ----- (4) disconnect() while reconnecting ---------------------------------------------

/// Rule: `disconnect()` during the wait before an attempt (the first, or a later one after
/// failed attempts) stops the client at once: it returns at once, `wait()` returns at
/// once, no attempt follows, and no client task is left.
#[test]
fn disconnect_during_the_wait_stops_at_once_and_wait_returns() {
    for failed in [0usize, 2] {
        let h = Harness::new(ServerConfig::default());
        let eio = client(&h, no_jitter(), Transports::Upgrade);
        let mut events = eio.events();
        let (stopped_at, waited) = h.block_on(async {
            eio.connect(h.url()).await.unwrap();
            let mut stopped_at = Duration::ZERO;
            let waited = with_wait(&h, &eio, async {
                eio.sleep(SECOND).await;
                h.server.refuse_handshake(503, "");
                h.server.restart();
                let mut reconnecting = 0;
                while reconnecting <= failed {
                    if let (_, ClientEvent::Reconnecting { .. }) = next(&h, &mut events).await {
                        reconnecting += 1;
                    }
                }
                // Halfway through the wait.
                eio.sleep(Duration::from_millis(500)).await;
                stopped_at = h.elapsed();
                eio.disconnect().await.unwrap();
                assert_eq!(
                    h.elapsed(),
                    stopped_at,
                    "disconnect() did not return at once"
                );
                h.idle().await;
            })
            .await;
            (stopped_at, waited)
        });
        assert_eq!(
            reattempts(&h).len(),
            failed,
            "{failed} failed attempts first"
        );
        assert_eq!(waited, Some(stopped_at), "{failed}: wait() not at once");
        assert_no_client_tasks(&h, &format!("{failed} failed attempts"));
        h.advance(Duration::from_secs(60));
        assert_eq!(
            reattempts(&h).len(),
            failed,
            "an attempt after disconnect()"
        );
        assert_eq!(pending(&mut events), [], "events after disconnect()");
        assert_eq!(h.server.sessions(), 1);
    }
}

/// Rule: `disconnect()` at the very instant the wait ends (the timer has fired, the
/// loop has not run yet) stops the client as it does halfway through the wait: the
/// attempt due at that instant is not started, no event follows, no client task is left.
/// On the manual clock the test's future runs before the client's tasks when both are
/// due, which makes the instant certain.
#[test]
fn disconnect_at_the_instant_the_wait_ends_makes_no_attempt() {
    for transports in [
        Transports::Polling,
        Transports::Upgrade,
        Transports::WebSocket,
    ] {
        let h = Harness::new(ServerConfig::default());
        let eio = client(&h, no_jitter(), transports);
        let mut events = eio.events();
        let waited = h.block_on(async {
            eio.connect(h.url()).await.unwrap();
            with_wait(&h, &eio, async {
                eio.sleep(SECOND).await;
                h.server.restart();
                let delay = loop {
                    if let (_, ClientEvent::Reconnecting { delay, .. }) =
                        next(&h, &mut events).await
                    {
                        break delay;
                    }
                };
                eio.sleep(delay).await;
                let spawns = h.client_spawns();
                eio.disconnect().await.unwrap();
                h.idle().await;
                // An attempt spawns its connection's tasks, even one abandoned at once.
                assert_eq!(
                    h.client_spawns(),
                    spawns,
                    "{transports:?}: an attempt was started after disconnect()"
                );
            })
            .await
        });
        assert!(waited.is_some(), "{transports:?}: wait() did not return");
        assert_eq!(
            eio.sid(),
            None,
            "{transports:?}: connected after disconnect()"
        );
        assert_no_client_tasks(&h, &format!("{transports:?}"));
        h.advance(Duration::from_secs(60));
        assert_eq!(
            reattempts(&h),
            Vec::<Duration>::new(),
            "{transports:?}: an attempt after disconnect()"
        );
        assert_eq!(
            pending(&mut events),
            [],
            "{transports:?}: events after disconnect()"
        );
    }
}

/// Rule: `disconnect()` during an attempt whose handshake hangs (a polling handshake, or
/// a WebSocket opened directly) stops the client at once: it returns at once, `wait()`
/// returns at once, the attempt is abandoned, no attempt follows, no client task is left.
#[test]
fn disconnect_during_a_hanging_attempt_stops_at_once_and_wait_returns() {
    for transports in [Transports::Polling, Transports::WebSocket] {
        let h = Harness::new(ServerConfig::default());
        let eio = client(&h, no_jitter(), transports);
        let mut events = eio.events();
        let (stopped_at, waited) = h.block_on(async {
            eio.connect(h.url()).await.unwrap();
            let mut stopped_at = Duration::ZERO;
            let waited = with_wait(&h, &eio, async {
                eio.sleep(SECOND).await;
                h.server.stall_handshake(true);
                h.server.hang_websocket(true);
                h.server.restart();
                while !matches!(
                    next(&h, &mut events).await.1,
                    ClientEvent::Reconnecting { .. }
                ) {}
                // The attempt starts a second later and hangs (the request timeout is
                // 5 s): stop it 2 s in.
                eio.sleep(3 * SECOND).await;
                assert_eq!(reattempts(&h).len(), 1, "{transports:?}: the attempt is on");
                stopped_at = h.elapsed();
                eio.disconnect().await.unwrap();
                assert_eq!(
                    h.elapsed(),
                    stopped_at,
                    "{transports:?}: disconnect() did not return at once"
                );
                h.idle().await;
            })
            .await;
            (stopped_at, waited)
        });
        assert_eq!(
            waited,
            Some(stopped_at),
            "{transports:?}: wait() not at once"
        );
        assert_eq!(eio.sid(), None);
        assert_no_client_tasks(&h, &format!("{transports:?}"));
        assert_eq!(
            h.server.held_websockets(),
            0,
            "{transports:?}: still awaited"
        );
        h.advance(Duration::from_secs(60));
        assert_eq!(
            reattempts(&h).len(),
            1,
            "{transports:?}: an attempt after disconnect()"
        );
        assert_eq!(
            pending(&mut events),
            [],
            "{transports:?}: events after disconnect()"
        );
    }
}

/// Rule: `connect()` while reconnecting replaces the reconnection: during the wait or
/// during an attempt whose handshake hangs, the loop's attempt is dropped (the server's
/// held handshake is no longer awaited), the application's connect is made at once and
/// succeeds, and the loop then watches the new connection: when it is lost, the client
/// reconnects again, on a schedule that starts over. A `connect()` while connected fails
/// with `AlreadyConnected` and leaves the reconnection on.
#[test]
fn connect_while_reconnecting_connects_now_and_the_new_connection_is_watched() {
    for into in [Duration::from_millis(500), Duration::from_millis(1500)] {
        let h = Harness::new(ServerConfig::default());
        let eio = client(&h, no_jitter(), Transports::Polling);
        let mut events = eio.events();
        h.block_on(async {
            eio.connect(h.url()).await.unwrap();
            assert_eq!(next(&h, &mut events).await.1, ClientEvent::Connect);
            eio.sleep(SECOND).await;
            lose_with_attempts_hanging(&h, &mut events).await;
            // Within the 1 s wait, or half a second into the attempt it was followed by.
            eio.sleep(into).await;
            let held = usize::from(into > SECOND);
            assert_eq!(
                h.server.held_handshakes(),
                held,
                "{into:?}: the loop's attempt"
            );
            let connecting = eio.connect(h.url());
            let release = async {
                eio.sleep(Duration::from_millis(100)).await;
                assert_eq!(
                    h.server.held_handshakes(),
                    1,
                    "{into:?}: the application's handshake alone is awaited"
                );
                h.server.stall_handshake(false);
            };
            let (connected, ()) = futures::join!(connecting, release);
            connected.unwrap_or_else(|e| panic!("{into:?}: connect() failed: {e}"));
            assert_eq!(next(&h, &mut events).await.1, ClientEvent::Connect);
            let sid = eio.sid().expect("connected");
            // A connect() while connected fails, and changes nothing.
            let again = eio.connect(h.url()).await;
            assert!(
                matches!(again, Err(Error::AlreadyConnected)),
                "{into:?}: {again:?}"
            );
            // The loop watches the new connection.
            h.server.restart();
            let lost = next(&h, &mut events).await.1;
            assert!(
                matches!(&lost, ClientEvent::Disconnect(r) if is_unknown_sid(r)),
                "{into:?}: {lost:?}"
            );
            assert_eq!(
                next(&h, &mut events).await.1,
                ClientEvent::Reconnecting {
                    attempt: 1,
                    delay: SECOND
                },
                "{into:?}: the schedule starts over"
            );
            assert_eq!(next(&h, &mut events).await.1, ClientEvent::Connect);
            assert_ne!(eio.sid(), Some(sid));
            eio.disconnect().await.unwrap();
        });
        assert_no_client_tasks(&h, &format!("{into:?}"));
        h.server.assert_no_violations();
    }
}

// ----- (5) what is not retried ---------------------------------------------------------

/// Rule: a session the server closed (a close packet, a normal close frame) is not
/// reconnected, and neither is the application's `disconnect()`: `wait()` returns at the
/// end, no `Reconnecting`, no attempt, no client task left.
#[test]
fn a_server_close_and_a_client_disconnect_are_not_retried() {
    #[derive(Clone, Copy, Debug)]
    enum End {
        ClosePacket,
        CloseFrame1000,
        ClientDisconnect,
    }
    for end in [End::ClosePacket, End::CloseFrame1000, End::ClientDisconnect] {
        let h = Harness::new(ServerConfig::default());
        let transports = match end {
            End::CloseFrame1000 => Transports::WebSocket,
            _ => Transports::Upgrade,
        };
        let eio = client(&h, no_jitter(), transports);
        let mut events = eio.events();
        let (ended_at, reason, waited) = h.block_on(async {
            eio.connect(h.url()).await.unwrap();
            let mut ended = (Duration::ZERO, ClientEvent::Connect);
            let waited = with_wait(&h, &eio, async {
                eio.sleep(SECOND).await;
                match end {
                    End::ClosePacket => h.server.close(),
                    End::CloseFrame1000 => h.server.close_websocket(1000),
                    End::ClientDisconnect => eio.disconnect().await.unwrap(),
                }
                loop {
                    ended = next(&h, &mut events).await;
                    if matches!(ended.1, ClientEvent::Disconnect(_)) {
                        break;
                    }
                }
                h.idle().await;
            })
            .await;
            (ended.0, ended.1, waited)
        });
        let want = match end {
            End::ClosePacket => DisconnectReason::ServerDisconnect(ServerClose::ClosePacket),
            End::CloseFrame1000 => DisconnectReason::ServerDisconnect(ServerClose::CloseFrame {
                code: 1000,
                reason: String::new(),
            }),
            End::ClientDisconnect => DisconnectReason::ClientDisconnect,
        };
        assert_eq!(reason, ClientEvent::Disconnect(want), "{end:?}");
        assert_eq!(waited, Some(ended_at), "{end:?}: wait() not at the end");
        assert_no_client_tasks(&h, &format!("{end:?}"));
        h.advance(Duration::from_secs(60));
        assert_eq!(pending(&mut events), [], "{end:?}: events after the end");
        assert!(reattempts(&h).is_empty(), "{end:?}: retried");
        assert_eq!(h.server.sessions(), 1, "{end:?}");
    }
}

/// Rule: with `on_server_disconnect(true)`, a session the server closed (a close packet)
/// is reconnected like a lost one: Disconnect(close packet), Reconnecting, Connect on a
/// new session. A close frame that says the server is restarting (1012) is reconnected
/// without it.
#[test]
fn a_server_close_is_retried_with_on_server_disconnect_and_a_restarting_close_frame_always() {
    for (policy, frame) in [
        (no_jitter().on_server_disconnect(true), None),
        (no_jitter(), Some(1012u16)),
    ] {
        let h = Harness::new(ServerConfig::default());
        let transports = match frame {
            Some(_) => Transports::WebSocket,
            None => Transports::Upgrade,
        };
        let eio = client(&h, policy, transports);
        let mut events = eio.events();
        let seen = h.block_on(async {
            eio.connect(h.url()).await.unwrap();
            let mut seen = vec![next(&h, &mut events).await];
            eio.sleep(SECOND).await;
            match frame {
                Some(code) => h.server.close_websocket(code),
                None => h.server.close(),
            }
            for _ in 0..3 {
                seen.push(next(&h, &mut events).await);
            }
            seen
        });
        let close = match frame {
            Some(code) => ServerClose::CloseFrame {
                code,
                reason: String::new(),
            },
            None => ServerClose::ClosePacket,
        };
        assert_eq!(
            seen,
            [
                (Duration::ZERO, ClientEvent::Connect),
                (
                    SECOND,
                    ClientEvent::Disconnect(DisconnectReason::ServerDisconnect(close))
                ),
                (
                    SECOND,
                    ClientEvent::Reconnecting {
                        attempt: 1,
                        delay: SECOND
                    }
                ),
                (2 * SECOND, ClientEvent::Connect),
            ],
            "{frame:?}"
        );
        assert_eq!(h.server.sessions(), 2);
        assert_eq!(eio.sid(), Some(h.server.sid(1)));
    }
}

// ----- (6) send between connections ----------------------------------------------------

/// Rule: `send` while no connection is open (during the wait, and during an attempt that
/// has not opened yet) fails with `NotConnected` and hands the message back; none of those
/// messages reaches the next session; once it opens, `send` works again.
#[test]
fn send_between_connections_fails_not_connected_with_the_message_handed_back() {
    let h = Harness::new(ServerConfig::default());
    let eio = client(&h, no_jitter(), Transports::Polling);
    let mut events = eio.events();
    h.block_on(async {
        eio.connect(h.url()).await.unwrap();
        eio.send("before").await.unwrap();
        eio.sleep(SECOND).await;
        lose_with_attempts_hanging(&h, &mut events).await;
        assert_eq!(eio.sid(), None, "a sid during the wait");
        let waiting = eio.send("during the wait").await.unwrap_err();
        assert_eq!(waiting.kind, SendErrorKind::NotConnected);
        assert_eq!(waiting.payload, Payload::from("during the wait"));
        // The attempt starts at +1 s; its handshake hangs.
        eio.sleep(Duration::from_millis(1500)).await;
        assert_eq!(reattempts(&h).len(), 1);
        assert_eq!(eio.sid(), None, "a sid during the attempt");
        let attempting = eio.send(vec![1u8, 2, 3]).await.unwrap_err();
        assert_eq!(attempting.kind, SendErrorKind::NotConnected);
        assert_eq!(attempting.payload, Payload::from(vec![1u8, 2, 3]));
        h.server.stall_handshake(false);
        assert_eq!(next(&h, &mut events).await.1, ClientEvent::Connect);
        eio.send("after").await.unwrap();
        eio.sleep(SECOND).await;
        eio.disconnect().await.unwrap();
    });
    assert_eq!(h.server.received(0), [Payload::from("before")]);
    assert_eq!(h.server.received(1), [Payload::from("after")]);
}

// ----- (7) nothing left running --------------------------------------------------------

/// The tasks and open sockets of a client of `h` over the client's own connectors,
/// without reconnection, after it connected, ran a second and disconnected: what a
/// client keeps while it exists (hyper's pool keeps an idle connection, with its task).
fn wire_baseline() -> (usize, usize) {
    let h = Harness::new(ServerConfig::default());
    let eio = h.wire_builder().build().unwrap();
    h.block_on(async {
        eio.connect(h.url()).await.unwrap();
        eio.sleep(SECOND).await;
        eio.disconnect().await.unwrap();
        eio.wait().await;
    });
    h.settle();
    (h.client_tasks(), h.network().open_connections())
}

/// Rule: failed attempts leave nothing behind (after a reconnect cycle, three failed
/// attempts then one that connects, the client runs as many tasks and sockets as after
/// its first connect), and once the client stops, after a reconnect cycle and
/// `disconnect()` or after giving up, no client task is left while the client still
/// exists: on the scripted connectors (attempts refused with a 503) none at all, on the
/// client's own (the network down) no more than a client without reconnection keeps
/// after `disconnect()`, and none once it is dropped.
#[test]
fn no_client_task_is_left_after_a_reconnect_cycle_or_after_giving_up() {
    let baseline = wire_baseline();
    for wire in [false, true] {
        let h = Harness::new(ServerConfig::default());
        let builder = if wire { h.wire_builder() } else { h.builder() };
        let eio = builder.reconnect(no_jitter()).build().unwrap();
        let mut events = eio.events();
        let first = h.block_on(async {
            eio.connect(h.url()).await.unwrap();
            eio.sleep(SECOND).await;
            h.idle().await;
            let first = (h.client_tasks(), h.network().open_connections());
            if wire {
                h.network().down();
            } else {
                h.server.refuse_handshake(503, "");
                h.server.restart();
            }
            // Reconnecting 1, then one after each of three failed attempts.
            let mut reconnecting = 0;
            while reconnecting < 4 {
                if let (_, ClientEvent::Reconnecting { .. }) = next(&h, &mut events).await {
                    reconnecting += 1;
                }
            }
            if wire {
                h.network().up();
            } else {
                h.server.accept_handshake();
            }
            while next(&h, &mut events).await.1 != ClientEvent::Connect {}
            eio.sleep(SECOND).await;
            h.idle().await;
            first
        });
        assert_eq!(
            (h.client_tasks(), h.network().open_connections()),
            first,
            "wire {wire}: (tasks, sockets) after the reconnect cycle, against after the first connect"
        );
        assert_eq!(
            reattempts(&h).len(),
            if wire { 1 } else { 4 },
            "wire {wire}"
        );
        h.block_on(async {
            eio.disconnect().await.unwrap();
            eio.wait().await;
        });
        h.settle();
        let left = (h.client_tasks(), h.network().open_connections());
        if wire {
            assert_eq!(left, baseline, "wire: (tasks, sockets) after disconnect()");
        } else {
            assert_eq!(left.0, 0, "scripted: client tasks left after disconnect()");
        }
        drop((eio, events));
        assert_no_client_tasks(&h, &format!("wire {wire}: after a reconnect cycle"));
        assert_eq!(
            h.network().open_connections(),
            0,
            "wire {wire}: sockets left"
        );
    }

    // Giving up, with the network down for good: every connection is gone.
    let h = Harness::new(ServerConfig::default());
    let eio = h
        .wire_builder()
        .reconnect(no_jitter().attempts(4))
        .build()
        .unwrap();
    let dials = h.block_on(async {
        eio.connect(h.url()).await.unwrap();
        eio.sleep(SECOND).await;
        let dials = h.network().dials();
        h.network().down();
        eio.wait().await;
        dials
    });
    assert_eq!(h.network().dials(), dials + 4, "four refused attempts");
    assert_no_client_tasks(&h, "after giving up");
    assert_eq!(h.network().open_connections(), 0, "sockets left open");
}

/// Drops every handle of a reconnecting client (its lost connection followed by
/// handshakes that hang) `into` the first wait after the loss, then lets the server
/// answer the handshake and the clock run a minute. Checks that the reconnection stopped
/// at the drop: no client task left and no handshake still awaited without the clock
/// moving, no attempt after the drop (`attempts_before` were made), and the `connect`
/// handler never ran again.
fn drop_while_reconnecting(into: Duration, attempts_before: usize) {
    let h = Harness::new(ServerConfig::default());
    let eio = client(&h, no_jitter(), Transports::Polling);
    let connects = Arc::new(Mutex::new(0));
    let c = connects.clone();
    eio.on_connect(move || {
        *c.lock().unwrap() += 1;
        async {}
    });
    let mut events = eio.events();
    h.block_on(async {
        eio.connect(h.url()).await.unwrap();
        eio.sleep(SECOND).await;
        lose_with_attempts_hanging(&h, &mut events).await;
        eio.sleep(into).await;
    });
    assert_eq!(reattempts(&h).len(), attempts_before);
    assert_eq!(
        h.server.held_handshakes(),
        attempts_before,
        "the attempt hangs"
    );
    drop((eio, events));
    assert_no_client_tasks(&h, "the client dropped");
    assert_eq!(h.server.held_handshakes(), 0, "the attempt still awaited");
    // Whatever the server does now (answer the abandoned handshake: the scripted server
    // opens a session for it), the dropped client does not come back.
    h.server.stall_handshake(false);
    h.advance(Duration::from_secs(60));
    assert_eq!(h.client_tasks(), 0, "a task came back");
    assert_eq!(
        reattempts(&h).len(),
        attempts_before,
        "an attempt after the drop"
    );
    assert_eq!(
        *connects.lock().unwrap(),
        1,
        "the connect handler ran again"
    );
}

/// Rule: the reconnection holds the client weakly: dropping every handle during the wait
/// before an attempt stops it at once (no task left sleeping out the wait) and no
/// attempt follows.
#[test]
fn dropping_every_handle_during_the_wait_stops_the_reconnection_at_once() {
    // Halfway through the 1 s wait.
    drop_while_reconnecting(Duration::from_millis(500), 0);
}

/// Rule: the reconnection holds the client weakly: dropping every handle while an
/// attempt's handshake hangs abandons the attempt at once (no task left, the handshake no
/// longer awaited), and a handshake answered afterwards opens no connection of the
/// client's: its `connect` handler does not run.
#[test]
fn dropping_every_handle_during_a_hanging_attempt_abandons_it_at_once() {
    // The attempt started at +1 s; its handshake hangs (the request timeout is 5 s).
    drop_while_reconnecting(Duration::from_millis(1500), 1);
}

// ----- (8) what is reconnected -----------------------------------------------------------

/// How a connection is lost by accident.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Loss {
    /// The network resets every connection (the client's own connectors).
    Reset,
    /// The network goes down (connections reset, new ones refused), and comes back once
    /// the connection is lost.
    NetworkDown,
    /// The server stops pinging: the ping deadline passes.
    PingDeadline,
    /// The server restarted: the pending poll gets 400 "Session ID unknown" (on
    /// WebSocket: the socket ends without a close frame).
    Restart,
    /// A gateway answers the poll with 502.
    BadGateway,
}

/// Rule: a transport error is reconnected, whatever it is: a network reset, the network
/// down, a missed ping deadline, a restarted server (400 "Session ID unknown" on a poll;
/// its WebSocket cut), a 5xx answer to a poll. Each: Disconnect(transport error) then
/// Reconnecting { 1, 1 s } at once, Connect a second later on a new session, which
/// carries messages.
#[test]
fn every_kind_of_transport_error_is_reconnected() {
    for (loss, transports) in [
        (Loss::Reset, Transports::Upgrade),
        (Loss::Reset, Transports::Polling),
        (Loss::NetworkDown, Transports::Upgrade),
        (Loss::PingDeadline, Transports::Polling),
        (Loss::PingDeadline, Transports::WebSocket),
        (Loss::Restart, Transports::Polling),
        (Loss::Restart, Transports::WebSocket),
        (Loss::BadGateway, Transports::Polling),
    ] {
        let case = format!("{loss:?} on {transports:?}");
        let h = Harness::new(ServerConfig::default());
        let builder: ClientBuilder = match loss {
            Loss::Reset | Loss::NetworkDown => h.wire_builder(),
            _ => h.builder(),
        };
        let eio = builder
            .transports(transports)
            .reconnect(no_jitter())
            .build()
            .unwrap();
        let mut events = eio.events();
        let seen = h.block_on(async {
            eio.connect(h.url()).await.unwrap();
            let mut seen = vec![next(&h, &mut events).await];
            eio.sleep(SECOND).await;
            match loss {
                Loss::Reset => h.network().reset(),
                Loss::NetworkDown => h.network().down(),
                Loss::PingDeadline => h.server.silence(),
                Loss::Restart => h.server.restart(),
                Loss::BadGateway => h.server.fail_polls(502),
            }
            seen.push(next(&h, &mut events).await);
            h.network().up();
            h.server.unsilence();
            for _ in 0..2 {
                seen.push(next(&h, &mut events).await);
            }
            eio.send("on the new session").await.unwrap();
            assert_eq!(
                next(&h, &mut events).await.1,
                ClientEvent::Message(Payload::from("on the new session")),
                "{case}"
            );
            seen
        });
        // The ping deadline: pingInterval + pingTimeout after the handshake.
        let lost = match loss {
            Loss::PingDeadline => Duration::from_secs(45),
            _ => SECOND,
        };
        let (at, reason) = match &seen[1] {
            (at, ClientEvent::Disconnect(r)) => (*at, r.clone()),
            other => panic!("{case}: {other:?}"),
        };
        assert_eq!(at, lost, "{case}: lost at");
        let right = match (loss, &reason) {
            (Loss::PingDeadline, r) => {
                *r == DisconnectReason::TransportError(TransportFailure::PingTimeout)
            }
            (Loss::Restart, r) if transports == Transports::Polling => is_unknown_sid(r),
            (Loss::BadGateway, DisconnectReason::TransportError(TransportFailure::Http(e))) => {
                e.status == 502
            }
            (Loss::BadGateway, _) => false,
            (_, r) => matches!(r, DisconnectReason::TransportError(_)),
        };
        assert!(right, "{case}: {reason:?}");
        assert_eq!(
            seen[2..],
            [
                (
                    lost,
                    ClientEvent::Reconnecting {
                        attempt: 1,
                        delay: SECOND
                    }
                ),
                (lost + SECOND, ClientEvent::Connect),
            ],
            "{case}"
        );
        assert_eq!(h.server.sessions(), 2, "{case}");
        assert_eq!(eio.sid(), Some(h.server.sid(1)), "{case}");
        assert_eq!(
            h.server.received(1),
            [Payload::from("on the new session")],
            "{case}"
        );
        h.server.assert_no_violations();
    }
}

// ----- the first connect ---------------------------------------------------------------

/// Rule: with reconnection on, the first `connect` does not give up at its first failure
/// (socket.io-client's Manager does not either): it tries again on the same schedule, with
/// the same `Reconnecting` events, and returns `Ok` once an attempt connects, exactly when
/// it does; without reconnection it fails at once.
#[test]
fn the_first_connect_is_retried_on_the_schedule_until_it_connects() {
    let h = Harness::new(ServerConfig::default());
    h.server.refuse_handshake(503, "");
    let eio = client(&h, no_jitter(), Transports::Polling);
    let mut events = eio.events();
    let (connected, seen) = h.block_on(async {
        let connect = eio.connect(h.url());
        let server = async {
            let mut seen = Vec::new();
            loop {
                let (at, ev) = next(&h, &mut events).await;
                seen.push((at, ev.clone()));
                if ev
                    == (ClientEvent::Reconnecting {
                        attempt: 2,
                        delay: 2 * SECOND,
                    })
                {
                    h.server.accept_handshake();
                }
                if ev == ClientEvent::Connect {
                    return seen;
                }
            }
        };
        let (connected, seen) = futures::future::join(connect, server).await;
        (connected.map(|()| h.elapsed()), seen)
    });
    assert_eq!(
        connected.unwrap(),
        3 * SECOND,
        "connected when attempt 2 was answered"
    );
    assert_eq!(
        seen,
        [
            (
                Duration::ZERO,
                ClientEvent::Reconnecting {
                    attempt: 1,
                    delay: SECOND
                }
            ),
            (
                SECOND,
                ClientEvent::Reconnecting {
                    attempt: 2,
                    delay: 2 * SECOND
                }
            ),
            (3 * SECOND, ClientEvent::Connect),
        ]
    );
    assert!(eio.sid().is_some());

    // Without reconnection: one attempt, and its error.
    let h = Harness::new(ServerConfig::default());
    h.server.refuse_handshake(503, "");
    let eio = h.builder().build().unwrap();
    let result = h.block_on(eio.connect(h.url()));
    assert!(
        matches!(result, Err(engineio::Error::Connect { .. })),
        "{result:?}"
    );
    assert_eq!(h.elapsed(), Duration::ZERO);
    assert_eq!(h.server.attempts_at().len(), 1);
}

/// Rule: a first `connect` whose attempts run out returns the last failure after
/// `ReconnectFailed { attempts }`; one that `disconnect()` stops during its wait returns
/// the failure at once, tries no more, and `wait()` returns; no client task is left.
#[test]
fn the_first_connect_gives_up_when_the_attempts_run_out_or_disconnect_is_called() {
    let h = Harness::new(ServerConfig::default());
    h.server.refuse_handshake(503, "");
    let eio = client(&h, no_jitter().attempts(2), Transports::Polling);
    let mut events = eio.events();
    let result = h.block_on(eio.connect(h.url()));
    assert!(
        matches!(&result, Err(engineio::Error::Connect { failure: TransportFailure::Http(e), .. }) if e.status == 503),
        "{result:?}"
    );
    assert_eq!(h.elapsed(), 3 * SECOND, "after the waits of 1 s and 2 s");
    assert_eq!(
        h.server.attempts_at().len(),
        3,
        "the first try and 2 attempts"
    );
    assert_eq!(
        pending(&mut events),
        [
            ClientEvent::Reconnecting {
                attempt: 1,
                delay: SECOND
            },
            ClientEvent::Reconnecting {
                attempt: 2,
                delay: 2 * SECOND
            },
            ClientEvent::ReconnectFailed { attempts: 2 },
        ]
    );
    assert_no_client_tasks(&h, "after giving up");

    let h = Harness::new(ServerConfig::default());
    h.server.refuse_handshake(503, "");
    let eio = client(&h, no_jitter(), Transports::Polling);
    let (result, stopped_at, waited) = h.block_on(async {
        let connect = eio.connect(h.url());
        let mut stopped_at = Duration::ZERO;
        let stop = async {
            eio.sleep(Duration::from_millis(1500)).await; // in the 2 s wait
            stopped_at = h.elapsed();
            eio.disconnect().await.unwrap();
        };
        let (result, ()) = futures::future::join(connect, stop).await;
        let waited = with_wait(&h, &eio, async {}).await;
        (result, stopped_at, waited)
    });
    assert!(result.is_err(), "{result:?}");
    assert_eq!(stopped_at, Duration::from_millis(1500));
    assert_eq!(h.elapsed(), stopped_at, "connect returned at once");
    assert_eq!(waited, Some(stopped_at), "wait() returned at once");
    h.advance(Duration::from_secs(60));
    assert_eq!(
        h.server.attempts_at().len(),
        2,
        "no attempt after disconnect()"
    );
    assert_no_client_tasks(&h, "after disconnect()");
}
