use super::timeline::{AuctionTimes, Run, Timeline, at, drive, month_end_before};
use super::*;
use crate::config::{AppEnv, Settings};
use crate::demo::data::{Act, When};
use crate::domain::auction::{Phase, Terms, Times, next_end};
use crate::domain::listing::ListingStatus;
use crate::domain::money::Money;
use crate::exchange::ExchangeRules;
use chrono::{Datelike, Months, NaiveDate, TimeZone};
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
/// A qualified bidder pays its deposit before it is due.
fn deposit_in_time(
    r: &ExchangeRules,
    seen: &Seen,
    title: &'static str,
    b: usize,
    t: DateTime<Utc>,
) -> anyhow::Result<()> {
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
    Ok(())
}

/// An auction is scheduled to start no earlier than now.
fn dry_schedule(tl: &Timeline, run: &mut Run, when: When, t: DateTime<Utc>) -> anyhow::Result<()> {
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
    Ok(())
}

/// A bid lands while the auction is open, and moves its end as a real one would.
fn dry_bid(run: &mut Run, t: DateTime<Utc>) -> anyhow::Result<()> {
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
    Ok(())
}

/// A deal closes only after its announcement has been shown long enough.
fn announced_long_enough(
    r: &ExchangeRules,
    seen: &Seen,
    title: &'static str,
    t: DateTime<Utc>,
) -> anyhow::Result<()> {
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
    Ok(())
}

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
            run.disclosure_end = Some(r.disclosure_end(t, run.plan.disclosure_working_days).value);
        }
        Act::Register(_) | Act::Reject(..) => anyhow::ensure!(open, "disclosure is over"),
        Act::Qualify(b) => {
            anyhow::ensure!(open, "disclosure is over");
            seen.qualified.insert((title, b), t);
        }
        Act::PayDeposit(b) => {
            anyhow::ensure!(open, "disclosure is over");
            deposit_in_time(r, seen, title, b, t)?;
        }
        Act::Decide => anyhow::ensure!(
            run.disclosure_end.is_some_and(|end| t >= end),
            "disclosure has not ended"
        ),
        Act::Schedule(when) => dry_schedule(tl, run, when, t)?,
        Act::Bid(..) => dry_bid(run, t)?,
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
        Act::CloseDeal => announced_long_enough(r, seen, title, t)?,
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
            ListingStatus::AuctionScheduled => run.auction.is_some_and(|a| a.starts_at > anchor),
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
