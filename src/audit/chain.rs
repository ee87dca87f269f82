//! The hash chain: the canonical form of an event and how its hash is computed.
//!
//! Encoding version 1 (`AXAUDIT1`): the ASCII tag, then each field in this order, each as a
//! 4-byte big-endian length followed by its UTF-8 bytes, with length 0xFFFFFFFF for an absent
//! value: stream, stream_seq (decimal), occurred_at (RFC 3339, UTC, 6 fractional digits, `Z`),
//! actor_id (decimal), actor_role, action, payload (canonical JSON), client_ip, request_id,
//! prev_hash (hex). `hash = hex(SHA-256(encoding))`. The first event of a stream has
//! `prev_hash` = 64 zeros.

use chrono::{DateTime, Datelike, NaiveDateTime, SubsecRound, Timelike, Utc};
use serde_json::Value;
use sha2::{Digest, Sha256};

pub const ENCODING_TAG: &[u8] = b"AXAUDIT1";
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Every hashed field of an event (a row of the store).
pub use crate::store::audit::EventBody;
use crate::store::audit::StoredEvent;

/// Timestamps are kept to the microsecond, which both databases store exactly.
pub fn truncate(t: DateTime<Utc>) -> DateTime<Utc> {
    t.trunc_subsecs(6)
}

pub fn format_time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

/// Canonical JSON: object keys sorted, no insignificant whitespace. Money must already be
/// strings in the value (the API layer writes them so).
pub fn canonical_json(v: &Value) -> String {
    fn sorted(v: &Value) -> Value {
        match v {
            Value::Object(map) => {
                let mut entries: Vec<(&String, &Value)> = map.iter().collect();
                entries.sort_by(|a, b| a.0.cmp(b.0));
                Value::Object(
                    entries
                        .into_iter()
                        .map(|(k, v)| (k.clone(), sorted(v)))
                        .collect(),
                )
            }
            Value::Array(items) => Value::Array(items.iter().map(sorted).collect()),
            other => other.clone(),
        }
    }
    sorted(v).to_string()
}

fn put(buf: &mut Vec<u8>, field: Option<&[u8]>) {
    match field {
        Some(s) => {
            let len = u32::try_from(s.len()).unwrap_or(u32::MAX - 1);
            buf.extend_from_slice(&len.to_be_bytes());
            buf.extend_from_slice(s);
        }
        None => buf.extend_from_slice(&u32::MAX.to_be_bytes()),
    }
}

/// The hashed fields of an event, borrowed (from an [`EventBody`] or a stored row), so the
/// verifier can encode a row without copying it first.
#[derive(Debug, Clone, Copy)]
pub struct EventView<'a> {
    pub stream: &'a str,
    pub stream_seq: i64,
    pub occurred_at: NaiveDateTime,
    pub actor_id: Option<i64>,
    pub actor_role: Option<&'a str>,
    pub action: &'a str,
    pub payload: &'a str,
    pub client_ip: Option<&'a str>,
    pub request_id: Option<&'a str>,
    pub prev_hash: &'a str,
}

impl<'a> EventView<'a> {
    pub fn of(e: &'a EventBody) -> Self {
        Self {
            stream: &e.stream,
            stream_seq: e.stream_seq,
            occurred_at: e.occurred_at.naive_utc(),
            actor_id: e.actor_id,
            actor_role: e.actor_role.as_deref(),
            action: &e.action,
            payload: &e.payload,
            client_ip: e.client_ip.as_deref(),
            request_id: e.request_id.as_deref(),
            prev_hash: &e.prev_hash,
        }
    }

    /// A stored row (its `occurred_at` is UTC, as the store writes it).
    pub fn stored(e: &'a StoredEvent) -> Self {
        Self {
            stream: &e.stream,
            stream_seq: e.stream_seq,
            occurred_at: e.occurred_at,
            actor_id: e.actor_id,
            actor_role: e.actor_role.as_deref(),
            action: &e.action,
            payload: &e.payload,
            client_ip: e.client_ip.as_deref(),
            request_id: e.request_id.as_deref(),
            prev_hash: &e.prev_hash,
        }
    }
}

/// Decimal digits of `v` into the end of `out`; returns where they start.
fn decimal(v: i64, out: &mut [u8; 20]) -> usize {
    let mut n = v.unsigned_abs();
    let mut i = out.len();
    loop {
        i -= 1;
        out[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    if v < 0 {
        i -= 1;
        out[i] = b'-';
    }
    i
}

fn put_int(buf: &mut Vec<u8>, v: i64) {
    let mut digits = [0u8; 20];
    let start = decimal(v, &mut digits);
    put(buf, Some(&digits[start..]));
}

/// Writes `value` as exactly `out.len()` decimal digits (zero-padded) into `out`.
fn digits(out: &mut [u8], mut value: u32) {
    for d in out.iter_mut().rev() {
        *d = b'0' + (value % 10) as u8;
        value /= 10;
    }
}

/// [`format_time`] without the formatting machinery, into a stack buffer; `None` for a year
/// outside 0..=9999 (which `format_time` writes with a sign).
fn format_time_fast(t: NaiveDateTime) -> Option<[u8; 27]> {
    let year = u32::try_from(t.year()).ok().filter(|y| *y <= 9999)?;
    let nanos = t.nanosecond();
    let mut out = *b"0000-00-00T00:00:00.000000Z";
    digits(&mut out[0..4], year);
    digits(&mut out[5..7], t.month());
    digits(&mut out[8..10], t.day());
    digits(&mut out[11..13], t.hour());
    digits(&mut out[14..16], t.minute());
    // As chrono writes a leap second (nanoseconds past 1e9): second 60.
    digits(&mut out[17..19], t.second() + nanos / 1_000_000_000);
    digits(&mut out[20..26], nanos / 1_000 % 1_000_000);
    Some(out)
}

/// Calls `f` with `t` as [`format_time`] writes it (without allocating but for years
/// outside 0..=9999).
pub fn with_time_text<R>(t: NaiveDateTime, f: impl FnOnce(&str) -> R) -> R {
    match format_time_fast(t) {
        Some(b) => f(std::str::from_utf8(&b).unwrap_or_default()),
        None => f(&format_time(t.and_utc())),
    }
}

/// Encodes `e` into `buf` (cleared first): the bytes that are hashed.
pub fn encode_view_into(buf: &mut Vec<u8>, e: &EventView) {
    buf.clear();
    buf.extend_from_slice(ENCODING_TAG);
    put(buf, Some(e.stream.as_bytes()));
    put_int(buf, e.stream_seq);
    match format_time_fast(e.occurred_at) {
        Some(t) => put(buf, Some(t.as_slice())),
        None => put(buf, Some(format_time(e.occurred_at.and_utc()).as_bytes())),
    }
    match e.actor_id {
        Some(id) => put_int(buf, id),
        None => put(buf, None),
    }
    put(buf, e.actor_role.map(str::as_bytes));
    put(buf, Some(e.action.as_bytes()));
    put(buf, Some(e.payload.as_bytes()));
    put(buf, e.client_ip.map(str::as_bytes));
    put(buf, e.request_id.map(str::as_bytes));
    put(buf, Some(e.prev_hash.as_bytes()));
}

/// [`encode`] into a reusable buffer (cleared first).
pub fn encode_into(buf: &mut Vec<u8>, e: &EventBody) {
    encode_view_into(buf, &EventView::of(e));
}

/// The bytes that are hashed.
pub fn encode(e: &EventBody) -> Vec<u8> {
    let mut buf = Vec::with_capacity(256 + e.payload.len());
    encode_into(&mut buf, e);
    buf
}

/// The SHA-256 of the encoding of `e`, encoded in `buf` (a reusable scratch buffer).
pub fn digest_view(buf: &mut Vec<u8>, e: &EventView) -> [u8; 32] {
    encode_view_into(buf, e);
    Sha256::digest(buf.as_slice()).into()
}

pub fn hash(e: &EventBody) -> String {
    hex::encode(Sha256::digest(encode(e)))
}

/// `digest` as [`hash`] writes it (64 lowercase hex digits), without allocating: comparing
/// these bytes with a stored hash is comparing the hashes (a stored hash in any other form
/// differs from every digest, as [`decode_hash`] would say).
pub fn hex_digest(digest: &[u8; 32]) -> [u8; 64] {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = [0u8; 64];
    for (pair, b) in out.chunks_exact_mut(2).zip(digest) {
        pair[0] = DIGITS[usize::from(b >> 4)];
        pair[1] = DIGITS[usize::from(b & 0xf)];
    }
    out
}

/// Decodes a hash as [`hash`] writes it (64 lowercase hex digits) without allocating;
/// `None` for anything else, which no hash this module wrote can equal.
pub fn decode_hash(hex: &str) -> Option<[u8; 32]> {
    fn nibble(c: u8) -> Option<u8> {
        match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            _ => None,
        }
    }
    let bytes = hex.as_bytes();
    if bytes.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (o, pair) in out.iter_mut().zip(bytes.chunks_exact(2)) {
        *o = (nibble(pair[0])? << 4) | nibble(pair[1])?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use serde_json::json;

    fn body() -> EventBody {
        EventBody {
            stream: "user:1".into(),
            stream_seq: 1,
            occurred_at: Utc.with_ymd_and_hms(2026, 11, 27, 8, 0, 0).unwrap(),
            actor_id: Some(1),
            actor_role: Some("bidder".into()),
            action: "auth.registered".into(),
            payload: canonical_json(&json!({"b": 1, "a": {"d": "1.00", "c": [2, 1]}})),
            client_ip: Some("127.0.0.1".into()),
            request_id: None,
            prev_hash: GENESIS_HASH.into(),
        }
    }

    #[test]
    fn canonical_json_sorts_keys_at_every_level_without_spaces() {
        assert_eq!(body().payload, r#"{"a":{"c":[2,1],"d":"1.00"},"b":1}"#);
    }

    #[test]
    fn every_field_changes_the_hash() {
        let base = hash(&body());
        let mut variants = Vec::new();
        let mut e = body();
        e.stream = "user:2".into();
        variants.push(e);
        let mut e = body();
        e.stream_seq = 2;
        variants.push(e);
        let mut e = body();
        e.occurred_at += chrono::Duration::microseconds(1);
        variants.push(e);
        let mut e = body();
        e.actor_id = None;
        variants.push(e);
        let mut e = body();
        e.actor_role = Some("admin".into());
        variants.push(e);
        let mut e = body();
        e.action = "auth.login".into();
        variants.push(e);
        let mut e = body();
        e.payload = "{}".into();
        variants.push(e);
        let mut e = body();
        e.client_ip = None;
        variants.push(e);
        let mut e = body();
        e.request_id = Some(String::new());
        variants.push(e);
        let mut e = body();
        e.prev_hash = "1".repeat(64);
        variants.push(e);
        for v in variants {
            assert_ne!(hash(&v), base, "{v:?}");
        }
    }

    #[test]
    fn absent_and_empty_are_different() {
        let mut a = body();
        a.request_id = None;
        let mut b = body();
        b.request_id = Some(String::new());
        assert_ne!(encode(&a), encode(&b));
    }

    #[test]
    fn length_prefixes_stop_fields_running_into_each_other() {
        let mut a = body();
        a.stream = "user:1".into();
        a.action = "xauth".into();
        let mut b = body();
        b.stream = "user:1x".into();
        b.action = "auth".into();
        assert_ne!(hash(&a), hash(&b));
    }

    #[test]
    fn hash_is_stable_for_the_documented_encoding() {
        // Recomputed independently from the encoding described in the module docs.
        let e = body();
        let bytes = encode(&e);
        assert!(bytes.starts_with(b"AXAUDIT1\x00\x00\x00\x06user:1\x00\x00\x00\x011"));
        assert_eq!(hash(&e).len(), 64);
        assert_eq!(format_time(e.occurred_at), "2026-11-27T08:00:00.000000Z");
    }

    /// The encoder as it was first written (strings through `to_string` and chrono), kept
    /// to pin the fast encoder to the same bytes.
    fn encode_reference(e: &EventBody) -> Vec<u8> {
        fn field(buf: &mut Vec<u8>, f: Option<&str>) {
            match f {
                Some(s) => {
                    buf.extend_from_slice(&(s.len() as u32).to_be_bytes());
                    buf.extend_from_slice(s.as_bytes());
                }
                None => buf.extend_from_slice(&u32::MAX.to_be_bytes()),
            }
        }
        let mut buf = ENCODING_TAG.to_vec();
        field(&mut buf, Some(&e.stream));
        field(&mut buf, Some(&e.stream_seq.to_string()));
        field(&mut buf, Some(&format_time(e.occurred_at)));
        field(&mut buf, e.actor_id.map(|id| id.to_string()).as_deref());
        field(&mut buf, e.actor_role.as_deref());
        field(&mut buf, Some(&e.action));
        field(&mut buf, Some(&e.payload));
        field(&mut buf, e.client_ip.as_deref());
        field(&mut buf, e.request_id.as_deref());
        field(&mut buf, Some(&e.prev_hash));
        buf
    }

    /// A small deterministic generator (xorshift), so the varied cases are reproducible.
    struct Gen(u64);

    impl Gen {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }

        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }

        fn text(&mut self) -> String {
            const PIECES: [&str; 8] = ["", "a", "listing:7", "é", "拍卖", "🦀", "\"\\", "\u{0}"];
            let n = self.below(6) as usize;
            let mut s = String::new();
            for _ in 0..n {
                s.push_str(PIECES[self.below(PIECES.len() as u64) as usize]);
            }
            if self.below(10) == 0 {
                s.push_str(&"x".repeat(self.below(70_000) as usize));
            }
            s
        }

        fn maybe(&mut self) -> Option<String> {
            (self.below(3) != 0).then(|| self.text())
        }
    }

    fn varied(g: &mut Gen) -> EventBody {
        const INTS: [i64; 7] = [0, 1, -1, 9, 10, i64::MAX, i64::MIN];
        let int = |g: &mut Gen| {
            if g.below(2) == 0 {
                INTS[g.below(INTS.len() as u64) as usize]
            } else {
                g.next() as i64 >> g.below(64)
            }
        };
        let micros = (g.next() % 250_000_000_000_000_000) as i64 - 62_000_000_000_000_000;
        EventBody {
            stream: g.text(),
            stream_seq: int(g),
            occurred_at: DateTime::from_timestamp_micros(micros).unwrap(),
            actor_id: (g.below(2) == 0).then(|| int(g)),
            actor_role: g.maybe(),
            action: g.text(),
            payload: g.text(),
            client_ip: g.maybe(),
            request_id: g.maybe(),
            prev_hash: if g.below(2) == 0 {
                g.text()
            } else {
                "ab".repeat(32)
            },
        }
    }

    #[test]
    fn the_fast_encoder_writes_the_reference_bytes_for_varied_bodies() {
        let mut g = Gen(0x2545_f491_4f6c_dd1d);
        let mut buf = Vec::new();
        for _ in 0..3_000 {
            let e = varied(&mut g);
            let want = encode_reference(&e);
            encode_into(&mut buf, &e);
            assert_eq!(buf, want, "{e:?}");
            assert_eq!(encode(&e), want);
            assert_eq!(hash(&e), hex::encode(Sha256::digest(&want)));
            assert_eq!(
                hex::encode(digest_view(&mut buf, &EventView::of(&e))),
                hash(&e)
            );
        }
        assert_eq!(encode(&body()), encode_reference(&body()));
    }

    #[test]
    fn the_fast_time_format_equals_format_time() {
        let mut instants: Vec<DateTime<Utc>> = Vec::new();
        for (y, m, d) in [
            (1970, 1, 1),
            (1999, 12, 31),
            (2000, 2, 29),
            (2000, 3, 1),
            (1900, 2, 28),
            (2024, 2, 29),
            (2026, 12, 31),
            (2027, 1, 1),
            (1, 1, 1),
            (999, 6, 15),
            (9999, 12, 31),
        ] {
            for (h, mi, s) in [(0, 0, 0), (23, 59, 59), (12, 30, 5)] {
                for us in [0, 1, 9, 10, 999, 123_456, 999_999] {
                    let t = Utc.with_ymd_and_hms(y, m, d, h, mi, s).unwrap();
                    instants.push(t + chrono::Duration::microseconds(us));
                }
            }
        }
        let mut g = Gen(0x9e37_79b9_7f4a_7c15);
        for _ in 0..20_000 {
            let micros = (g.next() % 253_402_300_800_000_000) as i64 - 62_135_596_800_000_000;
            instants.push(DateTime::from_timestamp_micros(micros).unwrap());
        }
        for t in instants {
            let fast = format_time_fast(t.naive_utc()).expect("a year of four digits");
            assert_eq!(std::str::from_utf8(&fast).unwrap(), format_time(t), "{t:?}");
        }
        // Years chrono writes with a sign take the slow path, to the same bytes.
        let far = Utc.with_ymd_and_hms(10_000, 1, 1, 0, 0, 0).unwrap();
        assert!(format_time_fast(far.naive_utc()).is_none());
        let mut e = body();
        e.occurred_at = far;
        assert_eq!(encode(&e), encode_reference(&e));
    }

    #[test]
    fn decode_hash_accepts_only_what_hash_writes() {
        let h = hash(&body());
        assert_eq!(decode_hash(&h).map(hex::encode), Some(h.clone()));
        assert_eq!(decode_hash(GENESIS_HASH), Some([0; 32]));
        assert_eq!(decode_hash(&h.to_uppercase()), None);
        assert_eq!(decode_hash(&h[..62]), None);
        assert_eq!(decode_hash(&format!("{h}0")), None);
        assert_eq!(decode_hash(&format!("{}g", &h[..63])), None);
        assert_eq!(decode_hash(""), None);
        let digest: [u8; 32] = Sha256::digest(b"x").into();
        assert_eq!(
            hex_digest(&digest).as_slice(),
            hex::encode(digest).as_bytes()
        );
        assert_eq!(decode_hash(&hex::encode(digest)), Some(digest));
    }
}
