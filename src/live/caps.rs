//! How many live streams may be open at once: per client address and per instance. A stream
//! holds a [`Permit`] for as long as it is open; dropping it gives the place back.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

/// Where a client is, for counting: an IPv4 address, or the /64 network of an IPv6 address
/// (one subscriber line usually gets a whole /64, so single addresses are free to pick).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AddressKey {
    V4(u32),
    V6Net(u64),
}

impl AddressKey {
    pub fn of(ip: IpAddr) -> Self {
        match ip {
            IpAddr::V4(v4) => Self::V4(u32::from(v4)),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => Self::V4(u32::from(v4)),
                None => Self::V6Net((u128::from(v6) >> 64) as u64),
            },
        }
    }
}

/// Which cap refused a stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    PerAddress(u32),
    PerInstance(u32),
}

#[derive(Default)]
struct Counts {
    total: u32,
    by_address: HashMap<AddressKey, u32>,
}

/// The open streams of one instance, counted.
pub struct Caps {
    per_address: u32,
    per_instance: u32,
    counts: Mutex<Counts>,
}

impl Caps {
    pub fn new(per_address: u32, per_instance: u32) -> Arc<Self> {
        Arc::new(Self {
            per_address,
            per_instance,
            counts: Mutex::new(Counts::default()),
        })
    }

    /// Takes a place for one more stream from `ip` (unknown: only the instance's cap applies).
    pub fn admit(self: &Arc<Self>, ip: Option<IpAddr>) -> Result<Permit, Refusal> {
        let key = ip.map(AddressKey::of);
        let mut counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        if counts.total >= self.per_instance {
            return Err(Refusal::PerInstance(self.per_instance));
        }
        if let Some(key) = key {
            let n = counts.by_address.entry(key).or_insert(0);
            if *n >= self.per_address {
                return Err(Refusal::PerAddress(self.per_address));
            }
            *n += 1;
        }
        counts.total += 1;
        Ok(Permit {
            caps: self.clone(),
            key,
        })
    }

    /// Streams open now.
    pub fn open(&self) -> u32 {
        self.counts.lock().map(|c| c.total).unwrap_or_default()
    }

    fn release(&self, key: Option<AddressKey>) {
        let mut counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        counts.total = counts.total.saturating_sub(1);
        if let Some(key) = key
            && let Some(n) = counts.by_address.get_mut(&key)
        {
            *n = n.saturating_sub(1);
            if *n == 0 {
                counts.by_address.remove(&key);
            }
        }
    }
}

/// One open stream's place; given back when dropped.
pub struct Permit {
    caps: Arc<Caps>,
    key: Option<AddressKey>,
}

impl Drop for Permit {
    fn drop(&mut self) {
        self.caps.release(self.key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> Option<IpAddr> {
        Some(s.parse().unwrap())
    }

    #[test]
    fn an_address_gets_its_cap_and_its_places_back() {
        let caps = Caps::new(2, 100);
        let a = caps.admit(ip("192.0.2.1")).unwrap();
        let _b = caps.admit(ip("192.0.2.1")).unwrap();
        assert_eq!(
            caps.admit(ip("192.0.2.1")).err(),
            Some(Refusal::PerAddress(2))
        );
        assert!(caps.admit(ip("192.0.2.2")).is_ok(), "another address");
        drop(a);
        assert!(caps.admit(ip("192.0.2.1")).is_ok());
    }

    #[test]
    fn the_instance_cap_counts_every_address() {
        let caps = Caps::new(10, 2);
        let _a = caps.admit(ip("192.0.2.1")).unwrap();
        let _b = caps.admit(None).unwrap();
        assert_eq!(
            caps.admit(ip("192.0.2.9")).err(),
            Some(Refusal::PerInstance(2))
        );
        assert_eq!(caps.open(), 2);
    }

    #[test]
    fn ipv6_addresses_count_by_their_64_bit_network() {
        let caps = Caps::new(1, 100);
        let _a = caps.admit(ip("2001:db8:1:2::1")).unwrap();
        assert!(caps.admit(ip("2001:db8:1:2:ffff::7")).is_err());
        assert!(caps.admit(ip("2001:db8:1:3::1")).is_ok());
        let _m = caps.admit(ip("::ffff:192.0.2.5")).unwrap();
        assert!(caps.admit(ip("192.0.2.5")).is_err(), "IPv4-mapped is IPv4");
    }
}
