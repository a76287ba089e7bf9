//! The AsyncClient against hostile or broken servers: a raw server scripted by each test
//! (tests/common/raw.rs: std sockets on 127.0.0.1, HTTP/1.1 and WebSocket frames written
//! by hand) answers with what no real Engine.IO server sends: garbage, bodies that never
//! end, absurd lengths, floods, silence and cut connections. Every test checks the exact
//! typed outcome, that nothing hangs (each runs under a timeout), and, where a server
//! could exhaust memory, that the process's resident memory stays bounded (watched by
//! tests/common/rss.rs).
//!
//! The tests take a lock so that they run one at a time: the memory figures are for the
//! whole process and would be muddled by a neighbour.
#![cfg(feature = "tokio")]

use std::future::Future;
use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use engineio::{
    AsyncClient, ClientEvent, DecodeError, DisconnectReason, Error, Events, Payload,
    TransportFailure, Transports,
};
use futures::StreamExt;

mod common;
use common::raw::{Conn, Next, Server, accept_websocket, frame_header, ok, respond, text_frame};
use common::rss::RssWatch;

/// How long any one test may take before it counts as hung.
const TEST_TIMEOUT: Duration = Duration::from_secs(10);
/// The client's request timeout in these tests.
const REQUEST_TIMEOUT: Duration = Duration::from_millis(400);
/// The receive limit in these tests.
const LIMIT: usize = 1 << 20;
/// How much the resident memory may grow while a hostile server does its worst.
const MAX_RSS_GROWTH: u64 = 50 << 20;

static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Panics on the runtime's worker threads: the client's tasks run there (these tests set
/// no handlers, and the scripted servers run on threads of their own).
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

/// Runs a test body alone (see the module docs), fails it if it hangs or if the client's
/// tasks panicked, and checks that the resident memory stayed bounded throughout.
async fn bounded<F: Future>(test: F) -> F::Output {
    let _alone = SERIAL.lock().await;
    count_library_panics();
    let panics = LIBRARY_PANICS.load(Ordering::SeqCst);
    let watch = RssWatch::start();
    let out = tokio::time::timeout(TEST_TIMEOUT, test)
        .await
        .expect("the test hung");
    let growth = watch.growth();
    assert_eq!(
        LIBRARY_PANICS.load(Ordering::SeqCst),
        panics,
        "a task of the client panicked"
    );
    assert!(
        growth < MAX_RSS_GROWTH,
        "resident memory grew by {growth} bytes during the test"
    );
    out
}

// ----- the scripted servers --------------------------------------------------------------

/// A good open packet: no upgrade, and heartbeats too slow to matter in a test.
fn open_packet(sid: &str) -> String {
    format!(
        r#"0{{"sid":"{sid}","upgrades":[],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}}"#
    )
}

/// A well-behaved server: handshake, polls held 50 ms and answered with a noop, POSTs
/// acknowledged; or a WebSocket that opens the session and waits for the client to close.
fn good_server() -> Server {
    Server::start(|req, conn| {
        if req.is_websocket() {
            accept_websocket(&req, conn)?;
            conn.stream.write_all(&text_frame(&open_packet("good")))?;
            conn.wait_for_close(Duration::from_secs(5));
            Ok(Next::Close)
        } else if req.is_handshake() {
            ok(conn, open_packet("good").as_bytes())
        } else if req.is_poll() {
            thread::sleep(Duration::from_millis(50));
            ok(conn, b"6")
        } else if req.is_post() {
            ok(conn, b"ok")
        } else {
            respond(conn, "400 Bad Request", "text/plain", b"no")
        }
    })
}

/// A server that opens a session and answers the first poll with `body`.
fn poll_answers(body: &'static [u8]) -> Server {
    Server::start(move |req, conn| {
        if req.is_handshake() {
            ok(conn, open_packet("hostile").as_bytes())
        } else if req.is_poll() {
            ok(conn, body)
        } else {
            ok(conn, b"ok")
        }
    })
}

// ----- the client side -------------------------------------------------------------------

fn polling_client() -> AsyncClient {
    AsyncClient::builder()
        .transports(Transports::Polling)
        .request_timeout(REQUEST_TIMEOUT)
        .receive_limit(LIMIT)
        .logger(false)
        .build()
        .unwrap()
}

async fn next_event(events: &mut Events) -> ClientEvent {
    tokio::time::timeout(Duration::from_secs(5), events.next())
        .await
        .expect("no event within 5 s")
        .expect("the event stream ended")
}

/// Reads a connection's events up to its end: the messages it delivered, and the reason.
async fn until_disconnect(events: &mut Events) -> (Vec<Payload>, DisconnectReason) {
    assert_eq!(next_event(events).await, ClientEvent::Connect);
    let mut messages = Vec::new();
    loop {
        match next_event(events).await {
            ClientEvent::Message(m) => messages.push(m),
            ClientEvent::Disconnect(reason) => {
                eprintln!("disconnect: {reason:#} / {reason:?}");
                return (messages, reason);
            }
            ClientEvent::Upgraded => {}
            other => panic!("unexpected event {other:?}"),
        }
    }
}

/// The connection is over and the client is as good as new: no sid, and it connects
/// to a well-behaved server and disconnects from it cleanly.
async fn assert_reusable(eio: &AsyncClient) {
    assert_eq!(eio.sid(), None);
    assert_eq!(eio.transport(), None);
    let good = good_server();
    eio.connect(&good.url())
        .await
        .expect("connecting again to a good server");
    assert_eq!(eio.sid().as_deref(), Some("good"));
    eio.send("hi").await.unwrap();
    eio.disconnect().await.unwrap();
    eio.wait().await;
    assert_eq!(eio.sid(), None);
}

fn transport_error(reason: &DisconnectReason) -> &TransportFailure {
    match reason {
        DisconnectReason::TransportError(f) => f,
        other => panic!("expected a transport error, got {other:#}"),
    }
}

// ----- 1, 2: broken handshakes -----------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_handshake_is_a_decode_error_and_the_client_stays_usable() {
    bounded(async {
        let server = Server::start(|_req, conn| ok(conn, b"hello"));
        let eio = polling_client();
        let err = eio.connect(&server.url()).await.unwrap_err();
        eprintln!("connect: {err} / {err:?}");
        match &err {
            Error::Connect { url, failure } => {
                assert_eq!(url, &server.url());
                assert_eq!(
                    failure,
                    &TransportFailure::Decode(DecodeError::UnknownPacketType('h')),
                    "{err}"
                );
            }
            other => panic!("{other:?}"),
        }
        assert_reusable(&eio).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handshake_without_sid_is_an_invalid_handshake() {
    bounded(async {
        let server =
            Server::start(|_req, conn| ok(conn, br#"0{"pingInterval":1,"pingTimeout":1}"#));
        let eio = polling_client();
        let err = eio.connect(&server.url()).await.unwrap_err();
        eprintln!("connect: {err} / {err:?}");
        match err.failure() {
            Some(TransportFailure::Decode(DecodeError::InvalidHandshake(why))) => {
                assert!(why.contains("sid"), "{why}");
            }
            other => panic!("{other:?} ({err})"),
        }
        assert_eq!(eio.sid(), None);
    })
    .await;
}

// ----- 3, 4, 5, 10: bad packets in a poll ------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_packet_type_ends_the_session_after_the_good_packets() {
    bounded(async {
        let server = poll_answers(b"4one\x1e4two\x1e9x\x1e4never");
        let eio = polling_client();
        let mut events = eio.events();
        eio.connect(&server.url()).await.unwrap();
        let (messages, reason) = until_disconnect(&mut events).await;
        assert_eq!(messages, [Payload::from("one"), Payload::from("two")]);
        assert_eq!(
            transport_error(&reason),
            &TransportFailure::Decode(DecodeError::UnknownPacketType('9'))
        );
        eio.wait().await;
        assert_reusable(&eio).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_base64_is_a_decode_error() {
    bounded(async {
        let server = poll_answers(b"4before\x1eb!!!");
        let eio = polling_client();
        let mut events = eio.events();
        eio.connect(&server.url()).await.unwrap();
        let (messages, reason) = until_disconnect(&mut events).await;
        assert_eq!(messages, [Payload::from("before")]);
        match transport_error(&reason) {
            TransportFailure::Decode(DecodeError::InvalidBase64(_)) => {}
            other => panic!("{other:?}"),
        }
        eio.wait().await;
        assert_eq!(eio.sid(), None);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_utf8_in_a_text_packet_is_a_decode_error() {
    bounded(async {
        let server = poll_answers(b"4ok\x1e4\xff\xfe");
        let eio = polling_client();
        let mut events = eio.events();
        eio.connect(&server.url()).await.unwrap();
        let (messages, reason) = until_disconnect(&mut events).await;
        assert_eq!(messages, [Payload::from("ok")]);
        assert_eq!(
            transport_error(&reason),
            &TransportFailure::Decode(DecodeError::InvalidUtf8 { valid_up_to: 1 })
        );
        eio.wait().await;
        assert_eq!(eio.sid(), None);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_html_page_on_a_poll_is_a_decode_error() {
    bounded(async {
        let server = Server::start(|req, conn| {
            if req.is_handshake() {
                ok(conn, open_packet("hostile").as_bytes())
            } else {
                respond(
                    conn,
                    "200 OK",
                    "text/html",
                    b"<!DOCTYPE html>\n<html><body><h1>Welcome to nginx!</h1></body></html>\n",
                )
            }
        });
        let eio = polling_client();
        let mut events = eio.events();
        eio.connect(&server.url()).await.unwrap();
        let (messages, reason) = until_disconnect(&mut events).await;
        assert!(messages.is_empty(), "{messages:?}");
        assert_eq!(
            transport_error(&reason),
            &TransportFailure::Decode(DecodeError::UnknownPacketType('<'))
        );
        eio.wait().await;
        assert_eq!(eio.sid(), None);
    })
    .await;
}

// ----- 6, 7: bodies larger than the receive limit ---------------------------------------

/// Writes `Content-Length: 10 GiB` and trickles a byte every 10 ms until the client goes
/// away (or 3 s pass); records when the server noticed.
fn huge_length_then_trickle(conn: &mut Conn, closed: &Mutex<Option<Instant>>) -> io::Result<Next> {
    conn.stream.write_all(
        b"HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=UTF-8\r\n\
          Content-Length: 10737418240\r\n\r\n4",
    )?;
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(3) {
        thread::sleep(Duration::from_millis(10));
        if conn.stream.write_all(b"x").is_err() {
            *closed.lock().unwrap() = Some(Instant::now());
            break;
        }
    }
    Ok(Next::Close)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_gib_content_length_on_a_poll_fails_fast() {
    bounded(async {
        let closed = Arc::new(Mutex::new(None));
        let c = closed.clone();
        let server = Server::start(move |req, conn| {
            if req.is_handshake() {
                ok(conn, open_packet("hostile").as_bytes())
            } else {
                huge_length_then_trickle(conn, &c)
            }
        });
        let eio = polling_client();
        let mut events = eio.events();
        let watch = RssWatch::start();
        eio.connect(&server.url()).await.unwrap();
        let start = Instant::now();
        let (_, reason) = until_disconnect(&mut events).await;
        let took = start.elapsed();
        watch.assert_bounded("10 GiB Content-Length", MAX_RSS_GROWTH);
        match transport_error(&reason) {
            TransportFailure::TooLarge { limit } => assert_eq!(*limit, 1 << 20),
            other => panic!("{other:?}"),
        }
        assert!(took < Duration::from_millis(500), "took {took:?}");
        eio.wait().await;
        // The client dropped the connection: the trickling server notices.
        let deadline = Instant::now() + Duration::from_secs(2);
        while closed.lock().unwrap().is_none() && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(
            closed.lock().unwrap().is_some(),
            "the client kept the connection open"
        );
        assert_reusable(&eio).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_gib_content_length_on_the_handshake_fails_the_connect() {
    bounded(async {
        let closed = Arc::new(Mutex::new(None));
        let c = closed.clone();
        let server = Server::start(move |_req, conn| huge_length_then_trickle(conn, &c));
        let eio = polling_client();
        let watch = RssWatch::start();
        let start = Instant::now();
        let err = eio.connect(&server.url()).await.unwrap_err();
        eprintln!("connect: {err} / {err:?}");
        let took = start.elapsed();
        watch.assert_bounded("10 GiB Content-Length on the handshake", MAX_RSS_GROWTH);
        match err.failure() {
            Some(TransportFailure::TooLarge { limit }) => assert_eq!(*limit, 1 << 20),
            other => panic!("{other:?} ({err})"),
        }
        assert!(took < Duration::from_millis(500), "took {took:?}");
        assert_eq!(eio.sid(), None);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endless_chunked_body_stops_at_the_receive_limit() {
    bounded(async {
        #[derive(Default)]
        struct Seen {
            written: AtomicUsize,
            closed: Mutex<Option<Instant>>,
        }
        let seen = Arc::new(Seen::default());
        let s = seen.clone();
        let server = Server::start(move |req, conn| {
            if req.is_handshake() {
                return ok(conn, open_packet("hostile").as_bytes());
            }
            conn.stream.write_all(
                b"HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=UTF-8\r\n\
                  Transfer-Encoding: chunked\r\n\r\n",
            )?;
            let mut chunk = b"10000\r\n4".to_vec();
            chunk.resize(7 + 0x10000, b'a');
            chunk.extend_from_slice(b"\r\n");
            // Endless, but a runaway client must not take the test machine down: stop
            // at 256 MiB or 5 s.
            let start = Instant::now();
            while s.written.load(Ordering::SeqCst) < 256 << 20
                && start.elapsed() < Duration::from_secs(5)
            {
                if conn.stream.write_all(&chunk).is_err() {
                    *s.closed.lock().unwrap() = Some(Instant::now());
                    break;
                }
                s.written.fetch_add(0x10000, Ordering::SeqCst);
            }
            Ok(Next::Close)
        });
        let eio = polling_client();
        let mut events = eio.events();
        let watch = RssWatch::start();
        eio.connect(&server.url()).await.unwrap();
        let (_, reason) = until_disconnect(&mut events).await;
        match transport_error(&reason) {
            TransportFailure::TooLarge { limit } => assert_eq!(*limit, 1 << 20),
            other => panic!("{other:?}"),
        }
        eio.wait().await;
        let deadline = Instant::now() + Duration::from_secs(2);
        while seen.closed.lock().unwrap().is_none() && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        watch.assert_bounded("endless chunked body", MAX_RSS_GROWTH);
        let written = seen.written.load(Ordering::SeqCst);
        eprintln!(
            "endless chunked body: the server wrote {:.1} MiB before it saw the connection closed",
            written as f64 / (1 << 20) as f64
        );
        assert!(
            seen.closed.lock().unwrap().is_some(),
            "the client kept reading or kept the connection open ({written} bytes written)"
        );
        assert!(written < 32 << 20, "{written} bytes written");
        assert_reusable(&eio).await;
    })
    .await;
}

// ----- 8: a WebSocket message larger than the receive limit -----------------------------

#[derive(Default)]
struct WsSeen {
    written: AtomicUsize,
    closed: AtomicBool,
}

/// A WebSocket-only server that opens the session, then runs `flood` on the socket and
/// waits for the client to close it.
fn websocket_server(
    seen: Arc<WsSeen>,
    flood: impl Fn(&mut Conn, &WsSeen) -> io::Result<()> + Send + Sync + 'static,
) -> Server {
    Server::start(move |req, conn| {
        if !req.is_websocket() {
            return respond(conn, "400 Bad Request", "text/plain", b"websocket only");
        }
        accept_websocket(&req, conn)?;
        conn.stream
            .write_all(&text_frame(&open_packet("ws-hostile")))?;
        // A failed write means the client closed the socket.
        let _ = flood(conn, &seen);
        if conn.wait_for_close(Duration::from_secs(3)) {
            seen.closed.store(true, Ordering::SeqCst);
        }
        Ok(Next::Close)
    })
}

async fn websocket_too_large(what: &str, server: &Server, seen: &WsSeen) -> String {
    let eio = AsyncClient::builder()
        .transports(Transports::WebSocket)
        .request_timeout(REQUEST_TIMEOUT)
        .receive_limit(LIMIT)
        .logger(false)
        .build()
        .unwrap();
    let mut events = eio.events();
    let watch = RssWatch::start();
    eio.connect(&server.url()).await.unwrap();
    let (messages, reason) = until_disconnect(&mut events).await;
    assert!(messages.is_empty(), "{messages:?}");
    eio.wait().await;
    watch.assert_bounded(what, MAX_RSS_GROWTH);
    let why = match transport_error(&reason) {
        TransportFailure::TooLarge { limit } => {
            assert_eq!(*limit, 1 << 20, "{what}");
            format!("{reason:#}")
        }
        other => panic!("{other:?}"),
    };
    let deadline = Instant::now() + Duration::from_secs(2);
    while !seen.closed.load(Ordering::SeqCst) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(
        seen.closed.load(Ordering::SeqCst),
        "{what}: the client kept the WebSocket open"
    );
    eprintln!(
        "{what}: the server wrote {:.1} MiB; the client said: {why}",
        seen.written.load(Ordering::SeqCst) as f64 / (1 << 20) as f64
    );
    assert_reusable(&eio).await;
    why
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_100_mb_websocket_frame_is_refused_at_its_header() {
    bounded(async {
        let seen = Arc::new(WsSeen::default());
        let server = websocket_server(seen.clone(), |conn, seen| {
            conn.stream.write_all(&frame_header(true, 1, 100_000_000))?;
            let data = vec![b'a'; 0x10000];
            conn.stream.write_all(b"4")?;
            for _ in 0..16 {
                conn.stream.write_all(&data)?;
                seen.written.fetch_add(data.len(), Ordering::SeqCst);
            }
            Ok(())
        });
        let why = websocket_too_large("100 MB WebSocket frame", &server, &seen).await;
        assert!(why.contains("receive limit of 1048576 bytes"), "{why}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_100_mb_websocket_message_in_fragments_stops_at_the_limit() {
    bounded(async {
        let seen = Arc::new(WsSeen::default());
        let server = websocket_server(seen.clone(), |conn, seen| {
            // A text message of 64 KiB fragments, never finished (up to 100 MB).
            let mut first = frame_header(false, 1, 0x10000);
            first.push(b'4');
            first.resize(first.len() + 0xffff, b'a');
            conn.stream.write_all(&first)?;
            let mut more = frame_header(false, 0, 0x10000);
            more.resize(more.len() + 0x10000, b'a');
            for _ in 0..(100_000_000 / 0x10000) {
                conn.stream.write_all(&more)?;
                seen.written.fetch_add(0x10000, Ordering::SeqCst);
            }
            Ok(())
        });
        let why = websocket_too_large("100 MB fragmented WebSocket message", &server, &seen).await;
        assert!(why.contains("receive limit of 1048576 bytes"), "{why}");
        assert!(
            seen.written.load(Ordering::SeqCst) < 32 << 20,
            "the client read far past its limit"
        );
    })
    .await;
}

// ----- 9: a ping flood -------------------------------------------------------------------

/// A server that floods pings: one unsent pong answers them all (the client once queued a
/// pong per ping, about 300 MiB in 2 s here), POSTs stay one at a time and within 16
/// packets, and `disconnect` is not held up behind the flood.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ping_flood_is_answered_without_unbounded_memory_or_parallel_posts() {
    bounded(async {
        const FLOOD: Duration = Duration::from_secs(2);
        #[derive(Default)]
        struct Seen {
            flood_start: Mutex<Option<Instant>>,
            pings: AtomicUsize,
            pongs: AtomicUsize,
            posts: AtomicUsize,
            posts_in_flight: AtomicUsize,
            max_posts_in_flight: AtomicUsize,
            max_packets_per_post: AtomicUsize,
            other_packets: AtomicUsize,
        }
        let seen = Arc::new(Seen::default());
        let s = seen.clone();
        let flood: Vec<u8> = vec!["2"; 500].join("\x1e").into_bytes();
        let server = Server::start(move |req, conn| {
            if req.is_handshake() {
                ok(conn, open_packet("flood").as_bytes())
            } else if req.is_poll() {
                let start = *s
                    .flood_start
                    .lock()
                    .unwrap()
                    .get_or_insert_with(Instant::now);
                if start.elapsed() < FLOOD {
                    s.pings.fetch_add(500, Ordering::SeqCst);
                    ok(conn, &flood)
                } else {
                    thread::sleep(Duration::from_millis(50));
                    ok(conn, b"6")
                }
            } else if req.is_post() {
                let now = s.posts_in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                s.max_posts_in_flight.fetch_max(now, Ordering::SeqCst);
                s.posts.fetch_add(1, Ordering::SeqCst);
                let packets = req.packets();
                s.max_packets_per_post
                    .fetch_max(packets.len(), Ordering::SeqCst);
                for p in packets {
                    match p {
                        b"3" => s.pongs.fetch_add(1, Ordering::SeqCst),
                        b"1" => 0,
                        _ => s.other_packets.fetch_add(1, Ordering::SeqCst),
                    };
                }
                // Slow enough that a second POST sent in parallel would overlap this one.
                thread::sleep(Duration::from_millis(1));
                s.posts_in_flight.fetch_sub(1, Ordering::SeqCst);
                ok(conn, b"ok")
            } else {
                respond(conn, "400 Bad Request", "text/plain", b"no")
            }
        });
        let eio = polling_client();
        let mut events = eio.events();
        let watch = RssWatch::start();
        eio.connect(&server.url()).await.unwrap();
        assert_eq!(next_event(&mut events).await, ClientEvent::Connect);
        tokio::time::sleep(FLOOD + Duration::from_millis(300)).await;
        let pings = seen.pings.load(Ordering::SeqCst);
        let pongs = seen.pongs.load(Ordering::SeqCst);
        let posts = seen.posts.load(Ordering::SeqCst);
        eprintln!(
            "ping flood: {pings} pings sent in {FLOOD:?}, {pongs} pongs received in {posts} \
             POSTs ({} packets at most per POST, {} POSTs at most at once)",
            seen.max_packets_per_post.load(Ordering::SeqCst),
            seen.max_posts_in_flight.load(Ordering::SeqCst),
        );
        // Still open, nothing but pongs.
        assert_eq!(eio.sid().as_deref(), Some("flood"));
        assert!(
            futures::FutureExt::now_or_never(events.next()).is_none(),
            "the session ended or delivered something"
        );
        assert!(pongs > 0, "no pong");
        assert_eq!(seen.other_packets.load(Ordering::SeqCst), 0);
        assert_eq!(seen.max_posts_in_flight.load(Ordering::SeqCst), 1);
        assert!(seen.max_packets_per_post.load(Ordering::SeqCst) <= 16);
        // Memory stays bounded: a pong need not be queued for every ping of a flood.
        let growth = watch.finish("ping flood");
        assert!(
            growth < MAX_RSS_GROWTH,
            "ping flood: resident memory grew by {:.0} MiB in {FLOOD:?}; the server had \
             received {pongs} pongs for {pings} pings: the client queues a pong per ping, \
             without bound",
            growth as f64 / (1 << 20) as f64,
        );
        // The flood is over: the client closes in good time.
        tokio::time::timeout(Duration::from_secs(3), eio.disconnect())
            .await
            .unwrap_or_else(|_| {
                panic!(
                    "disconnect did not finish within 3 s of the flood's end ({} pongs \
                     received for {pings} pings)",
                    seen.pongs.load(Ordering::SeqCst),
                )
            })
            .unwrap();
        eio.wait().await;
        assert_eq!(eio.sid(), None);
    })
    .await;
}

// ----- 10: a message flood while the application does not read --------------------------

/// A server that sends 256 KiB messages as fast as the client reads them, numbered, on
/// polling (16 per poll) or WebSocket, until `stop` is set.
fn message_flood_server(
    websocket: bool,
    written: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
) -> Server {
    const SIZE: usize = 256 * 1024;
    let message = move |n: usize| format!("{n:08}{}", "x".repeat(SIZE - 8));
    Server::start(move |req, conn| {
        if websocket && req.is_websocket() {
            accept_websocket(&req, conn)?;
            conn.stream.write_all(&text_frame(&open_packet("flood")))?;
            let mut n = 0;
            while !stop.load(Ordering::SeqCst) {
                conn.stream
                    .write_all(&text_frame(&format!("4{}", message(n))))?;
                written.fetch_add(SIZE, Ordering::SeqCst);
                n += 1;
            }
            Ok(Next::Close)
        } else if !websocket && req.is_handshake() {
            ok(conn, open_packet("flood").as_bytes())
        } else if !websocket && req.is_poll() {
            if stop.load(Ordering::SeqCst) {
                thread::sleep(Duration::from_millis(50));
                return ok(conn, b"6");
            }
            let first = written.fetch_add(16 * SIZE, Ordering::SeqCst) / SIZE;
            let body: Vec<String> = (first..first + 16)
                .map(|n| format!("4{}", message(n)))
                .collect();
            ok(conn, body.join("\x1e").as_bytes())
        } else if req.is_post() {
            ok(conn, b"ok")
        } else {
            respond(conn, "400 Bad Request", "text/plain", b"no")
        }
    })
}

/// The application does not read its event stream for 1.5 s while the server floods:
/// the client stops reading at its receive buffer instead of buffering what the server
/// sends (hundreds of MiB a second on loopback), and then delivers every message, in
/// order, as it is read.
async fn message_flood(websocket: bool, slow_handler: bool) {
    let written = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let server = message_flood_server(websocket, written.clone(), stop.clone());
    let eio = AsyncClient::builder()
        .transports(if websocket {
            Transports::WebSocket
        } else {
            Transports::Polling
        })
        .receive_buffer(4 << 20)
        .logger(false)
        .build()
        .unwrap();
    // Either an event stream that is not read, or a message handler stuck on its first
    // message until `gate` opens.
    let gate = Arc::new(tokio::sync::Semaphore::new(0));
    let handled = Arc::new(Mutex::new(Vec::new()));
    let (g, h) = (gate.clone(), handled.clone());
    if slow_handler {
        eio.on_message(move |p: Payload| {
            let (g, h) = (g.clone(), h.clone());
            async move {
                let _ = g.acquire().await;
                h.lock().unwrap().push(p);
            }
        });
    }
    // (With a handler, no stream: an unread stream would hold the connection up too.)
    let mut events = (!slow_handler).then(|| eio.events());
    let watch = RssWatch::start();
    eio.connect(&server.url()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let what = match (websocket, slow_handler) {
        (true, false) => "message flood, WebSocket, stream not read",
        (false, false) => "message flood, polling, stream not read",
        (true, true) => "message flood, WebSocket, slow handler",
        (false, true) => "message flood, polling, slow handler",
    };
    let growth = watch.finish(what);
    let sent = written.load(Ordering::SeqCst);
    eprintln!(
        "{what}: the server got {:.1} MiB out",
        sent as f64 / (1 << 20) as f64
    );
    assert!(
        growth < MAX_RSS_GROWTH,
        "{what}: resident memory grew by {:.0} MiB",
        growth as f64 / (1 << 20) as f64
    );
    if slow_handler {
        gate.add_permits(1);
        let start = Instant::now();
        while handled.lock().unwrap().len() < 64 {
            assert!(
                start.elapsed() < Duration::from_secs(5),
                "{what}: handlers stuck"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        for (n, p) in handled.lock().unwrap().iter().take(64).enumerate() {
            let t = p.as_text().expect("text");
            assert_eq!(&t[..8], format!("{n:08}"), "{what}");
        }
    }
    // Nothing lost, nothing out of order, once the application reads.
    if let Some(events) = &mut events {
        assert_eq!(next_event(events).await, ClientEvent::Connect);
        for n in 0..64 {
            match next_event(events).await {
                ClientEvent::Message(Payload::Text(t)) => {
                    assert_eq!(&t[..8], format!("{n:08}"), "{what}")
                }
                other => panic!("{what}: {other:?}"),
            }
        }
    }
    stop.store(true, Ordering::SeqCst);
    drop(events);
    tokio::time::timeout(Duration::from_secs(5), eio.disconnect())
        .await
        .expect("disconnect after the flood")
        .unwrap();
    eio.wait().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_flood_on_websocket_stops_at_the_receive_buffer() {
    bounded(message_flood(true, false)).await;
    bounded(message_flood(true, true)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_flood_on_polling_stops_at_the_receive_buffer() {
    bounded(message_flood(false, false)).await;
    bounded(message_flood(false, true)).await;
}

// ----- 11, 12: silence and cut connections ----------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handshake_never_answered_times_out() {
    bounded(async {
        let closed = Arc::new(AtomicBool::new(false));
        let c = closed.clone();
        let server = Server::start(move |req, conn| {
            if req.is_handshake() {
                // Say nothing; note when the client gives up on the connection.
                if conn.wait_for_close(Duration::from_secs(5)) {
                    c.store(true, Ordering::SeqCst);
                }
                return Ok(Next::Close);
            }
            respond(conn, "400 Bad Request", "text/plain", b"no")
        });
        let eio = polling_client();
        let start = Instant::now();
        let err = eio.connect(&server.url()).await.unwrap_err();
        eprintln!("connect: {err} / {err:?}");
        let took = start.elapsed();
        eprintln!("timed out after {took:?}");
        match &err {
            Error::Connect { failure, .. } => {
                assert_eq!(failure, &TransportFailure::RequestTimeout, "{err}")
            }
            other => panic!("{other:?}"),
        }
        assert!(
            took >= REQUEST_TIMEOUT && took < REQUEST_TIMEOUT + Duration::from_secs(1),
            "took {took:?}"
        );
        let deadline = Instant::now() + Duration::from_secs(2);
        while !closed.load(Ordering::SeqCst) && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(
            closed.load(Ordering::SeqCst),
            "the client kept the silent connection open"
        );
        assert_reusable(&eio).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poll_cut_mid_body_is_an_io_error() {
    bounded(async {
        let server = Server::start(|req, conn| {
            if req.is_handshake() {
                return ok(conn, open_packet("hostile").as_bytes());
            }
            conn.stream.write_all(
                b"HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=UTF-8\r\n\
                  Content-Length: 100\r\n\r\n4partial",
            )?;
            conn.stream.flush()?;
            thread::sleep(Duration::from_millis(20));
            Ok(Next::Close)
        });
        let eio = polling_client();
        let mut events = eio.events();
        eio.connect(&server.url()).await.unwrap();
        let (messages, reason) = until_disconnect(&mut events).await;
        assert!(messages.is_empty(), "{messages:?}");
        match transport_error(&reason) {
            TransportFailure::Io(why) => assert!(!why.is_empty()),
            other => panic!("{other:?}"),
        }
        tokio::time::timeout(Duration::from_secs(1), eio.wait())
            .await
            .expect("wait() did not return");
        assert_reusable(&eio).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handshake_cut_mid_headers_is_an_io_error() {
    bounded(async {
        let server = Server::start(|_req, conn| {
            conn.stream
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Type: text/pl")?;
            Ok(Next::Close)
        });
        let eio = polling_client();
        let err = eio.connect(&server.url()).await.unwrap_err();
        eprintln!("connect: {err} / {err:?}");
        match err.failure() {
            Some(TransportFailure::Io(why)) => assert!(!why.is_empty()),
            other => panic!("{other:?} ({err})"),
        }
        assert_eq!(eio.sid(), None);
    })
    .await;
}
