//! `verify_db`'s fast path: one read of the events in id order, the order an honest trail
//! is written in, which proves both the chains and the transparency log of a valid trail.
//!
//! Each append holds the log's lock from reading its stream's head to its commit (see
//! `audit::log`), so in an honest trail the events' ids rise with their seq in every stream,
//! and the log's leaves name the events in id order. One ordered scan of the events table
//! then feeds the chain checks ([`IdOrderPart::event`]) and, leaf by leaf, the log check
//! (each leaf is the hash of the event read next, the roots are the signed ones), where the
//! (stream, seq) order reads the table through its index, one random lookup per event, and
//! the log check reads the events a second time.
//!
//! The scan is cut into parts by log index, one per core (each part at least
//! [`MIN_PART`] leaves), read and checked at once, each on its own connection and thread,
//! and joined in order: each stream's first event in a part must follow its last event in
//! the parts before, each part must end right before the next one's first event, and the
//! tree is rebuilt from all leaves in order. Reading a row costs the database and diesel
//! several times what hashing it costs, so one core alone cannot read at the hash's pace.
//! The parts read one snapshot: PostgreSQL's readers import the first one's; SQLite cannot
//! share one, so each later part reads only the leaves below the log size the first reader
//! saw and the events those leaves name, rows an honest trail never changes once written
//! (the first reader checks that no event follows the last of them).
//!
//! The pass only proves a trail valid. At the first thing that is not as an honest trail has
//! it, it stops and answers `None`, and `verify_db` verifies in (stream, seq) order and
//! checks the log on its own, which report every problem in their documented order.

use std::thread;

use super::chain::EventView;
use super::checkpoint::{CheckpointRecord, TrustedKeys};
use super::logcheck::{BATCH, LogReport, Targets};
use super::note::Note;
use super::tlog::{self, Frontier, PartTree};
use super::verify::{PartDone, Report, Verifier};
use crate::error::AppError;
use crate::store::{self, Conn, Db, audit as events, audit_log};

/// The fewest leaves worth a reader of their own.
pub const MIN_PART: u64 = 20_000;

/// The most readers one verification takes from the pool.
const MAX_READERS: usize = 4;

/// Verifies the trail and its log in one pass over one snapshot, with one reader per core;
/// `None` if anything is off (then nothing is concluded: verify in (stream, seq) order).
pub fn verify(
    db: &Db,
    keys: &TrustedKeys,
    checkpoints: &[CheckpointRecord],
    saved: &[Note],
) -> Result<Option<(Report, LogReport)>, AppError> {
    let readers = thread::available_parallelism().map_or(1, |n| n.get().min(MAX_READERS));
    verify_in_parts(db, keys, checkpoints, saved, readers, MIN_PART)
}

/// [`verify`] with at most `readers` parts of at least `min_part` leaves each (a part that
/// finds no idle connection in the pool is read after the first, on its connection).
pub fn verify_in_parts(
    db: &Db,
    keys: &TrustedKeys,
    checkpoints: &[CheckpointRecord],
    saved: &[Note],
    readers: usize,
    min_part: u64,
) -> Result<Option<(Report, LogReport)>, AppError> {
    let mut v = Verifier::new(keys.clone(), None);
    for cp in checkpoints {
        v.checkpoint(cp);
    }
    db.snapshot_blocking(|c| {
        let mut report = LogReport::default();
        let mut targets = Targets::read(c, keys, saved, &mut report)?;
        let mut frontier = Frontier::default();
        if !report.problems.is_empty() || !targets.compare(&frontier, &mut report.problems) {
            return Ok(None);
        }
        let Some(spans) = spans(c, readers, min_part)? else {
            return Ok(None);
        };
        let shared = store::share_snapshot(c)?;
        let verifier = &v;
        let sizes = targets.sizes();
        let sizes = sizes.as_slice();
        let parts = thread::scope(|s| -> Result<Option<Vec<PartDone>>, AppError> {
            let later: Vec<_> = spans[1..]
                .iter()
                .map(|span| {
                    let shared = &shared;
                    s.spawn(move || {
                        db.beside_snapshot_blocking(shared, |c| read_part(c, verifier, span, sizes))
                    })
                })
                .collect();
            let mut parts = Vec::with_capacity(spans.len());
            let mut take = |read: Option<PartRead>| {
                let Some(read) = read else {
                    return false;
                };
                for at in &read.roots {
                    let mut f = frontier.clone();
                    if !f.extend(at) || !targets.compare(&f, &mut report.problems) {
                        return false;
                    }
                }
                parts.push(read.done);
                frontier.extend(&read.tree) && targets.compare(&frontier, &mut report.problems)
            };
            if !take(read_part(c, verifier, &spans[0], sizes)?) {
                return Ok(None);
            }
            for (handle, span) in later.into_iter().zip(&spans[1..]) {
                let read = handle.join().map_err(|_| {
                    AppError::internal(anyhow::anyhow!("a reader of the audit trail failed"))
                })?;
                let read = match read {
                    Some(read) => read?,
                    None => read_part(c, verifier, span, sizes)?,
                };
                if !take(read) {
                    return Ok(None);
                }
            }
            Ok(Some(parts))
        })?;
        let Some(parts) = parts else {
            return Ok(None);
        };
        for part in parts {
            if !v.join_part(part) {
                return Ok(None);
            }
        }
        if !targets.beyond(frontier.size).is_empty() {
            return Ok(None);
        }
        report.size = frontier.size;
        Ok(v.finish_id_order().map(|r| (r, report)))
    })
}

/// One part of the pass: the leaves from index `lo` up to `hi` (to the log's end if
/// `None`) and the events they log, from id `from` on.
#[derive(Debug)]
struct Span {
    lo: u64,
    hi: Option<u64>,
    from: i64,
    next: After,
}

/// What must follow a part's last event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum After {
    /// The next part's first event.
    Event(i64),
    /// No event: the part reads to the log's end, and an event after its last leaf's is
    /// not in the log.
    Nothing,
    /// The first reader saw no event after the last leaf's in its snapshot; the part ends
    /// at the log size that reader saw (a later reader on SQLite may see later appends).
    Checked,
}

/// Cuts the log as this snapshot sees it into at most `readers` parts of at least
/// `min_part` leaves; `None` if a cut falls on a leaf that names no event, or an event
/// follows the last leaf's.
fn spans(c: &mut Conn, readers: usize, min_part: u64) -> Result<Option<Vec<Span>>, AppError> {
    let size = u64::try_from(audit_log::size(c)?).unwrap_or(0);
    let n = (size / min_part.max(1)).clamp(1, readers.max(1) as u64);
    if n == 1 {
        return Ok(Some(vec![Span {
            lo: 0,
            hi: None,
            from: i64::MIN,
            next: After::Nothing,
        }]));
    }
    let cuts: Vec<u64> = (1..n).map(|k| size * k / n).collect();
    let mut firsts = Vec::with_capacity(cuts.len());
    for &cut in &cuts {
        let Some(id) = event_of_leaf(c, cut)? else {
            return Ok(None);
        };
        firsts.push(id);
    }
    let Some(last) = event_of_leaf(c, size - 1)? else {
        return Ok(None);
    };
    let (after_last, _) = events::each_event_by_id(c, last.saturating_add(1), 1, |_| true)?;
    if after_last > 0 {
        return Ok(None);
    }
    let spans = (0..=cuts.len())
        .map(|k| Span {
            lo: if k == 0 { 0 } else { cuts[k - 1] },
            hi: Some(cuts.get(k).copied().unwrap_or(size)),
            from: if k == 0 { i64::MIN } else { firsts[k - 1] },
            next: firsts.get(k).map_or(After::Checked, |&id| After::Event(id)),
        })
        .collect();
    Ok(Some(spans))
}

/// The event the leaf at `index` logs, if that leaf exists and names one.
fn event_of_leaf(c: &mut Conn, index: u64) -> Result<Option<i64>, AppError> {
    let row = audit_log::leaf_rows_from(c, i64::try_from(index).unwrap_or(i64::MAX), 1)?;
    Ok(row.into_iter().next().and_then(|(_, _, id)| id))
}

/// What one part proved: its chains, its leaves folded, and that fold as it stood at each
/// size a signed root is due at inside the part.
struct PartRead {
    done: PartDone,
    tree: PartTree,
    roots: Vec<PartTree>,
}

/// Reads and checks one part: each leaf is at its index, names the event read next, and is
/// the hash of that event's stored hash; each event's chain is checked as far as the part
/// sees it, and the leaves are folded as far as they can be without the parts before.
/// `sizes` are the tree sizes a root is due at. Answers what the part proved, or `None`.
fn read_part(
    c: &mut Conn,
    v: &Verifier,
    span: &Span,
    sizes: &[u64],
) -> Result<Option<PartRead>, AppError> {
    let Some(mut part) = v.id_order_part() else {
        return Ok(None);
    };
    let batch_size = BATCH.unsigned_abs();
    let mut tree = PartTree::new(span.lo);
    let mut due = sizes.iter().copied().filter(|&s| s > span.lo).peekable();
    let mut roots = Vec::new();
    let mut index = span.lo;
    let mut from = span.from;
    loop {
        let room = span
            .hi
            .map_or(batch_size, |hi| hi.saturating_sub(index).min(batch_size));
        let rows = audit_log::leaf_rows_from(
            c,
            i64::try_from(index).unwrap_or(i64::MAX),
            i64::try_from(room).unwrap_or(i64::MAX),
        )?;
        let want = rows.len() as u64;
        let end = match span.hi {
            Some(_) if want < room => return Ok(None),
            Some(hi) => index + want == hi,
            None => want < room,
        };
        // After the part's last leaf, one more event is asked for: it must be the next
        // part's first, or there must be none.
        let limit = if end && span.next != After::Checked {
            want + 1
        } else {
            want
        };
        let mut pos = 0_usize;
        let mut after = None;
        let mut ok = true;
        let (_, last) =
            events::each_event_by_id(c, from, i64::try_from(limit).unwrap_or(i64::MAX), |e| {
                let Some(row) = rows.get(pos) else {
                    after = Some(e.id);
                    return false;
                };
                pos += 1;
                let Some(leaf) = leaf_of(row, tree.end(), e.id, &e.hash) else {
                    ok = false;
                    return false;
                };
                tree.push(leaf);
                while due.next_if_eq(&tree.end()).is_some() {
                    roots.push(tree.clone());
                }
                ok = part.event(&EventView::stored(e), &e.hash);
                ok
            })?;
        if !ok || pos as u64 != want {
            return Ok(None);
        }
        index += want;
        if end {
            let followed = match span.next {
                After::Event(id) => after == Some(id),
                After::Nothing => after.is_none(),
                After::Checked => true,
            };
            if !followed {
                return Ok(None);
            }
            return Ok(Some(PartRead {
                done: part.done(),
                tree,
                roots,
            }));
        }
        from = last.map_or(i64::MAX, |id| id.saturating_add(1));
    }
}

/// The leaf `row` holds if it is the leaf at `index` and logs the event `id` whose stored
/// hash is `hash`.
fn leaf_of(row: &audit_log::LeafRowOnly, index: u64, id: i64, hash: &str) -> Option<tlog::Hash> {
    let (idx, leaf, event_id) = row;
    if u64::try_from(*idx).ok()? != index || *event_id != Some(id) {
        return None;
    }
    let leaf = tlog::Hash::try_from(leaf.as_slice()).ok()?;
    (tlog::leaf_hash_hex(hash)? == leaf).then_some(leaf)
}
