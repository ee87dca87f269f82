//! Registrations of intent (意向登记) and their deposits (交易保证金): review outcomes, the
//! deposit state machine, eligibility and anonymous bidder codes (竞买号).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RegistrationStatus {
    Pending,
    Qualified,
    Rejected,
}

impl RegistrationStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Qualified => "qualified",
            Self::Rejected => "rejected",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Pending, Self::Qualified, Self::Rejected]
            .into_iter()
            .find(|x| x.as_str() == s)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DepositStatus {
    Unpaid,
    Paid,
    Refunded,
    Converted,
    Forfeited,
}

impl DepositStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unpaid => "unpaid",
            Self::Paid => "paid",
            Self::Refunded => "refunded",
            Self::Converted => "converted",
            Self::Forfeited => "forfeited",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            Self::Unpaid,
            Self::Paid,
            Self::Refunded,
            Self::Converted,
            Self::Forfeited,
        ]
        .into_iter()
        .find(|x| x.as_str() == s)
    }
}

/// What an operator (or the closing of an auction) does with a deposit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DepositAction {
    Confirm,
    Refund,
    Forfeit,
    Convert,
}

impl DepositAction {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Confirm => "confirm",
            Self::Refund => "refund",
            Self::Forfeit => "forfeit",
            Self::Convert => "convert",
        }
    }
}

/// `unpaid → paid → {refunded | converted | forfeited}`; a deposit is confirmed only for a
/// qualified registration.
pub fn deposit_transition(
    from: DepositStatus,
    action: DepositAction,
    registration: RegistrationStatus,
) -> Result<DepositStatus, String> {
    use DepositAction as A;
    use DepositStatus as D;
    match (from, action) {
        (D::Unpaid, A::Confirm) if registration == RegistrationStatus::Qualified => Ok(D::Paid),
        (D::Unpaid, A::Confirm) => {
            Err("a deposit can be confirmed only for a qualified registration".into())
        }
        (D::Paid, A::Refund) => Ok(D::Refunded),
        (D::Paid, A::Forfeit) => Ok(D::Forfeited),
        (D::Paid, A::Convert) => Ok(D::Converted),
        (from, action) => Err(format!(
            "a deposit that is {} cannot be {}ed",
            from.as_str(),
            action.as_str().trim_end_matches('e')
        )),
    }
}

/// Eligible to bid: qualified with the deposit paid.
pub fn is_eligible(status: RegistrationStatus, deposit: DepositStatus) -> bool {
    status == RegistrationStatus::Qualified && deposit == DepositStatus::Paid
}

/// Whether a deposit can still be confirmed: before the deadline after qualification.
pub fn deposit_in_time(due: Option<DateTime<Utc>>, now: DateTime<Utc>) -> bool {
    due.is_none_or(|due| now < due)
}

/// Letters and digits that cannot be confused when read aloud or written (no 0/O, 1/I/L).
const CODE_ALPHABET: &[u8] = b"23456789ABCDEFGHJKMNPQRSTUVWXYZ";

/// A bidder code from random bytes: `B` and 7 symbols (about 34 bits), unguessable and
/// independent of registration order.
pub fn bidder_code(random: [u8; 7]) -> String {
    let mut code = String::from("B");
    for b in random {
        code.push(char::from(
            CODE_ALPHABET[usize::from(b) % CODE_ALPHABET.len()],
        ));
    }
    code
}

#[cfg(test)]
mod tests {
    use super::*;
    use DepositAction as A;
    use DepositStatus as D;
    use RegistrationStatus as R;

    #[test]
    fn a_deposit_is_paid_once_then_settled_once() {
        assert_eq!(
            deposit_transition(D::Unpaid, A::Confirm, R::Qualified),
            Ok(D::Paid)
        );
        for (action, to) in [
            (A::Refund, D::Refunded),
            (A::Forfeit, D::Forfeited),
            (A::Convert, D::Converted),
        ] {
            assert_eq!(deposit_transition(D::Paid, action, R::Qualified), Ok(to));
            for again in [A::Confirm, A::Refund, A::Forfeit, A::Convert] {
                assert!(deposit_transition(to, again, R::Qualified).is_err());
            }
        }
    }

    #[test]
    fn nothing_but_confirm_applies_to_an_unpaid_deposit() {
        for a in [A::Refund, A::Forfeit, A::Convert] {
            assert!(deposit_transition(D::Unpaid, a, R::Qualified).is_err());
        }
        assert!(deposit_transition(D::Paid, A::Confirm, R::Qualified).is_err());
    }

    #[test]
    fn only_qualified_registrations_take_deposits() {
        assert!(deposit_transition(D::Unpaid, A::Confirm, R::Pending).is_err());
        assert!(deposit_transition(D::Unpaid, A::Confirm, R::Rejected).is_err());
    }

    #[test]
    fn eligibility_needs_both_qualification_and_payment() {
        assert!(is_eligible(R::Qualified, D::Paid));
        assert!(!is_eligible(R::Qualified, D::Unpaid));
        assert!(!is_eligible(R::Pending, D::Paid));
        assert!(!is_eligible(R::Qualified, D::Refunded));
    }

    #[test]
    fn bidder_codes_use_the_unambiguous_alphabet() {
        let code = bidder_code([0, 1, 2, 30, 31, 255, 128]);
        assert_eq!(code.len(), 8);
        assert!(code.starts_with('B'));
        assert!(
            code.chars()
                .skip(1)
                .all(|c| CODE_ALPHABET.contains(&(c as u8)))
        );
        assert_ne!(bidder_code([1; 7]), bidder_code([2; 7]));
    }

    #[test]
    fn deposit_deadline_is_exclusive() {
        let due = chrono::Utc::now();
        assert!(deposit_in_time(
            Some(due),
            due - chrono::Duration::seconds(1)
        ));
        assert!(!deposit_in_time(Some(due), due));
        assert!(deposit_in_time(None, due));
    }
}
