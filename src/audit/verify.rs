//! Verification of the audit trail, the same for the database and for an offline export:
//! recompute every chain, check every checkpoint's signature and root, check that each
//! checkpoint extends the one before, and that every head a checkpoint signed is still in its
//! chain. The report names the first broken `stream` and `stream_seq` and why.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::chain::{self, EventBody, EventView};
use super::checkpoint::{self, CheckpointRecord, TrustedKeys};
use super::merkle::{self, Head};

/// The most problems a report lists (the first is what matters; the rest help triage).
const MAX_PROBLEMS: usize = 100;

/// Stream name used in reports for problems of the checkpoint sequence itself.
pub const CHECKPOINT_STREAM: &str = "checkpoint";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Invalid {
    pub stream: String,
    pub stream_seq: i64,
    /// `hash_mismatch`, `gap`, `broken_link`, `out_of_order`, `bad_signature`,
    /// `unknown_key`, `bad_root`, `bad_counts`, `checkpoint_missing`,
    /// `stream_went_backwards`, `checkpoint_mismatch` (a signed head is no longer in its
    /// chain: rewritten history), `truncated_after_checkpoint`; for the log (stream `log`):
    /// `log_leaf_mismatch`, `log_incomplete`, `bad_log_root`, `bad_log_signature`,
    /// `log_rolled_back`, `log_inconsistent`; for the business tables: `state_mismatch`.
    pub reason: &'static str,
    /// For `state_mismatch`: the table that disagrees with the trail (`bids`,
    /// `registrations`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub table: Option<&'static str>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Report {
    pub valid: bool,
    pub streams_checked: u64,
    pub events_checked: u64,
    pub checkpoints_checked: u64,
    /// Leaves of the transparency log checked.
    pub log_size: u64,
    /// Signed log checkpoints checked.
    pub log_checkpoints_checked: u64,
    pub first_invalid: Option<Invalid>,
    /// Up to 100 problems, in the order found.
    pub problems: Vec<Invalid>,
}

impl Report {
    /// Adds a problem found after the chains (the log, the business tables).
    pub fn add(&mut self, problem: Invalid) {
        self.valid = false;
        self.first_invalid.get_or_insert_with(|| problem.clone());
        if self.problems.len() < MAX_PROBLEMS {
            self.problems.push(problem);
        }
    }
}

struct Current {
    stream: String,
    last_seq: i64,
    /// The last hash of this stream as stored: the next event's `prev_hash` must name it
    /// exactly (a hash as the chain writes it has one spelling, so comparing the text is
    /// comparing the hashes; a stored hash in another form still links to a copy of itself).
    last_hash: String,
    /// Where this stream's signed heads are in `Verifier::signed_heads`, if any.
    signed: Option<usize>,
}

/// A stream in a pass over the events in id order, after the parts joined so far
/// ([`Verifier::join_part`]).
struct Open {
    last_seq: i64,
    last_hash: String,
}

/// A stream within one part of a pass in id order: its first event there (whose link is
/// checked when the part is joined) and its last.
#[derive(Debug)]
struct Run {
    first_seq: i64,
    first_prev: String,
    last_seq: i64,
    last_hash: String,
    /// Where this stream's signed heads are in `Verifier::signed_heads`, if any.
    signed: Option<usize>,
}

/// What one part of a pass in id order proved, for [`Verifier::join_part`].
#[derive(Debug, Default)]
pub struct PartDone {
    runs: HashMap<String, Run>,
    events: u64,
}

/// Checks the events of one contiguous part of the trail in id order
/// ([`Verifier::id_order_part`]).
pub struct IdOrderPart<'v> {
    signed: &'v HashMap<String, usize>,
    signed_heads: &'v [BTreeMap<i64, String>],
    /// Scratch space for the encoding of each event.
    buf: Vec<u8>,
    done: PartDone,
}

impl IdOrderPart<'_> {
    /// Checks the next event of this part: the streams interleave, each in seq order, as
    /// an honest trail is written (each append holds its stream's head). Answers `false` at
    /// the first event that is not what an honest trail holds there; the pass then proves
    /// nothing, and the caller verifies again in (stream, seq) order, which names every
    /// problem as [`Verifier::event_view`] does.
    pub fn event(&mut self, e: &EventView, stored_hash: &str) -> bool {
        let digest = chain::digest_view(&mut self.buf, e);
        if stored_hash.as_bytes() != chain::hex_digest(&digest) {
            return false;
        }
        let run = match self.done.runs.get_mut(e.stream) {
            Some(run) => {
                if e.stream_seq != run.last_seq + 1 || run.last_hash != e.prev_hash {
                    return false;
                }
                run.last_seq = e.stream_seq;
                run.last_hash.clear();
                run.last_hash.push_str(stored_hash);
                run
            }
            None => self.done.runs.entry(e.stream.to_string()).or_insert(Run {
                first_seq: e.stream_seq,
                first_prev: e.prev_hash.to_string(),
                last_seq: e.stream_seq,
                last_hash: stored_hash.to_string(),
                signed: self.signed.get(e.stream).copied(),
            }),
        };
        let signed_differs = run
            .signed
            .and_then(|at| self.signed_heads[at].get(&e.stream_seq))
            .is_some_and(|h| h != stored_hash);
        if signed_differs {
            return false;
        }
        self.done.events += 1;
        true
    }

    /// What this part proved, to be joined in id order.
    pub fn done(self) -> PartDone {
        self.done
    }
}

/// Feeds checkpoints first (in id order), then events ordered by (stream, stream_seq), or
/// all of them in id order, part by part, through [`Verifier::id_order_part`].
pub struct Verifier {
    keys: TrustedKeys,
    /// Only these streams are expected to be complete (a filtered export); `None`: all.
    scope: Option<HashSet<String>>,
    /// Every head any checkpoint signed: stream → index in `signed_heads` (seq → hash).
    signed: HashMap<String, usize>,
    signed_heads: Vec<BTreeMap<i64, String>>,
    /// Scratch space for the encoding of each event.
    buf: Vec<u8>,
    state: BTreeMap<String, Head>,
    last_checkpoint: Option<(i64, DateTime<Utc>)>,
    current: Option<Current>,
    seen_streams: HashSet<String>,
    /// The streams of a pass in id order, by name.
    open: HashMap<String, Open>,
    streams: u64,
    events: u64,
    checkpoints: u64,
    problems: Vec<Invalid>,
    total_problems: usize,
}

impl Verifier {
    pub fn new(keys: TrustedKeys, scope: Option<HashSet<String>>) -> Self {
        Self {
            keys,
            scope,
            signed: HashMap::new(),
            signed_heads: Vec::new(),
            buf: Vec::with_capacity(1024),
            state: BTreeMap::new(),
            last_checkpoint: None,
            current: None,
            seen_streams: HashSet::new(),
            open: HashMap::new(),
            streams: 0,
            events: 0,
            checkpoints: 0,
            problems: Vec::new(),
            total_problems: 0,
        }
    }

    fn problem(&mut self, stream: &str, stream_seq: i64, reason: &'static str) {
        self.total_problems += 1;
        if self.problems.len() < MAX_PROBLEMS {
            self.problems.push(Invalid {
                stream: stream.to_string(),
                stream_seq,
                reason,
                table: None,
            });
        }
    }

    /// Checks one checkpoint against its signature and the checkpoints before it.
    pub fn checkpoint(&mut self, cp: &CheckpointRecord) {
        self.checkpoints += 1;
        let expected_id = self.last_checkpoint.map_or(1, |(id, _)| id + 1);
        if cp.id != expected_id {
            self.problem(CHECKPOINT_STREAM, expected_id, "checkpoint_missing");
        }
        if let Some((_, prev_time)) = self.last_checkpoint
            && cp.created_at < prev_time
        {
            self.problem(CHECKPOINT_STREAM, cp.id, "out_of_order");
        }
        self.last_checkpoint = Some((cp.id, cp.created_at));
        match self.keys.verify(cp) {
            Ok(()) => {}
            Err(checkpoint::SignatureError::UnknownKey) => {
                self.problem(CHECKPOINT_STREAM, cp.id, "unknown_key");
            }
            Err(checkpoint::SignatureError::Bad) => {
                self.problem(CHECKPOINT_STREAM, cp.id, "bad_signature");
            }
        }
        for head in &cp.heads {
            if let Some(old) = self.state.get(&head.stream)
                && (old.seq > head.seq || (old.seq == head.seq && old.hash != head.hash))
            {
                let (stream, seq) = (head.stream.clone(), head.seq);
                self.problem(&stream, seq, "stream_went_backwards");
            }
            self.state.insert(head.stream.clone(), head.clone());
            let next = self.signed_heads.len();
            let at = *self.signed.entry(head.stream.clone()).or_insert(next);
            if at == next {
                self.signed_heads.push(BTreeMap::new());
            }
            self.signed_heads[at].insert(head.seq, head.hash.clone());
        }
        let full: Vec<Head> = self.state.values().cloned().collect();
        if merkle::root_of(&full) != cp.root {
            self.problem(CHECKPOINT_STREAM, cp.id, "bad_root");
        }
        let events: i64 = full.iter().map(|h| h.seq).sum();
        if cp.streams != full.len() as i64 || cp.events != events {
            self.problem(CHECKPOINT_STREAM, cp.id, "bad_counts");
        }
    }

    fn in_scope(&self, stream: &str) -> bool {
        self.scope.as_ref().is_none_or(|s| s.contains(stream))
    }

    /// Closes the stream being read: signed heads beyond its end were cut off.
    fn close_stream(&mut self) {
        let Some(cur) = self.current.take() else {
            return;
        };
        let beyond = cur
            .signed
            .is_some_and(|at| self.signed_heads[at].keys().any(|&seq| seq > cur.last_seq));
        if beyond {
            self.problem(&cur.stream, cur.last_seq + 1, "truncated_after_checkpoint");
        }
    }

    /// Checks one event; events must come ordered by (stream, stream_seq).
    pub fn event(&mut self, e: &EventBody, stored_hash: &str) {
        self.event_view(&EventView::of(e), stored_hash);
    }

    /// [`Self::event`] over borrowed fields (a stored row read without copying).
    pub fn event_view(&mut self, e: &EventView, stored_hash: &str) {
        self.events += 1;
        let new_stream = self.current.as_ref().is_none_or(|c| c.stream != e.stream);
        if new_stream {
            self.close_stream();
            if !self.seen_streams.insert(e.stream.to_string()) {
                self.problem(e.stream, e.stream_seq, "out_of_order");
            }
            self.streams += 1;
            self.current = Some(Current {
                stream: e.stream.to_string(),
                last_seq: 0,
                last_hash: chain::GENESIS_HASH.to_string(),
                signed: self.signed.get(e.stream).copied(),
            });
        }
        let Some(cur) = self.current.as_ref() else {
            return;
        };
        let last_seq = cur.last_seq;
        let signed = cur.signed;
        if e.stream_seq <= last_seq {
            self.problem(e.stream, e.stream_seq, "out_of_order");
        } else if e.stream_seq > last_seq + 1 {
            self.problem(e.stream, last_seq + 1, "gap");
        } else if cur.last_hash != e.prev_hash {
            self.problem(e.stream, e.stream_seq, "broken_link");
        }
        let digest = chain::digest_view(&mut self.buf, e);
        if stored_hash.as_bytes() != chain::hex_digest(&digest) {
            self.problem(e.stream, e.stream_seq, "hash_mismatch");
        }
        let signed_differs = signed
            .and_then(|at| self.signed_heads[at].get(&e.stream_seq))
            .is_some_and(|h| h != stored_hash);
        if signed_differs {
            self.problem(e.stream, e.stream_seq, "checkpoint_mismatch");
        }
        if let Some(c) = self.current.as_mut() {
            c.last_seq = c.last_seq.max(e.stream_seq);
            c.last_hash.clear();
            c.last_hash.push_str(stored_hash);
        }
    }

    /// A checker for one contiguous part of a pass over the whole trail in id order
    /// ([`IdOrderPart::event`]); `None` if this verifier cannot take such a pass (it already
    /// found a problem, or checks a filtered export). Parts borrow the verifier only to read
    /// the signed heads, so the parts of one trail can be checked at once on several
    /// threads; their results are then joined in id order ([`Self::join_part`]).
    pub fn id_order_part(&self) -> Option<IdOrderPart<'_>> {
        (self.total_problems == 0 && self.scope.is_none()).then(|| IdOrderPart {
            signed: &self.signed,
            signed_heads: &self.signed_heads,
            buf: Vec::with_capacity(1024),
            done: PartDone::default(),
        })
    }

    /// Joins the next part of a pass in id order: each stream's first event in it must
    /// follow the stream's last event in the parts before (or open the stream). Answers
    /// `false` if one does not; the pass then proves nothing.
    pub fn join_part(&mut self, part: PartDone) -> bool {
        for (stream, run) in part.runs {
            let open = self.open.entry(stream).or_insert_with(|| Open {
                last_seq: 0,
                last_hash: chain::GENESIS_HASH.to_string(),
            });
            if run.first_seq != open.last_seq + 1 || open.last_hash != run.first_prev {
                return false;
            }
            open.last_seq = run.last_seq;
            open.last_hash = run.last_hash;
        }
        self.events += part.events;
        true
    }

    /// Ends a pass in id order: the report of a valid trail, or `None` when anything is off
    /// (a checkpoint, a signed head beyond its stream's end, a signed stream that is gone),
    /// for the caller to verify again in (stream, seq) order.
    pub fn finish_id_order(self) -> Option<Report> {
        if self.total_problems > 0 {
            return None;
        }
        let cut = self.signed.iter().any(|(stream, &at)| {
            self.open
                .get(stream)
                .is_none_or(|open| self.signed_heads[at].keys().any(|&seq| seq > open.last_seq))
        });
        if cut {
            return None;
        }
        Some(Report {
            valid: true,
            streams_checked: self.open.len() as u64,
            events_checked: self.events,
            checkpoints_checked: self.checkpoints,
            log_size: 0,
            log_checkpoints_checked: 0,
            first_invalid: None,
            problems: Vec::new(),
        })
    }

    /// Ends verification: signed streams that never appeared were removed.
    pub fn finish(mut self) -> Report {
        self.close_stream();
        let mut missing: Vec<(String, i64)> = self
            .signed
            .iter()
            .filter(|(stream, _)| !self.seen_streams.contains(*stream) && self.in_scope(stream))
            .map(|(stream, _)| (stream.clone(), 1))
            .collect();
        missing.sort();
        for (stream, seq) in missing {
            self.problem(&stream, seq, "truncated_after_checkpoint");
        }
        Report {
            valid: self.total_problems == 0,
            streams_checked: self.streams,
            events_checked: self.events,
            checkpoints_checked: self.checkpoints,
            log_size: 0,
            log_checkpoints_checked: 0,
            first_invalid: self.problems.first().cloned(),
            problems: self.problems,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::chain::GENESIS_HASH;
    use crate::audit::checkpoint::{AuditSigner, signed_message};
    use chrono::TimeZone;

    fn chain_of(stream: &str, n: i64) -> Vec<(EventBody, String)> {
        let mut prev = GENESIS_HASH.to_string();
        (1..=n)
            .map(|seq| {
                let body = EventBody {
                    stream: stream.into(),
                    stream_seq: seq,
                    occurred_at: Utc.with_ymd_and_hms(2026, 11, 27, 8, 0, 0).unwrap(),
                    actor_id: None,
                    actor_role: None,
                    action: "test.event".into(),
                    payload: format!("{{\"n\":{seq}}}"),
                    client_ip: None,
                    request_id: None,
                    prev_hash: prev.clone(),
                };
                let hash = chain::hash(&body);
                prev = hash.clone();
                (body, hash)
            })
            .collect()
    }

    fn signed(signer: &AuditSigner, id: i64, heads: Vec<Head>, full: &[Head]) -> CheckpointRecord {
        let created_at = Utc.with_ymd_and_hms(2026, 11, 27, 9, 0, id as u32).unwrap();
        let root = merkle::root_of(full);
        let events = full.iter().map(|h| h.seq).sum();
        let msg = signed_message(
            id,
            created_at,
            full.len() as i64,
            events,
            &root,
            signer.key_id(),
        );
        CheckpointRecord {
            id,
            created_at,
            streams: full.len() as i64,
            events,
            root,
            heads,
            key_id: signer.key_id().into(),
            signature: signer.sign(&msg),
        }
    }

    fn head(events: &[(EventBody, String)], seq: i64) -> Head {
        let (b, h) = &events[seq as usize - 1];
        Head {
            stream: b.stream.clone(),
            seq,
            hash: h.clone(),
        }
    }

    fn run(
        cps: &[CheckpointRecord],
        events: &[(EventBody, String)],
        signer: &AuditSigner,
    ) -> Report {
        let mut v = Verifier::new(TrustedKeys::new([signer.public_key()]), None);
        cps.iter().for_each(|c| v.checkpoint(c));
        events.iter().for_each(|(b, h)| v.event(b, h));
        v.finish()
    }

    fn first(r: &Report) -> (String, i64, &'static str) {
        let f = r.first_invalid.clone().expect("a problem");
        (f.stream, f.stream_seq, f.reason)
    }

    #[test]
    fn an_honest_chain_with_checkpoints_is_valid() {
        let signer = AuditSigner::from_seed([3; 32]);
        let a = chain_of("a", 5);
        let cp1 = signed(&signer, 1, vec![head(&a, 3)], &[head(&a, 3)]);
        let cp2 = signed(&signer, 2, vec![head(&a, 5)], &[head(&a, 5)]);
        let r = run(&[cp1, cp2], &a, &signer);
        assert!(r.valid, "{:?}", r.first_invalid);
        assert_eq!(
            (r.events_checked, r.streams_checked, r.checkpoints_checked),
            (5, 1, 2)
        );
    }

    /// The events of `chains` interleaved as an append-ordered table holds them.
    fn interleaved(chains: &[Vec<(EventBody, String)>]) -> Vec<(EventBody, String)> {
        let longest = chains.iter().map(Vec::len).max().unwrap_or(0);
        (0..longest)
            .flat_map(|i| chains.iter().filter_map(move |c| c.get(i).cloned()))
            .collect()
    }

    fn id_order(
        cps: &[CheckpointRecord],
        events: &[(EventBody, String)],
        signer: &AuditSigner,
    ) -> Option<Report> {
        let mut v = Verifier::new(TrustedKeys::new([signer.public_key()]), None);
        cps.iter().for_each(|c| v.checkpoint(c));
        // In parts of three events, each checked on its own and then joined, as the
        // database's pass checks its parts on several threads.
        for part in events.chunks(3) {
            let mut p = v.id_order_part()?;
            for (b, h) in part {
                if !p.event(&EventView::of(b), h) {
                    return None;
                }
            }
            let done = p.done();
            if !v.join_part(done) {
                return None;
            }
        }
        v.finish_id_order()
    }

    #[test]
    fn interleaved_honest_chains_pass_in_id_order_with_the_ordered_report() {
        let signer = AuditSigner::from_seed([3; 32]);
        let (a, b, c) = (chain_of("a", 5), chain_of("b", 2), chain_of("c", 4));
        let all = [head(&a, 3), head(&b, 2), head(&c, 1)];
        let cp = signed(&signer, 1, all.to_vec(), &all);
        let fast = id_order(
            std::slice::from_ref(&cp),
            &interleaved(&[a.clone(), b.clone(), c.clone()]),
            &signer,
        )
        .expect("an honest trail passes");
        let ordered: Vec<_> = [a, b, c].concat();
        let slow = run(&[cp], &ordered, &signer);
        assert!(slow.valid);
        assert_eq!(
            serde_json::to_value(&fast).unwrap(),
            serde_json::to_value(&slow).unwrap()
        );
    }

    #[test]
    fn anything_off_stops_the_id_order_pass() {
        let signer = AuditSigner::from_seed([3; 32]);
        let (a, b) = (chain_of("a", 4), chain_of("b", 3));
        let honest = interleaved(&[a.clone(), b.clone()]);
        assert!(id_order(&[], &honest, &signer).is_some());
        // Two events of one stream swapped (ids no longer rise with seq).
        let mut swapped = honest.clone();
        swapped.swap(0, 2);
        assert!(id_order(&[], &swapped, &signer).is_none());
        // A changed payload; a missing event; a broken link.
        let mut changed = honest.clone();
        changed[3].0.payload = "{}".into();
        assert!(id_order(&[], &changed, &signer).is_none());
        let mut missing = honest.clone();
        missing.remove(2);
        assert!(id_order(&[], &missing, &signer).is_none());
        let mut relinked = honest.clone();
        relinked[4].0.prev_hash = "f".repeat(64);
        relinked[4].1 = chain::hash(&relinked[4].0);
        assert!(id_order(&[], &relinked, &signer).is_none());
        // A signed head beyond the stream's end, a signed stream that is gone, a signed
        // head that differs from the stored one, a bad checkpoint.
        let cut = signed(&signer, 1, vec![head(&a, 4)], &[head(&a, 4)]);
        let short: Vec<_> = honest
            .iter()
            .filter(|(e, _)| !(e.stream == "a" && e.stream_seq == 4))
            .cloned()
            .collect();
        assert!(id_order(std::slice::from_ref(&cut), &short, &signer).is_none());
        let only_b: Vec<_> = honest
            .iter()
            .filter(|(e, _)| e.stream == "b")
            .cloned()
            .collect();
        assert!(id_order(std::slice::from_ref(&cut), &only_b, &signer).is_none());
        let mut other = head(&a, 2);
        other.hash = "0".repeat(64);
        let differs = signed(&signer, 1, vec![other.clone()], &[other]);
        assert!(id_order(&[differs], &honest, &signer).is_none());
        let mut forged = cut.clone();
        forged.signature = signed(&AuditSigner::from_seed([4; 32]), 1, vec![], &[]).signature;
        assert!(id_order(&[forged], &honest, &signer).is_none());
        assert!(id_order(&[cut], &honest, &signer).is_some());
    }

    #[test]
    fn a_broken_link_is_named() {
        let signer = AuditSigner::from_seed([3; 32]);
        let mut a = chain_of("a", 4);
        a[2].0.prev_hash = "f".repeat(64);
        a[2].1 = chain::hash(&a[2].0);
        let r = run(&[], &a, &signer);
        assert_eq!(first(&r), ("a".into(), 3, "broken_link"));
    }

    #[test]
    fn a_missing_first_event_is_a_gap_at_one() {
        let signer = AuditSigner::from_seed([3; 32]);
        let a = chain_of("a", 3);
        let r = run(&[], &a[1..], &signer);
        assert_eq!(first(&r), ("a".into(), 1, "gap"));
    }

    #[test]
    fn a_checkpoint_head_going_backwards_is_named() {
        let signer = AuditSigner::from_seed([3; 32]);
        let a = chain_of("a", 5);
        let cp1 = signed(&signer, 1, vec![head(&a, 4)], &[head(&a, 4)]);
        let cp2 = signed(&signer, 2, vec![head(&a, 2)], &[head(&a, 2)]);
        let r = run(&[cp1, cp2], &a, &signer);
        assert_eq!(first(&r), ("a".into(), 2, "stream_went_backwards"));
    }

    #[test]
    fn a_missing_checkpoint_and_a_bad_root_are_named() {
        let signer = AuditSigner::from_seed([3; 32]);
        let a = chain_of("a", 5);
        let cp2 = signed(&signer, 2, vec![head(&a, 4)], &[head(&a, 4)]);
        let r = run(&[cp2], &a, &signer);
        assert_eq!(
            first(&r),
            (CHECKPOINT_STREAM.into(), 1, "checkpoint_missing")
        );
        let mut cp1 = signed(&signer, 1, vec![head(&a, 4)], &[head(&a, 4)]);
        cp1.heads = vec![head(&a, 3)]; // the delta no longer matches the signed root
        let r = run(&[cp1], &a, &signer);
        assert_eq!(first(&r), (CHECKPOINT_STREAM.into(), 1, "bad_root"));
    }

    #[test]
    fn a_whole_stream_removed_after_a_checkpoint_is_truncation() {
        let signer = AuditSigner::from_seed([3; 32]);
        let a = chain_of("a", 2);
        let b = chain_of("b", 2);
        let cp = signed(
            &signer,
            1,
            vec![head(&a, 2), head(&b, 2)],
            &[head(&a, 2), head(&b, 2)],
        );
        let r = run(&[cp], &a, &signer);
        assert_eq!(first(&r), ("b".into(), 1, "truncated_after_checkpoint"));
    }

    #[test]
    fn a_filtered_verification_ignores_streams_outside_its_scope() {
        let signer = AuditSigner::from_seed([3; 32]);
        let a = chain_of("a", 2);
        let b = chain_of("b", 2);
        let cp = signed(
            &signer,
            1,
            vec![head(&a, 2), head(&b, 2)],
            &[head(&a, 2), head(&b, 2)],
        );
        let mut v = Verifier::new(
            TrustedKeys::new([signer.public_key()]),
            Some(["a".to_string()].into()),
        );
        v.checkpoint(&cp);
        a.iter().for_each(|(e, h)| v.event(e, h));
        assert!(v.finish().valid);
    }

    #[test]
    fn a_stored_hash_not_in_the_chain_format_is_a_mismatch_but_still_links() {
        let signer = AuditSigner::from_seed([3; 32]);
        let mut a = chain_of("a", 3);
        // Upper-case hex is not what the chain writes: that event's hash does not match,
        // and the next event, naming it exactly as stored, is still linked to it.
        a[1].1 = a[1].1.to_uppercase();
        a[2].0.prev_hash = a[1].1.clone();
        a[2].1 = chain::hash(&a[2].0);
        let r = run(&[], &a, &signer);
        assert_eq!(first(&r), ("a".into(), 2, "hash_mismatch"));
        assert_eq!(r.problems.len(), 1, "{:?}", r.problems);
    }
}
