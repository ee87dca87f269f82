//! Audit verification throughput, next to the raw SHA-256 throughput of the same bytes.
//!
//! `cargo bench --bench audit_verify` (optionally `-- EVENTS STREAMS`). It builds a chain of
//! events in memory, then measures: (1) SHA-256 over exactly the bytes the verifier hashes,
//! (2) the verifier over the same events with a signed checkpoint, (3) appends: the hash chain
//! alone (the store's statements as before the transparency log) next to the full append
//! with the log, (4) inclusion and consistency proofs per second from the stored nodes, (5)
//! the full database path (`audit::verify_db`) on a fresh SQLite file, or on PostgreSQL when
//! BENCH_DATABASE_URL is set. The raw hash and the in-memory verifier keep the best of five
//! runs; `verify_db` runs five times, each right after a raw hash of its own (best of five),
//! and the median of those five ratios is its figure (the machine is shared, and a ratio is
//! only as good as its anchor's timing). `verify_db` reads with one connection and thread per
//! core (at most four); the raw hash runs on one. With BENCH_KEEP set, the SQLite files are
//! kept (their directory
//! is printed), e.g. to time SQLite's own read of the same table with `sqlite3`.

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
    // Laid out in memory in the order it is verified, as the encoded bytes the raw anchor
    // hashes are (and as rows read from a database are): sorting alone leaves each event's
    // strings where they were allocated, in append order, and the in-memory figure then
    // measured cache misses (about 0.35x the raw hash time) rather than the verifier.
    out.to_vec()
}

/// The append path as it was before the log (the anchor of the append figure, kept as it
/// was so the ratio stays comparable): lock the stream head with an upsert, insert the event,
/// move the head. With `commit` the batches are committed, as real appends are (into a
/// database of their own, so the log's run starts from the same empty state); otherwise each
/// batch is rolled back, which skips the commit's write-ahead log and sync (the anchor used
/// until 2026-12-04, still printed for comparison).
fn append_chain_only(db: &Db, chain: &[(EventBody, String)], commit: bool) -> anyhow::Result<f64> {
    use asset_exchange::error::AppError;
    let t = Instant::now();
    for chunk in chain.chunks(5_000) {
        let done = db.tx_blocking(|c| {
            for (body, _) in chunk {
                chain_only_append(c, body.clone())?;
            }
            if commit {
                Ok(())
            } else {
                Err(AppError::conflict("rolled_back", "measured only"))
            }
        });
        anyhow::ensure!(
            commit == done.is_ok()
                && matches!(
                    done,
                    Ok(())
                        | Err(AppError::Conflict {
                            code: "rolled_back",
                            ..
                        })
                ),
            "chain-only append failed: {done:?}"
        );
    }
    Ok(chain.len() as f64 / t.elapsed().as_secs_f64())
}

/// The three statements of one chain-only append.
fn chain_only_append(
    c: &mut asset_exchange::store::Conn,
    mut body: EventBody,
) -> Result<(), asset_exchange::error::AppError> {
    use asset_exchange::store::schema::{audit_events, audit_heads};
    use asset_exchange::with_conn;
    use diesel::prelude::*;
    let (seq, prev): (i64, String) = with_conn!(c, c => diesel::insert_into(audit_heads::table)
        .values((
            audit_heads::stream.eq(&body.stream),
            audit_heads::seq.eq(0_i64),
            audit_heads::hash.eq(GENESIS_HASH),
        ))
        .on_conflict(audit_heads::stream)
        .do_update()
        .set(audit_heads::seq.eq(audit_heads::seq))
        .returning((audit_heads::seq, audit_heads::hash))
        .get_result(c))?;
    body.stream_seq = seq + 1;
    body.prev_hash = prev;
    let hash = chain::hash(&body);
    let at = asset_exchange::store::models::to_db(body.occurred_at);
    let _id: i64 = with_conn!(c, c => diesel::insert_into(audit_events::table)
        .values((
            audit_events::stream.eq(&body.stream),
            audit_events::stream_seq.eq(body.stream_seq),
            audit_events::occurred_at.eq(at),
            audit_events::actor_id.eq(body.actor_id),
            audit_events::actor_role.eq(&body.actor_role),
            audit_events::action.eq(&body.action),
            audit_events::payload.eq(&body.payload),
            audit_events::client_ip.eq(&body.client_ip),
            audit_events::request_id.eq(&body.request_id),
            audit_events::prev_hash.eq(&body.prev_hash),
            audit_events::hash.eq(&hash),
        ))
        .returning(audit_events::id)
        .get_result(c))?;
    with_conn!(c, c => diesel::update(audit_heads::table.find(&body.stream))
        .set((audit_heads::seq.eq(body.stream_seq), audit_heads::hash.eq(&hash)))
        .execute(c))?;
    Ok(())
}

/// Inclusion and consistency proofs per second, each checked.
fn proofs(db: &Db, size: u64) -> anyhow::Result<()> {
    use asset_exchange::audit::{log, tlog};
    let n = 2_000u64;
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move |below: u64| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x % below
    };
    let ids: Vec<i64> = db
        .run_blocking(|c| asset_exchange::store::audit_log::leaves_from(c, 0, size as i64))
        .map_err(|e| anyhow::anyhow!("{e}"))?
        .into_iter()
        .filter_map(|(_, _, id, _)| id)
        .collect();
    let root = db
        .run_blocking(|c| log::root_at(c, size))
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let t = Instant::now();
    for _ in 0..n {
        let id = ids[next(ids.len() as u64) as usize];
        let p = db
            .run_blocking(|c| log::inclusion(c, id, size))
            .map_err(|e| anyhow::anyhow!("{e}"))?
            .ok_or_else(|| anyhow::anyhow!("event {id} not in the log"))?;
        assert!(tlog::verify_inclusion(
            &p.leaf_hash,
            p.leaf_index,
            size,
            &p.hashes,
            &root
        ));
    }
    let inclusion = n as f64 / t.elapsed().as_secs_f64();
    let t = Instant::now();
    for _ in 0..n / 10 {
        let from = next(size) + 1;
        let hashes = db
            .run_blocking(|c| log::consistency(c, from, size))
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        assert!(!hashes.is_empty() || from == size);
    }
    let consistency = (n / 10) as f64 / t.elapsed().as_secs_f64();
    println!(
        "inclusion proofs (read + check): {inclusion:>8.0} proofs/s over {size} leaves\n\
         consistency proofs (read):       {consistency:>8.0} proofs/s"
    );
    Ok(())
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
    let raw = raw_time(&encoded);
    println!(
        "raw SHA-256 of the same bytes: {:>10.0} events/s  ({:.1} MB/s, {} bytes/event; best of {RUNS})",
        events as f64 / raw,
        bytes as f64 / raw / 1e6,
        bytes / events
    );

    let mut mem = f64::MAX;
    for _ in 0..RUNS {
        let t = Instant::now();
        let mut v = Verifier::new(TrustedKeys::default(), None);
        for (body, hash) in &chain {
            v.event(body, hash);
        }
        let report = v.finish();
        mem = mem.min(t.elapsed().as_secs_f64());
        assert!(report.valid, "{:?}", report.first_invalid);
    }
    println!(
        "verifier, in memory, best of {RUNS}: {:>10.0} events/s  ({:.2}x the raw hash time)",
        events as f64 / mem,
        mem / raw
    );

    let dir = tempfile::tempdir()?;
    let url = std::env::var("BENCH_DATABASE_URL")
        .unwrap_or_else(|_| format!("sqlite://{}", dir.path().join("bench.db").display()));
    let db = open(&url)?;
    appends(&db, dir.path(), &chain)?;
    proofs(&db, events as u64)?;
    // The machine is shared: `verify_db` is timed in runs that alternate with the anchor.
    let r = verify_from_db(&db, &url, events, &encoded);
    if std::env::var_os("BENCH_KEEP").is_some() {
        println!("kept {}", dir.keep().display());
    }
    r
}

/// Runs of the raw hash and of `verify_db` whose best time is kept.
const RUNS: usize = 5;

/// The best of [`RUNS`] times to SHA-256 each encoded event once.
fn raw_time(encoded: &[Vec<u8>]) -> f64 {
    let mut best = f64::MAX;
    let mut acc = 0u8;
    for _ in 0..RUNS {
        let t = Instant::now();
        for e in encoded {
            acc ^= Sha256::digest(e)[0];
        }
        best = best.min(t.elapsed().as_secs_f64());
    }
    std::hint::black_box(acc);
    best
}

fn open(url: &str) -> anyhow::Result<Db> {
    let db = Db::connect(&DatabaseSettings {
        url: url.to_string(),
        pool_size: 2,
        connect_timeout_seconds: 10,
        sqlite_busy_timeout_ms: 5000,
        migrate_on_start: true,
    })?;
    db.migrate_blocking()?;
    Ok(db)
}

/// Appends every event with the log into `db`, next to the chain-only anchors.
fn appends(db: &Db, dir: &std::path::Path, chain: &[(EventBody, String)]) -> anyhow::Result<()> {
    let rolled_back = append_chain_only(db, chain, false)?;
    // On SQLite the committed anchor gets a fresh file of its own; on a server database only
    // the rolled-back one is measured (committed events would be in the log run's way).
    let committed = if std::env::var("BENCH_DATABASE_URL").is_ok() {
        None
    } else {
        let chain_db = open(&format!("sqlite://{}", dir.join("chain.db").display()))?;
        Some(append_chain_only(&chain_db, chain, true)?)
    };
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
    let with_log = chain.len() as f64 / t.elapsed().as_secs_f64();
    if let Some(committed) = committed {
        println!("appended, chain only, committed:   {committed:>10.0} events/s");
    }
    println!(
        "appended, chain only, rolled back: {rolled_back:>10.0} events/s\n\
         appended, chain + Merkle log:      {with_log:>10.0} events/s  ({}{:.2}x the rolled-back chain-only rate)",
        committed.map_or(String::new(), |c| format!(
            "{:.2}x the committed chain-only rate, ",
            with_log / c
        )),
        with_log / rolled_back
    );
    Ok(())
}

/// Signs a checkpoint and times `audit::verify_db` over the whole database, [`RUNS`] times,
/// each run right after the raw hash of the same events, so that each ratio compares two
/// timings taken within a second of each other; the median ratio is the figure.
fn verify_from_db(db: &Db, url: &str, events: usize, encoded: &[Vec<u8>]) -> anyhow::Result<()> {
    let signer = AuditSigner::from_seed([1; 32]);
    asset_exchange::audit::checkpoint_now(db, &signer, Utc::now(), true)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut pairs = Vec::with_capacity(RUNS);
    for _ in 0..RUNS {
        let raw = raw_time(encoded);
        let t = Instant::now();
        let report = asset_exchange::audit::verify_db(db, TrustedKeys::new([signer.public_key()]))
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        pairs.push((t.elapsed().as_secs_f64(), raw));
        assert!(report.valid, "{:?}", report.first_invalid);
    }
    println!(
        "verify_db ({}), {RUNS} runs (ms, each after its raw hash; {} readers): {}",
        if url.starts_with("postgres") {
            "PostgreSQL"
        } else {
            "SQLite"
        },
        std::thread::available_parallelism().map_or(1, |n| n.get().min(4)),
        pairs
            .iter()
            .map(|(v, r)| format!("{:.0} / raw {:.1} = {:.2}x", v * 1e3, r * 1e3, v / r))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let mut ratios: Vec<f64> = pairs.iter().map(|(v, r)| v / r).collect();
    ratios.sort_by(f64::total_cmp);
    let median = ratios[ratios.len() / 2];
    let (full, raw) = pairs[pairs.len() / 2];
    println!(
        "verify_db, median: {median:.2}x the raw hash time ({:.2} of its speed; best {:.2}x)",
        1.0 / median,
        ratios[0],
    );
    let _ = events;
    phases(db, &signer, full, raw)
}

/// Where `verify_db`'s time goes, each part timed on its own as a share of the whole and
/// against the raw hash time: "by id", the single pass it makes over an honest trail
/// (`audit::onepass`) and the two reads in it; "by stream", what it falls back to when
/// that pass proves nothing (the chains in (stream, seq) order, then the log alone).
fn phases(db: &Db, signer: &AuditSigner, full: f64, raw: f64) -> anyhow::Result<()> {
    use asset_exchange::audit::onepass::MIN_PART;
    use asset_exchange::audit::{self, chain::EventView, logcheck, reconcile};
    let keys = TrustedKeys::new([signer.public_key()]);
    let err = |e: asset_exchange::error::AppError| anyhow::anyhow!("{e}");
    let mut rows: Vec<(&str, f64)> = Vec::new();
    let t = Instant::now();
    let cps = db.run_blocking(audit::checkpoints).map_err(err)?;
    rows.push(("checkpoints read", t.elapsed().as_secs_f64()));
    let t = Instant::now();
    let mut n = 0u64;
    audit::each_event(db, None, |_| n += 1).map_err(err)?;
    rows.push(("by stream: events read", t.elapsed().as_secs_f64()));
    let t = Instant::now();
    let mut by_id = 0u64;
    db.snapshot_blocking(|c| {
        let mut from = i64::MIN;
        loop {
            let (seen, last) =
                asset_exchange::store::audit::each_event_by_id(c, from, 5_000, |_| {
                    by_id += 1;
                    true
                })?;
            if seen < 5_000 {
                return Ok(());
            }
            from = last.map_or(i64::MAX, |id| id.saturating_add(1));
        }
    })
    .map_err(err)?;
    anyhow::ensure!(by_id == n, "event count differs in id order");
    rows.push(("by id: events read", t.elapsed().as_secs_f64()));
    let t = Instant::now();
    let mut leaves = 0usize;
    db.snapshot_blocking(|c| {
        loop {
            let got = asset_exchange::store::audit_log::leaf_rows_from(c, leaves as i64, 5_000)?;
            leaves += got.len();
            if got.len() < 5_000 {
                return Ok(());
            }
        }
    })
    .map_err(err)?;
    rows.push(("by id: leaves read", t.elapsed().as_secs_f64()));
    for (phase, readers) in [("by id: single pass", 0), ("by id: one reader", 1)] {
        let t = Instant::now();
        let proved = match readers {
            0 => audit::onepass::verify(db, &keys, &cps, &[]),
            n => audit::onepass::verify_in_parts(db, &keys, &cps, &[], n, MIN_PART),
        };
        anyhow::ensure!(proved.map_err(err)?.is_some(), "{phase}: not proved");
        rows.push((phase, t.elapsed().as_secs_f64()));
    }
    let t = Instant::now();
    let mut v = Verifier::new(keys.clone(), None);
    cps.iter().for_each(|c| v.checkpoint(c));
    audit::each_event(db, None, |e| v.event_view(&EventView::stored(e), &e.hash)).map_err(err)?;
    anyhow::ensure!(v.finish().events_checked == n, "event count differs");
    rows.push(("by stream: + chains", t.elapsed().as_secs_f64()));
    let t = Instant::now();
    let log = logcheck::check(db, &keys, &[]).map_err(err)?;
    anyhow::ensure!(log.problems.is_empty(), "{:?}", log.problems);
    rows.push(("log checked alone", t.elapsed().as_secs_f64()));
    let t = Instant::now();
    reconcile::check(db).map_err(err)?;
    rows.push(("reconciliation", t.elapsed().as_secs_f64()));
    for (phase, secs) in rows {
        println!(
            "  {phase:<22} {:>8.1} ms  ({:>5.1}% of verify_db, {:>6.2}x the raw hash time)",
            secs * 1e3,
            secs / full * 100.0,
            secs / raw
        );
    }
    Ok(())
}
