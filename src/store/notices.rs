//! Public notices of a listing's disclosure: extensions and supplementary notices.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;

use super::Conn;
use super::models::to_db;
use super::schema::listing_notices as n;
use crate::error::AppError;
use crate::with_conn;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = n)]
pub struct NoticeRow {
    pub id: i64,
    pub listing_id: i64,
    pub round: i32,
    pub kind: String,
    pub text: String,
    pub material: bool,
    pub disclosure_end_before: NaiveDateTime,
    pub disclosure_end_after: NaiveDateTime,
    pub published_at: NaiveDateTime,
    pub published_by: Option<i64>,
}

pub struct NewNotice<'a> {
    pub listing_id: i64,
    pub round: i32,
    pub kind: &'a str,
    pub text: &'a str,
    pub material: bool,
    pub end_before: DateTime<Utc>,
    pub end_after: DateTime<Utc>,
    pub at: DateTime<Utc>,
    pub by: Option<i64>,
}

pub fn insert(conn: &mut Conn, x: &NewNotice) -> Result<NoticeRow, AppError> {
    let row = with_conn!(conn, c => diesel::insert_into(n::table)
        .values((
            n::listing_id.eq(x.listing_id),
            n::round.eq(x.round),
            n::kind.eq(x.kind),
            n::text.eq(x.text),
            n::material.eq(x.material),
            n::disclosure_end_before.eq(to_db(x.end_before)),
            n::disclosure_end_after.eq(to_db(x.end_after)),
            n::published_at.eq(to_db(x.at)),
            n::published_by.eq(x.by),
        ))
        .returning(NoticeRow::as_returning())
        .get_result(c))?;
    Ok(row)
}

/// Every notice of a listing, oldest first.
pub fn of_listing(conn: &mut Conn, listing_id: i64) -> Result<Vec<NoticeRow>, AppError> {
    let rows = with_conn!(conn, c => n::table
        .filter(n::listing_id.eq(listing_id))
        .order(n::id.asc())
        .select(NoticeRow::as_select())
        .load(c))?;
    Ok(rows)
}
