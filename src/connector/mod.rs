//! How the client reaches the server: the connector traits, and the built-in connectors
//! (HTTP/1.1 on hyper, WebSocket on async-tungstenite, TLS on rustls with feature `rustls`).
//!
//! [`HttpConnector`] sends the long-polling requests (the Rust form of python-engineio's
//! `http_session`) and [`WebSocketConnector`] opens WebSockets; pass your own to
//! [`ClientBuilder::http_connector`](crate::ClientBuilder::http_connector) and
//! [`ClientBuilder::websocket_connector`](crate::ClientBuilder::websocket_connector).
//!
//! They open no socket themselves and name no async runtime: every connection comes from a
//! [`Dialer`](crate::rt::Dialer), and the only background work (hyper's connection tasks)
//! goes to a [`Spawner`](crate::rt::Spawner). A runtime adapter therefore needs nothing but
//! a `Dialer` and a `Spawner` to get a working client.
//!
//! - [`HyperConnector`]: the default [`HttpConnector`], with a small per-origin connection
//!   pool.
//! - [`TungsteniteConnector`]: the default [`WebSocketConnector`].
//! - `TlsConfig` and `connect_tls` (feature `rustls`): one
//!   `Arc<rustls::ClientConfig>` shared by HTTPS and WSS.

use std::pin::Pin;
use std::task::{Context, Poll};

use futures::io::{AsyncRead, AsyncWrite};

use crate::rt::Io;

mod api;
mod http;
mod proxy;
#[cfg(feature = "surf")]
mod surf;
#[cfg(feature = "rustls")]
mod tls;
mod tunnel;
mod websocket;
mod ws_handshake;

pub use self::api::{
    ConnectorError, ConnectorErrorKind, HttpConnector, WebSocket, WebSocketConnector, WsConnection,
    WsMessage, join_websocket,
};
pub use self::http::HyperConnector;
pub use self::proxy::{Proxy, ProxyError, ProxyErrorKind, ProxyRules, ProxyScheme, ProxyUrlError};
#[cfg(feature = "surf")]
pub use self::surf::SurfConnector;
#[cfg(feature = "rustls")]
pub use self::tls::{TlsConfig, connect_tls};
pub use self::websocket::TungsteniteConnector;

/// A failed dial: whatever the dialer says (refused, unreachable, name not resolved, timed
/// out), the connection could not be made, so the kind is always
/// [`Connect`](ConnectorErrorKind::Connect); the dialer's error is the source.
fn dial_error(url: &dyn std::fmt::Display, e: std::io::Error) -> ConnectorError {
    ConnectorError::new(
        ConnectorErrorKind::Connect,
        format!("connecting to {url}"),
        Some(Box::new(e)),
    )
}

/// Strips the brackets from an IPv6 host as `http::Uri::host` returns it (`[::1]` → `::1`).
fn bare_host(host: &str) -> &str {
    host.strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host)
}

/// A `Host` header value / authority for `host:port`, bracketing IPv6 addresses.
fn authority(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// A stream that yields `rest` before what `io` reads: the bytes that came after the
/// handshake's answer.
pub(super) struct Prefixed {
    rest: Vec<u8>,
    at: usize,
    io: Box<dyn Io>,
}

impl Prefixed {
    pub(super) fn new(rest: Vec<u8>, io: Box<dyn Io>) -> Prefixed {
        Prefixed { rest, at: 0, io }
    }
}

impl AsyncRead for Prefixed {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<std::io::Result<usize>> {
        let this = &mut *self;
        if let Some(left) = this.rest.get(this.at..).filter(|l| !l.is_empty()) {
            let n = left.len().min(buf.len());
            buf[..n].copy_from_slice(&left[..n]);
            this.at += n;
            return Poll::Ready(Ok(n));
        }
        Pin::new(&mut this.io).poll_read(cx, buf)
    }
}

impl AsyncWrite for Prefixed {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }
    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_close(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bare_host_strips_ipv6_brackets_only() {
        assert_eq!(bare_host("[::1]"), "::1");
        assert_eq!(bare_host("example.com"), "example.com");
        assert_eq!(bare_host("127.0.0.1"), "127.0.0.1");
    }

    #[test]
    fn every_dial_error_is_a_connect_error() {
        for kind in [
            std::io::ErrorKind::ConnectionRefused,
            std::io::ErrorKind::TimedOut,
            std::io::ErrorKind::Other,
        ] {
            let err = dial_error(&"http://h:1", std::io::Error::from(kind));
            assert!(err.is_connect());
            assert_eq!(
                err.to_string(),
                "connecting to http://h:1: connection failed"
            );
        }
    }

    #[test]
    fn authority_brackets_ipv6() {
        assert_eq!(authority("::1", 80), "[::1]:80");
        assert_eq!(authority("h", 5000), "h:5000");
    }
}
