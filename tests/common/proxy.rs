//! A TCP proxy on 127.0.0.1 between the client and a real server, for fault tests: it can
//! stall (stop forwarding, keep every socket open) or cut (close every connection).

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A running proxy; it stops accepting when dropped.
pub struct Proxy {
    pub port: u16,
    stalled: Arc<AtomicBool>,
    block_websocket: Arc<AtomicBool>,
    sockets: Arc<Mutex<Vec<TcpStream>>>,
    stop: Arc<AtomicBool>,
}

impl Proxy {
    /// Forwards 127.0.0.1:<new port> to 127.0.0.1:`upstream`.
    pub fn start(upstream: u16) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        listener.set_nonblocking(true).expect("nonblocking");
        let stalled = Arc::new(AtomicBool::new(false));
        let sockets: Arc<Mutex<Vec<TcpStream>>> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let block_websocket = Arc::new(AtomicBool::new(false));
        let (st, so, sp, bw) = (
            stalled.clone(),
            sockets.clone(),
            stop.clone(),
            block_websocket.clone(),
        );
        std::thread::spawn(move || {
            while !sp.load(Ordering::SeqCst) {
                let client = match listener.accept() {
                    Ok((c, _)) => c,
                    Err(_) => {
                        std::thread::sleep(Duration::from_millis(5));
                        continue;
                    }
                };
                if bw.load(Ordering::SeqCst) && refuse_websocket(&client) {
                    continue;
                }
                let Ok(server) = TcpStream::connect(("127.0.0.1", upstream)) else {
                    continue;
                };
                let _ = client.set_nonblocking(false);
                let _ = client.set_nodelay(true);
                let _ = server.set_nodelay(true);
                {
                    let mut all = so.lock().unwrap();
                    all.extend(client.try_clone().ok());
                    all.extend(server.try_clone().ok());
                }
                for (from, to) in [
                    (client.try_clone(), server.try_clone()),
                    (server.try_clone(), client.try_clone()),
                ] {
                    let (Ok(from), Ok(to)) = (from, to) else {
                        continue;
                    };
                    let stalled = st.clone();
                    std::thread::spawn(move || pump(from, to, stalled));
                }
            }
        });
        Proxy {
            port,
            stalled,
            block_websocket,
            sockets,
            stop,
        }
    }

    /// The proxy's URL.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Answers every WebSocket handshake with 403, as a proxy that does not allow
    /// WebSocket would; plain HTTP still goes through.
    pub fn block_websocket(&self) {
        self.block_websocket.store(true, Ordering::SeqCst);
    }

    /// Stops forwarding in both directions; every socket stays open.
    pub fn stall(&self) {
        self.stalled.store(true, Ordering::SeqCst);
    }

    /// Closes every connection made so far (both sides).
    pub fn cut(&self) {
        for s in self.sockets.lock().unwrap().drain(..) {
            let _ = s.shutdown(Shutdown::Both);
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        self.cut();
    }
}

fn pump(mut from: TcpStream, mut to: TcpStream, stalled: Arc<AtomicBool>) {
    let mut buf = [0u8; 16 * 1024];
    let _ = from.set_read_timeout(Some(Duration::from_millis(20)));
    loop {
        if stalled.load(Ordering::SeqCst) {
            // Read nothing, write nothing, close nothing.
            std::thread::sleep(Duration::from_millis(20));
            continue;
        }
        match from.read(&mut buf) {
            Ok(0) => {
                let _ = to.shutdown(Shutdown::Write);
                return;
            }
            Ok(n) => {
                if stalled.load(Ordering::SeqCst) {
                    // Stalled while this chunk was in hand: hold it back forever.
                    loop {
                        std::thread::sleep(Duration::from_secs(3600));
                    }
                }
                if to.write_all(&buf[..n]).is_err() {
                    return;
                }
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => {
                let _ = to.shutdown(Shutdown::Write);
                return;
            }
        }
    }
}

/// If the connection's first request is a WebSocket handshake, answers 403 and returns
/// true. (Peeks, so a plain request is forwarded untouched.)
fn refuse_websocket(client: &TcpStream) -> bool {
    let _ = client.set_read_timeout(Some(Duration::from_secs(2)));
    let mut head = [0u8; 2048];
    let n = client.peek(&mut head).unwrap_or(0);
    let _ = client.set_read_timeout(None);
    let text = String::from_utf8_lossy(&head[..n]).to_ascii_lowercase();
    if !text.contains("upgrade: websocket") {
        return false;
    }
    let mut c = client;
    let _ =
        c.write_all(b"HTTP/1.1 403 Forbidden\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
    let _ = c.shutdown(Shutdown::Both);
    true
}
