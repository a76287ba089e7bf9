//! Server URLs: `Endpoint::parse` fed arbitrary text, then `with_path`, `with_query` and
//! `uri` fed arbitrary paths, parameters, session ids and timestamps.
//!
//! Checks: no panic; the request URL always parses (the fallback in `uri` is never taken),
//! has the transport's scheme and the Engine.IO path, and ends with
//! `EIO=4&transport=…[&sid=…][&t=…]` whose values decode back to what was given: a hostile
//! sid cannot add or change a parameter. The same for the parameters added with
//! `with_query`. The path has a leading and a trailing slash.

use arbitrary::Arbitrary;
use engineio::TransportKind;
use engineio::proto::Endpoint;

#[derive(Arbitrary, Debug)]
struct Input {
    url: String,
    path: Option<String>,
    query: Vec<(String, String)>,
    sid: Option<String>,
    timestamp: Option<String>,
}

/// One input, as libFuzzer hands it over (fuzz/fuzz_targets) and as the test suite
/// replays it (tests/fuzz_targets.rs): the bytes become an [`Input`] the way
/// `fuzz_target!` makes one.
pub fn run(data: &[u8]) {
    let Ok(input) = Input::arbitrary_take_rest(arbitrary::Unstructured::new(data)) else {
        return;
    };
    let Ok(mut ep) = Endpoint::parse(&input.url) else {
        return;
    };
    let _ = (ep.host(), ep.port(), ep.authority());
    assert!(!ep.host().starts_with('['));
    if let Some(path) = &input.path {
        ep = ep.with_path(path);
        assert!(ep.path().starts_with('/') && ep.path().ends_with('/'));
        assert_eq!(ep.path() == "/", path.trim_matches('/').is_empty());
    }
    for (k, v) in &input.query {
        ep = ep.with_query(k, v);
    }

    for transport in [TransportKind::Polling, TransportKind::WebSocket] {
        let uri = ep.uri(transport, input.sid.as_deref(), input.timestamp.as_deref());
        let scheme = match (transport, ep.is_secure()) {
            (TransportKind::Polling, false) => "http",
            (TransportKind::Polling, true) => "https",
            (TransportKind::WebSocket, false) => "ws",
            (TransportKind::WebSocket, true) => "wss",
        };
        assert_eq!(uri.scheme_str(), Some(scheme), "{uri}");
        assert_eq!(uri.path(), ep.path());
        let query = uri.query().expect("a query");

        // From the end: [t], [sid], transport, EIO, then the added parameters.
        let mut parts = query.rsplit('&');
        if let Some(t) = &input.timestamp {
            assert_eq!(param(parts.next()), ("t".into(), t.clone()));
        }
        if let Some(sid) = &input.sid {
            assert_eq!(param(parts.next()), ("sid".into(), sid.clone()));
        }
        assert_eq!(parts.next(), Some(&*format!("transport={transport}")));
        assert_eq!(parts.next(), Some("EIO=4"));
        for (k, v) in input.query.iter().rev() {
            assert_eq!(param(parts.next()), (k.clone(), v.clone()));
        }
    }
}

/// A `key=value` pair, percent-decoded.
fn param(part: Option<&str>) -> (String, String) {
    let part = part.expect("a parameter");
    let (k, v) = part.split_once('=').expect("key=value");
    assert!(!v.contains('='), "{part}");
    (decode(k), decode(v))
}

fn decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = std::str::from_utf8(&b[i + 1..i + 3]).expect("two hex digits");
            out.push(u8::from_str_radix(hex, 16).expect("hex"));
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).expect("UTF-8 once decoded")
}
