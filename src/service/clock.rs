//! The server's clock for stored times.

use chrono::{DateTime, SubsecRound, Utc};

/// The time stored for a new row. Both databases keep microseconds, so the
/// value returned to the caller is cut to microseconds too and equals the stored one.
pub(super) fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}
