//! Stages: what a release describes. A listing's history, rebuilt from the times its rows keep,
//! as the stages the public could have seen.

use super::mapping::release_id;
use crate::domain::listing::ListingStatus;
use crate::exchange::deals;
use crate::exchange::listings::Viewer;
use crate::store::auctions::AuctionRow;
use crate::store::deals::{DealRow, PaymentRow};
use crate::store::models::from_db;
use crate::store::ocds::{ClosedBid, Process};
use chrono::{DateTime, Utc};
use std::collections::HashSet;

// ---------------------------------------------------------------------------------------
// Stages: what a release describes.

/// A public state of a listing, as a stage of its contracting process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Stage {
    Disclosure,
    /// Disclosure ended with two or more eligible bidders; the auction is not scheduled yet.
    AwaitingAuction,
    NoSale,
    Negotiation,
    AuctionScheduled,
    Bidding,
    Failed,
    Awarded,
    ContractSigned,
    Paid,
    Announced,
    Closed,
    Suspended,
    Terminated,
}

impl Stage {
    /// The stage of a listing's current status (`None` for the non-public ones).
    pub(super) fn current(status: ListingStatus, decided: bool) -> Option<Self> {
        use ListingStatus as S;
        Some(match status {
            S::Draft | S::Submitted | S::Returned => return None,
            S::Disclosure if decided => Self::AwaitingAuction,
            S::Disclosure => Self::Disclosure,
            S::NoSale => Self::NoSale,
            S::Negotiation => Self::Negotiation,
            S::AuctionScheduled => Self::AuctionScheduled,
            S::Bidding => Self::Bidding,
            S::Failed => Self::Failed,
            S::Awarded => Self::Awarded,
            S::ContractSigned => Self::ContractSigned,
            S::Paid => Self::Paid,
            S::Announced => Self::Announced,
            S::Closed => Self::Closed,
            S::Suspended => Self::Suspended,
            S::Terminated => Self::Terminated,
        })
    }

    /// Also `tender.statusDetails` and part of the release id.
    pub(super) fn name(self) -> &'static str {
        match self {
            Self::Disclosure => "disclosure",
            Self::AwaitingAuction => "awaiting_auction",
            Self::NoSale => "no_sale",
            Self::Negotiation => "negotiation",
            Self::AuctionScheduled => "auction_scheduled",
            Self::Bidding => "bidding",
            Self::Failed => "failed",
            Self::Awarded => "awarded",
            Self::ContractSigned => "contract_signed",
            Self::Paid => "paid",
            Self::Announced => "announced",
            Self::Closed => "closed",
            Self::Suspended => "suspended",
            Self::Terminated => "terminated",
        }
    }

    /// `tender.status` from the closed tenderStatus codelist.
    pub(super) fn tender_status(self) -> &'static str {
        match self {
            Self::Disclosure
            | Self::AwaitingAuction
            | Self::Negotiation
            | Self::AuctionScheduled
            | Self::Bidding
            | Self::Suspended => "active",
            Self::NoSale | Self::Failed => "unsuccessful",
            Self::Awarded | Self::ContractSigned | Self::Paid | Self::Announced | Self::Closed => {
                "complete"
            }
            Self::Terminated => "cancelled",
        }
    }

    /// Stages whose release carries the award and contract (when the deal is public).
    pub(super) fn shows_deal(self) -> bool {
        matches!(self, Self::Announced | Self::Closed | Self::Terminated)
    }

    /// Stages after a winner was chosen.
    pub(super) fn after_award(self) -> bool {
        matches!(
            self,
            Self::Awarded | Self::ContractSigned | Self::Paid | Self::Announced | Self::Closed
        )
    }
}

/// One release to be: a stage of a round at an instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Snapshot {
    pub(super) round: i32,
    pub(super) stage: Stage,
    pub(super) at: DateTime<Utc>,
}

/// What a round had: its terms and, if any, its auction, closed bids and deal.
pub(super) struct RoundFacts<'a> {
    pub(super) round: i32,
    pub(super) price: i64,
    pub(super) start: Option<DateTime<Utc>>,
    pub(super) end: Option<DateTime<Utc>>,
    pub(super) outcome: Option<&'a str>,
    pub(super) auction: Option<&'a AuctionRow>,
    pub(super) bids: Vec<&'a ClosedBid>,
    pub(super) deal: Option<&'a DealRow>,
    /// The payments of that deal, oldest first.
    pub(super) payments: Vec<&'a PaymentRow>,
}

pub(super) fn facts(p: &Process, round: i32) -> RoundFacts<'_> {
    let l = &p.listing;
    let stored = p.rounds.iter().find(|r| r.round == round);
    // The current round's terms are the listing's own (a resumption moves its end); earlier
    // rounds keep theirs in listing_rounds.
    let (price, start, end) = match stored {
        Some(r) if !(round == l.round && l.disclosure_start.is_some()) => {
            (r.listing_price, r.disclosure_start, r.disclosure_end)
        }
        _ => (l.listing_price, l.disclosure_start, l.disclosure_end),
    };
    RoundFacts {
        round,
        price,
        start: start.map(from_db),
        end: end.map(from_db),
        outcome: stored.and_then(|r| r.outcome.as_deref()),
        auction: p.auctions.iter().find(|a| a.round == round),
        bids: p.bids.iter().filter(|b| b.round == round).collect(),
        deal: p.deals.iter().find(|d| d.round == round),
        payments: p
            .deals
            .iter()
            .find(|d| d.round == round)
            .map(|d| p.payments.iter().filter(|x| x.deal_id == d.id).collect())
            .unwrap_or_default(),
    }
}

/// Whether the public may see the deal (announced or closed), by the deals module's rule.
pub(super) fn deal_is_public(p: &Process, deal: &DealRow) -> bool {
    // The public is no party, so the winner's user id plays no part: any value will do.
    deals::may_see(Viewer::Public, &p.listing, deal, 0, None)
}

/// Rounds that reached disclosure, oldest first.
pub(super) fn disclosed_rounds(p: &Process) -> Vec<i32> {
    let mut rounds: Vec<i32> = p
        .rounds
        .iter()
        .filter(|r| r.disclosure_start.is_some())
        .map(|r| r.round)
        .collect();
    if p.listing.disclosure_start.is_some() && !rounds.contains(&p.listing.round) {
        rounds.push(p.listing.round);
    }
    rounds.sort_unstable();
    rounds.dedup();
    rounds
}

/// The listing as it is now; `None` if the public may not see it.
pub(super) fn current(p: &Process) -> Option<Snapshot> {
    let l = &p.listing;
    let status = ListingStatus::parse(&l.status)?;
    let stage = Stage::current(status, l.disclosure_decided_at.is_some())?;
    // A listing terminated before its new round was disclosed shows its last disclosed round.
    let round = if l.disclosure_start.is_some() {
        l.round
    } else {
        *disclosed_rounds(p).last()?
    };
    Some(Snapshot {
        round,
        stage,
        at: from_db(l.updated_at),
    })
}

/// Stages of one round rebuilt from the times its rows keep.
pub(super) fn round_stages(p: &Process, f: &RoundFacts, now: &Snapshot, out: &mut Vec<Snapshot>) {
    let Some(start) = f.start else { return };
    let mut push = |stage, at: DateTime<Utc>| {
        out.push(Snapshot {
            round: f.round,
            stage,
            at,
        })
    };
    push(Stage::Disclosure, start);
    // Earlier rounds were decided when their disclosure ended; the current one keeps the time.
    let decided = if f.round == p.listing.round {
        p.listing.disclosure_decided_at.map(from_db)
    } else {
        f.end
    };
    if let Some(at) = decided {
        match (f.outcome, f.auction) {
            (Some("no_sale"), _) => push(Stage::NoSale, at),
            (_, Some(_)) | (Some("auction" | "failed"), None) => push(Stage::AwaitingAuction, at),
            (Some(_), None) => push(Stage::Negotiation, at),
            (None, None) => {}
        }
    }
    if let Some(a) = f.auction {
        push(Stage::AuctionScheduled, from_db(a.created_at));
        let bidding_now = f.round == now.round && now.stage == Stage::Bidding;
        if a.closed_at.is_some() || bidding_now {
            push(Stage::Bidding, from_db(a.starts_at));
        }
        if let Some(closed) = a.closed_at {
            let stage = if a.bid_count > 0 {
                Stage::Awarded
            } else {
                Stage::Failed
            };
            push(stage, from_db(closed));
        }
    }
    if let Some(d) = f.deal {
        if f.auction.is_none() {
            push(Stage::Awarded, from_db(d.awarded_at));
        }
        // The steps after the award become public with the announcement.
        if deal_is_public(p, d) {
            let steps = [
                (Stage::ContractSigned, d.contract_signed_at),
                (Stage::Paid, d.paid_at),
                (Stage::Announced, d.announced_at),
                (Stage::Closed, d.closed_at),
            ];
            for (stage, at) in steps {
                if let Some(at) = at {
                    push(stage, from_db(at));
                }
            }
        }
    }
}

/// Every stage the public could have seen, oldest first; the last one is the listing now.
pub(super) fn history(p: &Process) -> Vec<Snapshot> {
    let Some(now) = current(p) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for round in disclosed_rounds(p) {
        round_stages(p, &facts(p, round), &now, &mut out);
    }
    // The current stage is dated by the listing's own update time; its rebuilt twin goes,
    // except a disclosure that started earlier (a resumption is then an update of it).
    out.retain(|s| {
        !(s.round == now.round
            && s.stage == now.stage
            && (s.stage != Stage::Disclosure || s.at == now.at))
    });
    out.sort_by_key(|s| s.at);
    for s in &mut out {
        s.at = s.at.min(now.at);
    }
    out.push(now);
    let mut seen = HashSet::new();
    out.retain(|s| seen.insert(release_id(s)));
    out
}
/// The stages of [`history`], each with whether it is the first of its round.
pub(super) fn numbered(p: &Process) -> Vec<(Snapshot, bool)> {
    let mut seen_rounds = HashSet::new();
    history(p)
        .into_iter()
        .map(|s| (s, seen_rounds.insert(s.round)))
        .collect()
}
