//! The threads websockets run on: a runtime of their own, scheduled only
//! when the threads serving requests (and anything else on the machine at
//! normal priority) leave a core idle.
//!
//! Delivering one event to 10,000 sockets is 10,000 task wake-ups and
//! writes. On the request runtime those tasks queue ahead of every `log`
//! request (BENCHMARKS.md, S1: the writer fell from 200 to 5 requests/s).
//! A nice value of 5 still let a burst hold both cores while a `log`
//! waited; under Linux's `SCHED_IDLE` a waking request thread takes the core
//! at once. Measured A/B on the same binary (BENCHMARKS.md, "Writers under
//! a fan-out"): the writers' slowdown under S3 fell from +67 % to +20 %,
//! and under S1 at 1,000 subscribers from +186 %/+147 % to +142 %/+107 %,
//! while S3's delivery p99 went from 198 to 220 ms. The cost: when the
//! machine has no idle CPU at all, websockets wait, fall behind and are
//! told `SUBSCRIBER_LAGGED`, which is what a fan-out should give up first.
//! Hubs render on the request runtime, once per event.

use std::sync::OnceLock;

use tokio::runtime::{Builder, Handle, Runtime};

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

/// Puts the calling thread under `SCHED_IDLE` where there is one; elsewhere,
/// or if the system refuses, it keeps its priority and says so once.
fn lower_priority() {
    #[cfg(target_os = "linux")]
    {
        use thread_priority::unix::{
            set_thread_priority_and_policy, thread_native_id, NormalThreadSchedulePolicy,
            ThreadSchedulePolicy,
        };
        use thread_priority::ThreadPriority;
        let idle = ThreadSchedulePolicy::Normal(NormalThreadSchedulePolicy::Idle);
        if let Err(error) =
            set_thread_priority_and_policy(thread_native_id(), ThreadPriority::Min, idle)
        {
            static WARNED: std::sync::Once = std::sync::Once::new();
            WARNED.call_once(|| {
                tracing::warn!(?error, "cannot lower the websocket threads' priority");
            });
        }
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use thread_priority::unix::{
        thread_native_id, thread_schedule_policy_param, NormalThreadSchedulePolicy,
        ThreadSchedulePolicy,
    };

    #[tokio::test]
    async fn websocket_threads_run_only_when_a_core_is_idle() {
        let policy = super::handle()
            .spawn(async { thread_schedule_policy_param(thread_native_id()).map(|(p, _)| p) })
            .await
            .expect("a task on the websocket threads");
        assert_eq!(
            policy.expect("the policy can be read"),
            ThreadSchedulePolicy::Normal(NormalThreadSchedulePolicy::Idle)
        );
    }
}
