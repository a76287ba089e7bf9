//! Deterministic tests of the session state machine speaking Engine.IO protocol v3
//! (engine.io 3.x, python-engineio 3.x): a scripted server, a fake clock, no sockets and
//! no sleeps. Each test states one rule of v3 (or of choosing it, with `Protocol::Auto`);
//! every test also keeps all the rules of tests/common/rules.rs, checked on every transmit
//! and event (among them, v3's: no pong, pings that wait for pongs, octet-stream POSTs).
//!
//! The server's bodies are framed here by hand, not by `engineio::proto::v3`, so that the
//! tests check the codec instead of agreeing with it.

mod common;
#[path = "common/pair.rs"]
mod pair;

use std::time::Duration;

use bytes::Bytes;
use engineio::proto::{Frame, Packet, SessionConfig, SessionEvent};
use engineio::{
    DecodeError, DisconnectReason, HttpStatusError, Payload, Protocol, TransportFailure,
    TransportKind, Transports,
};
use pair::Pair;

/// A v3 open packet: no `maxPayload` (engine.io 3 and python-engineio 3 send none).
const OPEN: &str = r#"0{"sid":"s3","upgrades":[],"pingInterval":300,"pingTimeout":200}"#;
const OPEN_UPGRADE: &str =
    r#"0{"sid":"s3","upgrades":["websocket"],"pingInterval":300,"pingTimeout":200}"#;
/// python-engineio 3's refusal of `EIO=4`: HTTP 400 with this JSON string.
const UNSUPPORTED: &str =
    r#""The client is using an unsupported version of the Socket.IO or Engine.IO protocols""#;

const INTERVAL: Duration = Duration::from_millis(300);
const TIMEOUT: Duration = Duration::from_millis(200);

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// A v3 text payload as node's engine.io 3 frames it: lengths in UTF-16 code units.
fn node(packets: &[&str]) -> String {
    packets
        .iter()
        .map(|p| format!("{}:{p}", p.encode_utf16().count()))
        .collect()
}

/// A v3 text payload with lengths in code points (what python-engineio 3 counts when it
/// reads one; the decoder's first fallback).
fn code_points(packets: &[&str]) -> String {
    packets
        .iter()
        .map(|p| format!("{}:{p}", p.chars().count()))
        .collect()
}

/// A v3 text payload as python-engineio 3 writes one (asked `b64=1`): lengths in UTF-8
/// bytes.
fn python_bytes(packets: &[&str]) -> String {
    packets.iter().map(|p| format!("{}:{p}", p.len())).collect()
}

/// One record of v3's binary framing (`application/octet-stream`).
enum Rec<'a> {
    /// A text packet (`4hi`, `0{…}`, `3`).
    Text(&'a str),
    /// A binary message: its data (the type byte is added).
    Bin(&'a [u8]),
}

/// v3's binary framing: per record `00` (text) or `01` (binary), the length in bytes as
/// one byte per decimal digit, `ff`, then the packet (a binary one with its type byte 4).
fn framed(records: &[Rec]) -> Vec<u8> {
    let mut out = Vec::new();
    for r in records {
        let (kind, packet) = match r {
            Rec::Text(t) => (0u8, t.as_bytes().to_vec()),
            Rec::Bin(b) => (1u8, [&[4u8][..], b].concat()),
        };
        out.push(kind);
        out.extend(packet.len().to_string().bytes().map(|d| d - b'0'));
        out.push(0xff);
        out.extend(packet);
    }
    out
}

fn config(protocol: Protocol, transports: Transports) -> SessionConfig {
    let mut c = SessionConfig::default();
    c.protocol = protocol;
    c.transports = transports;
    c
}

/// A v3 polling session (pinned), opened with `handshake` in node's text framing, with
/// its first poll in flight.
fn v3_polling(handshake: &str) -> Pair {
    Pair::polling_with(
        config(Protocol::V3, Transports::Upgrade),
        &node(&[handshake]),
    )
}

/// A v3 WebSocket-only session (pinned), opened.
fn v3_websocket() -> Pair {
    let mut p = Pair::with_config(config(Protocol::V3, Transports::WebSocket));
    p.ws_connect();
    p.ws_recv(OPEN);
    assert_eq!(p.seen.events(), [SessionEvent::Connected]);
    p
}

fn disconnected(failure: TransportFailure) -> SessionEvent {
    SessionEvent::Disconnected(DisconnectReason::TransportError(failure))
}

fn binary(b: &[u8]) -> SessionEvent {
    SessionEvent::Message(Payload::from(b.to_vec()))
}

fn text(t: &str) -> SessionEvent {
    SessionEvent::Message(Payload::from(t))
}

/// The v3 pings the server received so far.
fn pings(p: &Pair) -> usize {
    p.seen
        .inbox()
        .iter()
        .filter(|(_, pk)| *pk == Packet::Ping("".into()))
        .count()
}

/// The query of the GET in flight.
fn get_query(p: &Pair) -> String {
    p.seen
        .get()
        .expect("no GET in flight")
        .query()
        .unwrap()
        .to_owned()
}

// ----- the v3 handshake ------------------------------------------------------------------

/// Pinned v3 asks `EIO=3`, and the open packet in node's text framing (`NN:0{…}`) opens
/// the session; every later request asks `EIO=3` with the sid.
#[test]
fn pinned_v3_asks_eio_3_and_a_text_framed_open_packet_opens_the_session() {
    let mut p = Pair::with_config(config(Protocol::V3, Transports::Polling));
    assert_eq!(
        p.seen.get().unwrap().to_string(),
        "http://127.0.0.1:5000/engine.io/?EIO=3&transport=polling"
    );
    p.answer_get(&node(&[OPEN]));
    assert_eq!(p.seen.events(), [SessionEvent::Connected]);
    assert_eq!(p.session.sid(), Some("s3"));
    assert_eq!(p.session.protocol(), Some(Protocol::V3));
    assert_eq!(p.session.handshake().unwrap().max_payload, None);
    assert_eq!(get_query(&p), "EIO=3&transport=polling&sid=s3");
    assert_eq!(p.seen.handshakes(), [Protocol::V3]);
}

/// The open packet in v3's binary framing, as python-engineio 3.x answers a client that
/// does not ask `b64=1` (`00 01 00 07 ff 30 7b …` for a 107-byte open packet), opens the
/// session, and the records after it are processed in order.
#[test]
fn a_binary_framed_open_packet_opens_the_session_and_the_records_after_it_count() {
    let open = format!(
        r#"0{{"sid": "{}", "upgrades": [], "pingTimeout": 60000, "pingInterval": 25000}}"#,
        "p".repeat(34)
    );
    assert_eq!(open.len(), 107);
    let body = framed(&[
        Rec::Text(&open),
        Rec::Text("4hello"),
        Rec::Bin(&[0, 0xff, 7]),
        Rec::Text("6"),
        Rec::Text("4wörld"),
    ]);
    assert_eq!(&body[..7], b"\x00\x01\x00\x07\xff\x30\x7b");
    let mut p = Pair::with_config(config(Protocol::V3, Transports::Polling));
    p.answer_get_bytes(&body);
    assert_eq!(
        p.seen.events(),
        [
            SessionEvent::Connected,
            text("hello"),
            binary(&[0, 0xff, 7]),
            text("wörld")
        ]
    );
    assert_eq!(p.session.sid(), Some(&*"p".repeat(34)));
    let h = p.session.handshake().unwrap();
    assert_eq!((h.ping_interval, h.ping_timeout), (ms(25_000), ms(60_000)));
    assert!(p.session.is_open());
    assert_eq!(
        get_query(&p),
        format!("EIO=3&transport=polling&sid={}", "p".repeat(34))
    );
}

/// Packets after the open packet in the handshake response (node's text framing) are
/// processed: messages delivered in order, noops skipped, a close packet ends the session.
#[test]
fn extra_packets_after_a_text_framed_open_packet_are_processed() {
    let mut p = Pair::with_config(config(Protocol::V3, Transports::Polling));
    p.answer_get(&node(&[OPEN, "4hello", "6", "b4AQID", "4world"]));
    assert_eq!(
        p.seen.events(),
        [
            SessionEvent::Connected,
            text("hello"),
            binary(&[1, 2, 3]),
            text("world")
        ]
    );

    let mut p = Pair::with_config(config(Protocol::V3, Transports::Polling));
    p.answer_get(&node(&[OPEN, "4bye", "1", "4never"]));
    assert_eq!(
        p.seen.events(),
        [
            SessionEvent::Connected,
            text("bye"),
            SessionEvent::Disconnected(DisconnectReason::ServerDisconnect(
                engineio::ServerClose::ClosePacket
            ))
        ]
    );
}

// ----- Protocol::Auto -----------------------------------------------------------------------

/// Auto: an `EIO=4` polling handshake answered in v3 framing (node's engine.io 3.x ignores
/// `EIO`) goes on in v3 with that very session: no second handshake, and every later
/// request (polls, POSTs, the probe) asks `EIO=3`, the version now spoken.
#[test]
fn auto_a_v4_handshake_answered_in_v3_goes_on_in_v3_with_that_session() {
    let mut p = Pair::new(Transports::Upgrade);
    assert_eq!(get_query(&p), "EIO=4&transport=polling");
    p.answer_get(&node(&[OPEN_UPGRADE, "4first"]));
    assert_eq!(p.seen.events(), [SessionEvent::Connected, text("first")]);
    assert_eq!(p.session.protocol(), Some(Protocol::V3));
    assert_eq!(p.session.sid(), Some("s3"));
    assert_eq!(p.seen.handshakes(), [Protocol::V4], "a second handshake");
    // The probe goes first, in v3.
    assert_eq!(
        p.seen.ws_opening().unwrap().query(),
        Some("EIO=3&transport=websocket&sid=s3")
    );
    p.advance(INTERVAL / 2); // the poll hold
    assert_eq!(get_query(&p), "EIO=3&transport=polling&sid=s3");
    p.send("up");
    let (content_type, _) = &p.seen.raw_posts()[0];
    assert_eq!(*content_type, "application/octet-stream");
    assert_eq!(p.received(), ["up"]);
}

/// Auto: a 400 whose body is python-engineio 3's "unsupported version" JSON string makes
/// exactly one retry asking `EIO=3` (which then opens, here in the binary framing, with a
/// request timeout of its own); a second such refusal fails the connect with it.
#[test]
fn auto_an_unsupported_version_refusal_is_retried_once_with_eio_3() {
    let mut p = Pair::new(Transports::Polling);
    p.advance(ms(3000));
    p.answer_get_status(400, UNSUPPORTED);
    assert!(p.seen.events().is_empty(), "{:?}", p.seen.events());
    assert_eq!(p.seen.handshakes(), [Protocol::V4, Protocol::V3]);
    assert_eq!(get_query(&p), "EIO=3&transport=polling");
    p.answer_get_bytes(&framed(&[Rec::Text(OPEN), Rec::Text("4hi")]));
    assert_eq!(p.seen.events(), [SessionEvent::Connected, text("hi")]);
    assert_eq!(p.session.protocol(), Some(Protocol::V3));
    assert_eq!(get_query(&p), "EIO=3&transport=polling&sid=s3");

    // Refused twice: the second refusal is the answer.
    let mut p = Pair::new(Transports::Polling);
    p.answer_get_status(400, UNSUPPORTED);
    p.answer_get_status(400, UNSUPPORTED);
    assert_eq!(
        p.seen.events(),
        [SessionEvent::ConnectFailed(TransportFailure::Http(
            HttpStatusError {
                status: 400,
                code: None,
                message: Some(UNSUPPORTED.trim_matches('"').into()),
            }
        ))]
    );
    assert_eq!(p.seen.handshakes(), [Protocol::V4, Protocol::V3]);
    assert!(p.session.is_closed());

    // The retry has the whole request timeout again, and no more.
    let mut p = Pair::new(Transports::Polling);
    p.advance(ms(3000));
    p.answer_get_status(400, UNSUPPORTED);
    p.advance(ms(4999));
    assert!(p.seen.events().is_empty(), "{:?}", p.seen.events());
    p.advance(ms(1));
    assert_eq!(
        p.seen.events(),
        [SessionEvent::ConnectFailed(
            TransportFailure::RequestTimeout
        )]
    );
}

/// Auto: other 400s (node's "Unsupported protocol version" object, a bad request, an empty
/// body), and the unsupported-version text with another status, fail the connect at once:
/// no retry.
#[test]
fn auto_other_refusals_are_not_retried() {
    let cases: [(u16, &str); 6] = [
        (
            400,
            r#"{"code":5,"message":"Unsupported protocol version"}"#,
        ),
        (400, r#"{"code":3,"message":"Bad request"}"#),
        (400, ""),
        (400, "<html>Bad Request</html>"),
        (403, UNSUPPORTED),
        (500, UNSUPPORTED),
    ];
    for (status, body) in cases {
        let mut p = Pair::new(Transports::Polling);
        p.answer_get_status(status, body);
        assert!(
            matches!(
                p.seen.events(),
                [SessionEvent::ConnectFailed(TransportFailure::Http(e))] if e.status == status
            ),
            "{status} {body:?}: {:?}",
            p.seen.events()
        );
        assert_eq!(p.seen.handshakes(), [Protocol::V4], "{status} {body:?}");
        assert!(p.seen.get().is_none(), "{status} {body:?}");
    }
}

/// Auto, WebSocket-only: a 400 refusal of the `EIO=4` WebSocket handshake (python-engineio
/// 3.x; the body is not read) is retried on a new WebSocket asking `EIO=3`, which opens in
/// v3. Other failures are not retried.
#[test]
fn auto_websocket_only_a_400_refusal_is_retried_with_eio_3() {
    let refused = || {
        TransportFailure::Http(HttpStatusError {
            status: 400,
            code: None,
            message: None,
        })
    };
    let mut p = Pair::new(Transports::WebSocket);
    assert_eq!(
        p.seen.ws_opening().unwrap().query(),
        Some("EIO=4&transport=websocket")
    );
    p.ws_failed(refused());
    p.step();
    assert!(p.seen.events().is_empty(), "{:?}", p.seen.events());
    assert_eq!(
        p.seen.ws_opening().unwrap().query(),
        Some("EIO=3&transport=websocket")
    );
    p.ws_connect();
    p.ws_recv(OPEN);
    assert_eq!(p.seen.events(), [SessionEvent::Connected]);
    assert_eq!(p.session.protocol(), Some(Protocol::V3));
    assert_eq!(p.seen.handshakes(), [Protocol::V4, Protocol::V3]);

    // Refused twice: failed.
    let mut p = Pair::new(Transports::WebSocket);
    p.ws_failed(refused());
    p.step();
    p.ws_failed(refused());
    p.step();
    assert_eq!(p.seen.events(), [SessionEvent::ConnectFailed(refused())]);
    assert_eq!(p.seen.handshakes(), [Protocol::V4, Protocol::V3]);

    // Not a version refusal: failed at once.
    for failure in [
        TransportFailure::Http(HttpStatusError {
            status: 403,
            code: None,
            message: None,
        }),
        TransportFailure::Io("connection refused".into()),
    ] {
        let mut p = Pair::new(Transports::WebSocket);
        p.ws_failed(failure.clone());
        p.step();
        assert_eq!(p.seen.events(), [SessionEvent::ConnectFailed(failure)]);
        assert_eq!(p.seen.handshakes(), [Protocol::V4]);
    }
}

/// Auto, WebSocket-only: an open packet without `maxPayload` (node's engine.io 3.x answers
/// `EIO=4` so) makes the session close that socket, unopened, and open one asking `EIO=3`;
/// the v3 open packet on it opens the session in v3.
#[test]
fn auto_websocket_only_an_open_packet_without_max_payload_reopens_in_v3() {
    let mut p = Pair::new(Transports::WebSocket);
    p.ws_connect();
    p.ws_recv(OPEN);
    assert!(p.seen.events().is_empty(), "{:?}", p.seen.events());
    assert!(p.seen.ws_close_sent(), "the EIO=4 socket was not closed");
    assert_eq!(
        p.seen.ws_opening().unwrap().query(),
        Some("EIO=3&transport=websocket")
    );
    p.ws_connect();
    p.ws_recv(OPEN);
    assert_eq!(p.seen.events(), [SessionEvent::Connected]);
    assert_eq!(p.session.protocol(), Some(Protocol::V3));
    assert_eq!(p.seen.handshakes(), [Protocol::V4, Protocol::V3]);
    // And it speaks v3: binary with the type byte.
    p.queue(vec![9u8]).unwrap();
    p.step();
    assert_eq!(
        p.seen.frames().last(),
        Some(&Frame::Binary(Bytes::from_static(&[4, 9])))
    );
}

/// Auto, WebSocket-only: when the `EIO=3` reopen is refused (4xx), the server is an older
/// v4 one without `maxPayload`: the session opens `EIO=4` again and accepts that open
/// packet as v4.
#[test]
fn auto_websocket_only_a_refused_v3_reopen_goes_back_to_v4() {
    for status in [400, 403, 404] {
        let mut p = Pair::new(Transports::WebSocket);
        p.ws_connect();
        p.ws_recv(OPEN);
        p.ws_failed(TransportFailure::Http(HttpStatusError {
            status,
            code: None,
            message: None,
        }));
        p.step();
        assert!(
            p.seen.events().is_empty(),
            "{status}: {:?}",
            p.seen.events()
        );
        assert_eq!(
            p.seen.ws_opening().unwrap().query(),
            Some("EIO=4&transport=websocket"),
            "{status}"
        );
        p.ws_connect();
        p.ws_recv(OPEN);
        assert_eq!(p.seen.events(), [SessionEvent::Connected], "{status}");
        assert_eq!(p.session.protocol(), Some(Protocol::V4), "{status}");
        assert_eq!(
            p.seen.handshakes(),
            [Protocol::V4, Protocol::V3, Protocol::V4],
            "{status}"
        );
        // v4: the server pings and the client answers.
        p.ws_recv("2");
        assert_eq!(
            p.seen.inbox().last(),
            Some(&(TransportKind::WebSocket, Packet::Pong("".into())))
        );
    }
}

/// Auto, WebSocket-only: an open packet with `maxPayload` is a v4 server's: accepted at
/// once, no reopen.
#[test]
fn auto_websocket_only_an_open_packet_with_max_payload_is_v4_at_once() {
    let mut p = Pair::new(Transports::WebSocket);
    p.ws_connect();
    p.ws_recv(
        r#"0{"sid":"s4","upgrades":[],"pingInterval":300,"pingTimeout":200,"maxPayload":100}"#,
    );
    assert_eq!(p.seen.events(), [SessionEvent::Connected]);
    assert_eq!(p.session.protocol(), Some(Protocol::V4));
    assert!(!p.seen.ws_close_sent());
    assert_eq!(p.seen.handshakes(), [Protocol::V4]);
}

/// Pinned v4 never retries: not on the unsupported-version 400 (polling or WebSocket),
/// and an open packet without `maxPayload` over WebSocket is taken as it is. Pinned v3
/// does not retry either.
#[test]
fn pinned_versions_never_retry() {
    let mut p = Pair::with_config(config(Protocol::V4, Transports::Polling));
    p.answer_get_status(400, UNSUPPORTED);
    assert!(matches!(
        p.seen.events(),
        [SessionEvent::ConnectFailed(TransportFailure::Http(_))]
    ));
    assert_eq!(p.seen.handshakes(), [Protocol::V4]);

    let refused = TransportFailure::Http(HttpStatusError {
        status: 400,
        code: None,
        message: None,
    });
    let mut p = Pair::with_config(config(Protocol::V4, Transports::WebSocket));
    p.ws_failed(refused.clone());
    p.step();
    assert_eq!(
        p.seen.events(),
        [SessionEvent::ConnectFailed(refused.clone())]
    );
    assert_eq!(p.seen.handshakes(), [Protocol::V4]);

    let mut p = Pair::with_config(config(Protocol::V4, Transports::WebSocket));
    p.ws_connect();
    p.ws_recv(OPEN);
    assert_eq!(p.seen.events(), [SessionEvent::Connected]);
    assert_eq!(p.session.protocol(), Some(Protocol::V4));
    assert!(!p.seen.ws_close_sent());

    let mut p = Pair::with_config(config(Protocol::V3, Transports::Polling));
    p.answer_get_status(400, UNSUPPORTED);
    assert!(matches!(
        p.seen.events(),
        [SessionEvent::ConnectFailed(TransportFailure::Http(_))]
    ));
    let mut p = Pair::with_config(config(Protocol::V3, Transports::WebSocket));
    p.ws_failed(refused.clone());
    p.step();
    assert_eq!(p.seen.events(), [SessionEvent::ConnectFailed(refused)]);
    assert_eq!(p.seen.handshakes(), [Protocol::V3]);
}

// ----- the v3 heartbeat ------------------------------------------------------------------

/// v3's heartbeat is the client's: it sends `2` exactly pingInterval after the handshake,
/// not a millisecond before.
#[test]
fn the_client_pings_exactly_ping_interval_after_the_handshake() {
    let mut p = Pair::with_config(config(Protocol::V3, Transports::Polling));
    p.answer_get(&node(&[OPEN]));
    p.advance(INTERVAL - ms(1));
    assert_eq!(pings(&p), 0);
    assert!(p.seen.post().is_none());
    p.advance(ms(1));
    assert_eq!(pings(&p), 1);
    assert_eq!(
        p.seen.raw_posts(),
        [(
            "application/octet-stream",
            Bytes::from_static(b"\x00\x01\xff2")
        )]
    );
}

/// A `3` from the server schedules the next ping pingInterval after it; without one, no
/// second ping (while other packets keep the connection alive).
#[test]
fn a_pong_schedules_the_next_ping_ping_interval_later() {
    let mut p = Pair::with_config(config(Protocol::V3, Transports::Polling));
    p.answer_get(&node(&[OPEN]));
    p.advance(INTERVAL);
    p.answer_post();
    p.advance(ms(50));
    p.answer_get(&node(&["3"]));
    p.advance(INTERVAL - ms(1));
    assert_eq!(pings(&p), 1);
    p.advance(ms(1));
    assert_eq!(pings(&p), 2);
    p.answer_post();
    // No pong this time: messages keep the session alive, but no ping follows.
    for _ in 0..6 {
        p.advance(ms(150));
        p.answer_get(&node(&["4tick"]));
    }
    assert_eq!(pings(&p), 2);
    assert!(p.session.is_open());
}

/// No packet within pingTimeout after a ping is a ping timeout, at exactly that instant
/// (the ping's deadline replaces a later one from an earlier packet).
#[test]
fn no_packet_within_ping_timeout_after_a_ping_is_a_ping_timeout_at_that_instant() {
    let mut p = Pair::with_config(config(Protocol::V3, Transports::Polling));
    p.answer_get(&node(&[OPEN]));
    p.advance(ms(100));
    p.answer_get(&node(&["4alive"])); // alive until 100 + 300 + 200 = 600
    p.advance(INTERVAL - ms(100)); // the ping, at 300: a packet is due by 500
    assert_eq!(pings(&p), 1);
    p.answer_post();
    p.advance(TIMEOUT - ms(1));
    assert!(p.session.is_open(), "{:?}", p.seen.events());
    p.advance(ms(1));
    assert_eq!(p.last_event(), &disconnected(TransportFailure::PingTimeout));
    assert_eq!(p.session.poll_timeout(), None);
}

/// Any packet from the server (a message, a noop, the server's own `2`) resets the
/// deadline to pingInterval + pingTimeout from its arrival.
#[test]
fn any_packet_resets_the_deadline_to_interval_plus_timeout() {
    for packet in ["4m", "6", "2", "b4AQ=="] {
        let mut p = Pair::with_config(config(Protocol::V3, Transports::Polling));
        p.answer_get(&node(&[OPEN]));
        p.advance(INTERVAL); // the ping: due by 500
        p.answer_post();
        p.advance(ms(150));
        p.answer_get(&node(&[packet])); // at 450: alive until 950
        p.advance(INTERVAL + TIMEOUT - ms(1));
        assert!(p.session.is_open(), "{packet}: {:?}", p.seen.events());
        p.advance(ms(1));
        assert_eq!(
            p.last_event(),
            &disconnected(TransportFailure::PingTimeout),
            "{packet}"
        );
    }
}

/// The client never sends a pong in v3, not even when the server sends `2` (a v4 server
/// closes a client that sends unsolicited pongs; a v3 server never pings).
#[test]
fn the_client_never_pongs_in_v3() {
    let mut p = Pair::with_config(config(Protocol::V3, Transports::Polling));
    p.answer_get(&node(&[OPEN, "2"]));
    p.answer_get(&node(&["2", "2probe", "6"]));
    assert!(p.seen.raw_posts().is_empty(), "{:?}", p.seen.raw_posts());
    assert_eq!(p.session.queued(), 0);

    let mut p = v3_websocket();
    p.ws_recv("2");
    p.ws_recv("2x");
    assert!(p.seen.frames().is_empty(), "{:?}", p.seen.frames());
}

/// The ping goes ahead of messages still queued: behind a long queue it would miss the
/// server's pingInterval + pingTimeout.
#[test]
fn the_ping_goes_ahead_of_queued_messages() {
    let mut p = Pair::with_config(config(Protocol::V3, Transports::Polling));
    p.answer_get(&node(&[OPEN]));
    p.send("m0"); // in flight
    for i in 1..40 {
        p.queue(format!("m{i}")).unwrap();
    }
    p.advance(INTERVAL);
    p.answer_post();
    let second: Vec<&Packet> = p.seen.inbox()[1..].iter().map(|(_, pk)| pk).collect();
    assert_eq!(second[0], &Packet::Ping("".into()));
    assert_eq!(second[1], &Packet::Message(Payload::from("m1")));
}

/// Over WebSocket the heartbeat is the same: `2` as a text frame pingInterval after the
/// handshake and after each `3`; no packet within pingTimeout is a ping timeout, and the
/// socket is closed.
#[test]
fn the_heartbeat_over_websocket() {
    let mut p = v3_websocket();
    p.advance(INTERVAL - ms(1));
    assert!(p.seen.frames().is_empty());
    p.advance(ms(1));
    assert_eq!(p.seen.frames(), [Frame::Text("2".into())]);
    p.advance(ms(20));
    p.ws_recv("3");
    p.advance(INTERVAL - ms(1));
    assert_eq!(p.seen.frames().len(), 1);
    p.advance(ms(1));
    assert_eq!(p.seen.frames().len(), 2);
    // No answer this time.
    p.advance(TIMEOUT - ms(1));
    assert!(p.session.is_open());
    p.advance(ms(1));
    assert_eq!(p.last_event(), &disconnected(TransportFailure::PingTimeout));
    assert!(p.seen.ws_close_sent());
}

/// Across the upgrade: the probe is `2probe`/`3probe`, then `5`; a ping that falls due
/// during the pause waits and goes out on the WebSocket right after `5`, and the heartbeat
/// goes on there.
#[test]
fn the_heartbeat_across_the_upgrade() {
    let mut p = v3_polling(OPEN_UPGRADE); // at 150 (the poll hold), a poll in flight
    assert_eq!(
        p.seen.ws_opening().unwrap().query(),
        Some("EIO=3&transport=websocket&sid=s3")
    );
    p.ws_connect();
    assert_eq!(p.seen.frames(), [Frame::Text("2probe".into())]);
    p.ws_recv("3probe"); // paused: waiting for the poll
    p.advance(ms(150)); // at 300 the ping falls due
    assert!(p.seen.raw_posts().is_empty(), "a POST during the pause");
    p.answer_get(&node(&["6"]));
    assert_eq!(p.session.transport(), TransportKind::WebSocket);
    assert_eq!(
        p.seen.frames(),
        [
            Frame::Text("2probe".into()),
            Frame::Text("5".into()),
            Frame::Text("2".into())
        ]
    );
    p.advance(ms(10));
    p.ws_recv("3");
    p.advance(INTERVAL - ms(1));
    assert_eq!(p.seen.frames().len(), 3);
    p.advance(ms(1));
    assert_eq!(p.seen.frames().last(), Some(&Frame::Text("2".into())));
    p.advance(TIMEOUT);
    assert_eq!(p.last_event(), &disconnected(TransportFailure::PingTimeout));
}

// ----- what the client sends ------------------------------------------------------------

/// v3 POSTs are the binary framing, as `application/octet-stream`: per packet `00` (text)
/// or `01` (binary), the length in bytes as one byte per digit, `ff`, the packet; binary
/// with its type byte `04`.
#[test]
fn posts_are_the_binary_framing_as_octet_stream() {
    let mut p = v3_polling(OPEN);
    p.send("héllo €😀"); // "4héllo €😀": 1 + 6 + 1 + 3 + 4 = 15 bytes
    p.queue(vec![1u8, 2, 3]).unwrap();
    p.queue("").unwrap();
    p.queue("a\x1eb").unwrap();
    p.step();
    p.answer_post();
    let mut want2 = vec![1u8, 4, 0xff, 4, 1, 2, 3];
    want2.extend_from_slice(b"\x00\x01\xff4");
    want2.extend_from_slice(b"\x00\x04\xff4a\x1eb");
    assert_eq!(
        p.seen.raw_posts(),
        [
            (
                "application/octet-stream",
                Bytes::from([&b"\x00\x01\x05\xff"[..], "4héllo €😀".as_bytes()].concat())
            ),
            ("application/octet-stream", Bytes::from(want2)),
        ]
    );
    assert_eq!(p.session.stats().messages_sent, 4);
}

/// A client close over v3 polling: the messages queued before it go out first, then the
/// close packet, each POST in the binary framing; the session ends as a client disconnect
/// when the close packet's POST is answered, and the client pings no more.
#[test]
fn client_close_over_v3_polling_sends_the_queue_then_the_close_packet() {
    let mut p = v3_polling(OPEN);
    p.send("a"); // in flight
    p.queue(vec![7u8]).unwrap();
    p.queue("b").unwrap();
    p.close();
    p.step();
    assert!(
        !p.session.is_closed(),
        "closed before the close packet went"
    );
    p.answer_post();
    assert!(
        !p.session.is_closed(),
        "closed before the close packet went"
    );
    p.answer_post();
    assert_eq!(
        p.seen.raw_posts(),
        [
            (
                "application/octet-stream",
                Bytes::from(framed(&[Rec::Text("4a")]))
            ),
            (
                "application/octet-stream",
                Bytes::from(framed(&[Rec::Bin(&[7]), Rec::Text("4b"), Rec::Text("1")]))
            ),
        ]
    );
    assert_eq!(
        p.last_event(),
        &SessionEvent::Disconnected(DisconnectReason::ClientDisconnect)
    );
    assert!(p.session.is_closed());
    let before = pings(&p);
    p.advance(INTERVAL * 3);
    assert_eq!(pings(&p), before, "a ping after the close");
}

/// A client close over the v3 WebSocket: queued messages, then the close packet as a text
/// frame, then the close frame; the session ends as a client disconnect at once.
#[test]
fn client_close_over_the_v3_websocket_sends_the_queue_then_the_close_packet() {
    let mut p = v3_websocket();
    p.queue("x").unwrap();
    p.queue(vec![1u8]).unwrap();
    p.close();
    p.step();
    assert_eq!(
        p.seen.frames(),
        [
            Frame::Text("4x".into()),
            Frame::Binary(Bytes::from_static(&[4, 1])),
            Frame::Text("1".into()),
        ]
    );
    assert!(p.seen.ws_close_sent(), "no close frame");
    assert_eq!(
        p.last_event(),
        &SessionEvent::Disconnected(DisconnectReason::ClientDisconnect)
    );
    assert!(p.session.is_closed());
}

/// Over the v3 WebSocket a binary message is a binary frame holding the type byte `04`,
/// then the data; text is a text frame as in v4.
#[test]
fn binary_over_the_v3_websocket_is_a_binary_frame_with_type_byte_4() {
    let mut p = v3_websocket();
    p.queue(vec![1u8, 2, 3]).unwrap();
    p.queue(Vec::<u8>::new()).unwrap();
    p.queue("é\x1e").unwrap();
    p.step();
    assert_eq!(
        p.seen.frames(),
        [
            Frame::Binary(Bytes::from_static(&[4, 1, 2, 3])),
            Frame::Binary(Bytes::from_static(&[4])),
            Frame::Text("4é\x1e".into()),
        ]
    );
}

/// Text holding U+001E is sent on v3 polling (its payloads are length-prefixed; the
/// separator refusal is v4's), and arrives as exactly one message.
#[test]
fn text_with_the_record_separator_is_sent_on_v3_polling() {
    let mut p = v3_polling(OPEN);
    for t in ["\x1e", "a\x1e[b", "4\x1e1"] {
        p.queue(t).unwrap();
    }
    p.step();
    while p.seen.post().is_some() {
        p.answer_post();
    }
    assert_eq!(p.received(), ["\x1e", "a\x1e[b", "4\x1e1"]);
    assert!(p.session.is_open());
}

// ----- what the client receives -----------------------------------------------------------

/// Binary messages in a poll response arrive in both framings: `b4<base64>` in a text
/// payload, a `01` record with the type byte in the binary framing; and as a binary
/// WebSocket frame with the type byte.
#[test]
fn binary_messages_arrive_in_both_framings_and_over_websocket() {
    let mut p = v3_polling(OPEN);
    p.answer_get(&node(&["b4AQIDBA==", "4t", "b4"]));
    p.answer_get_bytes(&framed(&[
        Rec::Bin(&[0xde, 0xad]),
        Rec::Text("4u"),
        Rec::Bin(&[]),
        Rec::Bin(&[0x1e, b':', 0xff]),
    ]));
    assert_eq!(
        p.seen.events()[1..],
        [
            binary(&[1, 2, 3, 4]),
            text("t"),
            binary(&[]),
            binary(&[0xde, 0xad]),
            text("u"),
            binary(&[]),
            binary(&[0x1e, b':', 0xff]),
        ]
    );

    let mut p = v3_websocket();
    p.ws_recv_frame(Frame::Binary(Bytes::from_static(&[4, 7, 8])));
    p.ws_recv("b4AQI=");
    assert_eq!(p.seen.events()[1..], [binary(&[7, 8]), binary(&[1, 2])]);
}

/// Multibyte and non-BMP text arrives whole whatever the lengths count: UTF-16 code units
/// (node), code points (what python reads), bytes (the binary framing).
#[test]
fn multibyte_and_emoji_text_with_each_servers_lengths() {
    let texts = ["4é", "4€😀", "4😀😀😀", "4a😀b", "4𝄞x", "46:4", "4"];
    let want: Vec<SessionEvent> = texts.iter().map(|t| text(&t[1..])).collect();

    let body = node(&texts);
    assert!(body.starts_with("2:4é4:4€😀7:4😀😀😀"), "{body}");
    let mut p = v3_polling(OPEN);
    p.answer_get(&body);
    assert_eq!(p.seen.events()[1..], want, "node's UTF-16 lengths");

    let body = code_points(&texts);
    assert!(body.starts_with("2:4é3:4€😀4:4😀😀😀"), "{body}");
    let mut p = v3_polling(OPEN);
    p.answer_get(&body);
    assert_eq!(p.seen.events()[1..], want, "code-point lengths");

    let recs: Vec<Rec> = texts.iter().map(|t| Rec::Text(t)).collect();
    let mut p = v3_polling(OPEN);
    p.answer_get_bytes(&framed(&recs));
    assert_eq!(
        p.seen.events()[1..],
        want,
        "the binary framing's byte lengths"
    );

    // The handshake response too.
    let mut p = Pair::with_config(config(Protocol::V3, Transports::Polling));
    p.answer_get(&code_points(&[OPEN, "4😀é"]));
    assert_eq!(p.seen.events(), [SessionEvent::Connected, text("😀é")]);
}

/// python-engineio 3 writes text payloads (when asked `b64=1`) with lengths in UTF-8 bytes,
/// which the decoder takes when neither the UTF-16 nor the code-point reading decodes the
/// whole payload: they arrive whole whatever follows them, here a record whose length has
/// two digits, or one whose data starts with digits.
#[test]
fn python_byte_lengths_decode_whatever_follows() {
    let cases: [&[&str]; 4] = [
        &["4é", "4a"],
        &["4é", "4abcdefghi"],
        &["4€", "4ab", "4abcdefghijk"],
        &["4𝄞x", "46:4", "4"],
    ];
    let mut wrong = Vec::new();
    for texts in cases {
        let body = python_bytes(texts);
        let want: Vec<SessionEvent> = texts.iter().map(|t| text(&t[1..])).collect();
        let mut p = v3_polling(OPEN);
        p.answer_get(&body);
        if p.seen.events()[1..] != want {
            wrong.push((body, p.seen.events()[1..].to_vec()));
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
}

/// A malformed payload ends the session with a Decode error (a failed connect during the
/// handshake), never a panic; the packets before it in the same body are not delivered
/// (the payload is decoded whole).
#[test]
fn malformed_payloads_end_the_session_with_a_decode_error() {
    let bodies: [&[u8]; 14] = [
        b"5:4a",
        b"x:4a",
        b"2:4a3",
        b":4a",
        b"2:4a:",
        b"99999999999:4",
        b"2:4\xff",
        b"3:4ok2:9x",
        b"\x00\x05\xff4a",
        b"\x00\xff4",
        b"\x02\x01\xff4",
        b"\x01\x01\xff\x03",
        b"\x01\x00\xff",
        b"\x00\x02\xff4a\x00",
    ];
    for body in bodies {
        let mut p = v3_polling(OPEN);
        p.answer_get_bytes(body);
        assert!(
            matches!(
                p.last_event(),
                SessionEvent::Disconnected(DisconnectReason::TransportError(
                    TransportFailure::Decode(_)
                ))
            ),
            "{body:?}: {:?}",
            p.seen.events()
        );
        assert!(p.session.is_closed());

        let mut p = Pair::with_config(config(Protocol::V3, Transports::Polling));
        let mut handshake = node(&[OPEN]).into_bytes();
        handshake.extend_from_slice(body);
        p.answer_get_bytes(&handshake);
        assert!(
            matches!(
                p.seen.events(),
                [SessionEvent::ConnectFailed(TransportFailure::Decode(_))]
            ),
            "handshake + {body:?}: {:?}",
            p.seen.events()
        );
    }

    // A first packet that is not an open packet, in either framing.
    for body in [node(&["4hi"]).into_bytes(), framed(&[Rec::Bin(&[1])])] {
        let mut p = Pair::with_config(config(Protocol::V3, Transports::Polling));
        p.answer_get_bytes(&body);
        assert_eq!(
            p.seen.events(),
            [SessionEvent::ConnectFailed(TransportFailure::Decode(
                DecodeError::ExpectedOpen
            ))]
        );
    }

    // Over WebSocket: a binary frame without the type byte 4, an empty one, bad base64.
    for frame in [
        Frame::Binary(Bytes::from_static(&[9, 1])),
        Frame::Binary(Bytes::new()),
        Frame::Text("b4!!".into()),
        Frame::Text("b9AQ==".into()),
    ] {
        let mut p = v3_websocket();
        p.ws_recv_frame(frame.clone());
        assert!(
            matches!(
                p.last_event(),
                SessionEvent::Disconnected(DisconnectReason::TransportError(
                    TransportFailure::Decode(_)
                ))
            ),
            "{frame:?}: {:?}",
            p.seen.events()
        );
        assert!(p.seen.ws_close_sent());
    }
}

/// POSTs stay within the handshake's `maxPayload` as the server counts it, the v3 body's
/// bytes (engine.io 6 with `allowEIO3` announces `maxPayload` to v3 clients, and answers a
/// larger POST with 413); a single larger packet goes alone.
#[test]
fn v3_posts_stay_within_max_payload_counted_in_v3_framing() {
    let open =
        r#"0{"sid":"s3","upgrades":[],"pingInterval":300,"pingTimeout":200,"maxPayload":20}"#;
    let mut p = v3_polling(open);
    for m in ["aaaa", "bbbb", "cccc", "dddd"] {
        p.queue(m).unwrap();
    }
    p.step();
    while p.seen.post().is_some() {
        p.answer_post();
    }
    assert_eq!(p.received(), ["aaaa", "bbbb", "cccc", "dddd"]);
    for (_, body) in p.seen.raw_posts() {
        assert!(
            body.len() <= 20,
            "a POST of {} bytes > maxPayload 20: {body:?}",
            body.len()
        );
    }
}
