//! One packet: `Packet::decode_bytes` (polling records, text frames as bytes),
//! `Packet::decode_str` and `Packet::decode_frame` (text and binary WebSocket frames) fed
//! arbitrary bytes.
//!
//! Checks: no panic; whatever decodes starts with its type digit (or `b`); text data is
//! valid UTF-8 (`ByteStr` relies on it without checking again); the encoders give back the
//! same packet (decode → encode → decode), and `encoded_text_len` is exact.

use bytes::Bytes;
use engineio::proto::{Frame, Packet};
use engineio::{ByteStr, Payload};

/// One input, as libFuzzer hands it over (fuzz/fuzz_targets) and as the test suite
/// replays it (tests/fuzz_targets.rs).
pub fn run(data: &[u8]) {
    // A binary frame is a binary message, whatever its bytes.
    let bytes = Bytes::copy_from_slice(data);
    assert_eq!(
        Packet::decode_frame(Frame::Binary(bytes.clone())),
        Ok(Packet::Message(Payload::Binary(bytes.clone())))
    );

    let decoded = Packet::decode_bytes(bytes.clone());
    match std::str::from_utf8(data) {
        Ok(text) => {
            // The three text entry points agree.
            assert_eq!(Packet::decode_str(text), decoded);
            assert_eq!(
                Packet::decode_frame(Frame::Text(ByteStr::from(text))),
                decoded
            );
        }
        Err(e) => {
            assert_eq!(
                decoded,
                Err(engineio::DecodeError::InvalidUtf8 {
                    valid_up_to: e.valid_up_to()
                })
            );
        }
    }
    let Ok(packet) = decoded else { return };

    let first = data[0];
    assert!(
        first == b'b' || packet.packet_type().digit() == first,
        "{packet:?} decoded from a packet starting with {first:#04x}"
    );
    match &packet {
        Packet::Ping(t) | Packet::Pong(t) | Packet::Message(Payload::Text(t)) => {
            assert!(std::str::from_utf8(t.as_bytes()).is_ok());
            assert_eq!(t.as_bytes()[..], data[1..]);
        }
        Packet::Open(h) => assert!(!h.sid.is_empty()),
        _ => {}
    }

    // Round trips through every encoder.
    let text = packet.encode_text();
    assert_eq!(text.len(), packet.encoded_text_len(), "{packet:?}");
    assert_eq!(Packet::decode_str(&text).as_ref(), Ok(&packet), "{text:?}");
    let mut appended = String::from("x");
    packet.encode_text_into(&mut appended);
    assert_eq!(appended[1..], text);
    for b64 in [false, true] {
        let frame = packet.encode_frame(b64);
        if let Frame::Binary(_) = frame {
            assert!(!b64 && matches!(packet, Packet::Message(Payload::Binary(_))));
        }
        assert_eq!(Packet::decode_frame(frame).as_ref(), Ok(&packet));
    }
}
