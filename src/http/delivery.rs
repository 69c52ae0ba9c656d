//! The threads websockets run on: a runtime of their own, at a lower
//! scheduling priority than the one serving requests.
//!
//! Delivering one event to 10,000 sockets is 10,000 task wake-ups and
//! writes. On the request runtime those tasks queue ahead of every `log`
//! request (BENCHMARKS.md, S1: the writer fell from 200 to 5 requests/s);
//! here the operating system runs request threads first, and the sockets
//! use what CPU is left. Hubs render on the request runtime, once per event.

use std::sync::OnceLock;

use tokio::runtime::{Builder, Handle, Runtime};

/// How much lower than the request threads the delivery threads run (a nice
/// increment: each step is about 25% less CPU when both want it).
#[cfg(target_os = "linux")]
const NICENESS: libc::c_int = 5;

static RUNTIME: OnceLock<Option<Runtime>> = OnceLock::new();

/// The runtime websockets run on; the current one if it cannot be started.
pub fn handle() -> Handle {
    RUNTIME
        .get_or_init(|| match start() {
            Ok(runtime) => Some(runtime),
            Err(error) => {
                tracing::warn!(%error, "cannot start the websocket threads; sharing the request threads");
                None
            }
        })
        .as_ref()
        .map_or_else(Handle::current, |runtime| runtime.handle().clone())
}

fn start() -> std::io::Result<Runtime> {
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    Builder::new_multi_thread()
        .worker_threads(threads)
        .thread_name("ws-delivery")
        .enable_all()
        .on_thread_start(lower_priority)
        .build()
}

/// Lowers the calling thread's priority (on Linux the nice value is per thread).
fn lower_priority() {
    #[cfg(target_os = "linux")]
    // SAFETY: setpriority only reads its arguments; `who` 0 is this thread.
    unsafe {
        libc::setpriority(libc::PRIO_PROCESS, 0, NICENESS);
    }
}
