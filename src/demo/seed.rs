//! Carries the data set's plans out through the exchange's use cases, as the HTTP handlers
//! and the scheduler would, so audit events, e-mails, risk alerts and checkpoints are real.
//!
//! Time: the state's clock is an [`OffsetClock`] set about 100 days back before anything is
//! written. The plans' steps are then taken in time order across all listings — the clock
//! only moves forward, so every audit stream stays in time order — and the decisions the
//! scheduler would take (end of disclosure, close of an auction) are taken by calling the
//! same use cases at their due time. At the end the clock is back at the real time.

use std::collections::BTreeMap;
use std::sync::Arc;

use actix_web::web;
use anyhow::Context;
use chrono::{DateTime, Datelike, Duration, Months, NaiveDate, TimeZone, Utc};

use super::data::{
    self, Act, BIDDERS, ENTERPRISES, LIVE_TITLE, ListingPlan, OPERATOR, PartyAccount, Periods,
    STAFF, When,
};
use crate::audit::RequestMeta;
use crate::auth::AuthUser;
use crate::auth::accounts::{self, RegisterDeps, RegistrationInput};
use crate::auth::tokens::hash_token;
use crate::auth::verify_email;
use crate::domain::Role;
use crate::domain::calendar::Calendar;
use crate::domain::clock::{Clock, OffsetClock, SystemClock, beijing};
use crate::domain::credit_code::check_character;
use crate::domain::money::Money;
use crate::domain::registration::DepositAction;
use crate::error::AppError;
use crate::exchange::deals::{self, DealStep};
use crate::exchange::listings::{self, Decision, ListingInput, RelistInput, Review};
use crate::exchange::registrations::{self, By, ReviewDecision};
use crate::exchange::{auctions, decide};
use crate::state::AppState;
use crate::store::listings::{Browse, StatusFilter};
use crate::store::models::from_db;
use crate::store::{Conn, users, verifications};

/// How far back the demo's history starts (at least; earlier if a plan needs it).
const HISTORY_DAYS: u64 = 100;

/// What seeding found or made.
#[derive(Debug, Clone)]
pub struct Seeded {
    /// False when the data set was already there (nothing was written).
    pub created: bool,
    /// The live auction's listing.
    pub live_listing_id: Option<i64>,
    /// Listings in the database.
    pub listings: i64,
}

/// Seeds the data set unless the demo operator already exists. `state` must have been
/// prepared with `clock` (`startup::prepare`), and nothing else may write meanwhile: run it
/// before the server and the background jobs start.
pub async fn seed(state: &web::Data<AppState>, clock: &Arc<OffsetClock>) -> anyhow::Result<Seeded> {
    // With the sandbox clock on, the state's clock wraps the one it was prepared with.
    let base = state.sandbox.as_ref().map_or(&state.clock, |s| s.base());
    anyhow::ensure!(
        std::ptr::addr_eq(Arc::as_ptr(base), Arc::as_ptr(clock)),
        "the demo must seed with the clock its state was prepared with"
    );
    let (state, clock) = (state.clone(), clock.clone());
    tokio::task::spawn_blocking(move || seed_blocking(&state, &clock))
        .await
        .context("the seeding task failed")?
}

fn seed_blocking(state: &AppState, clock: &OffsetClock) -> anyhow::Result<Seeded> {
    match found(state)
        .map_err(|e| anyhow::anyhow!("cannot read the demo database: {}", describe(&e)))?
    {
        Found::Demo(seeded) => Ok(seeded),
        Found::Foreign => anyhow::bail!(
            "this database already holds accounts or listings that are not the demo's; \
             the demo seeds only an empty database (its own by default)"
        ),
        Found::Empty => {
            let mut seeder = Seeder::new(state, clock);
            seeder.accounts()?;
            seeder.listings()?;
            seeder.finish()
        }
    }
}

/// What the database holds.
enum Found {
    /// The data set, seeded earlier (the demo operator exists).
    Demo(Seeded),
    /// Nothing: the demo may seed.
    Empty,
    /// Someone else's accounts or listings.
    Foreign,
}

fn found(state: &AppState) -> Result<Found, AppError> {
    state.db.run_blocking(|c| {
        let listings = count_listings(c)?;
        if users::find_by_email(c, OPERATOR.email)?.is_some() {
            return Ok(Found::Demo(Seeded {
                created: false,
                live_listing_id: live_listing(c)?,
                listings,
            }));
        }
        let mut users_of_any_role = false;
        for role in Role::ALL {
            users_of_any_role |= !users::with_role(c, role.as_str())?.is_empty();
        }
        Ok(if listings > 0 || users_of_any_role {
            Found::Foreign
        } else {
            Found::Empty
        })
    })
}

fn count_listings(c: &mut Conn) -> Result<i64, AppError> {
    let b = Browse {
        statuses: StatusFilter::Any,
        ..Browse::default()
    };
    Ok(crate::store::listings::browse(c, &b, 0, 1)?.1)
}

/// The live auction's listing: the newest listing with its title.
fn live_listing(c: &mut Conn) -> Result<Option<i64>, AppError> {
    let b = Browse {
        statuses: StatusFilter::Any,
        q: Some(LIVE_TITLE.to_string()),
        ..Browse::default()
    };
    let (rows, _) = crate::store::listings::browse(c, &b, 0, 20)?;
    Ok(rows
        .into_iter()
        .find(|r| r.title == LIVE_TITLE)
        .map(|r| r.id))
}

fn describe(e: &AppError) -> String {
    let p = e.to_problem();
    let fields: Vec<String> = p
        .errors
        .iter()
        .map(|f| format!("{}: {}", f.field, f.message))
        .collect();
    if fields.is_empty() {
        format!("{} ({}; {e})", p.detail, p.code)
    } else {
        format!("{} ({})", fields.join("; "), p.code)
    }
}

/// Who acts: the user and the request facts their actions are recorded with.
struct Actor {
    user: AuthUser,
    meta: RequestMeta,
}

impl Actor {
    fn new(user: &crate::store::models::User, role: Role, ip: &str) -> Self {
        Self {
            user: AuthUser {
                id: user.id,
                role,
                organization_id: user.organization_id,
                session_id: 0,
            },
            meta: meta(ip),
        }
    }
}

fn meta(ip: &str) -> RequestMeta {
    RequestMeta {
        client_ip: ip.parse().ok(),
        request_id: None,
        user_agent: Some("asset-exchange demo".to_string()),
    }
}

/// An auction's times as the plans refer to them.
#[derive(Debug, Clone, Copy)]
struct AuctionTimes {
    id: i64,
    starts_at: DateTime<Utc>,
    free_ends_at: DateTime<Utc>,
    ends_at: DateTime<Utc>,
}

/// A listing's plan being carried out.
struct Run<'p> {
    plan: &'p ListingPlan,
    next: usize,
    prev: Option<DateTime<Utc>>,
    listing_id: Option<i64>,
    disclosure_end: Option<DateTime<Utc>>,
    auction: Option<AuctionTimes>,
    registrations: BTreeMap<usize, i64>,
}

impl<'p> Run<'p> {
    fn new(plan: &'p ListingPlan) -> Self {
        Self {
            plan,
            next: 0,
            prev: None,
            listing_id: None,
            disclosure_end: None,
            auction: None,
            registrations: BTreeMap::new(),
        }
    }

    fn id(&self) -> anyhow::Result<i64> {
        self.listing_id
            .with_context(|| format!("「{}」 is not created yet", self.plan.title))
    }

    fn registration(&self, bidder: usize) -> anyhow::Result<i64> {
        self.registrations.get(&bidder).copied().with_context(|| {
            format!(
                "bidder {bidder} has not registered on 「{}」",
                self.plan.title
            )
        })
    }

    fn auction(&self) -> anyhow::Result<AuctionTimes> {
        self.auction
            .with_context(|| format!("「{}」 has no auction yet", self.plan.title))
    }
}

/// The calendar arithmetic of the plans: `When` → an instant.
struct Timeline<'a> {
    calendar: &'a Calendar,
    /// The real time when seeding started: no step may come after it.
    anchor: DateTime<Utc>,
}

impl Timeline<'_> {
    fn today(&self) -> NaiveDate {
        Calendar::beijing_date(self.anchor)
    }

    /// The n-th working day before `date`.
    fn working_days_before(&self, date: NaiveDate, n: u32) -> NaiveDate {
        let mut day = date;
        let mut left = n;
        while left > 0 {
            let Some(prev) = day.pred_opt() else { break };
            day = prev;
            if self.calendar.is_working_day(day).value {
                left -= 1;
            }
        }
        day
    }

    fn resolve(&self, when: When, run: &Run) -> anyhow::Result<DateTime<Utc>> {
        let prev = || {
            run.prev
                .with_context(|| format!("「{}」: a relative first step", run.plan.title))
        };
        Ok(match when {
            When::DaysAgo(n, t) => at(self.working_days_before(self.today(), n), t),
            When::Next(n, t) => {
                let day = Calendar::beijing_date(prev()?);
                let day = if n == 0 {
                    day
                } else {
                    self.calendar.add_working_days(day, n).value
                };
                at(day, t)
            }
            When::Later(d) => prev()? + d,
            When::AfterDisclosure(d) => {
                run.disclosure_end
                    .with_context(|| format!("「{}」 is not in disclosure", run.plan.title))?
                    + d
            }
            When::AfterStart(d) => run.auction()?.starts_at + d,
            When::AfterFreePeriod(d) => run.auction()?.free_ends_at + d,
            When::AfterAuction(d) => run.auction()?.ends_at + d,
            When::Before(d) => self.anchor - d,
        })
    }
}

/// Beijing wall-clock time on `day`, as UTC.
fn at(day: NaiveDate, hm: (u32, u32)) -> DateTime<Utc> {
    let local = day.and_time(data::hm(hm));
    beijing()
        .from_local_datetime(&local)
        .single()
        .map_or_else(|| local.and_utc(), |t| t.with_timezone(&Utc))
}

/// The last day of the month `months` months before `day`'s (an appraisal's base date).
fn month_end_before(day: NaiveDate, months: u32) -> NaiveDate {
    day.with_day(1)
        .and_then(|first| first.checked_sub_months(Months::new(months.saturating_sub(1))))
        .and_then(|d| d.pred_opt())
        .unwrap_or(day)
}

/// Takes every plan's steps in time order across all listings: the earliest due step next.
/// `exec` carries a step out no earlier than its due time and returns when it did.
fn drive<'p>(
    tl: &Timeline,
    runs: &mut [Run<'p>],
    mut exec: impl FnMut(&mut Run<'p>, Act, DateTime<Utc>) -> anyhow::Result<DateTime<Utc>>,
) -> anyhow::Result<()> {
    let next_due = |run: &Run| -> anyhow::Result<Option<DateTime<Utc>>> {
        run.plan
            .steps
            .get(run.next)
            .map(|step| tl.resolve(step.when, run))
            .transpose()
    };
    let mut dues = runs
        .iter()
        .map(&next_due)
        .collect::<anyhow::Result<Vec<_>>>()?;
    loop {
        let earliest = dues
            .iter()
            .enumerate()
            .filter_map(|(i, due)| due.map(|t| (t, i)))
            .min();
        let Some((t, i)) = earliest else {
            return Ok(());
        };
        let run = &mut runs[i];
        let act = run.plan.steps[run.next].act;
        let title = run.plan.title;
        anyhow::ensure!(
            t <= tl.anchor,
            "demo plan: {act:?} on 「{title}」 would come after now"
        );
        anyhow::ensure!(
            run.prev.is_none_or(|p| t >= p),
            "demo plan: {act:?} on 「{title}」 comes before the step it follows"
        );
        let done =
            exec(run, act, t).with_context(|| format!("demo plan: {act:?} on 「{title}」"))?;
        run.prev = Some(done);
        run.next += 1;
        dues[i] = next_due(run)?;
    }
}

struct Seeder<'a> {
    state: &'a AppState,
    clock: &'a OffsetClock,
    anchor: DateTime<Utc>,
    plans: Vec<ListingPlan>,
    operator: Option<Actor>,
    sellers: Vec<Actor>,
    bidders: Vec<Actor>,
}

impl<'a> Seeder<'a> {
    fn new(state: &'a AppState, clock: &'a OffsetClock) -> Self {
        let anchor = clock.now();
        let plans = data::listings(&Periods {
            listing: state.rules.policy.clone(),
            announcement_min_working_days: state.rules.announcement_min_working_days,
        });
        Self {
            state,
            clock,
            anchor,
            plans,
            operator: None,
            sellers: Vec::new(),
            bidders: Vec::new(),
        }
    }

    fn timeline(&self) -> Timeline<'a> {
        Timeline {
            calendar: &self.state.rules.calendar,
            anchor: self.anchor,
        }
    }

    /// Moves the clock forward to `t` (never back).
    fn clock_to(&self, t: DateTime<Utc>) {
        let now = self.clock.now();
        if t > now {
            self.clock.advance(t - now);
        }
    }

    fn tx<T>(
        &self,
        what: &str,
        f: impl FnOnce(&mut Conn) -> Result<T, AppError>,
    ) -> anyhow::Result<T> {
        self.state
            .db
            .tx_blocking(f)
            .map_err(|e| anyhow::anyhow!("demo seeding: {what}: {}", describe(&e)))
    }

    /// When the history starts: ~100 days ago, at 09:00, before every plan's first step.
    fn start(&self) -> DateTime<Utc> {
        let tl = self.timeline();
        let deepest = self
            .plans
            .iter()
            .flat_map(|p| p.steps.iter())
            .filter_map(|s| match s.when {
                When::DaysAgo(n, _) => Some(n),
                _ => None,
            })
            .max()
            .unwrap_or(0);
        let earliest = tl.working_days_before(tl.today(), deepest + 1);
        let day = (tl.today() - chrono::Days::new(HISTORY_DAYS)).min(earliest);
        at(day, (9, 0))
    }

    /// Staff, then the enterprises and bidders (registered, then their e-mail confirmed).
    fn accounts(&mut self) -> anyhow::Result<()> {
        let start = self.start();
        self.clock.advance(start - self.clock.now());
        let st = self.state;
        for (i, s) in STAFF.iter().enumerate() {
            self.clock_to(start + Duration::minutes(6 * i64::try_from(i).unwrap_or(0)));
            let (email, name) = accounts::validate_staff(&accounts::NewStaff {
                email: s.email,
                password: s.password,
                name: s.name,
                role: s.role,
            })
            .map_err(|e| anyhow::anyhow!("{}: {}", s.email, describe(&e)))?;
            let hash = st.passwords.hash(s.password)?;
            let now = self.clock.now();
            let user = self.tx(s.email, |c| {
                accounts::create_staff(c, &email, &name, s.role, &hash, &st.pii_salt, now)
            })?;
            if s.role == Role::Operator {
                self.operator = Some(Actor::new(&user, s.role, s.ip));
            }
        }
        let parties = ENTERPRISES
            .iter()
            .map(|a| (a, Role::Enterprise, data::SELLER_PASSWORD))
            .chain(
                BIDDERS
                    .iter()
                    .map(|a| (a, Role::Bidder, data::BIDDER_PASSWORD)),
            );
        for (i, (account, role, password)) in parties.enumerate() {
            let i = i64::try_from(i).unwrap_or(0);
            self.clock_to(start + Duration::minutes(40 + 23 * i));
            let actor = self.party(account, role, password)?;
            match role {
                Role::Enterprise => self.sellers.push(actor),
                _ => self.bidders.push(actor),
            }
        }
        Ok(())
    }

    fn party(&self, a: &PartyAccount, role: Role, password: &str) -> anyhow::Result<Actor> {
        let st = self.state;
        let check = check_character(a.credit_code_body)
            .with_context(|| format!("bad credit code body {}", a.credit_code_body))?;
        let credit_code = format!("{}{check}", a.credit_code_body);
        let valid = accounts::validate_registration(&RegistrationInput {
            email: a.email,
            password,
            name: a.name,
            role: role.as_str(),
            organization_name: a.organization,
            credit_code: &credit_code,
            phone: Some(a.phone),
            locale: None,
        })
        .map_err(|e| anyhow::anyhow!("{}: {}", a.email, describe(&e)))?;
        let hash = st.passwords.hash(password)?;
        let deps = RegisterDeps {
            pii_salt: &st.pii_salt,
            notifier: &st.notifier,
            verification_ttl_hours: st.settings.mail.verification_ttl_hours,
        };
        let meta = meta(a.ip);
        let now = self.clock.now();
        let (user, _) = self.tx(a.email, |c| {
            accounts::register(c, &valid, &hash, &deps, &meta, now)
        })?;
        // The user follows the link in the welcome mail a few minutes later.
        self.clock_to(now + Duration::minutes(4));
        let token = crate::random::token();
        let now = self.clock.now();
        self.tx(a.email, |c| {
            verifications::create(
                c,
                user.id,
                &hash_token(&token),
                now,
                now + Duration::hours(1),
            )?;
            verify_email::redeem(c, &token, &meta, now)
        })?;
        Ok(Actor::new(&user, role, a.ip))
    }

    /// Takes every plan's steps in time order.
    fn listings(&mut self) -> anyhow::Result<()> {
        let plans = std::mem::take(&mut self.plans);
        let mut runs: Vec<Run> = plans.iter().map(Run::new).collect();
        let tl = self.timeline();
        drive(&tl, &mut runs, |run, act, due| {
            self.clock_to(due);
            let now = self.clock.now();
            self.act(run, act, now)?;
            Ok(now)
        })?;
        for run in &runs {
            let id = run.id()?;
            let status = self.tx("status", |c| {
                crate::store::listings::find(c, id).map(|r| r.map(|r| r.status).unwrap_or_default())
            })?;
            anyhow::ensure!(
                status == run.plan.ends_in.as_str(),
                "demo plan: 「{}」 ended {status}, not {}",
                run.plan.title,
                run.plan.ends_in.as_str()
            );
        }
        self.plans = plans;
        Ok(())
    }

    fn operator(&self) -> anyhow::Result<&Actor> {
        self.operator.as_ref().context("no demo operator")
    }

    fn bidder(&self, i: usize) -> anyhow::Result<&Actor> {
        self.bidders
            .get(i)
            .with_context(|| format!("no demo bidder {i}"))
    }

    /// One step, in one transaction, through its use case.
    fn act(&self, run: &mut Run, act: Act, now: DateTime<Utc>) -> anyhow::Result<()> {
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
        match act {
            Act::Create => {
                let input = listing_input(plan, now);
                let row = self.tx(what, |c| {
                    listings::create(c, &deps, &seller.user, &input, &seller.meta, now)
                })?;
                run.listing_id = Some(row.id);
            }
            Act::Submit => {
                let id = run.id()?;
                self.tx(what, |c| {
                    listings::submit(c, &deps, &seller.user, id, &seller.meta, now)
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
                    listings::review(c, &deps, &op.user, id, &review, &op.meta, now)
                })?;
                run.disclosure_end = row.disclosure_end.map(from_db);
            }
            Act::Register(b) => {
                let id = run.id()?;
                let bidder = self.bidder(b)?;
                let statement = "我方已仔细阅读本项目信息披露公告及交易规则，具备公告要求的受让条件，自愿登记参与本项目。";
                let reg = self.tx(what, |c| {
                    registrations::register(
                        c,
                        &deps,
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
                    registrations::review(c, &deps, &by_op, reg, decision, comment)
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
                        &deps,
                        &by_op,
                        reg,
                        DepositAction::Confirm,
                        Some(&reference),
                    )
                })?;
            }
            Act::Decide => {
                let id = run.id()?;
                let decided = self.tx(what, |c| decide::decide_if_due(c, &st.notifier, id, now))?;
                anyhow::ensure!(decided.is_some(), "its disclosure was not due");
            }
            Act::Schedule(when) => {
                let id = run.id()?;
                let starts_at = self.timeline().resolve(
                    when,
                    &Run {
                        prev: Some(now),
                        ..Run::new(plan)
                    },
                )?;
                let (_, a) = self.tx(what, |c| {
                    auctions::schedule(c, &deps, &by_op, id, starts_at)
                })?;
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
                    auctions::place_bid(c, &deps, &by, id, amount, &key)
                })?;
                run.auction = Some(AuctionTimes {
                    ends_at: from_db(placed.bid.ends_at),
                    ..times
                });
            }
            Act::CloseAuction => {
                let times = run.auction()?;
                let closed = self.tx(what, |c| auctions::close_if_due(c, &deps, times.id, now))?;
                anyhow::ensure!(closed.is_some(), "the auction was not due to close");
            }
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
                    deals::quote(c, &deps, &by, id, amount)
                })?;
            }
            Act::Contract | Act::Payment | Act::Announce | Act::CloseDeal => {
                let id = run.id()?;
                let step = match act {
                    Act::Contract => DealStep::Contract { signed_at: now },
                    Act::Payment => DealStep::Payment {
                        reference: format!(
                            "JK-{}-{id:05}",
                            Calendar::beijing_date(now).format("%Y%m%d")
                        ),
                    },
                    Act::Announce => DealStep::Announce,
                    _ => DealStep::Close,
                };
                self.tx(what, |c| deals::step(c, &deps, &by_op, id, &step))?;
            }
            Act::Suspend(why) => {
                let id = run.id()?;
                self.tx(what, |c| {
                    listings::suspend(c, &deps, &op.user, id, why, &op.meta, now)
                })?;
            }
            Act::Terminate(why) => {
                let id = run.id()?;
                self.tx(what, |c| {
                    let t = listings::Termination {
                        reason: why.to_string(),
                        winner_default: false,
                    };
                    listings::terminate(c, &deps, &op.user, id, &t, &op.meta, now)
                })?;
            }
            Act::Relist(percent) => {
                let id = run.id()?;
                let price = ListingPlan::money(plan.appraised_yuan * percent / 100);
                let input = RelistInput {
                    listing_price: price,
                    disclosure_working_days: plan.disclosure_working_days,
                    consent_document: None,
                };
                self.tx(what, |c| {
                    listings::relist(c, &deps, &seller.user, id, &input, &seller.meta, now)
                })?;
                run.disclosure_end = None;
            }
        }
        Ok(())
    }

    /// The clock back at the real time, and a signed checkpoint over everything.
    fn finish(self) -> anyhow::Result<Seeded> {
        let real = SystemClock.now();
        let behind = real - self.clock.now();
        if behind > Duration::zero() {
            self.clock.advance(behind);
        }
        let st = self.state;
        crate::audit::checkpoint_now(&st.db, &st.audit_signer, self.clock.now(), true)
            .map_err(|e| anyhow::anyhow!("demo checkpoint: {}", describe(&e)))?;
        let (live, listings) = st
            .db
            .run_blocking(|c| Ok((live_listing(c)?, count_listings(c)?)))
            .map_err(|e| anyhow::anyhow!("{}", describe(&e)))?;
        Ok(Seeded {
            created: true,
            live_listing_id: live,
            listings,
        })
    }
}

fn listing_input(plan: &ListingPlan, now: DateTime<Utc>) -> ListingInput {
    ListingInput {
        kind: plan.kind,
        title: plan.title.to_string(),
        description: plan.description.to_string(),
        appraised_value: ListingPlan::money(plan.appraised_yuan),
        appraisal_date: month_end_before(Calendar::beijing_date(now), plan.appraisal_months_before),
        listing_price: ListingPlan::money(plan.price_yuan),
        deposit: ListingPlan::money(plan.deposit_yuan),
        increment: ListingPlan::money(plan.increment_yuan),
        disclosure_working_days: plan.disclosure_working_days,
        free_bidding_seconds: plan.free_bidding_seconds,
        countdown_seconds: plan.countdown_seconds,
        consent_document: None,
        allow_self_raise: false,
        runner_up_offer: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{AppEnv, Settings};
    use crate::domain::auction::{Phase, Terms, Times, next_end};
    use crate::domain::listing::ListingStatus;
    use crate::exchange::ExchangeRules;
    use std::collections::HashMap;

    fn rules(env: AppEnv) -> ExchangeRules {
        let dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("config");
        let settings = Settings::load_from(&dir, env, Vec::new()).unwrap();
        ExchangeRules::load(&settings, &settings.config_dir).unwrap()
    }

    fn times(a: &AuctionTimes) -> Times {
        Times {
            starts_at: a.starts_at,
            free_ends_at: a.free_ends_at,
            ends_at: a.ends_at,
        }
    }

    /// What the dry run remembers besides the runs.
    #[derive(Default)]
    struct Seen {
        qualified: HashMap<(&'static str, usize), DateTime<Utc>>,
        awarded: HashMap<&'static str, DateTime<Utc>>,
        announced: HashMap<&'static str, DateTime<Utc>>,
        suspended: HashMap<&'static str, DateTime<Utc>>,
    }

    /// One step as the use cases would time it, checking the timing rules they enforce.
    fn dry_step(
        r: &ExchangeRules,
        tl: &Timeline,
        run: &mut Run,
        act: Act,
        t: DateTime<Utc>,
        seen: &mut Seen,
    ) -> anyhow::Result<()> {
        let title = run.plan.title;
        let open = run.disclosure_end.is_some_and(|end| t < end);
        match act {
            Act::Create | Act::Submit | Act::Return(_) | Act::Contract | Act::Payment => {}
            Act::Approve => {
                run.disclosure_end =
                    Some(r.disclosure_end(t, run.plan.disclosure_working_days).value);
            }
            Act::Register(_) | Act::Reject(..) => anyhow::ensure!(open, "disclosure is over"),
            Act::Qualify(b) => {
                anyhow::ensure!(open, "disclosure is over");
                seen.qualified.insert((title, b), t);
            }
            Act::PayDeposit(b) => {
                anyhow::ensure!(open, "disclosure is over");
                let q = seen
                    .qualified
                    .get(&(title, b))
                    .copied()
                    .context("not qualified")?;
                let due = r
                    .calendar
                    .period_end(q, r.deposit_due_working_days, r.close_of_business)
                    .value;
                anyhow::ensure!(t < due, "the deposit is overdue");
            }
            Act::Decide => anyhow::ensure!(
                run.disclosure_end.is_some_and(|end| t >= end),
                "disclosure has not ended"
            ),
            Act::Schedule(when) => {
                let start = tl.resolve(
                    when,
                    &Run {
                        prev: Some(t),
                        ..Run::new(run.plan)
                    },
                )?;
                anyhow::ensure!(start >= t, "the auction would start in the past");
                let s = Times::schedule(
                    start,
                    run.plan.free_bidding_seconds,
                    run.plan.countdown_seconds,
                );
                run.auction = Some(AuctionTimes {
                    id: 0,
                    starts_at: s.starts_at,
                    free_ends_at: s.free_ends_at,
                    ends_at: s.ends_at,
                });
            }
            Act::Bid(..) => {
                let a = run.auction()?;
                let phase = times(&a).phase(t);
                anyhow::ensure!(matches!(phase, Phase::Free | Phase::Countdown), "{phase:?}");
                let terms = Terms {
                    start_price: Money::from_fen(100),
                    increment: Money::from_fen(100),
                    countdown: Duration::seconds(i64::from(run.plan.countdown_seconds)),
                    allow_self_raise: false,
                };
                run.auction = Some(AuctionTimes {
                    ends_at: next_end(&times(&a), &terms, t),
                    ..a
                });
            }
            Act::CloseAuction => {
                anyhow::ensure!(t >= run.auction()?.ends_at, "the auction is still open");
                seen.awarded.insert(title, t);
            }
            Act::Quote(..) => {
                seen.awarded.insert(title, t);
            }
            Act::Announce => {
                seen.announced.insert(title, t);
            }
            Act::CloseDeal => {
                let a = seen
                    .announced
                    .get(title)
                    .copied()
                    .context("not announced")?;
                let shown = r
                    .calendar
                    .working_days_between(Calendar::beijing_date(a), Calendar::beijing_date(t))
                    .value;
                anyhow::ensure!(
                    shown >= r.announcement_min_working_days.max(5),
                    "{shown} days"
                );
            }
            Act::Suspend(_) | Act::Terminate(_) => {
                seen.suspended.insert(title, t);
            }
            Act::Relist(_) => run.disclosure_end = None,
        }
        Ok(())
    }

    /// Plays the whole data set at `anchor` without a database; checks what the demo needs
    /// to show when it starts.
    fn dry_run(r: &ExchangeRules, anchor: DateTime<Utc>) -> anyhow::Result<()> {
        let plans = data::listings(&Periods {
            listing: r.policy.clone(),
            announcement_min_working_days: r.announcement_min_working_days,
        });
        let mut runs: Vec<Run> = plans.iter().map(Run::new).collect();
        let tl = Timeline {
            calendar: &r.calendar,
            anchor,
        };
        let mut seen = Seen::default();
        drive(&tl, &mut runs, |run, act, t| {
            dry_step(r, &tl, run, act, t, &mut seen)?;
            Ok(t)
        })?;
        let start = tl.working_days_before(tl.today(), 60);
        anyhow::ensure!(
            tl.today() - chrono::Days::new(HISTORY_DAYS) <= start,
            "the history needs more than {HISTORY_DAYS} days"
        );
        for run in &runs {
            let title = run.plan.title;
            let ok = match run.plan.ends_in {
                ListingStatus::Disclosure => run.disclosure_end.is_some_and(|e| e > anchor),
                ListingStatus::Bidding => run.auction.is_some_and(|a| {
                    a.starts_at <= anchor && a.free_ends_at > anchor + Duration::minutes(5)
                }),
                ListingStatus::AuctionScheduled => {
                    run.auction.is_some_and(|a| a.starts_at > anchor)
                }
                ListingStatus::Awarded => seen.awarded.get(title).is_some_and(|t| {
                    r.calendar
                        .period_end(*t, r.contract_due_working_days, r.close_of_business)
                        .value
                        > anchor
                }),
                ListingStatus::Suspended => seen.suspended.get(title).is_some_and(|t| {
                    t.checked_add_months(Months::new(r.max_suspension_months))
                        .is_some_and(|limit| limit > anchor)
                }),
                _ => true,
            };
            anyhow::ensure!(ok, "「{title}」 is not {:?} at the start", run.plan.ends_in);
        }
        Ok(())
    }

    #[test]
    fn the_plans_fit_every_day_of_the_year_in_both_profiles() {
        for env in [AppEnv::Development, AppEnv::Test] {
            let r = rules(env);
            let mut day = NaiveDate::from_ymd_opt(2025, 12, 1).unwrap();
            while day < NaiveDate::from_ymd_opt(2028, 1, 31).unwrap() {
                // just after midnight and just before the close of business, on alternate days
                let hm = if day.ordinal().is_multiple_of(2) {
                    (0, 20)
                } else {
                    (16, 59)
                };
                let anchor = at(day, hm);
                dry_run(&r, anchor).unwrap_or_else(|e| panic!("{env:?} at {anchor}: {e:#}"));
                day = day.succ_opt().unwrap();
            }
        }
    }

    #[test]
    fn an_appraisal_is_dated_at_a_month_end_two_months_back() {
        let d = |y, m, day| NaiveDate::from_ymd_opt(y, m, day).unwrap();
        assert_eq!(month_end_before(d(2026, 10, 15), 2), d(2026, 8, 31));
        assert_eq!(month_end_before(d(2026, 3, 1), 2), d(2026, 1, 31));
        assert_eq!(month_end_before(d(2026, 3, 31), 1), d(2026, 2, 28));
    }

    #[test]
    fn beijing_wall_clock_times_become_utc() {
        let t = at(NaiveDate::from_ymd_opt(2026, 11, 27).unwrap(), (10, 0));
        assert_eq!(t, Utc.with_ymd_and_hms(2026, 11, 27, 2, 0, 0).unwrap());
    }

    #[test]
    fn working_days_before_skip_weekends_and_holidays() {
        let cal = Calendar::from_year_files(Vec::new()).unwrap();
        let tl = Timeline {
            calendar: &cal,
            anchor: Utc.with_ymd_and_hms(2026, 11, 30, 3, 0, 0).unwrap(), // a Monday
        };
        let friday = NaiveDate::from_ymd_opt(2026, 11, 27).unwrap();
        assert_eq!(tl.working_days_before(tl.today(), 1), friday);
        assert_eq!(
            tl.working_days_before(tl.today(), 6),
            NaiveDate::from_ymd_opt(2026, 11, 20).unwrap()
        );
    }
}
