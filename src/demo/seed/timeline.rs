//! Carrying out the plans in time order: a listing's plan being run, the calendar arithmetic
//! that turns a plan's `When` into an instant, and the loop that takes the earliest due step
//! across all listings next.

use crate::demo::data::{self, Act, ListingPlan, When};
use crate::domain::calendar::Calendar;
use crate::domain::clock::beijing;
use anyhow::Context;
use chrono::{DateTime, Datelike, Months, NaiveDate, TimeZone, Utc};
use std::collections::BTreeMap;

/// An auction's times as the plans refer to them.
#[derive(Debug, Clone, Copy)]
pub(super) struct AuctionTimes {
    pub(super) id: i64,
    pub(super) starts_at: DateTime<Utc>,
    pub(super) free_ends_at: DateTime<Utc>,
    pub(super) ends_at: DateTime<Utc>,
}

/// A listing's plan being carried out.
pub(super) struct Run<'p> {
    pub(super) plan: &'p ListingPlan,
    pub(super) next: usize,
    pub(super) prev: Option<DateTime<Utc>>,
    pub(super) listing_id: Option<i64>,
    pub(super) disclosure_end: Option<DateTime<Utc>>,
    pub(super) auction: Option<AuctionTimes>,
    pub(super) registrations: BTreeMap<usize, i64>,
}

impl<'p> Run<'p> {
    pub(super) fn new(plan: &'p ListingPlan) -> Self {
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

    pub(super) fn id(&self) -> anyhow::Result<i64> {
        self.listing_id
            .with_context(|| format!("「{}」 is not created yet", self.plan.title))
    }

    pub(super) fn registration(&self, bidder: usize) -> anyhow::Result<i64> {
        self.registrations.get(&bidder).copied().with_context(|| {
            format!(
                "bidder {bidder} has not registered on 「{}」",
                self.plan.title
            )
        })
    }

    pub(super) fn auction(&self) -> anyhow::Result<AuctionTimes> {
        self.auction
            .with_context(|| format!("「{}」 has no auction yet", self.plan.title))
    }
}

/// The calendar arithmetic of the plans: `When` → an instant.
pub(super) struct Timeline<'a> {
    pub(super) calendar: &'a Calendar,
    /// The real time when seeding started: no step may come after it.
    pub(super) anchor: DateTime<Utc>,
}

impl Timeline<'_> {
    pub(super) fn today(&self) -> NaiveDate {
        Calendar::beijing_date(self.anchor)
    }

    /// The n-th working day before `date`.
    pub(super) fn working_days_before(&self, date: NaiveDate, n: u32) -> NaiveDate {
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

    pub(super) fn resolve(&self, when: When, run: &Run) -> anyhow::Result<DateTime<Utc>> {
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
pub(super) fn at(day: NaiveDate, hm: (u32, u32)) -> DateTime<Utc> {
    let local = day.and_time(data::hm(hm));
    beijing()
        .from_local_datetime(&local)
        .single()
        .map_or_else(|| local.and_utc(), |t| t.with_timezone(&Utc))
}

/// The last day of the month `months` months before `day`'s (an appraisal's base date).
pub(super) fn month_end_before(day: NaiveDate, months: u32) -> NaiveDate {
    day.with_day(1)
        .and_then(|first| first.checked_sub_months(Months::new(months.saturating_sub(1))))
        .and_then(|d| d.pred_opt())
        .unwrap_or(day)
}

/// Takes every plan's steps in time order across all listings: the earliest due step next.
/// `exec` carries a step out no earlier than its due time and returns when it did.
pub(super) fn drive<'p>(
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
