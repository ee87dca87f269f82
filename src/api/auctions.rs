//! Auctions and bids: scheduling, the live state, placing bids (idempotent) and the bid
//! history (bidder codes for everyone; who is behind them for operators and auditors).

use std::collections::HashMap;

use actix_web::http::header::HeaderMap;
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::call::Call;
use super::extract::{Bidders, MaybeUser, Operators, Staff, Token, login_ended};
use super::json::ApiJson;
use crate::audit::receipt::{self, Receipt};
use crate::domain::money::Money;
use crate::error::{AppError, Problem};
use crate::exchange::auctions::{self as uc, AuctionView, BidView, Placement, SealedBidView};
use crate::exchange::listings::Viewer;
use crate::state::AppState;
use crate::store::{auctions as store, listings, registrations};

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScheduleRequest {
    /// When free bidding starts (RFC 3339).
    pub starts_at: DateTime<Utc>,
}

/// Schedule the auction of a listing whose disclosure ended with two or more eligible bidders.
#[utoipa::path(post, path = "/api/v1/listings/{id}/auction", tag = "auctions",
    params(("id" = i64, Path, description = "Listing id")),
    request_body = ScheduleRequest,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Scheduled: the listing is `auction_scheduled`", body = AuctionView),
        (status = 409, description = "`invalid_state`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed` (start in the past)", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn schedule(
    call: Call,
    op: Staff<Operators>,
    path: web::Path<i64>,
    body: ApiJson<ScheduleRequest>,
) -> Result<HttpResponse, AppError> {
    let id = path.into_inner();
    let view = call
        .tx(&op, move |c, cx| {
            let (row, auction) = uc::schedule(c, &cx.deps(), &cx.by(), id, body.starts_at)?;
            Ok(uc::view(&auction, &row, cx.now))
        })
        .await?;
    call.state().hub.publish(id);
    Ok(HttpResponse::Ok().json(view))
}

fn visible_listing(
    c: &mut crate::store::Conn,
    id: i64,
    viewer: Viewer,
) -> Result<crate::store::listings::ListingRow, AppError> {
    listings::find(c, id)?
        .filter(|r| viewer.may_see(r))
        .ok_or_else(|| AppError::not_found("no such listing"))
}

/// The auction's live state, computed from stored times at the server's clock.
#[utoipa::path(get, path = "/api/v1/listings/{id}/auction", operation_id = "get_auction", tag = "auctions",
    params(("id" = i64, Path, description = "Listing id")),
    // Optional: a signed-in caller (owner, staff) may see more; a bad token is 401.
    security((), ("bearer" = [])),
    responses(
        (status = 200, description = "The auction", body = AuctionView),
        (status = 404, description = "No such listing, or no auction scheduled", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn get(
    state: web::Data<AppState>,
    user: MaybeUser,
    path: web::Path<i64>,
) -> Result<HttpResponse, AppError> {
    let (id, viewer, now) = (
        path.into_inner(),
        Viewer::of(user.0.as_ref()),
        state.clock.now(),
    );
    let view = state
        .db
        .run(move |c| {
            // One statement: a live page reads this once a second per watcher that polls.
            let (row, auction) = store::with_listing(c, id)?
                .filter(|(row, _)| viewer.may_see(row))
                .ok_or_else(|| AppError::not_found("no such listing"))?;
            let auction = auction
                .ok_or_else(|| AppError::not_found("no auction is scheduled for this listing"))?;
            Ok(uc::view(&auction, &row, now))
        })
        .await?;
    Ok(HttpResponse::Ok().json(view))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BidRequest {
    pub amount: Money,
}

pub const IDEMPOTENCY_KEY: &str = "idempotency-key";

/// The `Idempotency-Key` header: 1–200 visible ASCII characters.
fn idempotency_key(headers: &HeaderMap) -> Result<String, AppError> {
    let value = headers.get(IDEMPOTENCY_KEY).ok_or_else(|| {
        AppError::bad_request(
            "idempotency_key_required",
            "send an Idempotency-Key header with each bid",
        )
    })?;
    let key = value.to_str().map(str::trim).unwrap_or_default();
    if key.is_empty() || key.len() > 200 || !key.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(AppError::bad_request(
            "invalid_idempotency_key",
            "the Idempotency-Key must be 1 to 200 visible ASCII characters",
        ));
    }
    Ok(key.to_string())
}

/// Place a bid. Retrying with the same `Idempotency-Key` returns the same bid.
#[utoipa::path(post, path = "/api/v1/listings/{id}/bids", tag = "auctions",
    params(
        ("id" = i64, Path, description = "Listing id"),
        ("Idempotency-Key" = String, Header, description = "Required; the same key again returns the same bid"),
    ),
    request_body = BidRequest,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Accepted (or the earlier answer to the same key), with its signed receipt. A sealed bid answers a `SealedBidView` with its `commitment` (no receipt: its amount enters the log at the opening)", body = PlacedBidView,
            headers(("idempotent-replayed" = String, description = "`true` when this is the earlier answer to the same key"))),
        (status = 400, description = "`idempotency_key_required`, `invalid_idempotency_key`", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`not_eligible`", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`auction_not_open`, `auction_closed`, `bid_too_low`, `self_raise_not_allowed`, `already_bid` (sealed). An English bid's `bid_too_low` carries `minimum_bid` (the lowest amount the caller may bid now) and, once there is a bid, `current_price`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`invalid_increment`", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn place(
    call: Call,
    token: Token,
    req: HttpRequest,
    path: Result<web::Path<i64>, actix_web::Error>,
    body: Result<ApiJson<BidRequest>, AppError>,
) -> Result<HttpResponse, actix_web::Error> {
    let (id, amount, key) = match (path, body, idempotency_key(req.headers())) {
        (Ok(path), Ok(body), Ok(key)) => (path.into_inner(), body.amount, key),
        // Nothing to read: the login is checked on its own, then the request's first fault
        // is answered, in the order every other route answers them.
        (path, body, key) => {
            Staff::<Bidders>::allowed(token.check().await?)?;
            (path?.into_inner(), body?.amount, key?)
        }
    };
    Ok(place_checked(call, token, id, amount, key).await?)
}

/// A bid request whose path, body and Idempotency-Key are well formed, its access token
/// verified; its login is checked in the same statement as the reads before the queue.
async fn place_checked(
    call: Call,
    token: Token,
    id: i64,
    amount: Money,
    key: String,
) -> Result<HttpResponse, AppError> {
    let state = call.state().clone();
    let (first, again) = (key.clone(), key.clone());
    let login = token.login;
    // The login, the reads before the queue, and the refusals that need no lock: one
    // statement outside any transaction (most requests on a contested auction end here).
    let s = state.clone();
    let read = state
        .db
        .run(move |c| uc::before_lock(c, &s.deps(), login, id, amount, &first))
        .await
        .inspect_err(|e| state.metrics.count_bid(e.code()))?;
    let uc::Read { login, before } = read.ok_or_else(login_ended)?;
    let bidder = Staff::<Bidders>::allowed(token.confirm(login).await?)?;
    let state = &state;
    let placed = match before {
        Ok(uc::Before::Answered(p)) => Ok(*p),
        Ok(uc::Before::Queue(queued)) => {
            place_in_turn(&call, &bidder, id, queued, amount, key).await
        }
        Err(e) => Err(e),
    };
    let placed = match placed {
        // Refused under the lock, or the key was an earlier request's after all: that
        // request's bid if there is one, looked up once the lock is released.
        Ok(Placement::Refused(e)) => {
            call.read(&bidder, move |c, cx| {
                uc::replay_or(c, &cx.by(), id, &again, e)
            })
            .await
        }
        Err(e) if e.code() == store::KEY_SEEN => {
            let gone =
                AppError::conflict("conflict", "the earlier request with this key left no bid");
            call.read(&bidder, move |c, cx| {
                uc::replay_or(c, &cx.by(), id, &again, gone)
            })
            .await
        }
        other => other,
    }
    .and_then(|p| match p {
        Placement::Refused(e) => Err(e),
        p => Ok(p),
    })
    .inspect_err(|e| state.metrics.count_bid(e.code()))?;
    let replay = match &placed {
        Placement::Open(p) => p.replay,
        Placement::Sealed(p) => p.replay,
        Placement::Refused(_) => false,
    };
    state
        .metrics
        .count_bid(if replay { "replayed" } else { "accepted" });
    if !replay {
        state.hub.publish(id);
    }
    let mut resp = HttpResponse::Created();
    if replay {
        resp.insert_header(("idempotent-replayed", "true"));
    }
    Ok(match placed {
        Placement::Open(p) => {
            let receipt = match &p.logged {
                // A new bid: its event is known, nothing to read back.
                Some(logged) => Some(sign_receipt(state, &p.bid, logged)?),
                None => receipt_of(state, &p.bid).await?,
            };
            resp.json(PlacedBidView {
                bid: uc::bid_view(&p.bid),
                receipt,
            })
        }
        Placement::Sealed(p) => resp.json(uc::sealed_bid_view(&p.bid, p.ends_at)),
        Placement::Refused(e) => return Err(e),
    })
}

/// A bid that passed the reads before the queue. This instance's requests on one auction take
/// turns (holding no connection while they wait); a bid that one placed meanwhile already
/// beat is refused in its turn, without a transaction (and without looking its key up when
/// the one bid placed since its read is another request's). Only a bid that can still win
/// takes the auction's lock (see [`uc::Turns`]).
async fn place_in_turn(
    call: &Call,
    bidder: &Staff<Bidders>,
    id: i64,
    queued: uc::Queued,
    amount: Money,
    key: String,
) -> Result<Placement, AppError> {
    let mut turn = match queued.auction_id() {
        Some(auction) => Some(call.state().bid_turns.take(auction).await),
        None => None,
    };
    let now = call.now();
    if let Some(refused) = turn
        .as_ref()
        .and_then(|t| t.refusal(&queued, amount, now, bidder.id, &key))
    {
        return if refused.look_up_key {
            Ok(Placement::Refused(refused.error))
        } else {
            Err(refused.error)
        };
    }
    let again = key.clone();
    let placed = call
        .tx(bidder, move |c, cx| {
            uc::place_queued(c, &cx.deps(), &cx.by(), id, queued, amount, &key)
        })
        .await;
    if let (Some(turn), Ok(Placement::Open(p))) = (turn.as_mut(), &placed) {
        turn.placed(p, bidder.id, &again);
    }
    placed
}

/// An accepted bid with the exchange's signed receipt.
#[derive(Debug, Serialize, ToSchema)]
pub struct PlacedBidView {
    #[serde(flatten)]
    pub bid: BidView,
    /// The signed promise that the bid is in the audit log (see API.md).
    pub receipt: Option<Receipt>,
}

/// Signs the receipt of a bid just committed, from the event its transaction wrote.
fn sign_receipt(
    state: &web::Data<AppState>,
    bid: &store::BidRow,
    logged: &crate::audit::Logged,
) -> Result<Receipt, AppError> {
    let amount = Money::from_fen(bid.amount).to_string();
    let facts = receipt::BidFacts {
        listing_id: bid.listing_id,
        seq: i64::from(bid.seq),
        amount: &amount,
        bidder_code: &bid.bidder_code,
        placed_at: crate::store::models::from_db(bid.placed_at),
    };
    receipt::sign(
        &state.audit_signer,
        &facts,
        logged.event_id,
        &logged.hash,
        state.clock.now(),
    )
}

/// Signs the receipt of a remembered bid (its event read back, outside any lock).
async fn receipt_of(
    state: &web::Data<AppState>,
    bid: &store::BidRow,
) -> Result<Option<Receipt>, AppError> {
    let s = state.clone();
    let (listing_id, seq, code) = (bid.listing_id, i64::from(bid.seq), bid.bidder_code.clone());
    let (amount, placed_at) = (
        Money::from_fen(bid.amount).to_string(),
        crate::store::models::from_db(bid.placed_at),
    );
    state
        .db
        .run(move |c| {
            let facts = receipt::BidFacts {
                listing_id,
                seq,
                amount: &amount,
                bidder_code: &code,
                placed_at,
            };
            receipt::for_bid(c, &s.audit_signer, &facts, s.clock.now())
        })
        .await
}

/// A bid with who is behind it, for operators and auditors.
#[derive(Debug, Serialize, ToSchema)]
pub struct BidHistoryItem {
    #[serde(flatten)]
    pub bid: BidView,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bidder: Option<BidderIdentity>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct BidderIdentity {
    pub registration_id: i64,
    pub organization_id: i64,
    pub organization_name: String,
}

/// Bids per page of the history when no `limit` is given, and at most.
pub const MAX_BIDS_PER_PAGE: u32 = 1000;

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct BidsQuery {
    /// Only bids with a larger `seq` (default 0: from the first bid).
    #[param(minimum = 0, maximum = 2147483647_i64, value_type = Option<i64>)]
    pub after_seq: Option<u32>,
    /// Bids in this page, 1 to 1000 (default 1000).
    #[param(minimum = 1, maximum = 1000, value_type = Option<i64>)]
    pub limit: Option<u32>,
}

impl BidsQuery {
    /// (after_seq, limit), checked.
    fn window(&self) -> Result<(i32, u32), AppError> {
        let after = i32::try_from(self.after_seq.unwrap_or(0))
            .map_err(|_| AppError::bad_request("invalid_query", "after_seq is too large"))?;
        let limit = self.limit.unwrap_or(MAX_BIDS_PER_PAGE);
        if limit == 0 || limit > MAX_BIDS_PER_PAGE {
            return Err(AppError::bad_request(
                "invalid_query",
                "limit must be between 1 and 1000",
            ));
        }
        Ok((after, limit))
    }
}

/// Accepted bids in `seq` order, a page at a time (`after_seq`, `limit`); when the page is
/// full, a `Link: <...>; rel="next"` header names the next one. The public sees bidder codes only.
/// Before a sealed auction is opened nobody sees any bid but a bidder its own (a
/// `SealedBidView`, with its amount).
#[utoipa::path(get, path = "/api/v1/listings/{id}/bids", operation_id = "list_bids", tag = "auctions",
    params(("id" = i64, Path, description = "Listing id"), BidsQuery),
    // Optional: a signed-in caller (owner, staff) may see more; a bad token is 401.
    security((), ("bearer" = [])),
    responses(
        (status = 200, description = "The bids, one page (a sealed auction before its opening: only the caller's own sealed bid, if any)", body = Vec<BidHistoryItem>,
            headers(("Link" = String, description = "`<...?after_seq=N&limit=L>; rel=\"next\"` when more may follow"))),
        (status = 400, description = "`invalid_query`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such listing", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn list(
    state: web::Data<AppState>,
    user: MaybeUser,
    path: web::Path<i64>,
    q: web::Query<BidsQuery>,
) -> Result<HttpResponse, AppError> {
    let (id, viewer) = (path.into_inner(), Viewer::of(user.0.as_ref()));
    let caller = user.0.as_ref().map(|u| u.id);
    let (after_seq, limit) = q.window()?;
    let items = state
        .db
        .run(move |c| {
            let row = visible_listing(c, id, viewer.clone())?;
            let Some(auction) = store::of_listing(c, id, row.round)? else {
                return Ok(Listed::Bids(Vec::new()));
            };
            if !uc::bids_visible(&row, &auction) {
                let own: Vec<SealedBidView> = match caller {
                    Some(user) => uc::own_sealed_bid(c, &auction, user)?.into_iter().collect(),
                    None => Vec::new(),
                };
                return Ok(Listed::Own(own));
            }
            let who = identities(c, viewer, id, row.round)?;
            let bids = store::bids(c, auction.id, after_seq, i64::from(limit))?;
            Ok(Listed::Bids(
                bids.iter()
                    .map(|b| BidHistoryItem {
                        bid: uc::bid_view(b),
                        bidder: who.get(&b.registration_id).cloned(),
                    })
                    .collect(),
            ))
        })
        .await?;
    let Listed::Bids(items) = items else {
        return Ok(HttpResponse::Ok().json(items));
    };
    let mut res = HttpResponse::Ok();
    if items.len() == limit as usize
        && let Some(last) = items.last()
    {
        res.insert_header((
            "Link",
            format!(
                "</api/v1/listings/{id}/bids?after_seq={}&limit={limit}>; rel=\"next\"",
                last.bid.seq
            ),
        ));
    }
    Ok(res.json(items))
}

/// Who is behind each registration of the round: operators and auditors only.
fn identities(
    c: &mut crate::store::Conn,
    viewer: Viewer,
    id: i64,
    round: i32,
) -> Result<HashMap<i64, BidderIdentity>, AppError> {
    if !viewer.is_staff() {
        return Ok(HashMap::new());
    }
    Ok(registrations::for_listing(c, id, round)?
        .into_iter()
        .map(|(r, name)| {
            let who = BidderIdentity {
                registration_id: r.id,
                organization_id: r.organization_id,
                organization_name: name,
            };
            (r.id, who)
        })
        .collect())
}

/// The bid history, or a sealed auction's own bid before the opening.
#[derive(Serialize)]
#[serde(untagged)]
enum Listed {
    Bids(Vec<BidHistoryItem>),
    Own(Vec<SealedBidView>),
}
