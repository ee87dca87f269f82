//! Open data in the Open Contracting Data Standard (OCDS) 1.1: one listing is one contracting
//! process (ocid = configured prefix, `-`, project number) and every stage it went through is
//! one release, rebuilt from the times the rows keep. Pure mapping from rows to releases,
//! records and packages; no IO.
//!
//! What the public may not see never leaves here: bidders appear only as bidder codes (竞买号),
//! bids only once their auction has closed, awards and contracts only once the deal is
//! announced (`deals::may_see` for the public), and no stage before a listing's first
//! disclosure exists at all. The README's "Open data (OCDS)" section explains each choice.

use std::collections::HashSet;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;

use super::deals;
use super::listings::Viewer;
use crate::config::OcdsSettings;
use crate::domain::listing::{ListingKind, ListingStatus};
use crate::domain::money::Money;
use crate::store::auctions::AuctionRow;
use crate::store::deals::DealRow;
use crate::store::models::from_db;
use crate::store::ocds::{ClosedBid, Process};

/// The OCDS version of everything published here.
pub const OCDS_VERSION: &str = "1.1";
const LANGUAGE: &str = "zh";
const CURRENCY: &str = "CNY";
const EXCHANGE_ID: &str = "exchange";

/// An OCDS amount as a JSON number.
///
/// serde_json is built without `arbitrary_precision`, so a number goes out through the f64
/// nearest to it. Money has exactly two decimals and at most 10^12 yuan: at most 15
/// significant digits. Every decimal of at most 15 significant digits has its own nearest
/// f64 (f64 keeps 15 decimal digits), and serde_json prints the shortest text that reads back
/// as that f64, which therefore is this decimal (trailing zeros dropped: `1.50` → `1.5`).
/// This is the only float in the service; the unit tests prove the round trip.
pub fn to_json_number(m: Money) -> serde_json::Number {
    // Rust parses decimal text to the correctly rounded nearest f64.
    m.to_string()
        .parse::<f64>()
        .ok()
        .and_then(serde_json::Number::from_f64)
        // Unreachable (the text is always a finite decimal); whole yuan rather than a panic.
        .unwrap_or_else(|| serde_json::Number::from(m.fen() / 100))
}

/// RFC 3339 in UTC, as the rest of the API writes instants.
fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

/// The publisher's side of every package: `[ocds]` settings and the public base URL.
#[derive(Debug, Clone, Copy)]
pub struct Publication<'a> {
    pub settings: &'a OcdsSettings,
    pub base_url: &'a str,
}

impl Publication<'_> {
    pub fn ocid(&self, project_no: &str) -> String {
        format!("{}-{project_no}", self.settings.ocid_prefix)
    }

    /// An absolute URL of this service.
    pub fn url(&self, path_and_query: &str) -> String {
        format!("{}{path_and_query}", self.base_url.trim_end_matches('/'))
    }

    fn publisher(&self) -> Publisher {
        Publisher {
            name: self.settings.publisher_name.clone(),
        }
    }

    fn policy(&self) -> Option<String> {
        Some(self.settings.publication_policy.clone()).filter(|p| !p.is_empty())
    }
}

// ---------------------------------------------------------------------------------------
// The published shapes (field names as OCDS spells them).

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReleasePackage {
    pub uri: String,
    pub version: &'static str,
    pub published_date: String,
    pub publisher: Publisher,
    pub license: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub publication_policy: Option<String>,
    pub extensions: Vec<String>,
    pub releases: Vec<Release>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub links: Option<Links>,
}

/// Paging of a release package.
#[derive(Debug, Clone, Serialize)]
pub struct Links {
    pub next: String,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RecordPackage {
    pub uri: String,
    pub version: &'static str,
    pub published_date: String,
    pub publisher: Publisher,
    pub license: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub publication_policy: Option<String>,
    pub extensions: Vec<String>,
    pub records: Vec<Record>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Record {
    pub ocid: String,
    pub releases: Vec<Release>,
    pub compiled_release: Release,
}

#[derive(Debug, Clone, Serialize)]
pub struct Publisher {
    pub name: String,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Release {
    pub ocid: String,
    pub id: String,
    pub date: String,
    pub tag: Vec<&'static str>,
    pub initiation_type: &'static str,
    pub language: &'static str,
    pub parties: Vec<Party>,
    pub buyer: OrgRef,
    pub tender: Tender,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bids: Option<Bids>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub awards: Vec<Award>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub contracts: Vec<Contract>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Party {
    pub id: String,
    pub name: String,
    pub roles: Vec<&'static str>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OrgRef {
    pub id: String,
    pub name: String,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Tender {
    pub id: String,
    pub title: String,
    pub description: String,
    pub status: &'static str,
    pub status_details: &'static str,
    pub procuring_entity: OrgRef,
    pub value: Amount,
    pub procurement_method: &'static str,
    pub procurement_method_details: String,
    pub tender_period: Period,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub award_period: Option<Period>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub number_of_tenderers: Option<u32>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tenderers: Vec<OrgRef>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Amount {
    pub amount: serde_json::Number,
    pub currency: &'static str,
}

impl Amount {
    fn fen(fen: i64) -> Self {
        Self {
            amount: to_json_number(Money::from_fen(fen)),
            currency: CURRENCY,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Period {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_date: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end_date: Option<String>,
}

/// The bids extension's `bids` object.
#[derive(Debug, Clone, Serialize)]
pub struct Bids {
    pub statistics: Vec<Statistic>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub details: Vec<Bid>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Statistic {
    pub id: String,
    pub measure: &'static str,
    pub date: String,
    pub value: u32,
}

#[derive(Debug, Clone, Serialize)]
pub struct Bid {
    pub id: String,
    pub date: String,
    pub status: &'static str,
    pub value: Amount,
    pub tenderers: Vec<OrgRef>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Award {
    pub id: String,
    pub status: &'static str,
    pub date: String,
    pub value: Amount,
    pub suppliers: Vec<OrgRef>,
    /// The winning bid (bids extension), for auctions.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub related_bid: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Contract {
    pub id: String,
    #[serde(rename = "awardID")]
    pub award_id: String,
    pub status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub date_signed: Option<String>,
    pub value: Amount,
}

// ---------------------------------------------------------------------------------------
// Stages: what a release describes.

/// A public state of a listing, as a stage of its contracting process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
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
    fn current(status: ListingStatus, decided: bool) -> Option<Self> {
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
    fn name(self) -> &'static str {
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
    fn tender_status(self) -> &'static str {
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
    fn shows_deal(self) -> bool {
        matches!(self, Self::Announced | Self::Closed | Self::Terminated)
    }

    /// Stages after a winner was chosen.
    fn after_award(self) -> bool {
        matches!(
            self,
            Self::Awarded | Self::ContractSigned | Self::Paid | Self::Announced | Self::Closed
        )
    }
}

/// One release to be: a stage of a round at an instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Snapshot {
    round: i32,
    stage: Stage,
    at: DateTime<Utc>,
}

/// What a round had: its terms and, if any, its auction, closed bids and deal.
struct RoundFacts<'a> {
    round: i32,
    price: i64,
    start: Option<DateTime<Utc>>,
    end: Option<DateTime<Utc>>,
    outcome: Option<&'a str>,
    auction: Option<&'a AuctionRow>,
    bids: Vec<&'a ClosedBid>,
    deal: Option<&'a DealRow>,
}

fn facts(p: &Process, round: i32) -> RoundFacts<'_> {
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
    }
}

/// Whether the public may see the deal (announced or closed), by the deals module's rule.
fn deal_is_public(p: &Process, deal: &DealRow) -> bool {
    // The public is no party, so the winner's user id plays no part: any value will do.
    deals::may_see(Viewer::Public, &p.listing, deal, 0, None)
}

/// Rounds that reached disclosure, oldest first.
fn disclosed_rounds(p: &Process) -> Vec<i32> {
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
fn current(p: &Process) -> Option<Snapshot> {
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
fn round_stages(p: &Process, f: &RoundFacts, now: &Snapshot, out: &mut Vec<Snapshot>) {
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
fn history(p: &Process) -> Vec<Snapshot> {
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

fn release_id(s: &Snapshot) -> String {
    format!(
        "r{}-{}-{}",
        s.round,
        s.stage.name(),
        s.at.format("%Y%m%dT%H%M%S%.6fZ")
    )
}

fn kind_name(kind: &str) -> &'static str {
    match ListingKind::parse(kind) {
        Some(ListingKind::EquityTransfer) => "产权转让",
        Some(ListingKind::CapitalIncrease) => "企业增资",
        Some(ListingKind::AssetTransfer) | None => "资产转让",
    }
}

fn bidder(code: &str) -> OrgRef {
    OrgRef {
        id: format!("bidder-{code}"),
        name: code.to_string(),
    }
}

fn bid_id(round: i32, seq: i32) -> String {
    format!("r{round}-bid-{seq}")
}

/// The release of one snapshot. `first_of_round`: no earlier release of the same round.
fn release(pb: &Publication, p: &Process, s: &Snapshot, first_of_round: bool) -> Release {
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
    let mut tenderers: Vec<OrgRef> = Vec::new();
    if closed.is_some() {
        for b in &f.bids {
            let who = bidder(&b.bidder_code);
            if !tenderers.contains(&who) {
                tenderers.push(who);
            }
        }
    }
    let number_of_tenderers = if closed.is_some() {
        u32::try_from(tenderers.len()).ok()
    } else if s.stage == Stage::NoSale {
        Some(0)
    } else if negotiated
        && f.deal.is_some()
        && (s.stage.after_award() || s.stage == Stage::Terminated)
    {
        Some(1)
    } else {
        None
    };

    let (awards, contracts, winner) = match deal {
        Some(d) => {
            let (award, contract, winner) = deal_parts(&f, d, s.stage);
            if !tenderers.contains(&winner) {
                tenderers.push(winner.clone());
            }
            (vec![award], vec![contract], Some(winner))
        }
        None => (Vec::new(), Vec::new(), None),
    };

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
    for t in &tenderers {
        let mut roles = vec!["tenderer"];
        if winner.as_ref() == Some(t) {
            roles.push("supplier");
        }
        parties.push(Party {
            id: t.id.clone(),
            name: t.name.clone(),
            roles,
        });
    }

    let method = match (by_auction, negotiated) {
        (true, _) => "，网络竞价",
        (false, true) => "，协议成交",
        (false, false) => "",
    };
    let tag = match s.stage {
        Stage::Disclosure if first_of_round => vec!["tender"],
        Stage::Announced => vec!["award", "contract"],
        Stage::Closed => vec!["contractTermination"],
        Stage::Terminated => vec!["tenderCancellation"],
        _ => vec!["tenderUpdate"],
    };
    Release {
        ocid: pb.ocid(&l.project_no),
        id: release_id(s),
        date: ts(s.at),
        tag,
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

/// Bid statistics and details of a closed auction.
fn bids_section(f: &RoundFacts, closed: DateTime<Utc>) -> Bids {
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
fn deal_parts(f: &RoundFacts, d: &DealRow, stage: Stage) -> (Award, Contract, OrgRef) {
    let winner = bidder(&d.bidder_code);
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
    };
    (award, contract, winner)
}

/// The stages of [`history`], each with whether it is the first of its round.
fn numbered(p: &Process) -> Vec<(Snapshot, bool)> {
    let mut seen_rounds = HashSet::new();
    history(p)
        .into_iter()
        .map(|s| (s, seen_rounds.insert(s.round)))
        .collect()
}

/// Every release of a listing's process, oldest first; the last one is its current state.
/// Empty if the public may not see the listing.
pub fn releases(pb: &Publication, p: &Process) -> Vec<Release> {
    numbered(p)
        .iter()
        .map(|(s, first)| release(pb, p, s, *first))
        .collect()
}

/// The release of the listing's current state (the newest of [`releases`], built alone).
pub fn current_release(pb: &Publication, p: &Process) -> Option<Release> {
    let (s, first) = numbered(p).pop()?;
    Some(release(pb, p, &s, first))
}

/// The record of one listing: every release and the current state compiled.
pub fn record(pb: &Publication, p: &Process) -> Option<Record> {
    let releases = releases(pb, p);
    let mut compiled = releases.last()?.clone();
    compiled.id = format!("{}-{}", compiled.ocid, compiled.date);
    compiled.tag = vec!["compiled"];
    Some(Record {
        ocid: compiled.ocid.clone(),
        releases,
        compiled_release: compiled,
    })
}

/// A release package of the current state of each listing, in the order given.
/// `published` is used when there is no release to date the package by.
pub fn release_package(
    pb: &Publication,
    processes: &[Process],
    uri: String,
    next: Option<String>,
    published: DateTime<Utc>,
) -> ReleasePackage {
    let releases: Vec<Release> = processes
        .iter()
        .filter_map(|p| current_release(pb, p))
        .collect();
    // "Generated on demand": the date of the last change to the contents.
    let newest = processes
        .iter()
        .map(|p| from_db(p.listing.updated_at))
        .max()
        .unwrap_or(published);
    ReleasePackage {
        uri,
        version: OCDS_VERSION,
        published_date: ts(newest),
        publisher: pb.publisher(),
        license: pb.settings.license.clone(),
        publication_policy: pb.policy(),
        extensions: vec![pb.settings.bids_extension_url.clone()],
        releases,
        links: next.map(|next| Links { next }),
    }
}

/// A record package with the record of one listing; `None` if the public may not see it.
pub fn record_package(pb: &Publication, p: &Process, uri: String) -> Option<RecordPackage> {
    let record = record(pb, p)?;
    Some(RecordPackage {
        uri,
        version: OCDS_VERSION,
        published_date: ts(from_db(p.listing.updated_at)),
        publisher: pb.publisher(),
        license: pb.settings.license.clone(),
        publication_policy: pb.policy(),
        extensions: vec![pb.settings.bids_extension_url.clone()],
        records: vec![record],
    })
}

#[cfg(test)]
mod tests {
    use chrono::{Duration, NaiveDate, TimeZone};
    use serde_json::{Value, json};

    use super::*;
    use crate::store::listings::ListingRow;
    use crate::store::models::to_db;
    use crate::store::ocds::RoundRow;

    fn settings() -> OcdsSettings {
        OcdsSettings {
            ocid_prefix: "ocds-axchg1".into(),
            publisher_name: "某省产权交易所".into(),
            license: "https://creativecommons.org/licenses/by/4.0/".into(),
            publication_policy: String::new(),
            bids_extension_url: "https://example.org/ocds_bid_extension/v1.1.5/extension.json"
                .into(),
        }
    }

    fn t(minutes: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 2, 1, 0, 0).unwrap() + Duration::minutes(minutes)
    }

    fn listing(status: &str) -> ListingRow {
        ListingRow {
            id: 7,
            project_no: "AX-CQ-2026-00001".into(),
            organization_id: 3,
            created_by: 4,
            kind: "equity_transfer".into(),
            title: "福州某国有企业100%股权转让".into(),
            description: "转让标的为某公司100%股权。".into(),
            status: status.into(),
            appraised_value: 1_000_000_000,
            appraisal_date: NaiveDate::from_ymd_opt(2026, 1, 31).unwrap(),
            listing_price: 1_000_000_000,
            deposit: 100_000_000,
            increment: 5_000_000,
            disclosure_working_days: 20,
            disclosure_start: Some(to_db(t(0))),
            disclosure_end: Some(to_db(t(100))),
            disclosure_decided_at: None,
            free_bidding_seconds: 3600,
            countdown_seconds: 300,
            allow_self_raise: false,
            consent_document: None,
            round: 1,
            first_disclosure_at: Some(to_db(t(0))),
            review_comment: Some("内部意见".into()),
            suspended_from: None,
            suspended_at: None,
            suspension_reason: None,
            suspension_alerted: false,
            runner_up_offer: false,
            terminated_reason: None,
            created_at: to_db(t(-60)),
            updated_at: to_db(t(0)),
        }
    }

    fn round(n: i32, start: i64, end: i64, outcome: Option<&str>) -> RoundRow {
        RoundRow {
            listing_id: 7,
            round: n,
            listing_price: 1_000_000_000,
            disclosure_start: Some(to_db(t(start))),
            disclosure_end: Some(to_db(t(end))),
            outcome: outcome.map(str::to_string),
        }
    }

    fn process(listing: ListingRow, rounds: Vec<RoundRow>) -> Process {
        Process {
            listing,
            seller: "福建某国有投资集团有限公司".into(),
            rounds,
            auctions: Vec::new(),
            bids: Vec::new(),
            deals: Vec::new(),
        }
    }

    fn auction(closed: Option<i64>, bids: i32) -> AuctionRow {
        AuctionRow {
            id: 11,
            listing_id: 7,
            round: 1,
            starts_at: to_db(t(120)),
            free_ends_at: to_db(t(130)),
            ends_at: to_db(t(140)),
            countdown_seconds: 300,
            start_price: 1_000_000_000,
            increment: 5_000_000,
            allow_self_raise: false,
            current_price: Some(1_010_000_000),
            leading_registration_id: Some(99),
            leading_bidder_code: Some("B0002".into()),
            bid_count: bids,
            closed_at: closed.map(|m| to_db(t(m))),
            created_at: to_db(t(110)),
            last_bid_at: None,
        }
    }

    fn bid(seq: i32, code: &str, fen: i64, minute: i64) -> ClosedBid {
        ClosedBid {
            listing_id: 7,
            round: 1,
            seq,
            bidder_code: code.into(),
            amount: fen,
            placed_at: to_db(t(minute)),
        }
    }

    fn deal(method: &str, status: &str, awarded: i64) -> DealRow {
        let at = |m: i64| Some(to_db(t(m)));
        let after = |s: &[&str]| s.contains(&status);
        DealRow {
            id: 5,
            listing_id: 7,
            round: 1,
            registration_id: 99,
            bidder_code: "B0002".into(),
            price: 1_010_000_000,
            method: method.into(),
            status: status.into(),
            awarded_at: to_db(t(awarded)),
            contract_due_at: to_db(t(awarded + 10_000)),
            contract_signed_at: if after(&["contract_signed", "paid", "announced", "closed"]) {
                at(awarded + 10)
            } else {
                None
            },
            paid_at: if after(&["paid", "announced", "closed"]) {
                at(awarded + 20)
            } else {
                None
            },
            payment_reference: Some("JY-PAY-001".into()),
            announced_at: if after(&["announced", "closed"]) {
                at(awarded + 30)
            } else {
                None
            },
            closed_at: if after(&["closed"]) {
                at(awarded + 40)
            } else {
                None
            },
            offer_due_at: None,
            payment_due_at: None,
            certificate_no: None,
            contract_overdue_flagged: false,
        }
    }

    fn json_of(releases: &[Release]) -> Vec<Value> {
        releases
            .iter()
            .map(|r| serde_json::to_value(r).unwrap())
            .collect()
    }

    fn all(p: &Process) -> Vec<Value> {
        let s = settings();
        let pb = Publication {
            settings: &s,
            base_url: "https://exchange.example",
        };
        json_of(&releases(&pb, p))
    }

    /// Releases sorted by date, ids unique, the last one the listing now.
    fn assert_well_formed(rs: &[Value], updated_at: DateTime<Utc>) {
        let dates: Vec<&str> = rs.iter().map(|r| r["date"].as_str().unwrap()).collect();
        let mut sorted = dates.clone();
        sorted.sort();
        assert_eq!(dates, sorted, "releases out of order");
        let ids: HashSet<&str> = rs.iter().map(|r| r["id"].as_str().unwrap()).collect();
        assert_eq!(ids.len(), rs.len(), "release ids repeat");
        assert_eq!(rs.last().unwrap()["date"], ts(updated_at));
    }

    fn stages(rs: &[Value]) -> Vec<String> {
        rs.iter()
            .map(|r| {
                format!(
                    "{}:{}",
                    r["tender"]["statusDetails"].as_str().unwrap(),
                    r["tag"][0].as_str().unwrap()
                )
            })
            .collect()
    }

    #[test]
    fn json_numbers_print_exactly_the_amount_for_every_edge_value() {
        let check = |m: Money| {
            let text = serde_json::to_string(&to_json_number(m)).unwrap();
            let back = Money::parse(&text).unwrap_or_else(|e| panic!("{m} printed as {text}: {e}"));
            assert_eq!(back.to_string(), m.to_string(), "{m} printed as {text}");
        };
        for s in [
            "0.00",
            "0.01",
            "0.10",
            "0.99",
            "1.00",
            "1.05",
            "10000000.00",
            "99999999999.99",
            "999999999999.99",
            "999999999999.90",
            "1000000000000.00",
            "123456789012.34",
            "900719925474.09",
            "562949953421.31",
        ] {
            check(Money::parse(s).unwrap());
        }
        let max = Money::from_yuan(1_000_000_000_000).unwrap().fen();
        for fen in (0..100_000).chain(max - 100_000..=max) {
            check(Money::from_fen(fen));
        }
        // A deterministic spread over the whole range (and every magnitude).
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        for _ in 0..200_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let digits = 1 + (x % 15) as u32;
            let fen = (x >> 8) % 10u64.pow(digits);
            check(Money::from_fen(i64::try_from(fen).unwrap().min(max)));
        }
    }

    #[test]
    fn a_listing_in_disclosure_is_one_tender_release() {
        let p = process(listing("disclosure"), vec![round(1, 0, 100, None)]);
        let rs = all(&p);
        assert_eq!(rs.len(), 1);
        let r = &rs[0];
        assert_eq!(r["ocid"], "ocds-axchg1-AX-CQ-2026-00001");
        assert_eq!(r["tag"], json!(["tender"]));
        assert_eq!(r["initiationType"], "tender");
        assert_eq!(r["language"], "zh");
        assert_eq!(r["tender"]["id"], "AX-CQ-2026-00001");
        assert_eq!(r["tender"]["status"], "active");
        assert_eq!(r["tender"]["procurementMethod"], "open");
        assert_eq!(
            r["tender"]["value"],
            json!({"amount": 10_000_000.0, "currency": "CNY"})
        );
        assert_eq!(
            r["tender"]["tenderPeriod"],
            json!({"startDate": ts(t(0)), "endDate": ts(t(100))})
        );
        assert_eq!(r["buyer"]["name"], "福建某国有投资集团有限公司");
        assert_eq!(r["tender"]["procuringEntity"]["name"], "某省产权交易所");
        let roles: Vec<&Value> = r["parties"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| &p["roles"])
            .collect();
        assert_eq!(roles, [&json!(["buyer"]), &json!(["procuringEntity"])]);
        for absent in ["bids", "awards", "contracts"] {
            assert!(r.get(absent).is_none(), "{absent}");
        }
        assert!(r["tender"].get("numberOfTenderers").is_none());
        assert!(
            !r.to_string().contains("内部意见"),
            "review comments are private"
        );
    }

    #[test]
    fn listings_the_public_may_not_see_have_no_releases() {
        for status in ["draft", "submitted", "returned"] {
            assert!(
                all(&process(listing(status), vec![])).is_empty(),
                "{status}"
            );
        }
        let mut never_disclosed = listing("terminated");
        never_disclosed.disclosure_start = None;
        never_disclosed.disclosure_end = None;
        never_disclosed.first_disclosure_at = None;
        assert!(all(&process(never_disclosed, vec![])).is_empty());
    }

    #[test]
    fn a_closed_auction_shows_bids_by_code_but_the_award_only_once_announced() {
        let mut l = listing("contract_signed");
        l.disclosure_decided_at = Some(to_db(t(100)));
        l.updated_at = to_db(t(160));
        let mut p = process(l, vec![round(1, 0, 100, Some("awarded"))]);
        p.auctions.push(auction(Some(150), 3));
        p.bids = vec![
            bid(1, "B0001", 1_000_000_000, 125),
            bid(2, "B0002", 1_005_000_000, 126),
            bid(3, "B0002", 1_010_000_000, 135),
        ];
        p.deals.push(deal("auction", "contract_signed", 150));
        let rs = all(&p);
        assert_well_formed(&rs, t(160));
        assert_eq!(
            stages(&rs),
            [
                "disclosure:tender",
                "awaiting_auction:tenderUpdate",
                "auction_scheduled:tenderUpdate",
                "bidding:tenderUpdate",
                "awarded:tenderUpdate",
                "contract_signed:tenderUpdate",
            ]
        );
        // Before the auction closed no bid is shown.
        assert!(rs[3].get("bids").is_none());
        let now = rs.last().unwrap();
        assert_eq!(now["tender"]["status"], "complete");
        assert_eq!(now["tender"]["numberOfTenderers"], 2);
        assert_eq!(now["bids"]["statistics"][0]["measure"], "bids");
        assert_eq!(now["bids"]["statistics"][0]["value"], 3);
        assert_eq!(now["bids"]["statistics"][1]["measure"], "bidders");
        assert_eq!(now["bids"]["statistics"][1]["value"], 2);
        let details = now["bids"]["details"].as_array().unwrap();
        assert_eq!(details.len(), 3);
        assert_eq!(details[2]["value"]["amount"], json!(10_100_000.0));
        assert_eq!(
            details[2]["tenderers"],
            json!([{"id": "bidder-B0002", "name": "B0002"}])
        );
        assert_eq!(details[2]["status"], "valid");
        assert!(now.get("awards").is_none() && now.get("contracts").is_none());
        assert!(!now.to_string().contains("supplier"));
        assert!(!now.to_string().contains("JY-PAY-001"));
    }

    #[test]
    fn an_announced_then_closed_deal_adds_award_and_contract() {
        let mut l = listing("closed");
        l.disclosure_decided_at = Some(to_db(t(100)));
        l.updated_at = to_db(t(190));
        let mut p = process(l, vec![round(1, 0, 100, Some("awarded"))]);
        p.auctions.push(auction(Some(150), 2));
        p.bids = vec![
            bid(1, "B0001", 1_000_000_000, 125),
            bid(2, "B0002", 1_010_000_000, 126),
        ];
        p.deals.push(deal("auction", "closed", 150));
        let rs = all(&p);
        assert_well_formed(&rs, t(190));
        let tail: Vec<String> = stages(&rs).split_off(4);
        assert_eq!(
            tail,
            [
                "awarded:tenderUpdate",
                "contract_signed:tenderUpdate",
                "paid:tenderUpdate",
                "announced:award",
                "closed:contractTermination",
            ]
        );
        let announced = &rs[rs.len() - 2];
        assert_eq!(announced["tag"], json!(["award", "contract"]));
        assert_eq!(announced["contracts"][0]["status"], "active");
        assert!(
            rs[rs.len() - 3].get("awards").is_none(),
            "paid: not public yet"
        );
        let now = rs.last().unwrap();
        let award = &now["awards"][0];
        assert_eq!(award["status"], "active");
        assert_eq!(award["date"], ts(t(150)));
        assert_eq!(award["value"]["amount"], json!(10_100_000.0));
        assert_eq!(
            award["suppliers"],
            json!([{"id": "bidder-B0002", "name": "B0002"}])
        );
        assert_eq!(award["relatedBid"], "r1-bid-2");
        let contract = &now["contracts"][0];
        assert_eq!(contract["awardID"], award["id"]);
        assert_eq!(contract["status"], "terminated");
        assert_eq!(contract["dateSigned"], ts(t(160)));
        let winner = now["parties"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["id"] == "bidder-B0002")
            .unwrap();
        assert_eq!(winner["roles"], json!(["tenderer", "supplier"]));

        let s = settings();
        let pb = Publication {
            settings: &s,
            base_url: "https://exchange.example/",
        };
        let rec = serde_json::to_value(record(&pb, &p).unwrap()).unwrap();
        assert_eq!(rec["compiledRelease"]["tag"], json!(["compiled"]));
        assert_eq!(
            rec["compiledRelease"]["id"],
            format!("ocds-axchg1-AX-CQ-2026-00001-{}", ts(t(190)))
        );
        assert_eq!(rec["compiledRelease"]["awards"], now["awards"]);
    }

    #[test]
    fn a_negotiated_deal_shows_one_tenderer_and_its_code_only_once_announced() {
        let mut l = listing("awarded");
        l.disclosure_decided_at = Some(to_db(t(100)));
        l.updated_at = to_db(t(120));
        let mut p = process(l, vec![round(1, 0, 100, Some("awarded"))]);
        p.deals.push(deal("negotiation", "awarded", 120));
        let rs = all(&p);
        assert_eq!(
            stages(&rs),
            [
                "disclosure:tender",
                "negotiation:tenderUpdate",
                "awarded:tenderUpdate"
            ]
        );
        let now = rs.last().unwrap();
        assert_eq!(now["tender"]["numberOfTenderers"], 1);
        assert!(
            now["tender"]["procurementMethodDetails"]
                .as_str()
                .unwrap()
                .contains("协议成交")
        );
        assert!(!now.to_string().contains("B0002"), "{now}");

        p.listing.status = "announced".into();
        p.listing.updated_at = to_db(t(150));
        p.deals = vec![deal("negotiation", "announced", 120)];
        let now = all(&p).pop().unwrap();
        assert_eq!(now["awards"][0]["suppliers"][0]["name"], "B0002");
        assert_eq!(
            now["tender"]["tenderers"],
            json!([{"id": "bidder-B0002", "name": "B0002"}])
        );
        assert!(now["awards"][0].get("relatedBid").is_none());
    }

    #[test]
    fn a_relisted_listing_keeps_its_earlier_round() {
        let mut l = listing("disclosure");
        l.round = 2;
        l.listing_price = 900_000_000;
        l.disclosure_start = Some(to_db(t(300)));
        l.disclosure_end = Some(to_db(t(400)));
        l.updated_at = to_db(t(300));
        let mut r2 = round(2, 300, 400, None);
        r2.listing_price = 900_000_000;
        let p = process(l, vec![round(1, 0, 100, Some("no_sale")), r2]);
        let rs = all(&p);
        assert_well_formed(&rs, t(300));
        assert_eq!(
            stages(&rs),
            [
                "disclosure:tender",
                "no_sale:tenderUpdate",
                "disclosure:tender"
            ]
        );
        assert_eq!(rs[1]["tender"]["status"], "unsuccessful");
        assert_eq!(rs[1]["tender"]["numberOfTenderers"], 0);
        assert_eq!(rs[1]["tender"]["value"]["amount"], json!(10_000_000.0));
        assert_eq!(rs[2]["tender"]["value"]["amount"], json!(9_000_000.0));
        assert!(rs[2]["id"].as_str().unwrap().starts_with("r2-disclosure-"));
    }

    #[test]
    fn a_resumed_disclosure_is_an_update_and_a_termination_a_cancellation() {
        let mut l = listing("disclosure");
        l.updated_at = to_db(t(50));
        let p = process(l.clone(), vec![round(1, 0, 100, None)]);
        assert_eq!(
            stages(&all(&p)),
            ["disclosure:tender", "disclosure:tenderUpdate"]
        );
        l.status = "terminated".into();
        l.updated_at = to_db(t(60));
        let rs = all(&process(l, vec![round(1, 0, 100, None)]));
        assert_eq!(
            stages(&rs),
            ["disclosure:tender", "terminated:tenderCancellation"]
        );
        assert_eq!(rs[1]["tender"]["status"], "cancelled");
    }

    #[test]
    fn a_release_package_pages_and_dates_by_the_newest_change() {
        let s = settings();
        let pb = Publication {
            settings: &s,
            base_url: "https://exchange.example",
        };
        let mut later = listing("disclosure");
        later.id = 8;
        later.project_no = "AX-CQ-2026-00002".into();
        later.updated_at = to_db(t(5));
        let ps = vec![
            process(listing("disclosure"), vec![round(1, 0, 100, None)]),
            process(later, vec![round(1, 0, 100, None)]),
        ];
        let pkg = release_package(
            &pb,
            &ps,
            pb.url("/api/v1/ocds/releases?page=1&per_page=2"),
            Some(pb.url("/api/v1/ocds/releases?page=2&per_page=2")),
            t(999),
        );
        let v = serde_json::to_value(&pkg).unwrap();
        assert_eq!(v["version"], "1.1");
        assert_eq!(v["publishedDate"], ts(t(5)));
        assert_eq!(v["releases"].as_array().unwrap().len(), 2);
        assert_eq!(v["extensions"], json!([s.bids_extension_url]));
        assert_eq!(
            v["links"]["next"],
            "https://exchange.example/api/v1/ocds/releases?page=2&per_page=2"
        );
        assert!(v.get("publicationPolicy").is_none());
        let empty = release_package(&pb, &[], "https://x.example/".into(), None, t(999));
        assert_eq!(empty.published_date, ts(t(999)));
        assert!(serde_json::to_value(&empty).unwrap().get("links").is_none());
    }
}
