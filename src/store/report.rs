//! Look-ups that only the auditor's listing report needs: organisations with their credit
//! codes, and the users who acted on a listing (by id, for the timeline).

use diesel::prelude::*;

use super::Conn;
use super::schema::{organizations, users};
use crate::error::AppError;
use crate::with_conn;

/// An organisation as the report names it.
#[derive(Debug, Clone, PartialEq, Eq, Queryable)]
pub struct OrgFacts {
    pub id: i64,
    pub name: String,
    pub credit_code: String,
}

/// Name and credit code of each organisation in `ids` (unknown ids are left out).
pub fn organizations(conn: &mut Conn, ids: &[i64]) -> Result<Vec<OrgFacts>, AppError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let ids = ids.to_vec();
    let rows = with_conn!(conn, c => organizations::table
        .filter(organizations::id.eq_any(ids.clone()))
        .order(organizations::id.asc())
        .select((organizations::id, organizations::name, organizations::credit_code))
        .load::<OrgFacts>(c))?;
    Ok(rows)
}

/// A user as the timeline names an actor.
#[derive(Debug, Clone, PartialEq, Eq, Queryable)]
pub struct UserFacts {
    pub id: i64,
    pub name: String,
    pub role: String,
}

/// Name and role of each user in `ids` (unknown ids are left out).
pub fn users(conn: &mut Conn, ids: &[i64]) -> Result<Vec<UserFacts>, AppError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let ids = ids.to_vec();
    let rows = with_conn!(conn, c => users::table
        .filter(users::id.eq_any(ids.clone()))
        .order(users::id.asc())
        .select((users::id, users::name, users::role))
        .load::<UserFacts>(c))?;
    Ok(rows)
}
