//! The signed-in caller as the use cases see it. The HTTP layer (`api::extract`) makes it
//! from a valid access token.

use std::sync::Arc;

use crate::domain::Role;
use crate::domain::scope::Scope;

/// A caller with a valid access token whose login has not been revoked.
#[derive(Debug, Clone)]
pub struct AuthUser {
    pub id: i64,
    pub role: Role,
    pub organization_id: Option<i64>,
    pub session_id: i64,
    /// What the caller may see of the enterprises' business: an auditor's supervising body
    /// and the bodies below it; everything for everyone else. Computed once per request.
    pub scope: Arc<Scope>,
}
