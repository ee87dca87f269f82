//! `audit prove`: inclusion and consistency proofs from the database, checked by the same
//! verifier a client runs; `audit verify --checkpoint FILE`: the log still extends a
//! checkpoint saved earlier.

use anyhow::Context;
use serde_json::json;

use crate::audit::checkpoint::TrustedKeys;
use crate::audit::note::Note;
use crate::audit::{log, logcheck, tlog};
use crate::store::Db;

/// What to prove.
#[derive(Debug, Clone, Copy)]
pub enum Prove {
    /// An event's inclusion in the tree of `size` (default: the newest checkpoint's).
    Event { id: i64, size: Option<u64> },
    /// The tree of `to` extends the tree of `from`.
    Consistency { from: u64, to: u64 },
}

fn err(e: crate::error::AppError) -> anyhow::Error {
    anyhow::anyhow!("{}", super::describe(&e))
}

/// Prints the proof as JSON and checks it against the roots stored in the log; exits with
/// status 1 if it does not verify.
pub fn prove(db: &Db, what: Prove) -> anyhow::Result<()> {
    let (out, ok) = db
        .run_blocking(|c| -> Result<_, crate::error::AppError> {
            match what {
                Prove::Event { id, size } => {
                    let size = match size {
                        Some(n) => n,
                        None => log::served_checkpoint(c, None)?.map_or(log::size(c)?, |cp| cp.size),
                    };
                    let Some(p) = log::inclusion(c, id, size)? else {
                        return Ok((json!({"error": "the event is not in a tree of that size"}), false));
                    };
                    let root = log::root_at(c, size)?;
                    let ok = tlog::verify_inclusion(&p.leaf_hash, p.leaf_index, size, &p.hashes, &root);
                    Ok((
                        json!({
                            "leaf_index": p.leaf_index, "tree_size": size,
                            "leaf_hash": hex::encode(p.leaf_hash), "root": hex::encode(root),
                            "hashes": p.hashes.iter().map(hex::encode).collect::<Vec<_>>(),
                            "verified": ok,
                        }),
                        ok,
                    ))
                }
                Prove::Consistency { from, to } => {
                    let hashes = log::consistency(c, from, to)?;
                    let (old, new) = (log::root_at(c, from)?, log::root_at(c, to)?);
                    let ok = tlog::verify_consistency(from, to, &old, &new, &hashes);
                    Ok((
                        json!({
                            "from": from, "to": to, "from_root": hex::encode(old), "to_root": hex::encode(new),
                            "hashes": hashes.iter().map(hex::encode).collect::<Vec<_>>(),
                            "verified": ok,
                        }),
                        ok,
                    ))
                }
            }
        })
        .map_err(err)?;
    println!("{}", serde_json::to_string_pretty(&out)?);
    if !ok {
        std::process::exit(1);
    }
    Ok(())
}

/// Reads and checks a saved checkpoint: signed-note format, signed by a trusted key.
pub fn saved_checkpoint(path: &std::path::Path, keys: &TrustedKeys) -> anyhow::Result<Note> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let note = Note::parse(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    anyhow::ensure!(
        logcheck::signed_by_trusted(&note, keys),
        "{}: not signed by a trusted audit key",
        path.display()
    );
    Ok(note)
}
