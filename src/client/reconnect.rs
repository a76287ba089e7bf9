//! [`Reconnect`]: when and how often a client connects again after losing its connection.

use std::time::Duration;

use crate::DisconnectReason;

/// Opt-in reconnection, for [`ClientBuilder::reconnect`](crate::ClientBuilder::reconnect):
/// after a connection ends by accident (a transport error: the network down, a reset, a
/// missed ping deadline, a server restarted that no longer knows the session, a 5xx), the
/// client connects again to the same URL, waiting longer between attempts, until it is
/// connected or the attempts run out.
///
/// The defaults are socket.io-client's: the wait before attempt `n` is
/// `delay × 2^(n−1)` (1 s, 2 s, 4 s, …), capped at `max_delay` (5 s), then moved at random
/// by up to ± `randomization` (0.5) of itself; attempts are unlimited.
///
/// Not retried: a `disconnect()` of the application, and a server that closed the session
/// (it meant it: a close packet, or a WebSocket close frame), unless
/// [`on_server_disconnect`](Reconnect::on_server_disconnect) says so. A close frame whose
/// code says the server is going away or restarting (1001, 1011, 1012, 1013) is retried.
///
/// ```
/// use std::time::Duration;
/// use engineio::{AsyncClient, Reconnect};
///
/// let eio = AsyncClient::builder()
///     .reconnect(
///         Reconnect::new()
///             .delay(Duration::from_millis(500))
///             .max_delay(Duration::from_secs(30))
///             .attempts(20),
///     )
///     .build()?;
/// # let _ = eio;
/// # Ok::<(), engineio::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Reconnect {
    delay: Duration,
    max_delay: Duration,
    attempts: Option<u32>,
    randomization: f64,
    on_server_disconnect: bool,
}

impl Default for Reconnect {
    fn default() -> Self {
        Reconnect::new()
    }
}

impl Reconnect {
    /// socket.io-client's schedule: 1 s doubling up to 5 s, ± 50 %, unlimited attempts.
    pub fn new() -> Reconnect {
        Reconnect {
            delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(5),
            attempts: None,
            randomization: 0.5,
            on_server_disconnect: false,
        }
    }

    /// The wait before the first attempt (default 1 s); it doubles at each attempt.
    pub fn delay(mut self, delay: Duration) -> Reconnect {
        self.delay = delay;
        self
    }

    /// The longest wait before jitter (default 5 s).
    pub fn max_delay(mut self, max_delay: Duration) -> Reconnect {
        self.max_delay = max_delay;
        self
    }

    /// How many attempts after a connection is lost before giving up (default: no limit).
    /// 0 means none: the client stops as if reconnection were off, but says so
    /// ([`ReconnectFailed`](crate::ClientEvent::ReconnectFailed)).
    pub fn attempts(mut self, attempts: u32) -> Reconnect {
        self.attempts = Some(attempts);
        self
    }

    /// How far each wait moves at random, as a fraction of itself: 0.5 (the default)
    /// makes a 4 s wait anything from 2 s to 6 s, so that clients that lost the same
    /// server do not all come back at the same instant. Clamped to 0–1.
    pub fn randomization(mut self, randomization: f64) -> Reconnect {
        self.randomization = if randomization.is_nan() {
            0.0
        } else {
            randomization.clamp(0.0, 1.0)
        };
        self
    }

    /// Whether a session the server closed is reconnected too (default: no).
    pub fn on_server_disconnect(mut self, on: bool) -> Reconnect {
        self.on_server_disconnect = on;
        self
    }

    /// How many attempts are allowed (`None`: no limit).
    pub(crate) fn max_attempts(&self) -> Option<u32> {
        self.attempts
    }

    /// The wait before attempt `attempt` (from 1), `unit` being a random number in
    /// [0, 1): `delay × 2^(attempt−1)`, capped at `max_delay`, then moved by
    /// `(2·unit − 1) × randomization` of itself.
    pub(crate) fn wait_before(&self, attempt: u32, unit: f64) -> Duration {
        let doublings = attempt.saturating_sub(1).min(63);
        let base = self
            .delay
            .checked_mul(1u32.checked_shl(doublings.min(31)).unwrap_or(u32::MAX))
            .unwrap_or(Duration::MAX)
            .min(self.max_delay);
        let unit = if unit.is_finite() {
            unit.clamp(0.0, 1.0)
        } else {
            0.5
        };
        let factor = 1.0 + self.randomization * (2.0 * unit - 1.0);
        Duration::try_from_secs_f64(base.as_secs_f64() * factor).unwrap_or(base)
    }

    /// Whether a connection that ended for `reason` is reconnected.
    pub(crate) fn retries(&self, reason: &DisconnectReason) -> bool {
        match reason {
            DisconnectReason::ClientDisconnect => false,
            // A close frame that says the server is going away or restarting asks for a
            // reconnect (1001 going away, 1011 internal error, 1012 service restart, 1013
            // try again later).
            DisconnectReason::ServerDisconnect(crate::ServerClose::CloseFrame {
                code: 1001 | 1011 | 1012 | 1013,
                ..
            }) => true,
            DisconnectReason::ServerDisconnect(_) => self.on_server_disconnect,
            DisconnectReason::TransportError(_) => true,
            #[allow(unreachable_patterns)]
            _ => false,
        }
    }
}

/// A small random number source for the jitter (xorshift64*, seeded from the clock and an
/// address): no dependency, and nothing here needs more than spread.
#[derive(Debug)]
pub(crate) struct Jitter(u64);

impl Jitter {
    pub(crate) fn new() -> Jitter {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        let here = &nanos as *const u64 as u64;
        Jitter((nanos ^ here.rotate_left(32)) | 1)
    }

    /// A number in [0, 1).
    pub(crate) fn next_unit(&mut self) -> f64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        (x.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_schedule_doubles_up_to_the_cap() {
        let r = Reconnect::new().randomization(0.0);
        let waits: Vec<u64> = (1..=6)
            .map(|n| r.wait_before(n, 0.3).as_millis() as u64)
            .collect();
        assert_eq!(waits, [1000, 2000, 4000, 5000, 5000, 5000]);
        assert_eq!(r.wait_before(u32::MAX, 0.0), Duration::from_secs(5));
        let r = Reconnect::new()
            .delay(Duration::from_millis(100))
            .max_delay(Duration::MAX)
            .randomization(0.0);
        assert_eq!(r.wait_before(11, 0.0), Duration::from_millis(102_400));
        assert!(r.wait_before(200, 0.0) > Duration::from_secs(1_000_000));
    }

    #[test]
    fn jitter_stays_within_its_bounds() {
        let r = Reconnect::new();
        for (unit, want) in [(0.0, 2000), (0.5, 4000), (0.999_999, 5999)] {
            assert_eq!(r.wait_before(3, unit).as_millis(), want);
        }
        let mut jitter = Jitter::new();
        for attempt in 1..=10 {
            let base = Reconnect::new()
                .randomization(0.0)
                .wait_before(attempt, 0.0);
            let w = r.wait_before(attempt, jitter.next_unit());
            assert!(
                w >= base.mul_f64(0.5) && w <= base.mul_f64(1.5),
                "{attempt}: {w:?}"
            );
        }
    }

    #[test]
    fn units_are_spread_over_zero_to_one() {
        let mut jitter = Jitter::new();
        let units: Vec<f64> = (0..10_000).map(|_| jitter.next_unit()).collect();
        assert!(units.iter().all(|u| (0.0..1.0).contains(u)));
        let low = units.iter().filter(|&&u| u < 0.5).count();
        assert!((4000..6000).contains(&low), "{low}");
    }

    #[test]
    fn what_is_retried() {
        let r = Reconnect::new();
        assert!(!r.retries(&DisconnectReason::ClientDisconnect));
        assert!(r.retries(&DisconnectReason::TransportError(
            crate::TransportFailure::PingTimeout
        )));
        let server = DisconnectReason::ServerDisconnect(crate::ServerClose::ClosePacket);
        assert!(!r.retries(&server));
        assert!(r.clone().on_server_disconnect(true).retries(&server));
        let frame = |code| {
            DisconnectReason::ServerDisconnect(crate::ServerClose::CloseFrame {
                code,
                reason: String::new(),
            })
        };
        assert!(!r.retries(&frame(1000)));
        assert!(!r.retries(&frame(1005)));
        assert!(r.retries(&frame(1001)));
        assert!(r.retries(&frame(1012)));
    }

    #[test]
    fn randomization_is_clamped() {
        assert_eq!(Reconnect::new().randomization(7.0).randomization, 1.0);
        assert_eq!(Reconnect::new().randomization(-1.0).randomization, 0.0);
        assert_eq!(Reconnect::new().randomization(f64::NAN).randomization, 0.0);
    }
}
