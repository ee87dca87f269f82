//! The signed-in caller as the use cases see it. The HTTP layer (`api::extract`) makes it
//! from a valid access token.

use crate::domain::Role;

/// A caller with a valid access token whose login has not been revoked.
#[derive(Debug, Clone)]
pub struct AuthUser {
    pub id: i64,
    pub role: Role,
    pub organization_id: Option<i64>,
    pub session_id: i64,
}
