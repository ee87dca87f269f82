//! Browsing listings: the filters, a newest-first page (after an offset or after a key), the
//! count of matches and a short-lived cache of those counts.
//!
//! Every page walks the listings newest first (`id` descending) through an index that ends
//! in `id` and stops as soon as it has the page, so a page costs about the rows it walks, not
//! the rows that match. Title search goes through trigram indexes: SQLite's FTS5 `trigram`
//! tokenizer (`listings_title_fts`, three characters or more) and PostgreSQL's `pg_trgm`.

use std::collections::HashMap;
use std::marker::PhantomData;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use diesel::backend::Backend;
use diesel::dsl::AsSelect;
use diesel::prelude::*;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::serialize::ToSql;
use diesel::sql_types::{BigInt, HasSqlType, Nullable, Text};

use super::Conn;
use super::listings::ListingRow;
use crate::error::AppError;
use crate::with_conn;

/// Which statuses a browse may return.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub enum StatusFilter {
    /// Every status (staff without a filter).
    #[default]
    Any,
    /// Only these.
    In(Vec<String>),
    /// All but these (the public: everything but drafts and reviews). Written this way the
    /// query walks the newest rows first instead of sorting every match.
    NotIn(Vec<String>),
}

/// Browse filters.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Browse {
    /// The statuses the caller may see (and asked for).
    pub statuses: StatusFilter,
    /// Also the caller's own organisation's listings in these statuses.
    pub own_org: Option<(i64, Vec<String>)>,
    pub kind: Option<String>,
    pub q: Option<String>,
    pub min_price: Option<i64>,
    pub max_price: Option<i64>,
    /// Leave out listings terminated before they were ever disclosed (not public), except
    /// the caller's own.
    pub hide_undisclosed: bool,
    /// Only the listings of these organisations (a supervisor's scope); `None`: no limit.
    pub organizations: Option<Vec<i64>>,
}

/// Where a page starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// After this many matches (`?page=`).
    Offset(i64),
    /// After the listing with this id (keyset paging: the next page of a cursor).
    Before(i64),
}

/// The shortest search term the SQLite trigram index can answer; shorter ones (two Chinese
/// characters are a common word) are matched on the rows walked.
const TRIGRAM_MIN_CHARS: usize = 3;

/// Escapes LIKE wildcards so a search term matches literally.
fn like_pattern(q: &str) -> String {
    let escaped = q
        .to_lowercase()
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    format!("%{escaped}%")
}

/// The term as one FTS5 phrase: with the trigram tokenizer a phrase matches wherever the
/// term occurs as a substring (case-insensitively).
fn fts_phrase(q: &str) -> String {
    format!("\"{}\"", q.replace('"', "\"\""))
}

/// One piece of a written statement: SQL text or a bound value.
#[derive(Debug, Clone)]
enum Part {
    Sql(&'static str),
    Text(String),
    Int(i64),
}

/// A browse statement written out by hand. Its text depends only on the shape of the
/// filters (which ones are given, and how many statuses), so diesel keeps it prepared on each
/// connection, keyed by that text; a boxed diesel query with `IN` lists or raw SQL in it is
/// compiled afresh on every call. A list of organisations (a supervisor's scope) has any
/// length, so such a statement is not kept.
///
/// The page's `LIMIT` is bound as `CAST(? AS BIGINT)`: SQLite re-prepares a statement every
/// time a new value is bound to a plain `LIMIT ?` (to plan with the value), which would undo
/// the cache; the walk stops after the limit either way.
struct Written<Select, ST> {
    select: Select,
    parts: Vec<Part>,
    cacheable: bool,
    _sql_type: PhantomData<ST>,
}

impl<Select, ST> QueryId for Written<Select, ST> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<Select, ST> Query for Written<Select, ST> {
    type SqlType = ST;
}

impl<Select, ST, Db> RunQueryDsl<Db> for Written<Select, ST> {}

impl<Select, ST, DB> QueryFragment<DB> for Written<Select, ST>
where
    DB: Backend + HasSqlType<Text> + HasSqlType<BigInt>,
    Select: QueryFragment<DB>,
    String: ToSql<Text, DB>,
    i64: ToSql<BigInt, DB>,
{
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        if !self.cacheable {
            out.unsafe_to_cache_prepared();
        }
        out.push_sql("SELECT ");
        self.select.walk_ast(out.reborrow())?;
        for part in &self.parts {
            match part {
                Part::Sql(sql) => out.push_sql(sql),
                Part::Text(v) => out.push_bind_param::<Text, String>(v)?,
                Part::Int(v) => out.push_bind_param::<BigInt, i64>(v)?,
            }
        }
        Ok(())
    }
}

/// The `FROM` and `WHERE` of a browse, as [`Part`]s.
struct Where {
    parts: Vec<Part>,
    cacheable: bool,
    /// Whether a condition was written yet (`WHERE` or `AND` comes next).
    any: bool,
}

impl Where {
    fn sql(&mut self, sql: &'static str) {
        self.parts.push(Part::Sql(sql));
    }

    /// Starts the next condition.
    fn and(&mut self) {
        self.sql(if self.any { " AND " } else { " WHERE " });
        self.any = true;
    }

    /// `(v1, v2, ...)`, or `(NULL)` for none (`x IN (NULL)` holds for no row, and
    /// `x NOT IN (NULL)` for none either: callers write the empty cases themselves).
    fn text_list(&mut self, values: &[String]) {
        self.sql("(");
        for (i, v) in values.iter().enumerate() {
            if i > 0 {
                self.sql(", ");
            }
            self.parts.push(Part::Text(v.clone()));
        }
        self.sql(")");
    }

    /// `listings.status IN (...)` / `NOT IN`, or a constant for an empty list.
    fn statuses(&mut self, values: &[String], negated: bool) {
        match (values.is_empty(), negated) {
            (true, false) => self.sql("1 = 0"),
            (true, true) => self.sql("1 = 1"),
            (false, false) => {
                self.sql("listings.status IN ");
                self.text_list(values);
            }
            (false, true) => {
                self.sql("listings.status NOT IN ");
                self.text_list(values);
            }
        }
    }

    /// `listings.organization_id IN (...)`.
    fn organizations(&mut self, orgs: &[i64]) {
        self.and();
        if orgs.is_empty() {
            self.sql("1 = 0");
            return;
        }
        // Any length: a statement per length is not worth keeping.
        self.cacheable = false;
        self.sql("listings.organization_id IN (");
        for (i, id) in orgs.iter().enumerate() {
            if i > 0 {
                self.sql(", ");
            }
            self.parts.push(Part::Int(*id));
        }
        self.sql(")");
    }

    /// The conditions of `b`; `fts`: title search through `listings_title_fts` (SQLite).
    fn of(b: &Browse, fts: bool) -> Self {
        let mut w = Where {
            parts: vec![Part::Sql(" FROM listings")],
            cacheable: true,
            any: false,
        };
        let own = b.own_org.as_ref();
        let status_list = match &b.statuses {
            StatusFilter::Any => None,
            StatusFilter::In(s) => Some((s, false)),
            StatusFilter::NotIn(s) => Some((s, true)),
        };
        if let Some((list, negated)) = status_list {
            w.and();
            match own {
                None => w.statuses(list, negated),
                Some((org, mine)) => {
                    w.sql("(");
                    w.statuses(list, negated);
                    w.sql(" OR (listings.organization_id = ");
                    w.parts.push(Part::Int(*org));
                    w.sql(" AND ");
                    w.statuses(mine, false);
                    w.sql("))");
                }
            }
        }
        if b.hide_undisclosed {
            w.and();
            w.sql("(listings.status <> 'terminated' OR listings.first_disclosure_at IS NOT NULL");
            if let Some((org, _)) = own {
                w.sql(" OR listings.organization_id = ");
                w.parts.push(Part::Int(*org));
            }
            w.sql(")");
        }
        if let Some(orgs) = &b.organizations {
            w.organizations(orgs);
        }
        if let Some(k) = &b.kind {
            w.and();
            w.sql("listings.kind = ");
            w.parts.push(Part::Text(k.clone()));
        }
        if let Some(text) = &b.q {
            w.and();
            if fts && text.chars().count() >= TRIGRAM_MIN_CHARS {
                w.sql(
                    "listings.id IN (SELECT rowid FROM listings_title_fts \
                     WHERE listings_title_fts MATCH ",
                );
                w.parts.push(Part::Text(fts_phrase(text)));
                w.sql(")");
            } else {
                // A bound escape character: with a literal one SQLite would re-prepare the
                // statement for every new pattern.
                w.sql("lower(listings.title) LIKE ");
                w.parts.push(Part::Text(like_pattern(text)));
                w.sql(" ESCAPE ");
                w.parts.push(Part::Text("\\".to_string()));
            }
        }
        if let Some(min) = b.min_price {
            w.and();
            w.sql("listings.listing_price >= ");
            w.parts.push(Part::Int(min));
        }
        if let Some(max) = b.max_price {
            w.and();
            w.sql("listings.listing_price <= ");
            w.parts.push(Part::Int(max));
        }
        w
    }

    fn written<Select, ST>(self, select: Select) -> Written<Select, ST> {
        Written {
            select,
            parts: self.parts,
            cacheable: self.cacheable,
            _sql_type: PhantomData,
        }
    }
}

/// The seller's name of each listing of a page, read with the page.
const SELLER_NAME: &str = ", (SELECT organizations.name FROM organizations \
                           WHERE organizations.id = listings.organization_id)";

/// One listing of a page and its seller's name (empty if the organisation is gone).
pub type Listed = (ListingRow, String);

/// Up to `limit` listings matching `b`, newest first, from `start`, each with its seller's
/// name: one statement, kept prepared.
pub fn page(
    conn: &mut Conn,
    b: &Browse,
    start: Start,
    limit: i64,
) -> Result<Vec<Listed>, AppError> {
    let fts = matches!(conn, Conn::Sqlite(_));
    let mut w = Where::of(b, fts);
    if let Start::Before(id) = start {
        w.and();
        w.sql("listings.id < ");
        w.parts.push(Part::Int(id));
    }
    w.sql(" ORDER BY listings.id DESC LIMIT CAST(");
    w.parts.push(Part::Int(limit));
    w.sql(" AS BIGINT)");
    if let Start::Offset(n) = start {
        w.sql(" OFFSET ");
        w.parts.push(Part::Int(n));
    }
    w.parts.insert(0, Part::Sql(SELLER_NAME));
    let rows: Vec<(ListingRow, Option<String>)> = with_conn!(conn, c => w
        .written::<_, (AsSelect<ListingRow, _>, Nullable<Text>)>(ListingRow::as_select())
        .load(c))?;
    Ok(rows
        .into_iter()
        .map(|(row, seller)| (row, seller.unwrap_or_default()))
        .collect())
}

/// How many listings match `b` (every match is counted: see [`CountCache`]).
pub fn count(conn: &mut Conn, b: &Browse) -> Result<i64, AppError> {
    let fts = matches!(conn, Conn::Sqlite(_));
    let w = Where::of(b, fts);
    let n = with_conn!(conn, c => w
        .written::<_, BigInt>(diesel::dsl::count_star())
        .get_result(c))?;
    Ok(n)
}

/// One page of listings matching `b`, newest first, with the exact total.
pub fn browse(
    conn: &mut Conn,
    b: &Browse,
    offset: i64,
    limit: i64,
) -> Result<(Vec<Listed>, i64), AppError> {
    let total = count(conn, b)?;
    let rows = page(conn, b, Start::Offset(offset), limit)?;
    Ok((rows, total))
}

/// At most this many filter combinations are remembered; beyond, the expired ones go, and
/// if none has expired, all of them.
const COUNT_CACHE_ENTRIES: usize = 1024;

/// Counts of matches per filter combination, kept for a few seconds, so that paging through
/// a large result does not count every match again on every page. Per process: another
/// instance keeps its own.
#[derive(Debug)]
pub struct CountCache {
    ttl: Duration,
    entries: Mutex<HashMap<Browse, (Instant, i64)>>,
}

impl CountCache {
    /// Counts stay `ttl` long; a zero `ttl` keeps nothing.
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// The count of `b` taken less than the time to live ago.
    pub fn get(&self, b: &Browse) -> Option<i64> {
        let entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        entries
            .get(b)
            .filter(|(at, _)| at.elapsed() < self.ttl)
            .map(|(_, n)| *n)
    }

    pub fn put(&self, b: Browse, n: i64) {
        if self.ttl.is_zero() {
            return;
        }
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        if entries.len() >= COUNT_CACHE_ENTRIES && !entries.contains_key(&b) {
            entries.retain(|_, (at, _)| at.elapsed() < self.ttl);
            if entries.len() >= COUNT_CACHE_ENTRIES {
                entries.clear();
            }
        }
        entries.insert(b, (Instant::now(), n));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_terms_are_taken_literally() {
        assert_eq!(like_pattern("50%_a\\B"), "%50\\%\\_a\\\\b%");
        assert_eq!(fts_phrase("厂房\"AND x"), "\"厂房\"\"AND x\"");
    }

    #[test]
    fn counts_are_kept_for_their_time_to_live_only() {
        let b = Browse {
            kind: Some("asset_transfer".into()),
            ..Browse::default()
        };
        let cache = CountCache::new(Duration::from_secs(60));
        assert_eq!(cache.get(&b), None);
        cache.put(b.clone(), 7);
        assert_eq!(cache.get(&b), Some(7));
        let other = Browse {
            q: Some("厂房".into()),
            ..b.clone()
        };
        assert_eq!(cache.get(&other), None, "another filter has its own count");
        let none = CountCache::new(Duration::ZERO);
        none.put(b.clone(), 7);
        assert_eq!(none.get(&b), None);
    }

    #[test]
    fn a_full_cache_makes_room() {
        let cache = CountCache::new(Duration::from_secs(60));
        for i in 0..=i64::try_from(COUNT_CACHE_ENTRIES).unwrap_or(0) {
            cache.put(
                Browse {
                    min_price: Some(i),
                    ..Browse::default()
                },
                i,
            );
        }
        let kept = cache
            .entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len();
        assert!(kept <= COUNT_CACHE_ENTRIES, "{kept}");
        let last = Browse {
            min_price: Some(i64::try_from(COUNT_CACHE_ENTRIES).unwrap_or(0)),
            ..Browse::default()
        };
        assert_eq!(cache.get(&last), Some(last.min_price.unwrap_or(0)));
    }
}
