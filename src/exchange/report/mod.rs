//! The auditor's report on one listing: the listing and its rounds, the timeline of its
//! audit stream, registrations with deposits, every bid, the deal, the risk alerts, and the
//! stream's verification against the latest signed checkpoint. One document, served as JSON
//! or rendered by [`html`] as a printable page.

pub mod html;
pub mod summary;

use crate::domain::scope::Scope;
use std::collections::{BTreeSet, HashMap};

use chrono::{DateTime, Utc};

use super::supervision::{self};
use crate::audit::checkpoint::TrustedKeys;
use crate::domain::clock::beijing;
use crate::domain::money::Money;
use crate::error::AppError;
use crate::store::auctions::{self, AuctionRow, BidRow};
use crate::store::audit::{self as audit_store};
use crate::store::deals::DealRow;
use crate::store::listings::{self};
use crate::store::models::from_db;
use crate::store::registrations::{self, RegistrationRow};
use crate::store::report::{self as store, OrgFacts, UserFacts};
use crate::store::{Conn, alerts, deals};

mod sections;
#[cfg(test)]
mod tests;
mod verify;
mod view;

use sections::{auction_view, listing_view, registration_view, round_view, timeline};
pub use verify::verify_stream;
pub use view::{
    ActorView, CheckpointCoverage, HeadView, ListingReport, OrganizationView, ReportAuction,
    ReportBid, ReportDeal, ReportListing, ReportRegistration, ReportRound, StreamVerification,
    TimelineEntry,
};

fn bj(t: DateTime<Utc>) -> String {
    t.with_timezone(&beijing())
        .format("%Y-%m-%d %H:%M:%S")
        .to_string()
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
    scope: &Scope,
    id: i64,
    req: Request,
) -> Result<ListingReport, AppError> {
    let row = listings::find(conn, id)?
        .filter(|r| scope.covers_org(r.organization_id))
        .ok_or_else(|| AppError::not_found("no such listing"))?;
    let stream = format!("listing:{id}");
    let checkpoints = crate::audit::checkpoints(conn)?;
    let events = audit_store::stream_events(conn, &stream)?;
    let mut verification = verify_stream(keys, &stream, &checkpoints, &events);
    let mismatch = crate::audit::reconcile::listing_mismatch(conn, id, &events)?;
    if let Some((seq, table)) = mismatch {
        mark_mismatch(&mut verification, &stream, seq, table);
    }

    let rounds = listings::rounds(conn, id)?;
    let (regs, auctions_of, deal) = rounds_rows(conn, id, row.round)?;
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
                let mut view =
                    auction_view(a, bids, |reg| reg_org.get(&reg).map(|o| org_view(*o).name));
                as_the_trail_records(&mut view, &events);
                view
            })
            .collect(),
        deal: deal.map(|d| {
            let winner = reg_org.get(&d.registration_id).map(|o| org_view(*o));
            deal_view(d, winner)
        }),
        alerts: alert_rows.iter().map(supervision::view).collect(),
        verification,
    })
}

/// Records a disagreement of the business tables with the trail in the stream's verification.
fn mark_mismatch(v: &mut StreamVerification, stream: &str, seq: i64, table: &'static str) {
    let problem = crate::audit::verify::Invalid {
        stream: stream.to_string(),
        stream_seq: seq,
        reason: crate::audit::reconcile::STATE_MISMATCH,
        table: Some(table),
    };
    v.valid = false;
    v.first_invalid.get_or_insert_with(|| problem.clone());
    v.problems.push(problem);
    v.table_disagreeing = Some(table);
}

/// Shows each bid with the amount its event records, keeping a differing table amount.
fn as_the_trail_records(view: &mut ReportAuction, events: &[crate::store::audit::StoredEvent]) {
    let trail = crate::audit::reconcile::trail_bids(events);
    for b in &mut view.bids {
        let recorded = trail
            .iter()
            .find(|t| t.auction_id == view.id && t.seq == i64::from(b.seq));
        match recorded.and_then(|t| Money::parse(&t.amount).ok()) {
            Some(amount) if amount != b.amount => {
                b.table_amount = Some(b.amount);
                b.amount = amount;
            }
            Some(_) => {}
            None => b.in_trail = false,
        }
    }
}

/// What the rounds of a listing hold: registrations, auctions with their bids, the last deal.
type RoundsRows = (
    Vec<RegistrationRow>,
    Vec<(AuctionRow, Vec<BidRow>)>,
    Option<DealRow>,
);

/// Every round's registrations, auction with its bids, and the last deal.
fn rounds_rows(conn: &mut Conn, id: i64, last_round: i32) -> Result<RoundsRows, AppError> {
    let mut regs: Vec<RegistrationRow> = Vec::new();
    let mut auctions_of: Vec<(AuctionRow, Vec<BidRow>)> = Vec::new();
    let mut deal = None;
    for round in 1..=last_round.max(1) {
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
    Ok((regs, auctions_of, deal))
}

/// The deal section.
fn deal_view(d: DealRow, winner: Option<OrganizationView>) -> ReportDeal {
    ReportDeal {
        winner,
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
    }
}
