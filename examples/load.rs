//! The load program of the benchmark harness: this crate's client under six workloads,
//! on tokio (multi-thread or current-thread) or smol, or through the blocking `Client`,
//! reporting one JSON line.
//!
//! The harness (`scripts/bench.sh`) builds it with
//! `cargo build --release --example load --features smol` and runs it against an echo
//! server. By hand, against the node test server (it echoes every message):
//!
//! ```sh
//! cd tests/servers/node && EIO_IGNORE_STDIN=1 node server.js   # prints LISTENING <port>
//! target/release/examples/load --workload w1 --url http://127.0.0.1:PORT --runtime smol
//! ulimit -n 65536 && target/release/examples/load --workload w5 --clients 10000 --url ...
//! ```
//!
//! Command line: `--workload w1|w1b|w2|w3|w4|w5 --url http://127.0.0.1:PORT [--count N]
//! [--inflight K] [--size BYTES] [--clients N] [--runtime tokio|tokio-ct|smol|blocking]`
//! (tokio, multi-thread, by default; `tokio-ct` is a current-thread runtime running the
//! workload with `block_on`; `blocking` drives w1, w1b, w2 and w3 through the blocking
//! [`Client`](engineio::Client): an `on_message` handler and `send` from the main thread).
//!
//! | workload | what | reports |
//! |---|---|---|
//! | `w1` | WebSocket only: `count` (50,000) text messages of `size` (32) bytes echoed, `inflight` (256) in flight: one new send per echo | `msgs_per_s`, `cpu_s` |
//! | `w1b` | as `w1`, with binary messages of the same `size` bytes | `msgs_per_s`, `cpu_s` |
//! | `w2` | WebSocket only: `count` (5,000) round trips, one at a time | `p50_us`, `p99_us` |
//! | `w3` | polling only: as `w1`, 10,000 messages | `msgs_per_s`, `cpu_s` |
//! | `w4` | `count` (200) times in a row: a new client connects (polling, then the upgrade), waits for the `Upgraded` event, disconnects | `mean_ms`, `cpu_ms_per_conn` |
//! | `w5` | `clients` (1,000) idle WebSocket clients in this process, connected 100 at a time | `rss_kb_per_client` |
//!
//! The line on stdout, at the end, has every field, `null` where the workload has no such
//! figure: `{"workload":"w1","ok":true,"count":50000,"wall_s":1.23,"cpu_s":0.9,
//! "msgs_per_s":40650.4,"p50_us":null,"p99_us":null,"mean_ms":null,"cpu_ms_per_conn":null,
//! "rss_kb_per_client":null,"error":null}`. On failure `ok` is false, `error` says why and
//! `count` is how far it got. A workload that makes no progress for 60 s fails.
//!
//! How it measures, as the node peer (`bench/node/client.js`) does:
//! - wall and CPU time cover the workload only: from the first send to the last echo
//!   (`w1`–`w3`, connected beforehand), the whole loop (`w4`), or from before the first
//!   connect to the end of the 2 s idle period (`w5`). CPU time is user + system time of
//!   the whole process, all threads, from `getrusage(RUSAGE_SELF)`.
//! - RSS is `VmRSS` from `/proc/self/status`: (RSS after all clients connected and idled
//!   2 s − RSS before the first connect) / clients. The runtime is started beforehand.
//! - Percentiles are nearest-rank, in microseconds.
//! - Messages are received from the [`events`](engineio::AsyncClient::events) stream,
//!   the cheapest way in (no handler future per message). The workload runs as a task on
//!   the runtime (`tokio::spawn` on a multi-thread runtime, `block_on` on a current-thread
//!   one, or smol's global executor), beside the client's own tasks. `--runtime blocking`
//!   takes the messages from an `on_message` handler instead, as threaded code would.
//! - `w4`: the upgrade is the client's `ClientEvent::Upgraded` event on its `events()`
//!   stream.

use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use engineio::rt::Runtime;
use engineio::{AsyncClient, ByteStr, ClientEvent, Events, Payload, Transports};
use futures::future::{self, Either};
use futures::{FutureExt, StreamExt};
use serde_json::Value;

/// A workload that makes no progress for this long fails.
const STALL: Duration = Duration::from_secs(60);
/// How many `w5` clients connect at once.
const CONNECT_CONCURRENCY: usize = 100;
/// How long `w5` clients stay idle before RSS is read.
const IDLE: Duration = Duration::from_secs(2);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Workload {
    W1,
    /// W1 with binary messages.
    W1b,
    W2,
    W3,
    W4,
    W5,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Rt {
    Tokio,
    /// tokio's current-thread runtime.
    TokioCt,
    Smol,
    /// The blocking `Client` (w1, w1b, w2, w3).
    Blocking,
}

#[derive(Clone, Debug)]
struct Args {
    workload: Workload,
    name: String,
    url: String,
    count: usize,
    inflight: usize,
    size: usize,
    clients: usize,
    runtime: Rt,
    /// `ClientBuilder::max_packets_per_post`, when given.
    max_packets_per_post: Option<usize>,
}

const USAGE: &str = "usage: load --workload w1|w1b|w2|w3|w4|w5 --url http://127.0.0.1:PORT \
                     [--count N] [--inflight K] [--size BYTES] [--clients N] \
                     [--runtime tokio|tokio-ct|smol|blocking] [--max-packets-per-post N]";

fn parse_args() -> Result<Args, String> {
    let mut workload = None;
    let mut url = None;
    let mut count = None;
    let mut inflight = None;
    let mut size = 32;
    let mut clients = 1000;
    let mut runtime = Rt::Tokio;
    let mut max_packets_per_post = None;
    let mut it = std::env::args().skip(1);
    while let Some(key) = it.next() {
        let value = it.next().ok_or_else(|| format!("{key}: missing value"))?;
        let number = || match value.parse::<usize>() {
            Ok(n) if n > 0 => Ok(n),
            _ => Err(format!("{key}: expected a positive integer, got {value:?}")),
        };
        match key.as_str() {
            "--workload" => {
                workload = Some(match value.as_str() {
                    "w1" => Workload::W1,
                    "w1b" => Workload::W1b,
                    "w2" => Workload::W2,
                    "w3" => Workload::W3,
                    "w4" => Workload::W4,
                    "w5" => Workload::W5,
                    _ => {
                        return Err(format!(
                            "--workload must be one of w1, w1b, w2..w5, got {value:?}"
                        ));
                    }
                })
            }
            "--url" => url = Some(value),
            "--count" => count = Some(number()?),
            "--inflight" => inflight = Some(number()?),
            "--size" => size = number()?,
            "--clients" => clients = number()?,
            "--max-packets-per-post" => max_packets_per_post = Some(number()?),
            "--runtime" => {
                runtime = match value.as_str() {
                    "tokio" => Rt::Tokio,
                    "tokio-ct" => Rt::TokioCt,
                    "smol" => Rt::Smol,
                    "blocking" => Rt::Blocking,
                    _ => {
                        return Err(format!(
                            "--runtime must be tokio, tokio-ct, smol or blocking, got {value:?}"
                        ));
                    }
                }
            }
            _ => return Err(format!("unknown argument: {key}")),
        }
    }
    let workload = workload.ok_or("--workload is required")?;
    let url = url.ok_or("--url is required")?;
    let (default_count, default_inflight) = match workload {
        Workload::W1 | Workload::W1b => (50_000, 256),
        Workload::W2 => (5_000, 1),
        Workload::W3 => (10_000, 256),
        Workload::W4 => (200, 1),
        Workload::W5 => (clients, 1),
    };
    let count = if workload == Workload::W5 {
        clients
    } else {
        count.unwrap_or(default_count)
    };
    Ok(Args {
        name: format!("{workload:?}").to_lowercase(),
        workload,
        url,
        count,
        inflight: inflight.unwrap_or(default_inflight),
        size,
        clients,
        runtime,
        max_packets_per_post,
    })
}

/// What a workload reports; the fields it leaves at `None` print as `null`.
#[derive(Default)]
struct Report {
    count: usize,
    wall_s: f64,
    cpu_s: f64,
    msgs_per_s: Option<f64>,
    p50_us: Option<f64>,
    p99_us: Option<f64>,
    mean_ms: Option<f64>,
    cpu_ms_per_conn: Option<f64>,
    rss_kb_per_client: Option<f64>,
}

/// How far a workload got: echoes received, or clients connected. The stall watchdog and
/// the failure report read it.
#[derive(Default)]
struct Progress(AtomicU64);

impl Progress {
    fn set(&self, n: usize) {
        self.0.store(n as u64, Ordering::Relaxed);
    }
    fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

type Outcome = Result<Report, String>;

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let progress = Arc::new(Progress::default());
    let outcome = match args.runtime {
        Rt::Tokio => {
            let tokio = match tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => return fail_now(&args, &format!("cannot start tokio: {e}")),
            };
            let runtime = engineio::adapters::tokio::runtime(tokio.handle().clone());
            let task = tokio.spawn(supervise(args.clone(), runtime, progress.clone()));
            tokio
                .block_on(task)
                .unwrap_or_else(|e| Err(format!("the workload task failed: {e}")))
        }
        Rt::TokioCt => {
            let tokio = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => return fail_now(&args, &format!("cannot start tokio: {e}")),
            };
            let runtime = engineio::adapters::tokio::runtime(tokio.handle().clone());
            tokio.block_on(supervise(args.clone(), runtime, progress.clone()))
        }
        #[cfg(feature = "blocking")]
        Rt::Blocking => blocking::run(&args, &progress),
        #[cfg(not(feature = "blocking"))]
        Rt::Blocking => Err("--runtime blocking: built without the blocking feature".to_owned()),
        Rt::Smol => {
            let runtime = engineio::adapters::smol::runtime();
            smol::block_on(smol::spawn(supervise(
                args.clone(),
                runtime,
                progress.clone(),
            )))
        }
    };
    print_line(&args, outcome, progress.get());
    // Do not wait for the connections to wind down (the node peer does the same).
    std::process::exit(0)
}

fn fail_now(args: &Args, error: &str) -> ExitCode {
    print_line(args, Err(error.to_owned()), 0);
    ExitCode::SUCCESS
}

fn print_line(args: &Args, outcome: Outcome, progress: u64) {
    let (ok, r, error) = match outcome {
        Ok(r) => (true, r, None),
        Err(e) => (false, Report::default(), Some(e)),
    };
    let count = if ok { r.count as u64 } else { progress };
    let some = |v: f64| if ok { Some(v) } else { None };
    // In the contract's order (serde_json would sort the keys).
    let fields: [(&str, Value); 12] = [
        ("workload", args.name.clone().into()),
        ("ok", ok.into()),
        ("count", count.into()),
        ("wall_s", some(r.wall_s).into()),
        ("cpu_s", some(r.cpu_s).into()),
        ("msgs_per_s", r.msgs_per_s.into()),
        ("p50_us", r.p50_us.into()),
        ("p99_us", r.p99_us.into()),
        ("mean_ms", r.mean_ms.into()),
        ("cpu_ms_per_conn", r.cpu_ms_per_conn.into()),
        ("rss_kb_per_client", r.rss_kb_per_client.into()),
        ("error", error.into()),
    ];
    let body: Vec<String> = fields
        .iter()
        .map(|(k, v)| format!("{}:{v}", Value::from(*k)))
        .collect();
    println!("{{{}}}", body.join(","));
}

/// Runs the workload, failing it when it makes no progress for [`STALL`].
async fn supervise(args: Args, runtime: Runtime, progress: Arc<Progress>) -> Outcome {
    let timer = runtime.timer().clone();
    let work = run(args, runtime, progress.clone()).boxed();
    let watchdog = async move {
        let (mut last, mut since) = (progress.get(), Instant::now());
        loop {
            timer.sleep(Duration::from_secs(1)).await;
            let now = progress.get();
            if now != last {
                (last, since) = (now, Instant::now());
            } else if since.elapsed() >= STALL {
                return format!("no progress for {} s (at {now})", STALL.as_secs());
            }
        }
    }
    .boxed();
    match future::select(work, watchdog).await {
        Either::Left((outcome, _)) => outcome,
        Either::Right((stalled, _)) => Err(stalled),
    }
}

async fn run(args: Args, runtime: Runtime, progress: Arc<Progress>) -> Outcome {
    match args.workload {
        Workload::W1 | Workload::W1b => {
            echo(&args, runtime, Transports::WebSocket, &progress).await
        }
        Workload::W2 => round_trips(&args, runtime, &progress).await,
        Workload::W3 => echo(&args, runtime, Transports::Polling, &progress).await,
        Workload::W4 => upgrades(&args, runtime, &progress).await,
        Workload::W5 => idle_clients(&args, runtime, &progress).await,
    }
}

fn client(
    runtime: &Runtime,
    transports: Transports,
    max_packets_per_post: Option<usize>,
) -> Result<AsyncClient, String> {
    let mut builder = AsyncClient::builder()
        .runtime(runtime.clone())
        .transports(transports);
    if let Some(n) = max_packets_per_post {
        builder = builder.max_packets_per_post(n);
    }
    builder
        .build()
        .map_err(|e| format!("building the client: {e}"))
}

/// A printable message of exactly `size` bytes, the same as the node peer's: text, or the
/// same bytes as a binary message.
fn message(size: usize, binary: bool) -> Payload {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let text: String = (0..size)
        .map(|i| char::from(ALPHABET[i % ALPHABET.len()]))
        .collect();
    if binary {
        Payload::from(text.into_bytes())
    } else {
        Payload::Text(ByteStr::from(text))
    }
}

/// A connected client and its event stream (made before connecting, so it sees everything).
async fn connect(
    args: &Args,
    runtime: &Runtime,
    transports: Transports,
) -> Result<(AsyncClient, Events), String> {
    let eio = client(runtime, transports, args.max_packets_per_post)?;
    let events = eio.events();
    eio.connect(&args.url)
        .await
        .map_err(|e| format!("connect failed: {e:#}"))?;
    Ok((eio, events))
}

/// The next message, or why there is none.
async fn next_message(events: &mut Events) -> Result<Payload, String> {
    loop {
        match events.next().await {
            Some(ClientEvent::Message(p)) => return Ok(p),
            Some(ClientEvent::Disconnect(reason)) => {
                return Err(format!("disconnected: {reason:#}"));
            }
            Some(_) => {}
            None => return Err("the event stream ended".to_owned()),
        }
    }
}

fn check_echo(echo: &Payload, size: usize, binary: bool) -> Result<(), String> {
    if echo.len() == size && echo.is_binary() == binary {
        Ok(())
    } else {
        Err(format!(
            "unexpected echo: {} bytes, binary {}",
            echo.len(),
            echo.is_binary()
        ))
    }
}

async fn send(eio: &AsyncClient, msg: &Payload) -> Result<(), String> {
    eio.send(msg.clone())
        .await
        .map_err(|e| format!("send failed: {e}"))
}

/// W1 and W3: `count` echoes with `inflight` messages in flight.
async fn echo(
    args: &Args,
    runtime: Runtime,
    transports: Transports,
    progress: &Progress,
) -> Outcome {
    let (eio, mut events) = connect(args, &runtime, transports).await?;
    let binary = args.workload == Workload::W1b;
    let msg = message(args.size, binary);
    let (count, inflight) = (args.count, args.inflight.min(args.count));
    let cpu0 = cpu_seconds()?;
    let t0 = Instant::now();
    let mut sent = 0;
    while sent < inflight {
        send(&eio, &msg).await?;
        sent += 1;
    }
    let mut received = 0;
    while received < count {
        check_echo(&next_message(&mut events).await?, args.size, binary)?;
        received += 1;
        progress.set(received);
        if sent < count {
            send(&eio, &msg).await?;
            sent += 1;
        }
    }
    let wall = t0.elapsed().as_secs_f64();
    let cpu = cpu_seconds()? - cpu0;
    Ok(Report {
        count,
        wall_s: wall,
        cpu_s: cpu,
        msgs_per_s: Some(count as f64 / wall),
        ..Report::default()
    })
}

/// W2: `count` round trips, one at a time, over WebSocket.
async fn round_trips(args: &Args, runtime: Runtime, progress: &Progress) -> Outcome {
    let (eio, mut events) = connect(args, &runtime, Transports::WebSocket).await?;
    let msg = message(args.size, false);
    let mut samples = Vec::with_capacity(args.count);
    let cpu0 = cpu_seconds()?;
    let t0 = Instant::now();
    for i in 0..args.count {
        let start = Instant::now();
        send(&eio, &msg).await?;
        check_echo(&next_message(&mut events).await?, args.size, false)?;
        samples.push(start.elapsed().as_secs_f64() * 1e6);
        progress.set(i + 1);
    }
    let wall = t0.elapsed().as_secs_f64();
    let cpu = cpu_seconds()? - cpu0;
    samples.sort_by(f64::total_cmp);
    Ok(Report {
        count: args.count,
        wall_s: wall,
        cpu_s: cpu,
        msgs_per_s: Some(args.count as f64 / wall),
        p50_us: percentile(&samples, 50.0),
        p99_us: percentile(&samples, 99.0),
        ..Report::default()
    })
}

/// Nearest-rank percentile of sorted samples.
fn percentile(sorted: &[f64], p: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (p / 100.0 * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

/// W4: `count` times a new client connects with the default transports, waits for the
/// upgrade, and disconnects.
async fn upgrades(args: &Args, runtime: Runtime, progress: &Progress) -> Outcome {
    let cpu0 = cpu_seconds()?;
    let t0 = Instant::now();
    for i in 0..args.count {
        let eio = AsyncClient::builder()
            .runtime(runtime.clone())
            .build()
            .map_err(|e| format!("building the client: {e}"))?;
        let mut events = eio.events();
        eio.connect(&args.url)
            .await
            .map_err(|e| format!("connect failed: {e:#}"))?;
        // The upgrade, or the end of the connection, whichever comes first.
        loop {
            match events.next().await {
                Some(ClientEvent::Upgraded) => break,
                Some(ClientEvent::Disconnect(r)) => {
                    return Err(format!("disconnected before the upgrade: {r}"));
                }
                None => return Err("disconnected before the upgrade".to_owned()),
                Some(_) => {}
            }
        }
        eio.disconnect()
            .await
            .map_err(|e| format!("disconnect failed: {e}"))?;
        progress.set(i + 1);
    }
    let wall = t0.elapsed().as_secs_f64();
    let cpu = cpu_seconds()? - cpu0;
    let n = args.count as f64;
    Ok(Report {
        count: args.count,
        wall_s: wall,
        cpu_s: cpu,
        mean_ms: Some(wall * 1e3 / n),
        cpu_ms_per_conn: Some(cpu * 1e3 / n),
        ..Report::default()
    })
}

/// W5: `clients` idle WebSocket clients; memory per client.
async fn idle_clients(args: &Args, runtime: Runtime, progress: &Progress) -> Outcome {
    let n = args.clients;
    // Start the runtime's threads (smol starts its executor on first use) before the
    // baseline, so that the figure is per client, not per runtime.
    let warm = client(&runtime, Transports::WebSocket, None)?;
    warm.start_background_task(async {}).await;
    warm.sleep(Duration::from_millis(50)).await;
    drop(warm);
    let rss0 = rss_kb()?;
    let cpu0 = cpu_seconds()?;
    let t0 = Instant::now();
    let mut connecting = futures::stream::iter(0..n)
        .map(|_| async {
            let eio = client(&runtime, Transports::WebSocket, None)?;
            eio.connect(&args.url)
                .await
                .map_err(|e| format!("connect failed: {e:#}"))?;
            Ok::<_, String>(eio)
        })
        .buffer_unordered(CONNECT_CONCURRENCY);
    let mut clients = Vec::with_capacity(n);
    while let Some(eio) = connecting.next().await {
        clients.push(eio?);
        progress.set(clients.len());
    }
    let wall = t0.elapsed().as_secs_f64();
    runtime.timer().sleep(IDLE).await;
    let rss1 = rss_kb()?;
    let cpu = cpu_seconds()? - cpu0;
    if let Some(lost) = clients.iter().position(|c| c.sid().is_none()) {
        return Err(format!("client {lost} was disconnected while idle"));
    }
    Ok(Report {
        count: n,
        wall_s: wall,
        cpu_s: cpu,
        rss_kb_per_client: Some((rss1 as f64 - rss0 as f64) / n as f64),
        ..Report::default()
    })
}

/// `--runtime blocking`: w1, w1b, w2 and w3 through the blocking [`Client`](engineio::Client)
/// on its own runtime, as threaded code uses it: echoes arrive through an `on_message`
/// handler (on the client's dispatch thread) and a channel; the main thread sends.
#[cfg(feature = "blocking")]
mod blocking {
    use std::sync::mpsc;

    use super::*;

    enum Event {
        Message(Payload),
        Disconnected(String),
    }

    pub(super) fn run(args: &Args, progress: &Progress) -> Outcome {
        let transports = match args.workload {
            Workload::W1 | Workload::W1b | Workload::W2 => Transports::WebSocket,
            Workload::W3 => Transports::Polling,
            Workload::W4 | Workload::W5 => {
                return Err("not supported by --runtime blocking".to_owned());
            }
        };
        let mut builder = engineio::Client::builder().transports(transports);
        if let Some(n) = args.max_packets_per_post {
            builder = builder.max_packets_per_post(n);
        }
        let eio = builder
            .build_blocking()
            .map_err(|e| format!("building the client: {e}"))?;
        let (tx, rx) = mpsc::channel();
        let messages = tx.clone();
        eio.on_message(move |p| {
            let _ = messages.send(Event::Message(p));
        });
        eio.on_disconnect(move |reason| {
            let _ = tx.send(Event::Disconnected(format!("disconnected: {reason:#}")));
        });
        eio.connect(&args.url)
            .map_err(|e| format!("connect failed: {e:#}"))?;
        let binary = args.workload == Workload::W1b;
        let msg = message(args.size, binary);
        let send = || {
            eio.send(msg.clone())
                .map_err(|e| format!("send failed: {e}"))
        };
        let next_echo = || match rx.recv_timeout(STALL) {
            Ok(Event::Message(p)) => check_echo(&p, args.size, binary),
            Ok(Event::Disconnected(e)) => Err(e),
            Err(_) => Err(format!(
                "timeout: no progress for {} s (at {})",
                STALL.as_secs(),
                progress.get()
            )),
        };
        let count = args.count;
        let inflight = if args.workload == Workload::W2 {
            1
        } else {
            args.inflight.min(count)
        };
        let mut samples = Vec::new();
        let cpu0 = cpu_seconds()?;
        let t0 = Instant::now();
        let mut sent = 0;
        while sent < inflight {
            send()?;
            sent += 1;
        }
        let mut received = 0;
        let mut start = t0;
        while received < count {
            next_echo()?;
            received += 1;
            progress.set(received);
            if args.workload == Workload::W2 {
                let now = Instant::now();
                samples.push((now - start).as_secs_f64() * 1e6);
                start = now;
            }
            if sent < count {
                send()?;
                sent += 1;
            }
        }
        let wall = t0.elapsed().as_secs_f64();
        let cpu = cpu_seconds()? - cpu0;
        samples.sort_by(f64::total_cmp);
        Ok(Report {
            count,
            wall_s: wall,
            cpu_s: cpu,
            msgs_per_s: Some(count as f64 / wall),
            p50_us: percentile(&samples, 50.0),
            p99_us: percentile(&samples, 99.0),
            ..Report::default()
        })
    }
}

/// User + system CPU time of the whole process (every thread, living or gone), in seconds:
/// `getrusage(RUSAGE_SELF)`.
fn cpu_seconds() -> Result<f64, String> {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: `usage` is a valid, writable `rusage`; getrusage only writes to it.
    let rc = unsafe { libc::getrusage(libc::RUSAGE_SELF, usage.as_mut_ptr()) };
    if rc != 0 {
        return Err(format!("getrusage: {}", std::io::Error::last_os_error()));
    }
    // SAFETY: getrusage succeeded and filled it in (and zeroed memory is a valid rusage).
    let usage = unsafe { usage.assume_init() };
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    Ok(secs(usage.ru_utime) + secs(usage.ru_stime))
}

/// Resident set size in KiB (`VmRSS` in `/proc/self/status`).
fn rss_kb() -> Result<u64, String> {
    let status = std::fs::read_to_string("/proc/self/status")
        .map_err(|e| format!("reading /proc/self/status: {e}"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .ok_or_else(|| "no VmRSS in /proc/self/status".to_owned())
}
