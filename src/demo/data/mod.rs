//! The demo's data set as plain data: the accounts (with their published passwords), the
//! organisations, and one plan per listing — what happens to it and when, in working days
//! before today — so that together the listings show every state of the state machine.
//! Nothing here touches the database; `seed` carries the plans out through the use cases.

use chrono::{Duration, NaiveTime};

use crate::domain::Role;
use crate::domain::listing::{ListingKind, ListingPolicy, ListingStatus};
use crate::domain::money::Money;

mod decided;
mod open;
#[cfg(test)]
mod tests;

use decided::{
    announced, auction_scheduled, awarded, bidding, closed, contract_signed, failed, negotiation,
    no_sale, paid, relisted,
};
use open::{
    capital_increase, disclosure_with_registrations, draft, returned, submitted, suspended,
    terminated,
};

/// A staff account (made as `asset-exchange user create` makes them).
#[derive(Debug, Clone, Copy)]
pub struct StaffAccount {
    pub email: &'static str,
    pub password: &'static str,
    pub name: &'static str,
    pub role: Role,
    /// The address the account acts from (recorded in the audit trail).
    pub ip: &'static str,
    /// For an auditor: the GB/T 2260 code of its supervising body (none: the province).
    pub body: Option<&'static str>,
}

/// An enterprise or bidder: one user and its organisation.
#[derive(Debug, Clone, Copy)]
pub struct PartyAccount {
    pub email: &'static str,
    pub name: &'static str,
    pub phone: &'static str,
    pub organization: &'static str,
    /// The first 17 characters of the unified social credit code; the check character is
    /// computed (`crate::domain::credit_code`).
    pub credit_code_body: &'static str,
    pub ip: &'static str,
    /// The GB/T 2260 code of the organisation's supervising body (none: the province).
    pub body: Option<&'static str>,
}

pub const OPERATOR_PASSWORD: &str = "Demo-Operator-2026";
pub const AUDITOR_PASSWORD: &str = "Demo-Auditor-2026";
pub const ADMIN_PASSWORD: &str = "Demo-Admin-2026";
pub const SELLER_PASSWORD: &str = "Demo-Seller-2026";
pub const BIDDER_PASSWORD: &str = "Demo-Bidder-2026";

/// The operator; its existence means the demo data set is already there.
pub const OPERATOR: StaffAccount = StaffAccount {
    email: "operator@exchange.demo.example",
    password: OPERATOR_PASSWORD,
    name: "王建国（交易部值班操作员）",
    role: Role::Operator,
    ip: "10.35.8.21",
    body: None,
};

pub const AUDITOR: StaffAccount = StaffAccount {
    email: "auditor@exchange.demo.example",
    password: AUDITOR_PASSWORD,
    name: "周敏（浙江省国资委审计）",
    role: Role::Auditor,
    ip: "10.35.9.14",
    body: None,
};

/// 杭州市国资委's auditor: sees the enterprises of 杭州 and its districts only.
pub const HANGZHOU_AUDITOR: StaffAccount = StaffAccount {
    email: "auditor.hangzhou@exchange.demo.example",
    password: AUDITOR_PASSWORD,
    name: "何静（杭州市国资委审计）",
    role: Role::Auditor,
    ip: "10.57.1.18",
    body: Some("330100"),
};

/// 宁波市国资委's auditor: sees the enterprises of 宁波 and its districts only.
pub const NINGBO_AUDITOR: StaffAccount = StaffAccount {
    email: "auditor.ningbo@exchange.demo.example",
    password: AUDITOR_PASSWORD,
    name: "孙涛（宁波市国资委审计）",
    role: Role::Auditor,
    ip: "10.74.2.26",
    body: Some("330200"),
};

pub const ADMIN: StaffAccount = StaffAccount {
    email: "admin@exchange.demo.example",
    password: ADMIN_PASSWORD,
    name: "陈立（平台管理员）",
    role: Role::Admin,
    ip: "10.35.8.2",
    body: None,
};

pub const STAFF: [StaffAccount; 5] = [OPERATOR, AUDITOR, HANGZHOU_AUDITOR, NINGBO_AUDITOR, ADMIN];

/// The three sellers (转让方 / 增资企业).
pub const ENTERPRISES: [PartyAccount; 3] = [
    PartyAccount {
        email: "lin.xiaofeng@xihu-capital.demo.example",
        name: "林晓峰",
        phone: "+86 571 8761 2301",
        organization: "杭州西湖国有资本运营有限公司",
        credit_code_body: "91330106MA2Y7K3N8",
        ip: "218.108.131.20",
        body: Some("330106"),
    },
    PartyAccount {
        email: "zheng.hui@yongjiang-industry.demo.example",
        name: "郑辉",
        phone: "+86 574 8332 7410",
        organization: "宁波甬江工业投资集团有限公司",
        credit_code_body: "91330200MA2XQ4B6R",
        ip: "60.190.140.33",
        body: Some("330200"),
    },
    PartyAccount {
        email: "huang.min@zj-logistics.demo.example",
        name: "黄敏",
        phone: "+86 571 8806 5522",
        organization: "浙江交通物流发展集团有限公司",
        credit_code_body: "91330000MA32HJ7L5",
        ip: "218.108.152.47",
        body: None,
    },
];

/// The eight bidders (意向受让方). Two share an e-mail domain (兴禾) and two a phone number,
/// so the related-bidder alerts have something to find.
pub const BIDDERS: [PartyAccount; 8] = [
    PartyAccount {
        email: "chen.hong@haihong-invest.demo.example",
        name: "陈鸿",
        phone: "+86 138 0501 1101",
        organization: "浙江海泓投资有限公司",
        credit_code_body: "91330100MA8RTN2K4",
        ip: "203.0.113.11",
        body: None,
    },
    PartyAccount {
        email: "wu.lei@lucheng-capital.demo.example",
        name: "吴磊",
        phone: "+86 139 5770 2202",
        organization: "温州鹿城资本管理有限公司",
        credit_code_body: "91330300MA2Y9PL71",
        ip: "203.0.113.12",
        body: None,
    },
    PartyAccount {
        email: "cai.jianguo@jiaojiang-group.demo.example",
        name: "蔡建国",
        phone: "+86 135 9760 3303",
        organization: "台州椒江实业集团有限公司",
        credit_code_body: "91331000MA31W8HQ2",
        ip: "203.0.113.13",
        body: None,
    },
    PartyAccount {
        email: "zhang.yu@qiantang-fund.demo.example",
        name: "张宇",
        phone: "+86 136 0571 4404",
        organization: "杭州钱塘产业投资合伙企业（有限合伙）",
        credit_code_body: "91330100MA8T3UG59",
        ip: "203.0.113.14",
        body: None,
    },
    PartyAccount {
        email: "liu.yang@xinghe-group.demo.example",
        name: "刘洋",
        phone: "+86 137 0573 5505",
        organization: "嘉兴兴禾建设发展有限公司",
        credit_code_body: "91330400MA2XW6D83",
        ip: "203.0.113.15",
        body: None,
    },
    PartyAccount {
        email: "li.na@xinghe-group.demo.example",
        name: "李娜",
        phone: "+86 158 0573 6606",
        organization: "嘉兴兴禾城市服务有限公司",
        credit_code_body: "91330400MA8U1CK46",
        ip: "203.0.113.16",
        body: None,
    },
    PartyAccount {
        email: "qiu.qiang@hongtudi-mining.demo.example",
        name: "邱强",
        phone: "+86 138 0570 7707",
        organization: "衢州红土地矿业开发有限公司",
        credit_code_body: "91330800MA31L2P97",
        ip: "198.51.100.27",
        body: None,
    },
    PartyAccount {
        email: "luo.wen@lvyuan-forestry.demo.example",
        name: "罗文",
        phone: "+86 138 0570 7707",
        organization: "丽水绿源林业发展有限公司",
        credit_code_body: "91331100MA2Y3RB15",
        ip: "198.51.100.48",
        body: None,
    },
];

/// Bidders by name, for reading the plans.
const CHEN: usize = 0;
const WU: usize = 1;
const CAI: usize = 2;
const ZHANG: usize = 3;
const LIU: usize = 4;
const LI: usize = 5;
const QIU: usize = 6;
const LUO: usize = 7;

/// Sellers by name.
const XIHU: usize = 0;
const YONGJIANG: usize = 1;
const ZJ_LOGISTICS: usize = 2;

/// The title of the live auction (the simulated bidders' listing).
pub const LIVE_TITLE: &str = "杭州某国有企业100%股权转让";

/// When a step happens. Wall-clock times are Beijing time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum When {
    /// On the n-th working day before today (n ≥ 1), at hh:mm.
    DaysAgo(u32, (u32, u32)),
    /// n working days after the previous step's day (0: the same day), at hh:mm.
    Next(u32, (u32, u32)),
    /// This long after the previous step.
    Later(Duration),
    /// This long after the current disclosure period ends.
    AfterDisclosure(Duration),
    /// This long after the auction starts.
    AfterStart(Duration),
    /// This long after the auction's free bidding period ends.
    AfterFreePeriod(Duration),
    /// This long after the auction's current end.
    AfterAuction(Duration),
    /// This long before the demo starts.
    Before(Duration),
}

/// What happens to a listing, through which use case.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Act {
    /// The seller drafts it.
    Create,
    Submit,
    /// The operator returns it with a comment.
    Return(&'static str),
    /// The operator approves it: disclosure starts.
    Approve,
    /// A bidder registers intent.
    Register(usize),
    Qualify(usize),
    Reject(usize, &'static str),
    /// The operator confirms a bidder's deposit.
    PayDeposit(usize),
    /// The end of disclosure is decided (what the scheduler does).
    Decide,
    /// The operator schedules the auction to start at the given time (relative to this step).
    Schedule(When),
    /// A bidder bids the price (or, first, the start price) plus this many increments.
    Bid(usize, u32),
    /// The countdown ran out (what the scheduler does).
    CloseAuction,
    /// The single eligible bidder quotes the listing price plus this many increments.
    Quote(usize, u32),
    Contract,
    Payment,
    Announce,
    CloseDeal,
    Suspend(&'static str),
    Terminate(&'static str),
    /// The seller relists after no sale at this percentage of the appraised value.
    Relist(i64),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Step {
    pub when: When,
    pub act: Act,
}

/// One listing of the data set and what happens to it.
#[derive(Debug, Clone)]
pub struct ListingPlan {
    pub seller: usize,
    pub kind: ListingKind,
    pub title: &'static str,
    pub description: &'static str,
    pub appraised_yuan: i64,
    pub price_yuan: i64,
    pub deposit_yuan: i64,
    pub increment_yuan: i64,
    pub disclosure_working_days: u32,
    pub free_bidding_seconds: u32,
    pub countdown_seconds: u32,
    /// How many months before its creation the appraisal's base date lies.
    pub appraisal_months_before: u32,
    /// The state the listing is left in.
    pub ends_in: ListingStatus,
    pub steps: Vec<Step>,
}

impl ListingPlan {
    pub fn money(yuan: i64) -> Money {
        Money::from_fen(yuan.saturating_mul(100))
    }

    pub fn is_live(&self) -> bool {
        self.ends_in == ListingStatus::Bidding
    }
}

/// The policy numbers the plans adapt to (they differ between profiles).
#[derive(Debug, Clone)]
pub struct Periods {
    pub listing: ListingPolicy,
    pub announcement_min_working_days: u32,
}

impl Periods {
    /// The disclosure period a listing announces: the regulation's figure for its kind and
    /// price, or the configured minimum if that is longer (the test profile's is 0).
    pub fn disclosure_days(&self, kind: ListingKind, price_yuan: i64) -> u32 {
        let p = &self.listing;
        let price = ListingPlan::money(price_yuan);
        let regulation = match kind {
            ListingKind::EquityTransfer => 20,
            ListingKind::CapitalIncrease => 40,
            ListingKind::AssetTransfer if price >= p.asset_large_threshold => 20,
            ListingKind::AssetTransfer if price >= p.asset_medium_threshold => 10,
            ListingKind::AssetTransfer => 5,
        };
        p.min_disclosure_days(kind, price).max(regulation)
    }

    /// Working days a deal announcement stays up before the deal closes.
    pub fn announcement_days(&self) -> u32 {
        self.announcement_min_working_days.max(5)
    }

    pub fn free_bidding(&self, wanted: u32) -> u32 {
        wanted.clamp(
            self.listing.free_bidding_min_seconds,
            self.listing.free_bidding_max_seconds,
        )
    }

    pub fn countdown(&self, wanted: u32) -> u32 {
        wanted.clamp(
            self.listing.countdown_min_seconds,
            self.listing.countdown_max_seconds,
        )
    }
}

fn mins(n: i64) -> Duration {
    Duration::minutes(n)
}

fn secs(n: i64) -> Duration {
    Duration::seconds(n)
}

fn step(when: When, act: Act) -> Step {
    Step { when, act }
}

/// Drafted the afternoon before, submitted, and approved on the n-th working day before today.
fn approved_days_ago(n: u32) -> Vec<Step> {
    vec![
        step(When::DaysAgo(n + 1, (15, 10)), Act::Create),
        step(When::Later(mins(35)), Act::Submit),
        step(When::Next(1, (10, 0)), Act::Approve),
    ]
}

/// Bidders register on the next working day, are qualified the day after and (if `pay`)
/// have their deposits confirmed the day after that.
fn enrol(bidders: &[usize], pay: &[usize]) -> Vec<Step> {
    let mut steps = Vec::new();
    for (i, b) in bidders.iter().enumerate() {
        let when = if i == 0 {
            When::Next(1, (9, 40))
        } else {
            When::Later(mins(47))
        };
        steps.push(step(when, Act::Register(*b)));
    }
    for (i, b) in bidders.iter().enumerate() {
        let when = if i == 0 {
            When::Next(1, (10, 20))
        } else {
            When::Later(mins(6))
        };
        steps.push(step(when, Act::Qualify(*b)));
    }
    for (i, b) in pay.iter().enumerate() {
        let when = if i == 0 {
            When::Next(1, (14, 5))
        } else {
            When::Later(mins(18))
        };
        steps.push(step(when, Act::PayDeposit(*b)));
    }
    steps
}

/// Disclosure ends and is decided a minute later; the operator schedules the auction the
/// next working day, to start the working day after at 10:00.
fn decided_then_scheduled() -> Vec<Step> {
    vec![
        step(When::AfterDisclosure(mins(1)), Act::Decide),
        step(
            When::Next(1, (9, 30)),
            Act::Schedule(When::Next(1, (10, 0))),
        ),
    ]
}

/// Bids `(bidder, increments)` in the free period (from a minute after the start, a few
/// minutes apart), then in the countdown (from 30 s after it starts, under a minute apart),
/// and the close when the last countdown runs out.
fn auction(free: &[(usize, u32)], countdown: &[(usize, u32)]) -> Vec<Step> {
    let mut steps = Vec::new();
    for (i, (b, k)) in free.iter().enumerate() {
        let at = 60 + 150 * i64::try_from(i).unwrap_or(0);
        steps.push(step(When::AfterStart(secs(at)), Act::Bid(*b, *k)));
    }
    for (i, (b, k)) in countdown.iter().enumerate() {
        let when = if i == 0 {
            When::AfterFreePeriod(secs(30))
        } else {
            When::Later(secs(41 + 7 * i64::try_from(i).unwrap_or(0)))
        };
        steps.push(step(when, Act::Bid(*b, *k)));
    }
    steps.push(step(When::AfterAuction(secs(2)), Act::CloseAuction));
    steps
}

fn join(parts: Vec<Vec<Step>>) -> Vec<Step> {
    parts.into_iter().flatten().collect()
}

struct Terms {
    seller: usize,
    kind: ListingKind,
    title: &'static str,
    description: &'static str,
    appraised: i64,
    price: i64,
    deposit: i64,
    increment: i64,
    free: u32,
}

fn plan(p: &Periods, t: Terms, ends_in: ListingStatus, steps: Vec<Step>) -> ListingPlan {
    ListingPlan {
        seller: t.seller,
        kind: t.kind,
        title: t.title,
        description: t.description,
        appraised_yuan: t.appraised,
        price_yuan: t.price,
        deposit_yuan: t.deposit,
        increment_yuan: t.increment,
        disclosure_working_days: p.disclosure_days(t.kind, t.price),
        free_bidding_seconds: p.free_bidding(t.free),
        countdown_seconds: p.countdown(300),
        appraisal_months_before: 2,
        ends_in,
        steps,
    }
}

/// Every listing of the data set, in the order they are created.
pub fn listings(p: &Periods) -> Vec<ListingPlan> {
    vec![
        closed(p),
        announced(p),
        paid(p),
        contract_signed(p),
        awarded(p),
        failed(p),
        no_sale(p),
        relisted(p),
        negotiation(p),
        auction_scheduled(p),
        bidding(p),
        disclosure_with_registrations(p),
        capital_increase(p),
        suspended(p),
        terminated(p),
        returned(p),
        submitted(p),
        draft(p),
    ]
}

/// Beijing wall-clock time.
pub fn hm((h, m): (u32, u32)) -> NaiveTime {
    NaiveTime::from_hms_opt(h, m, 0).unwrap_or(NaiveTime::MIN)
}
