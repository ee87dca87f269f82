//! Reading and writing the transparency log's tables (`audit_log_*`). What goes in them is
//! computed by `audit::tlog` and `audit::log`; this module only stores and loads rows.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::Conn;
use super::schema::{
    audit_events, audit_heads, audit_log_checkpoints, audit_log_cosignatures, audit_log_head,
    audit_log_nodes,
};
use crate::error::AppError;
use crate::with_conn;

/// Locks the log's head (a row lock on PostgreSQL; SQLite's write transaction already holds
/// the database) and returns its size and encoded frontier.
pub fn lock_head(conn: &mut Conn) -> Result<(i64, Vec<u8>), AppError> {
    let q = audit_log_head::table
        .find(1)
        .select((audit_log_head::size, audit_log_head::frontier));
    let head = match conn {
        Conn::Pg(c) => q.for_update().first(*c)?,
        Conn::Sqlite(c) => q.first(*c)?,
    };
    Ok(head)
}

/// A stream's head: its last seq and hash (`None`: no event yet).
pub type StreamHead = Option<(i64, String)>;

/// [`lock_head`], and the head of `stream` read under that lock. On SQLite one statement
/// reads both: the write transaction already holds the database. PostgreSQL takes the row
/// lock in a statement of its own first, because a statement reads as of its start: a head
/// read in the statement that waited for the lock could predate the append it waited for.
pub fn lock_head_with_stream(
    conn: &mut Conn,
    stream: &str,
) -> Result<((i64, Vec<u8>), StreamHead), AppError> {
    match conn {
        Conn::Sqlite(c) => {
            let (size, frontier, seq, hash): (i64, Vec<u8>, Option<i64>, Option<String>) =
                audit_log_head::table
                    .left_join(audit_heads::table.on(audit_heads::stream.eq(stream)))
                    .filter(audit_log_head::id.eq(1))
                    .select((
                        audit_log_head::size,
                        audit_log_head::frontier,
                        audit_heads::seq.nullable(),
                        audit_heads::hash.nullable(),
                    ))
                    .first(*c)?;
            Ok(((size, frontier), seq.zip(hash)))
        }
        Conn::Pg(_) => {
            let head = lock_head(conn)?;
            let stream_head = with_conn!(conn, c => audit_heads::table
                .find(stream)
                .select((audit_heads::seq, audit_heads::hash))
                .first(c)
                .optional())?;
            Ok((head, stream_head))
        }
    }
}

/// The log's size as last committed (no lock).
pub fn size(conn: &mut Conn) -> Result<i64, AppError> {
    let n = with_conn!(conn, c => audit_log_head::table
        .find(1)
        .select(audit_log_head::size)
        .first(c))?;
    Ok(n)
}

/// A node to store: `(level, index, hash, event of a leaf)`.
pub type NodeRow = (i64, i64, Vec<u8>, Option<i64>);

/// Stores new complete nodes and moves the head, in the transaction of [`lock_head`].
pub fn append(
    conn: &mut Conn,
    nodes: &[NodeRow],
    size: i64,
    frontier: &[u8],
) -> Result<(), AppError> {
    let rows: Vec<_> = nodes
        .iter()
        .map(|(level, idx, hash, event)| {
            (
                audit_log_nodes::level.eq(*level),
                audit_log_nodes::idx.eq(*idx),
                audit_log_nodes::hash.eq(hash.as_slice()),
                audit_log_nodes::event_id.eq(*event),
            )
        })
        .collect();
    match conn {
        // One cached single-row statement per node: SQLite has no round trip to save, and
        // a multi-row insert is prepared afresh for each row count.
        Conn::Sqlite(c) => {
            for row in rows {
                diesel::insert_into(audit_log_nodes::table)
                    .values(row)
                    .execute(*c)?;
            }
        }
        Conn::Pg(c) => {
            diesel::insert_into(audit_log_nodes::table)
                .values(&rows)
                .execute(*c)?;
        }
    }
    with_conn!(conn, c => diesel::update(audit_log_head::table.find(1))
        .set((audit_log_head::size.eq(size), audit_log_head::frontier.eq(frontier)))
        .execute(c))?;
    Ok(())
}

/// The stored nodes among `keys` (in any order; missing ones are left out).
pub fn nodes(conn: &mut Conn, keys: &[(i64, i64)]) -> Result<Vec<(i64, i64, Vec<u8>)>, AppError> {
    let mut out = Vec::with_capacity(keys.len());
    for chunk in keys.chunks(100) {
        let rows: Vec<(i64, i64, Vec<u8>)> = with_conn!(conn, c => {
            let mut q = audit_log_nodes::table
                .select((audit_log_nodes::level, audit_log_nodes::idx, audit_log_nodes::hash))
                .filter(audit_log_nodes::level.eq(-1_i64))
                .into_boxed();
            for (level, idx) in chunk {
                q = q.or_filter(audit_log_nodes::level.eq(*level).and(audit_log_nodes::idx.eq(*idx)));
            }
            q.load(c)
        })?;
        out.extend(rows);
    }
    Ok(out)
}

/// The leaf index of an event, if it is in the log.
pub fn leaf_of_event(conn: &mut Conn, event_id: i64) -> Result<Option<i64>, AppError> {
    let idx = with_conn!(conn, c => audit_log_nodes::table
        .filter(audit_log_nodes::event_id.eq(event_id))
        .filter(audit_log_nodes::level.eq(0_i64))
        .select(audit_log_nodes::idx)
        .first(c)
        .optional())?;
    Ok(idx)
}

/// A leaf as verification reads it: index, stored leaf hash, the event it logs and that
/// event's chain hash.
pub type LeafRow = (i64, Vec<u8>, Option<i64>, Option<String>);

/// Leaves from index `from` on, at most `limit`, with their events' hashes.
pub fn leaves_from(conn: &mut Conn, from: i64, limit: i64) -> Result<Vec<LeafRow>, AppError> {
    let rows = with_conn!(conn, c => audit_log_nodes::table
        .left_join(audit_events::table.on(audit_events::id.nullable().eq(audit_log_nodes::event_id)))
        .filter(audit_log_nodes::level.eq(0_i64))
        .filter(audit_log_nodes::idx.ge(from))
        .order(audit_log_nodes::idx.asc())
        .limit(limit)
        .select((
            audit_log_nodes::idx,
            audit_log_nodes::hash,
            audit_log_nodes::event_id,
            audit_events::hash.nullable(),
        ))
        .load(c))?;
    Ok(rows)
}

/// A leaf as stored: `(index, leaf hash, event)`.
pub type LeafRowOnly = (i64, Vec<u8>, Option<i64>);

/// Leaves from index `from` on, at most `limit`, as stored. A
/// scan of the nodes' key in order, with no join (the events' hashes are read in their own
/// scan, [`event_hashes_from`]).
pub fn leaf_rows_from(
    conn: &mut Conn,
    from: i64,
    limit: i64,
) -> Result<Vec<LeafRowOnly>, AppError> {
    let rows = with_conn!(conn, c => audit_log_nodes::table
        .filter(audit_log_nodes::level.eq(0_i64))
        .filter(audit_log_nodes::idx.ge(from))
        .order(audit_log_nodes::idx.asc())
        .limit(limit)
        .select((audit_log_nodes::idx, audit_log_nodes::hash, audit_log_nodes::event_id))
        .load(c))?;
    Ok(rows)
}

/// Events from id `from` on, at most `limit`, in id order: `(id, hash)`.
pub fn event_hashes_from(
    conn: &mut Conn,
    from: i64,
    limit: i64,
) -> Result<Vec<(i64, String)>, AppError> {
    let rows = with_conn!(conn, c => audit_events::table
        .filter(audit_events::id.ge(from))
        .order(audit_events::id.asc())
        .limit(limit)
        .select((audit_events::id, audit_events::hash))
        .load(c))?;
    Ok(rows)
}

/// Leaves from index `from` on, at most `limit`, by the event each logs: `(index, stream,
/// stream_seq)` (for an export that lets a verifier rebuild the tree offline).
pub fn leaf_events_from(
    conn: &mut Conn,
    from: i64,
    limit: i64,
) -> Result<Vec<(i64, String, i64)>, AppError> {
    let rows = with_conn!(conn, c => audit_log_nodes::table
        .inner_join(audit_events::table.on(audit_events::id.nullable().eq(audit_log_nodes::event_id)))
        .filter(audit_log_nodes::level.eq(0_i64))
        .filter(audit_log_nodes::idx.ge(from))
        .order(audit_log_nodes::idx.asc())
        .limit(limit)
        .select((audit_log_nodes::idx, audit_events::stream, audit_events::stream_seq))
        .load(c))?;
    Ok(rows)
}

/// Events not in the log yet (written before the log existed), oldest first: `(id, hash)`.
pub fn unlogged_events(conn: &mut Conn, limit: i64) -> Result<Vec<(i64, String)>, AppError> {
    let rows = with_conn!(conn, c => audit_events::table
        .filter(audit_events::id.ne_all(
            audit_log_nodes::table
                .filter(audit_log_nodes::level.eq(0_i64))
                .filter(audit_log_nodes::event_id.is_not_null())
                .select(audit_log_nodes::event_id.assume_not_null()),
        ))
        .order(audit_events::id.asc())
        .limit(limit)
        .select((audit_events::id, audit_events::hash))
        .load(c))?;
    Ok(rows)
}

/// How many events are not in the log.
pub fn unlogged_count(conn: &mut Conn) -> Result<i64, AppError> {
    let n = with_conn!(conn, c => audit_events::table
        .filter(audit_events::id.ne_all(
            audit_log_nodes::table
                .filter(audit_log_nodes::level.eq(0_i64))
                .filter(audit_log_nodes::event_id.is_not_null())
                .select(audit_log_nodes::event_id.assume_not_null()),
        ))
        .count()
        .get_result(c))?;
    Ok(n)
}

/// A signed checkpoint of the log.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = audit_log_checkpoints)]
pub struct LogCheckpointRow {
    pub tree_size: i64,
    pub root: Vec<u8>,
    pub created_at: NaiveDateTime,
    pub note: String,
}

pub fn insert_checkpoint(conn: &mut Conn, row: &LogCheckpointRow) -> Result<(), AppError> {
    with_conn!(conn, c => diesel::insert_into(audit_log_checkpoints::table)
        .values((
            audit_log_checkpoints::tree_size.eq(row.tree_size),
            audit_log_checkpoints::root.eq(&row.root),
            audit_log_checkpoints::created_at.eq(row.created_at),
            audit_log_checkpoints::note.eq(&row.note),
        ))
        .execute(c))?;
    Ok(())
}

pub fn latest_checkpoint(conn: &mut Conn) -> Result<Option<LogCheckpointRow>, AppError> {
    let row = with_conn!(conn, c => audit_log_checkpoints::table
        .order(audit_log_checkpoints::tree_size.desc())
        .select(LogCheckpointRow::as_select())
        .first(c)
        .optional())?;
    Ok(row)
}

pub fn checkpoint(conn: &mut Conn, size: i64) -> Result<Option<LogCheckpointRow>, AppError> {
    let row = with_conn!(conn, c => audit_log_checkpoints::table
        .find(size)
        .select(LogCheckpointRow::as_select())
        .first(c)
        .optional())?;
    Ok(row)
}

/// Every log checkpoint, smallest first.
pub fn checkpoints(conn: &mut Conn) -> Result<Vec<LogCheckpointRow>, AppError> {
    let rows = with_conn!(conn, c => audit_log_checkpoints::table
        .order(audit_log_checkpoints::tree_size.asc())
        .select(LogCheckpointRow::as_select())
        .load(c))?;
    Ok(rows)
}

/// The cosignature lines of a checkpoint, by witness name.
pub fn cosignatures(conn: &mut Conn, size: i64) -> Result<Vec<String>, AppError> {
    let rows = with_conn!(conn, c => audit_log_cosignatures::table
        .filter(audit_log_cosignatures::tree_size.eq(size))
        .order(audit_log_cosignatures::witness.asc())
        .select(audit_log_cosignatures::line)
        .load(c))?;
    Ok(rows)
}

/// Stores a witness's cosignature; `false` if that witness had already cosigned this size.
pub fn insert_cosignature(
    conn: &mut Conn,
    size: i64,
    witness: &str,
    line: &str,
    at: NaiveDateTime,
) -> Result<bool, AppError> {
    let n = with_conn!(conn, c => diesel::insert_into(audit_log_cosignatures::table)
        .values((
            audit_log_cosignatures::tree_size.eq(size),
            audit_log_cosignatures::witness.eq(witness),
            audit_log_cosignatures::line.eq(line),
            audit_log_cosignatures::created_at.eq(at),
        ))
        .on_conflict_do_nothing()
        .execute(c))?;
    Ok(n == 1)
}

/// An event's stream and chain hash.
pub fn event_hash(conn: &mut Conn, id: i64) -> Result<Option<(String, String)>, AppError> {
    let row = with_conn!(conn, c => audit_events::table
        .find(id)
        .select((audit_events::stream, audit_events::hash))
        .first(c)
        .optional())?;
    Ok(row)
}

/// An event's action and actor.
pub fn event_actor(conn: &mut Conn, id: i64) -> Result<Option<(String, Option<i64>)>, AppError> {
    let row = with_conn!(conn, c => audit_events::table
        .find(id)
        .select((audit_events::action, audit_events::actor_id))
        .first(c)
        .optional())?;
    Ok(row)
}

/// Events of `stream` with `action` at exactly `at`: `(id, payload, hash)`.
pub fn events_at(
    conn: &mut Conn,
    stream: &str,
    action: &str,
    at: NaiveDateTime,
) -> Result<Vec<(i64, String, String)>, AppError> {
    let rows = with_conn!(conn, c => audit_events::table
        .filter(audit_events::occurred_at.eq(at))
        .filter(audit_events::stream.eq(stream))
        .filter(audit_events::action.eq(action))
        .select((audit_events::id, audit_events::payload, audit_events::hash))
        .load(c))?;
    Ok(rows)
}
