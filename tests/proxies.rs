//! Through real proxies: tinyproxy (HTTP: forwarded polling, `CONNECT` for the rest) and
//! microsocks (SOCKS5), started on 127.0.0.1 by the tests themselves (installed by
//! `scripts/test-servers-setup.sh`).
//!
//! The interop matrix (node engine.io, python-engineio under aiohttp and uvicorn,
//! engineioxide; polling, WebSocket, polling then upgrade) runs through each proxy on
//! tokio, smol and the blocking client, with credentials; each cell checks from the proxy's
//! own log that its traffic went through the proxy (through tinyproxy, its WebSocket as a
//! `CONNECT` tunnel). The protocol v3 servers go through both proxies too. Then: https and wss through `CONNECT`
//! with the test CA, wrong and missing credentials, a proxy that is down or never answers,
//! a proxy that blocks WebSockets (and the fallbacks), and the environment variables
//! (through the `eio` program, so that no test changes this process's environment).
#![cfg(all(
    feature = "tokio",
    feature = "smol",
    feature = "blocking",
    feature = "rustls"
))]

mod common;

use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::proxies::{RealProxy, TinyproxyConfig};
use common::tls::tls_node_server;
use common::{Server, ServerKind, next_event, next_message, wait_for_websocket};
use engineio::connector::{ProxyError, ProxyErrorKind};
use engineio::rt::Runtime;
use engineio::{
    AsyncClient, Client, ClientBuilder, ClientEvent, DisconnectReason, Error, Payload, Protocol,
    TransportFailure, TransportKind, Transports,
};

/// As in tests/interop.rs: frequent pings, a timeout that tolerates a loaded machine.
const PING: [(&str, &str); 2] = [
    ("EIO_PING_INTERVAL_MS", "1000"),
    ("EIO_PING_TIMEOUT_MS", "5000"),
];

const TRANSPORTS: [Transports; 3] = [
    Transports::Polling,
    Transports::WebSocket,
    Transports::Upgrade,
];

/// tinyproxy's configuration takes letters and digits only.
const HTTP_USER: (&str, &str) = ("alice", "s3cret");
/// microsocks takes anything: a password that must be percent-encoded in the URL, and
/// decoded by the client, or the proxy refuses it.
const SOCKS_USER: (&str, &str) = ("bob", "p@ss:w%rd/1");

fn tinyproxy() -> RealProxy {
    RealProxy::tinyproxy(TinyproxyConfig {
        credentials: Some(HTTP_USER),
        ..TinyproxyConfig::default()
    })
}

fn microsocks() -> RealProxy {
    RealProxy::microsocks(Some(SOCKS_USER), true)
}

/// How many lines of `proxy`'s log show a connection for the server on `port`: tinyproxy
/// logs each request (`GET http://127.0.0.1:PORT/…` forwarded, `CONNECT 127.0.0.1:PORT`),
/// microsocks each tunnel (`connected to 127.0.0.1:PORT`).
fn through(proxy: &RealProxy, host: &str, port: u16) -> usize {
    let target = format!("{host}:{port}");
    proxy
        .log()
        .lines()
        .filter(|l| {
            l.contains(&format!("GET http://{target}/"))
                || l.contains(&format!("CONNECT {target} "))
                || l.contains(&format!("connected to {target}"))
        })
        .count()
}

fn tokio_runtime() -> (tokio::runtime::Runtime, Runtime) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let runtime = engineio::adapters::tokio::runtime(rt.handle().clone());
    (rt, runtime)
}

fn servers() -> Vec<Server> {
    ServerKind::ALL
        .iter()
        .map(|kind| Server::start(*kind, &PING))
        .collect()
}

/// How many `CONNECT` tunnels tinyproxy's log shows for the server on `port` (tinyproxy
/// forwards plain polling requests, and tunnels WebSockets).
fn tinyproxy_tunnels(proxy: &RealProxy, port: u16) -> usize {
    proxy.log_count(&format!("CONNECT 127.0.0.1:{port} "))
}

/// The protocol `server` speaks.
fn protocol_of(server: &Server) -> Protocol {
    if ServerKind::V3.contains(&server.kind) {
        Protocol::V3
    } else {
        Protocol::V4
    }
}

/// One cell of the matrix on an AsyncClient: connect, text and binary round trips, the
/// transport and the protocol, a clean disconnect; the proxy's log grew, and through
/// tinyproxy a WebSocket (opened directly, or by the upgrade) was tunnelled.
async fn async_cell(runtime: &Runtime, proxy: &RealProxy, server: &Server, transports: Transports) {
    let label = format!("{:?}/{transports:?} via {}", server.kind, proxy.url());
    let before = through(proxy, "127.0.0.1", server.port);
    let tunnels_before = tinyproxy_tunnels(proxy, server.port);
    let eio = AsyncClient::builder()
        .runtime(runtime.clone())
        .transports(transports)
        .proxy(&proxy.url())
        .build()
        .unwrap();
    let mut events = eio.events();
    eio.connect(&server.url())
        .await
        .unwrap_or_else(|e| panic!("{label}: {e}"));
    assert_eq!(
        next_event(&eio, &mut events, Duration::from_secs(10)).await,
        Some(ClientEvent::Connect),
        "{label}"
    );
    if transports == Transports::Upgrade {
        wait_for_websocket(&eio).await;
    }
    let expected = match transports {
        Transports::Polling => TransportKind::Polling,
        _ => TransportKind::WebSocket,
    };
    assert_eq!(eio.transport(), Some(expected), "{label}");
    assert_eq!(eio.protocol(), Some(protocol_of(server)), "{label}");
    eio.send("héllo €😀").await.unwrap();
    assert_eq!(
        next_message(&eio, &mut events, &label).await,
        Payload::from("héllo €😀"),
        "{label}"
    );
    eio.send(vec![0u8, 1, 2, 255]).await.unwrap();
    assert_eq!(
        next_message(&eio, &mut events, &label).await,
        Payload::from(vec![0u8, 1, 2, 255]),
        "{label}"
    );
    eio.disconnect().await.unwrap();
    assert_eq!(
        next_event(&eio, &mut events, Duration::from_secs(10)).await,
        Some(ClientEvent::Disconnect(DisconnectReason::ClientDisconnect)),
        "{label}"
    );
    let after = through(proxy, "127.0.0.1", server.port);
    assert!(
        after > before,
        "{label}: the proxy's log shows no traffic for this server:\n{}",
        proxy.log()
    );
    if proxy.url().starts_with("http:") && transports != Transports::Polling {
        assert!(
            tinyproxy_tunnels(proxy, server.port) > tunnels_before,
            "{label}: the WebSocket did not go through the proxy:\n{}",
            proxy.log()
        );
    }
}

fn async_matrix(
    proxy: RealProxy,
    runtime: Runtime,
    block_on: impl Fn(std::pin::Pin<Box<dyn std::future::Future<Output = ()> + '_>>),
) {
    let servers = servers();
    for server in &servers {
        for transports in TRANSPORTS {
            block_on(Box::pin(async_cell(&runtime, &proxy, server, transports)));
        }
    }
}

#[test]
fn the_matrix_through_tinyproxy_on_tokio() {
    let (rt, runtime) = tokio_runtime();
    async_matrix(tinyproxy(), runtime, |f| rt.block_on(f));
}

#[test]
fn the_matrix_through_microsocks_on_tokio() {
    let (rt, runtime) = tokio_runtime();
    async_matrix(microsocks(), runtime, |f| rt.block_on(f));
}

#[test]
fn the_matrix_through_tinyproxy_on_smol() {
    async_matrix(tinyproxy(), engineio::adapters::smol::runtime(), |f| {
        smol::block_on(f)
    });
}

#[test]
fn the_matrix_through_microsocks_on_smol() {
    async_matrix(microsocks(), engineio::adapters::smol::runtime(), |f| {
        smol::block_on(f)
    });
}

/// The protocol v3 servers (node engine.io 3, python-engineio 3) through both proxies,
/// every transport, chosen by `Protocol::Auto` as without a proxy.
#[test]
fn v3_servers_through_both_proxies_on_tokio() {
    let (rt, runtime) = tokio_runtime();
    let servers: Vec<Server> = ServerKind::V3
        .iter()
        .map(|kind| Server::start(*kind, &PING))
        .collect();
    for proxy in [tinyproxy(), microsocks()] {
        for server in &servers {
            for transports in TRANSPORTS {
                rt.block_on(async_cell(&runtime, &proxy, server, transports));
            }
        }
    }
}

#[derive(Debug, PartialEq)]
enum Ev {
    Connect,
    Message(Payload),
    Disconnect(DisconnectReason),
}

/// One cell on the blocking Client, through its own API (handlers, blocking calls).
fn blocking_cell(proxy: &RealProxy, server: &Server, transports: Transports) {
    let label = format!(
        "blocking {:?}/{transports:?} via {}",
        server.kind,
        proxy.url()
    );
    let before = through(proxy, "127.0.0.1", server.port);
    let tunnels_before = tinyproxy_tunnels(proxy, server.port);
    let eio = Client::builder()
        .transports(transports)
        .proxy(&proxy.url())
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
    let next = || {
        rx.recv_timeout(Duration::from_secs(10))
            .expect("an event within 10 s")
    };

    eio.connect(&server.url())
        .unwrap_or_else(|e| panic!("{label}: {e}"));
    assert_eq!(next(), Ev::Connect, "{label}");
    if transports == Transports::Upgrade {
        let start = Instant::now();
        while eio.transport() != Some(TransportKind::WebSocket) {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "{label}: no upgrade"
            );
            eio.sleep(Duration::from_millis(10));
        }
    }
    eio.send("héllo").unwrap();
    assert_eq!(next(), Ev::Message(Payload::from("héllo")), "{label}");
    eio.send(vec![7u8, 8]).unwrap();
    assert_eq!(next(), Ev::Message(Payload::from(vec![7u8, 8])), "{label}");
    eio.disconnect().unwrap();
    assert_eq!(
        next(),
        Ev::Disconnect(DisconnectReason::ClientDisconnect),
        "{label}"
    );
    assert!(
        through(proxy, "127.0.0.1", server.port) > before,
        "{label}: not in the proxy's log"
    );
    if proxy.url().starts_with("http:") && transports != Transports::Polling {
        assert!(
            tinyproxy_tunnels(proxy, server.port) > tunnels_before,
            "{label}: the WebSocket did not go through the proxy"
        );
    }
}

#[test]
fn the_matrix_through_both_proxies_on_the_blocking_client() {
    let servers = servers();
    for proxy in [tinyproxy(), microsocks()] {
        for server in &servers {
            for transports in TRANSPORTS {
                blocking_cell(&proxy, server, transports);
            }
        }
    }
}

/// Proxies without credentials, and SOCKS5 with the client resolving names (`socks5://`).
#[test]
fn open_proxies_and_client_side_resolution() {
    let (rt, runtime) = tokio_runtime();
    let server = Server::start(ServerKind::Node, &PING);
    let open_http = RealProxy::tinyproxy(TinyproxyConfig::default());
    let open_socks = RealProxy::microsocks(None, false);
    rt.block_on(async {
        for proxy in [&open_http, &open_socks] {
            for transports in TRANSPORTS {
                let eio = AsyncClient::builder()
                    .runtime(runtime.clone())
                    .transports(transports)
                    .proxy(&proxy.url())
                    .build()
                    .unwrap();
                // `localhost`: with socks5://, the client resolves it and the proxy sees an
                // address.
                eio.connect(&format!("http://localhost:{}", server.port))
                    .await
                    .unwrap_or_else(|e| panic!("{}: {e}", proxy.url()));
                // Subscribed once connected: the stream starts after the Connect event.
                let mut events = eio.events();
                eio.send("x").await.unwrap();
                assert_eq!(
                    next_message(&eio, &mut events, "open").await,
                    Payload::from("x")
                );
                eio.disconnect().await.unwrap();
            }
        }
    });
    assert!(
        through(&open_http, "localhost", server.port) >= 3,
        "{}",
        open_http.log()
    );
    let socks_log = open_socks.log();
    assert!(
        !socks_log.contains("connected to localhost:"),
        "{socks_log}"
    );
    assert!(
        through(&open_socks, "127.0.0.1", server.port) + through(&open_socks, "[::1]", server.port)
            >= 3,
        "{socks_log}"
    );
}

/// With socks5h://, the proxy resolves the name: its log shows the name.
#[test]
fn socks5h_leaves_the_name_to_the_proxy() {
    let (rt, runtime) = tokio_runtime();
    let server = Server::start(ServerKind::Node, &PING);
    let proxy = RealProxy::microsocks(None, true);
    rt.block_on(async {
        let eio = AsyncClient::builder()
            .runtime(runtime.clone())
            .transports(Transports::WebSocket)
            .proxy(&proxy.url())
            .build()
            .unwrap();
        eio.connect(&format!("ws://localhost:{}", server.port))
            .await
            .unwrap();
        // Subscribed once connected: the stream starts after the Connect event.
        let mut events = eio.events();
        eio.send("y").await.unwrap();
        assert_eq!(
            next_message(&eio, &mut events, "socks5h").await,
            Payload::from("y")
        );
        eio.disconnect().await.unwrap();
    });
    assert_eq!(
        through(&proxy, "localhost", server.port),
        1,
        "{}",
        proxy.log()
    );
}

fn proxy_error(result: Result<(), Error>) -> ProxyError {
    match result {
        Err(Error::Connect {
            failure: TransportFailure::Proxy(e),
            ..
        }) => e,
        other => panic!("expected a proxy error, got {other:?}"),
    }
}

/// https polling and wss through `CONNECT`, TLS to the server inside the tunnel, verified
/// against the server's name with the client's own roots: the test CA is needed (and
/// enough), whichever proxy.
#[test]
fn https_and_wss_through_connect_and_socks_with_the_test_ca() {
    let (rt, runtime) = tokio_runtime();
    let (dir, ca_pem, server) = tls_node_server();
    let url = format!("https://localhost:{}", server.port);
    for proxy in [tinyproxy(), microsocks()] {
        rt.block_on(async {
            for transports in [Transports::Upgrade, Transports::WebSocket] {
                let label = format!("{transports:?} via {}", proxy.url());
                // Without the test CA: the server's certificate is refused.
                let eio = AsyncClient::builder()
                    .runtime(runtime.clone())
                    .transports(transports)
                    .proxy(&proxy.url())
                    .build()
                    .unwrap();
                let err = eio.connect(&url).await.unwrap_err();
                assert!(
                    matches!(err.failure(), Some(TransportFailure::Tls(_))),
                    "{label}: {err}"
                );

                let eio = AsyncClient::builder()
                    .runtime(runtime.clone())
                    .transports(transports)
                    .proxy(&proxy.url())
                    .add_root_certificate(ca_pem.as_bytes())
                    .build()
                    .unwrap();
                eio.connect(&url)
                    .await
                    .unwrap_or_else(|e| panic!("{label}: {e}"));
                // Subscribed once connected: the stream starts after the Connect event.
                let mut events = eio.events();
                if transports == Transports::Upgrade {
                    wait_for_websocket(&eio).await;
                }
                eio.send("over tls").await.unwrap();
                assert_eq!(
                    next_message(&eio, &mut events, &label).await,
                    Payload::from("over tls")
                );
                eio.disconnect().await.unwrap();
            }
        });
        // tinyproxy saw CONNECTs to the server (https is never forwarded); microsocks, tunnels.
        let log = proxy.log();
        let tunnels = log
            .lines()
            .filter(|l| {
                l.contains(&format!("CONNECT localhost:{} ", server.port))
                    || l.contains(&format!("connected to localhost:{}", server.port))
            })
            .count();
        assert!(tunnels >= 4, "{}: {log}", proxy.url());
        assert!(!log.contains("GET https://"), "{log}");
    }
    let _ = std::fs::remove_dir_all(dir);
}

/// Wrong or missing credentials: a typed proxy error with the proxy's own answer, naming
/// the proxy but never the password; on every transport.
#[test]
fn wrong_and_missing_credentials_are_typed_proxy_errors() {
    let (rt, runtime) = tokio_runtime();
    let server = Server::start(ServerKind::Node, &PING);
    let http = tinyproxy();
    let socks = microsocks();
    type Expected = Box<dyn Fn(&ProxyErrorKind) -> bool>;
    let cases: Vec<(String, u16, Expected)> = vec![
        // tinyproxy answers wrong Basic credentials with 401, missing ones with 407.
        (
            http.url_with("alice", "wrong-pw"),
            http.port,
            Box::new(|k| matches!(k, ProxyErrorKind::HttpStatus { status: 401, .. })),
        ),
        (
            http.bare_url(),
            http.port,
            Box::new(|k| matches!(k, ProxyErrorKind::HttpStatus { status: 407, .. })),
        ),
        (
            socks.url_with("alice", "wrong-pw"),
            socks.port,
            Box::new(|k| *k == ProxyErrorKind::SocksAuthFailed),
        ),
        (
            socks.bare_url(),
            socks.port,
            Box::new(|k| *k == ProxyErrorKind::SocksNoAcceptableMethod),
        ),
    ];
    rt.block_on(async {
        for (url, proxy_port, expected) in &cases {
            for transports in TRANSPORTS {
                let eio = AsyncClient::builder()
                    .runtime(runtime.clone())
                    .transports(transports)
                    .proxy(url)
                    .build()
                    .unwrap();
                let result = eio.connect(&server.url()).await;
                let text = result
                    .as_ref()
                    .err()
                    .map(ToString::to_string)
                    .unwrap_or_default();
                let e = proxy_error(result);
                assert!(expected(&e.kind), "{url} {transports:?}: {e:?}");
                assert_eq!(e.target, format!("127.0.0.1:{}", server.port));
                assert!(
                    e.proxy.ends_with(&format!("127.0.0.1:{proxy_port}")),
                    "{e:?}"
                );
                assert!(text.contains(&e.proxy), "{text}");
                assert!(!text.contains("wrong-pw"), "{text}");
                assert!(eio.sid().is_none());
            }
        }
    });
    // Nothing reached the server: no session was ever made.
    assert!(
        server
            .drain_lines()
            .iter()
            .all(|l| !l.starts_with("DISCONNECT")),
        "sessions were made"
    );
}

/// A proxy that is down: a typed error naming it, at once.
#[test]
fn a_proxy_that_is_down_is_named() {
    let (rt, runtime) = tokio_runtime();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    rt.block_on(async {
        for scheme in ["http", "socks5", "socks5h"] {
            for transports in TRANSPORTS {
                let eio = AsyncClient::builder()
                    .runtime(runtime.clone())
                    .transports(transports)
                    .proxy(&format!("{scheme}://127.0.0.1:{port}"))
                    .build()
                    .unwrap();
                let e = proxy_error(eio.connect("http://127.0.0.1:9/").await);
                assert!(matches!(e.kind, ProxyErrorKind::Unreachable(_)), "{e:?}");
                assert_eq!(e.proxy, format!("{scheme}://127.0.0.1:{port}"));
            }
        }
    });
}

/// A server that is down behind a working proxy: the proxy's own answer, typed (tinyproxy
/// answers forwarded requests with "500 Unable to connect" and refuses CONNECT the same
/// way; microsocks replies "connection refused"), never a hang.
#[test]
fn a_server_that_is_down_behind_the_proxy() {
    let (rt, runtime) = tokio_runtime();
    let down = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let http = tinyproxy();
    let socks = microsocks();
    rt.block_on(async {
        for transports in TRANSPORTS {
            let connect = |proxy: String| {
                let eio = AsyncClient::builder()
                    .runtime(runtime.clone())
                    .transports(transports)
                    .proxy(&proxy)
                    .build()
                    .unwrap();
                async move { eio.connect(&format!("http://127.0.0.1:{down}")).await }
            };
            let e = proxy_error(connect(http.url()).await);
            assert!(
                matches!(&e.kind, ProxyErrorKind::HttpStatus { status: 500, reason } if reason == "Unable to connect"),
                "{transports:?}: {e:?}"
            );
            assert_eq!(e.target, format!("127.0.0.1:{down}"));
            let e = proxy_error(connect(socks.url()).await);
            assert!(
                matches!(e.kind, ProxyErrorKind::SocksReply(_)),
                "{transports:?}: {e:?}"
            );
        }
    });
}

/// A proxy that accepts the connection and never answers: the request timeout bounds its
/// handshake; no hang.
#[test]
fn a_proxy_that_never_answers_is_bounded_by_the_request_timeout() {
    let (rt, runtime) = tokio_runtime();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    // Accept and hold every connection, saying nothing.
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming() {
            match stream {
                Ok(s) => held.push(s),
                Err(_) => break,
            }
        }
    });
    rt.block_on(async {
        for scheme in ["http", "socks5h"] {
            for transports in [Transports::Polling, Transports::WebSocket] {
                let eio = AsyncClient::builder()
                    .runtime(runtime.clone())
                    .transports(transports)
                    .request_timeout(Duration::from_millis(500))
                    .proxy(&format!("{scheme}://127.0.0.1:{port}"))
                    .build()
                    .unwrap();
                let connect = eio.connect("http://127.0.0.1:9/");
                let result = tokio::time::timeout(Duration::from_secs(30), connect)
                    .await
                    .unwrap_or_else(|_| panic!("{scheme} {transports:?}: connect hangs"));
                let err = result.unwrap_err();
                assert_eq!(
                    err.failure(),
                    Some(&TransportFailure::RequestTimeout),
                    "{err}"
                );
            }
        }
    });
}

/// A proxy whose rules refuse `CONNECT` to the server's port (tinyproxy with a
/// `ConnectPort 443` line, squid's default) blocks WebSockets while forwarding polling:
/// a WebSocket-only connect fails with its 403, unless `try_all_transports`; an upgrade
/// fails and the session stays on polling.
#[test]
fn a_proxy_that_blocks_websockets() {
    let (rt, runtime) = tokio_runtime();
    let server = Server::start(ServerKind::Node, &PING);
    let proxy = RealProxy::tinyproxy(TinyproxyConfig {
        connect_ports: vec![443],
        ..TinyproxyConfig::default()
    });
    let builder = || {
        AsyncClient::builder()
            .runtime(runtime.clone())
            .proxy(&proxy.url())
    };
    rt.block_on(async {
        let eio = builder().transports(Transports::WebSocket).build().unwrap();
        let e = proxy_error(eio.connect(&server.url()).await);
        assert!(
            matches!(e.kind, ProxyErrorKind::HttpStatus { status: 403, .. }),
            "{e:?}"
        );

        let eio = builder()
            .transports(Transports::WebSocket)
            .try_all_transports(true)
            .build()
            .unwrap();
        eio.connect(&server.url()).await.unwrap();
        // Subscribed once connected: the stream starts after the Connect event.
        let mut events = eio.events();
        assert_eq!(eio.transport(), Some(TransportKind::Polling));
        eio.send("fell back").await.unwrap();
        assert_eq!(
            next_message(&eio, &mut events, "fallback").await,
            Payload::from("fell back")
        );
        eio.disconnect().await.unwrap();

        // Upgrade: the probe's CONNECT is refused; polling goes on.
        let refused = proxy.log_count("CONNECT 127.0.0.1");
        let eio = builder().build().unwrap();
        eio.connect(&server.url()).await.unwrap();
        // Subscribed once connected: the stream starts after the Connect event.
        let mut events = eio.events();
        let start = Instant::now();
        while proxy.log_count("CONNECT 127.0.0.1") == refused {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "no upgrade attempt: {}",
                proxy.log()
            );
            eio.sleep(Duration::from_millis(20)).await;
        }
        eio.send("still polling").await.unwrap();
        assert_eq!(
            next_message(&eio, &mut events, "upgrade").await,
            Payload::from("still polling")
        );
        assert_eq!(eio.transport(), Some(TransportKind::Polling));
        eio.disconnect().await.unwrap();
    });
}

/// A proxy that refuses long-polling (tinyproxy filtering `transport=polling` URLs) but
/// lets WebSockets through its tunnels: the default connect fails with the proxy's 403,
/// unless `try_all_transports`, which then connects over WebSocket.
#[test]
fn a_proxy_that_blocks_polling() {
    let (rt, runtime) = tokio_runtime();
    let server = Server::start(ServerKind::Node, &PING);
    let proxy = RealProxy::tinyproxy(TinyproxyConfig {
        filter: Some("transport=polling"),
        ..TinyproxyConfig::default()
    });
    let builder = || {
        AsyncClient::builder()
            .runtime(runtime.clone())
            .proxy(&proxy.url())
    };
    rt.block_on(async {
        let eio = builder().build().unwrap();
        let e = proxy_error(eio.connect(&server.url()).await);
        assert!(
            matches!(&e.kind, ProxyErrorKind::HttpStatus { status: 403, reason } if reason == "Filtered"),
            "{e:?}"
        );

        let eio = builder().try_all_transports(true).build().unwrap();
        eio.connect(&server.url()).await.unwrap();
        assert_eq!(eio.transport(), Some(TransportKind::WebSocket));
        let mut events = eio.events();
        eio.send("over the tunnel").await.unwrap();
        assert_eq!(
            next_message(&eio, &mut events, "polling blocked").await,
            Payload::from("over the tunnel")
        );
        eio.disconnect().await.unwrap();
    });
    assert_eq!(
        proxy.log_count(&format!("CONNECT 127.0.0.1:{} ", server.port)),
        1,
        "{}",
        proxy.log()
    );
}

/// `remember_upgrade`: after a session that upgraded through the proxy, the next connect
/// opens on WebSocket directly (the server sees a WebSocket session, the proxy no polling).
#[test]
fn remember_upgrade_through_a_proxy_opens_on_websocket_next_time() {
    let (rt, runtime) = tokio_runtime();
    let server = Server::start(ServerKind::Node, &[PING[0], PING[1], ("EIO_REPORT", "1")]);
    let proxy = tinyproxy();
    rt.block_on(async {
        let eio = AsyncClient::builder()
            .runtime(runtime.clone())
            .proxy(&proxy.url())
            .remember_upgrade(true)
            .build()
            .unwrap();
        eio.connect(&server.url()).await.unwrap();
        let first = server
            .wait_line("CONNECT ", Duration::from_secs(10))
            .expect("first session");
        assert!(first.ends_with(" polling"), "{first}");
        wait_for_websocket(&eio).await;
        eio.disconnect().await.unwrap();
        let polls = proxy.log_count("GET http://127.0.0.1");

        eio.connect(&server.url()).await.unwrap();
        let second = server
            .wait_line("CONNECT ", Duration::from_secs(10))
            .expect("second session");
        assert!(second.ends_with(" websocket"), "{second}");
        assert_eq!(eio.transport(), Some(TransportKind::WebSocket));
        assert_eq!(
            proxy.log_count("GET http://127.0.0.1"),
            polls,
            "{}",
            proxy.log()
        );
        eio.disconnect().await.unwrap();
    });
}

/// The builder refuses a proxy URL it cannot use, naming it without the password.
#[test]
fn a_malformed_proxy_url_fails_build() {
    for url in [
        "ftp://u:pw@h:1",
        "http://h:notaport",
        "socks4://h:1080",
        "http://:1",
    ] {
        let Err(err) = ClientBuilder::new().proxy(url).build() else {
            panic!("{url} was accepted");
        };
        assert!(matches!(err, Error::InvalidProxy(_)), "{url}: {err:?}");
        assert!(!err.to_string().contains(":pw@"), "{err}");
    }
}

/// The environment, through the `eio` program (this process's environment is shared by
/// every test): `http_proxy` for http, `all_proxy` as the fallback, `NO_PROXY` and
/// `--no-proxy` to bypass, `--proxy` over the environment.
#[cfg(feature = "cli")]
#[test]
fn the_environment_variables_as_curl_reads_them() {
    let server = Server::start(ServerKind::Node, &PING);
    let http = RealProxy::tinyproxy(TinyproxyConfig::default());
    let socks = RealProxy::microsocks(None, false);
    let url = server.url();
    let via_http = || through(&http, "127.0.0.1", server.port);
    let via_socks = || through(&socks, "127.0.0.1", server.port);

    let dead = "http://127.0.0.1:9";
    /// The variables, the arguments, and whether tinyproxy and microsocks see the traffic.
    type Case<'a> = (&'a [(&'a str, &'a str)], &'a [&'a str], (bool, bool));
    let cases: &[Case] = &[
        (&[("http_proxy", &http.url())], &[], (true, false)),
        (&[("HTTP_PROXY", &http.url())], &[], (true, false)),
        (&[("ALL_PROXY", &socks.url())], &[], (false, true)),
        (
            &[("http_proxy", &http.url()), ("all_proxy", &socks.url())],
            &[],
            (true, false),
        ),
        // https_proxy is for https and wss only.
        (&[("https_proxy", dead)], &[], (false, false)),
        (
            &[("http_proxy", dead), ("NO_PROXY", "127.0.0.0/8")],
            &[],
            (false, false),
        ),
        (
            &[
                ("http_proxy", dead),
                ("no_proxy", &format!("127.0.0.1:{}", server.port)),
            ],
            &[],
            (false, false),
        ),
        (
            &[
                ("http_proxy", &http.url()),
                ("no_proxy", "localhost,example.com"),
            ],
            &[],
            (true, false),
        ),
        (&[("http_proxy", dead)], &["--no-proxy"], (false, false)),
        (
            &[("http_proxy", dead)],
            &["--proxy", &socks.url()],
            (false, true),
        ),
    ];
    for (env, args, (want_http, want_socks)) in cases {
        let (http_before, socks_before) = (via_http(), via_socks());
        let out = run_eio(&url, env, args);
        assert!(out.contains("connected sid="), "{env:?} {args:?}: {out}");
        assert!(
            out.contains("message text \"hi\""),
            "{env:?} {args:?}: {out}"
        );
        assert_eq!(
            via_http() > http_before,
            *want_http,
            "{env:?} {args:?}: {}",
            http.log()
        );
        assert_eq!(
            via_socks() > socks_before,
            *want_socks,
            "{env:?} {args:?}: {}",
            socks.log()
        );
    }
}

/// Runs `eio connect URL --transport polling` with only the given proxy variables set,
/// sends one line, and returns its output once stdin's end has disconnected it.
#[cfg(feature = "cli")]
fn run_eio(url: &str, env: &[(&str, &str)], args: &[&str]) -> String {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_eio"));
    cmd.args(["connect", url, "--transport", "upgrade"])
        .args(args);
    for name in [
        "http_proxy",
        "HTTP_PROXY",
        "https_proxy",
        "HTTPS_PROXY",
        "all_proxy",
        "ALL_PROXY",
        "no_proxy",
        "NO_PROXY",
        "REQUEST_METHOD",
    ] {
        cmd.env_remove(name);
    }
    cmd.envs(env.iter().copied());
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("eio starts");
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(b"hi\n").unwrap();
    // Keep stdin open until the echo is in: end of stdin disconnects.
    let (tx, rx) = mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut out = String::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !out.contains("message text") && !out.contains("disconnected") {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => {
                out.push_str(&line);
                out.push('\n');
            }
            Err(_) => break,
        }
    }
    drop(stdin);
    let status = child.wait().expect("eio exits");
    while let Ok(line) = rx.recv_timeout(Duration::from_secs(5)) {
        out.push_str(&line);
        out.push('\n');
    }
    let mut err = String::new();
    if let Some(mut stderr) = child.stderr.take() {
        use std::io::Read;
        let _ = stderr.read_to_string(&mut err);
    }
    format!("{out}(exit {status}) {err}")
}
