//! Engine.IO v4 packets: one type digit, then data.
//!
//! | digit | type | data |
//! |---|---|---|
//! | `0` | open | the handshake JSON |
//! | `1` | close | none |
//! | `2` | ping | optional text (`probe` during an upgrade) |
//! | `3` | pong | the ping's text, echoed |
//! | `4` | message | UTF-8 text |
//! | `5` | upgrade | none |
//! | `6` | noop | none |
//!
//! Binary messages carry no type digit: a raw WebSocket binary frame, or `b` followed by
//! standard base64 inside polling payloads (and WebSocket text frames when `b64=1`).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use bytes::Bytes;

use super::Handshake;
use crate::error::DecodeError;
use crate::{ByteStr, Payload};

/// The seven packet types of the protocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PacketType {
    /// `0`: sent by the server when a session opens.
    Open,
    /// `1`: either side ends the session.
    Close,
    /// `2`: heartbeat request (sent by the server in v4).
    Ping,
    /// `3`: heartbeat answer.
    Pong,
    /// `4`: application data.
    Message,
    /// `5`: the client switches the session to the probed WebSocket.
    Upgrade,
    /// `6`: nothing; used to release a pending long-poll.
    Noop,
}

impl PacketType {
    /// The type's digit on the wire.
    pub fn digit(self) -> u8 {
        match self {
            PacketType::Open => b'0',
            PacketType::Close => b'1',
            PacketType::Ping => b'2',
            PacketType::Pong => b'3',
            PacketType::Message => b'4',
            PacketType::Upgrade => b'5',
            PacketType::Noop => b'6',
        }
    }

    /// The type for a digit, if it is one.
    pub fn from_digit(d: u8) -> Option<PacketType> {
        Some(match d {
            b'0' => PacketType::Open,
            b'1' => PacketType::Close,
            b'2' => PacketType::Ping,
            b'3' => PacketType::Pong,
            b'4' => PacketType::Message,
            b'5' => PacketType::Upgrade,
            b'6' => PacketType::Noop,
            _ => return None,
        })
    }
}

/// One decoded Engine.IO packet.
///
/// ```
/// use engineio::Payload;
/// use engineio::proto::Packet;
///
/// let p = Packet::decode_str("4hello").unwrap();
/// assert_eq!(p, Packet::Message(Payload::from("hello")));
/// assert_eq!(p.encode_text(), "4hello");
///
/// let b = Packet::decode_str("bAQIDBA==").unwrap();
/// assert_eq!(b, Packet::Message(Payload::from(vec![1u8, 2, 3, 4])));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Packet {
    /// The server's open packet.
    Open(Handshake),
    /// Close the session.
    Close,
    /// A heartbeat request with its optional text (`probe` on an upgrade probe).
    Ping(ByteStr),
    /// A heartbeat answer, echoing the ping's text.
    Pong(ByteStr),
    /// Application data.
    Message(Payload),
    /// Switch to the probed transport.
    Upgrade,
    /// Nothing.
    Noop,
}

/// A WebSocket data frame as Engine.IO v4 uses it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Frame {
    /// A text frame: a text packet.
    Text(ByteStr),
    /// A binary frame: the raw bytes of a binary message.
    Binary(Bytes),
}

impl Packet {
    /// The packet's type. A binary message is a [`PacketType::Message`].
    pub fn packet_type(&self) -> PacketType {
        match self {
            Packet::Open(_) => PacketType::Open,
            Packet::Close => PacketType::Close,
            Packet::Ping(_) => PacketType::Ping,
            Packet::Pong(_) => PacketType::Pong,
            Packet::Message(_) => PacketType::Message,
            Packet::Upgrade => PacketType::Upgrade,
            Packet::Noop => PacketType::Noop,
        }
    }

    /// Decodes one text packet: a polling record or a WebSocket text frame.
    ///
    /// The data of message, ping and pong packets shares `text`'s buffer.
    pub fn decode(text: ByteStr) -> Result<Packet, DecodeError> {
        let first = *text.as_bytes().first().ok_or(DecodeError::Empty)?;
        if first == b'b' {
            return decode_base64(&text.as_bytes()[1..])
                .map(|b| Packet::Message(Payload::Binary(b)));
        }
        let Some(kind) = PacketType::from_digit(first) else {
            // `first` may be the start of a multibyte character: report the character.
            let c = text.chars().next().unwrap_or(char::REPLACEMENT_CHARACTER);
            return Err(DecodeError::UnknownPacketType(c));
        };
        // The type digit is ASCII, so byte 1 is a character boundary.
        let data = text.slice_from(1).unwrap_or_default();
        Ok(match kind {
            PacketType::Open => Packet::Open(Handshake::parse(&data)?),
            PacketType::Close => Packet::Close,
            PacketType::Ping => Packet::Ping(data),
            PacketType::Pong => Packet::Pong(data),
            PacketType::Message => Packet::Message(Payload::Text(data)),
            PacketType::Upgrade => Packet::Upgrade,
            PacketType::Noop => Packet::Noop,
        })
    }

    /// Decodes one text packet from a `&str`, copying it.
    pub fn decode_str(text: &str) -> Result<Packet, DecodeError> {
        Packet::decode(ByteStr::from(text))
    }

    /// Decodes one text packet from bytes that must be UTF-8.
    pub fn decode_bytes(bytes: Bytes) -> Result<Packet, DecodeError> {
        let text = ByteStr::from_utf8(bytes).map_err(|(_, e)| DecodeError::InvalidUtf8 {
            valid_up_to: e.valid_up_to(),
        })?;
        Packet::decode(text)
    }

    /// Decodes a WebSocket frame: text frames hold a text packet, binary frames hold the raw
    /// bytes of a binary message.
    pub fn decode_frame(frame: Frame) -> Result<Packet, DecodeError> {
        match frame {
            Frame::Text(t) => Packet::decode(t),
            Frame::Binary(b) => Ok(Packet::Message(Payload::Binary(b))),
        }
    }

    /// Encodes the packet as text, as it travels in a polling payload: binary messages
    /// become `b` + base64.
    pub fn encode_text(&self) -> String {
        let mut out = String::with_capacity(self.encoded_text_len());
        self.encode_text_into(&mut out);
        out
    }

    /// Appends the text encoding of the packet to `out`.
    pub fn encode_text_into(&self, out: &mut String) {
        match self {
            Packet::Message(Payload::Binary(b)) => {
                out.push('b');
                BASE64.encode_string(b, out);
            }
            Packet::Message(Payload::Text(t)) => {
                out.push('4');
                out.push_str(t);
            }
            Packet::Open(h) => {
                out.push('0');
                out.push_str(&h.to_json());
            }
            Packet::Ping(d) => {
                out.push('2');
                out.push_str(d);
            }
            Packet::Pong(d) => {
                out.push('3');
                out.push_str(d);
            }
            Packet::Close | Packet::Upgrade | Packet::Noop => {
                out.push(char::from(self.packet_type().digit()));
            }
        }
    }

    /// The exact length in bytes of [`encode_text`](Packet::encode_text)'s output.
    pub fn encoded_text_len(&self) -> usize {
        match self {
            Packet::Message(Payload::Binary(b)) => 1 + b.len().div_ceil(3) * 4,
            Packet::Message(Payload::Text(t)) => 1 + t.len(),
            Packet::Open(h) => 1 + h.to_json().len(),
            Packet::Ping(d) | Packet::Pong(d) => 1 + d.len(),
            Packet::Close | Packet::Upgrade | Packet::Noop => 1,
        }
    }

    /// Encodes the packet as a WebSocket frame. Binary messages go out as binary frames,
    /// without copying, unless `b64` is set (the `b64=1` query option), in which case they
    /// travel as `b` + base64 text.
    pub fn encode_frame(&self, b64: bool) -> Frame {
        match self {
            Packet::Message(Payload::Binary(b)) if !b64 => Frame::Binary(b.clone()),
            other => Frame::Text(ByteStr::from(other.encode_text())),
        }
    }

    /// Like [`encode_frame`](Packet::encode_frame), consuming the packet: a binary
    /// message's bytes become the frame's as they are.
    pub fn into_frame(self, b64: bool) -> Frame {
        match self {
            Packet::Message(Payload::Binary(b)) if !b64 => Frame::Binary(b),
            other => Frame::Text(ByteStr::from(other.encode_text())),
        }
    }
}

fn decode_base64(data: &[u8]) -> Result<Bytes, DecodeError> {
    BASE64
        .decode(data)
        .map(Bytes::from)
        .map_err(|e| DecodeError::InvalidBase64(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(s: &str) -> Packet {
        Packet::decode_str(s).unwrap()
    }

    #[test]
    fn golden_text_packets() {
        assert_eq!(text("1"), Packet::Close);
        assert_eq!(text("2"), Packet::Ping(ByteStr::new()));
        assert_eq!(text("2probe"), Packet::Ping("probe".into()));
        assert_eq!(text("3probe"), Packet::Pong("probe".into()));
        assert_eq!(text("4"), Packet::Message(Payload::from("")));
        assert_eq!(text("4€😀"), Packet::Message(Payload::from("€😀")));
        assert_eq!(text("5"), Packet::Upgrade);
        assert_eq!(text("6"), Packet::Noop);
        assert_eq!(text("b"), Packet::Message(Payload::from(Vec::new())));
        assert_eq!(
            text("bAQIDBA=="),
            Packet::Message(Payload::from(vec![1u8, 2, 3, 4]))
        );
    }

    #[test]
    fn golden_encodings() {
        assert_eq!(
            Packet::Message(Payload::from(vec![1u8, 2, 3, 4])).encode_text(),
            "bAQIDBA=="
        );
        assert_eq!(Packet::Pong("probe".into()).encode_text(), "3probe");
        assert_eq!(Packet::Close.encode_text(), "1");
        assert_eq!(Packet::Upgrade.encode_text(), "5");
        assert_eq!(
            Packet::Message(Payload::from(vec![1u8, 2])).encode_frame(false),
            Frame::Binary(Bytes::from_static(&[1, 2]))
        );
        assert_eq!(
            Packet::Message(Payload::from(vec![1u8, 2, 3, 4])).encode_frame(true),
            Frame::Text("bAQIDBA==".into())
        );
        assert_eq!(
            Packet::Message(Payload::from("hé")).encode_frame(false),
            Frame::Text("4hé".into())
        );
    }

    #[test]
    fn open_packet() {
        let p = text(
            r#"0{"sid":"x","upgrades":["websocket"],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}"#,
        );
        let Packet::Open(h) = p else {
            panic!("not open: {p:?}")
        };
        assert_eq!(h.sid, "x");
        assert_eq!(h.max_payload, Some(1_000_000));
    }

    #[test]
    fn errors() {
        assert_eq!(Packet::decode_str(""), Err(DecodeError::Empty));
        assert_eq!(
            Packet::decode_str("7"),
            Err(DecodeError::UnknownPacketType('7'))
        );
        assert_eq!(
            Packet::decode_str("é"),
            Err(DecodeError::UnknownPacketType('é'))
        );
        assert!(matches!(
            Packet::decode_str("b!!"),
            Err(DecodeError::InvalidBase64(_))
        ));
        assert!(matches!(
            Packet::decode_str("0{"),
            Err(DecodeError::InvalidHandshake(_))
        ));
        assert_eq!(
            Packet::decode_bytes(Bytes::from_static(b"4\xff")),
            Err(DecodeError::InvalidUtf8 { valid_up_to: 1 })
        );
    }

    #[test]
    fn encoded_len_is_exact() {
        for p in [
            Packet::Message(Payload::from(vec![0u8; 0])),
            Packet::Message(Payload::from(vec![0u8; 1])),
            Packet::Message(Payload::from(vec![0u8; 2])),
            Packet::Message(Payload::from(vec![0u8; 3])),
            Packet::Message(Payload::from("€")),
            Packet::Ping("probe".into()),
            Packet::Noop,
        ] {
            assert_eq!(p.encoded_text_len(), p.encode_text().len(), "{p:?}");
        }
    }

    #[test]
    fn message_data_shares_the_input_buffer() {
        let input = ByteStr::from("4shared");
        let Packet::Message(Payload::Text(t)) = Packet::decode(input.clone()).unwrap() else {
            panic!()
        };
        assert_eq!(t.as_ptr(), input[1..].as_ptr());
    }
}
