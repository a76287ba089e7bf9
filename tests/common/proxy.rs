//! A TCP proxy on 127.0.0.1 between the client and a real server, for fault tests. On
//! command it stalls (stops forwarding, keeps every socket open), cuts every connection,
//! cuts everything when a WebSocket upgrade is answered (mid-upgrade) or after a number of
//! bytes from the client (mid-message), refuses WebSocket handshakes, or moves to another
//! upstream server (a restart behind the same address).
//!
//! Moving upstream behaves like a reverse proxy in front of a restarted server (nginx's
//! `proxy_next_upstream` for idempotent requests): each HTTP connection is re-dialled to
//! the new server and the request it had not had an answer to is sent again there;
//! WebSocket connections cannot be replayed and are closed.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU16, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How long a pump blocks in `read` before it looks at the proxy's state again.
const TICK: Duration = Duration::from_millis(20);

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
    cut_at_websocket: AtomicBool,
    /// The network is down: new connections are closed at once.
    down: AtomicBool,
    /// Client-to-server bytes still allowed before everything is cut; negative: off.
    cut_after: AtomicI64,
    /// How many times everything was cut on a trigger.
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
}

impl Conn {
    fn close(&self) {
        let _ = self.client.shutdown(Shutdown::Both);
        if let Ok(up) = self.upstream.lock() {
            let _ = up.1.shutdown(Shutdown::Both);
        }
    }
}

impl Shared {
    fn cut_all(&self) {
        for c in self.conns.lock().unwrap().drain(..) {
            c.close();
        }
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

    fn wait_while_stalled(&self) {
        while self.stalled.load(Ordering::SeqCst) && !self.stop.load(Ordering::SeqCst) {
            std::thread::sleep(TICK);
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
        shared.cut_after.store(-1, Ordering::SeqCst);
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

    /// Closes every connection made so far (both sides).
    pub fn cut(&self) {
        self.shared.cut_all();
    }

    /// Cuts every connection at the moment the server answers a WebSocket handshake,
    /// before the client sees the answer, and closes every later connection at once: the
    /// network goes down in the middle of the upgrade.
    pub fn cut_at_websocket(&self) {
        self.shared.cut_at_websocket.store(true, Ordering::SeqCst);
    }

    /// Cuts every connection once `bytes` more bytes have gone from the client to the
    /// server: with a large message on its way, a cut in the middle of it.
    pub fn cut_after(&self, bytes: i64) {
        self.shared.cut_after.store(bytes, Ordering::SeqCst);
    }

    /// How many times a `cut_at_websocket` or `cut_after` trigger fired.
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
    });
    shared.conns.lock().unwrap().push(conn.clone());
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
        // A chunk read just as the proxy stalled is held until it resumes.
        shared.wait_while_stalled();
        if !conn.websocket {
            conn.unanswered.lock().unwrap().extend_from_slice(&buf[..n]);
        }
        let written = {
            let mut up = conn.upstream.lock().unwrap();
            up.1.write_all(&buf[..n])
        };
        let budget = shared.cut_after.load(Ordering::SeqCst);
        if budget >= 0 {
            let left = budget - n as i64;
            if left <= 0 {
                shared.cut_after.store(-1, Ordering::SeqCst);
                shared.triggered.fetch_add(1, Ordering::SeqCst);
                shared.cut_all();
                return;
            }
            shared.cut_after.store(left, Ordering::SeqCst);
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
        if conn.websocket && shared.cut_at_websocket.swap(false, Ordering::SeqCst) {
            shared.down.store(true, Ordering::SeqCst);
            shared.triggered.fetch_add(1, Ordering::SeqCst);
            shared.cut_all();
            return;
        }
        conn.unanswered.lock().unwrap().clear();
        if (&conn.client).write_all(&buf[..n]).is_err() {
            conn.close();
            return;
        }
    }
}
