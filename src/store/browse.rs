//! Browsing listings: the filters, a newest-first page (after an offset or after a key), the
//! count of matches and a short-lived cache of those counts.
//!
//! Every page walks the listings newest first (`id` descending) through an index that ends
//! in `id` and stops as soon as it has the page, so a page costs about the rows it walks, not
//! the rows that match. Title search goes through trigram indexes: SQLite's FTS5 `trigram`
//! tokenizer (`listings_title_fts`, three characters or more) and PostgreSQL's `pg_trgm`.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use diesel::dsl::sql;
use diesel::prelude::*;
use diesel::sql_types::{Bool, Text};

use super::Conn;
use super::listings::ListingRow;
use super::schema::listings as l;
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

diesel::define_sql_function!(fn lower(x: diesel::sql_types::Text) -> diesel::sql_types::Text);

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

/// The query for `$b` (a `&Browse`), boxed for the backend of the connection it runs on;
/// `$fts` is true on SQLite (title search through `listings_title_fts`).
macro_rules! filtered {
    ($b:expr, $fts:expr) => {{
        let b: &Browse = $b;
        let mut q = l::table.into_boxed();
        let own = b.own_org.clone();
        q = match (&b.statuses, own) {
            (StatusFilter::Any, _) => q,
            (StatusFilter::In(s), None) => q.filter(l::status.eq_any(s.clone())),
            (StatusFilter::NotIn(s), None) => q.filter(l::status.ne_all(s.clone())),
            (StatusFilter::In(s), Some((org, mine))) => q.filter(
                l::status
                    .eq_any(s.clone())
                    .or(l::organization_id.eq(org).and(l::status.eq_any(mine))),
            ),
            (StatusFilter::NotIn(s), Some((org, mine))) => q.filter(
                l::status
                    .ne_all(s.clone())
                    .or(l::organization_id.eq(org).and(l::status.eq_any(mine))),
            ),
        };
        if b.hide_undisclosed {
            let disclosed = l::status
                .ne("terminated")
                .or(l::first_disclosure_at.is_not_null());
            q = match &b.own_org {
                Some((org, _)) => q.filter(disclosed.or(l::organization_id.eq(*org))),
                None => q.filter(disclosed),
            };
        }
        if let Some(orgs) = &b.organizations {
            q = q.filter(l::organization_id.eq_any(orgs.clone()));
        }
        if let Some(k) = &b.kind {
            q = q.filter(l::kind.eq(k.clone()));
        }
        if let Some(text) = &b.q {
            if $fts && text.chars().count() >= TRIGRAM_MIN_CHARS {
                q = q.filter(
                    sql::<Bool>(
                        "listings.id IN (SELECT rowid FROM listings_title_fts \
                         WHERE listings_title_fts MATCH ",
                    )
                    .bind::<Text, _>(fts_phrase(text))
                    .sql(")"),
                );
            } else {
                q = q.filter(lower(l::title).like(like_pattern(text)).escape('\\'));
            }
        }
        if let Some(min) = b.min_price {
            q = q.filter(l::listing_price.ge(min));
        }
        if let Some(max) = b.max_price {
            q = q.filter(l::listing_price.le(max));
        }
        q
    }};
}

/// Up to `limit` listings matching `b`, newest first, from `start`.
pub fn page(
    conn: &mut Conn,
    b: &Browse,
    start: Start,
    limit: i64,
) -> Result<Vec<ListingRow>, AppError> {
    let fts = matches!(conn, Conn::Sqlite(_));
    let rows = with_conn!(conn, c => {
        let q = filtered!(b, fts).order(l::id.desc()).limit(limit);
        let q = match start {
            Start::Offset(n) => q.offset(n),
            Start::Before(id) => q.filter(l::id.lt(id)),
        };
        q.select(ListingRow::as_select()).load(c)
    })?;
    Ok(rows)
}

/// How many listings match `b` (every match is counted: see [`CountCache`]).
pub fn count(conn: &mut Conn, b: &Browse) -> Result<i64, AppError> {
    let fts = matches!(conn, Conn::Sqlite(_));
    let n = with_conn!(conn, c => filtered!(b, fts).count().get_result(c))?;
    Ok(n)
}

/// One page of listings matching `b`, newest first, with the exact total.
pub fn browse(
    conn: &mut Conn,
    b: &Browse,
    offset: i64,
    limit: i64,
) -> Result<(Vec<ListingRow>, i64), AppError> {
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
