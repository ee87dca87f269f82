//! The exchange's use cases over listings and registrations: each runs inside one
//! transaction, applies the rules from `domain`, writes its audit event and queues its mail.

pub mod auctions;
pub mod bodies;
pub mod deals;
pub mod decide;
pub mod listings;
pub mod ocds;
pub mod registrations;
pub mod reminders;
pub mod report;
pub mod risk;
pub mod sandbox;
pub mod scope;
pub mod supervision;
pub mod webhooks;

use std::path::Path;

use anyhow::Context;
use chrono::{DateTime, NaiveTime, Utc};
use serde_json::{Value, json};

use crate::config::Settings;
use crate::domain::calendar::{Calendar, Dated, parse_year_file};
use crate::domain::clock::format_beijing;
use crate::domain::listing::{InvalidTransition, ListingPolicy, RuleViolation};
use crate::domain::risk::RiskPolicy;
use crate::error::AppError;
use crate::notify::{Kind, Notifier, Recipient};
use crate::store::listings::ListingRow;
use crate::store::{Conn, users};

/// Rules and calendar, loaded once at start-up.
pub struct ExchangeRules {
    pub policy: ListingPolicy,
    pub risk: RiskPolicy,
    pub calendar: Calendar,
    pub close_of_business: NaiveTime,
    pub project_no_prefix: String,
    pub deposit_due_working_days: u32,
    pub resume_min_total_days: u32,
    pub resume_min_after_days: u32,
    pub max_suspension_months: u32,
    pub forfeit_unused_deposits: bool,
    pub contract_due_working_days: u32,
    pub announcement_min_working_days: u32,
    pub runner_up_answer_working_days: u32,
    pub payment_due_working_days: u32,
    pub qualification_working_days: u32,
    pub seller_opinion_working_days: u32,
    pub extension_min_working_days: u32,
    pub payment: crate::domain::payment::PaymentPolicy,
    pub instalment_final_months: u32,
    pub reminder_hours_before: u32,
}

impl ExchangeRules {
    /// Reads the working-day calendar files from `{config dir}/calendar/*.toml`.
    pub fn load(settings: &Settings, config_dir: &Path) -> anyhow::Result<Self> {
        let dir = config_dir.join("calendar");
        let mut files = Vec::new();
        if dir.is_dir() {
            let mut paths: Vec<_> = std::fs::read_dir(&dir)
                .with_context(|| format!("cannot read {}", dir.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "toml"))
                .collect();
            paths.sort();
            for path in paths {
                let text = std::fs::read_to_string(&path)
                    .with_context(|| format!("cannot read {}", path.display()))?;
                files.push(
                    parse_year_file(&text)
                        .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?,
                );
            }
        } else {
            tracing::warn!(dir = %dir.display(), "no working-day calendar folder: every year falls back to Monday–Friday");
        }
        let calendar = Calendar::from_year_files(files)
            .map_err(|e| anyhow::anyhow!("working-day calendar: {e}"))?;
        let l = &settings.listing;
        Ok(Self {
            policy: l.policy()?,
            risk: settings.risk.policy()?,
            calendar,
            close_of_business: l.close_of_business()?,
            project_no_prefix: l.project_no_prefix.clone(),
            deposit_due_working_days: l.deposit_due_working_days,
            resume_min_total_days: l.resume_min_total_days,
            resume_min_after_days: l.resume_min_after_days,
            max_suspension_months: l.max_suspension_months,
            forfeit_unused_deposits: l.forfeit_unused_deposits,
            contract_due_working_days: l.contract_due_working_days,
            announcement_min_working_days: l.announcement_min_working_days,
            runner_up_answer_working_days: l.runner_up_answer_working_days,
            payment_due_working_days: l.payment_due_working_days,
            qualification_working_days: l.qualification_working_days,
            seller_opinion_working_days: l.seller_opinion_working_days,
            extension_min_working_days: l.extension_min_working_days,
            payment: crate::domain::payment::PaymentPolicy {
                instalment_min_price: crate::domain::money::Money::from_yuan(
                    l.instalment_min_price_yuan,
                )
                .map_err(|e| anyhow::anyhow!("listing.instalment_min_price_yuan: {e}"))?,
                first_instalment_percent: l.instalment_first_percent,
            },
            instalment_final_months: l.instalment_final_months,
            reminder_hours_before: l.reminder_hours_before,
        })
    }

    /// The end of `days` working days of disclosure starting at `start`.
    pub fn disclosure_end(&self, start: DateTime<Utc>, days: u32) -> Dated<DateTime<Utc>> {
        self.calendar
            .period_end(start, days, self.close_of_business)
    }

    /// When the exchange's opinion on registrations is due: working days after disclosure.
    pub fn qualification_end(&self, disclosure_end: DateTime<Utc>) -> DateTime<Utc> {
        self.deadline(disclosure_end, self.qualification_working_days)
    }

    /// A warning for each deadline that falls into a year with no published calendar (its
    /// working days were counted Monday to Friday).
    pub fn calendar_warnings(&self, instants: &[Option<DateTime<Utc>>]) -> Vec<String> {
        use chrono::Datelike;
        let mut years: Vec<i32> = instants
            .iter()
            .flatten()
            .map(|t| Calendar::beijing_date(*t).year())
            .filter(|y| !self.calendar.has_year(*y))
            .collect();
        years.sort_unstable();
        years.dedup();
        crate::domain::calendar::Dated {
            value: (),
            fallback_years: years,
        }
        .fallback_warning()
        .into_iter()
        .collect()
    }

    /// The close of business of the `days`-th working day after `start` (any deadline counted
    /// in working days: contracts, payments, answers).
    pub fn deadline(&self, start: DateTime<Utc>, days: u32) -> DateTime<Utc> {
        self.calendar
            .period_end(start, days, self.close_of_business)
            .value
    }
}

impl From<RuleViolation> for AppError {
    fn from(v: RuleViolation) -> Self {
        AppError::rule(v.code, v.message)
    }
}

impl From<InvalidTransition> for AppError {
    fn from(e: InvalidTransition) -> Self {
        AppError::conflict("invalid_state", e.to_string())
    }
}

/// What every listing mail needs: project number, title and link. The link opens the
/// listing's public page; while the public may not see the listing (under review, or ended
/// before disclosure) it carries a preview token for this round, so that its recipients (the
/// owner, the operators) see the page the public will see.
pub fn listing_ctx(notifier: &Notifier, row: &ListingRow, extra: Value) -> Value {
    let mut path = format!("/listings/{}", row.id);
    if !listings::publicly_visible(row) {
        path.push_str("?preview=");
        path.push_str(&notifier.preview().token(row.id, row.round));
    }
    let mut ctx = json!({
        "project_no": row.project_no,
        "title": row.title,
        "listing_url": notifier.link(&path),
    });
    if let (Some(map), Value::Object(more)) = (ctx.as_object_mut(), extra) {
        map.extend(more);
    }
    ctx
}

/// Queues `kind` about `row` to each of `to`.
pub fn mail_all(
    conn: &mut Conn,
    notifier: &Notifier,
    now: DateTime<Utc>,
    to: &[crate::store::models::User],
    kind: Kind,
    row: &ListingRow,
    extra: Value,
) -> Result<(), AppError> {
    for user in to {
        notifier.queue(
            conn,
            now,
            &Recipient::of(user),
            kind,
            listing_ctx(notifier, row, extra.clone()),
        )?;
    }
    Ok(())
}

/// The users of the listing's organisation (its owners).
pub fn owners(
    conn: &mut Conn,
    row: &ListingRow,
) -> Result<Vec<crate::store::models::User>, AppError> {
    users::of_organization(conn, row.organization_id)
}

/// The exchange's operators.
pub fn operators(conn: &mut Conn) -> Result<Vec<crate::store::models::User>, AppError> {
    users::with_role(conn, "operator")
}

pub fn beijing(t: DateTime<Utc>) -> String {
    format_beijing(t)
}

/// The user behind a registration.
pub fn registrant(
    conn: &mut Conn,
    registration_user_id: i64,
) -> Result<Vec<crate::store::models::User>, AppError> {
    Ok(users::find_with_org(conn, registration_user_id)?
        .map(|(u, _)| vec![u])
        .unwrap_or_default())
}
