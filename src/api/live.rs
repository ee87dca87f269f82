//! Live auction events as Server-Sent Events (`GET /api/v1/listings/{id}/auction/events`).
//! Each connect reads its replay (bids after `Last-Event-ID`, then the current state) from
//! the database once; after that the listing's shared feed (`crate::live`) brings what
//! changes, read once for every subscriber of this instance.

use std::convert::Infallible;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::net::IpAddr;

use actix_web::http::header::HeaderMap;
use actix_web::{HttpRequest, HttpResponse, web};
use bytes::Bytes;
use futures_util::Stream;
use futures_util::future::BoxFuture;
use serde::Serialize;

use super::extract::{MaybeUser, client_ip};
use crate::domain::auction::{self, Course, Phase};
use crate::error::{AppError, Problem};
use crate::exchange::auctions::{self as uc, AuctionView};
use crate::exchange::listings::Viewer;
use crate::live::feed::FramesBuilder;
use crate::live::{Frames, Head, Kind, Look, Source};
use crate::state::AppState;
use crate::store::auctions::{self as store, BidRow};
use crate::store::{Conn, listings};

/// Bids read per statement when replaying.
const PAGE: i64 = 500;
/// Sent when the auction is over: EventSource clients wait this long (ms) before trying again.
const OVER_RETRY: &str = "retry: 3600000\n\n";

fn sse(event: &str, id: Option<i32>, data: &impl Serialize) -> String {
    let json = serde_json::to_string(data).unwrap_or_default();
    match id {
        Some(id) => format!("id: {id}\nevent: {event}\ndata: {json}\n\n"),
        None => format!("event: {event}\ndata: {json}\n\n"),
    }
}

/// Frames with equal keys tell the same state (bids are sent as their own frames).
fn state_key(v: &AuctionView) -> u64 {
    let mut h = DefaultHasher::new();
    (v.phase.as_str(), v.status.as_str(), v.ends_at).hash(&mut h);
    h.finish()
}

fn push_bids(frames: &mut FramesBuilder, bids: &[BidRow]) {
    for b in bids {
        frames.push(Kind::Bid(b.seq), &sse("bid", Some(b.seq), &uc::bid_view(b)));
    }
}

fn push_state(frames: &mut FramesBuilder, event: &str, view: &AuctionView) {
    frames.push(Kind::State(state_key(view)), &sse(event, None, view));
}

/// The opening of a sealed auction: every bid at once, with the outcome.
#[derive(Serialize)]
struct OpenedData<'a> {
    listing_id: i64,
    price: Option<crate::domain::money::Money>,
    winner_bidder_code: Option<&'a str>,
    bids: Vec<uc::BidView>,
}

fn push_opened(frames: &mut FramesBuilder, view: &AuctionView, bids: &[BidRow]) {
    let data = OpenedData {
        listing_id: view.listing_id,
        price: view.current_price,
        winner_bidder_code: view.leading_bidder_code.as_deref(),
        bids: bids.iter().map(uc::bid_view).collect(),
    };
    let mut h = DefaultHasher::new();
    ("opened", view.listing_id).hash(&mut h);
    frames.push(Kind::State(h.finish()), &sse("opened", None, &data));
}

/// The auction of a listing as read now, with the bids after `after` (none when `None`).
struct Read {
    auction_id: i64,
    view: AuctionView,
    bids: Vec<BidRow>,
    /// A sealed auction once opened: every bid (bids are never sent one by one).
    opened: Option<Vec<BidRow>>,
    /// The auction can no longer change.
    over: bool,
    /// When what a reader sees next changes by time alone.
    next_change: Option<chrono::DateTime<chrono::Utc>>,
}

fn read(
    c: &mut Conn,
    listing: &listings::ListingRow,
    after: Option<i32>,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Option<Read>, AppError> {
    let Some(a) = store::of_listing(c, listing.id, listing.round)? else {
        return Ok(None);
    };
    let mut bids = Vec::new();
    let sealed = uc::is_sealed(listing);
    let opened = if sealed && a.closed_at.is_some() {
        Some(store::bids(c, a.id, 0, i64::MAX)?)
    } else {
        None
    };
    if let Some(mut cursor) = after.filter(|_| !sealed) {
        loop {
            let page = store::bids(c, a.id, cursor, PAGE)?;
            let full = page.len() == PAGE as usize;
            cursor = page.last().map_or(cursor, |b| b.seq);
            bids.extend(page);
            if !full {
                break;
            }
        }
    }
    let course = uc::course_of(&a, listing);
    Ok(Some(Read {
        auction_id: a.id,
        view: uc::view(&a, listing, now),
        bids,
        opened,
        over: course == Course::Over,
        next_change: auction::next_boundary(&uc::times(&a), course, now),
    }))
}

/// The shared feed of one listing's auction.
struct AuctionFeed {
    state: web::Data<AppState>,
    listing_id: i64,
    auction_id: Option<i64>,
    last_seq: i32,
    last: Option<AuctionView>,
}

impl Source for AuctionFeed {
    fn look(&mut self) -> BoxFuture<'_, Result<Look, AppError>> {
        Box::pin(self.look_now())
    }
}

impl AuctionFeed {
    async fn look_now(&mut self) -> Result<Look, AppError> {
        let (id, now) = (self.listing_id, self.state.clock.now());
        let after = self.last.as_ref().map(|_| self.last_seq);
        let read = self
            .state
            .db
            .run(move |c| match listings::find(c, id)? {
                Some(listing) => read(c, &listing, after, now),
                None => Ok(None),
            })
            .await?;
        // No listing or no auction (any more): nothing to watch.
        let Some(read) = read.filter(|r| self.auction_id.is_none_or(|a| a == r.auction_id)) else {
            return Ok(Look {
                finished: true,
                ..Look::default()
            });
        };
        self.auction_id = Some(read.auction_id);
        let next_change = read
            .next_change
            .and_then(|t| (t - now).to_std().ok())
            .map(|d| d + std::time::Duration::from_millis(20));
        let finished = read.over;
        let Some(previous) = self.last.replace(read.view.clone()) else {
            self.last_seq = i32::try_from(read.view.bid_count).unwrap_or(i32::MAX);
            return Ok(Look {
                finished,
                next_change,
                ..Look::default()
            });
        };
        let mut frames = Frames::builder();
        push_bids(&mut frames, &read.bids);
        if let Some(b) = read.bids.last() {
            self.last_seq = b.seq;
        }
        let view = &read.view;
        let phase_changed = previous.phase != view.phase;
        let status_changed = previous.status != view.status;
        if phase_changed || (status_changed && finished) {
            if let Some(opened) = &read.opened {
                push_opened(&mut frames, view, opened);
            }
            let event = if view.phase == Phase::Closed {
                "closed"
            } else {
                "phase"
            };
            push_state(&mut frames, event, view);
        } else if previous.ends_at != view.ends_at {
            push_state(&mut frames, "extended", view);
        }
        if finished {
            frames.push(Kind::Other, OVER_RETRY);
        }
        Ok(Look {
            frames: frames.finish(),
            finished,
            next_change,
        })
    }
}

/// The replay of one connect: the bids after `after`, then the current state.
fn head(
    c: &mut Conn,
    id: i64,
    viewer: Viewer,
    after: i32,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Head, AppError> {
    let listing = listings::find(c, id)?
        .filter(|r| viewer.may_see(r))
        .ok_or_else(|| AppError::not_found("no such listing"))?;
    let read = read(c, &listing, Some(after), now)?.ok_or_else(|| {
        AppError::conflict(
            "no_auction",
            "this listing has no auction (yet); its events can be followed once one is scheduled",
        )
    })?;
    let mut frames = Frames::builder();
    push_bids(&mut frames, &read.bids);
    if let Some(opened) = &read.opened {
        push_opened(&mut frames, &read.view, opened);
    }
    let finished = read.over;
    let event = if read.view.phase == Phase::Closed {
        "closed"
    } else {
        "phase"
    };
    push_state(&mut frames, event, &read.view);
    if finished {
        frames.push(Kind::Other, OVER_RETRY);
    }
    Ok(Head {
        frames: frames.finish(),
        through_seq: read.bids.last().map_or(after, |b| b.seq.max(after)),
        state: Some(state_key(&read.view)),
        finished,
    })
}

/// The bid seq in `Last-Event-ID` (0 when absent or not a number).
fn last_event_id(headers: &HeaderMap) -> i32 {
    headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<i32>().ok())
        .unwrap_or(0)
        .max(0)
}

/// Live auction events as Server-Sent Events: `bid` (with `id` = seq), `extended`, `phase`,
/// `closed`; a sealed auction sends no `bid` but, at its close, `opened` with every bid at
/// once (then `closed`). The stream opens with the bids after `Last-Event-ID` and the current state; it
/// ends when the auction is over (after `closed`), after `live.max_idle_seconds` without an
/// event or `live.max_stream_seconds` in all, or when the client falls too far behind; the
/// client then reconnects with `Last-Event-ID` and misses nothing.
#[utoipa::path(get, path = "/api/v1/listings/{id}/auction/events", operation_id = "auction_events", tag = "auctions",
    params(
        ("id" = i64, Path, description = "Listing id"),
        ("Last-Event-ID" = Option<String>, Header, description = "The last bid seq received"),
    ),
    // Optional: a signed-in caller (owner, staff) may see more; a bad token is 401.
    security((), ("bearer" = [])),
    responses(
        (status = 200, description = "An event stream; comments (`: keep-alive`) keep quiet streams open", content_type = "text/event-stream"),
        (status = 404, description = "No such listing", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`no_auction`: the listing has no auction (yet)", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "`too_many_streams`: the client address (`live.sse_max_per_address`) or the server (`live.sse_max_per_instance`) holds as many streams as allowed", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn events(
    state: web::Data<AppState>,
    user: MaybeUser,
    req: HttpRequest,
    path: web::Path<i64>,
) -> Result<HttpResponse, AppError> {
    let ip = client_ip(&req, state.settings.server.trust_forwarded_for);
    let viewer = Viewer::of(user.0.as_ref());
    let after = last_event_id(req.headers());
    let stream = open(&state, path.into_inner(), viewer, ip, after).await?;
    Ok(HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header(("cache-control", "no-cache"))
        .insert_header(("x-accel-buffering", "no"))
        .streaming(stream))
}

/// Opens one live stream (what [`events`] serves): takes a place under the caps, joins the
/// listing's feed and reads the replay after bid `after`. Public so that tests can hold a
/// stream without reading it, as a stalled client would.
pub async fn open(
    state: &web::Data<AppState>,
    id: i64,
    viewer: Viewer,
    ip: Option<IpAddr>,
    after: i32,
) -> Result<impl Stream<Item = Result<Bytes, Infallible>> + 'static, AppError> {
    let permit = state.hub.admit(ip)?;
    let st = state.clone();
    let member = state
        .hub
        .join(id, move || {
            Box::new(AuctionFeed {
                state: st,
                listing_id: id,
                auction_id: None,
                last_seq: 0,
                last: None,
            })
        })
        .await?;
    let now = state.clock.now();
    let head = state
        .db
        .run(move |c| head(c, id, viewer, after, now))
        .await?;
    Ok(member.stream(permit, head))
}
