//! The threads websockets run on: a runtime of their own, at a lower
//! scheduling priority than the one serving requests.
//!
//! Delivering one event to 10,000 sockets is 10,000 task wake-ups and
//! writes. On the request runtime those tasks queue ahead of every `log`
//! request (BENCHMARKS.md, S1: the writer fell from 200 to 5 requests/s);
//! here the operating system runs request threads first, and the sockets
//! use what CPU is left. Hubs render on the request runtime, once per event.

use std::sync::Arc;

use tokio::runtime::{Builder, Handle, Runtime};

/// How much lower than the request threads the delivery threads run (a nice
/// increment: each step is about 25% less CPU when both want it).
const NICENESS: i32 = 5;

/// The lowest priority a nice value gives.
const MAX_NICE: i32 = 19;

/// The websocket threads of one server; clones share them, and the last
/// clone dropped stops them.
#[derive(Clone)]
pub struct DeliveryRuntime(Arc<Threads>);

/// Owns the runtime, so that it is shut down however the server ends.
struct Threads(Option<Runtime>);

impl Drop for Threads {
    fn drop(&mut self) {
        // The last clone may go inside a runtime (the server's, or this one),
        // where a blocking shutdown would panic; the sockets are closed by then.
        if let Some(runtime) = self.0.take() {
            runtime.shutdown_background();
        }
    }
}

impl DeliveryRuntime {
    /// Starts the threads; when they cannot be started, sockets share the
    /// runtime they were upgraded on.
    pub fn start() -> Self {
        let runtime = build()
            .inspect_err(|error| {
                tracing::warn!(%error, "cannot start the websocket threads; sharing the request threads");
            })
            .ok();
        Self(Arc::new(Threads(runtime)))
    }

    /// Where websockets run: these threads, or the current runtime without them.
    pub fn handle(&self) -> Handle {
        self.0
             .0
            .as_ref()
            .map_or_else(Handle::current, |runtime| runtime.handle().clone())
    }
}

fn build() -> std::io::Result<Runtime> {
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    // One level for every thread of the runtime, read from the thread that
    // builds it: a thread the runtime starts later (a blocking task's, say)
    // may be started by one already lowered, and must not go lower still.
    let level = delivery_level();
    Builder::new_multi_thread()
        .worker_threads(threads)
        .thread_name("ws-delivery")
        .enable_all()
        .on_thread_start(move || lower_priority(level))
        .build()
}

/// The nice value of the delivery threads: [`NICENESS`] below the calling
/// thread's (so a server started under `nice` keeps the order between its
/// request and delivery threads); `None` where it cannot be read.
#[cfg(target_os = "linux")]
fn delivery_level() -> Option<i32> {
    let this_thread = Some(rustix::thread::gettid());
    rustix::process::getpriority_process(this_thread)
        .ok()
        .map(|level| (level + NICENESS).min(MAX_NICE))
}

/// Elsewhere the nice value is per process, and lowering it would lower the
/// request threads too.
#[cfg(not(target_os = "linux"))]
fn delivery_level() -> Option<i32> {
    None
}

/// Sets the calling thread's nice value to `level` (on Linux the nice value
/// is per thread, so the request threads keep theirs).
#[cfg(target_os = "linux")]
fn lower_priority(level: Option<i32>) {
    let Some(level) = level else { return };
    let this_thread = Some(rustix::thread::gettid());
    if let Err(error) = rustix::process::setpriority_process(this_thread, level) {
        tracing::debug!(%error, "cannot lower the websocket threads' priority");
    }
}

#[cfg(not(target_os = "linux"))]
fn lower_priority(_level: Option<i32>) {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[cfg(target_os = "linux")]
    fn delivery_threads_run_at_a_lower_priority_and_stop_with_the_last_clone() {
        let delivery = DeliveryRuntime::start();
        let here = rustix::process::getpriority_process(None).unwrap();
        let there = delivery.handle().block_on(async {
            tokio::task::spawn(async {
                rustix::process::getpriority_process(Some(rustix::thread::gettid())).unwrap()
            })
            .await
            .unwrap()
        });
        assert_eq!(there, (here + NICENESS).min(MAX_NICE));
        // A thread the runtime starts from one of its own lowered threads
        // (a blocking task's) runs at the same level, not lower still.
        let blocking = delivery.handle().block_on(async {
            tokio::task::spawn(async {
                tokio::task::spawn_blocking(|| {
                    rustix::process::getpriority_process(Some(rustix::thread::gettid())).unwrap()
                })
                .await
                .unwrap()
            })
            .await
            .unwrap()
        });
        assert_eq!(blocking, there);
        let clone = delivery.clone();
        drop(delivery);
        // Still running for the clone that is left.
        assert_eq!(clone.handle().block_on(async { 1 + 1 }), 2);
        drop(clone);
    }
}
