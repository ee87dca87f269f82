//! Audit verification throughput, next to the raw SHA-256 throughput of the same bytes.
//!
//! `cargo bench --bench audit_verify` (optionally `-- EVENTS STREAMS`). It builds a chain of
//! events in memory, then measures: (1) SHA-256 over exactly the bytes the verifier hashes,
//! (2) the verifier over the same events with a signed checkpoint, (3) the full database
//! path (`audit::verify_db`) on a fresh SQLite file, or on PostgreSQL when
//! BENCH_DATABASE_URL is set.

use std::time::Instant;

use asset_exchange::audit::chain::{self, EventBody, GENESIS_HASH};
use asset_exchange::audit::checkpoint::{AuditSigner, TrustedKeys};
use asset_exchange::audit::verify::Verifier;
use asset_exchange::config::DatabaseSettings;
use asset_exchange::store::Db;
use chrono::Utc;
use sha2::{Digest, Sha256};

fn build(events: usize, streams: usize) -> Vec<(EventBody, String)> {
    let now = chain::truncate(Utc::now());
    let mut heads: Vec<(i64, String)> = vec![(0, GENESIS_HASH.to_string()); streams];
    let mut out = Vec::with_capacity(events);
    for i in 0..events {
        let s = i % streams;
        let (seq, prev) = heads[s].clone();
        let body = EventBody {
            stream: format!("listing:{s}"),
            stream_seq: seq + 1,
            occurred_at: now,
            actor_id: Some(i as i64),
            actor_role: Some("bidder".into()),
            action: "bid.placed".into(),
            payload: format!(
                r#"{{"amount":"{}.00","bidder_code":"B{:04}","listing_id":{s},"seq":{}}}"#,
                1_000_000 + i,
                i % 50,
                seq + 1
            ),
            client_ip: Some("192.0.2.10".into()),
            request_id: Some(format!("{i:024x}")),
            prev_hash: prev,
        };
        let hash = chain::hash(&body);
        heads[s] = (seq + 1, hash.clone());
        out.push((body, hash));
    }
    out.sort_by(|a, b| (&a.0.stream, a.0.stream_seq).cmp(&(&b.0.stream, b.0.stream_seq)));
    out
}

fn main() -> anyhow::Result<()> {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let events = args.first().copied().unwrap_or(200_000);
    let streams = args.get(1).copied().unwrap_or(1_000);
    println!("audit verification benchmark: {events} events over {streams} streams");
    let chain = build(events, streams);

    let encoded: Vec<Vec<u8>> = chain.iter().map(|(b, _)| chain::encode(b)).collect();
    let bytes: usize = encoded.iter().map(Vec::len).sum();
    let t = Instant::now();
    let mut acc = 0u8;
    for e in &encoded {
        acc ^= Sha256::digest(e)[0];
    }
    let raw = t.elapsed().as_secs_f64();
    println!(
        "raw SHA-256 of the same bytes: {:>10.0} events/s  ({:.1} MB/s, {} bytes/event, checksum {acc})",
        events as f64 / raw,
        bytes as f64 / raw / 1e6,
        bytes / events
    );

    let t = Instant::now();
    let mut v = Verifier::new(TrustedKeys::default(), None);
    for (body, hash) in &chain {
        v.event(body, hash);
    }
    let report = v.finish();
    let mem = t.elapsed().as_secs_f64();
    assert!(report.valid, "{:?}", report.first_invalid);
    println!(
        "verifier, in memory:           {:>10.0} events/s  ({:.2}x the raw hash time)",
        events as f64 / mem,
        mem / raw
    );

    let dir = tempfile::tempdir()?;
    let url = std::env::var("BENCH_DATABASE_URL")
        .unwrap_or_else(|_| format!("sqlite://{}", dir.path().join("bench.db").display()));
    let db = Db::connect(&DatabaseSettings {
        url: url.clone(),
        pool_size: 2,
        connect_timeout_seconds: 10,
        sqlite_busy_timeout_ms: 5000,
    })?;
    db.migrate_blocking()?;
    let t = Instant::now();
    for chunk in chain.chunks(5_000) {
        db.tx_blocking(|c| {
            for (body, _) in chunk {
                asset_exchange::audit::append(c, body.clone())?;
            }
            Ok(())
        })
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    }
    println!(
        "appended through the store:    {:>10.0} events/s",
        events as f64 / t.elapsed().as_secs_f64()
    );
    let signer = AuditSigner::from_seed([1; 32]);
    asset_exchange::audit::checkpoint_now(&db, &signer, Utc::now(), true)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let t = Instant::now();
    let report = asset_exchange::audit::verify_db(&db, TrustedKeys::new([signer.public_key()]))
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let full = t.elapsed().as_secs_f64();
    assert!(report.valid, "{:?}", report.first_invalid);
    println!(
        "verify_db ({}): {:>10.0} events/s  ({:.2}x the raw hash time)",
        if url.starts_with("postgres") {
            "PostgreSQL"
        } else {
            "SQLite"
        },
        events as f64 / full,
        full / raw
    );
    Ok(())
}
