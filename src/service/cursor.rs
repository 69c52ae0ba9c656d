//! Opaque cursors for keyset pagination on (inserted_at, uuid).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, Datelike, Utc};
use entity::activity;
use sea_orm::sea_query::{Expr, ExprTrait};
use uuid::Uuid;

/// A position in the feed: just after (or before) the activity it was made from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    /// The activity's insertion time.
    pub inserted_at: DateTime<Utc>,
    /// The activity's id, which breaks ties between equal times.
    pub uuid: Uuid,
}

impl Cursor {
    /// The cursor that points at `row`.
    pub fn of(row: &activity::Model) -> Self {
        Self {
            inserted_at: row.inserted_at,
            uuid: row.uuid,
        }
    }

    /// The cursor as clients see it: URL-safe base64 of "micros:uuid".
    pub fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(format!(
            "{}:{}",
            self.inserted_at.timestamp_micros(),
            self.uuid.simple()
        ))
    }

    /// Rows after this position in the newest-first feed (older ones), as a
    /// condition on `activities`: a row-value comparison both databases
    /// answer from the (inserted_at, uuid) index.
    pub fn older(&self) -> Expr {
        keyset().lt(self.as_tuple())
    }

    /// Rows before this position in the newest-first feed (newer ones).
    pub fn newer(&self) -> Expr {
        keyset().gt(self.as_tuple())
    }

    fn as_tuple(&self) -> Expr {
        Expr::tuple([Expr::val(self.inserted_at), Expr::val(self.uuid)])
    }

    /// Reads a cursor made by [`Self::encode`]; `None` for anything else,
    /// including times outside years 1 to 9999, which no row has and which
    /// PostgreSQL cannot compare with.
    pub fn decode(s: &str) -> Option<Self> {
        let bytes = URL_SAFE_NO_PAD.decode(s).ok()?;
        let text = std::str::from_utf8(&bytes).ok()?;
        let (micros, uuid) = text.split_once(':')?;
        let inserted_at = DateTime::from_timestamp_micros(micros.parse().ok()?)?;
        if !(1..=9999).contains(&inserted_at.year()) {
            return None;
        }
        Some(Self {
            inserted_at,
            uuid: Uuid::try_parse(uuid).ok()?,
        })
    }
}

/// The tuple (inserted_at, uuid) that orders the feed.
fn keyset() -> Expr {
    Expr::tuple([
        // Qualified, because list queries may join `users`, which has both.
        Expr::col((activity::Entity, activity::Column::InsertedAt)),
        Expr::col((activity::Entity, activity::Column::Uuid)),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        let c = Cursor {
            inserted_at: DateTime::from_timestamp_micros(1_764_199_789_123_456).unwrap(),
            uuid: Uuid::now_v7(),
        };
        assert_eq!(Cursor::decode(&c.encode()), Some(c));
    }

    #[test]
    fn rejects_garbage() {
        for bad in [
            "",
            "!!!",
            "bm90LWEtY3Vyc29y",
            &URL_SAFE_NO_PAD.encode("12:zz"),
            &URL_SAFE_NO_PAD.encode(format!("-8000000000000000000:{}", Uuid::nil().simple())),
            &URL_SAFE_NO_PAD.encode(format!("253402300800000000:{}", Uuid::nil().simple())),
        ] {
            assert_eq!(Cursor::decode(bad), None, "{bad}");
        }
    }
}
