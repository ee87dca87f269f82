//! Loading, layering and validating the settings.

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

/// What a production start-up is given, then `extra` (later entries win).
fn production(extra: &[(&str, &str)]) -> anyhow::Result<Settings> {
    let mut all = vec![
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
        ("APP__METRICS__BEARER_TOKEN", "Zx81mQp4Lw0rTt6sVb2n"),
        (
            "APP__SERVER__PUBLIC_BASE_URL",
            "https://exchange.example.com",
        ),
    ];
    all.extend_from_slice(extra);
    Settings::load_from(&config_dir(), AppEnv::Production, vars(&all))
}

#[test]
fn production_refuses_a_placeholder_or_short_secret() {
    for secret in [
        "change-me-change-me-change-me-change-me",
        &"a".repeat(40),
        "short",
    ] {
        let result = production(&[("APP__AUTH__JWT_SECRET", secret)]);
        assert!(result.is_err(), "{secret} was accepted");
    }
}

#[test]
fn production_starts_with_a_real_secret() {
    let s = production(&[]).unwrap();
    assert_eq!(s.log.format, LogFormat::Json);
    assert_eq!(s.server.host, "0.0.0.0");
}

#[test]
fn production_refuses_the_sandbox_clock() {
    let err = production(&[("APP__SANDBOX__ADJUSTABLE_CLOCK", "true")]).unwrap_err();
    assert!(
        format!("{err:#}").contains("sandbox.adjustable_clock"),
        "{err:#}"
    );
    let s = production(&[]).unwrap();
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
    let err = production(&[("APP__MAIL__TRANSPORT", "file")]).unwrap_err();
    assert!(format!("{err:#}").contains("SMTP"));
}

#[test]
fn production_refuses_open_metrics() {
    for token in ["", "short-token"] {
        let err = production(&[("APP__METRICS__BEARER_TOKEN", token)]).unwrap_err();
        assert!(
            format!("{err:#}").contains("APP__METRICS__BEARER_TOKEN"),
            "{err:#}"
        );
    }
    // Development keeps the open default.
    let dev = Settings::load_from(&config_dir(), AppEnv::Development, vec![]).unwrap();
    assert!(dev.metrics.bearer_token.expose_secret().is_empty());
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
        let err = Settings::load_from(&config_dir(), AppEnv::Development, vars(&[(key, value)]))
            .unwrap_err();
        assert!(
            format!("{err:#}").contains("ocds."),
            "{key}={value}: {err:#}"
        );
    }
}

#[test]
fn production_refuses_clear_smtp_to_another_host() {
    let err = production(&[
        ("APP__MAIL__SMTP_TLS", "none"),
        ("APP__MAIL__SMTP_HOST", "mail.example.com"),
    ])
    .unwrap_err();
    assert!(format!("{err:#}").contains("smtp_tls"), "{err:#}");
    // A relay on this machine may be spoken to in clear.
    production(&[
        ("APP__MAIL__SMTP_TLS", "none"),
        ("APP__MAIL__SMTP_HOST", "127.0.0.1"),
    ])
    .unwrap();
    production(&[
        ("APP__MAIL__SMTP_TLS", "tls"),
        ("APP__MAIL__SMTP_HOST", "mail.example.com"),
    ])
    .unwrap();
}

#[test]
fn production_refuses_an_http_public_address() {
    let err = production(&[(
        "APP__SERVER__PUBLIC_BASE_URL",
        "http://exchange.example.com",
    )])
    .unwrap_err();
    assert!(format!("{err:#}").contains("https://"), "{err:#}");
}

#[test]
fn a_short_previous_jwt_secret_is_refused_everywhere() {
    let short = [("APP__AUTH__JWT_PREVIOUS_SECRET", "too-short-to-sign")];
    assert!(production(&short).is_err());
    let err = Settings::load_from(&config_dir(), AppEnv::Development, vars(&short)).unwrap_err();
    assert!(
        format!("{err:#}").contains("jwt_previous_secret"),
        "{err:#}"
    );
    production(&[(
        "APP__AUTH__JWT_PREVIOUS_SECRET",
        "w3Rt7YpQ0sLk2ZxVb9NmJc4Hd6Gf8Ae1-Tu",
    )])
    .unwrap();
}

#[test]
fn development_by_default_refuses_a_public_address_or_postgresql() {
    let dev = |pairs: &[(&str, &str)]| {
        Settings::load_from(&config_dir(), AppEnv::Development, vars(pairs)).unwrap()
    };
    let public = dev(&[("APP__SERVER__HOST", "0.0.0.0")]);
    let err = safety::check_implicit_development(&public, false).unwrap_err();
    assert!(format!("{err:#}").contains("APP_ENV"), "{err:#}");
    let pg = dev(&[("DATABASE_URL", "postgres://app@db.internal/exchange")]);
    assert!(safety::check_implicit_development(&pg, false).is_err());
    // Chosen knowingly, or on a developer's machine, it starts.
    safety::check_implicit_development(&public, true).unwrap();
    safety::check_implicit_development(&pg, true).unwrap();
    for host in ["127.0.0.1", "::1", "localhost", "[::1]"] {
        let local = dev(&[("APP__SERVER__HOST", host)]);
        safety::check_implicit_development(&local, false).unwrap();
    }
    assert!(!is_loopback_host("10.0.0.1"));
}

#[test]
fn staff_must_use_mfa_in_production_and_nobody_must_elsewhere() {
    use crate::domain::Role;
    let s = production(&[]).unwrap();
    assert_eq!(
        s.auth.mfa_required_roles(),
        vec![Role::Operator, Role::Auditor, Role::Admin]
    );
    for env in [AppEnv::Development, AppEnv::Test] {
        let s = Settings::load_from(&config_dir(), env, vec![]).unwrap();
        assert!(s.auth.mfa_required_roles().is_empty(), "{env:?}");
    }
    let s = production(&[("APP__AUTH__MFA_REQUIRED_ROLES", "admin")]).unwrap();
    assert_eq!(s.auth.mfa_required_roles(), vec![Role::Admin]);
    let err = production(&[("APP__AUTH__MFA_REQUIRED_ROLES", "admin,root")]).unwrap_err();
    assert!(
        format!("{err:#}").contains("auth.mfa_required_roles"),
        "{err:#}"
    );
    let err = production(&[("APP__AUTH__MFA_TOKEN_TTL_SECONDS", "0")]).unwrap_err();
    assert!(format!("{err:#}").contains("mfa_token_ttl_seconds"));
}
