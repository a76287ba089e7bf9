//! `eio`: a command-line Engine.IO client, on tokio (Cargo feature `cli`).
//!
//! ```text
//! $ cargo run --features cli --bin eio -- connect http://127.0.0.1:5000
//! 12:34:56.789 connected sid=Xw4… transport=polling protocol=4
//! 12:34:56.802 upgraded transport=websocket
//! hello                                         <- typed on stdin, sent as a text message
//! 12:34:58.120 message text "hello"
//! ```
//!
//! Every event goes to stdout, one line each, flushed at once; errors and logs go to
//! stderr. Run `eio --help` for the options and exit statuses.

use std::fmt;
use std::io::{self, BufRead, Write};
use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use engineio::{
    AsyncClient, ClientBuilder, ClientEvent, DisconnectReason, Error, Payload, Protocol, Reconnect,
    TransportKind, Transports,
};
use futures::channel::mpsc;
use futures::stream;
use futures::{FutureExt, StreamExt};

const USAGE: &str = "\
eio: a command-line Engine.IO client (protocol v4 and v3)

Usage: eio connect URL [OPTIONS]
       eio --help | --version

Connects to the Engine.IO server at URL (http://, https://, ws:// or wss://; the
URL's path is not used, see --path), prints every event on stdout, one line each
with a UTC timestamp, and sends each line read from stdin as a text message. End of
stdin disconnects.

Options:
      --transport KIND      polling, websocket, or upgrade: polling, then WebSocket
                            when the server offers it (default: upgrade)
  -H, --header 'NAME: VALUE'
                            add a header to every request (repeatable)
      --path PATH           the Engine.IO path on the server (default: engine.io;
                            socket.io servers use socket.io)
      --query KEY=VALUE     add a query parameter to every request (repeatable)
      --binary              send each stdin line as a binary message, written in
                            hex (\"01 02 ff\" or \"0102ff\"); bad lines are reported
                            on stderr and skipped
      --insecure            do not verify the server's TLS certificate
      --protocol VERSION    auto, 3 or 4: the Engine.IO protocol version to speak
                            (default: auto, whichever the server speaks)
      --proxy URL           connect through this proxy: http://[USER:PASS@]HOST:PORT,
                            socks5://… or socks5h://… (default: the http_proxy,
                            https_proxy, all_proxy and no_proxy variables)
      --no-proxy            connect directly, ignoring the proxy variables
      --reconnect           reconnect after a lost connection, and retry a first
                            connect that fails (1 s doubling up to 5 s, +-50%, no
                            limit); prints `reconnecting` lines; end of stdin
                            stops it
  -v, --verbose             log the client's records to stderr (-vv: trace too)
  -h, --help                print this help
  -V, --version             print the version

Output (stdout):
  12:34:56.789 connected sid=SID transport=polling protocol=4
  12:34:56.812 upgraded transport=websocket
  12:34:57.001 message text \"héllo\"
  12:34:57.002 message binary 3 bytes 0102ff
  12:34:58.000 disconnected: server disconnect: close packet

Exit status:
  0  the connection ended cleanly: end of stdin (client disconnect), or the
     server closed it (server disconnect)
  1  the connection could not be opened, or ended with a transport error (with
     --reconnect: stdin ended while reconnecting)
  2  usage error
";

fn main() -> ExitCode {
    let args = std::env::args_os().skip(1).map(|a| {
        a.into_string()
            .map_err(|a| format!("argument {a:?} is not UTF-8"))
    });
    let options = match parse_args(args) {
        Ok(Cli::Help) => {
            print!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Ok(Cli::Version) => {
            println!("eio (engineio {})", env!("CARGO_PKG_VERSION"));
            return ExitCode::SUCCESS;
        }
        Ok(Cli::Connect(options)) => options,
        Err(msg) => return usage_error(&msg),
    };
    if options.verbose > 0 {
        install_logger(if options.verbose > 1 {
            log::LevelFilter::Trace
        } else {
            log::LevelFilter::Debug
        });
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("eio")
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("eio: cannot start the tokio runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let status = runtime.block_on(run(options));
    // Do not wait for tasks still winding down (a lingering socket): the session is over.
    runtime.shutdown_background();
    ExitCode::from(status)
}

fn usage_error(msg: &str) -> ExitCode {
    eprintln!("eio: {msg}");
    eprintln!("Try 'eio --help' for more information.");
    ExitCode::from(2)
}

// ---------------------------------------------------------------------------------------
// Arguments

enum Cli {
    Help,
    Version,
    Connect(Options),
}

struct Options {
    url: String,
    transports: Transports,
    headers: Vec<(String, String)>,
    path: Option<String>,
    query: Vec<(String, String)>,
    binary: bool,
    insecure: bool,
    proxy: Option<String>,
    no_proxy: bool,
    protocol: Protocol,
    reconnect: bool,
    verbose: u8,
}

/// Parses the arguments (without the program name). Options may come before or after the
/// positional arguments; `--name=value` and `-Hvalue` forms work too; `--` ends options.
fn parse_args(args: impl IntoIterator<Item = Result<String, String>>) -> Result<Cli, String> {
    let mut args = args.into_iter();
    let mut positional = Vec::new();
    let mut options_ended = false;
    let mut o = Options {
        url: String::new(),
        transports: Transports::Upgrade,
        headers: Vec::new(),
        path: None,
        query: Vec::new(),
        binary: false,
        insecure: false,
        proxy: None,
        no_proxy: false,
        protocol: Protocol::Auto,
        reconnect: false,
        verbose: 0,
    };
    while let Some(arg) = args.next() {
        let arg = arg?;
        if options_ended || arg == "-" || !arg.starts_with('-') {
            positional.push(arg);
            continue;
        }
        if arg == "--" {
            options_ended = true;
            continue;
        }
        let (name, mut inline) = match arg.split_once('=') {
            Some((n, v)) if arg.starts_with("--") => (n.to_owned(), Some(v.to_owned())),
            _ if arg.starts_with("-H") && arg.len() > 2 => ("-H".to_owned(), Some(arg[2..].into())),
            _ => (arg.clone(), None),
        };
        let mut value = || -> Result<String, String> {
            match inline.take() {
                Some(v) => Ok(v),
                None => match args.next() {
                    Some(v) => v,
                    None => Err(format!("option '{name}' needs a value")),
                },
            }
        };
        match name.as_str() {
            "-h" | "--help" => return Ok(Cli::Help),
            "-V" | "--version" => return Ok(Cli::Version),
            "--transport" => {
                o.transports = match value()?.as_str() {
                    "polling" => Transports::Polling,
                    "websocket" => Transports::WebSocket,
                    "upgrade" => Transports::Upgrade,
                    other => {
                        return Err(format!(
                            "unknown transport '{other}' (expected polling, websocket or upgrade)"
                        ));
                    }
                }
            }
            "-H" | "--header" => {
                let h = value()?;
                match h.split_once(':') {
                    Some((n, v)) if !n.trim().is_empty() => {
                        o.headers.push((n.trim().to_owned(), v.trim().to_owned()));
                    }
                    _ => return Err(format!("bad header '{h}' (expected 'Name: value')")),
                }
            }
            "--path" => o.path = Some(value()?),
            "--query" => {
                let q = value()?;
                match q.split_once('=') {
                    Some((k, v)) if !k.is_empty() => o.query.push((k.to_owned(), v.to_owned())),
                    _ => return Err(format!("bad query parameter '{q}' (expected key=value)")),
                }
            }
            "--binary" => o.binary = true,
            "--insecure" => o.insecure = true,
            "--proxy" => o.proxy = Some(value()?),
            "--no-proxy" => o.no_proxy = true,
            "--reconnect" => o.reconnect = true,
            "--protocol" => {
                o.protocol = match value()?.as_str() {
                    "auto" => Protocol::Auto,
                    "3" | "v3" => Protocol::V3,
                    "4" | "v4" => Protocol::V4,
                    other => {
                        return Err(format!(
                            "unknown protocol '{other}' (expected auto, 3 or 4)"
                        ));
                    }
                }
            }
            "-v" | "--verbose" => o.verbose += 1,
            "-vv" => o.verbose += 2,
            _ => return Err(format!("unknown option '{arg}'")),
        }
        if inline.is_some() {
            return Err(format!("option '{name}' takes no value"));
        }
    }
    let mut positional = positional.into_iter();
    match positional.next().as_deref() {
        Some("connect") => {}
        Some(other) => return Err(format!("unknown command '{other}' (expected connect)")),
        None => return Err("missing command: eio connect URL".into()),
    }
    o.url = positional.next().ok_or("missing URL: eio connect URL")?;
    if let Some(extra) = positional.next() {
        return Err(format!("unexpected argument '{extra}'"));
    }
    Ok(Cli::Connect(o))
}

// ---------------------------------------------------------------------------------------
// The session

/// What the main loop waits for.
enum Input {
    Event(ClientEvent),
    Line(Vec<u8>),
    StdinError(io::Error),
    StdinEnd,
}

/// Connects, then prints events and sends stdin lines until the connection ends. Returns
/// the exit status.
async fn run(o: Options) -> u8 {
    let mut builder = AsyncClient::builder()
        .transports(o.transports)
        .protocol(o.protocol);
    for (name, value) in &o.headers {
        builder = builder.header(name, value);
    }
    for (key, value) in &o.query {
        builder = builder.query(key, value);
    }
    if let Some(path) = &o.path {
        builder = builder.engineio_path(path);
    }
    if o.no_proxy {
        builder = builder.no_proxy();
    }
    if o.reconnect {
        builder = builder.reconnect(Reconnect::new());
    }
    if let Some(proxy) = &o.proxy {
        builder = builder.proxy(proxy);
    }
    if o.insecure {
        builder = match insecure(builder) {
            Ok(b) => b,
            Err(msg) => {
                eprintln!("eio: {msg}");
                return 2;
            }
        };
    }
    let client = match builder.build() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("eio: {}", one_line(&e));
            return 2;
        }
    };

    let events = client.events();

    // stdin is read on a thread of its own: blocking reads, one message per line.
    let (lines_tx, lines_rx) = mpsc::unbounded();
    let reader = std::thread::Builder::new()
        .name("eio-stdin".into())
        .spawn(move || read_stdin(&lines_tx));
    if let Err(e) = reader {
        eprintln!("eio: cannot start the stdin thread: {e}");
        return 1;
    }
    let mut inputs = stream::select(events.map(Input::Event), lines_rx);

    // Connect. Meanwhile (a first connect that is retried, with --reconnect, can take a
    // while) the attempts are shown as they come, and whatever else comes waits for the
    // connection: lines piped in are sent once it is open. Once the first attempt has
    // failed, the end of stdin gives up.
    let mut early = Vec::new();
    let (mut retrying, mut stdin_ended) = (false, false);
    let connected = {
        let connecting = client.connect(&o.url);
        futures::pin_mut!(connecting);
        loop {
            let next = inputs.next();
            match futures::future::select(connecting.as_mut(), next).await {
                futures::future::Either::Left((result, _)) => break result,
                futures::future::Either::Right((input, _)) => {
                    match input {
                        Some(Input::Event(ClientEvent::Reconnecting { attempt, delay })) => {
                            print_reconnecting(attempt, delay);
                            retrying = true;
                        }
                        Some(Input::StdinEnd) => {
                            stdin_ended = true;
                            early.push(Input::StdinEnd);
                        }
                        Some(input) => early.push(input),
                        None => {}
                    }
                    if retrying && stdin_ended {
                        // Stops the attempts: the connect returns with the last failure.
                        let _ = client.disconnect().await;
                    }
                }
            }
        }
    };
    if let Err(e) = connected {
        return match e {
            Error::Url(_) => {
                eprintln!("eio: {}", one_line(&e));
                2
            }
            Error::Connect { failure, .. } => {
                // The failure may name the URL again ("connecting to URL: refused").
                let detail = failure.to_string();
                let prefix = format!("connecting to {}: ", o.url);
                let detail = detail.strip_prefix(&prefix).unwrap_or(&detail);
                eprintln!("eio: cannot connect to {}: {}", o.url, one_line(&detail));
                1
            }
            other => {
                eprintln!("eio: cannot connect to {}: {}", o.url, one_line(&other));
                1
            }
        };
    }
    let sid = client.sid().unwrap_or_else(|| "?".into());
    let protocol = client.protocol().unwrap_or_default();
    let mut transport = match o.transports {
        Transports::WebSocket => TransportKind::WebSocket,
        _ => TransportKind::Polling,
    };
    let mut inputs = stream::iter(early).chain(inputs);

    let mut line_no = 0u64;
    // Set at the end of stdin between two connections: the client has stopped, no event
    // will come, and what is queued already is shown before exiting.
    let mut stopped = false;
    loop {
        let input = if stopped {
            match inputs.next().now_or_never() {
                Some(Some(input)) => input,
                _ => return 1, // the last connection was lost
            }
        } else {
            match inputs.next().await {
                Some(input) => input,
                None => break,
            }
        };
        match input {
            Input::Event(ClientEvent::Connect) => {
                let sid = client.sid().unwrap_or_else(|| sid.clone());
                let protocol = client.protocol().unwrap_or(protocol);
                // The transport the connection opened on: an upgrade that has already
                // happened gets its own line, after this one.
                if let Some(stats) = client.stats() {
                    transport = if stats.upgraded {
                        TransportKind::Polling
                    } else {
                        stats.transport
                    };
                }
                emit(format_args!(
                    "connected sid={sid} transport={} protocol={}",
                    transport.as_str(),
                    protocol.as_str()
                ));
            }
            Input::Event(ClientEvent::Message(payload)) => {
                emit(format_args!("message {}", Message(&payload)))
            }
            Input::Event(ClientEvent::Disconnect(reason)) => {
                emit(format_args!("disconnected: {reason:#}"));
                if o.reconnect && !stopped && matches!(reason, DisconnectReason::TransportError(_))
                {
                    continue; // the client reconnects
                }
                return match reason {
                    DisconnectReason::ClientDisconnect | DisconnectReason::ServerDisconnect(_) => 0,
                    _ => 1,
                };
            }
            Input::Event(ClientEvent::Upgraded) => {
                transport = TransportKind::WebSocket;
                emit(format_args!("upgraded transport={}", transport.as_str()));
            }
            Input::Event(ClientEvent::Reconnecting { attempt, delay }) => {
                print_reconnecting(attempt, delay);
            }
            Input::Event(ClientEvent::ReconnectFailed { attempts }) => {
                emit(format_args!("reconnect failed after {attempts} attempts"));
                return 1;
            }
            Input::Event(_) => {}
            Input::Line(line) => {
                line_no += 1;
                let payload = if o.binary {
                    parse_hex(&line).map(Payload::from)
                } else {
                    String::from_utf8(line)
                        .map(Payload::from)
                        .map_err(|_| "not UTF-8".to_owned())
                };
                match payload {
                    Ok(p) => {
                        if let Err(e) = client.send(p).await {
                            eprintln!("eio: stdin line {line_no} not sent: {e}");
                        }
                    }
                    Err(why) => eprintln!("eio: stdin line {line_no} not sent: {why}"),
                }
            }
            Input::StdinError(e) => {
                eprintln!("eio: cannot read stdin: {e}");
            }
            Input::StdinEnd => {
                // The disconnect event follows, and ends the loop; between two
                // connections (reconnecting) none does: this stops the client.
                let _ = client.disconnect().await;
                stopped = o.reconnect && client.sid().is_none();
            }
        }
    }
    // Unreachable: the event stream never ends, and a disconnect returns above.
    1
}

fn print_reconnecting(attempt: u32, delay: Duration) {
    emit(format_args!(
        "reconnecting attempt={attempt} delay={}ms",
        delay.as_millis()
    ));
}

/// Sends each line of stdin (without its `\n` or `\r\n`), then `StdinEnd`.
fn read_stdin(tx: &mpsc::UnboundedSender<Input>) {
    let mut stdin = io::stdin().lock();
    let mut buf = Vec::new();
    loop {
        buf.clear();
        match stdin.read_until(b'\n', &mut buf) {
            Ok(0) => break,
            Ok(_) => {
                if buf.last() == Some(&b'\n') {
                    buf.pop();
                    if buf.last() == Some(&b'\r') {
                        buf.pop();
                    }
                }
                if tx.unbounded_send(Input::Line(buf.clone())).is_err() {
                    return;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                let _ = tx.unbounded_send(Input::StdinError(e));
                break;
            }
        }
    }
    let _ = tx.unbounded_send(Input::StdinEnd);
}

#[cfg(feature = "rustls")]
fn insecure(builder: ClientBuilder) -> Result<ClientBuilder, String> {
    Ok(builder.ssl_verify(false))
}

#[cfg(not(feature = "rustls"))]
fn insecure(_: ClientBuilder) -> Result<ClientBuilder, String> {
    Err("--insecure: this eio was built without TLS (the rustls feature)".into())
}

// ---------------------------------------------------------------------------------------
// Output

/// Prints one event line, timestamped, and flushes it. If stdout is gone (a closed pipe)
/// there is no one left to report to: exit.
fn emit(event: fmt::Arguments<'_>) {
    let mut out = io::stdout().lock();
    if writeln!(out, "{} {event}", Timestamp::now())
        .and_then(|()| out.flush())
        .is_err()
    {
        std::process::exit(1);
    }
}

/// A message as `text "…"` (escaped like a Rust string) or `binary N bytes HEX`.
struct Message<'a>(&'a Payload);

impl fmt::Display for Message<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Payload::Text(s) => write!(f, "text {:?}", s.as_str()),
            Payload::Binary(b) => {
                let unit = if b.len() == 1 { "byte" } else { "bytes" };
                write!(f, "binary {} {unit}", b.len())?;
                if !b.is_empty() {
                    f.write_str(" ")?;
                    for byte in b.iter() {
                        write!(f, "{byte:02x}")?;
                    }
                }
                Ok(())
            }
        }
    }
}

/// The wall-clock time of day, UTC, as `HH:MM:SS.mmm`.
struct Timestamp(Duration);

impl Timestamp {
    fn now() -> Timestamp {
        Timestamp(
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default(),
        )
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secs = self.0.as_secs() % 86_400;
        write!(
            f,
            "{:02}:{:02}:{:02}.{:03}",
            secs / 3600,
            secs / 60 % 60,
            secs % 60,
            self.0.subsec_millis()
        )
    }
}

/// An error's text on one line (the message on stderr must be one line).
fn one_line(e: &dyn fmt::Display) -> String {
    e.to_string().replace(['\r', '\n'], " ")
}

/// Parses hex digits, ignoring whitespace: `0102ff`, `01 02 FF`.
fn parse_hex(line: &[u8]) -> Result<Vec<u8>, String> {
    fn digit(c: u8) -> Result<u8, String> {
        match c {
            b'0'..=b'9' => Ok(c - b'0'),
            b'a'..=b'f' => Ok(c - b'a' + 10),
            b'A'..=b'F' => Ok(c - b'A' + 10),
            _ => Err(format!(
                "'{}' is not a hex digit",
                std::slice::from_ref(&c).escape_ascii()
            )),
        }
    }
    let digits: Vec<u8> = line
        .iter()
        .copied()
        .filter(|c| !c.is_ascii_whitespace())
        .collect();
    if digits.len() % 2 != 0 {
        return Err(format!("odd number of hex digits ({})", digits.len()));
    }
    digits
        .chunks_exact(2)
        .map(|pair| Ok((digit(pair[0])? << 4) | digit(pair[1])?))
        .collect()
}

// ---------------------------------------------------------------------------------------
// -v: a small stderr logger for the `log` crate

/// Shows this crate's records up to the chosen level, and other crates' warnings and
/// errors.
struct StderrLogger {
    level: log::LevelFilter,
}

impl log::Log for StderrLogger {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        let target = metadata.target();
        let ours = target == "engineio" || target.starts_with("engineio::");
        metadata.level()
            <= if ours {
                self.level
            } else {
                log::LevelFilter::Warn
            }
    }

    fn log(&self, record: &log::Record<'_>) {
        if self.enabled(record.metadata()) {
            // One write per record: a record written piecewise by a background thread
            // could be cut in the middle when the process exits.
            let line = format!(
                "{} {:<5} {}: {}\n",
                Timestamp::now(),
                record.level(),
                record.target(),
                record.args()
            );
            let _ = io::stderr().lock().write_all(line.as_bytes());
        }
    }

    fn flush(&self) {
        let _ = io::stderr().flush();
    }
}

fn install_logger(level: log::LevelFilter) {
    let logger = Box::leak(Box::new(StderrLogger { level }));
    if log::set_logger(logger).is_ok() {
        log::set_max_level(level);
    }
}
