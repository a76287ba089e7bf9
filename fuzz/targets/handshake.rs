//! The open packet: `Handshake::parse` fed arbitrary text (and the same text behind a `0`
//! through `Packet::decode_str`).
//!
//! Checks: no panic; a parsed handshake has a non-empty `sid`; `to_json` gives back the
//! same handshake, also inside an open packet; `ping_deadline` does not overflow and
//! `can_upgrade_to_websocket` matches `upgrades`.

use engineio::proto::{Handshake, Packet};

/// One input, as libFuzzer hands it over (fuzz/fuzz_targets) and as the test suite
/// replays it (tests/fuzz_targets.rs).
pub fn run(data: &[u8]) {
    let Ok(json) = std::str::from_utf8(data) else {
        return;
    };
    let parsed = Handshake::parse(json);
    let as_packet = Packet::decode_str(&format!("0{json}"));
    match (&parsed, &as_packet) {
        (Ok(h), Ok(Packet::Open(p))) => assert_eq!(h, p),
        (Err(e), Err(f)) => assert_eq!(e, f),
        other => panic!("parse and decode disagree: {other:?}"),
    }
    let Ok(h) = parsed else { return };

    assert!(!h.sid.is_empty());
    assert_eq!(
        h.can_upgrade_to_websocket(),
        h.upgrades.iter().any(|u| u == "websocket")
    );
    let deadline = h.ping_deadline();
    assert!(deadline >= h.ping_interval && deadline >= h.ping_timeout);

    let again = Handshake::parse(&h.to_json()).expect("to_json parses");
    assert_eq!(again, h);
    let open = Packet::Open(h);
    assert_eq!(Packet::decode_str(&open.encode_text()), Ok(open));
}
