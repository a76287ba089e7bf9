//! The AsyncClient's API and errors, against real servers: handlers, background tasks,
//! cookies, TLS with a test CA, and the errors a user acts on.
#![cfg(all(feature = "tokio", feature = "rustls"))]

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::tls::tls_node_server;
use common::{Server, ServerKind};
use engineio::rt::{Dialer, Io};
use engineio::{
    AsyncClient, DecodeError, DisconnectReason, Error, Payload, SendErrorKind, TransportFailure,
    TransportKind, Transports,
};

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

async fn until(what: &str, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[test]
fn connection_refused_names_the_url() {
    block_on(async {
        // A port that was just free.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let url = format!("http://127.0.0.1:{port}");
        let err = AsyncClient::new().connect(&url).await.unwrap_err();
        let text = err.to_string();
        assert!(text.contains(&url), "{text}");
        assert!(text.contains("connection failed"), "{text}");
        assert!(
            matches!(err.failure(), Some(TransportFailure::Connect(_))),
            "{err:?}"
        );
    });
}

/// With v4 pinned, a v3 server is refused by name; by default (`Protocol::Auto`) the
/// client speaks v3 to it.
#[test]
fn a_v3_server_is_named_as_such_when_v4_is_pinned() {
    let server = Server::start(ServerKind::NodeV3, &[]);
    block_on(async {
        let auto = AsyncClient::new();
        auto.connect(&server.url()).await.unwrap();
        assert_eq!(auto.protocol(), Some(engineio::Protocol::V3));
        auto.disconnect().await.unwrap();
        assert_eq!(auto.protocol(), None);

        let v4 = AsyncClient::builder()
            .protocol(engineio::Protocol::V4)
            .build()
            .unwrap();
        let err = v4.connect(&server.url()).await.unwrap_err();
        assert!(
            matches!(
                err.failure(),
                Some(TransportFailure::Decode(DecodeError::ProtocolV3))
            ),
            "{err:?}"
        );
        assert!(err.to_string().contains("protocol v3"), "{err}");
    });
}

#[test]
fn http_errors_carry_status_and_message() {
    let server = Server::start(ServerKind::PythonAiohttp, &[]);
    block_on(async {
        // python-engineio answers an unknown sid with 400 and a JSON string.
        let eio = AsyncClient::builder().query("sid", "nope").build().unwrap();
        let err = eio.connect(&server.url()).await.unwrap_err();
        match err.failure() {
            Some(TransportFailure::Http(e)) => {
                assert_eq!(e.status, 400, "{err}");
                assert!(e.message.as_deref().unwrap_or("").contains("nope"), "{err}");
            }
            other => panic!("{other:?}"),
        }
    });
}

#[test]
fn invalid_headers_are_refused_before_anything_is_sent() {
    let err = AsyncClient::builder()
        .header("X-Evil", "a\r\nInjected: 1")
        .build()
        .unwrap_err();
    assert!(matches!(err, Error::InvalidHeader(_)), "{err:?}");
    let err = AsyncClient::builder()
        .header("bad name", "v")
        .build()
        .unwrap_err();
    assert!(matches!(err, Error::InvalidHeader(_)), "{err:?}");
}

#[test]
fn send_without_a_connection_and_connect_twice_are_errors() {
    let server = Server::start(ServerKind::Node, &[]);
    block_on(async {
        let eio = AsyncClient::new();
        let err = eio.send("x").await.unwrap_err();
        assert_eq!(
            (err.kind, err.payload),
            (SendErrorKind::NotConnected, Payload::from("x"))
        );
        eio.disconnect().await.unwrap(); // nothing to do
        eio.wait().await; // returns at once
        eio.connect(&server.url()).await.unwrap();
        assert!(matches!(
            eio.connect(&server.url()).await,
            Err(Error::AlreadyConnected)
        ));
        eio.disconnect().await.unwrap();
        eio.wait().await;
        let err = eio.send("y").await.unwrap_err();
        assert_eq!(
            (err.kind, err.payload),
            (SendErrorKind::NotConnected, Payload::from("y"))
        );
    });
}

#[test]
fn handlers_run_in_order_and_may_use_the_client() {
    let server = Server::start(ServerKind::Node, &[("EIO_CONNECT_MESSAGE", "welcome")]);
    block_on(async {
        let eio = AsyncClient::new();
        let log = Arc::new(Mutex::new(Vec::<String>::new()));
        let l = log.clone();
        eio.on_connect(move || {
            let l = l.clone();
            async move { l.lock().unwrap().push("connect".into()) }
        });
        let (l, client) = (log.clone(), eio.clone());
        eio.on_message(move |p: Payload| {
            let (l, client) = (l.clone(), client.clone());
            async move {
                let text = p.as_text().unwrap_or("?").to_owned();
                l.lock().unwrap().push(text.clone());
                // A handler may send, sleep and disconnect.
                if text == "welcome" {
                    client.send("burst 3").await.unwrap();
                }
                if text == "burst-2" {
                    client.sleep(Duration::from_millis(10)).await;
                    client.disconnect().await.unwrap();
                }
            }
        });
        let l = log.clone();
        eio.on_disconnect(move |r: DisconnectReason| {
            let l = l.clone();
            async move { l.lock().unwrap().push(format!("disconnect: {r}")) }
        });
        eio.connect(&server.url()).await.unwrap();
        assert_eq!(
            log.lock().unwrap().first().map(String::as_str),
            Some("connect")
        );
        eio.wait().await;
        assert_eq!(
            *log.lock().unwrap(),
            [
                "connect",
                "welcome",
                "burst-0",
                "burst-1",
                "burst-2",
                "disconnect: client disconnect"
            ]
        );
    });
}

#[test]
fn background_tasks_and_sleep_use_the_clients_runtime() {
    block_on(async {
        let eio = AsyncClient::new();
        let start = Instant::now();
        let task = eio.start_background_task(async { 6 * 7 });
        assert_eq!(task.await, Some(42));
        eio.sleep(Duration::from_millis(50)).await;
        assert!(start.elapsed() >= Duration::from_millis(50));
    });
}

#[test]
fn sticky_cookies_travel_back_on_polling_and_on_the_websocket() {
    let server = Server::start(ServerKind::Node, &[("EIO_COOKIE", "1")]);
    block_on(async {
        // Long-polling only: the polls and the POST after the handshake carry the cookie.
        // (With the upgrade, the probe goes first and may finish before any of them: then
        // only the WebSocket carries it.)
        let eio = AsyncClient::builder()
            .transports(Transports::Polling)
            .build()
            .unwrap();
        eio.connect(&server.url()).await.unwrap();
        eio.send("hi").await.unwrap();
        eio.disconnect().await.unwrap();
        // The upgrade: the probe's WebSocket handshake carries it.
        let eio = AsyncClient::builder()
            .transports(Transports::Upgrade)
            .build()
            .unwrap();
        eio.connect(&server.url()).await.unwrap();
        until("the upgrade", || {
            eio.transport() == Some(TransportKind::WebSocket)
        })
        .await;
        eio.disconnect().await.unwrap();
    });
    let lines = server.cookie_lines();
    assert!(
        lines.iter().all(|l| l.starts_with("COOKIE ok")),
        "{lines:?}"
    );
    assert!(lines.iter().any(|l| l == "COOKIE ok polling"), "{lines:?}");
    assert!(
        lines.iter().any(|l| l == "COOKIE ok websocket"),
        "{lines:?}"
    );
}

#[test]
fn tls_is_verified_by_default_and_accepts_the_right_root() {
    let (dir, ca_pem, server) = tls_node_server();
    let url = format!("https://localhost:{}", server.port);
    block_on(async {
        // Refused by default: the certificate is not from a known CA.
        let err = AsyncClient::new().connect(&url).await.unwrap_err();
        assert!(err.to_string().contains("certificate"), "{err}");
        assert!(
            matches!(err.failure(), Some(TransportFailure::Tls(_))),
            "a TLS failure of its own kind: {err:?}"
        );

        // Accepted with the test CA as a root: https polling, then the wss upgrade.
        let eio = AsyncClient::builder()
            .add_root_certificate(ca_pem.as_bytes())
            .build()
            .unwrap();
        let mut events = eio.events();
        eio.connect(&url).await.unwrap();
        until("the upgrade", || {
            eio.transport() == Some(TransportKind::WebSocket)
        })
        .await;
        eio.send("over tls").await.unwrap();
        use futures::StreamExt;
        loop {
            match events.next().await {
                Some(engineio::ClientEvent::Message(p)) => {
                    assert_eq!(p, Payload::from("over tls"));
                    break;
                }
                Some(engineio::ClientEvent::Connect | engineio::ClientEvent::Upgraded) => {}
                other => panic!("{other:?}"),
            }
        }
        eio.disconnect().await.unwrap();

        // Verification off: explicit, and it connects.
        let eio = AsyncClient::builder().ssl_verify(false).build().unwrap();
        eio.connect(&format!("https://127.0.0.1:{}", server.port))
            .await
            .unwrap();
        eio.disconnect().await.unwrap();
    });
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_bad_root_certificate_is_refused_by_the_builder() {
    let err = AsyncClient::builder()
        .add_root_certificate(
            b"-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n",
        )
        .build()
        .unwrap_err();
    assert!(matches!(err, Error::Certificate(_)), "{err:?}");
}

#[cfg(all(feature = "smol", feature = "async-std"))]
#[test]
fn tls_works_on_every_runtime_with_one_config() {
    let (dir, ca_pem, server) = tls_node_server();
    let url = format!("https://localhost:{}", server.port);
    let runtimes = [
        ("smol", engineio::adapters::smol::runtime()),
        ("async-std", engineio::adapters::async_std::runtime()),
    ];
    for (name, runtime) in runtimes {
        let eio = AsyncClient::builder()
            .runtime(runtime)
            .add_root_certificate(ca_pem.as_bytes())
            .build()
            .unwrap();
        let run = async {
            eio.connect(&url)
                .await
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            let start = Instant::now();
            while eio.transport() != Some(TransportKind::WebSocket) {
                assert!(
                    start.elapsed() < Duration::from_secs(10),
                    "{name}: no wss upgrade"
                );
                eio.sleep(Duration::from_millis(10)).await;
            }
            eio.disconnect().await.unwrap();
        };
        if name == "smol" {
            smol::block_on(run);
        } else {
            async_std::task::block_on(run);
        }
    }
    let _ = std::fs::remove_dir_all(dir);
}

/// A dialer that counts the TCP connections it opens.
struct CountingDialer {
    inner: engineio::adapters::tokio::TokioDialer,
    dials: Arc<std::sync::atomic::AtomicUsize>,
}

#[async_trait::async_trait]
impl Dialer for CountingDialer {
    async fn dial(&self, host: &str, port: u16) -> std::io::Result<Box<dyn Io>> {
        self.dials.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.inner.dial(host, port).await
    }
}

#[test]
fn polling_reuses_one_connection_for_the_long_get_and_one_for_posts() {
    use engineio::adapters::tokio::{TokioDialer, TokioSpawner, TokioTimer};
    let server = Server::start(ServerKind::Node, &[]);
    block_on(async {
        let handle = tokio::runtime::Handle::current();
        let dials = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let runtime = engineio::rt::Runtime::new(
            Arc::new(TokioSpawner::new(handle.clone())),
            Arc::new(TokioTimer::new(handle.clone())),
            Arc::new(CountingDialer {
                inner: TokioDialer::new(handle),
                dials: dials.clone(),
            }),
        );
        let eio = AsyncClient::builder()
            .runtime(runtime)
            .transports(Transports::Polling)
            .build()
            .unwrap();
        let mut events = eio.events();
        eio.connect(&server.url()).await.unwrap();
        use futures::StreamExt;
        for i in 0..50 {
            eio.send(format!("m{i}")).await.unwrap();
            loop {
                match events.next().await {
                    Some(engineio::ClientEvent::Message(p)) => {
                        assert_eq!(p, Payload::from(format!("m{i}")));
                        break;
                    }
                    Some(engineio::ClientEvent::Connect | engineio::ClientEvent::Upgraded) => {}
                    other => panic!("{other:?}"),
                }
            }
        }
        // The handshake, 50 long polls and 50 POSTs: two connections, reused throughout.
        let n = dials.load(std::sync::atomic::Ordering::SeqCst);
        assert!(n <= 2, "{n} connections for 101 requests");
        eio.disconnect().await.unwrap();
    });
}

#[test]
fn disconnect_then_connect_again_at_once() {
    let server = Server::start(ServerKind::Node, &[]);
    block_on(async {
        for transports in [Transports::Polling, Transports::WebSocket] {
            let eio = AsyncClient::builder()
                .transports(transports)
                .build()
                .unwrap();
            // A slow message handler must not hold up the next connection either.
            eio.on_message(|_| async { tokio::time::sleep(Duration::from_millis(20)).await });
            for i in 0..30 {
                eio.connect(&server.url())
                    .await
                    .unwrap_or_else(|e| panic!("{transports:?} cycle {i}: {e}"));
                eio.send("x").await.unwrap();
                eio.disconnect().await.unwrap();
                assert_eq!(eio.sid(), None, "{transports:?} cycle {i}");
            }
            eio.wait().await;
        }
    });
}

/// A client from `builder`, connected to `url`, its Connect event already read.
async fn connected(builder: engineio::ClientBuilder, url: &str) -> (AsyncClient, engineio::Events) {
    let eio = builder.build().unwrap();
    let mut events = eio.events();
    eio.connect(url).await.unwrap();
    assert_eq!(
        common::next_event(&eio, &mut events, Duration::from_secs(5)).await,
        Some(engineio::ClientEvent::Connect)
    );
    (eio, events)
}

#[test]
fn a_higher_packet_cap_loses_nothing_against_node_and_engineioxide() {
    for kind in [ServerKind::Node, ServerKind::Engineioxide] {
        let server = Server::start(kind, &[]);
        block_on(async {
            let builder = AsyncClient::builder()
                .transports(Transports::Polling)
                .max_packets_per_post(256);
            let (eio, mut events) = connected(builder, &server.url()).await;
            for i in 0..1000 {
                eio.send(format!("m{i}")).await.unwrap();
            }
            let label = format!("{kind:?}");
            for i in 0..1000 {
                let got = common::next_message(&eio, &mut events, &label).await;
                assert_eq!(got, Payload::from(format!("m{i}")), "{label}");
            }
            eio.disconnect().await.unwrap();
        });
    }
}

#[test]
fn text_with_the_payload_separator_is_refused_on_polling_and_echoed_on_websocket() {
    let server = Server::start(ServerKind::Node, &[]);
    block_on(async {
        for transports in [Transports::Polling, Transports::WebSocket] {
            let builder = AsyncClient::builder().transports(transports);
            let (eio, mut events) = connected(builder, &server.url()).await;
            let sent = eio.send("a\u{1e}b").await;
            if transports == Transports::Polling {
                let err = sent.unwrap_err();
                assert_eq!(err.kind, SendErrorKind::RecordSeparator);
                assert_eq!(err.payload, Payload::from("a\u{1e}b"), "handed back");
                // Nothing went out; the connection goes on.
                eio.send("after").await.unwrap();
                let got = common::next_message(&eio, &mut events, "polling").await;
                assert_eq!(got, Payload::from("after"));
            } else {
                sent.unwrap();
                let got = common::next_message(&eio, &mut events, "websocket").await;
                assert_eq!(got, Payload::from("a\u{1e}b"));
            }
            eio.disconnect().await.unwrap();
        }
    });
}

/// `set_header` and `set_query` change what the next connection sends; `set_header`
/// refuses what is not a header.
#[test]
fn set_header_and_set_query_apply_to_the_next_connection() {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    // Answers each request with a 400 after reading its head, and hands the heads over.
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(2) {
            let Ok(mut stream) = stream else { break };
            let mut head = Vec::new();
            let mut buf = [0u8; 1024];
            while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                match stream.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => head.extend_from_slice(&buf[..n]),
                }
            }
            let _ = stream.write_all(
                b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
            );
            let _ = tx.send(String::from_utf8_lossy(&head).to_lowercase());
        }
    });
    block_on(async {
        let eio = AsyncClient::builder()
            .header("Authorization", "Bearer old")
            .query("v", "1")
            .build()
            .unwrap();
        let url = format!("http://127.0.0.1:{port}");
        assert!(eio.connect(&url).await.is_err());
        let first = rx.recv_timeout(Duration::from_secs(10)).unwrap();
        assert!(first.contains("authorization: bearer old\r\n"), "{first}");
        assert!(first.contains("?v=1&eio=4"), "{first}");

        eio.set_header("Authorization", "Bearer new").unwrap();
        eio.set_query("v", "2");
        eio.set_query("resume", "1");
        assert!(matches!(
            eio.set_header("X-Bad", "a\r\nInjected: 1"),
            Err(Error::InvalidHeader(_))
        ));
        assert!(eio.connect(&url).await.is_err());
        let second = rx.recv_timeout(Duration::from_secs(10)).unwrap();
        assert!(second.contains("authorization: bearer new\r\n"), "{second}");
        assert!(!second.contains("bearer old"), "{second}");
        assert!(second.contains("?v=2&resume=1&eio=4"), "{second}");
        assert!(!second.contains("injected"), "{second}");
    });
}

/// A handler that panics does not take the others with it, as on the blocking client: a
/// panicking `connect` handler still lets `connect` succeed, a message handler that
/// panics once is called for the next messages, and the disconnect handler runs.
#[test]
fn a_panicking_handler_leaves_the_connection_and_the_other_handlers_working() {
    let server = Server::start(ServerKind::Node, &[]);
    block_on(async {
        let eio = AsyncClient::builder().logger(false).build().unwrap();
        eio.on_connect(|| async { panic!("a connect handler that panics") });
        let seen = Arc::new(Mutex::new(Vec::<String>::new()));
        let s = seen.clone();
        eio.on_message(move |p: Payload| {
            let s = s.clone();
            async move {
                let text = p.as_text().unwrap_or("?").to_owned();
                s.lock().unwrap().push(text.clone());
                assert_ne!(text, "first", "a message handler that panics once");
            }
        });
        let ended = Arc::new(Mutex::new(None));
        let e = ended.clone();
        eio.on_disconnect(move |r: DisconnectReason| {
            let e = e.clone();
            async move { *e.lock().unwrap() = Some(r) }
        });
        eio.connect(&server.url())
            .await
            .expect("connect failed because its handler panicked");
        assert!(eio.sid().is_some());
        for text in ["first", "second", "third"] {
            eio.send(text).await.unwrap();
        }
        until("the three echoes", || seen.lock().unwrap().len() == 3).await;
        assert_eq!(*seen.lock().unwrap(), ["first", "second", "third"]);
        eio.disconnect().await.unwrap();
        eio.wait().await;
        assert_eq!(
            *ended.lock().unwrap(),
            Some(DisconnectReason::ClientDisconnect)
        );
    });
}
