//! HTTP error answers: `HttpStatusError::from_response` fed an arbitrary status (the first
//! two bytes) and body (the rest).
//!
//! Checks: no panic, also in `Display` and `is_session_closed`; the status is kept; a
//! message is at most 200 characters plus the `…` that marks a cut.

use engineio::HttpStatusError;

/// One input, as libFuzzer hands it over (fuzz/fuzz_targets) and as the test suite
/// replays it (tests/fuzz_targets.rs).
pub fn run(data: &[u8]) {
    let (status, body) = match data {
        [a, b, rest @ ..] => (u16::from_le_bytes([*a, *b]), rest),
        _ => (400, data),
    };
    let e = HttpStatusError::from_response(status, body);
    assert_eq!(e.status, status);
    if let Some(m) = &e.message {
        let n = m.chars().count();
        assert!(n <= 201, "{n} characters");
        if n == 201 {
            assert!(m.ends_with('…'));
        }
    }
    let shown = e.to_string();
    assert!(shown.starts_with(&format!("HTTP {status}")));
    if e.is_session_closed() {
        assert_eq!(status, 400);
    }
}
