//! Listing use cases: create and edit drafts, submit, review, suspend, resume, terminate and
//! relist; and the listing as each kind of reader may see it.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

use super::{ExchangeRules, beijing, decide, mail_all, operators, owners};
use crate::audit::RequestMeta;
use crate::audit::{self, Actor, Event};
use crate::auth::AuthUser;
use crate::domain::Role;
use crate::domain::account::FieldError;
use crate::domain::calendar::Calendar;
use crate::domain::listing::{
    Action, ListingKind, ListingStatus, Terms, check_appraisal_valid, check_relist_window,
    check_terms, transition,
};
use crate::domain::money::Money;
use crate::error::AppError;
use crate::notify::{Kind, Notifier};
use crate::store::listings::{self as store, ListingRow, ListingTerms, NewListing};
use crate::store::models::{from_db, to_db};
use crate::store::{Conn, registrations};

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
}

/// Who is reading a listing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Viewer {
    Public,
    /// A signed-in enterprise or bidder (owner or not).
    Party {
        organization_id: Option<i64>,
        role: Role,
    },
    /// Operators, auditors and admins.
    Staff,
}

impl Viewer {
    pub fn of(user: Option<&AuthUser>) -> Self {
        match user {
            None => Viewer::Public,
            Some(u) if u.role.is_staff() => Viewer::Staff,
            Some(u) => Viewer::Party {
                organization_id: u.organization_id,
                role: u.role,
            },
        }
    }

    pub fn owns(&self, row: &ListingRow) -> bool {
        matches!(self, Viewer::Party { organization_id: Some(org), role: Role::Enterprise } if *org == row.organization_id)
    }

    /// Owners and staff see every state; everyone else only public ones, and a terminated
    /// listing only if it had been disclosed.
    pub fn may_see(&self, row: &ListingRow) -> bool {
        matches!(self, Viewer::Staff) || self.owns(row) || publicly_visible(row)
    }
}

/// Whether the public may see the listing: a public state, reached through disclosure.
pub fn publicly_visible(row: &ListingRow) -> bool {
    match ListingStatus::parse(&row.status) {
        Some(ListingStatus::Terminated) => row.first_disclosure_at.is_some(),
        Some(s) => s.is_public(),
        None => false,
    }
}

/// A listing as the API shows it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ListingView {
    pub id: i64,
    /// Human-readable project number, e.g. `AX-CQ-2026-00001`.
    pub project_no: String,
    pub kind: ListingKind,
    pub title: String,
    pub description: String,
    pub status: ListingStatus,
    pub seller: SellerView,
    pub appraised_value: Money,
    pub appraisal_date: NaiveDate,
    pub listing_price: Money,
    pub deposit: Money,
    pub increment: Money,
    pub disclosure_working_days: u32,
    pub disclosure_start: Option<DateTime<Utc>>,
    pub disclosure_end: Option<DateTime<Utc>>,
    /// True once disclosure has ended (status `disclosure` then means: waiting for the
    /// exchange to schedule the auction).
    pub disclosure_ended: bool,
    pub free_bidding_seconds: u32,
    pub countdown_seconds: u32,
    pub allow_self_raise: bool,
    pub consent_document: Option<String>,
    pub round: u32,
    /// While suspended: the state it will return to, and why.
    pub suspended_from: Option<ListingStatus>,
    pub suspension_reason: Option<String>,
    pub terminated_reason: Option<String>,
    /// The operator's comment on the last review (owner and staff only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub review_comment: Option<String>,
    /// Registrations in the current round (owner and staff only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub registrations: Option<i64>,
    /// Calendar notes, e.g. a Monday–Friday fallback for a year with no holiday file.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SellerView {
    pub organization_id: i64,
    pub name: String,
}

fn money(fen: i64) -> Money {
    Money::from_fen(fen)
}

fn count(v: i32) -> u32 {
    u32::try_from(v).unwrap_or(0)
}

fn status_of(row: &ListingRow) -> Result<ListingStatus, AppError> {
    ListingStatus::parse(&row.status)
        .ok_or_else(|| AppError::internal(anyhow::anyhow!("bad status {}", row.status)))
}

/// Builds the view; `status` is the effective status (decided on read if the job is late).
pub fn view(
    row: &ListingRow,
    seller: String,
    status: ListingStatus,
    viewer: Viewer,
    registrations: Option<i64>,
    now: DateTime<Utc>,
) -> ListingView {
    let privileged = matches!(viewer, Viewer::Staff) || viewer.owns(row);
    ListingView {
        id: row.id,
        project_no: row.project_no.clone(),
        kind: ListingKind::parse(&row.kind).unwrap_or(ListingKind::AssetTransfer),
        title: row.title.clone(),
        description: row.description.clone(),
        status,
        seller: SellerView {
            organization_id: row.organization_id,
            name: seller,
        },
        appraised_value: money(row.appraised_value),
        appraisal_date: row.appraisal_date,
        listing_price: money(row.listing_price),
        deposit: money(row.deposit),
        increment: money(row.increment),
        disclosure_working_days: count(row.disclosure_working_days),
        disclosure_start: row.disclosure_start.map(from_db),
        disclosure_end: row.disclosure_end.map(from_db),
        disclosure_ended: row.disclosure_end.is_some_and(|e| from_db(e) <= now)
            && row.disclosure_start.is_some(),
        free_bidding_seconds: count(row.free_bidding_seconds),
        countdown_seconds: count(row.countdown_seconds),
        allow_self_raise: row.allow_self_raise,
        consent_document: row.consent_document.clone(),
        round: count(row.round),
        suspended_from: row.suspended_from.as_deref().and_then(ListingStatus::parse),
        suspension_reason: row.suspension_reason.clone(),
        terminated_reason: row.terminated_reason.clone(),
        review_comment: if privileged {
            row.review_comment.clone()
        } else {
            None
        },
        registrations: if privileged { registrations } else { None },
        warnings: Vec::new(),
        created_at: from_db(row.created_at),
        updated_at: from_db(row.updated_at),
    }
}

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
fn validate(
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
        consent_document: input
            .consent_document
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty()),
        updated_at: to_db(now),
    }
}

fn record(
    conn: &mut Conn,
    now: DateTime<Utc>,
    row: &ListingRow,
    action: &'static str,
    actor: Actor,
    payload: serde_json::Value,
    meta: &RequestMeta,
) -> Result<(), AppError> {
    audit::record(
        conn,
        now,
        Event {
            stream: format!("listing:{}", row.id),
            action,
            actor,
            payload,
            meta,
        },
    )
}

fn actor(user: &AuthUser) -> Actor {
    Actor::user(user.id, user.role)
}

/// The services listing use cases need.
pub struct Deps<'a> {
    pub rules: &'a ExchangeRules,
    pub notifier: &'a Notifier,
}

/// Loads a listing for a write: decides its disclosure first if that is due, then locks it.
pub fn load_for_write(
    conn: &mut Conn,
    deps: &Deps,
    id: i64,
    now: DateTime<Utc>,
) -> Result<ListingRow, AppError> {
    decide::decide_if_due(conn, deps.notifier, id, now)?;
    store::find_for_update(conn, id)?.ok_or_else(|| AppError::not_found("no such listing"))
}

/// An owner's write: the listing must belong to the caller's organisation (others get 404,
/// as if it did not exist, unless it is public: then 403).
fn owned(row: &ListingRow, user: &AuthUser) -> Result<(), AppError> {
    let viewer = Viewer::of(Some(user));
    if viewer.owns(row) {
        Ok(())
    } else if viewer.may_see(row) {
        Err(AppError::forbidden("only the listing's owner may do this"))
    } else {
        Err(AppError::not_found("no such listing"))
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
        }),
        meta,
    )?;
    Ok(row)
}

fn input_of(row: &ListingRow) -> ListingInput {
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
        allow_self_raise
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
    super::risk::on_submitted(conn, deps.rules, &row, now)?;
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

/// An operator's review.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    Approve,
    Return,
}

pub struct Review<'a> {
    pub decision: Decision,
    pub comment: &'a str,
    pub disclosure_end: Option<DateTime<Utc>>,
}

/// Approves (disclosure starts now and ends at the given or the computed minimum end) or
/// returns the listing. Returns the listing and any calendar warnings.
#[expect(clippy::too_many_lines, reason = "split by the lead in issue 12/13")]
pub fn review(
    conn: &mut Conn,
    deps: &Deps,
    user: &AuthUser,
    id: i64,
    r: &Review,
    meta: &RequestMeta,
    now: DateTime<Utc>,
) -> Result<(ListingRow, Vec<String>), AppError> {
    let row = load_for_write(conn, deps, id, now)?;
    let from = status_of(&row)?;
    let mut warnings = Vec::new();
    match r.decision {
        Decision::Return => {
            let to = transition(from, Action::Return)?;
            if r.comment.trim().is_empty() {
                return Err(AppError::field("comment", "say what must change"));
            }
            store::set_status(conn, id, from.as_str(), to.as_str(), now)?;
            store::set_review_comment(conn, id, r.comment.trim())?;
            record(
                conn,
                now,
                &row,
                "listing.returned",
                actor(user),
                json!({"listing_id": id, "comment": r.comment.trim()}),
                meta,
            )?;
            let to_users = owners(conn, &row)?;
            mail_all(
                conn,
                deps.notifier,
                now,
                &to_users,
                Kind::ListingReturned,
                &row,
                json!({"comment": r.comment.trim()}),
            )?;
        }
        Decision::Approve => {
            let to = transition(from, Action::Approve)?;
            check_appraisal_valid(
                &deps.rules.policy,
                row.appraisal_date,
                Calendar::beijing_date(now),
            )?;
            // The regulation's minimum for the kind and price is the floor for an end the
            // operator gives; without one, the period the enterprise announced applies.
            let kind = ListingKind::parse(&row.kind).unwrap_or(ListingKind::AssetTransfer);
            let floor_days = deps
                .rules
                .policy
                .min_disclosure_days(kind, money(row.listing_price));
            let floor = deps.rules.disclosure_end(now, floor_days);
            let announced = deps
                .rules
                .disclosure_end(now, count(row.disclosure_working_days));
            let end = match r.disclosure_end {
                Some(given) if given < floor.value => {
                    return Err(AppError::rule(
                        "disclosure_too_short",
                        format!(
                            "disclosure must last until at least {} (Beijing time)",
                            beijing(floor.value)
                        ),
                    ));
                }
                Some(given)
                    if given
                        > deps
                            .rules
                            .disclosure_end(now, deps.rules.policy.max_disclosure_working_days)
                            .value =>
                {
                    return Err(AppError::rule(
                        "disclosure_too_long",
                        format!(
                            "a disclosure may last at most {} working days",
                            deps.rules.policy.max_disclosure_working_days
                        ),
                    ));
                }
                Some(given) => {
                    warnings.extend(floor.fallback_warning());
                    given
                }
                None => {
                    warnings.extend(announced.fallback_warning());
                    announced.value
                }
            };
            store::set_status(conn, id, from.as_str(), to.as_str(), now)?;
            store::open_disclosure(conn, id, now, end)?;
            if !r.comment.trim().is_empty() {
                store::set_review_comment(conn, id, r.comment.trim())?;
            }
            let opened =
                store::find(conn, id)?.ok_or_else(|| AppError::not_found("no such listing"))?;
            store::record_round(conn, &opened, now)?;
            record(
                conn,
                now,
                &row,
                "listing.approved",
                actor(user),
                json!({
                    "listing_id": id, "round": row.round, "disclosure_start": audit::chain::format_time(now),
                    "disclosure_end": audit::chain::format_time(end), "comment": r.comment.trim(), "warnings": warnings,
                }),
                meta,
            )?;
            super::risk::on_disclosure(conn, deps.rules, &opened, now)?;
            let to_users = owners(conn, &row)?;
            mail_all(
                conn,
                deps.notifier,
                now,
                &to_users,
                Kind::ListingApproved,
                &row,
                json!({"disclosure_end": beijing(end)}),
            )?;
        }
    }
    let row = store::find(conn, id)?.ok_or_else(|| AppError::not_found("no such listing"))?;
    Ok((row, warnings))
}

fn reason(text: &str) -> Result<&str, AppError> {
    let t = text.trim();
    if t.is_empty() {
        return Err(AppError::field("reason", "give the reason"));
    }
    if t.chars().count() > 2000 {
        return Err(AppError::field("reason", "must be at most 2000 characters"));
    }
    Ok(t)
}

fn notify_parties(
    conn: &mut Conn,
    deps: &Deps,
    row: &ListingRow,
    kind: Kind,
    extra: serde_json::Value,
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    let mut to = owners(conn, row)?;
    to.extend(registrations::registrant_users(conn, row.id, row.round)?);
    mail_all(conn, deps.notifier, now, &to, kind, row, extra)
}

pub fn suspend(
    conn: &mut Conn,
    deps: &Deps,
    user: &AuthUser,
    id: i64,
    why: &str,
    meta: &RequestMeta,
    now: DateTime<Utc>,
) -> Result<ListingRow, AppError> {
    let why = reason(why)?;
    let row = load_for_write(conn, deps, id, now)?;
    let from = status_of(&row)?;
    let to = transition(from, Action::Suspend)?;
    store::set_status(conn, id, from.as_str(), to.as_str(), now)?;
    store::suspend(conn, id, from.as_str(), why, now)?;
    record(
        conn,
        now,
        &row,
        "listing.suspended",
        actor(user),
        json!({"listing_id": id, "from": from.as_str(), "reason": why}),
        meta,
    )?;
    notify_parties(
        conn,
        deps,
        &row,
        Kind::ListingSuspended,
        json!({"reason": why}),
        now,
    )?;
    store::find(conn, id)?.ok_or_else(|| AppError::not_found("no such listing"))
}

/// Resumes to the interrupted state. A resumed disclosure gets what it had left, but at least
/// the configured minimum after resumption and in all.
pub fn resume(
    conn: &mut Conn,
    deps: &Deps,
    user: &AuthUser,
    id: i64,
    why: &str,
    meta: &RequestMeta,
    now: DateTime<Utc>,
) -> Result<(ListingRow, Vec<String>), AppError> {
    let why = reason(why)?;
    let row = load_for_write(conn, deps, id, now)?;
    let from = status_of(&row)?;
    let back = row
        .suspended_from
        .as_deref()
        .and_then(ListingStatus::parse)
        .unwrap_or(ListingStatus::Disclosure);
    let to = transition(from, Action::Resume { to: back })?;
    let mut warnings = Vec::new();
    let mut new_end = None;
    if to == ListingStatus::Disclosure
        && let (Some(start), Some(end), Some(paused)) =
            (row.disclosure_start, row.disclosure_end, row.suspended_at)
    {
        let cal = &deps.rules.calendar;
        let (start, end, paused) = (from_db(start), from_db(end), from_db(paused));
        let before = cal.working_days_between(
            Calendar::beijing_date(start),
            Calendar::beijing_date(paused.min(end)),
        );
        let days = deps.rules.resume_min_after_days.max(
            deps.rules
                .resume_min_total_days
                .saturating_sub(before.value),
        );
        let computed = deps.rules.disclosure_end(now, days);
        warnings.extend(computed.fallback_warning());
        // Give back at least the time that was left when it was suspended.
        let left = (end - paused).max(chrono::Duration::zero());
        let end = computed.value.max(now + left);
        store::set_disclosure_end(conn, id, end)?;
        new_end = Some(end);
    }
    store::set_status(conn, id, from.as_str(), to.as_str(), now)?;
    store::clear_suspension(conn, id)?;
    record(
        conn,
        now,
        &row,
        "listing.resumed",
        actor(user),
        json!({
            "listing_id": id, "to": to.as_str(), "reason": why,
            "disclosure_end": new_end.map(audit::chain::format_time),
        }),
        meta,
    )?;
    if new_end.is_some() {
        let resumed =
            store::find(conn, id)?.ok_or_else(|| AppError::not_found("no such listing"))?;
        super::risk::on_disclosure(conn, deps.rules, &resumed, now)?;
    }
    notify_parties(
        conn,
        deps,
        &row,
        Kind::ListingResumed,
        json!({"disclosure_end": new_end.map(beijing).unwrap_or_default()}),
        now,
    )?;
    let row = store::find(conn, id)?.ok_or_else(|| AppError::not_found("no such listing"))?;
    Ok((row, warnings))
}

pub fn terminate(
    conn: &mut Conn,
    deps: &Deps,
    user: &AuthUser,
    id: i64,
    why: &str,
    meta: &RequestMeta,
    now: DateTime<Utc>,
) -> Result<ListingRow, AppError> {
    let why = reason(why)?;
    let row = load_for_write(conn, deps, id, now)?;
    let from = status_of(&row)?;
    let to = transition(from, Action::Terminate)?;
    store::set_status(conn, id, from.as_str(), to.as_str(), now)?;
    store::set_terminated_reason(conn, id, why)?;
    record(
        conn,
        now,
        &row,
        "listing.terminated",
        actor(user),
        json!({"listing_id": id, "from": from.as_str(), "reason": why}),
        meta,
    )?;
    notify_parties(
        conn,
        deps,
        &row,
        Kind::ListingTerminated,
        json!({"reason": why}),
        now,
    )?;
    store::find(conn, id)?.ok_or_else(|| AppError::not_found("no such listing"))
}

/// A new round after no sale or a failed auction.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RelistInput {
    pub listing_price: Money,
    pub disclosure_working_days: u32,
    pub consent_document: Option<String>,
}

pub fn relist(
    conn: &mut Conn,
    deps: &Deps,
    user: &AuthUser,
    id: i64,
    r: &RelistInput,
    meta: &RequestMeta,
    now: DateTime<Utc>,
) -> Result<ListingRow, AppError> {
    let row = load_for_write(conn, deps, id, now)?;
    owned(&row, user)?;
    let from = status_of(&row)?;
    let to = transition(from, Action::Relist)?;
    check_relist_window(
        &deps.rules.policy,
        row.first_disclosure_at.map(from_db),
        now,
    )?;
    let round = count(row.round) + 1;
    let mut input = input_of(&row);
    input.listing_price = r.listing_price;
    input.disclosure_working_days = r.disclosure_working_days;
    input.consent_document = r.consent_document.clone().filter(|c| !c.trim().is_empty());
    validate(deps.rules, &input, round, now)?;
    let round_i = i32::try_from(round).unwrap_or(i32::MAX);
    let days = i32::try_from(r.disclosure_working_days).unwrap_or(i32::MAX);
    store::start_round(
        conn,
        id,
        round_i,
        r.listing_price.fen(),
        days,
        input.consent_document.as_deref().map(str::trim),
        now,
    )?;
    store::set_status(conn, id, from.as_str(), to.as_str(), now)?;
    record(
        conn,
        now,
        &row,
        "listing.relisted",
        actor(user),
        json!({
            "listing_id": id, "round": round, "previous_price": money(row.listing_price).to_string(),
            "listing_price": r.listing_price.to_string(), "disclosure_working_days": r.disclosure_working_days,
            "consent_document": input.consent_document,
        }),
        meta,
    )?;
    let row = store::find(conn, id)?.ok_or_else(|| AppError::not_found("no such listing"))?;
    super::risk::on_submitted(conn, deps.rules, &row, now)?;
    let seller = store::seller_name(conn, row.organization_id)?;
    let ops = operators(conn)?;
    mail_all(
        conn,
        deps.notifier,
        now,
        &ops,
        Kind::ListingSubmitted,
        &row,
        json!({"organization": seller, "round": round}),
    )?;
    Ok(row)
}
