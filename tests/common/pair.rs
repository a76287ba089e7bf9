//! The test driver of the deterministic session tests (tests/session.rs for v4,
//! tests/session_v3.rs for v3): a [`Session`] and a scripted server around it on a fake
//! clock, with every transmit and event checked against the rules of
//! tests/common/rules.rs.
//!
//! Not a module of tests/common/mod.rs: the test files that use it include it by path
//! (`#[path = "common/pair.rs"] mod pair;`) next to their `mod common;`.
#![allow(dead_code)]

use std::time::{Duration, Instant};

use bytes::Bytes;
use engineio::Payload;
use engineio::Transports;
use engineio::proto::{Endpoint, Frame, Packet, PollRequest, Session, SessionConfig, SessionEvent};
use engineio::{SendError, TransportFailure};

use crate::common::rules::Checker;

/// The client session and what a server would have seen of it (the GET and POST in
/// flight, the WebSocket, the packets received, the events), on a fake clock.
pub struct Pair {
    pub session: Session,
    pub now: Instant,
    pub seen: Checker,
}

impl Pair {
    pub fn new(transports: Transports) -> Pair {
        let mut config = SessionConfig::default();
        config.transports = transports;
        Pair::with_config(config)
    }

    pub fn with_config(config: SessionConfig) -> Pair {
        let now = Instant::now();
        let endpoint = Endpoint::parse("http://127.0.0.1:5000").unwrap();
        let seen = Checker::new(&config);
        let mut pair = Pair {
            session: Session::new(endpoint, config, now),
            now,
            seen,
        };
        pair.step();
        pair
    }

    /// Polling session, opened with `handshake`, with a poll in flight: when the server
    /// offers an upgrade, the client probes before it polls, and polls only once the
    /// probe has taken longer than the hold (this is that case: see
    /// `the_probe_goes_before_the_first_poll` for the other).
    pub fn polling(handshake: &str) -> Pair {
        Pair::polling_with(SessionConfig::default(), handshake)
    }

    /// As [`Pair::polling`], for a session made with `config`.
    pub fn polling_with(config: SessionConfig, handshake: &str) -> Pair {
        let mut p = Pair::with_config(config);
        p.answer_get(handshake);
        if p.seen.get().is_none() && p.session.is_upgrading() {
            let hold = p.session.poll_timeout().expect("the poll hold") - p.now;
            p.advance(hold);
            assert!(p.seen.get().is_some(), "no poll after the hold");
        }
        p
    }

    /// Polling session, opened with `handshake`, as the session leaves it.
    pub fn opened(handshake: &str) -> Pair {
        let mut p = Pair::new(Transports::Upgrade);
        p.answer_get(handshake);
        p
    }

    /// Collects every transmit and event, checking the rules each must keep.
    pub fn step(&mut self) {
        self.seen.drain(&mut self.session, self.now);
    }

    pub fn answer_get(&mut self, body: &str) {
        self.answer_get_status(200, body);
    }

    pub fn answer_get_status(&mut self, status: u16, body: &str) {
        self.answer(PollRequest::Get, status, body);
    }

    /// Answers the GET in flight with 200 and `body` as it is (a binary framing, say).
    pub fn answer_get_bytes(&mut self, body: &[u8]) {
        self.answer_bytes(PollRequest::Get, 200, Bytes::copy_from_slice(body));
    }

    pub fn answer_post(&mut self) {
        self.answer_post_status(200, "ok");
    }

    pub fn answer_post_status(&mut self, status: u16, body: &str) {
        self.answer(PollRequest::Post, status, body);
    }

    pub fn answer(&mut self, request: PollRequest, status: u16, body: &str) {
        self.answer_bytes(request, status, Bytes::copy_from_slice(body.as_bytes()));
    }

    pub fn answer_bytes(&mut self, request: PollRequest, status: u16, body: Bytes) {
        assert!(self.seen.in_flight(request), "no {request:?} in flight");
        self.seen
            .handle_response(&mut self.session, self.now, request, status, body);
        self.step();
    }

    pub fn ws_connect(&mut self) {
        assert!(
            self.seen.ws_opening().is_some(),
            "no WebSocket open requested"
        );
        self.seen.handle_ws_connected(&mut self.session, self.now);
        self.step();
    }

    pub fn ws_recv(&mut self, text: &str) {
        self.ws_recv_frame(Frame::Text(text.into()));
    }

    pub fn ws_recv_frame(&mut self, frame: Frame) {
        self.seen
            .handle_ws_frame(&mut self.session, self.now, frame);
        self.step();
    }

    /// The WebSocket fails (not stepped).
    pub fn ws_failed(&mut self, error: TransportFailure) {
        self.seen
            .handle_ws_failed(&mut self.session, self.now, error);
    }

    /// The server closes the WebSocket with a close frame (not stepped).
    pub fn ws_closed(&mut self, code: u16, reason: &str) {
        self.seen
            .handle_ws_closed(&mut self.session, self.now, code, reason);
    }

    pub fn advance(&mut self, d: Duration) {
        self.now += d;
        if self.session.poll_timeout().is_some_and(|t| t <= self.now) {
            self.seen.handle_timeout(&mut self.session, self.now);
        }
        self.step();
    }

    /// Queues a message (not stepped).
    pub fn queue(&mut self, m: impl Into<Payload>) -> Result<(), SendError> {
        self.seen.send(&mut self.session, m)
    }

    pub fn send(&mut self, s: &str) {
        self.queue(s).unwrap();
        self.step();
    }

    /// Closes the session from the client side (not stepped).
    pub fn close(&mut self) {
        self.seen.close(&mut self.session);
    }

    pub fn messages(&self) -> Vec<String> {
        self.seen
            .events()
            .iter()
            .filter_map(|e| match e {
                SessionEvent::Message(Payload::Text(t)) => Some(t.to_string()),
                _ => None,
            })
            .collect()
    }

    /// Text messages the server received, in order, over any transport.
    pub fn received(&self) -> Vec<String> {
        self.seen
            .inbox()
            .iter()
            .filter_map(|(_, p)| match p {
                Packet::Message(Payload::Text(t)) => Some(t.to_string()),
                _ => None,
            })
            .collect()
    }

    pub fn last_event(&self) -> &SessionEvent {
        self.seen.events().last().expect("no event")
    }

    /// Opens the probe socket and answers the probe: the upgrade then waits for the
    /// requests in flight.
    pub fn upgrade_until_draining(&mut self) {
        self.ws_connect();
        self.ws_recv("3probe");
    }
}
