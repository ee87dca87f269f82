//! What every handler shares: settings, the database, the clock and the auth services.

use std::sync::Arc;
use std::time::Duration;

use crate::audit::checkpoint::{AuditSigner, TrustedKeys};
use crate::auth::password::PasswordHasher;
use crate::auth::ratelimit::RateLimiter;
use crate::auth::tokens::JwtKeys;
use crate::config::Settings;
use crate::domain::Clock;
use crate::exchange::ExchangeRules;
use crate::notify::Notifier;
use crate::notify::transport::Mailer;
use crate::store::Db;
use lettre::message::Mailbox;

pub struct AppState {
    pub settings: Arc<Settings>,
    pub db: Db,
    pub clock: Arc<dyn Clock>,
    /// The same clock when `[sandbox] adjustable_clock` is on (an admin may move it forward).
    pub sandbox: Option<Arc<crate::domain::clock::SandboxClock>>,
    pub jwt: JwtKeys,
    pub passwords: PasswordHasher,
    pub login_limiter: RateLimiter,
    pub register_limiter: RateLimiter,
    /// Salt mixed into hashes of personal data written to the audit trail.
    pub pii_salt: Vec<u8>,
    /// Signs audit checkpoints.
    pub audit_signer: AuditSigner,
    /// Public keys whose checkpoint signatures are accepted.
    pub audit_keys: TrustedKeys,
    /// Witnesses whose cosignatures of log checkpoints are accepted: (name, key).
    pub audit_witnesses: Vec<(String, ed25519_dalek::VerifyingKey)>,
    /// Renders and queues e-mail.
    pub notifier: Notifier,
    /// Sends e-mail (used by the delivery worker).
    pub mailer: Mailer,
    /// The sender of every message.
    pub mail_from: Mailbox,
    /// Listing rules and the working-day calendar.
    pub rules: ExchangeRules,
    /// Wakes live auction subscribers.
    pub hub: crate::live::Hub,
    /// Counters and histograms for `/metrics`.
    pub metrics: crate::metrics::Metrics,
    /// Recent counts of the listing browse's matches, per filter.
    pub browse_counts: Arc<crate::store::browse::CountCache>,
    /// Bid requests of one auction take turns here before its row lock.
    pub bid_turns: Arc<crate::exchange::auctions::Turns>,
    /// When this process started (Unix seconds).
    pub started_unix: i64,
}

/// Key material resolved at start-up.
pub struct Secrets<'a> {
    pub jwt_secret: &'a [u8],
    pub pii_salt: Vec<u8>,
    pub audit_signer: AuditSigner,
    pub audit_keys: TrustedKeys,
}

impl AppState {
    pub fn new(
        settings: Arc<Settings>,
        db: Db,
        clock: Arc<dyn Clock>,
        secrets: Secrets,
    ) -> anyhow::Result<Self> {
        let rl = &settings.rate_limit;
        let sandbox = settings
            .sandbox
            .adjustable_clock
            .then(|| Arc::new(crate::domain::clock::SandboxClock::new(clock.clone())));
        let clock: Arc<dyn Clock> = match &sandbox {
            Some(s) => s.clone(),
            None => clock,
        };
        Ok(Self {
            audit_witnesses: crate::audit::note::parse_witnesses(&settings.audit.witnesses)?,
            jwt: JwtKeys::new(&settings.auth, secrets.jwt_secret)?,
            passwords: PasswordHasher::new(&settings.auth)?,
            login_limiter: RateLimiter::new(
                rl.login_max_requests,
                Duration::from_secs(rl.login_window_seconds),
            ),
            register_limiter: RateLimiter::new(
                rl.register_max_requests,
                Duration::from_secs(rl.register_window_seconds),
            ),
            db,
            clock,
            sandbox,
            pii_salt: secrets.pii_salt,
            audit_signer: secrets.audit_signer,
            audit_keys: secrets.audit_keys,
            notifier: Notifier::new(&settings, secrets.jwt_secret)?,
            mailer: Mailer::from_settings(&settings.mail)?,
            mail_from: settings
                .mail
                .from
                .parse()
                .map_err(|e| anyhow::anyhow!("mail.from: {e}"))?,
            rules: ExchangeRules::load(&settings, &settings.config_dir)?,
            hub: crate::live::Hub::new(&settings.live),
            metrics: crate::metrics::Metrics::new(),
            bid_turns: Arc::default(),
            browse_counts: Arc::new(crate::store::browse::CountCache::new(Duration::from_secs(
                settings.browse.count_cache_seconds,
            ))),
            started_unix: chrono::Utc::now().timestamp(),
            settings,
        })
    }
}

impl AppState {
    /// What the listing use cases need.
    pub fn deps(&self) -> crate::exchange::listings::Deps<'_> {
        crate::exchange::listings::Deps {
            rules: &self.rules,
            notifier: &self.notifier,
            clock: &*self.clock,
        }
    }
}

impl crate::auth::login::Services for AppState {
    fn db(&self) -> &Db {
        &self.db
    }
    fn clock(&self) -> &dyn Clock {
        &*self.clock
    }
    fn jwt(&self) -> &JwtKeys {
        &self.jwt
    }
    fn passwords(&self) -> &PasswordHasher {
        &self.passwords
    }
    fn auth_settings(&self) -> &crate::config::AuthSettings {
        &self.settings.auth
    }
    fn pii_salt(&self) -> &[u8] {
        &self.pii_salt
    }
    fn notifier(&self) -> &Notifier {
        &self.notifier
    }
    fn mail_settings(&self) -> &crate::config::MailSettings {
        &self.settings.mail
    }
}
