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
