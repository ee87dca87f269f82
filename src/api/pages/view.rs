//! What the public pages show, read through the same views as the public JSON API
//! (`exchange::listings::view` with `Viewer::Public`, `exchange::auctions::view` and
//! `bid_view`, `exchange::deals::view` behind `deals::may_see`): a page never shows a field
//! the public JSON does not, and bidders only by code.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::domain::listing::{ListingKind, ListingStatus, effective_status};
use crate::domain::money::Money;
use crate::error::AppError;
use crate::exchange::auctions::{self as auctions_uc, AuctionView, BidView};
use crate::exchange::deals::{self as deals_uc, DealView};
use crate::exchange::listings::{self as listings_uc, ListingView, Viewer};
use crate::store::listings::{self as store, Browse, ListingRow, StatusFilter};
use crate::store::models::from_db;
use crate::store::{Conn, auctions, deals};

/// A part of the board.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    /// Listings in formal disclosure (信息披露公告).
    Disclosure,
    /// Auctions scheduled and live (网络竞价).
    Auction,
    /// Deal announcements (成交公告).
    Deal,
}

impl Section {
    pub const ALL: [Section; 3] = [Section::Disclosure, Section::Auction, Section::Deal];

    pub fn key(self) -> &'static str {
        match self {
            Section::Disclosure => "disclosure",
            Section::Auction => "auction",
            Section::Deal => "deal",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|x| x.key() == s)
    }

    fn statuses(self) -> Vec<String> {
        let s: &[ListingStatus] = match self {
            Section::Disclosure => &[ListingStatus::Disclosure],
            Section::Auction => &[ListingStatus::AuctionScheduled, ListingStatus::Bidding],
            Section::Deal => &[ListingStatus::Announced, ListingStatus::Closed],
        };
        s.iter().map(|x| x.as_str().to_string()).collect()
    }
}

/// The board's filters, parsed (the same filters as `GET /api/v1/listings`).
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub kind: Option<ListingKind>,
    /// Words in the title.
    pub q: Option<String>,
    /// Listing price at least / at most, in fen.
    pub min_price: Option<i64>,
    pub max_price: Option<i64>,
    /// Only enterprises under the supervising body with this region code (a city and the
    /// counties below it), resolved to `organizations` before the board is read.
    pub region_code: Option<String>,
    /// The organisations of `region_code` (`None`: no city chosen).
    pub organizations: Option<Vec<i64>>,
}

/// One entry of the board.
#[derive(Debug, Clone, Serialize)]
pub struct BoardItem {
    pub id: i64,
    pub project_no: String,
    pub title: String,
    pub kind: ListingKind,
    pub status: ListingStatus,
    pub awaiting_auction: bool,
    pub seller: String,
    pub listing_price: Money,
    pub disclosure_end: Option<DateTime<Utc>>,
    pub starts_at: Option<DateTime<Utc>>,
    pub current_price: Option<Money>,
    pub deal_price: Option<Money>,
    pub announced_at: Option<DateTime<Utc>>,
}

/// One page of one section.
#[derive(Debug, Clone)]
pub struct SectionPage {
    pub items: Vec<BoardItem>,
    pub total: i64,
}

/// The status a reader sees: a disclosure whose end has passed counts as decided even if the
/// scheduler has not run yet (as `GET /api/v1/listings/{id}` does).
fn effective(
    c: &mut Conn,
    row: &ListingRow,
    now: DateTime<Utc>,
) -> Result<ListingStatus, AppError> {
    let stored = ListingStatus::parse(&row.status)
        .ok_or_else(|| AppError::internal(anyhow::anyhow!("listing {}: bad status", row.id)))?;
    let mut failed = None;
    let status = effective_status(
        stored,
        row.disclosure_end.map(from_db),
        row.disclosure_decided_at.is_some(),
        now,
        || {
            crate::exchange::registrations::count_eligible(c, row.id, row.round).unwrap_or_else(
                |e| {
                    failed = Some(e);
                    0
                },
            )
        },
    );
    match failed {
        Some(e) => Err(e),
        None => Ok(status),
    }
}

/// The public view of a listing row.
fn public_view(
    c: &mut Conn,
    row: &ListingRow,
    seller: String,
    now: DateTime<Utc>,
) -> Result<ListingView, AppError> {
    let status = effective(c, row, now)?;
    Ok(listings_uc::view(
        row,
        seller,
        status,
        Viewer::Public,
        None,
        now,
    ))
}

/// One page of a section of the board, newest first.
pub fn section(
    c: &mut Conn,
    section: Section,
    filter: &Filter,
    offset: i64,
    limit: i64,
    now: DateTime<Utc>,
) -> Result<SectionPage, AppError> {
    let b = Browse {
        statuses: StatusFilter::In(section.statuses()),
        own_org: None,
        kind: filter.kind.map(|k| k.as_str().to_string()),
        q: filter.q.clone(),
        min_price: filter.min_price,
        max_price: filter.max_price,
        hide_undisclosed: true,
        organizations: filter.organizations.clone(),
    };
    let (rows, total) = store::browse(c, &b, offset, limit)?;
    let mut items = Vec::with_capacity(rows.len());
    for (row, seller) in rows {
        items.push(board_item(c, section, &row, seller, now)?);
    }
    Ok(SectionPage { items, total })
}

fn board_item(
    c: &mut Conn,
    section: Section,
    row: &ListingRow,
    seller: String,
    now: DateTime<Utc>,
) -> Result<BoardItem, AppError> {
    let view = public_view(c, row, seller, now)?;
    let mut item = BoardItem {
        id: view.id,
        project_no: view.project_no,
        title: view.title,
        kind: view.kind,
        status: view.status,
        awaiting_auction: view.status == ListingStatus::Disclosure && view.disclosure_ended,
        seller: view.seller.name,
        listing_price: view.listing_price,
        disclosure_end: view.disclosure_end,
        starts_at: None,
        current_price: None,
        deal_price: None,
        announced_at: None,
    };
    match section {
        Section::Auction => {
            if let Some(a) = auctions::of_listing(c, row.id, row.round)? {
                let a = auctions_uc::view(&a, row, now);
                item.starts_at = Some(a.starts_at);
                item.current_price = a.current_price;
            }
        }
        Section::Deal => {
            if let Some(d) = public_deal(c, row)? {
                item.deal_price = Some(d.price);
                item.announced_at = d.announced_at;
            }
        }
        Section::Disclosure => {}
    }
    Ok(item)
}

/// The deal of the listing's round, if the public may read it (once announced).
fn public_deal(c: &mut Conn, row: &ListingRow) -> Result<Option<DealView>, AppError> {
    let Some(deal) = deals::of_listing(c, row.id, row.round)? else {
        return Ok(None);
    };
    Ok(deals_uc::may_see(Viewer::Public, row, &deal, -1, None).then(|| deals_uc::view(&deal, row)))
}

/// A round of the listing, as disclosed.
#[derive(Debug, Clone, Serialize)]
pub struct RoundItem {
    pub round: i32,
    pub listing_price: Money,
    pub disclosure_start: Option<DateTime<Utc>>,
    pub disclosure_end: Option<DateTime<Utc>>,
    pub outcome: Option<String>,
}

/// Everything the listing page shows.
#[derive(Debug, Clone, Serialize)]
pub struct ListingPage {
    pub listing: ListingView,
    /// Opened through a preview link: the public may not see this listing yet.
    pub preview: bool,
    /// What the stage note says (a status, or `review`, `awaiting_auction`).
    pub stage: &'static str,
    pub auction: Option<AuctionView>,
    /// Accepted bids, newest first.
    pub bids: Vec<BidView>,
    pub last_seq: u32,
    /// Whether the auction may still change (the live panel follows the event stream).
    pub live: bool,
    /// What the countdown counts to: `start`, `free`, `end`, `paused` (frozen) or `closed`.
    pub countdown_target: &'static str,
    /// Seconds to that instant at the server's time when the page was made.
    pub remaining: i64,
    pub deal: Option<DealView>,
    pub rounds: Vec<RoundItem>,
    /// Supplementary notices (补充公告): none until listings can have them (issue 13).
    pub notices: Vec<serde_json::Value>,
    pub deposit_due_working_days: u32,
}

/// What the public may read of listing `id` (`preview` lets a listing under review through);
/// `None` when it does not exist or the public may not see it.
pub fn listing_page(
    c: &mut Conn,
    id: i64,
    preview: impl FnOnce(&ListingRow) -> bool,
    deposit_due_working_days: u32,
    now: DateTime<Utc>,
) -> Result<Option<ListingPage>, AppError> {
    let Some(row) = store::find(c, id)? else {
        return Ok(None);
    };
    let public = listings_uc::publicly_visible(&row);
    let preview = !public && preview(&row);
    if !public && !preview {
        return Ok(None);
    }
    let seller = store::seller_name(c, row.organization_id)?;
    let listing = public_view(c, &row, seller, now)?;
    let (auction, bids) = auction_of(c, &row, now)?;
    let deal = public_deal(c, &row)?;
    let rounds = store::rounds(c, id)?
        .into_iter()
        .filter(|r| r.disclosure_start.is_some())
        .map(|r| RoundItem {
            round: r.round,
            listing_price: Money::from_fen(r.listing_price),
            disclosure_start: r.disclosure_start.map(from_db),
            disclosure_end: r.disclosure_end.map(from_db),
            outcome: r.outcome,
        })
        .collect();
    let (live, countdown_target, remaining) = timing(auction.as_ref(), now);
    Ok(Some(ListingPage {
        stage: stage(&listing),
        last_seq: bids.first().map_or(0, |b| b.seq),
        listing,
        preview,
        auction,
        bids,
        live,
        countdown_target,
        remaining,
        deal,
        rounds,
        notices: Vec::new(),
        deposit_due_working_days,
    }))
}

/// The auction of the listing's current round with its bids (newest first), if any.
fn auction_of(
    c: &mut Conn,
    row: &ListingRow,
    now: DateTime<Utc>,
) -> Result<(Option<AuctionView>, Vec<BidView>), AppError> {
    let Some(a) = auctions::of_listing(c, row.id, row.round)? else {
        return Ok((None, Vec::new()));
    };
    // As GET /api/v1/listings/{id}/auction shows it.
    let view = auctions_uc::view(&a, row, now);
    let mut bids: Vec<BidView> = auctions::bids(c, a.id, 0, i64::MAX)?
        .iter()
        .map(auctions_uc::bid_view)
        .collect();
    bids.reverse();
    Ok((Some(view), bids))
}

/// Whether the panel is live, what its countdown counts to and how many seconds are left.
fn timing(auction: Option<&AuctionView>, now: DateTime<Utc>) -> (bool, &'static str, i64) {
    use crate::domain::auction::Phase;
    let Some(a) = auction else {
        return (false, "closed", 0);
    };
    let live = matches!(
        a.status,
        ListingStatus::AuctionScheduled | ListingStatus::Bidding
    ) && a.phase != Phase::Closed;
    let (target, until) = match a.phase {
        Phase::Scheduled => ("start", Some(a.starts_at)),
        Phase::Free => ("free", Some(a.free_ends_at)),
        Phase::Sealed => ("sealed", Some(a.free_ends_at)),
        Phase::Countdown => ("end", Some(a.ends_at)),
        // Suspended: what was left when the clock of the auction stopped, frozen.
        Phase::Paused => {
            let left = a.remaining_seconds.unwrap_or(0);
            return (live, "paused", i64::try_from(left).unwrap_or(i64::MAX));
        }
        Phase::Closed => ("closed", None),
    };
    let remaining = until.map_or(0, |t| {
        let ms = (t - now).num_milliseconds().max(0);
        (ms + 999) / 1000
    });
    (live, target, remaining)
}

/// The stage note of a listing.
fn stage(l: &ListingView) -> &'static str {
    use ListingStatus as S;
    match l.status {
        S::Draft | S::Submitted | S::Returned => "review",
        S::Disclosure if l.disclosure_ended => "awaiting_auction",
        S::Disclosure => "disclosure",
        S::NoSale => "no_sale",
        S::Negotiation => "negotiation",
        S::AuctionScheduled => "auction_scheduled",
        S::Bidding => "bidding",
        S::Awarded | S::ContractSigned | S::Paid => "awarded",
        S::Announced => "announced",
        S::Closed => "closed",
        S::Suspended => "suspended",
        S::Terminated => "terminated",
        S::Failed => "failed",
    }
}
