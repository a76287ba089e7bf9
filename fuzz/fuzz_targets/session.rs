//! The sans-IO session: a `Session` driven by an arbitrary sequence of inputs, as a hostile
//! or broken server, a flaky network and a busy application could produce them: answers
//! with any status and body to the GET or POST in flight, WebSocket opens, failures, close
//! frames and text or binary frames, the passing of time on a fake clock, sends and
//! closes. After every input the driver drains `poll_transmit`, then `poll_event`, as the
//! module docs say.
//!
//! Bodies and frames are either raw bytes or well-formed packets (an open packet with
//! arbitrary timings, pings, `3probe`, messages, close…), so that the fuzzer gets past the
//! handshake and into the upgrade.
//!
//! In strict mode the driver only reports what it was asked to do (the answer to a
//! request in flight, a frame on an open socket). In lenient mode it reports anything at
//! any time; the session must not panic and its documented rules must still hold.
//!
//! Checked, beside no panic (from the docs of `Session`, `Transmit` and `Event`):
//! - at most one GET and one POST in flight, and at most one WebSocket; frames are only
//!   sent on an open WebSocket; no polling request after the upgrade;
//! - a POST is UTF-8 packets: 1 to `max_packets_per_post` of them, within the server's
//!   `maxPayload` unless alone;
//! - the client never pings (except `2probe` on the probe socket); a pong echoes the data
//!   of a ping the server sent; the close packet is sent only after `close()`, and last;
//! - messages go out in the order they were queued, none twice, none lost while the
//!   session lives (sent = transmitted + still queued);
//! - `send` succeeds exactly when `is_open()`, except for text holding U+001E (the polling
//!   separator) while on long-polling, and hands the message back otherwise, with
//!   `NotConnected` before the handshake, `Closed` after, and `RecordSeparator`;
//! - events: `Connected` first and at most once; messages and upgrade events only while
//!   connected; `Upgraded` only after `5` was sent; `ConnectFailed` or `Disconnected` last,
//!   after which the session `is_closed()`, has no deadline, and once drained transmits
//!   nothing more; a disconnect without a connect is the client's own `close()`;
//! - `is_open()`/`is_closed()` agree with the events; `is_closed()` stays true;
//! - after `handle_timeout(now)`, the next deadline is in the future (no busy loop).
#![no_main]

use std::collections::HashSet;
use std::time::{Duration, Instant};

use arbitrary::Arbitrary;
use bytes::Bytes;
use engineio::{
    ByteStr, DisconnectReason, Endpoint, Event, Frame, Handshake, Packet, Payload, Request,
    SendErrorKind, Session, SessionConfig, Transmit, TransportFailure, TransportKind, Transports,
    payload,
};
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug, Clone, Copy, PartialEq)]
enum Mode {
    Polling,
    WebSocket,
    Upgrade,
}

#[derive(Arbitrary, Debug)]
struct Input {
    mode: Mode,
    secure: bool,
    request_timeout_ms: u16,
    upgrade_timeout_ms: u16,
    timestamp_requests: bool,
    max_packets_per_post: u8,
    lenient: bool,
    ops: Vec<Op>,
}

#[derive(Arbitrary, Debug)]
enum Millis {
    Small(u16),
    Large(u32),
    Max,
}

impl Millis {
    fn duration(&self) -> Duration {
        match *self {
            Millis::Small(ms) => Duration::from_millis(ms.into()),
            Millis::Large(ms) => Duration::from_millis(ms.into()),
            Millis::Max => Duration::from_millis(u64::MAX),
        }
    }
}

/// A packet as a server could send it.
#[derive(Arbitrary, Debug)]
enum Wire {
    Open {
        sid: String,
        websocket: bool,
        ping_interval: Millis,
        ping_timeout: Millis,
        max_payload: Option<u16>,
    },
    Close,
    Ping(String),
    ProbePing,
    Pong(String),
    ProbePong,
    Message(String),
    Binary(Vec<u8>),
    Upgrade,
    Noop,
}

impl Wire {
    fn packet(&self) -> Packet {
        match self {
            Wire::Open {
                sid,
                websocket,
                ping_interval,
                ping_timeout,
                max_payload,
            } => Packet::Open(Handshake {
                sid: sid.clone(),
                upgrades: if *websocket {
                    vec!["websocket".into()]
                } else {
                    vec![]
                },
                ping_interval: ping_interval.duration(),
                ping_timeout: ping_timeout.duration(),
                max_payload: max_payload.map(u64::from),
            }),
            Wire::Close => Packet::Close,
            Wire::Ping(d) => Packet::Ping(ByteStr::from(d.as_str())),
            Wire::ProbePing => Packet::Ping("probe".into()),
            Wire::Pong(d) => Packet::Pong(ByteStr::from(d.as_str())),
            Wire::ProbePong => Packet::Pong("probe".into()),
            Wire::Message(m) => Packet::Message(Payload::from(m.as_str())),
            Wire::Binary(b) => Packet::Message(Payload::from(b.as_slice())),
            Wire::Upgrade => Packet::Upgrade,
            Wire::Noop => Packet::Noop,
        }
    }
}

/// The body of an HTTP answer.
#[derive(Arbitrary, Debug)]
enum Body {
    Packets(Vec<Wire>),
    Raw(Vec<u8>),
    /// python-engineio's answer to a poll after it closed the session.
    SessionClosed,
}

impl Body {
    fn bytes(&self) -> Bytes {
        match self {
            Body::Packets(ws) => {
                let packets: Vec<Packet> = ws.iter().map(Wire::packet).collect();
                Bytes::from(payload::encode(&packets))
            }
            Body::Raw(b) => Bytes::copy_from_slice(b),
            Body::SessionClosed => Bytes::from_static(b"\"Session is disconnected\""),
        }
    }
}

#[derive(Arbitrary, Debug)]
enum Status {
    Ok,
    BadRequest,
    Other(u16),
}

#[derive(Arbitrary, Debug)]
enum WsIn {
    Packet { packet: Wire, b64: bool },
    Text(String),
    Binary(Vec<u8>),
}

impl WsIn {
    fn frame(&self) -> Frame {
        match self {
            WsIn::Packet { packet, b64 } => packet.packet().encode_frame(*b64),
            WsIn::Text(t) => Frame::Text(ByteStr::from(t.as_str())),
            WsIn::Binary(b) => Frame::Binary(Bytes::copy_from_slice(b)),
        }
    }
}

#[derive(Arbitrary, Debug)]
enum Msg {
    Text(String),
    Binary(Vec<u8>),
}

#[derive(Arbitrary, Debug)]
enum Op {
    Respond {
        get: bool,
        status: Status,
        body: Body,
    },
    Fail {
        get: bool,
    },
    WsConnected,
    WsFrame(WsIn),
    WsClosed {
        code: u16,
        reason: String,
    },
    WsFailed,
    Advance(u16),
    AdvanceLong(u32),
    ToDeadline,
    Send(Msg),
    Close,
}

#[derive(Debug, PartialEq)]
enum Ws {
    None,
    Opening,
    Open,
}

/// The driver: what it was asked to do, and what it saw.
struct Driver {
    mode: Mode,
    max_packets: usize,
    get: bool,
    post: bool,
    ws: Ws,
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
    /// The data of every ping the server may have sent.
    pings: HashSet<ByteStr>,
}

impl Driver {
    fn note_pings(&mut self, packets: impl Iterator<Item = Result<Packet, engineio::DecodeError>>) {
        for p in packets {
            if let Ok(Packet::Ping(d)) = p {
                self.pings.insert(d);
            }
        }
    }

    /// A packet the client sent, over either transport.
    fn client_packet(&mut self, p: Packet, on_ws: bool) {
        match p {
            Packet::Message(m) => {
                assert!(!self.close_sent, "a message after the close packet");
                assert!(
                    self.transmitted < self.sent.len(),
                    "a message that was never sent: {m:?}"
                );
                assert_eq!(m, self.sent[self.transmitted], "messages out of order");
                self.transmitted += 1;
            }
            Packet::Pong(d) => {
                assert!(self.pings.contains(&d), "a pong for no ping: {d:?}")
            }
            Packet::Close => {
                assert!(self.close_called, "a close packet without close()");
                assert!(!self.close_sent, "a second close packet");
                self.close_sent = true;
            }
            Packet::Ping(d) if on_ws => {
                assert_eq!(d, "probe", "the client never pings");
                assert_eq!(self.mode, Mode::Upgrade);
            }
            Packet::Upgrade if on_ws => {
                assert_eq!(self.mode, Mode::Upgrade);
                assert!(!self.upgrade_sent, "a second upgrade packet");
                self.upgrade_sent = true;
            }
            other => panic!("the client sent {other:?} (on the WebSocket: {on_ws})"),
        }
    }

    fn drain(&mut self, s: &mut Session, now: Instant) {
        while let Some(t) = s.poll_transmit(now) {
            assert!(!self.drained_closed, "{t:?} after the session closed");
            assert!(
                !self.ended || t == Transmit::WsClose,
                "{t:?} after the last event"
            );
            match t {
                Transmit::Get { uri } => {
                    assert!(!self.get, "a second GET in flight");
                    assert!(!self.upgraded, "a GET after the upgrade");
                    assert_ne!(self.mode, Mode::WebSocket);
                    assert!(uri.query().unwrap_or("").contains("transport=polling"));
                    self.get = true;
                }
                Transmit::Post { uri, body } => {
                    assert!(!self.post, "a second POST in flight");
                    assert!(!self.upgraded, "a POST after the upgrade");
                    assert!(uri.query().unwrap_or("").contains("transport=polling"));
                    self.post = true;
                    assert!(
                        std::str::from_utf8(&body).is_ok(),
                        "a POST that is not UTF-8"
                    );
                    let packets: Vec<Packet> = payload::decode(body.clone())
                        .collect::<Result<_, _>>()
                        .expect("a POST decodes");
                    let n = packets.len();
                    assert!((1..=self.max_packets.max(1)).contains(&n), "{n} packets");
                    if let Some(max) = s.handshake().and_then(|h| h.max_payload) {
                        assert!(
                            n == 1 || body.len() as u64 <= max,
                            "{n} packets in {} bytes > maxPayload {max}",
                            body.len()
                        );
                    }
                    for p in packets {
                        self.client_packet(p, false);
                    }
                }
                Transmit::WsOpen { uri } => {
                    assert_eq!(self.ws, Ws::None, "a second WebSocket");
                    assert_ne!(self.mode, Mode::Polling);
                    assert!(matches!(uri.scheme_str(), Some("ws" | "wss")));
                    assert!(uri.query().unwrap_or("").contains("transport=websocket"));
                    self.ws = Ws::Opening;
                }
                Transmit::WsSend(frame) => {
                    assert_eq!(self.ws, Ws::Open, "a frame on no open WebSocket");
                    let p = Packet::decode_frame(frame).expect("the client's frame decodes");
                    self.client_packet(p, true);
                }
                Transmit::WsClose => self.ws = Ws::None,
            }
        }
        if s.is_closed() {
            self.drained_closed = true;
        }

        while let Some(e) = s.poll_event() {
            assert!(!self.ended, "an event after the last one: {e:?}");
            match e {
                Event::Connected => {
                    assert!(!self.connected, "connected twice");
                    self.connected = true;
                    assert!(s.sid().is_some_and(|sid| !sid.is_empty()));
                    assert!(s.handshake().is_some());
                }
                Event::Message(_) => assert!(self.connected, "a message before connecting"),
                Event::Upgraded => {
                    assert!(self.connected && self.upgrade_sent && !self.upgraded);
                    self.upgraded = true;
                    assert_eq!(s.transport(), TransportKind::WebSocket);
                }
                Event::UpgradeFailed(_) => {
                    assert!(self.connected && !self.upgraded);
                    assert_eq!(self.mode, Mode::Upgrade);
                }
                Event::ConnectFailed(_) => {
                    assert!(!self.connected, "ConnectFailed after Connected");
                    self.ended = true;
                }
                Event::Disconnected(reason) => {
                    if !self.connected {
                        assert_eq!(reason, DisconnectReason::ClientDisconnect);
                        assert!(self.close_called);
                    }
                    self.ended = true;
                }
                _ => {}
            }
        }

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
            assert!(!s.is_upgrading());
        } else {
            let queued_messages_at_most = s.queued();
            assert!(
                self.transmitted + queued_messages_at_most >= self.sent.len(),
                "a message was lost: {} sent, {} out, {} queued",
                self.sent.len(),
                self.transmitted,
                queued_messages_at_most
            );
        }
        if s.is_upgrading() {
            assert_eq!(self.mode, Mode::Upgrade);
            assert!(self.connected);
        }
        if self.upgraded {
            assert_eq!(s.transport(), TransportKind::WebSocket);
        }
    }
}

fuzz_target!(|input: Input| {
    let mut now = Instant::now();
    let mut config = SessionConfig::default();
    config.transports = match input.mode {
        Mode::Polling => Transports::Polling,
        Mode::WebSocket => Transports::WebSocket,
        Mode::Upgrade => Transports::Upgrade,
    };
    config.request_timeout = Duration::from_millis(input.request_timeout_ms.into());
    config.upgrade_timeout = Duration::from_millis(input.upgrade_timeout_ms.into());
    config.timestamp_requests = input.timestamp_requests;
    config.max_packets_per_post = usize::from(input.max_packets_per_post % 20);
    let url = if input.secure {
        "https://h"
    } else {
        "http://h:8080"
    };
    let max_packets = config.max_packets_per_post;
    let mut s = Session::new(Endpoint::parse(url).unwrap(), config, now);
    let mut d = Driver {
        mode: input.mode,
        max_packets,
        get: false,
        post: false,
        ws: Ws::None,
        connected: false,
        ended: false,
        drained_closed: false,
        close_called: false,
        close_sent: false,
        upgrade_sent: false,
        upgraded: false,
        sent: Vec::new(),
        transmitted: 0,
        pings: HashSet::new(),
    };
    let lenient = input.lenient;
    d.drain(&mut s, now);

    for op in input.ops {
        match op {
            Op::Respond { get, status, body } => {
                let (request, outstanding) = if get {
                    (Request::Get, &mut d.get)
                } else {
                    (Request::Post, &mut d.post)
                };
                if !*outstanding && !lenient {
                    continue;
                }
                *outstanding = false;
                let status = match status {
                    Status::Ok => 200,
                    Status::BadRequest => 400,
                    Status::Other(n) => n,
                };
                let body = body.bytes();
                if status == 200 && get {
                    d.note_pings(payload::decode(body.clone()));
                }
                s.handle_response(now, request, status, body);
            }
            Op::Fail { get } => {
                let (request, outstanding) = if get {
                    (Request::Get, &mut d.get)
                } else {
                    (Request::Post, &mut d.post)
                };
                if !*outstanding && !lenient {
                    continue;
                }
                *outstanding = false;
                s.handle_request_failed(now, request, TransportFailure::Io("reset".into()));
            }
            Op::WsConnected => {
                if d.ws == Ws::Opening {
                    d.ws = Ws::Open;
                } else if !lenient {
                    continue;
                }
                s.handle_ws_connected(now);
            }
            Op::WsFrame(frame) => {
                if d.ws != Ws::Open && !lenient {
                    continue;
                }
                let frame = frame.frame();
                d.note_pings(std::iter::once(Packet::decode_frame(frame.clone())));
                s.handle_ws_frame(now, frame);
            }
            Op::WsClosed { code, reason } => {
                if d.ws == Ws::Open {
                    d.ws = Ws::None;
                } else if !lenient {
                    continue;
                }
                s.handle_ws_closed(now, code, &reason);
            }
            Op::WsFailed => {
                if d.ws != Ws::None {
                    d.ws = Ws::None;
                } else if !lenient {
                    continue;
                }
                s.handle_ws_failed(now, TransportFailure::Io("eof".into()));
            }
            Op::Advance(ms) => advance(&mut s, &mut now, Duration::from_millis(ms.into())),
            Op::AdvanceLong(ms) => advance(&mut s, &mut now, Duration::from_millis(ms.into())),
            Op::ToDeadline => {
                if let Some(at) = s.poll_timeout() {
                    let by = at.saturating_duration_since(now);
                    advance(&mut s, &mut now, by);
                }
            }
            Op::Send(msg) => {
                let payload = match msg {
                    Msg::Text(t) => Payload::from(t),
                    Msg::Binary(b) => Payload::from(b),
                };
                let open = s.is_open();
                let handshaking = !d.connected && !d.ended;
                // Text holding the polling separator is refused while on long-polling.
                let separator = payload
                    .as_text()
                    .is_some_and(|t| t.contains(char::from(payload::SEPARATOR)));
                let on_polling = s.transport() == TransportKind::Polling;
                match s.send(payload.clone()) {
                    Ok(()) => {
                        assert!(open, "send accepted while not open");
                        assert!(!(separator && on_polling), "U+001E accepted on polling");
                        d.sent.push(payload);
                    }
                    Err(e) => {
                        assert_eq!(e.payload, payload, "the refused message is handed back");
                        let want = if handshaking {
                            SendErrorKind::NotConnected
                        } else if !open {
                            SendErrorKind::Closed
                        } else if separator && on_polling {
                            SendErrorKind::RecordSeparator
                        } else {
                            panic!("send refused while open: {e:?}")
                        };
                        assert_eq!(e.kind, want);
                    }
                }
            }
            Op::Close => {
                d.close_called = true;
                s.close();
            }
        }
        d.drain(&mut s, now);
    }
});

/// Moves the fake clock forward and reports the time.
fn advance(s: &mut Session, now: &mut Instant, by: Duration) {
    if let Some(later) = now.checked_add(by) {
        *now = later;
    }
    s.handle_timeout(*now);
    if let Some(at) = s.poll_timeout() {
        assert!(at > *now, "a deadline already past after handle_timeout");
    }
}
