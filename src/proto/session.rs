//! The Engine.IO client session (protocol v4, and v3): see [`Session`].

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::Uri;

use super::{Frame, payload, v3};
use super::{Handshake, Packet};
use crate::error::{DecodeError, SendError, SendErrorKind};
use crate::reason::{DisconnectReason, HttpStatusError, ServerClose, TransportFailure};
use crate::url::{Endpoint, TransportKind};
use crate::{ByteStr, ConnectionStats, Payload, Protocol, Transports};

/// How a [`Session`] behaves: timeouts and limits.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct SessionConfig {
    /// Which transports to use.
    pub transports: Transports,
    /// How long the handshake, each POST and the opening of a WebSocket may take.
    /// Default: 5 s, as in python-engineio.
    pub request_timeout: Duration,
    /// How long an upgrade may take from opening the probe WebSocket to sending `5`
    /// before it is abandoned and the session stays on polling. Default: 10 s, the
    /// server-side default of node's engine.io.
    pub upgrade_timeout: Duration,
    /// Add a `t` cache-busting parameter to every polling request, as engine.io-client
    /// does. Default: off; some servers and proxies reject unknown parameters.
    pub timestamp_requests: bool,
    /// The most packets in one POST. Default (and the effective maximum for
    /// python-engineio servers): 16.
    pub max_packets_per_post: usize,
    /// The most messages waiting to be written: past it, [`Session::send`] refuses with
    /// [`SendErrorKind::Full`] until the transport has taken some. Default: 1024.
    pub send_buffer: usize,
    /// Which protocol version to speak. Default: [`Protocol::Auto`].
    pub protocol: Protocol,
}

impl Default for SessionConfig {
    fn default() -> Self {
        SessionConfig {
            transports: Transports::Upgrade,
            request_timeout: Duration::from_secs(5),
            upgrade_timeout: Duration::from_secs(10),
            timestamp_requests: false,
            max_packets_per_post: payload::MAX_PACKETS_PER_POST,
            send_buffer: 1024,
            protocol: Protocol::Auto,
        }
    }
}

/// A long-polling request kind; used to report a request's result.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PollRequest {
    /// The long-poll GET (including the handshake).
    Get,
    /// A POST of packets.
    Post,
}

/// Something the driver must do, returned by [`Session::poll_transmit`].
///
/// Each variant says what to report back when it is done.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Transmit {
    /// Send a GET to `uri` and report the result with
    /// [`handle_response`](Session::handle_response)`(PollRequest::Get, …)` or
    /// [`handle_request_failed`](Session::handle_request_failed)`(PollRequest::Get, …)`.
    /// It may legitimately take up to pingInterval to answer.
    Get {
        /// The request URL.
        uri: Uri,
    },
    /// POST `body` to `uri` with `Content-Type: content_type` and report the result with
    /// `PollRequest::Post`. Use a different HTTP connection than the pending GET.
    Post {
        /// The request URL.
        uri: Uri,
        /// The payload: UTF-8 text in v4, v3's binary framing in v3.
        body: Bytes,
        /// `text/plain;charset=UTF-8` (v4) or `application/octet-stream` (v3).
        content_type: &'static str,
    },
    /// Open a WebSocket to `uri` and report
    /// [`handle_ws_connected`](Session::handle_ws_connected) or
    /// [`handle_ws_failed`](Session::handle_ws_failed). A session has at most one.
    WsOpen {
        /// The WebSocket URL (`ws://` or `wss://`).
        uri: Uri,
    },
    /// Send a frame on the WebSocket.
    WsSend(Frame),
    /// Close the WebSocket: send a close frame and stop reading it. Nothing more is
    /// reported about it.
    WsClose,
}

/// Something that happened, returned by [`Session::poll_event`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SessionEvent {
    /// The handshake completed; [`Session::handshake`] has its details.
    Connected,
    /// A message from the server, in the order the server sent it.
    Message(Payload),
    /// The session moved from polling to WebSocket.
    Upgraded,
    /// The upgrade was abandoned; the session goes on over polling.
    UpgradeFailed(TransportFailure),
    /// The handshake failed; the session never opened and is now closed.
    ConnectFailed(TransportFailure),
    /// The open session ended (the last event). Also reported, as a client disconnect, when
    /// [`Session::close`] interrupts the handshake.
    Disconnected(DisconnectReason),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Waiting for the open packet.
    Handshake,
    /// Open.
    Open,
    /// The client asked to close; over polling, the close packet is on its way.
    Closing,
    /// Done; only already-queued transmits remain.
    Closed,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Probe {
    /// No upgrade under way.
    Idle,
    /// The probe WebSocket is being opened.
    Connecting,
    /// `2probe` sent; waiting for `3probe`. New polls are held.
    Probing,
    /// `3probe` received; polling paused, waiting for the requests in flight.
    Draining,
}

/// The session's WebSocket (the probe, or the transport after the upgrade).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Ws {
    None,
    /// `WsOpen` sent; waiting for `handle_ws_connected`.
    Opening,
    Open,
}

/// The POST in flight, if any.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Post {
    Idle,
    InFlight {
        /// It carries the client's close packet: its end, however it comes, is the end
        /// of the session.
        carries_close: bool,
    },
}

/// How long, at most, a poll answered with only noops during an upgrade is held back.
const POLL_HOLD: Duration = Duration::from_secs(1);

/// The session's timers; each has at most one deadline.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Timer {
    /// The handshake must complete by then.
    Handshake,
    /// The POST in flight must be answered by then.
    Post,
    /// A ping (or the handshake) must have been seen by then.
    Ping,
    /// The upgrade must be done by then.
    Upgrade,
    /// Held-back polls resume then.
    PollHold,
    /// v3: the client's next ping goes out then.
    SendPing,
}

impl Timer {
    const ALL: [Timer; 6] = [
        Timer::Handshake,
        Timer::Post,
        Timer::Ping,
        Timer::Upgrade,
        Timer::PollHold,
        Timer::SendPing,
    ];
}

#[derive(Debug, Default)]
struct Timers([Option<Instant>; 6]);

/// With [`Protocol::Auto`], how far the choice of version has come.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Detect {
    /// Decided (a pinned version, or an open session).
    Settled,
    /// First try, asking `EIO=4`: a v3 answer switches to v3 at once (node's engine.io
    /// 3.x answers so); a refusal as an unsupported version tries `EIO=3` (python-engineio
    /// 3.x refuses so).
    FirstV4,
    /// `EIO=4` was refused as an unsupported version: asking `EIO=3`.
    RetryV3,
    /// A WebSocket-only `EIO=4` open succeeded without `maxPayload` in the handshake,
    /// which every v4 server of today sends but node's engine.io 3.x (which ignores `EIO`
    /// and speaks v3) does not: asking `EIO=3` on a new WebSocket. If that is refused, the
    /// server is an older v4 one: back to `EIO=4`, settled.
    ProbeV3,
}

impl Timers {
    fn set(&mut self, t: Timer, at: Option<Instant>) {
        self.0[t as usize] = at;
    }
    fn stop(&mut self, t: Timer) {
        self.0[t as usize] = None;
    }
    fn is_set(&self, t: Timer) -> bool {
        self.0[t as usize].is_some()
    }
    fn expired(&self, t: Timer, now: Instant) -> bool {
        self.0[t as usize].is_some_and(|at| at <= now)
    }
    fn next(&self) -> Option<Instant> {
        self.0.iter().flatten().min().copied()
    }
}

/// A transmit waiting in the session's queue. The queue lives as long as the session, so
/// its entries are kept small: a URI (88 bytes) is boxed, which a [`Transmit`] is not.
#[derive(Debug)]
enum Queued {
    Get(Box<Uri>),
    WsOpen(Box<Uri>),
    WsSend(Frame),
    WsClose,
}

impl From<Queued> for Transmit {
    fn from(q: Queued) -> Transmit {
        match q {
            Queued::Get(uri) => Transmit::Get { uri: *uri },
            Queued::WsOpen(uri) => Transmit::WsOpen { uri: *uri },
            Queued::WsSend(frame) => Transmit::WsSend(frame),
            Queued::WsClose => Transmit::WsClose,
        }
    }
}

/// One Engine.IO client session (protocol v4, or v3 for socket.io 2.x servers), without
/// I/O: a deterministic state machine.
///
/// A [`Session`] holds everything a client knows about one connection and decides every
/// request, frame and timeout; a driver performs them. It opens no socket, spawns nothing
/// and reads no clock: every input carries `now`, and every deadline is a pure function of
/// the inputs, so the whole protocol is testable on a fake clock.
///
/// # Methods, by family
///
/// - Getters: [`sid`](Session::sid), [`handshake`](Session::handshake),
///   [`transport`](Session::transport), [`is_open`](Session::is_open),
///   [`is_closed`](Session::is_closed), [`queued`](Session::queued).
/// - Inputs, `handle_*`: the results of the driver's requests and WebSocket reads
///   ([`handle_response`](Session::handle_response),
///   [`handle_request_failed`](Session::handle_request_failed),
///   [`handle_ws_connected`](Session::handle_ws_connected),
///   [`handle_ws_frame`](Session::handle_ws_frame),
///   [`handle_ws_closed`](Session::handle_ws_closed),
///   [`handle_ws_failed`](Session::handle_ws_failed)) and the passing of time
///   ([`handle_timeout`](Session::handle_timeout)).
/// - Commands from the application: [`send`](Session::send), [`close`](Session::close).
/// - Outputs, `poll_*`: after any input or command, call
///   [`poll_transmit`](Session::poll_transmit) until it returns `None` and perform each
///   [`Transmit`]; then drain [`poll_event`](Session::poll_event); then arm one timer for
///   [`poll_timeout`](Session::poll_timeout) and call `handle_timeout` when it fires.
///
/// # The rules it keeps
///
/// - At most one GET and one POST in flight; a POST holds at most 16 packets and stays
///   under the server's `maxPayload` (a single larger packet goes alone).
/// - v4: a ping (`2`) is answered with a pong (`3`) carrying the same data, ahead of any
///   messages still queued; the client never pings. Missing the deadline of
///   pingInterval + pingTimeout, counted from the handshake and from each ping, ends the
///   session with [`TransportFailure::PingTimeout`].
/// - v3 (the heartbeat the other way round, as engine.io-client 3 keeps it): the client
///   pings pingInterval after the open and after each pong, and never answers a ping with
///   a pong; the deadline is pingTimeout after its ping, and pingInterval + pingTimeout
///   after any packet from the server. v3 polling payloads carry lengths ([`v3`](super::v3)
///   says how each framing is read); the client POSTs in the binary framing.
/// - [`Protocol::Auto`](crate::Protocol::Auto) starts in v4 and settles on what the
///   server's answer to the handshake shows, without a second round trip where that
///   answer allows.
/// - The upgrade follows the reference client: open a WebSocket, send `2probe`, expect
///   `3probe`, pause polling (no new writes, no new poll), wait for the GET and POST in
///   flight, then send `5` and flush the buffered writes on the WebSocket. One difference:
///   during the upgrade, a poll answered with nothing but noops is not re-issued until the
///   probe is decided (or for 1 s at most, half the ping interval if that is shorter).
///   python-engineio answers the pending poll with `6` on the probe and would leave a
///   re-issued one hanging until its next ping, delaying the upgrade; engineioxide answers
///   every poll at once with `6` while it waits for the probe, which would make the client
///   spin. A probe that fails (error, close, wrong
///   answer, or no answer within the upgrade timeout) leaves the session on polling with
///   nothing lost.
/// - A close packet on any transport ends the session at once as
///   [`DisconnectReason::ServerDisconnect`]; so does a WebSocket close frame. A failed
///   request, a stream that ends without a close frame, bad data, or a missed ping deadline
///   is a [`DisconnectReason::TransportError`].
///
/// ```
/// use std::time::Instant;
/// use bytes::Bytes;
/// use engineio::proto::{Endpoint, PollRequest, Session, SessionConfig, SessionEvent, Transmit};
/// use engineio::{Payload, Transports};
///
/// let now = Instant::now();
/// let endpoint = Endpoint::parse("http://localhost:5000").unwrap();
/// let mut config = SessionConfig::default();
/// config.transports = Transports::Polling;
/// let mut session = Session::new(endpoint, config, now);
///
/// // The first thing to do is the handshake GET.
/// let Some(Transmit::Get { uri }) = session.poll_transmit(now) else { panic!() };
/// assert_eq!(uri.query(), Some("EIO=4&transport=polling"));
///
/// // The server answers with the open packet and, here, a message.
/// session.handle_response(
///     now,
///     PollRequest::Get,
///     200,
///     Bytes::from_static(b"0{\"sid\":\"abc\",\"upgrades\":[],\"pingInterval\":25000,\"pingTimeout\":20000}\x1e4hi"),
/// );
/// assert_eq!(session.poll_event(), Some(SessionEvent::Connected));
/// assert_eq!(session.poll_event(), Some(SessionEvent::Message(Payload::from("hi"))));
/// assert_eq!(session.sid(), Some("abc"));
///
/// // Sending queues a packet; the next transmits are the long poll and a POST.
/// session.send("hello").unwrap();
/// let mut transmits = Vec::new();
/// while let Some(t) = session.poll_transmit(now) { transmits.push(t) }
/// assert!(matches!(&transmits[0], Transmit::Post { body, .. } if body.as_ref() == b"4hello"));
/// assert!(matches!(&transmits[1], Transmit::Get { .. }));
/// ```
#[derive(Debug)]
pub struct Session {
    endpoint: Endpoint,
    config: SessionConfig,
    phase: Phase,
    handshake: Option<Handshake>,
    transport: TransportKind,
    probe: Probe,
    /// The WebSocket: to end one that exists, `WsClose` must be sent.
    ws: Ws,
    get_in_flight: bool,
    /// Polls sent since the session opened (counted up to 2), and whether the first was
    /// held back for the probe: see `http_failed`.
    polls_sent: u8,
    first_poll_held: bool,
    post: Post,
    /// The close packet is queued or sent.
    close_queued: bool,
    write_buf: VecDeque<Packet>,
    transmits: VecDeque<Queued>,
    events: VecDeque<SessionEvent>,
    timers: Timers,
    request_counter: u64,
    stats: ConnectionStats,
    /// The version on the wire: `V4` or `V3`, never `Auto`.
    version: Protocol,
    detect: Detect,
}

impl Session {
    /// Starts a session: the first [`poll_transmit`](Self::poll_transmit) is the handshake
    /// (a polling GET, or a WebSocket open for [`Transports::WebSocket`]).
    pub fn new(endpoint: Endpoint, config: SessionConfig, now: Instant) -> Session {
        let mut s = Session {
            endpoint,
            phase: Phase::Handshake,
            handshake: None,
            transport: TransportKind::Polling,
            probe: Probe::Idle,
            ws: Ws::None,
            get_in_flight: false,
            polls_sent: 0,
            first_poll_held: false,
            post: Post::Idle,
            close_queued: false,
            write_buf: VecDeque::new(),
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            timers: Timers::default(),
            request_counter: 0,
            stats: ConnectionStats::default(),
            version: if config.protocol == Protocol::V3 {
                Protocol::V3
            } else {
                Protocol::V4
            },
            detect: if config.protocol == Protocol::Auto {
                Detect::FirstV4
            } else {
                Detect::Settled
            },
            config,
        };
        if s.config.transports == Transports::WebSocket {
            s.transport = TransportKind::WebSocket;
        }
        s.start_handshake(now);
        s
    }

    /// Sends the handshake request in the version of the moment: a polling GET or a
    /// WebSocket open, which must be answered within the request timeout.
    fn start_handshake(&mut self, now: Instant) {
        self.timers.set(
            Timer::Handshake,
            now.checked_add(self.config.request_timeout),
        );
        if self.transport == TransportKind::WebSocket {
            self.ws = Ws::Opening;
            let uri = self.ws_uri(None);
            self.transmits.push_back(Queued::WsOpen(Box::new(uri)));
        } else {
            let uri = self.polling_uri();
            self.get_in_flight = true;
            self.transmits.push_back(Queued::Get(Box::new(uri)));
        }
    }

    /// Asks for the handshake again in `version`, the choice of version having come to
    /// `detect` (`Protocol::Auto`).
    fn handshake_again(&mut self, now: Instant, detect: Detect, version: Protocol) {
        self.detect = detect;
        self.version = version;
        self.start_handshake(now);
    }

    fn ws_uri(&self, sid: Option<&str>) -> Uri {
        self.endpoint
            .uri_for(self.version, TransportKind::WebSocket, sid, None)
    }

    // ----- getters -------------------------------------------------------------------

    /// The session id, once the handshake is done.
    pub fn sid(&self) -> Option<&str> {
        self.handshake.as_ref().map(|h| h.sid.as_str())
    }

    /// The server's handshake, once received.
    pub fn handshake(&self) -> Option<&Handshake> {
        self.handshake.as_ref()
    }

    /// The transport in use (polling until an upgrade completes).
    pub fn transport(&self) -> TransportKind {
        self.transport
    }

    /// The protocol version spoken, [`Protocol::V4`] or [`Protocol::V3`], once the
    /// handshake is done.
    pub fn protocol(&self) -> Option<Protocol> {
        self.handshake.as_ref().map(|_| self.version)
    }

    /// The endpoint the session talks to.
    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// Whether the session is open: messages can be sent.
    pub fn is_open(&self) -> bool {
        self.phase == Phase::Open
    }

    /// Whether the session has ended. Drain [`poll_transmit`](Self::poll_transmit) one
    /// last time (it may hold a final close frame), then drop any request still in flight.
    pub fn is_closed(&self) -> bool {
        self.phase == Phase::Closed
    }

    /// Whether an upgrade to WebSocket is under way.
    pub fn is_upgrading(&self) -> bool {
        self.probe != Probe::Idle
    }

    /// How many packets wait to be written.
    pub fn queued(&self) -> usize {
        self.write_buf.len()
    }

    /// What the session has carried so far.
    pub fn stats(&self) -> ConnectionStats {
        ConnectionStats {
            transport: self.transport,
            ..self.stats
        }
    }

    /// The session's configuration.
    pub fn config(&self) -> &SessionConfig {
        &self.config
    }

    // ----- commands ------------------------------------------------------------------

    /// Queues a message for the server.
    ///
    /// Fails, handing the message back, before the handshake completes, after the
    /// session started closing, for a text message holding U+001E (the separator of
    /// polling payloads) while the session runs on long-polling, and while
    /// [`send_buffer`](SessionConfig::send_buffer) messages wait to be written
    /// ([`SendErrorKind::Full`]: try again once the transport has taken some).
    pub fn send(&mut self, payload: impl Into<Payload>) -> Result<(), SendError> {
        let payload = payload.into();
        match self.phase {
            Phase::Open
                if self.transport == TransportKind::Polling
                    && self.version == Protocol::V4
                    && payload::has_separator(&payload) =>
            {
                Err(SendError {
                    payload,
                    kind: SendErrorKind::RecordSeparator,
                })
            }
            Phase::Open if self.write_buf.len() >= self.config.send_buffer => Err(SendError {
                payload,
                kind: SendErrorKind::Full,
            }),
            Phase::Open => {
                self.write_buf.push_back(Packet::Message(payload));
                Ok(())
            }
            Phase::Handshake => Err(SendError {
                payload,
                kind: SendErrorKind::NotConnected,
            }),
            Phase::Closing | Phase::Closed => Err(SendError {
                payload,
                kind: SendErrorKind::Closed,
            }),
        }
    }

    /// Closes the session from the client side.
    ///
    /// Messages already queued go out first, then the close packet. Over WebSocket the
    /// session is closed at once (the close packet and a close frame are the last
    /// transmits). Over polling the close packet is POSTed and the session closes when the
    /// POST completes, fails or times out. The last event is
    /// `Disconnected(ClientDisconnect)`. Calling it again does nothing.
    pub fn close(&mut self) {
        match self.phase {
            Phase::Closing | Phase::Closed => {}
            Phase::Handshake => self.finish(DisconnectReason::ClientDisconnect),
            Phase::Open => {
                if self.transport == TransportKind::Polling && self.probe != Probe::Idle {
                    self.abandon_upgrade(None);
                }
                self.write_buf.push_back(Packet::Close);
                self.close_queued = true;
                match self.transport {
                    TransportKind::WebSocket => {
                        self.flush_ws();
                        self.finish(DisconnectReason::ClientDisconnect);
                    }
                    TransportKind::Polling => {
                        // The next POST carries the close packet; if one is in flight,
                        // its answer lets the next one go.
                        self.phase = Phase::Closing;
                        self.timers.stop(Timer::Ping);
                    }
                }
            }
        }
    }

    // ----- outputs -------------------------------------------------------------------

    /// The next thing the driver must do, if any. Call it until it returns `None` after
    /// every input.
    pub fn poll_transmit(&mut self, now: Instant) -> Option<Transmit> {
        if let Some(t) = self.transmits.pop_front() {
            return Some(t.into());
        }
        if self.transport == TransportKind::WebSocket {
            // One frame at a time, so that the queue stays here, where `send` sees it,
            // until the socket takes it; and a pong pushed to the front goes next.
            if self.phase != Phase::Open {
                return None;
            }
            let packet = self.write_buf.pop_front()?;
            count_sent(&mut self.stats, &packet);
            return Some(Transmit::WsSend(self.frame(packet)));
        }
        if let Some(post) = self.next_post(now) {
            return Some(post);
        }
        if self.phase == Phase::Open
            && !self.get_in_flight
            && !self.timers.is_set(Timer::PollHold)
            && self.probe != Probe::Draining
        {
            self.get_in_flight = true;
            self.polls_sent = (self.polls_sent + 1).min(2);
            return Some(Transmit::Get {
                uri: self.polling_uri(),
            });
        }
        None
    }

    /// The next event, if any.
    pub fn poll_event(&mut self) -> Option<SessionEvent> {
        self.events.pop_front()
    }

    /// When [`handle_timeout`](Self::handle_timeout) must next be called, if ever.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.phase == Phase::Closed {
            return None;
        }
        self.timers.next()
    }

    // ----- inputs --------------------------------------------------------------------

    /// Reports the time. Call it when the deadline from [`poll_timeout`](Self::poll_timeout)
    /// passes (calling it early, or more often, is harmless).
    pub fn handle_timeout(&mut self, now: Instant) {
        for t in Timer::ALL {
            if self.phase == Phase::Closed {
                return;
            }
            if !self.timers.expired(t, now) {
                continue;
            }
            self.timers.stop(t);
            match t {
                Timer::Handshake => {
                    if self.phase == Phase::Handshake {
                        self.fail_connect(TransportFailure::RequestTimeout);
                    }
                }
                Timer::Post => match self.post {
                    Post::InFlight {
                        carries_close: true,
                    } => self.finish(DisconnectReason::ClientDisconnect),
                    Post::InFlight { .. } => self.transport_error(TransportFailure::RequestTimeout),
                    Post::Idle => {}
                },
                // The timer's end is the end of the hold: nothing more to do.
                Timer::PollHold => {}
                Timer::Ping => {
                    if self.phase == Phase::Open {
                        self.transport_error(TransportFailure::PingTimeout);
                    }
                }
                Timer::Upgrade => {
                    if self.probe != Probe::Idle {
                        self.abandon_upgrade(Some(TransportFailure::RequestTimeout));
                    }
                }
                Timer::SendPing => {
                    if self.phase == Phase::Open {
                        self.send_ping(now);
                    }
                }
            }
        }
    }

    /// Reports the answer to a GET or POST: its HTTP status and whole body.
    pub fn handle_response(
        &mut self,
        now: Instant,
        request: PollRequest,
        status: u16,
        body: Bytes,
    ) {
        match request {
            PollRequest::Get => {
                if !self.get_in_flight || self.transport != TransportKind::Polling {
                    return;
                }
                self.get_in_flight = false;
                if status != 200 {
                    let err = HttpStatusError::from_response(status, &body);
                    if self.phase == Phase::Handshake
                        && self.retry_as_v3(now, &TransportFailure::Http(err.clone()))
                    {
                        return;
                    }
                    return self.http_failed(PollRequest::Get, err);
                }
                if self.phase == Phase::Handshake {
                    self.handle_handshake_body(now, body);
                } else {
                    self.handle_poll_body(now, body);
                }
            }
            PollRequest::Post => {
                let Post::InFlight { carries_close } = self.post else {
                    return;
                };
                if self.transport != TransportKind::Polling {
                    return;
                }
                self.post = Post::Idle;
                self.timers.stop(Timer::Post);
                if carries_close {
                    return self.finish(DisconnectReason::ClientDisconnect);
                }
                if status != 200 {
                    let err = HttpStatusError::from_response(status, &body);
                    return self.http_failed(PollRequest::Post, err);
                }
            }
        }
        self.maybe_complete_upgrade();
    }

    /// Reports that a GET or POST failed without an HTTP answer (connection refused or
    /// reset, body cut short, …).
    pub fn handle_request_failed(
        &mut self,
        _now: Instant,
        request: PollRequest,
        error: TransportFailure,
    ) {
        if self.transport != TransportKind::Polling {
            return;
        }
        match request {
            PollRequest::Get if self.get_in_flight => {
                self.get_in_flight = false;
                self.polling_failed(error);
            }
            PollRequest::Post if self.post != Post::Idle => {
                let carries_close = self.post
                    == Post::InFlight {
                        carries_close: true,
                    };
                self.post = Post::Idle;
                self.timers.stop(Timer::Post);
                if carries_close {
                    self.finish(DisconnectReason::ClientDisconnect);
                } else {
                    self.transport_error(error);
                }
            }
            _ => {}
        }
    }

    /// Reports that the WebSocket from [`Transmit::WsOpen`] is open.
    pub fn handle_ws_connected(&mut self, _now: Instant) {
        if self.ws != Ws::Opening {
            return;
        }
        self.ws = Ws::Open;
        if self.probe == Probe::Connecting {
            self.probe = Probe::Probing;
            self.transmits
                .push_back(Queued::WsSend(Frame::Text("2probe".into())));
        }
    }

    /// Reports that the WebSocket could not be opened, or failed while open (a read or
    /// write error, or an end of stream without a close frame).
    pub fn handle_ws_failed(&mut self, now: Instant, error: TransportFailure) {
        if self.ws == Ws::None {
            return;
        }
        self.ws = Ws::None;
        if self.probe != Probe::Idle {
            // The probe socket is gone: no close needed.
            self.upgrade_decided();
            self.events.push_back(SessionEvent::UpgradeFailed(error));
            return;
        }
        if self.phase == Phase::Handshake {
            if self.retry_as_v3(now, &error) {
                return;
            }
            let refused =
                matches!(&error, TransportFailure::Http(e) if (400..500).contains(&e.status));
            if self.detect == Detect::ProbeV3 && refused {
                // `EIO=3` refused after `EIO=4` opened: an older v4 server.
                return self.handshake_again(now, Detect::Settled, Protocol::V4);
            }
            return self.fail_connect(error);
        }
        if self.phase == Phase::Open {
            self.finish(DisconnectReason::TransportError(error));
        }
    }

    /// Reports that the server closed the WebSocket with a close frame (`code` 1005 when
    /// the frame had none).
    pub fn handle_ws_closed(&mut self, now: Instant, code: u16, reason: &str) {
        if self.ws == Ws::None {
            return;
        }
        if self.probe != Probe::Idle || self.phase == Phase::Handshake {
            let why = if reason.is_empty() {
                format!("the server closed the WebSocket ({code})")
            } else {
                format!("the server closed the WebSocket ({code}: {reason})")
            };
            return self.handle_ws_failed(now, TransportFailure::Io(why));
        }
        self.ws = Ws::None;
        if self.phase == Phase::Open {
            self.finish(DisconnectReason::ServerDisconnect(
                ServerClose::CloseFrame {
                    code,
                    reason: reason.to_owned(),
                },
            ));
        }
    }

    /// Reports a frame read from the WebSocket.
    pub fn handle_ws_frame(&mut self, now: Instant, frame: Frame) {
        if self.ws != Ws::Open || self.phase == Phase::Closed {
            return;
        }
        let packet = match self.version {
            Protocol::V3 => v3::decode_frame(frame),
            _ => Packet::decode_frame(frame),
        };
        match self.probe {
            Probe::Probing => {
                if packet == Ok(Packet::Pong("probe".into())) {
                    self.probe = Probe::Draining;
                    self.maybe_complete_upgrade();
                } else {
                    let what = match packet {
                        Ok(p) => format!(
                            "probe error: expected 3probe, got a {:?} packet",
                            p.packet_type()
                        ),
                        Err(e) => format!("probe error: {e}"),
                    };
                    self.abandon_upgrade(Some(TransportFailure::Protocol(what)));
                }
                return;
            }
            Probe::Connecting => return,
            Probe::Idle | Probe::Draining => {}
        }
        if self.phase == Phase::Handshake {
            return match packet {
                Ok(Packet::Open(h))
                    if self.detect == Detect::FirstV4 && h.max_payload.is_none() =>
                {
                    // Every v4 server of today announces maxPayload; node's engine.io 3.x,
                    // which ignores `EIO`, does not: ask again in v3 on a new WebSocket.
                    self.transmits.push_back(Queued::WsClose);
                    self.handshake_again(now, Detect::ProbeV3, Protocol::V3);
                }
                Ok(Packet::Open(h)) => self.open(now, h),
                Ok(_) => self.fail_connect(TransportFailure::Decode(DecodeError::ExpectedOpen)),
                Err(e) => self.fail_connect(TransportFailure::Decode(e)),
            };
        }
        if packet.is_ok() {
            self.heard(now);
        }
        match packet {
            Ok(p) => self.handle_packet(now, p),
            Err(e) => self.transport_error(TransportFailure::Decode(e)),
        }
    }

    // ----- internals -----------------------------------------------------------------

    fn polling_uri(&mut self) -> Uri {
        let t = self.config.timestamp_requests.then(|| {
            self.request_counter += 1;
            timestamp(self.request_counter)
        });
        self.endpoint.uri_for(
            self.version,
            TransportKind::Polling,
            self.sid(),
            t.as_deref(),
        )
    }

    fn next_post(&mut self, now: Instant) -> Option<Transmit> {
        if self.post != Post::Idle
            || self.write_buf.is_empty()
            || self.probe == Probe::Draining
            || !matches!(self.phase, Phase::Open | Phase::Closing)
        {
            return None;
        }
        let max_payload = self.handshake.as_ref().and_then(|h| h.max_payload);
        let n = match self.version {
            Protocol::V3 => v3::batch_len(
                &self.write_buf,
                max_payload,
                self.config.max_packets_per_post,
            ),
            _ => payload::batch_len(
                &self.write_buf,
                max_payload,
                self.config.max_packets_per_post,
            ),
        };
        for packet in self.write_buf.iter().take(n) {
            count_sent(&mut self.stats, packet);
        }
        let (body, content_type) = match self.version {
            Protocol::V3 => {
                let body = v3::encode_binary_payload(self.write_buf.iter().take(n));
                self.write_buf.drain(..n);
                (body, "application/octet-stream")
            }
            _ => (
                payload::encode_front(&mut self.write_buf, n),
                "text/plain;charset=UTF-8",
            ),
        };
        self.post = Post::InFlight {
            carries_close: self.close_queued && self.write_buf.is_empty(),
        };
        self.timers
            .set(Timer::Post, now.checked_add(self.config.request_timeout));
        Some(Transmit::Post {
            uri: self.polling_uri(),
            body,
            content_type,
        })
    }

    fn flush_ws(&mut self) {
        while let Some(p) = self.write_buf.pop_front() {
            count_sent(&mut self.stats, &p);
            let frame = self.frame(p);
            self.transmits.push_back(Queued::WsSend(frame));
        }
    }

    /// A packet as a WebSocket frame of the version spoken.
    fn frame(&self, packet: Packet) -> Frame {
        match self.version {
            Protocol::V3 => v3::encode_frame(packet),
            _ => packet.into_frame(false),
        }
    }

    fn handle_handshake_body(&mut self, now: Instant, body: Bytes) {
        if self.version == Protocol::V4 && v3::is_v3_payload(&body) {
            if self.config.protocol == Protocol::V4 {
                return self.fail_connect(TransportFailure::Decode(DecodeError::ProtocolV3));
            }
            // node's engine.io 3.x ignores `EIO` and answers in v3: go on in v3, with this
            // very session.
            self.version = Protocol::V3;
        }
        if self.version == Protocol::V3 {
            let mut packets = match v3::decode_payload(body) {
                Ok(packets) => packets.into_iter(),
                Err(e) => return self.fail_connect(TransportFailure::Decode(e)),
            };
            return match packets.next() {
                Some(Packet::Open(h)) => {
                    self.open(now, h);
                    self.handle_records(now, packets.map(Ok));
                }
                _ => self.fail_connect(TransportFailure::Decode(DecodeError::ExpectedOpen)),
            };
        }
        let mut records = payload::decode(body);
        match records.next() {
            Some(Ok(Packet::Open(h))) => {
                self.open(now, h);
                self.handle_records(now, records);
            }
            Some(Err(e)) => self.fail_connect(TransportFailure::Decode(e)),
            _ => self.fail_connect(TransportFailure::Decode(DecodeError::ExpectedOpen)),
        }
    }

    /// With [`Protocol::Auto`], whether a failed first handshake is asked again in v3 (and
    /// is, from now): when the server refused `EIO=4` as an unsupported version, as
    /// python-engineio 3.x does (with HTTP 400 and that text, or, over WebSocket, a bare
    /// 400 to the handshake).
    fn retry_as_v3(&mut self, now: Instant, failure: &TransportFailure) -> bool {
        let refused = match failure {
            TransportFailure::Http(e) if e.status == 400 => match &e.message {
                Some(m) => m.to_ascii_lowercase().contains("unsupported version"),
                // A WebSocket handshake's answer has no body here.
                None => self.transport == TransportKind::WebSocket,
            },
            _ => false,
        };
        if self.detect != Detect::FirstV4 || !refused {
            return false;
        }
        self.handshake_again(now, Detect::RetryV3, Protocol::V3);
        true
    }

    fn handle_poll_body(&mut self, now: Instant, body: Bytes) {
        let only_noops = match self.version {
            Protocol::V3 => match v3::decode_payload(body) {
                Ok(packets) => self.handle_records(now, packets.into_iter().map(Ok)),
                Err(e) => {
                    self.transport_error(TransportFailure::Decode(e));
                    false
                }
            },
            _ => self.handle_records(now, payload::decode(body)),
        };
        if only_noops && self.probe != Probe::Idle && self.phase == Phase::Open {
            // Wait for the probe's answer rather than poll a server that is holding the
            // session for the upgrade; but not for long, so that pings still get through
            // if the probe is slow. (Held while the timer runs.)
            self.hold_poll(now);
        }
    }

    /// Holds the next poll for a while (at most 1 s and half the ping interval, so that
    /// pings still get through).
    fn hold_poll(&mut self, now: Instant) {
        let hold = self
            .handshake
            .as_ref()
            .map_or(POLL_HOLD, |h| POLL_HOLD.min(h.ping_interval / 2));
        self.timers.set(Timer::PollHold, now.checked_add(hold));
    }

    /// Handles the packets of a poll response in order; returns whether they were all
    /// noops.
    fn handle_records(
        &mut self,
        now: Instant,
        records: impl IntoIterator<Item = Result<Packet, DecodeError>>,
    ) -> bool {
        let mut only_noops = true;
        for record in records {
            if !matches!(self.phase, Phase::Open | Phase::Closing) {
                return false;
            }
            if record.is_ok() {
                self.heard(now);
            }
            match record {
                Ok(Packet::Noop) => {}
                Ok(p) => {
                    only_noops = false;
                    self.handle_packet(now, p);
                }
                Err(e) => {
                    self.transport_error(TransportFailure::Decode(e));
                    return false;
                }
            }
        }
        only_noops
    }

    fn open(&mut self, now: Instant, h: Handshake) {
        self.timers.stop(Timer::Handshake);
        self.timers
            .set(Timer::Ping, now.checked_add(h.ping_deadline()));
        if self.version == Protocol::V3 {
            // v3: the client pings, pingInterval after the handshake and after each pong.
            self.timers
                .set(Timer::SendPing, now.checked_add(h.ping_interval));
        }
        self.detect = Detect::Settled;
        let upgrade = self.config.transports == Transports::Upgrade
            && self.transport == TransportKind::Polling
            && h.can_upgrade_to_websocket();
        self.handshake = Some(h);
        self.phase = Phase::Open;
        self.events.push_back(SessionEvent::Connected);
        if upgrade {
            self.probe = Probe::Connecting;
            self.ws = Ws::Opening;
            self.timers
                .set(Timer::Upgrade, now.checked_add(self.config.upgrade_timeout));
            // Probe before the first poll, as python-engineio does: with no poll pending,
            // the upgrade completes as soon as the probe is answered, instead of waiting
            // for the server to release a pending poll (node does that every 100 ms). What
            // the server sends meanwhile waits in its buffer and comes over the WebSocket.
            // If the probe is slow, polling starts anyway after the usual hold.
            self.hold_poll(now);
            self.first_poll_held = true;
            let uri = self.ws_uri(self.sid());
            self.transmits.push_back(Queued::WsOpen(Box::new(uri)));
        }
    }

    /// v3: a packet arrived, so the connection is alive for another pingInterval +
    /// pingTimeout (engine.io-client 3.x's rule).
    fn heard(&mut self, now: Instant) {
        if self.version != Protocol::V3 || self.phase != Phase::Open {
            return;
        }
        let deadline = self
            .handshake
            .as_ref()
            .and_then(|h| now.checked_add(h.ping_deadline()));
        self.timers.set(Timer::Ping, deadline);
    }

    /// v3: the client's ping, ahead of queued messages; a packet must come back within
    /// pingTimeout.
    fn send_ping(&mut self, now: Instant) {
        let Some(timeout) = self.handshake.as_ref().map(|h| h.ping_timeout) else {
            return;
        };
        self.timers.set(Timer::Ping, now.checked_add(timeout));
        if !matches!(self.write_buf.front(), Some(Packet::Ping(_))) {
            self.write_buf.push_front(Packet::Ping(ByteStr::default()));
        }
    }

    fn handle_packet(&mut self, now: Instant, packet: Packet) {
        match packet {
            Packet::Close => {
                let reason = if self.phase == Phase::Closing {
                    DisconnectReason::ClientDisconnect
                } else {
                    DisconnectReason::ServerDisconnect(ServerClose::ClosePacket)
                };
                self.finish(reason);
            }
            // v3: the server never pings (and a pong it did not ask for would break v4).
            Packet::Ping(_) if self.version == Protocol::V3 => {}
            Packet::Pong(_) if self.version == Protocol::V3 => {
                if self.phase == Phase::Open {
                    let interval = self.handshake.as_ref().map(|h| h.ping_interval);
                    self.timers
                        .set(Timer::SendPing, interval.and_then(|i| now.checked_add(i)));
                }
            }
            Packet::Ping(data) => {
                if self.phase == Phase::Open {
                    let deadline = self
                        .handshake
                        .as_ref()
                        .and_then(|h| now.checked_add(h.ping_deadline()));
                    self.timers.set(Timer::Ping, deadline);
                    self.stats.pings_answered += 1;
                    // The pong goes ahead of queued messages: behind a long queue of
                    // POSTs it would miss the server's pingTimeout. One unsent pong answers
                    // every ping so far: a server that floods pings cannot grow the queue.
                    match self.write_buf.front_mut() {
                        Some(Packet::Pong(unsent)) => *unsent = data,
                        _ => self.write_buf.push_front(Packet::Pong(data)),
                    }
                }
            }
            Packet::Message(m) => {
                if self.phase == Phase::Open {
                    self.stats.messages_received += 1;
                    self.stats.bytes_received += m.len() as u64;
                    self.events.push_back(SessionEvent::Message(m));
                }
            }
            // A second open, a pong, an upgrade or a noop from the server: nothing to do.
            Packet::Open(_) | Packet::Pong(_) | Packet::Upgrade | Packet::Noop => {}
        }
    }

    /// A polling request got an HTTP error. python-engineio's "Session is disconnected"
    /// means the server closed the session itself (with no poll pending to carry the close
    /// packet): a server disconnect. So is a session the server no longer knows (its
    /// "Invalid session", engine.io's code 1) told to the first poll, when the client held
    /// that poll back for the probe, or to a POST before it: python-engineio and
    /// engineioxide forget at once a session they close while no poll is pending, and the
    /// client had none pending. (A server restarted between the handshake and that poll
    /// would answer the same; that window is the probe's round trip.)
    fn http_failed(&mut self, request: PollRequest, err: HttpStatusError) {
        let before_polling = match request {
            PollRequest::Get => self.polls_sent <= 1,
            PollRequest::Post => self.polls_sent == 0,
        };
        let forgotten_at_once = self.first_poll_held && before_polling && err.is_unknown_session();
        if self.phase == Phase::Open && (err.is_session_closed() || forgotten_at_once) {
            let reason = DisconnectReason::ServerDisconnect(ServerClose::SessionClosed(err));
            return self.finish(reason);
        }
        match request {
            PollRequest::Get => self.polling_failed(TransportFailure::Http(err)),
            PollRequest::Post => self.transport_error(TransportFailure::Http(err)),
        }
    }

    /// A polling request failed: during the handshake the connect fails; otherwise the
    /// session is lost.
    fn polling_failed(&mut self, err: TransportFailure) {
        match self.phase {
            Phase::Handshake => self.fail_connect(err),
            // The close POST decides how a client close ends; the GET no longer matters.
            Phase::Closing => {}
            Phase::Open | Phase::Closed => self.transport_error(err),
        }
    }

    fn maybe_complete_upgrade(&mut self) {
        if self.probe != Probe::Draining
            || self.get_in_flight
            || self.post != Post::Idle
            || self.phase != Phase::Open
        {
            return;
        }
        self.upgrade_decided();
        self.transport = TransportKind::WebSocket;
        self.stats.upgraded = true;
        // The buffered writes follow on the WebSocket, one by one.
        self.transmits
            .push_back(Queued::WsSend(Frame::Text("5".into())));
        self.events.push_back(SessionEvent::Upgraded);
    }

    /// The upgrade is over, one way or the other: no probe, no held polls.
    fn upgrade_decided(&mut self) {
        self.probe = Probe::Idle;
        self.timers.stop(Timer::PollHold);
        self.timers.stop(Timer::Upgrade);
    }

    fn abandon_upgrade(&mut self, why: Option<TransportFailure>) {
        self.upgrade_decided();
        if self.ws != Ws::None {
            self.ws = Ws::None;
            self.transmits.push_back(Queued::WsClose);
        }
        if let Some(why) = why {
            self.events.push_back(SessionEvent::UpgradeFailed(why));
        }
    }

    fn fail_connect(&mut self, err: TransportFailure) {
        self.end();
        self.events.push_back(SessionEvent::ConnectFailed(err));
    }

    /// The connection failed. While closing too: whatever was still to be written (the
    /// POST that failed, the messages queued behind it) is lost, and the reason says so.
    fn transport_error(&mut self, err: TransportFailure) {
        self.finish(DisconnectReason::TransportError(err));
    }

    fn finish(&mut self, reason: DisconnectReason) {
        if self.phase == Phase::Closed {
            return;
        }
        self.end();
        self.events.push_back(SessionEvent::Disconnected(reason));
    }

    fn end(&mut self) {
        self.phase = Phase::Closed;
        self.probe = Probe::Idle;
        self.timers = Timers::default();
        self.get_in_flight = false;
        self.post = Post::Idle;
        if self.ws != Ws::None {
            self.ws = Ws::None;
            self.transmits.push_back(Queued::WsClose);
        }
    }
}

/// Counts `packet` as handed to the transport.
fn count_sent(stats: &mut ConnectionStats, packet: &Packet) {
    if let Packet::Message(m) = packet {
        stats.messages_sent += 1;
        stats.bytes_sent += m.len() as u64;
    }
}

/// A short cache-busting token from a counter, in the URL-safe alphabet engine.io-client
/// uses for its `t` parameter.
fn timestamp(mut n: u64) -> String {
    const ALPHABET: &[u8; 64] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz-_";
    let mut out = Vec::new();
    loop {
        out.push(ALPHABET[(n % 64) as usize]);
        n /= 64;
        if n == 0 {
            break;
        }
    }
    out.reverse();
    String::from_utf8(out).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_distinct() {
        assert_eq!(timestamp(0), "0");
        assert_eq!(timestamp(64), "10");
        assert_ne!(timestamp(1), timestamp(2));
    }
}
