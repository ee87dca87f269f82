//! The facts the risk rules read: earlier rounds' prices, who is behind each registration
//! (contacts and addresses), how many accounts share an e-mail domain, forfeited deposits.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use diesel::dsl::exists;
use diesel::prelude::*;

use super::Conn;
use super::models::to_db;
use super::schema::{
    bids as b, listing_rounds as lr, organizations as o, registrations as r, sessions as s,
    users as u,
};
use crate::error::AppError;
use crate::with_conn;

diesel::define_sql_function!(fn lower(x: diesel::sql_types::Text) -> diesel::sql_types::Text);

/// Listing prices (fen) of the rounds before `round`, oldest first.
pub fn prior_round_prices(
    conn: &mut Conn,
    listing_id: i64,
    round: i32,
) -> Result<Vec<i64>, AppError> {
    let rows = with_conn!(conn, c => lr::table
        .filter(lr::listing_id.eq(listing_id))
        .filter(lr::round.lt(round))
        .order(lr::round.asc())
        .select(lr::listing_price)
        .load(c))?;
    Ok(rows)
}

/// A registration of the round (not rejected) with its registrant's contacts.
#[derive(Debug, Clone, Queryable)]
pub struct Registrant {
    pub registration_id: i64,
    pub bidder_code: Option<String>,
    pub organization_id: i64,
    pub credit_code: String,
    pub email: String,
    pub phone: Option<String>,
    pub client_ip: Option<String>,
}

pub fn registrants(
    conn: &mut Conn,
    listing_id: i64,
    round: i32,
) -> Result<Vec<Registrant>, AppError> {
    let rows = with_conn!(conn, c => r::table
        .inner_join(u::table.on(u::id.eq(r::user_id)))
        .inner_join(o::table.on(o::id.eq(r::organization_id)))
        .filter(r::listing_id.eq(listing_id))
        .filter(r::round.eq(round))
        .filter(r::status.ne("rejected"))
        .order(r::id.asc())
        .select((r::id, r::bidder_code, r::organization_id, o::credit_code, u::email, u::phone, r::client_ip))
        .load(c))?;
    Ok(rows)
}

/// (registration, address) of every bid on the listing that recorded an address.
pub fn bid_addresses(conn: &mut Conn, listing_id: i64) -> Result<Vec<(i64, String)>, AppError> {
    let rows: Vec<(i64, Option<String>)> = with_conn!(conn, c => b::table
        .filter(b::listing_id.eq(listing_id))
        .filter(b::client_ip.is_not_null())
        .select((b::registration_id, b::client_ip))
        .distinct()
        .load(c))?;
    Ok(rows
        .into_iter()
        .filter_map(|(reg, ip)| ip.map(|ip| (reg, ip)))
        .collect())
}

/// The seller's side: credit code, the accounts' e-mails and phones, and the addresses
/// they signed in from.
pub struct SellerContacts {
    pub credit_code: String,
    pub contacts: Vec<(String, Option<String>)>,
    pub ips: Vec<String>,
}

pub fn seller(conn: &mut Conn, organization_id: i64) -> Result<SellerContacts, AppError> {
    let (credit_code, contacts, ips) = with_conn!(conn, c => {
        let code: String = o::table.find(organization_id).select(o::credit_code).first(c)?;
        let contacts: Vec<(String, Option<String>)> = u::table
            .filter(u::organization_id.eq(organization_id))
            .select((u::email, u::phone))
            .load(c)?;
        let ips: Vec<Option<String>> = s::table
            .inner_join(u::table.on(u::id.eq(s::user_id)))
            .filter(u::organization_id.eq(organization_id))
            .filter(s::client_ip.is_not_null())
            .select(s::client_ip)
            .distinct()
            .load(c)?;
        Ok::<_, diesel::result::Error>((code, contacts, ips))
    })?;
    Ok(SellerContacts {
        credit_code,
        contacts,
        ips: ips.into_iter().flatten().collect(),
    })
}

/// How many accounts use each of `domains` (lower-case) as their e-mail domain.
pub fn domain_accounts(
    conn: &mut Conn,
    domains: &[String],
) -> Result<BTreeMap<String, u32>, AppError> {
    let mut out = BTreeMap::new();
    for d in domains {
        let pattern = format!("%@{}", d.replace(['%', '_', '\\'], ""));
        let n: i64 = with_conn!(conn, c => u::table
            .filter(lower(u::email).like(&pattern))
            .count()
            .get_result(c))?;
        out.insert(d.clone(), u32::try_from(n).unwrap_or(u32::MAX));
    }
    Ok(out)
}

/// Whether another registration of the round registered or bid from `ip`.
pub fn address_shared(
    conn: &mut Conn,
    listing_id: i64,
    round: i32,
    registration_id: i64,
    ip: &str,
) -> Result<bool, AppError> {
    // One statement (a bid runs it): registered from there, or bid from there.
    let found = with_conn!(conn, c => {
        let others = r::table
            .filter(r::listing_id.eq(listing_id))
            .filter(r::round.eq(round))
            .filter(r::id.ne(registration_id));
        let registered = others.filter(r::client_ip.eq(ip));
        let bid = b::table
            .filter(b::listing_id.eq(listing_id))
            .filter(b::client_ip.eq(ip))
            .filter(b::registration_id.ne(registration_id))
            .filter(b::registration_id.eq_any(others.select(r::id)));
        diesel::select(exists(registered).or(exists(bid))).get_result::<bool>(c)
    })?;
    Ok(found)
}

/// Deposits of an organisation forfeited since `since` (by the time of the change).
pub fn forfeits_since(
    conn: &mut Conn,
    organization_id: i64,
    since: DateTime<Utc>,
) -> Result<u32, AppError> {
    let n: i64 = with_conn!(conn, c => r::table
        .filter(r::organization_id.eq(organization_id))
        .filter(r::deposit_status.eq("forfeited"))
        .filter(r::updated_at.ge(to_db(since)))
        .count()
        .get_result(c))?;
    Ok(u32::try_from(n).unwrap_or(u32::MAX))
}

/// An organisation's name.
pub fn organization_name(conn: &mut Conn, organization_id: i64) -> Result<String, AppError> {
    let name = with_conn!(conn, c => o::table
        .find(organization_id)
        .select(o::name)
        .first(c))?;
    Ok(name)
}
