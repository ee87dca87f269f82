//! Appending to and reading the audit tables.

use diesel::prelude::*;

use super::Conn;
use super::models::{from_db, to_db};
use super::schema::{audit_events, audit_heads};
use crate::audit::chain::{self, EventBody, GENESIS_HASH};
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
