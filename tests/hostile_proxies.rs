//! The AsyncClient through hostile or broken proxies: a raw "proxy" scripted by each test
//! (std sockets on 127.0.0.1, one thread, bounded loops and timeouts, so that it stops by
//! itself) answers `CONNECT`, the SOCKS5 handshake or a forwarded request with what no real
//! proxy sends: garbage, heads that never end or arrive a byte at a time, absurd status
//! codes, cut replies, bytes past the end of its answer. The client is driven through the
//! public API only (`ClientBuilder::proxy`, `connect`).
//!
//! Every test checks the exact typed outcome (`Error::Connect` with a
//! `TransportFailure::Proxy` of the expected `ProxyErrorKind`, or the failure that the
//! server's own answer should give), that `connect` returns (under a hang guard only, never
//! a speed check), that no task of the client panicked, and, where a proxy could make the
//! client buffer without end, that the client stopped reading.
//!
//! Real proxies (tinyproxy, microsocks) are in tests/proxies.rs.
#![cfg(all(feature = "tokio", feature = "rustls"))]

use std::future::Future;
use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, Ipv6Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use base64::Engine as _;
use engineio::connector::{ProxyError, ProxyErrorKind};
use engineio::rt::{Dialer, Io, Runtime};
use engineio::{AsyncClient, Error, HttpStatusError, TransportFailure, TransportKind, Transports};

/// The client's request timeout: long, so that a client that waits instead of seeing
/// what is wrong fails with `RequestTimeout` rather than passing by luck.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(20);
/// A guard against hangs only: `connect` must return (it is bounded by the request
/// timeout), and this is well above it.
const HANG_GUARD: Duration = Duration::from_secs(30);
/// How long a scripted proxy waits for the client to connect, or for it to send or read
/// anything, before it gives up.
const PROXY_PATIENCE: Duration = Duration::from_secs(30);

// ----- panics in the client's tasks ------------------------------------------------------

/// Panics on the runtime's worker threads: the client's tasks run there (the scripted
/// proxies run on threads of their own, the test body on the test's thread).
static LIBRARY_PANICS: AtomicUsize = AtomicUsize::new(0);

fn count_library_panics() {
    static HOOK: std::sync::Once = std::sync::Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if thread::current()
                .name()
                .is_some_and(|n| n.starts_with("tokio-runtime-worker"))
            {
                LIBRARY_PANICS.fetch_add(1, Ordering::SeqCst);
            }
            previous(info);
        }));
    });
}

/// Runs a test body under the hang guard and fails it if a task of the client panicked
/// meanwhile (in any test of this file: a panic is a bug wherever it is seen).
async fn guarded<F: Future>(test: F) -> F::Output {
    count_library_panics();
    let before = LIBRARY_PANICS.load(Ordering::SeqCst);
    let out = tokio::time::timeout(HANG_GUARD * 3, test)
        .await
        .expect("the test hung");
    assert_eq!(
        LIBRARY_PANICS.load(Ordering::SeqCst),
        before,
        "a task of the client panicked"
    );
    out
}

// ----- the scripted proxy ----------------------------------------------------------------

/// A raw proxy on 127.0.0.1 that takes one connection and runs `script` on it, on a thread
/// of its own. It gives up if no connection comes within [`PROXY_PATIENCE`], and every
/// read and write on the connection times out after as long.
struct Scripted<T> {
    port: u16,
    thread: thread::JoinHandle<Option<T>>,
}

impl<T: Send + 'static> Scripted<T> {
    fn start(script: impl FnOnce(TcpStream) -> T + Send + 'static) -> Scripted<T> {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        listener.set_nonblocking(true).unwrap();
        let thread = thread::spawn(move || {
            let deadline = Instant::now() + PROXY_PATIENCE;
            let stream = loop {
                match listener.accept() {
                    Ok((stream, _)) => break stream,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        if Instant::now() > deadline {
                            return None;
                        }
                        thread::sleep(Duration::from_millis(2));
                    }
                    Err(_) => return None,
                }
            };
            stream.set_nonblocking(false).unwrap();
            // Small writes go out at once: a dribble is really a byte per segment.
            stream.set_nodelay(true).unwrap();
            stream.set_read_timeout(Some(PROXY_PATIENCE)).unwrap();
            stream.set_write_timeout(Some(PROXY_PATIENCE)).unwrap();
            Some(script(stream))
        });
        Scripted { port, thread }
    }

    /// What the script returned; panics if no client came or the script panicked.
    fn outcome(self) -> T {
        match self.thread.join() {
            Ok(Some(out)) => out,
            Ok(None) => panic!("the client never connected to the scripted proxy"),
            Err(panic) => std::panic::resume_unwind(panic),
        }
    }
}

/// Reads up to and including the blank line that ends a request head, a byte at a time,
/// so that nothing after it is taken from the socket.
fn read_head(s: &mut TcpStream) -> io::Result<String> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if head.len() > 64 * 1024 {
            return Err(io::Error::other("the client's head is too long"));
        }
        match s.read(&mut byte)? {
            0 => return Err(io::ErrorKind::UnexpectedEof.into()),
            _ => head.push(byte[0]),
        }
    }
    Ok(String::from_utf8_lossy(&head).into_owned())
}

/// Caps the kernel's send buffer of `s` at a few tens of KiB (and turns its autotuning
/// off: on loopback it would grow to megabytes), so that what a proxy manages to write
/// is what the client read, plus little.
#[cfg(unix)]
fn small_send_buffer(s: &TcpStream) {
    use std::os::fd::AsRawFd;
    let size: libc::c_int = 16 * 1024;
    // SAFETY: a valid socket, and a pointer to a c_int of the given length.
    let rc = unsafe {
        libc::setsockopt(
            s.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_SNDBUF,
            (&size as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    assert_eq!(rc, 0, "setsockopt: {}", io::Error::last_os_error());
}

#[cfg(not(unix))]
fn small_send_buffer(_: &TcpStream) {}

fn read_n(s: &mut TcpStream, n: usize) -> io::Result<Vec<u8>> {
    let mut buf = vec![0; n];
    s.read_exact(&mut buf)?;
    Ok(buf)
}

/// Reads until the client closes the connection: how many bytes it sent meanwhile, or
/// `None` if it kept the connection open for [`PROXY_PATIENCE`].
fn wait_for_close(s: &mut TcpStream) -> Option<usize> {
    let mut buf = [0u8; 4096];
    let mut got = 0;
    loop {
        match s.read(&mut buf) {
            Ok(0) => return Some(got),
            Ok(n) => got += n,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                return None;
            }
            Err(_) => return Some(got),
        }
    }
}

/// The header value of `name` in a request head.
fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().skip(1).find_map(|line| {
        let (k, v) = line.split_once(':')?;
        k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

/// The answer that completes a WebSocket handshake whose request head is `get`.
fn websocket_accept_headers(get: &str) -> String {
    let key = header(get, "sec-websocket-key").unwrap_or_default();
    let accept = async_tungstenite::tungstenite::handshake::derive_accept_key(key.as_bytes());
    format!("Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n")
}

/// An unmasked text frame (short payloads only).
fn text_frame(text: &str) -> Vec<u8> {
    assert!(text.len() < 126);
    let mut frame = vec![0x81, text.len() as u8];
    frame.extend_from_slice(text.as_bytes());
    frame
}

/// A good open packet: no upgrade, heartbeats too slow to matter.
const OPEN: &str = r#"0{"sid":"tunnelled","upgrades":[],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}"#;

/// Plays the Engine.IO server inside a tunnel that is open: reads the client's WebSocket
/// handshake, completes it (`already_sent` is the part of the answer the proxy sent
/// before the request came), sends the open packet and waits for the client to close.
/// Returns the handshake request head.
fn serve_websocket_in_tunnel(s: &mut TcpStream, already_sent: &str) -> io::Result<String> {
    let get = read_head(s)?;
    let mut answer = String::new();
    if already_sent.is_empty() {
        answer.push_str("HTTP/1.1 101 Switching Protocols\r\n");
    }
    answer.push_str(&websocket_accept_headers(&get));
    s.write_all(answer.as_bytes())?;
    s.write_all(&text_frame(OPEN))?;
    // Read the client's frames up to its close frame, answer it, and let the client end
    // the connection.
    loop {
        let head = read_n(s, 2)?;
        let len = match head[1] & 0x7f {
            126 => u64::from(u16::from_be_bytes(read_n(s, 2)?.try_into().unwrap())),
            127 => u64::from_be_bytes(read_n(s, 8)?.try_into().unwrap()),
            len => u64::from(len),
        };
        let masked = head[1] & 0x80 != 0;
        let len = usize::try_from(len).unwrap().min(1 << 20) + if masked { 4 } else { 0 };
        read_n(s, len)?;
        if head[0] & 0x0f == 8 {
            s.write_all(&[0x88, 0])?;
            break;
        }
    }
    wait_for_close(s);
    Ok(get)
}

// ----- the client side -------------------------------------------------------------------

/// A port that was free a moment ago: the server the client asks the proxy for. Nothing
/// listens there, so a client that went around the proxy would fail to connect.
fn absent_server() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn client(proxy: &str, transports: Transports) -> AsyncClient {
    client_with_timeout(proxy, transports, REQUEST_TIMEOUT)
}

fn client_with_timeout(proxy: &str, transports: Transports, timeout: Duration) -> AsyncClient {
    AsyncClient::builder()
        .runtime(engineio::adapters::tokio::runtime(
            tokio::runtime::Handle::current(),
        ))
        .transports(transports)
        .proxy(proxy)
        .request_timeout(timeout)
        .logger(false)
        .build()
        .unwrap()
}

/// A WebSocket-only client through the scripted CONNECT `proxy` to an absent server: the
/// scripted session must open (sid `tunnelled`), then `disconnect` and `wait`, all under
/// the hang guard; the proxy must have seen the CONNECT for that server, then the
/// WebSocket handshake in the tunnel. Returns that handshake's head and the server's port.
/// `what` says what a failure means.
async fn tunnelled_session(proxy: Scripted<(String, String)>, what: &str) -> (String, u16) {
    let port = absent_server();
    let eio = client(
        &format!("http://127.0.0.1:{}", proxy.port),
        Transports::WebSocket,
    );
    tokio::time::timeout(HANG_GUARD, eio.connect(&format!("http://127.0.0.1:{port}")))
        .await
        .expect("connect hung")
        .unwrap_or_else(|e| panic!("{what}: {e}"));
    assert_eq!(eio.sid().as_deref(), Some("tunnelled"));
    assert_eq!(eio.transport(), Some(TransportKind::WebSocket));
    eio.disconnect().await.unwrap();
    tokio::time::timeout(HANG_GUARD, eio.wait())
        .await
        .expect("wait hung");
    let (head, get) = proxy.outcome();
    assert_connect_request(&head, &format!("127.0.0.1:{port}"));
    assert!(
        get.starts_with("GET /engine.io/?EIO=4&transport=websocket"),
        "{what}: {get:?}"
    );
    (get, port)
}

/// `connect`, which must fail; under the hang guard.
async fn connect_fails(eio: &AsyncClient, url: &str) -> Error {
    let result = tokio::time::timeout(HANG_GUARD, eio.connect(url))
        .await
        .expect("connect hung");
    let err = result.expect_err("connect succeeded through a broken proxy");
    eprintln!("connect: {err} / {err:?}");
    match &err {
        Error::Connect { url: given, .. } => assert_eq!(given, url),
        other => panic!("expected Error::Connect, got {other:?}"),
    }
    err
}

/// The proxy error behind `err`, checked to name `proxy` and `target`.
fn proxy_error<'a>(err: &'a Error, proxy: &str, target: &str) -> &'a ProxyError {
    match err.failure() {
        Some(TransportFailure::Proxy(e)) => {
            assert_eq!(e.proxy, proxy, "{err}");
            assert_eq!(e.target, target, "{err}");
            e
        }
        other => panic!("expected a proxy failure, got {other:?} ({err})"),
    }
}

/// `Io("the proxy closed the connection")`: what a proxy that hangs up mid-handshake is.
fn closed_by_proxy() -> ProxyErrorKind {
    ProxyErrorKind::Io("the proxy closed the connection".to_owned())
}

// ----- HTTP CONNECT ----------------------------------------------------------------------

/// A CONNECT proxy: reads the client's CONNECT request, then hands the stream to `then`.
/// Returns the request head and what `then` returned.
fn connect_proxy<T: Send + 'static>(
    then: impl FnOnce(&mut TcpStream) -> T + Send + 'static,
) -> Scripted<(String, T)> {
    Scripted::start(move |mut s| {
        let head = read_head(&mut s).unwrap_or_default();
        let out = then(&mut s);
        (head, out)
    })
}

fn assert_connect_request(head: &str, target: &str) {
    assert!(
        head.starts_with(&format!("CONNECT {target} HTTP/1.1\r\n")),
        "{head:?}"
    );
    assert_eq!(header(head, "host"), Some(target), "{head:?}");
}

/// An answer to CONNECT that is not HTTP at all (an SSH banner, an HTML page without a
/// status line, HTTP/2, a status line without a code) fails as a `Protocol` error of the
/// proxy, once its head is complete.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_answer_that_is_not_http_is_a_protocol_error() {
    guarded(async {
        for answer in [
            &b"SSH-2.0-OpenSSH_9.6p1 Ubuntu-3ubuntu13\r\n\r\n"[..],
            b"<html><body>Blocked by policy</body></html>\r\n\r\n",
            b"HTTP/2 200\r\n\r\n",
            b"HTTP/1.1 OK\r\n\r\n",
            b"\x05\x00\x05\x00\x00\x01\x7f\x00\x00\x01\x00\x50\r\n\r\n",
        ] {
            let proxy = connect_proxy(move |s| {
                s.write_all(answer).unwrap();
                wait_for_close(s)
            });
            let port = absent_server();
            let eio = client(
                &format!("http://127.0.0.1:{}", proxy.port),
                Transports::WebSocket,
            );
            let err = connect_fails(&eio, &format!("http://127.0.0.1:{port}")).await;
            let e = proxy_error(
                &err,
                &format!("http://127.0.0.1:{}", proxy.port),
                &format!("127.0.0.1:{port}"),
            );
            assert_eq!(
                e.kind,
                ProxyErrorKind::Protocol("its answer to CONNECT is not HTTP".to_owned()),
                "{answer:?}"
            );
            let (head, closed) = proxy.outcome();
            assert_connect_request(&head, &format!("127.0.0.1:{port}"));
            assert_eq!(
                closed,
                Some(0),
                "{answer:?}: the client must close the connection and send nothing more"
            );
        }
    })
    .await;
}

/// A CONNECT answer whose head never ends (a status line, then header lines without end)
/// is a `Protocol` error once the client has read its cap (16 KiB) of head: the client
/// stops reading and closes, so the proxy gets only a bounded amount written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endless_connect_head_is_cut_and_the_client_stops_reading() {
    guarded(async {
        /// What the proxy would write if nobody stopped it.
        const ENDLESS: usize = 64 << 20;
        /// The client's cap, plus the socket buffers on both sides, with a wide margin.
        const BOUND: usize = 1 << 20;
        let proxy = connect_proxy(|s| {
            small_send_buffer(s);
            let line = format!("X-Filler: {}\r\n", "a".repeat(1000));
            let mut written = 0;
            let status = b"HTTP/1.1 200 Connection established\r\n";
            if s.write_all(status).is_ok() {
                written += status.len();
                while written < ENDLESS && s.write_all(line.as_bytes()).is_ok() {
                    written += line.len();
                }
            }
            written
        });
        let port = absent_server();
        let eio = client(
            &format!("http://127.0.0.1:{}", proxy.port),
            Transports::WebSocket,
        );
        let err = connect_fails(&eio, &format!("http://127.0.0.1:{port}")).await;
        let e = proxy_error(
            &err,
            &format!("http://127.0.0.1:{}", proxy.port),
            &format!("127.0.0.1:{port}"),
        );
        assert_eq!(
            e.kind,
            ProxyErrorKind::Protocol("its answer to CONNECT has an endless head".to_owned())
        );
        let (head, written) = proxy.outcome();
        assert_connect_request(&head, &format!("127.0.0.1:{port}"));
        eprintln!("the proxy wrote {written} bytes before the client closed");
        assert!(
            written < BOUND,
            "the proxy wrote {written} bytes of head: the client kept reading"
        );
    })
    .await;
}

/// A `200 Connection established` dribbled a byte at a time still opens the tunnel: the
/// client then sends its WebSocket handshake into it (origin-form
/// `GET /engine.io/?EIO=4&transport=websocket`), and the session opens over it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_answer_dribbled_a_byte_at_a_time_opens_the_tunnel() {
    guarded(async {
        let proxy = connect_proxy(|s| {
            for byte in b"HTTP/1.1 200 Connection established\r\nProxy-Agent: slow\r\n\r\n" {
                s.write_all(&[*byte]).unwrap();
                thread::sleep(Duration::from_millis(2));
            }
            serve_websocket_in_tunnel(s, "").unwrap()
        });
        let (get, port) =
            tunnelled_session(proxy, "connect through a slow but valid CONNECT answer").await;
        assert_eq!(
            header(&get, "host"),
            Some(format!("127.0.0.1:{port}").as_str())
        );
    })
    .await;
}

/// Interim answers (`100 Continue`, `103 Early Hints`, any 1xx but 101) before the `200`
/// are skipped, as HTTP clients must: written apart, or in one write with the `200` and
/// the first bytes of the tunnel, the tunnel opens and the session runs over it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interim_answers_before_the_200_are_skipped() {
    guarded(async {
        const EARLY: &str = "HTTP/1.1 101 Switching Protocols\r\n";
        for together in [false, true] {
            let proxy = connect_proxy(move |s| {
                let interim = [
                    "HTTP/1.1 100 Continue\r\n\r\n",
                    "HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n",
                    "HTTP/1.1 100 Continue\r\n\r\n",
                ];
                let established = "HTTP/1.1 200 Connection established\r\n\r\n";
                if together {
                    let all = format!("{}{established}{EARLY}", interim.concat());
                    s.write_all(all.as_bytes()).unwrap();
                    serve_websocket_in_tunnel(s, EARLY).unwrap()
                } else {
                    for answer in interim {
                        s.write_all(answer.as_bytes()).unwrap();
                        thread::sleep(Duration::from_millis(20));
                    }
                    s.write_all(established.as_bytes()).unwrap();
                    serve_websocket_in_tunnel(s, "").unwrap()
                }
            });
            tunnelled_session(proxy, &format!("together {together}")).await;
        }
    })
    .await;
}

/// A proxy that sends interim answers without end is cut off after 8 of them: a
/// `Protocol` error of the proxy, nothing sent into the connection after the CONNECT.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endless_interim_answers_are_a_protocol_error() {
    guarded(async {
        let proxy = connect_proxy(|s| {
            for _ in 0..1000 {
                if s.write_all(b"HTTP/1.1 100 Continue\r\n\r\n").is_err() {
                    break;
                }
            }
            wait_for_close(s)
        });
        let port = absent_server();
        let eio = client(
            &format!("http://127.0.0.1:{}", proxy.port),
            Transports::WebSocket,
        );
        let err = connect_fails(&eio, &format!("http://127.0.0.1:{port}")).await;
        let e = proxy_error(
            &err,
            &format!("http://127.0.0.1:{}", proxy.port),
            &format!("127.0.0.1:{port}"),
        );
        assert_eq!(
            e.kind,
            ProxyErrorKind::Protocol("more than 8 interim answers to CONNECT".to_owned())
        );
        let (head, closed) = proxy.outcome();
        assert_connect_request(&head, &format!("127.0.0.1:{port}"));
        assert_eq!(closed, Some(0), "nothing may go into the connection");
    })
    .await;
}

/// The request timeout bounds the whole proxy handshake, not each read: a proxy that
/// dribbles a valid answer slower than the timeout allows fails with `RequestTimeout`,
/// although every byte comes well within it (and the WebSocket handshake would succeed
/// after it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slowloris_connect_answer_is_bounded_by_the_request_timeout() {
    guarded(async {
        let proxy = connect_proxy(|s| {
            for byte in b"HTTP/1.1 200 Connection established\r\n\r\n" {
                if s.write_all(&[*byte]).is_err() {
                    return false;
                }
                thread::sleep(Duration::from_millis(150));
            }
            serve_websocket_in_tunnel(s, "").is_ok()
        });
        let port = absent_server();
        let eio = client_with_timeout(
            &format!("http://127.0.0.1:{}", proxy.port),
            Transports::WebSocket,
            Duration::from_secs(1),
        );
        let err = connect_fails(&eio, &format!("http://127.0.0.1:{port}")).await;
        assert_eq!(
            err.failure(),
            Some(&TransportFailure::RequestTimeout),
            "{err}"
        );
        let (head, _) = proxy.outcome();
        assert_connect_request(&head, &format!("127.0.0.1:{port}"));
    })
    .await;
}

/// A final status outside 2xx refuses the tunnel, whatever it is: 999 (no such status),
/// 101 (a proxy that takes CONNECT for a WebSocket upgrade) and a redirect are
/// `HttpStatus` errors with the proxy's code and reason.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_answer_with_an_odd_status_is_an_http_status_error() {
    guarded(async {
        for (answer, status, reason) in [
            (
                &b"HTTP/1.1 999 Mystery Meat\r\n\r\n"[..],
                999,
                "Mystery Meat",
            ),
            (
                &b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n"[..],
                101,
                "Switching Protocols",
            ),
            (
                &b"HTTP/1.0 302 Found\r\nLocation: /login\r\n\r\n"[..],
                302,
                "Found",
            ),
        ] {
            let proxy = connect_proxy(move |s| {
                s.write_all(answer).unwrap();
                wait_for_close(s)
            });
            let port = absent_server();
            let eio = client(
                &format!("http://127.0.0.1:{}", proxy.port),
                Transports::WebSocket,
            );
            let err = connect_fails(&eio, &format!("http://127.0.0.1:{port}")).await;
            let e = proxy_error(
                &err,
                &format!("http://127.0.0.1:{}", proxy.port),
                &format!("127.0.0.1:{port}"),
            );
            assert_eq!(
                e.kind,
                ProxyErrorKind::HttpStatus {
                    status,
                    reason: reason.to_owned()
                },
                "{answer:?}"
            );
            assert!(err.to_string().contains(&format!("HTTP {status}")), "{err}");
            let (_, closed) = proxy.outcome();
            assert_eq!(
                closed,
                Some(0),
                "{answer:?}: nothing may go into the tunnel"
            );
        }
    })
    .await;
}

/// A proxy that hangs up after the CONNECT request, or in the middle of its answer's
/// status line or head, is an `Io` error of the proxy ("closed the connection"), not a
/// protocol error about half an answer and not a wait for the request timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_proxy_closing_mid_answer_is_an_io_error() {
    guarded(async {
        for answer in [
            &b""[..],
            b"HTTP/1.1 20",
            b"HTTP/1.1 200 Connection established\r\n",
            b"HTTP/1.1 200 Connection established\r\nVia: x\r\n\r",
        ] {
            let proxy = connect_proxy(move |s| {
                s.write_all(answer).unwrap();
                // The whole request was read: closing sends a FIN, not a reset.
                s.shutdown(Shutdown::Both).unwrap();
            });
            let port = absent_server();
            let eio = client(
                &format!("http://127.0.0.1:{}", proxy.port),
                Transports::WebSocket,
            );
            let err = connect_fails(&eio, &format!("http://127.0.0.1:{port}")).await;
            let e = proxy_error(
                &err,
                &format!("http://127.0.0.1:{}", proxy.port),
                &format!("127.0.0.1:{port}"),
            );
            assert_eq!(e.kind, closed_by_proxy(), "{answer:?}");
            let (head, ()) = proxy.outcome();
            assert_connect_request(&head, &format!("127.0.0.1:{port}"));
        }
    })
    .await;
}

/// Bytes that arrive with the `200` answer, past its blank line, belong to the tunnel:
/// here they are the first line of the server's `101` answer, the rest of which comes
/// after the client's WebSocket request. Dropping them would leave a head without status
/// line; keeping them lets the session open.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bytes_after_the_connect_answer_are_kept_for_the_tunnel() {
    guarded(async {
        const EARLY: &str = "HTTP/1.1 101 Switching Protocols\r\n";
        let proxy = connect_proxy(|s| {
            // One write: the client reads both in one go.
            let answer = format!("HTTP/1.1 200 Connection established\r\n\r\n{EARLY}");
            s.write_all(answer.as_bytes()).unwrap();
            serve_websocket_in_tunnel(s, EARLY).unwrap()
        });
        tunnelled_session(proxy, "the bytes after the CONNECT answer were lost").await;
    })
    .await;
}

/// Garbage after the `200` answer is the tunnel's too: the client still sends its
/// WebSocket handshake into the tunnel, then reads the garbage as the server's answer to
/// it, which is a `Protocol` failure of the server (the proxy did its part), not a panic.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_after_the_connect_answer_is_the_servers_protocol_error() {
    guarded(async {
        let proxy = connect_proxy(|s| {
            s.write_all(b"HTTP/1.1 200 OK\r\n\r\nSSH-2.0-junk\r\n\xff\xfe\x00\r\n\r\n")
                .unwrap();
            let get = read_head(s).unwrap_or_default();
            (get, wait_for_close(s))
        });
        let port = absent_server();
        let eio = client(
            &format!("http://127.0.0.1:{}", proxy.port),
            Transports::WebSocket,
        );
        let err = connect_fails(&eio, &format!("http://127.0.0.1:{port}")).await;
        match err.failure() {
            Some(TransportFailure::Protocol(why)) => {
                assert!(why.contains("not HTTP"), "{why}");
            }
            other => panic!("expected a protocol failure, got {other:?} ({err})"),
        }
        let (head, (get, closed)) = proxy.outcome();
        assert_connect_request(&head, &format!("127.0.0.1:{port}"));
        assert!(
            get.starts_with("GET /engine.io/?EIO=4&transport=websocket"),
            "{get:?}"
        );
        assert_eq!(closed, Some(0));
    })
    .await;
}

// ----- SOCKS5 ----------------------------------------------------------------------------

/// A SOCKS5 proxy that reads the client's greeting (checking that it offers exactly
/// `methods`), then hands the stream to `then`.
fn socks_proxy<T: Send + 'static>(
    methods: &'static [u8],
    then: impl FnOnce(&mut TcpStream) -> T + Send + 'static,
) -> Scripted<Result<T, String>> {
    Scripted::start(move |mut s| {
        let greeting = read_n(&mut s, 2 + methods.len()).map_err(|e| e.to_string())?;
        if greeting[..2] != [5, methods.len() as u8] || greeting[2..] != *methods {
            return Err(format!("greeting {greeting:?}"));
        }
        Ok(then(&mut s))
    })
}

/// Chooses "no authentication", then reads the client's CONNECT request for an IPv4
/// address: the address and port.
fn read_socks_request_v4(s: &mut TcpStream) -> io::Result<([u8; 4], u16)> {
    s.write_all(&[5, 0])?;
    let req = read_n(s, 10)?;
    if req[..4] != [5, 1, 0, 1] {
        return Err(io::Error::other(format!("request {req:?}")));
    }
    Ok((
        [req[4], req[5], req[6], req[7]],
        u16::from_be_bytes([req[8], req[9]]),
    ))
}

fn socks_url(port: u16) -> String {
    format!("socks5://127.0.0.1:{port}")
}

/// Runs one failing connect through a SOCKS5 script; returns the proxy error's kind and
/// what the script returned.
async fn socks_failure<T: Send + 'static>(
    proxy_url: &str,
    shown_as: &str,
    transports: Transports,
    proxy: Scripted<Result<T, String>>,
    port: u16,
) -> (ProxyErrorKind, String, T) {
    let eio = client(proxy_url, transports);
    let err = connect_fails(&eio, &format!("http://127.0.0.1:{port}")).await;
    let e = proxy_error(&err, shown_as, &format!("127.0.0.1:{port}"));
    let kind = e.kind.clone();
    let out = proxy
        .outcome()
        .unwrap_or_else(|e| panic!("the client's handshake was wrong: {e}"));
    (kind, err.to_string(), out)
}

/// A method answer with another version than 5 is a `Protocol` error that names it, and
/// the client sends nothing more.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn socks_method_answer_with_a_wrong_version_is_a_protocol_error() {
    guarded(async {
        for transports in [Transports::Polling, Transports::WebSocket] {
            let proxy = socks_proxy(&[0], |s| {
                s.write_all(&[4, 0]).unwrap();
                wait_for_close(s)
            });
            let url = socks_url(proxy.port);
            let port = absent_server();
            let (kind, _, closed) = socks_failure(&url, &url, transports, proxy, port).await;
            assert_eq!(
                kind,
                ProxyErrorKind::Protocol("it answered as SOCKS version 4, not 5".to_owned())
            );
            assert_eq!(closed, Some(0), "{transports:?}");
        }
    })
    .await;
}

/// A proxy that picks a method the client did not offer (user name and password, when
/// the client has no credentials and offered only "no authentication") is a `Protocol`
/// error; the client sends no credentials and no request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn socks_method_not_offered_is_a_protocol_error() {
    guarded(async {
        for method in [2u8, 1, 0x80] {
            let proxy = socks_proxy(&[0], move |s| {
                s.write_all(&[5, method]).unwrap();
                wait_for_close(s)
            });
            let url = socks_url(proxy.port);
            let port = absent_server();
            let (kind, _, closed) =
                socks_failure(&url, &url, Transports::Polling, proxy, port).await;
            assert_eq!(
                kind,
                ProxyErrorKind::Protocol(format!(
                    "it chose authentication method {method}, which the client did not offer"
                ))
            );
            assert_eq!(closed, Some(0), "method {method}");
        }
    })
    .await;
}

/// Method 0xFF (no acceptable method) is `SocksNoAcceptableMethod`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn socks_no_acceptable_method_is_typed() {
    guarded(async {
        let proxy = socks_proxy(&[0], |s| {
            s.write_all(&[5, 0xff]).unwrap();
            wait_for_close(s)
        });
        let url = socks_url(proxy.port);
        let port = absent_server();
        let (kind, text, closed) =
            socks_failure(&url, &url, Transports::WebSocket, proxy, port).await;
        assert_eq!(kind, ProxyErrorKind::SocksNoAcceptableMethod);
        assert!(
            text.contains("none of the authentication methods"),
            "{text}"
        );
        assert_eq!(closed, Some(0));
    })
    .await;
}

/// With credentials, the client offers both methods, sends the percent-decoded user name
/// and password as RFC 1929 says, and a failure status is `SocksAuthFailed`: no CONNECT
/// request follows, and no message shows the password.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn socks_auth_failure_is_typed_and_nothing_follows() {
    guarded(async {
        let proxy = socks_proxy(&[0, 2], |s| {
            s.write_all(&[5, 2]).unwrap();
            let head = read_n(s, 2).unwrap();
            let user = read_n(s, usize::from(head[1])).unwrap();
            let len = read_n(s, 1).unwrap();
            let password = read_n(s, usize::from(len[0])).unwrap();
            s.write_all(&[1, 1]).unwrap();
            (head[0], user, password, wait_for_close(s))
        });
        let url = format!("socks5://bob:p%40ss%3Aw%25rd@127.0.0.1:{}", proxy.port);
        let port = absent_server();
        let shown = format!("socks5://bob@127.0.0.1:{}", proxy.port);
        let (kind, text, (version, user, password, closed)) =
            socks_failure(&url, &shown, Transports::Polling, proxy, port).await;
        assert_eq!(kind, ProxyErrorKind::SocksAuthFailed);
        assert_eq!(version, 1);
        assert_eq!(user, b"bob");
        assert_eq!(password, b"p@ss:w%rd");
        assert!(!text.contains("p@ss") && !text.contains("p%40ss"), "{text}");
        assert_eq!(closed, Some(0), "the client sent its request anyway");
    })
    .await;
}

/// A success reply with a domain name (address type 3) of the longest length, 255 bytes,
/// is read to its end, exactly: what follows is the server's, and the client's first
/// bytes in the tunnel are its polling handshake in origin form (through SOCKS the
/// request does not name the server in its request line, unlike forwarding). The server's
/// error answer then reaches the client as the server's `Http` failure.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn socks_reply_with_a_255_byte_name_opens_the_tunnel() {
    guarded(async {
        let port = absent_server();
        let proxy = socks_proxy(&[0], move |s| {
            let (ip, asked) = read_socks_request_v4(s).unwrap();
            let mut reply = vec![5, 0, 0, 3, 255];
            reply.extend_from_slice(&[b'n'; 255]);
            reply.extend_from_slice(&4242u16.to_be_bytes());
            s.write_all(&reply).unwrap();
            let get = read_head(s).unwrap_or_default();
            let body = br#"{"code":3,"message":"Bad request"}"#;
            let answer = format!(
                "HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\n\
                 Content-Length: {}\r\n\r\n",
                body.len()
            );
            s.write_all(answer.as_bytes()).unwrap();
            s.write_all(body).unwrap();
            (ip, asked, get)
        });
        let url = socks_url(proxy.port);
        let eio = client(&url, Transports::Polling);
        let err = connect_fails(&eio, &format!("http://127.0.0.1:{port}")).await;
        assert_eq!(
            err.failure(),
            Some(&TransportFailure::Http(HttpStatusError {
                status: 400,
                code: Some(3),
                message: Some("Bad request".to_owned()),
            })),
            "{err}"
        );
        drop(eio);
        let (ip, asked, get) = proxy.outcome().unwrap();
        assert_eq!((ip, asked), ([127, 0, 0, 1], port));
        assert!(
            get.starts_with("GET /engine.io/?EIO=4&transport=polling"),
            "{get:?}"
        );
        assert!(!get.contains("GET http://"), "{get:?}");
        assert_eq!(
            header(&get, "host"),
            Some(format!("127.0.0.1:{port}").as_str())
        );
    })
    .await;
}

/// A success reply with an address type that does not exist is a `Protocol` error that
/// names it; the client sends nothing into the would-be tunnel.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn socks_reply_with_an_unknown_address_type_is_a_protocol_error() {
    guarded(async {
        for address_type in [0u8, 2, 5, 9, 0xff] {
            let proxy = socks_proxy(&[0], move |s| {
                read_socks_request_v4(s).unwrap();
                s.write_all(&[5, 0, 0, address_type, 127, 0, 0, 1, 0, 80])
                    .unwrap();
                wait_for_close(s)
            });
            let url = socks_url(proxy.port);
            let port = absent_server();
            let (kind, _, closed) =
                socks_failure(&url, &url, Transports::Polling, proxy, port).await;
            assert_eq!(
                kind,
                ProxyErrorKind::Protocol(format!("its reply has address type {address_type}"))
            );
            assert_eq!(closed, Some(0), "address type {address_type}");
        }
    })
    .await;
}

/// Each refusal code of RFC 1928 (1 to 8) is `SocksReply(code)`, and the message says it
/// in the RFC's words; an unassigned code is `SocksReply` too, "unknown".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn socks_refusal_codes_are_typed_and_named() {
    guarded(async {
        let rfc = [
            (1u8, "general SOCKS server failure"),
            (2, "connection not allowed by ruleset"),
            (3, "network unreachable"),
            (4, "host unreachable"),
            (5, "connection refused"),
            (6, "TTL expired"),
            (7, "command not supported"),
            (8, "address type not supported"),
            (9, "unknown reply code"),
            (0xff, "unknown reply code"),
        ];
        for (code, words) in rfc {
            for transports in [Transports::Polling, Transports::WebSocket] {
                let proxy = socks_proxy(&[0], move |s| {
                    read_socks_request_v4(s).unwrap();
                    s.write_all(&[5, code, 0, 1, 0, 0, 0, 0, 0, 0]).unwrap();
                    wait_for_close(s)
                });
                let url = socks_url(proxy.port);
                let port = absent_server();
                let (kind, text, closed) = socks_failure(&url, &url, transports, proxy, port).await;
                assert_eq!(kind, ProxyErrorKind::SocksReply(code), "{transports:?}");
                assert!(
                    text.to_lowercase().contains(&words.to_lowercase()),
                    "code {code}: {text}"
                );
                assert!(text.contains(&format!("SOCKS5 reply {code}")), "{text}");
                assert_eq!(closed, Some(0), "code {code}");
            }
        }
    })
    .await;
}

/// Resolves one name, `dual.test`, to `[::1]` then `127.0.0.1` (as `localhost` may
/// resolve); dials through tokio.
struct DualStackNames(Arc<dyn Dialer>);

#[async_trait::async_trait]
impl Dialer for DualStackNames {
    async fn dial(&self, host: &str, port: u16) -> io::Result<Box<dyn Io>> {
        self.0.dial(host, port).await
    }

    async fn resolve(&self, host: &str, port: u16) -> io::Result<Vec<SocketAddr>> {
        assert_eq!(host, "dual.test", "only the target's name is resolved here");
        Ok(vec![
            SocketAddr::from((Ipv6Addr::LOCALHOST, port)),
            SocketAddr::from((Ipv4Addr::LOCALHOST, port)),
        ])
    }
}

/// With `socks5://` the client resolves the target's name and gives the proxy addresses:
/// when the proxy says it cannot reach one (reply 3, 4 or 5) or cannot take its kind
/// (reply 8, a proxy without IPv6), the next address is tried on a new connection to
/// the proxy, and the session opens through it. Any other refusal (here 2, not allowed)
/// is final: no second connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn socks5_tries_the_next_address_when_the_proxy_cannot_use_one() {
    guarded(async {
        for (code, retried) in [(4u8, true), (8, true), (2, false)] {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let proxy_port = listener.local_addr().unwrap().port();
            let script = thread::spawn(move || -> Result<Vec<Vec<u8>>, String> {
                let fail = |e: io::Error| e.to_string();
                let mut requests = Vec::new();
                let (mut s, _) = listener.accept().map_err(fail)?;
                s.set_read_timeout(Some(PROXY_PATIENCE)).map_err(fail)?;
                read_n(&mut s, 3).map_err(fail)?;
                s.write_all(&[5, 0]).map_err(fail)?;
                // An IPv6 request: 4 + 16 + 2 bytes.
                requests.push(read_n(&mut s, 22).map_err(fail)?);
                s.write_all(&[5, code, 0, 1, 0, 0, 0, 0, 0, 0])
                    .map_err(fail)?;
                drop(s);
                if !retried {
                    return Ok(requests);
                }
                let (mut s, _) = listener.accept().map_err(fail)?;
                s.set_read_timeout(Some(PROXY_PATIENCE)).map_err(fail)?;
                read_n(&mut s, 3).map_err(fail)?;
                s.write_all(&[5, 0]).map_err(fail)?;
                requests.push(read_n(&mut s, 10).map_err(fail)?);
                s.write_all(&[5, 0, 0, 1, 127, 0, 0, 1, 0x10, 0x92])
                    .map_err(fail)?;
                serve_websocket_in_tunnel(&mut s, "").map_err(fail)?;
                Ok(requests)
            });
            let tokio_rt = engineio::adapters::tokio::runtime(tokio::runtime::Handle::current());
            let runtime = Runtime::new(
                tokio_rt.spawner().clone(),
                tokio_rt.timer().clone(),
                Arc::new(DualStackNames(tokio_rt.dialer().clone())),
            );
            let eio = AsyncClient::builder()
                .runtime(runtime)
                .transports(Transports::WebSocket)
                .proxy(&socks_url(proxy_port))
                .request_timeout(REQUEST_TIMEOUT)
                .logger(false)
                .build()
                .unwrap();
            let connected = tokio::time::timeout(HANG_GUARD, eio.connect("http://dual.test:4242"))
                .await
                .expect("connect hung");
            if retried {
                connected.unwrap_or_else(|e| panic!("reply {code}: {e}"));
                assert_eq!(eio.sid().as_deref(), Some("tunnelled"));
                eio.disconnect().await.unwrap();
            } else {
                let err = connected.expect_err("connected through a refusal");
                match err.failure() {
                    Some(TransportFailure::Proxy(e)) => {
                        assert_eq!(e.kind, ProxyErrorKind::SocksReply(code), "{err}")
                    }
                    other => panic!("reply {code}: {other:?}"),
                }
            }
            let requests = script.join().unwrap().unwrap();
            let mut v6 = vec![5, 1, 0, 4];
            v6.extend_from_slice(&Ipv6Addr::LOCALHOST.octets());
            v6.extend_from_slice(&4242u16.to_be_bytes());
            let mut expected = vec![v6];
            if retried {
                expected.push(vec![5, 1, 0, 1, 127, 0, 0, 1, 0x10, 0x92]);
            }
            assert_eq!(requests, expected, "reply {code}");
        }
    })
    .await;
}

/// A proxy that hangs up anywhere in its reply (after the request, or after any of the
/// reply's first nine bytes) is an `Io` error of the proxy ("closed the connection").
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn socks_proxy_closing_mid_reply_is_an_io_error() {
    guarded(async {
        const REPLY: [u8; 10] = [5, 0, 0, 1, 127, 0, 0, 1, 0x10, 0x92];
        // A cut in the method answer too, and one in a domain-name reply.
        let mut cuts: Vec<(bool, Vec<u8>)> = vec![(false, vec![]), (false, vec![5])];
        for cut in 0..REPLY.len() {
            cuts.push((true, REPLY[..cut].to_vec()));
        }
        cuts.push((true, [&[5, 0, 0, 3, 200][..], &[b'x'; 100]].concat()));
        for (after_request, partial) in cuts {
            let sent = partial.clone();
            let proxy = socks_proxy(&[0], move |s| {
                if after_request {
                    read_socks_request_v4(s).unwrap();
                }
                s.write_all(&sent).unwrap();
                s.shutdown(Shutdown::Both).unwrap();
            });
            let url = socks_url(proxy.port);
            let port = absent_server();
            let (kind, _, ()) = socks_failure(&url, &url, Transports::Polling, proxy, port).await;
            assert_eq!(kind, closed_by_proxy(), "cut after {partial:?}");
        }
    })
    .await;
}

// ----- forward mode ----------------------------------------------------------------------

/// An HTTP proxy in forward mode: reads one request head, answers it with `answer`, and
/// waits for the client to close.
fn forwarding_proxy(answer: String) -> Scripted<(String, Option<usize>)> {
    Scripted::start(move |mut s| {
        let head = read_head(&mut s).unwrap_or_default();
        s.write_all(answer.as_bytes()).unwrap();
        (head, wait_for_close(&mut s))
    })
}

fn answer(status_line: &str, content_type: &str, extra: &str, body: &str) -> String {
    format!(
        "HTTP/1.1 {status_line}\r\nContent-Type: {content_type}\r\n{extra}\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

const PROXY_USER: &str = "alice";
/// In the URL percent-encoded; on the wire, in `Proxy-Authorization`, decoded.
const PROXY_PASSWORD: &str = "p@ss:w/rd %1";
const PROXY_PASSWORD_ENCODED: &str = "p%40ss%3Aw%2Frd%20%251";

/// Forwards one polling handshake through the scripted proxy with credentials; checks the
/// request line is absolute-form with the server's URL, the proxy credentials are there
/// and right, and the `Host` header names the server. Returns the connect error.
async fn forwarded(answer: String) -> (Error, u16, u16) {
    let proxy = forwarding_proxy(answer);
    let port = absent_server();
    let eio = client(
        &format!(
            "http://{PROXY_USER}:{PROXY_PASSWORD_ENCODED}@127.0.0.1:{}",
            proxy.port
        ),
        Transports::Polling,
    );
    let err = connect_fails(&eio, &format!("http://127.0.0.1:{port}")).await;
    assert!(
        !err.to_string().contains("p@ss") && !err.to_string().contains("p%40ss"),
        "{err}"
    );
    let proxy_port = proxy.port;
    let (head, closed) = proxy.outcome();
    let request_line = head.lines().next().unwrap_or_default();
    assert_eq!(
        request_line,
        format!("GET http://127.0.0.1:{port}/engine.io/?EIO=4&transport=polling HTTP/1.1")
    );
    let auth = header(&head, "proxy-authorization").expect("no Proxy-Authorization");
    let token = auth.strip_prefix("Basic ").expect(auth);
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(token)
        .unwrap();
    assert_eq!(
        String::from_utf8(decoded).unwrap(),
        format!("{PROXY_USER}:{PROXY_PASSWORD}")
    );
    assert_eq!(
        header(&head, "host"),
        Some(format!("127.0.0.1:{port}").as_str())
    );
    assert_eq!(closed, Some(0), "the client sent more after the answer");
    (err, proxy_port, port)
}

/// Forwarded plain-HTTP polling: a `407` is the proxy's refusal, `HttpStatus` 407 with
/// its reason.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwarded_407_is_the_proxys_refusal() {
    guarded(async {
        let (err, proxy_port, port) = forwarded(answer(
            "407 Proxy Authentication Required",
            "text/plain",
            "Proxy-Authenticate: Basic realm=\"hostile\"\r\n",
            "who are you?",
        ))
        .await;
        let e = proxy_error(
            &err,
            &format!("http://{PROXY_USER}@127.0.0.1:{proxy_port}"),
            &format!("127.0.0.1:{port}"),
        );
        assert_eq!(
            e.kind,
            ProxyErrorKind::HttpStatus {
                status: 407,
                reason: "Proxy Authentication Required".to_owned()
            }
        );
    })
    .await;
}

/// Forwarded plain-HTTP polling: an error status with an HTML page (proxies answer in
/// HTML, Engine.IO servers do not) is the proxy's, `HttpStatus` with the proxy's own
/// reason phrase.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwarded_html_500_is_the_proxys_refusal() {
    guarded(async {
        let (err, proxy_port, port) = forwarded(answer(
            "500 Upstream Went Away",
            "text/html; charset=iso-8859-1",
            "",
            "<html><body><h1>Proxy error</h1></body></html>",
        ))
        .await;
        let e = proxy_error(
            &err,
            &format!("http://{PROXY_USER}@127.0.0.1:{proxy_port}"),
            &format!("127.0.0.1:{port}"),
        );
        assert_eq!(
            e.kind,
            ProxyErrorKind::HttpStatus {
                status: 500,
                reason: "Upstream Went Away".to_owned()
            }
        );
    })
    .await;
}

/// Forwarded plain-HTTP polling: an answer that is not HTTP (a SOCKS5 proxy's method
/// answer, an SSH banner: a proxy of another kind named as an HTTP one) is a `Protocol`
/// error of the proxy, naming it, not a parse error about the server's request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwarded_answer_that_is_not_http_is_the_proxys_protocol_error() {
    guarded(async {
        for garbage in ["\u{5}\u{0}", "SSH-2.0-OpenSSH_9.6\r\n\r\n"] {
            let (err, proxy_port, port) = forwarded(garbage.to_owned()).await;
            let e = proxy_error(
                &err,
                &format!("http://{PROXY_USER}@127.0.0.1:{proxy_port}"),
                &format!("127.0.0.1:{port}"),
            );
            match &e.kind {
                ProxyErrorKind::Protocol(why) => {
                    assert!(why.contains("not HTTP"), "{garbage:?}: {why}")
                }
                other => panic!("{garbage:?}: {other:?} ({err})"),
            }
        }
    })
    .await;
}

/// Forwarded plain-HTTP polling: the Engine.IO server's own error (JSON) passes through
/// the proxy as the server's: `TransportFailure::Http` with its code and message, not a
/// proxy error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwarded_json_400_is_the_servers_answer() {
    guarded(async {
        let (err, _, _) = forwarded(answer(
            "400 Bad Request",
            "application/json",
            "",
            r#"{"code":3,"message":"Bad request"}"#,
        ))
        .await;
        assert_eq!(
            err.failure(),
            Some(&TransportFailure::Http(HttpStatusError {
                status: 400,
                code: Some(3),
                message: Some("Bad request".to_owned()),
            })),
            "{err}"
        );
    })
    .await;
}

/// Forwarded plain-HTTP polling: an answer whose head never ends is cut by the HTTP
/// client's own head limit, a `Protocol` failure (the answer may be the server's, so not a
/// proxy error), and the client stops reading: the proxy gets only a bounded amount
/// written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwarded_endless_head_is_cut_and_the_client_stops_reading() {
    guarded(async {
        /// What the proxy would write if nobody stopped it.
        const ENDLESS: usize = 64 << 20;
        /// hyper's head limit (about 400 KiB, or 100 headers, whichever comes first),
        /// plus the socket buffers, with a margin.
        const BOUND: usize = 1 << 20;
        let proxy = Scripted::start(|mut s| {
            small_send_buffer(&s);
            let head = read_head(&mut s).unwrap_or_default();
            let line = format!("X-Filler: {}\r\n", "a".repeat(1000));
            let mut written = 0;
            let status = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n";
            if s.write_all(status).is_ok() {
                written += status.len();
                while written < ENDLESS && s.write_all(line.as_bytes()).is_ok() {
                    written += line.len();
                }
            }
            (head, written)
        });
        let port = absent_server();
        let eio = client(
            &format!("http://127.0.0.1:{}", proxy.port),
            Transports::Polling,
        );
        let err = connect_fails(&eio, &format!("http://127.0.0.1:{port}")).await;
        match err.failure() {
            Some(TransportFailure::Protocol(_)) => {}
            other => panic!("expected a protocol failure, got {other:?} ({err})"),
        }
        let (head, written) = proxy.outcome();
        assert!(
            head.starts_with(&format!("GET http://127.0.0.1:{port}/engine.io/")),
            "{head:?}"
        );
        eprintln!("the proxy wrote {written} bytes before the client closed");
        assert!(
            written < BOUND,
            "the proxy wrote {written} bytes of head: the client kept reading"
        );
    })
    .await;
}
