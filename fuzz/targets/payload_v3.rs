//! Protocol v3 polling payloads and frames, two ways from the same input:
//!
//! - Raw: `v3::decode_payload` fed the bytes (both framings: the first byte picks the
//!   binary one, `00`/`01`, or the text one, `<length>:`), then the encoders fed what
//!   decoded; `v3::decode_frame` fed the same bytes as a binary and a text frame.
//! - Structured: the bytes make packets (as `arbitrary` does), framed as node (text,
//!   UTF-16 lengths), as python (text, code-point lengths) or in the binary framing; then
//!   the body, or the body cut short or with one byte changed, is decoded. (Random bytes
//!   rarely frame a record right: this half reaches the decoders' inner paths.)
//!
//! Checks: no panic; a payload that decodes is framed as v3 (`is_v3_payload`), and an
//! empty one is no packets; what decoded survives encoding in either framing (decode →
//! encode → decode), doubled (framings concatenate) and packet by packet; a binary frame
//! decodes exactly when it starts with the type byte 4, a text frame as the same text in a
//! payload record, and both come back through `encode_frame`; packets framed node's way
//! or in the binary framing decode to themselves, python's way too unless the lengths are
//! ambiguous (a record whose UTF-16 and code-point counts differ and whose data holds an
//! ASCII digit, which can pass for the next record's length).

use arbitrary::{Arbitrary, Unstructured};
use bytes::Bytes;
use engineio::proto::{Frame, Packet, v3};
use engineio::{ByteStr, Payload};

/// One input, as libFuzzer hands it over (fuzz/fuzz_targets) and as the test suite
/// replays it (tests/fuzz_targets.rs).
pub fn run(data: &[u8]) {
    raw(data);
    if let Ok(input) = Structured::arbitrary_take_rest(Unstructured::new(data)) {
        input.check();
    }
}

fn raw(data: &[u8]) {
    let body = Bytes::copy_from_slice(data);
    let decoded = v3::decode_payload(body.clone());
    if data.is_empty() {
        assert_eq!(decoded, Ok(Vec::new()));
    }
    if let Ok(packets) = &decoded {
        if !data.is_empty() {
            assert!(v3::is_v3_payload(data), "decoded but not v3: {data:?}");
        }
        check_encodings(packets);
    }

    // Frames: text frames are text packets as in a text payload record; binary frames are
    // a type byte and the data.
    let as_binary = v3::decode_frame(Frame::Binary(body.clone()));
    match data.first() {
        Some(4) => assert!(as_binary.is_ok(), "{data:?}"),
        _ => assert!(as_binary.is_err(), "{data:?}: {as_binary:?}"),
    }
    if let Ok(p) = as_binary {
        assert_eq!(v3::decode_frame(v3::encode_frame(p.clone())), Ok(p));
    }
    if let Ok(text) = std::str::from_utf8(data) {
        let as_text = v3::decode_frame(Frame::Text(ByteStr::from(text)));
        assert_eq!(as_text, v3::decode_text_packet(body.clone()));
        if let Ok(p) = as_text {
            assert_eq!(v3::decode_frame(v3::encode_frame(p.clone())), Ok(p.clone()));
            check_encodings(&[p]);
        }
    }
}

/// `packets` survive either framing, whole, doubled, and record by record.
fn check_encodings(packets: &[Packet]) {
    let binary = v3::encode_binary_payload(packets);
    assert_eq!(v3::decode_payload(binary.clone()).as_deref(), Ok(packets));
    let text = v3::encode_text_payload(packets);
    assert_eq!(
        v3::decode_payload(Bytes::from(text.clone())).as_deref(),
        Ok(packets)
    );
    let twice: Vec<Packet> = packets.iter().chain(packets).cloned().collect();
    assert_eq!(
        v3::decode_payload(Bytes::from([&binary[..], &binary[..]].concat())),
        Ok(twice.clone())
    );
    assert_eq!(v3::decode_payload(Bytes::from(text.repeat(2))), Ok(twice));
    for p in packets {
        let one = v3::encode_text_payload([p]);
        assert_eq!(v3::decode_payload(Bytes::from(one)), Ok(vec![p.clone()]));
    }
}

/// A packet as a v3 server could send it (the open packet is the handshake decoder's
/// business: fuzz/targets/handshake.rs).
#[derive(Arbitrary, Debug)]
enum Wire {
    Text(String),
    Binary(Vec<u8>),
    Ping(String),
    Pong(String),
    Close,
    Upgrade,
    Noop,
}

impl Wire {
    fn packet(&self) -> Packet {
        match self {
            Wire::Text(t) => Packet::Message(Payload::from(t.as_str())),
            Wire::Binary(b) => Packet::Message(Payload::from(b.as_slice())),
            Wire::Ping(d) => Packet::Ping(ByteStr::from(d.as_str())),
            Wire::Pong(d) => Packet::Pong(ByteStr::from(d.as_str())),
            Wire::Close => Packet::Close,
            Wire::Upgrade => Packet::Upgrade,
            Wire::Noop => Packet::Noop,
        }
    }
}

#[derive(Arbitrary, Debug)]
enum Framing {
    Node,
    Python,
    Binary,
}

#[derive(Arbitrary, Debug)]
enum Damage {
    None,
    Cut(u16),
    Set(u16, u8),
}

#[derive(Arbitrary, Debug)]
struct Structured {
    framing: Framing,
    damage: Damage,
    packets: Vec<Wire>,
}

impl Structured {
    fn check(&self) {
        let packets: Vec<Packet> = self.packets.iter().map(Wire::packet).collect();
        let (body, exact) = match self.framing {
            Framing::Node => (v3::encode_text_payload(&packets).into_bytes(), true),
            Framing::Python => python(&packets),
            Framing::Binary => (v3::encode_binary_payload(&packets).to_vec(), true),
        };
        let mut damaged = body.clone();
        match self.damage {
            Damage::None => {}
            Damage::Cut(at) => damaged.truncate(usize::from(at) % (body.len() + 1)),
            Damage::Set(at, b) => {
                if !body.is_empty() {
                    damaged[usize::from(at) % body.len()] = b;
                }
            }
        }
        let decoded = v3::decode_payload(Bytes::from(damaged.clone()));
        if damaged == body && exact {
            assert_eq!(decoded.as_deref(), Ok(&packets[..]), "{:?}", self.framing);
        }
        raw(&damaged);
    }
}

/// A text payload with python-engineio's lengths (code points), and whether it is
/// unambiguous: no record whose UTF-16 and code-point counts differ holds an ASCII digit
/// after its type.
fn python(packets: &[Packet]) -> (Vec<u8>, bool) {
    let mut out = String::new();
    let mut exact = true;
    for p in packets {
        let node = v3::encode_text_payload([p]);
        let (_, text) = node.split_once(':').expect("a length");
        let points = text.chars().count();
        if points != text.encode_utf16().count() && text[1..].bytes().any(|b| b.is_ascii_digit()) {
            exact = false;
        }
        out.push_str(&format!("{points}:{text}"));
    }
    (out.into_bytes(), exact)
}
