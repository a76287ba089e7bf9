//! Inputs found by the fuzz targets in fuzz/ (scripts/fuzz.sh), replayed as plain tests so
//! that they stay fixed without libFuzzer.

use std::time::Instant;

use bytes::Bytes;
use engineio::proto::{
    Endpoint, Packet, PollRequest, Session, SessionConfig, SessionEvent, Transmit, payload,
};
use engineio::{Payload, SendErrorKind, Transports};

/// Every POST the session makes, answered `ok`; GETs are left pending.
fn posts(s: &mut Session, now: Instant) -> Vec<Vec<Packet>> {
    let mut out = Vec::new();
    while let Some(t) = s.poll_transmit(now) {
        if let Transmit::Post { body, .. } = t {
            out.push(
                payload::decode(body)
                    .collect::<Result<Vec<_>, _>>()
                    .expect("the client's POST decodes"),
            );
            s.handle_response(now, PollRequest::Post, 200, Bytes::from_static(b"ok"));
        }
    }
    out
}

/// `session` target, crash-44d6faadeb9aa660813978bb8570e87d0c2d7aca, minimized to
/// `2616010100000000000002f2756511110a7369645111ff39111111111111110aae110100221a01062ee1fffffffffeffffff01e75b5b5b5b1e5b48`:
/// polling; the open packet (`sid` "\n", `maxPayload` 65535); then `send("\u{1e}")`.
/// The message was POSTed as `4\x1e`, which a server reads as two packets (`4` and an empty
/// one): the fuzz target's "a POST decodes" check failed with `UnknownPacketType('[')` on
/// the original input (`…[[[\x1e[[…`). Now refused while on polling.
#[test]
fn session_text_with_the_record_separator_is_not_posted() {
    let now = Instant::now();
    let mut config = SessionConfig::default();
    config.transports = Transports::Polling;
    config.max_packets_per_post = 2;
    let mut s = Session::new(Endpoint::parse("http://h").unwrap(), config, now);
    assert!(matches!(s.poll_transmit(now), Some(Transmit::Get { .. })));
    let open = Packet::Open(engineio::proto::Handshake {
        sid: "\n".into(),
        upgrades: vec![],
        ping_interval: std::time::Duration::from_millis(282),
        ping_timeout: std::time::Duration::from_millis(u64::MAX),
        max_payload: Some(65535),
    });
    s.handle_response(now, PollRequest::Get, 200, Bytes::from(open.encode_text()));
    assert_eq!(s.poll_event(), Some(SessionEvent::Connected));

    for text in ["\u{1e}", "gInt[[[[\u{1e}[[\0", "a\u{1e}1"] {
        match s.send(text) {
            Err(e) => {
                assert_eq!(e.kind, SendErrorKind::RecordSeparator);
                assert_eq!(e.payload, Payload::from(text));
            }
            // Sent some other way, it must reach the server as exactly one message.
            Ok(()) => assert_eq!(
                posts(&mut s, now).concat(),
                [Packet::Message(Payload::from(text))]
            ),
        }
    }
    // Nothing was injected: no close packet, no stray message.
    s.send("after").unwrap();
    assert_eq!(
        posts(&mut s, now).concat(),
        [Packet::Message(Payload::from("after"))]
    );
    assert!(s.is_open());
}
