//! Per-caller rate limits: a token bucket per token (role and subject),
//! and per client address for requests without a valid token, charged by
//! what each operation costs (its complexity, [`crate::graphql::limits`]).

use std::net::{IpAddr, Ipv6Addr};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::auth::Identity;
use crate::service::Role;

/// Whose bucket an operation is charged to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Bucket {
    /// A token's caller: its role and its subject (a hash of the subject
    /// claim, so subjects that are not uuids get buckets of their own too).
    Token(Role, u64),
    /// A request without a valid token, by client address (IPv6 by /64,
    /// as one host holds a whole /64).
    Address(IpAddr),
}

impl Bucket {
    /// The bucket of a request: its token's, or else its address's.
    pub fn of(identity: Option<&Identity>, client: Option<IpAddr>) -> Self {
        match identity {
            Some(identity) => Bucket::Token(identity.caller.role, identity.subject_hash),
            None => Bucket::Address(match client.map(|ip| ip.to_canonical()) {
                Some(IpAddr::V6(v6)) => {
                    let s = v6.segments();
                    IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
                }
                Some(v4) => v4,
                None => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
            }),
        }
    }

    /// "token" or "address", for metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            Bucket::Token(..) => "token",
            Bucket::Address(_) => "address",
        }
    }
}

/// A refused charge: how long until the bucket holds enough again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refused {
    /// When to try again.
    pub retry_after: Duration,
}

impl Refused {
    /// Whole seconds to wait, rounded up, as `Retry-After` carries them.
    pub fn retry_after_secs(&self) -> u64 {
        let secs = self.retry_after.as_secs();
        if self.retry_after.subsec_nanos() > 0 || secs == 0 {
            secs + 1
        } else {
            secs
        }
    }
}

/// The buckets, or nothing when rate limiting is off.
#[derive(Clone, Default)]
pub struct RateLimits {
    inner: Option<Arc<Inner>>,
}

struct Inner {
    limiter: DefaultKeyedRateLimiter<Bucket>,
    burst: NonZeroU32,
}

impl RateLimits {
    /// No limits: open development mode, or turned off.
    pub fn off() -> Self {
        Self::default()
    }

    /// Buckets of `burst` cost units that refill at `per_second`.
    pub fn new(per_second: NonZeroU32, burst: NonZeroU32) -> Self {
        let quota = Quota::per_second(per_second).allow_burst(burst);
        Self {
            inner: Some(Arc::new(Inner {
                limiter: RateLimiter::dashmap(quota),
                burst,
            })),
        }
    }

    /// Whether operations are charged at all.
    pub fn is_on(&self) -> bool {
        self.inner.is_some()
    }

    /// Charges `cost` (at least 1) to `bucket`. A cost above the burst
    /// charges the whole burst, so an operation the complexity limit allows
    /// can always run from a full bucket.
    pub fn charge(&self, bucket: &Bucket, cost: usize) -> Result<(), Refused> {
        let Some(inner) = &self.inner else {
            return Ok(());
        };
        let cost = u32::try_from(cost)
            .unwrap_or(u32::MAX)
            .clamp(1, inner.burst.get());
        let cost = NonZeroU32::new(cost).unwrap_or(NonZeroU32::MIN);
        match inner.limiter.check_key_n(bucket, cost) {
            Ok(Ok(())) => Ok(()),
            Ok(Err(not_until)) => Err(Refused {
                retry_after: not_until.wait_time_from(DefaultClock::default().now()),
            }),
            // Cannot happen: the cost is clamped to the burst.
            Err(_) => Err(Refused {
                retry_after: Duration::from_secs(1),
            }),
        }
    }

    /// Forgets buckets that are full again, so callers seen once do not hold
    /// memory for the life of the process.
    pub fn forget_idle(&self) {
        if let Some(inner) = &self.inner {
            inner.limiter.retain_recent();
            inner.limiter.shrink_to_fit();
        }
    }

    /// Buckets held now.
    pub fn len(&self) -> usize {
        self.inner.as_ref().map_or(0, |i| i.limiter.len())
    }

    /// Whether no bucket is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::service::Caller;

    fn nz(n: u32) -> NonZeroU32 {
        NonZeroU32::new(n).unwrap()
    }

    fn token(role: Role) -> Bucket {
        Bucket::of(
            Some(&Identity {
                caller: Caller {
                    role,
                    subject: Some(uuid::Uuid::now_v7()),
                },
                expires_at: None,
                subject_hash: rand::random(),
            }),
            None,
        )
    }

    #[test]
    fn a_bucket_is_charged_by_cost_and_others_are_untouched() {
        let limits = RateLimits::new(nz(1), nz(100));
        let (a, b) = (token(Role::Service), token(Role::Service));
        assert_eq!(limits.charge(&a, 60), Ok(()));
        let refused = limits.charge(&a, 60).unwrap_err();
        assert!(refused.retry_after > Duration::from_secs(15), "{refused:?}");
        assert!(refused.retry_after_secs() <= 21, "{refused:?}");
        assert_eq!(
            limits.charge(&a, 40),
            Ok(()),
            "what is left is still spendable"
        );
        assert_eq!(limits.charge(&b, 100), Ok(()));
    }

    #[test]
    fn a_cost_above_the_burst_takes_the_whole_bucket() {
        let limits = RateLimits::new(nz(1), nz(10));
        let a = token(Role::User);
        assert_eq!(limits.charge(&a, 1_000_000), Ok(()));
        assert!(limits.charge(&a, 1).is_err());
    }

    #[test]
    fn addresses_share_a_bucket_per_ipv6_64() {
        let one = Bucket::of(None, Some("2001:db8:1:2::1".parse().unwrap()));
        let same = Bucket::of(None, Some("2001:db8:1:2:ffff::9".parse().unwrap()));
        let other = Bucket::of(None, Some("2001:db8:1:3::1".parse().unwrap()));
        let mapped = Bucket::of(None, Some("::ffff:10.0.0.1".parse().unwrap()));
        assert_eq!(one, same);
        assert_ne!(one, other);
        assert_eq!(mapped, Bucket::Address("10.0.0.1".parse().unwrap()));
    }

    #[test]
    fn off_charges_nothing() {
        let limits = RateLimits::off();
        for _ in 0..1000 {
            assert_eq!(limits.charge(&token(Role::Admin), usize::MAX), Ok(()));
        }
    }
}
