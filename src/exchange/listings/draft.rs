//! Drafting a listing: create, edit while draft or returned, submit for review.

use chrono::{DateTime, NaiveDate, Utc};
use serde::Deserialize;
use serde_json::json;
use utoipa::ToSchema;

use super::{Deps, actor, count, load_for_write, money, owned, record, status_of};
use crate::audit::RequestMeta;
use crate::auth::AuthUser;
use crate::domain::account::FieldError;
use crate::domain::bidding::{BiddingMethod, Preemption, check_preemption};
use crate::domain::calendar::Calendar;
use crate::domain::listing::{Action, ListingKind, ListingStatus, Terms, check_terms, transition};
use crate::domain::money::Money;
use crate::error::AppError;
use crate::exchange::{ExchangeRules, mail_all, operators};
use crate::notify::Kind;
use crate::store::Conn;
use crate::store::listings::{self as store, ListingRow, ListingTerms, NewListing};
use crate::store::models::to_db;

pub const MAX_TITLE_CHARS: usize = 200;
pub const MAX_DESCRIPTION_CHARS: usize = 20_000;

/// Everything an enterprise states about a listing.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ListingInput {
    pub kind: ListingKind,
    pub title: String,
    pub description: String,
    pub appraised_value: Money,
    /// Base date of the appraisal (评估基准日), `YYYY-MM-DD`.
    pub appraisal_date: NaiveDate,
    pub listing_price: Money,
    pub deposit: Money,
    pub increment: Money,
    pub disclosure_working_days: u32,
    pub free_bidding_seconds: u32,
    pub countdown_seconds: u32,
    /// The approving body's consent document number (批准文件编号).
    pub consent_document: Option<String>,
    /// Whether the leading bidder may raise their own bid (default no).
    #[serde(default)]
    pub allow_self_raise: bool,
    /// If the winner defaults, offer the deal to the runner-up at its own highest bid
    /// (default no: the listing fails and may be relisted).
    #[serde(default)]
    pub runner_up_offer: bool,
    /// `english` (default: free period, then countdown) or `sealed` (一次报价: one sealed bid
    /// per bidder within `free_bidding_seconds` from the start, all opened at its close).
    #[serde(default)]
    pub bidding_method: BiddingMethod,
    /// `none` (default) or `in_auction`: confirmed holders of the pre-emptive right
    /// (优先购买权) win on equal terms. Equity transfers only.
    #[serde(default)]
    pub preemption: Preemption,
}

/// A partial edit of a draft: only the fields given change.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ListingPatch {
    pub title: Option<String>,
    pub description: Option<String>,
    pub appraised_value: Option<Money>,
    pub appraisal_date: Option<NaiveDate>,
    pub listing_price: Option<Money>,
    pub deposit: Option<Money>,
    pub increment: Option<Money>,
    pub disclosure_working_days: Option<u32>,
    pub free_bidding_seconds: Option<u32>,
    pub countdown_seconds: Option<u32>,
    pub consent_document: Option<String>,
    pub allow_self_raise: Option<bool>,
    pub runner_up_offer: Option<bool>,
    pub bidding_method: Option<BiddingMethod>,
    pub preemption: Option<Preemption>,
}

/// Who is reading a listing.
fn text(field: &'static str, value: &str, max: usize) -> Result<String, FieldError> {
    crate::domain::account::check_name(field, value, max)
}

fn terms_of(input: &ListingInput, round: u32) -> Terms {
    Terms {
        kind: input.kind,
        appraised_value: input.appraised_value,
        appraisal_date: input.appraisal_date,
        listing_price: input.listing_price,
        deposit: input.deposit,
        increment: input.increment,
        disclosure_working_days: input.disclosure_working_days,
        free_bidding_seconds: input.free_bidding_seconds,
        countdown_seconds: input.countdown_seconds,
        consent_document: input.consent_document.clone(),
        round,
    }
}

/// Field checks (presence and length of texts), then the rules.
pub(super) fn validate(
    rules: &ExchangeRules,
    input: &ListingInput,
    round: u32,
    now: DateTime<Utc>,
) -> Result<(String, String), AppError> {
    let title = text("title", &input.title, MAX_TITLE_CHARS);
    let description = if input.description.chars().count() > MAX_DESCRIPTION_CHARS {
        Err(FieldError::new(
            "description",
            format!("must be at most {MAX_DESCRIPTION_CHARS} characters"),
        ))
    } else {
        Ok(input.description.trim().to_string())
    };
    let consent_ok = input
        .consent_document
        .as_deref()
        .is_none_or(|d| d.chars().count() <= 200);
    match (title, description) {
        (Ok(t), Ok(d)) if consent_ok => {
            check_terms(
                &rules.policy,
                &terms_of(input, round),
                Calendar::beijing_date(now),
            )?;
            check_preemption(input.kind, input.preemption)
                .map_err(|m| AppError::rule("preemption_not_allowed", m))?;
            Ok((t, d))
        }
        (t, d) => {
            let mut errors: Vec<FieldError> = [t.err(), d.err()].into_iter().flatten().collect();
            if !consent_ok {
                errors.push(FieldError::new(
                    "consent_document",
                    "must be at most 200 characters",
                ));
            }
            Err(errors.into())
        }
    }
}

fn listing_terms<'a>(
    input: &'a ListingInput,
    title: &'a str,
    description: &'a str,
    now: DateTime<Utc>,
) -> ListingTerms<'a> {
    ListingTerms {
        title,
        description,
        appraised_value: input.appraised_value.fen(),
        appraisal_date: input.appraisal_date,
        listing_price: input.listing_price.fen(),
        deposit: input.deposit.fen(),
        increment: input.increment.fen(),
        disclosure_working_days: i32::try_from(input.disclosure_working_days).unwrap_or(i32::MAX),
        free_bidding_seconds: i32::try_from(input.free_bidding_seconds).unwrap_or(i32::MAX),
        countdown_seconds: i32::try_from(input.countdown_seconds).unwrap_or(i32::MAX),
        allow_self_raise: input.allow_self_raise,
        runner_up_offer: input.runner_up_offer,
        bidding_method: input.bidding_method.as_str(),
        preemption: input.preemption.as_str(),
        consent_document: input
            .consent_document
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty()),
        updated_at: to_db(now),
    }
}

pub fn create(
    conn: &mut Conn,
    deps: &Deps,
    user: &AuthUser,
    input: &ListingInput,
    meta: &RequestMeta,
    now: DateTime<Utc>,
) -> Result<ListingRow, AppError> {
    let org = user
        .organization_id
        .ok_or_else(|| AppError::forbidden("only an enterprise with an organisation may list"))?;
    let (title, description) = validate(deps.rules, input, 1, now)?;
    let year = Calendar::beijing_date(now)
        .format("%Y")
        .to_string()
        .parse()
        .unwrap_or(2026);
    let project_no =
        store::next_project_no(conn, &deps.rules.project_no_prefix, input.kind.code(), year)?;
    let t = listing_terms(input, &title, &description, now);
    let row = store::insert(
        conn,
        &NewListing {
            project_no: &project_no,
            organization_id: org,
            created_by: user.id,
            kind: input.kind.as_str(),
            title: t.title,
            description: t.description,
            status: ListingStatus::Draft.as_str(),
            appraised_value: t.appraised_value,
            appraisal_date: t.appraisal_date,
            listing_price: t.listing_price,
            deposit: t.deposit,
            increment: t.increment,
            disclosure_working_days: t.disclosure_working_days,
            free_bidding_seconds: t.free_bidding_seconds,
            countdown_seconds: t.countdown_seconds,
            allow_self_raise: t.allow_self_raise,
            runner_up_offer: t.runner_up_offer,
            bidding_method: t.bidding_method,
            preemption: t.preemption,
            consent_document: t.consent_document,
            round: 1,
            created_at: to_db(now),
            updated_at: to_db(now),
        },
    )?;
    record(
        conn,
        now,
        &row,
        "listing.created",
        actor(user),
        json!({
            "listing_id": row.id, "project_no": row.project_no, "kind": row.kind, "title": row.title,
            "appraised_value": money(row.appraised_value).to_string(), "listing_price": money(row.listing_price).to_string(),
            "deposit": money(row.deposit).to_string(), "increment": money(row.increment).to_string(),
            "bidding_method": row.bidding_method, "preemption": row.preemption,
        }),
        meta,
    )?;
    Ok(row)
}

pub(super) fn input_of(row: &ListingRow) -> ListingInput {
    ListingInput {
        kind: ListingKind::parse(&row.kind).unwrap_or(ListingKind::AssetTransfer),
        title: row.title.clone(),
        description: row.description.clone(),
        appraised_value: money(row.appraised_value),
        appraisal_date: row.appraisal_date,
        listing_price: money(row.listing_price),
        deposit: money(row.deposit),
        increment: money(row.increment),
        disclosure_working_days: count(row.disclosure_working_days),
        free_bidding_seconds: count(row.free_bidding_seconds),
        countdown_seconds: count(row.countdown_seconds),
        consent_document: row.consent_document.clone(),
        allow_self_raise: row.allow_self_raise,
        runner_up_offer: row.runner_up_offer,
        bidding_method: BiddingMethod::parse(&row.bidding_method).unwrap_or_default(),
        preemption: Preemption::parse(&row.preemption).unwrap_or_default(),
    }
}

pub fn update(
    conn: &mut Conn,
    deps: &Deps,
    user: &AuthUser,
    id: i64,
    patch: &ListingPatch,
    meta: &RequestMeta,
    now: DateTime<Utc>,
) -> Result<ListingRow, AppError> {
    let row = load_for_write(conn, deps, id, now)?;
    owned(&row, user)?;
    transition(status_of(&row)?, Action::Edit)?;
    let mut input = input_of(&row);
    macro_rules! apply {
        ($($f:ident),*) => { $( if let Some(v) = &patch.$f { input.$f = v.clone(); } )* };
    }
    apply!(
        title,
        description,
        appraised_value,
        appraisal_date,
        listing_price,
        deposit,
        increment,
        disclosure_working_days,
        free_bidding_seconds,
        countdown_seconds,
        allow_self_raise,
        runner_up_offer,
        bidding_method,
        preemption
    );
    if let Some(c) = &patch.consent_document {
        input.consent_document = Some(c.clone()).filter(|c| !c.trim().is_empty());
    }
    let (title, description) = validate(deps.rules, &input, count(row.round), now)?;
    store::update_terms(conn, id, &listing_terms(&input, &title, &description, now))?;
    let changed: Vec<&str> = [
        ("title", patch.title.is_some()),
        ("description", patch.description.is_some()),
        ("appraised_value", patch.appraised_value.is_some()),
        ("appraisal_date", patch.appraisal_date.is_some()),
        ("listing_price", patch.listing_price.is_some()),
        ("deposit", patch.deposit.is_some()),
        ("increment", patch.increment.is_some()),
        (
            "disclosure_working_days",
            patch.disclosure_working_days.is_some(),
        ),
        ("free_bidding_seconds", patch.free_bidding_seconds.is_some()),
        ("countdown_seconds", patch.countdown_seconds.is_some()),
        ("consent_document", patch.consent_document.is_some()),
        ("allow_self_raise", patch.allow_self_raise.is_some()),
        ("runner_up_offer", patch.runner_up_offer.is_some()),
        ("bidding_method", patch.bidding_method.is_some()),
        ("preemption", patch.preemption.is_some()),
    ]
    .into_iter()
    .filter(|(_, c)| *c)
    .map(|(f, _)| f)
    .collect();
    let row = store::find(conn, id)?.ok_or_else(|| AppError::not_found("no such listing"))?;
    record(
        conn,
        now,
        &row,
        "listing.updated",
        actor(user),
        json!({
            "listing_id": id, "fields": changed, "listing_price": money(row.listing_price).to_string(),
            "deposit": money(row.deposit).to_string(), "increment": money(row.increment).to_string(),
            "appraised_value": money(row.appraised_value).to_string(),
        }),
        meta,
    )?;
    Ok(row)
}

pub fn submit(
    conn: &mut Conn,
    deps: &Deps,
    user: &AuthUser,
    id: i64,
    meta: &RequestMeta,
    now: DateTime<Utc>,
) -> Result<ListingRow, AppError> {
    let row = load_for_write(conn, deps, id, now)?;
    owned(&row, user)?;
    let from = status_of(&row)?;
    let to = transition(from, Action::Submit)?;
    validate(deps.rules, &input_of(&row), count(row.round), now)?;
    store::set_status(conn, id, from.as_str(), to.as_str(), now)?;
    record(
        conn,
        now,
        &row,
        "listing.submitted",
        actor(user),
        json!({"listing_id": id, "round": row.round}),
        meta,
    )?;
    crate::exchange::risk::on_submitted(conn, deps.rules, &row, now)?;
    let seller = store::seller_name(conn, row.organization_id)?;
    let ops = operators(conn)?;
    mail_all(
        conn,
        deps.notifier,
        now,
        &ops,
        Kind::ListingSubmitted,
        &row,
        json!({"organization": seller, "round": row.round}),
    )?;
    store::find(conn, id)?.ok_or_else(|| AppError::not_found("no such listing"))
}
