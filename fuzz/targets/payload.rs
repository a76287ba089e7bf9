//! Polling payloads: `payload::decode` fed arbitrary bytes, then `payload::encode` and
//! `payload::batch_len` fed what decoded.
//!
//! Checks: no panic; one record per separator plus one (none for an empty body), each the
//! same as decoding that record alone, so a bad record does not hide the good ones; an
//! all-good payload survives decode → encode → decode; a batch holds at least one packet,
//! at most `max_packets` (at least 1), stays within `maxPayload` unless it is a single
//! packet, and is as long as fits.

use std::collections::VecDeque;

use bytes::Bytes;
use engineio::proto::{Packet, payload};

/// One input, as libFuzzer hands it over (fuzz/fuzz_targets) and as the test suite
/// replays it (tests/fuzz_targets.rs).
pub fn run(data: &[u8]) {
    let records: Vec<_> = payload::decode(Bytes::copy_from_slice(data)).collect();
    if data.is_empty() {
        assert!(records.is_empty());
        return;
    }
    let pieces: Vec<&[u8]> = data.split(|&b| b == payload::SEPARATOR).collect();
    assert_eq!(records.len(), pieces.len());
    for (record, piece) in records.iter().zip(&pieces) {
        assert_eq!(record, &Packet::decode_bytes(Bytes::copy_from_slice(piece)));
    }

    let packets: Vec<Packet> = records.into_iter().filter_map(Result::ok).collect();
    if packets.len() == pieces.len() {
        let body = payload::encode(&packets);
        let again: Vec<Packet> = payload::decode(Bytes::from(body))
            .collect::<Result<_, _>>()
            .expect("an encoded payload decodes");
        assert_eq!(again, packets);
    }

    // Batching the packets that decoded, under a few limits derived from the input.
    let queue: VecDeque<Packet> = packets.into();
    let len = data.len() as u64;
    for max_payload in [None, Some(0), Some(len / 3), Some(len)] {
        for max_packets in [0, 1, 3, payload::MAX_PACKETS_PER_POST] {
            check_batches(queue.clone(), max_payload, max_packets);
        }
    }
}

fn check_batches(mut queue: VecDeque<Packet>, max_payload: Option<u64>, max_packets: usize) {
    let cap = max_packets.max(1);
    if queue.is_empty() {
        assert_eq!(payload::batch_len(&queue, max_payload, max_packets), 0);
        return;
    }
    while !queue.is_empty() {
        let n = payload::batch_len(&queue, max_payload, max_packets);
        assert!(
            (1..=cap.min(queue.len())).contains(&n),
            "{n} of {}",
            queue.len()
        );
        let limit = max_payload.unwrap_or(u64::MAX);
        let size = |k: usize| payload::encode(queue.iter().take(k)).len() as u64;
        let batch = size(n);
        assert!(
            n == 1 || batch <= limit,
            "{n} packets, {batch} bytes > {limit}"
        );
        if n < cap.min(queue.len()) {
            assert!(size(n + 1) > limit, "packet {} would still fit", n + 1);
        }
        queue.drain(..n);
    }
}
