//! C2SP signed notes: `tlog-checkpoint` bodies, the log's Ed25519 signature and witness
//! cosignatures (`tlog-cosignature`, `cosignature/v1`).
//!
//! A checkpoint is the text `<origin>\n<tree size>\n<base64 root>\n`, then a blank line, then
//! one line per signature: `— <name> <base64(key hash ‖ signature)>`. The key hash is the first
//! 4 bytes of `SHA-256(name ‖ "\n" ‖ type ‖ public key)`, type `0x01` for the log's Ed25519
//! signature over the body, and `0x04` for a cosignature, whose blob is
//! `key hash ‖ timestamp (8 bytes, big-endian seconds) ‖ Ed25519 signature` over
//! `cosignature/v1\ntime <timestamp>\n` followed by the body.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use sha2::{Digest, Sha256};

use super::tlog::Hash;

const DASH: &str = "\u{2014}";
const ED25519: u8 = 0x01;
const COSIGNATURE: u8 = 0x04;

/// The signed body of a checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    pub origin: String,
    pub size: u64,
    pub root: Hash,
}

impl Checkpoint {
    pub fn body(&self) -> String {
        format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.size,
            STANDARD.encode(self.root)
        )
    }

    fn parse_body(body: &str) -> Result<Self, NoteError> {
        let mut lines = body.split_terminator('\n');
        let origin = lines.next().filter(|o| !o.is_empty());
        let size = lines
            .next()
            .and_then(|s| s.parse::<u64>().ok().filter(|n| n.to_string() == s));
        let root = lines.next().and_then(|r| STANDARD.decode(r).ok());
        match (origin, size, root) {
            (Some(origin), Some(size), Some(root)) if root.len() == 32 => {
                let mut h = [0u8; 32];
                h.copy_from_slice(&root);
                Ok(Self {
                    origin: origin.to_string(),
                    size,
                    root: h,
                })
            }
            _ => Err(NoteError::Malformed),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoteError {
    Malformed,
    /// No signature by the expected key.
    Unsigned,
    BadSignature,
}

impl std::fmt::Display for NoteError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Malformed => "not a checkpoint in the signed-note format",
            Self::Unsigned => "no signature by the expected key",
            Self::BadSignature => "a signature line does not verify",
        })
    }
}

fn key_hash(name: &str, kind: u8, key: &VerifyingKey) -> [u8; 4] {
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update(b"\n");
    h.update([kind]);
    h.update(key.as_bytes());
    let d = h.finalize();
    [d[0], d[1], d[2], d[3]]
}

/// A parsed note: its body text, the checkpoint in it, and its signature lines `(name, blob)`.
#[derive(Debug, Clone)]
pub struct Note {
    pub body: String,
    pub checkpoint: Checkpoint,
    pub signatures: Vec<(String, Vec<u8>)>,
}

impl Note {
    pub fn parse(text: &str) -> Result<Self, NoteError> {
        let (body, sigs) = text.split_once("\n\n").ok_or(NoteError::Malformed)?;
        let body = format!("{body}\n");
        let checkpoint = Checkpoint::parse_body(&body)?;
        let mut signatures = Vec::new();
        for line in sigs.split_terminator('\n') {
            let rest = line
                .strip_prefix(DASH)
                .and_then(|r| r.strip_prefix(' '))
                .ok_or(NoteError::Malformed)?;
            let (name, blob) = rest.rsplit_once(' ').ok_or(NoteError::Malformed)?;
            let blob = STANDARD.decode(blob).map_err(|_| NoteError::Malformed)?;
            if blob.len() < 4 || name.is_empty() {
                return Err(NoteError::Malformed);
            }
            signatures.push((name.to_string(), blob));
        }
        if signatures.is_empty() {
            return Err(NoteError::Unsigned);
        }
        Ok(Self {
            body,
            checkpoint,
            signatures,
        })
    }

    /// Checks the log's signature by `name`/`key`.
    pub fn verify_log(&self, name: &str, key: &VerifyingKey) -> Result<(), NoteError> {
        let kh = key_hash(name, ED25519, key);
        let blob = self
            .signatures
            .iter()
            .find(|(n, b)| n == name && b[..4] == kh)
            .map(|(_, b)| b)
            .ok_or(NoteError::Unsigned)?;
        let sig = Signature::from_slice(&blob[4..]).map_err(|_| NoteError::BadSignature)?;
        key.verify(self.body.as_bytes(), &sig)
            .map_err(|_| NoteError::BadSignature)
    }

    /// Checks a witness's cosignature; returns its timestamp.
    pub fn verify_cosignature(&self, name: &str, key: &VerifyingKey) -> Result<u64, NoteError> {
        let kh = key_hash(name, COSIGNATURE, key);
        let blob = self
            .signatures
            .iter()
            .find(|(n, b)| n == name && b[..4] == kh)
            .map(|(_, b)| b)
            .ok_or(NoteError::Unsigned)?;
        verify_cosignature_blob(&self.body, key, blob)
    }
}

fn verify_cosignature_blob(body: &str, key: &VerifyingKey, blob: &[u8]) -> Result<u64, NoteError> {
    if blob.len() != 4 + 8 + 64 {
        return Err(NoteError::BadSignature);
    }
    let mut ts = [0u8; 8];
    ts.copy_from_slice(&blob[4..12]);
    let time = u64::from_be_bytes(ts);
    let sig = Signature::from_slice(&blob[12..]).map_err(|_| NoteError::BadSignature)?;
    key.verify(cosigned_message(body, time).as_bytes(), &sig)
        .map_err(|_| NoteError::BadSignature)?;
    Ok(time)
}

fn cosigned_message(body: &str, time: u64) -> String {
    format!("cosignature/v1\ntime {time}\n{body}")
}

fn line(name: &str, blob: &[u8]) -> String {
    format!("{DASH} {name} {}\n", STANDARD.encode(blob))
}

/// The log's signature line for a checkpoint body.
pub fn sign_line(name: &str, key: &SigningKey, body: &str) -> String {
    let mut blob = key_hash(name, ED25519, &key.verifying_key()).to_vec();
    blob.extend_from_slice(&key.sign(body.as_bytes()).to_bytes());
    line(name, &blob)
}

/// A witness's cosignature line for a checkpoint body at `time` (seconds since the epoch).
pub fn cosign_line(name: &str, key: &SigningKey, body: &str, time: u64) -> String {
    let mut blob = key_hash(name, COSIGNATURE, &key.verifying_key()).to_vec();
    blob.extend_from_slice(&time.to_be_bytes());
    blob.extend_from_slice(&key.sign(cosigned_message(body, time).as_bytes()).to_bytes());
    line(name, &blob)
}

/// Checks a single cosignature line (as a witness posts it) for `body`; returns the witness
/// name it claims.
pub fn check_cosign_line(
    text: &str,
    body: &str,
    witnesses: &[(String, VerifyingKey)],
) -> Result<String, NoteError> {
    let rest = text
        .trim_end_matches('\n')
        .strip_prefix(DASH)
        .and_then(|r| r.strip_prefix(' '))
        .ok_or(NoteError::Malformed)?;
    let (name, blob) = rest.rsplit_once(' ').ok_or(NoteError::Malformed)?;
    let blob = STANDARD.decode(blob).map_err(|_| NoteError::Malformed)?;
    let (_, key) = witnesses
        .iter()
        .find(|(n, _)| n == name)
        .ok_or(NoteError::Unsigned)?;
    if blob.len() < 4 || blob[..4] != key_hash(name, COSIGNATURE, key) {
        return Err(NoteError::Unsigned);
    }
    verify_cosignature_blob(body, key, &blob)?;
    Ok(name.to_string())
}

/// Parses `name=base64 key` pairs, comma separated (the `audit.witnesses` setting).
pub fn parse_witnesses(text: &str) -> anyhow::Result<Vec<(String, VerifyingKey)>> {
    text.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|pair| {
            let (name, key) = pair
                .split_once('=')
                .ok_or_else(|| anyhow::anyhow!("witness {pair:?} is not name=key"))?;
            let keys = super::checkpoint::TrustedKeys::parse_list(key)?;
            let [key] = keys.as_slice() else {
                anyhow::bail!("witness {name:?} needs exactly one key");
            };
            if name.is_empty() || name.contains(char::is_whitespace) {
                anyhow::bail!("witness name {name:?} must be non-empty with no spaces");
            }
            Ok((name.to_string(), *key))
        })
        .collect()
}

/// The full note: body, blank line, then the signature lines.
pub fn assemble(body: &str, lines: &[String]) -> String {
    let mut out = String::with_capacity(body.len() + 1 + lines.len() * 120);
    out.push_str(body);
    out.push('\n');
    for l in lines {
        out.push_str(l);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cp() -> Checkpoint {
        Checkpoint {
            origin: "exchange.example/audit".into(),
            size: 7,
            root: [9; 32],
        }
    }

    #[test]
    fn a_signed_note_parses_and_verifies_with_the_public_key_only() {
        let key = SigningKey::from_bytes(&[1; 32]);
        let body = cp().body();
        let text = assemble(&body, &[sign_line("exchange.example/audit", &key, &body)]);
        assert!(text.starts_with("exchange.example/audit\n7\nCQkJ"));
        let note = Note::parse(&text).unwrap();
        assert_eq!(note.checkpoint, cp());
        note.verify_log("exchange.example/audit", &key.verifying_key())
            .unwrap();
        let other = SigningKey::from_bytes(&[2; 32]);
        assert_eq!(
            note.verify_log("exchange.example/audit", &other.verifying_key()),
            Err(NoteError::Unsigned)
        );
        let forged = text.replace("\n7\n", "\n8\n");
        assert_eq!(
            Note::parse(&forged)
                .unwrap()
                .verify_log("exchange.example/audit", &key.verifying_key()),
            Err(NoteError::BadSignature)
        );
    }

    #[test]
    fn cosignatures_verify_and_are_bound_to_the_body() {
        let log = SigningKey::from_bytes(&[1; 32]);
        let w = SigningKey::from_bytes(&[3; 32]);
        let body = cp().body();
        let cos = cosign_line("witness-a", &w, &body, 1_700_000_000);
        let witnesses = vec![("witness-a".to_string(), w.verifying_key())];
        assert_eq!(
            check_cosign_line(&cos, &body, &witnesses).unwrap(),
            "witness-a"
        );
        let other_body = Checkpoint { size: 8, ..cp() }.body();
        assert_eq!(
            check_cosign_line(&cos, &other_body, &witnesses),
            Err(NoteError::BadSignature)
        );
        let text = assemble(&body, &[sign_line("o", &log, &body), cos]);
        let note = Note::parse(&text).unwrap();
        assert_eq!(
            note.verify_cosignature("witness-a", &w.verifying_key()),
            Ok(1_700_000_000)
        );
    }

    #[test]
    fn malformed_notes_are_refused() {
        for text in [
            "",
            "a\n1\n",
            "a\n01\nAAAA\n\n— x AAAAAA==\n",
            "a\n1\nAAAA\n\n",
        ] {
            assert!(Note::parse(text).is_err(), "{text:?}");
        }
    }
}
