//! The sections of the report built from rows: the listing and its rounds, the timeline,
//! registrations and the auction.

use super::bj;
use super::summary;
use super::view::{
    ActorView, OrganizationView, ReportAuction, ReportBid, ReportListing, ReportRegistration,
    ReportRound, StreamVerification, TimelineEntry,
};
use crate::domain::money::Money;
use crate::store::auctions::{AuctionRow, BidRow};
use crate::store::audit::StoredEvent;
use crate::store::listings::{ListingRow, RoundRow};
use crate::store::models::from_db;
use crate::store::registrations::RegistrationRow;
use crate::store::report::UserFacts;
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};

pub(super) fn listing_view(row: &ListingRow, seller: OrganizationView) -> ReportListing {
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
        bidding_method: row.bidding_method.clone(),
        preemption: row.preemption.clone(),
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

pub(super) fn round_view(r: &RoundRow) -> ReportRound {
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

pub(super) fn timeline(
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

pub(super) fn registration_view(
    r: &RegistrationRow,
    deposit_fen: i64,
    organization: OrganizationView,
) -> ReportRegistration {
    let eligible = crate::exchange::registrations::may_bid(r);
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

pub(super) fn auction_view(
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
                table_amount: None,
                in_trail: true,
                bidder_code: b.bidder_code.clone(),
                registration_id: b.registration_id,
                organization_name: org_name(b.registration_id),
                placed_at: from_db(b.placed_at),
                ends_at: from_db(b.ends_at),
                client_ip: b.client_ip.clone(),
                user_agent: b.user_agent.clone(),
                kind: b.kind.clone(),
            })
            .collect(),
    }
}
