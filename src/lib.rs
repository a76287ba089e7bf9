//! An Engine.IO client for Rust that runs on any async runtime.
//!
//! Engine.IO is the transport under Socket.IO: HTTP long-polling that upgrades to
//! WebSocket, with heartbeats, binary messages and clean close semantics. This crate speaks
//! protocol v4 (node engine.io 4 and later, socket.io 3 and later, python-engineio 4 and
//! later, engineioxide) and brings python-engineio's two clients to Rust: [`AsyncClient`]
//! for async code and `Client` (feature `blocking`) for threads, with the same methods.
//!
//! # The walk-through of python-engineio's client, in Rust
//!
//! ```no_run
//! use std::time::Duration;
//! use engineio::{AsyncClient, DisconnectReason, Payload};
//!
//! # async fn run() -> Result<(), engineio::Error> {
//! // Creating a client instance.
//! let eio = AsyncClient::new();
//!
//! // Defining event handlers: `connect`, `message` and `disconnect`.
//! eio.on_connect(|| async { println!("I'm connected!") });
//! eio.on_message(|data: Payload| async move { println!("I received a message! {data:?}") });
//! eio.on_disconnect(|reason: DisconnectReason| async move {
//!     match reason {
//!         DisconnectReason::ClientDisconnect => println!("client disconnection"),
//!         DisconnectReason::ServerDisconnect(_) => println!("the server kicked me out"),
//!         other => println!("disconnect reason: {other}"),
//!     }
//! });
//!
//! // Connecting to a server; the session id.
//! eio.connect("http://localhost:5000").await?;
//! println!("my sid is {}", eio.sid().unwrap_or_default());
//!
//! // Sending messages: text, bytes, or JSON (python's dict and list).
//! eio.send(serde_json::json!({"foo": "bar"})).await?;
//!
//! // Background tasks and sleeping, on the client's runtime.
//! eio.start_background_task(async { /* background work */ });
//! eio.sleep(Duration::from_secs(2)).await;
//!
//! // Disconnecting, and waiting for the end of the connection.
//! eio.disconnect().await?;
//! eio.wait().await;
//! # Ok(())
//! # }
//! ```
//!
//! Logging goes through the [`log`](https://docs.rs/log) facade; install any logger to see
//! it, and turn this client's records off with [`ClientBuilder::logger`]`(false)`. Every
//! option of python-engineio's constructor is a [`ClientBuilder`] method.
//!
//! # Disconnect reasons
//!
//! [`DisconnectReason`] prints exactly python-engineio's strings: `client disconnect`
//! ([`disconnect`](AsyncClient::disconnect) was called), `server disconnect` (a close packet,
//! a WebSocket close frame, or python's "Session is disconnected"), and `transport error`
//! (refused, reset, ended without a close frame, HTTP error, bad data, or no ping within
//! pingInterval + pingTimeout). The detail rides along in the variant; `{reason:#}` prints
//! it.
//!
//! # Runtimes and features
//!
//! | feature | gives | default |
//! |---|---|---|
//! | `tokio` | `adapters::tokio`: tokio's sockets and timers | yes |
//! | `smol` | `adapters::smol`: smol's executor, async-io timers, async-net sockets | no |
//! | `async-std` | `adapters::async_std` (async-std is discontinued upstream; kept thin) | no |
//! | `rustls` | `https://` and `wss://` on rustls with the ring provider | yes |
//! | `blocking` | `Client` | yes |
//! | `surf` | `connector::SurfConnector`, an opt-in HTTP connector over surf | no |
//!
//! `AsyncClient::new()` runs on the runtime chosen by feature (tokio first). Any other
//! executor works through [`AsyncClient::with_runtime`] and [`rt::Runtime::new`], from three
//! small traits:
//!
//! ```no_run
//! use std::sync::Arc;
//! use std::time::Duration;
//! use async_trait::async_trait;
//! use futures::future::BoxFuture;
//! use engineio::rt::{Dialer, Io, Runtime, Spawner, Timer};
//!
//! struct MySpawner;
//! impl Spawner for MySpawner {
//!     fn spawn(&self, task: BoxFuture<'static, ()>) {
//!         // hand `task` to your executor
//! #       drop(task);
//!     }
//! }
//!
//! struct MyTimer;
//! impl Timer for MyTimer {
//!     fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()> {
//!         // a future that completes after `duration`
//! #       let _ = duration;
//!         Box::pin(async {})
//!     }
//! }
//!
//! struct MyDialer;
//! #[async_trait]
//! impl Dialer for MyDialer {
//!     async fn dial(&self, host: &str, port: u16) -> std::io::Result<Box<dyn Io>> {
//!         // a connected TCP stream (futures-io), e.g. from async-net
//! #       let _ = (host, port);
//!         Err(std::io::ErrorKind::Unsupported.into())
//!     }
//! }
//!
//! let eio = engineio::AsyncClient::with_runtime(Runtime::new(
//!     Arc::new(MySpawner),
//!     Arc::new(MyTimer),
//!     Arc::new(MyDialer),
//! ));
//! # let _ = eio;
//! ```
//!
//! The HTTP and WebSocket sides are pluggable too, the Rust form of python's
//! `http_session`: pass your own [`connector::HttpConnector`] to
//! [`ClientBuilder::http_connector`], or [`connector::WebSocketConnector`] to
//! [`ClientBuilder::websocket_connector`].
//!
//! # Layers
//!
//! - **The protocol core**, [`proto`], which does no I/O: the codec, the handshake, and
//!   [`proto::Session`], a deterministic state machine that is fed the results of
//!   requests and the time, and drained of the requests and frames to send. In the manner
//!   of quinn-proto, it contains no networking code and reads no clock, so every protocol
//!   rule is tested on a fake clock.
//! - **A thin driver** that runs a session over the connectors, one task per connection,
//!   and a dispatcher that runs the handlers in order.
//! - **The seams**: spawning, time and TCP in [`rt`], HTTP and WebSocket in
//!   [`connector`], and their implementations in [`adapters`] and [`connector`], behind
//!   features. Nothing in the core names a runtime.
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
mod error;
mod logging;
mod message;
pub mod proto;
mod reason;
pub mod rt;
mod stats;
mod url;

#[cfg(feature = "blocking")]
pub use blocking::{Client, WeakClient};
pub use bytestr::ByteStr;
pub use client::{
    AsyncClient, BackgroundTask, ClientBuilder, ClientEvent, Events, Reconnect, WeakAsyncClient,
};
pub use error::{DecodeError, Error, SendError, SendErrorKind};
pub use message::Payload;
pub use reason::{DisconnectReason, HttpStatusError, ServerClose, TransportFailure};
pub use stats::ConnectionStats;

pub use url::{Protocol, TransportKind, Transports, UrlError};

/// The README's Rust examples, compiled and run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
