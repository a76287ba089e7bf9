//! An in-process Engine.IO v4 server built on the real `engineioxide` crate (a
//! dev-dependency), for the tests and the examples.
//!
//! It follows the same contract as the child-process servers in `tests/servers/`
//! (see `tests/servers/README.md`):
//!
//! * listens on `127.0.0.1`, port 0 (random); Engine.IO path `/engine.io/`
//!   (`/engine.io` without the slash is a 404, like node);
//! * per message from a client:
//!   * text `close` → the server closes that session;
//!   * text `burst N` → text messages `burst-0` … `burst-{N-1}`, in order;
//!   * text `binary <hex>` → one binary message with those bytes
//!     (`binary ` with nothing after it → an empty binary message);
//!   * anything else → echoed unchanged (binary stays binary);
//! * ping interval, ping timeout and max payload come from [`EmbeddedConfig`];
//! * every session end is recorded (sid + reason) for [`EmbeddedServer::wait_disconnect`].
//!
//! The server runs on its own tokio runtime, on its own thread, so it works whatever
//! runtime (or none) the caller uses. [`EmbeddedServer::stop`] (or dropping the server)
//! shuts that runtime down: the listener and every connection are dropped abruptly.
//!
//! Disconnect reasons are engineioxide's own `DisconnectReason` variant names:
//!
//! | cause | reason |
//! | --- | --- |
//! | message `close` (server closes the session) | `ClosingServer` (engineioxide has no "forced close" variant) |
//! | client sends the close packet `1` | `TransportClose` |
//! | client closes the WebSocket (close frame) | `TransportClose` |
//! | client drops the WebSocket's TCP connection without a close frame | `TransportError` |
//! | ping timeout | `HeartbeatTimeout` |
//! | two concurrent long-poll GETs | `MultipleHttpPollingError` |
//! | undecodable packet / POST over max payload | `PacketParsingError` |
//!
//! Stopping the server does not report the open sessions as ended.
//!
//! Include it with `mod embedded;` (tests) or
//! `#[path = "../tests/common/embedded.rs"] mod embedded;` (examples).

use std::collections::HashMap;
use std::net::{SocketAddr, TcpListener as StdTcpListener};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bytes::Bytes;
use engineioxide::config::EngineIoConfig;
use engineioxide::handler::EngineIoHandler;
use engineioxide::service::EngineIoService;
use engineioxide::{DisconnectReason, Socket, Str};

/// Packets a session may have queued for the client before `emit` fails. engineioxide's
/// default is 128, too small for `burst 2000` over long-polling (nothing is sent until the
/// next GET), so it is raised; the channel only allocates for what is really queued.
#[allow(dead_code)]
const MAX_BUFFERED_PACKETS: usize = 1 << 16;

/// Settings of an [`EmbeddedServer`].
#[allow(dead_code)]
#[derive(Clone, Debug)]
pub struct EmbeddedConfig {
    /// `pingInterval`, announced in the handshake (exact milliseconds). Default 25 s.
    pub ping_interval: Duration,
    /// `pingTimeout`, announced in the handshake. Default 20 s.
    pub ping_timeout: Duration,
    /// `maxPayload`, announced in the handshake and enforced on POST bodies. Default 1,000,000.
    pub max_payload: u64,
}

impl Default for EmbeddedConfig {
    fn default() -> Self {
        EmbeddedConfig {
            ping_interval: Duration::from_millis(25_000),
            ping_timeout: Duration::from_millis(20_000),
            max_payload: 1_000_000,
        }
    }
}

/// Sessions that ended: sid → reason, plus a condition variable to wait on.
#[derive(Debug, Default)]
struct Disconnects {
    ended: Mutex<HashMap<String, String>>,
    changed: Condvar,
}

impl Disconnects {
    fn record(&self, sid: String, reason: String) {
        let mut ended = self.ended.lock().unwrap_or_else(|e| e.into_inner());
        ended.insert(sid, reason);
        self.changed.notify_all();
    }

    fn wait(&self, sid: &str, timeout: Duration) -> Option<String> {
        let deadline = Instant::now() + timeout;
        let mut ended = self.ended.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if let Some(reason) = ended.get(sid) {
                return Some(reason.clone());
            }
            let now = Instant::now();
            if now >= deadline {
                return None;
            }
            ended = self
                .changed
                .wait_timeout(ended, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }
}

/// The engineioxide handler: the test-server contract.
#[derive(Debug)]
struct Handler {
    disconnects: Arc<Disconnects>,
}

/// `binary <hex>` → the bytes; `None` if the text after `binary ` isn't whole hex bytes.
fn parse_hex(hex: &str) -> Option<Vec<u8>> {
    if hex.len() % 2 != 0 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).ok())
        .collect()
}

/// `burst N` → N; `None` unless N is all ASCII digits (like node's `^burst (\d+)$`).
fn parse_burst(text: &str) -> Option<u64> {
    let n = text.strip_prefix("burst ")?;
    if n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    n.parse().ok()
}

impl EngineIoHandler for Handler {
    type Data = ();

    fn on_connect(self: Arc<Self>, _socket: Arc<Socket<()>>) {}

    fn on_disconnect(&self, socket: Arc<Socket<()>>, reason: DisconnectReason) {
        self.disconnects
            .record(socket.id.to_string(), format!("{reason:?}"));
    }

    fn on_message(self: &Arc<Self>, msg: Str, socket: Arc<Socket<()>>) {
        let text: &str = msg.as_str();
        if text == "close" {
            socket.close(DisconnectReason::ClosingServer);
            return;
        }
        if let Some(n) = parse_burst(text) {
            for i in 0..n {
                if socket.emit(format!("burst-{i}")).is_err() {
                    eprintln!("embedded engineioxide: burst-{i} dropped (buffer full or closed)");
                    break;
                }
            }
            return;
        }
        if let Some(bytes) = text.strip_prefix("binary ").and_then(parse_hex) {
            socket.emit_binary(bytes).ok();
            return;
        }
        socket.emit(msg).ok();
    }

    fn on_binary(self: &Arc<Self>, data: Bytes, socket: Arc<Socket<()>>) {
        socket.emit_binary(data).ok();
    }
}

/// A running in-process engineioxide server; stopped by [`EmbeddedServer::stop`] or on drop.
#[allow(dead_code)]
pub struct EmbeddedServer {
    addr: SocketAddr,
    disconnects: Arc<Disconnects>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

#[allow(dead_code)]
impl EmbeddedServer {
    /// Starts the server on its own tokio runtime thread(s) so that it works whatever
    /// runtime (or none) the caller uses. The port is bound before this returns, so the
    /// server accepts connections as soon as it has returned.
    pub fn start(config: EmbeddedConfig) -> EmbeddedServer {
        let listener = StdTcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        listener
            .set_nonblocking(true)
            .expect("set the listener non-blocking");
        let addr = listener.local_addr().expect("listener address");

        let disconnects = Arc::new(Disconnects::default());
        let handler = Arc::new(Handler {
            disconnects: disconnects.clone(),
        });
        let eio_config = EngineIoConfig::builder()
            .req_path("/engine.io/")
            .ping_interval(config.ping_interval)
            .ping_timeout(config.ping_timeout)
            .max_payload(config.max_payload)
            .max_buffer_size(MAX_BUFFERED_PACKETS)
            .build();
        let service = EngineIoService::with_config(handler, eio_config);

        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("embedded-engineioxide")
            .enable_all()
            .build()
            .expect("build the embedded server's tokio runtime");
        let (shutdown_tx, shutdown_rx) = tokio::sync::oneshot::channel::<()>();

        let thread = std::thread::Builder::new()
            .name("embedded-engineioxide".into())
            .spawn(move || {
                runtime.block_on(async move {
                    let listener = tokio::net::TcpListener::from_std(listener)
                        .expect("register the listener with tokio");
                    serve(listener, service, shutdown_rx).await;
                });
                // Drops the listener, every connection task and every session task.
                runtime.shutdown_timeout(Duration::from_secs(1));
            })
            .expect("spawn the embedded server thread");

        EmbeddedServer {
            addr,
            disconnects,
            shutdown: Some(shutdown_tx),
            thread: Some(thread),
        }
    }

    /// The port the server listens on (on 127.0.0.1).
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.addr.port())
    }

    /// Blocks up to `timeout` until the server has seen session `sid` end; returns its
    /// reason as text (engineioxide's `DisconnectReason` variant name, e.g.
    /// `TransportClose`), or `None` on timeout. Blocks the calling thread: from an async
    /// test, call it where blocking is acceptable (e.g. `spawn_blocking`).
    pub fn wait_disconnect(&self, sid: &str, timeout: Duration) -> Option<String> {
        self.disconnects.wait(sid, timeout)
    }

    /// Every session seen ending so far: (sid, reason), in no particular order.
    pub fn disconnects(&self) -> Vec<(String, String)> {
        let ended = self
            .disconnects
            .ended
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        ended
            .iter()
            .map(|(sid, reason)| (sid.clone(), reason.clone()))
            .collect()
    }

    /// Stops the server abruptly: drops the listener and all connections (no close
    /// packets are sent), shuts its runtime down and joins its thread.
    pub fn stop(self) {
        // Drop does the work.
    }

    fn shutdown(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            tx.send(()).ok();
        }
        if let Some(thread) = self.thread.take() {
            thread.join().ok();
        }
    }
}

impl Drop for EmbeddedServer {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Accepts connections until `shutdown` fires (or its sender is dropped), serving each
/// with hyper's HTTP/1 server with upgrades enabled (WebSocket).
async fn serve(
    listener: tokio::net::TcpListener,
    service: EngineIoService<Handler>,
    mut shutdown: tokio::sync::oneshot::Receiver<()>,
) {
    loop {
        tokio::select! {
            _ = &mut shutdown => return,
            accepted = listener.accept() => {
                let (stream, _) = match accepted {
                    Ok(conn) => conn,
                    Err(e) => {
                        eprintln!("embedded engineioxide: accept failed: {e}");
                        tokio::time::sleep(Duration::from_millis(10)).await;
                        continue;
                    }
                };
                stream.set_nodelay(true).ok();
                let service = service.clone();
                tokio::spawn(async move {
                    let io = hyper_util::rt::TokioIo::new(stream);
                    // Errors are the client's doing (reset, bad request): nothing to report.
                    hyper::server::conn::http1::Builder::new()
                        .serve_connection(io, service)
                        .with_upgrades()
                        .await
                        .ok();
                });
            }
        }
    }
}

/// For the examples: the server named by the first command-line argument or, without one,
/// an embedded server started for the occasion.
#[allow(dead_code)]
pub struct ExampleServer {
    /// The server's URL.
    pub url: String,
    embedded: Option<EmbeddedServer>,
}

/// See [`ExampleServer`].
#[allow(dead_code)]
pub fn server_for_example() -> ExampleServer {
    match std::env::args().nth(1) {
        Some(url) => ExampleServer {
            url,
            embedded: None,
        },
        None => {
            let server = EmbeddedServer::start(EmbeddedConfig::default());
            let url = server.url();
            println!("started an Engine.IO server (engineioxide) on {url}");
            ExampleServer {
                url,
                embedded: Some(server),
            }
        }
    }
}

#[allow(dead_code)]
impl ExampleServer {
    /// Stops the embedded server, if any, and turns the example's result into an exit
    /// code, printing `what: error` on failure.
    pub fn finish<E: std::fmt::Display>(
        self,
        result: Result<(), E>,
        what: &str,
    ) -> std::process::ExitCode {
        if let Some(server) = self.embedded {
            server.stop();
        }
        match result {
            Ok(()) => std::process::ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("{what}: {e}");
                std::process::ExitCode::FAILURE
            }
        }
    }
}
