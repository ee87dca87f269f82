use super::sections::timeline;
use super::verify::verify_stream;
use super::*;
use crate::audit::chain::{self, EventBody, GENESIS_HASH};
use crate::audit::checkpoint::CheckpointRecord;
use crate::audit::checkpoint::{AuditSigner, signed_message};
use crate::audit::merkle::{self, Head};
use crate::store::audit::StoredEvent;
use chrono::TimeZone;

fn chain_of(stream: &str, n: i64) -> Vec<StoredEvent> {
    let mut prev = GENESIS_HASH.to_string();
    (1..=n)
        .map(|seq| {
            let at = Utc
                .with_ymd_and_hms(2026, 11, 27, 8, 0, seq as u32)
                .unwrap();
            let body = EventBody {
                stream: stream.into(),
                stream_seq: seq,
                occurred_at: at,
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
            StoredEvent {
                id: seq,
                stream: body.stream,
                stream_seq: seq,
                occurred_at: at.naive_utc(),
                actor_id: None,
                actor_role: None,
                action: body.action,
                payload: body.payload,
                client_ip: None,
                request_id: None,
                prev_hash: body.prev_hash,
                hash,
            }
        })
        .collect()
}

fn head(e: &StoredEvent) -> Head {
    Head {
        stream: e.stream.clone(),
        seq: e.stream_seq,
        hash: e.hash.clone(),
    }
}

fn signed(signer: &AuditSigner, id: i64, heads: Vec<Head>) -> CheckpointRecord {
    let created_at = Utc.with_ymd_and_hms(2026, 11, 27, 9, 0, id as u32).unwrap();
    let root = merkle::root_of(&heads);
    let events = heads.iter().map(|h| h.seq).sum();
    let streams = heads.len() as i64;
    let msg = signed_message(id, created_at, streams, events, &root, signer.key_id());
    CheckpointRecord {
        id,
        created_at,
        streams,
        events,
        root,
        heads,
        key_id: signer.key_id().into(),
        signature: signer.sign(&msg),
    }
}

#[test]
fn a_stream_signed_at_its_head_is_valid_and_covered() {
    let signer = AuditSigner::from_seed([5; 32]);
    let keys = TrustedKeys::new([signer.public_key()]);
    let a = chain_of("listing:1", 4);
    let cp = signed(&signer, 1, vec![head(&a[3])]);
    let v = verify_stream(&keys, "listing:1", &[cp], &a);
    assert!(v.valid, "{:?}", v.first_invalid);
    assert!(v.covered);
    assert_eq!(v.events_after_checkpoint, 0);
    assert_eq!(v.events_checked, 4);
    let latest = v.latest_checkpoint.unwrap();
    assert!(latest.signature_verified);
    assert_eq!(latest.signed_head.unwrap().seq, 4);
}

#[test]
fn events_after_the_checkpoint_are_counted_and_other_streams_are_ignored() {
    let signer = AuditSigner::from_seed([5; 32]);
    let keys = TrustedKeys::new([signer.public_key()]);
    let a = chain_of("listing:1", 5);
    let b = chain_of("listing:2", 2);
    let cp1 = signed(&signer, 1, vec![head(&a[1]), head(&b[1])]);
    let mut cp2 = signed(&signer, 2, vec![head(&a[2]), head(&b[1])]);
    cp2.heads = vec![head(&a[2])]; // only the moved head is stored
    let v = verify_stream(&keys, "listing:1", &[cp1, cp2], &a);
    assert!(v.valid, "{:?}", v.first_invalid);
    assert!(!v.covered);
    assert_eq!(v.events_after_checkpoint, 2);
    assert_eq!(v.head.unwrap().seq, 5);
}

#[test]
fn an_edited_event_is_named_and_marked_in_the_timeline() {
    let signer = AuditSigner::from_seed([5; 32]);
    let keys = TrustedKeys::new([signer.public_key()]);
    let mut a = chain_of("listing:1", 3);
    let cp = signed(&signer, 1, vec![head(&a[2])]);
    a[1].payload = "{\"n\":99}".into();
    let v = verify_stream(&keys, "listing:1", &[cp], &a);
    assert!(!v.valid);
    let first = v.first_invalid.clone().unwrap();
    assert_eq!((first.stream_seq, first.reason), (2, "hash_mismatch"));
    let t = timeline(&a, &HashMap::new(), &v);
    assert_eq!(
        t.iter().map(|e| e.problem).collect::<Vec<_>>(),
        [None, Some("hash_mismatch"), None]
    );
}

#[test]
fn a_checkpoint_by_an_untrusted_key_is_reported() {
    let signer = AuditSigner::from_seed([5; 32]);
    let other = AuditSigner::from_seed([6; 32]);
    let a = chain_of("listing:1", 2);
    let cp = signed(&signer, 1, vec![head(&a[1])]);
    let v = verify_stream(
        &TrustedKeys::new([other.public_key()]),
        "listing:1",
        &[cp],
        &a,
    );
    assert!(!v.valid);
    let latest = v.latest_checkpoint.unwrap();
    assert!(!latest.signature_verified);
    assert_eq!(latest.signature_problem, Some("unknown_key"));
}

#[test]
fn without_a_checkpoint_every_event_is_after_it() {
    let keys = TrustedKeys::default();
    let a = chain_of("listing:1", 3);
    let v = verify_stream(&keys, "listing:1", &[], &a);
    assert!(v.valid);
    assert!(v.latest_checkpoint.is_none());
    assert!(!v.covered);
    assert_eq!(v.events_after_checkpoint, 3);
}
