//! The transparency log in the database: appending an event's leaf in the event's own
//! transaction, catching up events written before the log existed, proofs read from the
//! stored nodes, and signed-note checkpoints that never contradict the one before.

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use super::checkpoint::AuditSigner;
use super::note::{self, Checkpoint};
use super::tlog::{self, Frontier, Hash, NodeSource, ProofError, Wanted};
use crate::error::AppError;
use crate::store::models::to_db;
use crate::store::{Conn, Db, audit_log as store};

/// Events logged per transaction while catching up.
const CATCH_UP_BATCH: i64 = 1_000;

fn damaged(what: impl std::fmt::Display) -> AppError {
    AppError::internal(anyhow::anyhow!("the transparency log is damaged: {what}"))
}

fn locked_frontier(conn: &mut Conn) -> Result<Frontier, AppError> {
    let (size, bytes) = store::lock_head(conn)?;
    frontier_of(size, &bytes)
}

fn frontier_of(size: i64, bytes: &[u8]) -> Result<Frontier, AppError> {
    let size = u64::try_from(size).map_err(damaged)?;
    Frontier::decode(size, bytes).ok_or_else(|| damaged("head frontier"))
}

fn store_nodes(
    conn: &mut Conn,
    frontier: &Frontier,
    made: &[(tlog::NewNode, Option<i64>)],
) -> Result<(), AppError> {
    let rows: Vec<store::NodeRow> = made
        .iter()
        .map(|(n, event)| {
            (
                i64::from(n.level),
                i64::try_from(n.index).unwrap_or(i64::MAX),
                n.hash.to_vec(),
                *event,
            )
        })
        .collect();
    let size = i64::try_from(frontier.size).map_err(damaged)?;
    store::append(conn, &rows, size, &frontier.encode())
}

/// Locks the log for the rest of the caller's transaction and returns its head. Appends take
/// this lock before any stream head, so transactions that write several streams cannot
/// deadlock on the heads.
pub fn lock(conn: &mut Conn) -> Result<Frontier, AppError> {
    locked_frontier(conn)
}

/// [`lock`], and the head (seq, hash) of `stream` under that lock, which every append holds:
/// no other transaction can move a stream's head until this one ends.
pub fn lock_with_stream(
    conn: &mut Conn,
    stream: &str,
) -> Result<(Frontier, store::StreamHead), AppError> {
    let ((size, bytes), head) = store::lock_head_with_stream(conn, stream)?;
    Ok((frontier_of(size, &bytes)?, head))
}

/// What appending the leaf of the event with chain hash `event_hash` (hex) to the head
/// [`lock_with_stream`] returned makes: the new nodes (the leaf's event id is left for the
/// store to fill in, the event being written in the same statement on PostgreSQL), the new
/// size and frontier. Nothing is written here.
pub fn extend(
    mut frontier: Frontier,
    event_hash: &str,
) -> Result<(Vec<store::NewNode>, i64, Vec<u8>), AppError> {
    let leaf = tlog::leaf_hash_hex(event_hash).ok_or_else(|| damaged("event hash not hex"))?;
    let nodes = frontier
        .append(leaf)
        .into_iter()
        .map(|n| store::NewNode {
            level: i64::from(n.level),
            index: i64::try_from(n.index).unwrap_or(i64::MAX),
            hash: n.hash.to_vec(),
        })
        .collect();
    let size = i64::try_from(frontier.size).map_err(damaged)?;
    Ok((nodes, size, frontier.encode()))
}

/// Logs every event not in the log yet (written before it existed), oldest first; returns
/// how many. Run at start-up, before serving.
pub fn catch_up(db: &Db) -> Result<u64, AppError> {
    let mut total = 0;
    loop {
        let n = db.tx_blocking(|c| {
            let mut frontier = locked_frontier(c)?;
            let events = store::unlogged_events(c, CATCH_UP_BATCH)?;
            let mut made = Vec::new();
            for (id, hash) in &events {
                let leaf = tlog::leaf_hash_hex(hash).ok_or_else(|| damaged("event hash"))?;
                made.extend(
                    frontier
                        .append(leaf)
                        .into_iter()
                        .map(|n| (n, (n.level == 0).then_some(*id))),
                );
            }
            if !events.is_empty() {
                for chunk in made.chunks(500) {
                    store_nodes(c, &frontier, chunk)?;
                }
            }
            Ok(events.len() as u64)
        })?;
        total += n;
        if n < CATCH_UP_BATCH as u64 {
            return Ok(total);
        }
    }
}

/// Calls `f` with each of the first `size` leaves of the log in order: `(index, stream,
/// stream_seq)` of its event.
pub fn each_leaf(
    db: &Db,
    size: u64,
    mut f: impl FnMut(i64, &str, i64) -> Result<(), AppError>,
) -> Result<(), AppError> {
    const BATCH: i64 = 5_000;
    let size = i64::try_from(size).unwrap_or(i64::MAX);
    let mut from = 0;
    while from < size {
        let limit = BATCH.min(size - from);
        let rows = db.run_blocking(|c| store::leaf_events_from(c, from, limit))?;
        for (index, stream, seq) in &rows {
            f(*index, stream, *seq)?;
        }
        match rows.last() {
            Some((last, _, _)) if rows.len() as i64 == limit => from = last + 1,
            _ => break,
        }
    }
    Ok(())
}

/// The signed log checkpoints of at most `size` leaves (signed note text, without
/// cosignatures), oldest first.
pub fn checkpoint_notes(conn: &mut Conn, size: u64) -> Result<Vec<String>, AppError> {
    Ok(store::checkpoints(conn)?
        .into_iter()
        .filter(|row| u64::try_from(row.tree_size).is_ok_and(|s| s <= size))
        .map(|row| row.note)
        .collect())
}

/// Reads the nodes a computation needs in one batch, then runs it on them.
fn with_nodes<T>(
    conn: &mut Conn,
    f: impl Fn(&mut dyn NodeSource) -> Result<T, ProofError>,
) -> Result<T, AppError> {
    let mut wanted = Wanted::default();
    f(&mut wanted).map_err(proof_error)?;
    let keys: Vec<(i64, i64)> = wanted
        .0
        .iter()
        .map(|(l, i)| (i64::from(*l), i64::try_from(*i).unwrap_or(i64::MAX)))
        .collect();
    let mut nodes: HashMap<(u32, u64), Hash> = HashMap::with_capacity(keys.len());
    for (level, idx, hash) in store::nodes(conn, &keys)? {
        let h: Hash = hash.try_into().map_err(|_| damaged("node length"))?;
        nodes.insert((level as u32, idx as u64), h);
    }
    f(&mut nodes).map_err(proof_error)
}

fn proof_error(e: ProofError) -> AppError {
    match e {
        ProofError::OutOfRange => {
            AppError::bad_request("invalid_query", "the sizes asked are outside the log")
        }
        ProofError::MissingNode(l, i) => damaged(format!("node ({l}, {i}) missing")),
    }
}

/// The log's current size (committed).
pub fn size(conn: &mut Conn) -> Result<u64, AppError> {
    u64::try_from(store::size(conn)?).map_err(damaged)
}

/// The root of the tree of the first `size` leaves, from the stored nodes.
pub fn root_at(conn: &mut Conn, size: u64) -> Result<Hash, AppError> {
    with_nodes(conn, |src| tlog::root_at(src, size))
}

/// An event's inclusion proof.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inclusion {
    pub leaf_index: u64,
    pub tree_size: u64,
    pub leaf_hash: Hash,
    pub hashes: Vec<Hash>,
}

/// The inclusion proof of event `event_id` in the tree of `size` leaves (`None`: the event is
/// not in the log, or not yet at that size).
pub fn inclusion(conn: &mut Conn, event_id: i64, size: u64) -> Result<Option<Inclusion>, AppError> {
    let Some(index) = store::leaf_of_event(conn, event_id)? else {
        return Ok(None);
    };
    let index = u64::try_from(index).map_err(damaged)?;
    if index >= size {
        return Ok(None);
    }
    if size > self::size(conn)? {
        return Err(proof_error(ProofError::OutOfRange));
    }
    let (leaf, hashes) = with_nodes(conn, |src| {
        let leaf = src
            .node(0, index)
            .ok_or(ProofError::MissingNode(0, index))?;
        Ok((leaf, tlog::inclusion_proof(src, index, size)?))
    })?;
    Ok(Some(Inclusion {
        leaf_index: index,
        tree_size: size,
        leaf_hash: leaf,
        hashes,
    }))
}

/// The consistency proof between the trees of `from` and `to` leaves.
pub fn consistency(conn: &mut Conn, from: u64, to: u64) -> Result<Vec<Hash>, AppError> {
    if to > size(conn)? || from > to {
        return Err(proof_error(ProofError::OutOfRange));
    }
    with_nodes(conn, |src| tlog::consistency_proof(src, from, to))
}

/// A log checkpoint: its size, root and the note as served (with cosignatures).
#[derive(Debug, Clone)]
pub struct SignedCheckpoint {
    pub size: u64,
    pub root: Hash,
    pub note: String,
}

/// Signs a checkpoint of the log as it stands, in the caller's transaction, unless the newest
/// checkpoint already has this size. Refuses (and signs nothing) when the stored tree no
/// longer agrees with the newest checkpoint: a smaller tree, or a different root at the old
/// size means the log was rolled back or rewritten.
pub fn sign_checkpoint(
    conn: &mut Conn,
    signer: &AuditSigner,
    now: DateTime<Utc>,
) -> Result<Option<SignedCheckpoint>, AppError> {
    let frontier = locked_frontier(conn)?;
    let previous = store::latest_checkpoint(conn)?;
    if let Some(prev) = &previous {
        let prev_size = u64::try_from(prev.tree_size).map_err(damaged)?;
        if prev_size > frontier.size {
            tracing::error!(
                signed = prev_size,
                now = frontier.size,
                "refusing to sign: the log is smaller than its last checkpoint (rolled back)"
            );
            return Err(inconsistent());
        }
        if prev_size == frontier.size {
            return Ok(None);
        }
        if root_at(conn, prev_size)?.as_slice() != prev.root.as_slice() {
            tracing::error!(
                signed = prev_size,
                "refusing to sign: the log's tree no longer gives the last checkpoint's root (rewritten)"
            );
            return Err(inconsistent());
        }
    }
    let cp = Checkpoint {
        origin: signer.origin().to_string(),
        size: frontier.size,
        root: frontier.root(),
    };
    let body = cp.body();
    let text = note::assemble(&body, &[signer.note_line(&body)]);
    store::insert_checkpoint(
        conn,
        &store::LogCheckpointRow {
            tree_size: i64::try_from(cp.size).map_err(damaged)?,
            root: cp.root.to_vec(),
            created_at: to_db(super::chain::truncate(now)),
            note: text.clone(),
        },
    )?;
    Ok(Some(SignedCheckpoint {
        size: cp.size,
        root: cp.root,
        note: text,
    }))
}

fn inconsistent() -> AppError {
    AppError::conflict(
        "log_inconsistent",
        "the log no longer extends its last signed checkpoint; nothing was signed",
    )
}

/// A stored checkpoint with every cosignature line appended (`None`: no checkpoint of that
/// size; `size = None`: the newest).
pub fn served_checkpoint(
    conn: &mut Conn,
    size: Option<u64>,
) -> Result<Option<SignedCheckpoint>, AppError> {
    let row = match size {
        Some(n) => store::checkpoint(conn, i64::try_from(n).unwrap_or(i64::MAX))?,
        None => store::latest_checkpoint(conn)?,
    };
    let Some(row) = row else { return Ok(None) };
    let mut text = row.note;
    for line in store::cosignatures(conn, row.tree_size)? {
        text.push_str(&line);
    }
    Ok(Some(SignedCheckpoint {
        size: u64::try_from(row.tree_size).map_err(damaged)?,
        root: row.root.try_into().map_err(|_| damaged("root length"))?,
        note: text,
    }))
}

/// Whether event `id` is a bid placed by user `user_id` (whose proof that bidder may fetch).
pub fn is_own_bid(conn: &mut Conn, id: i64, user_id: i64) -> Result<bool, AppError> {
    Ok(store::event_actor(conn, id)?
        .is_some_and(|(action, actor)| action == "bid.placed" && actor == Some(user_id)))
}

/// Keeps a witness's cosignature line of the checkpoint of `size`, with its audit event, if
/// it verifies with a configured witness key. A second cosignature by the same witness of the
/// same checkpoint changes nothing.
pub fn add_cosignature(
    conn: &mut Conn,
    witnesses: &[(String, ed25519_dalek::VerifyingKey)],
    size: u64,
    line: &str,
    now: DateTime<Utc>,
    meta: &super::RequestMeta,
) -> Result<(), AppError> {
    let row = store::checkpoint(conn, i64::try_from(size).unwrap_or(i64::MAX))?
        .ok_or_else(|| AppError::not_found("no checkpoint of that tree size"))?;
    let body = row
        .note
        .split_once("\n\n")
        .map(|(b, _)| format!("{b}\n"))
        .ok_or_else(|| damaged("stored note"))?;
    let witness = note::check_cosign_line(line, &body, witnesses).map_err(|e| {
        AppError::rule(
            "bad_cosignature",
            format!("not a cosignature of this checkpoint by a configured witness: {e}"),
        )
    })?;
    let line = format!("{}\n", line.trim_end_matches('\n'));
    if store::insert_cosignature(conn, row.tree_size, &witness, &line, to_db(now))? {
        super::record(
            conn,
            now,
            super::Event {
                stream: super::SYSTEM_STREAM.to_string(),
                action: "audit.cosigned",
                actor: super::Actor::ANONYMOUS,
                payload: serde_json::json!({"tree_size": size, "witness": witness}),
                meta,
            },
        )?;
    }
    Ok(())
}
