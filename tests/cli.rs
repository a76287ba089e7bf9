//! The `eio` command-line client, end to end: the built binary against the real node
//! engine.io server (tests/common), fed on stdin and read live on stdout.
#![cfg(feature = "cli")]

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{Server, ServerKind};

/// How long any one step may take before the test fails (and the child is killed).
const STEP: Duration = Duration::from_secs(20);

/// A running `eio`, killed when dropped.
struct Eio {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: mpsc::Receiver<String>,
    /// Lines read from stdout and not yet matched by `expect`.
    pending: Vec<String>,
    /// Every stdout line so far, for failure messages.
    seen: Vec<String>,
    stderr: Arc<Mutex<String>>,
    /// The threads that read stdout and stderr: they end when eio closes them.
    readers: Vec<std::thread::JoinHandle<()>>,
}

impl Eio {
    fn start(args: &[&str]) -> Eio {
        let mut child = Command::new(env!("CARGO_BIN_EXE_eio"))
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("cannot start eio");
        let stdin = child.stdin.take();
        let out = child.stdout.take().expect("piped stdout");
        let (tx, rx) = mpsc::channel();
        let out_reader = std::thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut err = child.stderr.take().expect("piped stderr");
        let stderr = Arc::new(Mutex::new(String::new()));
        let sink = stderr.clone();
        let err_reader = std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n @ 1..) = err.read(&mut buf) {
                sink.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        Eio {
            child,
            stdin,
            stdout: rx,
            pending: Vec::new(),
            seen: Vec::new(),
            stderr,
            readers: vec![out_reader, err_reader],
        }
    }

    /// Once eio has exited: waits for the reader threads to reach the end of its output,
    /// and takes the stdout lines not yet seen.
    fn collect_output(&mut self) {
        for reader in self.readers.drain(..) {
            let _ = reader.join();
        }
        self.seen.extend(self.stdout.try_iter());
    }

    fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    fn fail(&mut self, why: &str) -> ! {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.collect_output();
        panic!(
            "{why}\n--- eio stdout ---\n{}\n--- eio stderr ---\n{}",
            self.seen.join("\n"),
            self.stderr()
        );
    }

    /// Writes one line to eio's stdin.
    fn send(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("stdin open");
        if let Err(e) = stdin
            .write_all(format!("{line}\n").as_bytes())
            .and_then(|()| stdin.flush())
        {
            self.fail(&format!("cannot write {line:?} to eio's stdin: {e}"));
        }
    }

    fn close_stdin(&mut self) {
        self.stdin = None;
    }

    /// Waits for a stdout event (the line after its timestamp) starting with `prefix`,
    /// among the lines not matched yet, and returns it.
    fn expect(&mut self, prefix: &str) -> String {
        let deadline = Instant::now() + STEP;
        loop {
            if let Some(i) = self
                .pending
                .iter()
                .position(|l| event(l).starts_with(prefix))
            {
                return event(&self.pending.remove(i)).to_owned();
            }
            let left = deadline.saturating_duration_since(Instant::now());
            match self.stdout.recv_timeout(left) {
                Ok(line) => {
                    if !has_timestamp(&line) {
                        self.seen.push(line.clone());
                        self.fail(&format!("stdout line without a timestamp: {line:?}"));
                    }
                    self.seen.push(line.clone());
                    self.pending.push(line);
                }
                Err(_) => self.fail(&format!("no stdout line starting with {prefix:?}")),
            }
        }
    }

    /// Waits for eio to exit and returns its exit code.
    fn exit_code(&mut self) -> i32 {
        let deadline = Instant::now() + STEP;
        loop {
            match self.child.try_wait() {
                Ok(Some(status)) => {
                    self.collect_output();
                    return status.code().expect("eio exited by a signal");
                }
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(20));
                }
                Ok(None) => self.fail("eio did not exit"),
                Err(e) => self.fail(&format!("cannot wait for eio: {e}")),
            }
        }
    }
}

impl Drop for Eio {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `HH:MM:SS.mmm ` then the event.
fn has_timestamp(line: &str) -> bool {
    let b = line.as_bytes();
    b.len() > 13
        && b[..13].iter().enumerate().all(|(i, &c)| match i {
            2 | 5 => c == b':',
            8 => c == b'.',
            12 => c == b' ',
            _ => c.is_ascii_digit(),
        })
}

fn event(line: &str) -> &str {
    line.get(13..).unwrap_or("")
}

fn node() -> Server {
    Server::start(ServerKind::Node, &[])
}

#[test]
fn text_messages_then_stdin_eof_is_a_client_disconnect() {
    let server = node();
    let url = server.url();
    let mut eio = Eio::start(&["connect", &url]);
    let connected = eio.expect("connected ");
    let sid = connected
        .strip_prefix("connected sid=")
        .and_then(|s| s.strip_suffix(" transport=polling protocol=4"))
        .unwrap_or_else(|| eio.fail(&format!("bad connect line {connected:?}")))
        .to_owned();
    assert!(!sid.is_empty() && !sid.contains(' '), "{connected}");
    // The connection opened on polling; an upgrade, however soon, is reported after it.
    assert!(
        event(&eio.seen[0]).starts_with("connected "),
        "{:?}",
        eio.seen
    );
    eio.send("hello");
    eio.send("héllo €");
    eio.send("");
    assert_eq!(
        eio.expect("message text \"hello\""),
        "message text \"hello\""
    );
    eio.expect("message text \"héllo €\"");
    eio.expect("message text \"\"");
    eio.expect("upgraded transport=websocket");
    // And after the upgrade, on the WebSocket.
    eio.send("quote \" and tab\t");
    eio.expect(r#"message text "quote \" and tab\t""#);

    eio.close_stdin();
    assert_eq!(
        eio.expect("disconnected"),
        "disconnected: client disconnect"
    );
    assert_eq!(eio.exit_code(), 0, "stderr: {}", eio.stderr());
    assert!(
        server
            .wait_line(&format!("DISCONNECT {sid}"), STEP)
            .is_some(),
        "the server never saw the session end"
    );
    assert_eq!(eio.stderr(), "", "nothing on stderr without -v");
}

#[test]
fn binary_lines_are_hex_and_bad_ones_are_skipped() {
    let server = node();
    let url = server.url();
    let mut eio = Eio::start(&["connect", &url, "--binary", "--transport", "websocket"]);
    eio.expect("connected sid=");
    eio.send("0102ff");
    eio.send("0x12");
    eio.send("abc");
    eio.send("00 7F");
    eio.send("");
    eio.expect("message binary 3 bytes 0102ff");
    eio.expect("message binary 2 bytes 007f");
    eio.expect("message binary 0 bytes");
    // The server sends binary for `binary <hex>`; text still prints as text.
    eio.close_stdin();
    assert_eq!(
        eio.expect("disconnected"),
        "disconnected: client disconnect"
    );
    assert_eq!(eio.exit_code(), 0);
    let stderr = eio.stderr();
    assert!(
        stderr.contains("eio: stdin line 2 not sent: 'x' is not a hex digit"),
        "{stderr}"
    );
    assert!(
        stderr.contains("eio: stdin line 3 not sent: odd number of hex digits"),
        "{stderr}"
    );
    assert!(
        !eio.seen.iter().any(|l| event(l).starts_with("upgraded")),
        "websocket-only never upgrades: {:?}",
        eio.seen
    );
}

#[test]
fn binary_from_the_server_prints_as_hex() {
    let server = node();
    let url = server.url();
    let mut eio = Eio::start(&["connect", &url, "--transport", "polling"]);
    eio.expect("connected sid=");
    eio.send("binary 00ff10");
    eio.send("binary 2a");
    eio.expect("message binary 3 bytes 00ff10");
    eio.expect("message binary 1 byte 2a");
    eio.close_stdin();
    eio.expect("disconnected: client disconnect");
    assert_eq!(eio.exit_code(), 0);
}

#[test]
fn server_close_is_a_server_disconnect_and_exits_0() {
    for transport in ["polling", "websocket", "upgrade"] {
        let server = node();
        let url = server.url();
        let mut eio = Eio::start(&["connect", &url, "--transport", transport]);
        let connected = eio.expect("connected sid=");
        let first = if transport == "websocket" {
            "websocket"
        } else {
            "polling"
        };
        assert!(
            connected.ends_with(&format!(" transport={first} protocol=4")),
            "{connected}"
        );
        if transport == "upgrade" {
            eio.expect("upgraded transport=websocket");
        }
        eio.send("close");
        // stdin stays open: the server's close alone ends eio.
        let line = eio.expect("disconnected");
        match transport {
            // node closes a polling session with a close packet, a WebSocket with a
            // close frame and no packet.
            "polling" => assert_eq!(line, "disconnected: server disconnect: close packet"),
            _ => assert!(
                line.starts_with("disconnected: server disconnect: "),
                "{transport}: {line}"
            ),
        }
        assert_eq!(eio.exit_code(), 0, "{transport}: {}", eio.stderr());
    }
}

#[test]
fn a_killed_server_is_a_transport_error_and_exits_1() {
    for transport in ["polling", "websocket"] {
        let mut server = node();
        let url = server.url();
        let mut eio = Eio::start(&["connect", &url, "--transport", transport]);
        eio.expect("connected sid=");
        eio.send("ping?");
        eio.expect("message text \"ping?\"");
        server.kill();
        let line = eio.expect("disconnected");
        assert!(
            line.starts_with("disconnected: transport error: "),
            "{transport}: {line}"
        );
        assert_eq!(eio.exit_code(), 1, "{transport}");
    }
}

#[test]
fn a_refused_connection_exits_1_with_one_line() {
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let url = format!("http://127.0.0.1:{port}");
    let mut eio = Eio::start(&["connect", &url]);
    assert_eq!(eio.exit_code(), 1);
    let stderr = eio.stderr();
    assert!(
        stderr.starts_with(&format!("eio: cannot connect to {url}: ")),
        "{stderr}"
    );
    assert!(stderr.contains("refused"), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(eio.seen.is_empty(), "{:?}", eio.seen);
}

#[test]
fn headers_path_and_query_reach_the_server() {
    // A one-shot HTTP server that records the handshake request and answers 403.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let (mut conn, _) = listener.accept().unwrap();
        let mut reader = BufReader::new(conn.try_clone().unwrap());
        let mut head = String::new();
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                break;
            }
            head.push_str(&line);
        }
        let body = r#"{"code":4,"message":"Forbidden"}"#;
        let _ = write!(
            conn,
            "HTTP/1.1 403 Forbidden\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        let _ = tx.send(head);
    });
    let mut eio = Eio::start(&[
        "connect",
        &url,
        "--transport=polling",
        "-H",
        "X-Token: abc def",
        "-HX-Other:1",
        "--path",
        "/custom/",
        "--query",
        "room=lobby",
        "--query=k=v=w",
    ]);
    assert_eq!(eio.exit_code(), 1);
    let head = rx.recv_timeout(STEP).expect("no request");
    let request_line = head.lines().next().unwrap();
    assert!(
        request_line
            .starts_with("GET /custom/?room=lobby&k=v%3Dw&EIO=4&transport=polling HTTP/1.1"),
        "{head}"
    );
    let lower = head.to_ascii_lowercase();
    assert!(lower.contains("\r\nx-token: abc def\r\n"), "{head}");
    assert!(lower.contains("\r\nx-other: 1\r\n"), "{head}");
    let stderr = eio.stderr();
    assert_eq!(
        stderr.trim_end(),
        format!("eio: cannot connect to {url}: HTTP 403: Forbidden (code 4)"),
    );
}

#[test]
fn verbose_logs_the_client_records_on_stderr() {
    let server = node();
    let url = server.url();
    let mut eio = Eio::start(&["-vv", "connect", &url, "--transport", "polling"]);
    eio.expect("connected sid=");
    eio.close_stdin();
    eio.expect("disconnected: client disconnect");
    assert_eq!(eio.exit_code(), 0);
    let stderr = eio.stderr();
    assert!(stderr.contains(" TRACE engineio"), "{stderr}");
    assert!(
        stderr.contains("/engine.io/?EIO=4&transport=polling"),
        "{stderr}"
    );
    assert!(
        stderr
            .lines()
            .all(|l| has_timestamp(l) && l.contains(" engineio")),
        "{stderr}"
    );
}

#[test]
fn usage_errors_exit_2() {
    let url = "http://127.0.0.1:9";
    let cases: &[&[&str]] = &[
        &[],
        &["connect"],
        &["fetch", url],
        &["connect", url, "extra"],
        &["connect", url, "--bogus"],
        &["--transport", "pigeon", "connect", url],
        &["connect", url, "--transport"],
        &["connect", url, "-H", "no colon"],
        &["connect", url, "--query", "novalue"],
        &["connect", url, "--binary=yes"],
    ];
    for args in cases {
        let mut eio = Eio::start(args);
        assert_eq!(eio.exit_code(), 2, "{args:?}");
        let stderr = eio.stderr();
        assert!(
            stderr.starts_with("eio: ") && stderr.contains("Try 'eio --help'"),
            "{args:?}: {stderr}"
        );
        assert!(eio.seen.is_empty(), "{args:?}: {:?}", eio.seen);
    }
    // Refused by the client itself, before any connection.
    for args in [
        &["connect", "ftp://example.com"][..],
        &["connect", url, "-H", "bad name: x"],
    ] {
        let mut eio = Eio::start(args);
        assert_eq!(eio.exit_code(), 2, "{args:?}");
        let stderr = eio.stderr();
        assert!(stderr.starts_with("eio: "), "{args:?}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
    }
}

#[test]
fn help_and_version() {
    for flag in ["--help", "-h"] {
        let mut eio = Eio::start(&["connect", "http://127.0.0.1:9", flag]);
        assert_eq!(eio.exit_code(), 0);
        let text = eio.seen.join("\n");
        assert!(text.contains("Usage: eio connect URL [OPTIONS]"), "{text}");
        for option in [
            "--transport",
            "--header",
            "--path",
            "--query",
            "--binary",
            "-v",
        ] {
            assert!(text.contains(option), "{option} missing from the help");
        }
    }
    let mut eio = Eio::start(&["--version"]);
    assert_eq!(eio.exit_code(), 0);
    assert!(eio.seen[0].starts_with("eio "), "{:?}", eio.seen);
}

/// `--reconnect`: a killed server is a transport error, then `reconnecting` lines, and once
/// the server is back on its port the client connects again on a new session and goes on;
/// end of stdin still disconnects and exits 0.
#[test]
fn reconnect_rides_over_a_server_restart() {
    let mut server = node();
    let port = server.port;
    let url = server.url();
    let mut eio = Eio::start(&["connect", &url, "--reconnect", "--transport", "websocket"]);
    let first = eio.expect("connected sid=");
    server.kill();
    assert!(
        eio.expect("disconnected")
            .starts_with("disconnected: transport error"),
        "a killed server is a transport error"
    );
    // socket.io's first wait: 1 s, +-50 %.
    let line = eio.expect("reconnecting attempt=1 delay=");
    let ms: u64 = line
        .trim_start_matches("reconnecting attempt=1 delay=")
        .trim_end_matches("ms")
        .parse()
        .unwrap_or_else(|_| panic!("{line}"));
    assert!((500..=1500).contains(&ms), "{line}");
    let _server = Server::start_on(ServerKind::Node, port, &[]);
    let second = eio.expect("connected sid=");
    assert_ne!(first, second, "a new session");
    eio.send("after the restart");
    eio.expect("message text \"after the restart\"");
    eio.close_stdin();
    assert_eq!(
        eio.expect("disconnected"),
        "disconnected: client disconnect"
    );
    assert_eq!(eio.exit_code(), 0, "stderr: {}", eio.stderr());
}

/// `--reconnect`: the end of stdin while reconnecting (between two connections) stops the
/// client and exits with 1 (the last connection was lost); no attempt follows.
#[test]
fn reconnect_end_of_stdin_while_reconnecting_exits() {
    let mut server = node();
    let url = server.url();
    let mut eio = Eio::start(&["connect", &url, "--reconnect", "--transport", "websocket"]);
    eio.expect("connected sid=");
    server.kill();
    eio.expect("disconnected: transport error");
    eio.expect("reconnecting attempt=1 delay=");
    eio.close_stdin();
    assert_eq!(eio.exit_code(), 1, "stderr: {}", eio.stderr());
    assert!(
        !eio.seen
            .iter()
            .any(|l| event(l).starts_with("reconnecting attempt=2")),
        "an attempt after the end of stdin: {:?}",
        eio.seen
    );
}

/// `--reconnect` with a first connect that fails (nothing listens): the attempts show as
/// they come, and the end of stdin gives up with the last failure, exit status 1.
#[test]
fn reconnect_a_failing_first_connect_shows_its_attempts_and_ends_with_stdin() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap()
        .port();
    let mut eio = Eio::start(&[
        "connect",
        &format!("http://127.0.0.1:{port}"),
        "--reconnect",
    ]);
    eio.expect("reconnecting attempt=1 delay=");
    eio.close_stdin();
    assert_eq!(eio.exit_code(), 1);
    let stderr = eio.stderr();
    assert!(
        stderr.contains(&format!("cannot connect to http://127.0.0.1:{port}")),
        "{stderr}"
    );
}
