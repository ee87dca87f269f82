//! Settings: `config/default.toml`, then the profile file chosen by `APP_ENV`, then
//! `APP__SECTION__KEY` environment variables, then `DATABASE_URL`. Unknown keys are errors
//! wherever they appear, and production refuses to start with missing or default secrets.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use toml::{Table, Value};

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
    pub leeway_seconds: u64,
    pub max_failed_logins: u32,
    pub lockout_minutes: u64,
    pub argon2_memory_kib: u32,
    pub argon2_iterations: u32,
    pub argon2_parallelism: u32,
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

impl Settings {
    /// Loads settings the way the binary does: `APP_CONFIG_DIR` (default `./config`),
    /// `APP_ENV` (default development) and the process environment.
    pub fn load() -> anyhow::Result<Self> {
        let dir = std::env::var("APP_CONFIG_DIR").unwrap_or_else(|_| "config".into());
        let env = match std::env::var("APP_ENV") {
            Ok(v) => AppEnv::parse(&v)?,
            Err(_) => AppEnv::Development,
        };
        Self::load_from(Path::new(&dir), env, std::env::vars())
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
        if self.auth.max_failed_logins == 0 {
            bail!("auth.max_failed_logins must be at least 1");
        }
        if self.rate_limit.login_window_seconds == 0 || self.rate_limit.register_window_seconds == 0
        {
            bail!("rate limit windows must be at least 1 second");
        }
        if self.auth.jwt_key_id.is_empty() {
            bail!("auth.jwt_key_id must not be empty");
        }
        if !self.auth.jwt_previous_key_id.is_empty()
            && self.auth.jwt_previous_key_id == self.auth.jwt_key_id
        {
            bail!("auth.jwt_previous_key_id must differ from auth.jwt_key_id");
        }
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
            if secret.is_empty() {
                bail!(
                    "production needs APP__AUTH__JWT_SECRET (at least {MIN_JWT_SECRET_BYTES} bytes)"
                );
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
            if self.sandbox.adjustable_clock {
                bail!(
                    "production refuses sandbox.adjustable_clock: the exchange's clock is the real one"
                );
            }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn config_dir() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("config")
    }

    fn vars(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn development_defaults_load_without_any_environment() {
        let s = Settings::load_from(&config_dir(), AppEnv::Development, vec![]).unwrap();
        assert_eq!(s.server.port, 8080);
        assert_eq!(s.server.host, "127.0.0.1");
        assert_eq!(s.database.url, "sqlite://data/asset-exchange.db");
        assert_eq!(s.auth.access_token_ttl_seconds, 900);
        assert_eq!(s.auth.max_failed_logins, 5);
        assert_eq!(s.log.format, LogFormat::Pretty);
    }

    #[test]
    fn profile_file_overrides_defaults() {
        let s = Settings::load_from(&config_dir(), AppEnv::Test, vec![]).unwrap();
        assert_eq!(s.server.port, 0);
        assert_eq!(s.env, AppEnv::Test);
    }

    #[test]
    fn environment_overrides_take_the_type_of_the_default() {
        let s = Settings::load_from(
            &config_dir(),
            AppEnv::Development,
            vars(&[
                ("APP__SERVER__PORT", "9123"),
                ("APP__SERVER__TRUST_FORWARDED_FOR", "true"),
                ("APP__AUTH__JWT_KEY_ID", "12345"),
                ("DATABASE_URL", "postgres://postgres@127.0.0.1/x"),
                ("UNRELATED", "ignored"),
            ]),
        )
        .unwrap();
        assert_eq!(s.server.port, 9123);
        assert!(s.server.trust_forwarded_for);
        assert_eq!(s.auth.jwt_key_id, "12345");
        assert_eq!(s.database.url, "postgres://postgres@127.0.0.1/x");
    }

    #[test]
    fn unknown_environment_key_is_an_error() {
        let err = Settings::load_from(
            &config_dir(),
            AppEnv::Development,
            vars(&[("APP__SERVER__PROT", "1")]),
        )
        .unwrap_err();
        assert!(format!("{err:#}").contains("unknown configuration key server.prot"));
    }

    #[test]
    fn unknown_key_in_a_profile_file_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::copy(
            config_dir().join("default.toml"),
            dir.path().join("default.toml"),
        )
        .unwrap();
        std::fs::write(dir.path().join("test.toml"), "[server]\nportt = 1\n").unwrap();
        let err = Settings::load_from(dir.path(), AppEnv::Test, vec![]).unwrap_err();
        assert!(format!("{err:#}").contains("server.portt"));
    }

    #[test]
    fn badly_typed_environment_value_is_an_error() {
        let err = Settings::load_from(
            &config_dir(),
            AppEnv::Development,
            vars(&[("APP__SERVER__PORT", "eighty")]),
        )
        .unwrap_err();
        assert!(format!("{err:#}").contains("APP__SERVER__PORT"));
    }

    #[test]
    fn production_refuses_to_start_without_a_jwt_secret() {
        let err = Settings::load_from(&config_dir(), AppEnv::Production, vec![]).unwrap_err();
        assert!(format!("{err:#}").contains("APP__AUTH__JWT_SECRET"));
    }

    #[test]
    fn production_refuses_a_placeholder_or_short_secret() {
        for secret in [
            "change-me-change-me-change-me-change-me",
            &"a".repeat(40),
            "short",
        ] {
            let result = Settings::load_from(
                &config_dir(),
                AppEnv::Production,
                vars(&[
                    ("APP__AUTH__JWT_SECRET", secret),
                    ("APP__AUDIT__PII_SALT", "k3Jd9QmZ0pLx7TwB"),
                    (
                        "APP__AUDIT__SIGNING_KEY",
                        "Jm8b1f7ZC7cO4vQ3QmC2eI0yvW8s6qk1vR0zq2bYy0A=",
                    ),
                    ("APP__MAIL__TRANSPORT", "smtp"),
                ]),
            );
            assert!(result.is_err(), "{secret} was accepted");
        }
    }

    #[test]
    fn production_starts_with_a_real_secret() {
        let s = Settings::load_from(
            &config_dir(),
            AppEnv::Production,
            vars(&[
                (
                    "APP__AUTH__JWT_SECRET",
                    "q8V2m1Lr0ZkT7wNc4Hs9Pa6Ye3Xd5Gb-Jf",
                ),
                ("APP__AUDIT__PII_SALT", "k3Jd9QmZ0pLx7TwB"),
                (
                    "APP__AUDIT__SIGNING_KEY",
                    "Jm8b1f7ZC7cO4vQ3QmC2eI0yvW8s6qk1vR0zq2bYy0A=",
                ),
                ("APP__MAIL__TRANSPORT", "smtp"),
            ]),
        )
        .unwrap();
        assert_eq!(s.log.format, LogFormat::Json);
        assert_eq!(s.server.host, "0.0.0.0");
    }

    #[test]
    fn production_refuses_the_sandbox_clock() {
        let base = [
            (
                "APP__AUTH__JWT_SECRET",
                "q8V2m1Lr0ZkT7wNc4Hs9Pa6Ye3Xd5Gb-Jf",
            ),
            ("APP__AUDIT__PII_SALT", "k3Jd9QmZ0pLx7TwB"),
            (
                "APP__AUDIT__SIGNING_KEY",
                "Jm8b1f7ZC7cO4vQ3QmC2eI0yvW8s6qk1vR0zq2bYy0A=",
            ),
            ("APP__MAIL__TRANSPORT", "smtp"),
        ];
        let mut with = base.to_vec();
        with.push(("APP__SANDBOX__ADJUSTABLE_CLOCK", "true"));
        let err = Settings::load_from(&config_dir(), AppEnv::Production, vars(&with)).unwrap_err();
        assert!(
            format!("{err:#}").contains("sandbox.adjustable_clock"),
            "{err:#}"
        );
        let s = Settings::load_from(&config_dir(), AppEnv::Production, vars(&base)).unwrap();
        assert!(!s.sandbox.adjustable_clock);
        // Development may turn it on; the test profile has it on.
        let dev = Settings::load_from(
            &config_dir(),
            AppEnv::Development,
            vars(&[("APP__SANDBOX__ADJUSTABLE_CLOCK", "true")]),
        )
        .unwrap();
        assert!(dev.sandbox.adjustable_clock);
    }

    #[test]
    fn production_refuses_a_non_smtp_mail_transport() {
        let err = Settings::load_from(
            &config_dir(),
            AppEnv::Production,
            vars(&[
                (
                    "APP__AUTH__JWT_SECRET",
                    "q8V2m1Lr0ZkT7wNc4Hs9Pa6Ye3Xd5Gb-Jf",
                ),
                ("APP__AUDIT__PII_SALT", "k3Jd9QmZ0pLx7TwB"),
                (
                    "APP__AUDIT__SIGNING_KEY",
                    "Jm8b1f7ZC7cO4vQ3QmC2eI0yvW8s6qk1vR0zq2bYy0A=",
                ),
                ("APP__MAIL__TRANSPORT", "file"),
            ]),
        )
        .unwrap_err();
        assert!(format!("{err:#}").contains("SMTP"));
    }

    #[test]
    fn mail_transport_and_tls_come_from_the_environment() {
        let s = Settings::load_from(
            &config_dir(),
            AppEnv::Development,
            vars(&[
                ("APP__MAIL__TRANSPORT", "smtp"),
                ("APP__MAIL__SMTP_HOST", "mail.example.com"),
                ("APP__MAIL__SMTP_PORT", "465"),
                ("APP__MAIL__SMTP_TLS", "tls"),
            ]),
        )
        .unwrap();
        assert_eq!(s.mail.transport, MailTransportKind::Smtp);
        assert_eq!(s.mail.smtp_tls, SmtpTls::Tls);
        assert_eq!(s.mail.smtp_port, 465);
        let bad = Settings::load_from(
            &config_dir(),
            AppEnv::Development,
            vars(&[("APP__MAIL__SMTP_TLS", "maybe")]),
        );
        assert!(bad.is_err());
    }

    #[test]
    fn leeway_above_five_seconds_is_refused() {
        let err = Settings::load_from(
            &config_dir(),
            AppEnv::Development,
            vars(&[("APP__AUTH__LEEWAY_SECONDS", "30")]),
        )
        .unwrap_err();
        assert!(format!("{err:#}").contains("leeway"));
    }

    #[test]
    fn ocds_settings_have_defaults_and_refuse_a_malformed_prefix_or_url() {
        let s = Settings::load_from(&config_dir(), AppEnv::Development, vec![]).unwrap();
        assert_eq!(s.ocds.ocid_prefix, "ocds-axchg1");
        assert!(s.ocds.bids_extension_url.ends_with("/extension.json"));
        assert!(s.ocds.publication_policy.is_empty());
        for (key, value) in [
            ("APP__OCDS__OCID_PREFIX", "axchg1"),
            ("APP__OCDS__OCID_PREFIX", "ocds-ax"),
            ("APP__OCDS__OCID_PREFIX", "ocds-axchg#"),
            ("APP__OCDS__PUBLISHER_NAME", " "),
            ("APP__OCDS__LICENSE", "CC-BY-4.0"),
            ("APP__OCDS__PUBLICATION_POLICY", "see our website"),
            ("APP__OCDS__BIDS_EXTENSION_URL", ""),
        ] {
            let err =
                Settings::load_from(&config_dir(), AppEnv::Development, vars(&[(key, value)]))
                    .unwrap_err();
            assert!(
                format!("{err:#}").contains("ocds."),
                "{key}={value}: {err:#}"
            );
        }
    }
}
