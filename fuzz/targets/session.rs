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
//! The session asks protocol v4, v3 or either (`Protocol::Auto`); bodies come in v4's
//! framing or either of v3's (text with UTF-16 lengths, or binary), frames in either
//! version's, and the handshake can be refused as python-engineio 3 refuses `EIO=4` (a 400
//! with its text, or a 400 to the WebSocket handshake), so that Auto's retries and v3's
//! heartbeat are reached.
//!
//! In strict mode the driver only reports what it was asked to do (the answer to a
//! request in flight, a frame on an open socket). In lenient mode it reports anything at
//! any time; the session must not panic and its documented rules must still hold.
//!
//! Checked, beside no panic: every rule of tests/common/rules.rs (the checker this target
//! shares with the session and property tests, included by path): requests in flight,
//! URLs and the versions they ask, POST contents and content types, the client's packets
//! (v4: no ping but the probe, pongs that echo a ping; v3: no pong, pings that wait for
//! pongs; messages in order, none lost), the events and their order, `send`'s answers,
//! `is_open()`/`is_closed()` against the events, and no deadline already past after
//! `handle_timeout(now)`.

use std::time::{Duration, Instant};

use arbitrary::Arbitrary;
use bytes::Bytes;
use engineio::proto::{
    Endpoint, Frame, Handshake, Packet, PollRequest, Session, SessionConfig, payload, v3,
};
use engineio::{ByteStr, HttpStatusError, Payload, Protocol, TransportFailure, Transports};

#[path = "../../tests/common/rules.rs"]
mod rules;

use rules::{Checker, Ws};

#[derive(Arbitrary, Debug, Clone, Copy, PartialEq)]
enum Mode {
    Polling,
    WebSocket,
    Upgrade,
}

#[derive(Arbitrary, Debug, Clone, Copy, PartialEq)]
enum Version {
    Auto,
    V3,
    V4,
}

#[derive(Arbitrary, Debug)]
struct Input {
    mode: Mode,
    version: Version,
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

/// Packets as v3 frames them (open packets with or without `maxPayload`: a v4 server
/// that allows v3 sends one).
fn v3_packets(ws: &[Wire]) -> Vec<Packet> {
    ws.iter().map(Wire::packet).collect()
}

/// The body of an HTTP answer.
#[derive(Arbitrary, Debug)]
enum Body {
    Packets(Vec<Wire>),
    /// v3's text framing (node's engine.io 3).
    V3Text(Vec<Wire>),
    /// v3's binary framing (python-engineio 3).
    V3Binary(Vec<Wire>),
    Raw(Vec<u8>),
    /// python-engineio's answer to a poll after it closed the session.
    SessionClosed,
    /// python-engineio 3's refusal of `EIO=4` (with a 400).
    Unsupported,
}

impl Body {
    fn bytes(&self) -> Bytes {
        match self {
            Body::Packets(ws) => {
                let packets: Vec<Packet> = ws.iter().map(Wire::packet).collect();
                Bytes::from(payload::encode(&packets))
            }
            Body::V3Text(ws) => Bytes::from(v3::encode_text_payload(&v3_packets(ws))),
            Body::V3Binary(ws) => v3::encode_binary_payload(&v3_packets(ws)),
            Body::Raw(b) => Bytes::copy_from_slice(b),
            Body::SessionClosed => Bytes::from_static(b"\"Session is disconnected\""),
            Body::Unsupported => Bytes::from_static(
                b"\"The client is using an unsupported version of the Socket.IO or Engine.IO protocols\"",
            ),
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
    Packet {
        packet: Wire,
        b64: bool,
    },
    /// A packet as v3 frames it (binary with the type byte).
    V3Packet(Wire),
    Text(String),
    Binary(Vec<u8>),
}

impl WsIn {
    fn frame(&self) -> Frame {
        match self {
            WsIn::Packet { packet, b64 } => packet.packet().encode_frame(*b64),
            WsIn::V3Packet(packet) => v3::encode_frame(packet.packet()),
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
    /// The WebSocket handshake answered with this HTTP status.
    WsRefused(u16),
    Advance(u16),
    AdvanceLong(u32),
    ToDeadline,
    Send(Msg),
    Close,
}

/// One input, as libFuzzer hands it over (fuzz/fuzz_targets) and as the test suite
/// replays it (tests/fuzz_targets.rs): the bytes become an [`Input`] the way
/// `fuzz_target!` makes one.
pub fn run(data: &[u8]) {
    let Ok(input) = Input::arbitrary_take_rest(arbitrary::Unstructured::new(data)) else {
        return;
    };
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
    config.protocol = match input.version {
        Version::Auto => Protocol::Auto,
        Version::V3 => Protocol::V3,
        Version::V4 => Protocol::V4,
    };
    let url = if input.secure {
        "https://h"
    } else {
        "http://h:8080"
    };
    let mut c = Checker::new(&config);
    let mut s = Session::new(Endpoint::parse(url).unwrap(), config, now);
    let lenient = input.lenient;
    c.drain(&mut s, now);

    for op in input.ops {
        match op {
            Op::Respond { get, status, body } => {
                let request = if get {
                    PollRequest::Get
                } else {
                    PollRequest::Post
                };
                if !c.in_flight(request) && !lenient {
                    continue;
                }
                let status = match status {
                    Status::Ok => 200,
                    Status::BadRequest => 400,
                    Status::Other(n) => n,
                };
                c.handle_response(&mut s, now, request, status, body.bytes());
            }
            Op::Fail { get } => {
                let request = if get {
                    PollRequest::Get
                } else {
                    PollRequest::Post
                };
                if !c.in_flight(request) && !lenient {
                    continue;
                }
                let reset = TransportFailure::Io("reset".into());
                c.handle_request_failed(&mut s, now, request, reset);
            }
            Op::WsConnected => {
                if c.ws() != Ws::Opening && !lenient {
                    continue;
                }
                c.handle_ws_connected(&mut s, now);
            }
            Op::WsFrame(frame) => {
                if c.ws() != Ws::Open && !lenient {
                    continue;
                }
                c.handle_ws_frame(&mut s, now, frame.frame());
            }
            Op::WsClosed { code, reason } => {
                if c.ws() != Ws::Open && !lenient {
                    continue;
                }
                c.handle_ws_closed(&mut s, now, code, &reason);
            }
            Op::WsFailed => {
                if c.ws() == Ws::None && !lenient {
                    continue;
                }
                c.handle_ws_failed(&mut s, now, TransportFailure::Io("eof".into()));
            }
            Op::WsRefused(status) => {
                if c.ws() != Ws::Opening && !lenient {
                    continue;
                }
                let refused = TransportFailure::Http(HttpStatusError {
                    status,
                    code: None,
                    message: None,
                });
                c.handle_ws_failed(&mut s, now, refused);
            }
            Op::Advance(ms) => advance(&mut c, &mut s, &mut now, Duration::from_millis(ms.into())),
            Op::AdvanceLong(ms) => {
                advance(&mut c, &mut s, &mut now, Duration::from_millis(ms.into()))
            }
            Op::ToDeadline => {
                if let Some(at) = s.poll_timeout() {
                    let by = at.saturating_duration_since(now);
                    advance(&mut c, &mut s, &mut now, by);
                }
            }
            Op::Send(msg) => {
                let payload = match msg {
                    Msg::Text(t) => Payload::from(t),
                    Msg::Binary(b) => Payload::from(b),
                };
                let _ = c.send(&mut s, payload);
            }
            Op::Close => c.close(&mut s),
        }
        c.drain(&mut s, now);
    }
}

/// Moves the fake clock forward and reports the time.
fn advance(c: &mut Checker, s: &mut Session, now: &mut Instant, by: Duration) {
    if let Some(later) = now.checked_add(by) {
        *now = later;
    }
    c.handle_timeout(s, *now);
}
