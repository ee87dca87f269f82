//! Signed checkpoints: an Ed25519 signature over (id, time, counts, Merkle root of every
//! stream head). The signed message, version 1, is the tag `AXCKPT1` followed by the
//! length-prefixed fields id, created_at (RFC 3339, 6 fractional digits), streams, events,
//! root (hex) and key_id. The key id is the first 16 hex digits of SHA-256 of the public key.

use std::collections::HashMap;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, Utc};
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier as _, VerifyingKey};
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::chain::format_time;
use super::merkle::Head;

/// A checkpoint as stored and exported; `heads` are those that moved since the previous one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckpointRecord {
    pub id: i64,
    pub created_at: DateTime<Utc>,
    pub streams: i64,
    pub events: i64,
    pub root: String,
    pub heads: Vec<Head>,
    pub key_id: String,
    pub signature: String,
}

/// The checkpoint as the API shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CheckpointView {
    pub id: i64,
    pub created_at: DateTime<Utc>,
    pub streams: i64,
    pub events: i64,
    pub root: String,
    pub signature: String,
    pub key_id: String,
}

impl From<&CheckpointRecord> for CheckpointView {
    fn from(c: &CheckpointRecord) -> Self {
        Self {
            id: c.id,
            created_at: c.created_at,
            streams: c.streams,
            events: c.events,
            root: c.root.clone(),
            signature: c.signature.clone(),
            key_id: c.key_id.clone(),
        }
    }
}

fn put(buf: &mut Vec<u8>, s: &str) {
    let len = u32::try_from(s.len()).unwrap_or(u32::MAX);
    buf.extend_from_slice(&len.to_be_bytes());
    buf.extend_from_slice(s.as_bytes());
}

/// The exact bytes that are signed.
pub fn signed_message(
    id: i64,
    created_at: DateTime<Utc>,
    streams: i64,
    events: i64,
    root: &str,
    key_id: &str,
) -> Vec<u8> {
    let mut buf = b"AXCKPT1".to_vec();
    put(&mut buf, &id.to_string());
    put(&mut buf, &format_time(created_at));
    put(&mut buf, &streams.to_string());
    put(&mut buf, &events.to_string());
    put(&mut buf, root);
    put(&mut buf, key_id);
    buf
}

pub fn key_id_of(key: &VerifyingKey) -> String {
    hex::encode(&Sha256::digest(key.as_bytes())[..8])
}

/// The log origin used when none is configured.
pub const DEFAULT_ORIGIN: &str = "asset-exchange.example/audit-log";

/// The signing key of this instance.
pub struct AuditSigner {
    key: SigningKey,
    key_id: String,
    /// The origin of the transparency log's checkpoints, also the name of its signature line.
    origin: String,
}

impl AuditSigner {
    /// From a 32-byte seed, given as base64 (or hex).
    pub fn from_seed_text(text: &str) -> anyhow::Result<Self> {
        let text = text.trim();
        let bytes = STANDARD
            .decode(text)
            .or_else(|_| hex::decode(text))
            .map_err(|_| {
                anyhow::anyhow!("the audit signing key must be 32 bytes in base64 or hex")
            })?;
        let seed: [u8; 32] = bytes
            .try_into()
            .map_err(|_| anyhow::anyhow!("the audit signing key must be exactly 32 bytes"))?;
        Ok(Self::from_seed(seed))
    }

    pub fn from_seed(seed: [u8; 32]) -> Self {
        let key = SigningKey::from_bytes(&seed);
        let key_id = key_id_of(&key.verifying_key());
        Self {
            key,
            key_id,
            origin: DEFAULT_ORIGIN.to_string(),
        }
    }

    /// The same key, naming the log `origin`.
    pub fn with_origin(mut self, origin: &str) -> Self {
        self.origin = origin.to_string();
        self
    }

    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The log's signature line over a signed-note body (`audit::note`).
    pub fn note_line(&self, body: &str) -> String {
        super::note::sign_line(&self.origin, &self.key, body)
    }

    /// A fresh random key, as base64 seed text.
    pub fn generate_seed_text() -> String {
        let mut seed = [0u8; 32];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut seed);
        STANDARD.encode(seed)
    }

    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    pub fn public_key(&self) -> VerifyingKey {
        self.key.verifying_key()
    }

    pub fn public_key_base64(&self) -> String {
        STANDARD.encode(self.public_key().as_bytes())
    }

    pub fn sign(&self, message: &[u8]) -> String {
        STANDARD.encode(self.key.sign(message).to_bytes())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignatureError {
    UnknownKey,
    Bad,
}

/// Public keys trusted to have signed checkpoints, by key id.
#[derive(Debug, Clone, Default)]
pub struct TrustedKeys(HashMap<String, VerifyingKey>);

impl TrustedKeys {
    pub fn new(keys: impl IntoIterator<Item = VerifyingKey>) -> Self {
        Self(keys.into_iter().map(|k| (key_id_of(&k), k)).collect())
    }

    /// Parses base64 public keys (comma or whitespace separated).
    pub fn parse_list(text: &str) -> anyhow::Result<Vec<VerifyingKey>> {
        text.split(|c: char| c == ',' || c.is_whitespace())
            .filter(|s| !s.is_empty())
            .map(|s| {
                let bytes = STANDARD
                    .decode(s)
                    .map_err(|_| anyhow::anyhow!("public key {s:?} is not base64"))?;
                let arr: [u8; 32] = bytes
                    .try_into()
                    .map_err(|_| anyhow::anyhow!("public key {s:?} is not 32 bytes"))?;
                VerifyingKey::from_bytes(&arr).map_err(|e| anyhow::anyhow!("public key {s:?}: {e}"))
            })
            .collect()
    }

    pub fn get(&self, key_id: &str) -> Option<&VerifyingKey> {
        self.0.get(key_id)
    }

    /// Every trusted key.
    pub fn all(&self) -> impl Iterator<Item = &VerifyingKey> {
        self.0.values()
    }

    pub fn verify(&self, cp: &CheckpointRecord) -> Result<(), SignatureError> {
        let key = self.get(&cp.key_id).ok_or(SignatureError::UnknownKey)?;
        let bytes = STANDARD
            .decode(&cp.signature)
            .map_err(|_| SignatureError::Bad)?;
        let sig = Signature::from_slice(&bytes).map_err(|_| SignatureError::Bad)?;
        let msg = signed_message(
            cp.id,
            cp.created_at,
            cp.streams,
            cp.events,
            &cp.root,
            &cp.key_id,
        );
        key.verify(&msg, &sig).map_err(|_| SignatureError::Bad)
    }
}

/// Heads as stored in a checkpoint: canonical JSON `[[stream, seq, hash], ...]`.
pub fn heads_to_json(heads: &[Head]) -> String {
    let rows: Vec<serde_json::Value> = heads
        .iter()
        .map(|h| serde_json::json!([h.stream, h.seq, h.hash]))
        .collect();
    serde_json::Value::Array(rows).to_string()
}

pub fn heads_from_json(text: &str) -> anyhow::Result<Vec<Head>> {
    let rows: Vec<(String, i64, String)> = serde_json::from_str(text)?;
    Ok(rows
        .into_iter()
        .map(|(stream, seq, hash)| Head { stream, seq, hash })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn record(signer: &AuditSigner) -> CheckpointRecord {
        let created_at = Utc.with_ymd_and_hms(2026, 11, 27, 8, 0, 0).unwrap();
        let root = "ab".repeat(32);
        let msg = signed_message(1, created_at, 2, 5, &root, signer.key_id());
        CheckpointRecord {
            id: 1,
            created_at,
            streams: 2,
            events: 5,
            root,
            heads: vec![],
            key_id: signer.key_id().into(),
            signature: signer.sign(&msg),
        }
    }

    #[test]
    fn a_signed_checkpoint_verifies_with_its_public_key_only() {
        let signer = AuditSigner::from_seed([7; 32]);
        let cp = record(&signer);
        assert!(TrustedKeys::new([signer.public_key()]).verify(&cp).is_ok());
        let other = AuditSigner::from_seed([8; 32]);
        assert_eq!(
            TrustedKeys::new([other.public_key()]).verify(&cp),
            Err(SignatureError::UnknownKey)
        );
    }

    #[test]
    fn any_signed_field_change_breaks_the_signature() {
        let signer = AuditSigner::from_seed([7; 32]);
        let keys = TrustedKeys::new([signer.public_key()]);
        let base = record(&signer);
        let mut variants = vec![
            base.clone(),
            base.clone(),
            base.clone(),
            base.clone(),
            base.clone(),
        ];
        variants[0].id = 2;
        variants[1].created_at += chrono::Duration::microseconds(1);
        variants[2].streams = 3;
        variants[3].events = 6;
        variants[4].root = "cd".repeat(32);
        for v in variants {
            assert_eq!(keys.verify(&v), Err(SignatureError::Bad));
        }
    }

    #[test]
    fn seed_text_round_trips_and_key_ids_are_stable() {
        let text = AuditSigner::generate_seed_text();
        let a = AuditSigner::from_seed_text(&text).unwrap();
        let b = AuditSigner::from_seed_text(&text).unwrap();
        assert_eq!(a.key_id(), b.key_id());
        assert_eq!(a.key_id().len(), 16);
        let parsed = TrustedKeys::parse_list(&a.public_key_base64()).unwrap();
        assert_eq!(parsed[0], a.public_key());
        assert!(AuditSigner::from_seed_text("too short").is_err());
    }

    #[test]
    fn heads_json_round_trips() {
        let heads = vec![Head {
            stream: "user:1".into(),
            seq: 3,
            hash: "ff".into(),
        }];
        let text = heads_to_json(&heads);
        assert_eq!(text, r#"[["user:1",3,"ff"]]"#);
        assert_eq!(heads_from_json(&text).unwrap(), heads);
    }
}
