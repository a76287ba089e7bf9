//! A client whose handlers hold a weak handle on it is freed when the application drops it:
//! its dispatch thread ends. (One test in its own process, so that no other test's threads
//! are counted.)
#![cfg(all(feature = "blocking", feature = "tokio"))]

mod common;

use std::time::{Duration, Instant};

use common::{Server, ServerKind};
use engineio::{Client, Payload};

/// The threads of this process whose name starts with `prefix` (Linux: /proc/self/task).
fn threads_named(prefix: &str) -> usize {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return 0;
    };
    tasks
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
        .filter(|name| name.starts_with(prefix))
        .count()
}

#[test]
fn dropping_the_client_ends_its_dispatch_thread() {
    let server = Server::start(ServerKind::Node, &[]);
    let eio = Client::new();
    let (tx, rx) = std::sync::mpsc::channel();
    let weak = eio.downgrade();
    eio.on_message(move |p: Payload| {
        // The documented pattern: use the client through a weak handle.
        if let Some(eio) = weak.upgrade() {
            let _ = eio.sid();
        }
        let _ = tx.send(p);
    });
    eio.connect(&server.url()).unwrap();
    eio.send("hi").unwrap();
    assert_eq!(
        rx.recv_timeout(Duration::from_secs(10)).unwrap(),
        Payload::from("hi")
    );
    // comm names are cut to 15 bytes: "engineio-dispatch" reads "engineio-dispat".
    assert_eq!(threads_named("engineio-dispat"), 1);
    eio.disconnect().unwrap();
    eio.wait();
    let weak = eio.downgrade();
    drop(eio);
    assert!(weak.upgrade().is_none(), "something still holds the client");
    let start = Instant::now();
    while threads_named("engineio-dispat") > 0 {
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "the dispatch thread outlived the client"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}
