//! A client's log records: under its own target, tagged with its session id, and none at
//! all with `logger(false)`, connectors included. On the deterministic harness, with the
//! built-in connectors over its in-memory network, and a logger that keeps every record.
//! (A file of its own: the logger is global to the process.)

mod common;

use std::sync::Mutex;

use common::harness::{Harness, ServerConfig};
use engineio::{ClientEvent, Transports};
use futures::StreamExt;

/// Every record: (target, level, message).
static RECORDS: Mutex<Vec<(String, log::Level, String)>> = Mutex::new(Vec::new());

struct Keep;

impl log::Log for Keep {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }
    fn log(&self, record: &log::Record<'_>) {
        let line = (
            record.target().to_owned(),
            record.level(),
            record.args().to_string(),
        );
        RECORDS.lock().unwrap().push(line);
    }
    fn flush(&self) {}
}

fn records_of(target: &str) -> Vec<(log::Level, String)> {
    RECORDS
        .lock()
        .unwrap()
        .iter()
        .filter(|(t, _, _)| t == target)
        .map(|(_, l, m)| (*l, m.clone()))
        .collect()
}

#[test]
fn a_client_logs_under_its_target_with_its_sid_and_not_at_all_when_off() {
    log::set_logger(&Keep).unwrap();
    log::set_max_level(log::LevelFilter::Trace);

    for (target, on) in [("app.loud", true), ("app.quiet", false)] {
        let h = Harness::new(ServerConfig::default());
        let eio = h
            .wire_builder()
            .transports(Transports::Upgrade)
            .log_target(target)
            .logger(on)
            .build()
            .unwrap();
        let mut events = eio.events();
        h.block_on(async {
            eio.connect(h.url()).await.unwrap();
            while events.next().await != Some(ClientEvent::Upgraded) {}
            eio.send("hello").await.unwrap();
            eio.disconnect().await.unwrap();
        });
    }

    let loud = records_of("app.loud");
    let has = |level: log::Level, text: &str| loud.iter().any(|(l, m)| *l == level && m == text);
    assert!(
        has(log::Level::Info, "sid sid0: connected, transport polling"),
        "{loud:#?}"
    );
    assert!(
        has(log::Level::Info, "sid sid0: upgraded to WebSocket"),
        "{loud:#?}"
    );
    assert!(
        has(
            log::Level::Info,
            "sid sid0: disconnected: client disconnect"
        ),
        "{loud:#?}"
    );
    // Before the handshake, the records name the server.
    assert!(
        loud.iter()
            .any(|(_, m)| m.starts_with("http://harness.test: GET ")),
        "{loud:#?}"
    );
    // The built-in connectors log under the client's target too.
    assert!(
        loud.iter()
            .any(|(_, m)| m.starts_with("new HTTP connection")),
        "{loud:#?}"
    );
    assert!(
        loud.iter()
            .any(|(_, m)| m.starts_with("WebSocket connected")),
        "{loud:#?}"
    );

    assert_eq!(records_of("app.quiet"), [], "logger(false)");
    let elsewhere: Vec<_> = RECORDS
        .lock()
        .unwrap()
        .iter()
        .filter(|(t, _, _)| t.starts_with("engineio"))
        .cloned()
        .collect();
    assert_eq!(elsewhere, [], "no record under the default target");
}
