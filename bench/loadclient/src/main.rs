//! The subscription rows of BENCHMARKS.md (S1, S2, S3): opens N
//! graphql-transport-ws subscribers to `activityAdded` on one or more
//! instances (round-robin), each unfiltered or on its own actor, logs
//! activities at a fixed rate through the `log` mutation while they listen,
//! then checks every subscriber's stream against the table and prints one
//! JSON line.
//!
//! Latency is commit-to-receipt, bounded from both sides:
//! - from above by receipt minus the send time the writer puts into the
//!   metadata (`bench_sent_us`) just before the request: it includes the
//!   request, the INSERT and the commit, so it is never less than the real
//!   commit-to-receipt;
//! - from below by receipt minus the time the writer got its
//!   acknowledgement (matched by `bench_n`), which comes after the commit;
//!   it can be negative when delivery beats the HTTP response.
//!
//! It only talks to loopback addresses, and every phase is bounded in time.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::sync::{mpsc, Semaphore};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;

/// The fields every subscriber asks for: scalars only, so that what is
/// measured is the fan-out and not a users lookup per event. `cursor` is the
/// position the stream is verified by, `metadata` carries the writer's clock.
const FIELDS: &str = "cursor uuid action actorUuid insertedAt metadata";

/// The mutation the writer sends.
const LOG: &str = "mutation Log($input: LogInput!) { log(input: $input) { activity { uuid } errors { field message } } }";

/// Which rows a subscriber asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Filter {
    /// Every activity (S1, S3).
    None,
    /// `filter: {actorUuid: <its own>}`: a per-user feed (S2).
    Actor,
}

#[derive(Debug, Clone)]
struct Args {
    /// Host:port of each instance; subscribers and writes go round-robin.
    targets: Vec<String>,
    subscribers: usize,
    filter: Filter,
    /// Distinct actors the writes are spread over (and subscribers, with `--filter actor`).
    actors: usize,
    rate: f64,
    duration: Duration,
    /// The writer alone for this long before anyone subscribes: its baseline.
    baseline: Duration,
    drain: Duration,
    connect_concurrency: usize,
    connect_timeout: Duration,
    /// The servers' PIDs, for RSS and per-thread CPU.
    pids: Vec<u32>,
    /// `postgres://…@127.0.0.1/db` to verify the streams against; none: no check.
    verify_db: Option<String>,
    label: String,
}

fn usage() -> ! {
    eprintln!(
        "usage: af-loadclient --target 127.0.0.1:PORT [--target …] [--subscribers N] \
         [--filter none|actor] [--actors N] [--rate PER_SEC] [--duration SECS] \
         [--baseline SECS] [--drain SECS] [--connect-concurrency N] [--connect-timeout SECS] \
         [--pid SERVER_PID …] [--verify-db postgres://USER@127.0.0.1:5432/DB] [--label TEXT]"
    );
    std::process::exit(2)
}

fn fail(message: &str) -> ! {
    eprintln!("{message}");
    std::process::exit(2)
}

fn is_loopback(host: &str) -> bool {
    host.trim_matches(['[', ']'])
        .parse::<IpAddr>()
        .is_ok_and(|ip| ip.is_loopback())
}

fn parse_args() -> Args {
    let mut args = Args {
        targets: Vec::new(),
        subscribers: 1000,
        filter: Filter::None,
        actors: 0,
        rate: 200.0,
        duration: Duration::from_secs(10),
        baseline: Duration::ZERO,
        drain: Duration::from_secs(5),
        connect_concurrency: 200,
        connect_timeout: Duration::from_secs(120),
        pids: Vec::new(),
        verify_db: None,
        label: String::new(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().unwrap_or_else(|| usage());
        let secs = |v: &str| Duration::from_secs_f64(v.parse().unwrap_or_else(|_| usage()));
        let int = |v: &str| v.parse::<usize>().unwrap_or_else(|_| usage());
        match flag.as_str() {
            "--target" | "--addr" => args.targets.push(value),
            "--subscribers" => args.subscribers = int(&value),
            "--filter" => {
                args.filter = match value.as_str() {
                    "none" => Filter::None,
                    "actor" => Filter::Actor,
                    _ => usage(),
                }
            }
            "--actors" => args.actors = int(&value),
            "--rate" => args.rate = value.parse().unwrap_or_else(|_| usage()),
            "--duration" => args.duration = secs(&value),
            "--baseline" => args.baseline = secs(&value),
            "--drain" => args.drain = secs(&value),
            "--connect-concurrency" => args.connect_concurrency = int(&value),
            "--connect-timeout" => args.connect_timeout = secs(&value),
            "--pid" => args.pids.push(value.parse().unwrap_or_else(|_| usage())),
            "--verify-db" => args.verify_db = Some(value),
            "--label" => args.label = value,
            _ => usage(),
        }
    }
    if args.targets.is_empty() {
        usage()
    }
    // Traffic goes to this machine only.
    for target in &args.targets {
        let host = target.rsplit_once(':').map(|(h, _)| h).unwrap_or("");
        if !is_loopback(host) {
            fail("--target must be a loopback address (127.0.0.1:PORT)");
        }
    }
    if let Some(url) = &args.verify_db {
        let host = url
            .split_once('@')
            .map(|(_, rest)| rest)
            .and_then(|rest| rest.split(['/', ':']).next())
            .unwrap_or("");
        if !url.starts_with("postgres://") || !is_loopback(host) {
            fail("--verify-db must be postgres://USER@127.0.0.1:PORT/DB");
        }
    }
    if args.rate <= 0.0 || args.rate > 10_000.0 {
        fail("--rate must be in (0, 10000]");
    }
    if args.actors == 0 {
        args.actors = args.subscribers.max(1);
    }
    args
}

/// A per-run prefix, so that this run's actors are not anyone else's.
fn run_id() -> u32 {
    (now_micros() as u64 % 0xffff_ffff) as u32
}

/// Actor `i` of run `run`: distinct per run, a version-4-shaped UUID.
fn actor(run: u32, i: usize) -> String {
    format!("{run:08x}-0000-4000-8000-{i:012x}")
}

/// A resident-memory reading in KiB, from /proc.
fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
}

/// User + system clock ticks from a /proc stat line.
fn stat_ticks(stat: &str) -> Option<u64> {
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    Some(fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?)
}

/// CPU time (user + system) this process has used, in seconds; the client
/// shares the machine with the server, so its cost is reported next to the result.
fn own_cpu_secs() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    Some(stat_ticks(&stat)? as f64 / 100.0)
}

/// What a process's threads used, by thread name (threads of one name
/// summed): CPU ticks, and nanoseconds spent runnable but waiting for a core
/// (`schedstat`): where the server's time goes, and whether it was starved
/// of CPU rather than slow, without a profiler.
#[derive(Default, Clone, Copy)]
struct ThreadUse {
    ticks: u64,
    wait_ns: u64,
}

fn threads_use(pid: u32) -> HashMap<String, ThreadUse> {
    let mut out: HashMap<String, ThreadUse> = HashMap::new();
    let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return out;
    };
    for task in dir.flatten() {
        let path = task.path();
        let name = std::fs::read_to_string(path.join("comm")).unwrap_or_default();
        let stat = std::fs::read_to_string(path.join("stat")).unwrap_or_default();
        let sched = std::fs::read_to_string(path.join("schedstat")).unwrap_or_default();
        let wait_ns = sched
            .split_whitespace()
            .nth(1)
            .and_then(|w| w.parse::<u64>().ok())
            .unwrap_or(0);
        if let Some(ticks) = stat_ticks(&stat) {
            let entry = out.entry(name.trim().to_string()).or_default();
            entry.ticks += ticks;
            entry.wait_ns += wait_ns;
        }
    }
    out
}

/// Busy and total jiffies of the whole machine, from /proc/stat.
fn machine_ticks() -> Option<(u64, u64)> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let cpu: Vec<u64> = stat
        .lines()
        .next()?
        .split_whitespace()
        .skip(1)
        .filter_map(|x| x.parse().ok())
        .collect();
    let total: u64 = cpu.iter().take(8).sum();
    let idle = cpu.get(3)? + cpu.get(4)?;
    Some((total - idle, total))
}

fn now_micros() -> i64 {
    chrono::Utc::now().timestamp_micros()
}

/// The integer after `"key":` in `text`, found without parsing the message.
fn int_after(text: &str, key: &str) -> Option<i64> {
    let start = text.find(key)? + key.len();
    let rest = &text[start..];
    let end = rest
        .find(|c: char| !(c.is_ascii_digit() || c == '-'))
        .unwrap_or(rest.len());
    rest[..end].parse().ok()
}

/// A position, `(txid, seq)`: what order and identity are checked by.
type Pos = (i64, i64);

/// The position `(txid, seq)` of a `next` message: its `cursor` is URL-safe
/// base64 of `p1:<txid>:<seq>`.
fn position(text: &str) -> Option<Pos> {
    const KEY: &str = "\"cursor\":\"";
    let start = text.find(KEY)? + KEY.len();
    let end = start + text[start..].find('"')?;
    let raw = URL_SAFE_NO_PAD.decode(&text[start..end]).ok()?;
    let (txid, seq) = std::str::from_utf8(&raw)
        .ok()?
        .strip_prefix("p1:")?
        .split_once(':')?;
    Some((txid.parse().ok()?, seq.parse().ok()?))
}

/// One delivery as received.
struct Received {
    position: Pos,
    /// Receipt minus the writer's send time, µs; `None` for rows another writer made.
    from_sent: Option<i64>,
    /// The writer's request number, to match its acknowledgement.
    n: Option<i64>,
    at: i64,
}

/// What one subscriber saw.
#[derive(Default)]
struct SubscriberReport {
    subscribed: bool,
    received: Vec<Received>,
    /// `next` messages whose cursor could not be read.
    unreadable: u64,
    errors: u64,
    lagged: bool,
    /// The server ended the stream or closed the socket before we stopped.
    ended_early: bool,
    error_text: Option<String>,
}

/// One subscriber: connect, init, subscribe, tell `ready`, then read until `stop`.
async fn subscriber(
    url: String,
    document: String,
    gate: Arc<Semaphore>,
    ready: mpsc::UnboundedSender<bool>,
    stop: Arc<tokio::sync::Notify>,
    stopped: Arc<AtomicBool>,
) -> SubscriberReport {
    let mut report = SubscriberReport::default();
    let permit = gate
        .acquire_owned()
        .await
        .expect("semaphore is never closed");
    let mut request = url.into_client_request().expect("a valid websocket url");
    request.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        HeaderValue::from_static("graphql-transport-ws"),
    );
    let config = WebSocketConfig::default()
        .read_buffer_size(8 * 1024)
        .write_buffer_size(0);
    let connected = tokio::time::timeout(
        Duration::from_secs(30),
        tokio_tungstenite::connect_async_with_config(request, Some(config), true),
    )
    .await;
    let mut socket = match connected {
        Ok(Ok((socket, _))) => socket,
        Ok(Err(e)) => {
            report.error_text = Some(format!("connect: {e}"));
            let _ = ready.send(false);
            return report;
        }
        Err(_) => {
            report.error_text = Some("connect: timed out".into());
            let _ = ready.send(false);
            return report;
        }
    };
    let handshake = async {
        socket
            .send(Message::Text(
                json!({"type": "connection_init", "payload": {}})
                    .to_string()
                    .into(),
            ))
            .await?;
        loop {
            match socket.next().await {
                Some(Ok(Message::Text(t))) if t.as_str().contains("connection_ack") => break,
                Some(Ok(_)) => continue,
                Some(Err(e)) => return Err(e),
                None => {
                    return Err(tokio_tungstenite::tungstenite::Error::ConnectionClosed);
                }
            }
        }
        socket
            .send(Message::Text(
                json!({"id": "1", "type": "subscribe", "payload": {"query": document}})
                    .to_string()
                    .into(),
            ))
            .await
    };
    match tokio::time::timeout(Duration::from_secs(30), handshake).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => {
            report.error_text = Some(format!("handshake: {e}"));
            let _ = ready.send(false);
            return report;
        }
        Err(_) => {
            report.error_text = Some("handshake: timed out".into());
            let _ = ready.send(false);
            return report;
        }
    }
    drop(permit);
    report.subscribed = true;
    let _ = ready.send(true);
    loop {
        if stopped.load(Ordering::Relaxed) {
            break;
        }
        let message = tokio::select! {
            m = socket.next() => m,
            _ = stop.notified() => break,
        };
        let text = match message {
            Some(Ok(Message::Text(t))) => t,
            Some(Ok(Message::Close(_))) | None => {
                report.ended_early = true;
                break;
            }
            Some(Ok(_)) => continue,
            Some(Err(e)) => {
                report.error_text = Some(format!("read: {e}"));
                report.ended_early = true;
                break;
            }
        };
        let at = now_micros();
        let text = text.as_str();
        if text.contains("\"type\":\"next\"") {
            if text.contains("\"errors\"") {
                report.errors += 1;
                if text.contains("SUBSCRIBER_LAGGED") {
                    report.lagged = true;
                } else {
                    report.error_text = Some(text.chars().take(200).collect());
                }
                continue;
            }
            match position(text) {
                Some(position) => report.received.push(Received {
                    position,
                    from_sent: int_after(text, "\"bench_sent_us\":").map(|t| at - t),
                    n: int_after(text, "\"bench_n\":"),
                    at,
                }),
                None => report.unreadable += 1,
            }
        } else if text.contains("\"type\":\"ping\"") {
            let _ = socket
                .send(Message::Text(r#"{"type":"pong"}"#.into()))
                .await;
        } else if text.contains("\"type\":\"error\"") {
            report.errors += 1;
            report.error_text = Some(text.chars().take(200).collect());
        } else if text.contains("\"type\":\"complete\"") {
            report.ended_early = true;
            break;
        }
    }
    let _ = tokio::time::timeout(Duration::from_secs(1), socket.close(None)).await;
    report
}

/// What the writer saw.
struct WriterReport {
    ok: u64,
    failed: u64,
    /// Latencies of successful `log` calls, microseconds.
    latencies: Vec<u32>,
    /// When each request `n` was acknowledged, µs since the epoch.
    acked_at: HashMap<i64, i64>,
    elapsed: Duration,
    first_error: Option<String>,
}

/// What the writer writes and where.
#[derive(Clone)]
struct WritePlan {
    urls: Vec<String>,
    action: String,
    run: u32,
    actors: usize,
    rate: f64,
    duration: Duration,
}

/// A small deterministic generator (xorshift64*), so that writes spread
/// over the actors the same way in every run without a dependency.
fn next_random(state: &mut u64) -> u64 {
    *state ^= *state >> 12;
    *state ^= *state << 25;
    *state ^= *state >> 27;
    state.wrapping_mul(0x2545_f491_4f6c_dd1d)
}

/// Logs `rate` activities a second for `duration`, open loop (a slow
/// response does not delay the next request), at most 256 in flight; each
/// on a random one of the actors, the instances in turn.
async fn writer(plan: WritePlan) -> WriterReport {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(256)
        .timeout(Duration::from_secs(10))
        .build()
        .expect("an HTTP client");
    let total = (plan.rate * plan.duration.as_secs_f64()).round() as u64;
    let period = Duration::from_secs_f64(1.0 / plan.rate);
    let in_flight = Arc::new(Semaphore::new(256));
    let (tx, mut rx) = mpsc::unbounded_channel::<(i64, Result<u32, String>, i64)>();
    let started = Instant::now();
    let mut ticker = tokio::time::interval(period);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut random = 0x9e37_79b9_7f4a_7c15u64 ^ plan.run as u64;
    for n in 0..total as i64 {
        ticker.tick().await;
        let permit = in_flight.clone().acquire_owned().await.expect("open");
        let client = client.clone();
        let url = plan.urls[n as usize % plan.urls.len()].clone();
        let actor = actor(
            plan.run,
            (next_random(&mut random) % plan.actors as u64) as usize,
        );
        let action = plan.action.clone();
        let tx = tx.clone();
        tokio::spawn(async move {
            let body = json!({
                "query": LOG,
                "variables": {"input": {
                    "action": action,
                    "module": "bench",
                    "mode": "script",
                    "actorUuid": actor,
                    "resourceType": "post",
                    "metadata": {"bench_n": n, "bench_sent_us": now_micros()}
                }}
            });
            let t0 = Instant::now();
            let result = async {
                let response = client
                    .post(&url)
                    .json(&body)
                    .send()
                    .await
                    .map_err(|e| e.to_string())?;
                let status = response.status();
                let value: Value = response.json().await.map_err(|e| e.to_string())?;
                let errors = value.pointer("/data/log/errors");
                let refused = errors.is_some_and(|e| e.as_array().is_some_and(|a| !a.is_empty()));
                if !status.is_success() || value.get("errors").is_some() || refused {
                    return Err(format!("{status}: {value}"));
                }
                Ok(t0.elapsed().as_micros().min(u32::MAX as u128) as u32)
            }
            .await;
            let _ = tx.send((n, result, now_micros()));
            drop(permit);
        });
    }
    drop(tx);
    let mut report = WriterReport {
        ok: 0,
        failed: 0,
        latencies: Vec::with_capacity(total as usize),
        acked_at: HashMap::with_capacity(total as usize),
        elapsed: Duration::ZERO,
        first_error: None,
    };
    while let Some((n, result, at)) = rx.recv().await {
        match result {
            Ok(micros) => {
                report.ok += 1;
                report.latencies.push(micros);
                report.acked_at.insert(n, at);
            }
            Err(e) => {
                report.failed += 1;
                report.first_error.get_or_insert(e);
            }
        }
    }
    report.elapsed = started.elapsed();
    report
}

/// Runs the writer on its own thread and runtime, so that the subscribers'
/// reads in the main runtime do not delay its requests or its clock.
async fn write_alone(plan: WritePlan) -> WriterReport {
    tokio::task::spawn_blocking(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime for the writer")
            .block_on(writer(plan))
    })
    .await
    .expect("the writer thread")
}

/// The q-quantile of `v` (sorted in place), in milliseconds.
fn quantile_ms<T: Copy + Ord + Into<i64>>(v: &mut [T], q: f64) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    let i = ((v.len() as f64 - 1.0) * q).round() as usize;
    let (_, x, _) = v.select_nth_unstable(i);
    Some((*x).into() as f64 / 1000.0)
}

fn writer_summary(w: &mut WriterReport) -> Value {
    let mean = (!w.latencies.is_empty()).then(|| {
        w.latencies.iter().map(|&x| x as f64).sum::<f64>() / w.latencies.len() as f64 / 1000.0
    });
    json!({
        "ok": w.ok,
        "failed": w.failed,
        "first_error": w.first_error,
        "rate": w.ok as f64 / w.elapsed.as_secs_f64(),
        "p50_ms": quantile_ms(&mut w.latencies, 0.50),
        "p99_ms": quantile_ms(&mut w.latencies, 0.99),
        "mean_ms": mean,
    })
}

/// The table's rows committed since `since_us` (µs since the epoch), in
/// position order, with their actor: what every stream is checked against.
/// Read with psql (which bench/run installs) so the client needs no driver.
fn table_rows(url: &str, since_us: i64) -> Result<Vec<(Pos, String)>, String> {
    let sql = format!(
        "COPY (SELECT txid, seq, coalesce(actor_uuid::text, '') FROM activities \
         WHERE inserted_at >= to_timestamp({since_us}::float8 / 1e6) ORDER BY txid, seq) TO STDOUT"
    );
    let out = std::process::Command::new("psql")
        .args([url, "-XAtq", "-v", "ON_ERROR_STOP=1", "-c", &sql])
        .output()
        .map_err(|e| format!("psql: {e}"))?;
    if !out.status.success() {
        return Err(format!("psql: {}", String::from_utf8_lossy(&out.stderr)));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .map(|line| {
            let mut f = line.split('\t');
            let txid = f.next().and_then(|x| x.parse().ok());
            let seq = f.next().and_then(|x| x.parse().ok());
            let actor = f.next().unwrap_or("").to_string();
            match (txid, seq) {
                (Some(t), Some(s)) => Ok(((t, s), actor)),
                _ => Err(format!("unreadable row: {line}")),
            }
        })
        .collect()
}

/// How one subscriber's stream compares with what the table says it should have received.
#[derive(Default)]
struct Check {
    expected: u64,
    received: u64,
    /// Matching rows never received, below the last position received: holes.
    missing: u64,
    /// Matching rows above the last position received: still on their way
    /// when the run stopped (a subscriber that fell behind), or lost at the end.
    late: u64,
    repeated: u64,
    /// A position not above the one before it (a repeat counts here too).
    out_of_order: u64,
    /// Received, but not a row of the table matching the filter in the window.
    unexpected: u64,
}

fn check(received: &[Pos], expected: &[Pos]) -> Check {
    let mut c = Check {
        expected: expected.len() as u64,
        received: received.len() as u64,
        ..Check::default()
    };
    for pair in received.windows(2) {
        if pair[1] <= pair[0] {
            c.out_of_order += 1;
        }
    }
    let mut seen = HashSet::with_capacity(received.len());
    for p in received {
        if !seen.insert(*p) {
            c.repeated += 1;
        }
    }
    let want: HashSet<&Pos> = expected.iter().collect();
    c.unexpected = seen.iter().filter(|p| !want.contains(p)).count() as u64;
    let last = received.iter().max();
    for p in expected.iter().filter(|p| !seen.contains(p)) {
        if last.is_some_and(|last| p < last) {
            c.missing += 1;
        } else {
            c.late += 1;
        }
    }
    c
}

#[tokio::main]
async fn main() {
    let args = parse_args();
    let run = run_id();
    let http_urls: Vec<String> = args
        .targets
        .iter()
        .map(|t| format!("http://{t}/graphql"))
        .collect();
    let plan = |action: &str, duration: Duration| WritePlan {
        urls: http_urls.clone(),
        action: format!("{action}.{run:08x}"),
        run,
        actors: args.actors,
        rate: args.rate,
        duration,
    };

    // Phase 0: the writer alone, nobody subscribed, same server processes:
    // the baseline the writers' slowdown is a ratio against. A fresh server
    // answered its first seconds of writes slower than later ones (S2's
    // writers were faster with 10,000 subscribers than alone, twice), so
    // the baseline is measured after as long a warm-up, unmeasured.
    let baseline = if args.baseline > Duration::ZERO {
        let _ = write_alone(plan(
            "bench.warm",
            args.baseline.min(Duration::from_secs(5)),
        ))
        .await;
        let mut w = write_alone(plan("bench.base", args.baseline)).await;
        tokio::time::sleep(Duration::from_secs(1)).await;
        Some(writer_summary(&mut w))
    } else {
        None
    };

    // Phase 1: connect and subscribe everyone, a bounded number at a time,
    // round-robin over the instances.
    let gate = Arc::new(Semaphore::new(args.connect_concurrency.max(1)));
    let stop = Arc::new(tokio::sync::Notify::new());
    let stopped = Arc::new(AtomicBool::new(false));
    let (ready_tx, mut ready_rx) = mpsc::unbounded_channel();
    let connect_started = Instant::now();
    let mut tasks = Vec::with_capacity(args.subscribers);
    let mut filters = Vec::with_capacity(args.subscribers);
    for i in 0..args.subscribers {
        let own = match args.filter {
            Filter::None => None,
            Filter::Actor => Some(actor(run, i % args.actors)),
        };
        let document = match &own {
            None => format!("subscription {{ activityAdded {{ {FIELDS} }} }}"),
            Some(a) => format!(
                "subscription {{ activityAdded(filter: {{actorUuid: \"{a}\"}}) {{ {FIELDS} }} }}"
            ),
        };
        filters.push(own);
        let target = &args.targets[i % args.targets.len()];
        tasks.push(tokio::spawn(subscriber(
            format!("ws://{target}/graphql"),
            document,
            gate.clone(),
            ready_tx.clone(),
            stop.clone(),
            stopped.clone(),
        )));
    }
    drop(ready_tx);
    let mut answered = 0usize;
    let mut subscribed = 0usize;
    let deadline = tokio::time::Instant::now() + args.connect_timeout;
    while answered < args.subscribers {
        match tokio::time::timeout_at(deadline, ready_rx.recv()).await {
            Ok(Some(ok)) => {
                answered += 1;
                subscribed += ok as usize;
            }
            Ok(None) | Err(_) => break,
        }
    }
    let connect_secs = connect_started.elapsed().as_secs_f64();
    // Let the server settle before the clock starts.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let rss_subscribed: Vec<Option<u64>> = args.pids.iter().map(|&p| rss_kib(p)).collect();

    // Phase 2: write at the fixed rate while everyone listens; sample RSS.
    let cpu_before = own_cpu_secs();
    let threads_before: Vec<_> = args.pids.iter().map(|&p| threads_use(p)).collect();
    let machine_before = machine_ticks();
    let measure_started = Instant::now();
    let since_us = now_micros();
    let sampling = Arc::new(AtomicBool::new(true));
    let rss_max: Vec<Arc<AtomicI64>> = args.pids.iter().map(|_| Arc::default()).collect();
    let sampler = {
        let sampling = sampling.clone();
        let pids = args.pids.clone();
        let maxima = rss_max.clone();
        tokio::spawn(async move {
            while sampling.load(Ordering::Relaxed) {
                for (pid, max) in pids.iter().zip(&maxima) {
                    if let Some(r) = rss_kib(*pid) {
                        max.fetch_max(r as i64, Ordering::Relaxed);
                    }
                }
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        })
    };
    let mut writes = write_alone(plan("bench.live", args.duration)).await;
    // Phase 3: give late deliveries a bounded time to arrive, then stop.
    tokio::time::sleep(args.drain).await;
    let measured_secs = measure_started.elapsed().as_secs_f64();
    sampling.store(false, Ordering::Relaxed);
    let _ = sampler.await;
    let machine_after = machine_ticks();
    let threads_after: Vec<_> = args.pids.iter().map(|&p| threads_use(p)).collect();
    stopped.store(true, Ordering::Relaxed);
    stop.notify_waiters();
    let client_cpu_cores = match (cpu_before, own_cpu_secs()) {
        (Some(a), Some(b)) => Some((b - a) / measured_secs),
        _ => None,
    };
    // Per-thread CPU of each server during phases 2 and 3, in cores, and how
    // long its threads waited for a core, in thread-seconds per second.
    let mut server_waits: Vec<Value> = Vec::new();
    let server_threads: Vec<Value> = threads_before
        .iter()
        .zip(&threads_after)
        .map(|(before, after)| {
            let mut by_name: Vec<(String, f64)> = Vec::new();
            let mut waits: Vec<(String, f64)> = Vec::new();
            for (name, t) in after {
                let b = before.get(name).copied().unwrap_or_default();
                let used = t.ticks.saturating_sub(b.ticks);
                by_name.push((name.clone(), used as f64 / 100.0 / measured_secs));
                let waited = t.wait_ns.saturating_sub(b.wait_ns);
                waits.push((name.clone(), waited as f64 / 1e9 / measured_secs));
            }
            by_name.sort_by(|a, b| b.1.total_cmp(&a.1));
            waits.sort_by(|a, b| b.1.total_cmp(&a.1));
            server_waits.push(json!(waits));
            json!(by_name)
        })
        .collect();
    let machine_busy_cores = match (machine_before, machine_after) {
        (Some((b0, t0)), Some((b1, t1))) if t1 > t0 => {
            let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
            Some((b1 - b0) as f64 / (t1 - t0) as f64 * cores)
        }
        _ => None,
    };

    let mut reports = Vec::with_capacity(tasks.len());
    for task in tasks {
        match tokio::time::timeout(Duration::from_secs(10), task).await {
            Ok(Ok(report)) => reports.push(report),
            _ => reports.push(SubscriberReport {
                error_text: Some("did not stop in time".into()),
                ..SubscriberReport::default()
            }),
        }
    }

    // Latencies, of the rows this writer wrote.
    let mut from_sent: Vec<i64> = Vec::new();
    let mut from_ack: Vec<i64> = Vec::new();
    let mut error_kinds: HashMap<String, u64> = HashMap::new();
    for r in &reports {
        for d in &r.received {
            if let Some(l) = d.from_sent {
                from_sent.push(l);
            }
            if let Some(acked) = d.n.and_then(|n| writes.acked_at.get(&n)) {
                from_ack.push(d.at - acked);
            }
        }
        if let Some(e) = &r.error_text {
            let kind: String = e.chars().take(100).collect();
            *error_kinds.entry(kind).or_default() += 1;
        }
    }

    // Every stream against the table.
    let verification = match &args.verify_db {
        None => json!(null),
        Some(url) => match table_rows(url, since_us) {
            Err(e) => json!({"error": e}),
            Ok(rows) => {
                let all: Vec<Pos> = rows.iter().map(|(p, _)| *p).collect();
                let mut by_actor: HashMap<&str, Vec<Pos>> = HashMap::new();
                for (p, a) in &rows {
                    by_actor.entry(a.as_str()).or_default().push(*p);
                }
                let mut totals = json!({
                    "table_rows": rows.len(),
                    "checked": 0, "lagged": 0, "ended_early": 0, "not_subscribed": 0,
                    "expected": 0, "received": 0, "lost": 0, "late": 0, "subscribers_late": 0, "repeated": 0,
                    "out_of_order": 0, "unexpected": 0, "unreadable": 0,
                    "missing_of_lagged": 0, "subscribers_with_loss": 0,
                });
                let add = |totals: &mut Value, key: &str, n: u64| {
                    let v = totals[key].as_u64().unwrap_or(0);
                    totals[key] = json!(v + n);
                };
                for (r, own) in reports.iter().zip(&filters) {
                    if !r.subscribed {
                        add(&mut totals, "not_subscribed", 1);
                        continue;
                    }
                    let expected: &[Pos] = match own {
                        None => &all,
                        Some(a) => by_actor.get(a.as_str()).map_or(&[], |v| v),
                    };
                    let got: Vec<Pos> = r.received.iter().map(|d| d.position).collect();
                    let c = check(&got, expected);
                    add(&mut totals, "unreadable", r.unreadable);
                    if r.lagged {
                        // Dropped by the server on purpose: not a loss, reported apart.
                        add(&mut totals, "lagged", 1);
                        add(&mut totals, "missing_of_lagged", c.missing + c.late);
                        continue;
                    }
                    if r.ended_early {
                        add(&mut totals, "ended_early", 1);
                    }
                    add(&mut totals, "checked", 1);
                    add(&mut totals, "expected", c.expected);
                    add(&mut totals, "received", c.received);
                    add(&mut totals, "lost", c.missing);
                    add(&mut totals, "late", c.late);
                    add(&mut totals, "subscribers_late", (c.late > 0) as u64);
                    add(&mut totals, "repeated", c.repeated);
                    add(&mut totals, "out_of_order", c.out_of_order);
                    add(&mut totals, "unexpected", c.unexpected);
                    add(&mut totals, "subscribers_with_loss", (c.missing > 0) as u64);
                }
                // Every acknowledged write must be in the table, and only those.
                let live_prefix = format!("bench.live.{run:08x}");
                totals["writes_acknowledged"] = json!(writes.ok);
                totals["live_action"] = json!(live_prefix);
                totals
            }
        },
    };

    let out = json!({
        "label": args.label,
        "targets": args.targets,
        "filter": match args.filter { Filter::None => "none", Filter::Actor => "actorUuid" },
        "actors": args.actors,
        "subscribers_requested": args.subscribers,
        "subscribed": subscribed,
        "connect_secs": connect_secs,
        "rate_target": args.rate,
        "duration_secs": args.duration.as_secs_f64(),
        "drain_secs": args.drain.as_secs_f64(),
        "baseline": baseline,
        "writer": writer_summary(&mut writes),
        "latency_from": "sent: receipt - bench_sent_us (writer clock before the request, an upper bound); ack: receipt - the writer's acknowledgement (a lower bound)",
        "deliveries": from_sent.len(),
        "delivery_p50_ms": quantile_ms(&mut from_sent, 0.50),
        "delivery_p99_ms": quantile_ms(&mut from_sent, 0.99),
        "delivery_max_ms": from_sent.iter().max().map(|&x| x as f64 / 1000.0),
        "ack_delivery_p50_ms": quantile_ms(&mut from_ack, 0.50),
        "ack_delivery_p99_ms": quantile_ms(&mut from_ack, 0.99),
        "verify": verification,
        "subscriber_errors": reports.iter().map(|r| r.errors).sum::<u64>(),
        "connection_errors": error_kinds,
        "rss_subscribed_kib": rss_subscribed,
        "rss_max_kib": rss_max.iter().map(|m| m.load(Ordering::Relaxed)).collect::<Vec<_>>(),
        "server_threads_cores": server_threads,
        "server_threads_runqueue_wait": server_waits,
        "machine_busy_cores": machine_busy_cores,
        "client_cpu_cores": client_cpu_cores,
    });
    println!("{out}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_complete_stream_in_order_passes() {
        let table = [(5, 1), (5, 2), (7, 3)];
        let c = check(&table, &table);
        assert_eq!(
            (c.missing, c.late, c.repeated, c.out_of_order, c.unexpected),
            (0, 0, 0, 0, 0)
        );
    }

    #[test]
    fn a_hole_is_lost_and_a_missing_tail_is_late() {
        let table = [(5, 1), (5, 2), (7, 3), (8, 4)];
        let c = check(&[(5, 1), (7, 3)], &table);
        assert_eq!((c.missing, c.late), (1, 1));
    }

    #[test]
    fn repeats_and_disorder_are_counted() {
        let table = [(5, 1), (5, 2), (7, 3)];
        let c = check(&[(5, 1), (7, 3), (5, 2), (7, 3)], &table);
        assert_eq!((c.repeated, c.out_of_order, c.missing), (1, 1, 0));
    }

    #[test]
    fn rows_outside_the_table_are_unexpected() {
        let c = check(&[(5, 1), (9, 9)], &[(5, 1)]);
        assert_eq!((c.unexpected, c.missing, c.late), (1, 0, 0));
    }

    #[test]
    fn a_cursor_decodes_to_its_position() {
        let cursor = URL_SAFE_NO_PAD.encode("p1:812:34");
        let message = format!(
            r#"{{"type":"next","payload":{{"data":{{"activityAdded":{{"cursor":"{cursor}","metadata":{{"bench_n":7,"bench_sent_us":1700000000000000}}}}}}}}}}"#
        );
        assert_eq!(position(&message), Some((812, 34)));
        assert_eq!(int_after(&message, "\"bench_n\":"), Some(7));
        assert_eq!(
            int_after(&message, "\"bench_sent_us\":"),
            Some(1_700_000_000_000_000)
        );
    }
}
