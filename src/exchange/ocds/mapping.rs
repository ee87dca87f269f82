//! Mapping of a listing: one stage of its process to one OCDS release (tender, bids, award,
//! contract), saying only what the public may see.

use super::amounts::Amount;
use super::payments::payment_parts;
use super::schema::{
    Award, Bid, Bids, Contract, OrgRef, Party, Period, Release, Statistic, Tender,
};
use super::stages::{RoundFacts, Snapshot, Stage, deal_is_public, facts};
use super::{EXCHANGE_ID, LANGUAGE, Publication, ts};
use crate::domain::bidding::{BiddingMethod, Preemption};
use crate::domain::listing::ListingKind;
use crate::store::deals::DealRow;
use crate::store::listings::ListingRow;
use crate::store::models::from_db;
use crate::store::ocds::Process;
use chrono::{DateTime, Utc};
use std::collections::HashSet;

pub(super) fn release_id(s: &Snapshot) -> String {
    format!(
        "r{}-{}-{}",
        s.round,
        s.stage.name(),
        s.at.format("%Y%m%dT%H%M%S%.6fZ")
    )
}

pub(super) fn kind_name(kind: &str) -> &'static str {
    match ListingKind::parse(kind) {
        Some(ListingKind::EquityTransfer) => "产权转让",
        Some(ListingKind::CapitalIncrease) => "企业增资",
        Some(ListingKind::AssetTransfer) | None => "资产转让",
    }
}

pub(super) fn bidder(code: &str) -> OrgRef {
    OrgRef {
        id: format!("bidder-{code}"),
        name: code.to_string(),
    }
}

pub(super) fn bid_id(round: i32, seq: i32) -> String {
    format!("r{round}-bid-{seq}")
}

/// The release of one snapshot. `first_of_round`: no earlier release of the same round.
/// The bidders of a round by their codes, once its auction has closed; nobody before.
fn bidders_of(f: &RoundFacts, closed: bool) -> Vec<OrgRef> {
    let mut tenderers: Vec<OrgRef> = Vec::new();
    if closed {
        for b in &f.bids {
            let who = bidder(&b.bidder_code);
            if !tenderers.contains(&who) {
                tenderers.push(who);
            }
        }
    }
    tenderers
}

/// `tender.numberOfTenderers` as far as the stage may tell it.
fn tenderer_count(
    f: &RoundFacts,
    s: &Snapshot,
    closed: bool,
    negotiated: bool,
    bidders: usize,
) -> Option<u32> {
    if closed {
        u32::try_from(bidders).ok()
    } else if s.stage == Stage::NoSale {
        Some(0)
    } else if negotiated
        && f.deal.is_some()
        && (s.stage.after_award() || s.stage == Stage::Terminated)
    {
        Some(1)
    } else {
        None
    }
}

/// The seller (buyer in OCDS terms), the exchange and the tenderers, the winner a supplier.
fn parties(
    seller: &OrgRef,
    exchange: &OrgRef,
    tenderers: &[OrgRef],
    winner: Option<&OrgRef>,
) -> Vec<Party> {
    let mut parties = vec![
        Party {
            id: seller.id.clone(),
            name: seller.name.clone(),
            roles: vec!["buyer"],
        },
        Party {
            id: exchange.id.clone(),
            name: exchange.name.clone(),
            roles: vec!["procuringEntity"],
        },
    ];
    for t in tenderers {
        let mut roles = vec!["tenderer"];
        if winner == Some(t) {
            roles.push("supplier");
        }
        parties.push(Party {
            id: t.id.clone(),
            name: t.name.clone(),
            roles,
        });
    }
    parties
}

/// The release's tags for a stage.
fn tags(stage: Stage, first_of_round: bool) -> Vec<&'static str> {
    match stage {
        Stage::Disclosure if first_of_round => vec!["tender"],
        Stage::Announced => vec!["award", "contract"],
        Stage::Closed => vec!["contractTermination"],
        Stage::Terminated => vec!["tenderCancellation"],
        _ => vec!["tenderUpdate"],
    }
}

pub(super) fn release(
    pb: &Publication,
    p: &Process,
    s: &Snapshot,
    first_of_round: bool,
) -> Release {
    let l = &p.listing;
    let f = facts(p, s.round);
    let seller = OrgRef {
        id: format!("org-{}", l.organization_id),
        name: p.seller.clone(),
    };
    let exchange = OrgRef {
        id: EXCHANGE_ID.to_string(),
        name: pb.settings.publisher_name.clone(),
    };
    let scheduled = f.auction.filter(|a| from_db(a.created_at) <= s.at);
    let closed = f
        .auction
        .and_then(|a| a.closed_at.map(from_db))
        .filter(|c| *c <= s.at);
    // Which way the round went, as far as it was known at this stage.
    let by_auction = scheduled.is_some() || s.stage == Stage::AwaitingAuction;
    let negotiated = f.auction.is_none()
        && s.stage != Stage::Disclosure
        && (f.outcome == Some("negotiation") || f.deal.is_some());
    let deal = f
        .deal
        .filter(|d| s.stage.shows_deal() && deal_is_public(p, d));

    // Bids: public once the auction has closed, by bidder code only.
    let bids = closed.map(|at| bids_section(&f, at));
    let mut tenderers = bidders_of(&f, closed.is_some());
    let number_of_tenderers = tenderer_count(&f, s, closed.is_some(), negotiated, tenderers.len());

    let (awards, contracts, winner) = match deal {
        Some(d) => {
            let (award, contract, winner) = deal_parts(&f, d, s, &seller);
            if !tenderers.contains(&winner) {
                tenderers.push(winner.clone());
            }
            (vec![award], vec![contract], Some(winner))
        }
        None => (Vec::new(), Vec::new(), None),
    };

    let parties = parties(&seller, &exchange, &tenderers, winner.as_ref());
    let method = match (by_auction, negotiated) {
        (true, _) => "，网络竞价",
        (false, true) => "，协议成交",
        (false, false) => "",
    };
    Release {
        ocid: pb.ocid(&l.project_no),
        id: release_id(s),
        date: ts(s.at),
        tag: tags(s.stage, first_of_round),
        initiation_type: "tender",
        language: LANGUAGE,
        parties,
        buyer: seller,
        tender: Tender {
            id: l.project_no.clone(),
            title: l.title.clone(),
            description: l.description.clone(),
            status: s.stage.tender_status(),
            status_details: s.stage.name(),
            procuring_entity: exchange,
            value: Amount::fen(f.price),
            procurement_method: "open",
            procurement_method_details: format!("{}，公开挂牌{method}", kind_name(&l.kind)),
            submission_method: vec![submission_method(l)],
            submission_method_details: submission_details(l).into(),
            award_criteria: "priceOnly",
            award_criteria_details: award_criteria_details(l),
            tender_period: Period {
                start_date: f.start.map(ts),
                end_date: f.end.map(ts),
            },
            award_period: scheduled.map(|a| Period {
                start_date: Some(ts(from_db(a.starts_at))),
                end_date: closed.map(|_| ts(from_db(a.ends_at))),
            }),
            number_of_tenderers,
            tenderers,
        },
        bids,
        awards,
        contracts,
    }
}

fn sealed(l: &ListingRow) -> bool {
    BiddingMethod::parse(&l.bidding_method) == Some(BiddingMethod::Sealed)
}

/// The bidding method as an OCDS `submissionMethod` code.
fn submission_method(l: &ListingRow) -> &'static str {
    if sealed(l) {
        "electronicSubmission"
    } else {
        "electronicAuction"
    }
}

fn submission_details(l: &ListingRow) -> &'static str {
    if sealed(l) {
        "一次报价（密封报价）：每位合格竞买人在报价期内提交一次报价，截止时统一开启"
    } else {
        "网络竞价：自由报价期后进入限时报价期，每次有效报价重新开始倒计时"
    }
}

/// `awardCriteriaDetails`: price first, then the tie rule (and the pre-emptive right).
fn award_criteria_details(l: &ListingRow) -> String {
    let right = Preemption::parse(&l.preemption) == Some(Preemption::InAuction);
    match (sealed(l), right) {
        (true, true) => "价格优先；报价相同时，优先购买权人优先，其次报价在先者优先".into(),
        (true, false) => "价格优先；报价相同时，报价在先者优先".into(),
        (false, true) => {
            "价格优先、时间优先；优先购买权人可按当前最高价跟价，在同等条件下优先".into()
        }
        (false, false) => "价格优先、时间优先".into(),
    }
}

/// Bid statistics and details of a closed auction.
pub(super) fn bids_section(f: &RoundFacts, closed: DateTime<Utc>) -> Bids {
    let bidders: HashSet<&str> = f.bids.iter().map(|b| b.bidder_code.as_str()).collect();
    let count = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
    let stat = |measure: &'static str, value: u32| Statistic {
        id: format!("r{}-{measure}", f.round),
        measure,
        date: ts(closed),
        value,
    };
    Bids {
        statistics: vec![
            stat("bids", count(f.bids.len())),
            stat("bidders", count(bidders.len())),
        ],
        details: f
            .bids
            .iter()
            .map(|b| Bid {
                id: bid_id(f.round, b.seq),
                date: ts(from_db(b.placed_at)),
                status: "valid",
                value: Amount::fen(b.amount),
                tenderers: vec![bidder(&b.bidder_code)],
            })
            .collect(),
    }
}

/// The award and contract of a public deal, and the winner.
pub(super) fn deal_parts(
    f: &RoundFacts,
    d: &DealRow,
    s: &Snapshot,
    seller: &OrgRef,
) -> (Award, Contract, OrgRef) {
    let stage = s.stage;
    let winner = bidder(&d.bidder_code);
    let (milestones, implementation) =
        payment_parts(f.round, d, &f.payments, s.at, &winner, seller);
    let award_id = format!("r{}-award", f.round);
    let related_bid = f
        .bids
        .iter()
        .filter(|b| b.bidder_code == d.bidder_code)
        .max_by_key(|b| b.seq)
        .map(|b| bid_id(f.round, b.seq));
    let award = Award {
        id: award_id.clone(),
        status: if stage == Stage::Terminated {
            "cancelled"
        } else {
            "active"
        },
        date: ts(from_db(d.awarded_at)),
        value: Amount::fen(d.price),
        suppliers: vec![winner.clone()],
        related_bid,
    };
    let contract = Contract {
        id: format!("r{}-contract", f.round),
        award_id,
        status: match stage {
            Stage::Closed => "terminated",
            Stage::Terminated => "cancelled",
            _ => "active",
        },
        date_signed: d.contract_signed_at.map(|t| ts(from_db(t))),
        value: Amount::fen(d.price),
        milestones,
        implementation,
    };
    (award, contract, winner)
}
