//! The auditor's report on one listing: the listing and its rounds, the timeline of its
//! audit stream, registrations with deposits, every bid, the deal, the risk alerts, and the
//! stream's verification against the latest signed checkpoint. One document, served as JSON
//! or rendered by [`html`] as a printable page.

pub mod html;
pub mod summary;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use super::supervision::{self, AlertView};
use crate::audit::checkpoint::{CheckpointRecord, SignatureError, TrustedKeys};
use crate::audit::verify::{Invalid, Verifier};
use crate::domain::clock::beijing;
use crate::domain::money::Money;
use crate::domain::registration::{DepositStatus, RegistrationStatus, is_eligible};
use crate::error::AppError;
use crate::store::auctions::{self, AuctionRow, BidRow};
use crate::store::audit::{self as audit_store, StoredEvent};
use crate::store::listings::{self, ListingRow, RoundRow};
use crate::store::models::from_db;
use crate::store::registrations::{self, RegistrationRow};
use crate::store::report::{self as store, OrgFacts, UserFacts};
use crate::store::{Conn, alerts, deals};

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
    pub amount: Money,
    pub bidder_code: String,
    pub registration_id: i64,
    pub organization_name: Option<String>,
    pub placed_at: DateTime<Utc>,
    /// The auction's end after this bid.
    pub ends_at: DateTime<Utc>,
    pub client_ip: Option<String>,
    pub user_agent: Option<String>,
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

fn bj(t: DateTime<Utc>) -> String {
    t.with_timezone(&beijing())
        .format("%Y-%m-%d %H:%M:%S")
        .to_string()
}

/// Recomputes `events` (one stream, in order) against every checkpoint with the trail's
/// verifier, limited to `stream`, and works out the latest checkpoint's coverage.
pub fn verify_stream(
    keys: &TrustedKeys,
    stream: &str,
    checkpoints: &[CheckpointRecord],
    events: &[StoredEvent],
) -> StreamVerification {
    let scope: HashSet<String> = [stream.to_string()].into();
    let mut v = Verifier::new(keys.clone(), Some(scope));
    let mut signed: Option<HeadView> = None;
    for cp in checkpoints {
        v.checkpoint(cp);
        if let Some(h) = cp.heads.iter().find(|h| h.stream == stream) {
            signed = Some(HeadView {
                seq: h.seq,
                hash: h.hash.clone(),
            });
        }
    }
    for e in events {
        v.event(&e.body(), &e.hash);
    }
    let report = v.finish();
    let head = events.last().map(|e| HeadView {
        seq: e.stream_seq,
        hash: e.hash.clone(),
    });
    let latest = checkpoints.last().map(|cp| {
        let problem = match keys.verify(cp) {
            Ok(()) => None,
            Err(SignatureError::UnknownKey) => Some("unknown_key"),
            Err(SignatureError::Bad) => Some("bad_signature"),
        };
        CheckpointCoverage {
            id: cp.id,
            created_at: cp.created_at,
            streams: cp.streams,
            events: cp.events,
            root: cp.root.clone(),
            key_id: cp.key_id.clone(),
            signature: cp.signature.clone(),
            signature_verified: problem.is_none(),
            signature_problem: problem,
            signed_head: signed.clone(),
        }
    });
    let head_seq = head.as_ref().map_or(0, |h| h.seq);
    let signed_seq = signed.as_ref().map_or(0, |h| h.seq);
    StreamVerification {
        stream: stream.to_string(),
        valid: report.valid,
        events_checked: report.events_checked,
        checkpoints_checked: report.checkpoints_checked,
        first_invalid: report.first_invalid,
        problems: report.problems,
        covered: head.is_some() && signed == head,
        events_after_checkpoint: (head_seq - signed_seq).max(0),
        head,
        latest_checkpoint: latest,
    }
}

/// Who asked for the report, and when.
#[derive(Debug, Clone, Copy)]
pub struct Request {
    pub user_id: i64,
    pub now: DateTime<Utc>,
}

/// Assembles the report of listing `id` (404 if there is none). Checkpoints are read before
/// the events, so every head they signed is already in what is read.
pub fn listing_report(
    conn: &mut Conn,
    keys: &TrustedKeys,
    id: i64,
    req: Request,
) -> Result<ListingReport, AppError> {
    let row = listings::find(conn, id)?.ok_or_else(|| AppError::not_found("no such listing"))?;
    let stream = format!("listing:{id}");
    let checkpoints = crate::audit::checkpoints(conn)?;
    let events = audit_store::stream_events(conn, &stream)?;
    let verification = verify_stream(keys, &stream, &checkpoints, &events);

    let rounds = listings::rounds(conn, id)?;
    let mut regs: Vec<RegistrationRow> = Vec::new();
    let mut auctions_of: Vec<(AuctionRow, Vec<BidRow>)> = Vec::new();
    let mut deal = None;
    for round in 1..=row.round.max(1) {
        regs.extend(
            registrations::for_listing(conn, id, round)?
                .into_iter()
                .map(|(r, _)| r),
        );
        if let Some(a) = auctions::of_listing(conn, id, round)? {
            let bids = auctions::bids(conn, a.id, 0, i64::MAX)?;
            auctions_of.push((a, bids));
        }
        if let Some(d) = deals::of_listing(conn, id, round)? {
            deal = Some(d);
        }
    }
    let alert_rows = alerts::of_listing(conn, id)?;

    let org_ids: BTreeSet<i64> = std::iter::once(row.organization_id)
        .chain(regs.iter().map(|r| r.organization_id))
        .collect();
    let orgs: HashMap<i64, OrgFacts> = store::organizations(conn, &Vec::from_iter(org_ids))?
        .into_iter()
        .map(|o| (o.id, o))
        .collect();
    let user_ids: BTreeSet<i64> = events
        .iter()
        .filter_map(|e| e.actor_id)
        .chain([req.user_id])
        .collect();
    let users: HashMap<i64, UserFacts> = store::users(conn, &Vec::from_iter(user_ids))?
        .into_iter()
        .map(|u| (u.id, u))
        .collect();

    let org_view = |org_id: i64| OrganizationView {
        id: org_id,
        name: orgs
            .get(&org_id)
            .map(|o| o.name.clone())
            .unwrap_or_default(),
        credit_code: orgs
            .get(&org_id)
            .map(|o| o.credit_code.clone())
            .unwrap_or_default(),
    };
    let reg_org: HashMap<i64, i64> = regs.iter().map(|r| (r.id, r.organization_id)).collect();
    let requester = users.get(&req.user_id);
    Ok(ListingReport {
        generated_at: req.now,
        generated_at_beijing: bj(req.now),
        generated_by: ActorView {
            id: Some(req.user_id),
            role: requester.map(|u| u.role.clone()),
            name: requester.map(|u| u.name.clone()),
        },
        listing: listing_view(&row, org_view(row.organization_id)),
        rounds: rounds.iter().map(round_view).collect(),
        timeline: timeline(&events, &users, &verification),
        registrations: regs
            .iter()
            .map(|r| registration_view(r, row.deposit, org_view(r.organization_id)))
            .collect(),
        auctions: auctions_of
            .iter()
            .map(|(a, bids)| {
                auction_view(a, bids, |reg| reg_org.get(&reg).map(|o| org_view(*o).name))
            })
            .collect(),
        deal: deal.map(|d| ReportDeal {
            winner: reg_org.get(&d.registration_id).map(|o| org_view(*o)),
            id: d.id,
            round: d.round,
            method: d.method,
            status: d.status,
            price: Money::from_fen(d.price),
            bidder_code: d.bidder_code,
            registration_id: d.registration_id,
            awarded_at: from_db(d.awarded_at),
            contract_due_at: from_db(d.contract_due_at),
            contract_signed_at: d.contract_signed_at.map(from_db),
            contract_overdue_flagged: d.contract_overdue_flagged,
            paid_at: d.paid_at.map(from_db),
            payment_reference: d.payment_reference,
            announced_at: d.announced_at.map(from_db),
            closed_at: d.closed_at.map(from_db),
            certificate_no: d.certificate_no,
        }),
        alerts: alert_rows.iter().map(supervision::view).collect(),
        verification,
    })
}

fn listing_view(row: &ListingRow, seller: OrganizationView) -> ReportListing {
    ReportListing {
        id: row.id,
        project_no: row.project_no.clone(),
        kind: row.kind.clone(),
        title: row.title.clone(),
        description: row.description.clone(),
        status: row.status.clone(),
        seller,
        created_by: row.created_by,
        appraised_value: Money::from_fen(row.appraised_value),
        appraisal_date: row.appraisal_date,
        listing_price: Money::from_fen(row.listing_price),
        deposit: Money::from_fen(row.deposit),
        increment: Money::from_fen(row.increment),
        disclosure_working_days: row.disclosure_working_days,
        disclosure_start: row.disclosure_start.map(from_db),
        disclosure_end: row.disclosure_end.map(from_db),
        disclosure_decided_at: row.disclosure_decided_at.map(from_db),
        first_disclosure_at: row.first_disclosure_at.map(from_db),
        free_bidding_seconds: row.free_bidding_seconds,
        countdown_seconds: row.countdown_seconds,
        allow_self_raise: row.allow_self_raise,
        consent_document: row.consent_document.clone(),
        round: row.round,
        review_comment: row.review_comment.clone(),
        suspended_from: row.suspended_from.clone(),
        suspended_at: row.suspended_at.map(from_db),
        suspension_reason: row.suspension_reason.clone(),
        terminated_reason: row.terminated_reason.clone(),
        created_at: from_db(row.created_at),
        updated_at: from_db(row.updated_at),
    }
}

fn round_view(r: &RoundRow) -> ReportRound {
    ReportRound {
        round: r.round,
        listing_price: Money::from_fen(r.listing_price),
        disclosure_working_days: r.disclosure_working_days,
        consent_document: r.consent_document.clone(),
        disclosure_start: r.disclosure_start.map(from_db),
        disclosure_end: r.disclosure_end.map(from_db),
        outcome: r.outcome.clone(),
    }
}

fn timeline(
    events: &[StoredEvent],
    users: &HashMap<i64, UserFacts>,
    verification: &StreamVerification,
) -> Vec<TimelineEntry> {
    let mut problems: BTreeMap<i64, &'static str> = BTreeMap::new();
    for p in verification
        .problems
        .iter()
        .filter(|p| p.stream == verification.stream)
    {
        problems.entry(p.stream_seq).or_insert(p.reason);
    }
    events
        .iter()
        .map(|e| {
            let payload: Value =
                serde_json::from_str(&e.payload).unwrap_or(Value::String(e.payload.clone()));
            let at = from_db(e.occurred_at);
            TimelineEntry {
                stream_seq: e.stream_seq,
                occurred_at: at,
                occurred_at_beijing: bj(at),
                action: e.action.clone(),
                actor: ActorView {
                    id: e.actor_id,
                    role: e.actor_role.clone(),
                    name: e
                        .actor_id
                        .and_then(|id| users.get(&id))
                        .map(|u| u.name.clone()),
                },
                summary: summary::summarize(&e.action, &payload),
                payload,
                client_ip: e.client_ip.clone(),
                request_id: e.request_id.clone(),
                prev_hash: e.prev_hash.clone(),
                hash: e.hash.clone(),
                problem: problems.get(&e.stream_seq).copied(),
            }
        })
        .collect()
}

fn registration_view(
    r: &RegistrationRow,
    deposit_fen: i64,
    organization: OrganizationView,
) -> ReportRegistration {
    let eligible = match (
        RegistrationStatus::parse(&r.status),
        DepositStatus::parse(&r.deposit_status),
    ) {
        (Some(s), Some(d)) => is_eligible(s, d),
        _ => false,
    };
    ReportRegistration {
        id: r.id,
        round: r.round,
        organization,
        user_id: r.user_id,
        bidder_code: r.bidder_code.clone(),
        status: r.status.clone(),
        deposit_status: r.deposit_status.clone(),
        eligible,
        deposit: Money::from_fen(deposit_fen),
        deposit_reference: r.deposit_reference.clone(),
        deposit_due_at: r.deposit_due_at.map(from_db),
        statement: r.statement.clone(),
        review_comment: r.review_comment.clone(),
        client_ip: r.client_ip.clone(),
        user_agent: r.user_agent.clone(),
        created_at: from_db(r.created_at),
        updated_at: from_db(r.updated_at),
    }
}

fn auction_view(
    a: &AuctionRow,
    bids: &[BidRow],
    org_name: impl Fn(i64) -> Option<String>,
) -> ReportAuction {
    ReportAuction {
        id: a.id,
        round: a.round,
        starts_at: from_db(a.starts_at),
        free_ends_at: from_db(a.free_ends_at),
        ends_at: from_db(a.ends_at),
        closed_at: a.closed_at.map(from_db),
        countdown_seconds: a.countdown_seconds,
        start_price: Money::from_fen(a.start_price),
        increment: Money::from_fen(a.increment),
        allow_self_raise: a.allow_self_raise,
        current_price: a.current_price.map(Money::from_fen),
        leading_bidder_code: a.leading_bidder_code.clone(),
        bid_count: a.bid_count,
        bids: bids
            .iter()
            .map(|b| ReportBid {
                id: b.id,
                seq: b.seq,
                amount: Money::from_fen(b.amount),
                bidder_code: b.bidder_code.clone(),
                registration_id: b.registration_id,
                organization_name: org_name(b.registration_id),
                placed_at: from_db(b.placed_at),
                ends_at: from_db(b.ends_at),
                client_ip: b.client_ip.clone(),
                user_agent: b.user_agent.clone(),
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::chain::{self, EventBody, GENESIS_HASH};
    use crate::audit::checkpoint::{AuditSigner, signed_message};
    use crate::audit::merkle::{self, Head};
    use chrono::TimeZone;

    fn chain_of(stream: &str, n: i64) -> Vec<StoredEvent> {
        let mut prev = GENESIS_HASH.to_string();
        (1..=n)
            .map(|seq| {
                let at = Utc
                    .with_ymd_and_hms(2026, 11, 27, 8, 0, seq as u32)
                    .unwrap();
                let body = EventBody {
                    stream: stream.into(),
                    stream_seq: seq,
                    occurred_at: at,
                    actor_id: None,
                    actor_role: None,
                    action: "test.event".into(),
                    payload: format!("{{\"n\":{seq}}}"),
                    client_ip: None,
                    request_id: None,
                    prev_hash: prev.clone(),
                };
                let hash = chain::hash(&body);
                prev = hash.clone();
                StoredEvent {
                    id: seq,
                    stream: body.stream,
                    stream_seq: seq,
                    occurred_at: at.naive_utc(),
                    actor_id: None,
                    actor_role: None,
                    action: body.action,
                    payload: body.payload,
                    client_ip: None,
                    request_id: None,
                    prev_hash: body.prev_hash,
                    hash,
                }
            })
            .collect()
    }

    fn head(e: &StoredEvent) -> Head {
        Head {
            stream: e.stream.clone(),
            seq: e.stream_seq,
            hash: e.hash.clone(),
        }
    }

    fn signed(signer: &AuditSigner, id: i64, heads: Vec<Head>) -> CheckpointRecord {
        let created_at = Utc.with_ymd_and_hms(2026, 11, 27, 9, 0, id as u32).unwrap();
        let root = merkle::root_of(&heads);
        let events = heads.iter().map(|h| h.seq).sum();
        let streams = heads.len() as i64;
        let msg = signed_message(id, created_at, streams, events, &root, signer.key_id());
        CheckpointRecord {
            id,
            created_at,
            streams,
            events,
            root,
            heads,
            key_id: signer.key_id().into(),
            signature: signer.sign(&msg),
        }
    }

    #[test]
    fn a_stream_signed_at_its_head_is_valid_and_covered() {
        let signer = AuditSigner::from_seed([5; 32]);
        let keys = TrustedKeys::new([signer.public_key()]);
        let a = chain_of("listing:1", 4);
        let cp = signed(&signer, 1, vec![head(&a[3])]);
        let v = verify_stream(&keys, "listing:1", &[cp], &a);
        assert!(v.valid, "{:?}", v.first_invalid);
        assert!(v.covered);
        assert_eq!(v.events_after_checkpoint, 0);
        assert_eq!(v.events_checked, 4);
        let latest = v.latest_checkpoint.unwrap();
        assert!(latest.signature_verified);
        assert_eq!(latest.signed_head.unwrap().seq, 4);
    }

    #[test]
    fn events_after_the_checkpoint_are_counted_and_other_streams_are_ignored() {
        let signer = AuditSigner::from_seed([5; 32]);
        let keys = TrustedKeys::new([signer.public_key()]);
        let a = chain_of("listing:1", 5);
        let b = chain_of("listing:2", 2);
        let cp1 = signed(&signer, 1, vec![head(&a[1]), head(&b[1])]);
        let mut cp2 = signed(&signer, 2, vec![head(&a[2]), head(&b[1])]);
        cp2.heads = vec![head(&a[2])]; // only the moved head is stored
        let v = verify_stream(&keys, "listing:1", &[cp1, cp2], &a);
        assert!(v.valid, "{:?}", v.first_invalid);
        assert!(!v.covered);
        assert_eq!(v.events_after_checkpoint, 2);
        assert_eq!(v.head.unwrap().seq, 5);
    }

    #[test]
    fn an_edited_event_is_named_and_marked_in_the_timeline() {
        let signer = AuditSigner::from_seed([5; 32]);
        let keys = TrustedKeys::new([signer.public_key()]);
        let mut a = chain_of("listing:1", 3);
        let cp = signed(&signer, 1, vec![head(&a[2])]);
        a[1].payload = "{\"n\":99}".into();
        let v = verify_stream(&keys, "listing:1", &[cp], &a);
        assert!(!v.valid);
        let first = v.first_invalid.clone().unwrap();
        assert_eq!((first.stream_seq, first.reason), (2, "hash_mismatch"));
        let t = timeline(&a, &HashMap::new(), &v);
        assert_eq!(
            t.iter().map(|e| e.problem).collect::<Vec<_>>(),
            [None, Some("hash_mismatch"), None]
        );
    }

    #[test]
    fn a_checkpoint_by_an_untrusted_key_is_reported() {
        let signer = AuditSigner::from_seed([5; 32]);
        let other = AuditSigner::from_seed([6; 32]);
        let a = chain_of("listing:1", 2);
        let cp = signed(&signer, 1, vec![head(&a[1])]);
        let v = verify_stream(
            &TrustedKeys::new([other.public_key()]),
            "listing:1",
            &[cp],
            &a,
        );
        assert!(!v.valid);
        let latest = v.latest_checkpoint.unwrap();
        assert!(!latest.signature_verified);
        assert_eq!(latest.signature_problem, Some("unknown_key"));
    }

    #[test]
    fn without_a_checkpoint_every_event_is_after_it() {
        let keys = TrustedKeys::default();
        let a = chain_of("listing:1", 3);
        let v = verify_stream(&keys, "listing:1", &[], &a);
        assert!(v.valid);
        assert!(v.latest_checkpoint.is_none());
        assert!(!v.covered);
        assert_eq!(v.events_after_checkpoint, 3);
    }
}
