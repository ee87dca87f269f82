//! The report's document: every section as the JSON (and the printed page) shows it.

use crate::audit::verify::Invalid;
use crate::domain::money::Money;
use crate::exchange::supervision::AlertView;
use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

/// The whole report.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ListingReport {
    pub generated_at: DateTime<Utc>,
    /// `generated_at` as Beijing time (UTC+8), `YYYY-MM-DD HH:MM:SS`.
    pub generated_at_beijing: String,
    pub generated_by: ActorView,
    pub listing: ReportListing,
    pub rounds: Vec<ReportRound>,
    /// Every event of the stream `listing:{id}`, in `stream_seq` order.
    pub timeline: Vec<TimelineEntry>,
    /// Registrations of every round, with deposits and where they came from.
    pub registrations: Vec<ReportRegistration>,
    /// The auction of each round that had one, with every bid.
    pub auctions: Vec<ReportAuction>,
    pub deal: Option<ReportDeal>,
    pub alerts: Vec<AlertView>,
    pub verification: StreamVerification,
}

/// Who acted (or asked for the report).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ActorView {
    pub id: Option<i64>,
    /// `enterprise`, `bidder`, `operator`, `auditor`, `admin`; null for the system.
    pub role: Option<String>,
    pub name: Option<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = ReportOrganization)]
pub struct OrganizationView {
    pub id: i64,
    pub name: String,
    /// Unified social credit code (统一社会信用代码).
    pub credit_code: String,
}

/// Every stored field of the listing, with the seller named.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ReportListing {
    pub id: i64,
    pub project_no: String,
    pub kind: String,
    pub title: String,
    pub description: String,
    pub status: String,
    pub seller: OrganizationView,
    pub created_by: i64,
    pub appraised_value: Money,
    pub appraisal_date: NaiveDate,
    pub listing_price: Money,
    pub deposit: Money,
    pub increment: Money,
    pub disclosure_working_days: i32,
    pub disclosure_start: Option<DateTime<Utc>>,
    pub disclosure_end: Option<DateTime<Utc>>,
    pub disclosure_decided_at: Option<DateTime<Utc>>,
    pub first_disclosure_at: Option<DateTime<Utc>>,
    pub free_bidding_seconds: i32,
    pub countdown_seconds: i32,
    pub allow_self_raise: bool,
    /// `english` or `sealed`.
    pub bidding_method: String,
    /// `none` or `in_auction`.
    pub preemption: String,
    pub consent_document: Option<String>,
    pub round: i32,
    pub review_comment: Option<String>,
    pub suspended_from: Option<String>,
    pub suspended_at: Option<DateTime<Utc>>,
    pub suspension_reason: Option<String>,
    pub terminated_reason: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ReportRound {
    pub round: i32,
    pub listing_price: Money,
    pub disclosure_working_days: i32,
    pub consent_document: Option<String>,
    pub disclosure_start: Option<DateTime<Utc>>,
    pub disclosure_end: Option<DateTime<Utc>>,
    pub outcome: Option<String>,
}

/// One audit event, with a short summary for people.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TimelineEntry {
    pub stream_seq: i64,
    pub occurred_at: DateTime<Utc>,
    /// Beijing time (UTC+8), `YYYY-MM-DD HH:MM:SS`.
    pub occurred_at_beijing: String,
    pub action: String,
    pub actor: ActorView,
    /// A short human summary of the payload (Chinese).
    pub summary: String,
    #[schema(value_type = Object)]
    pub payload: Value,
    pub client_ip: Option<String>,
    pub request_id: Option<String>,
    pub prev_hash: String,
    pub hash: String,
    /// The first verification problem found at this event, if any (e.g. `hash_mismatch`).
    pub problem: Option<&'static str>,
}

/// A registration with everything auditors may see: who, from where, and the deposit.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ReportRegistration {
    pub id: i64,
    pub round: i32,
    pub organization: OrganizationView,
    pub user_id: i64,
    pub bidder_code: Option<String>,
    pub status: String,
    pub deposit_status: String,
    pub eligible: bool,
    pub deposit: Money,
    pub deposit_reference: Option<String>,
    pub deposit_due_at: Option<DateTime<Utc>>,
    pub statement: Option<String>,
    pub review_comment: Option<String>,
    /// Address and browser the registration came from.
    pub client_ip: Option<String>,
    pub user_agent: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ReportAuction {
    pub id: i64,
    pub round: i32,
    pub starts_at: DateTime<Utc>,
    pub free_ends_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub closed_at: Option<DateTime<Utc>>,
    pub countdown_seconds: i32,
    pub start_price: Money,
    pub increment: Money,
    pub allow_self_raise: bool,
    pub current_price: Option<Money>,
    pub leading_bidder_code: Option<String>,
    pub bid_count: i32,
    pub bids: Vec<ReportBid>,
}

/// An accepted bid with the organisation behind its code.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ReportBid {
    pub id: i64,
    pub seq: i32,
    /// The amount as the audit trail records it (the table's, when the trail has no such bid).
    pub amount: Money,
    /// The `bids` table's amount, only when it differs from the trail's (else null).
    pub table_amount: Option<Money>,
    /// False when the trail has no event for this bid row.
    pub in_trail: bool,
    pub bidder_code: String,
    pub registration_id: i64,
    pub organization_name: Option<String>,
    pub placed_at: DateTime<Utc>,
    /// The auction's end after this bid.
    pub ends_at: DateTime<Utc>,
    pub client_ip: Option<String>,
    pub user_agent: Option<String>,
    /// `raise`, `match` (a right-holder's match of the price) or `sealed` (opened at the close).
    pub kind: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ReportDeal {
    pub id: i64,
    pub round: i32,
    /// `auction` or `negotiation`.
    pub method: String,
    pub status: String,
    pub price: Money,
    pub bidder_code: String,
    pub registration_id: i64,
    pub winner: Option<OrganizationView>,
    pub awarded_at: DateTime<Utc>,
    pub contract_due_at: DateTime<Utc>,
    pub contract_signed_at: Option<DateTime<Utc>>,
    pub contract_overdue_flagged: bool,
    pub paid_at: Option<DateTime<Utc>>,
    pub payment_reference: Option<String>,
    pub announced_at: Option<DateTime<Utc>>,
    pub closed_at: Option<DateTime<Utc>>,
    pub certificate_no: Option<String>,
}

/// The stream's chain recomputed, and how far the latest signed checkpoint vouches for it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct StreamVerification {
    /// `listing:{id}`.
    pub stream: String,
    /// True when the chain and every checkpoint check out.
    pub valid: bool,
    pub events_checked: u64,
    pub checkpoints_checked: u64,
    pub first_invalid: Option<Invalid>,
    /// Up to 100 problems in the order found.
    pub problems: Vec<Invalid>,
    /// The stream's last event.
    pub head: Option<HeadView>,
    pub latest_checkpoint: Option<CheckpointCoverage>,
    /// True when the latest checkpoint signed exactly the stream's head.
    pub covered: bool,
    /// Events appended after the head the latest checkpoint signed (all of them without one).
    pub events_after_checkpoint: i64,
    /// The business table that disagrees with the stream's events (`bids`, `registrations`),
    /// if any; the problem is also in `problems` as `state_mismatch`.
    pub table_disagreeing: Option<&'static str>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct HeadView {
    pub seq: i64,
    pub hash: String,
}

/// The newest checkpoint and what it signed of this stream.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CheckpointCoverage {
    pub id: i64,
    pub created_at: DateTime<Utc>,
    pub streams: i64,
    pub events: i64,
    /// Merkle root of every stream head (hex).
    pub root: String,
    pub key_id: String,
    pub signature: String,
    /// Whether the signature verifies with a trusted key.
    pub signature_verified: bool,
    /// `unknown_key` or `bad_signature` when it does not.
    pub signature_problem: Option<&'static str>,
    /// This stream's head as of the checkpoint (null if it never signed the stream).
    pub signed_head: Option<HeadView>,
}
