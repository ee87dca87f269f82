//! Preview links for listings the public may not see yet. A mail about a listing under
//! review (submitted, returned, or terminated before disclosure) goes to its owner or to the
//! exchange's operators; its link carries `?preview=TOKEN` so that the recipient can open the
//! listing's page as the public will see it once approved. The token is an HMAC-SHA256 of the
//! listing id and round under a key derived from the JWT secret (a key of its own: it never
//! verifies an access token, nor the other way round); a new round (relisting) needs a new
//! link. The page shows only what the public page shows, marked as a preview.

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

/// Signs and checks preview tokens.
#[derive(Clone)]
pub struct PreviewKey {
    key: [u8; 32],
}

impl std::fmt::Debug for PreviewKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PreviewKey(..)")
    }
}

impl PreviewKey {
    /// Derives the preview key from the service's JWT secret.
    pub fn derive(secret: &[u8]) -> Self {
        let mut h = Sha256::new();
        h.update(b"asset-exchange/listing-preview/v1\0");
        h.update(secret);
        Self {
            key: h.finalize().into(),
        }
    }

    /// The MAC over one listing's round (HMAC takes keys of any length: never `None`).
    fn mac(&self, listing_id: i64, round: i32) -> Option<Hmac<Sha256>> {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.key).ok()?;
        mac.update(format!("listing-preview\n{listing_id}\n{round}\n").as_bytes());
        Some(mac)
    }

    /// The token for one listing's round (hex, 32 characters: 128 bits of the MAC).
    pub fn token(&self, listing_id: i64, round: i32) -> String {
        self.mac(listing_id, round)
            .map(|m| hex::encode(&m.finalize().into_bytes()[..16]))
            .unwrap_or_default()
    }

    /// Whether `token` was made for this listing's round (compared in constant time).
    pub fn verify(&self, listing_id: i64, round: i32, token: &str) -> bool {
        let Ok(bytes) = hex::decode(token.trim()) else {
            return false;
        };
        bytes.len() == 16
            && self
                .mac(listing_id, round)
                .is_some_and(|m| m.verify_truncated_left(&bytes).is_ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_opens_only_its_own_listing_and_round() {
        let key = PreviewKey::derive(b"secret");
        let t = key.token(7, 1);
        assert_eq!(t.len(), 32);
        assert!(key.verify(7, 1, &t));
        assert!(!key.verify(8, 1, &t));
        assert!(!key.verify(7, 2, &t));
        assert!(!PreviewKey::derive(b"other").verify(7, 1, &t));
        assert!(!key.verify(7, 1, "zz"));
        assert!(!key.verify(7, 1, &t[..30]));
        assert!(!key.verify(7, 1, ""));
    }
}
