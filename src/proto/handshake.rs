//! The open packet: what the server tells a new client about its session.

use std::time::Duration;

use serde_json::{Map, Value};

use crate::error::DecodeError;

/// The contents of the server's open packet (`0{"sid":…}`).
///
/// Key order does not matter, unknown keys are ignored, and `maxPayload` is optional (servers
/// before engine.io 6.2 do not send it).
///
/// ```
/// use std::time::Duration;
/// use engineio::proto::Handshake;
///
/// let h = Handshake::parse(
///     r#"{"sid":"abc","upgrades":["websocket"],"pingInterval":25000,"pingTimeout":20000}"#,
/// ).unwrap();
/// assert_eq!(h.sid, "abc");
/// assert!(h.can_upgrade_to_websocket());
/// assert_eq!(h.ping_interval, Duration::from_secs(25));
/// assert_eq!(h.max_payload, None);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Handshake {
    /// The session id the server assigned.
    pub sid: String,
    /// The transports the session may upgrade to (`["websocket"]`, or empty).
    pub upgrades: Vec<String>,
    /// How often the server pings (protocol v4).
    pub ping_interval: Duration,
    /// How long after a ping's due time the connection may still be considered alive.
    pub ping_timeout: Duration,
    /// The largest POST body, in bytes, the server accepts, when it says so.
    pub max_payload: Option<u64>,
}

impl Handshake {
    /// Parses the JSON text of an open packet (without the leading `0`).
    ///
    /// Fails with [`DecodeError::InvalidHandshake`] when the text is not a JSON object, or
    /// when `sid`, `pingInterval` or `pingTimeout` is missing or of the wrong type.
    pub fn parse(json: &str) -> Result<Handshake, DecodeError> {
        let value: Value = serde_json::from_str(json)
            .map_err(|e| DecodeError::InvalidHandshake(format!("not JSON: {e}")))?;
        let Value::Object(map) = value else {
            return Err(DecodeError::InvalidHandshake(
                "the open packet is not a JSON object".into(),
            ));
        };
        let sid = match map.get("sid") {
            Some(Value::String(s)) if !s.is_empty() => s.clone(),
            Some(Value::String(_)) => {
                return Err(DecodeError::InvalidHandshake("`sid` is empty".into()));
            }
            Some(_) => {
                return Err(DecodeError::InvalidHandshake(
                    "`sid` is not a string".into(),
                ));
            }
            None => return Err(DecodeError::InvalidHandshake("`sid` is missing".into())),
        };
        let upgrades = match map.get("upgrades") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(items)) => items
                .iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect(),
            Some(_) => {
                return Err(DecodeError::InvalidHandshake(
                    "`upgrades` is not an array".into(),
                ));
            }
        };
        let ping_interval = Duration::from_millis(required_millis(&map, "pingInterval")?);
        let ping_timeout = Duration::from_millis(required_millis(&map, "pingTimeout")?);
        let max_payload = match map.get("maxPayload") {
            None | Some(Value::Null) => None,
            Some(v) => Some(millis_or_count(v).ok_or_else(|| {
                DecodeError::InvalidHandshake("`maxPayload` is not a non-negative number".into())
            })?),
        };
        Ok(Handshake {
            sid,
            upgrades,
            ping_interval,
            ping_timeout,
            max_payload,
        })
    }

    /// Whether the server offers an upgrade to WebSocket.
    pub fn can_upgrade_to_websocket(&self) -> bool {
        self.upgrades.iter().any(|u| u == "websocket")
    }

    /// How long the client waits for the next ping before it declares the connection dead:
    /// `pingInterval + pingTimeout`.
    pub fn ping_deadline(&self) -> Duration {
        self.ping_interval.saturating_add(self.ping_timeout)
    }

    /// The JSON text of this handshake, as a server would send it.
    pub fn to_json(&self) -> String {
        let mut map = Map::new();
        map.insert("sid".into(), Value::from(self.sid.clone()));
        map.insert("upgrades".into(), Value::from(self.upgrades.clone()));
        map.insert(
            "pingInterval".into(),
            Value::from(saturating_millis(self.ping_interval)),
        );
        map.insert(
            "pingTimeout".into(),
            Value::from(saturating_millis(self.ping_timeout)),
        );
        if let Some(max) = self.max_payload {
            map.insert("maxPayload".into(), Value::from(max));
        }
        Value::Object(map).to_string()
    }
}

fn saturating_millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

fn required_millis(map: &Map<String, Value>, key: &str) -> Result<u64, DecodeError> {
    match map.get(key) {
        None => Err(DecodeError::InvalidHandshake(format!("`{key}` is missing"))),
        Some(v) => millis_or_count(v).ok_or_else(|| {
            DecodeError::InvalidHandshake(format!("`{key}` is not a non-negative number"))
        }),
    }
}

/// A non-negative JSON number as a whole count; fractions are truncated.
fn millis_or_count(v: &Value) -> Option<u64> {
    if let Some(n) = v.as_u64() {
        return Some(n);
    }
    let f = v.as_f64()?;
    if f.is_finite() && f >= 0.0 {
        // `as` saturates for values above u64::MAX.
        Some(f as u64)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_key_order_unknown_keys_and_no_max_payload() {
        let h = Handshake::parse(
            r#"{"pingTimeout":20000,"extra":{"x":1},"upgrades":[],"sid":"s","pingInterval":0}"#,
        )
        .unwrap();
        assert_eq!(h.sid, "s");
        assert!(h.upgrades.is_empty());
        assert_eq!(h.ping_interval, Duration::ZERO);
        assert_eq!(h.max_payload, None);
    }

    #[test]
    fn full_handshake_from_node() {
        let h = Handshake::parse(
            r#"{"sid":"lv_VI97HAXpY6yYWAAAC","upgrades":["websocket"],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}"#,
        )
        .unwrap();
        assert_eq!(h.max_payload, Some(1_000_000));
        assert_eq!(h.ping_deadline(), Duration::from_secs(45));
        assert_eq!(Handshake::parse(&h.to_json()).unwrap(), h);
    }

    #[test]
    fn errors_say_what_is_wrong() {
        let cases = [
            ("", "not JSON"),
            ("[]", "not a JSON object"),
            (r#"{"pingInterval":1,"pingTimeout":1}"#, "`sid` is missing"),
            (
                r#"{"sid":5,"pingInterval":1,"pingTimeout":1}"#,
                "`sid` is not a string",
            ),
            (
                r#"{"sid":"","pingInterval":1,"pingTimeout":1}"#,
                "`sid` is empty",
            ),
            (
                r#"{"sid":"a","pingTimeout":1}"#,
                "`pingInterval` is missing",
            ),
            (
                r#"{"sid":"a","pingInterval":-1,"pingTimeout":1}"#,
                "`pingInterval` is not",
            ),
            (
                r#"{"sid":"a","pingInterval":1,"pingTimeout":"x"}"#,
                "`pingTimeout` is not",
            ),
            (
                r#"{"sid":"a","pingInterval":1,"pingTimeout":1,"upgrades":"websocket"}"#,
                "`upgrades` is not an array",
            ),
            (
                r#"{"sid":"a","pingInterval":1,"pingTimeout":1,"maxPayload":true}"#,
                "`maxPayload`",
            ),
        ];
        for (input, want) in cases {
            let err = Handshake::parse(input).unwrap_err();
            assert!(
                err.to_string().contains(want),
                "{input:?}: {err} does not contain {want:?}"
            );
        }
    }

    #[test]
    fn huge_intervals_do_not_overflow() {
        let h = Handshake::parse(
            r#"{"sid":"a","pingInterval":1e300,"pingTimeout":18446744073709551615}"#,
        )
        .unwrap();
        assert!(h.ping_deadline() >= Duration::from_millis(u64::MAX));
    }
}
