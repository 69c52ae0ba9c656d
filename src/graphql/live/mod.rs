//! Shared subscriptions: every websocket subscriber with the same document,
//! operation, variables and caller receives the same bytes for each event, so
//! the event is executed and serialized once for all of them, not once each.
//!
//! The first subscriber with a [`Key`] starts one async-graphql stream (a
//! hub) and later ones join it; each member gets every payload through the
//! hub's ring and wraps it in its own envelope. What ends a single
//! member (falling behind, its token expiring, unsubscribing) stays with that
//! member; the hub stops when its last member leaves.
//!
//! Which events a member receives: the hub reads live delivery itself and numbers
//! every event it takes from it. A member joining takes, at that instant,
//! everything live delivery has already sent (so it gets a number) and receives
//! exactly the payloads of events numbered after it: nothing committed before
//! it subscribed, everything after, as an unshared subscription would.

use std::sync::{Arc, Mutex, MutexGuard};

use serde::Serialize;
use serde_json::value::RawValue;

/// The hubs and their shared streams.
mod hub;
/// One subscriber of a hub.
mod member;
/// Which subscriptions can be shared.
mod plan;
/// What a hub broadcasts, in one ring for all its members.
mod ring;
/// A hub's numbered live stream.
mod source;

pub use hub::Fanout;
pub use member::{Delivery, Member};
pub use plan::{plan, Plan};

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// `value` as JSON, rendered once for every socket that sends it.
pub fn render(value: &impl Serialize) -> Arc<RawValue> {
    serde_json::value::to_raw_value(value)
        .or_else(|_| {
            serde_json::value::to_raw_value(&serde_json::json!({
                "data": null,
                "errors": [{ "message": "internal error" }],
            }))
        })
        .map_or_else(|_| Arc::from(RawValue::NULL.to_owned()), Arc::from)
}
