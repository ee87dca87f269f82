//! Queries on auctions, bids and remembered bid requests.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;

use super::Conn;
use super::listings::ListingRow;
use super::models::to_db;
use super::registrations::RegistrationRow;
use super::schema::{
    auctions as a, bid_requests as br, bids as b, listings as l, registrations as r, sessions as s,
    users as u,
};
use super::sessions::{LiveLogin, Login};
use crate::error::AppError;
use crate::with_conn;

#[derive(Debug, Clone, Queryable, Selectable, Identifiable)]
#[diesel(table_name = a)]
pub struct AuctionRow {
    pub id: i64,
    pub listing_id: i64,
    pub round: i32,
    pub starts_at: NaiveDateTime,
    pub free_ends_at: NaiveDateTime,
    pub ends_at: NaiveDateTime,
    pub countdown_seconds: i32,
    pub start_price: i64,
    pub increment: i64,
    pub allow_self_raise: bool,
    pub current_price: Option<i64>,
    pub leading_registration_id: Option<i64>,
    pub leading_bidder_code: Option<String>,
    pub bid_count: i32,
    pub closed_at: Option<NaiveDateTime>,
    pub created_at: NaiveDateTime,
    pub last_bid_at: Option<NaiveDateTime>,
    pub leading_holds_right: bool,
}

#[derive(Debug, Clone, Queryable, QueryableByName, Selectable, Identifiable)]
#[diesel(table_name = b)]
pub struct BidRow {
    pub id: i64,
    pub auction_id: i64,
    pub listing_id: i64,
    pub seq: i32,
    pub registration_id: i64,
    pub bidder_code: String,
    pub amount: i64,
    pub placed_at: NaiveDateTime,
    pub ends_at: NaiveDateTime,
    pub client_ip: Option<String>,
    pub user_agent: Option<String>,
    /// `raise`, `match` (a right-holder's match of the current price) or `sealed`.
    pub kind: String,
}

pub struct NewAuction {
    pub listing_id: i64,
    pub round: i32,
    pub starts_at: DateTime<Utc>,
    pub free_ends_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub countdown_seconds: i32,
    pub start_price: i64,
    pub increment: i64,
    pub allow_self_raise: bool,
    pub now: DateTime<Utc>,
}

pub fn insert(conn: &mut Conn, n: &NewAuction) -> Result<AuctionRow, AppError> {
    let row = with_conn!(conn, c => diesel::insert_into(a::table)
        .values((
            a::listing_id.eq(n.listing_id),
            a::round.eq(n.round),
            a::starts_at.eq(to_db(n.starts_at)),
            a::free_ends_at.eq(to_db(n.free_ends_at)),
            a::ends_at.eq(to_db(n.ends_at)),
            a::countdown_seconds.eq(n.countdown_seconds),
            a::start_price.eq(n.start_price),
            a::increment.eq(n.increment),
            a::allow_self_raise.eq(n.allow_self_raise),
            a::created_at.eq(to_db(n.now)),
        ))
        .returning(AuctionRow::as_returning())
        .get_result(c))?;
    Ok(row)
}

/// The auction of a listing's round.
pub fn of_listing(
    conn: &mut Conn,
    listing_id: i64,
    round: i32,
) -> Result<Option<AuctionRow>, AppError> {
    let row = with_conn!(conn, c => a::table
        .filter(a::listing_id.eq(listing_id))
        .filter(a::round.eq(round))
        .select(AuctionRow::as_select())
        .first(c)
        .optional())?;
    Ok(row)
}

/// A listing and the auction of its current round, in one statement.
pub fn with_listing(
    conn: &mut Conn,
    listing_id: i64,
) -> Result<Option<(ListingRow, Option<AuctionRow>)>, AppError> {
    let row = with_conn!(conn, c => l::table
        .left_join(a::table.on(a::listing_id.eq(l::id).and(a::round.eq(l::round))))
        .filter(l::id.eq(listing_id))
        .select((ListingRow::as_select(), Option::<AuctionRow>::as_select()))
        .first(c)
        .optional())?;
    Ok(row)
}

/// The fields of a listing a bid is judged by before its transaction (its description and
/// the rest of its row are not read on every bid request).
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = l)]
pub struct BidListing {
    pub id: i64,
    pub status: String,
    pub round: i32,
    pub suspended_from: Option<String>,
    pub suspended_at: Option<NaiveDateTime>,
    pub bidding_method: String,
    pub preemption: String,
}

/// A listing, the auction of its current round, a bidder's registration for it, and the bid
/// a request of that bidder with a given Idempotency-Key placed on the listing, if one did.
pub type ForBid = (
    BidListing,
    Option<AuctionRow>,
    Option<RegistrationRow>,
    Option<BidRow>,
);

/// The joins of a bid's read from the listing on (`l` in `$from`): the auction of its
/// current round, the bidder's registration for that round, and the bid remembered under the
/// request's key.
macro_rules! bid_read_joins {
    ($from:expr, $user:expr, $key:expr) => {
        $from
            .left_join(a::table.on(a::listing_id.eq(l::id).and(a::round.eq(l::round))))
            .left_join(
                r::table.on(r::listing_id
                    .eq(l::id)
                    .and(r::round.eq(l::round))
                    .and(r::user_id.eq($user))),
            )
            .left_join(
                br::table.on(br::listing_id
                    .eq(l::id)
                    .and(br::user_id.eq($user))
                    .and(br::idempotency_key.eq($key.to_owned()))),
            )
            .left_join(b::table.on(b::id.eq(br::bid_id)))
    };
}

/// What a bid reads before it queues, in one statement: the listing, the auction of its
/// current round, the bidder's registration for that round and the bid remembered under the
/// request's key (each may be missing).
pub fn for_bid(
    conn: &mut Conn,
    listing_id: i64,
    user_id: i64,
    key: &str,
) -> Result<Option<ForBid>, AppError> {
    let row = with_conn!(conn, c => bid_read_joins!(l::table, user_id, key)
        .filter(l::id.eq(listing_id))
        .select((
            BidListing::as_select(),
            Option::<AuctionRow>::as_select(),
            Option::<RegistrationRow>::as_select(),
            Option::<BidRow>::as_select(),
        ))
        .first(c)
        .optional())?;
    Ok(row)
}

/// [`for_bid`] for the user of `login`, with the login checked in the same statement (one
/// round trip for a bid request's session and reads): `None` if the login is not live (see
/// `sessions::Login::is_live`), else its user and the bid's read, `None` if there is no such
/// listing.
pub fn for_bid_signed(
    conn: &mut Conn,
    login: Login,
    listing_id: i64,
    key: &str,
) -> Result<Option<(LiveLogin, Option<ForBid>)>, AppError> {
    let user_id = login.user_id;
    let from = s::table
        .inner_join(u::table)
        .left_join(l::table.on(l::id.eq(listing_id)));
    let row = with_conn!(conn, c => bid_read_joins!(from, user_id, key)
        .filter(login.is_live())
        .select((
            (u::role, u::organization_id, u::supervisory_body_id),
            Option::<BidListing>::as_select(),
            Option::<AuctionRow>::as_select(),
            Option::<RegistrationRow>::as_select(),
            Option::<BidRow>::as_select(),
        ))
        .first::<(LiveLogin, Option<BidListing>, Option<AuctionRow>, Option<RegistrationRow>, Option<BidRow>)>(c)
        .optional())?;
    Ok(row.map(|(live, listing, auction, registration, bid)| {
        (live, listing.map(|l| (l, auction, registration, bid)))
    }))
}

/// The auction row locked for this transaction: bids on one auction queue here.
pub fn lock(conn: &mut Conn, id: i64) -> Result<AuctionRow, AppError> {
    let row = match conn {
        Conn::Pg(c) => a::table
            .find(id)
            .select(AuctionRow::as_select())
            .for_update()
            .first(*c)?,
        Conn::Sqlite(c) => a::table
            .find(id)
            .select(AuctionRow::as_select())
            .first(*c)?,
    };
    Ok(row)
}

pub struct NewBid<'a> {
    pub auction_id: i64,
    pub listing_id: i64,
    pub seq: i32,
    pub registration_id: i64,
    pub bidder_code: &'a str,
    pub amount: i64,
    pub placed_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub client_ip: Option<&'a str>,
    pub user_agent: Option<&'a str>,
    /// `raise` or `match`.
    pub kind: &'a str,
    /// The bidder holds the pre-emptive right.
    pub holds_right: bool,
}

impl AuctionRow {
    /// The row as [`accept`] leaves it once bid `n` is written (the standing it sets).
    pub fn with_bid(&self, n: &NewBid) -> AuctionRow {
        AuctionRow {
            current_price: Some(n.amount),
            leading_registration_id: Some(n.registration_id),
            leading_bidder_code: Some(n.bidder_code.to_string()),
            bid_count: n.seq,
            ends_at: to_db(n.ends_at),
            last_bid_at: Some(to_db(n.placed_at)),
            leading_holds_right: n.holds_right,
            ..self.clone()
        }
    }
}

/// The request an accepted bid answers: who sent it and under which idempotency key.
pub struct Request<'a> {
    pub user_id: i64,
    pub key: &'a str,
}

/// The code of the error [`accept`] answers when the request's key was remembered already
/// (the caller answers with the remembered bid instead).
pub const KEY_SEEN: &str = "idempotency_key_seen";

/// A unique violation on `bid_requests` is a key seen before; any other error is itself.
fn key_seen(e: diesel::result::Error) -> AppError {
    use diesel::result::{DatabaseErrorKind, Error};
    match &e {
        Error::DatabaseError(DatabaseErrorKind::UniqueViolation, info)
            if info.table_name() == Some("bid_requests")
                || info
                    .constraint_name()
                    .is_some_and(|c| c.starts_with("bid_requests"))
                || info.message().contains("bid_requests.") =>
        {
            AppError::conflict(KEY_SEEN, "this idempotency key was used before")
        }
        _ => e.into(),
    }
}

/// A notification to send with a write on PostgreSQL (`pg_notify(channel, payload)`, which
/// is delivered when the transaction commits); the caller's layer owns what it says.
pub struct Announce<'a> {
    pub channel: &'a str,
    pub payload: &'a str,
}

/// Writes an accepted bid, moves the auction's standing, price and end, remembers the
/// request's key and, on PostgreSQL, sends `announce`. PostgreSQL does all four in one
/// statement (one round trip under the auction's lock); SQLite, which has no round trip to
/// save and no notifications, writes the three rows one by one.
pub fn accept(
    conn: &mut Conn,
    n: &NewBid,
    request: &Request,
    announce: &Announce,
) -> Result<BidRow, AppError> {
    if let Conn::Pg(c) = conn {
        return accept_pg(c, n, request, announce);
    }
    let bid = with_conn!(conn, c => diesel::insert_into(b::table)
        .values((
            b::auction_id.eq(n.auction_id),
            b::listing_id.eq(n.listing_id),
            b::seq.eq(n.seq),
            b::registration_id.eq(n.registration_id),
            b::bidder_code.eq(n.bidder_code),
            b::amount.eq(n.amount),
            b::placed_at.eq(to_db(n.placed_at)),
            b::ends_at.eq(to_db(n.ends_at)),
            b::client_ip.eq(n.client_ip),
            b::user_agent.eq(n.user_agent),
            b::kind.eq(n.kind),
        ))
        .returning(BidRow::as_returning())
        .get_result(c))?;
    with_conn!(conn, c => diesel::update(a::table.find(n.auction_id))
        .set((
            a::current_price.eq(Some(n.amount)),
            a::leading_registration_id.eq(Some(n.registration_id)),
            a::leading_bidder_code.eq(Some(n.bidder_code)),
            a::bid_count.eq(n.seq),
            a::ends_at.eq(to_db(n.ends_at)),
            a::last_bid_at.eq(Some(to_db(n.placed_at))),
            a::leading_holds_right.eq(n.holds_right),
        ))
        .execute(c))?;
    with_conn!(conn, c => diesel::insert_into(br::table)
        .values((
            br::user_id.eq(request.user_id),
            br::listing_id.eq(n.listing_id),
            br::idempotency_key.eq(request.key),
            br::bid_id.eq(bid.id),
            br::created_at.eq(to_db(n.placed_at)),
        ))
        .execute(c))
    .map_err(key_seen)?;
    Ok(bid)
}

/// [`accept`] on PostgreSQL: data-modifying CTEs, so the bid, the auction's standing and the
/// remembered key travel together.
fn accept_pg(
    c: &mut diesel::PgConnection,
    n: &NewBid,
    request: &Request,
    announce: &Announce,
) -> Result<BidRow, AppError> {
    use diesel::sql_types::{BigInt, Bool, Integer, Nullable, Text, Timestamp};
    const SQL: &str = "WITH b AS ( \
        INSERT INTO bids (auction_id, listing_id, seq, registration_id, bidder_code, amount, \
                          placed_at, ends_at, client_ip, user_agent, kind) \
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
        RETURNING id, auction_id, listing_id, seq, registration_id, bidder_code, amount, \
                  placed_at, ends_at, client_ip, user_agent, kind), \
      u AS ( \
        UPDATE auctions SET current_price = $6, leading_registration_id = $4, \
               leading_bidder_code = $5, bid_count = $3, ends_at = $8, last_bid_at = $7, \
               leading_holds_right = $12 \
         WHERE id = $1), \
      r AS ( \
        INSERT INTO bid_requests (user_id, listing_id, idempotency_key, bid_id, created_at) \
        SELECT $13, $2, $14, id, $7 FROM b) \
      SELECT b.* FROM b CROSS JOIN (SELECT pg_notify($15, $16)) AS n";
    let bid = diesel::sql_query(SQL)
        .bind::<BigInt, _>(n.auction_id)
        .bind::<BigInt, _>(n.listing_id)
        .bind::<Integer, _>(n.seq)
        .bind::<BigInt, _>(n.registration_id)
        .bind::<Text, _>(n.bidder_code)
        .bind::<BigInt, _>(n.amount)
        .bind::<Timestamp, _>(to_db(n.placed_at))
        .bind::<Timestamp, _>(to_db(n.ends_at))
        .bind::<Nullable<Text>, _>(n.client_ip)
        .bind::<Nullable<Text>, _>(n.user_agent)
        .bind::<Text, _>(n.kind)
        .bind::<Bool, _>(n.holds_right)
        .bind::<BigInt, _>(request.user_id)
        .bind::<Text, _>(request.key)
        .bind::<Text, _>(announce.channel)
        .bind::<Text, _>(announce.payload)
        .get_result::<BidRow>(c)
        .map_err(key_seen)?;
    Ok(bid)
}

/// The bid a remembered request produced, if the key was seen before.
pub fn remembered(
    conn: &mut Conn,
    user_id: i64,
    listing_id: i64,
    key: &str,
) -> Result<Option<BidRow>, AppError> {
    let row = with_conn!(conn, c => br::table
        .inner_join(b::table.on(b::id.eq(br::bid_id)))
        .filter(br::user_id.eq(user_id))
        .filter(br::listing_id.eq(listing_id))
        .filter(br::idempotency_key.eq(key))
        .select(BidRow::as_select())
        .first(c)
        .optional())?;
    Ok(row)
}

/// Bids of an auction in `seq` order, after `after_seq`.
pub fn bids(
    conn: &mut Conn,
    auction_id: i64,
    after_seq: i32,
    limit: i64,
) -> Result<Vec<BidRow>, AppError> {
    let rows = with_conn!(conn, c => b::table
        .filter(b::auction_id.eq(auction_id))
        .filter(b::seq.gt(after_seq))
        .order(b::seq.asc())
        .limit(limit)
        .select(BidRow::as_select())
        .load(c))?;
    Ok(rows)
}

/// Every bid of an auction as `(registration, amount, seq)`, for choosing a runner-up.
pub fn standings(conn: &mut Conn, auction_id: i64) -> Result<Vec<(i64, i64, i32)>, AppError> {
    let rows = with_conn!(conn, c => b::table
        .filter(b::auction_id.eq(auction_id))
        .order(b::seq.asc())
        .select((b::registration_id, b::amount, b::seq))
        .load(c))?;
    Ok(rows)
}

/// Registrations that placed at least one bid in the auction.
pub fn bidders(conn: &mut Conn, auction_id: i64) -> Result<Vec<i64>, AppError> {
    let ids = with_conn!(conn, c => b::table
        .filter(b::auction_id.eq(auction_id))
        .select(b::registration_id)
        .distinct()
        .load(c))?;
    Ok(ids)
}

/// Open auctions whose end has passed and whose listing is still bidding (or scheduled):
/// auctions paused by a suspension, or of listings that moved on, never wait in this queue.
pub fn due_to_close(conn: &mut Conn, now: DateTime<Utc>, limit: i64) -> Result<Vec<i64>, AppError> {
    use super::schema::listings as l;
    let ids = with_conn!(conn, c => a::table
        .inner_join(l::table.on(l::id.eq(a::listing_id).and(l::round.eq(a::round))))
        .filter(a::closed_at.is_null())
        .filter(a::ends_at.le(to_db(now)))
        .filter(l::status.eq_any(["bidding", "auction_scheduled"]))
        .order(a::ends_at.asc())
        .limit(limit)
        .select(a::id)
        .load(c))?;
    Ok(ids)
}

/// Open auctions whose start has passed (for the scheduled → bidding move).
pub fn due_to_start(conn: &mut Conn, now: DateTime<Utc>, limit: i64) -> Result<Vec<i64>, AppError> {
    use super::schema::listings as l;
    let ids = with_conn!(conn, c => a::table
        .inner_join(l::table.on(l::id.eq(a::listing_id).and(l::round.eq(a::round))))
        .filter(a::closed_at.is_null())
        .filter(a::starts_at.le(to_db(now)))
        .filter(l::status.eq("auction_scheduled"))
        .order(a::starts_at.asc())
        .limit(limit)
        .select(a::id)
        .load(c))?;
    Ok(ids)
}

/// The auction of a listing's round, locked for this transaction (see [`lock`]).
pub fn lock_of_listing(
    conn: &mut Conn,
    listing_id: i64,
    round: i32,
) -> Result<Option<AuctionRow>, AppError> {
    let row = match conn {
        Conn::Pg(c) => a::table
            .filter(a::listing_id.eq(listing_id))
            .filter(a::round.eq(round))
            .select(AuctionRow::as_select())
            .for_update()
            .first(*c)
            .optional()?,
        // SQLite: the write transaction (BEGIN IMMEDIATE) already holds the database's lock.
        Conn::Sqlite(c) => a::table
            .filter(a::listing_id.eq(listing_id))
            .filter(a::round.eq(round))
            .select(AuctionRow::as_select())
            .first(*c)
            .optional()?,
    };
    Ok(row)
}

/// Moves an auction's times (after a pause).
pub fn set_times(
    conn: &mut Conn,
    id: i64,
    starts_at: DateTime<Utc>,
    free_ends_at: DateTime<Utc>,
    ends_at: DateTime<Utc>,
) -> Result<(), AppError> {
    with_conn!(conn, c => diesel::update(a::table.find(id))
        .set((
            a::starts_at.eq(to_db(starts_at)),
            a::free_ends_at.eq(to_db(free_ends_at)),
            a::ends_at.eq(to_db(ends_at)),
        ))
        .execute(c))?;
    Ok(())
}

/// Marks the auction closed; false if it already was.
pub fn close(conn: &mut Conn, id: i64, now: DateTime<Utc>) -> Result<bool, AppError> {
    let n = with_conn!(conn, c => diesel::update(a::table.filter(a::id.eq(id)).filter(a::closed_at.is_null()))
        .set(a::closed_at.eq(Some(to_db(now))))
        .execute(c))?;
    Ok(n == 1)
}

pub fn find(conn: &mut Conn, id: i64) -> Result<Option<AuctionRow>, AppError> {
    let row = with_conn!(conn, c => a::table.find(id).select(AuctionRow::as_select()).first(c).optional())?;
    Ok(row)
}
