//! The protocol core: Engine.IO v4 and v3 without I/O.
//!
//! Everything here is deterministic and does no I/O, in the manner of quinn-proto: it
//! opens no socket, spawns nothing and reads no clock. [`Packet`] and [`payload`] are the
//! codec (a packet as a WebSocket [`Frame`], packets joined into a polling payload),
//! [`Handshake`] is the server's open packet, and [`Session`] is the state machine of one
//! connection: fed the results of requests and the time, drained of the requests and
//! frames to send. [`v3`] has protocol v3's framings, and says which the servers use. [`AsyncClient`](crate::AsyncClient) runs a `Session` over real
//! transports; use this module to drive one yourself, or to test against the protocol.
//!
//! ```
//! use std::time::Instant;
//! use bytes::Bytes;
//! use engineio::proto::{Endpoint, PollRequest, Session, SessionConfig, SessionEvent, Transmit};
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
//!             session.handle_response(now, PollRequest::Get, 200, body);
//!         }
//!         other => unreachable!("{other:?}"),
//!     }
//! #   if session.is_open() { break }
//! }
//! assert_eq!(session.poll_event(), Some(SessionEvent::Connected));
//! assert_eq!(session.sid(), Some("s1"));
//! # Ok::<(), engineio::UrlError>(())
//! ```

mod handshake;
mod packet;
pub mod payload;
mod session;
pub mod v3;

pub use self::handshake::Handshake;
pub use self::packet::{Frame, Packet, PacketType};
pub use self::session::{PollRequest, Session, SessionConfig, SessionEvent, Transmit};
pub use crate::url::Endpoint;
