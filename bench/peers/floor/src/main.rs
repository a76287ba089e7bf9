//! The Rust floor of the benchmark harness: the least a Rust Engine.IO client has to do,
//! driven per the contract in bench/README.md. What our client cannot beat by much on the
//! same stack (tokio, tungstenite).
//!
//! * one tokio current-thread runtime, one task: no spawned tasks, no channels
//! * Engine.IO v4 framing by hand, WebSocket only: open
//!   `ws://HOST:PORT/engine.io/?EIO=4&transport=websocket`, read the `0{...}` open packet,
//!   answer each ping `2<data>` with `3<data>`, send messages as `4<text>` text frames (or a
//!   binary frame holding the raw bytes), read echoes `4<text>` or binary frames
//! * one read/write loop per connection: wait for a frame, take every further frame that is
//!   already readable, then write the new messages (`feed`) and `flush` them together
//! * tungstenite's read buffer is 4 KiB (its documented choice for many connections), not
//!   the default 128 KiB, which is zero-filled before every read; TCP_NODELAY as every client
//!
//! Workloads w1, w1b (w1 with binary messages), w2 and w5. w3 and w4 need polling and the
//! upgrade, which the floor does not do: they report `ok: false`, "not supported by the floor".

use std::cell::Cell;
use std::future::poll_fn;
use std::process::ExitCode;
use std::task::Poll;
use std::time::{Duration, Instant};

use futures_util::stream::{self, FuturesUnordered};
use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{Bytes, Error as WsError, Message, Utf8Bytes};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// A workload that makes no progress (no echo back, no connection completed) for this long
/// fails.
const STALL: Duration = Duration::from_secs(60);
/// How many w5 handshakes are in progress at once.
const CONNECT_CONCURRENCY: usize = 100;
/// How long w5 clients stay idle before RSS is read.
const IDLE: Duration = Duration::from_secs(2);
/// tungstenite's read buffer.
const READ_BUFFER: usize = 4096;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Workload {
    W1,
    W1b,
    W2,
    W3,
    W4,
    W5,
}

impl Workload {
    fn name(self) -> &'static str {
        match self {
            Workload::W1 => "w1",
            Workload::W1b => "w1b",
            Workload::W2 => "w2",
            Workload::W3 => "w3",
            Workload::W4 => "w4",
            Workload::W5 => "w5",
        }
    }
}

struct Args {
    workload: Workload,
    /// `ws://HOST:PORT/engine.io/?EIO=4&transport=websocket`
    ws_url: String,
    count: usize,
    inflight: usize,
    size: usize,
    clients: usize,
}

fn usage(msg: &str) -> ! {
    eprintln!(
        "{msg}\nusage: floor_load --workload w1|w1b|w2|w3|w4|w5 --url http://127.0.0.1:PORT \
         [--count N] [--inflight K] [--size BYTES] [--clients N]"
    );
    std::process::exit(2);
}

/// The Engine.IO WebSocket URL for a base URL `http://HOST:PORT[/...]`.
fn ws_url(base: &str) -> Result<String, String> {
    let rest = base
        .strip_prefix("http://")
        .or_else(|| base.strip_prefix("ws://"))
        .ok_or_else(|| format!("--url: only http:// (no TLS in the floor), got {base}"))?;
    let authority = rest.split('/').next().unwrap_or_default();
    if authority.is_empty() {
        return Err(format!("--url: no host in {base}"));
    }
    Ok(format!(
        "ws://{authority}/engine.io/?EIO=4&transport=websocket"
    ))
}

fn parse_args() -> Args {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let mut workload = None;
    let mut url = None;
    let (mut count, mut inflight, mut size, mut clients) = (None, None, 32usize, 1000usize);
    let mut i = 0;
    while i < argv.len() {
        let key = argv[i].as_str();
        let val = argv
            .get(i + 1)
            .cloned()
            .unwrap_or_else(|| usage(&format!("{key}: missing value")));
        let num = || -> usize {
            match val.parse::<usize>() {
                Ok(n) if n > 0 => n,
                _ => usage(&format!("{key}: expected a positive integer, got {val}")),
            }
        };
        match key {
            "--workload" => {
                workload = Some(match val.as_str() {
                    "w1" => Workload::W1,
                    "w1b" => Workload::W1b,
                    "w2" => Workload::W2,
                    "w3" => Workload::W3,
                    "w4" => Workload::W4,
                    "w5" => Workload::W5,
                    other => usage(&format!("--workload: unknown workload {other}")),
                })
            }
            "--url" => url = Some(ws_url(&val).unwrap_or_else(|e| usage(&e))),
            "--count" => count = Some(num()),
            "--inflight" => inflight = Some(num()),
            "--size" => size = num(),
            "--clients" => clients = num(),
            other => usage(&format!("unknown argument: {other}")),
        }
        i += 2;
    }
    let workload = workload.unwrap_or_else(|| usage("--workload is required"));
    let ws_url = url.unwrap_or_else(|| usage("--url is required"));
    let count = match workload {
        Workload::W5 => clients,
        Workload::W1 | Workload::W1b => count.unwrap_or(50_000),
        Workload::W2 => count.unwrap_or(5_000),
        Workload::W3 => count.unwrap_or(10_000),
        Workload::W4 => count.unwrap_or(200),
    };
    let inflight = inflight.unwrap_or(match workload {
        Workload::W1 | Workload::W1b | Workload::W3 => 256,
        _ => 1,
    });
    Args {
        workload,
        ws_url,
        count,
        inflight,
        size,
        clients,
    }
}

/// The result line (bench/README.md); `None` prints as `null`.
#[derive(Default)]
struct Report {
    ok: bool,
    count: usize,
    wall_s: Option<f64>,
    cpu_s: Option<f64>,
    msgs_per_s: Option<f64>,
    p50_us: Option<f64>,
    p99_us: Option<f64>,
    mean_ms: Option<f64>,
    cpu_ms_per_conn: Option<f64>,
    rss_kb_per_client: Option<f64>,
    error: Option<String>,
}

fn json_num(v: Option<f64>) -> String {
    match v {
        Some(x) if x.is_finite() => format!("{x}"),
        _ => "null".to_string(),
    }
}

fn json_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

impl Report {
    fn line(&self, workload: Workload) -> String {
        format!(
            "{{\"workload\":\"{}\",\"ok\":{},\"count\":{},\"wall_s\":{},\"cpu_s\":{},\"msgs_per_s\":{},\
             \"p50_us\":{},\"p99_us\":{},\"mean_ms\":{},\"cpu_ms_per_conn\":{},\
             \"rss_kb_per_client\":{},\"error\":{}}}",
            workload.name(),
            self.ok,
            self.count,
            json_num(self.wall_s),
            json_num(self.cpu_s),
            json_num(self.msgs_per_s),
            json_num(self.p50_us),
            json_num(self.p99_us),
            json_num(self.mean_ms),
            json_num(self.cpu_ms_per_conn),
            json_num(self.rss_kb_per_client),
            self.error
                .as_deref()
                .map(json_str)
                .unwrap_or_else(|| "null".to_string()),
        )
    }
}

/// User + system CPU seconds of this process (getrusage RUSAGE_SELF).
fn cpu_secs() -> Result<f64, String> {
    // SAFETY: an all-zero rusage is a valid value of the type.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `ru` is a valid, writable rusage; RUSAGE_SELF is a valid `who`.
    let rc = unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    if rc != 0 {
        return Err(format!("getrusage: {}", std::io::Error::last_os_error()));
    }
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    Ok(tv(ru.ru_utime) + tv(ru.ru_stime))
}

/// VmRSS of this process in KB, from /proc/self/status.
fn rss_kb() -> Result<f64, String> {
    let status = std::fs::read_to_string("/proc/self/status")
        .map_err(|e| format!("reading /proc/self/status: {e}"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .ok_or_else(|| "no VmRSS in /proc/self/status".to_string())
}

/// The message body: `size` bytes of the contract's alphabet.
fn body(size: usize) -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    (0..size)
        .map(|i| char::from(ALPHABET[i % ALPHABET.len()]))
        .collect()
}

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;
/// What one read of the socket gives.
type Frame = Option<Result<Message, WsError>>;
type Outcome = Result<Report, String>;

/// One Engine.IO session over one WebSocket.
struct Conn {
    ws: Ws,
    /// The echoes expected: binary frames of `size` bytes, or text frames `4` + `size` bytes.
    binary: bool,
    size: usize,
}

impl Conn {
    /// Opens the WebSocket and reads the open packet.
    async fn open(args: &Args, binary: bool) -> Result<Conn, String> {
        let config = WebSocketConfig::default().read_buffer_size(READ_BUFFER);
        let (ws, _) =
            tokio_tungstenite::connect_async_with_config(args.ws_url.as_str(), Some(config), true)
                .await
                .map_err(|e| format!("connect failed: {e}"))?;
        let mut conn = Conn {
            ws,
            binary,
            size: args.size,
        };
        loop {
            match conn.ws.next().await {
                Some(Ok(Message::Text(t))) if t.starts_with('0') => return Ok(conn),
                Some(Ok(Message::Text(t))) => {
                    return Err(format!(
                        "connect failed: expected the open packet, got {t:?}"
                    ))
                }
                Some(Ok(Message::Close(f))) => {
                    return Err(format!("connect failed: websocket closed ({f:?})"))
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(format!("connect failed: {e}")),
                None => return Err("connect failed: the connection ended".to_string()),
            }
        }
    }

    /// Handles one frame read from the socket: `true` for an echo (checked), `false` for
    /// anything else; a ping is answered at once (`3` + its data).
    async fn handle(&mut self, frame: Frame) -> Result<bool, String> {
        match frame {
            Some(Ok(Message::Text(t))) => match t.as_bytes().first() {
                Some(b'4') => {
                    if !self.binary && t.len() == self.size + 1 {
                        Ok(true)
                    } else {
                        Err(format!("unexpected echo: text of {} bytes", t.len() - 1))
                    }
                }
                Some(b'2') => {
                    let pong = format!("3{}", &t[1..]);
                    self.ws
                        .send(Message::Text(pong.into()))
                        .await
                        .map_err(|e| format!("error: sending the pong: {e}"))?;
                    Ok(false)
                }
                Some(b'1') => Err("disconnected: close packet from the server".to_string()),
                _ => Ok(false), // noop `6`, or anything else: nothing to do
            },
            Some(Ok(Message::Binary(b))) => {
                if self.binary && b.len() == self.size {
                    Ok(true)
                } else {
                    Err(format!("unexpected echo: binary of {} bytes", b.len()))
                }
            }
            Some(Ok(Message::Close(f))) => Err(format!("disconnected: websocket closed ({f:?})")),
            Some(Ok(_)) => Ok(false), // WebSocket ping/pong: tungstenite answers pings itself
            Some(Err(e)) => Err(format!("error: {e}")),
            None => Err("disconnected: the connection ended".to_string()),
        }
    }

    /// The next frame if one can be had without waiting (already buffered, or readable).
    async fn ready_frame(&mut self) -> Poll<Frame> {
        poll_fn(|cx| Poll::Ready(self.ws.poll_next_unpin(cx))).await
    }

    /// Reads until the connection fails (w5's idle clients: pings are answered).
    async fn idle(mut self, i: usize) -> String {
        loop {
            let frame = self.ws.next().await;
            if let Err(e) = self.handle(frame).await {
                return format!("client {i} while idle: {e}");
            }
        }
    }
}

fn send_failed(e: WsError) -> String {
    format!("send failed: {e}")
}

/// The message frame: `4<text>` as text, or the raw bytes as binary.
fn message(size: usize, binary: bool) -> Message {
    if binary {
        Message::Binary(Bytes::from(body(size).into_bytes()))
    } else {
        Message::Text(Utf8Bytes::from(format!("4{}", body(size))))
    }
}

/// W1 and W1b: `count` echoes with `inflight` messages in flight, one new send per echo.
async fn echo(args: &Args, binary: bool, progress: &Cell<usize>) -> Outcome {
    let mut c = Conn::open(args, binary).await?;
    let msg = message(args.size, binary);
    let (count, inflight) = (args.count, args.inflight.min(args.count));
    let (cpu0, t0) = (cpu_secs()?, Instant::now());
    let mut sent = 0;
    while sent < inflight {
        c.ws.feed(msg.clone()).await.map_err(send_failed)?;
        sent += 1;
    }
    c.ws.flush().await.map_err(send_failed)?;
    let mut received = 0;
    while received < count {
        // Wait for a frame, then take every frame that is ready without waiting.
        let frame = c.ws.next().await;
        let mut echoes = usize::from(c.handle(frame).await?);
        while received + echoes < count {
            match c.ready_frame().await {
                Poll::Ready(frame) => echoes += usize::from(c.handle(frame).await?),
                Poll::Pending => break,
            }
        }
        received += echoes;
        progress.set(received);
        // One new message per echo, written together.
        let more = echoes.min(count - sent);
        if more > 0 {
            for _ in 0..more {
                c.ws.feed(msg.clone()).await.map_err(send_failed)?;
            }
            c.ws.flush().await.map_err(send_failed)?;
            sent += more;
        }
    }
    let wall = t0.elapsed().as_secs_f64();
    let cpu = cpu_secs()? - cpu0;
    Ok(Report {
        ok: true,
        count,
        wall_s: Some(wall),
        cpu_s: Some(cpu),
        msgs_per_s: Some(count as f64 / wall),
        ..Default::default()
    })
}

fn percentile(sorted: &[f64], p: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

/// W2: `count` round trips, one at a time.
async fn round_trips(args: &Args, progress: &Cell<usize>) -> Outcome {
    let mut c = Conn::open(args, false).await?;
    let msg = message(args.size, false);
    let mut samples = Vec::with_capacity(args.count);
    let (cpu0, t0) = (cpu_secs()?, Instant::now());
    for i in 0..args.count {
        let start = Instant::now();
        c.ws.send(msg.clone()).await.map_err(send_failed)?;
        loop {
            let frame = c.ws.next().await;
            if c.handle(frame).await? {
                break;
            }
        }
        samples.push(start.elapsed().as_secs_f64() * 1e6);
        progress.set(i + 1);
    }
    let wall = t0.elapsed().as_secs_f64();
    let cpu = cpu_secs()? - cpu0;
    samples.sort_by(f64::total_cmp);
    Ok(Report {
        ok: true,
        count: args.count,
        wall_s: Some(wall),
        cpu_s: Some(cpu),
        msgs_per_s: Some(args.count as f64 / wall),
        p50_us: percentile(&samples, 50.0),
        p99_us: percentile(&samples, 99.0),
        ..Default::default()
    })
}

/// W5: `clients` idle connections in this task; memory per client.
async fn idle_clients(args: &Args, progress: &Cell<usize>) -> Outcome {
    let n = args.clients;
    let rss0 = rss_kb()?;
    let (cpu0, t0) = (cpu_secs()?, Instant::now());
    let mut conns = Vec::with_capacity(n);
    {
        let mut opening = stream::iter(0..n)
            .map(|_| Conn::open(args, false))
            .buffer_unordered(CONNECT_CONCURRENCY);
        while let Some(conn) = opening.next().await {
            conns.push(conn?);
            progress.set(conns.len());
        }
    }
    let wall = t0.elapsed().as_secs_f64();
    // Idle, every connection read in this task (a ping would be answered).
    let mut idle: FuturesUnordered<_> = conns
        .into_iter()
        .enumerate()
        .map(|(i, c)| c.idle(i))
        .collect();
    tokio::select! {
        () = tokio::time::sleep(IDLE) => {}
        Some(e) = idle.next() => return Err(e),
    }
    let rss1 = rss_kb()?;
    let cpu = cpu_secs()? - cpu0;
    Ok(Report {
        ok: true,
        count: n,
        wall_s: Some(wall),
        cpu_s: Some(cpu),
        rss_kb_per_client: Some((rss1 - rss0) / n as f64),
        ..Default::default()
    })
}

/// Resolves (with the progress count) once `progress` has not moved for [`STALL`].
async fn stall_watchdog(progress: &Cell<usize>) -> usize {
    let (mut last, mut since) = (usize::MAX, Instant::now());
    loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let now = progress.get();
        if now != last {
            (last, since) = (now, Instant::now());
        } else if since.elapsed() >= STALL {
            return now;
        }
    }
}

async fn run(args: &Args, progress: &Cell<usize>) -> Outcome {
    match args.workload {
        Workload::W1 => echo(args, false, progress).await,
        Workload::W1b => echo(args, true, progress).await,
        Workload::W2 => round_trips(args, progress).await,
        Workload::W5 => idle_clients(args, progress).await,
        Workload::W3 | Workload::W4 => Err("not supported by the floor".to_string()),
    }
}

fn main() -> ExitCode {
    let args = parse_args();
    let progress = Cell::new(0);
    let outcome = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt.block_on(async {
            tokio::select! {
                biased;
                outcome = run(&args, &progress) => outcome,
                done = stall_watchdog(&progress) => Err(format!(
                    "timeout: no progress for {} s ({done} done)",
                    STALL.as_secs()
                )),
            }
        }),
        Err(e) => Err(format!("cannot start tokio: {e}")),
    };
    let report = match outcome {
        Ok(r) => r,
        Err(e) => Report {
            ok: false,
            count: progress.get(),
            error: Some(e),
            ..Default::default()
        },
    };
    println!("{}", report.line(args.workload));
    // Skip tearing down thousands of connections: the result is out.
    std::process::exit(0)
}
