//! The fuzz targets (fuzz/targets/), run by the test suite without libFuzzer: each target's
//! checks on inputs spliced from the fuzzing dictionary (fuzz/engineio.dict) and seeded
//! pseudo-random bytes, the same inputs on every run, and on every input a fuzzing run
//! left in fuzz/corpus/<target>. The coverage-guided runs are scripts/fuzz.sh; this keeps
//! the targets compiling and their checks honest in every test run, at no extra build.

#[path = "../fuzz/targets/endpoint.rs"]
mod endpoint;
#[path = "../fuzz/targets/error_body.rs"]
mod error_body;
#[path = "../fuzz/targets/handshake.rs"]
mod handshake;
#[path = "../fuzz/targets/packet.rs"]
mod packet;
#[path = "../fuzz/targets/payload.rs"]
mod payload;
#[path = "../fuzz/targets/payload_v3.rs"]
mod payload_v3;
#[path = "../fuzz/targets/session.rs"]
mod session;

use std::path::PathBuf;

/// The tokens of a libFuzzer dictionary: `name="value"` lines, with `\\`, `\"` and `\xHH`
/// escapes.
fn dictionary() -> Vec<Vec<u8>> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fuzz/engineio.dict");
    let text = std::fs::read_to_string(&path).expect("fuzz/engineio.dict");
    let mut tokens = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('#') {
            continue;
        }
        let (Some(open), Some(close)) = (line.find('"'), line.rfind('"')) else {
            continue;
        };
        if close <= open {
            continue;
        }
        let raw = &line.as_bytes()[open + 1..close];
        let mut token = Vec::new();
        let mut i = 0;
        while i < raw.len() {
            match (raw[i], raw.get(i + 1)) {
                (b'\\', Some(b'x')) => {
                    let hex = std::str::from_utf8(&raw[i + 2..i + 4]).expect("hex escape");
                    token.push(u8::from_str_radix(hex, 16).expect("hex escape"));
                    i += 4;
                }
                (b'\\', Some(&c)) => {
                    token.push(c);
                    i += 2;
                }
                (c, _) => {
                    token.push(c);
                    i += 1;
                }
            }
        }
        tokens.push(token);
    }
    assert!(
        tokens.len() > 10,
        "only {} tokens in {}",
        tokens.len(),
        path.display()
    );
    tokens
}

/// xorshift64*: the same inputs on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// `count` inputs of at most `max_len` bytes, mixing dictionary tokens and random bytes,
/// then the corpus that fuzzing runs left for `target`, if any.
fn inputs(target: &str, count: usize, max_len: usize) -> Vec<Vec<u8>> {
    let tokens = dictionary();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ target.len() as u64);
    let mut out = Vec::with_capacity(count);
    for _ in 0..count {
        let len = rng.below(max_len + 1);
        let mut input = Vec::with_capacity(len);
        while input.len() < len {
            if rng.below(10) < 6 {
                input.extend_from_slice(&tokens[rng.below(tokens.len())]);
            } else {
                for _ in 0..1 + rng.below(8) {
                    input.push(rng.next() as u8);
                }
            }
        }
        input.truncate(len);
        out.push(input);
    }
    let corpus = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target);
    if let Ok(entries) = std::fs::read_dir(corpus) {
        for entry in entries.flatten() {
            if let Ok(data) = std::fs::read(entry.path()) {
                out.push(data);
            }
        }
    }
    out
}

#[test]
fn packet() {
    for input in inputs("packet", 20_000, 256) {
        packet::run(&input);
    }
}

#[test]
fn payload() {
    for input in inputs("payload", 20_000, 512) {
        payload::run(&input);
    }
}

#[test]
fn payload_v3() {
    for input in inputs("payload_v3", 20_000, 512) {
        payload_v3::run(&input);
    }
}

#[test]
fn handshake() {
    for input in inputs("handshake", 20_000, 512) {
        handshake::run(&input);
    }
}

#[test]
fn error_body() {
    for input in inputs("error_body", 20_000, 256) {
        error_body::run(&input);
    }
}

#[test]
fn endpoint() {
    for input in inputs("endpoint", 20_000, 256) {
        endpoint::run(&input);
    }
}

#[test]
fn session() {
    for input in inputs("session", 3_000, 2048) {
        session::run(&input);
    }
}
