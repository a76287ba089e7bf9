//! Real Engine.IO servers for the interop tests: node engine.io and python-engineio,
//! started as child processes on 127.0.0.1 with a random port (installed by
//! `scripts/test-servers-setup.sh`, which the test command runs first).
#![allow(dead_code)]

pub mod counted;
pub mod embedded;
pub mod harness;
pub mod proxies;
pub mod proxy;
pub mod raw;
pub mod rss;
pub mod rules;
pub mod tls;

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// Which real server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ServerKind {
    /// node engine.io 6.6.13.
    Node,
    /// node engine.io 3.6.2: protocol v3 only (the engine of socket.io 2.x); answers any
    /// `EIO` (even `EIO=4`) with a v3 handshake.
    NodeV3,
    /// python-engineio 3.14.2 under aiohttp 3.9.5: protocol v3 only (the engine of
    /// python-socketio 4.x); a handshake without `EIO=3` (or `2`) is a 400.
    PythonV3,
    /// python-engineio 4.15.1 under aiohttp.
    PythonAiohttp,
    /// python-engineio 4.15.1 under uvicorn (ASGI).
    PythonAsgi,
    /// engineioxide 0.17, in this process.
    Engineioxide,
}

impl ServerKind {
    pub const ALL: [ServerKind; 4] = [
        ServerKind::Node,
        ServerKind::PythonAiohttp,
        ServerKind::PythonAsgi,
        ServerKind::Engineioxide,
    ];

    /// The protocol v3 servers run as child processes (same contract as the v4 ones, see
    /// `tests/servers/README.md`). (The embedded engineioxide server speaks v3 too, to a
    /// client that asks for `EIO=3`.)
    pub const V3: [ServerKind; 2] = [ServerKind::NodeV3, ServerKind::PythonV3];
}

/// A running server; killed when dropped.
pub struct Server {
    pub kind: ServerKind,
    pub port: u16,
    inner: Inner,
}

enum Inner {
    Process {
        child: Child,
        lines: mpsc::Receiver<String>,
    },
    Embedded(Option<embedded::EmbeddedServer>),
}

fn env_ms(env: &[(&str, &str)], key: &str) -> Option<Duration> {
    env.iter()
        .find(|(k, _)| *k == key)
        .and_then(|(_, v)| v.parse().ok())
        .map(Duration::from_millis)
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/servers")
}

/// The interpreter of the venv `tests/servers/<dir>/.venv`; panics when it isn't installed.
fn venv_python(dir: &str) -> PathBuf {
    let py = root().join(dir).join(".venv/bin/python");
    assert!(
        py.exists(),
        "{} is missing: run scripts/test-servers-setup.sh (the README's test command does)",
        py.display()
    );
    py
}

impl Server {
    /// Starts `kind` with the given environment (`EIO_PING_INTERVAL_MS`, …).
    pub fn start(kind: ServerKind, env: &[(&str, &str)]) -> Server {
        if kind == ServerKind::Engineioxide {
            let mut config = embedded::EmbeddedConfig::default();
            if let Some(d) = env_ms(env, "EIO_PING_INTERVAL_MS") {
                config.ping_interval = d;
            }
            if let Some(d) = env_ms(env, "EIO_PING_TIMEOUT_MS") {
                config.ping_timeout = d;
            }
            let server = embedded::EmbeddedServer::start(config);
            return Server {
                kind,
                port: server.port(),
                inner: Inner::Embedded(Some(server)),
            };
        }
        let mut cmd = match kind {
            ServerKind::Engineioxide => unreachable!(),
            ServerKind::Node => {
                let mut c = Command::new("node");
                c.arg(root().join("node/server.js"));
                c
            }
            ServerKind::NodeV3 => {
                let mut c = Command::new("node");
                c.arg(root().join("node/server-v3.js"));
                c
            }
            ServerKind::PythonAiohttp | ServerKind::PythonAsgi => {
                let mut c = Command::new(venv_python("python"));
                c.arg(root().join("python/server.py")).arg("--mode").arg(
                    if kind == ServerKind::PythonAiohttp {
                        "aiohttp"
                    } else {
                        "asgi"
                    },
                );
                c
            }
            ServerKind::PythonV3 => {
                let mut c = Command::new(venv_python("python-v3"));
                c.arg(root().join("python-v3/server.py"));
                c
            }
        };
        cmd.envs(env.iter().copied())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start the {kind:?} server: {e}"));
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let port = loop {
            match rx.recv_timeout(Duration::from_secs(30)) {
                Ok(line) => {
                    if let Some(p) = line.strip_prefix("LISTENING ") {
                        break p.trim().parse().expect("port number");
                    }
                }
                Err(e) => panic!("the {kind:?} server did not start: {e}"),
            }
        };
        Server {
            kind,
            port,
            inner: Inner::Process { child, lines: rx },
        }
    }

    /// Starts `kind` on `port` (the node servers honour `EIO_PORT`): a server restarted
    /// behind the address of one that was killed. Panics if it cannot listen there.
    pub fn start_on(kind: ServerKind, port: u16, env: &[(&str, &str)]) -> Server {
        assert!(
            matches!(kind, ServerKind::Node | ServerKind::NodeV3),
            "only the node servers take EIO_PORT"
        );
        let port_text = port.to_string();
        let mut with_port: Vec<(&str, &str)> = env
            .iter()
            .copied()
            .filter(|(k, _)| *k != "EIO_PORT")
            .collect();
        with_port.push(("EIO_PORT", &port_text));
        let server = Server::start(kind, &with_port);
        assert_eq!(server.port, port, "the {kind:?} server listens elsewhere");
        server
    }

    /// The server's URL.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Waits up to `timeout` for a stdout line starting with `prefix`.
    pub fn wait_line(&self, prefix: &str, timeout: Duration) -> Option<String> {
        let lines = match &self.inner {
            Inner::Process { lines, .. } => lines,
            Inner::Embedded(server) => {
                // Only `DISCONNECT <sid>` lines exist for the embedded server.
                let sid = prefix.strip_prefix("DISCONNECT ")?;
                let reason = server.as_ref()?.wait_disconnect(sid, timeout)?;
                return Some(format!("DISCONNECT {sid} {reason}"));
            }
        };
        let deadline = std::time::Instant::now() + timeout;
        loop {
            let left = deadline.checked_duration_since(std::time::Instant::now())?;
            match lines.recv_timeout(left) {
                Ok(line) if line.starts_with(prefix) => return Some(line),
                Ok(_) => {}
                Err(_) => return None,
            }
        }
    }

    /// The stdout lines printed so far and not yet read.
    pub fn drain_lines(&self) -> Vec<String> {
        match &self.inner {
            Inner::Process { lines, .. } => lines.try_iter().collect(),
            Inner::Embedded(_) => Vec::new(),
        }
    }

    /// The `COOKIE …` lines printed so far (node with `EIO_COOKIE=1`).
    pub fn cookie_lines(&self) -> Vec<String> {
        self.drain_lines()
            .into_iter()
            .filter(|l| l.starts_with("COOKIE"))
            .collect()
    }

    /// Stops a server process (SIGSTOP) without closing anything: its sockets stay open
    /// and nothing answers on them, as with a hung server or a silent network. `kill` (and
    /// the drop) still end it. Does nothing to the embedded server.
    pub fn pause(&mut self) {
        if let Inner::Process { child, .. } = &self.inner {
            let pid = i32::try_from(child.id()).expect("a pid");
            // SAFETY: kill(2) with a pid of our own child and a valid signal number.
            let rc = unsafe { libc::kill(pid, libc::SIGSTOP) };
            assert_eq!(rc, 0, "SIGSTOP failed");
        }
    }

    /// Kills the server abruptly (SIGKILL): its sockets are reset or left dangling.
    pub fn kill(&mut self) {
        match &mut self.inner {
            Inner::Process { child, .. } => {
                let _ = child.kill();
                let _ = child.wait();
            }
            Inner::Embedded(server) => {
                if let Some(s) = server.take() {
                    s.stop();
                }
            }
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The next event of `events` other than `Upgraded` (the upgrade has tests of its own), or
/// `None` after `timeout` (on the client's own timer, so it works on every runtime).
pub async fn next_event(
    eio: &engineio::AsyncClient,
    events: &mut (impl futures::Stream<Item = engineio::ClientEvent> + Unpin),
    timeout: Duration,
) -> Option<engineio::ClientEvent> {
    use futures::StreamExt;
    use futures::future::{Either, select};
    let mut sleep = std::pin::pin!(eio.sleep(timeout));
    loop {
        match select(events.next(), sleep.as_mut()).await {
            Either::Left((Some(engineio::ClientEvent::Upgraded), _)) => {}
            Either::Left((ev, _)) => return ev,
            Either::Right(_) => return None,
        }
    }
}

/// The next event, which must be a message within 10 s; `label` names the case on failure.
pub async fn next_message(
    eio: &engineio::AsyncClient,
    events: &mut (impl futures::Stream<Item = engineio::ClientEvent> + Unpin),
    label: &str,
) -> engineio::Payload {
    match next_event(eio, events, Duration::from_secs(10)).await {
        Some(engineio::ClientEvent::Message(p)) => p,
        other => panic!("{label}: expected a message, got {other:?}"),
    }
}

/// Waits (10 s at most) until the client runs on WebSocket.
pub async fn wait_for_websocket(eio: &engineio::AsyncClient) {
    let start = std::time::Instant::now();
    while eio.transport() != Some(engineio::TransportKind::WebSocket) {
        assert!(start.elapsed() < Duration::from_secs(10), "no upgrade");
        eio.sleep(Duration::from_millis(10)).await;
    }
}
