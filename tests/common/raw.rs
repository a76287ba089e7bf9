//! A scripted raw server on 127.0.0.1 for the hostile-server tests (tests/hostile.rs): std
//! sockets, HTTP/1.1 requests read and responses and WebSocket frames written by hand, so
//! that a test can answer with what no real Engine.IO server sends (garbage, bodies that
//! never end, absurd lengths, floods, silence, cut connections). Every connection gets a
//! thread that reads requests and hands each to the test's handler.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::Duration;

/// One HTTP request as the server read it.
#[derive(Debug)]
pub struct Req {
    pub method: String,
    pub target: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Req {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    pub fn is_websocket(&self) -> bool {
        self.header("upgrade")
            .is_some_and(|v| v.eq_ignore_ascii_case("websocket"))
    }
    /// The polling handshake: a GET without a session id.
    pub fn is_handshake(&self) -> bool {
        self.method == "GET" && !self.target.contains("sid=") && !self.is_websocket()
    }
    /// A long-poll of an open session.
    pub fn is_poll(&self) -> bool {
        self.method == "GET" && self.target.contains("sid=") && !self.is_websocket()
    }
    pub fn is_post(&self) -> bool {
        self.method == "POST"
    }
    /// The packets of a POST body.
    pub fn packets(&self) -> Vec<&[u8]> {
        self.body.split(|&b| b == 0x1e).collect()
    }
}

/// A server connection: a buffered reader and the stream to write to.
pub struct Conn {
    reader: BufReader<TcpStream>,
    pub stream: TcpStream,
}

impl Conn {
    /// Blocks until the client closes the connection (or `limit` passes); true if it did.
    pub fn wait_for_close(&mut self, limit: Duration) -> bool {
        let _ = self.stream.set_read_timeout(Some(limit));
        let mut buf = [0u8; 4096];
        loop {
            match self.reader.read(&mut buf) {
                Ok(0) => return true,
                Ok(_) => continue,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return false,
                Err(e) if e.kind() == io::ErrorKind::TimedOut => return false,
                Err(_) => return true,
            }
        }
    }
}

/// What the connection does after a request was handled.
pub enum Next {
    /// Read the next request on the same connection.
    KeepAlive,
    /// Close the connection.
    Close,
}

type Handler = dyn Fn(Req, &mut Conn) -> io::Result<Next> + Send + Sync;

/// A scripted server on 127.0.0.1: every connection gets a thread that reads requests and
/// hands each to the handler.
pub struct Server {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
}

impl Server {
    pub fn start(
        handler: impl Fn(Req, &mut Conn) -> io::Result<Next> + Send + Sync + 'static,
    ) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let handler: Arc<Handler> = Arc::new(handler);
        let stopped = stop.clone();
        thread::spawn(move || {
            for stream in listener.incoming() {
                if stopped.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                // Small writes go out at once: no 40 ms Nagle/delayed-ACK stalls.
                let _ = stream.set_nodelay(true);
                let handler = handler.clone();
                thread::spawn(move || serve_connection(stream, &*handler));
            }
        });
        Server { addr, stop }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so that it sees the flag.
        let _ = TcpStream::connect(self.addr);
    }
}

fn serve_connection(stream: TcpStream, handler: &Handler) {
    let Ok(read_half) = stream.try_clone() else {
        return;
    };
    let mut conn = Conn {
        reader: BufReader::new(read_half),
        stream,
    };
    while let Ok(Some(req)) = read_request(&mut conn.reader) {
        match handler(req, &mut conn) {
            Ok(Next::KeepAlive) => {}
            Ok(Next::Close) | Err(_) => break,
        }
    }
    let _ = conn.stream.shutdown(Shutdown::Both);
}

/// Reads one request: request line, headers, and a `Content-Length` body. `None` at the
/// end of the stream.
fn read_request(r: &mut BufReader<TcpStream>) -> io::Result<Option<Req>> {
    let mut line = String::new();
    if r.read_line(&mut line)? == 0 {
        return Ok(None);
    }
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or_default().to_owned();
    let target = parts.next().unwrap_or_default().to_owned();
    let mut headers = Vec::new();
    loop {
        line.clear();
        if r.read_line(&mut line)? == 0 {
            return Ok(None);
        }
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        if let Some((k, v)) = l.split_once(':') {
            headers.push((k.trim().to_owned(), v.trim().to_owned()));
        }
    }
    let len: usize = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; len];
    r.read_exact(&mut body)?;
    Ok(Some(Req {
        method,
        target,
        headers,
        body,
    }))
}

/// Writes a complete response with a `Content-Length`.
pub fn respond(conn: &mut Conn, status: &str, content_type: &str, body: &[u8]) -> io::Result<Next> {
    let mut response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    response.extend_from_slice(body);
    conn.stream.write_all(&response)?;
    conn.stream.flush()?;
    Ok(Next::KeepAlive)
}

/// `200 OK` with a text body.
pub fn ok(conn: &mut Conn, body: &[u8]) -> io::Result<Next> {
    respond(conn, "200 OK", "text/plain; charset=UTF-8", body)
}

// ----- WebSocket -------------------------------------------------------------------------

/// Answers a WebSocket upgrade request with 101.
pub fn accept_websocket(req: &Req, conn: &mut Conn) -> io::Result<()> {
    let key = req.header("sec-websocket-key").unwrap_or_default();
    let accept = async_tungstenite::tungstenite::handshake::derive_accept_key(key.as_bytes());
    let head = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: {accept}\r\n\r\n"
    );
    conn.stream.write_all(head.as_bytes())
}

/// The header of an unmasked server frame: FIN, opcode, and the 64-bit length form
/// when needed.
pub fn frame_header(fin: bool, opcode: u8, len: u64) -> Vec<u8> {
    let mut h = vec![(u8::from(fin) << 7) | opcode];
    if len < 126 {
        h.push(len as u8);
    } else if len <= u64::from(u16::MAX) {
        h.push(126);
        h.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        h.push(127);
        h.extend_from_slice(&len.to_be_bytes());
    }
    h
}

/// A complete (FIN) text frame.
pub fn text_frame(text: &str) -> Vec<u8> {
    let mut f = frame_header(true, 1, text.len() as u64);
    f.extend_from_slice(text.as_bytes());
    f
}
