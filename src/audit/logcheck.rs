//! Verification of the transparency log in the database: every leaf is the hash of the event
//! it names, every event is in the log, every signed log checkpoint's root is the root the
//! events give at its size and its signature holds, and (for a client holding an earlier
//! checkpoint) the log still extends that checkpoint. Reads the leaves in batches; memory
//! stays flat.

use super::checkpoint::TrustedKeys;
use super::note::Note;
use super::tlog::{self, Frontier};
use super::verify::{Invalid, Report};
use crate::error::AppError;
use crate::store::{Conn, Db, audit_log as store};

/// Stream name used in reports for problems of the log.
pub const LOG_STREAM: &str = "log";

pub(super) const BATCH: i64 = 5_000;

pub(super) fn at(seq: u64, reason: &'static str) -> Invalid {
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

impl LogReport {
    /// Adds this to the chains' report: its problems after theirs, and its counts.
    pub fn add_to(self, report: &mut Report) {
        for p in self.problems {
            report.add(p);
        }
        report.log_size = self.size;
        report.log_checkpoints_checked = self.checkpoints;
    }
}

/// Checks the log against the events, its signed checkpoints and the checkpoints a client
/// saved earlier (`saved`, already parsed). Problems (stream `log`, seq = leaf index or tree
/// size): `log_leaf_mismatch`, `log_incomplete` (events not in the log; seq = how many),
/// `bad_log_root`, `bad_log_signature`, `log_rolled_back` and `log_inconsistent` (the log does
/// not extend a saved checkpoint).
pub fn check(db: &Db, keys: &TrustedKeys, saved: &[Note]) -> Result<LogReport, AppError> {
    // One snapshot: the leaves and the events they are compared with agree.
    db.snapshot_blocking(|c| check_in(c, keys, saved))
}

/// The roots the log must have at given sizes, by size: each stored checkpoint's (a
/// mismatch is `bad_log_root`) and each checkpoint a client saved (`log_inconsistent`).
pub(super) struct Targets {
    /// (size, root, what a mismatch is called), by size.
    list: Vec<(u64, Vec<u8>, &'static str)>,
    next: usize,
}

impl Targets {
    /// Reads the stored checkpoints, checking each one's signature on the way (problems go
    /// into `report`, which also learns how many there are).
    pub(super) fn read(
        c: &mut Conn,
        keys: &TrustedKeys,
        saved: &[Note],
        report: &mut LogReport,
    ) -> Result<Self, AppError> {
        let stored = store::checkpoints(c)?;
        report.checkpoints = stored.len() as u64;
        let mut list = Vec::with_capacity(stored.len() + saved.len());
        for row in &stored {
            let size = u64::try_from(row.tree_size).unwrap_or(0);
            match Note::parse(&row.note) {
                Ok(n) if signed_by_trusted(&n, keys) && n.checkpoint.size == size => {}
                _ => report.problems.push(at(size, "bad_log_signature")),
            }
            list.push((size, row.root.clone(), "bad_log_root"));
        }
        for note in saved {
            let cp = &note.checkpoint;
            list.push((cp.size, cp.root.to_vec(), "log_inconsistent"));
        }
        list.sort_by_key(|t| t.0);
        Ok(Self { list, next: 0 })
    }

    /// Compares the roots due by the frontier's size with its root; answers whether they
    /// all matched.
    pub(super) fn compare(&mut self, frontier: &Frontier, problems: &mut Vec<Invalid>) -> bool {
        let mut matched = true;
        while let Some((size, root, reason)) = self.list.get(self.next) {
            if *size > frontier.size {
                break;
            }
            self.next += 1;
            if *size == frontier.size && frontier.root().as_slice() != root.as_slice() {
                problems.push(at(*size, reason));
                matched = false;
            }
        }
        matched
    }

    /// The sizes of the roots still to compare, in order.
    pub(super) fn sizes(&self) -> Vec<u64> {
        self.list[self.next..].iter().map(|t| t.0).collect()
    }

    /// Sizes beyond the end of the log: it was cut back after they were signed.
    pub(super) fn beyond(&self, size: u64) -> Vec<u64> {
        self.list
            .iter()
            .filter(|t| t.0 > size)
            .map(|t| t.0)
            .collect()
    }
}

fn check_in(c: &mut Conn, keys: &TrustedKeys, saved: &[Note]) -> Result<LogReport, AppError> {
    let mut report = LogReport::default();
    let mut targets = Targets::read(c, keys, saved, &mut report)?;
    let mut frontier = Frontier::default();
    targets.compare(&frontier, &mut report.problems);
    let mut events = EventScan::default();
    loop {
        let from = i64::try_from(frontier.size).unwrap_or(i64::MAX);
        let batch = store::leaf_rows_from(c, from, BATCH)?;
        for (idx, leaf, event_id) in &batch {
            let index = u64::try_from(*idx).unwrap_or(u64::MAX);
            if index != frontier.size {
                report.problems.push(at(frontier.size, "log_leaf_mismatch"));
                let beyond = targets.beyond(frontier.size);
                return finish(c, report, beyond, None);
            }
            let expected = match event_id {
                Some(id) => events.leaf_of(c, *id)?,
                None => None,
            };
            if expected.is_none_or(|e| e.as_slice() != leaf.as_slice()) {
                report.problems.push(at(index, "log_leaf_mismatch"));
            }
            // The tree is the leaves as stored: a damaged leaf is reported above, and the
            // roots are still checked over what the log holds.
            let hash: tlog::Hash = leaf.as_slice().try_into().unwrap_or([0; 32]);
            frontier.push(hash);
            targets.compare(&frontier, &mut report.problems);
        }
        if (batch.len() as i64) < BATCH {
            break;
        }
    }
    report.size = frontier.size;
    let unlogged = events.unlogged(c)?;
    let beyond = targets.beyond(frontier.size);
    finish(c, report, beyond, unlogged)
}

/// The events' hashes, read in id order alongside the leaves (an honest log holds the
/// events in the order they were written, so both are ordered scans and need no join); an
/// event a leaf names out of that order is looked up on its own.
#[derive(Default)]
struct EventScan {
    batch: Vec<(i64, String)>,
    pos: usize,
    /// The first id not read yet.
    next_id: i64,
    end: bool,
    /// Events read by the scan, and how many of them a leaf named in scan order.
    seen: u64,
    matched: u64,
    /// Leaves whose event was not ahead in the scan.
    looked_up: u64,
}

impl EventScan {
    /// The id of the next event of the scan, reading a batch when needed.
    fn peek(&mut self, c: &mut Conn) -> Result<Option<i64>, AppError> {
        if self.pos == self.batch.len() {
            if self.end {
                return Ok(None);
            }
            self.batch = store::event_hashes_from(c, self.next_id, BATCH)?;
            self.pos = 0;
            self.end = (self.batch.len() as i64) < BATCH;
            if let Some((last, _)) = self.batch.last() {
                self.next_id = last.saturating_add(1);
            }
        }
        Ok(self.batch.get(self.pos).map(|(id, _)| *id))
    }

    /// The leaf hash of event `id`'s chain hash (`None`: no such event, or a stored hash
    /// that is not one).
    fn leaf_of(&mut self, c: &mut Conn, id: i64) -> Result<Option<tlog::Hash>, AppError> {
        while let Some(next) = self.peek(c)? {
            if next > id {
                break;
            }
            self.pos += 1;
            self.seen += 1;
            if next == id {
                self.matched += 1;
                return Ok(tlog::leaf_hash_hex(&self.batch[self.pos - 1].1));
            }
        }
        self.looked_up += 1;
        let found = store::event_hash(c, id)?;
        Ok(found.and_then(|(_, hash)| tlog::leaf_hash_hex(&hash)))
    }

    /// How many events no leaf names: the events the scan passed over, once it has read
    /// them all; `None` when a leaf named an event out of order (then counted by a query).
    fn unlogged(&mut self, c: &mut Conn) -> Result<Option<i64>, AppError> {
        while self.peek(c)?.is_some() {
            self.seen += (self.batch.len() - self.pos) as u64;
            self.pos = self.batch.len();
        }
        Ok((self.looked_up == 0).then(|| i64::try_from(self.seen - self.matched).unwrap_or(0)))
    }
}

fn finish(
    c: &mut Conn,
    mut report: LogReport,
    beyond: Vec<u64>,
    unlogged: Option<i64>,
) -> Result<LogReport, AppError> {
    for size in beyond {
        report.problems.push(at(size, "log_rolled_back"));
    }
    let unlogged = match unlogged {
        Some(n) => n,
        None => store::unlogged_count(c)?,
    };
    if unlogged > 0 {
        report
            .problems
            .push(at(u64::try_from(unlogged).unwrap_or(0), "log_incomplete"));
    }
    Ok(report)
}
