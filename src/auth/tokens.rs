//! Access tokens (short-lived HS256 JWTs with a `kid`, algorithm pinned on decode) and
//! opaque refresh tokens (random, stored only as SHA-256 hashes).

use anyhow::Context;
use chrono::{DateTime, Utc};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::config::AuthSettings;
use crate::domain::Role;

/// Claims of an access token.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    pub iss: String,
    pub aud: String,
    /// The user id, as a string (RFC 7519 `sub`).
    pub sub: String,
    pub role: Role,
    /// The login (session) this token belongs to; revoking it ends the token early.
    pub sid: i64,
    pub exp: i64,
    pub iat: i64,
    pub jti: String,
}

/// Why an access token was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenError {
    Expired,
    Invalid,
}

struct VerifyKey {
    kid: String,
    key: DecodingKey,
}

/// Signs and checks access tokens.
pub struct JwtKeys {
    kid: String,
    signing: EncodingKey,
    verifying: Vec<VerifyKey>,
    validation: Validation,
    issuer: String,
    audience: String,
    ttl_seconds: i64,
    leeway_seconds: i64,
}

impl JwtKeys {
    /// Builds the keys from settings; `secret` is the effective current secret (the
    /// configured one, or the development key made at start-up).
    pub fn new(settings: &AuthSettings, secret: &[u8]) -> anyhow::Result<Self> {
        anyhow::ensure!(!secret.is_empty(), "empty JWT secret");
        let mut verifying = vec![VerifyKey {
            kid: settings.jwt_key_id.clone(),
            key: DecodingKey::from_secret(secret),
        }];
        let previous = settings.jwt_previous_secret.expose_secret();
        if !settings.jwt_previous_key_id.is_empty() && !previous.is_empty() {
            verifying.push(VerifyKey {
                kid: settings.jwt_previous_key_id.clone(),
                key: DecodingKey::from_secret(previous.as_bytes()),
            });
        }
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = settings.leeway_seconds;
        validation.set_issuer(&[&settings.jwt_issuer]);
        validation.set_audience(&[&settings.jwt_audience]);
        validation.set_required_spec_claims(&["exp", "iat", "iss", "aud", "sub"]);
        // Expiry is checked against the exchange's clock below (it may be the sandbox clock):
        // jsonwebtoken's own check would read the system time.
        validation.validate_exp = false;
        Ok(Self {
            kid: settings.jwt_key_id.clone(),
            signing: EncodingKey::from_secret(secret),
            verifying,
            validation,
            issuer: settings.jwt_issuer.clone(),
            audience: settings.jwt_audience.clone(),
            ttl_seconds: i64::try_from(settings.access_token_ttl_seconds)
                .context("access token lifetime too large")?,
            leeway_seconds: i64::try_from(settings.leeway_seconds).unwrap_or(5),
        })
    }

    pub fn ttl_seconds(&self) -> i64 {
        self.ttl_seconds
    }

    /// Issues an access token for a user's login.
    pub fn issue(
        &self,
        user_id: i64,
        role: Role,
        session_id: i64,
        now: DateTime<Utc>,
    ) -> anyhow::Result<String> {
        let iat = now.timestamp();
        let claims = Claims {
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            sub: user_id.to_string(),
            role,
            sid: session_id,
            exp: iat + self.ttl_seconds,
            iat,
            jti: crate::random::token(),
        };
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, &claims, &self.signing).context("cannot sign access token")
    }

    /// Checks signature (with the key named by `kid`), algorithm, issuer, audience and times.
    pub fn verify(&self, token: &str, now: DateTime<Utc>) -> Result<Claims, TokenError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| TokenError::Invalid)?;
        if header.alg != Algorithm::HS256 {
            return Err(TokenError::Invalid);
        }
        let kid = header.kid.ok_or(TokenError::Invalid)?;
        let key = self
            .verifying
            .iter()
            .find(|k| k.kid == kid)
            .ok_or(TokenError::Invalid)?;
        let data = jsonwebtoken::decode::<Claims>(token, &key.key, &self.validation).map_err(
            |e| match e.kind() {
                jsonwebtoken::errors::ErrorKind::ExpiredSignature => TokenError::Expired,
                _ => TokenError::Invalid,
            },
        )?;
        if data.claims.iat > now.timestamp() + self.leeway_seconds {
            return Err(TokenError::Invalid);
        }
        if now.timestamp() > data.claims.exp.saturating_add(self.leeway_seconds) {
            return Err(TokenError::Expired);
        }
        Ok(data.claims)
    }
}

/// The stored form of an opaque token: hex SHA-256.
pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{AppEnv, Settings};
    use chrono::Duration;

    fn settings() -> AuthSettings {
        let dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("config");
        Settings::load_from(&dir, AppEnv::Test, vec![])
            .unwrap()
            .auth
    }

    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef-test";

    #[test]
    fn issued_token_verifies_and_carries_its_claims() {
        let keys = JwtKeys::new(&settings(), SECRET).unwrap();
        let now = Utc::now();
        let token = keys.issue(42, Role::Bidder, 7, now).unwrap();
        let claims = keys.verify(&token, now).unwrap();
        assert_eq!(claims.sub, "42");
        assert_eq!(claims.role, Role::Bidder);
        assert_eq!(claims.sid, 7);
        assert_eq!(claims.exp - claims.iat, 900);
        let header = jsonwebtoken::decode_header(&token).unwrap();
        assert_eq!(header.kid.as_deref(), Some("k1"));
    }

    #[test]
    fn token_from_another_key_is_invalid() {
        let keys = JwtKeys::new(&settings(), SECRET).unwrap();
        let other = JwtKeys::new(&settings(), b"another-secret-another-secret-0000").unwrap();
        let token = other.issue(1, Role::Admin, 1, Utc::now()).unwrap();
        assert_eq!(
            keys.verify(&token, Utc::now()).unwrap_err(),
            TokenError::Invalid
        );
    }

    #[test]
    fn expired_token_is_reported_as_expired() {
        let keys = JwtKeys::new(&settings(), SECRET).unwrap();
        let token = keys
            .issue(1, Role::Bidder, 1, Utc::now() - Duration::hours(1))
            .unwrap();
        assert_eq!(
            keys.verify(&token, Utc::now()).unwrap_err(),
            TokenError::Expired
        );
    }

    #[test]
    fn expiry_follows_the_exchange_clock_not_the_system_time() {
        let keys = JwtKeys::new(&settings(), SECRET).unwrap();
        // Issued and checked a day in the future (a sandbox clock moved forward).
        let later = Utc::now() + Duration::days(1);
        let token = keys.issue(1, Role::Admin, 1, later).unwrap();
        assert!(keys.verify(&token, later + Duration::seconds(900)).is_ok());
        assert_eq!(
            keys.verify(&token, later + Duration::seconds(906))
                .unwrap_err(),
            TokenError::Expired
        );
        // Issued now, checked once the exchange's clock moved past its lifetime.
        let now = Utc::now();
        let token = keys.issue(1, Role::Admin, 1, now).unwrap();
        assert_eq!(
            keys.verify(&token, now + Duration::hours(2)).unwrap_err(),
            TokenError::Expired
        );
    }

    #[test]
    fn token_of_the_previous_key_still_verifies_during_rotation() {
        let old = JwtKeys::new(&settings(), SECRET).unwrap();
        let token = old.issue(5, Role::Enterprise, 3, Utc::now()).unwrap();
        let mut rotated = settings();
        rotated.jwt_previous_key_id = "k1".into();
        rotated.jwt_previous_secret = String::from_utf8(SECRET.to_vec()).unwrap().into();
        rotated.jwt_key_id = "k2".into();
        let new = JwtKeys::new(&rotated, b"the-new-secret-the-new-secret-00000").unwrap();
        assert_eq!(new.verify(&token, Utc::now()).unwrap().sub, "5");
    }

    #[test]
    fn refresh_tokens_are_random_and_hashed() {
        let a = crate::random::token();
        assert_ne!(a, crate::random::token());
        assert_eq!(a.len(), 43);
        assert_eq!(hash_token(&a).len(), 64);
        assert_ne!(hash_token(&a), a);
    }
}
