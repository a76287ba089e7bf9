//! Connection statistics.

use crate::TransportKind;

/// What one connection has carried so far, in the manner of quinn's `ConnectionStats`:
/// from [`AsyncClient::stats`](crate::AsyncClient::stats), or
/// [`Session::stats`](crate::proto::Session::stats).
///
/// Messages count when the session hands them to the transport (a POST body, a WebSocket
/// frame) and when they arrive; bytes are the messages' own (text as UTF-8, binary as is),
/// without the framing.
///
/// ```
/// let stats = engineio::ConnectionStats::default();
/// assert_eq!(stats.messages_sent, 0);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConnectionStats {
    /// Messages handed to the transport.
    pub messages_sent: u64,
    /// Their bytes.
    pub bytes_sent: u64,
    /// Messages received.
    pub messages_received: u64,
    /// Their bytes.
    pub bytes_received: u64,
    /// Pings the server sent, each answered with a pong.
    pub pings_answered: u64,
    /// Whether the connection upgraded from long-polling to WebSocket.
    pub upgraded: bool,
    /// The transport in use.
    pub transport: TransportKind,
}
