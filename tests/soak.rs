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
//!
//! `soak_reconnect` is the same with reconnection on (100 ms doubling to 1 s, with
//! jitter; half the clients also reconnect after a server disconnect) and the server
//! killed (SIGKILL) and started again on the same port at random moments (every
//! `EIO_SOAK_RESTART_MS`, 8000, at most, a quarter of that at least; down for up to 1 s).
//! `EIO_SOAK_CLIENTS` defaults to 100 there. Run it alone with
//!
//! ```text
//! cargo test --release --all-features --test soak -- --ignored --exact soak_reconnect --nocapture
//! ```
//!
//! Checked while it runs: every message `send` accepted is echoed, in order, or a
//! `Disconnect` after it told the application of its connection's end (at the end: sent
//! = echoed + told); a refused send hands the message back; the events follow the
//! reconnection contract (`Disconnect`, `Reconnecting` for attempts 1, 2, … with waits
//! within the jitter, `Connect`; never `ReconnectFailed`; nothing once `wait()` returned);
//! the connect handler ran once per `Connect`; no disconnect but those caused by a
//! restart, a "close" or `disconnect()`. At the end: no task or socket left, at most 10
//! tasks and 6 sockets live per client after the warm-up, and the same RSS bound.
#![cfg(all(feature = "tokio", target_os = "linux"))]

mod common;

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::counted::counted;
use common::{Server, ServerKind};
use engineio::rt::Runtime;
use engineio::{
    AsyncClient, ClientEvent, DisconnectReason, Payload, Reconnect, SendErrorKind, ServerClose,
    Transports,
};

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

// ---------------------------------------------------------------------------------------
// The same with reconnection on, and the server killed and started again on the same port
// at random moments.

/// The node server of the reconnecting soak: the same heartbeat, and no log on stderr.
const RESTART_ENV: [(&str, &str); 3] = PING;

/// The reconnection policy of the reconnecting soak: quick, with socket.io's jitter.
fn soak_policy(on_server_disconnect: bool) -> Reconnect {
    Reconnect::new()
        .delay(Duration::from_millis(100))
        .max_delay(Duration::from_secs(1))
        .on_server_disconnect(on_server_disconnect)
}

#[derive(Default)]
struct ReconnectStats {
    restarts: AtomicU64,
    /// `connect()` calls that succeeded.
    connects: AtomicU64,
    /// `connect()` calls that failed (the server was restarting).
    refused: AtomicU64,
    /// Connections the reconnection loop opened (`Connect` after `Reconnecting`).
    reconnects: AtomicU64,
    /// Reconnection attempts (`Reconnecting` events).
    attempts: AtomicU64,
    sent: AtomicU64,
    echoed: AtomicU64,
    /// Messages sent whose echo never came, and whose connection's end was reported
    /// (a `Disconnect` after the send).
    told: AtomicU64,
    /// Sends refused between connections (the message handed back).
    send_errors: AtomicU64,
    transport_errors: AtomicU64,
    server_closes: AtomicU64,
    client_disconnects: AtomicU64,
    failures: AtomicU64,
}

fn rfail(stats: &ReconnectStats, id: u64, what: String) {
    stats.failures.fetch_add(1, Ordering::SeqCst);
    eprintln!("client {id}: {what}");
}

/// One client's view of its connections, from its event stream: checks that every message
/// `send` accepted is echoed, in order, or that a `Disconnect` reported its connection's
/// end; and that the events follow the reconnection contract (`Disconnect`, then
/// `Reconnecting` for attempts 1, 2, … with their delays, then `Connect`).
struct Tracker {
    id: u64,
    stats: Arc<ReconnectStats>,
    /// Messages accepted by `send` and not echoed yet, with the number of `Disconnect`
    /// events seen when each was sent.
    pending: VecDeque<(Payload, u64)>,
    /// `Disconnect` events seen.
    epoch: u64,
    connected: bool,
    /// The attempt the next `Reconnecting` must announce.
    next_attempt: u32,
    /// A `Reconnecting` came since the last `Disconnect`.
    reconnecting: bool,
    /// The application called `connect()`: the next `Connect` is its.
    app_connect: bool,
    /// `Connect` events seen.
    connects: u64,
    /// "close" was sent: a server disconnect may come.
    close_sent: bool,
    /// The client has stopped for good: no event may come until `connect()`.
    stopped: bool,
    last_reason: Option<DisconnectReason>,
    /// The last events and calls, printed with a failure.
    history: VecDeque<String>,
}

impl Tracker {
    fn new(id: u64, stats: Arc<ReconnectStats>) -> Tracker {
        Tracker {
            id,
            stats,
            pending: VecDeque::new(),
            epoch: 0,
            connected: false,
            next_attempt: 1,
            reconnecting: false,
            app_connect: false,
            connects: 0,
            close_sent: false,
            stopped: true,
            last_reason: None,
            history: VecDeque::new(),
        }
    }

    fn fail(&self, what: String) {
        let history: Vec<&str> = self.history.iter().map(String::as_str).collect();
        rfail(
            &self.stats,
            self.id,
            format!("{what}; last: {}", history.join(", ")),
        );
    }

    /// Remembers an event or a call (the last 30), for the failures.
    fn note(&mut self, what: String) {
        if self.history.len() == 30 {
            self.history.pop_front();
        }
        self.history.push_back(what);
    }

    fn on_event(&mut self, event: ClientEvent) {
        match &event {
            ClientEvent::Message(_) => self.note("Message".into()),
            ClientEvent::Upgraded => {}
            other => self.note(format!("{other:?}")),
        }
        if self.stopped {
            self.fail(format!("{event:?} after the client stopped"));
        }
        match event {
            ClientEvent::Message(p) => {
                let Some(at) = self.pending.iter().position(|(m, _)| *m == p) else {
                    self.fail(format!("a message never sent, or echoed twice: {p:?}"));
                    return;
                };
                let skipped: Vec<(Payload, u64)> = self.pending.drain(..at).collect();
                for (m, epoch) in skipped {
                    if epoch == self.epoch {
                        self.fail(format!("lost without a disconnect: {m:?}"));
                    } else {
                        self.stats.told.fetch_add(1, Ordering::Relaxed);
                    }
                }
                self.pending.pop_front();
                self.stats.echoed.fetch_add(1, Ordering::Relaxed);
            }
            ClientEvent::Connect => {
                if self.connected {
                    self.fail("Connect while connected".into());
                }
                if self.app_connect {
                    self.app_connect = false;
                } else if self.reconnecting {
                    self.stats.reconnects.fetch_add(1, Ordering::Relaxed);
                } else {
                    self.fail("Connect with no connect() and no Reconnecting".into());
                }
                self.connected = true;
                self.reconnecting = false;
                self.next_attempt = 1;
                self.connects += 1;
            }
            ClientEvent::Disconnect(reason) => {
                if !self.connected {
                    self.fail(format!("Disconnect while not connected: {reason:#}"));
                }
                match &reason {
                    DisconnectReason::TransportError(_) => {
                        self.stats.transport_errors.fetch_add(1, Ordering::Relaxed);
                    }
                    DisconnectReason::ServerDisconnect(_) if self.close_sent => {
                        self.stats.server_closes.fetch_add(1, Ordering::Relaxed);
                    }
                    DisconnectReason::ClientDisconnect => {
                        self.stats
                            .client_disconnects
                            .fetch_add(1, Ordering::Relaxed);
                    }
                    other => self.fail(format!("unexpected disconnect: {other:#}")),
                }
                // Messages told at the disconnect before this one can no longer be
                // echoed (those told at this one still can: sent on the next connection
                // before this `Disconnect` was read).
                let before = self.pending.len();
                self.pending.retain(|(_, epoch)| *epoch == self.epoch);
                self.stats
                    .told
                    .fetch_add((before - self.pending.len()) as u64, Ordering::Relaxed);
                // (A "close" sent into a connection that a restart ended first stays
                // counted: it may have gone into the next one, before this was read.)
                if matches!(reason, DisconnectReason::ServerDisconnect(_)) {
                    self.close_sent = false;
                }
                self.epoch += 1;
                self.connected = false;
                self.reconnecting = false;
                self.next_attempt = 1;
                self.last_reason = Some(reason);
            }
            ClientEvent::Reconnecting { attempt, delay } => {
                self.stats.attempts.fetch_add(1, Ordering::Relaxed);
                if self.connected || attempt != self.next_attempt {
                    self.fail(format!(
                        "Reconnecting {{ attempt: {attempt} }}, connected: {}, expected \
                         attempt {}",
                        self.connected, self.next_attempt
                    ));
                }
                let base = (100u64 << (attempt - 1).min(10)).min(1000) as f64;
                let ms = delay.as_secs_f64() * 1000.0;
                if ms < base * 0.5 - 1.0 || ms > base * 1.5 + 1.0 {
                    self.fail(format!("attempt {attempt}: a wait of {delay:?}"));
                }
                self.next_attempt = attempt + 1;
                self.reconnecting = true;
            }
            ClientEvent::ReconnectFailed { attempts } => {
                self.fail(format!("ReconnectFailed after {attempts} (unlimited)"));
            }
            ClientEvent::Upgraded => {}
            other => self.fail(format!("unknown event {other:?}")),
        }
    }

    /// Handles the next event, waiting up to `limit`; false if none came.
    async fn pump(
        &mut self,
        eio: &AsyncClient,
        events: &mut engineio::Events,
        limit: Duration,
    ) -> bool {
        match common::next_event(eio, events, limit).await {
            Some(e) => {
                self.on_event(e);
                true
            }
            None => false,
        }
    }

    /// Handles events until none comes for 100 ms.
    async fn settle(&mut self, eio: &AsyncClient, events: &mut engineio::Events) {
        while self.pump(eio, events, Duration::from_millis(100)).await {}
    }

    /// Waits until every message sent on the current connection is echoed, or its end
    /// reported.
    async fn drain(&mut self, eio: &AsyncClient, events: &mut engineio::Events) {
        while self.pending.iter().any(|(_, epoch)| *epoch == self.epoch) {
            if !self.pump(eio, events, Duration::from_secs(20)).await {
                self.fail(format!(
                    "no echo and no disconnect within 20 s; {} waiting",
                    self.pending.len()
                ));
                // (Counted as told, only so that the totals still add up.)
                let n = self.pending.len() as u64;
                self.stats.told.fetch_add(n, Ordering::Relaxed);
                self.pending.clear();
                return;
            }
        }
    }

    async fn send(&mut self, eio: &AsyncClient, payload: Payload) {
        match eio.send(payload.clone()).await {
            Ok(()) => {
                self.stats.sent.fetch_add(1, Ordering::Relaxed);
                self.pending.push_back((payload, self.epoch));
            }
            Err(e)
                if matches!(e.kind, SendErrorKind::NotConnected | SendErrorKind::Closed)
                    && e.payload == payload =>
            {
                self.stats.send_errors.fetch_add(1, Ordering::Relaxed);
            }
            Err(e) => self.fail(format!("send: {e:?}")),
        }
    }

    /// `connect()`, again until it works (the server may be restarting) or `until`.
    async fn connect(&mut self, eio: &AsyncClient, url: &str, until: Instant) -> bool {
        self.stopped = false;
        self.app_connect = true;
        while Instant::now() < until {
            match eio.connect(url).await {
                Ok(()) => {
                    self.note(format!("connect() ok, sid {:?}", eio.sid()));
                    self.stats.connects.fetch_add(1, Ordering::Relaxed);
                    return true;
                }
                Err(e) => {
                    self.note(format!("connect() failed: {e}"));
                    self.stats.refused.fetch_add(1, Ordering::Relaxed);
                    eio.sleep(Duration::from_millis(200)).await;
                }
            }
        }
        self.app_connect = false;
        self.stopped = true;
        false
    }

    /// Waits (10 s at most) for `wait()`: the client has stopped for good.
    async fn wait(&mut self, eio: &AsyncClient) -> bool {
        let limit = Duration::from_secs(10);
        match futures::future::select(Box::pin(eio.wait()), Box::pin(eio.sleep(limit))).await {
            futures::future::Either::Left(_) => {
                self.note(format!("wait() returned, sid {:?}", eio.sid()));
                true
            }
            futures::future::Either::Right(_) => {
                self.fail("wait() did not return within 10 s".into());
                false
            }
        }
    }

    /// The client has stopped (`wait()` returned): reads what is left of its events; it
    /// must not be connected, and nothing may come later.
    async fn stopped(&mut self, eio: &AsyncClient, events: &mut engineio::Events) {
        self.settle(eio, events).await;
        if self.connected {
            self.fail("connected after wait() returned".into());
        }
        // What was not echoed was sent before the last `Disconnect`, which told of it.
        for (m, epoch) in std::mem::take(&mut self.pending) {
            if epoch == self.epoch {
                self.fail(format!("lost without a disconnect: {m:?}"));
            } else {
                self.stats.told.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.stopped = true;
    }

    /// `disconnect()`, then `wait()`.
    async fn stop(&mut self, eio: &AsyncClient, events: &mut engineio::Events) {
        self.note(format!("disconnect(), sid {:?}", eio.sid()));
        if let Err(e) = eio.disconnect().await {
            self.fail(format!("disconnect: {e}"));
        }
        self.note(format!("disconnect() returned, sid {:?}", eio.sid()));
        if self.wait(eio).await {
            self.stopped(eio, events).await;
        }
    }
}

async fn reconnecting_client(
    id: u64,
    url: String,
    runtime: Runtime,
    until: Instant,
    stats: Arc<ReconnectStats>,
) {
    let mut rng = Rng(0x2545_f491_4f6c_dd1d ^ (id + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15));
    let mut serial = 0u64;
    while Instant::now() < until {
        let transports = match rng.below(3) {
            0 => Transports::Polling,
            1 => Transports::WebSocket,
            _ => Transports::Upgrade,
        };
        let on_server_disconnect = rng.below(2) == 0;
        let eio = AsyncClient::builder()
            .runtime(runtime.clone())
            .transports(transports)
            .reconnect(soak_policy(on_server_disconnect))
            .build()
            .expect("client");
        let handler_runs = Arc::new(AtomicU64::new(0));
        let runs = handler_runs.clone();
        eio.on_connect(move || {
            runs.fetch_add(1, Ordering::SeqCst);
            async {}
        });
        let mut events = eio.events();
        let mut t = Tracker::new(id, stats.clone());
        if !t.connect(&eio, &url, until).await {
            break;
        }
        for _ in 0..rng.below(400) + 1 {
            if Instant::now() >= until {
                break;
            }
            match rng.below(100) {
                // Text or binary, up to 4 kB; never one of the server's commands.
                0..=69 => {
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
                    t.send(&eio, payload).await;
                }
                70..=84 => t.drain(&eio, &mut events).await,
                85..=94 => {
                    eio.sleep(Duration::from_millis(rng.below(300))).await;
                    t.settle(&eio, &mut events).await;
                }
                // Disconnect, and connect the same client again.
                95..=97 => {
                    t.stop(&eio, &mut events).await;
                    if !t.connect(&eio, &url, until).await {
                        break;
                    }
                }
                // The server closes the session: the client stops, or reconnects if its
                // policy says so. (A restart may end the session first.)
                _ => {
                    t.drain(&eio, &mut events).await;
                    t.close_sent = true;
                    t.note("send(\"close\")".into());
                    if eio.send("close").await.is_err() {
                        t.close_sent = false;
                        continue;
                    }
                    let epoch = t.epoch;
                    while t.epoch == epoch {
                        if !t.pump(&eio, &mut events, Duration::from_secs(20)).await {
                            t.fail("no disconnect within 20 s of \"close\"".into());
                            break;
                        }
                    }
                    let closed =
                        matches!(t.last_reason, Some(DisconnectReason::ServerDisconnect(_)));
                    if closed && !on_server_disconnect {
                        // Not retried: the client has stopped for good.
                        if t.wait(&eio).await {
                            t.stopped(&eio, &mut events).await;
                        }
                        break;
                    }
                }
            }
        }
        t.stop(&eio, &mut events).await;
        let runs = handler_runs.load(Ordering::SeqCst);
        if runs != t.connects {
            t.fail(format!(
                "the connect handler ran {runs} times for {} Connect events",
                t.connects
            ));
        }
    }
}

#[test]
#[ignore = "ten minutes; run by the command at the top of this file"]
fn soak_reconnect() {
    let secs = env_or("EIO_SOAK_SECS", 600);
    let clients = env_or("EIO_SOAK_CLIENTS", 100);
    let restart_max = Duration::from_millis(env_or("EIO_SOAK_RESTART_MS", 8000).max(100));
    let mut server = Server::start(ServerKind::Node, &RESTART_ENV);
    let port = server.port;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (runtime, counts) = counted(&engineio::adapters::tokio::runtime(rt.handle().clone()));
    let stats = Arc::new(ReconnectStats::default());
    let start = Instant::now();
    let until = start + Duration::from_secs(secs);
    let rss_start = rss();
    println!(
        "soak with restarts: {clients} clients for {secs} s, a restart every {:?} at most; \
         RSS at start {} MiB",
        restart_max,
        rss_start >> 20
    );
    let handles: Vec<_> = (0..clients)
        .map(|id| {
            rt.spawn(reconnecting_client(
                id,
                server.url(),
                runtime.clone(),
                until,
                stats.clone(),
            ))
        })
        .collect();

    // Restarts at random (from a quarter of `restart_max` to all of it apart; the server
    // down for up to a second each time), none in the last 5 s; a sample every 10 s, RSS
    // from the end of the warm-up (a tenth of the run, at least 10 s).
    let mut rng = Rng(0x5eed_1234_abcd_ef01);
    let warm_until = start + Duration::from_secs((secs / 10).max(10).min(secs));
    let mut rss_warm = None;
    let mut rss_peak = 0u64;
    let (mut peak_tasks, mut peak_sockets) = (0usize, 0usize);
    let random_gap = |rng: &mut Rng| {
        let max = restart_max.as_millis() as u64;
        Duration::from_millis(max / 4 + rng.below(max - max / 4 + 1))
    };
    let mut next_restart = start + random_gap(&mut rng);
    let mut next_sample = start + Duration::from_secs(10);
    while Instant::now() < until {
        let now = Instant::now();
        let wake = next_restart.min(next_sample).min(until);
        std::thread::sleep(wake.saturating_duration_since(now));
        let now = Instant::now();
        // Each session's end is a stdout line: read them, or they pile up in memory.
        server.drain_lines();
        if now >= next_restart {
            if now + Duration::from_secs(5) < until {
                server.kill();
                std::thread::sleep(Duration::from_millis(rng.below(1000)));
                server = Server::start_on(ServerKind::Node, port, &RESTART_ENV);
                stats.restarts.fetch_add(1, Ordering::Relaxed);
            }
            next_restart = Instant::now() + random_gap(&mut rng);
        }
        if now >= next_sample {
            next_sample += Duration::from_secs(10);
            if now >= warm_until {
                let r = rss();
                rss_warm.get_or_insert(r);
                rss_peak = rss_peak.max(r);
                peak_tasks = peak_tasks.max(counts.tasks());
                peak_sockets = peak_sockets.max(counts.sockets());
            }
            println!(
                "soak with restarts: {:>4} s: {} restarts, {} connects, {} reconnects, {} \
                 sent, {} echoed, {} told, {} failures, {} live tasks, {} live sockets, RSS \
                 {} MiB",
                start.elapsed().as_secs(),
                stats.restarts.load(Ordering::Relaxed),
                stats.connects.load(Ordering::Relaxed),
                stats.reconnects.load(Ordering::Relaxed),
                stats.sent.load(Ordering::Relaxed),
                stats.echoed.load(Ordering::Relaxed),
                stats.told.load(Ordering::Relaxed),
                stats.failures.load(Ordering::Relaxed),
                counts.tasks(),
                counts.sockets(),
                rss() >> 20
            );
        }
    }
    rt.block_on(async {
        for h in handles {
            h.await.expect("client task");
        }
        counts
            .drained(&runtime, "after the soak", Duration::from_secs(10))
            .await;
    });
    server.drain_lines();
    let rss_warm = rss_warm.unwrap_or_else(rss);
    let rss_end = rss();
    let load = |n: &AtomicU64| n.load(Ordering::SeqCst);
    println!(
        "soak with restarts: done in {} s: {} restarts; {} connects ({} refused), {} \
         reconnects after {} attempts; {} sent, {} echoed, {} told by a disconnect, {} sends \
         refused between connections; {} transport errors, {} server and {} client \
         disconnects; {} failures; {} tasks spawned and {} sockets dialled, none live, at \
         most {peak_tasks} tasks and {peak_sockets} sockets live after the warm-up; RSS \
         start {} MiB, after warm-up {} MiB, peak {} MiB, end {} MiB",
        start.elapsed().as_secs(),
        load(&stats.restarts),
        load(&stats.connects),
        load(&stats.refused),
        load(&stats.reconnects),
        load(&stats.attempts),
        load(&stats.sent),
        load(&stats.echoed),
        load(&stats.told),
        load(&stats.send_errors),
        load(&stats.transport_errors),
        load(&stats.server_closes),
        load(&stats.client_disconnects),
        load(&stats.failures),
        counts.spawned(),
        counts.dialed(),
        rss_start >> 20,
        rss_warm >> 20,
        rss_peak >> 20,
        rss_end >> 20
    );
    assert_eq!(load(&stats.failures), 0, "failures (see above)");
    // Every message `send` accepted was echoed, or a disconnect told of it.
    assert_eq!(
        load(&stats.sent),
        load(&stats.echoed) + load(&stats.told),
        "sent vs. echoed + told"
    );
    if load(&stats.restarts) > 0 {
        assert!(load(&stats.reconnects) > 0, "restarts, and no reconnect");
    }
    // Live tasks and sockets stay in proportion to the clients (a driver, a dispatcher, a
    // reconnection loop and a few connections each), however many restarts.
    let clients = clients as usize;
    assert!(
        peak_tasks <= 10 * clients && peak_sockets <= 6 * clients,
        "{peak_tasks} tasks and {peak_sockets} sockets live for {clients} clients"
    );
    assert!(
        rss_end <= rss_warm + RSS_GROWTH_LIMIT,
        "RSS grew from {} MiB after warm-up to {} MiB at the end",
        rss_warm >> 20,
        rss_end >> 20
    );
}
