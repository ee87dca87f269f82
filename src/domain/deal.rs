//! The deal after an award (成交): its states from the award to the closed deal, the winner's
//! default (违约) and the offer to the runner-up (候补), and what happens to each deposit.
//!
//! The winner's deposit is held (`paid`) until the contract is signed, then converted into
//! part of the price; a winner who defaults forfeits it. Where the listing chose it in
//! advance, the runner-up's deposit is held too, until the winner signs (refunded) or the
//! runner-up takes the winner's place.

use serde::{Deserialize, Serialize};

use super::registration::DepositAction;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DealStatus {
    /// Awarded; the contract is not signed yet.
    Awarded,
    ContractSigned,
    Paid,
    Announced,
    Closed,
    /// The winner defaulted and nobody took its place (the listing failed).
    Defaulted,
    /// The winner defaulted; the deal is offered to the runner-up, who has not answered yet.
    Offered,
    /// The runner-up declined the offer (the listing failed).
    Declined,
    /// The runner-up let the offer lapse (the listing failed).
    Lapsed,
}

impl DealStatus {
    pub const ALL: [DealStatus; 9] = [
        Self::Awarded,
        Self::ContractSigned,
        Self::Paid,
        Self::Announced,
        Self::Closed,
        Self::Defaulted,
        Self::Offered,
        Self::Declined,
        Self::Lapsed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Awarded => "awarded",
            Self::ContractSigned => "contract_signed",
            Self::Paid => "paid",
            Self::Announced => "announced",
            Self::Closed => "closed",
            Self::Defaulted => "defaulted",
            Self::Offered => "offered",
            Self::Declined => "declined",
            Self::Lapsed => "lapsed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|d| d.as_str() == s)
    }

    /// Whether the deal announcement is public (and with it the deal).
    pub fn is_announced(self) -> bool {
        matches!(self, Self::Announced | Self::Closed)
    }
}

/// What can happen to a deal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DealAction {
    SignContract,
    ConfirmPayment,
    Announce,
    Close,
    /// The winner defaulted; `runner_up` says whether the deal goes to the runner-up.
    Default {
        runner_up: bool,
    },
    Accept,
    Decline,
    Lapse,
}

impl DealAction {
    pub fn name(self) -> &'static str {
        match self {
            Self::SignContract => "sign the contract",
            Self::ConfirmPayment => "record a payment",
            Self::Announce => "be announced",
            Self::Close => "be closed",
            Self::Default { .. } => "record a default",
            Self::Accept => "be accepted",
            Self::Decline => "be declined",
            Self::Lapse => "lapse",
        }
    }
}

/// A move the deal's states do not allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a deal that is {} cannot {}", from.as_str(), action.name())]
pub struct InvalidDealMove {
    pub from: DealStatus,
    pub action: DealAction,
}

/// The one transition function of a deal.
pub fn deal_transition(
    from: DealStatus,
    action: DealAction,
) -> Result<DealStatus, InvalidDealMove> {
    use DealAction as A;
    use DealStatus as D;
    match (from, action) {
        (D::Awarded, A::SignContract) => Ok(D::ContractSigned),
        (D::ContractSigned, A::ConfirmPayment) => Ok(D::Paid),
        (D::Paid, A::Announce) => Ok(D::Announced),
        (D::Announced, A::Close) => Ok(D::Closed),
        (D::Awarded, A::Default { runner_up: true }) => Ok(D::Offered),
        (D::Awarded, A::Default { runner_up: false }) => Ok(D::Defaulted),
        (D::Offered, A::Accept) => Ok(D::Awarded),
        (D::Offered, A::Decline) => Ok(D::Declined),
        (D::Offered, A::Lapse) => Ok(D::Lapsed),
        _ => Err(InvalidDealMove { from, action }),
    }
}

/// A deposit's part in the outcome of an auction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Holds the winning bid.
    Winner,
    /// Would be offered the deal if the winner defaults (only when the listing offers it).
    RunnerUp,
    /// Bid, but neither of the above.
    Bidder,
    /// Eligible, never bid.
    Silent,
}

/// What happens to a paid deposit when the auction closes: the winner's and a held
/// runner-up's stay paid (`None`); other bidders are refunded; silent ones are refunded or,
/// where the exchange's rules say so, forfeited.
pub fn deposit_at_close(role: Role, forfeit_silent: bool) -> Option<DepositAction> {
    match role {
        Role::Winner | Role::RunnerUp => None,
        Role::Bidder => Some(DepositAction::Refund),
        Role::Silent if forfeit_silent => Some(DepositAction::Forfeit),
        Role::Silent => Some(DepositAction::Refund),
    }
}

/// Whether the runner-up may be offered the deal: the listing chose it in advance, nobody
/// defaulted in this round before (the offer is made once), and there is a runner-up who made
/// at least one accepted bid.
pub fn offer_to_runner_up(
    listing_offers: bool,
    earlier_defaults: u32,
    has_runner_up: bool,
) -> bool {
    listing_offers && earlier_defaults == 0 && has_runner_up
}

#[cfg(test)]
mod tests {
    use super::*;

    use DealAction as A;
    use DealStatus as D;

    #[test]
    fn the_happy_path_runs_from_award_to_close() {
        let mut s = D::Awarded;
        for (a, to) in [
            (A::SignContract, D::ContractSigned),
            (A::ConfirmPayment, D::Paid),
            (A::Announce, D::Announced),
            (A::Close, D::Closed),
        ] {
            s = deal_transition(s, a).unwrap();
            assert_eq!(s, to);
        }
    }

    #[test]
    fn a_default_goes_to_the_runner_up_or_ends_the_deal() {
        assert_eq!(
            deal_transition(D::Awarded, A::Default { runner_up: true }),
            Ok(D::Offered)
        );
        assert_eq!(
            deal_transition(D::Awarded, A::Default { runner_up: false }),
            Ok(D::Defaulted)
        );
        assert_eq!(deal_transition(D::Offered, A::Accept), Ok(D::Awarded));
        assert_eq!(deal_transition(D::Offered, A::Decline), Ok(D::Declined));
        assert_eq!(deal_transition(D::Offered, A::Lapse), Ok(D::Lapsed));
    }

    #[test]
    fn a_signed_contract_cannot_default_and_an_offer_cannot_be_signed() {
        for from in [
            D::ContractSigned,
            D::Paid,
            D::Announced,
            D::Closed,
            D::Defaulted,
        ] {
            let e = deal_transition(from, A::Default { runner_up: false }).unwrap_err();
            assert_eq!(e.from, from);
        }
        assert!(deal_transition(D::Offered, A::SignContract).is_err());
        assert!(deal_transition(D::Awarded, A::Accept).is_err());
        assert!(deal_transition(D::Declined, A::Accept).is_err());
        assert_eq!(
            deal_transition(D::Offered, A::SignContract)
                .unwrap_err()
                .to_string(),
            "a deal that is offered cannot sign the contract"
        );
    }

    #[test]
    fn deposits_of_the_winner_and_a_held_runner_up_stay_paid_at_the_close() {
        assert_eq!(deposit_at_close(Role::Winner, true), None);
        assert_eq!(deposit_at_close(Role::RunnerUp, true), None);
        assert_eq!(
            deposit_at_close(Role::Bidder, true),
            Some(DepositAction::Refund)
        );
        assert_eq!(
            deposit_at_close(Role::Silent, true),
            Some(DepositAction::Forfeit)
        );
        assert_eq!(
            deposit_at_close(Role::Silent, false),
            Some(DepositAction::Refund)
        );
    }

    #[test]
    fn the_runner_up_is_offered_once_and_only_if_chosen() {
        assert!(offer_to_runner_up(true, 0, true));
        assert!(!offer_to_runner_up(false, 0, true));
        assert!(!offer_to_runner_up(true, 1, true));
        assert!(!offer_to_runner_up(true, 0, false));
    }

    #[test]
    fn statuses_round_trip_through_their_names() {
        for s in DealStatus::ALL {
            assert_eq!(DealStatus::parse(s.as_str()), Some(s));
        }
        assert_eq!(DealStatus::parse("nope"), None);
        assert!(D::Announced.is_announced() && D::Closed.is_announced());
        assert!(!D::Paid.is_announced());
    }
}
