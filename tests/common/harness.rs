//! A deterministic harness for the whole [`AsyncClient`], one level above the sans-IO
//! session, in the manner of quinn-proto's `Pair`: the client's driver, dispatcher,
//! handlers and event streams run on a single-threaded executor of this module's own,
//! against a scripted Engine.IO server in memory, on a manual clock.
//!
//! - [`Clock`] is the client's `Timer`: it stands still until the harness moves it, and
//!   then jumps to the next deadline that something waits for.
//! - [`ScriptedServer`] is the client's `HttpConnector` and `WebSocketConnector`: it
//!   answers handshakes, long polls, POSTs, probes and upgrades the way node's engine.io
//!   does, pings on the manual clock, echoes messages, and takes orders from the test
//!   (stall the POSTs, stop pinging, refuse the WebSocket, push messages, close).
//!   It also checks the rules a real server enforces (one GET at a time, no ping from the
//!   client, nothing on the probe socket before `5`) and records every breach.
//! - [`Harness::block_on`] runs a test's future and every task until the future is done:
//!   whenever no task can move, the clock jumps to the next deadline; when there is none,
//!   nothing can ever move again and the harness panics (a deadlock). A bound on the
//!   number of polls and of clock jumps catches livelocks.
//!
//! No sockets, no threads, no real sleeps: a test runs in milliseconds and runs the same
//! way every time, whatever the machine is doing.
#![allow(dead_code)]

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bytes::Bytes;
use engineio::connector::{
    ConnectorError, ConnectorErrorKind, HttpConnector, WebSocketConnector, WsConnection, WsMessage,
    join_websocket,
};
use engineio::proto::{Frame, Handshake, Packet, payload};
use engineio::rt::{Runtime, Spawner, Timer};
use engineio::{AsyncClient, ClientBuilder, Payload, TransportKind};
use futures::channel::{mpsc, oneshot};
use futures::future::BoxFuture;
use futures::task::ArcWake;
use futures::{FutureExt, Sink, Stream, StreamExt};

use super::counted::{Counts, counted};

mod net;
pub use net::Network;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

// ----- the clock -----------------------------------------------------------------------

/// A manual clock behind the `Timer` trait: `now` moves only when the harness moves it.
pub struct Clock {
    start: Instant,
    state: Mutex<ClockState>,
}

struct ClockState {
    now: Instant,
    /// Sleeps not yet due; a sleep that was dropped leaves a dead entry, skipped.
    sleepers: Vec<Weak<Sleeper>>,
}

struct Sleeper {
    deadline: Instant,
    fired: AtomicBool,
    waker: Mutex<Option<Waker>>,
}

impl Clock {
    fn new() -> Arc<Clock> {
        let start = Instant::now();
        Arc::new(Clock {
            start,
            state: Mutex::new(ClockState {
                now: start,
                sleepers: Vec::new(),
            }),
        })
    }

    /// The time since the harness started.
    pub fn elapsed(&self) -> Duration {
        self.now() - self.start
    }

    /// The earliest deadline something still waits for.
    fn next_deadline(&self) -> Option<Instant> {
        let mut state = lock(&self.state);
        state.sleepers.retain(|s| s.strong_count() > 0);
        state
            .sleepers
            .iter()
            .filter_map(Weak::upgrade)
            .map(|s| s.deadline)
            .min()
    }

    /// Moves the clock to `to` (never back) and wakes whatever waited until then.
    fn advance_to(&self, to: Instant) {
        let due: Vec<Arc<Sleeper>> = {
            let mut state = lock(&self.state);
            state.now = state.now.max(to);
            let now = state.now;
            let mut due = Vec::new();
            state.sleepers.retain(|s| match s.upgrade() {
                Some(s) if s.deadline <= now => {
                    due.push(s);
                    false
                }
                Some(_) => true,
                None => false,
            });
            due
        };
        for s in due {
            s.fired.store(true, Ordering::SeqCst);
            if let Some(w) = lock(&s.waker).take() {
                w.wake();
            }
        }
    }
}

impl Timer for Clock {
    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()> {
        self.sleep_until(self.now() + duration)
    }

    fn sleep_until(&self, deadline: Instant) -> BoxFuture<'static, ()> {
        let mut state = lock(&self.state);
        let sleeper = Arc::new(Sleeper {
            deadline,
            fired: AtomicBool::new(deadline <= state.now),
            waker: Mutex::new(None),
        });
        if deadline > state.now {
            state.sleepers.push(Arc::downgrade(&sleeper));
        }
        Box::pin(Sleep(sleeper))
    }

    fn now(&self) -> Instant {
        lock(&self.state).now
    }
}

/// A sleep on the manual clock; the clock keeps only a weak reference to it.
struct Sleep(Arc<Sleeper>);

impl Future for Sleep {
    type Output = ();
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        *lock(&self.0.waker) = Some(cx.waker().clone());
        if self.0.fired.load(Ordering::SeqCst) {
            return Poll::Ready(());
        }
        Poll::Pending
    }
}

// ----- the executor --------------------------------------------------------------------

/// A single-threaded executor: tasks run in the order they were woken, one at a time, on
/// the thread that calls [`Harness::block_on`].
struct Exec {
    state: Mutex<ExecState>,
}

#[derive(Default)]
struct ExecState {
    /// Every task ever spawned; `None` once it finished (or while it is being polled).
    tasks: Vec<Option<BoxFuture<'static, ()>>>,
    finished: Vec<bool>,
    queued: Vec<bool>,
    ready: VecDeque<usize>,
}

struct TaskWaker {
    exec: Weak<Exec>,
    id: usize,
}

impl ArcWake for TaskWaker {
    fn wake_by_ref(arc_self: &Arc<Self>) {
        if let Some(exec) = arc_self.exec.upgrade() {
            exec.schedule(arc_self.id);
        }
    }
}

impl Exec {
    fn schedule(&self, id: usize) {
        let mut s = lock(&self.state);
        if !s.finished[id] && !s.queued[id] {
            s.queued[id] = true;
            s.ready.push_back(id);
        }
    }

    /// Polls the next ready task; returns whether there was one.
    fn run_one(self: &Arc<Self>) -> bool {
        let (id, mut task) = {
            let mut s = lock(&self.state);
            let Some(id) = s.ready.pop_front() else {
                return false;
            };
            s.queued[id] = false;
            match s.tasks[id].take() {
                Some(t) => (id, t),
                // Being polled further up the stack cannot happen on one thread; a task
                // that finished is not queued.
                None => return true,
            }
        };
        let waker = futures::task::waker(Arc::new(TaskWaker {
            exec: Arc::downgrade(self),
            id,
        }));
        let done = task
            .as_mut()
            .poll(&mut Context::from_waker(&waker))
            .is_ready();
        let mut s = lock(&self.state);
        if done {
            s.finished[id] = true;
        } else {
            s.tasks[id] = Some(task);
        }
        true
    }

    fn live(&self) -> usize {
        lock(&self.state).finished.iter().filter(|f| !**f).count()
    }
}

impl Spawner for Exec {
    fn spawn(&self, task: BoxFuture<'static, ()>) {
        let mut s = lock(&self.state);
        let id = s.tasks.len();
        s.tasks.push(Some(task));
        s.finished.push(false);
        s.queued.push(true);
        s.ready.push_back(id);
    }
}

// ----- the harness ---------------------------------------------------------------------

/// The most times one `block_on` may poll a task: past it, something is spinning.
const MAX_POLLS: usize = 2_000_000;
/// The most clock jumps in one `block_on`: past it, time runs on with nothing to show.
const MAX_JUMPS: usize = 100_000;

/// A client world in memory: an executor, a manual clock and a scripted server.
pub struct Harness {
    exec: Arc<Exec>,
    clock: Arc<Clock>,
    /// The scripted server the client's connectors talk to.
    pub server: ScriptedServer,
    runtime: Runtime,
    counts: Counts,
    network: Arc<Network>,
    idle: Arc<Mutex<Vec<IdleWaiter>>>,
}

impl Harness {
    /// A harness whose server has `config`.
    pub fn new(config: ServerConfig) -> Harness {
        let exec = Arc::new(Exec {
            state: Mutex::new(ExecState::default()),
        });
        let clock = Clock::new();
        let server = ScriptedServer::new(config, exec.clone(), clock.clone());
        let network = Network::new(exec.clone(), server.clone());
        let base = Runtime::new(exec.clone(), clock.clone(), network.clone());
        let (runtime, counts) = counted(&base);
        Harness {
            exec,
            clock,
            server,
            runtime,
            counts,
            network,
            idle: Arc::default(),
        }
    }

    /// A builder for a client of this harness: its runtime, the server's connectors, and
    /// logging off (the harness runs many clients).
    pub fn builder(&self) -> ClientBuilder {
        AsyncClient::builder()
            .runtime(self.runtime.clone())
            .http_connector(self.server.clone())
            .websocket_connector(self.server.clone())
    }

    /// A builder for a client that uses its own connectors (hyper's HTTP/1.1 with its
    /// pool, the WebSocket handshake and tungstenite) over the harness's in-memory
    /// [`Network`], which the scripted server answers on the other end.
    pub fn wire_builder(&self) -> ClientBuilder {
        AsyncClient::builder().runtime(self.runtime.clone())
    }

    /// The in-memory network under [`wire_builder`](Self::wire_builder)'s clients.
    pub fn network(&self) -> &Network {
        &self.network
    }

    /// A client with default options.
    pub fn client(&self) -> AsyncClient {
        self.builder().build().expect("build")
    }

    /// The URL of the scripted server.
    pub fn url(&self) -> &'static str {
        "http://harness.test"
    }

    /// The time on the manual clock since the harness started.
    pub fn elapsed(&self) -> Duration {
        self.clock.elapsed()
    }

    /// The current time on the manual clock.
    pub fn now(&self) -> Instant {
        self.clock.now()
    }

    /// Tasks the client spawned that have not finished.
    pub fn client_tasks(&self) -> usize {
        self.counts.tasks()
    }

    /// Tasks the client has spawned so far, finished or not.
    pub fn client_spawns(&self) -> usize {
        self.counts.spawned()
    }

    /// Every task on the executor that has not finished (the server's included).
    pub fn live_tasks(&self) -> usize {
        self.exec.live()
    }

    /// Runs `fut`, and every task beside it, until `fut` is done; see the module docs.
    pub fn block_on<F: Future>(&self, fut: F) -> F::Output {
        self.drive_bounded(fut, MAX_POLLS, MAX_JUMPS)
    }

    /// Runs every task until none can move, without moving the clock.
    pub fn settle(&self) {
        let mut polls = 0;
        while self.exec.run_one() {
            polls += 1;
            assert!(
                polls < MAX_POLLS,
                "livelock: {polls} polls without settling"
            );
        }
    }

    /// [`block_on`](Self::block_on) with bounds of its own: at most `max_polls` task polls
    /// and `max_jumps` clock jumps.
    pub fn drive_bounded<F: Future>(
        &self,
        fut: F,
        max_polls: usize,
        max_jumps: usize,
    ) -> F::Output {
        let mut fut = std::pin::pin!(fut);
        let woken = Arc::new(MainWaker(AtomicBool::new(true)));
        let waker = futures::task::waker(woken.clone());
        let (mut polls, mut jumps) = (0usize, 0usize);
        loop {
            if woken.0.swap(false, Ordering::SeqCst) {
                if let Poll::Ready(out) = fut.as_mut().poll(&mut Context::from_waker(&waker)) {
                    return out;
                }
                continue;
            }
            if self.exec.run_one() {
                polls += 1;
                assert!(
                    polls < max_polls,
                    "livelock: {polls} polls at {:?} without the test's future finishing",
                    self.elapsed()
                );
                continue;
            }
            if self.wake_idle() {
                continue;
            }
            // Nothing can move now: jump to the next deadline.
            let Some(next) = self.clock.next_deadline() else {
                panic!(
                    "deadlock at {:?}: the test's future waits, and no task and no timer can move",
                    self.elapsed()
                );
            };
            jumps += 1;
            assert!(
                jumps < max_jumps,
                "livelock: {jumps} clock jumps (now {:?}) without the test's future finishing",
                self.elapsed()
            );
            self.clock.advance_to(next);
        }
    }

    /// A future that completes once nothing else can move without the clock moving: every
    /// task has done what it can. The clock does not move for it.
    pub fn idle(&self) -> impl Future<Output = ()> + 'static {
        let waiters = self.idle.clone();
        let fired = Arc::new(AtomicBool::new(false));
        futures::future::poll_fn(move |cx| {
            if fired.load(Ordering::SeqCst) {
                return Poll::Ready(());
            }
            lock(&waiters).push((fired.clone(), cx.waker().clone()));
            Poll::Pending
        })
    }

    /// Wakes the `idle` futures; returns whether there were any.
    fn wake_idle(&self) -> bool {
        let waiters = std::mem::take(&mut *lock(&self.idle));
        let any = !waiters.is_empty();
        for (fired, waker) in waiters {
            fired.store(true, Ordering::SeqCst);
            waker.wake();
        }
        any
    }

    /// Moves the clock by `d`, running everything that becomes due on the way.
    pub fn advance(&self, d: Duration) {
        let clock = self.clock.clone();
        self.block_on(async move { clock.sleep(d).await });
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        // The tasks hold the server, which holds the executor: break the cycle.
        let tasks = std::mem::take(&mut lock(&self.exec.state).tasks);
        drop(tasks);
    }
}

/// An `idle` future: its flag, set when it may complete, and its waker.
type IdleWaiter = (Arc<AtomicBool>, Waker);

struct MainWaker(AtomicBool);

impl ArcWake for MainWaker {
    fn wake_by_ref(arc_self: &Arc<Self>) {
        arc_self.0.store(true, Ordering::SeqCst);
    }
}

// ----- the scripted server -------------------------------------------------------------

/// How the scripted server behaves.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    /// The ping interval it announces and keeps.
    pub ping_interval: Duration,
    /// The ping timeout it announces and keeps.
    pub ping_timeout: Duration,
    /// Whether it offers the upgrade to WebSocket.
    pub upgrades: bool,
    /// The `maxPayload` it announces.
    pub max_payload: Option<u64>,
    /// Whether it echoes each message it receives.
    pub echo: bool,
    /// The most packets in one poll response (node sends everything it has).
    pub max_per_poll: usize,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            ping_interval: Duration::from_secs(25),
            ping_timeout: Duration::from_secs(20),
            upgrades: true,
            max_payload: Some(1_000_000),
            echo: true,
            max_per_poll: usize::MAX,
        }
    }
}

type HttpReply = Result<http::Response<Bytes>, ConnectorError>;

/// What a gateway answers when the server behind it is gone (`fail_polls`).
const GATEWAY_PAGE: &str = "<html><body><h1>Bad Gateway</h1></body></html>";
type WsTx = mpsc::UnboundedSender<Result<WsMessage, ConnectorError>>;

/// The scripted Engine.IO server: the harness client's HTTP and WebSocket connectors.
/// Cheap to clone.
#[derive(Clone)]
pub struct ScriptedServer {
    shared: Arc<ServerShared>,
}

struct ServerShared {
    exec: Arc<Exec>,
    clock: Arc<Clock>,
    state: Mutex<ServerState>,
}

#[derive(Default)]
struct ServerState {
    config: Option<ServerConfig>,
    sessions: Vec<SessionState>,
    /// Every request, in order, as `"<time in ms> <what>"`.
    log: Vec<String>,
    /// Rules of the protocol the client broke, in the order seen.
    violations: Vec<String>,
    stall_handshake: bool,
    /// Polling handshakes are answered with this status and body (`refuse_handshake`).
    refuse_handshake: Option<(u16, String)>,
    stall_posts: bool,
    held_posts: Vec<(oneshot::Sender<HttpReply>, String, Bytes)>,
    held_handshakes: Vec<oneshot::Sender<HttpReply>>,
    silent: bool,
    refuse_websocket: Option<u16>,
    /// How long a WebSocket handshake takes.
    websocket_delay: Option<Duration>,
    /// WebSocket handshakes are held unanswered (`hang_websocket`).
    hang_websocket: bool,
    /// The held WebSocket handshakes: each goes on when its sender fires.
    held_websockets: Vec<oneshot::Sender<()>>,
    /// The client's frames wait: its WebSocket sink is not ready.
    stall_ws_writes: bool,
    ws_write_waiters: Vec<Waker>,
    /// When each connection attempt arrived (a polling handshake, or a WebSocket opened
    /// without a sid), to the nanosecond on the manual clock.
    attempts_at: Vec<Duration>,
}

/// What the server knows of one session.
struct SessionState {
    sid: String,
    open: bool,
    /// The session moved to WebSocket (`5` received).
    upgraded: bool,
    /// `2probe` came on a WebSocket and `5` has not yet.
    probing: bool,
    /// Every packet from the client, with the transport it came on.
    inbox: Vec<(TransportKind, Packet)>,
    outbox: VecDeque<Packet>,
    poll: Option<oneshot::Sender<HttpReply>>,
    ws: Option<WsTx>,
    /// Frames sent on the WebSocket that the client has not read yet.
    ws_unread: Arc<std::sync::atomic::AtomicUsize>,
    pings: usize,
    pongs: usize,
    gets: usize,
    posts: usize,
    /// The server restarted since this session opened: it no longer knows the sid.
    forgotten: bool,
    /// A gateway in front of the server answers this session's polls and POSTs with this
    /// status (`fail_polls`).
    failing: Option<u16>,
}

impl SessionState {
    fn received(&self) -> Vec<Payload> {
        self.inbox
            .iter()
            .filter_map(|(_, p)| match p {
                Packet::Message(m) => Some(m.clone()),
                _ => None,
            })
            .collect()
    }
}

fn response(status: u16, body: impl Into<Bytes>) -> HttpReply {
    let mut resp = http::Response::new(body.into());
    *resp.status_mut() = http::StatusCode::from_u16(status).expect("status");
    Ok(resp)
}

fn query_param(uri: &http::Uri, key: &str) -> Option<String> {
    uri.query()?.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=')?;
        (k == key).then(|| v.to_owned())
    })
}

impl ScriptedServer {
    fn new(config: ServerConfig, exec: Arc<Exec>, clock: Arc<Clock>) -> ScriptedServer {
        ScriptedServer {
            shared: Arc::new(ServerShared {
                exec,
                clock,
                state: Mutex::new(ServerState {
                    config: Some(config),
                    ..ServerState::default()
                }),
            }),
        }
    }

    fn state(&self) -> MutexGuard<'_, ServerState> {
        lock(&self.shared.state)
    }

    fn ms(&self) -> u128 {
        self.shared.clock.elapsed().as_millis()
    }

    // ----- orders from the test ----------------------------------------------------------

    /// Holds every POST unanswered (and unread) from now on; `false` answers the held
    /// ones, in order, and stops holding.
    pub fn stall_posts(&self, on: bool) {
        let held = {
            let mut s = self.state();
            s.stall_posts = on;
            if on {
                return;
            }
            std::mem::take(&mut s.held_posts)
        };
        for (tx, uri, body) in held {
            let reply = self.post(&uri, body);
            let _ = tx.send(reply);
        }
    }

    /// Holds handshakes unanswered.
    pub fn stall_handshake(&self, on: bool) {
        let held = {
            let mut s = self.state();
            s.stall_handshake = on;
            if on {
                return;
            }
            std::mem::take(&mut s.held_handshakes)
        };
        for tx in held {
            let (_, body) = self.handshake(false);
            let _ = tx.send(response(200, body));
        }
    }

    /// Answers every polling handshake (a GET without a sid) with `status` and `body`
    /// from now on: the Engine.IO server's own refusal with a body such as
    /// `{"code":4,"message":"Forbidden"}`, or a proxy's with an empty or HTML one.
    /// WebSocket opens and the requests of open sessions are not affected.
    pub fn refuse_handshake(&self, status: u16, body: &str) {
        self.state().refuse_handshake = Some((status, body.to_owned()));
    }

    /// Answers polling handshakes again: undoes [`refuse_handshake`](Self::refuse_handshake).
    pub fn accept_handshake(&self) {
        self.state().refuse_handshake = None;
    }

    /// Stops pinging (as a server behind a stalled network seems to).
    pub fn silence(&self) {
        self.state().silent = true;
    }

    /// Refuses every WebSocket handshake with `status`.
    pub fn refuse_websocket(&self, status: u16) {
        self.state().refuse_websocket = Some(status);
    }

    /// Answers WebSocket handshakes again: undoes [`refuse_websocket`](Self::refuse_websocket).
    pub fn accept_websocket(&self) {
        self.state().refuse_websocket = None;
    }

    /// Holds every WebSocket handshake from now on unanswered, for as long as the client
    /// waits (a server or proxy that swallows the upgrade request: only the client's own
    /// timeout ends the wait). `false` stops holding and lets the held handshakes the
    /// client still waits for go on, answered as usual. Polling is not affected.
    pub fn hang_websocket(&self, on: bool) {
        let held = {
            let mut s = self.state();
            s.hang_websocket = on;
            if on {
                return;
            }
            std::mem::take(&mut s.held_websockets)
        };
        for tx in held {
            let _ = tx.send(());
        }
    }

    /// How many WebSocket handshakes are held unanswered now (see
    /// [`hang_websocket`](Self::hang_websocket)) and still awaited by the client.
    pub fn held_websockets(&self) -> usize {
        let mut s = self.state();
        s.held_websockets.retain(|tx| !tx.is_canceled());
        s.held_websockets.len()
    }

    /// How many polling handshakes are held unanswered now (see
    /// [`stall_handshake`](Self::stall_handshake)) and still awaited by the client.
    pub fn held_handshakes(&self) -> usize {
        let s = self.state();
        s.held_handshakes
            .iter()
            .filter(|tx| !tx.is_canceled())
            .count()
    }

    /// Every WebSocket handshake takes `d` from now on.
    pub fn delay_websocket(&self, d: Duration) {
        self.state().websocket_delay = Some(d);
    }

    /// The client's WebSocket sink stops taking frames (`true`) or takes them again.
    pub fn stall_ws_writes(&self, on: bool) {
        let waiters = {
            let mut s = self.state();
            s.stall_ws_writes = on;
            std::mem::take(&mut s.ws_write_waiters)
        };
        for w in waiters {
            w.wake();
        }
    }

    /// Sends a message to the client on the latest session.
    pub fn send(&self, data: impl Into<Payload>) {
        let mut s = self.state();
        let max = s.config.as_ref().map_or(usize::MAX, |c| c.max_per_poll);
        let session = s.sessions.last_mut().expect("no session");
        session.outbox.push_back(Packet::Message(data.into()));
        flush(session, max);
    }

    /// Closes the latest session from the server's side, with a close packet.
    pub fn close(&self) {
        let mut s = self.state();
        let max = s.config.as_ref().map_or(usize::MAX, |c| c.max_per_poll);
        let session = s.sessions.last_mut().expect("no session");
        session.outbox.push_back(Packet::Close);
        flush(session, max);
        session.open = false;
    }

    /// Closes the latest session's WebSocket with a close frame.
    pub fn close_websocket(&self, code: u16) {
        let mut s = self.state();
        let session = s.sessions.last_mut().expect("no session");
        session.open = false;
        if let Some(ws) = session.ws.take() {
            let _ = ws.unbounded_send(Ok(WsMessage::Close {
                code,
                reason: String::new(),
            }));
        }
    }

    /// Resumes pinging after [`silence`](Self::silence), on every open session.
    pub fn unsilence(&self) {
        self.state().silent = false;
    }

    /// The server restarts: it forgets every session. From now on their polls and POSTs
    /// are answered with 400 `{"code":1,"message":"Session ID unknown"}` (what node
    /// answers a sid it does not know), and so is the poll pending now, at once; their
    /// WebSockets end without a close frame; nobody pings them. New sessions open as usual
    /// (their sids go on from the old ones).
    pub fn restart(&self) {
        let mut s = self.state();
        for session in &mut s.sessions {
            session.forgotten = true;
            session.open = false;
            session.ws = None;
            if let Some(poll) = session.poll.take() {
                let _ = poll.send(response(
                    400,
                    r#"{"code":1,"message":"Session ID unknown"}"#,
                ));
            }
        }
    }

    /// A gateway in front of the server fails: every poll and POST of the sessions that
    /// exist now is answered with `status` (502, 503, 504) and an HTML page from now on,
    /// and so is the poll pending now, at once. Sessions opened later are not affected.
    pub fn fail_polls(&self, status: u16) {
        let mut s = self.state();
        for session in &mut s.sessions {
            session.failing = Some(status);
            if let Some(poll) = session.poll.take() {
                let _ = poll.send(response(status, GATEWAY_PAGE));
            }
        }
    }

    // ----- what the server saw -----------------------------------------------------------

    /// When each connection attempt arrived, in order, on the manual clock since the
    /// harness started (exact, unlike the log's milliseconds): every polling handshake
    /// (a GET without a sid) and every WebSocket opened without a sid, refused or held
    /// ones included.
    pub fn attempts_at(&self) -> Vec<Duration> {
        self.state().attempts_at.clone()
    }

    /// How many sessions were opened.
    pub fn sessions(&self) -> usize {
        self.state().sessions.len()
    }

    /// The sid of session `i` (0 is the first).
    pub fn sid(&self, i: usize) -> String {
        self.state().sessions[i].sid.clone()
    }

    /// The messages session `i` received, in order.
    pub fn received(&self, i: usize) -> Vec<Payload> {
        self.state().sessions[i].received()
    }

    /// The messages the latest session received, in order.
    pub fn received_last(&self) -> Vec<Payload> {
        self.state()
            .sessions
            .last()
            .map(SessionState::received)
            .unwrap_or_default()
    }

    /// Every packet the latest session received, with its transport.
    pub fn inbox(&self) -> Vec<(TransportKind, Packet)> {
        self.state()
            .sessions
            .last()
            .map(|s| s.inbox.clone())
            .unwrap_or_default()
    }

    /// How many GETs (polls, the handshake included) the latest session had.
    pub fn gets(&self) -> usize {
        self.state().sessions.last().map_or(0, |s| s.gets)
    }

    /// How many POSTs the latest session had (held ones included).
    pub fn posts(&self) -> usize {
        self.state().sessions.last().map_or(0, |s| s.posts)
    }

    /// Pings sent and pongs received on the latest session.
    pub fn heartbeats(&self) -> (usize, usize) {
        self.state()
            .sessions
            .last()
            .map_or((0, 0), |s| (s.pings, s.pongs))
    }

    /// Packets waiting for the client on the latest session: in the outbox, and sent on
    /// the WebSocket but not read.
    pub fn undelivered(&self) -> usize {
        self.state()
            .sessions
            .last()
            .map_or(0, |s| s.outbox.len() + s.ws_unread.load(Ordering::SeqCst))
    }

    /// Whether the latest session is upgraded to WebSocket.
    pub fn upgraded(&self) -> bool {
        self.state().sessions.last().is_some_and(|s| s.upgraded)
    }

    /// Whether the latest session is still open on the server.
    pub fn is_open(&self) -> bool {
        self.state().sessions.last().is_some_and(|s| s.open)
    }

    /// Every request so far, `"<ms> <what>"`.
    pub fn log(&self) -> Vec<String> {
        self.state().log.clone()
    }

    /// The bodies of every POST, in order.
    pub fn post_bodies(&self) -> Vec<String> {
        self.state()
            .log
            .iter()
            .filter_map(|l| l.split_once(" POST ").map(|(_, b)| b.to_owned()))
            .collect()
    }

    /// Panics if the client broke a rule a real server enforces.
    pub fn assert_no_violations(&self) {
        let v = self.state().violations.clone();
        assert!(v.is_empty(), "the client broke the protocol: {v:#?}");
    }

    // ----- the protocol --------------------------------------------------------------

    fn config(&self) -> ServerConfig {
        self.state().config.clone().expect("config")
    }

    fn handshake(&self, websocket: bool) -> (String, String) {
        let config = self.config();
        let mut s = self.state();
        let sid = format!("sid{}", s.sessions.len());
        let handshake = Handshake {
            sid: sid.clone(),
            upgrades: if config.upgrades && !websocket {
                vec!["websocket".into()]
            } else {
                Vec::new()
            },
            ping_interval: config.ping_interval,
            ping_timeout: config.ping_timeout,
            max_payload: config.max_payload,
        };
        s.sessions.push(SessionState {
            sid: sid.clone(),
            open: true,
            upgraded: websocket,
            probing: false,
            inbox: Vec::new(),
            outbox: VecDeque::new(),
            poll: None,
            ws: None,
            ws_unread: Arc::default(),
            pings: 0,
            pongs: 0,
            gets: 1,
            posts: 0,
            forgotten: false,
            failing: None,
        });
        drop(s);
        self.start_pinging(sid.clone(), config.ping_interval);
        (sid, format!("0{}", handshake.to_json()))
    }

    /// The server's heartbeat: a ping every interval while the session is open.
    fn start_pinging(&self, sid: String, interval: Duration) {
        let weak = Arc::downgrade(&self.shared);
        let clock = self.shared.clock.clone();
        self.shared.exec.spawn(Box::pin(async move {
            loop {
                clock.sleep(interval).await;
                let Some(shared) = weak.upgrade() else { return };
                let mut s = lock(&shared.state);
                let silent = s.silent;
                let max = s.config.as_ref().map_or(usize::MAX, |c| c.max_per_poll);
                let Some(session) = s.sessions.iter_mut().find(|x| x.sid == sid) else {
                    return;
                };
                if !session.open {
                    return;
                }
                if !silent {
                    session.pings += 1;
                    session.outbox.push_back(Packet::Ping("".into()));
                    flush(session, max);
                }
            }
        }));
    }

    fn get(&self, uri: &http::Uri) -> BoxFuture<'static, HttpReply> {
        let Some(sid) = query_param(uri, "sid") else {
            let mut s = self.state();
            if let Some((status, body)) = s.refuse_handshake.clone() {
                return Box::pin(futures::future::ready(response(status, body)));
            }
            if s.stall_handshake {
                let (tx, rx) = oneshot::channel();
                s.held_handshakes.push(tx);
                return Box::pin(rx.map(|r| r.unwrap_or_else(|_| response(500, "gone"))));
            }
            drop(s);
            let (_, body) = self.handshake(false);
            return Box::pin(futures::future::ready(response(200, body)));
        };
        let mut s = self.state();
        let max = s.config.as_ref().map_or(usize::MAX, |c| c.max_per_poll);
        let mut violation = None;
        let reply = match s.sessions.iter_mut().find(|x| x.sid == sid) {
            None
            | Some(SessionState {
                forgotten: true, ..
            }) => response(400, r#"{"code":1,"message":"Session ID unknown"}"#),
            Some(SessionState {
                failing: Some(status),
                ..
            }) => response(*status, GATEWAY_PAGE),
            Some(session) if !session.open || session.upgraded => {
                response(400, r#"{"code":3,"message":"Bad request"}"#)
            }
            Some(session) => {
                session.gets += 1;
                if session.poll.is_some() {
                    // What node does with a second concurrent GET: 400, and the session
                    // is closed (the first GET returns a close packet).
                    violation = Some(format!("a second GET while one is pending ({sid})"));
                    session.open = false;
                    if let Some(first) = session.poll.take() {
                        let _ = first.send(response(200, "1"));
                    }
                    response(400, r#"{"code":3,"message":"Bad request"}"#)
                } else if session.probing {
                    response(200, "6")
                } else {
                    let (tx, rx) = oneshot::channel();
                    session.poll = Some(tx);
                    flush(session, max);
                    drop(s);
                    return Box::pin(rx.map(|r| r.unwrap_or_else(|_| response(500, "gone"))));
                }
            }
        };
        s.violations.extend(violation);
        Box::pin(futures::future::ready(reply))
    }

    fn post(&self, uri: &str, body: Bytes) -> HttpReply {
        let uri: http::Uri = uri.parse().expect("uri");
        let Some(sid) = query_param(&uri, "sid") else {
            return response(400, r#"{"code":3,"message":"Bad request"}"#);
        };
        let packets: Result<Vec<Packet>, _> = payload::decode(body).collect();
        let mut s = self.state();
        let echo = s.config.as_ref().is_some_and(|c| c.echo);
        let max = s.config.as_ref().map_or(usize::MAX, |c| c.max_per_poll);
        let Some(session) = s.sessions.iter_mut().find(|x| x.sid == sid) else {
            return response(400, r#"{"code":1,"message":"Session ID unknown"}"#);
        };
        if let Some(status) = session.failing {
            return response(status, GATEWAY_PAGE);
        }
        if !session.open || session.upgraded || session.forgotten {
            return response(400, r#"{"code":1,"message":"Session ID unknown"}"#);
        }
        let Ok(packets) = packets else {
            session.open = false;
            return response(400, r#"{"code":3,"message":"Bad request"}"#);
        };
        let mut violations = Vec::new();
        for p in packets {
            client_packet(session, TransportKind::Polling, p, echo, &mut violations);
        }
        flush(session, max);
        s.violations.extend(violations);
        response(200, "ok")
    }

    fn ws_connect(&self, uri: &http::Uri) -> Result<WsConnection, ConnectorError> {
        if let Some(status) = self.state().refuse_websocket {
            return Err(ConnectorError::new(
                ConnectorErrorKind::HttpStatus(status),
                format!("opening {uri}"),
                None,
            ));
        }
        let (tx, rx) = mpsc::unbounded();
        let sid = match query_param(uri, "sid") {
            None => {
                let (sid, open) = self.handshake(true);
                let _ = tx.unbounded_send(Ok(WsMessage::Data(Frame::Text(open.into()))));
                sid
            }
            Some(sid) => sid,
        };
        let mut s = self.state();
        let Some(session) = s.sessions.iter_mut().find(|x| x.sid == sid && !x.forgotten) else {
            return Err(ConnectorError::new(
                ConnectorErrorKind::HttpStatus(400),
                format!("opening {uri}"),
                None,
            ));
        };
        let unread = session.ws_unread.clone();
        if query_param(uri, "sid").is_none() {
            unread.fetch_add(1, Ordering::SeqCst);
        }
        session.ws = Some(tx);
        let stream = rx.inspect(move |_| {
            unread.fetch_sub(1, Ordering::SeqCst);
        });
        let sink = ServerSink {
            server: self.clone(),
            sid,
        };
        Ok(join_websocket(sink, stream))
    }

    /// A frame from the client's WebSocket.
    fn ws_frame(&self, sid: &str, msg: WsMessage) {
        let mut s = self.state();
        let echo = s.config.as_ref().is_some_and(|c| c.echo);
        let max = s.config.as_ref().map_or(usize::MAX, |c| c.max_per_poll);
        let Some(session) = s.sessions.iter_mut().find(|x| x.sid == sid) else {
            return;
        };
        let frame = match msg {
            WsMessage::Close { .. } => {
                session.ws = None;
                if session.upgraded {
                    session.open = false;
                }
                return;
            }
            WsMessage::Data(frame) => frame,
        };
        let mut violations = Vec::new();
        match Packet::decode_frame(frame) {
            Ok(Packet::Ping(d)) if d.as_str() == "probe" && !session.upgraded => {
                session.probing = true;
                send_ws(session, &Packet::Pong("probe".into()));
                // What node does with a pending poll when the probe arrives.
                if let Some(poll) = session.poll.take() {
                    let _ = poll.send(response(200, "6"));
                }
            }
            Ok(Packet::Upgrade) if session.probing => {
                session.probing = false;
                session.upgraded = true;
                flush(session, max);
            }
            Ok(p) if session.upgraded => {
                client_packet(session, TransportKind::WebSocket, p, echo, &mut violations);
                flush(session, max);
            }
            Ok(p) => violations.push(format!("{p:?} on the probe WebSocket before `5`")),
            Err(e) => violations.push(format!("an undecodable frame: {e}")),
        }
        s.violations.extend(violations);
    }
}

/// Delivers what waits in the outbox: on the WebSocket once upgraded, else to the
/// pending poll.
fn flush(session: &mut SessionState, max_per_poll: usize) {
    if session.outbox.is_empty() {
        return;
    }
    if session.upgraded {
        while let Some(p) = session.outbox.pop_front() {
            send_ws(session, &p);
        }
        return;
    }
    if session.probing {
        return;
    }
    if let Some(poll) = session.poll.take() {
        let n = session.outbox.len().min(max_per_poll);
        let body = payload::encode(session.outbox.range(..n));
        session.outbox.drain(..n);
        let _ = poll.send(response(200, body));
    }
}

fn send_ws(session: &mut SessionState, p: &Packet) {
    if let Some(ws) = &session.ws {
        session.ws_unread.fetch_add(1, Ordering::SeqCst);
        if ws
            .unbounded_send(Ok(WsMessage::Data(p.encode_frame(false))))
            .is_err()
        {
            session.ws_unread.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

/// A packet from the client, on an open session.
fn client_packet(
    session: &mut SessionState,
    transport: TransportKind,
    p: Packet,
    echo: bool,
    violations: &mut Vec<String>,
) {
    match &p {
        Packet::Pong(_) => session.pongs += 1,
        Packet::Ping(_) => violations.push(format!("a ping from the client over {transport:?}")),
        Packet::Message(m) if echo => session.outbox.push_back(Packet::Message(m.clone())),
        Packet::Close => {
            session.open = false;
            if let Some(poll) = session.poll.take() {
                let _ = poll.send(response(200, "6"));
            }
        }
        Packet::Upgrade => violations.push(format!("`5` over {transport:?}")),
        _ => {}
    }
    session.inbox.push((transport, p));
}

#[async_trait]
impl HttpConnector for ScriptedServer {
    async fn request(
        &self,
        request: http::Request<Bytes>,
        max_body: usize,
    ) -> Result<http::Response<Bytes>, ConnectorError> {
        let uri = request.uri().clone();
        let reply = if request.method() == http::Method::GET {
            let what = if query_param(&uri, "sid").is_some() {
                "poll"
            } else {
                "handshake"
            };
            let line = format!("{} GET {what}", self.ms());
            let at = self.shared.clock.elapsed();
            {
                let mut s = self.state();
                s.log.push(line);
                if what == "handshake" {
                    s.attempts_at.push(at);
                }
            }
            self.get(&uri).await
        } else {
            let body = request.into_body();
            let line = format!("{} POST {}", self.ms(), String::from_utf8_lossy(&body));
            let held = {
                let mut s = self.state();
                s.log.push(line);
                let sid = query_param(&uri, "sid");
                if let Some(session) = s.sessions.iter_mut().find(|x| Some(&x.sid) == sid.as_ref())
                {
                    session.posts += 1;
                }
                if s.stall_posts {
                    let (tx, rx) = oneshot::channel();
                    s.held_posts.push((tx, uri.to_string(), body.clone()));
                    Some(rx)
                } else {
                    None
                }
            };
            match held {
                Some(rx) => rx.await.unwrap_or_else(|_| response(500, "gone")),
                None => self.post(&uri.to_string(), body),
            }
        };
        if let Ok(resp) = &reply {
            if resp.body().len() > max_body {
                return Err(ConnectorError::new(ConnectorErrorKind::TooLarge, "", None));
            }
        }
        reply
    }
}

#[async_trait]
impl WebSocketConnector for ScriptedServer {
    async fn connect(
        &self,
        request: http::Request<()>,
        _max_message: usize,
    ) -> Result<WsConnection, ConnectorError> {
        let line = format!("{} WS {}", self.ms(), request.uri().query().unwrap_or(""));
        let opening = query_param(request.uri(), "sid").is_none();
        let at = self.shared.clock.elapsed();
        let held = {
            let mut s = self.state();
            s.log.push(line);
            if opening {
                s.attempts_at.push(at);
            }
            s.hang_websocket.then(|| {
                let (tx, rx) = oneshot::channel();
                s.held_websockets.push(tx);
                rx
            })
        };
        if let Some(rx) = held {
            if rx.await.is_err() {
                return Err(ConnectorError::new(
                    ConnectorErrorKind::Io,
                    "the harness is gone",
                    None,
                ));
            }
        }
        let delay = self.state().websocket_delay;
        if let Some(d) = delay {
            self.shared.clock.sleep(d).await;
        }
        self.ws_connect(request.uri())
    }
}

/// The client's sending half of a scripted WebSocket.
struct ServerSink {
    server: ScriptedServer,
    sid: String,
}

impl Sink<WsMessage> for ServerSink {
    type Error = ConnectorError;

    fn poll_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), ConnectorError>> {
        let mut s = self.server.state();
        if s.stall_ws_writes {
            s.ws_write_waiters.push(cx.waker().clone());
            return Poll::Pending;
        }
        Poll::Ready(Ok(()))
    }

    fn start_send(self: Pin<&mut Self>, item: WsMessage) -> Result<(), ConnectorError> {
        self.server.ws_frame(&self.sid, item);
        Ok(())
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), ConnectorError>> {
        self.poll_ready(cx)
    }

    fn poll_close(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Result<(), ConnectorError>> {
        let ready = self.as_mut().poll_ready(cx);
        if ready.is_ready() {
            self.server.ws_frame(
                &self.sid,
                WsMessage::Close {
                    code: 1000,
                    reason: String::new(),
                },
            );
        }
        ready
    }
}

/// Events of a stream until `pred` holds for one, which is returned.
pub async fn next_event<S: Stream<Item = engineio::ClientEvent> + Unpin>(
    events: &mut S,
    mut pred: impl FnMut(&engineio::ClientEvent) -> bool,
) -> engineio::ClientEvent {
    loop {
        let ev = events.next().await.expect("the event stream ended");
        if pred(&ev) {
            return ev;
        }
    }
}
