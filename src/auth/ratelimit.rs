//! Per-client request limits for the endpoints that attract guessing (login, register).
//! A fixed window per client, kept in memory per app instance.
//!
//! A client is an IPv4 address or an IPv6 /64 (one subscriber usually holds a whole /64, so
//! keying by the full IPv6 address would hand out unlimited buckets). Expired windows are
//! dropped a few at a time on each request, oldest first, and the table never holds more
//! than its capacity: the cost of a request stays constant however many clients there are.

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, Ipv6Addr};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Clients tracked at most; beyond it the oldest window is forgotten early.
const DEFAULT_CAPACITY: usize = 100_000;
/// Expired windows dropped per request at most (more than one, so the table shrinks).
const EVICT_PER_CALL: usize = 8;

/// The bucket a client address falls into: IPv4 as it is (also when written as an
/// IPv4-mapped IPv6 address), IPv6 by its /64 prefix.
pub fn bucket(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
    }
}

#[derive(Default)]
struct Windows {
    /// Bucket → (start of its window, requests counted in it).
    open: HashMap<IpAddr, (Instant, u32)>,
    /// Window starts in time order; an entry whose bucket has since started a newer window
    /// is skipped when it comes up.
    order: VecDeque<(Instant, IpAddr)>,
}

impl Windows {
    /// Drops up to `budget` windows that ended before `now`.
    fn evict_expired(&mut self, now: Instant, window: Duration, budget: usize) {
        for _ in 0..budget {
            match self.order.front() {
                Some(&(start, _)) if now.duration_since(start) >= window => self.pop_oldest(),
                _ => return,
            }
        }
    }

    /// Forgets the oldest queued window (if it is still the bucket's current one).
    fn pop_oldest(&mut self) {
        if let Some((start, key)) = self.order.pop_front()
            && self.open.get(&key).is_some_and(|(s, _)| *s == start)
        {
            self.open.remove(&key);
        }
    }
}

pub struct RateLimiter {
    max_requests: u32,
    window: Duration,
    capacity: usize,
    windows: Mutex<Windows>,
}

impl RateLimiter {
    pub fn new(max_requests: u32, window: Duration) -> Self {
        Self::with_capacity(max_requests, window, DEFAULT_CAPACITY)
    }

    /// A limiter tracking at most `capacity` clients at once.
    pub fn with_capacity(max_requests: u32, window: Duration, capacity: usize) -> Self {
        Self {
            max_requests,
            window,
            capacity: capacity.max(1),
            windows: Mutex::new(Windows::default()),
        }
    }

    /// Counts one request from `ip` at `now`. `Err(seconds)` says how long until it may try
    /// again.
    pub fn check(&self, ip: IpAddr, now: Instant) -> Result<(), u64> {
        let key = bucket(ip);
        let mut w = self.windows.lock().unwrap_or_else(|p| p.into_inner());
        w.evict_expired(now, self.window, EVICT_PER_CALL);
        if let Some(entry) = w.open.get_mut(&key)
            && now.duration_since(entry.0) < self.window
        {
            if entry.1 >= self.max_requests {
                let left = self.window.saturating_sub(now.duration_since(entry.0));
                return Err(left.as_secs().max(1));
            }
            entry.1 += 1;
            return Ok(());
        }
        // A new window for this bucket; make room first (each round removes one queued
        // window, and every tracked bucket has one, so this ends).
        while !w.open.contains_key(&key) && w.open.len() >= self.capacity && !w.order.is_empty() {
            w.pop_oldest();
        }
        w.open.insert(key, (now, 1));
        w.order.push_back((now, key));
        Ok(())
    }

    /// Clients currently tracked.
    pub fn tracked(&self) -> usize {
        self.windows
            .lock()
            .map(|w| w.open.len())
            .unwrap_or_else(|p| p.into_inner().open.len())
    }
}

static PROXY_WARNED: AtomicBool = AtomicBool::new(false);

/// Whether a request looks as if it came through a proxy we were not told to trust: it carries
/// a forwarding header and its peer is a loopback or private address. Then every client is
/// counted as that one proxy.
pub fn behind_untrusted_proxy(peer: IpAddr, forwarded_header: bool, trusted: bool) -> bool {
    if trusted || !forwarded_header {
        return false;
    }
    match bucket(peer) {
        IpAddr::V4(v4) => v4.is_loopback() || v4.is_private() || v4.is_link_local(),
        IpAddr::V6(v6) => v6.is_loopback() || v6.is_unique_local() || v6.is_unicast_link_local(),
    }
}

/// Logs, once per process, that requests arrive through an untrusted proxy.
pub fn warn_untrusted_proxy(peer: IpAddr) {
    if !PROXY_WARNED.swap(true, Ordering::Relaxed) {
        tracing::warn!(
            proxy = %peer,
            "requests arrive through a proxy with X-Forwarded-For while server.trust_forwarded_for \
             is false: every client shares the proxy's rate-limit bucket. Set \
             APP__SERVER__TRUST_FORWARDED_FOR=true if the proxy overwrites the header."
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn allows_the_limit_then_refuses_until_the_window_ends() {
        let limiter = RateLimiter::new(3, Duration::from_secs(60));
        let t0 = Instant::now();
        for _ in 0..3 {
            assert!(limiter.check(ip("192.0.2.1"), t0).is_ok());
        }
        assert_eq!(
            limiter.check(ip("192.0.2.1"), t0 + Duration::from_secs(20)),
            Err(40)
        );
        assert!(
            limiter
                .check(ip("192.0.2.1"), t0 + Duration::from_secs(60))
                .is_ok()
        );
    }

    #[test]
    fn clients_are_counted_apart() {
        let limiter = RateLimiter::new(1, Duration::from_secs(60));
        let t0 = Instant::now();
        assert!(limiter.check(ip("192.0.2.1"), t0).is_ok());
        assert!(limiter.check(ip("192.0.2.2"), t0).is_ok());
        assert!(limiter.check(ip("192.0.2.1"), t0).is_err());
    }

    #[test]
    fn one_ipv6_slash_64_is_one_client() {
        let limiter = RateLimiter::new(2, Duration::from_secs(60));
        let t0 = Instant::now();
        assert!(limiter.check(ip("2001:db8:1:2::1"), t0).is_ok());
        assert!(limiter.check(ip("2001:db8:1:2:ffff::9"), t0).is_ok());
        assert!(limiter.check(ip("2001:db8:1:2:abcd::77"), t0).is_err());
        // The next /64 is another client.
        assert!(limiter.check(ip("2001:db8:1:3::1"), t0).is_ok());
        // An IPv4-mapped address is the IPv4 client.
        assert!(limiter.check(ip("192.0.2.7"), t0).is_ok());
        assert!(limiter.check(ip("::ffff:192.0.2.7"), t0).is_ok());
        assert!(limiter.check(ip("192.0.2.7"), t0).is_err());
    }

    #[test]
    fn expired_windows_are_dropped_a_few_per_request() {
        let limiter = RateLimiter::new(5, Duration::from_secs(60));
        let t0 = Instant::now();
        for i in 0..20_000u32 {
            let [_, _, a, b] = i.to_be_bytes();
            assert!(limiter.check(IpAddr::from([10, 1, a, b]), t0).is_ok());
        }
        assert_eq!(limiter.tracked(), 20_000);
        let later = t0 + Duration::from_secs(61);
        for _ in 0..100 {
            let _ = limiter.check(ip("192.0.2.1"), later);
        }
        // 100 requests each dropped at most EVICT_PER_CALL expired windows, and no more.
        assert_eq!(limiter.tracked(), 20_000 - 100 * EVICT_PER_CALL + 1);
        for i in 0..3_000 {
            let _ = limiter.check(ip("192.0.2.1"), later + Duration::from_millis(i));
        }
        assert_eq!(limiter.tracked(), 1);
    }

    #[test]
    fn the_table_never_exceeds_its_capacity() {
        let limiter = RateLimiter::with_capacity(1, Duration::from_secs(60), 1_000);
        let t0 = Instant::now();
        for i in 0..5_000u32 {
            let [_, _, a, b] = i.to_be_bytes();
            assert!(limiter.check(IpAddr::from([10, 2, a, b]), t0).is_ok());
            assert!(limiter.tracked() <= 1_000);
        }
        // The newest clients are still counted.
        assert!(limiter.check(IpAddr::from([10, 2, 19, 135]), t0).is_err());
    }

    #[test]
    fn a_private_peer_with_a_forwarding_header_is_an_untrusted_proxy() {
        assert!(behind_untrusted_proxy(ip("127.0.0.1"), true, false));
        assert!(behind_untrusted_proxy(ip("10.0.0.5"), true, false));
        assert!(behind_untrusted_proxy(ip("fd00::1"), true, false));
        assert!(!behind_untrusted_proxy(ip("10.0.0.5"), true, true));
        assert!(!behind_untrusted_proxy(ip("10.0.0.5"), false, false));
        assert!(!behind_untrusted_proxy(ip("203.0.113.9"), true, false));
    }
}
