//! Per-client-IP request limits for the endpoints that attract guessing (login, register).
//! A fixed window per IP, kept in memory per app instance.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Entries kept before expired windows are swept.
const SWEEP_THRESHOLD: usize = 10_000;

pub struct RateLimiter {
    max_requests: u32,
    window: Duration,
    windows: Mutex<HashMap<IpAddr, (Instant, u32)>>,
}

impl RateLimiter {
    pub fn new(max_requests: u32, window: Duration) -> Self {
        Self {
            max_requests,
            window,
            windows: Mutex::new(HashMap::new()),
        }
    }

    /// Counts one request from `ip` at `now`. `Err(seconds)` says how long until it may try
    /// again.
    pub fn check(&self, ip: IpAddr, now: Instant) -> Result<(), u64> {
        let mut windows = self.windows.lock().unwrap_or_else(|p| p.into_inner());
        if windows.len() > SWEEP_THRESHOLD {
            let window = self.window;
            windows.retain(|_, (start, _)| now.duration_since(*start) < window);
        }
        let entry = windows.entry(ip).or_insert((now, 0));
        if now.duration_since(entry.0) >= self.window {
            *entry = (now, 0);
        }
        if entry.1 >= self.max_requests {
            let left = self.window.saturating_sub(now.duration_since(entry.0));
            return Err(left.as_secs().max(1));
        }
        entry.1 += 1;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allows_the_limit_then_refuses_until_the_window_ends() {
        let limiter = RateLimiter::new(3, Duration::from_secs(60));
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let t0 = Instant::now();
        for _ in 0..3 {
            assert!(limiter.check(ip, t0).is_ok());
        }
        assert_eq!(limiter.check(ip, t0 + Duration::from_secs(20)), Err(40));
        assert!(limiter.check(ip, t0 + Duration::from_secs(60)).is_ok());
    }

    #[test]
    fn clients_are_counted_apart() {
        let limiter = RateLimiter::new(1, Duration::from_secs(60));
        let t0 = Instant::now();
        assert!(limiter.check("192.0.2.1".parse().unwrap(), t0).is_ok());
        assert!(limiter.check("192.0.2.2".parse().unwrap(), t0).is_ok());
        assert!(limiter.check("192.0.2.1".parse().unwrap(), t0).is_err());
    }
}
