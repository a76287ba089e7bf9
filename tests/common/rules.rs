//! The protocol rules every output of a [`Session`] must keep, checked from the server's
//! side of the wire. One checker serves the session tests (tests/session.rs), the property
//! tests (tests/properties.rs) and the `session` fuzz target (fuzz/targets/session.rs
//! includes this file by path, so it may use only engineio, bytes, http and std).
//!
//! A [`Checker`] stands beside a session and holds what its server and its driver know of
//! it: the GET and POST in flight, the WebSocket, the pings sent, the packets received
//! (with the transport each came on), the messages the application queued, the events.
//! The driver chooses the inputs (a scripted server, proptest values, libFuzzer bytes)
//! and feeds each through the checker's method of the same name as the session's
//! (`handle_response`, `handle_ws_frame`, `send`, `close`, `handle_timeout`, …), which
//! notes it and calls the session; then it calls [`Checker::drain`], which takes every
//! transmit and event and checks them. A broken rule panics with a message that says which.
//!
//! # The rules, and why
//!
//! Transmits:
//! - Nothing once the session closed and was drained: a closed session is done.
//! - Nothing but `WsClose` after the last event: the end is the end, bar the close frame.
//! - At most one GET in flight: a second concurrent poll makes the server close the session.
//! - At most one POST in flight: POSTs must reach the server in order.
//! - No GET or POST after the upgrade, nor in a WebSocket-only session: the server answers 400.
//! - No `WsOpen` in a polling-only session, and at most one WebSocket at a time.
//! - Every URL is the endpoint's for its transport (`ws`/`wss` for a WebSocket), with
//!   `transport=`, and `sid` exactly when the session has one: the server routes by them.
//! - A POST carries the sid: the server cannot place it otherwise.
//! - A polling URL carries a `t` stamp exactly when `timestamp_requests` asks: some servers reject it.
//! - Every URL asks the version spoken (`EIO=4` or `EIO=3`) once the session is open.
//!   Handshakes ask the pinned version only; with `Protocol::Auto`, `EIO=4` first, then
//!   at most one `EIO=3`, then (WebSocket-only, an older v4 server) `EIO=4` once more: a
//!   refusing server is not asked forever. `EIO=3` only after `EIO=4` was refused as an
//!   unsupported version (python-engineio 3's 400 and text, or a 400 to the WebSocket
//!   handshake) or opened a WebSocket without `maxPayload` (node's engine.io 3); `EIO=4`
//!   again only after that `EIO=3` WebSocket was refused (4xx).
//! - A POST is UTF-8 text that decodes: it is sent as `text/plain;charset=UTF-8`. In v3, a
//!   POST is v3's binary framing that decodes, sent as `application/octet-stream` (the
//!   framing whose lengths node and python count alike); never octet-stream in v4.
//! - A POST holds 1 to `max_packets_per_post` packets: python-engineio drops larger ones.
//! - A POST of several packets stays within the handshake's `maxPayload`: else a 413.
//! - `WsSend` only on an open WebSocket, and its frame decodes: there is nowhere else to send it.
//!
//! The packets the server receives:
//! - A message is one the application queued, in order, once, never after the close packet.
//! - A pong echoes the data of a ping the server sent: a v4 server drops unsolicited pongs.
//!   In v3 no pong at all: the server never pings, and answers the client's pings.
//! - v3: the client's pings carry no data, never come before pingInterval has passed since
//!   the handshake, nor after the close packet, and wait for the server's pong: at most
//!   one more ping than pongs received (engine.io-client 3 pings pingInterval after each
//!   pong, not on a clock of its own).
//! - The close packet only after `close()`, and once: it ends the session on the server.
//! - v4: no ping but `2probe`, on the WebSocket of an upgrade: engine.io 6 closes a client
//!   that pings.
//! - One `5`, on the WebSocket of an upgrade: it switches the server's transport.
//! - Nothing else (open, noop; upgrade on polling): those are the server's packets.
//!
//! Events:
//! - No event after `ConnectFailed` or `Disconnected`: they are the last.
//! - `Connected` at most once, and then the session has a non-empty sid and a handshake.
//! - A message only after `Connected`: none can come before the open packet.
//! - `Upgraded` after `Connected` and the `5`, once, and then the transport is WebSocket.
//! - `UpgradeFailed` after `Connected` and before any `Upgraded`, in an upgrading session.
//! - `ConnectFailed` never after `Connected`: an open session ends with `Disconnected`.
//! - `Disconnected` without `Connected` only as the client's own `close()` in the handshake.
//!
//! The session's state, after every drain:
//! - `is_closed()` exactly when the last event came, and it stays so.
//! - `is_open()` exactly when connected, not closing and not ended: `send` relies on it.
//! - Once ended: no deadline and no upgrade under way, so a driver can stop.
//! - While it lives, no message is lost: every one queued was sent or is still queued.
//! - An upgrade under way only in an upgrading session that is connected.
//! - Once upgraded, the transport stays WebSocket.
//!
//! Commands and inputs:
//! - `send` succeeds exactly when `is_open()`, unless it is text holding U+001E on v4
//!   long-polling (the payload separator; v3 payloads are length-prefixed, any text goes);
//!   a refusal hands the message back, with `NotConnected` in the handshake, `Closed` after
//!   it, `RecordSeparator` for U+001E.
//! - After `handle_timeout(now)` the next deadline is later than `now`: no busy loop.
#![allow(dead_code)]

use std::collections::HashSet;
use std::time::{Duration, Instant};

use bytes::Bytes;
use engineio::proto::{
    Frame, Packet, PollRequest, Session, SessionConfig, SessionEvent, Transmit, payload, v3,
};
use engineio::{
    ByteStr, DecodeError, DisconnectReason, HttpStatusError, Payload, Protocol, SendError,
    SendErrorKind, TransportFailure, TransportKind, Transports,
};
use http::Uri;

/// The session's WebSocket, as its driver knows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ws {
    /// None asked for, or the last one was closed or failed.
    None,
    /// `WsOpen` was transmitted and not yet reported connected.
    Opening,
    /// Reported connected.
    Open,
}

/// How the last handshake request ended, as far as choosing the version goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum HandshakeEnd {
    /// A 400 saying the version is unsupported (python-engineio 3 to `EIO=4`).
    Unsupported,
    /// The WebSocket handshake was answered with this 4xx status (no body read).
    WsRefused(u16),
    /// A WebSocket open packet without `maxPayload`.
    OpenWithoutMaxPayload,
    Other,
}

/// The server's and the driver's view of one session, and the checks of the module docs.
#[derive(Debug)]
pub struct Checker {
    transports: Transports,
    max_packets: usize,
    timestamps: bool,
    get: Option<Uri>,
    post: Option<Bytes>,
    ws: Ws,
    ws_uri: Option<Uri>,
    ws_closes: usize,
    connected: bool,
    ended: bool,
    /// `is_closed()` was seen and the transmits drained after it.
    drained_closed: bool,
    close_called: bool,
    close_sent: bool,
    upgrade_sent: bool,
    upgraded: bool,
    /// Messages accepted by `send`, and how many of them went out.
    sent: Vec<Payload>,
    transmitted: usize,
    /// The session speaks v3 (set from the session at each transmit).
    v3: bool,
    /// The version the configuration asks for.
    protocol: Protocol,
    /// The version each handshake request asked (`EIO=`), in order.
    handshakes: Vec<Protocol>,
    /// How the last handshake request ended, if it did.
    handshake_end: Option<HandshakeEnd>,
    /// The latest time an input or drain reported.
    now: Option<Instant>,
    /// When `Connected` came, and the handshake's pingInterval.
    connected_at: Option<Instant>,
    ping_interval: Option<Duration>,
    /// v3: the pings the client sent and the pongs the server sent.
    v3_pings: usize,
    v3_pongs: usize,
    /// Every POST as sent: its content type and body.
    raw_posts: Vec<(&'static str, Bytes)>,
    /// Every frame sent on a WebSocket, as sent.
    frames: Vec<Frame>,
    /// The data of every ping the server sent.
    pings: HashSet<ByteStr>,
    inbox: Vec<(TransportKind, Packet)>,
    posts: Vec<String>,
    events: Vec<SessionEvent>,
}

impl Checker {
    /// A checker for a session made with `config`, before its first drain.
    pub fn new(config: &SessionConfig) -> Checker {
        Checker {
            transports: config.transports,
            max_packets: config.max_packets_per_post.max(1),
            timestamps: config.timestamp_requests,
            get: None,
            post: None,
            ws: Ws::None,
            ws_uri: None,
            ws_closes: 0,
            connected: false,
            ended: false,
            drained_closed: false,
            close_called: false,
            close_sent: false,
            upgrade_sent: false,
            upgraded: false,
            sent: Vec::new(),
            transmitted: 0,
            v3: false,
            protocol: config.protocol,
            handshakes: Vec::new(),
            handshake_end: None,
            now: None,
            connected_at: None,
            ping_interval: None,
            v3_pings: 0,
            v3_pongs: 0,
            raw_posts: Vec::new(),
            frames: Vec::new(),
            pings: HashSet::new(),
            inbox: Vec::new(),
            posts: Vec::new(),
            events: Vec::new(),
        }
    }

    // ----- what it saw ---------------------------------------------------------------

    /// The URL of the GET in flight.
    pub fn get(&self) -> Option<&Uri> {
        self.get.as_ref()
    }

    /// The body of the POST in flight.
    pub fn post(&self) -> Option<&Bytes> {
        self.post.as_ref()
    }

    /// Whether a request of this kind is in flight.
    pub fn in_flight(&self, request: PollRequest) -> bool {
        match request {
            PollRequest::Get => self.get.is_some(),
            PollRequest::Post => self.post.is_some(),
        }
    }

    /// The WebSocket's state.
    pub fn ws(&self) -> Ws {
        self.ws
    }

    /// The URL of the WebSocket asked for and not yet connected.
    pub fn ws_opening(&self) -> Option<&Uri> {
        self.ws_uri.as_ref().filter(|_| self.ws == Ws::Opening)
    }

    /// Whether the session ever transmitted `WsClose`.
    pub fn ws_close_sent(&self) -> bool {
        self.ws_closes > 0
    }

    /// Every packet the server received, with the transport it came on, in order.
    pub fn inbox(&self) -> &[(TransportKind, Packet)] {
        &self.inbox
    }

    /// Every body the client POSTed, in order (v3's binary bodies in `Debug` form).
    pub fn posts(&self) -> &[String] {
        &self.posts
    }

    /// Every POST, in order, as sent: its content type and body.
    pub fn raw_posts(&self) -> &[(&'static str, Bytes)] {
        &self.raw_posts
    }

    /// Every frame the client sent on a WebSocket, in order, as sent.
    pub fn frames(&self) -> &[Frame] {
        &self.frames
    }

    /// The version each handshake request asked for (`EIO=`), in order.
    pub fn handshakes(&self) -> &[Protocol] {
        &self.handshakes
    }

    /// Every event, in order.
    pub fn events(&self) -> &[SessionEvent] {
        &self.events
    }

    /// Whether `Connected` came.
    pub fn connected(&self) -> bool {
        self.connected
    }

    /// Whether the last event came.
    pub fn ended(&self) -> bool {
        self.ended
    }

    // ----- inputs and commands, noted then passed to the session -------------------------

    /// Reports the answer to a request, as [`Session::handle_response`]; the request is no
    /// longer in flight.
    pub fn handle_response(
        &mut self,
        s: &mut Session,
        now: Instant,
        request: PollRequest,
        status: u16,
        body: Bytes,
    ) {
        self.now = Some(now);
        let was_in_flight = self.take(request);
        if was_in_flight && request == PollRequest::Get && !self.connected && status != 200 {
            let e = HttpStatusError::from_response(status, &body);
            let unsupported = e
                .message
                .is_some_and(|m| m.to_ascii_lowercase().contains("unsupported version"));
            self.handshake_end = Some(if status == 400 && unsupported {
                HandshakeEnd::Unsupported
            } else {
                HandshakeEnd::Other
            });
        }
        let poll = was_in_flight && request == PollRequest::Get && status == 200;
        if poll {
            for p in payload::decode(body.clone()) {
                self.note_ping(p);
            }
        }
        s.handle_response(now, request, status, body.clone());
        // The version is known once the handshake is handled (Protocol::Auto).
        if poll && s.protocol() == Some(Protocol::V3) {
            let packets = v3::decode_payload(body).unwrap_or_default();
            self.v3_pongs += packets
                .iter()
                .filter(|p| matches!(p, Packet::Pong(_)))
                .count();
        }
    }

    /// Reports a request that failed, as [`Session::handle_request_failed`].
    pub fn handle_request_failed(
        &mut self,
        s: &mut Session,
        now: Instant,
        request: PollRequest,
        error: TransportFailure,
    ) {
        self.now = Some(now);
        self.take(request);
        s.handle_request_failed(now, request, error);
    }

    /// Reports the WebSocket open, as [`Session::handle_ws_connected`].
    pub fn handle_ws_connected(&mut self, s: &mut Session, now: Instant) {
        self.now = Some(now);
        if self.ws == Ws::Opening {
            self.ws = Ws::Open;
        }
        s.handle_ws_connected(now);
    }

    /// Reports a frame from the server, as [`Session::handle_ws_frame`].
    pub fn handle_ws_frame(&mut self, s: &mut Session, now: Instant, frame: Frame) {
        self.now = Some(now);
        let open = self.ws == Ws::Open;
        if open {
            self.note_ping(Packet::decode_frame(frame.clone()));
            if !self.connected {
                self.handshake_end = Some(match Packet::decode_frame(frame.clone()) {
                    Ok(Packet::Open(h)) if h.max_payload.is_none() => {
                        HandshakeEnd::OpenWithoutMaxPayload
                    }
                    _ => HandshakeEnd::Other,
                });
            }
        }
        s.handle_ws_frame(now, frame.clone());
        if open
            && s.protocol() == Some(Protocol::V3)
            && matches!(v3::decode_frame(frame), Ok(Packet::Pong(_)))
        {
            self.v3_pongs += 1;
        }
    }

    /// Reports a close frame from the server, as [`Session::handle_ws_closed`]: the
    /// socket is gone.
    pub fn handle_ws_closed(&mut self, s: &mut Session, now: Instant, code: u16, reason: &str) {
        self.now = Some(now);
        if !self.connected {
            self.handshake_end = Some(HandshakeEnd::Other);
        }
        self.ws = Ws::None;
        s.handle_ws_closed(now, code, reason);
    }

    /// Reports the WebSocket failed, as [`Session::handle_ws_failed`]: the socket is gone.
    pub fn handle_ws_failed(&mut self, s: &mut Session, now: Instant, error: TransportFailure) {
        self.now = Some(now);
        if !self.connected && self.ws != Ws::None {
            self.handshake_end = Some(match &error {
                TransportFailure::Http(e) if (400..500).contains(&e.status) => {
                    HandshakeEnd::WsRefused(e.status)
                }
                _ => HandshakeEnd::Other,
            });
        }
        self.ws = Ws::None;
        s.handle_ws_failed(now, error);
    }

    /// Reports the time, as [`Session::handle_timeout`], and checks the next deadline.
    pub fn handle_timeout(&mut self, s: &mut Session, now: Instant) {
        self.now = Some(now);
        s.handle_timeout(now);
        if let Some(at) = s.poll_timeout() {
            assert!(at > now, "a deadline already past after handle_timeout");
        }
    }

    /// Queues a message, as [`Session::send`], and checks the answer.
    pub fn send(&mut self, s: &mut Session, payload: impl Into<Payload>) -> Result<(), SendError> {
        let payload = payload.into();
        let open = s.is_open();
        let handshaking = !self.connected && !self.ended && !self.close_called;
        let separator = payload
            .as_text()
            .is_some_and(|t| t.contains(char::from(payload::SEPARATOR)));
        // v3 payloads are length-prefixed: any text goes.
        let on_polling =
            s.transport() == TransportKind::Polling && s.protocol() != Some(Protocol::V3);
        let full = s.queued() >= s.config().send_buffer;
        let result = s.send(payload.clone());
        match &result {
            Ok(()) => {
                assert!(open, "send accepted while not open");
                assert!(!full, "send accepted past the send buffer");
                assert!(!(separator && on_polling), "U+001E accepted on v4 polling");
                self.sent.push(payload);
            }
            Err(e) => {
                assert_eq!(e.payload, payload, "the refused message is handed back");
                let want = if handshaking {
                    SendErrorKind::NotConnected
                } else if !open {
                    SendErrorKind::Closed
                } else if separator && on_polling {
                    SendErrorKind::RecordSeparator
                } else if full {
                    SendErrorKind::Full
                } else {
                    panic!("send refused while open: {e:?}")
                };
                assert_eq!(e.kind, want, "send refused for the wrong reason");
            }
        }
        result
    }

    /// Closes the session, as [`Session::close`].
    pub fn close(&mut self, s: &mut Session) {
        self.close_called = true;
        s.close();
    }

    fn take(&mut self, request: PollRequest) -> bool {
        match request {
            PollRequest::Get => self.get.take().is_some(),
            PollRequest::Post => self.post.take().is_some(),
        }
    }

    fn note_ping(&mut self, packet: Result<Packet, DecodeError>) {
        if let Ok(Packet::Ping(d)) = packet {
            self.pings.insert(d);
        }
    }

    // ----- outputs, checked --------------------------------------------------------------

    /// Takes every transmit, then every event, checking each; then checks the session's
    /// state. Call it after every input and command.
    pub fn drain(&mut self, s: &mut Session, now: Instant) {
        self.now = Some(now);
        while let Some(t) = s.poll_transmit(now) {
            self.transmit(s, t);
        }
        if s.is_closed() {
            self.drained_closed = true;
        }
        while let Some(e) = s.poll_event() {
            self.event(s, e);
        }
        self.check_state(s);
    }

    /// Checks and performs one transmit of `s` (part of [`drain`](Self::drain)).
    pub fn transmit(&mut self, s: &Session, t: Transmit) {
        self.v3 = s.protocol() == Some(engineio::Protocol::V3);
        assert!(!self.drained_closed, "{t:?} after the session closed");
        assert!(
            !self.ended || t == Transmit::WsClose,
            "{t:?} after the last event"
        );
        match t {
            Transmit::Get { uri } => {
                assert!(self.get.is_none(), "a second GET while one is in flight");
                self.check_polling(s, &uri);
                self.check_handshake(s, &uri);
                self.get = Some(uri);
            }
            Transmit::Post {
                uri,
                body,
                content_type,
            } => {
                assert!(self.post.is_none(), "a second POST while one is in flight");
                self.check_polling(s, &uri);
                assert!(s.sid().is_some(), "a POST without a sid: {uri}");
                let (packets, text): (Vec<Packet>, String) = if self.v3 {
                    // v3: the binary framing, whose lengths both servers count alike.
                    assert_eq!(content_type, "application/octet-stream", "a v3 POST's type");
                    let packets =
                        engineio::proto::v3::decode_payload(body.clone()).unwrap_or_else(|e| {
                            panic!("a v3 POST that does not decode ({e:?}): {body:?}")
                        });
                    (packets, format!("{body:?}"))
                } else {
                    assert_eq!(content_type, "text/plain;charset=UTF-8", "a v4 POST's type");
                    let Ok(text) = std::str::from_utf8(&body) else {
                        panic!("a POST that is not UTF-8: {body:?}")
                    };
                    let packets = payload::decode(body.clone())
                        .collect::<Result<_, _>>()
                        .unwrap_or_else(|e| {
                            panic!("a POST that does not decode ({e:?}): {text:?}")
                        });
                    (packets, text.to_owned())
                };
                let n = packets.len();
                assert!(
                    (1..=self.max_packets).contains(&n),
                    "a POST of {n} packets (1 to {} allowed)",
                    self.max_packets
                );
                if let Some(max) = s.handshake().and_then(|h| h.max_payload) {
                    assert!(
                        n == 1 || body.len() as u64 <= max,
                        "{n} packets in {} bytes > maxPayload {max}",
                        body.len()
                    );
                }
                self.posts.push(text);
                self.raw_posts.push((content_type, body.clone()));
                for p in packets {
                    self.client_packet(p, TransportKind::Polling);
                }
                self.post = Some(body);
            }
            Transmit::WsOpen { uri } => {
                assert_eq!(self.ws, Ws::None, "a second WebSocket");
                assert_ne!(
                    self.transports,
                    Transports::Polling,
                    "a WebSocket in a polling-only session"
                );
                assert!(
                    matches!(uri.scheme_str(), Some("ws" | "wss")),
                    "a WebSocket URL that is not ws or wss: {uri}"
                );
                self.check_url(s, &uri, TransportKind::WebSocket);
                self.check_handshake(s, &uri);
                self.ws = Ws::Opening;
                self.ws_uri = Some(uri);
            }
            Transmit::WsSend(frame) => {
                assert_eq!(self.ws, Ws::Open, "a frame on no open WebSocket: {frame:?}");
                let p = if self.v3 {
                    engineio::proto::v3::decode_frame(frame.clone())
                } else {
                    Packet::decode_frame(frame.clone())
                };
                let p =
                    p.unwrap_or_else(|e| panic!("a frame that does not decode ({e:?}): {frame:?}"));
                self.frames.push(frame);
                self.client_packet(p, TransportKind::WebSocket);
            }
            Transmit::WsClose => {
                self.ws = Ws::None;
                self.ws_closes += 1;
            }
        }
    }

    /// A request without a sid is a handshake: it asks the pinned version, or with
    /// `Protocol::Auto` follows `EIO=4`, `EIO=3` (once), `EIO=4` (WebSocket-only, once).
    fn check_handshake(&mut self, s: &Session, uri: &Uri) {
        if s.sid().is_some() {
            return;
        }
        let query = uri.query().unwrap_or("");
        let asked = if query.contains("EIO=3&") {
            Protocol::V3
        } else {
            assert!(query.contains("EIO=4&"), "a handshake without EIO: {uri}");
            Protocol::V4
        };
        self.handshakes.push(asked);
        let end = self.handshake_end.take();
        match self.protocol {
            Protocol::Auto => {
                let ws_only = self.transports == Transports::WebSocket;
                let allowed: &[Protocol] = if ws_only {
                    &[Protocol::V4, Protocol::V3, Protocol::V4]
                } else {
                    &[Protocol::V4, Protocol::V3]
                };
                assert!(
                    self.handshakes.len() <= allowed.len()
                        && self.handshakes[..] == allowed[..self.handshakes.len()],
                    "handshakes asking {:?} (Protocol::Auto allows {allowed:?}): {uri}",
                    self.handshakes
                );
                let why = match self.handshakes.len() {
                    1 => true,
                    2 => matches!(
                        end,
                        Some(
                            HandshakeEnd::Unsupported
                                | HandshakeEnd::WsRefused(400)
                                | HandshakeEnd::OpenWithoutMaxPayload
                        )
                    ),
                    _ => matches!(end, Some(HandshakeEnd::WsRefused(_))),
                };
                assert!(
                    why,
                    "handshake {} asks {asked:?} after {end:?}: {uri}",
                    self.handshakes.len()
                );
            }
            pinned => assert_eq!(
                asked, pinned,
                "a handshake that asks another version: {uri}"
            ),
        }
    }

    fn check_polling(&self, s: &Session, uri: &Uri) {
        assert!(!self.upgraded, "a polling request after the upgrade: {uri}");
        assert_ne!(
            self.transports,
            Transports::WebSocket,
            "a polling request in a WebSocket-only session: {uri}"
        );
        self.check_url(s, uri, TransportKind::Polling);
    }

    /// The URL is the endpoint's for `transport` and the session's sid, with a stamp
    /// exactly when asked.
    fn check_url(&self, s: &Session, uri: &Uri, transport: TransportKind) {
        let query = uri.query().unwrap_or("");
        assert!(
            query.contains(&format!("transport={transport}")),
            "a {transport} request without transport={transport}: {uri}"
        );
        // Before the handshake is done, either version may be asked (Protocol::Auto).
        let version = s.protocol().unwrap_or(if query.contains("EIO=3&") {
            engineio::Protocol::V3
        } else {
            engineio::Protocol::V4
        });
        let base = s
            .endpoint()
            .uri_for(version, transport, s.sid(), None)
            .to_string();
        let got = uri.to_string();
        let stamped = self.timestamps && transport == TransportKind::Polling;
        let ok = match got.strip_prefix(&base) {
            Some("") => !stamped,
            Some(rest) => stamped && rest.strip_prefix("&t=").is_some_and(|t| !t.is_empty()),
            None => false,
        };
        let stamp = if stamped { "&t=…" } else { "" };
        assert!(ok, "the URL {got} is not {base}{stamp}");
    }

    /// A packet the client sent, over either transport.
    fn client_packet(&mut self, p: Packet, on: TransportKind) {
        let on_ws = on == TransportKind::WebSocket;
        match &p {
            Packet::Message(m) => {
                assert!(!self.close_sent, "a message after the close packet");
                assert!(
                    self.transmitted < self.sent.len(),
                    "a message that was never sent: {m:?}"
                );
                assert_eq!(*m, self.sent[self.transmitted], "messages out of order");
                self.transmitted += 1;
            }
            Packet::Pong(d) if self.v3 => {
                panic!("a pong in v3, where the server never pings: {d:?}")
            }
            Packet::Pong(d) => assert!(self.pings.contains(d), "a pong for no ping: {d:?}"),
            // v3: the client's heartbeat.
            Packet::Ping(d) if self.v3 && d.is_empty() => {
                assert!(!self.close_sent, "a ping after the close packet");
                let (Some(at), Some(now), Some(interval)) =
                    (self.connected_at, self.now, self.ping_interval)
                else {
                    panic!("a v3 ping before the handshake")
                };
                assert!(
                    at.checked_add(interval).is_some_and(|due| now >= due),
                    "a v3 ping {:?} after the handshake, before pingInterval ({interval:?})",
                    now.saturating_duration_since(at)
                );
                self.v3_pings += 1;
                assert!(
                    self.v3_pings <= self.v3_pongs + 1,
                    "v3 ping {} after only {} pongs: a ping must wait for the pong",
                    self.v3_pings,
                    self.v3_pongs
                );
            }
            Packet::Close => {
                assert!(self.close_called, "a close packet without close()");
                assert!(!self.close_sent, "a second close packet");
                self.close_sent = true;
            }
            Packet::Ping(_) if !on_ws => panic!("the client sent a ping over polling: {p:?}"),
            Packet::Ping(d) => {
                assert_eq!(d, "probe", "the client sent a ping that is not a probe");
                assert_eq!(
                    self.transports,
                    Transports::Upgrade,
                    "a probe in a session that does not upgrade"
                );
            }
            Packet::Upgrade if on_ws => {
                assert_eq!(
                    self.transports,
                    Transports::Upgrade,
                    "an upgrade packet in a session that does not upgrade"
                );
                assert!(!self.upgrade_sent, "a second upgrade packet");
                self.upgrade_sent = true;
            }
            other => panic!("the client sent {other:?} over {on}"),
        }
        self.inbox.push((on, p));
    }

    /// Checks and records one event of `s` (part of [`drain`](Self::drain)).
    pub fn event(&mut self, s: &Session, e: SessionEvent) {
        assert!(!self.ended, "an event after the last one: {e:?}");
        match &e {
            SessionEvent::Connected => {
                assert!(!self.connected, "connected twice");
                self.connected = true;
                assert!(
                    s.sid().is_some_and(|sid| !sid.is_empty()),
                    "connected without a sid"
                );
                assert!(s.handshake().is_some(), "connected without a handshake");
                self.connected_at = self.now;
                self.ping_interval = s.handshake().map(|h| h.ping_interval);
            }
            SessionEvent::Message(_) => assert!(self.connected, "a message before connecting"),
            SessionEvent::Upgraded => {
                assert!(self.connected, "upgraded before connecting");
                assert!(self.upgrade_sent, "upgraded before sending 5");
                assert!(!self.upgraded, "upgraded twice");
                self.upgraded = true;
                assert_eq!(
                    s.transport(),
                    TransportKind::WebSocket,
                    "upgraded but not on WebSocket"
                );
            }
            SessionEvent::UpgradeFailed(_) => {
                assert!(self.connected, "an upgrade failed before connecting");
                assert!(!self.upgraded, "an upgrade failed after the upgrade");
                assert_eq!(
                    self.transports,
                    Transports::Upgrade,
                    "an upgrade failed in a session that does not upgrade"
                );
            }
            SessionEvent::ConnectFailed(_) => {
                assert!(!self.connected, "ConnectFailed after Connected");
                self.ended = true;
            }
            SessionEvent::Disconnected(reason) => {
                if !self.connected {
                    assert_eq!(
                        *reason,
                        DisconnectReason::ClientDisconnect,
                        "disconnected before connecting, not by close()"
                    );
                    assert!(
                        self.close_called,
                        "disconnected before connecting without close()"
                    );
                }
                self.ended = true;
            }
            _ => {}
        }
        self.events.push(e);
    }

    fn check_state(&self, s: &Session) {
        assert_eq!(
            s.is_closed(),
            self.ended,
            "is_closed() and the events disagree"
        );
        assert_eq!(
            s.is_open(),
            self.connected && !self.close_called && !self.ended,
            "is_open() and the events disagree"
        );
        if self.ended {
            assert_eq!(s.poll_timeout(), None, "a deadline after the end");
            assert!(!s.is_upgrading(), "upgrading after the end");
        } else {
            // `queued()` counts pongs and the close packet too: at most that many messages.
            let queued = s.queued();
            assert!(
                self.transmitted + queued >= self.sent.len(),
                "a message was lost: {} sent, {} out, at most {queued} queued",
                self.sent.len(),
                self.transmitted,
            );
        }
        if s.is_upgrading() {
            assert_eq!(
                self.transports,
                Transports::Upgrade,
                "upgrading in a session that does not upgrade"
            );
            assert!(self.connected, "upgrading before connecting");
        }
        if self.upgraded {
            assert_eq!(
                s.transport(),
                TransportKind::WebSocket,
                "off WebSocket after the upgrade"
            );
        }
    }
}
