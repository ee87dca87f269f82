//! A new round after no sale or a failed auction.

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::json;
use utoipa::ToSchema;

use super::draft::{input_of, validate};
use super::{Deps, actor, count, load_for_write, money, owned, record, status_of};
use crate::audit::RequestMeta;
use crate::auth::AuthUser;
use crate::domain::listing::{Action, check_relist_window, transition};
use crate::domain::money::Money;
use crate::error::AppError;
use crate::exchange::{mail_all, operators};
use crate::notify::Kind;
use crate::store::Conn;
use crate::store::listings::{self as store, ListingRow};
use crate::store::models::from_db;

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RelistInput {
    pub listing_price: Money,
    pub disclosure_working_days: u32,
    pub consent_document: Option<String>,
}

pub fn relist(
    conn: &mut Conn,
    deps: &Deps,
    user: &AuthUser,
    id: i64,
    r: &RelistInput,
    meta: &RequestMeta,
    now: DateTime<Utc>,
) -> Result<ListingRow, AppError> {
    let row = load_for_write(conn, deps, id, now)?;
    owned(&row, user)?;
    let from = status_of(&row)?;
    let to = transition(from, Action::Relist)?;
    check_relist_window(
        &deps.rules.policy,
        row.first_disclosure_at.map(from_db),
        now,
    )?;
    let round = count(row.round) + 1;
    let mut input = input_of(&row);
    input.listing_price = r.listing_price;
    input.disclosure_working_days = r.disclosure_working_days;
    input.consent_document = r.consent_document.clone().filter(|c| !c.trim().is_empty());
    validate(deps.rules, &input, round, now)?;
    let round_i = i32::try_from(round).unwrap_or(i32::MAX);
    let days = i32::try_from(r.disclosure_working_days).unwrap_or(i32::MAX);
    store::start_round(
        conn,
        id,
        round_i,
        r.listing_price.fen(),
        days,
        input.consent_document.as_deref().map(str::trim),
        now,
    )?;
    store::set_status(conn, id, from.as_str(), to.as_str(), now)?;
    record(
        conn,
        now,
        &row,
        "listing.relisted",
        actor(user),
        json!({
            "listing_id": id, "round": round, "previous_price": money(row.listing_price).to_string(),
            "listing_price": r.listing_price.to_string(), "disclosure_working_days": r.disclosure_working_days,
            "consent_document": input.consent_document,
        }),
        meta,
    )?;
    let row = store::find(conn, id)?.ok_or_else(|| AppError::not_found("no such listing"))?;
    crate::exchange::risk::on_submitted(conn, deps.rules, &row, now)?;
    let seller = store::seller_name(conn, row.organization_id)?;
    let ops = operators(conn)?;
    mail_all(
        conn,
        deps.notifier,
        now,
        &ops,
        Kind::ListingSubmitted,
        &row,
        json!({"organization": seller, "round": round}),
    )?;
    Ok(row)
}
