//! The harness's network: a `Dialer` whose connections are in-memory byte pipes, served by
//! the scripted server speaking HTTP/1.1 and WebSocket on the other end. With it the
//! client's own connectors (hyper with its pool, the WebSocket handshake, tungstenite) run
//! on the harness too, and the network can be reset or taken down at an exact moment.

use std::collections::VecDeque;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::task::{Context, Poll, Waker};

use async_trait::async_trait;
use async_tungstenite::WebSocketStream;
use async_tungstenite::tungstenite::protocol::{CloseFrame, Role};
use async_tungstenite::tungstenite::{Message, handshake::derive_accept_key};
use bytes::Bytes;
use engineio::ByteStr;
use engineio::connector::{HttpConnector, WebSocketConnector, WsMessage};
use engineio::proto::Frame;
use engineio::rt::{Dialer, Io, Spawner};
use futures::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use futures::{SinkExt, StreamExt};

use super::{Exec, ScriptedServer, lock};

/// How many bytes a pipe holds in each direction before the writer waits.
const PIPE_CAPACITY: usize = 64 * 1024;

/// The in-memory network between the client and the scripted server.
pub struct Network {
    exec: Arc<Exec>,
    server: ScriptedServer,
    pipes: Mutex<Vec<Weak<Pipe>>>,
    down: AtomicBool,
    dials: AtomicUsize,
    websockets: Arc<WebSocketFilter>,
}

/// Whether the network lets WebSocket upgrade requests through, and those it stopped.
#[derive(Default)]
struct WebSocketFilter {
    drop: AtomicBool,
    /// The query of each request stopped, in order.
    dropped: Mutex<Vec<String>>,
}

impl Network {
    pub(super) fn new(exec: Arc<Exec>, server: ScriptedServer) -> Arc<Network> {
        Arc::new(Network {
            exec,
            server,
            pipes: Mutex::default(),
            down: AtomicBool::new(false),
            dials: AtomicUsize::new(0),
            websockets: Arc::default(),
        })
    }

    /// Resets every open connection (both ends see a reset); new ones are still made.
    pub fn reset(&self) {
        for pipe in lock(&self.pipes).drain(..).filter_map(|p| p.upgrade()) {
            pipe.reset();
        }
    }

    /// Resets every connection that carries no request right now (idle in the client's
    /// pool): a reset the client can recover from by dialling again.
    pub fn reset_idle(&self) {
        for pipe in lock(&self.pipes).iter().filter_map(Weak::upgrade) {
            if !pipe.busy.load(Ordering::SeqCst) {
                pipe.reset();
            }
        }
    }

    /// The network goes down: open connections reset and new ones refused.
    pub fn down(&self) {
        self.down.store(true, Ordering::SeqCst);
        self.reset();
    }

    /// The network is back.
    pub fn up(&self) {
        self.down.store(false, Ordering::SeqCst);
    }

    /// From now on (`true`), or no longer, the network resets every connection that
    /// carries a WebSocket upgrade request as soon as the request arrives, before the
    /// server sees it (a proxy or firewall that does not pass WebSockets); plain HTTP
    /// requests go through. The client's WebSocket handshake fails with a reset.
    pub fn drop_websockets(&self, on: bool) {
        self.websockets.drop.store(on, Ordering::SeqCst);
    }

    /// The WebSocket upgrade requests [`drop_websockets`](Self::drop_websockets) stopped,
    /// in order: the query of each (with a `sid` for an upgrade probe, without one for a
    /// connection opened on WebSocket).
    pub fn dropped_websockets(&self) -> Vec<String> {
        lock(&self.websockets.dropped).clone()
    }

    /// How many connections were dialled (refused ones included).
    pub fn dials(&self) -> usize {
        self.dials.load(Ordering::SeqCst)
    }

    /// Connections open now.
    pub fn open_connections(&self) -> usize {
        lock(&self.pipes)
            .iter()
            .filter_map(Weak::upgrade)
            .filter(|p| !p.is_done())
            .count()
    }
}

#[async_trait]
impl Dialer for Network {
    async fn dial(&self, host: &str, port: u16) -> io::Result<Box<dyn Io>> {
        self.dials.fetch_add(1, Ordering::SeqCst);
        if self.down.load(Ordering::SeqCst) {
            return Err(io::Error::new(
                io::ErrorKind::ConnectionRefused,
                format!("the network is down ({host}:{port})"),
            ));
        }
        let pipe = Arc::new(Pipe::default());
        lock(&self.pipes).push(Arc::downgrade(&pipe));
        let server_end = PipeEnd {
            pipe: pipe.clone(),
            client: false,
        };
        self.exec.spawn(Box::pin(serve(
            self.server.clone(),
            server_end,
            self.websockets.clone(),
        )));
        Ok(Box::new(PipeEnd { pipe, client: true }))
    }
}

// ----- pipes ---------------------------------------------------------------------------

/// One connection: a byte queue each way.
#[derive(Default)]
struct Pipe {
    to_server: Mutex<Half>,
    to_client: Mutex<Half>,
    /// A request is being answered, or the connection is a WebSocket.
    busy: AtomicBool,
}

#[derive(Default)]
struct Half {
    data: VecDeque<u8>,
    /// The writer closed its side (EOF once drained), or the reader is gone.
    closed: bool,
    reset: bool,
    reader: Option<Waker>,
    writer: Option<Waker>,
}

impl Half {
    fn wake(&mut self) {
        for w in [self.reader.take(), self.writer.take()]
            .into_iter()
            .flatten()
        {
            w.wake();
        }
    }
}

impl Pipe {
    fn reset(&self) {
        for half in [&self.to_server, &self.to_client] {
            let mut h = lock(half);
            h.reset = true;
            h.wake();
        }
    }

    fn is_done(&self) -> bool {
        [&self.to_server, &self.to_client].iter().all(|h| {
            let h = lock(h);
            h.reset || h.closed
        })
    }
}

/// One end of a pipe: the client's (`client`) or the server's.
struct PipeEnd {
    pipe: Arc<Pipe>,
    client: bool,
}

impl PipeEnd {
    fn incoming(&self) -> &Mutex<Half> {
        if self.client {
            &self.pipe.to_client
        } else {
            &self.pipe.to_server
        }
    }

    fn outgoing(&self) -> &Mutex<Half> {
        if self.client {
            &self.pipe.to_server
        } else {
            &self.pipe.to_client
        }
    }
}

impl AsyncRead for PipeEnd {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let mut h = lock(self.incoming());
        if h.reset {
            return Poll::Ready(Err(io::ErrorKind::ConnectionReset.into()));
        }
        if !h.data.is_empty() {
            let n = buf.len().min(h.data.len());
            for (dst, src) in buf.iter_mut().zip(h.data.drain(..n)) {
                *dst = src;
            }
            if let Some(w) = h.writer.take() {
                w.wake();
            }
            return Poll::Ready(Ok(n));
        }
        if h.closed {
            return Poll::Ready(Ok(0));
        }
        h.reader = Some(cx.waker().clone());
        Poll::Pending
    }
}

impl AsyncWrite for PipeEnd {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let mut h = lock(self.outgoing());
        if h.reset {
            return Poll::Ready(Err(io::ErrorKind::ConnectionReset.into()));
        }
        if h.closed {
            return Poll::Ready(Err(io::ErrorKind::BrokenPipe.into()));
        }
        let room = PIPE_CAPACITY - h.data.len();
        if room == 0 {
            h.writer = Some(cx.waker().clone());
            return Poll::Pending;
        }
        let n = room.min(buf.len());
        h.data.extend(&buf[..n]);
        if let Some(w) = h.reader.take() {
            w.wake();
        }
        Poll::Ready(Ok(n))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let h = lock(self.outgoing());
        if h.reset {
            return Poll::Ready(Err(io::ErrorKind::ConnectionReset.into()));
        }
        Poll::Ready(Ok(()))
    }

    fn poll_close(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let mut h = lock(self.outgoing());
        h.closed = true;
        h.wake();
        Poll::Ready(Ok(()))
    }
}

impl Drop for PipeEnd {
    fn drop(&mut self) {
        for half in [self.incoming(), self.outgoing()] {
            let mut h = lock(half);
            h.closed = true;
            h.wake();
        }
    }
}

// ----- the server's end: HTTP/1.1 and WebSocket ----------------------------------------

/// Serves one connection: HTTP/1.1 requests one after the other (keep-alive), or a
/// WebSocket after an upgrade (unless `websockets` drops it).
async fn serve(server: ScriptedServer, mut io: PipeEnd, websockets: Arc<WebSocketFilter>) {
    let mut buf = Vec::new();
    loop {
        let Some((request, head_len)) = read_head(&mut io, &mut buf).await else {
            return;
        };
        buf.drain(..head_len);
        io.pipe.busy.store(true, Ordering::SeqCst);
        let len = request
            .headers()
            .get(http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok()?.parse::<usize>().ok())
            .unwrap_or(0);
        while buf.len() < len {
            if !read_more(&mut io, &mut buf).await {
                return;
            }
        }
        let body = Bytes::from(buf.drain(..len).collect::<Vec<u8>>());
        if request
            .headers()
            .get(http::header::UPGRADE)
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"websocket"))
        {
            if websockets.drop.load(Ordering::SeqCst) {
                let query = request.uri().query().unwrap_or("").to_owned();
                lock(&websockets.dropped).push(query);
                io.pipe.reset();
                return;
            }
            return websocket(server, io, request).await;
        }
        let (parts, ()) = request.into_parts();
        let reply =
            HttpConnector::request(&server, http::Request::from_parts(parts, body), usize::MAX)
                .await;
        let (status, body) = match reply {
            Ok(resp) => (resp.status().as_u16(), resp.into_body()),
            Err(e) => (500, Bytes::from(e.to_string())),
        };
        let head = format!(
            "HTTP/1.1 {status} {}\r\ncontent-type: text/plain; charset=UTF-8\r\ncontent-length: {}\r\n\r\n",
            http::StatusCode::from_u16(status)
                .ok()
                .and_then(|s| s.canonical_reason())
                .unwrap_or("Unknown"),
            body.len()
        );
        if io.write_all(head.as_bytes()).await.is_err() || io.write_all(&body).await.is_err() {
            return;
        }
        io.pipe.busy.store(false, Ordering::SeqCst);
    }
}

/// Reads more bytes into `buf`; false at the end of the stream or on an error.
async fn read_more(io: &mut PipeEnd, buf: &mut Vec<u8>) -> bool {
    let mut chunk = [0u8; 4096];
    match io.read(&mut chunk).await {
        Ok(0) | Err(_) => false,
        Ok(n) => {
            buf.extend_from_slice(&chunk[..n]);
            true
        }
    }
}

/// The next request's head, parsed, and its length in `buf`.
async fn read_head(io: &mut PipeEnd, buf: &mut Vec<u8>) -> Option<(http::Request<()>, usize)> {
    loop {
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut parsed = httparse::Request::new(&mut headers);
        match parsed.parse(buf) {
            Ok(httparse::Status::Complete(n)) => {
                let mut request = http::Request::builder()
                    .method(parsed.method?)
                    .uri(parsed.path?);
                for h in parsed.headers.iter() {
                    request = request.header(h.name, h.value);
                }
                return Some((request.body(()).ok()?, n));
            }
            Ok(httparse::Status::Partial) => {
                if !read_more(io, buf).await {
                    return None;
                }
            }
            Err(_) => return None,
        }
    }
}

/// Answers a WebSocket handshake and carries frames between the socket and the scripted
/// server until either side ends.
async fn websocket(server: ScriptedServer, mut io: PipeEnd, request: http::Request<()>) {
    let key = request
        .headers()
        .get("sec-websocket-key")
        .map(|k| derive_accept_key(k.as_bytes()))
        .unwrap_or_default();
    let (to_server, from_server) =
        match WebSocketConnector::connect(&server, request, usize::MAX).await {
            Ok(socket) => socket.split(),
            Err(e) => {
                let status = match e.kind() {
                    engineio::connector::ConnectorErrorKind::HttpStatus(s) => s,
                    _ => 500,
                };
                let refusal = format!("HTTP/1.1 {status} Refused\r\ncontent-length: 0\r\n\r\n");
                let _ = io.write_all(refusal.as_bytes()).await;
                return;
            }
        };
    let accept = format!(
        "HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\n\
         sec-websocket-accept: {key}\r\n\r\n"
    );
    if io.write_all(accept.as_bytes()).await.is_err() {
        return;
    }
    let ws = WebSocketStream::from_raw_socket(io, Role::Server, None).await;
    let (mut ws_tx, mut ws_rx) = ws.split();
    let (mut to_server, mut from_server) = (to_server, from_server);
    let up = async move {
        while let Some(Ok(message)) = ws_rx.next().await {
            let message = match message {
                Message::Text(t) => WsMessage::Data(Frame::Text(ByteStr::from(t.as_str()))),
                Message::Binary(b) => WsMessage::Data(Frame::Binary(b)),
                Message::Close(frame) => WsMessage::Close {
                    code: frame.as_ref().map_or(1005, |f| f.code.into()),
                    reason: frame
                        .map(|f| f.reason.as_str().to_owned())
                        .unwrap_or_default(),
                },
                _ => continue,
            };
            let close = matches!(message, WsMessage::Close { .. });
            if to_server.send(message).await.is_err() || close {
                break;
            }
        }
    };
    let down = async move {
        while let Some(Ok(message)) = from_server.next().await {
            let message = match message {
                WsMessage::Data(Frame::Text(t)) => Message::text(t.as_str()),
                WsMessage::Data(Frame::Binary(b)) => Message::Binary(b),
                WsMessage::Close { code, reason } => Message::Close(Some(CloseFrame {
                    code: code.into(),
                    reason: reason.into(),
                })),
            };
            if ws_tx.send(message).await.is_err() {
                break;
            }
        }
        let _ = ws_tx.close(None).await;
    };
    // Either side's end ends the connection.
    futures::future::select(Box::pin(up), Box::pin(down)).await;
}
