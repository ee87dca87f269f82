//! One step of a plan, carried out in one transaction through its use case, as the API
//! would: the same checks, audit events and e-mail.

use anyhow::Context;
use chrono::{DateTime, Utc};

use super::listing_input;
use super::timeline::{AuctionTimes, Run};
use super::{Actor, Seeder};
use crate::demo::data::{Act, ListingPlan};
use crate::domain::calendar::Calendar;
use crate::domain::money::Money;
use crate::domain::payment::PaymentPlan;
use crate::domain::registration::DepositAction;
use crate::error::AppError;
use crate::exchange::deals::{self, DealStep, Payment};
use crate::exchange::listings::Deps;
use crate::exchange::listings::{self, Decision, RelistInput, Review};
use crate::exchange::registrations::{self, By, ReviewDecision};
use crate::exchange::{auctions, decide};
use crate::state::AppState;
use crate::store::models::from_db;

/// What every step of one plan is carried out with.
#[derive(Clone, Copy)]
struct StepCx<'a> {
    st: &'a AppState,
    deps: &'a Deps<'a>,
    plan: &'a ListingPlan,
    op: &'a Actor,
    by_op: &'a By<'a>,
    seller: &'a Actor,
    what: &'a str,
    now: DateTime<Utc>,
}

impl Seeder<'_> {
    /// One step, in one transaction, through its use case.
    pub(super) fn act(&self, run: &mut Run, act: Act, now: DateTime<Utc>) -> anyhow::Result<()> {
        let st = self.state;
        let deps = st.deps();
        let plan = run.plan;
        let op = self.operator()?;
        let by_op = By {
            user: &op.user,
            meta: &op.meta,
            now,
        };
        let seller = self
            .sellers
            .get(plan.seller)
            .with_context(|| format!("no demo seller {}", plan.seller))?;
        let what = plan.title;
        let cx = StepCx {
            st,
            deps: &deps,
            plan,
            op,
            by_op: &by_op,
            seller,
            what,
            now,
        };
        match act {
            Act::Create
            | Act::Submit
            | Act::Return(..)
            | Act::Approve
            | Act::Decide
            | Act::Suspend(..)
            | Act::Terminate(..)
            | Act::Relist(..) => self.listing_step(&cx, run, act),
            Act::Register(..) | Act::Qualify(..) | Act::Reject(..) | Act::PayDeposit(..) => {
                self.registration_step(&cx, run, act)
            }
            Act::Schedule(..) | Act::Bid(..) | Act::CloseAuction => {
                self.auction_step(&cx, run, act)
            }
            Act::Quote(..) | Act::Contract | Act::Payment | Act::Announce | Act::CloseDeal => {
                self.deal_step(&cx, run, act)
            }
        }
    }

    /// A step of the listing itself: create, submit, review, decide, suspend, terminate, relist.
    fn listing_step(&self, cx: &StepCx, run: &mut Run, act: Act) -> anyhow::Result<()> {
        let StepCx {
            st,
            deps,
            plan,
            op,
            seller,
            what,
            now,
            ..
        } = *cx;
        match act {
            Act::Create => {
                let input = listing_input(plan, now);
                let row = self.tx(what, |c| {
                    listings::create(c, deps, &seller.user, &input, &seller.meta, now)
                })?;
                run.listing_id = Some(row.id);
            }
            Act::Submit => {
                let id = run.id()?;
                self.tx(what, |c| {
                    listings::submit(c, deps, &seller.user, id, &seller.meta, now)
                })?;
            }
            Act::Return(_) | Act::Approve => {
                let id = run.id()?;
                let (decision, comment) = match act {
                    Act::Return(comment) => (Decision::Return, comment),
                    _ => (
                        Decision::Approve,
                        "材料齐全，符合挂牌条件，同意发布信息披露公告。",
                    ),
                };
                let review = Review {
                    decision,
                    comment,
                    disclosure_end: None,
                };
                let (row, _) = self.tx(what, |c| {
                    listings::review(c, deps, &op.user, id, &review, &op.meta, now)
                })?;
                run.disclosure_end = row.disclosure_end.map(from_db);
            }
            Act::Decide => {
                let id = run.id()?;
                let decided = self.tx(what, |c| decide::decide_if_due(c, &st.notifier, id, now))?;
                anyhow::ensure!(decided.is_some(), "its disclosure was not due");
            }
            Act::Suspend(why) => {
                let id = run.id()?;
                self.tx(what, |c| {
                    listings::suspend(c, deps, &op.user, id, why, &op.meta, now)
                })?;
            }
            Act::Terminate(why) => {
                let id = run.id()?;
                let t = termination(why);
                self.tx(what, |c| {
                    listings::terminate(c, deps, &op.user, id, &t, &op.meta, now)
                })?;
            }
            Act::Relist(percent) => {
                let id = run.id()?;
                let input = relisting(plan, percent);
                self.tx(what, |c| {
                    listings::relist(c, deps, &seller.user, id, &input, &seller.meta, now)
                })?;
                run.disclosure_end = None;
            }
            other => anyhow::bail!("{other:?} is not a listing step"),
        }
        Ok(())
    }

    /// A step of a registration: register, qualify or reject, pay the deposit.
    fn registration_step(&self, cx: &StepCx, run: &mut Run, act: Act) -> anyhow::Result<()> {
        let StepCx {
            deps,
            by_op,
            what,
            now,
            ..
        } = *cx;
        match act {
            Act::Register(b) => {
                let id = run.id()?;
                let bidder = self.bidder(b)?;
                let statement = "我方已仔细阅读本项目信息披露公告及交易规则，具备公告要求的受让条件，自愿登记参与本项目。";
                let reg = self.tx(what, |c| {
                    registrations::register(
                        c,
                        deps,
                        &bidder.user,
                        id,
                        Some(statement),
                        &bidder.meta,
                        now,
                    )
                })?;
                run.registrations.insert(b, reg.id);
            }
            Act::Qualify(b) | Act::Reject(b, _) => {
                let reg = run.registration(b)?;
                let (decision, comment) = match act {
                    Act::Reject(_, why) => (ReviewDecision::Reject, why),
                    _ => (
                        ReviewDecision::Qualify,
                        "资格审核通过，请在规定期限内交纳交易保证金。",
                    ),
                };
                self.tx(what, |c| {
                    registrations::review(c, deps, by_op, reg, decision, comment, false)
                })?;
            }
            Act::PayDeposit(b) => {
                let reg = run.registration(b)?;
                let reference = format!(
                    "BZJ-{}-{reg:05}",
                    Calendar::beijing_date(now).format("%Y%m%d")
                );
                self.tx(what, |c| {
                    registrations::deposit(
                        c,
                        deps,
                        by_op,
                        reg,
                        DepositAction::Confirm,
                        Some(&reference),
                    )
                })?;
            }
            other => anyhow::bail!("{other:?} is not a registration step"),
        }
        Ok(())
    }

    /// A step of the auction: schedule it, bid, close it.
    fn auction_step(&self, cx: &StepCx, run: &mut Run, act: Act) -> anyhow::Result<()> {
        let StepCx {
            deps,
            plan,
            by_op,
            what,
            now,
            ..
        } = *cx;
        match act {
            Act::Schedule(when) => {
                let id = run.id()?;
                let starts_at = self.timeline().resolve(
                    when,
                    &Run {
                        prev: Some(now),
                        ..Run::new(plan)
                    },
                )?;
                let (_, a) =
                    self.tx(what, |c| auctions::schedule(c, deps, by_op, id, starts_at))?;
                run.auction = Some(AuctionTimes {
                    id: a.id,
                    starts_at: from_db(a.starts_at),
                    free_ends_at: from_db(a.free_ends_at),
                    ends_at: from_db(a.ends_at),
                });
            }
            Act::Bid(b, steps) => {
                let id = run.id()?;
                let times = run.auction()?;
                let bidder = self.bidder(b)?;
                let by = By {
                    user: &bidder.user,
                    meta: &bidder.meta,
                    now,
                };
                let placed = self.tx(what, |c| {
                    let a = crate::store::auctions::find(c, times.id)?
                        .ok_or_else(|| AppError::not_found("no such auction"))?;
                    let base = a.current_price.unwrap_or(a.start_price);
                    let amount = Money::from_fen(base + a.increment * i64::from(steps));
                    let key = format!("demo-seed-{id}-{}", a.bid_count + 1);
                    auctions::place_bid(c, deps, &by, id, amount, &key)
                })?;
                run.auction = Some(AuctionTimes {
                    ends_at: from_db(placed.bid.ends_at),
                    ..times
                });
            }
            Act::CloseAuction => {
                let times = run.auction()?;
                let closed = self.tx(what, |c| auctions::close_if_due(c, deps, times.id, now))?;
                anyhow::ensure!(closed.is_some(), "the auction was not due to close");
            }
            other => anyhow::bail!("{other:?} is not a auction step"),
        }
        Ok(())
    }

    /// A step of the deal: a negotiated quote, the contract, payment, announcement, closing.
    fn deal_step(&self, cx: &StepCx, run: &mut Run, act: Act) -> anyhow::Result<()> {
        let StepCx {
            deps,
            by_op,
            what,
            now,
            ..
        } = *cx;
        match act {
            Act::Quote(b, steps) => {
                let id = run.id()?;
                let bidder = self.bidder(b)?;
                let by = By {
                    user: &bidder.user,
                    meta: &bidder.meta,
                    now,
                };
                self.tx(what, |c| {
                    let row = crate::store::listings::find(c, id)?
                        .ok_or_else(|| AppError::not_found("no such listing"))?;
                    let amount =
                        Money::from_fen(row.listing_price + row.increment * i64::from(steps));
                    deals::quote(c, deps, &by, id, amount)
                })?;
            }
            Act::Contract | Act::Payment | Act::Announce | Act::CloseDeal => {
                let id = run.id()?;
                let step = match act {
                    Act::Contract => DealStep::Contract {
                        signed_at: now,
                        plan: PaymentPlan::LumpSum,
                        guarantee_reference: None,
                    },
                    Act::Payment => DealStep::Payment(Payment {
                        amount: None,
                        reference: format!(
                            "JK-{}-{id:05}",
                            Calendar::beijing_date(now).format("%Y%m%d")
                        ),
                    }),
                    Act::Announce => DealStep::Announce,
                    _ => DealStep::Close,
                };
                self.tx(what, |c| deals::step(c, deps, by_op, id, &step))?;
            }
            other => anyhow::bail!("{other:?} is not a deal step"),
        }
        Ok(())
    }
}

fn termination(why: &str) -> listings::Termination {
    listings::Termination {
        reason: why.to_string(),
        winner_default: false,
    }
}

/// A new round at `percent` % of the appraisal, with the plan's disclosure and deposit.
fn relisting(plan: &ListingPlan, percent: i64) -> RelistInput {
    RelistInput {
        listing_price: ListingPlan::money(plan.appraised_yuan * percent / 100),
        disclosure_working_days: plan.disclosure_working_days,
        consent_document: None,
        deposit: None,
    }
}
