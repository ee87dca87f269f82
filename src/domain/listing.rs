//! Listings (挂牌项目): kinds, the state machine as one transition function over a table of
//! allowed moves, and the rules a listing's numbers must satisfy. Every policy number comes
//! in through [`ListingPolicy`], filled from configuration.

use chrono::{DateTime, Months, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use super::money::Money;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ListingKind {
    /// 产权转让
    EquityTransfer,
    /// 企业增资
    CapitalIncrease,
    /// 资产转让
    AssetTransfer,
}

impl ListingKind {
    pub const ALL: [ListingKind; 3] = [
        Self::EquityTransfer,
        Self::CapitalIncrease,
        Self::AssetTransfer,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::EquityTransfer => "equity_transfer",
            Self::CapitalIncrease => "capital_increase",
            Self::AssetTransfer => "asset_transfer",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// The two letters of the kind in a project number (产权 CQ, 增资 ZZ, 资产 ZC).
    pub fn code(self) -> &'static str {
        match self {
            Self::EquityTransfer => "CQ",
            Self::CapitalIncrease => "ZZ",
            Self::AssetTransfer => "ZC",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ListingStatus {
    Draft,
    Submitted,
    Returned,
    Disclosure,
    NoSale,
    Negotiation,
    AuctionScheduled,
    Bidding,
    Awarded,
    ContractSigned,
    Paid,
    Announced,
    Closed,
    Suspended,
    Terminated,
    Failed,
}

impl ListingStatus {
    pub const ALL: [ListingStatus; 16] = [
        Self::Draft,
        Self::Submitted,
        Self::Returned,
        Self::Disclosure,
        Self::NoSale,
        Self::Negotiation,
        Self::AuctionScheduled,
        Self::Bidding,
        Self::Awarded,
        Self::ContractSigned,
        Self::Paid,
        Self::Announced,
        Self::Closed,
        Self::Suspended,
        Self::Terminated,
        Self::Failed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Draft => "draft",
            Self::Submitted => "submitted",
            Self::Returned => "returned",
            Self::Disclosure => "disclosure",
            Self::NoSale => "no_sale",
            Self::Negotiation => "negotiation",
            Self::AuctionScheduled => "auction_scheduled",
            Self::Bidding => "bidding",
            Self::Awarded => "awarded",
            Self::ContractSigned => "contract_signed",
            Self::Paid => "paid",
            Self::Announced => "announced",
            Self::Closed => "closed",
            Self::Suspended => "suspended",
            Self::Terminated => "terminated",
            Self::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// Whether the public may see a listing in this state (everything from approval on).
    pub fn is_public(self) -> bool {
        !matches!(self, Self::Draft | Self::Submitted | Self::Returned)
    }

    /// States a suspension may interrupt ("from disclosure up to award").
    pub fn is_suspendable(self) -> bool {
        matches!(
            self,
            Self::Disclosure | Self::Negotiation | Self::AuctionScheduled | Self::Bidding
        )
    }
}

/// What can happen to a listing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Edit,
    Submit,
    Approve,
    Return,
    /// Disclosure ended with this many eligible bidders.
    EndDisclosure {
        eligible: u32,
    },
    ScheduleAuction,
    StartBidding,
    /// The auction closed with this many accepted bids.
    CloseAuction {
        bids: u32,
    },
    Quote,
    SignContract,
    ConfirmPayment,
    Announce,
    Close,
    Suspend,
    /// Resume to the state the suspension interrupted.
    Resume {
        to: ListingStatus,
    },
    Terminate,
    Relist,
    /// The winner defaulted; `runner_up` says whether the deal is offered to the runner-up.
    Default {
        runner_up: bool,
    },
    /// The runner-up declined the offer or let it lapse.
    EndOffer,
}

impl Action {
    pub fn name(self) -> &'static str {
        match self {
            Action::Edit => "edit",
            Action::Submit => "submit",
            Action::Approve => "approve",
            Action::Return => "return",
            Action::EndDisclosure { .. } => "end_disclosure",
            Action::ScheduleAuction => "schedule_auction",
            Action::StartBidding => "start_bidding",
            Action::CloseAuction { .. } => "close_auction",
            Action::Quote => "quote",
            Action::SignContract => "sign_contract",
            Action::ConfirmPayment => "confirm_payment",
            Action::Announce => "announce",
            Action::Close => "close",
            Action::Suspend => "suspend",
            Action::Resume { .. } => "resume",
            Action::Terminate => "terminate",
            Action::Relist => "relist",
            Action::Default { .. } => "default",
            Action::EndOffer => "end_offer",
        }
    }
}

/// A move the table does not allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a listing that is {} cannot {}", from.as_str(), action.replace('_', " "))]
pub struct InvalidTransition {
    pub from: ListingStatus,
    pub action: &'static str,
}

use ListingStatus as S;

/// The table of allowed moves with a fixed target. Moves whose target depends on the action's
/// data (ending disclosure, closing an auction, resuming) are decided in [`transition`].
const MOVES: &[(ListingStatus, &str, ListingStatus)] = &[
    (S::Draft, "edit", S::Draft),
    (S::Returned, "edit", S::Returned),
    (S::Draft, "submit", S::Submitted),
    (S::Returned, "submit", S::Submitted),
    (S::Submitted, "approve", S::Disclosure),
    (S::Submitted, "return", S::Returned),
    (S::Disclosure, "schedule_auction", S::AuctionScheduled),
    (S::AuctionScheduled, "start_bidding", S::Bidding),
    (S::Negotiation, "quote", S::Awarded),
    (S::Awarded, "sign_contract", S::ContractSigned),
    (S::ContractSigned, "confirm_payment", S::Paid),
    (S::Paid, "announce", S::Announced),
    (S::Announced, "close", S::Closed),
    (S::NoSale, "relist", S::Submitted),
    (S::Failed, "relist", S::Submitted),
    (S::Awarded, "end_offer", S::Failed),
];

/// The one transition function: where `action` takes a listing in state `from`.
pub fn transition(from: ListingStatus, action: Action) -> Result<ListingStatus, InvalidTransition> {
    let refuse = Err(InvalidTransition {
        from,
        action: action.name(),
    });
    match action {
        Action::EndDisclosure { eligible } if from == S::Disclosure => Ok(match eligible {
            0 => S::NoSale,
            1 => S::Negotiation,
            _ => S::Disclosure, // waits for the exchange to schedule the auction
        }),
        Action::CloseAuction { bids } if from == S::Bidding => {
            Ok(if bids == 0 { S::Failed } else { S::Awarded })
        }
        Action::Default { runner_up } if from == S::Awarded => {
            Ok(if runner_up { S::Awarded } else { S::Failed })
        }
        Action::Suspend if from.is_suspendable() => Ok(S::Suspended),
        Action::Resume { to } if from == S::Suspended && to.is_suspendable() => Ok(to),
        Action::Terminate if !matches!(from, S::Closed | S::Terminated) => Ok(S::Terminated),
        Action::EndDisclosure { .. }
        | Action::CloseAuction { .. }
        | Action::Default { .. }
        | Action::Suspend
        | Action::Resume { .. }
        | Action::Terminate => refuse,
        other => MOVES
            .iter()
            .find(|(f, a, _)| *f == from && *a == other.name())
            .map(|(_, _, to)| *to)
            .map_or(refuse, Ok),
    }
}

/// Policy numbers from configuration (the regulation's figures are the production defaults).
#[derive(Debug, Clone)]
pub struct ListingPolicy {
    pub min_disclosure_equity_transfer: u32,
    pub min_disclosure_capital_increase: u32,
    pub min_disclosure_asset_large: u32,
    pub min_disclosure_asset_medium: u32,
    pub min_disclosure_asset_small: u32,
    /// No disclosure may be announced longer than this (keeps periods, and the working-day
    /// arithmetic over them, bounded).
    pub max_disclosure_working_days: u32,
    /// Asset transfers at or above this price use the large-asset minimum.
    pub asset_large_threshold: Money,
    /// Asset transfers at or above this price (and below the large one) use the medium one.
    pub asset_medium_threshold: Money,
    /// Deposit at most `deposit_max_percent` % of the listing price.
    pub deposit_max_percent: i64,
    /// Relisting below this share of the appraisal needs a consent document.
    pub relist_floor_percent: i64,
    pub appraisal_valid_months: u32,
    pub reappraisal_after_months: u32,
    pub free_bidding_min_seconds: u32,
    pub free_bidding_max_seconds: u32,
    pub countdown_min_seconds: u32,
    pub countdown_max_seconds: u32,
}

impl ListingPolicy {
    /// The minimum formal disclosure in working days for a kind and listing price.
    pub fn min_disclosure_days(&self, kind: ListingKind, price: Money) -> u32 {
        match kind {
            ListingKind::EquityTransfer => self.min_disclosure_equity_transfer,
            ListingKind::CapitalIncrease => self.min_disclosure_capital_increase,
            ListingKind::AssetTransfer if price >= self.asset_large_threshold => {
                self.min_disclosure_asset_large
            }
            ListingKind::AssetTransfer if price >= self.asset_medium_threshold => {
                self.min_disclosure_asset_medium
            }
            ListingKind::AssetTransfer => self.min_disclosure_asset_small,
        }
    }
}

/// A rule a listing breaks, with its stable code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleViolation {
    pub code: &'static str,
    pub message: String,
}

impl RuleViolation {
    pub fn new(code: &'static str, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}

/// The numbers of a listing that rules look at.
#[derive(Debug, Clone)]
pub struct Terms {
    pub kind: ListingKind,
    pub appraised_value: Money,
    pub appraisal_date: NaiveDate,
    pub listing_price: Money,
    pub deposit: Money,
    pub increment: Money,
    pub disclosure_working_days: u32,
    pub free_bidding_seconds: u32,
    pub countdown_seconds: u32,
    pub consent_document: Option<String>,
    pub round: u32,
}

/// Checks a listing's terms; the first violation found is returned.
pub fn check_terms(p: &ListingPolicy, t: &Terms, today: NaiveDate) -> Result<(), RuleViolation> {
    if t.appraised_value.is_zero() || t.listing_price.is_zero() {
        return Err(RuleViolation::new(
            "invalid_amount",
            "the appraised value and listing price must be above zero",
        ));
    }
    if t.appraisal_date > today {
        return Err(RuleViolation::new(
            "invalid_appraisal_date",
            "the appraisal date cannot be in the future",
        ));
    }
    check_price(p, t)?;
    if t.deposit.is_zero() {
        return Err(RuleViolation::new(
            "invalid_deposit",
            "the deposit must be above zero",
        ));
    }
    if !t
        .deposit
        .at_most_share_of(t.listing_price, p.deposit_max_percent, 100)
    {
        return Err(RuleViolation::new(
            "deposit_too_high",
            format!(
                "the deposit may be at most {} % of the listing price",
                p.deposit_max_percent
            ),
        ));
    }
    if t.increment.is_zero() {
        return Err(RuleViolation::new(
            "invalid_increment",
            "the bidding increment must be above zero",
        ));
    }
    let min = p.min_disclosure_days(t.kind, t.listing_price);
    if t.disclosure_working_days < min {
        return Err(RuleViolation::new(
            "disclosure_too_short",
            format!("this listing must be disclosed for at least {min} working days"),
        ));
    }
    if t.disclosure_working_days > p.max_disclosure_working_days {
        return Err(RuleViolation::new(
            "disclosure_too_long",
            format!(
                "a disclosure may last at most {} working days",
                p.max_disclosure_working_days
            ),
        ));
    }
    if !(p.free_bidding_min_seconds..=p.free_bidding_max_seconds).contains(&t.free_bidding_seconds)
        || !(p.countdown_min_seconds..=p.countdown_max_seconds).contains(&t.countdown_seconds)
    {
        return Err(RuleViolation::new(
            "bidding_period_out_of_range",
            format!(
                "the free bidding period must be {}–{} s and the countdown {}–{} s",
                p.free_bidding_min_seconds,
                p.free_bidding_max_seconds,
                p.countdown_min_seconds,
                p.countdown_max_seconds
            ),
        ));
    }
    Ok(())
}

/// First round: at least the appraisal. Later rounds: at least the relisting floor (90 %), or
/// lower with the approving body's consent document.
fn check_price(p: &ListingPolicy, t: &Terms) -> Result<(), RuleViolation> {
    if t.listing_price >= t.appraised_value {
        return Ok(());
    }
    if t.round <= 1 {
        return Err(RuleViolation::new(
            "price_below_appraisal",
            "the first listing price must be at least the appraised value",
        ));
    }
    let has_consent = t
        .consent_document
        .as_deref()
        .is_some_and(|d| !d.trim().is_empty());
    if !t
        .listing_price
        .at_least_share_of(t.appraised_value, p.relist_floor_percent, 100)
        && !has_consent
    {
        return Err(RuleViolation::new(
            "consent_required",
            format!(
                "a price below {} % of the appraised value needs the approving body's consent document",
                p.relist_floor_percent
            ),
        ));
    }
    Ok(())
}

/// An appraisal (评估) dated `date` is valid for `months`: through the day before its
/// anniversary, expired from the anniversary on. The one rule for approval and for the
/// stale-appraisal alert.
pub fn appraisal_expired(date: NaiveDate, months: u32, on: NaiveDate) -> bool {
    let expires = date
        .checked_add_months(Months::new(months))
        .unwrap_or(NaiveDate::MAX);
    on >= expires
}

/// The appraisal must still be valid (1 year by default) on the approval date.
pub fn check_appraisal_valid(
    p: &ListingPolicy,
    appraisal_date: NaiveDate,
    on: NaiveDate,
) -> Result<(), RuleViolation> {
    if appraisal_expired(appraisal_date, p.appraisal_valid_months, on) {
        return Err(RuleViolation::new(
            "appraisal_expired",
            format!(
                "the appraisal of {appraisal_date} is older than {} months; re-appraise first",
                p.appraisal_valid_months
            ),
        ));
    }
    Ok(())
}

/// Relisting is refused once the first disclosure is older than the re-appraisal limit.
pub fn check_relist_window(
    p: &ListingPolicy,
    first_disclosure: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Result<(), RuleViolation> {
    let Some(first) = first_disclosure else {
        return Ok(());
    };
    let limit = first
        .checked_add_months(Months::new(p.reappraisal_after_months))
        .unwrap_or(DateTime::<Utc>::MAX_UTC);
    if now >= limit {
        return Err(RuleViolation::new(
            "reappraisal_required",
            format!(
                "no buyer within {} months of the first disclosure: the asset must be re-appraised and listed anew",
                p.reappraisal_after_months
            ),
        ));
    }
    Ok(())
}

/// Whether a suspension that began at `since` has outlived its limit at `now` (it then ends
/// the listing unless resumed): from the same instant `max_months` later on.
pub fn suspension_expired(since: DateTime<Utc>, max_months: u32, now: DateTime<Utc>) -> bool {
    since
        .checked_add_months(Months::new(max_months))
        .is_some_and(|limit| now >= limit)
}

/// The state a reader should see: a listing whose decision is due is decided even if the
/// scheduler has not run yet (`decision_due`: the disclosure's end, or later while the
/// qualification after disclosure goes on).
pub fn effective_status(
    stored: ListingStatus,
    decision_due: Option<DateTime<Utc>>,
    decided: bool,
    now: DateTime<Utc>,
    eligible: impl FnOnce() -> u32,
) -> ListingStatus {
    match (stored, decision_due) {
        (S::Disclosure, Some(due)) if !decided && now >= due => transition(
            stored,
            Action::EndDisclosure {
                eligible: eligible(),
            },
        )
        .unwrap_or(stored),
        _ => stored,
    }
}

#[cfg(test)]
mod tests;
