//! libFuzzer's entry point for the `handshake` target; the target itself, with its checks, is
//! fuzz/targets/handshake.rs (the test suite replays it too: tests/fuzz_targets.rs).
#![no_main]

#[path = "../targets/handshake.rs"]
mod target;

libfuzzer_sys::fuzz_target!(|data: &[u8]| target::run(data));
