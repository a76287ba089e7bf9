//! Polling payloads (v4): packets joined by the record separator `\x1e`.
//!
//! Nothing inside a packet escapes the separator, and there is no trailing separator. A poll
//! response may hold any number of packets (node batches hundreds); a POST should hold at
//! most 16, because python-engineio silently drops larger ones.

use std::collections::VecDeque;

use bytes::Bytes;

use super::Packet;
use crate::Payload;
use crate::error::DecodeError;

/// The record separator between packets in a polling payload.
pub const SEPARATOR: u8 = 0x1e;

/// The most packets python-engineio accepts in one POST; it answers a larger one `OK` and
/// drops all of it.
pub const MAX_PACKETS_PER_POST: usize = 16;

/// Iterates over the packets of a polling payload, decoding each as it goes.
///
/// A malformed packet yields its error in place; the packets before it are still yours.
/// An empty body holds no packets.
///
/// ```
/// use bytes::Bytes;
/// use engineio::Payload;
/// use engineio::proto::payload::decode;
/// use engineio::proto::Packet;
///
/// let body = Bytes::from_static(b"4hello\x1ebAQIDBA==\x1e6");
/// let packets: Result<Vec<Packet>, _> = decode(body).collect();
/// assert_eq!(packets.unwrap(), vec![
///     Packet::Message(Payload::from("hello")),
///     Packet::Message(Payload::from(vec![1u8, 2, 3, 4])),
///     Packet::Noop,
/// ]);
/// ```
pub fn decode(body: Bytes) -> Records {
    Records {
        rest: if body.is_empty() { None } else { Some(body) },
    }
}

/// The iterator returned by [`decode`].
#[derive(Debug)]
pub struct Records {
    rest: Option<Bytes>,
}

impl Iterator for Records {
    type Item = Result<Packet, DecodeError>;

    fn next(&mut self) -> Option<Self::Item> {
        let mut rest = self.rest.take()?;
        let record = match rest.iter().position(|&b| b == SEPARATOR) {
            Some(i) => {
                let record = rest.split_to(i);
                // Drop the separator; what follows (possibly empty) is the next record.
                let _ = rest.split_to(1);
                self.rest = Some(rest);
                record
            }
            None => rest,
        };
        Some(Packet::decode_bytes(record))
    }
}

/// Encodes packets as one polling payload.
///
/// ```
/// use engineio::Payload;
/// use engineio::proto::payload::encode;
/// use engineio::proto::Packet;
///
/// let body = encode(&[Packet::Message(Payload::from("a")), Packet::Close]);
/// assert_eq!(body, "4a\x1e1");
/// ```
pub fn encode<'a>(packets: impl IntoIterator<Item = &'a Packet>) -> String {
    let mut out = String::new();
    for (i, p) in packets.into_iter().enumerate() {
        if i > 0 {
            out.push(char::from(SEPARATOR));
        }
        p.encode_text_into(&mut out);
    }
    out
}

/// Takes the first `n` packets of `queue` and encodes them as one polling payload, in a
/// buffer of the exact size.
pub(crate) fn encode_front(queue: &mut VecDeque<Packet>, n: usize) -> Bytes {
    let n = n.min(queue.len());
    let len = queue
        .iter()
        .take(n)
        .map(Packet::encoded_text_len)
        .sum::<usize>()
        + n.saturating_sub(1);
    let mut out = String::with_capacity(len);
    for (i, p) in queue.drain(..n).enumerate() {
        if i > 0 {
            out.push(char::from(SEPARATOR));
        }
        p.encode_text_into(&mut out);
    }
    Bytes::from(out)
}

/// How many packets from the front of `queue` fit in one POST.
///
/// The batch holds at most `max_packets` packets and, when the server announced a
/// `maxPayload`, at most that many bytes once encoded. A single packet larger than
/// `maxPayload` still goes alone: the server will refuse it, and the caller learns so,
/// instead of the queue stalling forever.
///
/// ```
/// use std::collections::VecDeque;
/// use engineio::Payload;
/// use engineio::proto::payload::batch_len;
/// use engineio::proto::Packet;
///
/// let q: VecDeque<Packet> = (0..40).map(|i| Packet::Message(Payload::from(i.to_string()))).collect();
/// assert_eq!(batch_len(&q, None, 16), 16);
/// // "40" + "\x1e" + "41" = 5 bytes fit in 5, a third packet does not.
/// assert_eq!(batch_len(&q, Some(5), 16), 2);
/// assert_eq!(batch_len(&q, Some(0), 16), 1);
/// ```
pub fn batch_len(queue: &VecDeque<Packet>, max_payload: Option<u64>, max_packets: usize) -> usize {
    let limit = max_payload.unwrap_or(u64::MAX);
    let mut total: u64 = 0;
    let mut n = 0;
    for p in queue.iter().take(max_packets.max(1)) {
        let sep = u64::from(n > 0);
        let next = total
            .saturating_add(sep)
            .saturating_add(p.encoded_text_len() as u64);
        if n > 0 && next > limit {
            break;
        }
        total = next;
        n += 1;
    }
    n
}

/// Whether `message` is text holding the polling payload separator.
pub(crate) fn has_separator(message: &Payload) -> bool {
    message
        .as_text()
        .is_some_and(|t| t.as_bytes().contains(&SEPARATOR))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Payload;

    fn packets(body: &'static [u8]) -> Vec<Result<Packet, DecodeError>> {
        decode(Bytes::from_static(body)).collect()
    }

    #[test]
    fn splits_on_separator() {
        assert_eq!(
            packets(b"6\x1e1"),
            vec![Ok(Packet::Noop), Ok(Packet::Close)]
        );
        assert!(packets(b"").is_empty());
        assert_eq!(packets(b"4"), vec![Ok(Packet::Message(Payload::from("")))]);
    }

    #[test]
    fn a_bad_record_does_not_hide_the_good_ones() {
        let got = packets(b"4a\x1e\x1e4b\x1e9\x1e4\xff\x1e4c");
        assert_eq!(got[0], Ok(Packet::Message(Payload::from("a"))));
        assert_eq!(got[1], Err(DecodeError::Empty));
        assert_eq!(got[2], Ok(Packet::Message(Payload::from("b"))));
        assert_eq!(got[3], Err(DecodeError::UnknownPacketType('9')));
        assert_eq!(got[4], Err(DecodeError::InvalidUtf8 { valid_up_to: 1 }));
        assert_eq!(got[5], Ok(Packet::Message(Payload::from("c"))));
        assert_eq!(got.len(), 6);
    }

    #[test]
    fn trailing_separator_is_an_empty_record() {
        assert_eq!(
            packets(b"6\x1e"),
            vec![Ok(Packet::Noop), Err(DecodeError::Empty)]
        );
    }

    #[test]
    fn hundreds_of_packets() {
        let body = encode(
            &(0..500)
                .map(|i| Packet::Message(Payload::from(format!("m{i}"))))
                .collect::<Vec<_>>(),
        );
        let got: Vec<_> = decode(Bytes::from(body)).collect::<Result<_, _>>().unwrap();
        assert_eq!(got.len(), 500);
        assert_eq!(got[499], Packet::Message(Payload::from("m499")));
    }

    #[test]
    fn batches_respect_exact_encoded_size() {
        let q: VecDeque<Packet> = [vec![0u8; 3], vec![0u8; 3], vec![0u8; 3]]
            .into_iter()
            .map(|b| Packet::Message(Payload::from(b)))
            .collect();
        // each is "b" + 4 base64 chars = 5 bytes; two with a separator = 11
        assert_eq!(batch_len(&q, Some(10), 16), 1);
        assert_eq!(batch_len(&q, Some(11), 16), 2);
        assert_eq!(batch_len(&q, Some(17), 16), 3);
        assert_eq!(batch_len(&q, None, 2), 2);
        assert_eq!(batch_len(&VecDeque::new(), None, 16), 0);
        let two: Vec<&Packet> = q.iter().take(2).collect();
        assert_eq!(encode(two).len(), 11);
    }
}
