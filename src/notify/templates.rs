//! Mail templates: files under `templates/mail/`, compiled into the binary and parsed once at
//! start-up, rendered with minijinja. `{kind}.{locale}.txt` holds the subject on its first
//! line and the plain-text body after it; `{kind}.{locale}.html` the HTML body (escaped
//! automatically), usually extending `_layout.html`.

use minijinja::value::Serde;
use minijinja::{Environment, UndefinedBehavior};

use super::Kind;
use crate::domain::account::LOCALES;

macro_rules! embed {
    ($($kind:literal),* $(,)?) => {
        &[
            ("_layout.html", include_str!("../../templates/mail/_layout.html")),
            $(
                (concat!($kind, ".zh-CN.txt"), include_str!(concat!("../../templates/mail/", $kind, ".zh-CN.txt"))),
                (concat!($kind, ".zh-CN.html"), include_str!(concat!("../../templates/mail/", $kind, ".zh-CN.html"))),
                (concat!($kind, ".en.txt"), include_str!(concat!("../../templates/mail/", $kind, ".en.txt"))),
                (concat!($kind, ".en.html"), include_str!(concat!("../../templates/mail/", $kind, ".en.html"))),
            )*
        ]
    };
}

/// Every template file, by name.
const FILES: &[(&str, &str)] = embed![
    "welcome",
    "verify_email",
    "account_locked",
    "login_after_lockout",
    "listing_submitted",
    "listing_approved",
    "listing_returned",
    "registration_received",
    "registration_review_needed",
    "registration_qualified",
    "registration_rejected",
    "deposit_confirmed",
    "deposit_refunded",
    "deposit_forfeited",
    "disclosure_ended",
    "listing_suspended",
    "listing_resumed",
    "listing_terminated",
    "auction_scheduled",
    "outbid",
    "auction_won",
    "auction_lost",
    "auction_result",
    "auction_failed",
    "deal_awarded",
    "deal_progress",
    "deal_defaulted",
    "deal_offered",
    "deal_offer_ended",
    "seller_opinion_requested",
    "seller_objected",
    "deadline_reminder",
    "listing_notice",
    "sealed_bid_received",
    "outmatched",
    "account_exists",
    "password_reset",
    "mfa_reset",
];

/// A rendered message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    pub subject: String,
    pub text: String,
    pub html: String,
}

pub struct Templates {
    env: Environment<'static>,
}

impl Templates {
    /// Parses every template; a syntax error stops start-up.
    pub fn load() -> anyhow::Result<Self> {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        for (name, source) in FILES {
            env.add_template(name, source)
                .map_err(|e| anyhow::anyhow!("mail template {name}: {e}"))?;
        }
        for kind in Kind::ALL {
            for locale in LOCALES {
                for ext in ["txt", "html"] {
                    let name = format!("{}.{locale}.{ext}", kind.as_str());
                    env.get_template(&name)
                        .map_err(|_| anyhow::anyhow!("mail template {name} is missing"))?;
                }
            }
        }
        Ok(Self { env })
    }

    /// Renders `kind` in `locale` (falling back to zh-CN) with `ctx` (a JSON object).
    pub fn render(
        &self,
        kind: Kind,
        locale: &str,
        ctx: &serde_json::Value,
    ) -> anyhow::Result<Rendered> {
        let locale = if LOCALES.contains(&locale) {
            locale
        } else {
            "zh-CN"
        };
        let text_name = format!("{}.{locale}.txt", kind.as_str());
        let full = self.env.get_template(&text_name)?.render(Serde(ctx))?;
        let (subject, text) = full.split_once('\n').unwrap_or((full.as_str(), ""));
        let subject = subject.trim().to_string();
        let mut with_subject = ctx.clone();
        if let Some(map) = with_subject.as_object_mut() {
            map.insert("subject".into(), serde_json::Value::String(subject.clone()));
        }
        let html_name = format!("{}.{locale}.html", kind.as_str());
        let html = self
            .env
            .get_template(&html_name)?
            .render(Serde(&with_subject))?;
        Ok(Rendered {
            subject,
            text: text.trim_start_matches('\n').to_string(),
            html,
        })
    }
}
