//! Reading and writing the audit tables. What goes in them (hashes, Merkle roots,
//! signatures) is computed by the `audit` module; this module only stores and loads rows.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use diesel::upsert::excluded;

use super::Conn;
use super::models::{from_db, to_db};
use super::schema::{audit_checkpoints, audit_events, audit_heads};
use super::stored_time::StoredTime;
use crate::error::AppError;
use crate::with_conn;

/// Every hashed field of an event: the row the audit module chains (`audit::chain`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventBody {
    pub stream: String,
    pub stream_seq: i64,
    pub occurred_at: DateTime<Utc>,
    pub actor_id: Option<i64>,
    pub actor_role: Option<String>,
    pub action: String,
    pub payload: String,
    pub client_ip: Option<String>,
    pub request_id: Option<String>,
    pub prev_hash: String,
}

/// Stores one event with its hash and moves (or creates) its stream's head; returns its id.
/// The caller holds the log's lock since it read the head (`audit_log::lock_head_with_stream`).
pub fn insert_event(conn: &mut Conn, body: &EventBody, hash: &str) -> Result<i64, AppError> {
    let id: i64 = with_conn!(conn, c => diesel::insert_into(audit_events::table)
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
            audit_events::hash.eq(hash),
        ))
        .returning(audit_events::id)
        .get_result(c))?;
    with_conn!(conn, c => diesel::insert_into(audit_heads::table)
        .values((
            audit_heads::stream.eq(&body.stream),
            audit_heads::seq.eq(body.stream_seq),
            audit_heads::hash.eq(hash),
        ))
        .on_conflict(audit_heads::stream)
        .do_update()
        .set((
            audit_heads::seq.eq(excluded(audit_heads::seq)),
            audit_heads::hash.eq(excluded(audit_heads::hash)),
        ))
        .execute(c))?;
    Ok(id)
}

/// A stored event.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = audit_events)]
pub struct StoredEvent {
    pub id: i64,
    pub stream: String,
    pub stream_seq: i64,
    /// Read past chrono's format parser: one per event of a verification pass.
    #[diesel(deserialize_as = StoredTime)]
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

/// The events of `stream` after `after_seq`, at most `limit`, in seq order (one page of a
/// long stream, read through the (stream, stream_seq) index).
pub fn stream_events_after(
    conn: &mut Conn,
    stream: &str,
    after_seq: i64,
    limit: i64,
) -> Result<Vec<StoredEvent>, AppError> {
    let rows = with_conn!(conn, c => audit_events::table
        .filter(audit_events::stream.eq(stream))
        .filter(audit_events::stream_seq.gt(after_seq))
        .order(audit_events::stream_seq.asc())
        .limit(limit)
        .select(StoredEvent::as_select())
        .load(c))?;
    Ok(rows)
}

/// A stored checkpoint; `heads` is the JSON the audit module wrote (`checkpoint::heads_to_json`).
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = audit_checkpoints)]
pub struct CheckpointRow {
    pub id: i64,
    pub created_at: chrono::NaiveDateTime,
    pub streams: i64,
    pub events: i64,
    pub root: String,
    pub heads: String,
    pub key_id: String,
    pub signature: String,
}

/// Whether any stream moved since the last checkpoint.
pub fn changed_since_checkpoint(conn: &mut Conn) -> Result<bool, AppError> {
    let n: i64 = with_conn!(conn, c => audit_heads::table
        .filter(audit_heads::seq.ne(audit_heads::checkpoint_seq))
        .count()
        .get_result(c))?;
    Ok(n > 0)
}

/// Queues for the right to write the next checkpoint (a transaction-scoped advisory lock on
/// PostgreSQL, where several instances may sign at once: unlike a table lock it needs no
/// privilege the service's role is denied; SQLite's write transaction already serialises)
/// and returns the next id and the time of the last checkpoint. Ids have no gaps.
pub fn lock_next_checkpoint(conn: &mut Conn) -> Result<(i64, Option<DateTime<Utc>>), AppError> {
    if let Conn::Pg(c) = conn {
        diesel::sql_query(format!("SELECT pg_advisory_xact_lock({CHECKPOINT_LOCK})"))
            .execute(*c)?;
    }
    let (last, last_at): (Option<i64>, Option<NaiveDateTime>) = with_conn!(conn, c => audit_checkpoints::table
        .select((diesel::dsl::max(audit_checkpoints::id), diesel::dsl::max(audit_checkpoints::created_at)))
        .first(c))?;
    Ok((last.unwrap_or(0) + 1, last_at.map(from_db)))
}

/// The advisory lock key of checkpoint signing (any constant no other lock uses).
const CHECKPOINT_LOCK: i64 = 7_263_019_502;

/// A stream head: its last event, and how far the last checkpoint covered it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeadRow {
    pub stream: String,
    pub seq: i64,
    pub hash: String,
    pub checkpoint_seq: i64,
}

/// Every non-empty stream head, by stream name.
pub fn heads(conn: &mut Conn) -> Result<Vec<HeadRow>, AppError> {
    let rows: Vec<(String, i64, String, i64)> = with_conn!(conn, c => audit_heads::table
        .filter(audit_heads::seq.gt(0))
        .select((audit_heads::stream, audit_heads::seq, audit_heads::hash, audit_heads::checkpoint_seq))
        .order(audit_heads::stream.asc())
        .load(c))?;
    Ok(rows
        .into_iter()
        .map(|(stream, seq, hash, checkpoint_seq)| HeadRow {
            stream,
            seq,
            hash,
            checkpoint_seq,
        })
        .collect())
}

/// Stores a signed checkpoint and records, for each head it newly covers, how far it covered
/// it. In the transaction of [`lock_next_checkpoint`].
pub fn insert_checkpoint(
    conn: &mut Conn,
    row: &CheckpointRow,
    covered: &[(String, i64)],
) -> Result<(), AppError> {
    with_conn!(conn, c => diesel::insert_into(audit_checkpoints::table)
        .values((
            audit_checkpoints::id.eq(row.id),
            audit_checkpoints::created_at.eq(row.created_at),
            audit_checkpoints::streams.eq(row.streams),
            audit_checkpoints::events.eq(row.events),
            audit_checkpoints::root.eq(&row.root),
            audit_checkpoints::heads.eq(&row.heads),
            audit_checkpoints::key_id.eq(&row.key_id),
            audit_checkpoints::signature.eq(&row.signature),
        ))
        .execute(c))?;
    for (stream, seq) in covered {
        with_conn!(conn, c => diesel::update(audit_heads::table.find(stream))
            .set(audit_heads::checkpoint_seq.eq(*seq))
            .execute(c))?;
    }
    Ok(())
}

/// Every checkpoint in id order.
pub fn checkpoints(conn: &mut Conn) -> Result<Vec<CheckpointRow>, AppError> {
    let rows = with_conn!(conn, c => audit_checkpoints::table
        .order(audit_checkpoints::id.asc())
        .select(CheckpointRow::as_select())
        .load(c))?;
    Ok(rows)
}

pub fn latest_checkpoint(conn: &mut Conn) -> Result<Option<CheckpointRow>, AppError> {
    let row = with_conn!(conn, c => audit_checkpoints::table
        .order(audit_checkpoints::id.desc())
        .select(CheckpointRow::as_select())
        .first(c)
        .optional())?;
    Ok(row)
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
            // A row-value comparison, which both databases answer with a range scan of the
            // (stream, stream_seq) index from the position on (the equivalent OR of two
            // conditions scanned a long stream from its start at every batch).
            q = q.filter(
                diesel::dsl::sql::<diesel::sql_types::Bool>("(stream, stream_seq) > (")
                    .bind::<diesel::sql_types::Text, _>(stream)
                    .sql(", ")
                    .bind::<diesel::sql_types::BigInt, _>(seq)
                    .sql(")"),
            );
        }
        q.load(c)
    })?;
    Ok(rows)
}

/// Calls `f` for each event from id `from` on, at most `limit`, in id order, one row at a
/// time (no list of the batch is built), until `f` answers `false`. Returns how many rows
/// `f` saw and the last id read. An ordered scan of the table itself: the order in which an
/// honest trail was written, which the verifier's single pass reads.
pub fn each_event_by_id(
    conn: &mut Conn,
    from: i64,
    limit: i64,
    mut f: impl FnMut(&StoredEvent) -> bool,
) -> Result<(i64, Option<i64>), AppError> {
    let mut seen = 0_i64;
    let mut last = None;
    with_conn!(conn, c => {
        let rows = audit_events::table
            .filter(audit_events::id.ge(from))
            .order(audit_events::id.asc())
            .limit(limit)
            .select(StoredEvent::as_select())
            .load_iter::<StoredEvent, diesel::connection::DefaultLoadingMode>(c)?;
        for row in rows {
            let e = row?;
            seen += 1;
            last = Some(e.id);
            if !f(&e) {
                break;
            }
        }
    });
    Ok((seen, last))
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
