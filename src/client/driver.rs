//! The driver: the one task that runs a connection's [`Session`] over the connectors.
//!
//! It shares the session with the client's handles behind the client's one lock, in the
//! manner of quinn's connection driver: a handle locks, calls into the session and wakes
//! the driver; the driver, in one `poll`, feeds the session what completed (responses,
//! frames, the time), starts what it asks for, writes its frames while the socket takes
//! them, puts its events in the client's event queue and re-arms one timer from
//! `poll_timeout`, until nothing moves. It holds at most one frame the socket has not
//! taken: everything else waits in the session, where `send` sees it. Cancelling a
//! request is dropping its future.
//!
//! When the session closes, the driver takes it out of the shared state (the client can
//! connect again at once) and finishes alone: it writes the last frames, bounded by the
//! request timeout, then answers the `disconnect` calls waiting for it.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::FutureExt;
use futures::channel::oneshot;
use futures::future::BoxFuture;
use http::header::{CONTENT_TYPE, HeaderValue};
use http::{HeaderMap, Method, Uri};

use super::events::{Entry, EventQueue};
use super::{ClientEvent, Conn, Shared, State, lock};
use crate::connector::{
    ConnectorError, ConnectorErrorKind, HttpConnector, WebSocketConnector, WsConnection, WsMessage,
};
use crate::cookie::CookieJar;
use crate::error::chain;
use crate::logging::Logger;
use crate::proto::{PollRequest, Session, SessionEvent, Transmit};
use crate::rt::Timer;
use crate::{DisconnectReason, HttpStatusError, TransportFailure, TransportKind};

type HttpFuture = BoxFuture<'static, Result<http::Response<Bytes>, ConnectorError>>;
type WsOpenFuture = BoxFuture<'static, Result<WsConnection, ConnectorError>>;

/// The most frames read from the WebSocket in one turn, so that a fast sender cannot
/// starve writes and timers.
const READ_BUDGET: usize = 64;

/// A record of this connection: through the client's logger, after the connection's tag
/// (its session id, or the server's URL before the handshake).
macro_rules! dlog {
    ($io:expr, $lvl:ident, $($arg:tt)+) => {
        if let Some(target) = $io.logger.target() {
            log::$lvl!(target: target, "{}: {}", $io.tag, format_args!($($arg)+));
        }
    };
}

pub(crate) struct Driver {
    shared: Arc<Shared>,
    generation: u64,
    io: Io,
    /// The session once it has closed, taken out of the shared state to finish its flush.
    closed: Option<Closed>,
}

struct Closed {
    session: Session,
    close_waiters: Vec<oneshot::Sender<()>>,
    /// The final flush must end by then (never, for a request timeout past the clock's
    /// range).
    until: Option<Instant>,
}

/// The driver's side of the connection: the connectors and every I/O in progress.
struct Io {
    timer: Arc<dyn Timer>,
    http: Arc<dyn HttpConnector>,
    ws_connector: Arc<dyn WebSocketConnector>,
    headers: HeaderMap,
    cookies: CookieJar,
    max_receive: usize,
    logger: Logger,
    /// What the connection's records start with: the session id once known.
    tag: String,
    /// How long the final frames may take once the session is closed.
    linger: Duration,
    get: Option<HttpFuture>,
    post: Option<HttpFuture>,
    ws: Ws,
    /// The sleep for the session's next deadline. It is kept while the deadline moves
    /// later (at every ping, at every POST) and re-armed when it fires early, instead of
    /// being made anew each time.
    sleep: Option<(Instant, BoxFuture<'static, ()>)>,
    /// Answers `connect`: fired when the session opens or fails to.
    opened: Option<oneshot::Sender<Result<(), TransportFailure>>>,
    /// The session has opened.
    connected: bool,
    /// The client's memory that WebSocket worked (`remember_upgrade`).
    websocket_worked: Arc<AtomicBool>,
    /// Why the session ended, once it has (for the reconnection loop).
    ended_reason: Option<DisconnectReason>,
}

/// The WebSocket.
enum Ws {
    None,
    Opening(WsOpenFuture),
    Open(Socket),
}

struct Socket {
    ws: WsConnection,
    /// The frame taken from the session that the socket has not accepted yet.
    unwritten: Option<WsMessage>,
    /// Frames were written since the last flush.
    dirty: bool,
    /// Still read (not after the peer's close frame, nor once closing).
    reading: bool,
    /// To be closed (a close frame sent) once the last frame is written.
    closing: bool,
    /// The close is the client's own: once its close frame is out (`closing` over), the
    /// socket is read (and what comes discarded) until the server's close frame or the
    /// end of the stream. Dropped at once, a socket with unread data is reset, and the
    /// server loses what it had received and not yet read: the last messages before the
    /// close.
    own_close: bool,
}

impl Driver {
    /// A driver for connection `generation`; `tag` names it in log records until the
    /// session id is known.
    pub(crate) fn new(
        shared: Arc<Shared>,
        generation: u64,
        tag: &str,
        opened: oneshot::Sender<Result<(), TransportFailure>>,
    ) -> Driver {
        let cfg = &shared.config;
        let io = Io {
            timer: cfg.runtime.timer.clone(),
            http: cfg.http.clone(),
            ws_connector: cfg.ws.clone(),
            headers: lock(&shared.request).headers.clone(),
            cookies: CookieJar::default(),
            max_receive: cfg.max_receive,
            logger: cfg.logger.clone(),
            tag: tag.to_owned(),
            linger: cfg.session.request_timeout,
            get: None,
            post: None,
            ws: Ws::None,
            sleep: None,
            opened: Some(opened),
            connected: false,
            websocket_worked: shared.websocket_worked.clone(),
            ended_reason: None,
        };
        Driver {
            shared,
            generation,
            io,
            closed: None,
        }
    }

    /// Runs until nothing moves; `Ready` when the connection is over and flushed.
    fn poll_turn(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let shared = self.shared.clone();
        let mut guard = lock(&shared.state);
        loop {
            let now = self.io.timer.now();
            let state = &mut *guard;
            let Some(conn) = state
                .conn
                .as_mut()
                .filter(|c| c.generation == self.generation)
            else {
                drop(guard);
                return self.poll_turn_closed(cx);
            };
            let queued = conn.session.queued();
            let progress = self.io.turn(cx, now, &mut conn.session, &mut state.events);
            if conn.session.queued() < queued {
                // Room in the send queue.
                conn.wake_senders();
            }
            if conn.session.is_closed() {
                self.close(state, now);
                drop(guard);
                return self.poll_turn_closed(cx);
            }
            if !progress {
                register(conn, cx);
                return Poll::Pending;
            }
        }
    }

    /// The session has closed: takes it out of the shared state, so that the client can
    /// connect again, and keeps it for the final flush.
    fn close(&mut self, state: &mut State, now: Instant) {
        let Some(mut conn) = state.conn.take() else {
            return;
        };
        state.last_ended = Some(conn.ended.clone());
        state.last_reason = self.io.ended_reason.take();
        // Waiting sends learn that the connection is gone.
        conn.wake_senders();
        self.io.get = None;
        self.io.post = None;
        if let Ws::Opening(_) = self.io.ws {
            self.io.ws = Ws::None;
        }
        self.closed = Some(Closed {
            session: conn.session,
            close_waiters: conn.close_waiters,
            until: now.checked_add(self.io.linger),
        });
    }

    fn poll_turn_closed(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let Some(closed) = &mut self.closed else {
            // The connection was taken away without a close: nothing left to do.
            return Poll::Ready(());
        };
        loop {
            let now = self.io.timer.now();
            let mut progress = self.io.pull(cx, now, &mut closed.session, true);
            progress |= self.io.flush(cx, now, &mut closed.session);
            progress |= self.io.drain(cx);
            if matches!(self.io.ws, Ws::None) {
                break;
            }
            if self.io.poll_sleep(cx, now, closed.until) {
                // The final flush took too long: give up on it.
                self.io.ws = Ws::None;
                break;
            }
            if !progress {
                return Poll::Pending;
            }
        }
        for w in closed.close_waiters.drain(..) {
            let _ = w.send(());
        }
        Poll::Ready(())
    }
}

/// Registers the driver's waker with its connection.
fn register(conn: &mut Conn, cx: &mut Context<'_>) {
    if !conn
        .driver
        .as_ref()
        .is_some_and(|w| w.will_wake(cx.waker()))
    {
        conn.driver = Some(cx.waker().clone());
    }
}

impl Future for Driver {
    type Output = ();
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.get_mut().poll_turn(cx)
    }
}

impl Io {
    /// One pass over everything; returns whether anything moved.
    fn turn(
        &mut self,
        cx: &mut Context<'_>,
        now: Instant,
        session: &mut Session,
        events: &mut EventQueue,
    ) -> bool {
        let mut progress = self.poll_http(cx, now, session, events);
        progress |= self.poll_ws_open(cx, now, session);
        progress |= self.read_ws(cx, now, session, events);
        // What happened goes out before what it made necessary.
        progress |= self.publish(session, events);
        progress |= self.pull(cx, now, session, false);
        progress |= self.flush(cx, now, session);
        if self.poll_sleep(cx, now, session.poll_timeout()) {
            let deadline = session.poll_timeout().unwrap_or(now);
            session.handle_timeout(now.max(deadline));
            progress = true;
        }
        progress |= self.publish(session, events);
        progress
    }

    /// Whether reading waits for the application to take the messages it has (see
    /// `ClientBuilder::receive_buffer`); if so, `cx` is woken when it has. A session that
    /// is closing reads on, so that it can finish.
    fn receive_paused(
        &self,
        cx: &mut Context<'_>,
        session: &Session,
        events: &mut EventQueue,
    ) -> bool {
        let paused = session.is_open() && events.poll_full(cx);
        if paused {
            dlog!(self, debug, "receive buffer full: reading paused");
        }
        paused
    }

    fn poll_http(
        &mut self,
        cx: &mut Context<'_>,
        now: Instant,
        session: &mut Session,
        events: &mut EventQueue,
    ) -> bool {
        let mut progress = false;
        // While the application is behind, a poll's answer waits in the socket, and the
        // next poll starts once it is read.
        let paused = self.get.is_some() && self.receive_paused(cx, session, events);
        for request in [PollRequest::Get, PollRequest::Post] {
            if request == PollRequest::Get && paused {
                continue;
            }
            let slot = match request {
                PollRequest::Get => &mut self.get,
                PollRequest::Post => &mut self.post,
            };
            let Some(fut) = slot else { continue };
            let Poll::Ready(result) = fut.poll_unpin(cx) else {
                continue;
            };
            *slot = None;
            progress = true;
            match result {
                Ok(resp) => {
                    self.cookies.store(resp.headers());
                    let status = resp.status().as_u16();
                    session.handle_response(now, request, status, resp.into_body());
                }
                Err(e) => {
                    dlog!(self, debug, "{request:?} failed: {}", chain(&e));
                    session.handle_request_failed(now, request, failure(&e, self.max_receive));
                }
            }
        }
        progress
    }

    fn poll_ws_open(&mut self, cx: &mut Context<'_>, now: Instant, session: &mut Session) -> bool {
        let Ws::Opening(fut) = &mut self.ws else {
            return false;
        };
        let Poll::Ready(result) = fut.poll_unpin(cx) else {
            return false;
        };
        match result {
            Ok(ws) => {
                self.ws = Ws::Open(Socket {
                    ws,
                    unwritten: None,
                    dirty: false,
                    reading: true,
                    closing: false,
                    own_close: false,
                });
                session.handle_ws_connected(now);
            }
            Err(e) => {
                self.ws = Ws::None;
                dlog!(self, debug, "WebSocket open failed: {}", chain(&e));
                session.handle_ws_failed(now, failure(&e, self.max_receive));
            }
        }
        true
    }

    fn read_ws(
        &mut self,
        cx: &mut Context<'_>,
        now: Instant,
        session: &mut Session,
        events: &mut EventQueue,
    ) -> bool {
        let mut progress = false;
        let mut budget = READ_BUDGET;
        loop {
            if !matches!(&self.ws, Ws::Open(s) if s.reading)
                || self.receive_paused(cx, session, events)
            {
                break;
            }
            if budget == 0 {
                // Come back for the rest after the others had their turn.
                cx.waker().wake_by_ref();
                break;
            }
            budget -= 1;
            let Ws::Open(socket) = &mut self.ws else {
                break;
            };
            let Poll::Ready(item) = socket.ws.as_mut().poll_next(cx) else {
                break;
            };
            progress = true;
            match item {
                Some(Ok(WsMessage::Data(frame))) => session.handle_ws_frame(now, frame),
                Some(Ok(WsMessage::Close { code, reason })) => {
                    // Answer the close frame and let the socket go.
                    socket.reading = false;
                    socket.closing = true;
                    session.handle_ws_closed(now, code, &reason);
                }
                Some(Err(e)) => {
                    self.ws = Ws::None;
                    session.handle_ws_failed(now, failure(&e, self.max_receive));
                }
                None => {
                    self.ws = Ws::None;
                    session.handle_ws_failed(
                        now,
                        TransportFailure::Io("the WebSocket ended without a close frame".into()),
                    );
                }
            }
            // The frame's events go out before more is read, so that the receive buffer
            // is checked against them.
            self.publish(session, events);
        }
        progress
    }

    /// Takes what the session wants done and starts it, as long as the socket accepts
    /// frames: a frame it does not accept stays the one unwritten frame, and nothing more
    /// is taken until it goes. `closed`: the session has ended; only its last frames are
    /// written.
    fn pull(
        &mut self,
        cx: &mut Context<'_>,
        now: Instant,
        session: &mut Session,
        closed: bool,
    ) -> bool {
        let mut progress = false;
        loop {
            if let Ws::Open(socket) = &mut self.ws {
                match socket.write(cx) {
                    Poll::Ready(Ok(())) => {}
                    Poll::Pending => return progress,
                    Poll::Ready(Err(e)) => {
                        self.ws_failed(now, session, &e);
                        progress = true;
                    }
                }
            }
            let Some(t) = session.poll_transmit(now) else {
                return progress;
            };
            progress = true;
            match t {
                Transmit::Get { uri } if !closed => {
                    dlog!(self, trace, "GET {uri}");
                    self.get = Some(self.request(Method::GET, uri, Bytes::new(), ""));
                }
                Transmit::Post {
                    uri,
                    body,
                    content_type,
                } if !closed => {
                    dlog!(self, trace, "POST {uri} ({} bytes)", body.len());
                    self.post = Some(self.request(Method::POST, uri, body, content_type));
                }
                Transmit::WsOpen { uri } if !closed => {
                    dlog!(self, debug, "opening WebSocket {uri}");
                    self.ws = Ws::Opening(self.open_ws(uri));
                }
                Transmit::Get { .. } | Transmit::Post { .. } | Transmit::WsOpen { .. } => {}
                Transmit::WsSend(frame) => {
                    if let Ws::Open(socket) = &mut self.ws {
                        socket.unwritten = Some(WsMessage::Data(frame));
                    }
                }
                Transmit::WsClose => match &mut self.ws {
                    Ws::Open(socket) => {
                        socket.reading = false;
                        socket.closing = true;
                        socket.own_close = true;
                    }
                    _ => self.ws = Ws::None,
                },
            }
        }
    }

    /// Flushes what was written; closes the socket once it is to be closed and all is
    /// written.
    fn flush(&mut self, cx: &mut Context<'_>, now: Instant, session: &mut Session) -> bool {
        let Ws::Open(socket) = &mut self.ws else {
            return false;
        };
        let done = if socket.closing && socket.unwritten.is_none() {
            socket.ws.as_mut().poll_close(cx)
        } else if socket.dirty {
            socket.ws.as_mut().poll_flush(cx)
        } else {
            return false;
        };
        match done {
            Poll::Pending => false,
            Poll::Ready(Ok(())) => {
                socket.dirty = false;
                if socket.closing && socket.unwritten.is_none() {
                    if socket.own_close && session.is_closed() {
                        socket.closing = false; // draining
                    } else {
                        self.ws = Ws::None;
                    }
                }
                true
            }
            Poll::Ready(Err(e)) => {
                self.ws_failed(now, session, &e);
                true
            }
        }
    }

    /// After the client's close frame: reads (and discards) until the server's close
    /// frame or the end of the stream, then lets the socket go.
    fn drain(&mut self, cx: &mut Context<'_>) -> bool {
        let Ws::Open(socket) = &mut self.ws else {
            return false;
        };
        if !socket.own_close || socket.closing {
            return false;
        }
        for _ in 0..READ_BUDGET {
            match socket.ws.as_mut().poll_next(cx) {
                Poll::Pending => return false,
                Poll::Ready(Some(Ok(WsMessage::Data(_)))) => {}
                Poll::Ready(Some(Ok(WsMessage::Close { .. }) | Err(_)) | None) => {
                    self.ws = Ws::None;
                    return true;
                }
            }
        }
        // Come back for the rest after the others had their turn.
        cx.waker().wake_by_ref();
        false
    }

    /// Writing to the socket failed.
    fn ws_failed(&mut self, now: Instant, session: &mut Session, e: &ConnectorError) {
        let closing = matches!(&self.ws, Ws::Open(s) if s.closing);
        self.ws = Ws::None;
        if !closing {
            session.handle_ws_failed(now, failure(e, self.max_receive));
        }
    }

    /// Whether `deadline` has come; if not, `cx` is woken when it does.
    fn poll_sleep(
        &mut self,
        cx: &mut Context<'_>,
        now: Instant,
        deadline: Option<Instant>,
    ) -> bool {
        let Some(deadline) = deadline else {
            self.sleep = None;
            return false;
        };
        loop {
            if deadline <= now {
                self.sleep = None;
                return true;
            }
            // A sleep that ends later than the deadline is too late: make a new one. One
            // that ends earlier is kept, and re-armed when it fires.
            if self.sleep.as_ref().is_none_or(|(at, _)| *at > deadline) {
                self.sleep = Some((deadline, self.timer.sleep_until(deadline)));
            }
            let Some((at, sleep)) = &mut self.sleep else {
                return false;
            };
            if sleep.as_mut().poll(cx).is_pending() {
                return false;
            }
            let fired_at = *at;
            self.sleep = None;
            if fired_at >= deadline {
                return true;
            }
        }
    }

    /// Puts the session's events in the client's queue; returns whether there were any.
    fn publish(&mut self, session: &mut Session, events: &mut EventQueue) -> bool {
        let mut any = false;
        while let Some(e) = session.poll_event() {
            any = true;
            let entry = match e {
                SessionEvent::Connected => {
                    self.tag = format!("sid {}", session.sid().unwrap_or_default());
                    dlog!(self, info, "connected, transport {}", session.transport());
                    self.connected = true;
                    if session.transport() == TransportKind::WebSocket {
                        self.websocket_worked.store(true, Ordering::Relaxed);
                    }
                    if let Some(tx) = self.opened.take() {
                        let _ = tx.send(Ok(()));
                    }
                    Entry::Event(ClientEvent::Connect)
                }
                SessionEvent::Message(p) => Entry::Event(ClientEvent::Message(p)),
                SessionEvent::Upgraded => {
                    dlog!(self, info, "upgraded to WebSocket");
                    self.websocket_worked.store(true, Ordering::Relaxed);
                    Entry::Event(ClientEvent::Upgraded)
                }
                SessionEvent::UpgradeFailed(f) => {
                    dlog!(
                        self,
                        info,
                        "upgrade to WebSocket failed, staying on polling: {f}"
                    );
                    continue;
                }
                SessionEvent::ConnectFailed(f) => {
                    dlog!(self, info, "connection failed: {f}");
                    self.fail_open(f)
                }
                SessionEvent::Disconnected(r) if !self.connected => {
                    // Closed before the handshake finished.
                    dlog!(self, info, "closed during the handshake: {r:#}");
                    self.fail_open(TransportFailure::Io(format!(
                        "closed during the handshake ({r})"
                    )))
                }
                SessionEvent::Disconnected(r) => {
                    dlog!(self, info, "disconnected: {r:#}");
                    self.ended_reason = Some(r.clone());
                    Entry::Event(ClientEvent::Disconnect(r))
                }
            };
            events.push(entry);
        }
        any
    }

    fn fail_open(&mut self, f: TransportFailure) -> Entry {
        if let Some(tx) = self.opened.take() {
            let _ = tx.send(Err(f));
        }
        Entry::Failed
    }

    /// The headers of every request: the application's, then the cookies.
    fn headers(&self) -> HeaderMap {
        let mut headers = self.headers.clone();
        self.cookies.apply(&mut headers);
        headers
    }

    fn request(
        &self,
        method: Method,
        uri: Uri,
        body: Bytes,
        content_type: &'static str,
    ) -> HttpFuture {
        let mut req = http::Request::new(body);
        *req.uri_mut() = uri;
        *req.headers_mut() = self.headers();
        if !content_type.is_empty() {
            req.headers_mut()
                .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
        }
        *req.method_mut() = method;
        let (http, max) = (self.http.clone(), self.max_receive);
        Box::pin(async move { http.request(req, max).await })
    }

    fn open_ws(&self, uri: Uri) -> WsOpenFuture {
        let mut req = http::Request::new(());
        *req.uri_mut() = uri;
        *req.headers_mut() = self.headers();
        let (ws, max) = (self.ws_connector.clone(), self.max_receive);
        Box::pin(async move { ws.connect(req, max).await })
    }
}

impl Socket {
    /// Hands the unwritten frame to the socket, if it takes it.
    fn write(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), ConnectorError>> {
        if self.unwritten.is_none() {
            return Poll::Ready(Ok(()));
        }
        match self.ws.as_mut().poll_ready(cx) {
            Poll::Pending => {
                if self.dirty {
                    // Push out what is written, so that the socket makes room.
                    if let Poll::Ready(Err(e)) = self.ws.as_mut().poll_flush(cx) {
                        return Poll::Ready(Err(e));
                    }
                }
                Poll::Pending
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Ready(Ok(())) => {
                let Some(frame) = self.unwritten.take() else {
                    return Poll::Ready(Ok(()));
                };
                self.dirty = true;
                Poll::Ready(self.ws.as_mut().start_send(frame))
            }
        }
    }
}

fn failure(e: &ConnectorError, limit: usize) -> TransportFailure {
    match e.kind() {
        ConnectorErrorKind::TooLarge => TransportFailure::TooLarge { limit },
        // The server's own error, when the connector read it (the WebSocket handshake's).
        ConnectorErrorKind::HttpStatus(status) => TransportFailure::Http(
            std::error::Error::source(e)
                .and_then(|s| s.downcast_ref::<HttpStatusError>())
                .filter(|s| s.status == status)
                .cloned()
                .unwrap_or(HttpStatusError {
                    status,
                    code: None,
                    message: None,
                }),
        ),
        ConnectorErrorKind::Connect => TransportFailure::Connect(chain(e)),
        ConnectorErrorKind::Proxy => match e.proxy_error() {
            Some(proxy) => TransportFailure::Proxy(proxy.clone()),
            None => TransportFailure::Connect(chain(e)),
        },
        ConnectorErrorKind::Tls => TransportFailure::Tls(chain(e)),
        ConnectorErrorKind::Protocol => TransportFailure::Protocol(chain(e)),
        _ => TransportFailure::Io(chain(e)),
    }
}
