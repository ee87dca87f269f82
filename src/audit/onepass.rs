//! `verify_db`'s fast path: one read of the events in id order, the order an honest trail
//! is written in, which proves both the chains and the transparency log of a valid trail.
//!
//! Each append holds the log's lock from reading its stream's head to its commit (see
//! `audit::log`), so in an honest trail the events' ids rise with their seq in every stream,
//! and the log's leaves name the events in id order. One ordered scan of the events table
//! then feeds the chain checks ([`Verifier::event_in_id_order`]) and, leaf by leaf, the log
//! check (each leaf is the hash of the event read next, the roots are the signed ones),
//! where the (stream, seq) order reads the table through its index, one random lookup per
//! event, and the log check reads the events a second time.
//!
//! The pass only proves a trail valid. At the first thing that is not as an honest trail has
//! it, it stops and answers `None`, and `verify_db` verifies in (stream, seq) order and
//! checks the log on its own, which report every problem in their documented order.

use super::chain::EventView;
use super::checkpoint::{CheckpointRecord, TrustedKeys};
use super::logcheck::{BATCH, LogReport, Targets};
use super::note::Note;
use super::tlog::{self, Frontier};
use super::verify::{Report, Verifier};
use crate::error::AppError;
use crate::store::{Conn, Db, audit as events, audit_log};

/// Verifies the trail and its log in one pass over one snapshot; `None` if anything is off
/// (then nothing is concluded: verify in (stream, seq) order).
pub fn verify(
    db: &Db,
    keys: &TrustedKeys,
    checkpoints: &[CheckpointRecord],
    saved: &[Note],
) -> Result<Option<(Report, LogReport)>, AppError> {
    let mut v = Verifier::new(keys.clone(), None);
    for cp in checkpoints {
        v.checkpoint(cp);
    }
    db.snapshot_blocking(|c| {
        let Some(log) = pass(c, &mut v, keys, saved)? else {
            return Ok(None);
        };
        Ok(v.finish_id_order().map(|report| (report, log)))
    })
}

/// The log's side of the pass: the leaves of one batch, checked against the events read in
/// id order.
struct Leaves {
    frontier: Frontier,
    targets: Targets,
    /// Leaves of the current batch: (index, hash, event id).
    batch: Vec<audit_log::LeafRowOnly>,
    pos: usize,
    report: LogReport,
}

impl Leaves {
    /// Whether `id`, whose stored hash is `hash`, is the event the next leaf logs; adds the
    /// leaf to the tree and checks the roots due at its size.
    fn take(&mut self, id: i64, hash: &str) -> bool {
        let Some((idx, leaf, event_id)) = self.batch.get(self.pos) else {
            return false;
        };
        self.pos += 1;
        let Ok(index) = u64::try_from(*idx) else {
            return false;
        };
        let Ok(leaf) = tlog::Hash::try_from(leaf.as_slice()) else {
            return false;
        };
        if index != self.frontier.size
            || *event_id != Some(id)
            || tlog::leaf_hash_hex(hash) != Some(leaf)
        {
            return false;
        }
        self.frontier.push(leaf);
        self.targets
            .compare(&self.frontier, &mut self.report.problems)
    }
}

fn pass(
    c: &mut Conn,
    v: &mut Verifier,
    keys: &TrustedKeys,
    saved: &[Note],
) -> Result<Option<LogReport>, AppError> {
    let mut report = LogReport::default();
    let mut targets = Targets::read(c, keys, saved, &mut report)?;
    let frontier = Frontier::default();
    if !report.problems.is_empty() || !targets.compare(&frontier, &mut report.problems) {
        return Ok(None);
    }
    let mut leaves = Leaves {
        frontier,
        targets,
        batch: Vec::new(),
        pos: 0,
        report,
    };
    let mut from = i64::MIN;
    loop {
        let size = i64::try_from(leaves.frontier.size).unwrap_or(i64::MAX);
        leaves.batch = audit_log::leaf_rows_from(c, size, BATCH)?;
        leaves.pos = 0;
        let want = leaves.batch.len() as i64;
        let end = want < BATCH;
        // After the log's last leaf, one more event is asked for: one there is unlogged.
        let limit = if end { want + 1 } else { want };
        let mut ok = true;
        let (seen, last) = events::each_event_by_id(c, from, limit, |e| {
            let hash = e.hash.as_str();
            ok = leaves.take(e.id, hash) && v.event_in_id_order(&EventView::stored(e), hash);
            ok
        })?;
        if !ok || seen != want {
            return Ok(None);
        }
        if end {
            break;
        }
        from = last.map_or(i64::MAX, |id| id.saturating_add(1));
    }
    if !leaves.targets.beyond(leaves.frontier.size).is_empty() {
        return Ok(None);
    }
    leaves.report.size = leaves.frontier.size;
    Ok(Some(leaves.report))
}
