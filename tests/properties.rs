//! Property tests: round trips of the codec, and every decoder (and the session itself)
//! fed arbitrary input, which must end in a value or a typed error, never a panic.
//!
//! One test runs all properties so that it can count the cases it ran and insist on the
//! total: at least 100,000 inputs across the decoders.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::rules::{Checker, Ws};
use engineio::proto::{
    Endpoint, Frame, Handshake, Packet, PollRequest, Session, SessionConfig, payload,
};
use engineio::{ByteStr, HttpStatusError, Payload, TransportFailure, Transports};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

static CASES: AtomicUsize = AtomicUsize::new(0);

fn run<S: Strategy>(name: &str, cases: u32, strategy: S, test: impl Fn(S::Value))
where
    S::Value: std::fmt::Debug,
{
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    });
    let before = CASES.load(Ordering::Relaxed);
    let result = runner.run(&strategy, |v| {
        CASES.fetch_add(1, Ordering::Relaxed);
        test(v);
        Ok(())
    });
    if let Err(e) = result {
        panic!("property {name} failed: {e}");
    }
    let ran = CASES.load(Ordering::Relaxed) - before;
    println!("{name}: {ran} cases");
}

/// Bytes that look like Engine.IO often enough to reach deep paths: packet digits,
/// separators, `b`, base64 and JSON characters, and arbitrary bytes.
fn wire_bytes() -> impl Strategy<Value = Vec<u8>> {
    let byte = prop_oneof![
        4 => any::<u8>(),
        3 => prop::sample::select(b"0123456b\x1e{}\":,=+/AQIDBAsidpingInterval".to_vec()),
    ];
    prop::collection::vec(byte, 0..200)
}

fn arb_payload() -> impl Strategy<Value = Payload> {
    prop_oneof![
        any::<String>().prop_map(Payload::from),
        prop::collection::vec(any::<u8>(), 0..100).prop_map(Payload::from),
    ]
}

fn arb_packet() -> impl Strategy<Value = Packet> {
    // Text data inside a polling payload may not contain the separator.
    let text = any::<String>().prop_map(|s| ByteStr::from(s.replace('\x1e', "")));
    prop_oneof![
        Just(Packet::Close),
        Just(Packet::Upgrade),
        Just(Packet::Noop),
        text.clone().prop_map(Packet::Ping),
        text.clone().prop_map(Packet::Pong),
        text.prop_map(|t| Packet::Message(Payload::Text(t))),
        prop::collection::vec(any::<u8>(), 0..100).prop_map(|b| Packet::Message(Payload::from(b))),
        (
            "[a-zA-Z0-9_-]{1,20}",
            any::<u32>(),
            any::<u32>(),
            prop::option::of(any::<u64>()),
            any::<bool>()
        )
            .prop_map(|(sid, i, t, max, up)| Packet::Open(Handshake {
                sid,
                upgrades: if up { vec!["websocket".into()] } else { vec![] },
                ping_interval: Duration::from_millis(i.into()),
                ping_timeout: Duration::from_millis(t.into()),
                max_payload: max,
            })),
    ]
}

/// One input to a session, as a hostile or broken server (or a busy user) could produce.
#[derive(Clone, Debug)]
enum Input {
    Response(bool, u16, Vec<u8>),
    Failed(bool),
    WsConnected,
    WsFrame(Vec<u8>, bool),
    WsClosed(u16),
    WsFailed,
    Advance(u16),
    Send(Payload),
    Close,
}

fn arb_input() -> impl Strategy<Value = Input> {
    let open = Just(
        br#"0{"sid":"s","upgrades":["websocket"],"pingInterval":100,"pingTimeout":100,"maxPayload":40}"#
            .to_vec(),
    );
    let body = prop_oneof![
        3 => wire_bytes(),
        1 => open,
        1 => prop::sample::select(vec![b"6".to_vec(), b"3probe".to_vec(), b"2".to_vec(), b"1".to_vec(), b"4hi".to_vec(), b"ok".to_vec()]),
    ];
    prop_oneof![
        4 => (any::<bool>(), prop::sample::select(vec![200u16, 200, 200, 400, 413, 500]), body.clone())
            .prop_map(|(g, s, b)| Input::Response(g, s, b)),
        1 => any::<bool>().prop_map(Input::Failed),
        1 => Just(Input::WsConnected),
        3 => (body, any::<bool>()).prop_map(|(b, bin)| Input::WsFrame(b, bin)),
        1 => prop::sample::select(vec![1000u16, 1005, 1009]).prop_map(Input::WsClosed),
        1 => Just(Input::WsFailed),
        2 => (0u16..12_000).prop_map(Input::Advance),
        2 => arb_payload().prop_map(Input::Send),
        1 => Just(Input::Close),
    ]
}

/// Feeds `inputs` to a session the way a driver would (answers only for requests it made),
/// checking the protocol rules (tests/common/rules.rs) after each.
fn drive(transports: Transports, inputs: Vec<Input>) {
    let mut now = Instant::now();
    let mut config = SessionConfig::default();
    config.transports = transports;
    let mut c = Checker::new(&config);
    let mut s = Session::new(Endpoint::parse("http://h").unwrap(), config, now);
    c.drain(&mut s, now);
    for input in inputs {
        match input {
            Input::Response(get, status, body) if c.in_flight(request(get)) => {
                c.handle_response(&mut s, now, request(get), status, Bytes::from(body));
            }
            Input::Failed(get) if c.in_flight(request(get)) => {
                let reset = TransportFailure::Io("reset".into());
                c.handle_request_failed(&mut s, now, request(get), reset);
            }
            Input::WsConnected if c.ws() == Ws::Opening => c.handle_ws_connected(&mut s, now),
            Input::WsFrame(b, true) if c.ws() == Ws::Open => {
                c.handle_ws_frame(&mut s, now, Frame::Binary(Bytes::from(b)))
            }
            Input::WsFrame(b, false) if c.ws() == Ws::Open => {
                if let Ok(t) = ByteStr::from_utf8(Bytes::from(b)) {
                    c.handle_ws_frame(&mut s, now, Frame::Text(t));
                }
            }
            Input::WsClosed(code) if c.ws() == Ws::Open => {
                c.handle_ws_closed(&mut s, now, code, "")
            }
            Input::WsFailed if c.ws() != Ws::None => {
                c.handle_ws_failed(&mut s, now, TransportFailure::Io("eof".into()))
            }
            Input::Advance(ms) => {
                now += Duration::from_millis(ms.into());
                c.handle_timeout(&mut s, now);
            }
            Input::Send(p) => {
                let _ = c.send(&mut s, p);
            }
            Input::Close => c.close(&mut s),
            _ => {} // an answer to a request that was not made: a driver never reports it
        }
        c.drain(&mut s, now);
    }
}

fn request(get: bool) -> PollRequest {
    if get {
        PollRequest::Get
    } else {
        PollRequest::Post
    }
}

#[test]
fn properties() {
    // --- decoders fed arbitrary input: no panic, and errors are typed ---
    run(
        "packet decode, arbitrary bytes",
        30_000,
        wire_bytes(),
        |b| {
            if let Ok(p) = Packet::decode_bytes(Bytes::from(b.clone())) {
                // Whatever decodes is a packet whose type digit (or `b`) came first.
                let first = b[0];
                assert!(first == b'b' || p.packet_type().digit() == first);
            }
        },
    );
    run(
        "payload decode, arbitrary bytes",
        30_000,
        wire_bytes(),
        |b| {
            let n_records = if b.is_empty() {
                0
            } else {
                b.iter().filter(|&&c| c == 0x1e).count() + 1
            };
            assert_eq!(payload::decode(Bytes::from(b)).count(), n_records);
        },
    );
    run(
        "handshake parse, arbitrary text",
        15_000,
        any::<String>(),
        |s| {
            let _ = Handshake::parse(&s);
        },
    );
    run(
        "handshake parse, JSON-shaped text",
        10_000,
        r#"\{("(sid|upgrades|pingInterval|pingTimeout|maxPayload|x)":(-?[0-9]{1,25}(\.[0-9]+)?(e[0-9]{1,3})?|"[a-z]*"|\[("websocket"|1)?\]|null|true|\{\}),?){0,6}\}"#,
        |s| {
            if let Ok(h) = Handshake::parse(&s) {
                assert!(!h.sid.is_empty());
            }
        },
    );
    run(
        "error body parse, arbitrary bytes",
        10_000,
        (any::<u16>(), wire_bytes()),
        |(status, b)| {
            let e = HttpStatusError::from_response(status, &b);
            assert_eq!(e.status, status);
            assert!(e.message.map_or(0, |m| m.chars().count()) <= 201);
        },
    );
    run(
        "frame decode, arbitrary bytes",
        10_000,
        (wire_bytes(), any::<bool>()),
        |(b, binary)| {
            let frame = if binary {
                Frame::Binary(Bytes::from(b))
            } else {
                match ByteStr::from_utf8(Bytes::from(b)) {
                    Ok(t) => Frame::Text(t),
                    Err(_) => return,
                }
            };
            let _ = Packet::decode_frame(frame);
        },
    );

    // --- round trips ---
    run("packet text round trip", 10_000, arb_packet(), |p| {
        let text = p.encode_text();
        assert_eq!(text.len(), p.encoded_text_len());
        assert_eq!(Packet::decode_str(&text).unwrap(), p);
    });
    run(
        "frame round trip",
        5_000,
        (arb_packet(), any::<bool>()),
        |(p, b64)| {
            assert_eq!(Packet::decode_frame(p.encode_frame(b64)).unwrap(), p);
        },
    );
    run(
        "payload round trip",
        5_000,
        prop::collection::vec(arb_packet(), 1..20),
        |ps| {
            let body = payload::encode(&ps);
            let back: Vec<Packet> = payload::decode(Bytes::from(body))
                .collect::<Result<_, _>>()
                .unwrap();
            assert_eq!(back, ps);
        },
    );
    run(
        "batches fit maxPayload",
        5_000,
        (prop::collection::vec(arb_packet(), 1..40), 0u64..400),
        |(ps, max)| {
            let mut q: std::collections::VecDeque<Packet> = ps.into();
            while !q.is_empty() {
                let n = payload::batch_len(&q, Some(max), 16);
                assert!((1..=16).contains(&n));
                let batch: Vec<Packet> = q.drain(..n).collect();
                let len = payload::encode(&batch).len() as u64;
                assert!(n == 1 || len <= max, "{n} packets, {len} bytes > {max}");
            }
        },
    );

    // --- the session fed arbitrary input sequences ---
    for transports in [
        Transports::Upgrade,
        Transports::WebSocket,
        Transports::Polling,
    ] {
        run(
            &format!("session {transports:?}, arbitrary inputs"),
            2_000,
            prop::collection::vec(arb_input(), 0..40),
            |inputs| drive(transports, inputs),
        );
    }

    let total = CASES.load(Ordering::Relaxed);
    println!("total: {total} cases");
    assert!(total >= 100_000, "only {total} cases ran");
}
