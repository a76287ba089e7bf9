//! Benchmarks of the codec: packets, polling payloads and the open packet, encoded and
//! decoded, with throughput in bytes on the wire.
//!
//! `cargo bench --bench codec` (add `-- --quick` for a short run, or a filter such as
//! `-- ws/`). Before the timings it prints, for each case, the heap allocations per
//! operation (a counting global allocator) and what happens to the message body: shared
//! with the input (no copy), copied, or base64-transcoded. On the WebSocket path the goal
//! is no copy at all: `Bytes` in, `Bytes` out.
//!
//! The inputs look like what the connectors hand over: WebSocket frames and poll bodies in
//! shared buffers (cloning them is a reference count), and outgoing binary messages made
//! from a `Vec<u8>`, as `Payload::from(vec)` makes them.

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use criterion::{BatchSize, Criterion, Throughput, criterion_group};
use engineio::proto::payload;
use engineio::proto::{Frame, Packet};
use engineio::{ByteStr, Payload};

// ----- a counting allocator ------------------------------------------------------------

/// The system allocator, counting the calls that hand out memory.
struct Counting;

static ALLOCS: AtomicU64 = AtomicU64::new(0);
static BYTES: AtomicU64 = AtomicU64::new(0);

fn count(layout: Layout) {
    ALLOCS.fetch_add(1, Ordering::Relaxed);
    BYTES.fetch_add(layout.size() as u64, Ordering::Relaxed);
}

// SAFETY: every call is forwarded to `System` with the same arguments.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count(layout);
        // SAFETY: forwarded as is.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count(layout);
        // SAFETY: forwarded as is.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // A growth counts as an allocation of the new size.
        count(Layout::from_size_align(new_size, layout.align()).unwrap_or(layout));
        // SAFETY: forwarded as is.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded as is.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Allocations and bytes allocated per operation: `op` runs once per input, and only the
/// runs are counted (making the inputs is not).
fn per_op<I, O>(inputs: Vec<I>, mut op: impl FnMut(I) -> O) -> (f64, f64) {
    let n = inputs.len() as f64;
    let mut outputs = Vec::with_capacity(inputs.len());
    let (a0, b0) = (
        ALLOCS.load(Ordering::Relaxed),
        BYTES.load(Ordering::Relaxed),
    );
    for input in inputs {
        outputs.push(op(input));
    }
    let (a1, b1) = (
        ALLOCS.load(Ordering::Relaxed),
        BYTES.load(Ordering::Relaxed),
    );
    drop(black_box(outputs));
    ((a1 - a0) as f64 / n, (b1 - b0) as f64 / n)
}

// ----- inputs --------------------------------------------------------------------------

const SIZES_TEXT: [usize; 2] = [32, 4096];
const SIZES_BINARY: [usize; 3] = [32, 4096, 65536];
/// How many inputs each allocation count averages over.
const RUNS: usize = 1000;

fn text(size: usize) -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    (0..size)
        .map(|i| char::from(ALPHABET[i % ALPHABET.len()]))
        .collect()
}

fn binary(size: usize) -> Vec<u8> {
    (0..size).map(|i| (i * 7 + 3) as u8).collect()
}

/// A buffer as the connectors hand them over: shared, so that a clone or a slice of it is
/// a reference count (a `Bytes` fresh from a `Vec` allocates on its first clone instead).
fn shared(bytes: impl Into<Bytes>) -> Bytes {
    let b = bytes.into();
    drop(b.clone());
    b
}

fn shared_str(s: String) -> ByteStr {
    ByteStr::from_utf8(shared(s)).unwrap_or_else(|_| unreachable!("a String is UTF-8"))
}

fn text_packet(size: usize) -> Packet {
    Packet::Message(Payload::Text(ByteStr::from(text(size))))
}

fn binary_packet(size: usize) -> Packet {
    Packet::Message(Payload::from(binary(size)))
}

const OPEN: &str = r#"0{"sid":"lv_VI97HAXpY6yYWAAAC","upgrades":["websocket"],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}"#;

/// A poll body of `n` text messages of `size` bytes.
fn poll_body(n: usize, size: usize) -> Bytes {
    let packets: Vec<Packet> = (0..n).map(|_| text_packet(size)).collect();
    shared(payload::encode(&packets))
}

/// Whether `inner` lies inside `outer`'s memory: the body was shared, not copied.
fn within(outer: &[u8], inner: &[u8]) -> bool {
    let o = outer.as_ptr_range();
    let i = inner.as_ptr_range();
    inner.is_empty() || (o.start <= i.start && i.end <= o.end)
}

fn body_of(p: &Packet) -> &[u8] {
    match p {
        Packet::Message(Payload::Text(t)) => t.as_bytes(),
        Packet::Message(Payload::Binary(b)) => b,
        _ => &[],
    }
}

fn frame_bytes(f: &Frame) -> &[u8] {
    match f {
        Frame::Text(t) => t.as_bytes(),
        Frame::Binary(b) => b,
    }
}

// ----- the allocation table ------------------------------------------------------------

fn row(case: &str, (allocs, bytes): (f64, f64), body: &str) {
    println!("{case:<40} {allocs:>8.2} {bytes:>12.1}  {body}");
}

fn print_allocations() {
    println!("allocations per operation (counting allocator; {RUNS} runs each)");
    println!(
        "{:<40} {:>8} {:>12}  message body",
        "case", "allocs", "bytes"
    );

    // Encoding, WebSocket.
    for size in SIZES_TEXT {
        let packet = text_packet(size);
        let frame = packet.encode_frame(false);
        let shares = within(body_of(&packet), frame_bytes(&frame));
        let inputs = (0..RUNS).map(|_| text_packet(size)).collect();
        let counts = per_op(inputs, |p| p.encode_frame(false));
        let body = if shares {
            "shared"
        } else {
            "copied ('4' + text, one buffer)"
        };
        row(&format!("ws/encode/text/{size}"), counts, body);
    }
    for size in SIZES_BINARY {
        let packet = binary_packet(size);
        let frame = packet.encode_frame(false);
        let shares = within(body_of(&packet), frame_bytes(&frame));
        let inputs = (0..RUNS).map(|_| binary_packet(size)).collect();
        let counts = per_op(inputs, |p| p.encode_frame(false));
        let body = if shares {
            "shared (a Bytes from a Vec allocates its shared header on first clone)"
        } else {
            "COPIED"
        };
        row(&format!("ws/encode/binary/{size}"), counts, body);
        let inputs = (0..RUNS)
            .map(|_| Packet::Message(Payload::Binary(shared(binary(size)))))
            .collect();
        let counts = per_op(inputs, |p| p.encode_frame(false));
        row(
            &format!("ws/encode/binary/{size} (shared input)"),
            counts,
            "shared",
        );
    }

    // Decoding, WebSocket.
    for size in SIZES_TEXT {
        let frame = Frame::Text(shared_str(format!("4{}", text(size))));
        let decoded = Packet::decode_frame(frame.clone());
        let shares = decoded
            .as_ref()
            .is_ok_and(|p| within(frame_bytes(&frame), body_of(p)));
        let counts = per_op(vec![frame; RUNS], Packet::decode_frame);
        row(
            &format!("ws/decode/text/{size}"),
            counts,
            if shares { "shared" } else { "COPIED" },
        );
    }
    for size in SIZES_BINARY {
        let frame = Frame::Binary(shared(binary(size)));
        let decoded = Packet::decode_frame(frame.clone());
        let shares = decoded
            .as_ref()
            .is_ok_and(|p| within(frame_bytes(&frame), body_of(p)));
        let counts = per_op(vec![frame; RUNS], Packet::decode_frame);
        row(
            &format!("ws/decode/binary/{size}"),
            counts,
            if shares { "shared" } else { "COPIED" },
        );
    }

    // Polling: one packet as text (what goes into, and comes out of, a payload).
    for size in SIZES_TEXT {
        let inputs = (0..RUNS).map(|_| text_packet(size)).collect();
        let counts = per_op(inputs, |p| p.encode_text());
        row(
            &format!("polling/encode/text/{size}"),
            counts,
            "copied into the payload string",
        );
    }
    for size in SIZES_BINARY {
        let inputs = (0..RUNS).map(|_| binary_packet(size)).collect();
        let counts = per_op(inputs, |p| p.encode_text());
        row(
            &format!("polling/encode/binary/{size}"),
            counts,
            "base64-encoded",
        );
    }
    for size in SIZES_TEXT {
        let record = shared(format!("4{}", text(size)));
        let decoded = Packet::decode_bytes(record.clone());
        let shares = decoded.as_ref().is_ok_and(|p| within(&record, body_of(p)));
        let counts = per_op(vec![record; RUNS], Packet::decode_bytes);
        row(
            &format!("polling/decode/text/{size}"),
            counts,
            if shares { "shared" } else { "COPIED" },
        );
    }
    for size in SIZES_BINARY {
        let record = shared(Packet::Message(Payload::from(binary(size))).encode_text());
        let counts = per_op(vec![record; RUNS], Packet::decode_bytes);
        row(
            &format!("polling/decode/binary/{size}"),
            counts,
            "base64-decoded",
        );
    }

    // Payloads.
    for n in [16, 256] {
        let packets: Vec<Packet> = (0..n).map(|_| text_packet(32)).collect();
        let counts = per_op(vec![&packets; RUNS], payload::encode);
        row(
            &format!("payload/encode/{n}x32"),
            counts,
            "copied into the payload string",
        );
        let body = poll_body(n, 32);
        let shares = payload::decode(body.clone())
            .all(|p| p.as_ref().is_ok_and(|p| within(&body, body_of(p))));
        let counts = per_op(vec![body; RUNS], |b| {
            payload::decode(b).filter(|p| black_box(p).is_ok()).count()
        });
        row(
            &format!("payload/decode/{n}x32"),
            counts,
            if shares { "shared" } else { "COPIED" },
        );
    }

    // The open packet.
    let open = shared_str(OPEN.to_owned());
    let counts = per_op(vec![open; RUNS], Packet::decode);
    row("open/decode", counts, "-");
    let Ok(decoded) = Packet::decode_str(OPEN) else {
        panic!("the open packet decodes")
    };
    let counts = per_op(vec![&decoded; RUNS], |p| p.encode_text());
    row("open/encode", counts, "-");
    println!();
}

// ----- timings -------------------------------------------------------------------------

fn websocket(c: &mut Criterion) {
    let mut g = c.benchmark_group("ws");
    for size in SIZES_TEXT {
        let packet = text_packet(size);
        g.throughput(Throughput::Bytes(size as u64 + 1));
        g.bench_function(format!("encode/text/{size}"), |b| {
            b.iter(|| black_box(&packet).encode_frame(false))
        });
        let frame = Frame::Text(shared_str(format!("4{}", text(size))));
        g.bench_function(format!("decode/text/{size}"), |b| {
            b.iter_batched(
                || frame.clone(),
                |f| Packet::decode_frame(black_box(f)),
                BatchSize::SmallInput,
            )
        });
    }
    for size in SIZES_BINARY {
        g.throughput(Throughput::Bytes(size as u64));
        g.bench_function(format!("encode/binary/{size}"), |b| {
            // A fresh message each time, as from `send(vec)`.
            b.iter_batched(
                || binary_packet(size),
                |p| black_box(&p).encode_frame(false),
                BatchSize::SmallInput,
            )
        });
        let frame = Frame::Binary(shared(binary(size)));
        g.bench_function(format!("decode/binary/{size}"), |b| {
            b.iter_batched(
                || frame.clone(),
                |f| Packet::decode_frame(black_box(f)),
                BatchSize::SmallInput,
            )
        });
    }
    g.finish();
}

fn polling(c: &mut Criterion) {
    let mut g = c.benchmark_group("polling");
    for size in SIZES_TEXT {
        let packet = text_packet(size);
        g.throughput(Throughput::Bytes(size as u64 + 1));
        g.bench_function(format!("encode/text/{size}"), |b| {
            b.iter(|| black_box(&packet).encode_text())
        });
        let record = shared(format!("4{}", text(size)));
        g.bench_function(format!("decode/text/{size}"), |b| {
            b.iter_batched(
                || record.clone(),
                |r| Packet::decode_bytes(black_box(r)),
                BatchSize::SmallInput,
            )
        });
    }
    for size in SIZES_BINARY {
        let packet = binary_packet(size);
        let record = shared(packet.encode_text());
        g.throughput(Throughput::Bytes(record.len() as u64));
        g.bench_function(format!("encode/binary/{size}"), |b| {
            b.iter(|| black_box(&packet).encode_text())
        });
        g.bench_function(format!("decode/binary/{size}"), |b| {
            b.iter_batched(
                || record.clone(),
                |r| Packet::decode_bytes(black_box(r)),
                BatchSize::SmallInput,
            )
        });
    }
    g.finish();
}

fn payloads(c: &mut Criterion) {
    let mut g = c.benchmark_group("payload");
    for n in [16, 256] {
        let packets: Vec<Packet> = (0..n).map(|_| text_packet(32)).collect();
        let body = poll_body(n, 32);
        g.throughput(Throughput::Bytes(body.len() as u64));
        g.bench_function(format!("encode/{n}x32"), |b| {
            b.iter(|| payload::encode(black_box(&packets)))
        });
        g.bench_function(format!("decode/{n}x32"), |b| {
            b.iter_batched(
                || body.clone(),
                |body| {
                    payload::decode(black_box(body))
                        .filter(|p| black_box(p).is_ok())
                        .count()
                },
                BatchSize::SmallInput,
            )
        });
    }
    g.finish();
}

fn open_packet(c: &mut Criterion) {
    let mut g = c.benchmark_group("open");
    g.throughput(Throughput::Bytes(OPEN.len() as u64));
    let open = shared_str(OPEN.to_owned());
    g.bench_function("decode", |b| {
        b.iter_batched(
            || open.clone(),
            |o| Packet::decode(black_box(o)),
            BatchSize::SmallInput,
        )
    });
    let Ok(decoded) = Packet::decode_str(OPEN) else {
        panic!("the open packet decodes")
    };
    g.bench_function("encode", |b| b.iter(|| black_box(&decoded).encode_text()));
    g.finish();
}

criterion_group!(benches, websocket, polling, payloads, open_packet);

fn main() {
    print_allocations();
    benches();
    Criterion::default().configure_from_args().final_summary();
}
