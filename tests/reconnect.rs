//! Reconnection (`ClientBuilder::reconnect`) against the real node engine.io server, on
//! tokio, smol and the blocking `Client` (through its own blocking methods). The waits are
//! short and fixed (`Reconnect::randomization(0.0)`: 100 ms doubling to 400 ms) so that
//! every event can be asserted exactly:
//!
//! - the server killed (SIGKILL) and started again on the same port once attempt 1 has
//!   failed, over polling (tokio), WebSocket (smol) and after an upgrade (blocking):
//!   `Disconnect(transport error)`, `Reconnecting` for attempts 1, 2, … with their
//!   delays, then `Connect`; the connect handler ran twice, with two different sids, the
//!   new one known to the new server; echoes work after.
//! - the network down then up (tests/common/proxy.rs): the same, attempts failing while it
//!   is down (two at least), the next one after it is up connecting.
//! - `disconnect()` during the wait before an attempt (the server down, a 5 s wait):
//!   `disconnect()` and `wait()` return at once, no attempt is made (no dial), no event
//!   follows, and the reconnection loop is gone (no task left).
//! - `disconnect()` during an attempt whose handshake hangs (a stalled network, a 10 s
//!   request timeout): the same, at once.
//! - the attempts run out (3, the server down): exactly three attempts (three dials), then
//!   `ReconnectFailed { attempts: 3 }`, and `wait()` returns.
//! - the server closes the session (the text "close"), over polling and over WebSocket:
//!   not retried (`wait()` returns, no `Reconnecting`, no dial), and with
//!   `on_server_disconnect(true)` retried at once (attempt 1 connects).
//!
//! - `disconnect()` at the moment the wait before an attempt has ended and the loop has
//!   not run yet (made certain by a timer that ends the wait without waking the loop): no
//!   connection opens after it, `wait()` returns, the client disconnected.
//! - `wait()` called while the first connection is open returns only once the disconnect
//!   handler of the last connection (one the loop opened, ended by `disconnect()`) ran.
//!
//! After every case, and while the client is still held after it gave up or was stopped
//! during a wait: no task, no socket and no timer of the client is left (counted by
//! wrappers around the runtime: tests/common/counted.rs, and a timer and a dial counter
//! here). Wall-clock bounds are generous (a loaded 2-core machine); counts and order are
//! exact.
#![cfg(all(feature = "tokio", feature = "smol", feature = "blocking"))]

mod common;

use std::future::Future;
use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use common::counted::{Counts, Live, counted};
use common::proxy::Proxy;
use common::{Server, ServerKind};
use engineio::rt::{Dialer, Io, Runtime, Timer};
use engineio::{
    AsyncClient, Client, ClientEvent, DisconnectReason, Payload, Reconnect, SendErrorKind,
    TransportFailure, Transports,
};
use futures::future::{BoxFuture, Either, select};

/// A heartbeat far from what the cases check (a server starved for a second on a loaded
/// machine must not end a session on its own); `EIO_REPORT` makes the server print
/// `CONNECT <sid> <transport>` per session.
const ENV: [(&str, &str); 3] = [
    ("EIO_PING_INTERVAL_MS", "1000"),
    ("EIO_PING_TIMEOUT_MS", "5000"),
    ("EIO_REPORT", "1"),
];

/// The request timeout: 2 s, so that a handshake does not time out on a loaded machine.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(2);

/// The bound of every wait for something that should come at once (a few milliseconds
/// on a quiet machine): generous, for a loaded one.
const PROMPT: Duration = Duration::from_secs(2);

/// How long to watch for an event that must not come. Short: it is watched for once the
/// client has stopped (`wait()` returned), when anything to come would be queued already.
const QUIET: Duration = Duration::from_millis(100);

/// 100 ms doubling to 400 ms, no jitter: every delay is known.
fn quick() -> Reconnect {
    Reconnect::new()
        .delay(Duration::from_millis(100))
        .max_delay(Duration::from_millis(400))
        .randomization(0.0)
}

/// The `Reconnecting` event of `attempt` under [`quick`].
fn reconnecting(attempt: u32) -> ClientEvent {
    let ms = (100u64 << (attempt - 1).min(8)).min(400);
    ClientEvent::Reconnecting {
        attempt,
        delay: Duration::from_millis(ms),
    }
}

// ---------------------------------------------------------------------------------------
// The runtime, watched: tasks and sockets (counted.rs), live timers and dial calls.

/// What the client left running, and how many connections it tried to open.
#[derive(Clone)]
struct Probe {
    counts: Counts,
    /// Dial calls, refused ones included.
    dials: Arc<AtomicUsize>,
    /// Sleeps (timers) created and not yet dropped.
    timers: Arc<AtomicUsize>,
    /// The runtime underneath, whose timer the checks themselves use.
    base: Runtime,
}

impl Probe {
    fn dials(&self) -> usize {
        self.dials.load(Ordering::SeqCst)
    }

    fn live(&self) -> (usize, usize, usize) {
        (
            self.counts.tasks(),
            self.counts.sockets(),
            self.timers.load(Ordering::SeqCst),
        )
    }

    /// Waits (up to `limit`) until no task, socket or timer of the client is live; panics
    /// with the counts otherwise.
    async fn drained(&self, label: &str, limit: Duration) {
        let start = Instant::now();
        while self.live() != (0, 0, 0) {
            let (tasks, sockets, timers) = self.live();
            assert!(
                start.elapsed() < limit,
                "{label}: {tasks} tasks, {sockets} sockets and {timers} timers still live \
                 after {limit:?} ({} tasks spawned, {} sockets dialled, {} dial calls)",
                self.counts.spawned(),
                self.counts.dialed(),
                self.dials()
            );
            self.base.timer().sleep(Duration::from_millis(10)).await;
        }
    }
}

struct CountingTimer {
    inner: Arc<dyn Timer>,
    live: Arc<AtomicUsize>,
}

impl Timer for CountingTimer {
    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()> {
        let live = Live::new(&self.live);
        let sleep = self.inner.sleep(duration);
        Box::pin(async move {
            let _live = live;
            sleep.await
        })
    }

    fn sleep_until(&self, deadline: Instant) -> BoxFuture<'static, ()> {
        let live = Live::new(&self.live);
        let sleep = self.inner.sleep_until(deadline);
        Box::pin(async move {
            let _live = live;
            sleep.await
        })
    }

    fn now(&self) -> Instant {
        self.inner.now()
    }
}

struct CountingDialer {
    inner: Arc<dyn Dialer>,
    calls: Arc<AtomicUsize>,
}

#[async_trait]
impl Dialer for CountingDialer {
    async fn dial(&self, host: &str, port: u16) -> io::Result<Box<dyn Io>> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.inner.dial(host, port).await
    }

    async fn resolve(&self, host: &str, port: u16) -> io::Result<Vec<std::net::SocketAddr>> {
        self.inner.resolve(host, port).await
    }
}

/// `base` with its tasks, sockets, timers and dial calls counted.
fn probed(base: &Runtime) -> (Runtime, Probe) {
    let (with_counts, counts) = counted(base);
    let dials = Arc::new(AtomicUsize::new(0));
    let timers = Arc::new(AtomicUsize::new(0));
    let runtime = Runtime::new(
        with_counts.spawner().clone(),
        Arc::new(CountingTimer {
            inner: with_counts.timer().clone(),
            live: timers.clone(),
        }),
        Arc::new(CountingDialer {
            inner: with_counts.dialer().clone(),
            calls: dials.clone(),
        }),
    );
    let probe = Probe {
        counts,
        dials,
        timers,
        base: base.clone(),
    };
    (runtime, probe)
}

// ---------------------------------------------------------------------------------------
// The client under test, async or blocking.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Flavor {
    Tokio,
    Smol,
    /// The blocking `Client`, driven through its blocking methods (the case itself runs on
    /// the test thread, in a plain `block_on`).
    Blocking,
}

#[derive(Clone)]
enum Eio {
    Async(AsyncClient),
    Blocking(Client),
}

/// Runs `f` on a thread of its own and waits for it up to `limit`: a blocking call that
/// hangs fails the case instead of hanging the test.
fn bounded<T: Send + 'static>(
    limit: Duration,
    what: &str,
    f: impl FnOnce() -> T + Send + 'static,
) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    let thread = std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    match rx.recv_timeout(limit) {
        Ok(v) => {
            thread.join().expect("the bounded call's thread");
            v
        }
        Err(_) => panic!("{what}: not done within {limit:?}"),
    }
}

/// `fut`, which must complete within `limit` (on `timer`).
async fn within<T>(
    timer: &Arc<dyn Timer>,
    limit: Duration,
    what: &str,
    fut: impl Future<Output = T>,
) -> T {
    match select(std::pin::pin!(fut), timer.sleep(limit)).await {
        Either::Left((v, _)) => v,
        Either::Right(_) => panic!("{what}: not done within {limit:?}"),
    }
}

/// What the handlers saw.
#[derive(Default)]
struct Log {
    /// The sid, as the connect handler saw it, at each run.
    sids: Mutex<Vec<Option<String>>>,
    /// The dial calls so far when each disconnect handler ran: the reconnection loop
    /// starts only after it, so any dial later is an attempt (or a new connection).
    dials_at_disconnect: Mutex<Vec<usize>>,
    /// How long the disconnect handler takes (ms; 0 by default).
    disconnect_handler_ms: std::sync::atomic::AtomicU64,
    /// Disconnect handler runs completed.
    disconnect_handlers_done: AtomicUsize,
}

/// A client with its event stream and probes, connected.
struct Subject {
    eio: Eio,
    events: engineio::Events,
    probe: Probe,
    log: Arc<Log>,
    label: String,
}

impl Subject {
    /// A client of `flavor` on a probed copy of `base`, with `policy`, connected to `url`
    /// (and on WebSocket if `transports` upgrades), its `Connect` event read. A handshake
    /// that times out on a loaded machine is tried again, with a new client, twice at most
    /// (it is not what these cases test).
    async fn connect(
        flavor: Flavor,
        base: &Runtime,
        policy: Reconnect,
        transports: Transports,
        url: &str,
        label: &str,
    ) -> Subject {
        Subject::connect_with(
            flavor,
            base,
            policy,
            transports,
            url,
            label,
            REQUEST_TIMEOUT,
        )
        .await
    }

    /// [`connect`](Self::connect) with a request timeout of its own.
    async fn connect_with(
        flavor: Flavor,
        base: &Runtime,
        policy: Reconnect,
        transports: Transports,
        url: &str,
        label: &str,
        request_timeout: Duration,
    ) -> Subject {
        for attempt in 1.. {
            let (runtime, probe) = probed(base);
            let builder = AsyncClient::builder()
                .runtime(runtime)
                .transports(transports)
                .request_timeout(request_timeout)
                .reconnect(policy.clone());
            let log = Arc::new(Log::default());
            let eio = match flavor {
                Flavor::Blocking => {
                    let eio = builder.build_blocking().unwrap();
                    let (weak, l) = (eio.downgrade(), log.clone());
                    eio.on_connect(move || {
                        let sid = weak.upgrade().and_then(|c| c.sid());
                        l.sids.lock().unwrap().push(sid);
                    });
                    let (p, l) = (probe.clone(), log.clone());
                    eio.on_disconnect(move |_| {
                        l.dials_at_disconnect.lock().unwrap().push(p.dials());
                        let ms = l.disconnect_handler_ms.load(Ordering::SeqCst);
                        std::thread::sleep(Duration::from_millis(ms));
                        l.disconnect_handlers_done.fetch_add(1, Ordering::SeqCst);
                    });
                    Eio::Blocking(eio)
                }
                _ => {
                    let eio = builder.build().unwrap();
                    let (weak, l) = (eio.downgrade(), log.clone());
                    eio.on_connect(move || {
                        let sid = weak.upgrade().and_then(|c| c.sid());
                        l.sids.lock().unwrap().push(sid);
                        async {}
                    });
                    let (p, l) = (probe.clone(), log.clone());
                    eio.on_disconnect(move |_| {
                        l.dials_at_disconnect.lock().unwrap().push(p.dials());
                        let ms = l.disconnect_handler_ms.load(Ordering::SeqCst);
                        let (l, timer) = (l.clone(), p.base.timer().clone());
                        async move {
                            if ms > 0 {
                                timer.sleep(Duration::from_millis(ms)).await;
                            }
                            l.disconnect_handlers_done.fetch_add(1, Ordering::SeqCst);
                        }
                    });
                    Eio::Async(eio)
                }
            };
            let events = eio.aio().events();
            let mut s = Subject {
                eio,
                events,
                probe,
                log,
                label: label.to_owned(),
            };
            match s.try_connect(url).await {
                Ok(()) => {}
                Err(e) if attempt < 3 && e.failure() == Some(&TransportFailure::RequestTimeout) => {
                    eprintln!("{label}: {e}; connecting again");
                    s.finish().await;
                    continue;
                }
                Err(e) => panic!("{label}: connect to {url}: {e}"),
            }
            assert_eq!(
                s.until(|e| *e == ClientEvent::Connect, PROMPT).await,
                [ClientEvent::Connect],
                "{label}"
            );
            if transports == Transports::Upgrade {
                common::wait_for_websocket(s.eio.aio()).await;
            }
            return s;
        }
        unreachable!()
    }

    fn timer(&self) -> Arc<dyn Timer> {
        self.probe.base.timer().clone()
    }

    async fn try_connect(&self, url: &str) -> Result<(), engineio::Error> {
        let limit = REQUEST_TIMEOUT * 3;
        match &self.eio {
            Eio::Async(eio) => within(&self.timer(), limit, "connect", eio.connect(url)).await,
            Eio::Blocking(eio) => {
                let (eio, url) = (eio.clone(), url.to_owned());
                bounded(limit, "connect", move || eio.connect(&url))
            }
        }
    }

    async fn send(&self, payload: impl Into<Payload>) -> Result<(), engineio::SendError> {
        let payload = payload.into();
        match &self.eio {
            Eio::Async(eio) => within(&self.timer(), PROMPT, "send", eio.send(payload)).await,
            Eio::Blocking(eio) => {
                let eio = eio.clone();
                bounded(PROMPT, "send", move || eio.send(payload))
            }
        }
    }

    /// `disconnect()`, which must return within [`PROMPT`].
    async fn disconnect(&self) {
        let label = format!("{}: disconnect", self.label);
        match &self.eio {
            Eio::Async(eio) => within(&self.timer(), PROMPT, &label, eio.disconnect())
                .await
                .unwrap(),
            Eio::Blocking(eio) => {
                let eio = eio.clone();
                bounded(PROMPT, &label, move || eio.disconnect()).unwrap()
            }
        }
    }

    /// `wait()`, which must return within `limit`.
    async fn wait(&self, limit: Duration) {
        let label = format!("{}: wait", self.label);
        match &self.eio {
            Eio::Async(eio) => within(&self.timer(), limit, &label, eio.wait()).await,
            Eio::Blocking(eio) => {
                let eio = eio.clone();
                bounded(limit, &label, move || eio.wait())
            }
        }
    }

    fn sid(&self) -> Option<String> {
        match &self.eio {
            Eio::Async(eio) => eio.sid(),
            Eio::Blocking(eio) => eio.sid(),
        }
    }

    /// The events (`Upgraded` left out) up to the first that `stop` matches, which must
    /// come within `limit`.
    async fn until(
        &mut self,
        stop: impl Fn(&ClientEvent) -> bool,
        limit: Duration,
    ) -> Vec<ClientEvent> {
        let deadline = Instant::now() + limit;
        let mut seen = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match common::next_event(self.eio.aio(), &mut self.events, left).await {
                Some(e) => {
                    let last = stop(&e);
                    seen.push(e);
                    if last {
                        return seen;
                    }
                }
                None => panic!(
                    "{}: not within {limit:?}; the events were {seen:?}",
                    self.label
                ),
            }
        }
    }

    /// No event comes for a while.
    async fn no_event(&mut self, what: &str) {
        let next = common::next_event(self.eio.aio(), &mut self.events, QUIET).await;
        assert_eq!(next, None, "{}: {what}", self.label);
    }

    /// The server closes the session (the text "close"), and the client, with
    /// `on_server_disconnect`, connects again: returns the events, checked to be the
    /// server disconnect, one more, and `Connect`.
    async fn closed_by_the_server_and_reconnected(&mut self) -> Vec<ClientEvent> {
        self.send("close").await.unwrap();
        let events = self
            .until(|e| *e == ClientEvent::Connect, Duration::from_secs(5))
            .await;
        assert!(
            matches!(
                events[..],
                [
                    ClientEvent::Disconnect(DisconnectReason::ServerDisconnect(_)),
                    _,
                    ClientEvent::Connect
                ]
            ),
            "{}: {events:?}",
            self.label
        );
        events
    }

    /// A message goes to the server and back.
    async fn echo(&mut self, text: &str) {
        self.send(text)
            .await
            .unwrap_or_else(|e| panic!("{}: send: {e}", self.label));
        let got = self.until(|_| true, Duration::from_secs(5)).await;
        assert_eq!(
            got,
            [ClientEvent::Message(Payload::from(text))],
            "{}: the echo",
            self.label
        );
    }

    /// How many times the connect handler ran.
    fn connects(&self) -> usize {
        self.log.sids.lock().unwrap().len()
    }

    /// The sids the connect handler saw, once it has run `runs` times (the handler runs
    /// on the dispatcher, beside the event stream: it may not have run yet when the
    /// stream yields `Connect`); then it must not have run more.
    async fn sids(&self, runs: usize) -> Vec<Option<String>> {
        let start = Instant::now();
        while self.connects() < runs && start.elapsed() < PROMPT {
            self.probe
                .base
                .timer()
                .sleep(Duration::from_millis(5))
                .await;
        }
        let sids = self.log.sids.lock().unwrap().clone();
        assert_eq!(
            sids.len(),
            runs,
            "{}: connect handler runs: {sids:?}",
            self.label
        );
        sids
    }

    /// Dial calls since the last disconnect handler ran.
    fn dials_since_disconnect(&self) -> usize {
        let at = *self
            .log
            .dials_at_disconnect
            .lock()
            .unwrap()
            .last()
            .expect("a disconnect");
        self.probe.dials() - at
    }

    /// `disconnect()`: `Disconnect(client disconnect)`, not retried (`wait()` returns, no
    /// event, no dial), then everything is cleaned up.
    async fn disconnect_and_finish(mut self) {
        self.disconnect().await;
        let end = self
            .until(|e| matches!(e, ClientEvent::Disconnect(_)), PROMPT)
            .await;
        assert_eq!(
            end,
            [ClientEvent::Disconnect(DisconnectReason::ClientDisconnect)],
            "{}",
            self.label
        );
        self.wait(PROMPT).await;
        self.no_event("after disconnect()").await;
        assert_eq!(
            self.dials_since_disconnect(),
            0,
            "{}: dialled after disconnect()",
            self.label
        );
        self.finish().await;
    }

    /// Drops the client; every task, socket and timer it had must end.
    async fn finish(self) {
        let Subject {
            eio,
            events,
            probe,
            label,
            ..
        } = self;
        drop((eio, events));
        probe.drained(&label, Duration::from_secs(3)).await;
    }
}

impl Eio {
    fn aio(&self) -> &AsyncClient {
        match self {
            Eio::Async(eio) => eio,
            Eio::Blocking(eio) => eio.as_async(),
        }
    }
}

/// `events` is the end of the connection with a transport error, then `Reconnecting` for
/// attempts 1 to `n`, in order, with their delays.
fn assert_lost(events: &[ClientEvent], n: u32, label: &str) {
    let (first, rest) = events.split_first().expect("events");
    assert!(
        matches!(
            first,
            ClientEvent::Disconnect(DisconnectReason::TransportError(_))
        ),
        "{label}: {events:?}"
    );
    let want: Vec<ClientEvent> = (1..=n).map(reconnecting).collect();
    assert_eq!(rest, want, "{label}");
}

/// `events` is `Reconnecting` for attempts `from`, `from + 1`, … (none or more), then
/// `Connect`. Returns the attempt that connected.
fn assert_back(events: &[ClientEvent], from: u32, label: &str) -> u32 {
    let (last, waits) = events.split_last().expect("events");
    assert_eq!(last, &ClientEvent::Connect, "{label}: {events:?}");
    let want: Vec<ClientEvent> = (from..from + waits.len() as u32)
        .map(reconnecting)
        .collect();
    assert_eq!(waits, want, "{label}");
    from + waits.len() as u32 - 1
}

// ---------------------------------------------------------------------------------------
// The cases.

/// The server killed, then started again on the same port once attempt 1 has failed.
async fn server_restarted(flavor: Flavor, base: &Runtime, transports: Transports) {
    let label = format!("restart, {transports:?}, {flavor:?}");
    let mut server = Server::start(ServerKind::Node, &ENV);
    let mut s = Subject::connect(flavor, base, quick(), transports, &server.url(), &label).await;
    let first = s.sid().expect("a sid");
    s.echo("before").await;

    server.kill();
    let lost = s
        .until(|e| *e == reconnecting(2), Duration::from_secs(5))
        .await;
    assert_lost(&lost, 2, &label);
    let restarted = Server::start_on(ServerKind::Node, server.port, &ENV);
    let back = s
        .until(|e| *e == ClientEvent::Connect, Duration::from_secs(10))
        .await;
    let attempt = assert_back(&back, 3, &label);

    let second = s.sid().expect("a sid after the reconnect");
    assert_ne!(first, second, "{label}");
    assert_eq!(
        s.sids(2).await,
        [Some(first), Some(second.clone())],
        "{label}"
    );
    assert!(
        restarted
            .wait_line(&format!("CONNECT {second} "), Duration::from_secs(5))
            .is_some(),
        "{label}: the restarted server does not know {second}"
    );
    s.echo("after").await;
    s.echo("after, again").await;
    eprintln!("{label}: attempt {attempt} connected");
    s.disconnect_and_finish().await;
}

/// The network goes down (every connection cut, every new one closed at once), then up
/// once two attempts have failed.
async fn network_down_then_up(flavor: Flavor, base: &Runtime, server: &Server) {
    let label = format!("down then up, {flavor:?}");
    let proxy = Proxy::start(server.port);
    let mut s = Subject::connect(
        flavor,
        base,
        quick(),
        Transports::Upgrade,
        &proxy.url(),
        &label,
    )
    .await;
    let first = s.sid().expect("a sid");
    s.echo("before").await;

    proxy.down();
    let lost = s
        .until(|e| *e == reconnecting(3), Duration::from_secs(5))
        .await;
    assert_lost(&lost, 3, &label);
    // Between connections a send fails, and hands the message back.
    let err = s
        .send("between")
        .await
        .expect_err("a send with no connection");
    assert!(
        matches!(
            err.kind,
            SendErrorKind::NotConnected | SendErrorKind::Closed
        ),
        "{label}: {err:?}"
    );
    assert_eq!(err.payload, Payload::from("between"), "{label}");
    proxy.up();
    let back = s
        .until(|e| *e == ClientEvent::Connect, Duration::from_secs(10))
        .await;
    let attempt = assert_back(&back, 4, &label);

    let second = s.sid().expect("a sid after the reconnect");
    assert_ne!(first, second, "{label}");
    assert_eq!(s.sids(2).await, [Some(first), Some(second)], "{label}");
    s.echo("after").await;
    eprintln!("{label}: attempt {attempt} connected");
    s.disconnect_and_finish().await;
    drop(proxy);
}

/// `disconnect()` while the client waits before attempt 1 (5 s), the server down: it and
/// `wait()` return at once, and nothing is left that could make an attempt.
async fn disconnect_during_backoff(flavor: Flavor, base: &Runtime) {
    let label = format!("disconnect during the wait, {flavor:?}");
    let wait = Duration::from_secs(5);
    let policy = Reconnect::new()
        .delay(wait)
        .max_delay(wait)
        .randomization(0.0);
    let mut server = Server::start(ServerKind::Node, &ENV);
    let mut s = Subject::connect(
        flavor,
        base,
        policy,
        Transports::Upgrade,
        &server.url(),
        &label,
    )
    .await;

    server.kill();
    let lost = s
        .until(
            |e| matches!(e, ClientEvent::Reconnecting { .. }),
            Duration::from_secs(5),
        )
        .await;
    let seen = Instant::now();
    assert!(
        matches!(
            lost[0],
            ClientEvent::Disconnect(DisconnectReason::TransportError(_))
        ),
        "{label}: {lost:?}"
    );
    assert_eq!(
        lost[1..],
        [ClientEvent::Reconnecting {
            attempt: 1,
            delay: wait
        }],
        "{label}"
    );
    s.disconnect().await;
    s.wait(PROMPT).await;
    // Well before the wait would have ended (5 s after the event, which came first).
    let stopped = seen.elapsed();
    assert!(
        stopped < Duration::from_secs(3),
        "{label}: stopped after {stopped:?}"
    );
    // With the client still held: no task (the loop is gone: no attempt can follow), no
    // socket, no timer.
    s.probe
        .drained(&format!("{label}, client held"), Duration::from_secs(3))
        .await;
    assert_eq!(
        s.dials_since_disconnect(),
        0,
        "{label}: an attempt was made"
    );
    s.no_event("after disconnect() in the wait").await;
    s.sids(1).await;
    assert_eq!(s.sid(), None, "{label}");
    s.finish().await;
}

/// `disconnect()` during an attempt that hangs (the network back, but carrying nothing:
/// the handshake waits for its answer, up to a 10 s request timeout): it and `wait()`
/// return at once, no `Connect` comes, and nothing is left.
async fn disconnect_during_attempt(flavor: Flavor, base: &Runtime, server: &Server) {
    let label = format!("disconnect during an attempt, {flavor:?}");
    let proxy = Proxy::start(server.port);
    let timeout = Duration::from_secs(10);
    let mut s = Subject::connect_with(
        flavor,
        base,
        quick(),
        Transports::Upgrade,
        &proxy.url(),
        &label,
        timeout,
    )
    .await;
    proxy.down();
    let lost = s
        .until(|e| *e == reconnecting(1), Duration::from_secs(5))
        .await;
    assert_lost(&lost, 1, &label);
    proxy.stall();
    proxy.up();
    // Attempt 1 dials (100 ms later), and its handshake hangs.
    let start = Instant::now();
    while s.dials_since_disconnect() == 0 {
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "{label}: no attempt"
        );
        s.probe.base.timer().sleep(Duration::from_millis(5)).await;
    }
    let dialled = Instant::now();
    s.disconnect().await;
    s.wait(PROMPT).await;
    let stopped = dialled.elapsed();
    assert!(
        stopped < Duration::from_secs(3),
        "{label}: stopped after {stopped:?}"
    );
    s.probe
        .drained(&format!("{label}, client held"), Duration::from_secs(3))
        .await;
    assert_eq!(s.dials_since_disconnect(), 1, "{label}: dials");
    s.no_event("after disconnect() in an attempt").await;
    s.sids(1).await;
    assert_eq!(s.sid(), None, "{label}");
    s.finish().await;
    proxy.resume();
    drop(proxy);
}

/// A timer whose sleeps of one duration (the wait before an attempt) end only when the
/// test says so, and end silently: the task that sleeps is not woken by it, only by
/// whatever else it waits on. `armed` is set once such a sleep has been polled while
/// closed: the task is parked on it, and opening the gate cannot let it through before
/// something else wakes it.
struct GateTimer {
    inner: Arc<dyn Timer>,
    gated: Duration,
    open: Arc<std::sync::atomic::AtomicBool>,
    armed: Arc<std::sync::atomic::AtomicBool>,
}

impl Timer for GateTimer {
    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()> {
        if duration != self.gated {
            return self.inner.sleep(duration);
        }
        let (open, armed) = (self.open.clone(), self.armed.clone());
        Box::pin(std::future::poll_fn(move |_| {
            if open.load(Ordering::SeqCst) {
                std::task::Poll::Ready(())
            } else {
                armed.store(true, Ordering::SeqCst);
                std::task::Poll::Pending
            }
        }))
    }

    fn sleep_until(&self, deadline: Instant) -> BoxFuture<'static, ()> {
        self.inner.sleep_until(deadline)
    }

    fn now(&self) -> Instant {
        self.inner.now()
    }
}

/// `disconnect()` at the moment the wait before an attempt has ended and the reconnection
/// loop has not run yet (on a busy runtime, the time it takes the woken loop to be
/// polled; here made certain by a timer that ends the wait without waking the loop, which
/// `disconnect()` then wakes). The server is up: an attempt would connect. No connection
/// may open once `disconnect()` has returned, and `wait()` must leave the client
/// disconnected. (Found by the reconnecting soak, tests/soak.rs: a client connected after
/// `disconnect()` and `wait()` had returned.)
async fn disconnect_as_the_wait_ends(flavor: Flavor, base: &Runtime) {
    let label = format!("disconnect as the wait ends, {flavor:?}");
    let wait = Duration::from_millis(4321);
    let open = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let armed = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let gated = Runtime::new(
        base.spawner().clone(),
        Arc::new(GateTimer {
            inner: base.timer().clone(),
            gated: wait,
            open: open.clone(),
            armed: armed.clone(),
        }),
        base.dialer().clone(),
    );
    let policy = Reconnect::new()
        .delay(wait)
        .max_delay(wait)
        .randomization(0.0)
        .on_server_disconnect(true);
    let server = Server::start(ServerKind::Node, &ENV);
    let mut s = Subject::connect(
        flavor,
        &gated,
        policy,
        Transports::Polling,
        &server.url(),
        &label,
    )
    .await;
    // The server closes the session; reconnected (`on_server_disconnect`).
    s.send("close").await.unwrap();
    let lost = s
        .until(
            |e| matches!(e, ClientEvent::Reconnecting { .. }),
            Duration::from_secs(5),
        )
        .await;
    assert!(
        matches!(
            lost[..],
            [
                ClientEvent::Disconnect(DisconnectReason::ServerDisconnect(_)),
                ClientEvent::Reconnecting { attempt: 1, delay }
            ] if delay == wait
        ),
        "{label}: {lost:?}"
    );
    // `Reconnecting` is announced just before the wait starts: the gate opens only once
    // the loop is parked on it (opened earlier, the wait would simply end, and the attempt
    // start before `disconnect()`).
    let parked = Instant::now();
    while !armed.load(Ordering::SeqCst) {
        assert!(parked.elapsed() < PROMPT, "{label}: the wait never started");
        base.timer().sleep(Duration::from_millis(1)).await;
    }
    open.store(true, Ordering::SeqCst);
    s.disconnect().await;
    s.wait(PROMPT).await;
    let next = common::next_event(s.eio.aio(), &mut s.events, Duration::from_millis(500)).await;
    assert_eq!(
        (next, s.sid()),
        (None, None),
        "{label}: a connection opened after disconnect() and wait() returned"
    );
    assert_eq!(
        s.dials_since_disconnect(),
        0,
        "{label}: an attempt dialled after disconnect()"
    );
    s.sids(1).await;
    s.finish().await;
}

/// `wait()`, called while the first connection is open (as an application does after
/// `connect()`), returns only once the client has stopped for good and the disconnect
/// handler of its last connection has run: here the connection the loop opened after the
/// server closed the first one (`on_server_disconnect(true)`), ended by `disconnect()`,
/// with a disconnect handler that takes 300 ms.
async fn wait_covers_the_reconnected_connection(flavor: Flavor, base: &Runtime, server: &Server) {
    let label = format!("wait() and a reconnected connection, {flavor:?}");
    let policy = quick().on_server_disconnect(true);
    let mut s = Subject::connect(
        flavor,
        base,
        policy,
        Transports::Polling,
        &server.url(),
        &label,
    )
    .await;
    s.log.disconnect_handler_ms.store(300, Ordering::SeqCst);
    // wait() from elsewhere; what the handlers had done when it returned.
    let (tx, rx) = futures::channel::oneshot::channel::<usize>();
    let log = s.log.clone();
    match &s.eio {
        Eio::Async(eio) => {
            let eio2 = eio.clone();
            drop(eio.start_background_task(async move {
                eio2.wait().await;
                let _ = tx.send(log.disconnect_handlers_done.load(Ordering::SeqCst));
            }));
        }
        Eio::Blocking(eio) => {
            let eio = eio.clone();
            std::thread::spawn(move || {
                eio.wait();
                let _ = tx.send(log.disconnect_handlers_done.load(Ordering::SeqCst));
            });
        }
    }
    s.closed_by_the_server_and_reconnected().await;
    s.disconnect().await;
    let end = s
        .until(|e| matches!(e, ClientEvent::Disconnect(_)), PROMPT)
        .await;
    assert_eq!(
        end,
        [ClientEvent::Disconnect(DisconnectReason::ClientDisconnect)],
        "{label}"
    );
    let done_at_return = within(&s.timer(), PROMPT * 2, &format!("{label}: wait"), rx)
        .await
        .expect("the waiter");
    assert_eq!(
        done_at_return, 2,
        "{label}: disconnect handlers done when wait() returned"
    );
    s.finish().await;
}

/// Three attempts, the server down: each fails, then `ReconnectFailed { attempts: 3 }`,
/// and `wait()` returns.
async fn attempts_exhausted(flavor: Flavor, base: &Runtime) {
    let label = format!("attempts exhausted, {flavor:?}");
    let mut server = Server::start(ServerKind::Node, &ENV);
    let mut s = Subject::connect(
        flavor,
        base,
        quick().attempts(3),
        Transports::Upgrade,
        &server.url(),
        &label,
    )
    .await;

    server.kill();
    let events = s
        .until(
            |e| matches!(e, ClientEvent::ReconnectFailed { .. }),
            Duration::from_secs(5),
        )
        .await;
    let (failed, lost) = events.split_last().unwrap();
    assert_lost(lost, 3, &label);
    assert_eq!(
        failed,
        &ClientEvent::ReconnectFailed { attempts: 3 },
        "{label}"
    );
    s.wait(PROMPT).await;
    // Given up: with the client still held, nothing of it runs any more.
    s.probe
        .drained(&format!("{label}, client held"), Duration::from_secs(3))
        .await;
    assert_eq!(
        s.dials_since_disconnect(),
        3,
        "{label}: one dial per attempt"
    );
    s.no_event("after giving up").await;
    s.sids(1).await;
    let err = s
        .send("too late")
        .await
        .expect_err("a send after giving up");
    assert_eq!(err.kind, SendErrorKind::NotConnected, "{label}");
    s.finish().await;
}

/// The server closes the session: not retried by default, retried (at once: attempt 1
/// connects) with `on_server_disconnect(true)`.
async fn server_disconnect(
    flavor: Flavor,
    base: &Runtime,
    server: &Server,
    transports: Transports,
) {
    let label = format!("server disconnect, {transports:?}, {flavor:?}");
    let mut s = Subject::connect(flavor, base, quick(), transports, &server.url(), &label).await;
    s.send("close").await.unwrap();
    let end = s
        .until(|e| matches!(e, ClientEvent::Disconnect(_)), PROMPT)
        .await;
    assert!(
        matches!(
            end[..],
            [ClientEvent::Disconnect(DisconnectReason::ServerDisconnect(
                _
            ))]
        ),
        "{label}: {end:?}"
    );
    s.wait(PROMPT).await;
    s.no_event("after the server closed the session").await;
    assert_eq!(
        s.dials_since_disconnect(),
        0,
        "{label}: an attempt was made"
    );
    s.sids(1).await;
    s.finish().await;

    let label =
        format!("server disconnect, on_server_disconnect(true), {transports:?}, {flavor:?}");
    let policy = quick().on_server_disconnect(true);
    let mut s = Subject::connect(flavor, base, policy, transports, &server.url(), &label).await;
    let first = s.sid().expect("a sid");
    let events = s.closed_by_the_server_and_reconnected().await;
    assert_eq!(events[1], reconnecting(1), "{label}");
    let second = s.sid().expect("a sid after the reconnect");
    assert_ne!(first, second, "{label}");
    assert_eq!(s.sids(2).await, [Some(first), Some(second)], "{label}");
    s.echo("after").await;
    // A client disconnect is still not retried.
    s.disconnect_and_finish().await;
}

async fn all_cases(flavor: Flavor, base: Runtime) {
    let start = Instant::now();
    let mut last = Instant::now();
    let mut lap = |what: &str| {
        eprintln!("{flavor:?}: {what} in {:?}", last.elapsed());
        last = Instant::now();
    };
    // One transport each (what a restart does to a transport is the same on every
    // runtime), the three covered.
    let transports = match flavor {
        Flavor::Tokio => Transports::Polling,
        Flavor::Smol => Transports::WebSocket,
        Flavor::Blocking => Transports::Upgrade,
    };
    server_restarted(flavor, &base, transports).await;
    lap("restart");
    let server = Server::start(ServerKind::Node, &ENV);
    network_down_then_up(flavor, &base, &server).await;
    lap("down/up");
    disconnect_during_backoff(flavor, &base).await;
    lap("backoff");
    disconnect_during_attempt(flavor, &base, &server).await;
    lap("attempt");
    attempts_exhausted(flavor, &base).await;
    lap("exhausted");
    for transports in [Transports::Polling, Transports::WebSocket] {
        server_disconnect(flavor, &base, &server, transports).await;
        lap("server disconnect");
    }
    eprintln!("{flavor:?}: every case in {:?}", start.elapsed());
}

#[test]
fn on_tokio() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(all_cases(
        Flavor::Tokio,
        engineio::adapters::tokio::runtime(rt.handle().clone()),
    ));
}

#[test]
fn on_smol() {
    smol::block_on(all_cases(Flavor::Smol, engineio::adapters::smol::runtime()));
}

/// The blocking `Client` on its own runtime (the crate's background one). The case runs
/// in smol's `block_on`, which lets the client's methods block inside it (futures'
/// `block_on` does not nest).
#[test]
fn blocking() {
    smol::block_on(all_cases(Flavor::Blocking, Runtime::detached()));
}

/// `disconnect()` as the wait before an attempt ends: see [`disconnect_as_the_wait_ends`].
#[test]
fn disconnect_as_the_wait_ends_on_tokio() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let base = engineio::adapters::tokio::runtime(rt.handle().clone());
    rt.block_on(disconnect_as_the_wait_ends(Flavor::Tokio, &base));
}

#[test]
fn disconnect_as_the_wait_ends_on_smol() {
    let base = engineio::adapters::smol::runtime();
    smol::block_on(disconnect_as_the_wait_ends(Flavor::Smol, &base));
}

#[test]
fn disconnect_as_the_wait_ends_blocking() {
    let base = Runtime::detached();
    smol::block_on(disconnect_as_the_wait_ends(Flavor::Blocking, &base));
}

/// `wait()` and a connection the loop opened: see [`wait_covers_the_reconnected_connection`].
#[test]
fn wait_covers_the_reconnected_connection_on_tokio() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let base = engineio::adapters::tokio::runtime(rt.handle().clone());
    let server = Server::start(ServerKind::Node, &ENV);
    rt.block_on(wait_covers_the_reconnected_connection(
        Flavor::Tokio,
        &base,
        &server,
    ));
}

#[test]
fn wait_covers_the_reconnected_connection_on_smol() {
    let base = engineio::adapters::smol::runtime();
    let server = Server::start(ServerKind::Node, &ENV);
    smol::block_on(wait_covers_the_reconnected_connection(
        Flavor::Smol,
        &base,
        &server,
    ));
}

#[test]
fn wait_covers_the_reconnected_connection_blocking() {
    let base = Runtime::detached();
    let server = Server::start(ServerKind::Node, &ENV);
    smol::block_on(wait_covers_the_reconnected_connection(
        Flavor::Blocking,
        &base,
        &server,
    ));
}
