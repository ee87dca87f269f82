//! Queries on risk alerts: raised once per rule and subject, listed, acknowledged.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;

use super::Conn;
use super::models::to_db;
use super::schema::alerts as a;
use crate::error::AppError;
use crate::with_conn;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = a)]
pub struct AlertRow {
    pub id: i64,
    pub rule: String,
    pub severity: String,
    pub subject: String,
    pub listing_id: Option<i64>,
    pub organization_id: Option<i64>,
    pub detail: String,
    pub evidence: String,
    pub created_at: NaiveDateTime,
    pub acknowledged_at: Option<NaiveDateTime>,
    pub acknowledged_by: Option<i64>,
    pub ack_comment: Option<String>,
}

pub struct NewAlert<'a> {
    pub rule: &'a str,
    pub severity: &'a str,
    pub subject: &'a str,
    pub listing_id: Option<i64>,
    pub organization_id: Option<i64>,
    pub detail: &'a str,
    pub evidence: &'a str,
    pub now: DateTime<Utc>,
}

/// Inserts the alert unless one exists for the same rule and subject; returns the new row.
pub fn raise(conn: &mut Conn, n: &NewAlert) -> Result<Option<AlertRow>, AppError> {
    let row = with_conn!(conn, c => diesel::insert_into(a::table)
        .values((
            a::rule.eq(n.rule),
            a::severity.eq(n.severity),
            a::subject.eq(n.subject),
            a::listing_id.eq(n.listing_id),
            a::organization_id.eq(n.organization_id),
            a::detail.eq(n.detail),
            a::evidence.eq(n.evidence),
            a::created_at.eq(to_db(n.now)),
        ))
        .on_conflict((a::rule, a::subject))
        .do_nothing()
        .returning(AlertRow::as_returning())
        .get_result(c)
        .optional())?;
    Ok(row)
}

/// Filters of the alert list.
#[derive(Debug, Clone, Default)]
pub struct AlertFilter {
    pub listing_id: Option<i64>,
    pub rule: Option<String>,
    pub severity: Option<String>,
    pub acknowledged: Option<bool>,
    /// A supervisor's scope: alerts of these organisations' listings, or of these
    /// organisations themselves; `None`: every alert.
    pub organizations: Option<Vec<i64>>,
}

/// Alerts, newest first, filtered and paged, with the total.
pub fn query(
    conn: &mut Conn,
    f: &AlertFilter,
    offset: i64,
    limit: i64,
) -> Result<(Vec<AlertRow>, i64), AppError> {
    macro_rules! filtered {
        ($q:expr) => {{
            let mut q = $q;
            if let Some(id) = f.listing_id {
                q = q.filter(a::listing_id.eq(id));
            }
            if let Some(r) = &f.rule {
                q = q.filter(a::rule.eq(r.clone()));
            }
            if let Some(s) = &f.severity {
                q = q.filter(a::severity.eq(s.clone()));
            }
            match f.acknowledged {
                Some(true) => q = q.filter(a::acknowledged_at.is_not_null()),
                Some(false) => q = q.filter(a::acknowledged_at.is_null()),
                None => {}
            }
            if let Some(orgs) = &f.organizations {
                use super::schema::listings as l;
                let theirs = l::table
                    .filter(l::organization_id.eq_any(orgs.clone()))
                    .select(l::id.nullable());
                q = q.filter(
                    a::listing_id.eq_any(theirs).or(a::listing_id
                        .is_null()
                        .and(a::organization_id.eq_any(orgs.clone()))),
                );
            }
            q
        }};
    }
    let (rows, total) = with_conn!(conn, c => {
        let total: i64 = filtered!(a::table.into_boxed()).count().get_result(c)?;
        let rows = filtered!(a::table.into_boxed())
            .order(a::id.desc())
            .select(AlertRow::as_select())
            .offset(offset)
            .limit(limit)
            .load(c)?;
        Ok::<_, diesel::result::Error>((rows, total))
    })?;
    Ok((rows, total))
}

pub fn find(conn: &mut Conn, id: i64) -> Result<Option<AlertRow>, AppError> {
    let row = with_conn!(conn, c => a::table
        .find(id)
        .select(AlertRow::as_select())
        .first(c)
        .optional())?;
    Ok(row)
}

/// Every alert of a listing, oldest first.
pub fn of_listing(conn: &mut Conn, listing_id: i64) -> Result<Vec<AlertRow>, AppError> {
    let rows = with_conn!(conn, c => a::table
        .filter(a::listing_id.eq(listing_id))
        .order(a::id.asc())
        .select(AlertRow::as_select())
        .load(c))?;
    Ok(rows)
}

/// Marks the alert acknowledged, only if nobody did yet; false if someone did.
pub fn acknowledge(
    conn: &mut Conn,
    id: i64,
    by: i64,
    comment: &str,
    now: DateTime<Utc>,
) -> Result<bool, AppError> {
    let n = with_conn!(conn, c => diesel::update(
            a::table.filter(a::id.eq(id)).filter(a::acknowledged_at.is_null()),
        )
        .set((
            a::acknowledged_at.eq(Some(to_db(now))),
            a::acknowledged_by.eq(Some(by)),
            a::ack_comment.eq(Some(comment)),
        ))
        .execute(c))?;
    Ok(n == 1)
}

/// One alert as the dashboard counts it: rule, severity, creation time, whether
/// acknowledged, and the organisation it concerns (its listing's seller, else its own).
pub type Tally = (String, String, NaiveDateTime, bool, Option<i64>);

/// Every alert created in [from, to), for the dashboard's counts.
pub fn tallies(
    conn: &mut Conn,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
) -> Result<Vec<Tally>, AppError> {
    use super::schema::listings as l;
    type Row = (
        String,
        String,
        NaiveDateTime,
        Option<NaiveDateTime>,
        Option<i64>,
        Option<i64>,
    );
    let rows: Vec<Row> = with_conn!(conn, c => {
        let mut q = a::table
            .left_join(l::table.on(a::listing_id.eq(l::id.nullable())))
            .into_boxed();
        if let Some(t) = from {
            q = q.filter(a::created_at.ge(to_db(t)));
        }
        if let Some(t) = to {
            q = q.filter(a::created_at.lt(to_db(t)));
        }
        q.select((
            a::rule,
            a::severity,
            a::created_at,
            a::acknowledged_at,
            l::organization_id.nullable(),
            a::organization_id,
        ))
        .load(c)
    })?;
    Ok(rows
        .into_iter()
        .map(|(r, s, t, ack, seller, own)| (r, s, t, ack.is_some(), seller.or(own)))
        .collect())
}
