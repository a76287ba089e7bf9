//! Deterministic tests of the session state machine: a scripted server, a fake clock, no
//! sockets and no sleeps. Each test states one protocol rule; every test also keeps all
//! the rules of tests/common/rules.rs, checked on every transmit and event.

mod common;
#[path = "common/pair.rs"]
mod pair;

use std::time::Duration;

use bytes::Bytes;
use engineio::proto::{Frame, Packet, SessionConfig, SessionEvent, Transmit};
use engineio::{
    DecodeError, DisconnectReason, HttpStatusError, Payload, SendErrorKind, ServerClose,
    TransportFailure, TransportKind, Transports,
};
use pair::Pair;

const OPEN_UPGRADE: &str = r#"0{"sid":"s1","upgrades":["websocket"],"pingInterval":300,"pingTimeout":200,"maxPayload":1000000}"#;
const OPEN_POLLING: &str =
    r#"0{"sid":"s1","upgrades":[],"pingInterval":300,"pingTimeout":200,"maxPayload":1000000}"#;
/// As every v4 server of today opens a WebSocket-only session: with `maxPayload` (an open
/// packet without it is taken for a possible v3 server under `Protocol::Auto`).
const OPEN_WS: &str =
    r#"0{"sid":"s1","upgrades":[],"pingInterval":300,"pingTimeout":200,"maxPayload":1000000}"#;

fn disconnected(reason: DisconnectReason) -> SessionEvent {
    SessionEvent::Disconnected(reason)
}

// ----- opening -------------------------------------------------------------------------

#[test]
fn handshake_is_a_polling_get_and_later_requests_carry_the_sid() {
    let mut p = Pair::new(Transports::Polling);
    assert_eq!(
        p.seen.get().unwrap().to_string(),
        "http://127.0.0.1:5000/engine.io/?EIO=4&transport=polling"
    );
    p.answer_get(OPEN_POLLING);
    assert_eq!(p.seen.events(), vec![SessionEvent::Connected]);
    assert_eq!(p.session.sid(), Some("s1"));
    assert_eq!(
        p.seen.get().unwrap().query(),
        Some("EIO=4&transport=polling&sid=s1")
    );
}

#[test]
fn packets_after_the_open_packet_are_processed_in_order() {
    let mut p = Pair::new(Transports::Polling);
    p.answer_get(&format!("{OPEN_POLLING}\x1e4hello\x1e2\x1e4world"));
    assert_eq!(p.seen.events()[0], SessionEvent::Connected);
    assert_eq!(p.messages(), ["hello", "world"]);
    // The ping in the handshake response was answered.
    assert_eq!(p.seen.posts(), ["3"]);
}

#[test]
fn websocket_only_opens_directly_and_needs_the_open_packet_first() {
    let mut p = Pair::new(Transports::WebSocket);
    assert!(p.seen.get().is_none());
    assert_eq!(
        p.seen.ws_opening().unwrap().to_string(),
        "ws://127.0.0.1:5000/engine.io/?EIO=4&transport=websocket"
    );
    p.ws_connect();
    assert!(p.seen.events().is_empty());
    p.ws_recv(OPEN_WS);
    assert_eq!(p.seen.events(), vec![SessionEvent::Connected]);
    assert_eq!(p.session.transport(), TransportKind::WebSocket);
    p.send("hi");
    assert_eq!(p.received(), ["hi"]);
    assert!(p.seen.get().is_none() && p.seen.post().is_none());

    let mut p = Pair::new(Transports::WebSocket);
    p.ws_connect();
    p.ws_recv("4too early");
    assert_eq!(
        p.seen.events(),
        vec![SessionEvent::ConnectFailed(TransportFailure::Decode(
            DecodeError::ExpectedOpen
        ))]
    );
    assert!(p.seen.ws_close_sent());
}

#[test]
fn a_v3_server_is_reported_as_such_when_v4_is_pinned() {
    let mut config = SessionConfig::default();
    config.protocol = engineio::Protocol::V4;
    let mut p = Pair::with_config(config);
    p.answer_get(
        r#"97:0{"sid":"x","upgrades":["websocket"],"pingInterval":25000,"pingTimeout":5000}"#,
    );
    assert_eq!(
        p.seen.events(),
        vec![SessionEvent::ConnectFailed(TransportFailure::Decode(
            DecodeError::ProtocolV3
        ))]
    );
    assert!(p.session.is_closed());
}

#[test]
fn handshake_http_error_carries_the_servers_message() {
    let mut p = Pair::new(Transports::Polling);
    p.answer_get_status(
        400,
        r#"{"code":5,"message":"Unsupported protocol version"}"#,
    );
    assert_eq!(
        p.seen.events(),
        vec![SessionEvent::ConnectFailed(TransportFailure::Http(
            HttpStatusError {
                status: 400,
                code: Some(5),
                message: Some("Unsupported protocol version".into()),
            }
        ))]
    );
}

#[test]
fn handshake_times_out_after_request_timeout() {
    let mut p = Pair::new(Transports::Polling);
    p.advance(Duration::from_millis(4999));
    assert!(p.seen.events().is_empty());
    p.advance(Duration::from_millis(1));
    assert_eq!(
        p.seen.events(),
        vec![SessionEvent::ConnectFailed(
            TransportFailure::RequestTimeout
        )]
    );
}

// ----- heartbeat ---------------------------------------------------------------------

#[test]
fn ping_is_answered_with_pong_carrying_its_data() {
    let mut p = Pair::new(Transports::Polling);
    p.answer_get(OPEN_POLLING);
    p.answer_get("2");
    p.answer_post();
    p.answer_get("2abc");
    assert_eq!(p.seen.posts(), ["3", "3abc"]);

    let mut p = Pair::new(Transports::WebSocket);
    p.ws_connect();
    p.ws_recv(OPEN_WS);
    p.ws_recv("2");
    assert_eq!(
        p.seen.inbox(),
        vec![(TransportKind::WebSocket, Packet::Pong("".into()))]
    );
}

#[test]
fn a_pong_jumps_ahead_of_queued_messages() {
    let mut p = Pair::polling(OPEN_POLLING);
    for i in 0..40 {
        p.send(&format!("m{i}"));
    }
    p.answer_get("2");
    p.answer_post();
    // The first POST was already on its way; the pong leads the next one.
    assert_eq!(p.seen.posts()[0], "4m0");
    assert!(
        p.seen.posts()[1].starts_with("3\x1e4m1\x1e"),
        "{:?}",
        p.seen.posts()[1]
    );
}

#[test]
fn a_ping_flood_leaves_one_unsent_pong() {
    let mut p = Pair::polling(OPEN_POLLING);
    p.send("busy"); // a POST in flight: pongs must wait
    let flood = vec!["2"; 500].join("\x1e");
    p.answer_get(&flood);
    p.answer_get("2last");
    assert_eq!(p.session.queued(), 1, "one pong answers every ping so far");
    p.answer_post();
    assert_eq!(p.seen.posts().last().unwrap(), "3last");
}

#[test]
fn missing_ping_deadline_is_a_transport_error_exactly_at_interval_plus_timeout() {
    let mut p = Pair::new(Transports::Polling);
    p.answer_get(OPEN_POLLING);
    p.advance(Duration::from_millis(250));
    p.answer_get("2"); // the deadline restarts here: 500 ms from now
    p.advance(Duration::from_millis(499));
    assert!(p.session.is_open(), "{:?}", p.seen.events());
    p.advance(Duration::from_millis(1));
    assert_eq!(
        p.last_event(),
        &disconnected(DisconnectReason::TransportError(
            TransportFailure::PingTimeout
        ))
    );
    assert_eq!(p.session.poll_timeout(), None);
}

#[test]
fn ping_timeout_over_websocket_closes_the_socket() {
    let mut p = Pair::new(Transports::WebSocket);
    p.ws_connect();
    p.ws_recv(OPEN_WS);
    p.advance(Duration::from_millis(500));
    assert_eq!(
        p.last_event(),
        &disconnected(DisconnectReason::TransportError(
            TransportFailure::PingTimeout
        ))
    );
    assert!(p.seen.ws_close_sent());
}

// ----- polling writes ------------------------------------------------------------------

#[test]
fn one_post_at_a_time_and_at_most_16_packets_each() {
    let mut p = Pair::polling(OPEN_POLLING);
    for i in 0..40 {
        p.send(&i.to_string());
    }
    let counts: Vec<usize> = {
        let mut v = Vec::new();
        while p.seen.post().is_some() {
            v.push(p.seen.posts().last().unwrap().split('\x1e').count());
            p.answer_post();
        }
        v
    };
    assert_eq!(counts, [1, 16, 16, 7]);
    let want: Vec<String> = (0..40).map(|i| i.to_string()).collect();
    assert_eq!(p.received(), want);
}

#[test]
fn a_higher_packet_cap_carries_more_per_post() {
    let mut config = SessionConfig::default();
    config.transports = Transports::Polling;
    config.max_packets_per_post = 256;
    let mut p = Pair::with_config(config);
    p.answer_get(OPEN_POLLING);
    for i in 0..300 {
        p.send(&i.to_string());
    }
    let mut counts = Vec::new();
    while p.seen.post().is_some() {
        counts.push(p.seen.posts().last().unwrap().split('\x1e').count());
        p.answer_post();
    }
    assert_eq!(counts, [1, 256, 43]);
    let want: Vec<String> = (0..300).map(|i| i.to_string()).collect();
    assert_eq!(p.received(), want);
}

#[test]
fn posts_stay_under_max_payload_and_an_oversize_packet_goes_alone() {
    let open =
        r#"0{"sid":"s1","upgrades":[],"pingInterval":300,"pingTimeout":200,"maxPayload":12}"#;
    let mut p = Pair::polling(open);
    p.queue("aaaa").unwrap(); // "4aaaa" = 5 bytes
    p.queue("bbbb").unwrap(); // + 1 + 5 = 11
    p.queue("cccc").unwrap(); // + 1 + 5 = 17 > 12
    p.queue("x".repeat(40)).unwrap();
    p.queue("dd").unwrap();
    p.step();
    while p.seen.post().is_some() {
        p.answer_post();
    }
    assert_eq!(
        p.seen.posts(),
        [
            "4aaaa\x1e4bbbb".to_owned(),
            "4cccc".to_owned(),
            format!("4{}", "x".repeat(40)),
            "4dd".to_owned()
        ]
    );
}

#[test]
fn binary_goes_out_as_base64_over_polling_and_raw_over_websocket() {
    let mut p = Pair::polling(OPEN_POLLING);
    p.queue(vec![1u8, 2, 3, 4]).unwrap();
    p.step();
    assert_eq!(p.seen.posts(), ["bAQIDBA=="]);

    let mut p = Pair::new(Transports::WebSocket);
    p.ws_connect();
    p.ws_recv(OPEN_WS);
    p.queue(vec![1u8, 2, 3, 4]).unwrap();
    let t = p.session.poll_transmit(p.now);
    assert_eq!(
        t,
        Some(Transmit::WsSend(Frame::Binary(Bytes::from_static(&[
            1, 2, 3, 4
        ]))))
    );
    p.seen.transmit(&p.session, t.unwrap());
}

#[test]
fn a_poll_response_may_hold_any_number_of_packets() {
    let mut p = Pair::polling(OPEN_POLLING);
    let body = (0..1000)
        .map(|i| format!("4m{i}"))
        .collect::<Vec<_>>()
        .join("\x1e");
    p.answer_get(&body);
    let want: Vec<String> = (0..1000).map(|i| format!("m{i}")).collect();
    assert_eq!(p.messages(), want);
    assert!(p.session.is_open());
}

#[test]
fn a_bad_packet_keeps_the_ones_before_it_and_ends_the_session() {
    let mut p = Pair::polling(OPEN_POLLING);
    p.answer_get("4ok\x1e9bad\x1e4never");
    assert_eq!(p.messages(), ["ok"]);
    assert_eq!(
        p.last_event(),
        &disconnected(DisconnectReason::TransportError(TransportFailure::Decode(
            DecodeError::UnknownPacketType('9')
        )))
    );
}

#[test]
fn send_before_open_and_after_close_is_refused_with_the_message_handed_back() {
    let mut p = Pair::new(Transports::Polling);
    let e = p.queue("early").unwrap_err();
    assert_eq!(e.kind, SendErrorKind::NotConnected);
    assert_eq!(e.payload, Payload::from("early"));
    p.answer_get(OPEN_POLLING);
    p.close();
    assert_eq!(p.queue("late").unwrap_err().kind, SendErrorKind::Closed);
}

// ----- closing -------------------------------------------------------------------------

#[test]
fn server_close_packet_over_polling_is_server_disconnect() {
    for body in ["1", "6\x1e1", "4last\x1e1\x1e4after"] {
        let mut p = Pair::polling(OPEN_POLLING);
        p.answer_get(body);
        assert_eq!(
            p.last_event(),
            &disconnected(DisconnectReason::ServerDisconnect(ServerClose::ClosePacket)),
            "{body:?}"
        );
        assert!(p.session.is_closed());
        assert!(p.seen.get().is_none() && p.seen.post().is_none());
        assert!(!p.messages().contains(&"after".to_owned()));
    }
}

#[test]
fn http_400_for_a_session_the_server_closed_is_a_server_disconnect() {
    // python-engineio, when it closed the session with no poll pending.
    let mut p = Pair::polling(OPEN_POLLING);
    p.answer_get_status(400, r#""'Session is disconnected' s1""#);
    assert_eq!(
        p.last_event(),
        &disconnected(DisconnectReason::ServerDisconnect(
            ServerClose::SessionClosed(HttpStatusError {
                status: 400,
                code: None,
                message: Some("'Session is disconnected' s1".into())
            })
        ))
    );
}

#[test]
fn a_post_refused_for_a_session_the_server_closed_is_a_server_disconnect() {
    let mut p = Pair::polling(OPEN_POLLING);
    p.send("x");
    p.answer_post_status(400, r#""'Session is disconnected' s1""#);
    assert!(matches!(
        p.last_event(),
        SessionEvent::Disconnected(DisconnectReason::ServerDisconnect(
            ServerClose::SessionClosed(_)
        ))
    ));
}

#[test]
fn http_400_for_an_unknown_session_is_a_transport_error() {
    // A restarted server does not know the sid.
    let mut p = Pair::polling(OPEN_POLLING);
    p.answer_get_status(400, r#"{"code":1,"message":"Session ID unknown"}"#);
    assert_eq!(
        p.last_event(),
        &disconnected(DisconnectReason::TransportError(TransportFailure::Http(
            HttpStatusError {
                status: 400,
                code: Some(1),
                message: Some("Session ID unknown".into())
            }
        )))
    );
}

/// python-engineio and engineioxide forget at once a session they close while no poll is
/// pending (the close packet has nowhere to go), and the client holds its first poll back
/// for the probe: the server closing the session right after the handshake (on the
/// client's first message, here) shows as a failed probe, then "Invalid session" (or
/// engine.io's code 1) for the held poll or a later POST. That is the server's close.
#[test]
fn a_session_forgotten_before_the_held_first_poll_is_a_server_disconnect() {
    let refusals = [
        r#""Invalid session s1""#,
        r#"{"code":1,"message":"Session ID unknown"}"#,
    ];
    for body in refusals {
        // The held poll, once the probe has failed.
        let mut p = Pair::opened(OPEN_UPGRADE);
        p.send("close");
        p.answer_post();
        p.ws_failed(TransportFailure::Http(HttpStatusError {
            status: 400,
            code: None,
            message: None,
        }));
        p.step();
        assert!(p.seen.get().is_some(), "{body}: the held poll did not go");
        p.answer_get_status(400, body);
        assert!(
            matches!(
                p.last_event(),
                SessionEvent::Disconnected(DisconnectReason::ServerDisconnect(
                    ServerClose::SessionClosed(HttpStatusError { status: 400, .. })
                ))
            ),
            "{body}: {:?}",
            p.seen.events()
        );

        // A second POST before that poll.
        let mut p = Pair::opened(OPEN_UPGRADE);
        p.send("close");
        p.queue("more").unwrap();
        p.answer_post();
        p.answer_post_status(400, body);
        assert!(
            matches!(
                p.last_event(),
                SessionEvent::Disconnected(DisconnectReason::ServerDisconnect(
                    ServerClose::SessionClosed(_)
                ))
            ),
            "{body}: {:?}",
            p.seen.events()
        );
    }
}

/// The session ended with a transport error.
fn assert_ended_by_transport_error(p: &Pair) {
    assert!(
        matches!(
            p.last_event(),
            SessionEvent::Disconnected(DisconnectReason::TransportError(_))
        ),
        "{:?}",
        p.seen.events()
    );
}

/// The same answers once polling has run are a server that no longer knows the session
/// (restarted): a transport error, which reconnection retries. So for the first poll when
/// it was not held (long-polling only: it is pending from the start, and a restart breaks
/// it first).
#[test]
fn a_session_forgotten_after_polling_began_is_a_transport_error() {
    let body = r#""Invalid session s1""#;
    // Long-polling only: the first poll goes at once.
    let mut p = Pair::polling(OPEN_POLLING);
    p.answer_get_status(400, body);
    assert_ended_by_transport_error(&p);
    // After a failed probe, the second poll.
    let mut p = Pair::opened(OPEN_UPGRADE);
    p.ws_failed(TransportFailure::Io("reset".into()));
    p.step();
    p.answer_get("6");
    assert!(p.seen.get().is_some());
    p.answer_get_status(400, body);
    assert_ended_by_transport_error(&p);
}

#[test]
fn server_close_over_websocket_packet_or_frame() {
    // A close packet acts at once, and the client closes the socket itself.
    let mut p = Pair::new(Transports::WebSocket);
    p.ws_connect();
    p.ws_recv(OPEN_WS);
    p.ws_recv("1");
    assert_eq!(
        p.last_event(),
        &disconnected(DisconnectReason::ServerDisconnect(ServerClose::ClosePacket))
    );
    assert!(p.seen.ws_close_sent());
    // A late close frame after it changes nothing.
    p.ws_closed(1000, "");
    p.step();
    assert_eq!(p.seen.events().len(), 2);

    // A close frame without a close packet (node) is a server disconnect too.
    let mut p = Pair::new(Transports::WebSocket);
    p.ws_connect();
    p.ws_recv(OPEN_WS);
    p.ws_closed(1005, "");
    p.step();
    assert_eq!(
        p.last_event(),
        &disconnected(DisconnectReason::ServerDisconnect(
            ServerClose::CloseFrame {
                code: 1005,
                reason: String::new()
            }
        ))
    );

    // An end of stream without a close frame is an accident of the network.
    let mut p = Pair::new(Transports::WebSocket);
    p.ws_connect();
    p.ws_recv(OPEN_WS);
    p.ws_failed(TransportFailure::Io("reset".into()));
    p.step();
    assert_eq!(
        p.last_event(),
        &disconnected(DisconnectReason::TransportError(TransportFailure::Io(
            "reset".into()
        )))
    );
}

#[test]
fn client_close_over_polling_posts_queued_messages_then_close() {
    let mut p = Pair::polling(OPEN_POLLING);
    p.send("a"); // goes out at once
    p.queue("b").unwrap();
    p.close();
    p.step();
    assert!(
        !p.session.is_closed(),
        "closed before the close packet was sent"
    );
    p.answer_post();
    assert_eq!(p.seen.posts(), ["4a", "4b\x1e1"]);
    assert!(!p.session.is_closed());
    p.answer_post();
    assert_eq!(
        p.last_event(),
        &disconnected(DisconnectReason::ClientDisconnect)
    );
    assert!(p.session.is_closed());
}

#[test]
fn a_failure_while_closing_that_loses_messages_is_a_transport_error() {
    let mut p = Pair::polling(OPEN_POLLING);
    p.send("a"); // in flight
    p.queue("b").unwrap();
    p.close();
    p.step();
    p.answer_post_status(413, "");
    assert_ended_by_transport_error(&p);
}

#[test]
fn client_close_over_polling_finishes_even_if_the_post_times_out() {
    let mut p = Pair::polling(OPEN_POLLING);
    p.close();
    p.step();
    assert_eq!(p.seen.posts(), ["1"]);
    p.advance(Duration::from_secs(5));
    assert_eq!(
        p.last_event(),
        &disconnected(DisconnectReason::ClientDisconnect)
    );
}

#[test]
fn client_close_over_websocket_sends_close_packet_then_close_frame() {
    let mut p = Pair::new(Transports::WebSocket);
    p.ws_connect();
    p.ws_recv(OPEN_WS);
    p.queue("bye").unwrap();
    p.close();
    p.step();
    assert_eq!(
        p.seen.inbox(),
        vec![
            (
                TransportKind::WebSocket,
                Packet::Message(Payload::from("bye"))
            ),
            (TransportKind::WebSocket, Packet::Close)
        ]
    );
    assert!(p.seen.ws_close_sent());
    assert_eq!(
        p.last_event(),
        &disconnected(DisconnectReason::ClientDisconnect)
    );
}

#[test]
fn close_during_handshake_ends_at_once() {
    let mut p = Pair::new(Transports::Polling);
    p.close();
    p.step();
    assert_eq!(
        p.seen.events(),
        vec![disconnected(DisconnectReason::ClientDisconnect)]
    );
    assert_eq!(p.session.poll_timeout(), None);
}

// ----- upgrade -------------------------------------------------------------------------

#[test]
fn upgrade_probes_pauses_polling_then_sends_5_and_flushes() {
    let mut p = Pair::polling(OPEN_UPGRADE);
    // The probe socket opens while polling runs.
    assert_eq!(
        p.seen.ws_opening().unwrap().query(),
        Some("EIO=4&transport=websocket&sid=s1")
    );
    assert!(p.seen.get().is_some());
    p.ws_connect();
    assert_eq!(
        p.seen.inbox(),
        vec![(TransportKind::WebSocket, Packet::Ping("probe".into()))]
    );
    p.ws_recv("3probe");
    // Paused: writes wait, and the upgrade waits for the GET in flight.
    p.queue("during").unwrap();
    p.step();
    assert!(p.seen.post().is_none());
    assert_eq!(p.session.transport(), TransportKind::Polling);
    p.answer_get("6");
    assert_eq!(p.session.transport(), TransportKind::WebSocket);
    assert_eq!(
        p.seen.inbox()[1..],
        [
            (TransportKind::WebSocket, Packet::Upgrade),
            (
                TransportKind::WebSocket,
                Packet::Message(Payload::from("during"))
            ),
        ]
    );
    assert!(p.seen.events().contains(&SessionEvent::Upgraded));
    assert!(p.seen.get().is_none(), "polling went on after the upgrade");
    // And it keeps working over WebSocket.
    p.ws_recv("4after");
    p.ws_recv("2");
    assert_eq!(p.messages(), ["after"]);
    assert_eq!(
        p.seen.inbox().last().unwrap(),
        &(TransportKind::WebSocket, Packet::Pong("".into()))
    );
}

#[test]
fn upgrade_waits_for_the_post_in_flight() {
    let mut p = Pair::polling(OPEN_UPGRADE);
    p.send("in flight");
    assert!(p.seen.post().is_some());
    p.upgrade_until_draining();
    p.answer_get("6");
    assert_eq!(p.session.transport(), TransportKind::Polling);
    p.answer_post();
    assert_eq!(p.session.transport(), TransportKind::WebSocket);
}

#[test]
fn noop_before_3probe_does_not_leave_a_hanging_poll() {
    // python-engineio (threading) can answer the pending GET with `6` before the probe
    // answer arrives; a re-issued GET would then hang until the next ping.
    let mut p = Pair::polling(OPEN_UPGRADE);
    p.ws_connect();
    p.answer_get("6");
    assert!(
        p.seen.get().is_none(),
        "a poll was re-issued during the probe"
    );
    p.ws_recv("3probe");
    assert_eq!(p.session.transport(), TransportKind::WebSocket);
}

#[test]
fn a_poll_answered_with_only_noops_during_the_upgrade_is_not_repeated() {
    // engineioxide answers polls with `6` at once while it waits for the probe.
    let mut p = Pair::polling(OPEN_UPGRADE);
    p.answer_get("6");
    assert!(p.seen.get().is_none(), "the client would spin on noops");
    p.ws_connect();
    p.ws_recv("3probe");
    assert_eq!(p.session.transport(), TransportKind::WebSocket);

    // A poll that brings data is repeated as usual.
    let mut p = Pair::polling(OPEN_UPGRADE);
    p.answer_get("4data\x1e6");
    assert!(p.seen.get().is_some());

    // And when the upgrade fails, polling resumes.
    let mut p = Pair::polling(OPEN_UPGRADE);
    p.answer_get("6");
    p.ws_failed(TransportFailure::Io("refused".into()));
    p.step();
    assert!(p.seen.get().is_some());
}

#[test]
fn the_probe_goes_before_the_first_poll() {
    let mut p = Pair::opened(OPEN_UPGRADE);
    assert!(p.seen.ws_opening().is_some());
    assert!(p.seen.get().is_none(), "a poll went out before the probe");
    // Writes go on by POST while the probe is on its way.
    p.send("early");
    assert_eq!(p.seen.posts(), ["4early"]);
    p.answer_post();
    p.ws_connect();
    p.ws_recv("3probe");
    // Nothing to wait for: upgraded at once, without a single poll.
    assert_eq!(p.session.transport(), TransportKind::WebSocket);
    assert!(p.seen.events().contains(&SessionEvent::Upgraded));
    assert_eq!(
        p.seen.inbox().last(),
        Some(&(TransportKind::WebSocket, Packet::Upgrade))
    );
    assert!(p.seen.get().is_none());
    // What the server held meanwhile arrives over the WebSocket.
    p.ws_recv("4held");
    assert_eq!(p.messages(), ["held"]);
}

#[test]
fn a_held_poll_resumes_after_a_second_so_pings_still_arrive_during_a_slow_probe() {
    let open = r#"0{"sid":"s1","upgrades":["websocket"],"pingInterval":2000,"pingTimeout":1000}"#;
    let mut p = Pair::opened(open);
    p.ws_connect(); // 2probe sent; the answer is slow
    assert!(
        p.seen.get().is_none(),
        "polled before the probe had its chance"
    );
    p.advance(Duration::from_millis(999));
    assert!(p.seen.get().is_none());
    p.advance(Duration::from_millis(1));
    assert!(p.seen.get().is_some(), "the held poll did not resume");
    // Polls go on while the probe is pending, so the server's pings arrive.
    p.advance(Duration::from_millis(1000));
    p.answer_get("2");
    p.advance(Duration::from_millis(2500));
    assert!(p.session.is_open(), "{:?}", p.seen.events());
    assert_eq!(p.seen.posts(), ["3"]);
}

#[test]
fn several_noops_and_a_ping_during_the_pause() {
    let mut p = Pair::polling(OPEN_UPGRADE);
    p.upgrade_until_draining();
    // The server's ping arrives by polling during the pause: the pong waits for the WebSocket.
    p.answer_get("6\x1e6\x1e2\x1e6");
    assert!(
        p.seen.posts().is_empty(),
        "a POST went out during the pause"
    );
    assert_eq!(p.session.transport(), TransportKind::WebSocket);
    assert_eq!(
        p.seen.inbox()[1..],
        [
            (TransportKind::WebSocket, Packet::Upgrade),
            (TransportKind::WebSocket, Packet::Pong("".into())),
        ]
    );
    // The ping reset the deadline.
    p.advance(Duration::from_millis(499));
    assert!(p.session.is_open());
}

#[test]
fn a_failed_probe_stays_on_polling_and_loses_nothing() {
    type Failure = fn(&mut Pair);
    let failures: [(&str, Failure); 5] = [
        ("wrong answer", |p| p.ws_recv("3nope")),
        ("garbage", |p| p.ws_recv("x")),
        ("socket error", |p| {
            p.ws_failed(TransportFailure::Io("reset".into()));
            p.step();
        }),
        ("close frame", |p| {
            p.ws_closed(1001, "going away");
            p.step();
        }),
        ("timeout", |p| p.advance(Duration::from_secs(10))),
    ];
    for (name, fail) in failures {
        let open =
            r#"0{"sid":"s1","upgrades":["websocket"],"pingInterval":60000,"pingTimeout":60000}"#;
        let mut p = Pair::polling(open);
        p.ws_connect();
        p.send("before");
        p.answer_post();
        p.answer_get("4m1");
        fail(&mut p);
        assert!(
            matches!(p.last_event(), SessionEvent::UpgradeFailed(_)),
            "{name}: {:?}",
            p.seen.events()
        );
        assert!(!p.session.is_upgrading(), "{name}");
        assert_eq!(p.session.transport(), TransportKind::Polling, "{name}");
        assert!(p.seen.get().is_some(), "{name}: polling did not resume");
        p.send("after");
        p.answer_post();
        p.answer_get("4m2");
        assert_eq!(p.received(), ["before", "after"], "{name}");
        assert_eq!(p.messages(), ["m1", "m2"], "{name}");
        assert!(p.session.is_open(), "{name}");
    }
}

#[test]
fn a_probe_that_fails_after_3probe_resumes_paused_writes() {
    let mut p = Pair::polling(OPEN_UPGRADE);
    p.send("first"); // POST in flight, so the upgrade must wait for it
    p.upgrade_until_draining();
    p.send("paused");
    p.answer_get("6");
    p.ws_failed(TransportFailure::Io("reset".into()));
    p.step();
    p.answer_post();
    assert_eq!(p.session.transport(), TransportKind::Polling);
    assert_eq!(p.seen.posts(), ["4first", "4paused"]);
}

#[test]
fn a_probe_that_never_connects_is_abandoned_after_the_upgrade_timeout() {
    let open = r#"0{"sid":"s1","upgrades":["websocket"],"pingInterval":60000,"pingTimeout":60000}"#;
    let mut p = Pair::opened(open);
    p.advance(Duration::from_millis(9999));
    assert!(p.session.is_upgrading());
    p.advance(Duration::from_millis(1));
    assert_eq!(
        p.last_event(),
        &SessionEvent::UpgradeFailed(TransportFailure::RequestTimeout)
    );
    assert!(p.seen.ws_close_sent());
}

#[test]
fn message_order_survives_the_upgrade_in_both_directions() {
    let open = r#"0{"sid":"s1","upgrades":["websocket"],"pingInterval":60000,"pingTimeout":60000}"#;
    let mut p = Pair::polling(open);
    let mut sent = 0;
    let mut send = |p: &mut Pair, n: usize| {
        for _ in 0..n {
            p.queue(format!("c{sent}")).unwrap();
            sent += 1;
        }
        p.step();
    };
    send(&mut p, 20); // one POST in flight, the rest queued
    p.answer_get("4s0\x1e4s1");
    p.ws_connect();
    send(&mut p, 20);
    p.answer_post();
    p.ws_recv("3probe");
    send(&mut p, 20);
    p.answer_get("4s2\x1e6");
    // The POST that was in flight at 3probe finishes; then the upgrade completes.
    while p.seen.post().is_some() {
        p.answer_post();
    }
    assert_eq!(p.session.transport(), TransportKind::WebSocket);
    send(&mut p, 20);
    p.ws_recv("4s3");
    let want: Vec<String> = (0..80).map(|i| format!("c{i}")).collect();
    assert_eq!(p.received(), want);
    assert_eq!(p.messages(), ["s0", "s1", "s2", "s3"]);
    // Nothing after the upgrade travelled by polling.
    let first_ws = p
        .seen
        .inbox()
        .iter()
        .position(|(t, pk)| *t == TransportKind::WebSocket && *pk == Packet::Upgrade)
        .unwrap();
    assert!(
        p.seen.inbox()[first_ws..]
            .iter()
            .all(|(t, _)| *t == TransportKind::WebSocket)
    );
}

#[test]
fn no_upgrade_when_the_server_offers_none_or_polling_only_is_asked() {
    let p = Pair::polling(OPEN_POLLING);
    assert!(p.seen.ws_opening().is_none());
    let mut p = Pair::new(Transports::Polling);
    p.answer_get(OPEN_UPGRADE);
    assert!(p.seen.ws_opening().is_none());
    assert!(!p.session.is_upgrading());
}

#[test]
fn client_close_during_the_upgrade_abandons_the_probe_and_closes_over_polling() {
    let mut p = Pair::polling(OPEN_UPGRADE);
    p.upgrade_until_draining();
    p.close();
    p.step();
    assert!(p.seen.ws_close_sent());
    assert_eq!(p.seen.posts(), ["1"]);
    p.answer_post();
    assert_eq!(
        p.last_event(),
        &disconnected(DisconnectReason::ClientDisconnect)
    );
}

#[test]
fn a_post_rejected_with_413_is_a_transport_error() {
    let mut p = Pair::polling(OPEN_POLLING);
    p.send("big");
    p.answer_post_status(413, "");
    assert_eq!(
        p.last_event(),
        &disconnected(DisconnectReason::TransportError(TransportFailure::Http(
            HttpStatusError {
                status: 413,
                code: None,
                message: None
            }
        )))
    );
}

#[test]
fn post_acknowledgement_is_accepted_in_any_case() {
    let mut p = Pair::polling(OPEN_POLLING);
    p.send("a");
    p.answer_post_status(200, "OK");
    p.send("b");
    p.answer_post_status(200, "ok");
    assert!(p.session.is_open());
    assert_eq!(p.received(), ["a", "b"]);
}

#[test]
fn timestamps_are_added_only_when_asked() {
    let mut config = SessionConfig::default();
    config.transports = Transports::Polling;
    config.timestamp_requests = true;
    let mut p = Pair::with_config(config);
    let first = p.seen.get().cloned().unwrap();
    p.answer_get(OPEN_POLLING);
    let second = p.seen.get().cloned().unwrap();
    assert!(first.query().unwrap().contains("&t="), "{first}");
    assert_ne!(
        first.query(),
        second.query().map(|q| q.replace("&sid=s1", "")).as_deref()
    );
    let p = Pair::new(Transports::Polling);
    assert!(!p.seen.get().unwrap().query().unwrap().contains("&t="));
}

/// Found by the `session` fuzz target: a text message holding the payload separator,
/// POSTed as it was, became two packets (the second one garbage) on the server's side.
#[test]
fn text_with_the_payload_separator_is_refused_on_polling_and_sent_on_websocket() {
    let mut p = Pair::polling(OPEN_POLLING);
    let err = p.queue("a\x1e[b").unwrap_err();
    assert_eq!(err.kind, engineio::SendErrorKind::RecordSeparator);
    assert_eq!(err.payload, Payload::from("a\x1e[b"));
    // Binary is base64 on polling: any byte goes.
    p.queue(vec![0x1eu8, b'[']).unwrap();
    p.step();
    assert_eq!(p.seen.posts(), ["bHls="]);

    let mut p = Pair::new(Transports::WebSocket);
    p.ws_connect();
    p.ws_recv(OPEN_POLLING);
    p.send("a\x1e[b");
    assert_eq!(
        p.seen.inbox().last(),
        Some(&(
            TransportKind::WebSocket,
            Packet::Message(Payload::from("a\x1e[b"))
        ))
    );
}
