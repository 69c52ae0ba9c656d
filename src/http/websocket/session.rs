//! Who a socket serves and for how long: the credentials of `connection_init`
//! (or of the upgrade request), the identity they prove, and the one timer
//! that ends the session — the init timeout, then the token's expiry.

use std::time::Duration;

use chrono::{DateTime, Utc};
use futures_util::future::BoxFuture;
use futures_util::FutureExt;
use serde_json::Value;
use tokio::time::Instant;

use super::protocol::Timer;
use crate::auth::{Authenticator, Identity};
use crate::service::RequestContext;

/// One socket's session.
pub struct Session {
    auth: Authenticator,
    /// The upgrade request's `Authorization`, used when `connection_init`
    /// carries no credentials.
    upgrade_authorization: Option<String>,
    /// Where the socket was opened from, for mutations sent over it.
    context: Option<RequestContext>,
    /// When `connection_init` must have been acknowledged.
    init_deadline: Instant,
    /// Who the session serves, once acknowledged.
    identity: Option<Identity>,
    /// The monotonic instant its token expires, fixed when it is accepted:
    /// read again from two clocks on every call it would drift by a few
    /// nanoseconds, and the close could come before the expiry it follows.
    expiry: Option<Instant>,
    /// Its token expired; the socket closes after [`EXPIRY_GRACE`].
    expiring: bool,
}

/// How long after its token expires a socket closes. Operations that are
/// not shared end on their resolver's own timer, set for the same instant;
/// this much later their errors have been read, and go out before the Close.
pub const EXPIRY_GRACE: Duration = Duration::from_millis(100);

impl Session {
    /// A session opened now, with `init_timeout` to authenticate.
    pub fn new(
        auth: Authenticator,
        upgrade_authorization: Option<String>,
        context: Option<RequestContext>,
        init_timeout: Duration,
    ) -> Self {
        Self {
            auth,
            upgrade_authorization,
            context,
            init_deadline: Instant::now() + init_timeout,
            identity: None,
            expiry: None,
            expiring: false,
        }
    }

    /// Judges the credentials of a `connection_init` payload; the reason is
    /// the client's to read.
    pub fn authenticate(&self, payload: &Value) -> BoxFuture<'static, Result<Identity, String>> {
        let authorization = credentials(payload).or_else(|| self.upgrade_authorization.clone());
        let auth = self.auth.clone();
        async move {
            auth.authenticate(authorization.as_deref())
                .await
                .map_err(|e| e.to_string())
        }
        .boxed()
    }

    /// The session serves `identity` from now on.
    pub fn accept(&mut self, identity: Identity) {
        self.expiry = identity
            .expires_at
            .map(|at| instant_of(at, Utc::now(), Instant::now()));
        self.identity = Some(identity);
        self.expiring = false;
    }

    /// Its token expired: the next timer is the close.
    pub fn expire(&mut self) {
        self.expiring = true;
    }

    /// Who the session serves, once acknowledged.
    pub fn identity(&self) -> Option<&Identity> {
        self.identity.as_ref()
    }

    /// Where the socket was opened from.
    pub fn context(&self) -> Option<&RequestContext> {
        self.context.as_ref()
    }

    /// The session's next timer and when it goes off: the init timeout until
    /// an identity is accepted, then its token's expiry, then the close that
    /// follows it (none for a token that does not expire).
    pub fn deadline(&self) -> Option<(Instant, Timer)> {
        if self.identity.is_none() {
            return Some((self.init_deadline, Timer::InitTimeout));
        }
        let expiry = self.expiry?;
        Some(if self.expiring {
            (expiry + EXPIRY_GRACE, Timer::TokenExpired)
        } else {
            (expiry, Timer::TokenExpiring)
        })
    }
}

/// The `Authorization` a `connection_init` payload carries: as
/// `Authorization` (either case), or as a bare `token`.
fn credentials(payload: &Value) -> Option<String> {
    ["Authorization", "authorization"]
        .iter()
        .find_map(|k| payload.get(*k).and_then(Value::as_str).map(str::to_owned))
        .or_else(|| {
            let token = payload.get("token").and_then(Value::as_str)?;
            Some(format!("Bearer {token}"))
        })
}

/// The monotonic instant of wall-clock time `at`, given that `now` is
/// `monotonic_now`; a time past is now.
fn instant_of(at: DateTime<Utc>, now: DateTime<Utc>, monotonic_now: Instant) -> Instant {
    monotonic_now + (at - now).to_std().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn credentials_come_from_authorization_or_token() {
        assert_eq!(
            credentials(&json!({ "Authorization": "Bearer a" })).as_deref(),
            Some("Bearer a")
        );
        assert_eq!(
            credentials(&json!({ "authorization": "Bearer b" })).as_deref(),
            Some("Bearer b")
        );
        assert_eq!(
            credentials(&json!({ "token": "c" })).as_deref(),
            Some("Bearer c")
        );
        assert_eq!(credentials(&json!({ "Authorization": 42 })), None);
        assert_eq!(credentials(&Value::Null), None);
    }

    #[test]
    fn expiry_is_one_instant_and_a_past_one_is_now() {
        let (now, mono) = (Utc::now(), Instant::now());
        assert_eq!(
            instant_of(now + chrono::Duration::seconds(2), now, mono),
            mono + Duration::from_secs(2)
        );
        assert_eq!(
            instant_of(now - chrono::Duration::seconds(2), now, mono),
            mono
        );
    }

    #[tokio::test]
    async fn the_timer_is_the_init_timeout_then_the_tokens_expiry() {
        let auth = Authenticator::open();
        let mut session = Session::new(auth, None, None, Duration::from_secs(10));
        let (at, timer) = session.deadline().unwrap();
        assert_eq!(timer, Timer::InitTimeout);
        assert!(at > Instant::now() + Duration::from_secs(9));

        let identity = session.authenticate(&json!({})).await.unwrap();
        session.accept(identity);
        assert_eq!(
            session.deadline(),
            None,
            "an open server's identity never expires"
        );

        session.accept(Identity {
            expires_at: Some(Utc::now() + chrono::Duration::seconds(60)),
            ..identity
        });
        let (at, timer) = session.deadline().unwrap();
        assert_eq!(timer, Timer::TokenExpiring);
        assert!(at > Instant::now() + Duration::from_secs(58));
        assert_eq!(
            session.deadline().unwrap().0,
            at,
            "the expiry is fixed when the token is accepted"
        );
        session.expire();
        let (closing, timer) = session.deadline().unwrap();
        assert_eq!(timer, Timer::TokenExpired);
        assert_eq!(closing, at + EXPIRY_GRACE);
    }
}
