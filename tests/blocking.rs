//! The blocking Client against real servers, from plain threads and from threads of apps
//! that run an async runtime elsewhere.
#![cfg(all(
    feature = "blocking",
    feature = "tokio",
    feature = "smol",
    feature = "async-std"
))]

mod common;

use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::{Server, ServerKind};
use engineio::{Client, DisconnectReason, Payload, TransportKind, Transports};

const PING: [(&str, &str); 2] = [
    ("EIO_PING_INTERVAL_MS", "1000"),
    ("EIO_PING_TIMEOUT_MS", "1000"),
];

#[derive(Debug, PartialEq)]
enum Ev {
    Connect,
    Message(Payload),
    Disconnect(DisconnectReason),
}

/// A client whose events land in a channel.
fn client(transports: Transports) -> (Client, mpsc::Receiver<Ev>) {
    let eio = Client::builder()
        .transports(transports)
        .build_blocking()
        .unwrap();
    let (tx, rx) = mpsc::channel();
    let t = tx.clone();
    eio.on_connect(move || t.send(Ev::Connect).unwrap());
    let t = tx.clone();
    eio.on_message(move |p| t.send(Ev::Message(p)).unwrap());
    eio.on_disconnect(move |r| {
        let _ = tx.send(Ev::Disconnect(r));
    });
    (eio, rx)
}

fn next(rx: &mpsc::Receiver<Ev>) -> Ev {
    rx.recv_timeout(Duration::from_secs(10))
        .expect("no event within 10 s")
}

fn wait_for_websocket(eio: &Client) {
    let start = Instant::now();
    while eio.transport() != Some(TransportKind::WebSocket) {
        assert!(start.elapsed() < Duration::from_secs(10), "no upgrade");
        eio.sleep(Duration::from_millis(10));
    }
}

/// One cell of the matrix: the same checks as the AsyncClient's.
fn cell(kind: ServerKind, transports: Transports) {
    let label = format!("{kind:?}/{transports:?}");
    let mut server = Server::start(kind, &PING);
    let (eio, rx) = client(transports);

    eio.connect(&server.url()).unwrap();
    assert_eq!(next(&rx), Ev::Connect, "{label}");
    assert!(eio.sid().is_some());
    if transports == Transports::Upgrade {
        wait_for_websocket(&eio);
    }
    eio.send("héllo €😀").unwrap();
    assert_eq!(
        next(&rx),
        Ev::Message(Payload::from("héllo €😀")),
        "{label}"
    );
    eio.send(vec![0u8, 255]).unwrap();
    assert_eq!(
        next(&rx),
        Ev::Message(Payload::from(vec![0u8, 255])),
        "{label}"
    );
    eio.send(serde_json::json!({"foo": "bar"})).unwrap();
    assert_eq!(
        next(&rx),
        Ev::Message(Payload::from(r#"{"foo":"bar"}"#)),
        "{label}"
    );
    for i in 0..200 {
        eio.send(format!("m{i}")).unwrap();
    }
    for i in 0..200 {
        assert_eq!(
            next(&rx),
            Ev::Message(Payload::from(format!("m{i}"))),
            "{label}"
        );
    }

    eio.send("close").unwrap();
    match next(&rx) {
        Ev::Disconnect(DisconnectReason::ServerDisconnect(_)) => {}
        other => panic!("{label}: {other:?}"),
    }
    eio.wait();

    eio.connect(&server.url()).unwrap();
    assert_eq!(next(&rx), Ev::Connect, "{label}");
    let sid = eio.sid().unwrap();
    eio.disconnect().unwrap();
    assert_eq!(
        next(&rx),
        Ev::Disconnect(DisconnectReason::ClientDisconnect),
        "{label}"
    );
    assert!(
        server
            .wait_line(&format!("DISCONNECT {sid}"), Duration::from_secs(10))
            .is_some(),
        "{label}"
    );

    eio.connect(&server.url()).unwrap();
    assert_eq!(next(&rx), Ev::Connect, "{label}");
    server.kill();
    let killed = Instant::now();
    match rx.recv_timeout(Duration::from_secs(4)) {
        Ok(Ev::Disconnect(DisconnectReason::TransportError(_))) => {}
        other => panic!("{label}: {other:?}"),
    }
    assert!(killed.elapsed() < Duration::from_secs(3), "{label}");
    eio.wait();
}

#[test]
fn matrix_node_and_python() {
    for kind in [
        ServerKind::Node,
        ServerKind::PythonAiohttp,
        ServerKind::PythonAsgi,
    ] {
        for transports in [
            Transports::Polling,
            Transports::WebSocket,
            Transports::Upgrade,
        ] {
            cell(kind, transports);
        }
    }
}

/// Connects, round-trips one message and disconnects: what each embedding test does.
fn round_trip(url: &str) {
    let (eio, rx) = client(Transports::Upgrade);
    eio.connect(url).unwrap();
    assert_eq!(next(&rx), Ev::Connect);
    eio.send("ping?").unwrap();
    assert_eq!(next(&rx), Ev::Message(Payload::from("ping?")));
    eio.disconnect().unwrap();
    eio.wait();
    assert_eq!(
        next(&rx),
        Ev::Disconnect(DisconnectReason::ClientDisconnect)
    );
}

#[test]
fn from_a_thread_while_tokio_runs_in_the_process() {
    let server = Server::start(ServerKind::Node, &[]);
    let rt = tokio::runtime::Runtime::new().unwrap();
    // The app's runtime is busy with its own work.
    let _busy = rt.spawn(async {
        loop {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    });
    let url = server.url();
    std::thread::spawn(move || round_trip(&url)).join().unwrap();
    // And from a thread that has entered the runtime's context.
    let _guard = rt.enter();
    round_trip(&server.url());
}

#[test]
fn inside_tokio_spawn_blocking() {
    let server = Server::start(ServerKind::Node, &[]);
    let url = server.url();
    for flavor in ["multi_thread", "current_thread"] {
        let rt = if flavor == "multi_thread" {
            tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .unwrap()
        } else {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap()
        };
        let url = url.clone();
        rt.block_on(async move {
            tokio::task::spawn_blocking(move || round_trip(&url))
                .await
                .unwrap();
        });
    }
}

#[test]
fn inside_smol_and_async_std_apps() {
    let server = Server::start(ServerKind::Node, &[]);
    let url = server.url();
    smol::block_on(smol::unblock(move || round_trip(&url)));
    let url = server.url();
    async_std::task::block_on(async_std::task::spawn_blocking(move || round_trip(&url)));
}

#[test]
fn handlers_may_send_sleep_and_disconnect_without_deadlock() {
    let server = Server::start(ServerKind::Node, &[("EIO_CONNECT_MESSAGE", "welcome")]);
    let eio = Client::new();
    let (tx, rx) = mpsc::channel();
    let c = eio.clone();
    let t = tx.clone();
    eio.on_message(move |p| {
        let text = p.as_text().unwrap_or_default().to_owned();
        t.send(text.clone()).unwrap();
        match text.as_str() {
            "welcome" => c.send("burst 2").unwrap(),
            "burst-0" => c.sleep(Duration::from_millis(20)),
            "burst-1" => c.disconnect().unwrap(),
            _ => {}
        }
    });
    eio.on_disconnect(move |r| tx.send(format!("disconnect: {r}")).unwrap());
    eio.connect(&server.url()).unwrap();
    eio.wait();
    let got: Vec<String> = rx.try_iter().collect();
    assert_eq!(
        got,
        [
            "welcome",
            "burst-0",
            "burst-1",
            "disconnect: client disconnect"
        ]
    );
}

#[test]
fn disconnect_from_another_thread_wakes_wait() {
    let server = Server::start(ServerKind::Node, &[]);
    let eio = Client::new();
    eio.connect(&server.url()).unwrap();
    let other = eio.clone();
    let t = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(100));
        other.disconnect().unwrap();
    });
    let start = Instant::now();
    eio.wait();
    assert!(start.elapsed() >= Duration::from_millis(100));
    assert_eq!(eio.sid(), None);
    t.join().unwrap();
}

#[test]
fn background_task_runs_on_its_own_thread() {
    let eio = Client::new();
    let main = std::thread::current().id();
    let h = eio.start_background_task(move || std::thread::current().id() != main);
    assert!(h.join().unwrap());
}

#[test]
fn reconnect_from_the_disconnect_handler_with_a_connect_handler_set() {
    let server = Server::start(ServerKind::Node, &[]);
    let eio = Client::new();
    let (tx, rx) = mpsc::channel();
    let t = tx.clone();
    eio.on_connect(move || t.send("connect".to_owned()).unwrap());
    let (c, url) = (eio.clone(), server.url());
    let once = std::sync::atomic::AtomicBool::new(false);
    eio.on_disconnect(move |r| {
        tx.send(format!("disconnect: {r}")).unwrap();
        if !once.swap(true, std::sync::atomic::Ordering::SeqCst) {
            c.connect(&url).unwrap();
            tx.send("reconnected".to_owned()).unwrap();
        }
    });
    eio.connect(&server.url()).unwrap();
    eio.send("close").unwrap();
    let got: Vec<String> = (0..4)
        .map(|_| rx.recv_timeout(Duration::from_secs(10)).expect("stuck"))
        .collect();
    assert_eq!(
        got,
        [
            "connect",
            "disconnect: server disconnect",
            "reconnected",
            "connect"
        ]
    );
    assert!(eio.sid().is_some());
    eio.disconnect().unwrap();
}
