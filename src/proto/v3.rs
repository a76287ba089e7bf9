//! Engine.IO protocol v3 framing (engine.io 3.x, socket.io 2.x, python-engineio 3.x).
//!
//! The packets are v4's, with two differences in how binary messages travel, and polling
//! payloads have framings of their own:
//!
//! | what | v3 |
//! |---|---|
//! | text polling payload | `<length>:<packet>` repeated; `0:` when empty |
//! | binary message in a text payload | `b4<base64>` (the type digit is kept) |
//! | binary polling payload (`application/octet-stream`) | per packet: `00` (text) or `01` (binary), the length as one byte per decimal digit, `ff`, the packet |
//! | binary message in a binary payload | type byte `04`, then the data |
//! | binary message on WebSocket | a binary frame: type byte `04`, then the data |
//!
//! # What the lengths count
//!
//! The servers disagree, with each other and with the specification (which says
//! characters). Measured against node's engine.io 3.6.2 and python-engineio 3.14.2 with
//! text holding multibyte and non-BMP characters (`é`, `€`, `😀`), both ways:
//!
//! - In text payloads, node counts UTF-16 code units (JavaScript's `String.length`: `😀`
//!   counts 2, `é` 1). python-engineio 3 counts code points when it reads (`😀` counts 1)
//!   and UTF-8 bytes when it writes (`é` counts 2). A server counts one way throughout, so
//!   the decoder reads the whole payload counting UTF-16 code units, and if that does not
//!   decode, code points, then bytes.
//! - In binary payloads, both count the bytes of the packet as sent: UTF-8 bytes for text,
//!   the type byte plus the data for binary. No ambiguity: so the client POSTs in the
//!   binary framing, and asks for it (no `b64=1`).
//!
//! Both framings are decoded whatever the client asked for: the first byte tells them
//! apart (`0x00`/`0x01` for binary, an ASCII digit for text).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use bytes::{BufMut, Bytes, BytesMut};

use super::{Frame, Packet};
use crate::error::DecodeError;
use crate::{ByteStr, Payload};

/// The most decimal digits a length may have in a payload (lengths past 10^10 bytes are
/// bogus: no body that large is ever read).
const MAX_LENGTH_DIGITS: usize = 10;

/// The type byte of a binary message (`4`, as a byte, not a digit).
const MESSAGE_TYPE_BYTE: u8 = 4;

fn bad(why: impl Into<String>) -> DecodeError {
    DecodeError::InvalidPayload(why.into())
}

/// Decodes a v3 polling payload, in either framing (the first byte tells which).
///
/// ```
/// use bytes::Bytes;
/// use engineio::Payload;
/// use engineio::proto::{Packet, v3};
///
/// // node's engine.io 3: lengths in UTF-16 code units (the emoji counts 2).
/// let text = v3::decode_payload(Bytes::from("6:4héllo4:4€😀10:b4AQIDBA==")).unwrap();
/// assert_eq!(text, vec![
///     Packet::Message(Payload::from("héllo")),
///     Packet::Message(Payload::from("€😀")),
///     Packet::Message(Payload::from(vec![1u8, 2, 3, 4])),
/// ]);
///
/// // The binary framing: a text packet of 2 bytes, a binary one of 3 (type byte included).
/// let binary = v3::decode_payload(Bytes::from_static(b"\x00\x02\xff4a\x01\x03\xff\x04\xde\xad")).unwrap();
/// assert_eq!(binary, vec![
///     Packet::Message(Payload::from("a")),
///     Packet::Message(Payload::from(vec![0xdeu8, 0xad])),
/// ]);
/// ```
pub fn decode_payload(body: Bytes) -> Result<Vec<Packet>, DecodeError> {
    match body.first() {
        None => Ok(Vec::new()),
        Some(0 | 1) => decode_binary_payload(body),
        Some(_) => decode_text_payload(body),
    }
}

/// Whether `body` is framed as v3: a text payload (`<digits>:`) or a binary one (first
/// byte `0x00` or `0x01`).
pub fn is_v3_payload(body: &[u8]) -> bool {
    match body.first() {
        Some(0 | 1) => true,
        _ => {
            let digits = body.iter().take_while(|b| b.is_ascii_digit()).count();
            digits > 0 && body.get(digits) == Some(&b':')
        }
    }
}

/// What a text payload's lengths count.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Count {
    /// UTF-16 code units: node's engine.io (JavaScript's `String.length`).
    Utf16,
    /// Code points: what the specification says, and what python-engineio 3 reads.
    Chars,
    /// UTF-8 bytes: what python-engineio 3 writes.
    Bytes,
}

/// Decodes a text payload. A server counts one way throughout, so the whole payload is
/// decoded counting UTF-16 code units; if that fails, code points; then bytes. The first
/// reading that decodes wins; if none does, the UTF-16 reading's error is returned.
fn decode_text_payload(body: Bytes) -> Result<Vec<Packet>, DecodeError> {
    let text = std::str::from_utf8(&body).map_err(|e| DecodeError::InvalidUtf8 {
        valid_up_to: e.valid_up_to(),
    })?;
    let first = decode_text_records(&body, text, Count::Utf16);
    if first.is_ok() || text.is_ascii() {
        // ASCII text counts the same every way.
        return first;
    }
    decode_text_records(&body, text, Count::Chars)
        .or_else(|_| decode_text_records(&body, text, Count::Bytes))
        .or(first)
}

fn decode_text_records(body: &Bytes, text: &str, count: Count) -> Result<Vec<Packet>, DecodeError> {
    let mut packets = Vec::new();
    let mut at = 0;
    while at < text.len() {
        let rest = &text[at..];
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 || digits > MAX_LENGTH_DIGITS || rest.as_bytes().get(digits) != Some(&b':') {
            return Err(bad("a text payload record must start with <length>:"));
        }
        let len: usize = rest[..digits]
            .parse()
            .map_err(|_| bad("a record length is not a number"))?;
        let start = at + digits + 1;
        let end = record_end(text, start, len, count)
            .ok_or_else(|| bad("a record is longer than the payload"))?;
        if len > 0 {
            // `0:` is the empty payload; an empty record anywhere else is no packet.
            packets.push(decode_text_packet(body.slice(start..end))?);
        }
        at = end;
    }
    Ok(packets)
}

/// Where a record of `len`, counted as `count`, starting at byte `start` of `text` ends;
/// `None` if the text is shorter, or the count ends inside a character.
fn record_end(text: &str, start: usize, len: usize, count: Count) -> Option<usize> {
    let rest = text.get(start..)?;
    if count == Count::Bytes {
        let end = start.checked_add(len)?;
        return (end <= text.len() && text.is_char_boundary(end)).then_some(end);
    }
    let mut counted = 0usize;
    let mut end = start;
    for c in rest.chars() {
        if counted >= len {
            break;
        }
        counted += match count {
            Count::Utf16 => c.len_utf16(),
            _ => 1,
        };
        end += c.len_utf8();
    }
    (counted == len).then_some(end)
}

fn decode_binary_payload(body: Bytes) -> Result<Vec<Packet>, DecodeError> {
    let mut packets = Vec::new();
    let mut at = 0;
    while at < body.len() {
        let kind = body[at];
        if kind > 1 {
            return Err(bad(format!(
                "a binary payload record starts with {kind:#04x}, not 0x00 or 0x01"
            )));
        }
        at += 1;
        let mut len = 0usize;
        let mut digits = 0;
        loop {
            match body.get(at) {
                Some(0xff) if digits > 0 => break,
                Some(&d) if d <= 9 && digits < MAX_LENGTH_DIGITS => {
                    len = len * 10 + usize::from(d);
                    digits += 1;
                    at += 1;
                }
                _ => return Err(bad("a binary payload record has a malformed length")),
            }
        }
        at += 1; // the 0xff
        let end = at
            .checked_add(len)
            .filter(|&end| end <= body.len())
            .ok_or_else(|| bad("a record is longer than the payload"))?;
        let data = body.slice(at..end);
        at = end;
        if kind == 0 {
            if data.is_empty() {
                continue;
            }
            packets.push(decode_text_packet(data)?);
        } else {
            packets.push(decode_binary_packet(data)?);
        }
    }
    Ok(packets)
}

/// A binary packet: the type byte, then the data. Only messages carry binary data.
fn decode_binary_packet(data: Bytes) -> Result<Packet, DecodeError> {
    match data.first() {
        Some(&MESSAGE_TYPE_BYTE) => Ok(Packet::Message(Payload::Binary(data.slice(1..)))),
        Some(&t) => Err(DecodeError::UnknownPacketType(char::from(t))),
        None => Err(DecodeError::Empty),
    }
}

/// Decodes one v3 text packet (a text payload record, a WebSocket text frame):
/// v4's, except that base64 binary keeps its type digit (`b4AQID`).
pub fn decode_text_packet(bytes: Bytes) -> Result<Packet, DecodeError> {
    if bytes.first() == Some(&b'b') {
        return match bytes.get(1) {
            Some(b'4') => BASE64
                .decode(&bytes[2..])
                .map(|b| Packet::Message(Payload::Binary(Bytes::from(b))))
                .map_err(|e| DecodeError::InvalidBase64(e.to_string())),
            Some(&t) => Err(DecodeError::UnknownPacketType(char::from(t))),
            None => Err(DecodeError::Empty),
        };
    }
    Packet::decode_bytes(bytes)
}

/// Decodes a v3 WebSocket frame: a text packet, or a binary frame holding the type byte
/// and the data.
pub fn decode_frame(frame: Frame) -> Result<Packet, DecodeError> {
    match frame {
        Frame::Text(t) => decode_text_packet(t.into_bytes()),
        Frame::Binary(b) => decode_binary_packet(b),
    }
}

/// Encodes a packet as a v3 WebSocket frame: binary messages as a binary frame with the
/// type byte in front (one copy of the data), the rest as text.
pub fn encode_frame(packet: Packet) -> Frame {
    match packet {
        Packet::Message(Payload::Binary(b)) => {
            let mut out = BytesMut::with_capacity(1 + b.len());
            out.put_u8(MESSAGE_TYPE_BYTE);
            out.put_slice(&b);
            Frame::Binary(out.freeze())
        }
        other => Frame::Text(ByteStr::from(other.encode_text())),
    }
}

/// The length in bytes of `packet` in a binary payload record, and whether it is binary.
fn binary_record(packet: &Packet) -> (usize, bool) {
    match packet {
        Packet::Message(Payload::Binary(b)) => (1 + b.len(), true),
        other => (other.encoded_text_len(), false),
    }
}

fn push_length(out: &mut BytesMut, len: usize) {
    for digit in len.to_string().bytes() {
        out.put_u8(digit - b'0');
    }
}

/// How many packets from the front of `queue` fit in one v3 POST in the binary framing:
/// at most `max_packets`, and at most `max_payload` bytes once framed (a v4 server that
/// allows v3, node's `allowEIO3`, announces one). A single larger packet still goes alone.
pub(crate) fn batch_len(
    queue: &std::collections::VecDeque<Packet>,
    max_payload: Option<u64>,
    max_packets: usize,
) -> usize {
    let limit = max_payload.unwrap_or(u64::MAX);
    let mut total: u64 = 0;
    let mut n = 0;
    for p in queue.iter().take(max_packets.max(1)) {
        let (len, _) = binary_record(p);
        let framed = 1 + len.to_string().len() + 1 + len;
        let next = total.saturating_add(framed as u64);
        if n > 0 && next > limit {
            break;
        }
        total = next;
        n += 1;
    }
    n
}

/// Encodes packets as a v3 binary polling payload (`application/octet-stream`): what
/// the client POSTs, since both servers count its lengths the same way (bytes).
///
/// ```
/// use engineio::Payload;
/// use engineio::proto::{Packet, v3};
///
/// let body = v3::encode_binary_payload([
///     &Packet::Message(Payload::from("é")),
///     &Packet::Message(Payload::from(vec![0xffu8])),
/// ]);
/// assert_eq!(&body[..], b"\x00\x03\xff4\xc3\xa9\x01\x02\xff\x04\xff");
/// ```
pub fn encode_binary_payload<'a>(packets: impl IntoIterator<Item = &'a Packet>) -> Bytes {
    let mut out = BytesMut::new();
    for packet in packets {
        let (len, binary) = binary_record(packet);
        out.reserve(len + 12);
        out.put_u8(u8::from(binary));
        push_length(&mut out, len);
        out.put_u8(0xff);
        match packet {
            Packet::Message(Payload::Binary(b)) => {
                out.put_u8(MESSAGE_TYPE_BYTE);
                out.put_slice(b);
            }
            other => out.put_slice(other.encode_text().as_bytes()),
        }
    }
    out.freeze()
}

/// Encodes packets as a v3 text polling payload, lengths in UTF-16 code units (node's
/// count), binary messages as `b4<base64>`.
///
/// ```
/// use engineio::Payload;
/// use engineio::proto::{Packet, v3};
///
/// let body = v3::encode_text_payload([&Packet::Message(Payload::from("😀")), &Packet::Ping("".into())]);
/// assert_eq!(body, "3:4😀1:2");
/// ```
pub fn encode_text_payload<'a>(packets: impl IntoIterator<Item = &'a Packet>) -> String {
    let mut out = String::new();
    for packet in packets {
        let text = match packet {
            Packet::Message(Payload::Binary(b)) => {
                let mut t = String::from("b4");
                BASE64.encode_string(b, &mut t);
                t
            }
            other => other.encode_text(),
        };
        let units: usize = text.chars().map(char::len_utf16).sum();
        out.push_str(&units.to_string());
        out.push(':');
        out.push_str(&text);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(s: &str) -> Packet {
        Packet::Message(Payload::from(s))
    }

    fn bin(b: &[u8]) -> Packet {
        Packet::Message(Payload::from(b.to_vec()))
    }

    #[test]
    fn text_payload_counts_utf16_units_as_node_does() {
        // "4€😀" is 1 + 1 + 2 = 4 UTF-16 units (and 3 code points).
        let got = decode_payload(Bytes::from("4:4€😀2:4a")).unwrap();
        assert_eq!(got, vec![msg("€😀"), msg("a")]);
    }

    #[test]
    fn text_payload_falls_back_to_code_points_as_python_counts() {
        // python-engineio counts "4€😀" as 3.
        let got = decode_payload(Bytes::from("3:4€😀2:4a")).unwrap();
        assert_eq!(got, vec![msg("€😀"), msg("a")]);
        // 3 UTF-16 units end inside the record; 3 code points end the body.
        let got = decode_payload(Bytes::from("3:4😀😀")).unwrap();
        assert_eq!(got, vec![msg("😀😀")]);
    }

    #[test]
    fn text_payload_falls_back_to_bytes_as_python_writes() {
        let got = decode_payload(Bytes::from("3:4é2:4a")).unwrap();
        assert_eq!(got, vec![msg("é"), msg("a")]);
        let got = decode_payload(Bytes::from("8:4€😀1:6")).unwrap();
        assert_eq!(got, vec![msg("€😀"), Packet::Noop]);
    }

    #[test]
    fn text_payload_handshake_and_binary_and_empty() {
        let json = "0{\"sid\":\"abc\",\"upgrades\":[],\"pingInterval\":25000,\"pingTimeout\":5000}";
        let body = format!("{}:{json}1:6", json.len());
        let got = decode_payload(Bytes::from(body)).unwrap();
        assert!(matches!(&got[..], [Packet::Open(h), Packet::Noop] if h.sid == "abc"));
        assert_eq!(
            decode_payload(Bytes::from("10:b4AQIDBA==")).unwrap(),
            vec![bin(&[1, 2, 3, 4])]
        );
        assert_eq!(decode_payload(Bytes::from("0:")).unwrap(), vec![]);
        assert_eq!(decode_payload(Bytes::new()).unwrap(), vec![]);
    }

    #[test]
    fn malformed_text_payloads_are_errors() {
        for body in [
            "4",
            "x:4a",
            "5:4a",
            "2:4a3",
            ":4a",
            "99999999999:4",
            "2:4a:",
        ] {
            assert!(decode_payload(Bytes::from(body)).is_err(), "{body:?}");
        }
        assert!(matches!(
            decode_payload(Bytes::from_static(b"2:4\xff")),
            Err(DecodeError::InvalidUtf8 { .. })
        ));
    }

    #[test]
    fn binary_payload_round_trips() {
        let packets = vec![
            msg("héllo €😀"),
            bin(&[0, 1, 255]),
            bin(&[]),
            Packet::Ping("".into()),
            Packet::Close,
        ];
        let body = encode_binary_payload(&packets);
        assert_eq!(decode_payload(body).unwrap(), packets);
    }

    #[test]
    fn binary_payload_golden_bytes() {
        // A 107-byte text packet, as python-engineio 3 frames its open packet.
        let mut body = vec![0u8, 1, 0, 7, 0xff];
        body.extend_from_slice(b"0");
        body.extend(std::iter::repeat_n(b'x', 106));
        let err = decode_payload(Bytes::from(body)).unwrap_err();
        assert!(matches!(err, DecodeError::InvalidHandshake(_)), "{err:?}");
        assert_eq!(
            decode_payload(Bytes::from_static(b"\x01\x05\xff\x04\x01\x02\x03\x04")).unwrap(),
            vec![bin(&[1, 2, 3, 4])]
        );
    }

    #[test]
    fn malformed_binary_payloads_are_errors() {
        for body in [
            &b"\x00"[..],
            b"\x00\xff4",
            b"\x00\x05\xff4a",
            b"\x00\x0a\xff",
            b"\x02\x01\xff4",
            b"\x01\x01\xff\x03",
            b"\x01\x00\xff",
            b"\x00\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\xff4",
        ] {
            assert!(
                decode_payload(Bytes::copy_from_slice(body)).is_err(),
                "{body:?}"
            );
        }
    }

    #[test]
    fn websocket_frames_carry_the_type_byte() {
        assert_eq!(
            encode_frame(bin(&[1, 2])),
            Frame::Binary(Bytes::from_static(&[4, 1, 2]))
        );
        assert_eq!(
            decode_frame(Frame::Binary(Bytes::from_static(&[4, 1, 2]))).unwrap(),
            bin(&[1, 2])
        );
        assert_eq!(encode_frame(msg("é")), Frame::Text("4é".into()));
        assert_eq!(decode_frame(Frame::Text("4é".into())).unwrap(), msg("é"));
        assert_eq!(
            decode_frame(Frame::Text("b4AQI=".into())).unwrap(),
            bin(&[1, 2])
        );
        assert!(decode_frame(Frame::Binary(Bytes::new())).is_err());
        assert!(decode_frame(Frame::Binary(Bytes::from_static(&[9, 1]))).is_err());
    }

    #[test]
    fn text_payload_encoding_counts_utf16_units() {
        let packets = [msg("€😀"), bin(&[1, 2, 3, 4]), Packet::Ping("probe".into())];
        let body = encode_text_payload(&packets);
        assert_eq!(body, "4:4€😀10:b4AQIDBA==6:2probe");
        assert_eq!(decode_payload(Bytes::from(body)).unwrap(), packets);
    }

    #[test]
    fn batches_count_the_binary_framing() {
        let queue: std::collections::VecDeque<Packet> =
            ["aaaa", "bbbb", "cccc"].into_iter().map(msg).collect();
        // Each record: 1 + 1 digit + 1 + 5 = 8 bytes.
        assert_eq!(batch_len(&queue, Some(20), 16), 2);
        assert_eq!(batch_len(&queue, Some(24), 16), 3);
        assert_eq!(batch_len(&queue, Some(3), 16), 1);
        assert_eq!(batch_len(&queue, None, 2), 2);
        let body = encode_binary_payload(queue.iter().take(2));
        assert_eq!(body.len(), 16);
    }

    #[test]
    fn a_whole_payload_is_read_one_way() {
        // The UTF-16 reading of the first record ends on `<digits>:`, but the rest does
        // not decode that way: bytes it is.
        let got = decode_payload(Bytes::from("3:4é10:4abcdefghi")).unwrap();
        assert_eq!(got, vec![msg("é"), msg("abcdefghi")]);
    }

    #[test]
    fn payload_kind_detection() {
        assert!(is_v3_payload(b"97:0{"));
        assert!(is_v3_payload(b"\x00\x01\x00\x07\xff0{"));
        assert!(!is_v3_payload(b"0{\"sid\""));
        assert!(!is_v3_payload(b""));
    }
}
