//! An Engine.IO client for Rust that runs on any async runtime.
//!
//! Engine.IO is the transport under Socket.IO: HTTP long-polling that upgrades to
//! WebSocket, with heartbeats, binary messages and clean close semantics. This crate speaks
//! protocol v4 (engine.io 4 and later, socket.io 3 and later, python-engineio 4 and later).
//!
//! # Layers
//!
//! - **The protocol core**, which does no I/O: [`Packet`] and [`payload`] (the codec),
//!   [`Handshake`], and [`Session`], a deterministic state machine that is fed the results
//!   of requests and the time, and drained of the requests and frames to send. In the manner
//!   of quinn-proto, it contains no networking code and reads no clock, so every protocol
//!   rule is tested on a fake clock.
//! - **The runtime seams** in [`rt`]: [`Spawner`](rt::Spawner), [`Timer`](rt::Timer),
//!   [`HttpConnector`](rt::HttpConnector), [`WebSocketConnector`](rt::WebSocketConnector)
//!   and [`Dialer`](rt::Dialer). Nothing in the core names a runtime; adapters for tokio,
//!   smol and async-std live behind features of those names.
//!
//! # Driving a session by hand
//!
//! ```
//! use std::time::Instant;
//! use bytes::Bytes;
//! use engineio::{Endpoint, Event, Request, Session, SessionConfig, Transmit};
//!
//! let now = Instant::now();
//! let mut session = Session::new(
//!     Endpoint::parse("http://localhost:5000")?,
//!     SessionConfig::default(),
//!     now,
//! );
//! while let Some(transmit) = session.poll_transmit(now) {
//!     match transmit {
//!         Transmit::Get { uri } => {
//!             // ... perform the GET, then report what came back:
//!             # let _ = uri;
//!             let body = Bytes::from_static(
//!                 br#"0{"sid":"s1","upgrades":[],"pingInterval":25000,"pingTimeout":20000}"#,
//!             );
//!             session.handle_response(now, Request::Get, 200, body);
//!         }
//!         other => unreachable!("{other:?}"),
//!     }
//! #   if session.is_open() { break }
//! }
//! assert_eq!(session.poll_event(), Some(Event::Connected));
//! assert_eq!(session.sid(), Some("s1"));
//! # Ok::<(), engineio::UrlError>(())
//! ```
#![warn(missing_docs, unreachable_pub)]
#![deny(unsafe_op_in_unsafe_fn)]

#[path = "../adapters/mod.rs"]
pub mod adapters;
#[cfg(feature = "blocking")]
mod blocking;
mod bytestr;
mod client;
pub mod connector;
mod cookie;
pub mod error;
mod handshake;
mod message;
pub mod packet;
pub mod payload;
mod reason;
pub mod rt;
pub mod session;
mod url;

#[cfg(feature = "blocking")]
pub use blocking::Client;
pub use bytestr::ByteStr;
pub use client::{AsyncClient, BackgroundTask, ClientBuilder, ClientEvent, Events};
pub use error::{DecodeError, Error, SendError, SendErrorKind};
pub use handshake::Handshake;
pub use message::Payload;
pub use packet::{Frame, Packet, PacketType};
pub use reason::{DisconnectReason, HttpStatusError, ServerClose, TransportFailure};
pub use rt::Runtime;
pub use session::{Event, Request, Session, SessionConfig, Transmit, Transports};
pub use url::{Endpoint, TransportKind, UrlError};

/// The README's Rust examples, compiled and run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
