//! The demo's data set as plain data: the accounts (with their published passwords), the
//! organisations, and one plan per listing — what happens to it and when, in working days
//! before today — so that together the listings show every state of the state machine.
//! Nothing here touches the database; `seed` carries the plans out through the use cases.

use chrono::{Duration, NaiveTime};

use crate::domain::Role;
use crate::domain::listing::{ListingKind, ListingPolicy, ListingStatus};
use crate::domain::money::Money;

/// A staff account (made as `asset-exchange user create` makes them).
#[derive(Debug, Clone, Copy)]
pub struct StaffAccount {
    pub email: &'static str,
    pub password: &'static str,
    pub name: &'static str,
    pub role: Role,
    /// The address the account acts from (recorded in the audit trail).
    pub ip: &'static str,
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
};

pub const AUDITOR: StaffAccount = StaffAccount {
    email: "auditor@exchange.demo.example",
    password: AUDITOR_PASSWORD,
    name: "周敏（国资监管审计）",
    role: Role::Auditor,
    ip: "10.35.9.14",
};

pub const ADMIN: StaffAccount = StaffAccount {
    email: "admin@exchange.demo.example",
    password: ADMIN_PASSWORD,
    name: "陈立（平台管理员）",
    role: Role::Admin,
    ip: "10.35.8.2",
};

pub const STAFF: [StaffAccount; 3] = [OPERATOR, AUDITOR, ADMIN];

/// The three sellers (转让方 / 增资企业).
pub const ENTERPRISES: [PartyAccount; 3] = [
    PartyAccount {
        email: "lin.xiaofeng@rongcheng-capital.demo.example",
        name: "林晓峰",
        phone: "+86 591 8761 2301",
        organization: "福州榕城国有资本运营有限公司",
        credit_code_body: "91350100MA2Y7K3N8",
        ip: "218.85.131.20",
    },
    PartyAccount {
        email: "zheng.hui@minjiang-industry.demo.example",
        name: "郑辉",
        phone: "+86 591 8332 7410",
        organization: "闽江工业投资集团有限公司",
        credit_code_body: "91350100MA2XQ4B6R",
        ip: "218.85.140.33",
    },
    PartyAccount {
        email: "huang.min@haixia-logistics.demo.example",
        name: "黄敏",
        phone: "+86 591 8806 5522",
        organization: "海峡交通物流发展集团有限公司",
        credit_code_body: "91350000MA32HJ7L5",
        ip: "218.85.152.47",
    },
];

/// The eight bidders (意向受让方). Two share an e-mail domain (兴化) and two a phone number,
/// so the related-bidder alerts have something to find.
pub const BIDDERS: [PartyAccount; 8] = [
    PartyAccount {
        email: "chen.hong@haihong-invest.demo.example",
        name: "陈鸿",
        phone: "+86 138 0501 1101",
        organization: "福建海泓投资有限公司",
        credit_code_body: "91350100MA8RTN2K4",
        ip: "203.0.113.11",
    },
    PartyAccount {
        email: "wu.lei@ludao-capital.demo.example",
        name: "吴磊",
        phone: "+86 139 5920 2202",
        organization: "厦门鹭岛资本管理有限公司",
        credit_code_body: "91350200MA2Y9PL71",
        ip: "203.0.113.12",
    },
    PartyAccount {
        email: "cai.jianguo@citong-group.demo.example",
        name: "蔡建国",
        phone: "+86 135 9950 3303",
        organization: "泉州刺桐实业集团有限公司",
        credit_code_body: "91350500MA31W8HQ2",
        ip: "203.0.113.13",
    },
    PartyAccount {
        email: "zhang.yu@mindu-fund.demo.example",
        name: "张宇",
        phone: "+86 136 0591 4404",
        organization: "福州闽都产业投资合伙企业（有限合伙）",
        credit_code_body: "91350100MA8T3UG59",
        ip: "203.0.113.14",
    },
    PartyAccount {
        email: "liu.yang@xinghua-group.demo.example",
        name: "刘洋",
        phone: "+86 137 0594 5505",
        organization: "莆田兴化建设发展有限公司",
        credit_code_body: "91350300MA2XW6D83",
        ip: "203.0.113.15",
    },
    PartyAccount {
        email: "li.na@xinghua-group.demo.example",
        name: "李娜",
        phone: "+86 158 0594 6606",
        organization: "莆田兴化城市服务有限公司",
        credit_code_body: "91350300MA8U1CK46",
        ip: "203.0.113.16",
    },
    PartyAccount {
        email: "qiu.qiang@hongtudi-mining.demo.example",
        name: "邱强",
        phone: "+86 138 0597 7707",
        organization: "龙岩红土地矿业开发有限公司",
        credit_code_body: "91350800MA31L2P97",
        ip: "198.51.100.27",
    },
    PartyAccount {
        email: "luo.wen@lvyuan-forestry.demo.example",
        name: "罗文",
        phone: "+86 138 0597 7707",
        organization: "三明绿源林业发展有限公司",
        credit_code_body: "91350400MA2Y3RB15",
        ip: "198.51.100.48",
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
const RONGCHENG: usize = 0;
const MINJIANG: usize = 1;
const HAIXIA: usize = 2;

/// The title of the live auction (the simulated bidders' listing).
pub const LIVE_TITLE: &str = "福州某国有企业100%股权转让";

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
    use ListingKind::{
        AssetTransfer as Asset, CapitalIncrease as Capital, EquityTransfer as Equity,
    };
    use ListingStatus as S;
    let days = |kind, price| p.disclosure_days(kind, price);
    let mut out = Vec::new();

    // Closed: auctioned, signed, paid, announced and closed after the announcement period.
    let d = days(Equity, 42_000_000);
    let x = d + p.announcement_days() + 9;
    out.push(plan(
        p,
        Terms {
            seller: RONGCHENG,
            kind: Equity,
            title: "福州某国有企业所持某科技公司60%股权转让",
            description: "标的企业成立于2009年，主营工业软件研发与系统集成，注册资本5000万元，转让方持有其60%股权。\
                经审计，标的企业2025年度营业收入1.86亿元、净利润2130万元。评估基准日标的企业股东全部权益评估值6975万元，\
                对应60%股权评估值4185万元。受让方须为依法设立并有效存续的企业法人，注册资本不低于1亿元，\
                具有良好的财务状况和商业信用；本项目不接受联合体受让。信息披露期满产生两个及以上符合条件的意向受让方的，\
                采取网络竞价方式确定受让方。",
            appraised: 41_850_000,
            price: 42_000_000,
            deposit: 8_000_000,
            increment: 200_000,
            free: 1800,
        },
        S::Closed,
        join(vec![
            approved_days_ago(x),
            enrol(&[CHEN, ZHANG, LIU], &[CHEN, ZHANG, LIU]),
            decided_then_scheduled(),
            auction(
                &[(ZHANG, 0), (CHEN, 1), (LIU, 2)],
                &[(ZHANG, 1), (CHEN, 1), (ZHANG, 2)],
            ),
            vec![
                step(When::Next(2, (15, 0)), Act::Contract),
                step(When::Next(2, (11, 0)), Act::Payment),
                step(When::Next(1, (9, 0)), Act::Announce),
                step(When::Next(p.announcement_days() + 1, (10, 0)), Act::CloseDeal),
            ],
        ]),
    ));

    // Announced: auctioned between two bidders that share a phone number.
    let d = days(Asset, 36_500_000);
    let x = d + 9;
    out.push(plan(
        p,
        Terms {
            seller: HAIXIA,
            kind: Asset,
            title: "某国有企业位于马尾区的工业厂房及土地使用权转让",
            description: "标的位于福州市马尾区快安片区，包括工业用地使用权一宗（面积31460平方米，出让性质，\
                剩余使用年限31年）及地上钢结构厂房、综合楼等建筑物共5栋（建筑面积合计18720平方米）。\
                标的现状为空置，按现状整体转让。受让方须承诺受让后用于工业用途，\
                并承担交易过程中产生的税费。",
            appraised: 36_420_000,
            price: 36_500_000,
            deposit: 7_000_000,
            increment: 200_000,
            free: 1800,
        },
        S::Announced,
        join(vec![
            approved_days_ago(x),
            enrol(&[LUO, QIU], &[LUO, QIU]),
            decided_then_scheduled(),
            auction(&[(LUO, 0), (QIU, 2)], &[(LUO, 1), (QIU, 1), (LUO, 3)]),
            vec![
                step(When::Next(2, (15, 30)), Act::Contract),
                step(When::Next(2, (10, 40)), Act::Payment),
                step(When::Next(1, (9, 0)), Act::Announce),
            ],
        ]),
    ));

    // Paid: won at the start price with a single bid.
    let d = days(Asset, 460_000);
    let x = d + 6;
    out.push(plan(
        p,
        Terms {
            seller: RONGCHENG,
            kind: Asset,
            title: "某国有企业报废电子设备及办公家具一批转让",
            description: "标的为转让方本部及下属单位报废的台式计算机、服务器、打印复印设备等电子设备共计412台（件），\
                以及办公桌椅、文件柜等办公家具共计236件，存放于福州市晋安区转让方仓库。\
                按现状打包整体转让，受让方须具备废弃电器电子产品处理资质，负责自行拆除、清运。",
            appraised: 452_000,
            price: 460_000,
            deposit: 50_000,
            increment: 2_000,
            free: 1800,
        },
        S::Paid,
        join(vec![
            approved_days_ago(x),
            enrol(&[CAI, LI], &[CAI, LI]),
            decided_then_scheduled(),
            auction(&[(CAI, 0)], &[]),
            vec![
                step(When::Next(1, (15, 0)), Act::Contract),
                step(When::Next(2, (11, 20)), Act::Payment),
            ],
        ]),
    ));

    // Contract signed: a negotiated deal with the single eligible bidder.
    let d = days(Equity, 9_200_000);
    let x = d + 4;
    out.push(plan(
        p,
        Terms {
            seller: MINJIANG,
            kind: Equity,
            title: "某国有企业所持某物流公司20%股权转让",
            description: "标的企业主营公路货运及仓储配送业务，注册资本3000万元。转让方持有其20%股权，\
                本次一次性整体转让。标的企业其他股东已书面放弃优先购买权。\
                意向受让方须具有三年以上物流行业投资或经营经验，并承诺受让后维持标的企业职工队伍稳定。",
            appraised: 9_180_000,
            price: 9_200_000,
            deposit: 1_500_000,
            increment: 50_000,
            free: 1800,
        },
        S::ContractSigned,
        join(vec![
            approved_days_ago(x),
            enrol(&[LUO], &[LUO]),
            vec![
                step(When::AfterDisclosure(mins(1)), Act::Decide),
                step(When::Next(1, (10, 30)), Act::Quote(LUO, 0)),
                step(When::Next(2, (15, 0)), Act::Contract),
            ],
        ]),
    ));

    // Awarded yesterday: the contract is still to be signed.
    let d = days(Asset, 5_600_000);
    let x = d + 3;
    out.push(plan(
        p,
        Terms {
            seller: HAIXIA,
            kind: Asset,
            title: "福州市鼓楼区某住宅房产（3套）转让",
            description: "标的为位于福州市鼓楼区五四路附近某小区的住宅房产3套，建筑面积分别为98.6、102.3、\
                126.4平方米，均已取得不动产权证书，目前空置。3套房产打包整体转让，不接受拆分受让。\
                过户所涉税费由交易双方按照国家有关规定各自承担。",
            appraised: 5_580_000,
            price: 5_600_000,
            deposit: 800_000,
            increment: 20_000,
            free: 1800,
        },
        S::Awarded,
        join(vec![
            approved_days_ago(x),
            enrol(&[WU, QIU], &[WU, QIU]),
            decided_then_scheduled(),
            auction(&[(WU, 0), (QIU, 1)], &[(WU, 2), (QIU, 1), (WU, 1)]),
        ]),
    ));

    // Failed: two eligible bidders, no bid.
    let d = days(Asset, 720_000);
    let x = d + 5;
    out.push(plan(
        p,
        Terms {
            seller: MINJIANG,
            kind: Asset,
            title: "某国有企业淘汰重型货车8台转让",
            description: "标的为转让方所属运输分公司淘汰的重型半挂牵引车8台，2014—2016年注册登记，\
                均已办理停驶手续，存放于福州市闽侯县转让方停车场。按现状整体转让，\
                受让方须自行办理车辆转移登记或报废手续。",
            appraised: 712_000,
            price: 720_000,
            deposit: 100_000,
            increment: 5_000,
            free: 1800,
        },
        S::Failed,
        join(vec![
            approved_days_ago(x),
            enrol(&[ZHANG, LIU], &[ZHANG, LIU]),
            decided_then_scheduled(),
            auction(&[], &[]),
        ]),
    ));

    // No sale: the only registration was rejected.
    let d = days(Asset, 2_350_000);
    let x = d + 4;
    out.push(plan(
        p,
        Terms {
            seller: MINJIANG,
            kind: Asset,
            title: "某国有企业二手生产设备一批（数控机床等86台套）转让",
            description: "标的为转让方原铸造车间关停后闲置的数控车床、加工中心、行车等生产设备共计86台（套），\
                多数购置于2012—2018年，部分设备可正常运转。按现状整体转让，受让方须在成交后30日内\
                自行拆除并清运完毕，拆除过程中的安全责任由受让方承担。",
            appraised: 2_348_000,
            price: 2_350_000,
            deposit: 300_000,
            increment: 10_000,
            free: 1800,
        },
        S::NoSale,
        join(vec![
            approved_days_ago(x),
            vec![
                step(When::Next(2, (14, 30)), Act::Register(WU)),
                step(
                    When::Next(1, (11, 0)),
                    Act::Reject(WU, "未按公告要求提交设备拆除安全施工方案及相应资质证明，不符合受让条件。"),
                ),
                step(When::AfterDisclosure(mins(1)), Act::Decide),
            ],
        ]),
    ));

    // Relisted: no sale in the first round, now in its second round's disclosure at 90 %.
    let d = days(Asset, 4_200_000);
    let x = d + 4;
    out.push(plan(
        p,
        Terms {
            seller: HAIXIA,
            kind: Asset,
            title: "福州市仓山区某临街商铺（建筑面积412平方米）转让",
            description: "标的位于福州市仓山区上渡路，为沿街商业用房一层及二层，建筑面积412平方米，\
                已取得不动产权证书，现有租约将于2027年3月到期，受让方须承继现有租赁关系至租期届满。\
                首次挂牌未征集到意向受让方，本次为第二次挂牌，挂牌价格为评估值的90%。",
            appraised: 4_200_000,
            price: 4_200_000,
            deposit: 500_000,
            increment: 10_000,
            free: 1800,
        },
        S::Disclosure,
        join(vec![
            approved_days_ago(x),
            vec![
                step(When::AfterDisclosure(mins(1)), Act::Decide),
                step(When::Next(1, (10, 0)), Act::Relist(90)),
                step(When::Next(1, (10, 0)), Act::Approve),
                step(When::Next(1, (15, 45)), Act::Register(LUO)),
            ],
        ]),
    ));

    // Negotiation: one eligible bidder; its quote is awaited.
    let d = days(Equity, 15_800_000);
    let x = d + 2;
    out.push(plan(
        p,
        Terms {
            seller: MINJIANG,
            kind: Equity,
            title: "某国有控股公司35%股权转让",
            description: "标的企业为闽江工业投资集团有限公司控股的精密铸造企业，注册资本8000万元，\
                转让方持有其35%股权。本次转让完成后转让方仍为标的企业第一大股东。\
                意向受让方须为在中国境内依法注册的企业法人，近三年无重大违法违规记录，\
                并认可标的企业现有经营管理团队。",
            appraised: 15_760_000,
            price: 15_800_000,
            deposit: 3_000_000,
            increment: 50_000,
            free: 1800,
        },
        S::Negotiation,
        join(vec![
            approved_days_ago(x),
            enrol(&[ZHANG], &[ZHANG]),
            vec![step(When::AfterDisclosure(mins(1)), Act::Decide)],
        ]),
    ));

    // Auction scheduled: starts the next working day.
    let d = days(Asset, 126_000_000);
    let x = d + 2;
    out.push(plan(
        p,
        Terms {
            seller: RONGCHENG,
            kind: Asset,
            title: "福州某国有企业商业综合体（建筑面积2.3万平方米）转让",
            description: "标的位于福州市台江区江滨中大道，为地上8层、地下2层的商业综合体，总建筑面积23160平方米，\
                土地用途为商服用地，剩余使用年限24年。目前一至三层出租率约78%，年租金收入约860万元。\
                受让方须承继现有全部租赁合同，并具备商业物业运营管理能力。",
            appraised: 125_800_000,
            price: 126_000_000,
            deposit: 20_000_000,
            increment: 500_000,
            free: 1800,
        },
        S::AuctionScheduled,
        join(vec![
            approved_days_ago(x),
            enrol(&[CHEN, CAI, LUO], &[CHEN, CAI]),
            vec![
                step(When::AfterDisclosure(mins(1)), Act::Decide),
                step(
                    When::DaysAgo(1, (9, 30)),
                    Act::Schedule(When::Next(2, (10, 0))),
                ),
            ],
        ]),
    ));

    // Bidding: the live auction, started a minute before the demo starts.
    let d = days(Equity, 8_600_000);
    let x = d + 2;
    out.push(plan(
        p,
        Terms {
            seller: RONGCHENG,
            kind: Equity,
            title: LIVE_TITLE,
            description: "标的企业为福州市属国有全资企业，主营市政工程设计咨询，注册资本2000万元，\
                现有职工96人。转让方拟公开转让所持标的企业100%股权。经审计，标的企业2025年末资产总额\
                1.12亿元、负债总额0.31亿元。受让方须承诺受让后三年内不变更标的企业注册地，\
                妥善安置现有职工，并同意由标的企业继续履行现有全部业务合同。",
            appraised: 8_563_000,
            price: 8_600_000,
            deposit: 1_000_000,
            increment: 10_000,
            free: 600,
        },
        S::Bidding,
        join(vec![
            approved_days_ago(x),
            enrol(&[CHEN, WU, CAI, ZHANG], &[CHEN, WU, CAI, ZHANG]),
            vec![
                step(When::AfterDisclosure(mins(1)), Act::Decide),
                step(
                    When::DaysAgo(1, (16, 0)),
                    Act::Schedule(When::Before(secs(60))),
                ),
                step(When::Before(secs(45)), Act::Bid(CHEN, 0)),
                step(When::Before(secs(20)), Act::Bid(CAI, 2)),
            ],
        ]),
    ));

    // Disclosure with registrations, two of them related (same e-mail domain).
    out.push(plan(
        p,
        Terms {
            seller: RONGCHENG,
            kind: Equity,
            title: "泉州某国有企业51%股权转让",
            description: "标的企业位于泉州市丰泽区，主营建筑材料生产与销售，注册资本1.2亿元。\
                转让方持有其51%股权，本次转让后不再持有标的企业股权。标的企业现有职工218人，\
                职工安置方案已经职工代表大会审议通过。意向受让方须具备建材行业经营经验，\
                且最近一期经审计净资产不低于3亿元。",
            appraised: 28_560_000,
            price: 28_600_000,
            deposit: 5_000_000,
            increment: 100_000,
            free: 1800,
        },
        S::Disclosure,
        join(vec![
            approved_days_ago(8),
            enrol(&[LIU, LI, WU], &[LIU, LI]),
        ])
        .into_iter()
        .filter(|s| s.act != Act::Qualify(WU))
        .collect(),
    ));

    // A capital increase in its long (40 working days) disclosure.
    out.push(plan(
        p,
        Terms {
            seller: HAIXIA,
            kind: Capital,
            title: "某国有新能源科技公司增资扩股项目",
            description: "增资企业主营储能电池系统集成及光伏电站运维，注册资本2亿元，为海峡交通物流发展集团有限公司全资子公司。\
                本次拟新增注册资本不超过1亿元，引入1—2家战略投资者，募集资金用于储能电池生产线建设。\
                增资完成后原股东持股比例不低于60%。意向投资方须具有新能源产业背景或相关产业资源。",
            appraised: 120_000_000,
            price: 120_000_000,
            deposit: 12_000_000,
            increment: 1_000_000,
            free: 1800,
        },
        S::Disclosure,
        join(vec![
            approved_days_ago(15),
            vec![
                step(When::Next(3, (10, 15)), Act::Register(CHEN)),
                step(When::Next(2, (14, 0)), Act::Qualify(CHEN)),
                step(When::Next(4, (9, 50)), Act::Register(ZHANG)),
            ],
        ]),
    ));

    // Suspended during disclosure after an objection.
    out.push(plan(
        p,
        Terms {
            seller: MINJIANG,
            kind: Asset,
            title: "某国有企业位于长乐区的加油站资产转让",
            description: "标的为位于福州市长乐区国道旁的加油站一座，包括土地使用权（面积2680平方米）、\
                站房、罩棚、油罐及加油设备等。标的现由第三方承包经营，承包合同将于挂牌期满前终止。\
                受让方须具备成品油零售经营资格或承诺在受让后依法取得。",
            appraised: 3_260_000,
            price: 3_300_000,
            deposit: 500_000,
            increment: 10_000,
            free: 1800,
        },
        S::Suspended,
        join(vec![
            approved_days_ago(6),
            vec![
                step(When::Next(1, (11, 10)), Act::Register(CHEN)),
                step(
                    When::DaysAgo(2, (16, 20)),
                    Act::Suspend("收到第三方关于标的土地使用权归属的书面异议，暂停信息披露，待转让方核实后恢复。"),
                ),
            ],
        ]),
    ));

    // Terminated during disclosure at the seller's request.
    out.push(plan(
        p,
        Terms {
            seller: HAIXIA,
            kind: Equity,
            title: "某国有文化传媒公司100%股权转让",
            description: "标的企业主营户外广告及会展服务，注册资本1000万元，转让方持有其100%股权。\
                标的企业持有福州市区户外广告位经营权23处。受让方须承诺受让后继续履行标的企业\
                现有广告发布合同，并妥善安置现有职工。",
            appraised: 5_160_000,
            price: 5_200_000,
            deposit: 1_000_000,
            increment: 20_000,
            free: 1800,
        },
        S::Terminated,
        join(vec![
            approved_days_ago(12),
            vec![
                step(When::Next(2, (9, 55)), Act::Register(QIU)),
                step(
                    When::DaysAgo(4, (17, 30)),
                    Act::Terminate(
                        "转让方上级国资监管机构批复撤回本次转让事项，经转让方申请，终止挂牌。",
                    ),
                ),
            ],
        ]),
    ));

    // Returned to the seller for more documents.
    out.push(plan(
        p,
        Terms {
            seller: RONGCHENG,
            kind: Asset,
            title: "福州某国有企业仓储用房及配套土地使用权转让",
            description: "标的位于福州市晋安区鼓山镇，包括仓储用房3栋（建筑面积合计6840平方米）及配套土地使用权\
                （面积9120平方米）。标的现为转让方自用，成交后3个月内腾空交付。",
            appraised: 6_830_000,
            price: 6_900_000,
            deposit: 1_000_000,
            increment: 20_000,
            free: 1800,
        },
        S::Returned,
        vec![
            step(When::DaysAgo(5, (10, 0)), Act::Create),
            step(When::Later(mins(70)), Act::Submit),
            step(
                When::Next(1, (15, 0)),
                Act::Return("评估报告未附土地使用权证及规划许可文件，请补充后重新提交；挂牌公告中交付期限表述不清，请明确。"),
            ),
        ],
    ));

    // Submitted, waiting for review.
    out.push(plan(
        p,
        Terms {
            seller: HAIXIA,
            kind: Capital,
            title: "某国有交通物流企业增资扩股项目（引入战略投资者）",
            description: "增资企业为海峡交通物流发展集团有限公司控股的港口物流企业，注册资本3亿元。\
                本次拟新增注册资本不超过1.5亿元，募集资金用于冷链物流园区建设。\
                意向投资方须为国内大型物流、港航或供应链企业。",
            appraised: 68_000_000,
            price: 68_000_000,
            deposit: 6_800_000,
            increment: 200_000,
            free: 1800,
        },
        S::Submitted,
        vec![
            step(When::DaysAgo(2, (14, 0)), Act::Create),
            step(When::Next(1, (9, 30)), Act::Submit),
        ],
    ));

    // Draft, not yet submitted.
    out.push(plan(
        p,
        Terms {
            seller: MINJIANG,
            kind: Asset,
            title: "福州某国有企业闲置公务车辆一批（12台）转让",
            description: "标的为公务用车制度改革后封存的公务车辆12台，包括轿车9台、商务车3台，\
                2015—2019年注册登记，车况详见车辆检测报告。",
            appraised: 386_000,
            price: 386_000,
            deposit: 50_000,
            increment: 2_000,
            free: 1800,
        },
        S::Draft,
        vec![step(When::DaysAgo(1, (16, 40)), Act::Create)],
    ));

    out
}

/// Beijing wall-clock time.
pub fn hm((h, m): (u32, u32)) -> NaiveTime {
    NaiveTime::from_hms_opt(h, m, 0).unwrap_or(NaiveTime::MIN)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::account;
    use crate::domain::credit_code::{CreditCode, check_character};
    use crate::domain::listing::{Terms as ListingTerms, check_terms};
    use std::collections::BTreeSet;

    fn periods(min: u32, countdown_max: u32) -> Periods {
        Periods {
            listing: ListingPolicy {
                min_disclosure_equity_transfer: min,
                min_disclosure_capital_increase: min,
                min_disclosure_asset_large: min,
                min_disclosure_asset_medium: min,
                min_disclosure_asset_small: min,
                max_disclosure_working_days: 250,
                asset_large_threshold: Money::from_fen(1_000_000_000),
                asset_medium_threshold: Money::from_fen(100_000_000),
                deposit_max_percent: 30,
                relist_floor_percent: 90,
                appraisal_valid_months: 12,
                reappraisal_after_months: 12,
                free_bidding_min_seconds: 60,
                free_bidding_max_seconds: 86_400,
                countdown_min_seconds: 60,
                countdown_max_seconds: countdown_max,
            },
            announcement_min_working_days: 0,
        }
    }

    #[test]
    fn every_listing_status_is_the_end_of_some_plan() {
        let plans = listings(&periods(20, 300));
        let ends: BTreeSet<&str> = plans.iter().map(|l| l.ends_in.as_str()).collect();
        for s in ListingStatus::ALL {
            assert!(
                ends.contains(s.as_str()),
                "no listing ends in {}",
                s.as_str()
            );
        }
        assert_eq!(plans.iter().filter(|l| l.is_live()).count(), 1);
        assert!(plans.iter().any(|l| l.is_live() && l.title == LIVE_TITLE));
    }

    #[test]
    fn every_kind_and_asset_price_band_is_listed() {
        let p = periods(0, 300);
        let plans = listings(&p);
        let large = p.listing.asset_large_threshold;
        let medium = p.listing.asset_medium_threshold;
        let price = |l: &ListingPlan| ListingPlan::money(l.price_yuan);
        for kind in ListingKind::ALL {
            assert!(plans.iter().any(|l| l.kind == kind), "{kind:?}");
        }
        let assets: Vec<_> = plans
            .iter()
            .filter(|l| l.kind == ListingKind::AssetTransfer)
            .collect();
        assert!(assets.iter().any(|l| price(l) >= large));
        assert!(
            assets
                .iter()
                .any(|l| price(l) >= medium && price(l) < large)
        );
        assert!(assets.iter().any(|l| price(l) < medium));
    }

    #[test]
    fn every_listing_satisfies_the_listing_rules_of_both_profiles() {
        for p in [periods(20, 300), periods(0, 300)] {
            let today = chrono::NaiveDate::from_ymd_opt(2026, 11, 27).unwrap();
            for l in listings(&p) {
                let terms = ListingTerms {
                    kind: l.kind,
                    appraised_value: ListingPlan::money(l.appraised_yuan),
                    appraisal_date: today - chrono::Days::new(60),
                    listing_price: ListingPlan::money(l.price_yuan),
                    deposit: ListingPlan::money(l.deposit_yuan),
                    increment: ListingPlan::money(l.increment_yuan),
                    disclosure_working_days: l.disclosure_working_days,
                    free_bidding_seconds: l.free_bidding_seconds,
                    countdown_seconds: l.countdown_seconds,
                    consent_document: None,
                    round: 1,
                };
                check_terms(&p.listing, &terms, today)
                    .unwrap_or_else(|v| panic!("{}: {v:?}", l.title));
                assert!(l.disclosure_working_days >= 5, "{}", l.title);
            }
        }
    }

    #[test]
    fn the_live_auction_has_ten_free_minutes_and_a_five_minute_countdown() {
        let plans = listings(&periods(20, 300));
        let live = plans.iter().find(|l| l.is_live()).unwrap();
        assert_eq!(live.free_bidding_seconds, 600);
        assert_eq!(live.countdown_seconds, 300);
        let bidders: BTreeSet<usize> = live
            .steps
            .iter()
            .filter_map(|s| match s.act {
                Act::PayDeposit(b) => Some(b),
                _ => None,
            })
            .collect();
        assert_eq!(bidders.len(), 4);
    }

    #[test]
    fn periods_are_clamped_to_the_configured_bounds() {
        let plans = listings(&periods(0, 120));
        assert!(plans.iter().all(|l| l.countdown_seconds == 120));
    }

    #[test]
    fn credit_codes_are_valid_and_unique() {
        let mut seen = BTreeSet::new();
        for a in ENTERPRISES.iter().chain(BIDDERS.iter()) {
            let check = check_character(a.credit_code_body).unwrap();
            let code = format!("{}{check}", a.credit_code_body);
            assert!(CreditCode::parse(&code).is_ok(), "{code}");
            assert!(seen.insert(code));
        }
    }

    #[test]
    fn accounts_pass_the_account_rules_and_are_unique() {
        let mut emails = BTreeSet::new();
        for s in STAFF {
            assert!(account::normalize_email(s.email).is_ok());
            assert!(account::check_password(s.password, s.email).is_ok());
            assert!(s.role.is_staff());
            assert!(emails.insert(s.email));
        }
        for a in ENTERPRISES.iter().chain(BIDDERS.iter()) {
            assert!(account::normalize_email(a.email).is_ok());
            assert!(account::check_phone(a.phone).is_ok());
            assert!(account::check_password(SELLER_PASSWORD, a.email).is_ok());
            assert!(account::check_password(BIDDER_PASSWORD, a.email).is_ok());
            assert!(emails.insert(a.email));
            assert!(a.email.ends_with(".demo.example"));
        }
    }

    #[test]
    fn some_bidders_share_an_email_domain_or_a_phone() {
        let domain = |e: &str| e.split_once('@').map(|(_, d)| d.to_string());
        let domains: Vec<_> = BIDDERS.iter().filter_map(|b| domain(b.email)).collect();
        let distinct: BTreeSet<_> = domains.iter().collect();
        assert!(distinct.len() < domains.len());
        let phones: BTreeSet<_> = BIDDERS.iter().map(|b| b.phone).collect();
        assert!(phones.len() < BIDDERS.len());
    }

    #[test]
    fn titles_are_unique() {
        let plans = listings(&periods(20, 300));
        let titles: BTreeSet<_> = plans.iter().map(|l| l.title).collect();
        assert_eq!(titles.len(), plans.len());
    }
}
