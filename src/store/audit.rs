//! Appending to and reading the audit tables.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;

use super::Conn;
use super::models::{from_db, to_db};
use super::schema::{audit_checkpoints, audit_events, audit_heads};
use crate::audit::chain::{self, EventBody, GENESIS_HASH};
use crate::audit::checkpoint::{self, AuditSigner, CheckpointRecord};
use crate::audit::merkle::{self, Head};
use crate::error::AppError;
use crate::with_conn;

/// Locks the stream's head row (creating it at the genesis if new) and returns its
/// (seq, hash). PostgreSQL takes a row lock; SQLite's write transaction already holds the
/// database lock.
fn lock_head(conn: &mut Conn, stream: &str) -> Result<(i64, String), AppError> {
    with_conn!(conn, c => diesel::insert_into(audit_heads::table)
        .values((
            audit_heads::stream.eq(stream),
            audit_heads::seq.eq(0_i64),
            audit_heads::hash.eq(GENESIS_HASH),
        ))
        .on_conflict_do_nothing()
        .execute(c))?;
    let head = match conn {
        Conn::Pg(c) => audit_heads::table
            .find(stream)
            .select((audit_heads::seq, audit_heads::hash))
            .for_update()
            .first(*c)?,
        Conn::Sqlite(c) => audit_heads::table
            .find(stream)
            .select((audit_heads::seq, audit_heads::hash))
            .first(*c)?,
    };
    Ok(head)
}

/// Appends one event at the head of its stream. `stream_seq` and `prev_hash` of `body` are
/// filled in here.
pub fn append(conn: &mut Conn, mut body: EventBody) -> Result<(), AppError> {
    let (seq, prev) = lock_head(conn, &body.stream)?;
    body.stream_seq = seq + 1;
    body.prev_hash = prev;
    let hash = chain::hash(&body);
    with_conn!(conn, c => diesel::insert_into(audit_events::table)
        .values((
            audit_events::stream.eq(&body.stream),
            audit_events::stream_seq.eq(body.stream_seq),
            audit_events::occurred_at.eq(to_db(body.occurred_at)),
            audit_events::actor_id.eq(body.actor_id),
            audit_events::actor_role.eq(&body.actor_role),
            audit_events::action.eq(&body.action),
            audit_events::payload.eq(&body.payload),
            audit_events::client_ip.eq(&body.client_ip),
            audit_events::request_id.eq(&body.request_id),
            audit_events::prev_hash.eq(&body.prev_hash),
            audit_events::hash.eq(&hash),
        ))
        .execute(c))?;
    with_conn!(conn, c => diesel::update(audit_heads::table.find(&body.stream))
        .set((audit_heads::seq.eq(body.stream_seq), audit_heads::hash.eq(&hash)))
        .execute(c))?;
    Ok(())
}

/// A stored event.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = audit_events)]
pub struct StoredEvent {
    pub id: i64,
    pub stream: String,
    pub stream_seq: i64,
    pub occurred_at: chrono::NaiveDateTime,
    pub actor_id: Option<i64>,
    pub actor_role: Option<String>,
    pub action: String,
    pub payload: String,
    pub client_ip: Option<String>,
    pub request_id: Option<String>,
    pub prev_hash: String,
    pub hash: String,
}

impl StoredEvent {
    pub fn body(&self) -> EventBody {
        EventBody {
            stream: self.stream.clone(),
            stream_seq: self.stream_seq,
            occurred_at: from_db(self.occurred_at),
            actor_id: self.actor_id,
            actor_role: self.actor_role.clone(),
            action: self.action.clone(),
            payload: self.payload.clone(),
            client_ip: self.client_ip.clone(),
            request_id: self.request_id.clone(),
            prev_hash: self.prev_hash.clone(),
        }
    }
}

/// All events of one stream in order.
pub fn stream_events(conn: &mut Conn, stream: &str) -> Result<Vec<StoredEvent>, AppError> {
    let rows = with_conn!(conn, c => audit_events::table
        .filter(audit_events::stream.eq(stream))
        .order(audit_events::stream_seq.asc())
        .select(StoredEvent::as_select())
        .load(c))?;
    Ok(rows)
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = audit_checkpoints)]
struct CheckpointRow {
    id: i64,
    created_at: chrono::NaiveDateTime,
    streams: i64,
    events: i64,
    root: String,
    heads: String,
    key_id: String,
    signature: String,
}

impl CheckpointRow {
    fn record(self) -> Result<CheckpointRecord, AppError> {
        Ok(CheckpointRecord {
            id: self.id,
            created_at: from_db(self.created_at),
            streams: self.streams,
            events: self.events,
            root: self.root,
            heads: checkpoint::heads_from_json(&self.heads).map_err(AppError::internal)?,
            key_id: self.key_id,
            signature: self.signature,
        })
    }
}

/// Whether any stream moved since the last checkpoint.
pub fn changed_since_checkpoint(conn: &mut Conn) -> Result<bool, AppError> {
    let n: i64 = with_conn!(conn, c => audit_heads::table
        .filter(audit_heads::seq.ne(audit_heads::checkpoint_seq))
        .count()
        .get_result(c))?;
    Ok(n > 0)
}

/// Signs and stores a checkpoint of every stream head, in the caller's transaction.
/// Concurrent creators (several instances) queue on a table lock; ids have no gaps.
pub fn create_checkpoint(
    conn: &mut Conn,
    signer: &AuditSigner,
    now: DateTime<Utc>,
) -> Result<CheckpointRecord, AppError> {
    if let Conn::Pg(c) = conn {
        diesel::sql_query("LOCK TABLE audit_checkpoints IN SHARE ROW EXCLUSIVE MODE")
            .execute(*c)?;
    }
    let (last, last_at): (Option<i64>, Option<NaiveDateTime>) = with_conn!(conn, c => audit_checkpoints::table
        .select((diesel::dsl::max(audit_checkpoints::id), diesel::dsl::max(audit_checkpoints::created_at)))
        .first(c))?;
    let id = last.unwrap_or(0) + 1;
    // The clock was read before queueing for the lock: a signer that waited behind another
    // (another instance) must not date its checkpoint before the one it waited for.
    let now = last_at.map_or(now, |t| now.max(super::models::from_db(t)));
    let rows: Vec<(String, i64, String, i64)> = with_conn!(conn, c => audit_heads::table
        .filter(audit_heads::seq.gt(0))
        .select((audit_heads::stream, audit_heads::seq, audit_heads::hash, audit_heads::checkpoint_seq))
        .order(audit_heads::stream.asc())
        .load(c))?;
    let all: Vec<Head> = rows
        .iter()
        .map(|(stream, seq, hash, _)| Head {
            stream: stream.clone(),
            seq: *seq,
            hash: hash.clone(),
        })
        .collect();
    let delta: Vec<Head> = rows
        .iter()
        .filter(|(_, seq, _, done)| seq != done)
        .map(|(stream, seq, hash, _)| Head {
            stream: stream.clone(),
            seq: *seq,
            hash: hash.clone(),
        })
        .collect();
    let root = merkle::root_of(&all);
    let streams = all.len() as i64;
    let events: i64 = all.iter().map(|h| h.seq).sum();
    let created_at = chain::truncate(now);
    let key_id = signer.key_id().to_string();
    let signature = signer.sign(&checkpoint::signed_message(
        id, created_at, streams, events, &root, &key_id,
    ));
    let heads_json = checkpoint::heads_to_json(&delta);
    with_conn!(conn, c => diesel::insert_into(audit_checkpoints::table)
        .values((
            audit_checkpoints::id.eq(id),
            audit_checkpoints::created_at.eq(to_db(created_at)),
            audit_checkpoints::streams.eq(streams),
            audit_checkpoints::events.eq(events),
            audit_checkpoints::root.eq(&root),
            audit_checkpoints::heads.eq(&heads_json),
            audit_checkpoints::key_id.eq(&key_id),
            audit_checkpoints::signature.eq(&signature),
        ))
        .execute(c))?;
    for h in &delta {
        with_conn!(conn, c => diesel::update(audit_heads::table.find(&h.stream))
            .set(audit_heads::checkpoint_seq.eq(h.seq))
            .execute(c))?;
    }
    Ok(CheckpointRecord {
        id,
        created_at,
        streams,
        events,
        root,
        heads: delta,
        key_id,
        signature,
    })
}

/// Every checkpoint in id order.
pub fn checkpoints(conn: &mut Conn) -> Result<Vec<CheckpointRecord>, AppError> {
    let rows: Vec<CheckpointRow> = with_conn!(conn, c => audit_checkpoints::table
        .order(audit_checkpoints::id.asc())
        .select(CheckpointRow::as_select())
        .load(c))?;
    rows.into_iter().map(CheckpointRow::record).collect()
}

pub fn latest_checkpoint(conn: &mut Conn) -> Result<Option<CheckpointRecord>, AppError> {
    let row: Option<CheckpointRow> = with_conn!(conn, c => audit_checkpoints::table
        .order(audit_checkpoints::id.desc())
        .select(CheckpointRow::as_select())
        .first(c)
        .optional())?;
    row.map(CheckpointRow::record).transpose()
}

/// Events ordered by (stream, stream_seq) after the given position, at most `limit`.
pub fn events_after(
    conn: &mut Conn,
    after: Option<(&str, i64)>,
    limit: i64,
) -> Result<Vec<StoredEvent>, AppError> {
    let rows = with_conn!(conn, c => {
        let mut q = audit_events::table
            .order((audit_events::stream.asc(), audit_events::stream_seq.asc()))
            .select(StoredEvent::as_select())
            .limit(limit)
            .into_boxed();
        if let Some((stream, seq)) = after {
            q = q.filter(
                audit_events::stream
                    .gt(stream)
                    .or(audit_events::stream.eq(stream).and(audit_events::stream_seq.gt(seq))),
            );
        }
        q.load(c)
    })?;
    Ok(rows)
}

/// Filters for the auditor's event query.
#[derive(Debug, Clone, Default)]
pub struct EventFilter {
    pub stream: Option<String>,
    pub actor_id: Option<i64>,
    pub action: Option<String>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
}

/// One page of events matching `f`, newest last, and the total count.
pub fn query_events(
    conn: &mut Conn,
    f: &EventFilter,
    offset: i64,
    limit: i64,
) -> Result<(Vec<StoredEvent>, i64), AppError> {
    macro_rules! filtered {
        ($q:expr) => {{
            let mut q = $q;
            if let Some(s) = &f.stream {
                q = q.filter(audit_events::stream.eq(s.clone()));
            }
            if let Some(a) = f.actor_id {
                q = q.filter(audit_events::actor_id.eq(a));
            }
            if let Some(a) = &f.action {
                q = q.filter(audit_events::action.eq(a.clone()));
            }
            if let Some(t) = f.from {
                q = q.filter(audit_events::occurred_at.ge(to_db(t)));
            }
            if let Some(t) = f.to {
                q = q.filter(audit_events::occurred_at.lt(to_db(t)));
            }
            q
        }};
    }
    let (rows, total) = with_conn!(conn, c => {
        let total: i64 = filtered!(audit_events::table.into_boxed()).count().get_result(c)?;
        let rows = filtered!(audit_events::table.into_boxed())
            .order(audit_events::id.asc())
            .select(StoredEvent::as_select())
            .offset(offset)
            .limit(limit)
            .load(c)?;
        Ok::<_, diesel::result::Error>((rows, total))
    })?;
    Ok((rows, total))
}
