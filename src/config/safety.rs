//! Start-up refusals of unsafe settings: development mode chosen by default on a server, and
//! production settings that would send secrets in clear or accept weak keys.

use std::net::IpAddr;

use anyhow::bail;
use secrecy::ExposeSecret;

use super::{AppEnv, MIN_JWT_SECRET_BYTES, Settings, SmtpTls};

/// Whether `host` names this machine only (a loopback address or `localhost`).
pub fn is_loopback_host(host: &str) -> bool {
    let host = host.trim().trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// Development mode generates keys and opens conveniences; when nobody chose it (`APP_ENV`
/// unset), it may only run on a developer's machine: listening on loopback, with SQLite.
pub fn check_implicit_development(s: &Settings, env_explicit: bool) -> anyhow::Result<()> {
    if env_explicit || s.env != AppEnv::Development {
        return Ok(());
    }
    if !is_loopback_host(&s.server.host) {
        bail!(
            "APP_ENV is not set, so this would run in development mode (generated keys) while \
             listening on {}: set APP_ENV=production (or development, knowingly)",
            s.server.host
        );
    }
    if s.database.url.starts_with("postgres") {
        bail!(
            "APP_ENV is not set, so this would run in development mode (generated keys) on a \
             PostgreSQL database: set APP_ENV=production (or development, knowingly)"
        );
    }
    Ok(())
}

/// Production's refusals beyond the secrets themselves.
pub fn check_production_transport(s: &Settings) -> anyhow::Result<()> {
    if s.mail.smtp_tls == SmtpTls::None && !is_loopback_host(&s.mail.smtp_host) {
        bail!(
            "production refuses mail.smtp_tls = none to {}: use starttls or tls (none is only \
             for a relay on this machine)",
            s.mail.smtp_host
        );
    }
    if !s.server.public_base_url.starts_with("https://") {
        bail!(
            "production needs an https:// server.public_base_url (links in mail carry tokens), not {:?}",
            s.server.public_base_url
        );
    }
    Ok(())
}

/// A previous JWT key (still accepted during a rotation) is held to the current minimum.
pub fn check_previous_secret(s: &Settings) -> anyhow::Result<()> {
    let previous = s.auth.jwt_previous_secret.expose_secret();
    if !previous.is_empty() && previous.len() < MIN_JWT_SECRET_BYTES {
        bail!("auth.jwt_previous_secret must be at least {MIN_JWT_SECRET_BYTES} bytes");
    }
    Ok(())
}
