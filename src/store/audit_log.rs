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

/// A node an append makes: its level, index and hash (level 0 is the new event's leaf).
pub struct NewNode {
    pub level: i64,
    pub index: i64,
    pub hash: Vec<u8>,
}

/// The head an append leaves: size and encoded frontier.
pub struct NewHead<'a> {
    pub size: i64,
    pub frontier: &'a [u8],
}

/// Stores one event with its hash, moves its stream's head, stores the log nodes the event's
/// leaf made (the leaf pointing at the event) and moves the log's head, in the caller's
/// transaction, which holds the log's lock ([`lock_head_with_stream`]); returns the event's
/// id. PostgreSQL does it in one statement, so the lock every append in the exchange queues
/// on is held for two round trips and the commit; SQLite, which has none to save, in a few.
pub fn insert_logged_event(
    conn: &mut Conn,
    body: &super::audit::EventBody,
    hash: &str,
    nodes: &[NewNode],
    head: &NewHead,
) -> Result<i64, AppError> {
    if let Conn::Pg(c) = conn {
        return insert_logged_event_pg(c, body, hash, nodes, head);
    }
    let id = super::audit::insert_event(conn, body, hash)?;
    let rows: Vec<NodeRow> = nodes
        .iter()
        .map(|n| {
            (
                n.level,
                n.index,
                n.hash.clone(),
                (n.level == 0).then_some(id),
            )
        })
        .collect();
    append(conn, &rows, head.size, head.frontier)?;
    Ok(id)
}

#[derive(QueryableByName)]
struct Inserted {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    id: i64,
}

fn insert_logged_event_pg(
    c: &mut diesel::PgConnection,
    body: &super::audit::EventBody,
    hash: &str,
    nodes: &[NewNode],
    head: &NewHead,
) -> Result<i64, AppError> {
    use diesel::sql_types::{Array, BigInt, Binary, Nullable, Text, Timestamp};
    const SQL: &str = "WITH e AS ( \
        INSERT INTO audit_events (stream, stream_seq, occurred_at, actor_id, actor_role, action, \
                                  payload, client_ip, request_id, prev_hash, hash) \
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id), \
      h AS ( \
        INSERT INTO audit_heads (stream, seq, hash) VALUES ($1, $2, $11) \
        ON CONFLICT (stream) DO UPDATE SET seq = EXCLUDED.seq, hash = EXCLUDED.hash), \
      n AS ( \
        INSERT INTO audit_log_nodes (level, idx, hash, event_id) \
        SELECT t.level, t.idx, t.hash, CASE WHEN t.level = 0 THEN (SELECT id FROM e) END \
          FROM unnest($12::bigint[], $13::bigint[], $14::bytea[]) AS t(level, idx, hash)), \
      g AS ( \
        UPDATE audit_log_head SET size = $15, frontier = $16 WHERE id = 1) \
      SELECT id FROM e";
    let inserted = diesel::sql_query(SQL)
        .bind::<Text, _>(&body.stream)
        .bind::<BigInt, _>(body.stream_seq)
        .bind::<Timestamp, _>(super::models::to_db(body.occurred_at))
        .bind::<Nullable<BigInt>, _>(body.actor_id)
        .bind::<Nullable<Text>, _>(body.actor_role.as_deref())
        .bind::<Text, _>(&body.action)
        .bind::<Text, _>(&body.payload)
        .bind::<Nullable<Text>, _>(body.client_ip.as_deref())
        .bind::<Nullable<Text>, _>(body.request_id.as_deref())
        .bind::<Text, _>(&body.prev_hash)
        .bind::<Text, _>(hash)
        .bind::<Array<BigInt>, _>(nodes.iter().map(|n| n.level).collect::<Vec<_>>())
        .bind::<Array<BigInt>, _>(nodes.iter().map(|n| n.index).collect::<Vec<_>>())
        .bind::<Array<Binary>, _>(nodes.iter().map(|n| n.hash.as_slice()).collect::<Vec<_>>())
        .bind::<BigInt, _>(head.size)
        .bind::<Binary, _>(head.frontier)
        .get_result::<Inserted>(c)?;
    Ok(inserted.id)
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
