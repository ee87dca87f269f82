//! The audit trail every write uses. Call [`record`] inside the transaction of the change it
//! describes: the event is chained onto its stream (`listing:{id}`, `user:{id}`, `org:{id}`,
//! `system`) and commits or rolls back with the change.

pub mod chain;
pub mod checkpoint;
pub mod export;
pub mod log;
pub mod logcheck;
pub mod merkle;
pub mod note;
pub mod onepass;
pub mod receipt;
pub mod reconcile;
pub mod tlog;
pub mod verify;
pub mod witness;

use std::net::IpAddr;

use chrono::{DateTime, Utc};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::domain::Role;
use crate::error::AppError;
use crate::store::{Conn, Db, audit as store};

/// Who did it: a user with a role, or the system itself (scheduler, CLI).
#[derive(Debug, Clone, Copy)]
pub struct Actor {
    pub id: Option<i64>,
    pub role: Option<Role>,
}

impl Actor {
    pub const SYSTEM: Actor = Actor {
        id: None,
        role: None,
    };
    pub const ANONYMOUS: Actor = Actor {
        id: None,
        role: None,
    };

    pub fn user(id: i64, role: Role) -> Self {
        Actor {
            id: Some(id),
            role: Some(role),
        }
    }
}

/// Facts about the request that the audit trail keeps. The HTTP layer fills it from the
/// request (`api::extract`); jobs and the CLI use the empty default.
#[derive(Debug, Clone, Default)]
pub struct RequestMeta {
    pub client_ip: Option<IpAddr>,
    pub request_id: Option<String>,
    pub user_agent: Option<String>,
}

impl RequestMeta {
    pub fn ip_string(&self) -> Option<String> {
        self.client_ip.map(|ip| ip.to_string())
    }
}

/// One fact to record.
pub struct Event<'a> {
    pub stream: String,
    pub action: &'static str,
    pub actor: Actor,
    pub payload: Value,
    pub meta: &'a RequestMeta,
}

pub fn user_stream(id: i64) -> String {
    format!("user:{id}")
}

pub fn org_stream(id: i64) -> String {
    format!("org:{id}")
}

pub const SYSTEM_STREAM: &str = "system";

/// Appends `event` to its stream's chain, in the caller's transaction.
pub fn record(conn: &mut Conn, now: DateTime<Utc>, event: Event) -> Result<(), AppError> {
    record_logged(conn, now, event).map(|_| ())
}

/// An event as stored: its id and chain hash (its leaf in the log is the hash's leaf hash).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Logged {
    pub event_id: i64,
    pub hash: String,
}

/// [`record`], answering where the event went (for a receipt signed without reading it back).
pub fn record_logged(
    conn: &mut Conn,
    now: DateTime<Utc>,
    event: Event,
) -> Result<Logged, AppError> {
    let body = chain::EventBody {
        stream: event.stream,
        stream_seq: 0,
        occurred_at: chain::truncate(now),
        actor_id: event.actor.id,
        actor_role: event.actor.role.map(|r| r.as_str().to_string()),
        action: event.action.to_string(),
        payload: chain::canonical_json(&event.payload),
        client_ip: event.meta.ip_string(),
        request_id: event.meta.request_id.clone(),
        prev_hash: String::new(),
    };
    append(conn, body)
}

/// Chains `body` onto the head of its stream, stores it and appends it to the transparency
/// log, in the caller's transaction: `stream_seq` and `prev_hash` are filled in here. The
/// log's lock ([`log::lock_with_stream`]) serialises every append, so it also guards the
/// stream heads.
pub fn append(conn: &mut Conn, mut body: chain::EventBody) -> Result<Logged, AppError> {
    let (log_head, stream_head) = log::lock_with_stream(conn, &body.stream)?;
    let (seq, prev) = stream_head.unwrap_or_else(|| (0, chain::GENESIS_HASH.to_string()));
    body.stream_seq = seq + 1;
    body.prev_hash = prev;
    let hash = chain::hash(&body);
    let (nodes, size, frontier) = log::extend(log_head, &hash)?;
    let head = crate::store::audit_log::NewHead {
        size,
        frontier: &frontier,
    };
    let id = crate::store::audit_log::insert_logged_event(conn, &body, &hash, &nodes, &head)?;
    Ok(Logged { event_id: id, hash })
}

/// A salted hash of a piece of personal data, so the trail can say "the same e-mail" without
/// holding it, and stays verifiable if the personal data is later erased elsewhere.
pub fn pii_hash(salt: &[u8], value: &str) -> String {
    let mut h = Sha256::new();
    h.update(b"asset-exchange/pii/v1\0");
    h.update(salt);
    h.update([0]);
    h.update(value.trim().to_lowercase().as_bytes());
    hex::encode(h.finalize())
}

/// Events read per batch while verifying or exporting.
const BATCH: i64 = 2_000;

/// Verifies the whole trail in the database (blocking: run it on the blocking pool): the
/// chains and their checkpoints, and the transparency log. An honest trail is proved in one
/// pass over the events in id order ([`onepass`]); if that pass finds anything off, the
/// trail is verified again in (stream, seq) order ([`verify_by_stream`]), which names each
/// problem.
pub fn verify_db(db: &Db, keys: checkpoint::TrustedKeys) -> Result<verify::Report, AppError> {
    verify_db_against(db, keys, &[])
}

/// [`verify_db`], also checking that the log still extends checkpoints a client saved.
pub fn verify_db_against(
    db: &Db,
    keys: checkpoint::TrustedKeys,
    saved: &[note::Note],
) -> Result<verify::Report, AppError> {
    let checkpoints = db.run_blocking(checkpoints)?;
    if let Some((mut report, log)) = onepass::verify(db, &keys, &checkpoints, saved)? {
        log.add_to(&mut report);
        for p in reconcile::check(db)? {
            report.add(p);
        }
        return Ok(report);
    }
    verify_by_stream(db, keys, &checkpoints, saved)
}

/// [`verify_db_against`] without its fast path: the chains read in (stream, seq) order, then
/// the log on its own. Every problem is found and named in that order.
pub fn verify_by_stream(
    db: &Db,
    keys: checkpoint::TrustedKeys,
    checkpoints: &[checkpoint::CheckpointRecord],
    saved: &[note::Note],
) -> Result<verify::Report, AppError> {
    let mut v = verify::Verifier::new(keys.clone(), None);
    for c in checkpoints {
        v.checkpoint(c);
    }
    each_event(db, None, |e| {
        v.event_view(&chain::EventView::stored(e), &e.hash);
    })?;
    let mut report = v.finish();
    logcheck::check(db, &keys, saved)?.add_to(&mut report);
    for p in reconcile::check(db)? {
        report.add(p);
    }
    Ok(report)
}

/// Calls `f` for every event (of one stream, or all) in (stream, stream_seq) order, reading
/// in batches so memory stays flat however long the trail is.
pub fn each_event(
    db: &Db,
    stream: Option<&str>,
    mut f: impl FnMut(&store::StoredEvent),
) -> Result<(), AppError> {
    try_each_event(db, stream, |e| {
        f(e);
        Ok(())
    })
}

/// [`each_event`], stopping at the first error `f` returns.
pub fn try_each_event(
    db: &Db,
    stream: Option<&str>,
    f: impl FnMut(&store::StoredEvent) -> Result<(), AppError>,
) -> Result<(), AppError> {
    each_in_pages(db, stream, BATCH, f)
}

/// [`try_each_event`] in pages of `page` events: one stream page by page through its index,
/// or the whole trail from each page's last (stream, seq) on.
fn each_in_pages(
    db: &Db,
    stream: Option<&str>,
    page: i64,
    mut f: impl FnMut(&store::StoredEvent) -> Result<(), AppError>,
) -> Result<(), AppError> {
    let mut after: Option<(String, i64)> = None;
    loop {
        let pos = after.clone();
        let batch = db.run_blocking(|c| match stream {
            Some(stream) => {
                let seq = pos.as_ref().map_or(0, |(_, seq)| *seq);
                store::stream_events_after(c, stream, seq, page)
            }
            None => store::events_after(c, pos.as_ref().map(|(s, q)| (s.as_str(), *q)), page),
        })?;
        let Some(last) = batch.last() else { break };
        after = Some((last.stream.clone(), last.stream_seq));
        let full = batch.len() as i64 == page;
        batch.iter().try_for_each(&mut f)?;
        if !full {
            break;
        }
    }
    Ok(())
}

/// Signs a checkpoint now if anything changed since the last one (or always, if `force`).
pub fn checkpoint_now(
    db: &Db,
    signer: &checkpoint::AuditSigner,
    now: DateTime<Utc>,
    force: bool,
) -> Result<Option<checkpoint::CheckpointRecord>, AppError> {
    db.tx_blocking(|c| {
        if !force && !store::changed_since_checkpoint(c)? {
            return Ok(None);
        }
        create_checkpoint(c, signer, now).map(Some)
    })
}

/// Signs and stores a checkpoint of every stream head, in the caller's transaction.
/// Concurrent creators (several instances) queue on the store's lock; ids have no gaps.
pub fn create_checkpoint(
    conn: &mut Conn,
    signer: &checkpoint::AuditSigner,
    now: DateTime<Utc>,
) -> Result<checkpoint::CheckpointRecord, AppError> {
    let (id, last_at) = store::lock_next_checkpoint(conn)?;
    // The log's head before any stream head, in the order every event's append takes them:
    // marking heads covered first and locking the log after deadlocked with bids on PostgreSQL.
    // Under this lock no event is half written, so the heads read below agree with the log.
    log::lock(conn)?;
    // The clock was read before queueing for the lock: a signer that waited behind another
    // (another instance) must not date its checkpoint before the one it waited for.
    let now = last_at.map_or(now, |t| now.max(t));
    let rows = store::heads(conn)?;
    let head = |r: &store::HeadRow| merkle::Head {
        stream: r.stream.clone(),
        seq: r.seq,
        hash: r.hash.clone(),
    };
    let all: Vec<merkle::Head> = rows.iter().map(head).collect();
    let delta: Vec<merkle::Head> = rows
        .iter()
        .filter(|r| r.seq != r.checkpoint_seq)
        .map(head)
        .collect();
    let root = merkle::root_of(&all);
    let streams = all.len() as i64;
    let events: i64 = all.iter().map(|h| h.seq).sum();
    let created_at = chain::truncate(now);
    let key_id = signer.key_id().to_string();
    let signature = signer.sign(&checkpoint::signed_message(
        id, created_at, streams, events, &root, &key_id,
    ));
    let row = store::CheckpointRow {
        id,
        created_at: crate::store::models::to_db(created_at),
        streams,
        events,
        root,
        heads: checkpoint::heads_to_json(&delta),
        key_id,
        signature,
    };
    let covered: Vec<(String, i64)> = delta.iter().map(|h| (h.stream.clone(), h.seq)).collect();
    store::insert_checkpoint(conn, &row, &covered)?;
    log::sign_checkpoint(conn, signer, now)?;
    Ok(checkpoint::CheckpointRecord {
        id,
        created_at,
        streams,
        events,
        root: row.root,
        heads: delta,
        key_id: row.key_id,
        signature: row.signature,
    })
}

/// A stored checkpoint as the verifier reads it.
fn checkpoint_record(row: store::CheckpointRow) -> Result<checkpoint::CheckpointRecord, AppError> {
    Ok(checkpoint::CheckpointRecord {
        id: row.id,
        created_at: crate::store::models::from_db(row.created_at),
        streams: row.streams,
        events: row.events,
        root: row.root,
        heads: checkpoint::heads_from_json(&row.heads).map_err(AppError::internal)?,
        key_id: row.key_id,
        signature: row.signature,
    })
}

/// Every checkpoint in id order.
pub fn checkpoints(conn: &mut Conn) -> Result<Vec<checkpoint::CheckpointRecord>, AppError> {
    store::checkpoints(conn)?
        .into_iter()
        .map(checkpoint_record)
        .collect()
}

/// The newest checkpoint, if any.
pub fn latest_checkpoint(
    conn: &mut Conn,
) -> Result<Option<checkpoint::CheckpointRecord>, AppError> {
    store::latest_checkpoint(conn)?
        .map(checkpoint_record)
        .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::DatabaseSettings;

    fn event(stream: &str, n: usize) -> chain::EventBody {
        chain::EventBody {
            stream: stream.to_string(),
            stream_seq: 0,
            occurred_at: chain::truncate(Utc::now()),
            actor_id: None,
            actor_role: None,
            action: "listing.noted".into(),
            payload: format!(r#"{{"n":{n}}}"#),
            client_ip: None,
            request_id: None,
            prev_hash: String::new(),
        }
    }

    /// One stream's export reads page by page, like the whole trail's: every event once, in
    /// seq order, never another stream's, whatever the page size.
    #[test]
    fn one_stream_and_the_whole_trail_are_read_in_pages_each_event_once_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::connect(&DatabaseSettings {
            url: format!("sqlite://{}", dir.path().join("pages.db").display()),
            pool_size: 1,
            connect_timeout_seconds: 5,
            sqlite_busy_timeout_ms: 5000,
            migrate_on_start: true,
        })
        .unwrap();
        db.migrate_blocking().unwrap();
        db.tx_blocking(|c| {
            for n in 0..7 {
                append(c, event("listing:1", n))?;
                if n % 2 == 0 {
                    append(c, event("listing:2", n))?;
                }
            }
            Ok(())
        })
        .unwrap();
        for page in [1, 2, 3, 7, 100] {
            let mut seen = Vec::new();
            each_in_pages(&db, Some("listing:1"), page, |e| {
                seen.push((e.stream.clone(), e.stream_seq));
                Ok(())
            })
            .unwrap();
            let want: Vec<_> = (1..=7).map(|q| ("listing:1".to_string(), q)).collect();
            assert_eq!(seen, want, "page {page}");
            let mut all = 0;
            each_in_pages(&db, None, page, |_| {
                all += 1;
                Ok(())
            })
            .unwrap();
            assert_eq!(all, 11, "page {page}");
        }
    }
}
