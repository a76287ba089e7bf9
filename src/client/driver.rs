//! The driver: one task that runs a [`Session`] over the connectors.
//!
//! It owns the session and every I/O future of the connection, and is a single
//! `poll` loop in the manner of quinn's endpoint driver: feed what completed into the
//! session, start what the session asks for, re-arm one timer from `poll_timeout`, repeat
//! until nothing moves. Cancelling a request is dropping its future.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::Bytes;
use futures::channel::{mpsc, oneshot};
use futures::future::BoxFuture;
use futures::{FutureExt, Sink, StreamExt};
use http::header::{CONTENT_TYPE, HeaderValue};
use http::{HeaderMap, Method, Uri};

use super::flow::{Flow, Queue, weight};
use crate::cookie::CookieJar;
use crate::rt::{
    ConnectorError, ConnectorErrorKind, HttpConnector, Timer, WebSocketConnector, WsMessage,
    WsSink, WsStream,
};
use crate::session::{Event, Request, Session, Transmit};
use crate::{HttpStatusError, Payload, TransportFailure, TransportKind};

/// What the application asks of a connection, besides sending messages (which travel on
/// their own, bounded channel).
pub(crate) enum Command {
    /// Close; the sender fires when the driver has finished.
    Close(oneshot::Sender<()>),
}

/// What the driver reports to the dispatcher, in order.
#[derive(Debug)]
pub(crate) enum DriverEvent {
    Connected {
        sid: String,
        transport: TransportKind,
    },
    Message(Payload),
    Upgraded(TransportKind),
    ConnectFailed(TransportFailure),
    Disconnected(crate::DisconnectReason),
}

type HttpFuture = BoxFuture<'static, Result<http::Response<Bytes>, ConnectorError>>;
type WsOpenFuture = BoxFuture<'static, Result<(WsSink, WsStream), ConnectorError>>;

/// The most frames read from the WebSocket in one turn of the loop, so that a fast sender
/// cannot starve writes and timers.
const READ_BUDGET: usize = 64;

pub(crate) struct Driver {
    session: Session,
    timer: Arc<dyn Timer>,
    http: Arc<dyn HttpConnector>,
    ws: Arc<dyn WebSocketConnector>,
    headers: HeaderMap,
    cookies: CookieJar,
    max_receive: usize,
    logger: bool,
    commands: mpsc::UnboundedReceiver<Command>,
    commands_done: bool,
    messages: mpsc::Receiver<Payload>,
    /// The most messages the session may hold unwritten; past it the driver stops taking
    /// messages, the channel fills, and `send` waits.
    send_buffer: usize,
    /// How long the final frames (close packet, close frame) may take to flush once the
    /// session is closed: the request timeout.
    linger: std::time::Duration,
    events: mpsc::UnboundedSender<DriverEvent>,
    /// The client's receive budget, and the share of it the message handler holds.
    flow: Arc<Flow>,
    handler_queue: Arc<Queue>,
    get: Option<HttpFuture>,
    post: Option<HttpFuture>,
    ws_open: Option<WsOpenFuture>,
    ws_sink: Option<WsSink>,
    ws_stream: Option<WsStream>,
    ws_queue: VecDeque<WsMessage>,
    /// The WebSocket is to be closed once `ws_queue` is flushed.
    ws_closing: bool,
    sleep: Option<(Instant, BoxFuture<'static, ()>)>,
    /// When the session is closed, the final flush must end by then.
    linger_until: Option<Instant>,
    close_waiters: Vec<oneshot::Sender<()>>,
    /// Sees every event first, before the dispatcher: updates the client's state and feeds
    /// the event streams, so both are current when the driver finishes.
    hook: EventHook,
}

/// See [`Driver`]'s `hook`.
pub(crate) type EventHook = Box<dyn FnMut(&DriverEvent) -> bool + Send>;

macro_rules! dlog {
    ($self:ident, $lvl:ident, $($arg:tt)+) => {
        if $self.logger {
            log::$lvl!($($arg)+);
        }
    };
}

pub(crate) struct DriverParts {
    pub(crate) session: Session,
    pub(crate) timer: Arc<dyn Timer>,
    pub(crate) http: Arc<dyn HttpConnector>,
    pub(crate) ws: Arc<dyn WebSocketConnector>,
    pub(crate) headers: HeaderMap,
    pub(crate) max_receive: usize,
    pub(crate) logger: bool,
    pub(crate) commands: mpsc::UnboundedReceiver<Command>,
    pub(crate) messages: mpsc::Receiver<Payload>,
    pub(crate) send_buffer: usize,
    pub(crate) linger: std::time::Duration,
    pub(crate) events: mpsc::UnboundedSender<DriverEvent>,
    pub(crate) flow: Arc<Flow>,
    pub(crate) handler_queue: Arc<Queue>,
    pub(crate) hook: EventHook,
}

impl Driver {
    pub(crate) fn new(p: DriverParts) -> Driver {
        Driver {
            session: p.session,
            timer: p.timer,
            http: p.http,
            ws: p.ws,
            headers: p.headers,
            cookies: CookieJar::default(),
            max_receive: p.max_receive,
            logger: p.logger,
            commands: p.commands,
            commands_done: false,
            messages: p.messages,
            send_buffer: p.send_buffer,
            linger: p.linger,
            events: p.events,
            flow: p.flow,
            handler_queue: p.handler_queue,
            get: None,
            post: None,
            ws_open: None,
            ws_sink: None,
            ws_stream: None,
            ws_queue: VecDeque::new(),
            ws_closing: false,
            sleep: None,
            linger_until: None,
            close_waiters: Vec::new(),
            hook: p.hook,
        }
    }

    /// The headers of every request: the application's, then the cookies.
    fn headers(&self) -> HeaderMap {
        let mut headers = self.headers.clone();
        self.cookies.apply(&mut headers);
        headers
    }

    fn request(&self, method: Method, uri: Uri, body: Bytes) -> HttpFuture {
        let mut req = http::Request::new(body);
        *req.uri_mut() = uri;
        *req.headers_mut() = self.headers();
        if method == Method::POST {
            req.headers_mut().insert(
                CONTENT_TYPE,
                HeaderValue::from_static("text/plain;charset=UTF-8"),
            );
        }
        *req.method_mut() = method;
        let (http, max) = (self.http.clone(), self.max_receive);
        Box::pin(async move { http.request(req, max).await })
    }

    fn open_ws(&self, uri: Uri) -> WsOpenFuture {
        let mut req = http::Request::new(());
        *req.uri_mut() = uri;
        *req.headers_mut() = self.headers();
        let (ws, max) = (self.ws.clone(), self.max_receive);
        Box::pin(async move { ws.connect(req, max).await })
    }

    /// Runs one turn: returns `Ready` when the connection is over and everything is flushed.
    fn poll_turn(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        loop {
            let mut progress = false;
            let now = self.timer.now();

            progress |= self.poll_commands(cx);
            progress |= self.poll_http(cx, now);
            progress |= self.poll_ws(cx, now);
            progress |= self.poll_timer(cx, now);
            progress |= self.drain_session(now);

            if self.session.is_closed() {
                if self.ws_sink.is_none() || self.linger_until.is_none() {
                    for w in self.close_waiters.drain(..) {
                        let _ = w.send(());
                    }
                    return Poll::Ready(());
                }
                if !progress {
                    return Poll::Pending;
                }
            } else if !progress {
                return Poll::Pending;
            }
        }
    }

    fn poll_commands(&mut self, cx: &mut Context<'_>) -> bool {
        let mut progress = false;
        while !self.commands_done {
            match self.commands.poll_next_unpin(cx) {
                Poll::Ready(Some(Command::Close(done))) => {
                    self.close_waiters.push(done);
                    // What `send` accepted before the close goes out before it, even past
                    // the send buffer (the channel's few slots at most).
                    while let Ok(p) = self.messages.try_recv() {
                        if let Err(e) = self.session.send(p) {
                            dlog!(self, debug, "message not sent: {e}");
                        }
                    }
                    self.session.close();
                }
                Poll::Ready(None) => {
                    // Every handle on the client is gone: nobody can use the connection.
                    self.commands_done = true;
                    self.session.close();
                }
                Poll::Pending => break,
            }
            progress = true;
        }
        // Messages, as long as the session has room for them.
        // (Over WebSocket the session hands its packets on at once: count the frames
        // waiting for the socket too.)
        while self.session.queued() + self.ws_queue.len() < self.send_buffer
            || !self.session.is_open()
        {
            match self.messages.poll_next_unpin(cx) {
                Poll::Ready(Some(p)) => {
                    if let Err(e) = self.session.send(p) {
                        // Closing or closed: the disconnect event reports the end.
                        dlog!(self, debug, "message not sent: {e}");
                    }
                    progress = true;
                }
                Poll::Ready(None) | Poll::Pending => break,
            }
        }
        progress
    }

    /// Whether reading from the transport waits for the application to take the messages
    /// it has (see `ClientBuilder::receive_buffer`); if so, `cx` is woken when it has. A
    /// session that is closing reads on, so that it can finish.
    fn receive_paused(&mut self, cx: &mut Context<'_>) -> bool {
        let paused = self.session.is_open() && self.flow.is_full(cx);
        if paused {
            dlog!(self, debug, "receive buffer full: reading paused");
        }
        paused
    }

    fn poll_http(&mut self, cx: &mut Context<'_>, now: Instant) -> bool {
        let mut progress = false;
        // While the application is behind, a poll's answer waits in the socket, and the
        // next poll starts once it is read.
        let paused = self.get.is_some() && self.receive_paused(cx);
        for request in [Request::Get, Request::Post] {
            if request == Request::Get && paused {
                continue;
            }
            let slot = match request {
                Request::Get => &mut self.get,
                Request::Post => &mut self.post,
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
                    self.session
                        .handle_response(now, request, status, resp.into_body());
                }
                Err(e) => {
                    dlog!(self, debug, "{request:?} failed: {}", chain(&e));
                    self.session
                        .handle_request_failed(now, request, failure(&e, self.max_receive));
                }
            }
        }
        progress
    }

    fn poll_ws(&mut self, cx: &mut Context<'_>, now: Instant) -> bool {
        let mut progress = false;
        if let Some(fut) = &mut self.ws_open {
            if let Poll::Ready(result) = fut.poll_unpin(cx) {
                self.ws_open = None;
                progress = true;
                match result {
                    Ok((sink, stream)) => {
                        self.ws_sink = Some(sink);
                        self.ws_stream = Some(stream);
                        self.session.handle_ws_connected(now);
                    }
                    Err(e) => {
                        dlog!(self, debug, "WebSocket open failed: {}", chain(&e));
                        self.session
                            .handle_ws_failed(now, failure(&e, self.max_receive));
                    }
                }
            }
        }
        let mut budget = READ_BUDGET;
        while self.ws_stream.is_some() {
            if self.ws_queue.len() >= self.send_buffer {
                // The socket is not taking our frames: stop reading until it does, so that
                // a peer that sends without reading cannot grow the queue of answers.
                break;
            }
            if self.receive_paused(cx) {
                break;
            }
            if budget == 0 {
                // Come back for the rest after the others had their turn.
                cx.waker().wake_by_ref();
                break;
            }
            budget -= 1;
            let Some(stream) = &mut self.ws_stream else {
                break;
            };
            match stream.poll_next_unpin(cx) {
                Poll::Pending => break,
                Poll::Ready(item) => {
                    progress = true;
                    match item {
                        Some(Ok(WsMessage::Data(frame))) => {
                            self.session.handle_ws_frame(now, frame)
                        }
                        Some(Ok(WsMessage::Close { code, reason })) => {
                            // Answer the close frame and let the socket go.
                            self.ws_stream = None;
                            if self.ws_sink.is_some() {
                                self.ws_closing = true;
                            }
                            self.session.handle_ws_closed(now, code, &reason);
                        }
                        Some(Err(e)) => {
                            self.ws_stream = None;
                            self.ws_sink = None;
                            self.session
                                .handle_ws_failed(now, failure(&e, self.max_receive));
                        }
                        None => {
                            self.ws_stream = None;
                            self.ws_sink = None;
                            self.session.handle_ws_failed(
                                now,
                                TransportFailure::Io(
                                    "the WebSocket ended without a close frame".into(),
                                ),
                            );
                        }
                    }
                }
            }
            // Start whatever the frame made necessary before reading more.
            progress |= self.drain_session(now);
        }
        progress |= self.poll_ws_sink(cx, now);
        progress
    }

    fn poll_ws_sink(&mut self, cx: &mut Context<'_>, now: Instant) -> bool {
        let Some(sink) = &mut self.ws_sink else {
            self.ws_queue.clear();
            return false;
        };
        let mut progress = false;
        let mut failed = None;
        while !self.ws_queue.is_empty() {
            match sink.as_mut().poll_ready(cx) {
                Poll::Ready(Ok(())) => {
                    let Some(msg) = self.ws_queue.pop_front() else {
                        break;
                    };
                    if let Err(e) = sink.as_mut().start_send(msg) {
                        failed = Some(e);
                        break;
                    }
                    progress = true;
                }
                Poll::Ready(Err(e)) => {
                    failed = Some(e);
                    break;
                }
                Poll::Pending => break,
            }
        }
        if failed.is_none() {
            let flushed = if self.ws_closing && self.ws_queue.is_empty() {
                Pin::new(&mut *sink).poll_close(cx)
            } else {
                Pin::new(&mut *sink).poll_flush(cx)
            };
            match flushed {
                Poll::Ready(Ok(())) if self.ws_closing && self.ws_queue.is_empty() => {
                    self.ws_sink = None;
                    self.ws_closing = false;
                    progress = true;
                }
                Poll::Ready(Err(e)) => failed = Some(e),
                _ => {}
            }
        }
        if let Some(e) = failed {
            self.ws_sink = None;
            self.ws_stream = None;
            self.ws_queue.clear();
            if self.ws_closing {
                self.ws_closing = false;
            } else {
                self.session
                    .handle_ws_failed(now, failure(&e, self.max_receive));
            }
            progress = true;
        }
        progress
    }

    fn poll_timer(&mut self, cx: &mut Context<'_>, now: Instant) -> bool {
        let deadline = if self.session.is_closed() {
            self.linger_until
        } else {
            self.session.poll_timeout()
        };
        let Some(deadline) = deadline else {
            self.sleep = None;
            return false;
        };
        if self.sleep.as_ref().is_none_or(|(at, _)| *at != deadline) {
            self.sleep = Some((deadline, self.timer.sleep_until(deadline)));
        }
        let fired = deadline <= now
            || self
                .sleep
                .as_mut()
                .is_some_and(|(_, s)| s.as_mut().poll(cx).is_ready());
        if !fired {
            return false;
        }
        self.sleep = None;
        if self.session.is_closed() {
            // The final flush took too long: give up on it.
            self.linger_until = None;
            self.ws_sink = None;
            self.ws_queue.clear();
        } else {
            self.session.handle_timeout(now.max(deadline));
        }
        true
    }

    /// Starts what the session asks for and forwards its events.
    /// `now` is the time of this turn: one clock read serves the whole turn.
    fn drain_session(&mut self, now: Instant) -> bool {
        let mut progress = false;
        while let Some(t) = self.session.poll_transmit(now) {
            progress = true;
            match t {
                Transmit::Get { uri } => {
                    dlog!(self, trace, "GET {uri}");
                    self.get = Some(self.request(Method::GET, uri, Bytes::new()));
                }
                Transmit::Post { uri, body } => {
                    dlog!(self, trace, "POST {uri} ({} bytes)", body.len());
                    self.post = Some(self.request(Method::POST, uri, body));
                }
                Transmit::WsOpen { uri } => {
                    dlog!(self, debug, "opening WebSocket {uri}");
                    self.ws_open = Some(self.open_ws(uri));
                }
                Transmit::WsSend(frame) => self.ws_queue.push_back(WsMessage::Data(frame)),
                Transmit::WsClose => {
                    self.ws_open = None;
                    self.ws_stream = None;
                    if self.ws_sink.is_some() {
                        self.ws_closing = true;
                    }
                }
            }
        }
        while let Some(e) = self.session.poll_event() {
            progress = true;
            let out = match e {
                Event::Connected => {
                    let sid = self.session.sid().unwrap_or_default().to_owned();
                    dlog!(
                        self,
                        info,
                        "connected, sid {sid}, transport {}",
                        self.session.transport()
                    );
                    DriverEvent::Connected {
                        sid,
                        transport: self.session.transport(),
                    }
                }
                Event::Message(p) => DriverEvent::Message(p),
                Event::Upgraded => {
                    dlog!(self, info, "upgraded to WebSocket");
                    DriverEvent::Upgraded(self.session.transport())
                }
                Event::UpgradeFailed(f) => {
                    dlog!(
                        self,
                        info,
                        "upgrade to WebSocket failed, staying on polling: {f}"
                    );
                    continue;
                }
                Event::ConnectFailed(f) => {
                    dlog!(self, info, "connection failed: {f}");
                    DriverEvent::ConnectFailed(f)
                }
                Event::Disconnected(r) => {
                    dlog!(self, info, "disconnected: {r:#}");
                    DriverEvent::Disconnected(r)
                }
            };
            if !(self.hook)(&out) {
                continue;
            }
            if let DriverEvent::Message(p) = &out {
                self.handler_queue.add(weight(p));
            }
            let _ = self.events.unbounded_send(out);
        }
        if self.session.is_closed() && self.linger_until.is_none() {
            self.get = None;
            self.post = None;
            self.ws_open = None;
            self.linger_until = Some(now + self.linger);
        }
        progress
    }
}

impl Future for Driver {
    type Output = ();
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.get_mut().poll_turn(cx)
    }
}

/// The error and its causes on one line.
pub(crate) fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let t = c.to_string();
        if !s.contains(&t) {
            s.push_str(": ");
            s.push_str(&t);
        }
        cur = c.source();
    }
    s
}

fn failure(e: &ConnectorError, limit: usize) -> TransportFailure {
    match e.kind() {
        ConnectorErrorKind::TooLarge => TransportFailure::TooLarge { limit },
        ConnectorErrorKind::HttpStatus(status) => TransportFailure::Http(HttpStatusError {
            status,
            code: None,
            message: None,
        }),
        _ => TransportFailure::Io(chain(e)),
    }
}
