//! Bid receipts: the exchange's signed promise that an accepted bid is in the log. The
//! signature is Ed25519 (the checkpoint key of `/audit/public-key`) over
//! `asset-exchange/bid-receipt/v1\n<listing_id>\n<seq>\n<amount>\n<bidder_code>\n<placed_at>\n<leaf_hash>\n`
//! with the amount as the trail writes it (yuan, two decimals), `placed_at` in RFC 3339 with
//! six fractional digits and `Z`, and the leaf hash in hex (`tlog::leaf_hash` of the bid
//! event's hash). A bidder checks it with the public key alone, and later fetches the
//! inclusion proof of `event_id` to check the promise against a public checkpoint.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, Utc};
use ed25519_dalek::{Signature, Verifier, VerifyingKey};
use serde::Serialize;

use super::checkpoint::AuditSigner;
use super::tlog;
use crate::error::AppError;
use crate::store::Conn;
use crate::store::models::to_db;

/// The receipt in a bid's 201 answer.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Receipt {
    /// The audit event of the bid (`GET /api/v1/audit/events/{id}/proof`).
    pub event_id: i64,
    /// Its leaf hash in the log, hex.
    pub leaf_hash: String,
    pub signed_at: DateTime<Utc>,
    /// Base64 Ed25519 signature over the message described in the module docs.
    pub signature: String,
}

/// What a receipt says about the bid.
pub struct BidFacts<'a> {
    pub listing_id: i64,
    pub seq: i64,
    /// As the trail writes it, e.g. `1200000.00`.
    pub amount: &'a str,
    pub bidder_code: &'a str,
    pub placed_at: DateTime<Utc>,
}

/// The signed message.
pub fn message(bid: &BidFacts, leaf_hash: &str) -> String {
    format!(
        "asset-exchange/bid-receipt/v1\n{}\n{}\n{}\n{}\n{}\n{}\n",
        bid.listing_id,
        bid.seq,
        bid.amount,
        bid.bidder_code,
        super::chain::format_time(bid.placed_at),
        leaf_hash
    )
}

/// Whether `receipt` is the exchange's signature (by `key`) over `bid`.
pub fn verify(key: &VerifyingKey, bid: &BidFacts, leaf_hash: &str, signature: &str) -> bool {
    let Ok(bytes) = STANDARD.decode(signature) else {
        return false;
    };
    let Ok(sig) = Signature::from_slice(&bytes) else {
        return false;
    };
    key.verify(message(bid, leaf_hash).as_bytes(), &sig).is_ok()
}

/// Finds the bid's audit event and signs its receipt (`None` if the trail has no such bid
/// event, which verification would also report).
pub fn for_bid(
    conn: &mut Conn,
    signer: &AuditSigner,
    bid: &BidFacts,
    now: DateTime<Utc>,
) -> Result<Option<Receipt>, AppError> {
    let stream = format!("listing:{}", bid.listing_id);
    let candidates =
        crate::store::audit_log::events_at(conn, &stream, "bid.placed", to_db(bid.placed_at))?;
    let found = candidates.into_iter().find(|(_, payload, _)| {
        serde_json::from_str::<serde_json::Value>(payload)
            .is_ok_and(|p| p["seq"].as_i64() == Some(bid.seq) && p["amount"] == bid.amount)
    });
    let Some((event_id, _, hash)) = found else {
        return Ok(None);
    };
    sign(signer, bid, event_id, &hash, now).map(Some)
}

/// Signs the receipt of a bid whose event `event_id` has chain hash `event_hash` (hex).
pub fn sign(
    signer: &AuditSigner,
    bid: &BidFacts,
    event_id: i64,
    event_hash: &str,
    now: DateTime<Utc>,
) -> Result<Receipt, AppError> {
    let leaf = tlog::leaf_hash_hex(event_hash)
        .map(hex::encode)
        .ok_or_else(|| AppError::internal(anyhow::anyhow!("event hash not hex")))?;
    Ok(Receipt {
        event_id,
        signature: signer.sign(message(bid, &leaf).as_bytes()),
        leaf_hash: leaf,
        signed_at: super::chain::truncate(now),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn a_receipt_verifies_with_the_public_key_and_binds_every_fact() {
        let signer = AuditSigner::from_seed([5; 32]);
        let bid = BidFacts {
            listing_id: 3,
            seq: 2,
            amount: "1200000.00",
            bidder_code: "B-7",
            placed_at: Utc.with_ymd_and_hms(2026, 12, 4, 2, 0, 0).unwrap(),
        };
        let leaf = "ab".repeat(32);
        let sig = signer.sign(message(&bid, &leaf).as_bytes());
        assert!(verify(&signer.public_key(), &bid, &leaf, &sig));
        let higher = BidFacts {
            amount: "1300000.00",
            ..bid
        };
        assert!(!verify(&signer.public_key(), &higher, &leaf, &sig));
        assert!(!verify(&signer.public_key(), &bid, &"cd".repeat(32), &sig));
        assert!(message(&bid, &leaf).starts_with(
            "asset-exchange/bid-receipt/v1\n3\n2\n1200000.00\nB-7\n2026-12-04T02:00:00.000000Z\n"
        ));
    }
}
