//! Verification of the transparency log in the database: every leaf is the hash of the event
//! it names, every event is in the log, every signed log checkpoint's root is the root the
//! events give at its size and its signature holds, and (for a client holding an earlier
//! checkpoint) the log still extends that checkpoint. Reads the leaves in batches; memory
//! stays flat.

use super::checkpoint::TrustedKeys;
use super::note::Note;
use super::tlog::{self, Frontier};
use super::verify::Invalid;
use crate::error::AppError;
use crate::store::{Db, audit_log as store};

/// Stream name used in reports for problems of the log.
pub const LOG_STREAM: &str = "log";

const BATCH: i64 = 5_000;

fn at(seq: u64, reason: &'static str) -> Invalid {
    Invalid {
        stream: LOG_STREAM.to_string(),
        stream_seq: i64::try_from(seq).unwrap_or(i64::MAX),
        reason,
        table: None,
    }
}

/// Whether any trusted key signed `note` under its origin.
pub fn signed_by_trusted(note: &Note, keys: &TrustedKeys) -> bool {
    keys.all()
        .any(|k| note.verify_log(&note.checkpoint.origin, k).is_ok())
}

/// What the log check found, and how many leaves and checkpoints it read.
#[derive(Debug, Default)]
pub struct LogReport {
    pub size: u64,
    pub checkpoints: u64,
    pub problems: Vec<Invalid>,
}

/// Checks the log against the events, its signed checkpoints and the checkpoints a client
/// saved earlier (`saved`, already parsed). Problems (stream `log`, seq = leaf index or tree
/// size): `log_leaf_mismatch`, `log_incomplete` (events not in the log; seq = how many),
/// `bad_log_root`, `bad_log_signature`, `log_rolled_back` and `log_inconsistent` (the log does
/// not extend a saved checkpoint).
pub fn check(db: &Db, keys: &TrustedKeys, saved: &[Note]) -> Result<LogReport, AppError> {
    let mut report = LogReport::default();
    let stored = db.run_blocking(store::checkpoints)?;
    report.checkpoints = stored.len() as u64;
    // (size, root, what a mismatch is called), by size.
    let mut targets: Vec<(u64, Vec<u8>, &'static str)> = Vec::new();
    for row in &stored {
        let size = u64::try_from(row.tree_size).unwrap_or(0);
        match Note::parse(&row.note) {
            Ok(n) if signed_by_trusted(&n, keys) && n.checkpoint.size == size => {}
            _ => report.problems.push(at(size, "bad_log_signature")),
        }
        targets.push((size, row.root.clone(), "bad_log_root"));
    }
    for note in saved {
        let cp = &note.checkpoint;
        targets.push((cp.size, cp.root.to_vec(), "log_inconsistent"));
    }
    targets.sort_by_key(|t| t.0);
    let mut frontier = Frontier::default();
    let mut next = targets.iter().peekable();
    let mut compare = |frontier: &Frontier, report: &mut LogReport| {
        while let Some((size, root, reason)) = next.next_if(|t| t.0 <= frontier.size) {
            if *size == frontier.size && frontier.root().as_slice() != root.as_slice() {
                report.problems.push(at(*size, reason));
            }
        }
    };
    compare(&frontier, &mut report);
    loop {
        let from = i64::try_from(frontier.size).unwrap_or(i64::MAX);
        let batch = db.run_blocking(|c| store::leaves_from(c, from, BATCH))?;
        for (idx, leaf, _, event_hash) in &batch {
            let index = u64::try_from(*idx).unwrap_or(u64::MAX);
            if index != frontier.size {
                report.problems.push(at(frontier.size, "log_leaf_mismatch"));
                return finish(db, report, targets_left(&targets, frontier.size));
            }
            let expected = event_hash.as_deref().and_then(tlog::leaf_hash_hex);
            if expected.is_none_or(|e| e.as_slice() != leaf.as_slice()) {
                report.problems.push(at(index, "log_leaf_mismatch"));
            }
            // The tree is the leaves as stored: a damaged leaf is reported above, and the
            // roots are still checked over what the log holds.
            let hash: tlog::Hash = leaf.as_slice().try_into().unwrap_or([0; 32]);
            frontier.append(hash);
            compare(&frontier, &mut report);
        }
        if (batch.len() as i64) < BATCH {
            break;
        }
    }
    report.size = frontier.size;
    finish(db, report, targets_left(&targets, frontier.size))
}

/// Checkpoints beyond the end of the log: it was cut back after they were signed.
fn targets_left(targets: &[(u64, Vec<u8>, &'static str)], size: u64) -> Vec<u64> {
    targets.iter().filter(|t| t.0 > size).map(|t| t.0).collect()
}

fn finish(db: &Db, mut report: LogReport, beyond: Vec<u64>) -> Result<LogReport, AppError> {
    for size in beyond {
        report.problems.push(at(size, "log_rolled_back"));
    }
    let unlogged = db.run_blocking(store::unlogged_count)?;
    if unlogged > 0 {
        report
            .problems
            .push(at(u64::try_from(unlogged).unwrap_or(0), "log_incomplete"));
    }
    Ok(report)
}
