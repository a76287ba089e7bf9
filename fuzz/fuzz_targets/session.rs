//! libFuzzer's entry point for the `session` target; the target itself, with its checks, is
//! fuzz/targets/session.rs (the test suite replays it too: tests/fuzz_targets.rs).
#![no_main]

#[path = "../targets/session.rs"]
mod target;

libfuzzer_sys::fuzz_target!(|data: &[u8]| target::run(data));
