//! libFuzzer's entry point for the `error_body` target; the target itself, with its checks, is
//! fuzz/targets/error_body.rs (the test suite replays it too: tests/fuzz_targets.rs).
#![no_main]

#[path = "../targets/error_body.rs"]
mod target;

libfuzzer_sys::fuzz_target!(|data: &[u8]| target::run(data));
