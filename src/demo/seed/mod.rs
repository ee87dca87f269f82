//! Carries the data set's plans out through the exchange's use cases, as the HTTP handlers
//! and the scheduler would, so audit events, e-mails, risk alerts and checkpoints are real.
//!
//! Time: the state's clock is an [`OffsetClock`] set about 100 days back before anything is
//! written. The plans' steps are then taken in time order across all listings — the clock
//! only moves forward, so every audit stream stays in time order — and the decisions the
//! scheduler would take (end of disclosure, close of an auction) are taken by calling the
//! same use cases at their due time. At the end the clock is back at the real time.

use std::sync::Arc;

use actix_web::web;
use anyhow::Context;
use chrono::{DateTime, Duration, Utc};

use super::data::{
    self, BIDDERS, ENTERPRISES, LIVE_TITLE, ListingPlan, OPERATOR, PartyAccount, Periods, STAFF,
    When,
};
use crate::audit::RequestMeta;
use crate::auth::AuthUser;
use crate::auth::accounts::{self, RegisterDeps, RegistrationInput};
use crate::auth::tokens::hash_token;
use crate::auth::verify_email;
use crate::domain::Role;
use crate::domain::calendar::Calendar;
use crate::domain::clock::{Clock, OffsetClock, SystemClock};
use crate::domain::credit_code::check_character;
use crate::error::AppError;
use crate::exchange::listings::ListingInput;
use crate::state::AppState;
use crate::store::listings::{Browse, StatusFilter};
use crate::store::{Conn, bodies, users, verifications};

mod act;
#[cfg(test)]
mod tests;
mod timeline;

use timeline::{Run, Timeline, at, drive, month_end_before};

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
        .find(|(r, _)| r.title == LIVE_TITLE)
        .map(|(r, _)| r.id))
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
                scope: Default::default(),
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
            let body = self.body(s.body)?;
            let user = self.tx(s.email, |c| {
                let user =
                    accounts::create_staff(c, &email, &name, s.role, &hash, &st.pii_salt, now)?;
                if let Some(b) = body {
                    accounts::attach_staff_to_body(c, user.id, b, now)?;
                }
                Ok(user)
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

    /// The id of the supervising body with this region code (the migration's seed data).
    fn body(&self, code: Option<&str>) -> anyhow::Result<Option<i64>> {
        let Some(code) = code else { return Ok(None) };
        let row = self
            .state
            .db
            .run_blocking(|c| bodies::by_code(c, code))
            .map_err(|e| anyhow::anyhow!("demo seeding: body {code}: {}", describe(&e)))?;
        Ok(Some(
            row.with_context(|| format!("no supervisory body {code}"))?
                .id,
        ))
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
            supervisory_body_id: self.body(a.body)?,
        })
        .map_err(|e| anyhow::anyhow!("{}: {}", a.email, describe(&e)))?;
        let hash = st.passwords.hash(password)?;
        let deps = RegisterDeps {
            pii_salt: &st.pii_salt,
            notifier: &st.notifier,
            verification_ttl_hours: st.settings.mail.verification_ttl_hours,
            mail_limits: &st.settings.mail,
        };
        let meta = meta(a.ip);
        let now = self.clock.now();
        let registered = self.tx(a.email, |c| {
            accounts::register(c, &valid, &hash, &deps, &meta, now)
        })?;
        let accounts::Registered::Created(created) = registered else {
            anyhow::bail!("{} is already registered: reset the demo database", a.email);
        };
        let (user, _) = *created;
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
        bidding_method: Default::default(),
        preemption: Default::default(),
    }
}
