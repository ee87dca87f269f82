//! The stream's verification: its events recomputed against every signed checkpoint, and how
//! far the latest checkpoint covers it.

use super::view::{CheckpointCoverage, HeadView, StreamVerification};
use crate::audit::checkpoint::{CheckpointRecord, SignatureError, TrustedKeys};
use crate::audit::verify::Verifier;
use crate::store::audit::StoredEvent;
use std::collections::HashSet;

/// Recomputes `events` (one stream, in order) against every checkpoint with the trail's
/// verifier, limited to `stream`, and works out the latest checkpoint's coverage.
pub fn verify_stream(
    keys: &TrustedKeys,
    stream: &str,
    checkpoints: &[CheckpointRecord],
    events: &[StoredEvent],
) -> StreamVerification {
    let scope: HashSet<String> = [stream.to_string()].into();
    let mut v = Verifier::new(keys.clone(), Some(scope));
    let mut signed: Option<HeadView> = None;
    for cp in checkpoints {
        v.checkpoint(cp);
        if let Some(h) = cp.heads.iter().find(|h| h.stream == stream) {
            signed = Some(HeadView {
                seq: h.seq,
                hash: h.hash.clone(),
            });
        }
    }
    for e in events {
        v.event(&e.body(), &e.hash);
    }
    let report = v.finish();
    let head = events.last().map(|e| HeadView {
        seq: e.stream_seq,
        hash: e.hash.clone(),
    });
    let latest = checkpoints.last().map(|cp| {
        let problem = match keys.verify(cp) {
            Ok(()) => None,
            Err(SignatureError::UnknownKey) => Some("unknown_key"),
            Err(SignatureError::Bad) => Some("bad_signature"),
        };
        CheckpointCoverage {
            id: cp.id,
            created_at: cp.created_at,
            streams: cp.streams,
            events: cp.events,
            root: cp.root.clone(),
            key_id: cp.key_id.clone(),
            signature: cp.signature.clone(),
            signature_verified: problem.is_none(),
            signature_problem: problem,
            signed_head: signed.clone(),
        }
    });
    let head_seq = head.as_ref().map_or(0, |h| h.seq);
    let signed_seq = signed.as_ref().map_or(0, |h| h.seq);
    StreamVerification {
        stream: stream.to_string(),
        valid: report.valid,
        events_checked: report.events_checked,
        checkpoints_checked: report.checkpoints_checked,
        first_invalid: report.first_invalid,
        problems: report.problems,
        covered: head.is_some() && signed == head,
        events_after_checkpoint: (head_seq - signed_seq).max(0),
        table_disagreeing: None,
        head,
        latest_checkpoint: latest,
    }
}
