//! Token buckets keyed by a string (an e-mail address, a client address), held in this hub's memory.
//!
//! Each hub limits on its own: with N hubs behind a load balancer an attacker gets at most N times the budget, which keeps
//! guessing slow without a shared store on the sign-in path. Time is passed in, so the arithmetic is tested without sleeping.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::http::HeaderMap;

use crate::config::RateLimit;

/// Past this many keys, buckets that have refilled are forgotten; if that is not enough, all are (see [`Buckets::prune`]).
const MAX_KEYS: usize = 100_000;

/// One bucket per key, all of the same [`RateLimit`].
#[derive(Debug)]
pub(crate) struct Buckets {
    limit: RateLimit,
    buckets: Mutex<HashMap<String, Bucket>>,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    updated: Instant,
}

impl Buckets {
    pub(crate) fn new(limit: RateLimit) -> Self {
        Buckets {
            limit,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one token from `key`'s bucket, or says how long until one is there.
    pub(crate) fn try_take(&self, key: &str, now: Instant) -> Result<(), Duration> {
        let mut buckets = self.buckets.lock().unwrap_or_else(PoisonError::into_inner);
        if !buckets.contains_key(key) && buckets.len() >= MAX_KEYS {
            self.prune(&mut buckets, now);
        }
        let bucket = buckets.entry(key.to_string()).or_insert(Bucket {
            tokens: f64::from(self.limit.burst),
            updated: now,
        });
        self.refill(bucket, now);
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            let missing = 1.0 - bucket.tokens;
            Err(self.limit.refill_every.mul_f64(missing))
        }
    }

    /// Gives back a token taken by an attempt that turned out not to count (a successful sign-in, a server failure).
    pub(crate) fn refund(&self, key: &str) {
        let mut buckets = self.buckets.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(bucket) = buckets.get_mut(key) {
            bucket.tokens = (bucket.tokens + 1.0).min(f64::from(self.limit.burst));
        }
    }

    fn refill(&self, bucket: &mut Bucket, now: Instant) {
        let elapsed = now.saturating_duration_since(bucket.updated);
        let earned = elapsed.as_secs_f64() / self.limit.refill_every.as_secs_f64();
        bucket.tokens = (bucket.tokens + earned).min(f64::from(self.limit.burst));
        bucket.updated = now;
    }

    /// Forgets full buckets (a full bucket is the same as no bucket). Should an attack fill the table with keys that are all
    /// still draining, it is cleared: memory stays bounded, and those keys' budgets restart, which only helps an attacker who
    /// already controls 100,000 addresses.
    fn prune(&self, buckets: &mut HashMap<String, Bucket>, now: Instant) {
        buckets.retain(|_, bucket| {
            self.refill(bucket, now);
            bucket.tokens < f64::from(self.limit.burst)
        });
        if buckets.len() >= MAX_KEYS {
            tracing::warn!(
                keys = buckets.len(),
                "rate-limit table full of draining buckets; clearing it"
            );
            buckets.clear();
        }
    }
}

/// The key a client is limited by: its IPv4 address, or its IPv6 /64 (one machine usually holds a whole /64).
/// Behind a load balancer the peer is the balancer, so with `trust_forwarded_for` the last `X-Forwarded-For` entry,
/// the one the balancer appended, is used instead.
pub(crate) fn client_key(
    peer: SocketAddr,
    headers: &HeaderMap,
    trust_forwarded_for: bool,
) -> String {
    let forwarded = trust_forwarded_for
        .then(|| {
            headers
                .get_all("x-forwarded-for")
                .iter()
                .filter_map(|value| value.to_str().ok())
                .flat_map(|value| value.split(','))
                .next_back()
                .and_then(|last| last.trim().parse::<IpAddr>().ok())
        })
        .flatten();
    match forwarded.unwrap_or(peer.ip()).to_canonical() {
        IpAddr::V4(address) => address.to_string(),
        IpAddr::V6(address) => {
            let segments = address.segments();
            format!(
                "{:x}:{:x}:{:x}:{:x}::/64",
                segments[0], segments[1], segments[2], segments[3]
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limit(burst: u32, seconds: u64) -> RateLimit {
        RateLimit {
            burst,
            refill_every: Duration::from_secs(seconds),
        }
    }

    #[test]
    fn a_bucket_allows_its_burst_then_says_when_to_retry() {
        let buckets = Buckets::new(limit(3, 60));
        let start = Instant::now();
        for _ in 0..3 {
            assert_eq!(buckets.try_take("ada", start), Ok(()));
        }
        assert_eq!(buckets.try_take("ada", start), Err(Duration::from_secs(60)));
        // Other keys are untouched.
        assert_eq!(buckets.try_take("bob", start), Ok(()));
        // Half the refill period earns half a token: not enough, and the wait shrinks accordingly.
        let half = start + Duration::from_secs(30);
        assert_eq!(buckets.try_take("ada", half), Err(Duration::from_secs(30)));
        let later = start + Duration::from_secs(60);
        assert_eq!(buckets.try_take("ada", later), Ok(()));
        assert!(buckets.try_take("ada", later).is_err());
    }

    #[test]
    fn refills_stop_at_the_burst() {
        let buckets = Buckets::new(limit(2, 1));
        let start = Instant::now();
        assert_eq!(buckets.try_take("ada", start), Ok(()));
        let much_later = start + Duration::from_secs(3600);
        for _ in 0..2 {
            assert_eq!(buckets.try_take("ada", much_later), Ok(()));
        }
        assert!(buckets.try_take("ada", much_later).is_err());
    }

    #[test]
    fn a_refund_gives_back_one_token_up_to_the_burst() {
        let buckets = Buckets::new(limit(1, 60));
        let start = Instant::now();
        assert_eq!(buckets.try_take("ada", start), Ok(()));
        buckets.refund("ada");
        buckets.refund("ada");
        assert_eq!(buckets.try_take("ada", start), Ok(()));
        assert!(buckets.try_take("ada", start).is_err());
    }

    #[test]
    fn the_table_stays_bounded() {
        let buckets = Buckets::new(limit(1, 3600));
        let start = Instant::now();
        for key in 0..MAX_KEYS + 10 {
            let _ = buckets.try_take(&key.to_string(), start);
        }
        let size = buckets
            .buckets
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len();
        assert!(size <= MAX_KEYS, "{size} keys kept");
    }

    #[test]
    fn client_keys_group_ipv6_by_64_and_trust_forwarding_only_when_told() {
        let headers = {
            let mut headers = HeaderMap::new();
            headers.insert(
                "x-forwarded-for",
                "203.0.113.9, 198.51.100.7".parse().unwrap(),
            );
            headers
        };
        let peer: SocketAddr = "10.0.0.1:4000".parse().unwrap();
        assert_eq!(client_key(peer, &headers, false), "10.0.0.1");
        assert_eq!(client_key(peer, &headers, true), "198.51.100.7");
        let peer: SocketAddr = "[2001:db8:1:2:3:4:5:6]:4000".parse().unwrap();
        assert_eq!(
            client_key(peer, &HeaderMap::new(), false),
            "2001:db8:1:2::/64"
        );
        let mapped: SocketAddr = "[::ffff:192.0.2.1]:4000".parse().unwrap();
        assert_eq!(client_key(mapped, &HeaderMap::new(), false), "192.0.2.1");
    }
}
