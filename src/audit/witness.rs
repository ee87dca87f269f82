//! A witness (C2SP `tlog-witness`, simplified to polling): it remembers the last checkpoint of
//! a log it cosigned, and cosigns a new one only if the log's key signed it and a consistency
//! proof shows the new tree extends the remembered one. A smaller tree (rollback) or another
//! root at the same size or an inconsistent larger tree (fork) is refused, and the witness
//! keeps its state so the refusal repeats until an operator looks.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::{SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};

use super::note::{self, Note};
use super::tlog::{self, Hash};

/// What a witness keeps on disk between polls.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct State {
    pub origin: String,
    /// The log's public key (base64), pinned at the first poll.
    pub log_key: String,
    pub size: u64,
    /// Base64 root of the last checkpoint cosigned.
    pub root: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The checkpoint is malformed or not signed by the pinned key.
    BadCheckpoint(String),
    /// Another log (origin) than the one pinned.
    WrongLog { pinned: String, got: String },
    /// The tree is smaller than the last one cosigned.
    Rollback { seen: u64, now: u64 },
    /// Same size, other root; or a larger tree that does not extend the one seen.
    Fork { seen: u64, now: u64 },
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::BadCheckpoint(why) => write!(f, "bad checkpoint: {why}"),
            Self::WrongLog { pinned, got } => {
                write!(f, "checkpoint of another log: {got:?} (pinned {pinned:?})")
            }
            Self::Rollback { seen, now } => write!(
                f,
                "ROLLBACK: the log now has {now} entries but this witness already cosigned {seen}"
            ),
            Self::Fork { seen, now } => write!(
                f,
                "FORK: the tree of {now} entries does not extend the tree of {seen} this witness cosigned"
            ),
        }
    }
}

impl std::error::Error for Refusal {}

/// The outcome of one accepted poll: the new state and the cosignature line to post.
#[derive(Debug, Clone)]
pub struct Accepted {
    pub state: State,
    pub size: u64,
    pub cosignature: String,
}

/// The sizes a consistency proof is needed between, if any (`None`: no proof needed).
pub fn proof_needed(state: Option<&State>, note_text: &str) -> Option<(u64, u64)> {
    let note = Note::parse(note_text).ok()?;
    let seen = state?;
    (seen.size > 0 && note.checkpoint.size > seen.size).then_some((seen.size, note.checkpoint.size))
}

/// Checks a polled checkpoint against the remembered state and, if it holds, cosigns it.
/// `proof` is the consistency proof from the remembered size to the new one (as asked by
/// [`proof_needed`]).
pub fn observe(
    state: Option<&State>,
    log_key: &VerifyingKey,
    note_text: &str,
    proof: &[Hash],
    name: &str,
    key: &SigningKey,
    now_unix: u64,
) -> Result<Accepted, Refusal> {
    let note = Note::parse(note_text).map_err(|e| Refusal::BadCheckpoint(e.to_string()))?;
    let cp = &note.checkpoint;
    if let Some(seen) = state {
        if seen.origin != cp.origin {
            return Err(Refusal::WrongLog {
                pinned: seen.origin.clone(),
                got: cp.origin.clone(),
            });
        }
        if seen.log_key != STANDARD.encode(log_key.as_bytes()) {
            return Err(Refusal::BadCheckpoint("the log key changed".into()));
        }
    }
    note.verify_log(&cp.origin, log_key)
        .map_err(|e| Refusal::BadCheckpoint(e.to_string()))?;
    if let Some(seen) = state {
        let old_root: Hash = STANDARD
            .decode(&seen.root)
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| Refusal::BadCheckpoint("the witness state is damaged".into()))?;
        let fork = Refusal::Fork {
            seen: seen.size,
            now: cp.size,
        };
        if cp.size < seen.size {
            return Err(Refusal::Rollback {
                seen: seen.size,
                now: cp.size,
            });
        }
        if cp.size == seen.size && cp.root != old_root {
            return Err(fork);
        }
        if cp.size > seen.size
            && seen.size > 0
            && !tlog::verify_consistency(seen.size, cp.size, &old_root, &cp.root, proof)
        {
            return Err(fork);
        }
    }
    Ok(Accepted {
        state: State {
            origin: cp.origin.clone(),
            log_key: STANDARD.encode(log_key.as_bytes()),
            size: cp.size,
            root: STANDARD.encode(cp.root),
        },
        size: cp.size,
        cosignature: note::cosign_line(name, key, &note.body, now_unix),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::note::{Checkpoint, assemble, sign_line};
    use std::collections::HashMap;

    fn log_of(n: u64, salt: u8) -> (HashMap<(u32, u64), Hash>, tlog::Frontier) {
        let mut f = tlog::Frontier::default();
        let mut nodes = HashMap::new();
        for i in 0..n {
            let mut data = i.to_be_bytes().to_vec();
            if i >= 3 {
                data.push(salt);
            }
            for m in f.append(tlog::leaf_hash(&data)) {
                nodes.insert((m.level, m.index), m.hash);
            }
        }
        (nodes, f)
    }

    fn signed(log: &SigningKey, f: &tlog::Frontier) -> String {
        let body = Checkpoint {
            origin: "o".into(),
            size: f.size,
            root: f.root(),
        }
        .body();
        assemble(&body, &[sign_line("o", log, &body)])
    }

    #[test]
    fn extends_are_cosigned_rollbacks_and_forks_refused() {
        let log = SigningKey::from_bytes(&[1; 32]);
        let w = SigningKey::from_bytes(&[2; 32]);
        let (_, f5) = log_of(5, 0);
        let first = observe(
            None,
            &log.verifying_key(),
            &signed(&log, &f5),
            &[],
            "w",
            &w,
            1,
        )
        .unwrap();
        let (mut nodes9, f9) = log_of(9, 0);
        let note9 = signed(&log, &f9);
        assert_eq!(proof_needed(Some(&first.state), &note9), Some((5, 9)));
        let proof = tlog::consistency_proof(&mut nodes9, 5, 9).unwrap();
        let second = observe(
            Some(&first.state),
            &log.verifying_key(),
            &note9,
            &proof,
            "w",
            &w,
            2,
        )
        .unwrap();
        assert_eq!(second.size, 9);
        // Rolled back to 5 entries again.
        assert_eq!(
            observe(
                Some(&second.state),
                &log.verifying_key(),
                &signed(&log, &f5),
                &[],
                "w",
                &w,
                3
            )
            .unwrap_err(),
            Refusal::Rollback { seen: 9, now: 5 }
        );
        // Rewritten from entry 3 on, then grown: no consistency proof can hold.
        let (mut forked, f12) = log_of(12, 7);
        let proof = tlog::consistency_proof(&mut forked, 9, 12).unwrap();
        assert_eq!(
            observe(
                Some(&second.state),
                &log.verifying_key(),
                &signed(&log, &f12),
                &proof,
                "w",
                &w,
                4
            )
            .unwrap_err(),
            Refusal::Fork { seen: 9, now: 12 }
        );
        // A note signed by another key is refused outright.
        let other = SigningKey::from_bytes(&[9; 32]);
        assert!(matches!(
            observe(
                None,
                &log.verifying_key(),
                &signed(&other, &f5),
                &[],
                "w",
                &w,
                1
            ),
            Err(Refusal::BadCheckpoint(_))
        ));
    }
}
