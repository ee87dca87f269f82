//! The roles of the platform and what each may do on its own.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Enterprise,
    Bidder,
    Operator,
    Auditor,
    Admin,
}

impl Role {
    pub const ALL: [Role; 5] = [
        Role::Enterprise,
        Role::Bidder,
        Role::Operator,
        Role::Auditor,
        Role::Admin,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Enterprise => "enterprise",
            Role::Bidder => "bidder",
            Role::Operator => "operator",
            Role::Auditor => "auditor",
            Role::Admin => "admin",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == s)
    }

    /// Exchange staff: accounts made from the command line, never self-registered.
    pub fn is_staff(self) -> bool {
        matches!(self, Role::Operator | Role::Auditor | Role::Admin)
    }

    /// Roles that belong to an organisation identified by a credit code.
    pub fn needs_organization(self) -> bool {
        matches!(self, Role::Enterprise | Role::Bidder)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for role in Role::ALL {
            assert_eq!(Role::parse(role.as_str()), Some(role));
        }
        assert_eq!(Role::parse("root"), None);
    }

    #[test]
    fn only_enterprises_and_bidders_self_register() {
        let public: Vec<Role> = Role::ALL.into_iter().filter(|r| !r.is_staff()).collect();
        assert_eq!(public, vec![Role::Enterprise, Role::Bidder]);
    }
}
