//! Listing use cases: drafting ([`draft`]: create, edit, submit), review ([`review`]),
//! suspension and termination ([`suspension`]) and relisting ([`relist`]); and the listing as
//! each kind of reader may see it.

mod changes;
mod draft;
mod relist;
mod review;
mod suspension;

pub use changes::{Extension, NoticeInput, NoticeView, extend, notice_view, publish_notice};
pub use draft::{
    ListingInput, ListingPatch, MAX_DESCRIPTION_CHARS, MAX_TITLE_CHARS, create, submit, update,
};
pub use relist::{RelistInput, relist};
pub use review::{Decision, Review, review};
pub use suspension::{Termination, expire_suspensions, resume, suspend, terminate};

use std::sync::Arc;

use crate::domain::bidding::{BiddingMethod, Preemption};
use crate::domain::scope::Scope;
use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use super::{ExchangeRules, decide, mail_all, owners};
use crate::audit::RequestMeta;
use crate::audit::{self, Actor, Event};
use crate::auth::AuthUser;
use crate::domain::Role;
use crate::domain::listing::{ListingKind, ListingStatus};
use crate::domain::money::Money;
use crate::error::AppError;
use crate::notify::{Kind, Notifier};
use crate::store::listings::{self as store, ListingRow};
use crate::store::models::from_db;
use crate::store::{Conn, registrations};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Viewer {
    Public,
    /// A signed-in enterprise or bidder (owner or not).
    Party {
        organization_id: Option<i64>,
        role: Role,
    },
    /// Operators, auditors and admins; an auditor of a city or county body sees only the
    /// listings of the enterprises in its scope (others are as unseen as a stranger's draft).
    Staff(Arc<Scope>),
}

impl Viewer {
    pub fn of(user: Option<&AuthUser>) -> Self {
        match user {
            None => Viewer::Public,
            Some(u) if u.role.is_staff() => Viewer::Staff(u.scope.clone()),
            Some(u) => Viewer::Party {
                organization_id: u.organization_id,
                role: u.role,
            },
        }
    }

    /// Exchange staff with every scope: operators, admins and the province's auditors.
    pub fn staff() -> Self {
        Viewer::Staff(Arc::new(Scope::All))
    }

    /// Whether the viewer is staff (operator, auditor, admin).
    pub fn is_staff(&self) -> bool {
        matches!(self, Viewer::Staff(_))
    }

    pub fn owns(&self, row: &ListingRow) -> bool {
        matches!(self, Viewer::Party { organization_id: Some(org), role: Role::Enterprise } if *org == row.organization_id)
    }

    /// Owners and staff see every state; everyone else only public ones, and a terminated
    /// listing only if it had been disclosed.
    pub fn may_see(&self, row: &ListingRow) -> bool {
        match self {
            Viewer::Staff(scope) => scope.covers_org(row.organization_id),
            _ => self.owns(row) || publicly_visible(row),
        }
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
    /// True once disclosure has ended (status `disclosure` then means: the exchange is still
    /// qualifying bidders, or waiting to schedule the auction).
    pub disclosure_ended: bool,
    /// While undecided: when the listing is decided (no sale, negotiation or auction) at the
    /// latest — the disclosure's end, or later while registrations may still be qualified or
    /// deposits paid; earlier once every registration is settled.
    pub decision_due: Option<DateTime<Utc>>,
    pub free_bidding_seconds: u32,
    pub countdown_seconds: u32,
    pub allow_self_raise: bool,
    /// If the winner defaults, the deal is offered to the runner-up.
    pub runner_up_offer: bool,
    /// `english` or `sealed` (一次报价).
    pub bidding_method: BiddingMethod,
    /// `none` or `in_auction` (the pre-emptive right, 优先购买权, is honoured in the bidding).
    pub preemption: Preemption,
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

pub(super) fn money(fen: i64) -> Money {
    Money::from_fen(fen)
}

pub(super) fn count(v: i32) -> u32 {
    u32::try_from(v).unwrap_or(0)
}

pub(super) fn status_of(row: &ListingRow) -> Result<ListingStatus, AppError> {
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
    let privileged = viewer.is_staff() || viewer.owns(row);
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
        decision_due: if status == ListingStatus::Disclosure && row.disclosure_decided_at.is_none()
        {
            row.decision_due_at.map(from_db)
        } else {
            None
        },
        free_bidding_seconds: count(row.free_bidding_seconds),
        countdown_seconds: count(row.countdown_seconds),
        allow_self_raise: row.allow_self_raise,
        runner_up_offer: row.runner_up_offer,
        bidding_method: BiddingMethod::parse(&row.bidding_method).unwrap_or_default(),
        preemption: Preemption::parse(&row.preemption).unwrap_or_default(),
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

pub(super) fn record(
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

pub(super) fn actor(user: &AuthUser) -> Actor {
    Actor::user(user.id, user.role)
}

/// The services listing use cases need.
pub struct Deps<'a> {
    pub rules: &'a ExchangeRules,
    pub notifier: &'a Notifier,
    /// The exchange's clock, for instants that must be read at a precise point of a
    /// transaction (a bid's time, under the auction's lock).
    pub clock: &'a dyn crate::domain::Clock,
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
pub(super) fn owned(row: &ListingRow, user: &AuthUser) -> Result<(), AppError> {
    let viewer = Viewer::of(Some(user));
    if viewer.owns(row) {
        Ok(())
    } else if viewer.may_see(row) {
        Err(AppError::forbidden("only the listing's owner may do this"))
    } else {
        Err(AppError::not_found("no such listing"))
    }
}

pub(super) fn reason(text: &str) -> Result<&str, AppError> {
    let t = text.trim();
    if t.is_empty() {
        return Err(AppError::field("reason", "give the reason"));
    }
    if t.chars().count() > 2000 {
        return Err(AppError::field("reason", "must be at most 2000 characters"));
    }
    Ok(t)
}

pub(super) fn notify_parties(
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
