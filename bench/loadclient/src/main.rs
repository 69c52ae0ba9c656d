//! S1, subscription fan-out: opens N graphql-transport-ws subscribers to
//! `activityAdded` on 127.0.0.1, logs activities at a fixed rate through the
//! `log` mutation while they listen, and prints one JSON line: how long a
//! delivery took from the row's `insertedAt` to its receipt (p50/p99), how
//! many deliveries arrived, and what the writer saw (rate and latency).
//!
//! It only talks to loopback addresses, and every phase is bounded in time.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::sync::{mpsc, Semaphore};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;

/// The subscription every subscriber opens: scalar fields only, so that the
/// number measured is the fan-out itself and not a users lookup per event.
const SUBSCRIPTION: &str =
    "subscription { activityAdded { uuid action module mode insertedAt metadata } }";

/// The mutation the writer sends.
const LOG: &str = "mutation Log($input: LogInput!) { log(input: $input) { activity { uuid insertedAt } errors { field message } } }";

#[derive(Debug, Clone)]
struct Args {
    /// Host and port of the server, e.g. 127.0.0.1:18080.
    addr: String,
    subscribers: usize,
    rate: f64,
    duration: Duration,
    drain: Duration,
    connect_concurrency: usize,
    connect_timeout: Duration,
    pid: Option<u32>,
    label: String,
}

fn usage() -> ! {
    eprintln!(
        "usage: af-loadclient --addr 127.0.0.1:PORT [--subscribers N] [--rate PER_SEC] \
         [--duration SECS] [--drain SECS] [--connect-concurrency N] [--connect-timeout SECS] \
         [--pid SERVER_PID] [--label TEXT]"
    );
    std::process::exit(2)
}

fn parse_args() -> Args {
    let mut args = Args {
        addr: String::new(),
        subscribers: 1000,
        rate: 200.0,
        duration: Duration::from_secs(10),
        drain: Duration::from_secs(5),
        connect_concurrency: 200,
        connect_timeout: Duration::from_secs(120),
        pid: None,
        label: String::new(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().unwrap_or_else(|| usage());
        let secs = |v: &str| Duration::from_secs_f64(v.parse().unwrap_or_else(|_| usage()));
        match flag.as_str() {
            "--addr" => args.addr = value,
            "--subscribers" => args.subscribers = value.parse().unwrap_or_else(|_| usage()),
            "--rate" => args.rate = value.parse().unwrap_or_else(|_| usage()),
            "--duration" => args.duration = secs(&value),
            "--drain" => args.drain = secs(&value),
            "--connect-concurrency" => {
                args.connect_concurrency = value.parse().unwrap_or_else(|_| usage())
            }
            "--connect-timeout" => args.connect_timeout = secs(&value),
            "--pid" => args.pid = Some(value.parse().unwrap_or_else(|_| usage())),
            "--label" => args.label = value,
            _ => usage(),
        }
    }
    // Traffic goes to this machine only.
    let host = args.addr.rsplit_once(':').map(|(h, _)| h).unwrap_or("");
    let loopback = host
        .trim_matches(['[', ']'])
        .parse::<IpAddr>()
        .is_ok_and(|ip| ip.is_loopback());
    if !loopback {
        eprintln!("--addr must be a loopback address (127.0.0.1:PORT)");
        std::process::exit(2)
    }
    if args.rate <= 0.0 || args.rate > 10_000.0 {
        eprintln!("--rate must be in (0, 10000]");
        std::process::exit(2)
    }
    args
}

/// The server's resident memory in KiB, from /proc.
fn rss_kib(pid: Option<u32>) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{}/status", pid?)).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
}

/// CPU time (user + system) this process has used, in seconds; the client
/// shares the machine with the server, so its cost is reported next to the result.
fn own_cpu_secs() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
}

fn now_micros() -> i64 {
    chrono::Utc::now().timestamp_micros()
}

/// The `insertedAt` of a `next` message, in microseconds since the epoch,
/// found without parsing the whole message.
fn inserted_at_micros(text: &str) -> Option<i64> {
    const KEY: &str = "\"insertedAt\":\"";
    let start = text.find(KEY)? + KEY.len();
    let end = start + text[start..].find('"')?;
    chrono::DateTime::parse_from_rfc3339(&text[start..end])
        .ok()
        .map(|t| t.timestamp_micros())
}

/// What one subscriber saw.
#[derive(Default)]
struct SubscriberReport {
    subscribed: bool,
    /// Delivery latencies in microseconds.
    latencies: Vec<u32>,
    errors: u64,
    lagged: u64,
    error_text: Option<String>,
}

/// One subscriber: connect, init, subscribe, tell `ready`, then read until `stop`.
async fn subscriber(
    url: String,
    gate: Arc<Semaphore>,
    ready: mpsc::UnboundedSender<bool>,
    stop: Arc<tokio::sync::Notify>,
    stopped: Arc<AtomicBool>,
    measure_from: Arc<std::sync::atomic::AtomicI64>,
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
                json!({"id": "1", "type": "subscribe", "payload": {"query": SUBSCRIPTION}})
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
            Some(Ok(Message::Close(_))) | None => break,
            Some(Ok(_)) => continue,
            Some(Err(e)) => {
                report.error_text = Some(format!("read: {e}"));
                break;
            }
        };
        let received = now_micros();
        let text = text.as_str();
        if text.contains("\"type\":\"next\"") {
            if text.contains("\"errors\"") {
                report.errors += 1;
                if text.contains("LAGGED") || text.contains("fell behind") {
                    report.lagged += 1;
                }
                continue;
            }
            if let Some(at) = inserted_at_micros(text) {
                if at >= measure_from.load(Ordering::Relaxed) {
                    let micros = (received - at).clamp(0, u32::MAX as i64) as u32;
                    report.latencies.push(micros);
                }
            }
        } else if text.contains("\"type\":\"ping\"") {
            let _ = socket
                .send(Message::Text(r#"{"type":"pong"}"#.into()))
                .await;
        } else if text.contains("\"type\":\"error\"") {
            report.errors += 1;
        } else if text.contains("\"type\":\"complete\"") {
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
    elapsed: Duration,
    first_error: Option<String>,
}

/// Logs `rate` activities a second for `duration`, open loop (a slow
/// response does not delay the next request), at most 256 in flight.
async fn writer(http_url: String, rate: f64, duration: Duration) -> WriterReport {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(256)
        .timeout(Duration::from_secs(10))
        .build()
        .expect("an HTTP client");
    let total = (rate * duration.as_secs_f64()).round() as u64;
    let period = Duration::from_secs_f64(1.0 / rate);
    let in_flight = Arc::new(Semaphore::new(256));
    let (tx, mut rx) = mpsc::unbounded_channel::<Result<u32, String>>();
    let started = Instant::now();
    let mut ticker = tokio::time::interval(period);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    for n in 0..total {
        ticker.tick().await;
        let permit = in_flight.clone().acquire_owned().await.expect("open");
        let client = client.clone();
        let url = http_url.clone();
        let tx = tx.clone();
        tokio::spawn(async move {
            let body = json!({
                "query": LOG,
                "variables": {"input": {
                    "action": "bench.s1",
                    "module": "bench",
                    "mode": "script",
                    "resourceType": "post",
                    "metadata": {"n": n, "source": "af-loadclient"}
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
                if !status.is_success() || value.get("errors").is_some() {
                    return Err(format!("{status}: {value}"));
                }
                Ok(t0.elapsed().as_micros().min(u32::MAX as u128) as u32)
            }
            .await;
            let _ = tx.send(result);
            drop(permit);
        });
    }
    drop(tx);
    let mut report = WriterReport {
        ok: 0,
        failed: 0,
        latencies: Vec::with_capacity(total as usize),
        elapsed: Duration::ZERO,
        first_error: None,
    };
    while let Some(result) = rx.recv().await {
        match result {
            Ok(micros) => {
                report.ok += 1;
                report.latencies.push(micros);
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

/// The q-quantile of `v` (sorted in place), in milliseconds.
fn quantile_ms(v: &mut [u32], q: f64) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    let i = ((v.len() as f64 - 1.0) * q).round() as usize;
    let (_, x, _) = v.select_nth_unstable(i);
    Some(*x as f64 / 1000.0)
}

#[tokio::main]
async fn main() {
    let args = parse_args();
    let ws_url = format!("ws://{}/graphql", args.addr);
    let http_url = format!("http://{}/graphql", args.addr);
    let rss_before = rss_kib(args.pid);

    // Phase 1: connect and subscribe everyone, a bounded number at a time.
    let gate = Arc::new(Semaphore::new(args.connect_concurrency.max(1)));
    let stop = Arc::new(tokio::sync::Notify::new());
    let stopped = Arc::new(AtomicBool::new(false));
    let measure_from = Arc::new(std::sync::atomic::AtomicI64::new(i64::MAX));
    let (ready_tx, mut ready_rx) = mpsc::unbounded_channel();
    let connect_started = Instant::now();
    let mut tasks = Vec::with_capacity(args.subscribers);
    for _ in 0..args.subscribers {
        tasks.push(tokio::spawn(subscriber(
            ws_url.clone(),
            gate.clone(),
            ready_tx.clone(),
            stop.clone(),
            stopped.clone(),
            measure_from.clone(),
        )));
    }
    drop(ready_tx);
    let answered = AtomicUsize::new(0);
    let mut subscribed = 0usize;
    let deadline = tokio::time::Instant::now() + args.connect_timeout;
    while answered.load(Ordering::Relaxed) < args.subscribers {
        match tokio::time::timeout_at(deadline, ready_rx.recv()).await {
            Ok(Some(ok)) => {
                answered.fetch_add(1, Ordering::Relaxed);
                subscribed += ok as usize;
            }
            Ok(None) | Err(_) => break,
        }
    }
    let connect_secs = connect_started.elapsed().as_secs_f64();
    // Let the server settle before the clock starts.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let rss_subscribed = rss_kib(args.pid);

    // Phase 2: write at the fixed rate while everyone listens; sample RSS.
    let cpu_before = own_cpu_secs();
    let measure_started = Instant::now();
    measure_from.store(now_micros(), Ordering::Relaxed);
    let sampling = Arc::new(AtomicBool::new(true));
    let sampler = {
        let sampling = sampling.clone();
        let pid = args.pid;
        tokio::spawn(async move {
            let mut max = 0u64;
            while sampling.load(Ordering::Relaxed) {
                if let Some(r) = rss_kib(pid) {
                    max = max.max(r);
                }
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            max
        })
    };
    // The writer runs on its own thread and runtime, so that the subscribers'
    // reads in this runtime do not delay its requests or its clock.
    let (rate, duration) = (args.rate, args.duration);
    let writes = tokio::task::spawn_blocking(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime for the writer")
            .block_on(writer(http_url, rate, duration))
    })
    .await
    .expect("the writer thread");
    // Phase 3: give late deliveries a bounded time to arrive, then stop.
    tokio::time::sleep(args.drain).await;
    sampling.store(false, Ordering::Relaxed);
    stopped.store(true, Ordering::Relaxed);
    stop.notify_waiters();
    let rss_max = sampler.await.unwrap_or_default();
    let client_cpu_cores = match (cpu_before, own_cpu_secs()) {
        (Some(a), Some(b)) => Some((b - a) / measure_started.elapsed().as_secs_f64()),
        _ => None,
    };

    let mut latencies: Vec<u32> = Vec::new();
    let mut errors = 0u64;
    let mut lagged = 0u64;
    let mut error_kinds: HashMap<String, u64> = HashMap::new();
    for task in tasks {
        if let Ok(Ok(report)) = tokio::time::timeout(Duration::from_secs(10), task).await {
            latencies.extend_from_slice(&report.latencies);
            errors += report.errors;
            lagged += report.lagged;
            if let Some(e) = report.error_text {
                let kind: String = e.chars().take(80).collect();
                *error_kinds.entry(kind).or_default() += 1;
            }
            let _ = report.subscribed;
        }
    }
    let expected = writes.ok * subscribed as u64;
    let delivered = latencies.len() as u64;
    let mut write_lat = writes.latencies;
    let write_mean_ms = if write_lat.is_empty() {
        None
    } else {
        Some(write_lat.iter().map(|&x| x as f64).sum::<f64>() / write_lat.len() as f64 / 1000.0)
    };
    let out = json!({
        "label": args.label,
        "subscribers_requested": args.subscribers,
        "subscribed": subscribed,
        "connect_secs": connect_secs,
        "rate_target": args.rate,
        "duration_secs": args.duration.as_secs_f64(),
        "writes_ok": writes.ok,
        "writes_failed": writes.failed,
        "write_first_error": writes.first_error,
        "write_rate": writes.ok as f64 / writes.elapsed.as_secs_f64(),
        "write_p50_ms": quantile_ms(&mut write_lat, 0.50),
        "write_p99_ms": quantile_ms(&mut write_lat, 0.99),
        "write_mean_ms": write_mean_ms,
        "expected_deliveries": expected,
        "delivered": delivered,
        "delivered_fraction": if expected > 0 { delivered as f64 / expected as f64 } else { 0.0 },
        "delivery_p50_ms": quantile_ms(&mut latencies, 0.50),
        "delivery_p99_ms": quantile_ms(&mut latencies, 0.99),
        "delivery_max_ms": latencies.iter().max().map(|&x| x as f64 / 1000.0),
        "subscriber_errors": errors,
        "lagged": lagged,
        "connection_errors": error_kinds,
        "rss_before_kib": rss_before,
        "rss_subscribed_kib": rss_subscribed,
        "rss_max_kib": rss_max,
        "client_cpu_cores": client_cpu_cores,
    });
    println!("{out}");
}
