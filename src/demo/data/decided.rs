//! The listings whose disclosure has ended: closed, announced, paid, signed, awarded, failed,
//! no sale, relisted, in negotiation, scheduled and the live auction.

use super::{
    Act, CAI, CHEN, LI, LIU, LIVE_TITLE, LUO, ListingPlan, Periods, QIU, Terms, WU, When, XIHU,
    YONGJIANG, ZHANG, ZJ_LOGISTICS, approved_days_ago, auction, decided_then_scheduled, enrol,
    join, mins, plan, secs, step,
};
use crate::domain::listing::ListingKind::{AssetTransfer as Asset, EquityTransfer as Equity};
use crate::domain::listing::ListingStatus as S;

/// Closed: auctioned, signed, paid, announced and closed after the announcement period.
pub(super) fn closed(p: &Periods) -> ListingPlan {
    let d = p.disclosure_days(Equity, 42_000_000);
    let x = d + p.announcement_days() + 9;
    plan(
        p,
        Terms {
            seller: XIHU,
            kind: Equity,
            title: "杭州某国有企业所持某科技公司60%股权转让",
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
                step(
                    When::Next(p.announcement_days() + 1, (10, 0)),
                    Act::CloseDeal,
                ),
            ],
        ]),
    )
}

/// Announced: auctioned between two bidders that share a phone number.
pub(super) fn announced(p: &Periods) -> ListingPlan {
    let d = p.disclosure_days(Asset, 36_500_000);
    let x = d + 9;
    plan(
        p,
        Terms {
            seller: ZJ_LOGISTICS,
            kind: Asset,
            title: "某国有企业位于定海区的工业厂房及土地使用权转让",
            description: "标的位于舟山市定海区临城片区，包括工业用地使用权一宗（面积31460平方米，出让性质，\
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
    )
}

/// Paid: won at the start price with a single bid.
pub(super) fn paid(p: &Periods) -> ListingPlan {
    let d = p.disclosure_days(Asset, 460_000);
    let x = d + 6;
    plan(
        p,
        Terms {
            seller: XIHU,
            kind: Asset,
            title: "某国有企业报废电子设备及办公家具一批转让",
            description: "标的为转让方本部及下属单位报废的台式计算机、服务器、打印复印设备等电子设备共计412台（件），\
                以及办公桌椅、文件柜等办公家具共计236件，存放于杭州市西湖区转让方仓库。\
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
    )
}

/// Contract signed: a negotiated deal with the single eligible bidder.
pub(super) fn contract_signed(p: &Periods) -> ListingPlan {
    let d = p.disclosure_days(Equity, 9_200_000);
    let x = d + 4;
    plan(
        p,
        Terms {
            seller: YONGJIANG,
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
    )
}

/// Awarded yesterday: the contract is still to be signed.
pub(super) fn awarded(p: &Periods) -> ListingPlan {
    let d = p.disclosure_days(Asset, 5_600_000);
    let x = d + 3;
    plan(
        p,
        Terms {
            seller: ZJ_LOGISTICS,
            kind: Asset,
            title: "杭州市拱墅区某住宅房产（3套）转让",
            description: "标的为位于杭州市拱墅区莫干山路附近某小区的住宅房产3套，建筑面积分别为98.6、102.3、\
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
    )
}

/// Failed: two eligible bidders, no bid.
pub(super) fn failed(p: &Periods) -> ListingPlan {
    let d = p.disclosure_days(Asset, 720_000);
    let x = d + 5;
    plan(
        p,
        Terms {
            seller: YONGJIANG,
            kind: Asset,
            title: "某国有企业淘汰重型货车8台转让",
            description: "标的为转让方所属运输分公司淘汰的重型半挂牵引车8台，2014—2016年注册登记，\
                均已办理停驶手续，存放于宁波市鄞州区转让方停车场。按现状整体转让，\
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
    )
}

/// No sale: the only registration was rejected.
pub(super) fn no_sale(p: &Periods) -> ListingPlan {
    let d = p.disclosure_days(Asset, 2_350_000);
    let x = d + 4;
    plan(
        p,
        Terms {
            seller: YONGJIANG,
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
                    Act::Reject(
                        WU,
                        "未按公告要求提交设备拆除安全施工方案及相应资质证明，不符合受让条件。",
                    ),
                ),
                step(When::AfterDisclosure(mins(1)), Act::Decide),
            ],
        ]),
    )
}

/// Relisted: no sale in the first round, now in its second round's disclosure at 90 %.
pub(super) fn relisted(p: &Periods) -> ListingPlan {
    let d = p.disclosure_days(Asset, 4_200_000);
    let x = d + 4;
    plan(
        p,
        Terms {
            seller: ZJ_LOGISTICS,
            kind: Asset,
            title: "温州市鹿城区某临街商铺（建筑面积412平方米）转让",
            description: "标的位于温州市鹿城区人民路，为沿街商业用房一层及二层，建筑面积412平方米，\
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
    )
}

/// Negotiation: one eligible bidder; its quote is awaited.
pub(super) fn negotiation(p: &Periods) -> ListingPlan {
    let d = p.disclosure_days(Equity, 15_800_000);
    let x = d + 2;
    plan(
        p,
        Terms {
            seller: YONGJIANG,
            kind: Equity,
            title: "某国有控股公司35%股权转让",
            description: "标的企业为宁波甬江工业投资集团有限公司控股的精密铸造企业，注册资本8000万元，\
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
    )
}

/// Auction scheduled: starts the next working day.
pub(super) fn auction_scheduled(p: &Periods) -> ListingPlan {
    let d = p.disclosure_days(Asset, 126_000_000);
    let x = d + 2;
    plan(
        p,
        Terms {
            seller: XIHU,
            kind: Asset,
            title: "杭州某国有企业商业综合体（建筑面积2.3万平方米）转让",
            description: "标的位于杭州市上城区钱江路，为地上8层、地下2层的商业综合体，总建筑面积23160平方米，\
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
    )
}

/// Bidding: the live auction, started a minute before the demo starts.
pub(super) fn bidding(p: &Periods) -> ListingPlan {
    let d = p.disclosure_days(Equity, 8_600_000);
    let x = d + 2;
    plan(
        p,
        Terms {
            seller: XIHU,
            kind: Equity,
            title: LIVE_TITLE,
            description: "标的企业为杭州市属国有全资企业，主营市政工程设计咨询，注册资本2000万元，\
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
    )
}
