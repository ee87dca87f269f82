//! Reconciliation: replay each listing's events and compare what they say with the bids,
//! registrations (status and deposit), auctions (standing) and deals (buyer and price) rows. A row that differs from its events, an event
//! with no row, or a row with no event is a `state_mismatch` at the first event of the
//! listing's stream that disagrees (a row with no event at all: one past the stream's end),
//! naming the table.

use std::collections::BTreeMap;

use serde_json::Value;

use super::chain::format_time;
use super::verify::Invalid;
use crate::domain::money::Money;
use crate::error::AppError;
use crate::store::audit::StoredEvent;
use crate::store::models::from_db;
use crate::store::reconcile::{self as store, AuctionFacts, BidFacts, DealFacts};
use crate::store::{Conn, Db, audit as audit_store};

pub const STATE_MISMATCH: &str = "state_mismatch";

/// A bid as its `bid.placed` event records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrailBid {
    pub stream_seq: i64,
    pub auction_id: i64,
    pub seq: i64,
    pub registration_id: i64,
    pub bidder_code: String,
    /// As the trail writes it (yuan, two decimals).
    pub amount: String,
    pub placed_at: String,
}

fn int(p: &Value, k: &str) -> i64 {
    p.get(k).and_then(Value::as_i64).unwrap_or(-1)
}

fn text(p: &Value, k: &str) -> String {
    p.get(k)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

/// The bids a listing's events record, in stream order: each `bid.placed`, and the bids a
/// sealed auction's `auction.opened` reveals at once.
pub fn trail_bids(events: &[StoredEvent]) -> Vec<TrailBid> {
    let mut out = Vec::new();
    for e in events {
        if e.action != "bid.placed" && e.action != "auction.opened" {
            continue;
        }
        let p: Value = serde_json::from_str(&e.payload).unwrap_or(Value::Null);
        let one = |b: &Value| TrailBid {
            stream_seq: e.stream_seq,
            auction_id: int(&p, "auction_id"),
            seq: int(b, "seq"),
            registration_id: int(b, "registration_id"),
            bidder_code: text(b, "bidder_code"),
            amount: text(b, "amount"),
            placed_at: text(b, "placed_at"),
        };
        if e.action == "bid.placed" {
            out.push(one(&p));
        } else if let Some(bids) = p.get("bids").and_then(Value::as_array) {
            out.extend(bids.iter().map(one));
        }
    }
    out
}

fn row_as_trail(b: &BidFacts, stream_seq: i64) -> TrailBid {
    TrailBid {
        stream_seq,
        auction_id: b.auction_id,
        seq: i64::from(b.seq),
        registration_id: b.registration_id,
        bidder_code: b.bidder_code.clone(),
        amount: crate::domain::money::Money::from_fen(b.amount).to_string(),
        placed_at: format_time(from_db(b.placed_at)),
    }
}

/// The first disagreement between a listing's events and its rows: `(stream_seq, table)`.
pub fn first_mismatch(
    events: &[StoredEvent],
    bids: &[BidFacts],
    registrations: &[(i64, String, String)],
) -> Option<(i64, &'static str)> {
    let end = events.last().map_or(1, |e| e.stream_seq + 1);
    let mut found: Vec<(i64, &'static str)> = Vec::new();
    // Bids: each event has its row, equal in every fact; each row has its event.
    let mut rows: BTreeMap<(i64, i64), &BidFacts> = bids
        .iter()
        .map(|b| ((b.auction_id, i64::from(b.seq)), b))
        .collect();
    for t in trail_bids(events) {
        match rows.remove(&(t.auction_id, t.seq)) {
            Some(row) if row_as_trail(row, t.stream_seq) == t => {}
            _ => found.push((t.stream_seq, "bids")),
        }
    }
    if !rows.is_empty() {
        found.push((end, "bids"));
    }
    // Registrations: replay status and deposit; the last event that set a field that
    // disagrees is where the trail and the table part.
    #[derive(Default)]
    struct Reg {
        status: Option<(String, i64)>,
        deposit: Option<(String, i64)>,
    }
    let mut regs: BTreeMap<i64, Reg> = BTreeMap::new();
    for e in events {
        let status = match e.action.as_str() {
            "registration.created" => Some("pending"),
            "registration.qualified" => Some("qualified"),
            "registration.rejected" => Some("rejected"),
            _ => None,
        };
        let deposit = e.action.starts_with("deposit.");
        if status.is_none() && !deposit {
            continue;
        }
        let p: Value = serde_json::from_str(&e.payload).unwrap_or(Value::Null);
        let reg = regs.entry(int(&p, "registration_id")).or_default();
        if let Some(s) = status {
            reg.status = Some((s.to_string(), e.stream_seq));
            if s == "pending" {
                reg.deposit = Some(("unpaid".into(), e.stream_seq));
            }
        }
        if deposit && let Some(to) = p.get("to").and_then(Value::as_str) {
            reg.deposit = Some((to.to_string(), e.stream_seq));
        }
    }
    for (id, status, deposit_status) in registrations {
        let Some(reg) = regs.remove(id) else {
            found.push((end, "registrations"));
            continue;
        };
        if let Some((s, at)) = &reg.status
            && s != status
        {
            found.push((*at, "registrations"));
        }
        if let Some((d, at)) = &reg.deposit
            && d != deposit_status
        {
            found.push((*at, "registrations"));
        }
    }
    for reg in regs.values() {
        if let Some((_, at)) = &reg.status {
            found.push((*at, "registrations"));
        }
    }
    found.into_iter().min_by_key(|f| f.0)
}

fn money(fen: Option<i64>) -> Value {
    fen.map_or(Value::Null, |f| {
        Value::String(Money::from_fen(f).to_string())
    })
}

fn code(c: Option<&String>) -> Value {
    c.map_or(Value::Null, |c| Value::String(c.clone()))
}

/// The first disagreement between a listing's events and its auctions and deals rows: an
/// auction's bid count, price and leader against its `auction.closed` event (or, while it
/// runs, against its `bid.placed` events), and a deal's buyer and price against the
/// `deal.awarded` (or `deal.offer_accepted`) event that made it.
pub fn standing_mismatch(
    events: &[StoredEvent],
    auctions: &[AuctionFacts],
    deals: &[DealFacts],
) -> Option<(i64, &'static str)> {
    let end = events.last().map_or(1, |e| e.stream_seq + 1);
    let parsed: Vec<(&StoredEvent, Value)> = events
        .iter()
        .filter(|e| {
            matches!(
                e.action.as_str(),
                "auction.closed" | "deal.awarded" | "deal.offer_accepted"
            )
        })
        .map(|e| (e, serde_json::from_str(&e.payload).unwrap_or(Value::Null)))
        .collect();
    let placed = trail_bids(events);
    let mut found: Vec<(i64, &'static str)> = Vec::new();
    for a in auctions {
        let closed = parsed
            .iter()
            .rev()
            .find(|(e, p)| e.action == "auction.closed" && int(p, "auction_id") == a.id);
        if let Some((e, p)) = closed {
            let mut same = int(p, "bids") == i64::from(a.bid_count);
            if p["status"] != "terminated" {
                same = same
                    && p["price"] == money(a.current_price)
                    && p["winner_bidder_code"] == code(a.leading_bidder_code.as_ref());
            }
            if !same {
                found.push((e.stream_seq, "auctions"));
            }
            continue;
        }
        // Running: an English auction's standing is its last bid (sealed bids are counted
        // but their amounts enter the trail only at the opening).
        let mine: Vec<&TrailBid> = placed.iter().filter(|b| b.auction_id == a.id).collect();
        if let Some(last) = mine.last() {
            let same = mine.len() == usize::try_from(a.bid_count).unwrap_or(usize::MAX)
                && Value::String(last.amount.clone()) == money(a.current_price)
                && Some(&last.bidder_code) == a.leading_bidder_code.as_ref();
            if !same {
                found.push((last.stream_seq, "auctions"));
            }
        }
    }
    for d in deals {
        let made = parsed.iter().find(|(e, p)| match e.action.as_str() {
            "deal.awarded" => {
                int(p, "round") == i64::from(d.round)
                    && int(p, "registration_id") == d.registration_id
            }
            "deal.offer_accepted" => int(p, "deal_id") == d.id,
            _ => false,
        });
        match made {
            Some((e, p)) => {
                if p["price"] != money(Some(d.price)) || text(p, "bidder_code") != d.bidder_code {
                    found.push((e.stream_seq, "deals"));
                }
            }
            None => found.push((end, "deals")),
        }
    }
    found.into_iter().min_by_key(|f| f.0)
}

/// The first disagreement of a listing's rows (bids, registrations, auctions, deals) with its
/// events, read already: `(stream_seq, table)`.
pub fn listing_mismatch(
    conn: &mut Conn,
    id: i64,
    events: &[StoredEvent],
) -> Result<Option<(i64, &'static str)>, AppError> {
    let bids = store::bids_of(conn, id)?;
    let regs = store::registrations_of(conn, id)?;
    let auctions = store::auctions_of(conn, id)?;
    let deals = store::deals_of(conn, id)?;
    Ok([
        first_mismatch(events, &bids, &regs),
        standing_mismatch(events, &auctions, &deals),
    ]
    .into_iter()
    .flatten()
    .min_by_key(|f| f.0))
}

/// Reconciles every listing, a listing at a time; returns the problems in listing order.
pub fn check(db: &Db) -> Result<Vec<Invalid>, AppError> {
    let mut problems = Vec::new();
    let mut after = 0;
    loop {
        let ids = db.run_blocking(|c| store::listing_ids(c, after, 500))?;
        let Some(&last) = ids.last() else { break };
        after = last;
        for id in ids {
            let stream = format!("listing:{id}");
            let first = db.run_blocking(|c| {
                let events = audit_store::stream_events(c, &stream)?;
                listing_mismatch(c, id, &events)
            })?;
            if let Some((seq, table)) = first {
                problems.push(Invalid {
                    stream,
                    stream_seq: seq,
                    reason: STATE_MISMATCH,
                    table: Some(table),
                });
            }
        }
    }
    Ok(problems)
}
