//! Benchmarks of the sans-IO `Session`, the protocol core every message goes through.
//!
//! `cargo bench --bench session`. Before the timings it prints the heap allocations per
//! message of each case (a counting global allocator). The cases:
//!
//! - `ws/send`: `send` of N messages, then `poll_transmit` until it returns `None`, on a
//!   session open over WebSocket (what the driver does for each batch of `send`s);
//! - `ws/receive`: `handle_ws_frame` of N message frames, then `poll_event` until `None`;
//! - `polling/get`: one poll round: `poll_transmit` (the GET), `handle_response` with a
//!   payload of 16 messages, `poll_event` ×16;
//! - `polling/post`: `send` ×16, `poll_transmit` (the POST, its payload encoded),
//!   `handle_response` of the POST's `ok`.
//!
//! Times are per round; throughput is in messages.

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use bytes::Bytes;
use criterion::{BatchSize, Criterion, Throughput, criterion_group};
use engineio::proto::{
    Endpoint, Frame, Packet, PollRequest, Session, SessionConfig, SessionEvent, Transmit, payload,
};
use engineio::{ByteStr, Payload, Transports};

// ----- a counting allocator (as in benches/codec.rs) -------------------------------------

struct Counting;

static ALLOCS: AtomicU64 = AtomicU64::new(0);

// SAFETY: every call is forwarded to `System` with the same arguments.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: forwarded as is.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: forwarded as is.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
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

fn allocs() -> u64 {
    ALLOCS.load(Ordering::Relaxed)
}

// ----- sessions ------------------------------------------------------------------------

const OPEN_JSON: &str =
    r#"{"sid":"s1","upgrades":[],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}"#;

fn endpoint() -> Endpoint {
    Endpoint::parse("http://127.0.0.1:5000").unwrap_or_else(|e| panic!("{e}"))
}

/// A session open over WebSocket, with nothing pending.
fn ws_session(now: Instant) -> Session {
    let mut config = SessionConfig::default();
    config.transports = Transports::WebSocket;
    let mut s = Session::new(endpoint(), config, now);
    assert!(matches!(
        s.poll_transmit(now),
        Some(Transmit::WsOpen { .. })
    ));
    s.handle_ws_connected(now);
    s.handle_ws_frame(now, Frame::Text(ByteStr::from(format!("0{OPEN_JSON}"))));
    assert_eq!(s.poll_event(), Some(SessionEvent::Connected));
    assert!(s.poll_transmit(now).is_none());
    s
}

/// A session open over polling, with its long poll in flight.
fn polling_session(now: Instant) -> Session {
    let mut config = SessionConfig::default();
    config.transports = Transports::Polling;
    let mut s = Session::new(endpoint(), config, now);
    assert!(matches!(s.poll_transmit(now), Some(Transmit::Get { .. })));
    let open = Bytes::from(format!("0{OPEN_JSON}"));
    s.handle_response(now, PollRequest::Get, 200, open);
    assert_eq!(s.poll_event(), Some(SessionEvent::Connected));
    assert!(matches!(s.poll_transmit(now), Some(Transmit::Get { .. })));
    assert!(s.poll_transmit(now).is_none());
    s
}

fn text_message(size: usize) -> Payload {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let text: String = (0..size)
        .map(|i| char::from(ALPHABET[i % ALPHABET.len()]))
        .collect();
    Payload::Text(ByteStr::from(text))
}

/// A buffer as the connectors hand them over: shared, so that clones and slices are a
/// reference count.
fn shared(bytes: impl Into<Bytes>) -> Bytes {
    let b = bytes.into();
    drop(b.clone());
    b
}

fn text_frame(size: usize) -> Frame {
    let Payload::Text(t) = text_message(size) else {
        unreachable!()
    };
    let s = format!("4{t}");
    Frame::Text(ByteStr::from_utf8(shared(s)).unwrap_or_else(|_| unreachable!()))
}

/// The poll body of 16 text messages of 32 bytes.
fn poll_body() -> Bytes {
    let packets: Vec<Packet> = (0..16).map(|_| Packet::Message(text_message(32))).collect();
    shared(payload::encode(&packets))
}

// ----- one round of each case ----------------------------------------------------------

/// `send` ×`messages.len()`, then every transmit.
fn ws_send(s: &mut Session, now: Instant, messages: Vec<Payload>) -> usize {
    for m in messages {
        if s.send(m).is_err() {
            panic!("the session is open");
        }
    }
    let mut n = 0;
    while let Some(t) = s.poll_transmit(now) {
        black_box(t);
        n += 1;
    }
    n
}

/// `handle_ws_frame` of each frame, then every event.
fn ws_receive(s: &mut Session, now: Instant, frames: &[Frame]) -> usize {
    for f in frames {
        s.handle_ws_frame(now, f.clone());
    }
    let mut n = 0;
    while let Some(e) = s.poll_event() {
        black_box(e);
        n += 1;
    }
    n
}

/// The long poll comes back with `body`; its events are drained and the next GET issued.
fn polling_get(s: &mut Session, now: Instant, body: &Bytes) -> usize {
    s.handle_response(now, PollRequest::Get, 200, body.clone());
    let mut n = 0;
    while let Some(e) = s.poll_event() {
        black_box(e);
        n += 1;
    }
    while let Some(t) = s.poll_transmit(now) {
        black_box(t);
    }
    n
}

/// 16 messages are sent, POSTed in one payload, and the POST answered.
fn polling_post(s: &mut Session, now: Instant, messages: Vec<Payload>) -> usize {
    for m in messages {
        if s.send(m).is_err() {
            panic!("the session is open");
        }
    }
    let mut posts = 0;
    while let Some(t) = s.poll_transmit(now) {
        if matches!(t, Transmit::Post { .. }) {
            posts += 1;
        }
        black_box(t);
    }
    for _ in 0..posts {
        s.handle_response(now, PollRequest::Post, 200, Bytes::from_static(b"ok"));
    }
    posts
}

// ----- the allocation table ------------------------------------------------------------

const ROUNDS: usize = 200;

/// One line of the table: `total` allocations over [`ROUNDS`] rounds of `per_round`
/// messages.
fn row(case: &str, total: u64, per_round: usize) {
    let round = total as f64 / ROUNDS as f64;
    let message = round / per_round as f64;
    println!("{case:<36} {message:>8.2} {round:>10.2}");
}

fn print_allocations() {
    println!("allocations per message (counting allocator; {ROUNDS} rounds each)");
    println!("{:<36} {:>8} {:>10}", "case", "allocs", "per round");
    let now = Instant::now();

    for n in [1, 64] {
        for (kind, make) in [
            ("text/32", (|| text_message(32)) as fn() -> Payload),
            ("binary/32", || Payload::from(vec![7u8; 32])),
        ] {
            let mut s = ws_session(now);
            let inputs: Vec<Vec<Payload>> = (0..ROUNDS)
                .map(|_| (0..n).map(|_| make()).collect())
                .collect();
            let a0 = allocs();
            for batch in inputs {
                ws_send(&mut s, now, batch);
            }
            row(&format!("ws/send/{kind} x{n}"), allocs() - a0, n);
        }
    }
    for n in [1, 64] {
        for (kind, frame) in [
            ("text/32", text_frame(32)),
            ("binary/32", Frame::Binary(shared(vec![7u8; 32]))),
        ] {
            let mut s = ws_session(now);
            let frames = vec![frame; n];
            let a0 = allocs();
            for _ in 0..ROUNDS {
                ws_receive(&mut s, now, &frames);
            }
            row(&format!("ws/receive/{kind} x{n}"), allocs() - a0, n);
        }
    }
    {
        let mut s = polling_session(now);
        let body = poll_body();
        let a0 = allocs();
        for _ in 0..ROUNDS {
            polling_get(&mut s, now, &body);
        }
        row("polling/get/16x32 (and the next GET)", allocs() - a0, 16);
    }
    {
        let mut s = polling_session(now);
        let inputs: Vec<Vec<Payload>> = (0..ROUNDS)
            .map(|_| (0..16).map(|_| text_message(32)).collect())
            .collect();
        let a0 = allocs();
        for batch in inputs {
            polling_post(&mut s, now, batch);
        }
        row("polling/post/16x32", allocs() - a0, 16);
    }
    println!();
}

// ----- timings -------------------------------------------------------------------------

fn websocket(c: &mut Criterion) {
    let now = Instant::now();
    let mut g = c.benchmark_group("ws");
    for n in [1u64, 64] {
        g.throughput(Throughput::Elements(n));
        let mut s = ws_session(now);
        g.bench_function(format!("send/text/32/x{n}"), |b| {
            b.iter_batched(
                || (0..n).map(|_| text_message(32)).collect::<Vec<_>>(),
                |batch| ws_send(&mut s, now, batch),
                BatchSize::SmallInput,
            )
        });
        let mut s = ws_session(now);
        g.bench_function(format!("send/binary/32/x{n}"), |b| {
            b.iter_batched(
                || {
                    (0..n)
                        .map(|_| Payload::from(vec![7u8; 32]))
                        .collect::<Vec<_>>()
                },
                |batch| ws_send(&mut s, now, batch),
                BatchSize::SmallInput,
            )
        });
        let mut s = ws_session(now);
        let frames = vec![text_frame(32); n as usize];
        g.bench_function(format!("receive/text/32/x{n}"), |b| {
            b.iter(|| ws_receive(&mut s, now, &frames))
        });
        let mut s = ws_session(now);
        let frames = vec![Frame::Binary(shared(vec![7u8; 32])); n as usize];
        g.bench_function(format!("receive/binary/32/x{n}"), |b| {
            b.iter(|| ws_receive(&mut s, now, &frames))
        });
    }
    g.finish();
}

fn polling(c: &mut Criterion) {
    let now = Instant::now();
    let mut g = c.benchmark_group("polling");
    g.throughput(Throughput::Elements(16));
    let mut s = polling_session(now);
    let body = poll_body();
    g.bench_function("get/16x32", |b| b.iter(|| polling_get(&mut s, now, &body)));
    let mut s = polling_session(now);
    g.bench_function("post/16x32", |b| {
        b.iter_batched(
            || (0..16).map(|_| text_message(32)).collect::<Vec<_>>(),
            |batch| polling_post(&mut s, now, batch),
            BatchSize::SmallInput,
        )
    });
    g.finish();
}

criterion_group!(benches, websocket, polling);

fn main() {
    print_allocations();
    benches();
    Criterion::default().configure_from_args().final_summary();
}
