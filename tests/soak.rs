//! Soak: many clients for a long time against the node engine.io server, with random
//! sends, random disconnects from either side and random transports. Ignored by default
//! (ten minutes); run it with
//!
//! ```text
//! cargo test --release --all-features --test soak -- --ignored --nocapture
//! ```
//!
//! `EIO_SOAK_SECS` (600) and `EIO_SOAK_CLIENTS` (200) change the length and the number of
//! clients. Checked while it runs: every message sent is echoed back, in order, on every
//! connection that was not ended on purpose; no connection ends with a transport error.
//! Checked at the end: no task and no socket of the clients is left live, the server saw
//! every session close, and the process's memory did not grow by more than
//! `RSS_GROWTH_LIMIT` between the end of the warm-up and the end (all clients dropped).
#![cfg(all(feature = "tokio", target_os = "linux"))]

mod common;

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::counted::counted;
use common::{Server, ServerKind};
use engineio::rt::Runtime;
use engineio::{AsyncClient, ClientEvent, DisconnectReason, Payload, ServerClose, Transports};

/// The most the process's resident memory may grow from the end of the warm-up to the
/// end of the run, once every client is gone.
const RSS_GROWTH_LIMIT: u64 = 16 << 20;

/// The server's heartbeat, short enough that a run sees many pings on every transport.
const PING: [(&str, &str); 3] = [
    ("EIO_PING_INTERVAL_MS", "5000"),
    ("EIO_PING_TIMEOUT_MS", "5000"),
    ("EIO_QUIET", "1"),
];

#[derive(Default)]
struct Stats {
    connects: AtomicU64,
    sent: AtomicU64,
    echoed: AtomicU64,
    client_disconnects: AtomicU64,
    server_disconnects: AtomicU64,
    failures: AtomicU64,
}

/// xorshift64*: reproducible randomness without a dependency.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % n
    }
}

fn rss() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn fail(stats: &Stats, id: u64, what: String) {
    stats.failures.fetch_add(1, Ordering::SeqCst);
    eprintln!("client {id}: {what}");
}

/// The next event within 20 s.
async fn next(eio: &AsyncClient, events: &mut engineio::Events) -> Option<ClientEvent> {
    common::next_event(eio, events, Duration::from_secs(20)).await
}

/// Receives the echoes of everything in `expected`, in order. False if the connection
/// ended (reported as a failure unless `closing`).
async fn drain_echoes(
    eio: &AsyncClient,
    events: &mut engineio::Events,
    expected: &mut VecDeque<Payload>,
    stats: &Stats,
    id: u64,
) -> bool {
    while let Some(want) = expected.front() {
        match next(eio, events).await {
            Some(ClientEvent::Message(got)) if &got == want => {
                expected.pop_front();
                stats.echoed.fetch_add(1, Ordering::Relaxed);
            }
            other => {
                fail(stats, id, format!("expected an echo, got {other:?}"));
                return false;
            }
        }
    }
    true
}

async fn client(id: u64, url: String, runtime: Runtime, until: Instant, stats: Arc<Stats>) {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ (id + 1).wrapping_mul(0x1000_0000_01b3));
    let mut serial = 0u64;
    while Instant::now() < until {
        let transports = match rng.below(3) {
            0 => Transports::Polling,
            1 => Transports::WebSocket,
            _ => Transports::Upgrade,
        };
        let eio = AsyncClient::builder()
            .runtime(runtime.clone())
            .transports(transports)
            .build()
            .expect("client");
        let mut events = eio.events();
        if let Err(e) = eio.connect(&url).await {
            fail(&stats, id, format!("connect: {e}"));
            eio.sleep(Duration::from_millis(500)).await;
            continue;
        }
        stats.connects.fetch_add(1, Ordering::Relaxed);
        if next(&eio, &mut events).await != Some(ClientEvent::Connect) {
            fail(&stats, id, "no Connect event".into());
            continue;
        }
        let mut expected = VecDeque::new();
        let mut open = true;
        for _ in 0..rng.below(300) + 1 {
            if Instant::now() >= until {
                break;
            }
            match rng.below(100) {
                // Text or binary, up to 4 kB; never one of the server's commands.
                0..=74 => {
                    serial += 1;
                    let len = rng.below(4096) as usize;
                    let payload = if rng.below(4) == 0 {
                        let mut bytes = serial.to_be_bytes().to_vec();
                        bytes.resize(len.max(8), (id % 251) as u8);
                        Payload::from(bytes)
                    } else {
                        let mut text = format!("m{id}-{serial}-");
                        text.extend(std::iter::repeat_n('é', len / 2));
                        Payload::from(text)
                    };
                    if let Err(e) = eio.send(payload.clone()).await {
                        fail(&stats, id, format!("send: {e}"));
                        open = false;
                        break;
                    }
                    stats.sent.fetch_add(1, Ordering::Relaxed);
                    expected.push_back(payload);
                }
                75..=89 => {
                    if !drain_echoes(&eio, &mut events, &mut expected, &stats, id).await {
                        open = false;
                        break;
                    }
                }
                90..=96 => eio.sleep(Duration::from_millis(rng.below(300))).await,
                // The client leaves with messages still in flight: they are sent first.
                97 | 98 => break,
                // The server closes the session once the echoes are back.
                _ => {
                    if !drain_echoes(&eio, &mut events, &mut expected, &stats, id).await {
                        open = false;
                        break;
                    }
                    let _ = eio.send("close").await;
                    match next(&eio, &mut events).await {
                        Some(ClientEvent::Disconnect(DisconnectReason::ServerDisconnect(
                            ServerClose::ClosePacket | ServerClose::CloseFrame { .. },
                        ))) => {
                            stats.server_disconnects.fetch_add(1, Ordering::Relaxed);
                        }
                        other => fail(&stats, id, format!("server close: got {other:?}")),
                    }
                    open = false;
                    break;
                }
            }
        }
        if open {
            if rng.below(2) == 0
                && !drain_echoes(&eio, &mut events, &mut expected, &stats, id).await
            {
                continue;
            }
            if let Err(e) = eio.disconnect().await {
                fail(&stats, id, format!("disconnect: {e}"));
            }
            // Echoes of messages in flight may arrive before the end.
            loop {
                match next(&eio, &mut events).await {
                    Some(ClientEvent::Message(_)) => {}
                    Some(ClientEvent::Disconnect(DisconnectReason::ClientDisconnect)) => {
                        stats.client_disconnects.fetch_add(1, Ordering::Relaxed);
                        break;
                    }
                    other => {
                        fail(&stats, id, format!("disconnect: got {other:?}"));
                        break;
                    }
                }
            }
        }
        eio.wait().await;
    }
}

#[test]
#[ignore = "ten minutes; run by the command at the top of this file"]
fn soak() {
    let secs = env_or("EIO_SOAK_SECS", 600);
    let clients = env_or("EIO_SOAK_CLIENTS", 200);
    let server = Server::start(ServerKind::Node, &PING);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (runtime, counts) = counted(&engineio::adapters::tokio::runtime(rt.handle().clone()));
    let stats = Arc::new(Stats::default());
    let start = Instant::now();
    let until = start + Duration::from_secs(secs);
    let rss_start = rss();
    println!(
        "soak: {clients} clients for {secs} s; RSS at start {} MiB",
        rss_start >> 20
    );

    let handles: Vec<_> = (0..clients)
        .map(|id| {
            rt.spawn(client(
                id,
                server.url(),
                runtime.clone(),
                until,
                stats.clone(),
            ))
        })
        .collect();

    // Warm-up: a tenth of the run (at least 10 s); then RSS is sampled every 10 s.
    let warm = Duration::from_secs((secs / 10).max(10).min(secs));
    std::thread::sleep(warm);
    let rss_warm = rss();
    let mut rss_peak = rss_warm;
    // Sessions the server saw end (counted, not kept: 10 minutes make 100,000s of lines).
    let closed_lines = |server: &Server| {
        server
            .drain_lines()
            .iter()
            .filter(|l| l.starts_with("DISCONNECT "))
            .count() as u64
    };
    let mut closed = 0u64;
    while Instant::now() < until {
        std::thread::sleep(Duration::from_secs(10).min(until - Instant::now().min(until)));
        rss_peak = rss_peak.max(rss());
        closed += closed_lines(&server);
        println!(
            "soak: {:>4} s: {} connects, {} sent, {} echoed, {} failures, {} live tasks, \
             {} live sockets, RSS {} MiB",
            start.elapsed().as_secs(),
            stats.connects.load(Ordering::Relaxed),
            stats.sent.load(Ordering::Relaxed),
            stats.echoed.load(Ordering::Relaxed),
            stats.failures.load(Ordering::Relaxed),
            counts.tasks(),
            counts.sockets(),
            rss() >> 20
        );
    }
    rt.block_on(async {
        for h in handles {
            h.await.expect("client task");
        }
        counts
            .drained(&runtime, "after the soak", Duration::from_secs(10))
            .await;
    });
    // The server logs each session's end; give the last ones a moment to arrive.
    let connects = stats.connects.load(Ordering::SeqCst);
    let deadline = Instant::now() + Duration::from_secs(10);
    while closed < connects && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
        closed += closed_lines(&server);
    }
    let rss_end = rss();
    println!(
        "soak: done in {} s: {connects} connects, {} sent, {} echoed, {} client and {} server \
         disconnects, {} failures; {} tasks spawned and {} sockets dialled, none live; RSS \
         start {} MiB, after warm-up {} MiB, peak {} MiB, end {} MiB",
        start.elapsed().as_secs(),
        stats.sent.load(Ordering::SeqCst),
        stats.echoed.load(Ordering::SeqCst),
        stats.client_disconnects.load(Ordering::SeqCst),
        stats.server_disconnects.load(Ordering::SeqCst),
        stats.failures.load(Ordering::SeqCst),
        counts.spawned(),
        counts.dialed(),
        rss_start >> 20,
        rss_warm >> 20,
        rss_peak >> 20,
        rss_end >> 20
    );
    assert_eq!(
        stats.failures.load(Ordering::SeqCst),
        0,
        "failures (see above)"
    );
    assert_eq!(closed, connects, "sessions the server saw end vs. connects");
    assert!(
        rss_end <= rss_warm + RSS_GROWTH_LIMIT,
        "RSS grew from {} MiB after warm-up to {} MiB at the end",
        rss_warm >> 20,
        rss_end >> 20
    );
}
