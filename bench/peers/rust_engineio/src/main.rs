//! Benchmark peer: the `rust_engineio` 0.6 async client on tokio (multi-threaded runtime,
//! default worker count), driven per the contract in bench/README.md.
//!
//! * W1/W1b/W2/W5: `ClientBuilder::build_websocket()` (WebSocket only, no polling handshake);
//!   W1b sends `PacketId::MessageBinary` packets (binary frames) of the same bytes as W1
//! * W3: `ClientBuilder::build_polling()` (polling only)
//! * W4: `ClientBuilder::build()` (polling handshake, then the WebSocket upgrade; `build()`
//!   returns only once the upgrade has finished, and the crate exposes no transport name)
//!
//! The crate delivers packets through `Client` being a `Stream`: a reader task drains a
//! clone of the client (that is also what answers the server's pings) and forwards echoes
//! to the workload over a channel, so that sending and receiving overlap.

use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::StreamExt;
use rust_engineio::asynchronous::{Client, ClientBuilder};
use rust_engineio::{Packet, PacketId};
use tokio::sync::mpsc;
use url::Url;

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
    url: Url,
    count: usize,
    inflight: usize,
    size: usize,
    clients: usize,
}

fn usage(msg: &str) -> ! {
    eprintln!(
        "{msg}\nusage: rust_engineio_load --workload w1|w1b|w2|w3|w4|w5 --url http://127.0.0.1:PORT \
         [--count N] [--inflight K] [--size BYTES] [--clients N]"
    );
    std::process::exit(2);
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
            "--url" => {
                url = Some(Url::parse(&val).unwrap_or_else(|e| usage(&format!("--url: {e}"))))
            }
            "--count" => count = Some(num()),
            "--inflight" => inflight = Some(num()),
            "--size" => size = num(),
            "--clients" => clients = num(),
            other => usage(&format!("unknown argument: {other}")),
        }
        i += 2;
    }
    let workload = workload.unwrap_or_else(|| usage("--workload is required"));
    let url = url.unwrap_or_else(|| usage("--url is required"));
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
        url,
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
            self.error.as_deref().map(json_str).unwrap_or_else(|| "null".to_string()),
        )
    }
}

/// User + system CPU seconds of this process (getrusage RUSAGE_SELF).
fn cpu_secs() -> f64 {
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `ru` is a valid, writable rusage; RUSAGE_SELF is a valid `who`.
    let rc = unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    assert_eq!(rc, 0, "getrusage failed");
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

/// VmRSS of this process in KB, from /proc/self/status.
fn rss_kb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .unwrap_or(f64::NAN)
}

fn payload(size: usize) -> Bytes {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    Bytes::from(
        (0..size)
            .map(|i| ALPHABET[i % ALPHABET.len()])
            .collect::<Vec<u8>>(),
    )
}

/// A workload that makes no progress (no echo back, no connection completed) for this long
/// fails.
const STALL: Duration = Duration::from_secs(60);

/// Resolves (with the progress count) once `progress` has not moved for `STALL`.
async fn stall_watchdog(progress: &AtomicUsize) -> usize {
    let (mut last, mut since) = (usize::MAX, Instant::now());
    loop {
        tokio::time::sleep(Duration::from_millis(250)).await;
        let now = progress.load(Ordering::Relaxed);
        if now != last {
            (last, since) = (now, Instant::now());
        } else if since.elapsed() >= STALL {
            return now;
        }
    }
}

type Outcome = Result<Report, String>;

/// What the reader task forwards: one echo, or why the stream ended.
enum Event {
    Echo,
    Failed(String),
}

fn spawn_reader(
    client: &Client,
    events: Option<mpsc::UnboundedSender<Event>>,
) -> tokio::task::JoinHandle<()> {
    let mut reader = client.clone();
    tokio::spawn(async move {
        while let Some(item) = reader.next().await {
            match item {
                Ok(p) if matches!(p.packet_id, PacketId::Message | PacketId::MessageBinary) => {
                    if let Some(tx) = &events {
                        let _ = tx.send(Event::Echo);
                    }
                }
                Ok(p) if p.packet_id == PacketId::Close => {
                    if let Some(tx) = &events {
                        let _ = tx.send(Event::Failed(
                            "disconnected: close packet from server".into(),
                        ));
                    }
                    return;
                }
                Ok(_) => {}
                Err(e) => {
                    if let Some(tx) = &events {
                        let _ = tx.send(Event::Failed(format!("error: {e}")));
                    }
                    return;
                }
            }
        }
        if let Some(tx) = &events {
            let _ = tx.send(Event::Failed("disconnected: packet stream ended".into()));
        }
    })
}

async fn open(args: &Args, workload: Workload) -> Result<Client, String> {
    let builder = ClientBuilder::new(args.url.clone());
    let client = match workload {
        Workload::W3 => builder.build_polling().await,
        Workload::W4 => builder.build().await,
        _ => builder.build_websocket().await,
    }
    .map_err(|e| format!("connect failed: {e}"))?;
    client
        .connect()
        .await
        .map_err(|e| format!("connect failed: {e}"))?;
    Ok(client)
}

async fn next_echo(rx: &mut mpsc::UnboundedReceiver<Event>) -> Result<(), String> {
    match rx.recv().await {
        Some(Event::Echo) => Ok(()),
        Some(Event::Failed(e)) => Err(e),
        None => Err("disconnected: reader ended".into()),
    }
}

async fn echo_workload(args: &Args, progress: &AtomicUsize) -> Outcome {
    let client = open(args, args.workload).await?;
    let (tx, mut rx) = mpsc::unbounded_channel();
    let reader = spawn_reader(&client, Some(tx));
    let msg = payload(args.size);
    let id = if args.workload == Workload::W1b {
        PacketId::MessageBinary
    } else {
        PacketId::Message
    };
    let send = |client: &Client| {
        let packet = Packet::new(id, msg.clone());
        let client = client.clone();
        async move {
            client
                .emit(packet)
                .await
                .map_err(|e| format!("send failed: {e}"))
        }
    };
    let (cpu0, t0) = (cpu_secs(), Instant::now());
    let mut sent = 0;
    for _ in 0..args.inflight.min(args.count) {
        send(&client).await?;
        sent += 1;
    }
    let mut received = 0;
    while received < args.count {
        next_echo(&mut rx).await?;
        received += 1;
        progress.store(received, Ordering::Relaxed);
        if sent < args.count {
            send(&client).await?;
            sent += 1;
        }
    }
    let wall = t0.elapsed().as_secs_f64();
    let cpu = cpu_secs() - cpu0;
    let _ = client.disconnect().await;
    reader.abort();
    Ok(Report {
        ok: true,
        count: received,
        wall_s: Some(wall),
        cpu_s: Some(cpu),
        msgs_per_s: Some(received as f64 / wall),
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

async fn rtt_workload(args: &Args, progress: &AtomicUsize) -> Outcome {
    let client = open(args, Workload::W2).await?;
    let (tx, mut rx) = mpsc::unbounded_channel();
    let reader = spawn_reader(&client, Some(tx));
    let msg = payload(args.size);
    let mut samples = Vec::with_capacity(args.count);
    let (cpu0, t0) = (cpu_secs(), Instant::now());
    for i in 0..args.count {
        let s = Instant::now();
        client
            .emit(Packet::new(PacketId::Message, msg.clone()))
            .await
            .map_err(|e| format!("send failed: {e}"))?;
        next_echo(&mut rx).await?;
        samples.push(s.elapsed().as_secs_f64() * 1e6);
        progress.store(i + 1, Ordering::Relaxed);
    }
    let wall = t0.elapsed().as_secs_f64();
    let cpu = cpu_secs() - cpu0;
    let _ = client.disconnect().await;
    reader.abort();
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

async fn upgrade_workload(args: &Args, progress: &AtomicUsize) -> Outcome {
    let (cpu0, t0) = (cpu_secs(), Instant::now());
    for i in 0..args.count {
        let client = open(args, Workload::W4).await?;
        client
            .disconnect()
            .await
            .map_err(|e| format!("disconnect failed: {e}"))?;
        drop(client);
        progress.store(i + 1, Ordering::Relaxed);
    }
    let wall = t0.elapsed().as_secs_f64();
    let cpu = cpu_secs() - cpu0;
    Ok(Report {
        ok: true,
        count: args.count,
        wall_s: Some(wall),
        cpu_s: Some(cpu),
        mean_ms: Some(wall * 1000.0 / args.count as f64),
        cpu_ms_per_conn: Some(cpu * 1000.0 / args.count as f64),
        ..Default::default()
    })
}

async fn idle_workload(args: &Args, progress: &Arc<AtomicUsize>) -> Outcome {
    let n = args.clients;
    let rss0 = rss_kb();
    let (cpu0, t0) = (cpu_secs(), Instant::now());
    // At most 100 handshakes in progress at once.
    let opened: Vec<Result<(Client, tokio::task::JoinHandle<()>), String>> =
        futures_util::stream::iter(0..n)
            .map(|_| {
                let progress = progress.clone();
                async move {
                    let c = open(args, Workload::W5).await?;
                    let reader = spawn_reader(&c, None);
                    progress.fetch_add(1, Ordering::Relaxed);
                    Ok((c, reader))
                }
            })
            .buffer_unordered(100)
            .collect()
            .await;
    let mut clients = Vec::with_capacity(n);
    for r in opened {
        clients.push(r?);
    }
    let wall = t0.elapsed().as_secs_f64();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss1 = rss_kb();
    let cpu = cpu_secs() - cpu0;
    Ok(Report {
        ok: true,
        count: n,
        wall_s: Some(wall),
        cpu_s: Some(cpu),
        rss_kb_per_client: Some((rss1 - rss0) / n as f64),
        ..Default::default()
    })
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = parse_args();
    let progress = Arc::new(AtomicUsize::new(0));
    let body = async {
        match args.workload {
            Workload::W1 | Workload::W1b | Workload::W3 => echo_workload(&args, &progress).await,
            Workload::W2 => rtt_workload(&args, &progress).await,
            Workload::W4 => upgrade_workload(&args, &progress).await,
            Workload::W5 => idle_workload(&args, &progress).await,
        }
    };
    let outcome = tokio::select! {
        outcome = body => outcome,
        done = stall_watchdog(&progress) => Err(format!(
            "timeout: no progress for {} s ({done} done)",
            STALL.as_secs()
        )),
    };
    let report = match outcome {
        Ok(r) => r,
        Err(e) => Report {
            ok: false,
            count: progress.load(Ordering::Relaxed),
            error: Some(e),
            ..Default::default()
        },
    };
    println!("{}", report.line(args.workload));
    // Skip tearing down thousands of connections and tasks: the result is out.
    std::process::exit(0)
}
