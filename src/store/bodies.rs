//! Supervising bodies (国资监管机构): the tree, the organisations attached to it, and the
//! scope of an auditor who belongs to one body.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;

use super::Conn;
use super::models::to_db;
use super::schema::{organizations as o, supervisory_bodies as b, users as u};
use crate::domain::scope::{self, Node, Scope};
use crate::error::AppError;
use crate::with_conn;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = b)]
pub struct BodyRow {
    pub id: i64,
    pub name: String,
    pub region_code: String,
    pub parent_id: Option<i64>,
    pub created_at: NaiveDateTime,
}

/// Every body, in id order (the tree is small: a province has a few hundred).
pub fn all(conn: &mut Conn) -> Result<Vec<BodyRow>, AppError> {
    let rows = with_conn!(conn, c => b::table
        .order(b::id.asc())
        .select(BodyRow::as_select())
        .load(c))?;
    Ok(rows)
}

/// The tree's shape, for scope computations.
pub fn nodes(conn: &mut Conn) -> Result<Vec<Node>, AppError> {
    let rows: Vec<(i64, Option<i64>)> =
        with_conn!(conn, c => b::table.select((b::id, b::parent_id)).load(c))?;
    Ok(rows
        .into_iter()
        .map(|(id, parent_id)| Node { id, parent_id })
        .collect())
}

pub fn find(conn: &mut Conn, id: i64) -> Result<Option<BodyRow>, AppError> {
    let row = with_conn!(conn, c => b::table
        .filter(b::id.eq(id))
        .select(BodyRow::as_select())
        .first(c)
        .optional())?;
    Ok(row)
}

/// The root of the tree (the province): the oldest body without a parent.
pub fn root(conn: &mut Conn) -> Result<Option<BodyRow>, AppError> {
    let row = with_conn!(conn, c => b::table
        .filter(b::parent_id.is_null())
        .order(b::id.asc())
        .select(BodyRow::as_select())
        .first(c)
        .optional())?;
    Ok(row)
}

pub fn insert(
    conn: &mut Conn,
    name: &str,
    region_code: &str,
    parent_id: Option<i64>,
    now: DateTime<Utc>,
) -> Result<BodyRow, AppError> {
    let row = with_conn!(conn, c => diesel::insert_into(b::table)
        .values((
            b::name.eq(name),
            b::region_code.eq(region_code),
            b::parent_id.eq(parent_id),
            b::created_at.eq(to_db(now)),
        ))
        .returning(BodyRow::as_returning())
        .get_result(c))?;
    Ok(row)
}

/// Whether a body with this region code exists.
pub fn code_taken(conn: &mut Conn, region_code: &str) -> Result<bool, AppError> {
    let n: i64 = with_conn!(conn, c => b::table
        .filter(b::region_code.eq(region_code))
        .count()
        .get_result(c))?;
    Ok(n > 0)
}

/// The body an organisation belongs to: `None` for no such organisation.
pub fn of_organization(conn: &mut Conn, org: i64) -> Result<Option<Option<i64>>, AppError> {
    let row = with_conn!(conn, c => o::table
        .filter(o::id.eq(org))
        .select(o::supervisory_body_id)
        .first(c)
        .optional())?;
    Ok(row)
}

/// Attaches an organisation to a body; false if there is no such organisation.
pub fn attach_organization(conn: &mut Conn, org: i64, body: i64) -> Result<bool, AppError> {
    let n = with_conn!(conn, c => diesel::update(o::table.filter(o::id.eq(org)))
        .set(o::supervisory_body_id.eq(Some(body)))
        .execute(c))?;
    Ok(n == 1)
}

/// Sets the body a (staff) user belongs to.
pub fn attach_user(conn: &mut Conn, user: i64, body: Option<i64>) -> Result<(), AppError> {
    with_conn!(conn, c => diesel::update(u::table.filter(u::id.eq(user)))
        .set(u::supervisory_body_id.eq(body))
        .execute(c))?;
    Ok(())
}

/// The body a user belongs to (none: the province, or not a supervisor).
pub fn of_user(conn: &mut Conn, user: i64) -> Result<Option<i64>, AppError> {
    let row: Option<Option<i64>> = with_conn!(conn, c => u::table
        .filter(u::id.eq(user))
        .select(u::supervisory_body_id)
        .first(c)
        .optional())?;
    Ok(row.flatten())
}

/// What a member of `body` may see: everything without a body; else the body's subtree and
/// the organisations attached to it.
pub fn scope_of(conn: &mut Conn, body: Option<i64>) -> Result<Scope, AppError> {
    let Some(body) = body else {
        return Ok(Scope::All);
    };
    let bodies = scope::subtree(body, &nodes(conn)?);
    let wanted: Vec<i64> = bodies.iter().copied().collect();
    let orgs: Vec<i64> = with_conn!(conn, c => o::table
        .filter(o::supervisory_body_id.eq_any(&wanted))
        .select(o::id)
        .load(c))?;
    Ok(Scope::Within {
        body,
        bodies,
        organizations: orgs.into_iter().collect(),
    })
}

/// The listings of these organisations.
pub fn listings_of(conn: &mut Conn, orgs: &[i64]) -> Result<Vec<i64>, AppError> {
    use super::schema::listings as l;
    let ids = with_conn!(conn, c => l::table
        .filter(l::organization_id.eq_any(orgs))
        .select(l::id)
        .load(c))?;
    Ok(ids)
}

/// The organisation that owns a listing (`None`: no such listing).
pub fn owner_of_listing(conn: &mut Conn, listing: i64) -> Result<Option<i64>, AppError> {
    use super::schema::listings as l;
    let org = with_conn!(conn, c => l::table
        .filter(l::id.eq(listing))
        .select(l::organization_id)
        .first(c)
        .optional())?;
    Ok(org)
}

/// Every organisation's body (for the summary's grouping).
pub fn organization_bodies(conn: &mut Conn) -> Result<Vec<(i64, Option<i64>)>, AppError> {
    let rows = with_conn!(conn, c => o::table
        .select((o::id, o::supervisory_body_id))
        .load(c))?;
    Ok(rows)
}

/// The body with this GB/T 2260 region code.
pub fn by_code(conn: &mut Conn, region_code: &str) -> Result<Option<BodyRow>, AppError> {
    let row = with_conn!(conn, c => b::table
        .filter(b::region_code.eq(region_code))
        .select(BodyRow::as_select())
        .first(c)
        .optional())?;
    Ok(row)
}
