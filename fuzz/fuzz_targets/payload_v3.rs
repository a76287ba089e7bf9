//! libFuzzer's entry point for the `payload_v3` target; the target itself, with its checks,
//! is fuzz/targets/payload_v3.rs (the test suite replays it too: tests/fuzz_targets.rs).
#![no_main]

#[path = "../targets/payload_v3.rs"]
mod target;

libfuzzer_sys::fuzz_target!(|data: &[u8]| target::run(data));
