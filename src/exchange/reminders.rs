//! Deadline reminders: everyone whose deadline comes near, or has just passed, gets one mail
//! per deadline and moment. The deposit (the bidder), the exchange's qualification window and
//! a re-review after an objection (the operators), the enterprise's opinion (the owner), the
//! contract (the winner), the answer to an offer (the runner-up) and each payment deadline
//! (the buyer).

use chrono::{DateTime, Duration, Utc};
use serde_json::json;

use super::decide::standing;
use super::listings::Deps;
use super::{ExchangeRules, mail_all, operators, owners, registrant};
use crate::domain::money::Money;
use crate::domain::qualification::settled_by;
use crate::domain::registration::{DepositStatus, RegistrationStatus};
use crate::domain::reminder::{Moment, moment};
use crate::error::AppError;
use crate::notify::Kind;
use crate::store::Conn;
use crate::store::deals::DealRow;
use crate::store::listings as listings_store;
use crate::store::models::{User, from_db};
use crate::store::registrations::{self as registrations_store, RegistrationRow};
use crate::store::reminders as store;

/// Passed deadlines older than this get no mail (nothing useful to say any more).
const STALE_DAYS: i64 = 7;
/// Open registrations and deals looked at per round at most.
const LIMIT: i64 = 2000;

/// Who a reminder goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum To {
    /// A registrant, by user id.
    User(i64),
    /// The user behind a registration (a deal's buyer or runner-up).
    Registration(i64),
    Owners,
    Operators,
}

/// One reminder to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reminder {
    pub subject: String,
    pub what: &'static str,
    pub due: DateTime<Utc>,
    pub moment: Moment,
    pub listing_id: i64,
    pub to: To,
    pub amount: Option<Money>,
}

impl Reminder {
    fn kind(&self) -> String {
        format!("{}:{}", self.what, self.moment.as_str())
    }

    /// What makes it unique: its subject and kind.
    pub fn key(&self) -> String {
        format!("{}|{}", self.subject, self.kind())
    }
}

/// Every reminder due at `now` (whether sent already is checked when sending).
pub fn due(
    conn: &mut Conn,
    rules: &ExchangeRules,
    now: DateTime<Utc>,
) -> Result<Vec<Reminder>, AppError> {
    let mut out = Vec::new();
    for reg in store::open_registrations(conn, LIMIT)? {
        of_registration(conn, rules, &reg, now, &mut out)?;
    }
    // A deposit deadline the decision was waiting for passes as the listing is decided: its
    // registration is no longer open, yet the bidder is told the deadline passed.
    let since = now - Duration::days(STALE_DAYS);
    for reg in store::deposits_passed_at_decision(conn, since, LIMIT)? {
        if let Some(due) = reg.deposit_due_at.map(from_db)
            && let Some(r) =
                about_registration(rules, &reg, "deposit", due, To::User(reg.user_id), now)
        {
            out.push(r);
        }
    }
    for deal in store::open_deals(conn, LIMIT)? {
        of_deal(&deal, rules, now, &mut out);
    }
    Ok(out)
}

fn at(rules: &ExchangeRules, due: DateTime<Utc>, now: DateTime<Utc>) -> Option<Moment> {
    moment(
        due,
        now,
        Duration::hours(i64::from(rules.reminder_hours_before)),
        Duration::days(STALE_DAYS),
    )
}

/// The reminder about one deadline of a registration, if one is due at `now`.
fn about_registration(
    rules: &ExchangeRules,
    reg: &RegistrationRow,
    what: &'static str,
    due: DateTime<Utc>,
    to: To,
    now: DateTime<Utc>,
) -> Option<Reminder> {
    at(rules, due, now).map(|m| Reminder {
        subject: format!("registration:{}:{}", reg.id, due.timestamp()),
        what,
        due,
        moment: m,
        listing_id: reg.listing_id,
        to,
        amount: None,
    })
}

fn of_registration(
    conn: &mut Conn,
    rules: &ExchangeRules,
    reg: &RegistrationRow,
    now: DateTime<Utc>,
    out: &mut Vec<Reminder>,
) -> Result<(), AppError> {
    let status = RegistrationStatus::parse(&reg.status);
    let mut push = |what, due: DateTime<Utc>, to| {
        out.extend(about_registration(rules, reg, what, due, to, now));
    };
    let unpaid = reg.deposit_status == DepositStatus::Unpaid.as_str();
    if let (Some(RegistrationStatus::Qualified), true, Some(due)) =
        (status, unpaid, reg.deposit_due_at)
    {
        push("deposit", from_db(due), To::User(reg.user_id));
    }
    if let (Some(RegistrationStatus::Qualified), None, Some(due)) =
        (status, &reg.seller_opinion, reg.seller_opinion_due_at)
    {
        push("seller_opinion", from_db(due), To::Owners);
    }
    if status == Some(RegistrationStatus::Pending) {
        let Some(listing) = listings_store::find(conn, reg.listing_id)? else {
            return Ok(());
        };
        if let Some(end) = listing.disclosure_end {
            let q = rules.qualification_end(from_db(end));
            if let Some(due) = settled_by(&standing(reg), q) {
                push("qualification", due, To::Operators);
            }
        }
    }
    Ok(())
}

fn of_deal(deal: &DealRow, rules: &ExchangeRules, now: DateTime<Utc>, out: &mut Vec<Reminder>) {
    let (what, due, amount) = match deal.status.as_str() {
        "awarded" => ("contract", from_db(deal.contract_due_at), None),
        "offered" => match deal.offer_due_at {
            Some(due) => ("offer", from_db(due), None),
            None => return,
        },
        _ => {
            let Some(s) = super::deals::schedule(deal) else {
                return;
            };
            let paid = Money::from_fen(deal.paid_total);
            match s.next_due(paid) {
                Some(due) => ("payment", due, Some(s.outstanding(paid))),
                None => return,
            }
        }
    };
    if let Some(m) = at(rules, due, now) {
        out.push(Reminder {
            subject: format!(
                "deal:{}:{}:{}",
                deal.id,
                deal.registration_id,
                due.timestamp()
            ),
            what,
            due,
            moment: m,
            listing_id: deal.listing_id,
            to: To::Registration(deal.registration_id),
            amount,
        });
    }
}

/// Sends one reminder unless it went out before; returns whether it was sent now.
pub fn send(
    conn: &mut Conn,
    deps: &Deps,
    r: &Reminder,
    now: DateTime<Utc>,
) -> Result<bool, AppError> {
    if !store::claim(conn, &r.subject, &r.kind(), now)? {
        return Ok(false);
    }
    let Some(listing) = listings_store::find(conn, r.listing_id)? else {
        return Ok(false);
    };
    let users: Vec<User> = match r.to {
        To::Owners => owners(conn, &listing)?,
        To::Operators => operators(conn)?,
        To::Registration(id) => match registrations_store::find(conn, id)? {
            Some(reg) => registrant(conn, reg.user_id)?,
            None => Vec::new(),
        },
        To::User(user_id) => registrant(conn, user_id)?,
    };
    mail_all(
        conn,
        deps.notifier,
        now,
        &users,
        Kind::DeadlineReminder,
        &listing,
        json!({
            "what": r.what, "due": super::beijing(r.due), "passed": r.moment == Moment::Passed,
            "amount": r.amount.map(|a| a.to_string()).unwrap_or_default(),
        }),
    )?;
    Ok(true)
}
