//! E-mail notifications through a transactional outbox. [`Notifier::queue`] renders a
//! message and writes it as an outbox row inside the caller's transaction, so a rolled-back
//! change queues nothing; the delivery worker (`jobs::outbox`) sends it after commit.

pub mod preview;
pub mod templates;
pub mod transport;

use chrono::{DateTime, Utc};
use lettre::message::Mailbox;
use serde_json::Value;

use crate::config::Settings;
use crate::error::AppError;
use crate::store::{Conn, notifications};

/// What a message is about; each has its templates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Welcome,
    VerifyEmail,
    AccountLocked,
    LoginAfterLockout,
    ListingSubmitted,
    ListingApproved,
    ListingReturned,
    RegistrationReceived,
    RegistrationReviewNeeded,
    RegistrationQualified,
    RegistrationRejected,
    DepositConfirmed,
    DepositRefunded,
    DepositForfeited,
    DisclosureEnded,
    ListingSuspended,
    ListingResumed,
    ListingTerminated,
    AuctionScheduled,
    Outbid,
    AuctionWon,
    AuctionLost,
    AuctionResult,
    AuctionFailed,
    DealAwarded,
    DealProgress,
    DealDefaulted,
    DealOffered,
    DealOfferEnded,
    SellerOpinionRequested,
    SellerObjected,
    DeadlineReminder,
    ListingNotice,
    SealedBidReceived,
    Outmatched,
    /// Someone tried to register with this account's e-mail or its company's credit code.
    AccountExists,
    /// A link to set a new password (asked for on the sign-in page).
    PasswordReset,
    /// An administrator turned the account's two-factor authentication off.
    MfaReset,
}

impl Kind {
    pub const ALL: [Kind; 38] = [
        Kind::Welcome,
        Kind::VerifyEmail,
        Kind::AccountLocked,
        Kind::LoginAfterLockout,
        Kind::ListingSubmitted,
        Kind::ListingApproved,
        Kind::ListingReturned,
        Kind::RegistrationReceived,
        Kind::RegistrationReviewNeeded,
        Kind::RegistrationQualified,
        Kind::RegistrationRejected,
        Kind::DepositConfirmed,
        Kind::DepositRefunded,
        Kind::DepositForfeited,
        Kind::DisclosureEnded,
        Kind::ListingSuspended,
        Kind::ListingResumed,
        Kind::ListingTerminated,
        Kind::AuctionScheduled,
        Kind::Outbid,
        Kind::AuctionWon,
        Kind::AuctionLost,
        Kind::AuctionResult,
        Kind::AuctionFailed,
        Kind::DealAwarded,
        Kind::DealProgress,
        Kind::DealDefaulted,
        Kind::DealOffered,
        Kind::DealOfferEnded,
        Kind::SellerOpinionRequested,
        Kind::SellerObjected,
        Kind::DeadlineReminder,
        Kind::ListingNotice,
        Kind::SealedBidReceived,
        Kind::Outmatched,
        Kind::AccountExists,
        Kind::PasswordReset,
        Kind::MfaReset,
    ];

    /// Mail that must not wait behind bulk mail: a lockout, a deadline, an auction or deal
    /// event, a suspension. Welcome and verification links, and routine progress, are bulk.
    pub fn is_urgent(self) -> bool {
        matches!(
            self,
            Kind::AccountLocked
                | Kind::LoginAfterLockout
                | Kind::PasswordReset
                | Kind::MfaReset
                | Kind::ListingSuspended
                | Kind::ListingResumed
                | Kind::ListingTerminated
                | Kind::AuctionScheduled
                | Kind::Outbid
                | Kind::Outmatched
                | Kind::SealedBidReceived
                | Kind::AuctionWon
                | Kind::AuctionLost
                | Kind::AuctionResult
                | Kind::AuctionFailed
                | Kind::DealAwarded
                | Kind::DealDefaulted
                | Kind::DealOffered
                | Kind::DealOfferEnded
                | Kind::DeadlineReminder
        )
    }

    /// The outbox priority: 0 urgent, 1 bulk (claimed in that order, then by id).
    pub fn priority(self) -> i16 {
        if self.is_urgent() { 0 } else { 1 }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Welcome => "welcome",
            Kind::VerifyEmail => "verify_email",
            Kind::AccountLocked => "account_locked",
            Kind::LoginAfterLockout => "login_after_lockout",
            Kind::ListingSubmitted => "listing_submitted",
            Kind::ListingApproved => "listing_approved",
            Kind::ListingReturned => "listing_returned",
            Kind::RegistrationReceived => "registration_received",
            Kind::RegistrationReviewNeeded => "registration_review_needed",
            Kind::RegistrationQualified => "registration_qualified",
            Kind::RegistrationRejected => "registration_rejected",
            Kind::DepositConfirmed => "deposit_confirmed",
            Kind::DepositRefunded => "deposit_refunded",
            Kind::DepositForfeited => "deposit_forfeited",
            Kind::DisclosureEnded => "disclosure_ended",
            Kind::ListingSuspended => "listing_suspended",
            Kind::ListingResumed => "listing_resumed",
            Kind::ListingTerminated => "listing_terminated",
            Kind::AuctionScheduled => "auction_scheduled",
            Kind::Outbid => "outbid",
            Kind::AuctionWon => "auction_won",
            Kind::AuctionLost => "auction_lost",
            Kind::AuctionResult => "auction_result",
            Kind::AuctionFailed => "auction_failed",
            Kind::DealAwarded => "deal_awarded",
            Kind::DealProgress => "deal_progress",
            Kind::DealDefaulted => "deal_defaulted",
            Kind::DealOffered => "deal_offered",
            Kind::DealOfferEnded => "deal_offer_ended",
            Kind::SellerOpinionRequested => "seller_opinion_requested",
            Kind::SellerObjected => "seller_objected",
            Kind::DeadlineReminder => "deadline_reminder",
            Kind::ListingNotice => "listing_notice",
            Kind::SealedBidReceived => "sealed_bid_received",
            Kind::Outmatched => "outmatched",
            Kind::AccountExists => "account_exists",
            Kind::PasswordReset => "password_reset",
            Kind::MfaReset => "mfa_reset",
        }
    }
}

/// Who receives a message.
#[derive(Debug, Clone)]
pub struct Recipient {
    pub user_id: Option<i64>,
    pub email: String,
    pub name: String,
    pub locale: String,
}

impl Recipient {
    pub fn of(user: &crate::store::models::User) -> Self {
        Self {
            user_id: Some(user.id),
            email: user.email.clone(),
            name: user.name.clone(),
            locale: user.locale.clone(),
        }
    }
}

pub struct Notifier {
    templates: templates::Templates,
    from_domain: String,
    base_url: String,
    preview: preview::PreviewKey,
}

impl Notifier {
    /// `secret` is the effective JWT secret, from which the preview-link key is derived.
    pub fn new(settings: &Settings, secret: &[u8]) -> anyhow::Result<Self> {
        let from: Mailbox = settings
            .mail
            .from
            .parse()
            .map_err(|e| anyhow::anyhow!("mail.from: {e}"))?;
        Ok(Self {
            templates: templates::Templates::load()?,
            from_domain: from.email.domain().to_string(),
            base_url: settings
                .server
                .public_base_url
                .trim_end_matches('/')
                .to_string(),
            preview: preview::PreviewKey::derive(secret),
        })
    }

    /// Signs and checks the preview links of listings the public may not see yet.
    pub fn preview(&self) -> &preview::PreviewKey {
        &self.preview
    }

    /// A link into the platform's web front end.
    pub fn link(&self, path: &str) -> String {
        format!("{}{}", self.base_url, path)
    }

    /// Renders and queues one message in the caller's transaction. `ctx` is merged with the
    /// common fields (`name`, `locale`, `platform`, `base_url`).
    pub fn queue(
        &self,
        conn: &mut Conn,
        now: DateTime<Utc>,
        to: &Recipient,
        kind: Kind,
        ctx: Value,
    ) -> Result<i64, AppError> {
        let platform = if to.locale == "en" {
            "the State Asset Exchange"
        } else {
            "国有资产交易平台"
        };
        let mut full = serde_json::json!({
            "name": to.name,
            "locale": to.locale,
            "platform": platform,
            "base_url": self.base_url,
        });
        if let (Some(base), Value::Object(extra)) = (full.as_object_mut(), ctx) {
            base.extend(extra);
        }
        let rendered = self
            .templates
            .render(kind, &to.locale, &full)
            .map_err(AppError::internal)?;
        let message_id = format!(
            "<{}.{}@{}>",
            now.timestamp_micros(),
            crate::random::token(),
            self.from_domain
        );
        notifications::insert(
            conn,
            &notifications::NewNotification {
                user_id: to.user_id,
                to_address: &to.email,
                kind: kind.as_str(),
                locale: &to.locale,
                subject: &rendered.subject,
                body_text: &rendered.text,
                body_html: &rendered.html,
                message_id: &message_id,
                priority: kind.priority(),
                now,
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::templates::Templates;
    use super::*;
    use serde_json::json;

    fn sample() -> Value {
        let mut v = json!({
            "name": "王小明", "locale": "zh-CN", "platform": "国有资产交易平台", "base_url": "http://x",
            "organization": "某某公司 <b>&</b>", "role_label": "意向受让方", "ttl_hours": 24,
            "verify_url": "http://x/verify-email?token=abc", "failures": 5,
            "locked_until": "2026-11-27 16:15", "client_ip": "192.0.2.1", "login_at": "2026-11-27 16:20",
            "project_no": "AX-CQ-2026-00001", "title": "某某公司100%股权", "listing_url": "http://x/listings/1",
            "round": 2, "disclosure_end": "2026-12-25 17:00", "comment": "请补充评估报告", "registrations_count": 3,
            "bidder_organization": "某某投资公司", "bidder_code": "B7K3Q9XZ", "deposit": "300000.00",
            "deposit_due": "2026-12-01 17:00", "reference": "PAY-1", "outcome": "auction", "reason": "权属争议",
            "starts_at": "2026-12-01 10:00", "start_price": "10000000.00", "increment": "50000.00",
            "free_bidding_seconds": 3600, "countdown_seconds": 300, "amount": "10100000.00", "ends_at": "2026-12-01 11:05",
            "price": "10150000.00", "bids": 3, "method": "auction", "step": "closed", "certificate_no": "AX-JY-2026-00001",
        });
        let more = json!({
            "defaulted_bidder_code": "B2M8R4TW", "offer_due": "2026-12-08 17:00", "offered": true,
            "auction_paused": true, "auction_ends_at": "2026-12-08 10:05",
            "opinion_due": "2026-12-08 17:00", "review_due": "2026-12-09 17:00", "what": "deposit",
            "due": "2026-12-04 17:00", "passed": false, "notice_kind": "supplementary",
            "text": "补充说明资产瑕疵", "material": true, "commitment": "9f2c".repeat(16), "attempt_at": "2026-12-04 09:30",
            "reset_url": "http://x/reset-password?token=abc", "ttl_minutes": 30, "bidding_method": "english", "reset_at": "2026-12-05 10:00",
        });
        if let (Some(a), Value::Object(b)) = (v.as_object_mut(), more) {
            a.extend(b);
        }
        v
    }

    #[test]
    fn every_kind_renders_in_every_locale() {
        let t = Templates::load().unwrap();
        for kind in Kind::ALL {
            for locale in ["zh-CN", "en"] {
                let r = t.render(kind, locale, &sample()).unwrap();
                assert!(
                    !r.subject.is_empty() && !r.subject.contains('\n'),
                    "{kind:?} {locale}"
                );
                assert!(r.text.contains("王小明"), "{kind:?} {locale} text");
                if kind.as_str().contains("listing")
                    || kind.as_str().contains("deposit")
                    || kind.as_str().contains("registration")
                    || kind.as_str().contains("disclosure")
                {
                    assert!(
                        r.text.contains("AX-CQ-2026-00001")
                            && r.text.contains("http://x/listings/1"),
                        "{kind:?} {locale} names the listing"
                    );
                    assert!(
                        r.html.contains("AX-CQ-2026-00001"),
                        "{kind:?} {locale} html names the listing"
                    );
                }
                assert!(r.html.contains("<html"), "{kind:?} {locale} html");
            }
        }
    }

    #[test]
    fn html_is_escaped_and_text_is_not() {
        let t = Templates::load().unwrap();
        let r = t.render(Kind::Welcome, "zh-CN", &sample()).unwrap();
        assert!(r.html.contains("某某公司 &lt;b&gt;&amp;&lt;"), "{}", r.html);
        assert!(!r.html.contains("<b>"));
        assert!(r.text.contains("某某公司 <b>&</b>"));
        assert!(r.text.contains("http://x/verify-email?token=abc"));
    }

    #[test]
    fn a_missing_variable_is_an_error_not_an_empty_string() {
        let t = Templates::load().unwrap();
        assert!(
            t.render(Kind::Welcome, "en", &json!({"name": "x"}))
                .is_err()
        );
    }

    #[test]
    fn unknown_locale_falls_back_to_chinese() {
        let t = Templates::load().unwrap();
        let r = t.render(Kind::AccountLocked, "fr", &sample()).unwrap();
        assert!(r.subject.contains("锁定"));
    }
}
