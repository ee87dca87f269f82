//! Settings: `config/default.toml`, then the profile file chosen by `APP_ENV`, then
//! `APP__SECTION__KEY` environment variables, then `DATABASE_URL`. Unknown keys are errors
//! wherever they appear, and production refuses to start with missing or default secrets.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use toml::{Table, Value};

mod webhooks;
pub use webhooks::WebhookSettings;

/// The deployment profile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppEnv {
    Development,
    Test,
    Production,
}

impl AppEnv {
    pub fn parse(s: &str) -> anyhow::Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "development" | "dev" => Ok(Self::Development),
            "test" => Ok(Self::Test),
            "production" | "prod" => Ok(Self::Production),
            other => bail!("APP_ENV must be development, test or production, not {other:?}"),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Development => "development",
            Self::Test => "test",
            Self::Production => "production",
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    #[serde(skip, default = "default_env")]
    pub env: AppEnv,
    /// The folder the settings were read from (the calendar files live below it).
    #[serde(skip)]
    pub config_dir: PathBuf,
    pub server: ServerSettings,
    pub database: DatabaseSettings,
    pub auth: AuthSettings,
    pub audit: AuditSettings,
    pub listing: ListingSettings,
    pub risk: RiskSettings,
    pub mail: MailSettings,
    pub rate_limit: RateLimitSettings,
    pub live: LiveSettings,
    pub browse: BrowseSettings,
    pub log: LogSettings,
    pub metrics: MetricsSettings,
    pub ocds: OcdsSettings,
    pub sandbox: SandboxSettings,
    pub webhooks: WebhookSettings,
}

/// Non-production conveniences.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SandboxSettings {
    /// Lets an admin move the exchange's clock forward (`POST /api/v1/sandbox/clock`).
    pub adjustable_clock: bool,
}

fn default_env() -> AppEnv {
    AppEnv::Development
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSettings {
    pub host: String,
    pub port: u16,
    pub workers: usize,
    pub max_body_bytes: usize,
    pub trust_forwarded_for: bool,
    pub public_base_url: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseSettings {
    pub url: String,
    pub pool_size: u32,
    pub connect_timeout_seconds: u64,
    pub sqlite_busy_timeout_ms: u32,
    /// `serve` applies pending migrations before it listens; off, it only checks the
    /// schema is current and refuses to start otherwise (production, where the service's
    /// role cannot change the schema and `asset-exchange migrate` runs as the owner).
    pub migrate_on_start: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthSettings {
    pub jwt_issuer: String,
    pub jwt_audience: String,
    pub jwt_key_id: String,
    pub jwt_secret: SecretString,
    pub jwt_previous_key_id: String,
    pub jwt_previous_secret: SecretString,
    pub access_token_ttl_seconds: u64,
    pub refresh_token_ttl_days: u64,
    pub session_max_hours: u64,
    pub password_reset_ttl_minutes: u64,
    pub leeway_seconds: u64,
    pub max_failed_logins: u32,
    pub lockout_minutes: u64,
    pub argon2_memory_kib: u32,
    pub argon2_iterations: u32,
    pub argon2_parallelism: u32,
    /// Roles that must have two-factor authentication on (comma-separated role names).
    pub mfa_required_roles: String,
    /// The issuer shown by authenticator apps (the `otpauth://` URL's issuer).
    pub mfa_issuer: String,
    /// Lifetime of the `mfa_token` a login with MFA on answers, in seconds.
    pub mfa_token_ttl_seconds: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditSettings {
    pub pii_salt: SecretString,
    pub signing_key: SecretString,
    pub signing_key_file: String,
    pub previous_public_keys: String,
    pub checkpoint_interval_seconds: u64,
    /// The origin line of the log's signed-note checkpoints (also the signature's key name).
    pub log_origin: String,
    /// Witnesses whose cosignatures the exchange accepts and serves: `name=base64 public
    /// key` pairs, comma separated.
    pub witnesses: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListingSettings {
    pub project_no_prefix: String,
    pub min_disclosure_equity_transfer: u32,
    pub min_disclosure_capital_increase: u32,
    pub min_disclosure_asset_large: u32,
    pub min_disclosure_asset_medium: u32,
    pub min_disclosure_asset_small: u32,
    pub max_disclosure_working_days: u32,
    pub asset_large_threshold_yuan: i64,
    pub asset_medium_threshold_yuan: i64,
    pub close_of_business: String,
    pub deposit_max_percent: i64,
    pub relist_floor_percent: i64,
    pub appraisal_valid_months: u32,
    pub reappraisal_after_months: u32,
    pub deposit_due_working_days: u32,
    pub resume_min_total_days: u32,
    pub resume_min_after_days: u32,
    pub max_suspension_months: u32,
    pub free_bidding_min_seconds: u32,
    pub free_bidding_max_seconds: u32,
    pub countdown_min_seconds: u32,
    pub countdown_max_seconds: u32,
    pub scheduler_tick_ms: u64,
    pub forfeit_unused_deposits: bool,
    pub contract_due_working_days: u32,
    pub announcement_min_working_days: u32,
    pub runner_up_answer_working_days: u32,
    pub payment_due_working_days: u32,
    pub qualification_working_days: u32,
    pub seller_opinion_working_days: u32,
    pub extension_min_working_days: u32,
    pub instalment_min_price_yuan: i64,
    pub instalment_first_percent: i64,
    pub instalment_final_months: u32,
    pub reminder_hours_before: u32,
}

impl ListingSettings {
    /// The close of business as a time of day.
    pub fn close_of_business(&self) -> anyhow::Result<chrono::NaiveTime> {
        chrono::NaiveTime::parse_from_str(&self.close_of_business, "%H:%M")
            .map_err(|_| anyhow::anyhow!("listing.close_of_business must be HH:MM"))
    }

    /// The rule numbers, for `domain::listing`.
    pub fn policy(&self) -> anyhow::Result<crate::domain::listing::ListingPolicy> {
        use crate::domain::money::Money;
        let yuan =
            |v: i64| Money::from_yuan(v).map_err(|e| anyhow::anyhow!("listing threshold: {e}"));
        Ok(crate::domain::listing::ListingPolicy {
            min_disclosure_equity_transfer: self.min_disclosure_equity_transfer,
            min_disclosure_capital_increase: self.min_disclosure_capital_increase,
            min_disclosure_asset_large: self.min_disclosure_asset_large,
            min_disclosure_asset_medium: self.min_disclosure_asset_medium,
            min_disclosure_asset_small: self.min_disclosure_asset_small,
            max_disclosure_working_days: self.max_disclosure_working_days,
            asset_large_threshold: yuan(self.asset_large_threshold_yuan)?,
            asset_medium_threshold: yuan(self.asset_medium_threshold_yuan)?,
            deposit_max_percent: self.deposit_max_percent,
            relist_floor_percent: self.relist_floor_percent,
            appraisal_valid_months: self.appraisal_valid_months,
            reappraisal_after_months: self.reappraisal_after_months,
            free_bidding_min_seconds: self.free_bidding_min_seconds,
            free_bidding_max_seconds: self.free_bidding_max_seconds,
            countdown_min_seconds: self.countdown_min_seconds,
            countdown_max_seconds: self.countdown_max_seconds,
        })
    }
}

/// Thresholds of the risk-alert rules (see `domain::risk`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RiskSettings {
    pub deal_floor_percent: i64,
    pub relist_alert_round: u32,
    pub price_cut_alert_count: u32,
    pub appraisal_max_age_months: u32,
    pub countdown_min_active_bidders: u32,
    pub public_mail_domains: String,
    pub small_domain_max_accounts: u32,
    pub announcement_min_working_days: u32,
    pub snipe_window_seconds: i64,
    pub snipe_min_bids: u32,
    pub snipe_share_percent: u32,
    pub silent_bidders_min: u32,
    pub forfeits_alert_count: u32,
    pub forfeits_window_days: u32,
}

impl RiskSettings {
    /// The thresholds for `domain::risk`.
    pub fn policy(&self) -> anyhow::Result<crate::domain::risk::RiskPolicy> {
        if self.snipe_share_percent > 100 || self.deal_floor_percent > 100 {
            bail!("risk percentages must be between 0 and 100");
        }
        Ok(crate::domain::risk::RiskPolicy {
            deal_floor_percent: self.deal_floor_percent,
            relist_alert_round: self.relist_alert_round,
            price_cut_alert_count: self.price_cut_alert_count,
            appraisal_max_age_months: self.appraisal_max_age_months,
            countdown_min_active_bidders: self.countdown_min_active_bidders,
            public_mail_domains: self
                .public_mail_domains
                .split(',')
                .map(|d| d.trim().to_lowercase())
                .filter(|d| !d.is_empty())
                .collect(),
            small_domain_max_accounts: self.small_domain_max_accounts,
            announcement_min_working_days: self.announcement_min_working_days,
            snipe_window_seconds: self.snipe_window_seconds,
            snipe_min_bids: self.snipe_min_bids,
            snipe_share_percent: self.snipe_share_percent,
            silent_bidders_min: self.silent_bidders_min,
            forfeits_alert_count: self.forfeits_alert_count,
            forfeits_window_days: self.forfeits_window_days,
        })
    }
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum MailTransportKind {
    Smtp,
    File,
    Stub,
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum SmtpTls {
    None,
    Starttls,
    Tls,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MailSettings {
    pub transport: MailTransportKind,
    pub file_dir: String,
    pub from: String,
    pub smtp_host: String,
    pub smtp_port: u16,
    pub smtp_tls: SmtpTls,
    pub smtp_username: String,
    pub smtp_password: SecretString,
    pub smtp_timeout_seconds: u64,
    pub poll_interval_ms: u64,
    pub batch_size: u32,
    pub lease_seconds: u64,
    pub retry_initial_seconds: u64,
    pub retry_max_delay_seconds: u64,
    pub max_attempts: u32,
    pub give_up_after_hours: u64,
    pub verification_ttl_hours: u64,
    pub resend_per_account_per_hour: u32,
    pub unsolicited_per_address_per_day: u32,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitSettings {
    pub login_max_requests: u32,
    pub login_window_seconds: u64,
    pub register_max_requests: u32,
    pub register_window_seconds: u64,
}

/// Live auction streams (Server-Sent Events): caps and timings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LiveSettings {
    pub sse_max_per_address: u32,
    pub sse_max_per_instance: u32,
    pub retry_after_seconds: u64,
    pub keep_alive_seconds: u64,
    pub recheck_seconds: u64,
    pub max_stream_seconds: u64,
    pub max_idle_seconds: u64,
    pub subscriber_buffer: usize,
}

impl LiveSettings {
    fn validate(&self) -> anyhow::Result<()> {
        let periods = [
            self.retry_after_seconds,
            self.keep_alive_seconds,
            self.recheck_seconds,
            self.max_stream_seconds,
            self.max_idle_seconds,
        ];
        if periods.contains(&0) || self.subscriber_buffer == 0 {
            bail!("every live.*_seconds and live.subscriber_buffer must be at least 1");
        }
        Ok(())
    }
}

/// The listing browse (`GET /api/v1/listings`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BrowseSettings {
    /// Seconds an instance reuses the count of matches of one filter for `total` on pages
    /// that are not the last (0: count on every such page).
    pub count_cache_seconds: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsSettings {
    pub bearer_token: SecretString,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogSettings {
    pub level: String,
    pub format: LogFormat,
}

/// The open-data publication in OCDS 1.1 (`/api/v1/ocds/*`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OcdsSettings {
    /// `ocds-` and six letters or digits; the ocid of a project is this, `-`, its project number.
    pub ocid_prefix: String,
    /// The exchange: publisher of the data and procuring entity (组织方) of every process.
    pub publisher_name: String,
    /// URL of the licence of the data.
    pub license: String,
    /// URL of the publication policy; empty: not published.
    pub publication_policy: String,
    /// URL of the bids extension's `extension.json`, listed in every package.
    pub bids_extension_url: String,
}

impl OcdsSettings {
    fn validate(&self) -> anyhow::Result<()> {
        let suffix = self.ocid_prefix.strip_prefix("ocds-").unwrap_or_default();
        if suffix.len() != 6 || !suffix.bytes().all(|b| b.is_ascii_alphanumeric()) {
            bail!("ocds.ocid_prefix must be \"ocds-\" and six letters or digits");
        }
        if self.publisher_name.trim().is_empty() {
            bail!("ocds.publisher_name must not be empty");
        }
        let urls = [
            ("license", &self.license, false),
            ("publication_policy", &self.publication_policy, true),
            ("bids_extension_url", &self.bids_extension_url, false),
        ];
        for (key, url, may_be_empty) in urls {
            let absolute = (url.starts_with("https://") || url.starts_with("http://"))
                && !url.contains(char::is_whitespace);
            if !(absolute || may_be_empty && url.is_empty()) {
                bail!("ocds.{key} must be an absolute http(s) URL");
            }
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Pretty,
    Json,
}

/// The smallest HMAC key we accept in production, in bytes.
pub const MIN_JWT_SECRET_BYTES: usize = 32;

impl AuthSettings {
    /// The absolute lifetime of a login.
    pub fn session_max(&self) -> chrono::Duration {
        chrono::Duration::hours(i64::try_from(self.session_max_hours).unwrap_or(12))
    }

    /// The roles that must have two-factor authentication on (checked at start-up).
    pub fn mfa_required_roles(&self) -> Vec<crate::domain::Role> {
        crate::domain::mfa::parse_roles(&self.mfa_required_roles).unwrap_or_default()
    }
}

impl Settings {
    /// Loads settings the way the binary does: `APP_CONFIG_DIR` (default `./config`),
    /// `APP_ENV` (default development) and the process environment.
    pub fn load() -> anyhow::Result<Self> {
        let dir = std::env::var("APP_CONFIG_DIR").unwrap_or_else(|_| "config".into());
        let explicit = std::env::var("APP_ENV").ok();
        let env = match &explicit {
            Some(v) => AppEnv::parse(v)?,
            None => AppEnv::Development,
        };
        let settings = Self::load_from(Path::new(&dir), env, std::env::vars())?;
        safety::check_implicit_development(&settings, explicit.is_some())?;
        Ok(settings)
    }

    /// Loads settings from `dir` for `env`, applying the given environment variables.
    pub fn load_from(
        dir: &Path,
        env: AppEnv,
        vars: impl IntoIterator<Item = (String, String)>,
    ) -> anyhow::Result<Self> {
        let mut merged = read_table(&dir.join("default.toml"))?;
        let profile = dir.join(format!("{}.toml", env.as_str()));
        if profile.exists() {
            let overlay = read_table(&profile)?;
            merge(&mut merged, overlay, "")?;
        }
        let mut database_url = None;
        for (name, value) in vars {
            if name == "DATABASE_URL" {
                database_url = Some(value);
            } else if let Some(path) = name.strip_prefix("APP__") {
                apply_env_override(&mut merged, path, &value)
                    .with_context(|| format!("environment variable {name}"))?;
            }
        }
        let mut settings: Settings = Value::Table(merged)
            .try_into()
            .context("invalid configuration")?;
        settings.env = env;
        settings.config_dir = dir.to_path_buf();
        if let Some(url) = database_url.filter(|u| !u.is_empty()) {
            settings.database.url = url;
        }
        settings.validate()?;
        Ok(settings)
    }

    /// Checks that hold in every profile, plus production's refusal of unsafe defaults.
    pub fn validate(&self) -> anyhow::Result<()> {
        if self.auth.leeway_seconds > 5 {
            bail!("auth.leeway_seconds must be at most 5");
        }
        if self.auth.session_max_hours == 0 || self.auth.password_reset_ttl_minutes == 0 {
            bail!("auth.session_max_hours and auth.password_reset_ttl_minutes must be at least 1");
        }
        if self.auth.max_failed_logins == 0 {
            bail!("auth.max_failed_logins must be at least 1");
        }
        if self.rate_limit.login_window_seconds == 0 || self.rate_limit.register_window_seconds == 0
        {
            bail!("rate limit windows must be at least 1 second");
        }
        crate::domain::mfa::parse_roles(&self.auth.mfa_required_roles)
            .map_err(|e| anyhow::anyhow!("auth.mfa_required_roles: {e}"))?;
        if self.auth.mfa_issuer.is_empty() || self.auth.mfa_issuer.contains(':') {
            bail!("auth.mfa_issuer must be a name without ':'");
        }
        if self.auth.mfa_token_ttl_seconds == 0 || self.auth.mfa_token_ttl_seconds > 900 {
            bail!("auth.mfa_token_ttl_seconds must be between 1 and 900");
        }
        if self.auth.jwt_key_id.is_empty() {
            bail!("auth.jwt_key_id must not be empty");
        }
        if !self.auth.jwt_previous_key_id.is_empty()
            && self.auth.jwt_previous_key_id == self.auth.jwt_key_id
        {
            bail!("auth.jwt_previous_key_id must differ from auth.jwt_key_id");
        }
        safety::check_previous_secret(self)?;
        let secret = self.auth.jwt_secret.expose_secret();
        if !secret.is_empty() && secret.len() < MIN_JWT_SECRET_BYTES {
            bail!("auth.jwt_secret must be at least {MIN_JWT_SECRET_BYTES} bytes");
        }
        let salt = self.audit.pii_salt.expose_secret();
        if !salt.is_empty() && salt.len() < 16 {
            bail!("audit.pii_salt must be at least 16 bytes");
        }
        self.listing.close_of_business()?;
        self.listing.policy()?;
        self.ocds.validate()?;
        self.live.validate()?;
        self.webhooks.validate()?;
        if self.listing.scheduler_tick_ms == 0 {
            bail!("listing.scheduler_tick_ms must be at least 1");
        }
        if self.mail.from.parse::<lettre::message::Mailbox>().is_err() {
            bail!("mail.from must be an address like \"Name <noreply@example.com>\"");
        }
        if self.mail.max_attempts == 0
            || self.mail.poll_interval_ms == 0
            || self.mail.batch_size == 0
        {
            bail!(
                "mail.max_attempts, mail.poll_interval_ms and mail.batch_size must be at least 1"
            );
        }
        if self.env == AppEnv::Production {
            self.validate_production()?;
        }
        Ok(())
    }

    /// Production's refusal of unsafe defaults: missing or placeholder secrets, mail not over
    /// SMTP or in clear to another host, links over http, open metrics, the sandbox clock.
    fn validate_production(&self) -> anyhow::Result<()> {
        let secret = self.auth.jwt_secret.expose_secret();
        let salt = self.audit.pii_salt.expose_secret();
        if secret.is_empty() {
            bail!("production needs APP__AUTH__JWT_SECRET (at least {MIN_JWT_SECRET_BYTES} bytes)");
        }
        if secret
            .chars()
            .all(|c| c == secret.chars().next().unwrap_or('x'))
            || secret.to_ascii_lowercase().contains("change")
            || secret.to_ascii_lowercase().contains("secret")
        {
            bail!("production refuses a placeholder APP__AUTH__JWT_SECRET");
        }
        if salt.is_empty() {
            bail!("production needs APP__AUDIT__PII_SALT (at least 16 bytes)");
        }
        if self.audit.signing_key.expose_secret().is_empty()
            && self.audit.signing_key_file.is_empty()
        {
            bail!("production needs APP__AUDIT__SIGNING_KEY or APP__AUDIT__SIGNING_KEY_FILE");
        }
        if self.mail.transport != MailTransportKind::Smtp {
            bail!("production sends mail only over SMTP: set APP__MAIL__TRANSPORT=smtp");
        }
        safety::check_production_transport(self)?;
        if self.metrics.bearer_token.expose_secret().len() < 16 {
            bail!(
                "production needs APP__METRICS__BEARER_TOKEN (at least 16 bytes): /metrics shows live refusal counts"
            );
        }
        if self.sandbox.adjustable_clock {
            bail!(
                "production refuses sandbox.adjustable_clock: the exchange's clock is the real one"
            );
        }
        Ok(())
    }

    /// Directory for local state (the SQLite file, development keys, mail files).
    pub fn data_dir(&self) -> PathBuf {
        PathBuf::from("data")
    }
}

fn read_table(path: &Path) -> anyhow::Result<Table> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read configuration file {}", path.display()))?;
    text.parse::<Table>()
        .with_context(|| format!("invalid TOML in {}", path.display()))
}

/// Merges `overlay` into `base`. A key the base does not have is an error: every key is
/// declared in default.toml, so this catches typos in profile files early.
fn merge(base: &mut Table, overlay: Table, prefix: &str) -> anyhow::Result<()> {
    for (key, value) in overlay {
        let path = if prefix.is_empty() {
            key.clone()
        } else {
            format!("{prefix}.{key}")
        };
        match (base.get_mut(&key), value) {
            (Some(Value::Table(b)), Value::Table(o)) => merge(b, o, &path)?,
            (Some(slot), v) => *slot = v,
            (None, _) => bail!("unknown configuration key {path}"),
        }
    }
    Ok(())
}

/// Applies `APP__SECTION__KEY=value`. The value takes the type of the key's default, so a
/// numeric secret stays a string and `true` only becomes a bool where a bool is expected.
fn apply_env_override(root: &mut Table, path: &str, raw: &str) -> anyhow::Result<()> {
    let parts: Vec<String> = path.split("__").map(|p| p.to_ascii_lowercase()).collect();
    let Some((last, sections)) = parts.split_last() else {
        bail!("empty key");
    };
    let mut table = root;
    for section in sections {
        table = match table.get_mut(section) {
            Some(Value::Table(t)) => t,
            _ => bail!("unknown configuration section {section}"),
        };
    }
    let Some(slot) = table.get_mut(last) else {
        bail!("unknown configuration key {}", parts.join("."));
    };
    *slot = match slot {
        Value::String(_) => Value::String(raw.to_string()),
        Value::Integer(_) => Value::Integer(
            raw.trim()
                .parse()
                .with_context(|| format!("{raw:?} is not a whole number"))?,
        ),
        Value::Float(_) => Value::Float(raw.trim().parse().context("not a number")?),
        Value::Boolean(_) => Value::Boolean(match raw.trim().to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "on" => true,
            "false" | "0" | "no" | "off" => false,
            other => bail!("{other:?} is not true or false"),
        }),
        _ => bail!("{} cannot be set from the environment", parts.join(".")),
    };
    Ok(())
}

mod safety;
#[cfg(test)]
mod tests;

pub use safety::is_loopback_host;
