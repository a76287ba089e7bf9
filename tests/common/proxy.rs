//! A TCP proxy on 127.0.0.1 between the client and a real server, for fault tests. Each
//! fault means one thing:
//!
//! - [`Proxy::stall`]: the network stops carrying bytes, both ways; every socket stays
//!   open (until [`Proxy::resume`]).
//! - [`Proxy::down`]: the network goes down: every open connection is cut and every new
//!   one is closed as soon as it is accepted; nothing of it is forwarded.
//!   [`Proxy::down_after`] and [`Proxy::down_at_websocket`] take it down on a trigger (in
//!   the middle of a message, in the middle of the upgrade).
//! - [`Proxy::up`]: the network comes back up after a down: new connections go through.
//! - [`Proxy::reset`]: every open connection is cut, but the network stays up: new
//!   connections go through. [`Proxy::reset_after_poll`] and [`Proxy::reset_while_polling`]
//!   place the reset between two polls or while a poll is pending, for certain.
//! - [`Proxy::block_websocket`]: WebSocket handshakes are refused with 403.
//! - [`Proxy::retarget`]: the upstream server moves (a restart behind the same address).
//!
//! Moving upstream behaves like a reverse proxy in front of a restarted server (nginx's
//! `proxy_next_upstream` for idempotent requests): each HTTP connection is re-dialled to
//! the new server and the request it had not had an answer to is sent again there;
//! WebSocket connections cannot be replayed and are closed.
//!
//! To place a reset, the proxy follows each HTTP connection's exchanges: a request is open
//! from the moment its first bytes are read from the client until the last byte of its
//! response (framed by Content-Length or chunked encoding) is written back to the client.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU16, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long a pump blocks in `read` before it looks at the proxy's state again.
const TICK: Duration = Duration::from_millis(20);

/// How long `reset_while_polling` and `stall_while_polling` let traffic flow between two
/// looks: long enough for what a stall held back to go through.
const RETRY: Duration = Duration::from_millis(50);

/// A running proxy; it stops accepting, and closes everything, when dropped.
pub struct Proxy {
    pub port: u16,
    shared: Arc<Shared>,
}

#[derive(Default)]
struct Shared {
    upstream: AtomicU16,
    stalled: AtomicBool,
    /// Pumps inside a `read` right now (see `Shared::read`).
    reading: AtomicUsize,
    block_websocket: AtomicBool,
    down_at_websocket: AtomicBool,
    /// The network is down: new connections are closed at once. Set, and read by
    /// `admit`, only with `conns` locked, so that no connection accepted while the network
    /// goes down slips through.
    down: AtomicBool,
    /// Client-to-server bytes still allowed before the network goes down; negative: off.
    down_after: AtomicI64,
    /// Armed by `reset_after_poll`.
    reset_after_poll: AtomicBool,
    /// How many times a trigger fired (`down_after`, `down_at_websocket`,
    /// `reset_after_poll`, `reset_while_polling`).
    triggered: AtomicUsize,
    stop: AtomicBool,
    conns: Mutex<Vec<Arc<Conn>>>,
}

/// One proxied connection.
struct Conn {
    client: TcpStream,
    upstream: Mutex<(usize, TcpStream)>,
    /// Bytes the client sent that have had no answer yet (the request to replay).
    unanswered: Mutex<Vec<u8>>,
    websocket: bool,
    /// HTTP: the client has sent a request whose response it has not all been given yet.
    open_request: AtomicBool,
    /// The open (or last) request is a GET: a poll.
    request_is_get: AtomicBool,
    /// Cut: the pumps forward nothing more, either way (they look before every write).
    dead: AtomicBool,
}

impl Conn {
    /// Cuts the connection, both sides. If its pump is in the middle of a write upstream
    /// (which can wait for the server to read), that side is closed by the pump, after
    /// the write.
    fn close(&self) {
        self.dead.store(true, Ordering::SeqCst);
        let _ = self.client.shutdown(Shutdown::Both);
        if let Ok(up) = self.upstream.try_lock() {
            let _ = up.1.shutdown(Shutdown::Both);
        }
    }

    fn describe(&self) -> String {
        if self.websocket {
            return "websocket".into();
        }
        let method = if self.request_is_get.load(Ordering::SeqCst) {
            "GET"
        } else {
            "other"
        };
        let state = if self.open_request.load(Ordering::SeqCst) {
            "open"
        } else {
            "answered"
        };
        format!("{method} {state}")
    }

    fn open_poll(&self) -> bool {
        !self.websocket
            && self.open_request.load(Ordering::SeqCst)
            && self.request_is_get.load(Ordering::SeqCst)
    }
}

/// Cuts `conns` at one instant: every one is marked dead, so that none forwards a byte
/// more, before any is closed. (Closed one by one, a connection still open could carry
/// the server's answer to the end of another: node answers a POST with 400 once the
/// session's poll connection has closed.)
fn cut(conns: Vec<Arc<Conn>>) {
    for c in &conns {
        c.dead.store(true, Ordering::SeqCst);
    }
    for c in &conns {
        c.close();
    }
}

impl Shared {
    /// Cuts every open connection (a reset: new ones still go through).
    fn cut_all(&self) {
        let mut conns = self.conns.lock().unwrap();
        cut(conns.drain(..).collect());
    }

    /// Takes the network down: cuts every open connection and refuses every later one.
    fn go_down(&self) {
        let mut conns = self.conns.lock().unwrap();
        self.down.store(true, Ordering::SeqCst);
        cut(conns.drain(..).collect());
    }

    /// Registers a freshly accepted connection, unless the network went down (or the
    /// proxy stopped) meanwhile: then it is closed, and never forwards a byte.
    fn admit(&self, conn: &Arc<Conn>) -> bool {
        let mut conns = self.conns.lock().unwrap();
        if self.down.load(Ordering::SeqCst) || self.stop.load(Ordering::SeqCst) {
            drop(conns);
            conn.close();
            return false;
        }
        conns.push(conn.clone());
        true
    }

    /// `this` has the whole response to a poll in hand, not yet written to the client:
    /// if `reset_after_poll` is armed and no other connection has a request open, cuts
    /// every other connection and fires (the caller then writes the response and closes
    /// `this`).
    fn reset_after_response(&self, this: &Conn) -> bool {
        let mut conns = self.conns.lock().unwrap();
        let others_busy = conns
            .iter()
            .any(|c| !std::ptr::eq(&**c, this) && c.open_request.load(Ordering::SeqCst));
        if others_busy || !self.reset_after_poll.swap(false, Ordering::SeqCst) {
            return false;
        }
        self.triggered.fetch_add(1, Ordering::SeqCst);
        cut(conns
            .drain(..)
            .filter(|c| !std::ptr::eq(&**c, this))
            .collect());
        true
    }

    /// Reads from `from` unless the proxy is stalled (`None`). The count of reads in
    /// progress lets `stall` return only once no read can complete after it: a peer that
    /// dies after `stall` is not noticed until `resume`.
    fn read(&self, mut from: &TcpStream, buf: &mut [u8]) -> Option<std::io::Result<usize>> {
        self.reading.fetch_add(1, Ordering::SeqCst);
        let result = if self.stalled.load(Ordering::SeqCst) {
            None
        } else {
            Some(from.read(buf))
        };
        self.reading.fetch_sub(1, Ordering::SeqCst);
        result
    }

    /// Waits for `resume`, looking often: a pump must not sleep through a short resumed
    /// spell (`stall_while_polling` resumes for `RETRY` between its looks).
    fn wait_while_stalled(&self) {
        while self.stalled.load(Ordering::SeqCst) && !self.stop.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}

impl Proxy {
    /// Forwards 127.0.0.1:<new port> to 127.0.0.1:`upstream`.
    pub fn start(upstream: u16) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        listener.set_nonblocking(true).expect("nonblocking");
        let shared = Arc::new(Shared::default());
        shared.upstream.store(upstream, Ordering::SeqCst);
        shared.down_after.store(-1, Ordering::SeqCst);
        let sh = shared.clone();
        std::thread::spawn(move || {
            while !sh.stop.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((client, _)) => accept(&sh, client),
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        Proxy { port, shared }
    }

    /// The proxy's URL.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Answers every WebSocket handshake with 403, as a proxy that does not allow
    /// WebSocket would; plain HTTP still goes through.
    pub fn block_websocket(&self) {
        self.shared.block_websocket.store(true, Ordering::SeqCst);
    }

    /// Stops forwarding in both directions; every socket stays open. Once this returns,
    /// nothing more is read from any socket until [`Proxy::resume`].
    pub fn stall(&self) {
        self.shared.stalled.store(true, Ordering::SeqCst);
        while self.shared.reading.load(Ordering::SeqCst) > 0 {
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// Forwards again after [`Proxy::stall`].
    pub fn resume(&self) {
        self.shared.stalled.store(false, Ordering::SeqCst);
    }

    /// The network goes down, for good: every open connection is cut (both sides) and
    /// every later one is closed as soon as it is accepted (a connection accepted while
    /// this runs is closed too). A client sees every request fail at once.
    pub fn down(&self) {
        self.shared.go_down();
    }

    /// The network comes back up after [`Proxy::down`]: connections accepted from now on
    /// go through again (those cut stay cut).
    pub fn up(&self) {
        let _conns = self.shared.conns.lock().unwrap();
        self.shared.down.store(false, Ordering::SeqCst);
    }

    /// Cuts every open connection (both sides), once; the network stays up and later
    /// connections go through. Where the reset lands is up to the caller's timing: see
    /// [`Proxy::reset_after_poll`] and [`Proxy::reset_while_polling`] to place it.
    pub fn reset(&self) {
        self.shared.cut_all();
    }

    /// Arms a reset between two polls: when the server's answer to a GET is complete and
    /// no other request is open, every other connection is cut, the answer is written to
    /// the client and that connection is closed after it. The client gets the whole
    /// answer, then finds every connection closed, and has no request on the way: the
    /// server has no request pending either. [`Proxy::triggered`] counts it.
    pub fn reset_after_poll(&self) {
        self.shared.reset_after_poll.store(true, Ordering::SeqCst);
    }

    /// Resets while a poll is pending: stalls, and if a GET has been read from the client
    /// and not all of its answer written back (the client has sent it and waits for it),
    /// cuts every connection and resumes; otherwise resumes and tries again, for up to
    /// `limit`. Whether it happened; [`Proxy::triggered`] counts it.
    pub fn reset_while_polling(&self, limit: Duration) -> bool {
        let start = Instant::now();
        loop {
            self.stall();
            let polling = self
                .shared
                .conns
                .lock()
                .unwrap()
                .iter()
                .any(|c| c.open_poll());
            if polling {
                self.shared.triggered.fetch_add(1, Ordering::SeqCst);
                self.shared.cut_all();
            }
            self.resume();
            if polling {
                return true;
            }
            if start.elapsed() > limit {
                return false;
            }
            std::thread::sleep(RETRY);
        }
    }

    /// Stalls (see [`Proxy::stall`]) at a moment when a poll is pending and no other
    /// request is open (no POST waits for its answer), trying for up to `limit`. Stays
    /// stalled until [`Proxy::resume`]. If it never could: the connections as last seen.
    pub fn stall_while_polling(&self, limit: Duration) -> Result<(), String> {
        let start = Instant::now();
        loop {
            self.stall();
            let (quiet, seen) = {
                let conns = self.shared.conns.lock().unwrap();
                let quiet = conns.iter().any(|c| c.open_poll())
                    && !conns
                        .iter()
                        .any(|c| c.open_request.load(Ordering::SeqCst) && !c.open_poll());
                let seen: Vec<String> = conns.iter().map(|c| c.describe()).collect();
                (quiet, seen)
            };
            if quiet {
                return Ok(());
            }
            self.resume();
            if start.elapsed() > limit {
                return Err(format!("connections: {seen:?}"));
            }
            std::thread::sleep(RETRY);
        }
    }

    /// Takes the network down (see [`Proxy::down`]) at the moment the server answers a
    /// WebSocket handshake, before the client sees the answer: the network goes down in
    /// the middle of the upgrade.
    pub fn down_at_websocket(&self) {
        self.shared.down_at_websocket.store(true, Ordering::SeqCst);
    }

    /// Takes the network down (see [`Proxy::down`]) once `bytes` more bytes have gone
    /// from the client to the server: with a large message on its way, in the middle of
    /// it.
    pub fn down_after(&self, bytes: i64) {
        self.shared.down_after.store(bytes, Ordering::SeqCst);
    }

    /// How many times a trigger fired: [`Proxy::down_at_websocket`],
    /// [`Proxy::down_after`], [`Proxy::reset_after_poll`], [`Proxy::reset_while_polling`].
    pub fn triggered(&self) -> usize {
        self.shared.triggered.load(Ordering::SeqCst)
    }

    /// Sends new connections to `upstream` and moves the open ones there: HTTP
    /// connections are re-dialled and their unanswered request sent again; WebSocket
    /// connections are closed. Call it while stalled so no request is half-forwarded.
    pub fn retarget(&self, upstream: u16) {
        self.shared.upstream.store(upstream, Ordering::SeqCst);
        let conns: Vec<Arc<Conn>> = self.shared.conns.lock().unwrap().clone();
        for c in conns {
            if c.websocket {
                c.close();
                continue;
            }
            let Ok(mut fresh) = TcpStream::connect(("127.0.0.1", upstream)) else {
                c.close();
                continue;
            };
            let _ = fresh.set_nodelay(true);
            let pending = c.unanswered.lock().unwrap().clone();
            if !pending.is_empty() && fresh.write_all(&pending).is_err() {
                c.close();
                continue;
            }
            let old = {
                let mut up = c.upstream.lock().unwrap();
                let generation = up.0 + 1;
                std::mem::replace(&mut *up, (generation, fresh)).1
            };
            let _ = old.shutdown(Shutdown::Both);
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        self.shared.cut_all();
    }
}

fn accept(shared: &Arc<Shared>, client: TcpStream) {
    if shared.down.load(Ordering::SeqCst) {
        let _ = client.shutdown(Shutdown::Both);
        return;
    }
    let _ = client.set_nonblocking(false);
    let head = peek_head(&client);
    let websocket = head.contains("upgrade: websocket");
    if websocket && shared.block_websocket.load(Ordering::SeqCst) {
        let mut c = &client;
        let _ = c
            .write_all(b"HTTP/1.1 403 Forbidden\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
        let _ = client.shutdown(Shutdown::Both);
        return;
    }
    let Ok(server) = TcpStream::connect(("127.0.0.1", shared.upstream.load(Ordering::SeqCst)))
    else {
        return;
    };
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let _ = client.set_read_timeout(Some(TICK));
    let conn = Arc::new(Conn {
        client,
        upstream: Mutex::new((0, server)),
        unanswered: Mutex::default(),
        websocket,
        open_request: AtomicBool::new(false),
        request_is_get: AtomicBool::new(false),
        dead: AtomicBool::new(false),
    });
    // The network may have gone down during the peek or the dial: checked again, with
    // the list locked, so that `go_down` either sees this connection or is seen by it.
    if !shared.admit(&conn) {
        return;
    }
    let (sh, c) = (shared.clone(), conn.clone());
    std::thread::spawn(move || client_to_server(&sh, &c));
    let sh = shared.clone();
    std::thread::spawn(move || server_to_client(&sh, &conn));
}

/// The start of the connection's first request, lower-cased (peeked: nothing is consumed).
fn peek_head(client: &TcpStream) -> String {
    let _ = client.set_read_timeout(Some(Duration::from_secs(2)));
    let mut head = [0u8; 2048];
    let n = client.peek(&mut head).unwrap_or(0);
    String::from_utf8_lossy(&head[..n]).to_ascii_lowercase()
}

fn is_timeout(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
    )
}

fn client_to_server(shared: &Shared, conn: &Conn) {
    let mut buf = [0u8; 16 * 1024];
    loop {
        if shared.stop.load(Ordering::SeqCst) {
            return;
        }
        let Some(read) = shared.read(&conn.client, &mut buf) else {
            shared.wait_while_stalled();
            continue;
        };
        let n = match read {
            Ok(0) => {
                let up = conn.upstream.lock().unwrap();
                let _ = up.1.shutdown(Shutdown::Write);
                return;
            }
            Ok(n) => n,
            Err(e) if is_timeout(&e) => continue,
            Err(_) => {
                conn.close();
                return;
            }
        };
        // Read from the client: from its side, sent. (HTTP/1.1 without pipelining: the
        // first bytes after a complete response start the next request.)
        if !conn.websocket && !conn.open_request.load(Ordering::SeqCst) {
            conn.request_is_get
                .store(buf[..n].starts_with(b"GET "), Ordering::SeqCst);
            conn.open_request.store(true, Ordering::SeqCst);
        }
        // A chunk read just as the proxy stalled is held until it resumes.
        shared.wait_while_stalled();
        if conn.dead.load(Ordering::SeqCst) {
            conn.close();
            return;
        }
        if !conn.websocket {
            conn.unanswered.lock().unwrap().extend_from_slice(&buf[..n]);
        }
        let written = {
            let mut up = conn.upstream.lock().unwrap();
            up.1.write_all(&buf[..n])
        };
        if conn.dead.load(Ordering::SeqCst) {
            conn.close(); // cut during the write: this side was left to us
            return;
        }
        let budget = shared.down_after.load(Ordering::SeqCst);
        if budget >= 0 {
            let left = budget - n as i64;
            if left <= 0 {
                shared.down_after.store(-1, Ordering::SeqCst);
                shared.triggered.fetch_add(1, Ordering::SeqCst);
                shared.go_down();
                return;
            }
            shared.down_after.store(left, Ordering::SeqCst);
        }
        if written.is_err() {
            // A retarget swaps the upstream under us: the write to the old one may fail,
            // and the request is replayed on the new one.
            std::thread::sleep(TICK);
        }
    }
}

fn server_to_client(shared: &Shared, conn: &Conn) {
    let mut buf = [0u8; 16 * 1024];
    let mut current = {
        let up = conn.upstream.lock().unwrap();
        (up.0, up.1.try_clone().expect("clone"))
    };
    let _ = current.1.set_read_timeout(Some(TICK));
    let mut framing = Framing::default();
    loop {
        if shared.stop.load(Ordering::SeqCst) {
            return;
        }
        let Some(read) = shared.read(&current.1, &mut buf) else {
            shared.wait_while_stalled();
            continue;
        };
        // Moved to another upstream (see retarget)? Read from the new one.
        let generation = conn.upstream.lock().unwrap().0;
        if generation != current.0 {
            let up = conn.upstream.lock().unwrap();
            current = (up.0, up.1.try_clone().expect("clone"));
            let _ = current.1.set_read_timeout(Some(TICK));
            framing = Framing::default();
            continue;
        }
        let n = match read {
            Ok(0) => {
                let _ = conn.client.shutdown(Shutdown::Write);
                return;
            }
            Ok(n) => n,
            Err(e) if is_timeout(&e) => continue,
            Err(_) => {
                conn.close();
                return;
            }
        };
        shared.wait_while_stalled();
        if conn.dead.load(Ordering::SeqCst) {
            conn.close();
            return;
        }
        if conn.websocket && shared.down_at_websocket.swap(false, Ordering::SeqCst) {
            shared.triggered.fetch_add(1, Ordering::SeqCst);
            shared.go_down();
            return;
        }
        let completes = !conn.websocket && framing.feed(&buf[..n]);
        if completes
            && conn.request_is_get.load(Ordering::SeqCst)
            && shared.reset_after_poll.load(Ordering::SeqCst)
            && shared.reset_after_response(conn)
        {
            // The whole answer and the end of the connection, in one segment: the client
            // never has the answer without the end, so it cannot have sent anything more
            // on this connection before it could know it closed.
            write_and_end(&conn.client, &buf[..n]);
            conn.close();
            return;
        }
        conn.unanswered.lock().unwrap().clear();
        if (&conn.client).write_all(&buf[..n]).is_err() {
            conn.close();
            return;
        }
        if completes {
            conn.open_request.store(false, Ordering::SeqCst);
        }
    }
}

/// Writes `data` then ends the stream (FIN), in the same segment: the socket is corked
/// (TCP_CORK) so that the data waits in the send queue, and the FIN is added to the
/// segment still queued there. (Elsewhere than on Linux, the FIN follows at once.)
fn write_and_end(stream: &TcpStream, data: &[u8]) {
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        let on: libc::c_int = 1;
        // SAFETY: a valid socket, and a c_int option of the size given.
        unsafe {
            libc::setsockopt(
                stream.as_raw_fd(),
                libc::IPPROTO_TCP,
                libc::TCP_CORK,
                (&on as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            );
        }
    }
    let _ = (&*stream).write_all(data);
    let _ = stream.shutdown(Shutdown::Write);
}

/// Where HTTP/1.1 responses end, in the bytes from the server.
#[derive(Default)]
struct Framing {
    head: Vec<u8>,
    body: Body,
}

#[derive(Default)]
enum Body {
    /// In the status line and headers.
    #[default]
    Head,
    /// Content-Length: this many bytes left.
    Length(usize),
    /// Chunked: the last bytes seen, to spot the final `0\r\n\r\n`.
    Chunked(Vec<u8>),
    /// Neither: the response ends with the connection.
    UntilClose,
}

impl Framing {
    /// Takes the next bytes from the server; whether they end with the end of a response.
    fn feed(&mut self, mut data: &[u8]) -> bool {
        let mut ended = false;
        while !data.is_empty() {
            ended = false;
            match &mut self.body {
                Body::Head => {
                    let from = self.head.len().saturating_sub(3);
                    self.head.extend_from_slice(data);
                    let Some(at) = self.head[from..]
                        .windows(4)
                        .position(|w| w == b"\r\n\r\n")
                        .map(|p| from + p)
                    else {
                        return false;
                    };
                    let head_len = at + 4;
                    let rest = self.head.len() - head_len;
                    data = &data[data.len() - rest..];
                    let head = String::from_utf8_lossy(&self.head[..at]).to_ascii_lowercase();
                    self.head.clear();
                    self.body = body_of(&head);
                    if matches!(self.body, Body::Length(0)) {
                        self.body = Body::Head;
                        ended = !head.starts_with("http/1.1 1");
                    }
                }
                Body::Length(left) => {
                    let k = (*left).min(data.len());
                    *left -= k;
                    data = &data[k..];
                    if *left == 0 {
                        self.body = Body::Head;
                        ended = true;
                    }
                }
                Body::Chunked(tail) => {
                    tail.extend_from_slice(data);
                    let keep = tail.len().saturating_sub(5);
                    tail.drain(..keep);
                    data = &[];
                    if tail.as_slice() == b"0\r\n\r\n" {
                        self.body = Body::Head;
                        ended = true;
                    }
                }
                Body::UntilClose => return false,
            }
        }
        ended
    }
}

/// How the body of a response with this (lower-cased) head is framed.
fn body_of(head: &str) -> Body {
    let status: u16 = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    if (100..200).contains(&status) || status == 204 || status == 304 {
        return Body::Length(0);
    }
    for line in head.split("\r\n").skip(1) {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        match name.trim() {
            "content-length" => {
                if let Ok(n) = value.trim().parse() {
                    return Body::Length(n);
                }
            }
            "transfer-encoding" if value.contains("chunked") => {
                return Body::Chunked(Vec::new());
            }
            _ => {}
        }
    }
    Body::UntilClose
}
