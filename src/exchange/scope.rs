//! An auditor's scope (`domain::scope::Scope`) applied to what the exchange holds: which
//! listing, alert or audit stream is in it. Every auditor-facing use case takes the scope
//! computed once for the request and asks here; out of scope is "no such thing" (404).

use std::collections::BTreeSet;

use crate::audit;
use crate::domain::scope::Scope;
use crate::error::AppError;
use crate::store::Conn;
use crate::store::alerts::AlertRow;
use crate::store::bodies;

/// Whether the listing exists and is in scope.
pub fn listing_in_scope(conn: &mut Conn, scope: &Scope, listing: i64) -> Result<bool, AppError> {
    if scope.is_all() {
        return Ok(true);
    }
    Ok(bodies::owner_of_listing(conn, listing)?.is_some_and(|org| scope.covers_org(org)))
}

/// 404 unless the listing is in scope (or the scope is everything).
pub fn require_listing(conn: &mut Conn, scope: &Scope, listing: i64) -> Result<(), AppError> {
    if listing_in_scope(conn, scope, listing)? {
        Ok(())
    } else {
        Err(AppError::not_found("no such listing"))
    }
}

/// An alert is in scope through its listing's enterprise, or else its own organisation.
pub fn alert_in_scope(conn: &mut Conn, scope: &Scope, a: &AlertRow) -> Result<bool, AppError> {
    Ok(match (a.listing_id, a.organization_id) {
        _ if scope.is_all() => true,
        (Some(l), _) => listing_in_scope(conn, scope, l)?,
        (None, Some(o)) => scope.covers_org(o),
        (None, None) => false,
    })
}

/// The audit streams whose events are in scope: the listings' and the organisations' of
/// the scope; `None` for every stream.
pub fn visible_streams(
    conn: &mut Conn,
    scope: &Scope,
) -> Result<Option<BTreeSet<String>>, AppError> {
    let Some(orgs) = scope.organization_ids() else {
        return Ok(None);
    };
    let listings = bodies::listings_of(conn, &orgs)?;
    Ok(Some(
        listings
            .into_iter()
            .map(|l| format!("listing:{l}"))
            .chain(orgs.into_iter().map(audit::org_stream))
            .collect(),
    ))
}

/// A city of the province: a direct child of the root body, as the board's filter offers it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct City {
    pub region_code: String,
    /// The city's name without the body's suffix (`杭州市国资委` → `杭州市`).
    pub name: String,
}

/// The cities (the bodies right below the province), in region-code order.
pub fn cities(conn: &mut Conn) -> Result<Vec<City>, AppError> {
    let Some(root) = bodies::root(conn)? else {
        return Ok(Vec::new());
    };
    let mut out: Vec<City> = bodies::all(conn)?
        .into_iter()
        .filter(|b| b.parent_id == Some(root.id))
        .map(|b| City {
            name: b.name.trim_end_matches("国资委").to_string(),
            region_code: b.region_code,
        })
        .collect();
    out.sort_by(|a, b| a.region_code.cmp(&b.region_code));
    Ok(out)
}

/// The organisations whose body is the body with `region_code` or one below it (a city
/// and its counties), narrowed to `within` when the caller's own view is limited; `None`
/// when the code names no body.
pub fn organizations_in_region(
    conn: &mut Conn,
    region_code: &str,
    within: Option<Vec<i64>>,
) -> Result<Option<Vec<i64>>, AppError> {
    let Some(body) = bodies::by_code(conn, region_code)? else {
        return Ok(None);
    };
    let region = bodies::scope_of(conn, Some(body.id))?
        .organization_ids()
        .unwrap_or_default();
    Ok(Some(match within {
        None => region,
        Some(w) => region.into_iter().filter(|o| w.contains(o)).collect(),
    }))
}
