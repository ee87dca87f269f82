//! Argon2id password hashing. Hashing is slow on purpose: call it on the blocking pool.

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

use crate::config::AuthSettings;

/// Hashes and verifies passwords with the configured Argon2id cost.
pub struct PasswordHasher {
    params: Params,
    /// A hash of a random password, verified against when the account does not exist so a
    /// login for an unknown e-mail takes as long as one for a known one.
    dummy_hash: String,
}

impl PasswordHasher {
    pub fn new(settings: &AuthSettings) -> anyhow::Result<Self> {
        let params = Params::new(
            settings.argon2_memory_kib,
            settings.argon2_iterations,
            settings.argon2_parallelism,
            None,
        )
        .map_err(|e| anyhow::anyhow!("invalid argon2 parameters: {e}"))?;
        let mut hasher = Self {
            params,
            dummy_hash: String::new(),
        };
        let random = crate::random::token();
        hasher.dummy_hash = hasher.hash(&random)?;
        Ok(hasher)
    }

    fn argon2(&self) -> Argon2<'static> {
        Argon2::new(Algorithm::Argon2id, Version::V0x13, self.params.clone())
    }

    /// Hashes a password into a PHC string (algorithm, parameters and salt included).
    pub fn hash(&self, password: &str) -> anyhow::Result<String> {
        let salt = SaltString::generate(&mut OsRng);
        self.argon2()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| anyhow::anyhow!("password hashing failed: {e}"))
    }

    /// Checks a password against a stored hash; a malformed hash never matches.
    pub fn verify(&self, password: &str, hash: &str) -> bool {
        match PasswordHash::new(hash) {
            Ok(parsed) => self
                .argon2()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok(),
            Err(_) => false,
        }
    }

    /// Spends the time of one verification without an account; always false.
    pub fn verify_dummy(&self, password: &str) -> bool {
        let _ = self.verify(password, &self.dummy_hash);
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{AppEnv, Settings};

    fn hasher() -> PasswordHasher {
        let dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("config");
        let settings = Settings::load_from(&dir, AppEnv::Test, vec![]).unwrap();
        PasswordHasher::new(&settings.auth).unwrap()
    }

    #[test]
    fn a_hash_verifies_only_its_own_password() {
        let h = hasher();
        let hash = h.hash("correct horse battery").unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(h.verify("correct horse battery", &hash));
        assert!(!h.verify("correct horse battery!", &hash));
        assert!(!h.verify("anything", "not a hash"));
        assert!(!h.verify_dummy("correct horse battery"));
    }

    #[test]
    fn two_hashes_of_one_password_differ_by_salt() {
        let h = hasher();
        assert_ne!(
            h.hash("same password").unwrap(),
            h.hash("same password").unwrap()
        );
    }
}
