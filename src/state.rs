//! What every handler shares: settings, the database, the clock and the auth services.

use std::sync::Arc;
use std::time::Duration;

use crate::auth::password::PasswordHasher;
use crate::auth::ratelimit::RateLimiter;
use crate::auth::tokens::JwtKeys;
use crate::config::Settings;
use crate::domain::Clock;
use crate::store::Db;

pub struct AppState {
    pub settings: Arc<Settings>,
    pub db: Db,
    pub clock: Arc<dyn Clock>,
    pub jwt: JwtKeys,
    pub passwords: PasswordHasher,
    pub login_limiter: RateLimiter,
    pub register_limiter: RateLimiter,
    /// Salt mixed into hashes of personal data written to the audit trail.
    pub pii_salt: Vec<u8>,
}

impl AppState {
    pub fn new(
        settings: Arc<Settings>,
        db: Db,
        clock: Arc<dyn Clock>,
        jwt_secret: &[u8],
        pii_salt: Vec<u8>,
    ) -> anyhow::Result<Self> {
        let rl = &settings.rate_limit;
        Ok(Self {
            jwt: JwtKeys::new(&settings.auth, jwt_secret)?,
            passwords: PasswordHasher::new(&settings.auth)?,
            login_limiter: RateLimiter::new(
                rl.login_max_requests,
                Duration::from_secs(rl.login_window_seconds),
            ),
            register_limiter: RateLimiter::new(
                rl.register_max_requests,
                Duration::from_secs(rl.register_window_seconds),
            ),
            settings,
            db,
            clock,
            pii_salt,
        })
    }
}
