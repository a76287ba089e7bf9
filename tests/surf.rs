//! `SurfConnector` (feature `surf`): the client's long-polling over surf, against the real
//! node engine.io server; the upgrade from surf polling to the default WebSocket
//! connector; and what the connector does on the wire (no `Accept-Encoding`, no redirect
//! followed, every `Set-Cookie`, the body limit, no reuse of an abandoned connection).
#![cfg(all(feature = "surf", feature = "async-std"))]

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::pin::pin;
use std::sync::mpsc;
use std::time::Duration;

use async_std::task::block_on;
use bytes::Bytes;
use common::{Server, ServerKind, next_event, wait_for_websocket};
use engineio::connector::SurfConnector;
use engineio::connector::{ConnectorErrorKind, HttpConnector};
use engineio::{
    AsyncClient, ClientEvent, DisconnectReason, Payload, TransportFailure, TransportKind,
    Transports,
};
use futures::Stream;
use futures::future::{Either, select};

/// Short heartbeats.
const PING: [(&str, &str); 2] = [
    ("EIO_PING_INTERVAL_MS", "1000"),
    ("EIO_PING_TIMEOUT_MS", "1000"),
];

fn client(transports: Transports) -> AsyncClient {
    AsyncClient::builder()
        .runtime(engineio::adapters::async_std::runtime())
        .http_connector(SurfConnector::new())
        .transports(transports)
        .build()
        .unwrap()
}

/// Text and binary round trips.
async fn echoes(eio: &AsyncClient, events: &mut (impl Stream<Item = ClientEvent> + Unpin)) {
    eio.send("héllo €").await.unwrap();
    assert_eq!(
        common::next_message(eio, events, "surf").await,
        Payload::from("héllo €")
    );
    eio.send(vec![0u8, 1, 255]).await.unwrap();
    assert_eq!(
        common::next_message(eio, events, "surf").await,
        Payload::from(vec![0u8, 1, 255])
    );
}

#[test]
fn polling_over_surf_against_node() {
    let server = Server::start(ServerKind::Node, &PING);
    let url = server.url();
    block_on(async {
        let eio = client(Transports::Polling);
        let mut events = eio.events();
        eio.connect(&url).await.unwrap();
        assert_eq!(
            next_event(&eio, &mut events, Duration::from_secs(5)).await,
            Some(ClientEvent::Connect)
        );
        let sid = eio.sid().expect("sid");
        assert!(!sid.is_empty());
        assert_eq!(eio.transport(), Some(TransportKind::Polling));

        echoes(&eio, &mut events).await;

        for i in 0..100 {
            eio.send(format!("m{i}")).await.unwrap();
        }
        for i in 0..100 {
            assert_eq!(
                common::next_message(&eio, &mut events, "surf").await,
                Payload::from(format!("m{i}"))
            );
        }

        // Several ping intervals on surf polling: the heartbeat keeps the session up.
        eio.sleep(Duration::from_millis(2500)).await;
        assert_eq!(eio.sid().as_deref(), Some(sid.as_str()));

        eio.disconnect().await.unwrap();
        assert_eq!(
            next_event(&eio, &mut events, Duration::from_secs(5)).await,
            Some(ClientEvent::Disconnect(DisconnectReason::ClientDisconnect))
        );
        assert!(
            server
                .wait_line(&format!("DISCONNECT {sid}"), Duration::from_secs(10))
                .is_some(),
            "the server did not see the session end"
        );
    });
}

#[test]
fn upgrade_from_surf_polling_to_the_default_websocket() {
    let server = Server::start(ServerKind::Node, &PING);
    let url = server.url();
    block_on(async {
        let eio = client(Transports::Upgrade);
        let mut events = eio.events();
        eio.connect(&url).await.unwrap();
        assert_eq!(
            next_event(&eio, &mut events, Duration::from_secs(5)).await,
            Some(ClientEvent::Connect)
        );
        wait_for_websocket(&eio).await;
        echoes(&eio, &mut events).await;
        eio.disconnect().await.unwrap();
        assert_eq!(
            next_event(&eio, &mut events, Duration::from_secs(5)).await,
            Some(ClientEvent::Disconnect(DisconnectReason::ClientDisconnect))
        );
    });
}

#[test]
fn sticky_cookies_travel_back_over_surf() {
    let server = Server::start(ServerKind::Node, &[("EIO_COOKIE", "1")]);
    block_on(async {
        let eio = client(Transports::Upgrade);
        let mut events = eio.events();
        eio.connect(&server.url()).await.unwrap();
        eio.send("hi").await.unwrap();
        assert_eq!(
            next_event(&eio, &mut events, Duration::from_secs(5)).await,
            Some(ClientEvent::Connect)
        );
        assert_eq!(
            common::next_message(&eio, &mut events, "surf").await,
            Payload::from("hi")
        );
        wait_for_websocket(&eio).await;
        eio.disconnect().await.unwrap();
    });
    let lines = server.cookie_lines();
    assert!(lines.iter().any(|l| l == "COOKIE ok polling"), "{lines:?}");
    assert!(
        lines.iter().all(|l| l.starts_with("COOKIE ok")),
        "{lines:?}"
    );
}

/// A port that was just free.
fn refused_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn connection_refused_names_the_url() {
    let url = format!("http://127.0.0.1:{}", refused_port());
    block_on(async {
        let err = client(Transports::Polling).connect(&url).await.unwrap_err();
        let text = err.to_string();
        assert!(text.contains(&url), "{text}");
        assert!(text.contains("connection failed"), "{text}");
        assert!(
            matches!(err.failure(), Some(TransportFailure::Connect(_))),
            "{err:?}"
        );

        // The connector's own error: Connect, naming the origin.
        let req = http::Request::get(format!("{url}/engine.io/?EIO=4&transport=polling"))
            .body(Bytes::new())
            .unwrap();
        let err = SurfConnector::new()
            .request(req, 1 << 20)
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ConnectorErrorKind::Connect);
        assert!(err.to_string().contains(&url), "{err}");
    });
}

#[test]
fn an_untrusted_certificate_is_a_tls_error() {
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let dir = std::env::temp_dir().join(format!(
        "engineio-surf-tls-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let cert_path = dir.join("cert.pem");
    let key_path = dir.join("key.pem");
    std::fs::write(&cert_path, cert.cert.pem()).unwrap();
    std::fs::write(&key_path, cert.signing_key.serialize_pem()).unwrap();
    let server = Server::start(
        ServerKind::Node,
        &[
            ("EIO_TLS_CERT", cert_path.to_str().unwrap()),
            ("EIO_TLS_KEY", key_path.to_str().unwrap()),
        ],
    );
    block_on(async {
        let req = http::Request::get(format!(
            "https://localhost:{}/engine.io/?EIO=4&transport=polling",
            server.port
        ))
        .body(Bytes::new())
        .unwrap();
        let err = SurfConnector::new()
            .request(req, 1 << 20)
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ConnectorErrorKind::Tls, "{err}");
        assert!(
            err.to_string()
                .contains(&format!("https://localhost:{}", server.port)),
            "{err}"
        );
    });
    let _ = std::fs::remove_dir_all(dir);
}

/// A one-connection-at-a-time HTTP/1.1 server on a std socket: for each connection in
/// turn, reads one request and answers it with `responses[i]`; sends each request head
/// (lower-cased) on the channel.
fn wire_server(responses: Vec<Vec<u8>>) -> (String, mpsc::Receiver<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for response in responses {
            let Ok((mut stream, _)) = listener.accept() else {
                return;
            };
            let head = read_head(&mut stream);
            let _ = tx.send(head);
            let _ = stream.write_all(&response);
        }
    });
    (url, rx)
}

fn read_head(stream: &mut TcpStream) -> String {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut head = String::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
            break;
        }
        head.push_str(&line.to_ascii_lowercase());
    }
    let len = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .map_or(0, |v| v.trim().parse().unwrap());
    let mut body = vec![0; len];
    reader.read_exact(&mut body).unwrap();
    head
}

fn get(url: &str) -> http::Request<Bytes> {
    http::Request::get(format!("{url}/engine.io/?EIO=4&transport=polling"))
        .body(Bytes::new())
        .unwrap()
}

#[test]
fn on_the_wire_no_accept_encoding_and_no_redirect_followed() {
    let redirect =
        b"HTTP/1.1 302 Found\r\nLocation: /elsewhere\r\nContent-Length: 0\r\n\r\n".to_vec();
    // Were the redirect followed, the second request would get this 200.
    let ok = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n".to_vec();
    let (url, heads) = wire_server(vec![redirect, ok]);
    block_on(async {
        let req = http::Request::post(format!("{url}/engine.io/?EIO=4&sid=x"))
            .header("accept-encoding", "gzip, deflate")
            .header("content-type", "text/plain;charset=UTF-8")
            .body(Bytes::from_static(b"4hi"))
            .unwrap();
        let res = SurfConnector::new().request(req, 1 << 20).await.unwrap();
        assert_eq!(res.status(), http::StatusCode::FOUND);
        assert_eq!(res.headers()["location"], "/elsewhere");
    });
    let head = heads.recv_timeout(Duration::from_secs(5)).unwrap();
    assert!(
        head.starts_with("post /engine.io/?eio=4&sid=x http/1.1\r\n"),
        "{head}"
    );
    assert!(!head.contains("accept-encoding"), "{head}");
    assert!(
        head.contains("content-type: text/plain;charset=utf-8\r\n"),
        "{head}"
    );
    assert!(head.contains("content-length: 3\r\n"), "{head}");
    // Only the one request: the redirect was not followed.
    assert_eq!(
        heads.recv_timeout(Duration::from_millis(300)),
        Err(mpsc::RecvTimeoutError::Timeout)
    );
}

#[test]
fn every_set_cookie_and_the_body_arrive() {
    let response = b"HTTP/1.1 200 OK\r\nSet-Cookie: a=1; Path=/\r\nSet-Cookie: b=2\r\n\
                     Content-Type: text/plain; charset=UTF-8\r\nContent-Length: 6\r\n\r\n4hello"
        .to_vec();
    let (url, _heads) = wire_server(vec![response]);
    block_on(async {
        let res = SurfConnector::new().request(get(&url), 6).await.unwrap();
        assert_eq!(res.status(), http::StatusCode::OK);
        let cookies: Vec<&str> = res
            .headers()
            .get_all("set-cookie")
            .iter()
            .map(|v| v.to_str().unwrap())
            .collect();
        assert_eq!(cookies, ["a=1; Path=/", "b=2"]);
        assert_eq!(res.body().as_ref(), b"4hello");
    });
}

#[test]
fn a_body_over_the_limit_is_too_large() {
    let announced = b"HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\n4helloworld".to_vec();
    let chunked =
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n6\r\n4hello\r\n5\r\nworld\r\n0\r\n\r\n"
            .to_vec();
    let (url, _heads) = wire_server(vec![announced, chunked]);
    block_on(async {
        for _ in 0..2 {
            let err = SurfConnector::new()
                .request(get(&url), 10)
                .await
                .unwrap_err();
            assert_eq!(err.kind(), ConnectorErrorKind::TooLarge, "{err}");
            assert!(err.to_string().contains(&url), "{err}");
        }
    });
}

#[test]
fn an_abandoned_request_does_not_leave_its_connection_for_the_next() {
    // The first connection is answered only after the client gave up on it; the second
    // request must not get that answer.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
    let (gave_up_tx, gave_up_rx) = mpsc::channel::<()>();
    let server = std::thread::spawn(move || {
        let (mut first, _) = listener.accept().unwrap();
        read_head(&mut first);
        gave_up_rx.recv().unwrap();
        let _ = first.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nstale");
        listener.set_nonblocking(false).unwrap();
        let (mut second, _) = listener.accept().unwrap();
        read_head(&mut second);
        second
            .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfresh")
            .unwrap();
    });
    block_on(async {
        let http = SurfConnector::new();
        let first = http.request(get(&url), 100);
        let timeout = async_std::task::sleep(Duration::from_millis(300));
        match select(first, pin!(timeout)).await {
            Either::Left((res, _)) => panic!("the first request was answered: {res:?}"),
            Either::Right(((), first)) => drop(first),
        }
        gave_up_tx.send(()).unwrap();
        async_std::task::sleep(Duration::from_millis(100)).await;
        let res = http.request(get(&url), 100).await.unwrap();
        assert_eq!(res.body().as_ref(), b"fresh");
    });
    server.join().unwrap();
}
